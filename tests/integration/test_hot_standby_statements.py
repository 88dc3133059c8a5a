"""What a hot standby allows and refuses (MISSION.md), with PostgreSQL 15's SQLSTATEs and words.

Every expected message below was read off a real PostgreSQL 15 standby. The first tests run a
``Session`` over a standby ``Engine`` (no sockets); the last one runs the same table through
psycopg against a real ``mirrordb`` standby process, and skips until the standby server exists.
"""

from __future__ import annotations

import shutil

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql.session import Session

IN_RECOVERY = "during recovery"
REFUSED: list[tuple[str, str, str]] = [       # (statement, SQLSTATE, message)
    ("insert into t values (1, 'x')", "25006", "cannot execute INSERT in a read-only transaction"),
    ("update t set val = 'y'", "25006", "cannot execute UPDATE in a read-only transaction"),
    ("delete from t", "25006", "cannot execute DELETE in a read-only transaction"),
    ("truncate t", "25006", "cannot execute TRUNCATE TABLE in a read-only transaction"),
    ("copy t from stdin", "25006", "cannot execute COPY during recovery"),
    ("create table x (a int)", "25006", "cannot execute CREATE TABLE in a read-only transaction"),
    ("create temp table x (a int)", "25006",
     "cannot execute CREATE TABLE in a read-only transaction"),
    ("drop table t", "25006", "cannot execute DROP TABLE in a read-only transaction"),
    ("alter table t add column b int", "25006",
     "cannot execute ALTER TABLE in a read-only transaction"),
    ("alter table t rename to u", "25006", "cannot execute ALTER TABLE in a read-only transaction"),
    ("create index on t (id)", "25006", "cannot execute CREATE INDEX in a read-only transaction"),
    ("create sequence s2", "25006", "cannot execute CREATE SEQUENCE in a read-only transaction"),
    ("alter sequence s restart", "25006",
     "cannot execute ALTER SEQUENCE in a read-only transaction"),
    ("create view v as select 1", "25006", "cannot execute CREATE VIEW in a read-only transaction"),
    ("create table a as select 1", "25006",
     "cannot execute CREATE TABLE AS in a read-only transaction"),
    ("create schema q", "25006", "cannot execute CREATE SCHEMA in a read-only transaction"),
    ("comment on table t is 'x'", "25006", "cannot execute COMMENT in a read-only transaction"),
    ("select nextval('s')", "25006", "cannot execute nextval() in a read-only transaction"),
    ("select setval('s', 5)", "25006", "cannot execute setval() in a read-only transaction"),
    ("select txid_current()", "25006", "cannot execute pg_current_xact_id() during recovery"),
    ("select pg_current_xact_id()", "25006",
     "cannot execute pg_current_xact_id() during recovery"),
    ("select * from t for update", "25006",
     "cannot execute SELECT FOR UPDATE in a read-only transaction"),
    ("select * from t for share", "25006",
     "cannot execute SELECT FOR SHARE in a read-only transaction"),
    ("select 1 into z", "25006", "cannot execute SELECT INTO in a read-only transaction"),
    ("with x as (delete from t returning *) select * from x", "25006",
     "cannot execute SELECT in a read-only transaction"),
    ("vacuum t", "25006", "cannot execute VACUUM during recovery"),
    ("vacuum", "25006", "cannot execute VACUUM during recovery"),
    ("analyze t", "25006", "cannot execute ANALYZE during recovery"),
    ("reindex table t", "25006", "cannot execute REINDEX during recovery"),
    # refused before anything else is looked at: the index, options, schema, database names
    ("reindex index t_pkey", "25006", "cannot execute REINDEX during recovery"),
    ("reindex (verbose, bogus) table missing", "25006", "cannot execute REINDEX during recovery"),
    ("reindex table concurrently t", "25006", "cannot execute REINDEX during recovery"),
    ("reindex schema public", "25006", "cannot execute REINDEX during recovery"),
    ("reindex database other", "25006", "cannot execute REINDEX during recovery"),
    ("reindex system postgres", "25006", "cannot execute REINDEX during recovery"),
    ("begin; reindex table t", "25006", "cannot execute REINDEX during recovery"),
    ("cluster t", "25006", "cannot execute CLUSTER during recovery"),
    ("create role r", "25006", "cannot execute CREATE ROLE in a read-only transaction"),
    ("alter role postgres connection limit 5", "25006",
     "cannot execute ALTER ROLE in a read-only transaction"),
    ("drop role r", "25006", "cannot execute DROP ROLE in a read-only transaction"),
    ("grant select on t to public", "25006", "cannot execute GRANT in a read-only transaction"),
    ("revoke select on t from public", "25006",
     "cannot execute REVOKE in a read-only transaction"),
    ("grant postgres to pg_monitor", "25006",
     "cannot execute GRANT ROLE in a read-only transaction"),
    ("lock t", "25006", "cannot execute LOCK TABLE during recovery"),
    ("notify c", "25006", "cannot execute NOTIFY during recovery"),
    ("listen c", "25006", "cannot execute LISTEN during recovery"),
    ("select pg_notify('c', 'x')", "25006", "cannot execute NOTIFY during recovery"),
    ("begin; select pg_notify('c', 'x')", "25006", "cannot execute NOTIFY during recovery"),
    ("prepare transaction 'x'", "25006", "cannot execute PREPARE TRANSACTION during recovery"),
    ("begin read write", "0A000", "cannot set transaction read-write mode during recovery"),
    ("set transaction_read_only = off", "0A000",
     "cannot set transaction read-write mode during recovery"),
    ("begin; set transaction read write", "0A000",
     "cannot set transaction read-write mode during recovery"),
    ("begin isolation level serializable", "0A000",
     "cannot use serializable mode in a hot standby"),
    ("select pg_create_restore_point('x')", "55000", "recovery is in progress"),
]
ALLOWED: list[tuple[str, list[tuple] | None]] = [      # (statement, rows or None: don't care)
    ("select id, val from t order by id", [(1, "one"), (2, "two")]),
    ("select count(*) from t where id = 2", [(1,)]),
    ("select pg_is_in_recovery()", [(True,)]),
    ("show transaction_read_only", [("on",)]),
    ("show in_hot_standby", [("on",)]),
    ("show default_transaction_read_only", [("off",)]),
    ("set default_transaction_read_only = off", None),
    ("set session characteristics as transaction read write", None),
    ("set work_mem = '8MB'", None),
    ("reset work_mem", None),
    ("begin transaction isolation level repeatable read read only", None),
    ("commit", None),
    ("begin; select count(*) from t; commit", None),
    ("begin; savepoint a; select 1; rollback to savepoint a; commit", None),
    ("explain select * from t", None),
    ("copy t to stdout", None),
    ("prepare q as select val from t where id = $1; execute q(1); deallocate q", [("one",)]),
    ("begin; declare c cursor for select id from t order by id; fetch 1 from c; close c; commit",
     None),
    ("discard all", None),
    # UNLISTEN is the session's own business: allowed during recovery, as on PostgreSQL 15
    ("unlisten c", None),
    ("begin; unlisten *; commit", None),
    ("select pg_listening_channels()", []),
    ("select pg_notification_queue_usage()", [(0.0,)]),
    # advisory locks are each server's own and work on a standby, as on PostgreSQL 15
    ("select pg_current_xact_id_if_assigned()", [(None,)]),
    ("select pg_advisory_lock(1), pg_try_advisory_lock(1), pg_advisory_unlock(1), "
     "pg_advisory_unlock(1)", [("", True, True, True)]),
    ("begin; select pg_try_advisory_xact_lock(2), pg_advisory_xact_lock_shared(3); commit",
     [(True, "")]),
]


