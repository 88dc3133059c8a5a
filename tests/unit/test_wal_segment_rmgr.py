"""Segment arithmetic and names (xlog_internal.h conventions) and resource manager ids."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import InvalidParameterValue
from mirrordb.common.lsn import parse_lsn
from mirrordb.wal import rmgr
from mirrordb.wal.segment import (
    DEFAULT_SEGMENT_SIZE,
    history_file_name,
    is_segment_name,
    is_valid_segment_size,
    parse_segment_name,
    segment_name,
    segment_start_lsn,
    segno_of,
)

MB = 1024 * 1024


@pytest.mark.parametrize("size, valid", [
    (MB, True), (16 * MB, True), (1024 * MB, True), (MB // 2, False), (2048 * MB, False),
    (3 * MB, False), (0, False)])
def test_valid_segment_sizes(size: int, valid: bool) -> None:
    assert is_valid_segment_size(size) is valid


def test_segment_name_of_a_real_lsn() -> None:
    lsn = parse_lsn("0/0F000028")
    assert segment_name(1, segno_of(lsn, DEFAULT_SEGMENT_SIZE), DEFAULT_SEGMENT_SIZE) == \
        "00000001000000000000000F"
    assert segment_name(2, segno_of(parse_lsn("1/0"), DEFAULT_SEGMENT_SIZE),
                        DEFAULT_SEGMENT_SIZE) == "000000020000000100000000"


def test_segment_names_with_one_megabyte_segments() -> None:
    # 4096 segments per xlog id: segno 5000 is xlog id 1, segment 904.
    assert segment_name(3, 5000, MB) == "000000030000000100000388"
    assert parse_segment_name("000000030000000100000388", MB) == (3, 5000)
    assert segment_start_lsn(5000, MB) == 5000 * MB == parse_lsn("1/38800000")


@pytest.mark.parametrize("segment_size", [MB, 16 * MB, 1024 * MB])
@pytest.mark.parametrize("segno", [0, 1, 255, 256, 4095, 4096, 123456])
def test_segment_names_round_trip(segment_size: int, segno: int) -> None:
    name = segment_name(7, segno, segment_size)
    assert is_segment_name(name) and len(name) == 24
    assert parse_segment_name(name, segment_size) == (7, segno)


@pytest.mark.parametrize("name", [
    "00000001000000000000000f",  # lower case
    "00000001000000000000000",  # too short
    "00000001000000000000000F.partial",
    "000000000000000000000001",  # timeline 0
    "000000010000000000000100",  # 256 is beyond 16 MiB segments' 0..255
    "00000001.history",
])
def test_invalid_segment_names(name: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse_segment_name(name, DEFAULT_SEGMENT_SIZE)


def test_history_file_name() -> None:
    assert history_file_name(2) == "00000002.history"
    assert history_file_name(0x1A) == "0000001A.history"


def test_resource_manager_ids() -> None:
    assert [rmid for rmid in range(256) if rmgr.is_valid_rmid(rmid)] == \
        list(range(22)) + list(range(128, 256))
    assert not rmgr.is_valid_rmid(-1) and not rmgr.is_valid_rmid(256)
    assert rmgr.RMGR_NAMES[rmgr.RM_XLOG_ID] == "XLOG"
    assert rmgr.RMGR_NAMES[rmgr.RM_XACT_ID] == "Transaction"
    assert rmgr.RMGR_NAMES[rmgr.RM_SMGR_ID] == "Storage"
    assert rmgr.RMGR_NAMES[rmgr.RM_STANDBY_ID] == "Standby"
    assert rmgr.RMGR_NAMES[rmgr.RM_MIRRORDB_HEAP_ID] == "mirrordb_heap"
    assert rmgr.rmgr_name(200) == "custom200"
    assert rmgr.is_xlog_switch(rmgr.RM_XLOG_ID, rmgr.XLOG_SWITCH | rmgr.XLR_CHECK_CONSISTENCY)
    assert not rmgr.is_xlog_switch(rmgr.RM_XACT_ID, rmgr.XLOG_SWITCH)
