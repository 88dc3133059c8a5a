"""A VACUUM running while another session drops or truncates the table.

The record that drops the table's files (the commit of DROP TABLE or TRUNCATE) must not enter the
WAL while the vacuum still logs changes to those files: replay unlinks the files at that record,
so a later index delete or prune would find no page (a standby stopped with "B-tree redo found an
uninitialised page"). The vacuum holds the table's ShareUpdateExclusiveLock, so the dropping
session waits for its AccessExclusiveLock before it changes anything. Here the vacuum is held
inside its work while the other session tries; replaying the WAL on a copy of the cluster must
then reproduce the primary page for page.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable

import pytest

from mirrordb.access.lmgr import LockMode
from mirrordb.cli.compare import compare_clusters
from mirrordb.engine import Engine
from mirrordb.storage import datum as T

DEADLINE_S = 10.0
# How long the test gives the dropping session to get its commit record into the WAL while the
# vacuum is held; with the table locked it never does, so this bounds a wait for an event that
# must not happen.
COMMIT_RECORD_GRACE_S = 1.0


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def prepare(engine: Engine) -> None:
    with engine.begin() as txn:
        txn.create_table("items", [("id", T.INT8_OID), ("note", T.TEXT_OID)])
        txn.create_index("items_id", "items", ["id"], unique=True)
        txn.create_index("items_note", "items", ["note"])
        for key in range(600):
            txn.insert("items", [key, f"note {key:05d}"])
    with engine.begin() as txn:
        for tid, values in list(txn.scan("items")):
            if values[0] % 3:
                txn.delete("items", tid)


@pytest.mark.parametrize("statement", ["drop", "truncate"])
def test_files_are_dropped_after_the_vacuum_logged_everything(cluster, tmp_path, statement):
    overrides = {"wal_keep_size": "1GB"}
    copy = str(tmp_path / "copy")
    shutil.copytree(cluster, copy)
    engine = Engine.open(cluster, overrides)
    prepare(engine)

    inside, release = threading.Event(), threading.Event()
    original = engine.vacuum_runner.vacuum_relation

    def held_vacuum(*args: object, **kwargs: object) -> object:
        inside.set()
        assert release.wait(DEADLINE_S), "the test never released the vacuum"
        return original(*args, **kwargs)  # type: ignore[arg-type]

    engine.vacuum_runner.vacuum_relation = held_vacuum  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def run(work: Callable[[], object]) -> threading.Thread:
        def body() -> None:
            try:
                work()
            except BaseException as error:   # reported by the main thread
                errors.append(error)
        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        return thread

    def drop_or_truncate() -> None:
        with engine.begin() as txn:
            txn.drop("items") if statement == "drop" else txn.truncate("items")

    vacuum = run(lambda: engine.vacuum("items"))
    assert inside.wait(DEADLINE_S), "the vacuum did not start"
    dropper = run(drop_or_truncate)
    # Give the dropping session the chance to commit (the bug) before letting the vacuum log
    # its changes: it must be waiting for the table's lock instead.
    wait_for(lambda: not dropper.is_alive(), COMMIT_RECORD_GRACE_S)
    assert dropper.is_alive(), "the files were dropped under a running vacuum"
    assert any(not row.granted and row.mode == LockMode.ACCESS_EXCLUSIVE
               for row in engine.xacts.locks.status()), "the dropper is not waiting for the lock"
    release.set()
    vacuum.join(DEADLINE_S)
    dropper.join(DEADLINE_S)
    assert not vacuum.is_alive() and not dropper.is_alive()
    assert not errors, errors
    engine.vacuum_runner.vacuum_relation = original  # type: ignore[method-assign]
    engine.close()

    shutil.rmtree(os.path.join(copy, "pg_wal"))
    shutil.copytree(os.path.join(cluster, "pg_wal"), os.path.join(copy, "pg_wal"))
    replica = Engine.open(copy, overrides)
    replica.close()
    comparisons, only_one_side = compare_clusters(cluster, copy)
    assert not only_one_side
    assert comparisons and all(c.identical for c in comparisons), [
        (c.path, c.differing_pages) for c in comparisons if not c.identical]
