"""Roles, privileges and client authentication end to end: a real mirrordb server, real psql and
psycopg, and a hand-driven login (mirrordb's own protocol and SCRAM clients) where a test needs
the SQLSTATE or the SCRAM salt, which libpq does not show.

One server serves the module. Its pg_hba.conf (``HBA_RULES``) trusts the test's own superuser
``postgres`` on TCP, rejects ``mallory``, trusts ``trusty``, runs md5 for ``md5user`` and
SCRAM-SHA-256 for everybody else. The reload test edits the file and puts it back.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from mirrordb.auth import scram
from mirrordb.auth.md5 import md5_response
from mirrordb.cli.initdb import initdb
from mirrordb.protocol import messages as m
from mirrordb.protocol.client import ClientConnection
from mirrordb.storage.control import read_control_file
from tests.conftest import pg_tool
from tests.server_process import RunningServer, start_server

HBA_RULES = """\
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       all                      trust
host    all       postgres  127.0.0.1/32   trust
host    all       mallory   127.0.0.1/32   reject
host    all       trusty    127.0.0.1/32   trust
host    all       md5user   127.0.0.1/32   md5
host    all       all       127.0.0.1/32   scram-sha-256
"""
DEADLINE_S = 30.0
POLL_S = 0.05
SOCKET_TIMEOUT_S = 30.0
RECEIVE_BYTES = 65536


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    datadir = str(tmp_path_factory.mktemp("roles") / "data")
    initdb(datadir, segment_size_mb=1)
    write_hba(datadir, HBA_RULES)
    running = start_server(datadir)
    yield running
    running.stop()


def write_hba(datadir: str, text: str) -> None:
    with open(os.path.join(datadir, "pg_hba.conf"), "w", encoding="utf-8") as handle:
        handle.write(text)


def admin(server: RunningServer, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    """Run one statement as the superuser (autocommit); its rows, if any."""
    with server.connect(autocommit=True) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def connect_as(server: RunningServer, user: str, password: str | None = None,
               **kwargs: object) -> psycopg.Connection:
    extra = {} if password is None else {"password": password}
    return psycopg.connect(server.dsn(user=user, **extra), **kwargs)  # type: ignore[arg-type]


def psql_as(server: RunningServer, user: str, password: str | None, sql: str
            ) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run([pg_tool("psql"), "-X", "-w", "-A", "-t", "-h", "127.0.0.1",
                           "-p", str(server.port), "-U", user, "-d", "postgres", "-c", sql],
                          capture_output=True, text=True, timeout=60, env=env)


def fresh_role(server: RunningServer, name: str, options: str = "login") -> None:
    admin(server, f"drop role if exists {name}")
    admin(server, f"create role {name} {options}")


# -- a login driven by hand, to see SQLSTATEs and the SCRAM salt ----------------------------------


@dataclass
class LoginOutcome:
    sqlstate: str | None            # None: logged in
    message: str | None
    requests: list[str]             # the authentication requests, in order
    salt: bytes | None = None       # from the SCRAM server-first-message


def raw_login(server: RunningServer, user: str, password: str) -> LoginOutcome:
    client = ClientConnection()
    outcome = LoginOutcome(None, None, [])
    scram_client = scram.ScramClientExchange(user, password)
    with socket.create_connection(("127.0.0.1", server.port), SOCKET_TIMEOUT_S) as sock:
        sock.sendall(client.startup({"user": user, "database": "postgres"}))
        while True:
            message = _next_message(client, sock)
            outcome.requests.append(type(message).__name__)
            if isinstance(message, m.ErrorResponse):
                outcome.sqlstate, outcome.message = message.sqlstate, message.message
                return outcome
            if isinstance(message, m.ReadyForQuery):
                return outcome
            reply = _answer(message, scram_client, user, password, outcome)
            if reply is not None:
                client.send(m.PasswordMessage(reply))
                sock.sendall(client.data_to_send())


def _next_message(client: ClientConnection, sock: socket.socket) -> object:
    while True:
        event = client.next_event()
        if event is not None:
            return event
        client.receive_data(sock.recv(RECEIVE_BYTES))


def _answer(message: object, scram_client: scram.ScramClientExchange, user: str,
            password: str, outcome: LoginOutcome) -> bytes | None:
    if isinstance(message, m.AuthenticationSASL):
        return m.encode_sasl_initial_response("SCRAM-SHA-256", scram_client.client_first())
    if isinstance(message, m.AuthenticationSASLContinue):
        attributes = dict(part.split("=", 1) for part in message.data.decode().split(","))
        outcome.salt = base64.b64decode(attributes["s"])
        return scram_client.client_final(message.data)
    if isinstance(message, m.AuthenticationMD5Password):
        return md5_response(password, user, message.salt).encode() + b"\0"
    return None


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting until {what}")


def login_error(server: RunningServer, user: str, password: str | None) -> str | None:
    """None if ``user`` can log in with psycopg, else libpq's error text."""
    try:
        with connect_as(server, user, password, connect_timeout=10):
            return None
    except psycopg.OperationalError as error:
        return str(error)


