"""REINDEX: the engine's rebuild (``Txn.reindex_index``/``reindex_table``) and the statement
(sql/reindex.py) over a Session, with the messages, SQLSTATEs and VERBOSE lines a PostgreSQL 15
server printed for the same statements (psql, VERBOSITY verbose).

The engine tests check the file swap the way TRUNCATE's test does: the index gets a new
relfilenode, the old file goes at commit, the new one at abort (or ROLLBACK TO SAVEPOINT), and
the rebuilt index answers lookups and matches its table (``verify_indexes``). A crash before the
commit leaves the old index in use.
"""

from __future__ import annotations

import os
import re

import pytest

from mirrordb.access.relation import Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError, UniqueViolation
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql.session import Session
from mirrordb.storage import datum as T
from tests.integration.test_sql_session import error, run, session

__all__ = ["session"]     # the fixture, imported for pytest

CPU_DETAIL = r"CPU: user: \d+\.\d\d s, system: \d+\.\d\d s, elapsed: \d+\.\d\d s"


def make_items(engine: Engine, count: int = 300) -> None:
    with engine.begin() as txn:
        txn.create_table("items", [("id", T.INT8_OID), ("grp", T.INT4_OID)])
        txn.create_index("items_pkey", "items", ["id"], unique=True, primary=True)
        txn.create_index("items_grp", "items", ["grp"])
        for key in range(count):
            txn.insert("items", [key, key % 3])
    with engine.begin() as txn:     # dead versions and a HOT chain for the rebuild to meet
        for key in range(0, count, 10):
            (tid, _), = txn.lookup("items_pkey", (key,))
            txn.delete("items", tid)
        (tid, _), = txn.lookup("items_pkey", (1,))
        txn.update("items", tid, [1, 1])


@pytest.fixture
def engine(cluster: str):
    opened = Engine.open(cluster)
    yield opened
    opened.close()


def path_of(engine: Engine, index: Relation) -> str:
    return os.path.join(engine.datadir, index.rnode.relative_path())


def file_of(engine: Engine, name: str) -> str:
    with engine.begin() as txn:
        return path_of(engine, txn.relation(name))


def answers(engine: Engine) -> tuple[list[object], int]:
    """What the two indexes find: the row with id 5, and how many rows have grp 2."""
    with engine.begin() as txn:
        found = [values for _, values in txn.lookup("items_pkey", (5,))]
        return found, len(txn.lookup("items_grp", (2,)))


def test_reindex_index_swaps_the_file_at_commit(engine):
    make_items(engine)
    expected = answers(engine)
    old_path = file_of(engine, "items_pkey")
    txn = engine.begin()
    new_path = path_of(engine, txn.reindex_index("items_pkey"))
    assert new_path != old_path and os.path.exists(new_path) and os.path.exists(old_path)
    txn.commit()
    assert not os.path.exists(old_path) and file_of(engine, "items_pkey") == new_path
    assert answers(engine) == expected
    assert engine.verify_indexes("items") == 301


def test_reindex_table_aborted_or_rolled_back_keeps_the_old_files(engine):
    make_items(engine)
    old_paths = [file_of(engine, name) for name in ("items_pkey", "items_grp")]
    txn = engine.begin()
    rebuilt = txn.reindex_table("items")
    assert [index.name for index in rebuilt] == ["items_pkey", "items_grp"]
    txn.abort()
    assert all(map(os.path.exists, old_paths))
    assert not any(os.path.exists(path_of(engine, index)) for index in rebuilt)
    with engine.begin() as txn:
        txn.savepoint("a")
        rolled_back = txn.reindex_table("items")
        txn.rollback_to_savepoint("a")
        twice = [txn.reindex_index("items_grp"), txn.reindex_index("items_grp")]
    assert not any(os.path.exists(path_of(engine, index)) for index in rolled_back + twice[:1])
    assert file_of(engine, "items_grp") == path_of(engine, twice[1])
    assert file_of(engine, "items_pkey") == old_paths[0]
    assert engine.verify_indexes("items") == 301


