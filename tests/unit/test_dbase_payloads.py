"""Codecs of the Database resource manager's records (wal/payloads.py DbaseCreateWalLog,
DbaseCreateFileCopy, DbaseDrop): PostgreSQL 15's layouts byte for byte, round trips, and
rejection of short or garbled input. Their redo is recovery/builtin_redo.py ``dbase_redo``."""

from __future__ import annotations

import struct

import pytest

from mirrordb.common.errors import WalCorrupted
from mirrordb.wal import payloads as P
from mirrordb.wal.record import encode_record
from mirrordb.wal.rmgr import (RM_DBASE_ID, XLOG_DBASE_CREATE_FILE_COPY,
                               XLOG_DBASE_CREATE_WAL_LOG, XLOG_DBASE_DROP)

RECORD_HEADER = 24 + 2      # XLogRecord, then the short main-data header


def test_layouts_match_postgresql() -> None:
    assert P.DbaseCreateWalLog(16384, 1663).encode() == struct.pack("<II", 16384, 1663)
    assert P.DbaseCreateFileCopy(16384, 1663, 1, 1663).encode() == struct.pack(
        "<IIII", 16384, 1663, 1, 1663)
    assert P.DbaseDrop(16384, (1663,)).encode() == struct.pack("<IiI", 16384, 1, 1663)
    assert P.DbaseDrop(16384, ()).encode() == struct.pack("<Ii", 16384, 0)


@pytest.mark.parametrize("info, payload, size", [
    (XLOG_DBASE_CREATE_WAL_LOG, P.DbaseCreateWalLog(16384, 1663), 34),
    (XLOG_DBASE_CREATE_FILE_COPY, P.DbaseCreateFileCopy(16384, 1663, 1, 1663), 42),
    (XLOG_DBASE_DROP, P.DbaseDrop(16384, (1663,)), 38),
])
def test_record_sizes_as_pg_waldump_shows(info: int, payload: object, size: int) -> None:
    data = payload.encode()  # type: ignore[attr-defined]
    assert len(encode_record(RM_DBASE_ID, info, 0, 0, [], data)) == size == RECORD_HEADER + len(
        data)


@pytest.mark.parametrize("payload", [
    P.DbaseCreateWalLog(4294967295, 1663),
    P.DbaseCreateFileCopy(16385, 1663, 4, 1663),
    P.DbaseDrop(16386, (1663,)),
    P.DbaseDrop(16386, (1663, 16400, 16401)),
    P.DbaseDrop(16386, ()),
])
def test_round_trips(payload: object) -> None:
    assert type(payload).decode(payload.encode()) == payload  # type: ignore[attr-defined]
    assert type(payload).decode(memoryview(payload.encode())) == payload  # type: ignore


@pytest.mark.parametrize("decode, data", [
    (P.DbaseCreateWalLog.decode, b""),
    (P.DbaseCreateWalLog.decode, struct.pack("<I", 5)),
    (P.DbaseCreateWalLog.decode, struct.pack("<III", 5, 1663, 0)),
    (P.DbaseCreateFileCopy.decode, struct.pack("<III", 5, 1663, 1)),
    (P.DbaseCreateFileCopy.decode, struct.pack("<IIIII", 5, 1663, 1, 1663, 0)),
    (P.DbaseDrop.decode, struct.pack("<I", 5)),
    (P.DbaseDrop.decode, struct.pack("<Ii", 5, 1)),                  # one tablespace missing
    (P.DbaseDrop.decode, struct.pack("<IiII", 5, 1, 1663, 1663)),    # one too many
    (P.DbaseDrop.decode, struct.pack("<Ii", 5, -1)),
    (P.DbaseDrop.decode, struct.pack("<Ii", 5, 1 << 20)),
])
def test_garbled_payloads_are_rejected(decode: object, data: bytes) -> None:
    with pytest.raises(WalCorrupted):
        decode(data)  # type: ignore[operator]
