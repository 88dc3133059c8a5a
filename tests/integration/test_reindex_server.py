"""REINDEX on real server processes: the locks other sessions meet while an index is rebuilt
(the picture a PostgreSQL 15 server showed in pg_locks for the same statements), and a
streaming standby that replays the rebuild, uses the new index, and ends page for page equal
to its primary (``mirrordb compare``)."""

from __future__ import annotations

import psycopg

from tests.integration.test_relation_locks import (Background, connect, poll_until, server,
                                                   waiting_for_lock)
from tests.integration.test_standby_streaming import (execute, stop_pair_and_compare,
                                                      streaming_pair, wait_for_replay_catchup)
from tests.server_process import RunningServer

__all__ = ["connect", "server"]     # fixtures, imported for pytest


def locks_on(monitor: psycopg.Connection, pids: dict[int, str]) -> list[tuple[object, ...]]:
    """(who, relation, mode, granted) of the relation locks the named sessions hold or want."""
    rows = monitor.execute(
        "SELECT pid, relation::regclass::text, mode, granted FROM pg_locks "
        "WHERE locktype = 'relation' AND pid = ANY(%s)", (list(pids),)).fetchall()
    return sorted((pids[pid], relation, mode, granted) for pid, relation, mode, granted in rows)


def test_readers_wait_for_the_index_writers_for_the_table(connect) -> None:
    owner, reader, writer, monitor = connect(), connect(), connect(), connect()
    owner.execute("DROP TABLE IF EXISTS lk; CREATE TABLE lk (id int PRIMARY KEY, v int); "
                  "CREATE INDEX lk_v ON lk (v); "
                  "INSERT INTO lk SELECT g, g FROM generate_series(1, 10) g")
    owner.execute("BEGIN")
    owner.execute("REINDEX INDEX lk_pkey")
    read = Background(reader, "SELECT v FROM lk WHERE id = 5")
    write = Background(writer, "INSERT INTO lk VALUES (11, 11)")
    poll_until(lambda: waiting_for_lock(monitor, read.pid) and
               waiting_for_lock(monitor, write.pid), "the reader and the writer wait")
    pids = {owner.info.backend_pid: "reindex", read.pid: "reader", write.pid: "writer"}
    assert locks_on(monitor, pids) == [
        ("reader", "lk", "AccessShareLock", True),
        ("reader", "lk_pkey", "AccessShareLock", False),
        ("reindex", "lk", "ShareLock", True),
        ("reindex", "lk_pkey", "AccessExclusiveLock", True),
        ("writer", "lk", "RowExclusiveLock", False)]
    owner.execute("COMMIT")
    read.join()
    write.join()
    assert read.error is None and read.rows == [(5,)]
    assert write.error is None
    assert reader.execute("SELECT id FROM lk WHERE id = 11").fetchall() == [(11,)]
    assert reader.execute("EXPLAIN SELECT id FROM lk WHERE id = 11").fetchall() == [
        ("Index Scan using lk_pkey on lk",)]


def test_standby_replays_the_rebuild_page_for_page(template_cluster, tmp_path) -> None:
    setup = ("CREATE TABLE r (id int PRIMARY KEY, grp int, note text)",
             "CREATE INDEX r_grp ON r (grp)",
             "INSERT INTO r SELECT g, g % 7, 'row ' || g FROM generate_series(1, 2000) g",
             "DELETE FROM r WHERE id % 5 = 0", "UPDATE r SET note = 'hot' WHERE id % 3 = 0")
    with streaming_pair(template_cluster, str(tmp_path), *setup) as (primary, standby):
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            old_files = connection.execute(
                "SELECT relname, relfilenode FROM pg_class WHERE relname IN ('r_pkey', 'r_grp') "
                "ORDER BY relname").fetchall()
        execute(primary, "REINDEX TABLE r", "INSERT INTO r VALUES (5000, 3, 'after')",
                "REINDEX (VERBOSE) INDEX r_grp", "REINDEX SCHEMA public",
                "BEGIN", "REINDEX INDEX r_pkey", "ROLLBACK", "DELETE FROM r WHERE id = 7")
        wait_for_replay_catchup(primary, standby)
        expected = _answers(primary)
        assert _answers(standby) == expected
        assert expected == ([(3, "after")], 230)
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            new_files = connection.execute(
                "SELECT relname, relfilenode FROM pg_class WHERE relname IN ('r_pkey', 'r_grp') "
                "ORDER BY relname").fetchall()
            assert all(new != old for new, old in zip(new_files, old_files))
            assert connection.execute("EXPLAIN SELECT * FROM r WHERE grp = 3").fetchall() == [
                ("Index Scan using r_grp on r",)]

        # the same position on both sides, then a page-for-page comparison
        stop_pair_and_compare(primary, standby)


def _answers(server: RunningServer) -> tuple[list[tuple[object, ...]], int]:
    """What the two rebuilt indexes find: by primary key, and by group."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        by_key = connection.execute("SELECT grp, note FROM r WHERE id = 5000").fetchall()
        (by_group,), = connection.execute("SELECT count(*) FROM r WHERE grp = 3").fetchall()
    return by_key, by_group