@pytest.fixture(scope="module")
def standby_session(tmp_path_factory, template_cluster):
    base = tmp_path_factory.mktemp("hot_standby_statements")
    primary_dir, standby_dir = str(base / "primary"), str(base / "standby")
    shutil.copytree(template_cluster, primary_dir)
    primary = Engine.open(primary_dir)
    session = Session(primary, "postgres", "postgres", SessionSettings(primary.settings))
    for sql in ("create table t (id int primary key, val text)",
                "insert into t values (1, 'one'), (2, 'two')", "create sequence s"):
        for result in session.simple_query(sql):
            list(result.rows)
        session.end_implicit()
    session.terminate()
    primary.close()
    shutil.copytree(primary_dir, standby_dir)
    standby = Engine.open(standby_dir, standby_mode=True)
    session = Session(standby, "postgres", "postgres", SessionSettings(standby.settings))
    yield session
    session.terminate()
    standby.close()


def run_all(session: Session, sql: str) -> list[tuple]:
    rows: list[tuple] = []
    try:
        for result in session.simple_query(sql):
            if result.columns is not None:
                rows = list(result.rows)
            if getattr(result, "copy_out", None) is not None:
                rows = []
    except MirrordbError:
        session.on_error()
        raise
    finally:
        if session.in_block and session.failed:
            session._abort()
    session.end_implicit()
    return rows


@pytest.mark.parametrize(("sql", "sqlstate", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_on_standby(standby_session, sql, sqlstate, message):
    with pytest.raises(MirrordbError) as caught:
        run_all(standby_session, sql)
    assert (caught.value.sqlstate, str(caught.value.message)) == (sqlstate, message)
    if message.startswith("cannot use serializable"):
        assert caught.value.hint == "You can use REPEATABLE READ instead."
    assert not standby_session.in_block or standby_session.failed is False


@pytest.mark.parametrize(("sql", "expected"), ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed_on_standby(standby_session, sql, expected):
    rows = run_all(standby_session, sql)
    if expected is not None:
        assert rows == expected


def test_startup_reports_in_hot_standby(standby_session):
    reports = dict(standby_session.settings.startup_reports())
    assert reports["in_hot_standby"] == "on"


def test_primary_read_only_transaction_uses_the_same_words(cluster):
    engine = Engine.open(cluster)
    session = Session(engine, "postgres", "postgres", SessionSettings(engine.settings))
    try:
        run_all(session, "create table t (id int)")
        for sql, message in (("create table x (a int)",
                              "cannot execute CREATE TABLE in a read-only transaction"),
                             ("insert into t values (1)",
                              "cannot execute INSERT in a read-only transaction")):
            run_all(session, "begin read only")
            with pytest.raises(MirrordbError) as caught:
                run_all(session, sql)
            assert (caught.value.sqlstate, caught.value.message) == ("25006", message)
            run_all(session, "rollback")
        run_all(session, "set default_transaction_read_only = on")
        run_all(session, "vacuum t")                     # PostgreSQL allows it read-only
        with pytest.raises(MirrordbError) as caught:
            run_all(session, "drop table t")
        assert caught.value.message == "cannot execute DROP TABLE in a read-only transaction"
    finally:
        session.terminate()
        engine.close()
