"""UPDATE ... FROM between concurrent sessions on a real server, as PostgreSQL's READ COMMITTED
behaves: a joined target row that another transaction updates meanwhile is waited for, then
its newest version is re-checked against the join condition with the same FROM row and updated
(no lost update), or skipped when it no longer qualifies; under REPEATABLE READ it is a
serialization failure."""

from __future__ import annotations

import pytest

from tests.integration.test_relation_locks import Background, connect, poll_until, server
from tests.integration.test_upsert_concurrency import waiting_for_transaction

__all__ = ["connect", "server"]     # fixtures, imported for pytest


@pytest.mark.parametrize("change, expected", [
    ("UPDATE acct SET bal = bal + 100 WHERE id = 1", [(1, 111, "n"), (2, 20, "s")]),
    ("UPDATE acct SET region = 's' WHERE id = 1", [(1, 1, "s"), (2, 20, "s")]),
    ("DELETE FROM acct WHERE id = 1", [(2, 20, "s")]),
])
def test_update_from_meets_the_newest_version_of_its_target(connect, change: str,
                                                            expected: list[tuple[object, ...]]
                                                            ) -> None:
    first, second, monitor = connect(), connect(), connect()
    first.execute("DROP TABLE IF EXISTS acct, bonus; "
                  "CREATE TABLE acct (id int PRIMARY KEY, bal int, region text); "
                  "CREATE TABLE bonus (region text, amount int); "
                  "INSERT INTO acct VALUES (1, 1, 'n'), (2, 20, 's'); "
                  "INSERT INTO bonus VALUES ('n', 10)")
    first.execute("BEGIN")
    first.execute(change)
    update = Background(second, "UPDATE acct SET bal = acct.bal + b.amount FROM bonus b "
                                "WHERE b.region = acct.region RETURNING acct.id, acct.bal, "
                                "b.amount")
    poll_until(lambda: waiting_for_transaction(monitor, update.pid),
               "the UPDATE ... FROM waits for the transaction changing its target row")
    first.execute("COMMIT")
    update.join()
    assert update.error is None
    assert update.rows == ([(1, 111, 10)] if "bal" in change else [])
    assert monitor.execute("SELECT * FROM acct ORDER BY id").fetchall() == expected


def test_update_from_under_repeatable_read_fails_on_a_concurrent_update(connect) -> None:
    first, second, monitor = connect(), connect(), connect()
    first.execute("DROP TABLE IF EXISTS acct, bonus; "
                  "CREATE TABLE acct (id int PRIMARY KEY, bal int, region text); "
                  "CREATE TABLE bonus (region text, amount int); "
                  "INSERT INTO acct VALUES (1, 1, 'n'); INSERT INTO bonus VALUES ('n', 10)")
    second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    second.execute("SELECT count(*) FROM acct")
    first.execute("BEGIN")
    first.execute("UPDATE acct SET bal = 5 WHERE id = 1")
    update = Background(second, "UPDATE acct SET bal = acct.bal + b.amount FROM bonus b "
                                "WHERE b.region = acct.region")
    poll_until(lambda: waiting_for_transaction(monitor, update.pid),
               "the UPDATE ... FROM waits for the concurrent update")
    first.execute("COMMIT")
    update.join()
    assert update.error is not None and update.error.sqlstate == "40001"
    second.execute("ROLLBACK")
    assert monitor.execute("SELECT bal FROM acct").fetchall() == [(5,)]
