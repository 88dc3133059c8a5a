"""Unit tests of the control file codec (storage/control.py): a real PostgreSQL 15 pg_control
decodes and re-encodes byte for byte, field offsets, round trips, and every rejection."""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import pytest

from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.crc import crc32c
from mirrordb.common.errors import DataCorrupted
from mirrordb.storage.control import (
    CRC_OFFSET,
    PG_CONTROL_FILE_SIZE,
    ControlFile,
    DBState,
    decode_control_file,
    encode_control_file,
    generate_system_identifier,
    read_control_file,
    write_control_file,
)

# The first 296 bytes (sizeof(ControlFileData)) of global/pg_control written by PostgreSQL 15's
# initdb --wal-segsize=1; the rest of the 8192-byte file is zeros.
REAL_PG15_CONTROL_HEX = (
    "86c2edec1c30016b1405000025770d0c01000000000000001d30016b00000000680760000000000068076000"
    "0000000001000000010000000100000000000000d402000000000000043500000100000000000000cc020000"
    "010000000100000001000000000000001d30016b0000000000000000000000000000000000000000e8030000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000001000000"
    "0000000064000000080000000a000000000000004000000000000000080000000000000087d6324100200000"
    "0000020000200000000010004000000020000000cc0700000008000001000000000000003dddee69cb1c1620"
    "d41d4369323195f8136f1981b0944be836c22a3bf323df6f717599d100000000")


def real_pg15_control_file() -> bytes:
    head = bytes.fromhex(REAL_PG15_CONTROL_HEX)
    assert len(head) == 296
    return head + bytes(PG_CONTROL_FILE_SIZE - len(head))


def sample_control_file(**changes: object) -> ControlFile:
    checkpoint = CheckPoint(
        redo=0x1_0000_0028, this_timeline=3, prev_timeline=2, full_page_writes=True,
        next_full_xid=(1 << 32) | 750, next_oid=16390, next_multi=1, next_multi_offset=0,
        oldest_xid=716, oldest_xid_db=1, oldest_multi=1, oldest_multi_db=1,
        time_s=1_700_000_000, oldest_commit_ts_xid=0, newest_commit_ts_xid=0,
        oldest_active_xid=750)
    cf = ControlFile(system_identifier=0x7123_4567_89AB_CDEF, state=DBState.DB_IN_PRODUCTION,
                     time_s=1_700_000_123, checkpoint_lsn=0x1_0000_0100, checkpoint=checkpoint,
                     min_recovery_point=0x2_0000_0000, min_recovery_point_tli=3,
                     backup_start_point=0x10, backup_end_point=0x20, backup_end_required=True,
                     wal_level=2, wal_log_hints=True, max_connections=77,
                     max_worker_processes=9, max_wal_senders=11, max_prepared_xacts=5,
                     max_locks_per_xact=65, track_commit_timestamp=True,
                     xlog_seg_size=1 << 20, mock_authentication_nonce=bytes(range(32)))
    return dataclasses.replace(cf, **changes)  # type: ignore[arg-type]


def test_real_postgres_file_decodes_and_reencodes_identically() -> None:
    data = real_pg15_control_file()
    cf = decode_control_file(data)
    assert cf.system_identifier == 7710496937827222150
    assert cf.state == DBState.DB_SHUTDOWNED
    assert cf.checkpoint_lsn == 0x600768 and cf.checkpoint.redo == 0x600768
    assert cf.checkpoint.next_xid == 724 and cf.checkpoint.next_oid == 13572
    assert cf.unlogged_lsn == 1000 and cf.wal_level == 1 and cf.xlog_seg_size == 1 << 20
    assert (cf.max_connections, cf.max_worker_processes, cf.max_wal_senders,
            cf.max_locks_per_xact) == (100, 8, 10, 64)
    assert encode_control_file(cf) == data


