"""mirrordb.auth against the real PostgreSQL 15 and libpq.

* pg_hba.conf: the file initdb writes parses; a table of lines gets the same fields or the same
  error from us as from PostgreSQL's own pg_hba_file_rules view (known differences listed).
* Verifiers: PostgreSQL's SCRAM and md5 verifiers equal ours for the same password and salt
  (SASLprep cases included), and a verifier we built logs in through the real server and libpq.
* Exchanges: our SCRAM client and md5 response log in to the real server; libpq (psycopg) logs
  in to our ScramServerExchange; the real server's mock salt is ours for the same nonce.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from auth_pg_helpers import (
    PG_BIN,
    SOCKET_TIMEOUT_S,
    PgCluster,
    error_fields,
    pg_available,
    pg_cluster,
    raw_login,
    receive_message,
    send_message,
    unavailable_reason,
)

from mirrordb.auth import md5, scram
from mirrordb.auth.hba import load_hba, parse_hba_lines
from mirrordb.auth.scram import ScramServerExchange
from mirrordb.common.errors import AuthenticationFailed, HbaError

pytestmark = [pytest.mark.compat, pytest.mark.skipif(not pg_available(),
                                                     reason=unavailable_reason())]

HBA_VIEW_COLUMNS = (
    "line_number::text, type, array_to_string(database, ','), array_to_string(user_name, ','), "
    "address, netmask, auth_method, array_to_string(options, ','), error")


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as made:
        yield made


def postgresql_view(cluster: PgCluster, text: str) -> dict[int, list[str]]:
    """PostgreSQL's pg_hba_file_rules for ``text``: line number -> fields (or [error])."""
    cluster.write_file(cluster.hba_path, text)
    rows = cluster.query(HBA_VIEW_COLUMNS, "FROM pg_hba_file_rules")
    return {int(row[0]): ([row[8]] if row[8] else row[1:8]) for row in rows}


def our_view(text: str) -> dict[int, list[str]]:
    """The same columns from ``parse_hba_lines``."""
    result: dict[int, list[str]] = {}
    for rule in parse_hba_lines(text, "/pg_hba.conf"):
        if isinstance(rule, HbaError):
            assert rule.line_number is not None
            result[rule.line_number] = [_view_error(rule.message)]
            continue
        address = "" if rule.address is None else (
            str(rule.address.address) if rule.address.address is not None
            else rule.address.method.value)
        netmask = "" if rule.address is None or rule.address.mask is None else str(
            rule.address.mask)
        options = ",".join(f"{name}={value}" for name, value in rule.options.items())
        result[rule.line_number] = [rule.conn_type, ",".join(t.text for t in rule.databases),
                                    ",".join(t.text for t in rule.users), address, netmask,
                                    rule.method, options]
    return result


def _view_error(message: str) -> str:
    """The view shows a shorter text for over-long tokens than the log line does."""
    if message.startswith("authentication file token too long"):
        return "authentication file token too long"
    return message


# --- pg_hba.conf -------------------------------------------------------------------------------

def test_initdb_pg_hba_conf(cluster: PgCluster) -> None:
    with open(cluster.hba_path, encoding="utf-8") as file:
        initdb_text = file.read()
    rules = load_hba(cluster.hba_path)
    assert len(rules) == 6
    assert our_view(initdb_text) == postgresql_view(cluster, initdb_text)


LONGEST = "a" * 10239

