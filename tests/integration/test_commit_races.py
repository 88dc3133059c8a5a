"""A transaction that commits between two questions another thread asks about it.

Both bugs lost updates under pgbench's TPC-B-like load with 8 clients (branch balances stopped
adding up about once in a few thousand transactions); each test here makes the commit land
exactly between the two questions:

* READ COMMITTED's re-check follows a row's update chain to its newest version, then asks
  whether that version's updater committed. An updater committing in between made the row look
  deleted, and the waiting UPDATE skipped it.
* VACUUM asked the commit log first and "still running?" second: a commit in between made a
  just-committed inserter look aborted, and its version dead.
"""

from __future__ import annotations

from mirrordb.access.clog import XACT_ABORTED, XACT_COMMITTED
from mirrordb.access.heapam import TmResult, transaction_fate
from mirrordb.engine import Engine
from mirrordb.storage import datum as T


def make_row(engine: Engine) -> tuple[object, object]:
    with engine.begin() as txn:
        txn.create_table("branches", [("bid", T.INT4_OID), ("balance", T.INT4_OID)])
        tid = txn.insert("branches", [1, 0])
    return engine.relcache.lookup("branches", None), tid


def test_recheck_follows_an_update_that_commits_while_it_looks(cluster: str) -> None:
    engine = Engine.open(cluster)
    try:
        table, tid = make_row(engine)
        updater = engine.begin()
        result, newer = updater.update("branches", tid, [1, 10])
        assert result == TmResult.OK
        waiter = engine.begin()
        heap = engine.heap
        original = heap.latest_version_item

        def look_then_commit(rel: object, start: object) -> object:
            found = original(rel, start)       # the updater is still running: stops here
            if updater.transaction.state.name == "IN_PROGRESS":
                updater.commit()
            return found

        heap.latest_version_item = look_then_commit  # type: ignore[method-assign]
        try:
            latest = waiter.fetch_latest(table, tid)
        finally:
            heap.latest_version_item = original      # type: ignore[method-assign]
        assert latest is not None, "a committed update was taken for a delete"
        assert latest == (newer, (1, 10))
        waiter.commit()
    finally:
        engine.close()


def test_vacuum_never_takes_a_commit_for_an_abort(cluster: str) -> None:
    engine = Engine.open(cluster)
    try:
        make_row(engine)
        inserter = engine.begin()
        inserter.insert("branches", [2, 0])
        xid = inserter.transaction.top.xid
        clog = engine.xacts.clog
        original = clog.status

        def status_then_commit(asked: int) -> int:
            answer = original(asked)
            if asked == xid and inserter.transaction.state.name == "IN_PROGRESS":
                inserter.commit()
            return answer

        clog.status = status_then_commit  # type: ignore[method-assign]
        try:
            fate = transaction_fate(engine.xacts, xid)
        finally:
            clog.status = original  # type: ignore[method-assign]
        if inserter.transaction.state.name == "IN_PROGRESS":
            inserter.commit()
        assert fate != XACT_ABORTED, "a committing inserter was judged aborted"
        assert transaction_fate(engine.xacts, xid) == XACT_COMMITTED
    finally:
        engine.close()