def test_round_trip_and_size() -> None:
    cf = sample_control_file()
    data = encode_control_file(cf)
    assert len(data) == PG_CONTROL_FILE_SIZE and data[296:] == bytes(PG_CONTROL_FILE_SIZE - 296)
    assert decode_control_file(data) == cf


def test_field_offsets() -> None:
    data = encode_control_file(sample_control_file())
    assert struct.unpack_from("<Q", data, 0)[0] == 0x7123_4567_89AB_CDEF
    assert struct.unpack_from("<II", data, 8) == (1300, 202209061)
    assert struct.unpack_from("<i", data, 16)[0] == 6
    assert struct.unpack_from("<qQ", data, 24) == (1_700_000_123, 0x1_0000_0100)
    assert struct.unpack_from("<Q", data, 40)[0] == 0x1_0000_0028          # checkpoint.redo
    assert struct.unpack_from("<QQI", data, 128) == (1000, 0x2_0000_0000, 3)
    assert struct.unpack_from("<QQ?", data, 152) == (0x10, 0x20, True)
    assert struct.unpack_from("<i?", data, 172) == (2, True)
    assert struct.unpack_from("<iiiii?", data, 180) == (77, 9, 11, 5, 65, True)
    assert struct.unpack_from("<Id", data, 204) == (8, 1234567.0)
    assert struct.unpack_from("<IIIIIIII?", data, 216) == (
        8192, 131072, 8192, 1 << 20, 64, 32, 1996, 2048, True)
    assert struct.unpack_from("<I", data, 252)[0] == 0
    assert data[256:288] == bytes(range(32))
    assert struct.unpack_from("<I", data, CRC_OFFSET)[0] == crc32c(data[:CRC_OFFSET])


def reseal(data: bytearray) -> bytes:
    struct.pack_into("<I", data, CRC_OFFSET, crc32c(bytes(data[:CRC_OFFSET])))
    return bytes(data)


def damaged(offset: int, fmt: str, value: object, fix_crc: bool = True) -> bytes:
    data = bytearray(encode_control_file(sample_control_file()))
    struct.pack_into(fmt, data, offset, value)
    return reseal(data) if fix_crc else bytes(data)


@pytest.mark.parametrize("data, message", [
    (encode_control_file(sample_control_file())[:295], "read 295 of 296"),
    (damaged(8, "<I", 1201), "incompatible"),
    (damaged(100, "<B", 0xEE, fix_crc=False), "incorrect checksum"),
    (damaged(16, "<i", 7), "invalid database state"),
    (damaged(172, "<i", 3), "invalid wal_level"),
    (damaged(216, "<I", 16384), "incompatible"),
    (damaged(12, "<I", 1), "incompatible"),
    (damaged(208, "<d", 1234567.5), "incompatible"),
    (damaged(228, "<I", 3 << 20), "invalid WAL segment size"),
    (damaged(228, "<I", 1 << 31), "invalid WAL segment size"),
])
def test_decode_rejects(data: bytes, message: str) -> None:
    with pytest.raises(DataCorrupted, match=message):
        decode_control_file(data)


def test_write_and_read_the_file_atomically(tmp_path: Path) -> None:
    (tmp_path / "global").mkdir()
    cf = sample_control_file()
    write_control_file(str(tmp_path), cf)
    write_control_file(str(tmp_path), dataclasses.replace(cf, state=DBState.DB_SHUTDOWNED))
    assert read_control_file(str(tmp_path)).state == DBState.DB_SHUTDOWNED
    assert sorted(os.listdir(tmp_path / "global")) == ["pg_control"]
    assert (tmp_path / "global" / "pg_control").stat().st_mode & 0o777 == 0o600


def test_initial_control_file() -> None:
    identifier = generate_system_identifier()
    cf = ControlFile.initial(system_identifier=identifier, xlog_seg_size=1 << 24)
    assert cf.state == DBState.DB_STARTUP and cf.system_identifier == identifier
    assert len(cf.mock_authentication_nonce) == 32
    assert decode_control_file(encode_control_file(cf)) == cf