# -- trust, reject, unknown roles, NOLOGIN --------------------------------------------------------


def test_trust_and_reject(server: RunningServer) -> None:
    fresh_role(server, "trusty")
    fresh_role(server, "mallory", "login password 'irrelevant'")
    with connect_as(server, "trusty") as conn:
        assert conn.execute("select current_user").fetchone() == ("trusty",)
    rejected = raw_login(server, "mallory", "irrelevant")
    assert rejected.sqlstate == "28000"
    assert rejected.message == ('pg_hba.conf rejects connection for host "127.0.0.1", '
                                'user "mallory", database "postgres", no encryption')
    assert rejected.requests == ["ErrorResponse"]        # no password is even asked for
    result = psql_as(server, "mallory", "irrelevant", "select 1")
    assert result.returncode != 0 and "pg_hba.conf rejects connection" in result.stderr


def test_nologin_role_cannot_connect(server: RunningServer) -> None:
    fresh_role(server, "nologin_role", "nologin password 'pw'")
    refused = raw_login(server, "nologin_role", "pw")
    assert (refused.sqlstate, refused.message) == (
        "28000", 'role "nologin_role" is not permitted to log in')
    wrong = raw_login(server, "nologin_role", "not-pw")  # authentication comes first, as in PG
    assert wrong.sqlstate == "28P01"
    admin(server, "alter role nologin_role login")
    assert login_error(server, "nologin_role", "pw") is None


def test_unknown_role_gets_the_mock_exchange_with_the_cluster_nonce(server: RunningServer
                                                                     ) -> None:
    outcome = raw_login(server, "ghost", "whatever")
    assert (outcome.sqlstate, outcome.message) == (
        "28P01", 'password authentication failed for user "ghost"')
    nonce = read_control_file(server.datadir).mock_authentication_nonce
    assert outcome.salt == hashlib.sha256(b"ghost" + nonce).digest()[:16]
    assert raw_login(server, "ghost", "other").salt == outcome.salt   # stable across connections


# -- SCRAM-SHA-256 and md5 ------------------------------------------------------------------------


def test_scram_with_psql(server: RunningServer) -> None:
    fresh_role(server, "alice", "login password 'secret'")
    (stored,), = admin(server, "select rolpassword from pg_authid where rolname = 'alice'")
    verifier = scram.parse_verifier(stored)
    assert stored.startswith("SCRAM-SHA-256$4096:") and verifier is not None
    assert scram.verify_plain_password("secret", verifier)
    right = psql_as(server, "alice", "secret", "select current_user")
    assert right.returncode == 0, right.stderr
    assert right.stdout.strip() == "alice"
    wrong = psql_as(server, "alice", "wrong", "select current_user")
    assert wrong.returncode != 0
    assert 'FATAL:  password authentication failed for user "alice"' in wrong.stderr


def test_scram_with_psycopg(server: RunningServer) -> None:
    fresh_role(server, "alice2", "login password 'secret2'")
    with connect_as(server, "alice2", "secret2") as conn:
        assert conn.execute("select current_user").fetchone() == ("alice2",)
    error = login_error(server, "alice2", "wrong")
    assert error is not None and 'password authentication failed for user "alice2"' in error
    outcome = raw_login(server, "alice2", "wrong")
    assert outcome.sqlstate == "28P01"
    assert outcome.requests[:2] == ["AuthenticationSASL", "AuthenticationSASLContinue"]
    unknown = login_error(server, "nobody_at_all", "x")
    assert unknown is not None and 'password authentication failed for user "nobody_at_all"' \
        in unknown


