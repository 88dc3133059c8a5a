"""Databases with more than one session, on a mirrordb server and on PostgreSQL 15 side by side:
a template or database in use (55006 and its DETAIL) for CREATE, DROP and RENAME, DROP DATABASE
WITH (FORCE) ending the other session, datconnlimit (53300), template0 refused (55000), a
database dropped before connecting (3D000), pg_stat_database.numbackends; then psql's ``\\l``
and ``\\c`` and the createdb / dropdb tools against mirrordb.

Each scenario is one function of a ``connect(user, dbname)``; it returns what each step
answered, and the two servers' lists must be equal. (PostgreSQL waits up to 5 s for the other
sessions before a 55006, so the PostgreSQL side takes a few seconds.)
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.compat.types_pg_server import postgres_available, running_postgres
from tests.conftest import pg_tool
from tests.server_process import RunningServer

pytestmark = pytest.mark.skipif(not postgres_available(),
                                reason="PostgreSQL 15 is not installed")

Connect = Callable[[str, str], psycopg.Connection]
DEADLINE_S = 10.0
POLL_S = 0.05
TOOL_TIMEOUT_S = 60


def _answer(connection: psycopg.Connection, sql: str) -> tuple[Any, ...]:
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return ("ok", cursor.fetchall() if cursor.description else cursor.statusmessage)
    except psycopg.Error as failure:
        return ("error", failure.sqlstate, failure.diag.message_primary,
                failure.diag.message_detail)


def _connect_answer(connect: Connect, user: str, dbname: str) -> tuple[Any, ...]:
    try:
        connect(user, dbname).close()
        return ("connected",)
    except psycopg.OperationalError as failure:
        message = str(failure).strip().splitlines()[0]
        return ("refused", message.split("FATAL:  ", 1)[-1])


def _wait_until_gone(connection: psycopg.Connection) -> tuple[Any, ...]:
    """The other session after WITH (FORCE): its next statement fails (how it was ended)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            connection.execute("SELECT 1")
        except psycopg.Error as failure:
            return ("ended", failure.sqlstate)
        time.sleep(POLL_S)
    return ("still running",)


def in_use_scenario(connect: Connect) -> list[tuple[Any, ...]]:
    admin = connect("postgres", "postgres")
    steps = [_answer(admin, "CREATE DATABASE busy")]
    other = connect("postgres", "busy")
    steps += [_answer(admin, "CREATE DATABASE copy TEMPLATE busy"),
              _answer(admin, "DROP DATABASE busy"),
              _answer(admin, "ALTER DATABASE busy RENAME TO busy2"),
              _answer(admin, "SELECT datname, numbackends FROM pg_stat_database "
                             "WHERE datname IN ('busy', 'postgres') ORDER BY 1"),
              _answer(admin, "DROP DATABASE busy WITH (FORCE)"),
              _wait_until_gone(other),
              _connect_answer(connect, "postgres", "busy")]
    other.close()
    admin.close()
    return steps


def force_privileges_scenario(connect: Connect) -> list[tuple[Any, ...]]:
    """WITH (FORCE) by a database's owner who is not a superuser: not another's session, not a
    superuser's."""
    admin = connect("postgres", "postgres")
    steps = [_answer(admin, "CREATE ROLE forcer LOGIN CREATEDB"),
             _answer(admin, "CREATE ROLE bystander LOGIN"),
             _answer(admin, "CREATE DATABASE forced OWNER forcer")]
    forcer = connect("forcer", "postgres")
    for user in ("bystander", "postgres", "forcer"):
        other = connect(user, "forced")
        steps.append(_answer(forcer, "DROP DATABASE forced WITH (FORCE)"))
        other.close()
    forcer.close()
    admin.close()
    return steps


def test_force_privileges(module_server: RunningServer, postgres_connect: Connect) -> None:
    ours = force_privileges_scenario(_ours(module_server))
    assert ours == force_privileges_scenario(postgres_connect)
    assert ours[-1] == ("ok", "DROP DATABASE")


def test_drop_waits_for_a_session_ending(module_server: RunningServer) -> None:
    """DROP DATABASE gives the other sessions time to go (PostgreSQL's 5 s), so one ending
    while it waits does not make it fail."""
    connect = _ours(module_server)
    with connect("postgres", "postgres") as admin:
        admin.execute("CREATE DATABASE leaving")
        other, dropper = connect("postgres", "leaving"), connect("postgres", "postgres")
        with dropper, concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            dropping = pool.submit(_answer, dropper, "DROP DATABASE leaving")
            deadline = time.monotonic() + DEADLINE_S
            while not _answer(admin, "SELECT 1 FROM pg_stat_activity WHERE query = "
                                     "'DROP DATABASE leaving' AND state = 'active'")[1]:
                assert time.monotonic() < deadline, "DROP DATABASE did not start"
                time.sleep(POLL_S)
            other.close()
            assert dropping.result(timeout=DEADLINE_S) == ("ok", "DROP DATABASE")


def connection_checks_scenario(connect: Connect) -> list[tuple[Any, ...]]:
    admin = connect("postgres", "postgres")
    steps = [_answer(admin, "CREATE ROLE u LOGIN"),
             _answer(admin, "CREATE DATABASE lim CONNECTION LIMIT 1")]
    first = connect("u", "lim")
    steps += [_connect_answer(connect, "u", "lim"),
              _connect_answer(connect, "postgres", "lim"),          # superusers may
              _connect_answer(connect, "u", "template0"),
              _connect_answer(connect, "u", "nosuch"),
              _answer(admin, "ALTER DATABASE lim CONNECTION LIMIT 2")]
    steps.append(_connect_answer(connect, "u", "lim"))
    first.close()
    steps += [_answer(admin, "ALTER DATABASE lim ALLOW_CONNECTIONS false"),
              _connect_answer(connect, "u", "lim"),
              _answer(admin, "ALTER DATABASE lim RENAME TO lim2"),
              _connect_answer(connect, "u", "lim")]
    admin.close()
    return steps


