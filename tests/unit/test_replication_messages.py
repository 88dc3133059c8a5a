"""Unit tests for replication/messages.py: exact byte layouts of the CopyBoth sub-messages."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import ProtocolViolation
from mirrordb.replication import messages as rm


def test_xlog_data_layout() -> None:
    message = rm.XLogData(0x1_0000_0028, 0x2_0000_0000, 848552437167715, b"WAL")
    encoded = message.encode()
    assert encoded[:1] == b"w"
    assert encoded[1:9] == bytes.fromhex("0000000100000028")
    assert encoded[9:17] == bytes.fromhex("0000000200000000")
    assert int.from_bytes(encoded[17:25], "big") == 848552437167715
    assert encoded[25:] == b"WAL"
    assert rm.decode_primary_message(encoded) == message
    assert message.data_end_lsn == 0x1_0000_002B


def test_keepalive_layout() -> None:
    encoded = rm.PrimaryKeepalive(0x0E000128, 5, True).encode()
    assert encoded == b"k" + (0x0E000128).to_bytes(8, "big") + (5).to_bytes(8, "big") + b"\x01"
    assert len(encoded) == 18
    assert rm.decode_primary_message(encoded) == rm.PrimaryKeepalive(0x0E000128, 5, True)


def test_standby_status_update_layout() -> None:
    update = rm.StandbyStatusUpdate(3, 2, 1, -7, False)
    encoded = update.encode()
    assert len(encoded) == 34
    assert encoded[:1] == b"r"
    assert encoded[25:33] == (-7).to_bytes(8, "big", signed=True)
    assert rm.decode_standby_message(encoded) == update


def test_hot_standby_feedback_layout() -> None:
    feedback = rm.HotStandbyFeedback(99, 744, 0, 0, 0)
    encoded = feedback.encode()
    assert len(encoded) == 25
    assert encoded[9:13] == (744).to_bytes(4, "big")
    assert rm.decode_standby_message(encoded) == feedback


@pytest.mark.parametrize("payload", [b"", b"x", b"r" + b"\0" * 32, b"h" + b"\0" * 25, b"w"])
def test_bad_standby_messages_are_protocol_violations(payload: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        rm.decode_standby_message(payload)


def test_unknown_kind_names_it() -> None:
    with pytest.raises(ProtocolViolation, match='unexpected message type "x"'):
        rm.decode_standby_message(b"x123")


def test_short_xlog_data_header() -> None:
    with pytest.raises(ProtocolViolation, match="streaming header too small"):
        rm.decode_primary_message(b"w" + b"\0" * 10)


def test_timestamps_round_trip() -> None:
    assert rm.unix_to_pg_timestamp(946684800.0) == 0
    assert rm.pg_timestamp_to_unix(848552437167715) == pytest.approx(1795237237.167715)