# Lines on which PostgreSQL and we agree exactly (fields or error message).
SAME_LINES = [
    "local all all trust",
    'host "all",x,"y z" +g,"+h" 010.0.0.1/8 scram-sha-256 # comment',
    "host a b 1.2.3.4 255.0.255.0 trust",
    "host a b 10.0.0.0/+8 md5",
    'host a b "10.0.0.0/ 8" trust',
    "host all all 127.1/8 trust",
    "host all all ::1/128 password",
    "host all all fe80::/10 reject",
    "host all all samenet trust",
    "host all all samehost md5",
    "hostnossl all all all md5",
    "hostgssenc all all all md5",
    "hostnogssenc all all all md5",
    "host a, b 1.2.3.4/32 trust",
    "host a ,b 1.2.3.4/32 trust",
    'local "a""b" "c"d trust',
    'local ""a all trust',
    'local "a#b" all trust',
    "local a,,b all trust",
    "local ,a all trust",
    "local a, all trust",
    "local @ all trust",
    'local "@x" all trust',
    '"local" all all "md5"',
    "local all all trust#md5",
    "local all all tru#st",
    'local a"ll" all trust',
    'local "" "" trust',
    f"local {LONGEST} all trust",
    f"local {LONGEST}a all trust",
    f"local {LONGEST},b all trust",
    "host all all 1.2.3.4/33 md5",
    "host all all ::1/129 md5",
    "host all all 1.2.3.4/0x8 md5",
    "host all all 1.2.3.4/ md5",
    "host all all 1.2.3.4 md5",
    "host all all ::1 255.0.0.0 trust",
    "host all all foo/8 trust",
    "host all all foo 255.0.0.0 trust",
    "foo all all trust",
    "HOST all all all md5",
    "host,local all all trust",
    "local",
    "local all",
    "local all all",
    "host all all",
    "host all all 1.2.3.4",
    "host all all 1.2.3.4/32,1.2.3.5/32 trust",
    "host all all 1.2.3.4 255.0.0.0,255.0.0.0 trust",
    "local all all trust,md5",
    "local all all bogus",
    "local all all MD5",
    "local all all trust foo",
    "local all all trust =x",
    "local all all md5 map=x",
    "local all all trust pamservice=x",
    "local all all trust ldapurl=x",
    "local all all trust krb_realm=x",
    "local all all trust compat_realm=1",
    "local all all trust radiusservers=x",
    "local all all trust clientcert=verify-full",
    "host all all all trust clientname=CN",
]

# Lines PostgreSQL accepts and we refuse on purpose, with our message.
OUR_REFUSALS = [
    ("host all all foo trust", 'invalid IP address "foo": host names are not supported'),
    ('host all all "samenet" trust',
     'invalid IP address "samenet": host names are not supported'),
    ("host all all all ldap ldapserver=x ldapbasedn=y",
     'invalid authentication method "ldap": not supported by this build'),
    ("local all all peer", 'invalid authentication method "peer": not supported by this build'),
]


def test_hba_lines_agree_with_postgresql(cluster: PgCluster) -> None:
    lines = SAME_LINES + [line for line, _ in OUR_REFUSALS]
    theirs = postgresql_view(cluster, "\n".join(lines) + "\n")
    for number, line in enumerate(lines, start=1):
        ours = our_view(line).get(1)
        if number <= len(SAME_LINES):
            assert ours == theirs.get(number), f"line {number}: {line[:80]}"
        else:
            assert len(theirs[number]) == 7, f"PostgreSQL now refuses {line}"
            assert ours == [dict(OUR_REFUSALS)[line]]


def test_line_numbers_continuations_and_crlf_agree(cluster: PgCluster) -> None:
    text = ("# header\r\n"
            "local all all \\\r\n"
            "   trust\r\n"
            "\n"
            "host all \\\n"
            "all \\\n"
            "1.2.3.4/32 bogus\n"
            "local all \\\n"
            "\\\n"
            "all md5\n"
            "host all all 10.0.0.0/8 md5 \\")
    assert our_view(text) == postgresql_view(cluster, text)


# --- stored verifiers --------------------------------------------------------------------------

PASSWORDS = ["secret", "I\u00adX", "\u2168", "a\u0007b", "\u0007\u00e9", "\u0627\u0031",
             "a\u0340", "e\u0301", "\u0627a\u0628", "\u0627\u0628", "\u00a0x\u00a0", "\u00ad",
             "x\u200bx", "\ufb01", "\U000e0001a", "\u0221", "a\u2028b", "pass word",
             "\u65e5\u672c\u8a9e", "it's"]


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_postgresql_scram_verifiers_equal_ours(cluster: PgCluster) -> None:
    cluster.execute(" ".join(f"CREATE ROLE sasl_{number} PASSWORD {sql_literal(password)};"
                             for number, password in enumerate(PASSWORDS)))
    rows = cluster.query("rolname::text, rolpassword", "FROM pg_authid WHERE rolname LIKE 'sasl_%'")
    stored = dict((row[0], row[1]) for row in rows)
    for number, password in enumerate(PASSWORDS):
        theirs = scram.parse_verifier(stored[f"sasl_{number}"])
        assert theirs is not None
        assert scram.build_verifier(password, theirs.salt, theirs.iterations) == (
            stored[f"sasl_{number}"]), repr(password)