def other_database_owner_scenario(connect: Connect) -> list[tuple[Any, ...]]:
    """DROP ROLE counts what the role has in other databases (checkSharedDependencies)."""
    admin = connect("postgres", "postgres")
    steps = [_answer(admin, "CREATE ROLE carl"), _answer(admin, "CREATE DATABASE carldb"),
             _answer(admin, "CREATE DATABASE carl_owned OWNER carl")]
    inside = connect("postgres", "carldb")
    steps += [_answer(inside, "CREATE TABLE owned (a int)"),
              _answer(inside, "ALTER TABLE owned OWNER TO carl"),
              _answer(inside, "CREATE TABLE shared (a int)"),
              _answer(inside, "GRANT SELECT ON shared TO carl"),
              _answer(admin, "DROP ROLE carl"),
              _answer(inside, "DROP ROLE carl"),
              _answer(inside, "DROP TABLE owned, shared")]
    inside.close()
    steps += [_answer(admin, "DROP DATABASE carl_owned"), _answer(admin, "DROP ROLE carl"),
              _answer(admin, "DROP DATABASE carldb")]
    admin.close()
    return steps


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[Any]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def postgres_connect(postgres_server: Any) -> Connect:
    return lambda user, dbname: psycopg.connect(
        f"host={postgres_server.host} port={postgres_server.port} user={user} dbname={dbname}",
        autocommit=True)


def _ours(server: RunningServer) -> Connect:
    return lambda user, dbname: psycopg.connect(server.dsn(user, dbname), autocommit=True)


def test_database_in_use(module_server: RunningServer, postgres_connect: Connect) -> None:
    """Both servers at once: each 55006 comes after a 5 s wait for the other sessions."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        ours_future = pool.submit(in_use_scenario, _ours(module_server))
        theirs_future = pool.submit(in_use_scenario, postgres_connect)
        ours = ours_future.result()
        assert ours == theirs_future.result()
    assert ours[1][1:] == ("55006", 'source database "busy" is being accessed by other users',
                           "There is 1 other session using the database.")


def test_connection_checks(module_server: RunningServer, postgres_connect: Connect) -> None:
    ours = connection_checks_scenario(_ours(module_server))
    assert ours == connection_checks_scenario(postgres_connect)
    assert ours[2] == ("refused", 'too many connections for database "lim"')


def test_drop_role_counts_other_databases(module_server: RunningServer,
                                          postgres_connect: Connect) -> None:
    ours = other_database_owner_scenario(_ours(module_server))
    assert ours == other_database_owner_scenario(postgres_connect)
    assert ours[7][3] == "owner of database carl_owned\n2 objects in database carldb"


def _psql(server: Any, *arguments: str) -> str:
    result = subprocess.run([pg_tool("psql"), "-X", "-h", "127.0.0.1", "-p", str(server.port),
                             "-U", "postgres", *arguments], capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT_S, env={**os.environ, "LC_ALL": "C"})
    return result.stdout + result.stderr


LISTINGS_SETUP = ["CREATE ROLE lister CREATEDB",
                  "CREATE DATABASE listed OWNER lister CONNECTION LIMIT 4",
                  "CREATE DATABASE listed_template IS_TEMPLATE true ALLOW_CONNECTIONS false",
                  "COMMENT ON DATABASE listed IS 'a listed database'"]


def test_psql_list_databases_as_postgres(module_server: RunningServer, postgres_server: Any,
                                         postgres_connect: Connect) -> None:
    """\\l prints the same text for the same databases (\\l+ too, but for the sizes and
    the title centred over them)."""
    listings = []
    for server, connect in ((module_server, _ours(module_server)),
                            (postgres_server, postgres_connect)):
        with connect("postgres", "postgres") as admin:
            for statement in LISTINGS_SETUP:
                assert _answer(admin, statement)[0] == "ok", statement
        verbose = _psql(server, "-d", "postgres", "-c", r"\l+ listed*")
        listings.append((_psql(server, "-d", "postgres", "-c", r"\l"),
                         _psql(server, "-d", "postgres", "-c", r"\l listed*"),
                         [line.split("|")[:8] + line.split("|")[9:]
                          for line in verbose.splitlines() if "|" in line]))
    assert listings[0] == listings[1]
    assert "=c/postgres          +" in listings[0][0]


def test_createdb_dropdb_and_psql_connect(module_server: RunningServer) -> None:
    common = ["-h", "127.0.0.1", "-p", str(module_server.port), "-U", "postgres"]
    created = subprocess.run([pg_tool("createdb"), *common, "-O", "postgres", "tooldb",
                              "made by createdb"], capture_output=True, text=True,
                             timeout=TOOL_TIMEOUT_S)
    assert created.returncode == 0, created.stderr
    output = _psql(module_server, "-d", "postgres", "-c", r"\c tooldb",
                   "-c", "SELECT current_database(), shobj_description("
                         "(SELECT oid FROM pg_database WHERE datname = 'tooldb'), 'pg_database')")
    assert 'You are now connected to database "tooldb" as user "postgres".' in output
    assert " tooldb           | made by createdb" in output
    dropped = subprocess.run([pg_tool("dropdb"), *common, "tooldb"], capture_output=True,
                             text=True, timeout=TOOL_TIMEOUT_S)
    assert dropped.returncode == 0, dropped.stderr
    again = subprocess.run([pg_tool("dropdb"), *common, "tooldb"], capture_output=True,
                           text=True, timeout=TOOL_TIMEOUT_S)
    assert 'database "tooldb" does not exist' in again.stderr
