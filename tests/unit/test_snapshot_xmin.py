"""The xmin a transaction advertises follows the snapshots it still holds (access/xact.py): a
READ COMMITTED statement's until the session says it is over, a cursor's or suspended portal's
until it is closed, REPEATABLE READ's to the end; and what reads with them (sql/session.py): a
cursor and a suspended portal go on reading with the snapshot they started with. VACUUM's
horizon, hot-standby feedback and a standby's snapshot conflicts all read that xmin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mirrordb.access.xact import Transaction
from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine, Txn
from mirrordb.recovery.conflicts import snapshot_held, transaction_open
from mirrordb.server.config import SessionSettings
from mirrordb.sql.session import Session
from mirrordb.storage import datum as T


@pytest.fixture
def engine(cluster: str) -> Iterator[Engine]:
    opened = Engine.open(cluster)
    with opened.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID)])
        for number in range(1, 11):
            txn.insert("t", [number])
    yield opened
    opened.close()


def write(engine: Engine, *, delete_below: int = 0, insert: int = 0) -> int:
    """Another transaction deletes ids below ``delete_below`` or inserts one; its xid."""
    with engine.begin() as txn:
        if insert:
            txn.insert("t", [insert])
        for tid, values in list(txn.scan("t")):
            if int(values[0]) < delete_below:  # type: ignore[call-overload]
                txn.delete("t", tid)
        return int(txn.transaction.xid)


def begin(engine: Engine, isolation: str = "read committed") -> tuple[Txn, Transaction]:
    txn = engine.begin(isolation, False)
    return txn, txn.transaction


def test_read_committed_advertises_the_running_statement_only(engine: Engine) -> None:
    txn, transaction = begin(engine)
    first = transaction.proc.xmin
    assert first and transaction.snapshot is not None
    transaction.release_statement_snapshot()
    assert transaction.proc.xmin == 0 and transaction.snapshot is None
    assert engine.xacts.oldest_xmin() == engine.xacts.next_xid   # nobody holds VACUUM back
    newer = write(engine, insert=11)
    transaction.new_statement()
    assert transaction.proc.xmin == newer + 1 > first
    assert sorted(values[0] for _, values in txn.scan("t"))[-1] == 11   # sees the commit
    txn.commit()
    assert transaction.proc.xmin == 0 and not transaction.proc.transaction_open


def test_repeatable_read_keeps_its_snapshot(engine: Engine) -> None:
    txn, transaction = begin(engine, "repeatable read")
    xmin = transaction.proc.xmin
    transaction.release_statement_snapshot()
    write(engine, insert=11)
    transaction.new_statement()
    assert transaction.proc.xmin == xmin and transaction.snapshot is not None
    assert len(list(txn.scan("t"))) == 10
    txn.commit()


def test_a_registered_snapshot_holds_the_xmin_until_it_is_let_go(engine: Engine) -> None:
    txn, transaction = begin(engine)
    cursor = transaction.snapshot
    assert cursor is not None
    transaction.register_snapshot(cursor)
    transaction.release_statement_snapshot()
    assert transaction.proc.xmin == cursor.xmin
    write(engine, delete_below=4)
    transaction.new_statement()                   # a newer statement: the cursor's is older
    assert transaction.proc.xmin == cursor.xmin
    assert engine.xacts.oldest_xmin() == cursor.xmin
    transaction.unregister_snapshot(cursor)
    assert transaction.proc.xmin == transaction.snapshot.xmin > cursor.xmin  # type: ignore
    txn.commit()


def test_an_aborted_read_only_transaction_advertises_nothing(engine: Engine) -> None:
    txn, transaction = begin(engine)
    assert transaction.proc.xmin
    txn.abort()
    assert transaction.proc.xmin == 0 and not transaction.proc.transaction_open


def test_conflict_victims_check_what_concerns_them(engine: Engine) -> None:
    """A snapshot conflict stops applying once the proc holds no snapshot; a lock conflict
    only once its transaction ends."""
    txn, transaction = begin(engine)
    by_snapshot, by_lock = snapshot_held(transaction.proc), transaction_open(transaction.proc)
    assert by_snapshot() and by_lock()
    transaction.release_statement_snapshot()
    assert not by_snapshot() and by_lock()
    txn.commit()
    assert not by_lock()


# -- what the session does with them ---------------------------------------------------------------

@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    opened = Session(engine, "postgres", "postgres",
                     SessionSettings(engine.settings, superuser=True))
    yield opened
    opened.terminate()


def run(session: Session, sql: str) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for result in session.simple_query(sql):
        rows += list(result.rows)
    session.end_implicit()
    return rows


def proc_xmin(session: Session) -> int:
    return int(session.txn.transaction.proc.xmin)


def test_a_session_idle_in_its_block_holds_no_snapshot(engine: Engine,
                                                       session: Session) -> None:
    run(session, "BEGIN")
    assert proc_xmin(session) == 0
    assert run(session, "SELECT count(*) FROM t") == [(10,)]
    assert proc_xmin(session) == 0
    write(engine, delete_below=4)
    assert run(session, "SELECT count(*) FROM t") == [(7,)]
    run(session, "COMMIT")


def test_a_cursor_reads_with_and_holds_its_snapshot(engine: Engine, session: Session) -> None:
    run(session, "BEGIN")
    run(session, "DECLARE c CURSOR FOR SELECT id FROM t")
    held = proc_xmin(session)
    assert held
    write(engine, delete_below=6)
    assert run(session, "FETCH 3 FROM c") == [(1,), (2,), (3,)]
    assert run(session, "SELECT count(*) FROM t") == [(5,)]    # the statement: a newer one
    assert proc_xmin(session) == held
    assert len(run(session, "FETCH ALL FROM c")) == 7          # the cursor: its own
    run(session, "CLOSE c")
    assert proc_xmin(session) == 0
    run(session, "COMMIT")


def test_a_suspended_portal_keeps_its_snapshot_past_sync(engine: Engine,
                                                         session: Session) -> None:
    run(session, "BEGIN")
    session.parse_message("s", "SELECT id FROM t", [])
    session.bind("p", "s", [], [], [])
    _, rows, finished = session.execute_portal("p", 2)
    assert [row[0] for row in rows] == [1, 2] and not finished
    session.sync()
    held = proc_xmin(session)
    assert held
    write(engine, delete_below=11)
    _, rows, finished = session.execute_portal("p", 0)
    assert [row[0] for row in rows] == list(range(3, 11)) and finished
    assert proc_xmin(session) == 0
    run(session, "COMMIT")


def test_begin_takes_no_snapshot_and_repeatable_read_takes_it_at_the_first_query(
        engine: Engine, session: Session) -> None:
    run(session, "BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert proc_xmin(session) == 0
    write(engine, insert=11)                 # committed after BEGIN, before the first query
    assert run(session, "SELECT count(*) FROM t") == [(11,)]
    write(engine, insert=12)
    assert run(session, "SELECT count(*) FROM t") == [(11,)]
    assert proc_xmin(session)                # kept while idle: its snapshot is the transaction's
    run(session, "COMMIT")


def test_set_transaction_changes_the_open_transaction_before_its_first_query(
        session: Session) -> None:
    run(session, "BEGIN")
    run(session, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    assert run(session, "SHOW transaction_isolation") == [("repeatable read",)]
    run(session, "SELECT count(*) FROM t")
    run(session, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")     # no change: allowed
    with pytest.raises(MirrordbError) as caught:
        run(session, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    assert (caught.value.sqlstate, caught.value.message) == (
        "25001", "SET TRANSACTION ISOLATION LEVEL must be called before any query")
    session.on_error()
    run(session, "ROLLBACK")