def test_postgresql_md5_verifiers_equal_ours(cluster: PgCluster) -> None:
    cluster.execute("SET password_encryption = 'md5'; "
                    "CREATE ROLE md5user PASSWORD 'secret'; CREATE ROLE \"Odd Name\" PASSWORD 'p'")
    rows = cluster.query("rolname::text, rolpassword",
                         "FROM pg_authid WHERE rolname IN ('md5user', 'Odd Name')")
    assert dict((row[0], row[1]) for row in rows) == {
        "md5user": md5.md5_verifier("secret", "md5user"),
        "Odd Name": md5.md5_verifier("p", "Odd Name")}


# --- live server -------------------------------------------------------------------------------

LIVE_HBA = """\
local all scram_role,ours_role,ghost    scram-sha-256
local all md5_role,md5_rule_scram_role  md5
local all password_role                 password
local all all                           trust
"""


@pytest.fixture(scope="module")
def live_server(cluster: PgCluster) -> Iterator[str]:
    ours = scram.build_verifier("our secret")
    cluster.execute(
        "CREATE ROLE scram_role LOGIN PASSWORD 'scram secret'; "
        f"CREATE ROLE ours_role LOGIN PASSWORD {sql_literal(ours)}; "
        "CREATE ROLE md5_rule_scram_role LOGIN PASSWORD 'scram secret'; "
        "CREATE ROLE password_role LOGIN PASSWORD 'plain secret'; "
        "SET password_encryption = 'md5'; CREATE ROLE md5_role LOGIN PASSWORD 'md5 secret'")
    rows = cluster.query("rolpassword", "FROM pg_authid WHERE rolname = 'ours_role'")
    assert rows == [[ours]]  # an already hashed password is stored as it is
    cluster.write_file(cluster.hba_path, LIVE_HBA)
    with cluster.server() as socket_dir:
        yield socket_dir


def test_libpq_logs_in_with_a_verifier_we_built(live_server: str) -> None:
    with psycopg.connect(host=live_server, user="ours_role", password="our secret",
                         dbname="postgres", connect_timeout=SOCKET_TIMEOUT_S) as connection:
        assert connection.execute("SELECT current_user::text").fetchone() == ("ours_role",)
    with pytest.raises(psycopg.OperationalError,
                       match='password authentication failed for user "ours_role"'):
        psycopg.connect(host=live_server, user="ours_role", password="wrong", dbname="postgres",
                        connect_timeout=SOCKET_TIMEOUT_S)


def test_our_scram_client_logs_in_to_postgresql(live_server: str) -> None:
    login = raw_login(live_server, "scram_role", "scram secret")
    assert login.request_codes == [10, 11, 12, 0] and login.error is None
    login = raw_login(live_server, "scram_role", "wrong")
    assert login.error == ("28P01", 'password authentication failed for user "scram_role"')


def test_our_md5_response_logs_in_to_postgresql(live_server: str) -> None:
    assert md5.effective_method("md5", md5.md5_verifier("md5 secret", "md5_role")) == "md5"
    login = raw_login(live_server, "md5_role", "md5 secret")
    assert login.request_codes == [5, 0] and login.error is None
    assert raw_login(live_server, "md5_role", "wrong").error == (
        "28P01", 'password authentication failed for user "md5_role"')


def test_an_md5_rule_runs_scram_for_a_scram_role_as_in_postgresql(live_server: str) -> None:
    assert md5.effective_method("md5", scram.build_verifier("x")) == "scram-sha-256"
    login = raw_login(live_server, "md5_rule_scram_role", "scram secret")
    assert login.request_codes == [10, 11, 12, 0] and login.error is None


def test_password_method_with_a_scram_verifier(live_server: str) -> None:
    login = raw_login(live_server, "password_role", "plain secret")
    assert login.request_codes == [3, 0] and login.error is None


def test_postgresql_mock_salt_equals_ours(cluster: PgCluster, live_server: str) -> None:
    controldata = subprocess.run([os.path.join(PG_BIN, "pg_controldata"), cluster.data_dir],
                                 capture_output=True, text=True, check=True,
                                 timeout=SOCKET_TIMEOUT_S, env={**os.environ, "LC_ALL": "C"})
    nonce_line = next(line for line in controldata.stdout.splitlines()
                      if line.startswith("Mock authentication nonce:"))
    nonce = bytes.fromhex(nonce_line.split(":", 1)[1].strip())
    login = raw_login(live_server, "ghost", "anything")
    assert login.error == ("28P01", 'password authentication failed for user "ghost"')
    assert login.server_first is not None
    salt = login.server_first.split(b",")[1]
    mock = ScramServerExchange("ghost", None, mock_nonce=nonce).server_first(b"n,,n=,r=x")
    assert mock.split(b",")[1] == salt
    assert mock.endswith(b",i=4096")


