"""Triggers through real clients: psql's \\d, pg_dump, COPY FROM, and a streaming standby.

A throw-away PostgreSQL 15 and a mirrordb primary with a streaming standby
(tests/integration/test_standby_streaming.py) get the same tables, trigger functions and
triggers. psql's ``\\d table`` ("Triggers:", "Disabled user triggers:") and pg_dump's output
must equal PostgreSQL's; the dump restores into a new mirrordb database and dumps the same
again; COPY FROM fires BEFORE and AFTER ROW and statement triggers as PostgreSQL does; the rows
an audit trigger wrote on the primary reach the standby, where CREATE TRIGGER fails with 25006.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from tests.compat.differential import MARKS, copy_in_error
from tests.compat.types_pg_server import PG_BIN, running_postgres
from tests.integration.test_standby_streaming import streaming_pair, wait_for_replay_catchup
from tests.server_process import RunningServer

pytestmark = MARKS
TOOL_TIMEOUT_S = 60

SETUP = [
    "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)",
    "CREATE TABLE audit (id serial PRIMARY KEY, op text, item int, what text)",
    """CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  item int;
BEGIN
  IF TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN
    item := OLD.id;
  ELSIF TG_LEVEL = 'ROW' THEN
    item := NEW.id;
  END IF;
  INSERT INTO audit (op, item, what) VALUES (TG_OP, item,
    TG_NAME || ':' || coalesce(TG_ARGV[0], ''));
  RETURN NULL;
END $$""",
    """CREATE FUNCTION tidy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name IS NULL THEN RETURN NULL; END IF;
  NEW.name := lower(NEW.name);
  RETURN NEW;
END $$""",
    "CREATE TRIGGER items_audit AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW "
    "EXECUTE FUNCTION audit_row('row')",
    "CREATE TRIGGER items_statement AFTER INSERT ON items FOR EACH STATEMENT "
    "EXECUTE FUNCTION audit_row('statement')",
    "CREATE TRIGGER items_batch AFTER INSERT ON items REFERENCING NEW TABLE AS fresh "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_row('batch')",
    "CREATE TRIGGER items_tidy BEFORE INSERT OR UPDATE OF name ON items FOR EACH ROW "
    "WHEN (NEW.price IS NOT NULL) EXECUTE FUNCTION tidy()",
    "CREATE TRIGGER items_off BEFORE DELETE ON items FOR EACH ROW EXECUTE FUNCTION tidy()",
    "ALTER TABLE items DISABLE TRIGGER items_off",
    "INSERT INTO items VALUES (1, 'Apple', 1), (2, 'Pear', NULL), (3, NULL, 5)",
    "UPDATE items SET name = 'PLUM' WHERE id = 2",
    "DELETE FROM items WHERE id = 2",
    "CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 2",
    """CREATE FUNCTION cheap_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO items VALUES (NEW.id, NEW.name || '!', 0);
  NEW.name := NEW.name || '?';
  RETURN NEW;