def test_md5(server: RunningServer) -> None:
    admin(server, "drop role if exists md5user")
    with server.connect(autocommit=True) as conn:
        conn.execute("set password_encryption = 'md5'")
        conn.execute("create role md5user login password 'pw5'")
    (stored,), = admin(server, "select rolpassword from pg_authid where rolname = 'md5user'")
    assert stored == "md5" + hashlib.md5(b"pw5md5user").hexdigest()
    outcome = raw_login(server, "md5user", "pw5")
    assert outcome.sqlstate is None and outcome.requests[0] == "AuthenticationMD5Password"
    with connect_as(server, "md5user", "pw5") as conn:
        assert conn.execute("select current_user").fetchone() == ("md5user",)
    wrong = psql_as(server, "md5user", "nope", "select 1")
    assert wrong.returncode != 0
    assert 'password authentication failed for user "md5user"' in wrong.stderr
    assert raw_login(server, "md5user", "nope").sqlstate == "28P01"
    # an md5 rule runs SCRAM for a role whose password is a SCRAM verifier (PostgreSQL's rule)
    admin(server, "alter role md5user password 'pw6'")
    outcome = raw_login(server, "md5user", "pw6")
    assert outcome.sqlstate is None and outcome.requests[0] == "AuthenticationSASL"


def test_alter_role_password_and_password_null(server: RunningServer) -> None:
    fresh_role(server, "changer", "login password 'old'")
    assert login_error(server, "changer", "old") is None
    admin(server, "alter role changer password 'new'")
    assert login_error(server, "changer", "old") is not None
    assert login_error(server, "changer", "new") is None
    with connect_as(server, "changer", "new", autocommit=True) as conn:   # one's own password
        conn.execute("alter role changer password 'newer'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("alter role changer createdb")
    assert login_error(server, "changer", "newer") is None
    admin(server, "alter role changer password null")
    assert admin(server, "select rolpassword from pg_authid where rolname = 'changer'") == \
        [(None,)]
    assert raw_login(server, "changer", "newer").sqlstate == "28P01"


def test_verifier_given_as_password_is_stored_as_is(server: RunningServer) -> None:
    verifier = scram.build_verifier("prehashed")
    admin(server, "drop role if exists hashed")
    admin(server, f"create user hashed password '{verifier}'")
    assert admin(server, "select rolpassword, rolcanlogin from pg_authid "
                         "where rolname = 'hashed'") == [(verifier, True)]
    assert login_error(server, "hashed", "prehashed") is None


# -- CREATE / ALTER / DROP ROLE errors ------------------------------------------------------------


def test_role_statement_errors(server: RunningServer) -> None:
    fresh_role(server, "plain", "login password 'pw'")
    with server.connect(autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DuplicateObject, match='role "plain" already exists'):
            conn.execute("create role plain")
        with pytest.raises(psycopg.errors.UndefinedObject, match='role "absent" does not exist'):
            conn.execute("alter role absent login")
        with pytest.raises(psycopg.errors.UndefinedObject, match='role "absent" does not exist'):
            conn.execute("drop role absent")
        with pytest.raises(psycopg.errors.ReservedName, match='role name "pg_x" is reserved'):
            conn.execute("create role pg_x")
        conn.execute("drop role if exists absent")
        with pytest.raises(psycopg.errors.ObjectInUse, match="current user cannot be dropped"):
            conn.execute("drop role postgres")
    with connect_as(server, "plain", "pw", autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="permission denied to create role"):
            conn.execute("create role other")
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="must be superuser to alter superuser roles"):
            conn.execute("alter role postgres nologin")
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="permission denied to drop role"):
            conn.execute("drop role trusty")


def test_drop_role(server: RunningServer) -> None:
    fresh_role(server, "leaving", "login password 'bye'")
    assert login_error(server, "leaving", "bye") is None
    admin(server, "drop role leaving")
    assert admin(server, "select count(*) from pg_authid where rolname = 'leaving'") == [(0,)]
    assert raw_login(server, "leaving", "bye").sqlstate == "28P01"


