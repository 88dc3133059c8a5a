"""Per-role and per-database setting defaults without a server: the setconfig text form, the
array edits of ALTER ROLE ... SET (sql/role_settings.py), the checks made before a value is
stored and the way a new session applies stored values (server/config.py), and the statements
themselves in a Session over an engine on a fresh cluster. Expected messages are PostgreSQL
15's (tests/compat/test_role_settings_vs_postgres.py compares the stored rows with a real one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.settings import Settings
from mirrordb.sql import role_settings as rs
from mirrordb.sql.session import Session


SessionFactory = Callable[[str], Session]


def settings(superuser: bool = True) -> SessionSettings:
    return SessionSettings(Settings(), superuser=superuser)


def error_of(call: object, *args: object, **kwargs: object) -> MirrordbError:
    with pytest.raises(MirrordbError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# -- the setconfig text form and the array edits ---------------------------------------------------

def test_setconfig_text_form_quotes_as_array_out() -> None:
    config = ["synchronous_commit=off", 'search_path=a, "B c", public', "foo.bar=x y",
              "x=a\\b", "n=NULL"]
    text = rs.format_setconfig(config)
    assert text == ('{synchronous_commit=off,"search_path=a, \\"B c\\", public","foo.bar=x y",'
                    '"x=a\\\\b",n=NULL}')
    assert rs.parse_setconfig(text) == config
    assert rs.parse_setconfig(None) == []
    assert rs.split_entry("a=b=c") == ("a", "b=c") and rs.split_entry("a") == ("a", None)


def test_add_replaces_in_place_with_the_canonical_name_and_appends_new_ones() -> None:
    checker = settings()
    config = rs.config_add([], checker, "work_mem", "64MB")
    config = rs.config_add(config, checker, "datestyle", "iso, mdy")
    config = rs.config_add(config, checker, "WORK_MEM", "1GB")
    config = rs.config_add(config, checker, "Foo.Bar", "x")
    assert config == ["work_mem=1GB", "DateStyle=iso, mdy", "foo.bar=x"]
    assert rs.config_delete(config, checker, "Work_Mem") == ["DateStyle=iso, mdy", "foo.bar=x"]
    assert rs.config_delete(config, checker, "foo.nothing") == config


@pytest.mark.parametrize(("superuser", "name", "value", "sqlstate", "message"), [
    (True, "nonexistent", "1", "42704", 'unrecognized configuration parameter "nonexistent"'),
    (True, "shared_buffers", "1MB", "55P02",
     'parameter "shared_buffers" cannot be changed without restarting the server'),
    (True, "log_connections", "on", "55P02",
     'parameter "log_connections" cannot be set after connection start'),
    (True, "wal_receiver_status_interval", "3", "55P02",
     'parameter "wal_receiver_status_interval" cannot be changed now'),
    (True, "is_superuser", "on", "55P02", 'parameter "is_superuser" cannot be changed'),
    (True, "synchronous_commit", "bogus", "22023",
     'invalid value for parameter "synchronous_commit": "bogus"'),
    (True, "transaction_isolation", "serializable", "25001",
     "SET TRANSACTION ISOLATION LEVEL must be called before any query"),
    (False, "log_min_duration_statement", "10", "42501",
     'permission denied to set parameter "log_min_duration_statement"'),
    (False, "foo.x", "1", "42501", 'permission denied to set parameter "foo.x"'),
])
def test_values_are_checked_as_set_checks_them(superuser: bool, name: str, value: str,
                                               sqlstate: str, message: str) -> None:
    error = error_of(rs.config_add, [], settings(superuser), name, value)
    assert (error.sqlstate, error.message) == (sqlstate, message)


def test_reset_all_keeps_what_a_non_superuser_could_not_have_set() -> None:
    config = ["foo.bar=x y", "work_mem=1MB", "log_min_duration_statement=-1",
              "synchronous_commit=off"]
    assert rs.config_reset(config, settings(superuser=False)) == [
        "foo.bar=x y", "log_min_duration_statement=-1"]
    assert rs.config_reset(config, settings(superuser=True)) == []


def test_a_row_holds_a_bounded_number_of_settings() -> None:
    config = [f"x.s{i}=1" for i in range(rs.SETCONFIG_MAX_ENTRIES)]
    assert error_of(rs.config_add, config, settings(), "x.more", "1").sqlstate == "54000"
    assert rs.config_add(config, settings(), "x.s0", "2")[0] == "x.s0=2"


# -- how a new session applies them (server/config.py) ---------------------------------------------

def test_stored_values_apply_in_priority_order_below_the_start_up_packet() -> None:
    session = settings(superuser=False)
    session.apply_startup_options({"work_mem": "5MB"})
    warnings = session.apply_role_settings([
        ("synchronous_commit", "local", rs.SOURCE_DATABASE_USER),
        ("work_mem", "1MB", rs.SOURCE_USER),
        ("synchronous_commit", "off", rs.SOURCE_USER),
        ("lock_timeout", "1000", rs.SOURCE_DATABASE),
        ("log_min_duration_statement", "7", rs.SOURCE_USER),   # stored by a superuser
        ("statement_timeout", "5s", rs.SOURCE_GLOBAL),
        ("lock_timeout", "2000", rs.SOURCE_GLOBAL),
    ])
    assert warnings == []
    rows = {row["name"]: row for row in session.pg_settings_rows()}
    shown = {name: (rows[name]["setting"], rows[name]["source"], rows[name]["reset_val"])
             for name in ("synchronous_commit", "work_mem", "lock_timeout", "statement_timeout",
                          "log_min_duration_statement")}
    assert shown == {"synchronous_commit": ("local", "database user", "local"),
                     "work_mem": ("5120", "client", "5120"),
                     "lock_timeout": ("1000", "database", "1000"),
                     "statement_timeout": ("5000", "global", "5000"),
                     "log_min_duration_statement": ("7", "user", "7")}
    session.begin_transaction()
    session.set("synchronous_commit", "remote_apply")
    session.commit_transaction()
    session.reset("synchronous_commit")     # RESET goes back to the role's value
    assert session.show("synchronous_commit") == "local"


def test_values_that_no_longer_pass_come_back_as_warnings() -> None:
    session = settings()
    warnings = session.apply_role_settings([
        ("work_mem", "lots", rs.SOURCE_USER), ("shared_buffers", "1MB", rs.SOURCE_USER),
        ("nonsense", None, rs.SOURCE_USER), ("search_path", "x", rs.SOURCE_USER)])
    assert [(w.sqlstate, w.message) for w in warnings] == [
        ("22023", 'invalid value for parameter "work_mem": "lots"'),
        ("55P02", 'parameter "shared_buffers" cannot be changed without restarting the server'),
        ("42601", 'could not parse setting for parameter "nonsense"')]
    assert session.show("search_path") == "x"
    assert session.source_of("work_mem").kind == "default"


# -- the statements in a Session over an engine ---------------------------------------------------

@pytest.fixture
def engine(cluster: str) -> Iterator[Engine]:
    opened = Engine.open(cluster)
    yield opened
    opened.close()


@pytest.fixture
def session_of(engine: Engine) -> Iterator[SessionFactory]:
    """Sessions of a role (a superuser if pg_authid says so), ended after the test."""
    opened: list[Session] = []

    def open_session(user: str) -> Session:
        superuser = any(values[1] == user and values[2] for _, values in
                        engine.relcache.rows(boot.PG_AUTHID, None))
        opened.append(Session(engine, user, "postgres",
                              SessionSettings(engine.settings, superuser=superuser)))
        return opened[-1]
    yield open_session
    for session in opened:
        session.terminate()


def run(session: Session, sql: str) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    try:
        for result in session.simple_query(sql):
            rows += list(result.rows)
    except MirrordbError:
        session.on_error()
        raise
    session.end_implicit()
    return rows


def stored(engine: Engine) -> dict[tuple[int, int], tuple[str, ...]]:
    return {(row.database_oid, row.role_oid): row.config for row in
            rs.setting_rows(engine.relcache.rows(boot.PG_DB_ROLE_SETTING, None))}


def role_oid(engine: Engine, name: str) -> int:
    return next(int(values[0]) for _, values in engine.relcache.rows(boot.PG_AUTHID, None)
                if values[1] == name)


def test_alter_role_and_database_set_write_rows_a_new_session_reads(
        engine: Engine, session_of: SessionFactory) -> None:
    admin = session_of("postgres")
    run(admin, "CREATE ROLE r LOGIN")
    r = role_oid(engine, "r")
    run(admin, "ALTER ROLE r SET synchronous_commit = off")
    run(admin, "ALTER USER r SET search_path = a, \"B c\", public")
    run(admin, "ALTER ROLE r IN DATABASE postgres SET synchronous_commit TO local")
    run(admin, "ALTER DATABASE postgres SET lock_timeout = 1000")
    run(admin, "ALTER ROLE ALL SET statement_timeout = '5s'")
    run(admin, "ALTER ROLE r SET work_mem FROM CURRENT")
    database = boot.POSTGRES_DATABASE_OID
    assert stored(engine) == {
        (0, r): ("synchronous_commit=off", 'search_path=a, "B c", public', "work_mem=4MB"),
        (database, r): ("synchronous_commit=local",),
        (database, 0): ("lock_timeout=1000",), (0, 0): ("statement_timeout=5s",)}
    assert rs.connection_settings(engine, "postgres", r) == [
        ("synchronous_commit", "local", "database user"),
        ("synchronous_commit", "off", "user"),
        ("search_path", 'a, "B c", public', "user"), ("work_mem", "4MB", "user"),
        ("lock_timeout", "1000", "database"), ("statement_timeout", "5s", "global")]
    assert rs.connection_settings(engine, "template1", r) == [
        ("synchronous_commit", "off", "user"),
        ("search_path", 'a, "B c", public', "user"), ("work_mem", "4MB", "user"),
        ("statement_timeout", "5s", "global")]
    assert run(admin, "SELECT rolconfig FROM pg_roles WHERE rolname = 'r'") == [
        (["synchronous_commit=off", 'search_path=a, "B c", public', "work_mem=4MB"],)]
    run(admin, "ALTER ROLE r RESET search_path")
    run(admin, "ALTER ROLE r SET work_mem TO DEFAULT")
    run(admin, "ALTER ROLE r IN DATABASE postgres RESET ALL")
    assert stored(engine)[(0, r)] == ("synchronous_commit=off",)
    assert (database, r) not in stored(engine)
    run(admin, "DROP ROLE r")
    assert set(stored(engine)) == {(database, 0), (0, 0)}


def test_a_reset_where_nothing_is_stored_checks_nothing(engine: Engine,
                                                        session_of: SessionFactory) -> None:
    admin = session_of("postgres")
    run(admin, "CREATE ROLE quiet")
    run(admin, "ALTER ROLE quiet RESET nonexistent")
    run(admin, "ALTER ROLE quiet RESET ALL")
    assert stored(engine) == {}


def test_a_rolled_back_change_leaves_the_row(engine: Engine, session_of: SessionFactory) -> None:
    admin = session_of("postgres")
    run(admin, "CREATE ROLE r")
    run(admin, "ALTER ROLE r SET work_mem = '1MB'")
    run(admin, "BEGIN")
    run(admin, "ALTER ROLE r SET work_mem = '7MB'")
    assert run(admin, "SELECT setconfig FROM pg_db_role_setting") == [(["work_mem=7MB"],)]
    run(admin, "ROLLBACK")
    assert list(stored(engine).values()) == [("work_mem=1MB",)]


@pytest.mark.parametrize(("user", "statement", "sqlstate", "message"), [
    ("plain", "ALTER ROLE other SET work_mem = '1MB'", "42501", "permission denied"),
    ("plain", "ALTER ROLE postgres SET work_mem = '1MB'", "42501",
     "must be superuser to alter superusers"),
    ("maker", "ALTER ROLE postgres SET work_mem = '1MB'", "42501",
     "must be superuser to alter superusers"),
    ("maker", "ALTER ROLE ALL SET work_mem = '1MB'", "42501",
     "must be superuser to alter settings globally"),
    ("maker", "ALTER DATABASE postgres SET work_mem = '1MB'", "42501",
     "must be owner of database postgres"),
    ("maker", "ALTER ROLE ALL IN DATABASE postgres SET work_mem = '1MB'", "42501",
     "must be owner of database postgres"),
    ("plain", "ALTER ROLE plain SET log_min_duration_statement = 10", "42501",
     'permission denied to set parameter "log_min_duration_statement"'),
    ("postgres", "ALTER ROLE nobody SET work_mem = '1MB'", "42704",
     'role "nobody" does not exist'),
    ("postgres", "ALTER ROLE pg_monitor SET work_mem = '1MB'", "42939",
     'role name "pg_monitor" is reserved'),
    ("postgres", "ALTER ROLE plain IN DATABASE nodb SET work_mem = '1MB'", "3D000",
     'database "nodb" does not exist'),
    ("postgres", "ALTER DATABASE nodb SET work_mem = '1MB'", "3D000",
     'database "nodb" does not exist'),
    ("postgres", "ALTER ROLE plain SET work_mem = '2MB', '3MB'", "22023",
     "SET work_mem takes only one argument"),
    ("postgres", "BEGIN READ ONLY; ALTER ROLE plain SET work_mem = '1MB'", "25006",
     "cannot execute ALTER ROLE in a read-only transaction"),
    ("postgres", "BEGIN READ ONLY; ALTER DATABASE postgres SET work_mem = '1MB'", "25006",
     "cannot execute ALTER DATABASE in a read-only transaction"),
])
def test_permission_and_target_errors(session_of: SessionFactory, user: str,
                                      statement: str, sqlstate: str, message: str) -> None:
    admin = session_of("postgres")
    run(admin, "CREATE ROLE plain LOGIN; CREATE ROLE other; CREATE ROLE maker CREATEROLE LOGIN")
    error = error_of(run, session_of(user), statement)
    assert (error.sqlstate, error.message) == (sqlstate, message)


def test_createrole_and_the_role_itself_may_change_its_settings(
        engine: Engine, session_of: SessionFactory) -> None:
    admin = session_of("postgres")
    run(admin, "CREATE ROLE plain LOGIN; CREATE ROLE maker CREATEROLE LOGIN")
    run(session_of("plain"), "ALTER ROLE plain SET work_mem = '1MB'")
    run(session_of("plain"), "ALTER ROLE CURRENT_USER SET synchronous_commit = local")
    run(session_of("maker"), "ALTER ROLE plain IN DATABASE postgres SET work_mem = 64")
    plain = role_oid(engine, "plain")
    assert stored(engine) == {(0, plain): ("work_mem=1MB", "synchronous_commit=local"),
                              (boot.POSTGRES_DATABASE_OID, plain): ("work_mem=64",)}


def test_order_by_puts_nulls_last_ascending_and_first_descending(
        session_of: SessionFactory) -> None:
    """psql's \\drds sorts rows without a role or database after the others (ORDER BY 1, 2)."""
    admin = session_of("postgres")
    values = "(VALUES ('b'), (NULL), ('a')) v(x)"
    assert run(admin, f"SELECT x FROM {values} ORDER BY 1") == [("a",), ("b",), (None,)]
    assert run(admin, f"SELECT x FROM {values} ORDER BY 1 DESC") == [(None,), ("b",), ("a",)]
    assert run(admin, f"SELECT x FROM {values} ORDER BY 1 NULLS FIRST") == [
        (None,), ("a",), ("b",)]


def test_a_cluster_made_before_the_catalog_reads_it_as_empty(cluster: str) -> None:
    os.remove(os.path.join(cluster, "global", str(boot.PG_DB_ROLE_SETTING_OID)))
    old = Engine.open(cluster)
    session = Session(old, "postgres", "postgres", SessionSettings(old.settings, superuser=True))
    try:
        assert rs.connection_settings(old, "postgres", boot.BOOTSTRAP_SUPERUSER_OID) == []
        assert run(session, "SELECT count(*) FROM pg_db_role_setting") == [(0,)]
        assert run(session, "SELECT rolconfig FROM pg_roles WHERE rolname !~ '^pg_'") == [(None,)]
        error = error_of(run, session, "ALTER ROLE postgres SET work_mem = '1MB'")
        assert error.sqlstate == "55000"
        run(session, "CREATE ROLE gone")
        run(session, "DROP ROLE gone")
    finally:
        session.terminate()
        old.close()