# --- libpq against our server exchange ---------------------------------------------------------

class OneConnectionScramServer(threading.Thread):
    """Accepts one libpq connection on a Unix socket and authenticates it with our exchange."""

    def __init__(self, socket_dir: Path, verifier: str | None) -> None:
        super().__init__(name="scram-test-server", daemon=True)
        self.verifier = verifier
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(socket_dir / ".s.PGSQL.5432"))
        self.listener.listen(1)
        self.listener.settimeout(SOCKET_TIMEOUT_S)
        self.failure: AuthenticationFailed | None = None
        self.authenticated = False

    def run(self) -> None:
        with self.listener, self.listener.accept()[0] as connection:
            connection.settimeout(SOCKET_TIMEOUT_S)
            user = self.read_startup_user(connection)
            try:
                self.authenticate(connection, user)
            except AuthenticationFailed as failure:
                self.failure = failure
                send_message(connection, b"E", b"SFATAL\0VFATAL\0C" + failure.sqlstate.encode()
                             + b"\0M" + failure.message.encode() + b"\0\0")
                return
            self.authenticated = True
            send_message(connection, b"R", struct.pack("!i", 0))
            for name, value in (("server_version", "15.0"), ("client_encoding", "UTF8")):
                send_message(connection, b"S", f"{name}\0{value}\0".encode())
            send_message(connection, b"K", struct.pack("!ii", 1, 2))
            send_message(connection, b"Z", b"I")
            receive_message(connection)  # Terminate

    @staticmethod
    def read_startup_user(connection: socket.socket) -> str:
        length = struct.unpack("!i", connection.recv(4, socket.MSG_WAITALL))[0]
        body = connection.recv(length - 4, socket.MSG_WAITALL)
        words = body[4:].split(b"\0")
        return dict(zip(words[0::2], words[1::2], strict=False))[b"user"].decode()

    def authenticate(self, connection: socket.socket, user: str) -> None:
        send_message(connection, b"R", struct.pack("!i", 10) + b"SCRAM-SHA-256\0\0")
        _, body = receive_message(connection)
        mechanism, _, rest = body.partition(b"\0")
        exchange = ScramServerExchange(user, self.verifier, mechanism=mechanism.decode())
        length = struct.unpack("!i", rest[:4])[0]
        server_first = exchange.server_first(rest[4:4 + length])
        send_message(connection, b"R", struct.pack("!i", 11) + server_first)
        _, body = receive_message(connection)
        send_message(connection, b"R", struct.pack("!i", 12) + exchange.server_final(body))


def connect_to_our_server(tmp_path: Path, verifier: str | None, password: str) -> (
        tuple[OneConnectionScramServer, Exception | None]):
    server = OneConnectionScramServer(tmp_path, verifier)
    server.start()
    problem: Exception | None = None
    try:
        psycopg.connect(host=str(tmp_path), user="alice", password=password, dbname="db",
                        connect_timeout=SOCKET_TIMEOUT_S).close()
    except psycopg.OperationalError as error:
        problem = error
    server.join(SOCKET_TIMEOUT_S)
    assert not server.is_alive()
    return server, problem


def test_libpq_logs_in_to_our_server(tmp_path: Path) -> None:
    server, problem = connect_to_our_server(tmp_path, scram.build_verifier("pw"), "pw")
    assert problem is None and server.authenticated


def test_libpq_is_refused_by_our_server(tmp_path: Path) -> None:
    server, problem = connect_to_our_server(tmp_path, scram.build_verifier("pw"), "wrong")
    assert server.failure is not None and server.failure.sqlstate == "28P01"
    assert 'password authentication failed for user "alice"' in str(problem)


def test_libpq_gets_the_mock_exchange_from_our_server(tmp_path: Path) -> None:
    server, problem = connect_to_our_server(tmp_path, None, "anything")
    assert server.failure is not None and not server.authenticated
    assert 'password authentication failed for user "alice"' in str(problem)


def test_error_fields_helper() -> None:
    assert error_fields(b"SFATAL\0C28P01\0Mno\0\0") == {"S": "FATAL", "C": "28P01", "M": "no"}
