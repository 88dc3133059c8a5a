"""Unit tests of relation files (storage/smgr.py): create/read/write, segment files, truncate,
unlink, damage detection, the descriptor cache bound and sync bookkeeping."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrordb.common.errors import DataCorrupted, DiskFull, InvariantViolation, IoError
from mirrordb.storage import smgr as smgrlib
from mirrordb.storage.page import BLCKSZ
from mirrordb.storage.relfilenode import FSM_FORKNUM, MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import StorageManager

REL = RelFileNode(1663, 5, 16384)
OTHER = RelFileNode(1663, 5, 16385)
SEGMENT_BLOCKS = 4


def block(tag: int) -> bytes:
    return bytes([tag % 256]) * BLCKSZ


@pytest.fixture
def smgr(tmp_path: Path) -> Iterator[StorageManager]:
    manager = StorageManager(str(tmp_path), relseg_size_blocks=SEGMENT_BLOCKS)
    yield manager
    manager.close_all()


def file_blocks(tmp_path: Path, name: str) -> int | None:
    path = tmp_path / "base" / "5" / name
    return path.stat().st_size // BLCKSZ if path.exists() else None


def test_create_makes_directories_and_an_empty_file(smgr: StorageManager,
                                                    tmp_path: Path) -> None:
    assert not smgr.exists(REL)
    smgr.create(REL)
    assert smgr.exists(REL)
    assert (tmp_path / "base" / "5" / "16384").stat().st_size == 0
    assert smgr.nblocks(REL) == 0
    smgr.create(REL, exist_ok=True)
    with pytest.raises(IoError, match="16384"):
        smgr.create(REL)
    smgr.create(RelFileNode(1664, 0, 1262))
    assert (tmp_path / "global" / "1262").exists()


def test_write_then_read(smgr: StorageManager) -> None:
    smgr.create(REL)
    for blkno in range(3):
        smgr.extend(REL, MAIN_FORKNUM, blkno, block(blkno + 1))
    assert smgr.nblocks(REL) == 3
    smgr.write(REL, MAIN_FORKNUM, 1, block(99))
    assert smgr.read(REL, MAIN_FORKNUM, 1) == block(99)
    target = bytearray(BLCKSZ)
    assert smgr.read_into(REL, MAIN_FORKNUM, 2, target) and target == block(3)
    smgr.close_all()
    assert smgr.read(REL, MAIN_FORKNUM, 0) == block(1)


def test_read_past_the_end_names_the_file(smgr: StorageManager) -> None:
    smgr.create(REL)
    smgr.write(REL, MAIN_FORKNUM, 0, block(1))
    with pytest.raises(IoError, match=r'block 1 in file ".*base/5/16384"') as raised:
        smgr.read(REL, MAIN_FORKNUM, 1)
    assert not isinstance(raised.value, DataCorrupted)
    assert not smgr.read_into(REL, MAIN_FORKNUM, 9, bytearray(BLCKSZ))    # missing segment


def test_missing_relation_is_an_io_error(smgr: StorageManager) -> None:
    with pytest.raises(IoError, match="No such file"):
        smgr.read(REL, MAIN_FORKNUM, 0)
    with pytest.raises(IoError):
        smgr.nblocks(REL)
    with pytest.raises(IoError):
        smgr.write(REL, MAIN_FORKNUM, 0, block(0))


def test_partial_final_block_is_damage(smgr: StorageManager, tmp_path: Path) -> None:
    smgr.create(REL)
    smgr.write(REL, MAIN_FORKNUM, 0, block(1))
    with open(tmp_path / "base" / "5" / "16384", "ab") as handle:
        handle.write(b"torn" * 100)
    assert smgr.nblocks(REL) == 1                       # the torn block is not counted
    with pytest.raises(DataCorrupted, match="read only 400 of 8192 bytes"):
        smgr.read(REL, MAIN_FORKNUM, 1)
    smgr.extend(REL, MAIN_FORKNUM, 1, block(2))         # rewriting it repairs the file
    assert smgr.read(REL, MAIN_FORKNUM, 1) == block(2)


def test_writing_past_the_end_leaves_zeros(smgr: StorageManager) -> None:
    smgr.create(REL)
    smgr.write(REL, MAIN_FORKNUM, 2, block(7))
    assert smgr.nblocks(REL) == 3
    assert smgr.read(REL, MAIN_FORKNUM, 0) == bytes(BLCKSZ)


def test_blocks_spread_over_segment_files(smgr: StorageManager, tmp_path: Path) -> None:
    smgr.create(REL)
    for blkno in range(10):
        smgr.extend(REL, MAIN_FORKNUM, blkno, block(blkno))
    assert [file_blocks(tmp_path, name) for name in ("16384", "16384.1", "16384.2",
                                                     "16384.3")] == [4, 4, 2, None]
    assert smgr.nblocks(REL) == 10
    assert all(smgr.read(REL, MAIN_FORKNUM, blkno) == block(blkno) for blkno in range(10))


def test_writing_into_a_later_segment_fills_earlier_ones(smgr: StorageManager,
                                                         tmp_path: Path) -> None:
    smgr.create(REL)
    smgr.write(REL, MAIN_FORKNUM, 0, block(1))
    smgr.write(REL, MAIN_FORKNUM, 13, block(13))
    assert [file_blocks(tmp_path, name) for name in ("16384", "16384.1", "16384.2",
                                                     "16384.3")] == [4, 4, 4, 2]
    assert smgr.nblocks(REL) == 14
    assert smgr.read(REL, MAIN_FORKNUM, 6) == bytes(BLCKSZ)


def test_exactly_full_segment(smgr: StorageManager, tmp_path: Path) -> None:
    smgr.create(REL)
    for blkno in range(4):
        smgr.write(REL, MAIN_FORKNUM, blkno, block(blkno))
    assert smgr.nblocks(REL) == 4
    (tmp_path / "base" / "5" / "16384.1").touch()       # an empty next segment is fine too
    assert smgr.nblocks(REL) == 4


def test_oversized_segment_is_damage(smgr: StorageManager, tmp_path: Path) -> None:
    smgr.create(REL)
    os.truncate(tmp_path / "base" / "5" / "16384", (SEGMENT_BLOCKS + 1) * BLCKSZ)
    with pytest.raises(DataCorrupted, match="larger than a segment"):
        smgr.nblocks(REL)


@pytest.mark.parametrize("nblocks, expected_files", [
    (10, [4, 4, 2]), (5, [4, 1, None]), (8, [4, 4, None]), (4, [4, None, None]),
    (1, [1, None, None]), (0, [0, None, None]), (25, [4, 4, 2])])
def test_truncate(smgr: StorageManager, tmp_path: Path, nblocks: int,
                  expected_files: list[int | None]) -> None:
    smgr.create(REL)
    for blkno in range(10):
        smgr.write(REL, MAIN_FORKNUM, blkno, block(blkno))
    smgr.truncate(REL, MAIN_FORKNUM, nblocks)
    assert [file_blocks(tmp_path, name) for name in ("16384", "16384.1", "16384.2")] == \
        expected_files
    assert smgr.nblocks(REL) == min(nblocks, 10)
    for blkno in range(min(nblocks, 10)):
        assert smgr.read(REL, MAIN_FORKNUM, blkno) == block(blkno)
    smgr.write(REL, MAIN_FORKNUM, 11, block(11))       # growing again works after a cut
    assert smgr.read(REL, MAIN_FORKNUM, 11) == block(11)


def test_extend_inside_the_relation_is_a_programmer_error(smgr: StorageManager) -> None:
    smgr.create(REL)
    smgr.extend(REL, MAIN_FORKNUM, 0, block(0))
    with pytest.raises(InvariantViolation):
        smgr.extend(REL, MAIN_FORKNUM, 0, block(0))


def test_unlink_one_fork_or_all(smgr: StorageManager, tmp_path: Path) -> None:
    for fork in (MAIN_FORKNUM, FSM_FORKNUM):
        smgr.create(REL, fork)
        for blkno in range(6):
            smgr.write(REL, fork, blkno, block(blkno))
    smgr.create(OTHER)
    smgr.unlink(REL, FSM_FORKNUM)
    assert not smgr.exists(REL, FSM_FORKNUM) and smgr.exists(REL)
    assert not (tmp_path / "base" / "5" / "16384_fsm.1").exists()
    smgr.unlink(REL)
    assert sorted(os.listdir(tmp_path / "base" / "5")) == ["16385"]
    smgr.unlink(REL)                                    # nothing left: no error


def test_sync_all_syncs_every_written_file_once(smgr: StorageManager,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smgrlib, "MAX_OPEN_FILES", 2)  # force descriptors out of the cache
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    relations = [RelFileNode(1663, 5, 20000 + index) for index in range(5)]
    for rnode in relations:
        smgr.create(rnode)
        smgr.write(rnode, MAIN_FORKNUM, 0, block(1))
    assert len(smgr._open_files) <= 2
    synced.clear()
    assert smgr.sync_all() == 5
    assert len(synced) == 5
    assert smgr.sync_all() == 0
    smgr.write(relations[0], MAIN_FORKNUM, 5, block(2))    # segment 1: two files written
    assert smgr.sync_all() == 2


def test_no_sync_succeeds_after_a_failed_fsync(smgr: StorageManager,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may have dropped the pages it could not write: a later fsync that succeeds
    would let a checkpoint count them as durable. Every later sync refuses instead."""
    smgr.create(REL)
    smgr.write(REL, MAIN_FORKNUM, 0, block(1))

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(IoError, match="could not fsync file"):
            smgr.sync_all()
    for sync in (smgr.sync_all, lambda: smgr.sync(REL)):     # fsync works again: still refused
        with pytest.raises(IoError, match="cannot be made durable since an fsync failed") as \
                caught:
            sync()
        assert "Restart the server" in (caught.value.hint or "")


def test_sync_of_one_fork(smgr: StorageManager) -> None:
    smgr.create(REL)
    smgr.create(OTHER)
    smgr.write(REL, MAIN_FORKNUM, 0, block(1))
    smgr.write(OTHER, MAIN_FORKNUM, 0, block(1))
    smgr.sync(REL)
    assert smgr.sync_all() == 1                         # only OTHER was still unsynced


def test_disk_full_becomes_disk_full(smgr: StorageManager,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    smgr.create(REL)

    def full_disk(fd: int, data: object, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full_disk)
    with pytest.raises(DiskFull, match=r'could not write block 0 in file ".*16384"') as raised:
        smgr.write(REL, MAIN_FORKNUM, 0, block(1))
    assert raised.value.sqlstate == "53100"
