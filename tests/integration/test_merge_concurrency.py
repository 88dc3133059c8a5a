"""MERGE between concurrent sessions on a real server, as PostgreSQL 15's READ COMMITTED
behaves: a matched target row that another transaction changes meanwhile is waited for, then
its newest version is matched again and the WHEN MATCHED clauses evaluated again (no lost
update); a row deleted meanwhile goes through the WHEN NOT MATCHED clauses; under REPEATABLE
READ it is a serialization failure. Also COPY FROM into a table with a stored generated
column (the protocol's COPY, which the differential tests cannot drive)."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_relation_locks import Background, connect, poll_until, server
from tests.integration.test_upsert_concurrency import waiting_for_transaction

__all__ = ["connect", "server"]     # fixtures, imported for pytest

MERGE = ("MERGE INTO stock s USING (VALUES (1, 10)) v(id, qty) ON s.id = v.id "
         "WHEN MATCHED AND s.qty < 100 THEN UPDATE SET qty = s.qty + v.qty "
         "WHEN MATCHED THEN DELETE "
         "WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.qty, 'new')")


@pytest.mark.parametrize("change, expected", [
    ("UPDATE stock SET qty = qty + 5 WHERE id = 1", [(1, 16, "old")]),    # re-matched
    ("UPDATE stock SET qty = 500 WHERE id = 1", []),                      # now DELETE acts
    ("DELETE FROM stock WHERE id = 1", [(1, 10, "new")]),                 # now NOT MATCHED
    ("UPDATE stock SET id = 2 WHERE id = 1", [(1, 10, "new"), (2, 1, "old")]),
])
def test_merge_meets_the_newest_version_of_its_target(connect, change: str,
                                                      expected: list[tuple[object, ...]]
                                                      ) -> None:
    first, second, monitor = connect(), connect(), connect()
    first.execute("DROP TABLE IF EXISTS stock; "
                  "CREATE TABLE stock (id int PRIMARY KEY, qty int, note text); "
                  "INSERT INTO stock VALUES (1, 1, 'old')")
    first.execute("BEGIN")
    first.execute(change)
    merge = Background(second, MERGE)
    poll_until(lambda: waiting_for_transaction(monitor, merge.pid),
               "the MERGE waits for the transaction changing its target row")
    first.execute("COMMIT")
    merge.join()
    assert merge.error is None
    assert monitor.execute("SELECT * FROM stock ORDER BY id").fetchall() == expected


def test_merge_under_repeatable_read_fails_on_a_concurrent_update(connect) -> None:
    first, second, monitor = connect(), connect(), connect()
    first.execute("DROP TABLE IF EXISTS stock; "
                  "CREATE TABLE stock (id int PRIMARY KEY, qty int, note text); "
                  "INSERT INTO stock VALUES (1, 1, 'old')")
    second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    second.execute("SELECT count(*) FROM stock")
    first.execute("BEGIN")
    first.execute("UPDATE stock SET qty = 5 WHERE id = 1")
    merge = Background(second, MERGE)
    poll_until(lambda: waiting_for_transaction(monitor, merge.pid),
               "the MERGE waits for the concurrent update")
    first.execute("COMMIT")
    merge.join()
    assert merge.error is not None and merge.error.sqlstate == "40001"
    second.execute("ROLLBACK")
    assert monitor.execute("SELECT qty FROM stock").fetchall() == [(5,)]


def test_copy_from_computes_stored_generated_columns(connect) -> None:
    connection = connect()
    connection.execute("DROP TABLE IF EXISTS box; CREATE TABLE box (w int, h int, "
                       "area int GENERATED ALWAYS AS (w * h) STORED CHECK (area < 100))")
    with connection.cursor() as cursor:
        with cursor.copy("COPY box FROM STDIN") as copy:
            copy.write("2\t3\n4\t\\N\n")
        with cursor.copy("COPY box (h, w) FROM STDIN") as copy:
            copy.write("5\t6\n")
    assert connection.execute("SELECT * FROM box ORDER BY w").fetchall() == [
        (2, 3, 6), (4, None, None), (6, 5, 30)]
    with connection.cursor() as cursor, cursor.copy("COPY box TO STDOUT") as copy:
        assert b"".join(bytes(block) for block in copy) == b"2\t3\n4\t\\N\n6\t5\n"
    for statement in ("COPY box (w, area) FROM STDIN", "COPY box (area) TO STDOUT"):
        with pytest.raises(psycopg.Error) as failure:
            with connection.cursor() as cursor, cursor.copy(statement):
                pass
        assert failure.value.sqlstate == "42P10"
        assert failure.value.diag.message_primary == 'column "area" is a generated column'
    with pytest.raises(psycopg.Error) as failure:
        with connection.cursor() as cursor, cursor.copy("COPY box FROM STDIN") as copy:
            copy.write("20\t20\n")
    assert failure.value.sqlstate == "23514"


def test_merge_with_parameters_over_the_extended_protocol(connect) -> None:
    connection = connect()
    connection.execute("DROP TABLE IF EXISTS stock; "
                       "CREATE TABLE stock (id int PRIMARY KEY, qty int, note text); "
                       "INSERT INTO stock VALUES (1, 1, 'old')")
    statement = ("MERGE INTO stock s USING (SELECT %s::int AS id, %s::int AS qty) v "
                 "ON s.id = v.id WHEN MATCHED THEN UPDATE SET qty = s.qty + v.qty "
                 "WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.qty, %s)")
    with connection.cursor() as cursor:
        for values in ((1, 5, "x"), (2, 7, "new"), (2, 1, "y")):
            cursor.execute(statement, values, prepare=True)
            assert cursor.statusmessage == "MERGE 1"
            assert cursor.description is None
    assert connection.execute("SELECT * FROM stock ORDER BY id").fetchall() == [
        (1, 6, "old"), (2, 8, "new")]
