"""Partial and expression indexes on a streaming standby: their definitions are pg_index rows
and their entries ordinary B-tree WAL, so the standby shows the same definitions, answers the
same queries through the same index, and after a checkpoint on both its index files equal the
primary's page for page (``mirrordb compare``)."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_standby_streaming import (execute, stop_pair_and_compare,
                                                      streaming_pair, wait_for_replay_catchup)

SETUP = ("CREATE TABLE users (id int PRIMARY KEY, email text, deleted_at int)",
         "CREATE UNIQUE INDEX users_live ON users (lower(email)) WHERE deleted_at IS NULL",
         "INSERT INTO users SELECT g, 'U' || g || '@x.org', CASE WHEN g % 3 = 0 THEN g END "
         "FROM generate_series(1, 300) g")
DEFINITION = "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_live'"
LOOKUP = ("SELECT id FROM users WHERE lower(email) = 'u7@x.org' AND deleted_at IS NULL")


def copy_rows(server, data: str) -> None:
    """COPY FROM STDIN: its rows get index entries as INSERT's do."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        with connection.cursor().copy("COPY users FROM STDIN") as copy:
            copy.write(data)


def query(server, sql: str) -> list[tuple]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def test_partial_expression_index_reaches_the_standby(template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path), *SETUP) as (primary, standby):
        assert query(standby, DEFINITION) == query(primary, DEFINITION) == [
            ("CREATE UNIQUE INDEX users_live ON public.users USING btree (lower(email)) "
             "WHERE (deleted_at IS NULL)",)]
        execute(primary, "UPDATE users SET deleted_at = 1 WHERE id = 7",
                "INSERT INTO users VALUES (1000, 'u7@X.org', NULL)",
                "DELETE FROM users WHERE id BETWEEN 100 AND 150")
        copy_rows(primary, "2000\tU8@x.org\t5\n2001\tfresh@x.org\t\\N\n")
        with pytest.raises(psycopg.errors.UniqueViolation, match="users_live"):
            copy_rows(primary, "2002\tu8@X.ORG\t\\N\n")
        wait_for_replay_catchup(primary, standby)
        assert query(standby, LOOKUP) == query(primary, LOOKUP) == [(1000,)]
        fresh = "SELECT id FROM users WHERE lower(email) = 'fresh@x.org' AND deleted_at IS NULL"
        assert query(standby, fresh) == [(2001,)]
        assert query(standby, "EXPLAIN " + LOOKUP) == [
            ("Index Scan using users_live on users",)]
        stop_pair_and_compare(primary, standby)