def test_rebuilding_a_unique_index_reports_a_duplicate(engine):
    with engine.begin() as txn:
        txn.create_table("dup", [("a", T.INT4_OID)])
        index = txn.create_index("dup_a", "dup", ["a"])
        txn.insert("dup", [1])
        txn.insert("dup", [1])
        # what PostgreSQL's test does with UPDATE pg_index SET indisunique = true
        txn._update_catalog_rows(boot.PG_INDEX, lambda v: v[0] == index.oid,
                                 lambda v: v[:3] + (True,) + v[4:])
    with engine.begin() as txn, pytest.raises(UniqueViolation) as caught:
        txn.reindex_table("dup")
    assert caught.value.message == 'could not create unique index "dup_a"'
    assert caught.value.detail == "Key (a)=(1) is duplicated."


def test_crash_before_commit_leaves_the_old_index(cluster):
    engine = Engine.open(cluster)
    make_items(engine)
    expected = answers(engine)
    old_paths = [file_of(engine, name) for name in ("items_pkey", "items_grp")]
    txn = engine.begin()
    txn.reindex_table("items")
    engine.wal.flush(engine.wal.end_lsn)   # the whole rebuild is on disk, its commit is not
    engine.crash()
    engine = Engine.open(cluster)
    try:
        assert engine.recovery.needed
        assert [file_of(engine, name) for name in ("items_pkey", "items_grp")] == old_paths
        assert answers(engine) == expected
        assert engine.verify_indexes("items") == 301
        with engine.begin() as txn:
            txn.insert("items", [1000, 2])
            txn.reindex_table("items")
        assert answers(engine) == (expected[0], expected[1] + 1)
        assert engine.verify_indexes("items") == 302
    finally:
        engine.close()


# -- the statement ------------------------------------------------------------------------------

SETUP = ("create table t (id int primary key, v int); create index t_v_idx on t (v); "
         "insert into t select g, g % 10 from generate_series(1, 100) g; "
         "create sequence s; create table noidx (a int)")

ERRORS = [   # (statement, SQLSTATE, message), as PostgreSQL 15 answered each
    ("reindex table missing", "42P01", 'relation "missing" does not exist'),
    ("reindex index missing", "42P01", 'relation "missing" does not exist'),
    ("reindex table public.missing", "42P01", 'relation "public.missing" does not exist'),
    ("reindex table pg_catalog.t", "42P01", 'relation "pg_catalog.t" does not exist'),
    ("reindex table nosuch.t", "3F000", 'schema "nosuch" does not exist'),
    ("reindex schema missing", "3F000", 'schema "missing" does not exist'),
    ("reindex table t_pkey", "42809", '"t_pkey" is not a table or materialized view'),
    ("reindex table s", "42809", '"s" is not a table or materialized view'),
    ("reindex table pg_stat_activity", "42809",
     '"pg_stat_activity" is not a table or materialized view'),
    ("reindex index t", "42809", '"t" is not an index'),
    ("reindex index s", "42809", '"s" is not an index'),
    ("reindex database other", "0A000", "can only reindex the currently open database"),
    ("reindex system other", "0A000", "can only reindex the currently open database"),
    ("reindex database", "42601", "syntax error at end of input"),     # 15's grammar
    ("reindex system concurrently postgres", "0A000",
     "cannot reindex system catalogs concurrently"),
    ("reindex table concurrently pg_class", "0A000",
     "cannot reindex system catalogs concurrently"),
    ("reindex (bogus) table t", "42601", 'unrecognized REINDEX option "bogus"'),
    ("reindex (tablespace nope, bogus) table t", "42601", 'unrecognized REINDEX option "bogus"'),
    ("reindex (verbose 'yes') index t_pkey", "42601", "verbose requires a Boolean value"),
    ("reindex (verbose 2) index t_pkey", "42601", "verbose requires a Boolean value"),
    ("reindex (tablespace) index t_pkey", "42601", "tablespace requires a parameter"),
    ("reindex (tablespace nope) table missing", "42704", 'tablespace "nope" does not exist'),
    ("reindex (tablespace 3) index t_pkey", "42704", 'tablespace "3" does not exist'),
    ("reindex (tablespace pg_global) index t_pkey", "22023",
     "only shared relations can be placed in pg_global tablespace"),
    ("reindex (tablespace pg_global) schema public", "22023",
     "only shared relations can be placed in pg_global tablespace"),
    ("reindex (tablespace pg_global, concurrently) index t_pkey", "0A000",
     'cannot move non-shared relation to tablespace "pg_global"'),
    ("begin; reindex table concurrently t", "25001",
     "REINDEX CONCURRENTLY cannot run inside a transaction block"),
    ("begin; reindex (tablespace nope, concurrently) table missing", "25001",
     "REINDEX CONCURRENTLY cannot run inside a transaction block"),
    ("begin; reindex schema missing", "25001",
     "REINDEX SCHEMA cannot run inside a transaction block"),
    ("begin; reindex database postgres", "25001",
     "REINDEX DATABASE cannot run inside a transaction block"),
    ("begin; reindex system postgres", "25001",
     "REINDEX SYSTEM cannot run inside a transaction block"),
]


