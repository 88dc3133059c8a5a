"""Session behaviour over the wire: settings (SET/SHOW/RESET, SET LOCAL, ALTER SYSTEM + reload),
statement_timeout, idle_in_transaction_session_timeout, pg_stat_activity, pg_terminate_backend,
EXPLAIN, PREPARE/EXECUTE, VACUUM VERBOSE, error positions."""

from __future__ import annotations

import time

import psycopg
import pytest


DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


def test_set_show_reset_and_set_local(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("set statement_timeout = '5s'")
        assert conn.execute("show statement_timeout").fetchone() == ("5s",)
        conn.execute("reset statement_timeout")
        assert conn.execute("show statement_timeout").fetchone() == ("0",)
        with conn.transaction():
            conn.execute("set local work_mem = '8MB'")
            assert conn.execute("show work_mem").fetchone() == ("8MB",)
        assert conn.execute("show work_mem").fetchone() == ("4MB",)
        assert conn.execute("select current_setting('work_mem')").fetchone() == ("4MB",)
        with pytest.raises(psycopg.errors.UndefinedObject):
            conn.execute("show no_such_setting")
        with pytest.raises(psycopg.errors.CantChangeRuntimeParam):
            conn.execute("set port = 1")
        rows = conn.execute("select name, setting, context from pg_settings "
                            "where name = 'shared_buffers'").fetchall()
        assert rows == [("shared_buffers", "16384", "postmaster")]


def test_timezone_reported_to_client(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("set timezone = 'Europe/Paris'")
        assert conn.info.parameter_status("TimeZone") == "Europe/Paris"


def test_alter_system_and_reload(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("alter system set log_min_duration_statement = '250ms'")
        assert conn.execute("select pg_reload_conf()").fetchone() == (True,)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            with server.connect(autocommit=True) as fresh:
                value = fresh.execute("show log_min_duration_statement").fetchone()[0]
            if value == "250ms":
                break
            time.sleep(0.05)
        assert value == "250ms"
        conn.execute("alter system reset log_min_duration_statement")
        conn.execute("select pg_reload_conf()")


def test_statement_timeout_cancels(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("set statement_timeout = '200ms'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as caught:
            conn.execute("select pg_sleep(20)")
        assert "statement timeout" in str(caught.value)
        assert time.monotonic() - started < 10
        assert conn.execute("select 1").fetchone() == (1,)


def test_idle_in_transaction_timeout_terminates(server):
    conn = server.connect(autocommit=True)
    conn.execute("set idle_in_transaction_session_timeout = '200ms'")
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    conn.execute("begin")
    conn.execute("select 1")   # now idle in a transaction
    deadline = time.monotonic() + DEADLINE_S
    with server.connect(autocommit=True) as watcher:
        while time.monotonic() < deadline:
            alive = watcher.execute("select count(*) from pg_stat_activity where pid = %s",
                                    (pid,)).fetchone()[0]
            if not alive:
                break
            time.sleep(0.05)
    assert not alive, "idle-in-transaction session was not terminated"
    with pytest.raises((psycopg.errors.IdleInTransactionSessionTimeout,
                        psycopg.OperationalError)):
        conn.execute("select 1")
    conn.close()


def test_pg_stat_activity_and_terminate(server):
    # The victim is closed, not left to psycopg's ``with``: on leaving, that sends COMMIT when
    # the connection's last command has not finished, which it never does when the FATAL
    # arrives before the connection's end (the race every terminated client may meet).
    victim = server.connect(autocommit=True)
    try:
        with server.connect(autocommit=True) as admin:
            pid = victim.execute("select pg_backend_pid()").fetchone()[0]
            rows = admin.execute("select state, usename from pg_stat_activity where pid = %s",
                                 (pid,)).fetchall()
            assert rows == [("idle", "postgres")]
            assert admin.execute("select pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
            with pytest.raises(psycopg.OperationalError):
                deadline = time.monotonic() + DEADLINE_S
                while time.monotonic() < deadline:
                    victim.execute("select 1")
                    time.sleep(0.05)
    finally:
        victim.close()


def test_who_may_signal_whom(server):
    """A role that is not a superuser may cancel or terminate only its own role's sessions,
    never a superuser's (PostgreSQL's messages, SQLSTATE 42501); a superuser may signal any."""
    with server.connect(autocommit=True) as admin:
        admin.execute("CREATE ROLE signal_a LOGIN")
        admin.execute("CREATE ROLE signal_b LOGIN")
    with server.connect(autocommit=True) as admin, \
            psycopg.connect(server.dsn(user="signal_a"), autocommit=True) as first, \
            psycopg.connect(server.dsn(user="signal_a"), autocommit=True) as second, \
            psycopg.connect(server.dsn(user="signal_b"), autocommit=True) as other:
        pids = {name: connection.execute("select pg_backend_pid()").fetchone()[0]
                for name, connection in (("admin", admin), ("second", second),
                                         ("other", other))}
        for function, superuser_message, role_message in (
                ("pg_cancel_backend", "must be a superuser to cancel superuser query",
                 "must be a member of the role whose query is being canceled or member of "
                 "pg_signal_backend"),
                ("pg_terminate_backend", "must be a superuser to terminate superuser process",
                 "must be a member of the role whose process is being terminated or member of "
                 "pg_signal_backend")):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
                first.execute(f"select {function}(%s)", (pids["admin"],))
            assert raised.value.diag.message_primary == superuser_message
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
                first.execute(f"select {function}(%s)", (pids["other"],))
            assert raised.value.diag.message_primary == role_message
        assert first.execute("select pg_cancel_backend(%s)", (pids["second"],)).fetchone() == \
            (True,)
        assert admin.execute("select pg_cancel_backend(%s)", (pids["other"],)).fetchone() == \
            (True,)


def test_pg_stat_activity_hides_other_roles_sessions(server):
    """As on PostgreSQL: a role that is not a superuser sees its own sessions whole; of the
    others (and of background processes) only database, pid, user, application_name, xid and
    xmin, with '<insufficient privilege>' for the query."""
    with server.connect(autocommit=True) as admin:
        admin.execute("CREATE ROLE watcher LOGIN")
    query = ("SELECT usename, state, query, backend_type, client_port IS NULL, "
             "backend_start IS NULL FROM pg_stat_activity WHERE pid = %s")
    with server.connect(autocommit=True) as admin, \
            psycopg.connect(server.dsn(user="watcher"), autocommit=True) as watcher:
        admin_pid = admin.execute("select pg_backend_pid()").fetchone()[0]
        own_pid = watcher.execute("select pg_backend_pid()").fetchone()[0]
        assert watcher.execute(query, (admin_pid,)).fetchall() == \
            [("postgres", None, "<insufficient privilege>", None, True, True)]
        sent = query.replace("%s", "$1")      # the text the server received
        assert watcher.execute(query, (own_pid,)).fetchall() == \
            [("watcher", "active", sent, "client backend", False, False)]
        assert admin.execute(query, (own_pid,)).fetchone()[:4] == \
            ("watcher", "idle", sent, "client backend")
        hidden_background = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename IS NULL AND backend_type IS NULL "
            "AND query = '<insufficient privilege>'").fetchone()[0]
        assert hidden_background == admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type NOT IN "
            "('client backend', 'walsender')").fetchone()[0]


def test_explain_prepare_vacuum_verbose(server):
    notices: list[str] = []
    with server.connect(autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        conn.execute("create table ev (id int primary key, v text)")
        conn.execute("insert into ev select g, 'x' from generate_series(1, 50) g")
        plan = [r[0] for r in conn.execute("explain select * from ev where id = 3")]
        assert "Index Scan using ev_pkey on ev" in plan[0]
        conn.execute("prepare q (int) as select v from ev where id = $1")
        assert conn.execute("execute q (7)").fetchone() == ("x",)
        conn.execute("deallocate q")
        conn.execute("delete from ev where id <= 10")
        conn.execute("vacuum verbose ev")
        assert any("10 removed" in n for n in notices), notices


def test_error_position(server):
    with server.connect(autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn) as caught:
            conn.execute("select nope from pg_settings")
        assert caught.value.diag.statement_position == "8"
