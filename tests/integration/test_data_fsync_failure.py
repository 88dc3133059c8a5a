"""Checkpoints that fail to write or sync lose nothing.

* A data file fsync that fails: the kernel may have dropped the pages it could not write, so no
  later checkpoint may complete (it would count them as durable and let their WAL go); after a
  restart, crash recovery from the last good checkpoint writes the changes again. PostgreSQL
  PANICs at the failed fsync; mirrordb refuses every later sync instead (storage/smgr.py).
* A commit log write that fails (a full disk): its pages stay dirty and the next checkpoint
  writes them, so a completed checkpoint never leaves commit bits only in memory.
* The checkpointer thread retries after an operating error, but a broken invariant stops the
  server (its ``on_panic``), as PostgreSQL PANICs."""

from __future__ import annotations

import errno
import os
import time

import pytest

from mirrordb.common.errors import DiskFull, InvariantViolation, IoError
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.storage import smgr

DEADLINE_S = 20.0
POLL_S = 0.01


def insert_rows(engine: Engine, values: range) -> None:
    with engine.begin() as txn:
        for value in values:
            txn.insert("t", [value])


def visible_values(engine: Engine) -> list[int]:
    with engine.begin("read committed", True) as txn:
        return sorted(row[0] for _, row in txn.scan("t"))


def test_no_checkpoint_completes_after_a_failed_data_fsync(cluster: str,
                                                           monkeypatch: pytest.MonkeyPatch):
    engine = Engine.open(cluster)
    try:
        with engine.begin() as txn:
            txn.create_table("t", [("v", T.INT8_OID)])
        insert_rows(engine, range(10))
        engine.checkpointer.checkpoint()
        good_checkpoint = engine.control.checkpoint_lsn
        insert_rows(engine, range(10, 20))

        def failing_fsync(path: str, fd: int | None) -> bool:
            raise OSError(errno.EIO, "Input/output error")

        with monkeypatch.context() as patch:
            patch.setattr(smgr, "_fsync_segment", failing_fsync)
            with pytest.raises(IoError, match="could not fsync file"):
                engine.checkpointer.checkpoint()
        with pytest.raises(IoError, match="cannot be made durable since an fsync failed"):
            engine.checkpointer.checkpoint()        # fsync works again: still refused
        assert engine.control.checkpoint_lsn == good_checkpoint
        insert_rows(engine, range(20, 25))          # the server goes on, its WAL kept
        assert visible_values(engine) == list(range(25))
    except BaseException:
        engine.close()
        raise
    engine.crash()
    engine = Engine.open(cluster)                   # crash recovery from the good checkpoint
    try:
        assert visible_values(engine) == list(range(25))
    finally:
        engine.close()


def test_a_commit_log_write_that_fails_is_done_again_by_the_next_checkpoint(
        cluster: str, monkeypatch: pytest.MonkeyPatch):
    engine = Engine.open(cluster)
    try:
        with engine.begin() as txn:
            txn.create_table("t", [("v", T.INT8_OID)])
        insert_rows(engine, range(10))

        def full_disk(fd: int, data: object, offset: int) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(os, "pwrite", full_disk)
            with pytest.raises(DiskFull, match="pg_xact"):
                engine.checkpointer.checkpoint()
        engine.checkpointer.checkpoint()     # space again: its redo point is past the commits
    except BaseException:
        engine.close()
        raise
    engine.crash()
    engine = Engine.open(cluster)     # replays from that checkpoint: the bits must be on disk
    try:
        assert visible_values(engine) == list(range(10))
    finally:
        engine.close()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


def test_the_checkpointer_retries_a_failure_but_stops_the_server_on_a_broken_invariant(
        cluster: str, monkeypatch: pytest.MonkeyPatch):
    engine = Engine.open(cluster)
    checkpointer = engine.checkpointer
    panics: list[BaseException] = []
    attempts: list[str] = []
    checkpointer.on_panic = panics.append
    try:
        def failing(error: BaseException) -> object:
            def checkpoint(shutdown: bool = False, end_of_recovery: bool = False) -> int:
                attempts.append(type(error).__name__)
                raise error
            return checkpoint

        monkeypatch.setattr(checkpointer, "checkpoint", failing(IoError("disk trouble")))
        checkpointer.request()
        wait_until(lambda: attempts == ["IoError"], "the failed checkpoint")
        checkpointer.request()                  # an operating error: the thread goes on
        wait_until(lambda: attempts == ["IoError", "IoError"], "the retry")
        assert not panics
        monkeypatch.setattr(checkpointer, "checkpoint",
                            failing(InvariantViolation("broken rule")))
        checkpointer.request()
        wait_until(lambda: len(panics) == 1, "the panic")
        assert isinstance(panics[0], InvariantViolation)
        wait_until(lambda: not checkpointer._thread.is_alive(), "the thread to end")
    finally:
        monkeypatch.undo()
        engine.close()
