"""Fuzz replication/messages.py: any payload decodes or raises ProtocolViolation, and every
encodable message decodes to itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mirrordb.common.errors import ProtocolViolation
from mirrordb.replication import messages as rm

LSN = st.integers(0, 2**64 - 1)
TIMESTAMP = st.integers(-(2**63), 2**63 - 1)
XID = st.integers(0, 2**32 - 1)


@given(st.binary(max_size=64))
def test_garbage_only_raises_protocol_violation(payload: bytes) -> None:
    for decode in (rm.decode_standby_message, rm.decode_primary_message):
        try:
            decode(payload)
        except ProtocolViolation:
            pass


@given(st.one_of(
    st.builds(rm.StandbyStatusUpdate, LSN, LSN, LSN, TIMESTAMP, st.booleans()),
    st.builds(rm.HotStandbyFeedback, TIMESTAMP, XID, XID, XID, XID)))
def test_standby_messages_round_trip(message: rm.StandbyMessage) -> None:
    assert rm.decode_standby_message(message.encode()) == message


@given(st.one_of(
    st.builds(rm.XLogData, LSN, LSN, TIMESTAMP, st.binary(max_size=64)),
    st.builds(rm.PrimaryKeepalive, LSN, TIMESTAMP, st.booleans())))
def test_primary_messages_round_trip(message: rm.PrimaryMessage) -> None:
    assert rm.decode_primary_message(message.encode()) == message
