"""A full disk under the WAL: ENOSPC is simulated by replacing the WAL writer's positioned write
(``_pwritev_all``) and its zero-filling (``write_zeros``, used to create segments) with functions
that fail the way the kernel does, while ``disk.full`` is set.

Contract checked here:

* COMMIT whose WAL flush cannot write stops the engine (InvariantViolation caused by DiskFull,
  SQLSTATE 53100; PostgreSQL PANICs, as the commit record cannot be taken back): the client is
  not told it committed and no other session sees its rows.
* A WAL insert that cannot make room in the WAL buffers after the page was already changed is a
  failure inside a critical section (PostgreSQL PANICs): the engine reports an InvariantViolation
  caused by DiskFull and must stop; the test stops it with ``Engine.crash()``.
* After restart and crash recovery, every acknowledged commit is there, no unacknowledged
  rolled-back row is, and the indexes match the table.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mirrordb.common.errors import DiskFull, InvariantViolation
from mirrordb.common.fileio import os_errors
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.wal import writer as walwriter

MAX_ROWS_BEFORE_BUFFERS_FILL = 20_000


@dataclass
class Disk:
    full: bool = False  # every WAL write fails
    no_new_segments: bool = False  # only the zero fill of new segment files fails
    failed_writes: int = 0


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    state = Disk()
    real_pwritev_all = walwriter._pwritev_all
    real_write_zeros = walwriter.write_zeros

    def enospc() -> OSError:
        state.failed_writes += 1
        return OSError(errno.ENOSPC, "No space left on device")

    def pwritev_all(fd: int, buffers: list[bytes | bytearray], offset: int) -> None:
        if state.full:
            raise enospc()
        real_pwritev_all(fd, buffers, offset)

    def write_zeros(fd: int, path: str, start: int, end: int) -> None:
        if state.full or state.no_new_segments:
            with os_errors("write", path):
                raise enospc()
        real_write_zeros(fd, path, start, end)

    monkeypatch.setattr(walwriter, "_pwritev_all", pwritev_all)
    monkeypatch.setattr(walwriter, "write_zeros", write_zeros)
    yield state


def make_table(engine: Engine, indexed: bool = True) -> None:
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("payload", T.TEXT_OID)])
        if indexed:
            txn.create_index("t_pkey", "t", ["id"], unique=True, primary=True)


def commit_rows(engine: Engine, keys: range) -> None:
    with engine.begin() as txn:
        for key in keys:
            txn.insert("t", [key, f"row {key}"])


def visible_keys(engine: Engine) -> list[int]:
    with engine.begin() as txn:
        return sorted(int(values[0]) for _, values in txn.scan("t"))  # type: ignore[call-overload]


def reopen_and_check(cluster: str, acknowledged: list[int]) -> None:
    engine = Engine.open(cluster)
    try:
        assert engine.recovery.needed
        assert visible_keys(engine) == acknowledged
        engine.verify_indexes("t")
        commit_rows(engine, range(10**6, 10**6 + 3))  # and the server works again
    finally:
        engine.close()


def test_commit_whose_flush_hits_a_full_disk_is_not_acknowledged(cluster: str,
                                                                 disk: Disk) -> None:
    """The commit record is in the WAL buffers when its flush fails: the transaction can no
    longer be rolled back, so the engine stops (PostgreSQL's PANIC) and the client never hears
    COMMIT; after restart every acknowledged commit is there and the failed one is not (its
    record never reached the disk)."""
    engine = Engine.open(cluster)
    acknowledged = list(range(5))
    try:
        make_table(engine)
        commit_rows(engine, range(5))
        flushed_before = engine.wal.flush_lsn
        disk.full = True
        txn = engine.begin()
        txn.insert("t", [100, "never acknowledged"])
        with pytest.raises(InvariantViolation) as raised:
            txn.commit()
        cause = raised.value.__cause__
        assert isinstance(cause, DiskFull) and cause.sqlstate == "53100"
        assert "No space left on device" in cause.message and disk.failed_writes > 0
        assert engine.wal.flush_lsn == flushed_before
        assert visible_keys(engine) == acknowledged  # nobody sees the failed commit's row
    except BaseException:
        disk.full = False
        engine.close()
        raise
    engine.crash()               # the server stops here; recovery decides what survived
    disk.full = False
    reopen_and_check(cluster, acknowledged)


@pytest.mark.parametrize("indexed", [False, True], ids=["heap-only", "heap-and-btree"])
def test_disk_full_while_wal_insert_makes_room_stops_the_engine(cluster: str, disk: Disk,
                                                                indexed: bool) -> None:
    """Small WAL buffers: an insert must write them out to make room and cannot. Rows are small,
    so the failing insert almost surely lands on a page changed before (no full-page image would
    hide a change made without WAL when the next record for that page is replayed)."""
    engine = Engine.open(cluster, {"wal_buffers": "64kB"})
    acknowledged = list(range(5))
    try:
        make_table(engine, indexed)
        commit_rows(engine, range(5))
        disk.full = True
        txn = engine.begin()
        with pytest.raises((DiskFull, InvariantViolation)) as raised:
            for key in range(100, 100 + MAX_ROWS_BEFORE_BUFFERS_FILL):
                txn.insert("t", [key, "y" * 20])
        error = raised.value
        if isinstance(error, DiskFull):
            # Allowed only if nothing was changed without WAL: then the engine carries on.
            disk.full = False
            txn.abort()
            commit_rows(engine, range(5, 8))
            acknowledged += [5, 6, 7]
        else:
            assert isinstance(error.__cause__, DiskFull) and error.__cause__.sqlstate == "53100"
    except BaseException:
        disk.full = False
        engine.close()
        raise
    engine.crash()  # a critical-section failure: the server stops; recovery repairs the pages
    disk.full = False
    reopen_and_check(cluster, acknowledged)


def test_disk_full_while_creating_a_segment_fails_the_commit(cluster: str, disk: Disk) -> None:
    """Segment files are created full size (zero-filled) before use: ENOSPC can come from there."""
    engine = Engine.open(cluster)
    try:
        make_table(engine)
        commit_rows(engine, range(5))
        segment_size = engine.control.xlog_seg_size
        flushed_segno = engine.wal.flush_lsn // segment_size
        txn = engine.begin()
        key = 100
        while engine.wal.insert_lsn // segment_size == flushed_segno:  # buffered, not written
            txn.insert("t", [key, "z" * 500])
            key += 1
        disk.no_new_segments = True
        with pytest.raises(InvariantViolation) as raised:   # the engine must stop (PANIC)
            txn.commit()
        cause = raised.value.__cause__
        assert isinstance(cause, DiskFull) and cause.sqlstate == "53100"
        assert disk.failed_writes > 0
        assert engine.wal.flush_lsn // segment_size == flushed_segno
        assert visible_keys(engine) == list(range(5))
    except BaseException:
        disk.no_new_segments = False
        engine.close()
        raise
    engine.crash()
    disk.no_new_segments = False
    reopen_and_check(cluster, list(range(5)))