END $$""",
    "CREATE TRIGGER cheap_insert INSTEAD OF INSERT ON cheap FOR EACH ROW "
    "EXECUTE FUNCTION cheap_insert()",
]

_VARYING = re.compile(r"^(-- Dumped from database version |\\restrict |\\unrestrict )")


@dataclass(frozen=True)
class Servers:
    postgres: str            # conninfo
    primary: RunningServer
    standby: RunningServer


@pytest.fixture(scope="module")
def servers(template_cluster: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    directory = str(tmp_path_factory.mktemp("triggers_server"))
    with running_postgres() as postgres:
        with psycopg.connect(postgres.conninfo, autocommit=True) as connection:
            for statement in SETUP:
                connection.execute(statement)
        with streaming_pair(template_cluster, directory, *SETUP) as (primary, standby):
            yield Servers(postgres.conninfo, primary, standby)


def _tool(name: str, *arguments: str, stdin: str | None = None) -> str:
    result = subprocess.run([os.path.join(PG_BIN, name), *arguments], input=stdin,
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False,
                            env={**os.environ, "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C"})
    assert result.returncode == 0, f"{name} {' '.join(arguments)}:\n{result.stderr}"
    return result.stdout + result.stderr


def _comparable(text: str) -> list[str]:
    return [line for line in text.splitlines() if not _VARYING.match(line)]


def _rows(conninfo: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return connection.execute(query).fetchall()


def test_psql_describe_shows_triggers(servers: Servers) -> None:
    for command in ("\\d items", "\\d+ items", "\\d cheap"):
        expected = _tool("psql", "-X", "-d", servers.postgres, "-c", command)
        assert "Triggers:" in expected
        for server in (servers.primary, servers.standby):
            assert _tool("psql", "-X", "-d", server.dsn(), "-c", command) == expected


def test_pg_dump_matches_and_restores(servers: Servers) -> None:
    expected = _comparable(_tool("pg_dump", "-d", servers.postgres))
    assert any(line.startswith("CREATE TRIGGER items_tidy") for line in expected)
    assert _comparable(_tool("pg_dump", "-d", servers.primary.dsn())) == expected
    # a standby reads a sequence up to 32 values ahead (nextval WAL-logs ahead, as in
    # PostgreSQL), so its setval lines are left out
    assert [line for line in _comparable(_tool("pg_dump", "-d", servers.standby.dsn()))
            if "pg_catalog.setval(" not in line] == \
        [line for line in expected if "pg_catalog.setval(" not in line]
    with servers.primary.connect(autocommit=True) as connection:
        connection.execute("CREATE DATABASE restored")
    restored = servers.primary.dsn(dbname="restored")
    _tool("psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", "-d", restored,
          stdin="\n".join(expected) + "\n")
    assert _comparable(_tool("pg_dump", "-d", restored)) == expected


def test_copy_from_fires_triggers(servers: Servers) -> None:
    data = "10\tKiwi\t2\n11\t\\N\t3\n12\tLIME\t\\N\n"
    query = "SELECT op, item, what FROM audit ORDER BY id"
    with psycopg.connect(servers.postgres, autocommit=True) as reference, \
            servers.primary.connect(autocommit=True) as mine:
        assert copy_in_error(mine, "COPY items FROM STDIN", data) == \
            copy_in_error(reference, "COPY items FROM STDIN", data) == (None, None, None)
        view_data = "30\tPeach\n31\tMango\n"
        assert copy_in_error(mine, "COPY cheap FROM STDIN", view_data) == \
            copy_in_error(reference, "COPY cheap FROM STDIN", view_data) == (None, None, None)
        returning = "INSERT INTO cheap VALUES (32, 'Grape') RETURNING *"
        for statement in (returning, "SELECT id, name, price FROM items ORDER BY id", query):
            assert mine.execute(statement).fetchall() == \
                reference.execute(statement).fetchall()


def test_standby_has_the_triggers_rows_and_refuses_create_trigger(servers: Servers) -> None:
    with servers.primary.connect(autocommit=True) as connection:
        connection.execute("INSERT INTO items VALUES (20, 'Fig', 1)")
    wait_for_replay_catchup(servers.primary, servers.standby)
    query = "SELECT op, item, what FROM audit ORDER BY id"
    assert _rows(servers.standby.dsn(), query) == _rows(servers.primary.dsn(), query)
    assert ("INSERT", 20, "items_audit:row") in _rows(servers.standby.dsn(), query)
    assert _rows(servers.standby.dsn(), "SELECT tgname FROM pg_trigger ORDER BY 1") == \
        [("cheap_insert",), ("items_audit",), ("items_batch",), ("items_off",),
         ("items_statement",), ("items_tidy",)]
    for statement, word in (("CREATE TRIGGER t2 AFTER INSERT ON items FOR EACH ROW "
                             "EXECUTE FUNCTION audit_row()", "CREATE TRIGGER"),
                            ("DROP TRIGGER items_audit ON items", "DROP TRIGGER"),
                            ("ALTER TRIGGER items_audit ON items RENAME TO a2", "ALTER TRIGGER"),
                            ("ALTER TABLE items DISABLE TRIGGER ALL", "ALTER TABLE")):
        with servers.standby.connect(autocommit=True) as connection:
            with pytest.raises(psycopg.Error) as refused:
                connection.execute(statement)
        assert refused.value.sqlstate == "25006", statement
        assert refused.value.diag.message_primary == \
            f"cannot execute {word} in a read-only transaction"


def _notices_of(connection: psycopg.Connection, statements: list[str]) -> list[str]:
    notices: list[str] = []
    connection.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
    for statement in statements:
        connection.execute(statement)
    return notices


def test_raise_notice_from_triggers_in_firing_order(servers: Servers) -> None:
    statements = [
        "CREATE TABLE noisy (a int)",
        "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE NOTICE '% % % % %', TG_NAME, TG_WHEN, TG_LEVEL, TG_OP, TG_TABLE_NAME; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER t2 BEFORE INSERT ON noisy FOR EACH ROW EXECUTE FUNCTION shout()",
        "CREATE TRIGGER t1 BEFORE INSERT ON noisy FOR EACH ROW EXECUTE FUNCTION shout()",
        "CREATE TRIGGER t3 AFTER INSERT ON noisy FOR EACH ROW EXECUTE FUNCTION shout()",
        "CREATE TRIGGER t0 AFTER INSERT ON noisy FOR EACH STATEMENT EXECUTE FUNCTION shout()",
        "INSERT INTO noisy VALUES (1), (2)"]
    with psycopg.connect(servers.postgres, autocommit=True) as reference, \
            servers.primary.connect(autocommit=True) as mine:
        expected = _notices_of(reference, statements)
        assert expected[:2] == ["t1 BEFORE ROW INSERT noisy", "t2 BEFORE ROW INSERT noisy"]
        assert _notices_of(mine, statements) == expected