@pytest.mark.parametrize(("sql", "sqlstate", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_are_postgresqls(session, sql, sqlstate, message):
    run(session, SETUP)
    caught = error(session, sql)
    assert (caught.sqlstate, caught.message) == (sqlstate, message)
    if "bogus" in sql:
        assert caught.position == sql.index("bogus") + 1
    if session.in_block:
        run(session, "rollback")


def notices(session: Session, sql: str) -> list[object]:
    """The notices of the last statement of ``sql`` (the CPU times masked)."""
    results = list(session.simple_query(sql))
    session.end_implicit()
    shown: list[object] = []
    for notice in results[-1].notices:
        if isinstance(notice, MirrordbError):
            shown.append(("WARNING", notice.sqlstate, notice.message))
        elif isinstance(notice, tuple) and len(notice) == 3:
            assert re.fullmatch(CPU_DETAIL + r"\.?", notice[2]), notice
            shown.append((notice[0], notice[1], "CPU" + ("." if notice[2].endswith(".") else "")))
        else:
            shown.append(notice)
    assert results[-1].tag(0) == "REINDEX"
    return shown


def test_verbose_lines_are_postgresqls(session):
    run(session, SETUP)
    assert notices(session, "reindex (verbose) table t") == [
        ("INFO", 'index "t_pkey" was reindexed', "CPU"),
        ("INFO", 'index "t_v_idx" was reindexed', "CPU")]
    assert notices(session, "reindex (verbose on, concurrently false) index t_v_idx") == [
        ("INFO", 'index "t_v_idx" was reindexed', "CPU")]
    assert notices(session, "reindex (verbose) schema public") == [
        ("INFO", 'index "t_pkey" was reindexed', "CPU"),
        ("INFO", 'index "t_v_idx" was reindexed', "CPU"),
        ("INFO", 'table "public.t" was reindexed')]
    assert notices(session, "reindex (verbose 1) database postgres") == [
        ("INFO", 'index "t_pkey" was reindexed', "CPU"),
        ("INFO", 'index "t_v_idx" was reindexed', "CPU"),
        ("INFO", 'table "public.t" was reindexed')]
    # the catalogs have no indexes here: nothing to say
    assert notices(session, "reindex (verbose) system postgres") == []
    assert notices(session, "reindex (verbose) schema pg_catalog") == []
    assert notices(session, "reindex (verbose off) table t") == []


def test_concurrently_is_a_plain_rebuild_with_the_concurrent_words(session):
    run(session, SETUP)
    assert notices(session, "reindex (verbose) table concurrently t") == [
        ("INFO", 'index "public.t_pkey" was reindexed'),
        ("INFO", 'index "public.t_v_idx" was reindexed'),
        ("INFO", 'table "public.t" was reindexed', "CPU.")]
    assert notices(session, "reindex (verbose) index concurrently t_pkey") == [
        ("INFO", 'index "public.t_pkey" was reindexed', "CPU.")]
    assert notices(session, "reindex (verbose, concurrently) schema public") == [
        ("INFO", 'index "public.t_pkey" was reindexed'),
        ("INFO", 'index "public.t_v_idx" was reindexed'),
        ("INFO", 'table "public.t" was reindexed', "CPU.")]
    skipped = ("WARNING", "0A000", "cannot reindex system catalogs concurrently, skipping all")
    assert notices(session, "reindex schema concurrently pg_catalog") == [skipped]
    assert notices(session, "reindex database concurrently postgres") == [skipped]
    assert notices(session, "reindex (tablespace pg_default, concurrently) database postgres") \
        == [skipped]
    assert notices(session, "reindex table concurrently noidx") == [
        'table "noidx" has no indexes that can be reindexed concurrently']


def test_tables_without_indexes_and_tablespaces(session):
    run(session, SETUP)
    assert notices(session, "reindex table noidx") == ['table "noidx" has no indexes to reindex']
    assert notices(session, "reindex table pg_class") == [
        'table "pg_class" has no indexes to reindex']
    assert notices(session, "reindex (tablespace pg_global) table noidx") == [
        'table "noidx" has no indexes to reindex']
    assert notices(session, "reindex (tablespace pg_default) table t") == []
    assert notices(session, "reindex (tablespace 'pg_default') schema public") == []
    moved = ("WARNING", "42501", "cannot move system relations, skipping all")
    assert notices(session, "reindex (tablespace pg_default) database postgres") == [moved]
    assert notices(session, "reindex (tablespace pg_default) system postgres") == [moved]


def test_in_blocks_read_only_and_the_rebuilt_index_is_used(session):
    run(session, SETUP)
    before = run(session, "select relfilenode from pg_class where relname = 't_pkey'")[0][1]
    run(session, "begin read only")
    assert run(session, "reindex table t") == [("REINDEX", [])]
    run(session, "reindex index t_pkey")
    run(session, "commit")
    run(session, "begin; savepoint a; reindex table t; rollback to a; reindex index t_v_idx; "
                 "commit")
    run(session, "set default_transaction_read_only = on")
    run(session, "reindex schema public")
    run(session, "reset default_transaction_read_only")
    after = run(session, "select relfilenode from pg_class where relname = 't_pkey'")[0][1]
    assert after != before
    assert run(session, "explain select v from t where id = 42")[0][1] == [
        ("Index Scan using t_pkey on t",)]
    assert run(session, "select v from t where id = 42")[0][1] == [(2,)]
    assert run(session, "select count(*) from t where v = 3")[0][1] == [(10,)]
    assert session.engine.verify_indexes("t") == 100


def test_only_owners_and_superusers(cluster):
    engine = Engine.open(cluster)
    admin = Session(engine, "postgres", "postgres", SessionSettings(engine.settings))
    alice = Session(engine, "alice", "postgres", SessionSettings(engine.settings))
    try:
        run(admin, SETUP + "; create role alice login")
        run(alice, "create table at (id int primary key)")
        refused = {
            "reindex table t": "must be owner of table t",
            "reindex index t_pkey": "must be owner of index t_pkey",
            "reindex table pg_class": "must be owner of table pg_class",
            "reindex table concurrently t": "must be owner of table t",
            "reindex schema public": "must be owner of schema public",
            "reindex database postgres": "must be owner of database postgres",
            "reindex system postgres": "must be owner of database postgres",
            "reindex (tablespace pg_global) table at": "permission denied for tablespace "
                                                       "pg_global",
        }
        for sql, message in refused.items():
            caught = error(alice, sql)
            assert (caught.sqlstate, caught.message) == ("42501", message), sql
        for sql in ("reindex table at", "reindex index at_pkey",
                    "reindex (tablespace pg_default) table at"):
            assert run(alice, sql) == [("REINDEX", [])]
    finally:
        alice.terminate()
        admin.terminate()
        engine.close()
