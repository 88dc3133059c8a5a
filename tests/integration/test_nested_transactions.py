"""psycopg's nested transaction blocks against a running server: an exception inside an inner
block makes psycopg send ROLLBACK TO SAVEPOINT, after which the outer block goes on (what ORMs'
savepoints rely on too)."""

from __future__ import annotations

import psycopg
import pytest


def test_psycopg_nested_transaction_blocks_recover_from_an_error(module_server):
    with module_server.connect(autocommit=True) as connection:
        connection.execute("create table nested (id int primary key)")
        with connection.transaction():
            connection.execute("insert into nested values (1)")
            with pytest.raises(psycopg.errors.UniqueViolation):
                with connection.transaction():     # SAVEPOINT ... ROLLBACK TO SAVEPOINT
                    connection.execute("insert into nested values (2)")
                    connection.execute("insert into nested values (1)")
            with connection.transaction():        # SAVEPOINT ... RELEASE SAVEPOINT
                connection.execute("insert into nested values (3)")
        rows = connection.execute("select id from nested order by id").fetchall()
    assert rows == [(1,), (3,)]