def test_drop_role_that_owns_or_holds_privileges(server: RunningServer) -> None:
    fresh_role(server, "owner1", "login password 'o'")
    admin(server, "drop table if exists shared_t")
    admin(server, "create table shared_t (v int)")
    admin(server, "grant select on shared_t to owner1")
    with connect_as(server, "owner1", "o", autocommit=True) as conn:
        conn.execute("create table owned_t (v int)")
    (owner_oid,), = admin(server, "select oid from pg_authid where rolname = 'owner1'")
    assert admin(server, "select relowner from pg_class where relname = 'owned_t'") == \
        [(owner_oid,)]
    with server.connect(autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DependentObjectsStillExist) as raised:
            conn.execute("drop role owner1")
    assert raised.value.diag.message_primary == \
        'role "owner1" cannot be dropped because some objects depend on it'
    assert raised.value.diag.message_detail == \
        "owner of table owned_t\nprivileges for table shared_t"
    admin(server, "drop table owned_t")
    admin(server, "revoke all on shared_t from owner1")
    admin(server, "drop role owner1")


# -- GRANT / REVOKE -------------------------------------------------------------------------------


def test_grant_and_revoke_select(server: RunningServer) -> None:
    fresh_role(server, "reader", "login password 'r'")
    admin(server, "drop table if exists secrets")
    admin(server, "create table secrets (id int primary key, v text)")
    admin(server, "insert into secrets values (1, 'one')")
    with connect_as(server, "reader", "r", autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="permission denied for table secrets"):
            conn.execute("select * from secrets")
        admin(server, "grant select on secrets to reader")
        assert conn.execute("select v from secrets where id = %s", (1,),
                            prepare=True).fetchall() == [("one",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into secrets values (2, 'two')")
        admin(server, "revoke select on secrets from reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):   # the prepared plan too
            conn.execute("select v from secrets where id = %s", (1,), prepare=True)
    result = psql_as(server, "reader", "r", "select * from secrets")
    assert result.returncode != 0
    assert "ERROR:  permission denied for table secrets" in result.stderr


def test_write_privileges_copy_and_truncate(server: RunningServer) -> None:
    fresh_role(server, "writer", "login password 'w'")
    admin(server, "drop table if exists ledger")
    admin(server, "create table ledger (id int primary key, v int)")
    admin(server, "grant insert, update on ledger to writer")
    with connect_as(server, "writer", "w", autocommit=True) as conn:
        conn.execute("insert into ledger values (1, 10)")
        conn.execute("update ledger set v = 11")                 # reads no column: no SELECT
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("update ledger set v = 12 where id = 1")   # WHERE reads: needs SELECT
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from ledger")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("truncate ledger")
        with conn.cursor() as cursor:
            with cursor.copy("copy ledger from stdin") as copy:
                copy.write_row((2, 20))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with cursor.copy("copy ledger to stdout") as copy:
                    list(copy)
        admin(server, "grant all privileges on table ledger to public")
        conn.execute("update ledger set v = v + 1 where id = 2")
        conn.execute("truncate ledger")
        admin(server, "revoke all on ledger from public")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("truncate ledger")


def test_grant_errors(server: RunningServer) -> None:
    admin(server, "drop table if exists gt")
    admin(server, "create table gt (v int)")
    with server.connect(autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedObject, match='role "nobody" does not exist'):
            conn.execute("grant select on gt to nobody")
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("grant select on missing_table to public")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("grant select on gt to public with grant option")
        with pytest.raises(psycopg.errors.InvalidGrantOperation,
                           match="invalid privilege type USAGE for table"):
            conn.execute("grant usage on gt to public")


# -- pg_hba.conf reloads --------------------------------------------------------------------------


def test_pg_hba_edits_take_effect_on_reload(server: RunningServer) -> None:
    fresh_role(server, "hba_user", "login password 'h'")
    assert login_error(server, "hba_user", "h") is None
    rejecting = HBA_RULES.replace("host    all       mallory ",
                                  "host    all       hba_user   127.0.0.1/32   reject\n"
                                  "host    all       mallory ")
    try:
        write_hba(server.datadir, rejecting)
        assert admin(server, "select pg_reload_conf()") == [(True,)]
        wait_until(lambda: raw_login(server, "hba_user", "h").sqlstate == "28000",
                   "pg_reload_conf() applies the reject rule")
        write_hba(server.datadir, HBA_RULES)
        reload = subprocess.run([sys.executable, "-m", "mirrordb.cli.main", "reload", "-D",
                                 server.datadir], capture_output=True, text=True, timeout=60)
        assert reload.returncode == 0, reload.stderr
        wait_until(lambda: login_error(server, "hba_user", "h") is None,
                   "mirrordb reload restores the scram rule")
        write_hba(server.datadir, rejecting)
        os.kill(server.pid, signal.SIGHUP)
        wait_until(lambda: raw_login(server, "hba_user", "h").sqlstate == "28000",
                   "SIGHUP applies the reject rule")
        log_size = len(server.log())
        write_hba(server.datadir, HBA_RULES + "host all all 127.0.0.1/32 no_such_method\n")
        os.kill(server.pid, signal.SIGHUP)
        wait_until(lambda: "pg_hba.conf was not reloaded" in server.log()[log_size:],
                   "the broken file is reported")
        assert 'invalid authentication method "no_such_method"' in server.log()[log_size:]
        assert raw_login(server, "hba_user", "h").sqlstate == "28000"   # the old rules hold
    finally:
        write_hba(server.datadir, HBA_RULES)
        os.kill(server.pid, signal.SIGHUP)
    wait_until(lambda: login_error(server, "hba_user", "h") is None, "the rules are restored")


def test_ddl_needs_ownership(server):
    with server.connect(autocommit=True) as admin:
        admin.execute("create role ddl_user login password 'pw'")
        admin.execute("create table owned_by_admin (id int)")
        admin.execute("grant select, insert on owned_by_admin to ddl_user")
    with psycopg.connect(server.dsn(user="ddl_user", password="pw"), autocommit=True) as user:
        for statement in ("drop table owned_by_admin",
                          "alter table owned_by_admin add column x int",
                          "create index on owned_by_admin (id)",
                          "alter table owned_by_admin rename to mine"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
                user.execute(statement)
        user.execute("create table mine (id int)")
        user.execute("create index on mine (id)")
        user.execute("drop table mine")


def test_set_role_and_session_authorization(server: RunningServer) -> None:
    """SET ROLE changes whose privileges every check uses (a plan prepared before it is
    checked again), and is undone with its transaction; is_superuser follows it; only a
    superuser session may become another role. Results as PostgreSQL 15's."""
    fresh_role(server, "roleplay", "login password 'p'")
    fresh_role(server, "bystander", "login password 'b'")
    admin(server, "drop table if exists guarded")
    admin(server, "create table guarded (id int)")
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        statuses: list[str] = []
        assert conn.execute("select * from guarded", prepare=True).fetchall() == []
        conn.execute("set role roleplay")
        statuses.append(conn.info.parameter_status("is_superuser") or "")
        assert conn.execute("select current_user, session_user, current_setting('role')"
                            ).fetchone() == ("roleplay", "postgres", "roleplay")
        for sql in ("select * from guarded", "select pg_switch_wal()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql, prepare=True)
        conn.execute("reset role")
        statuses.append(conn.info.parameter_status("is_superuser") or "")
        assert statuses == ["off", "on"]
        assert conn.execute("select * from guarded", prepare=True).fetchall() == []
        with pytest.raises(psycopg.errors.InvalidParameterValue,
                           match='role "no_such_role" does not exist'):
            conn.execute("set role no_such_role")
        with conn.transaction(force_rollback=True):
            conn.execute("set role roleplay")
        assert conn.execute("select current_user").fetchone() == ("postgres",)
        conn.execute("select set_config('role', 'roleplay', false)")
        assert conn.execute("select current_user").fetchone() == ("roleplay",)
        conn.execute("reset role")
        conn.execute("set session authorization roleplay")
        assert conn.execute("select session_user, current_user").fetchone() == \
            ("roleplay", "roleplay")
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match='permission denied to set role "bystander"'):
            conn.execute("set role bystander")
        conn.execute("reset session authorization")
        assert conn.execute("select session_user, current_user").fetchone() == \
            ("postgres", "postgres")
    with connect_as(server, "roleplay", "p", autocommit=True) as conn:
        conn.execute("set role roleplay")                      # itself: allowed
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match='permission denied to set role "postgres"'):
            conn.execute("set role postgres")
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="permission denied to set session authorization"):
            conn.execute("set session authorization postgres")
