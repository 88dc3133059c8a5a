"""PostgreSQL 15's pg_dump, pg_dumpall and pg_restore against mirrordb, compared with a real
PostgreSQL holding the same database.

The same statements build a database on a throw-away PostgreSQL 15 (types_pg_server.py) and on
a mirrordb primary with a streaming standby (tests/integration/test_standby_streaming.py);
each tool's output on mirrordb must equal its output on PostgreSQL line by line, apart from
the server version in the header and the random keys of ``\\restrict``/``\\unrestrict`` (newer
pg_dump minor releases write them). The standby's dumps must equal the primary's.

Not covered here, since mirrordb lacks them: identity columns (stored as serial columns, so
they dump as serial ones), DESC index keys, CHECK and FOREIGN KEY constraints, ALTER ... OWNER
(a table owned by another role is made by that role, a superuser here, through SET ROLE).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from tests.compat.differential import MARKS
from tests.compat.types_pg_server import PG_BIN, running_postgres
from tests.integration.test_standby_streaming import streaming_pair, wait_for_replay_catchup
from tests.server_process import RunningServer

pytestmark = MARKS
TOOL_TIMEOUT_S = 120

SETUP = [
    "CREATE ROLE alice SUPERUSER",
    "CREATE ROLE bob",
    "CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, "
    "balance numeric(12,2) DEFAULT 0, active boolean DEFAULT true, created timestamptz, "
    "data bytea, UNIQUE (name))",
    "CREATE TABLE events (id bigserial PRIMARY KEY, account_id integer NOT NULL, "
    "kind varchar(20) DEFAULT 'deposit', amount numeric, at timestamptz)",
    "CREATE INDEX events_account ON events (account_id)",
    "CREATE INDEX events_kind_at ON events (kind, at)",
    "CREATE VIEW rich AS SELECT id, name FROM accounts WHERE balance > 100",
    "CREATE SEQUENCE counter START 5 INCREMENT 2",
    "SELECT setval('counter', 42)",
    "SET ROLE alice",
    "CREATE TABLE owned (k int PRIMARY KEY, note text DEFAULT 'n/a')",
    "RESET ROLE",
    "GRANT SELECT ON accounts TO bob",
    "INSERT INTO accounts (name, balance, created, data) VALUES "
    "('ann', 150.50, '2024-01-02 03:04:05+00', '\\x00ff'), "
    "(E'b\\tob''s \"x\"', NULL, NULL, NULL), "
    "(E'line\\nbreak \\\\ back', 7, '2020-02-29 12:00:00+00', '\\x')",
    "INSERT INTO events (account_id, kind, amount, at) VALUES "
    "(1, 'deposit', 10.5, '2024-05-01 00:00:00+00'), (2, NULL, NULL, NULL)",
    "INSERT INTO owned VALUES (1, 'one'), (2, NULL)",
    # nextval WAL-logs 32 values ahead, so a standby (PostgreSQL's too) reads a sequence's
    # last_value up to 32 past the primary's; setval logs the exact value.
    "SELECT setval('accounts_id_seq', 3), setval('events_id_seq', 2)",
]

# Header lines that name the server's version, and \restrict's random key.
_VARYING = re.compile(r"^(-- Dumped from database version |;\s+Dumped from database version"
                      r"|\\restrict |\\unrestrict |;\s+Archive created at )")


@dataclass(frozen=True)
class Endpoint:
    """Where a tool connects: host, port, user."""

    host: str
    port: int
    user: str = "postgres"

    def arguments(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user]


@dataclass(frozen=True)
class Servers:
    postgres: Endpoint
    primary: Endpoint
    standby: Endpoint
    primary_server: RunningServer


def _tool(name: str, *arguments: str) -> str:
    result = subprocess.run([os.path.join(PG_BIN, name), *arguments], capture_output=True,
                            text=True, timeout=TOOL_TIMEOUT_S, check=False,
                            env={**os.environ, "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C"})
    assert result.returncode == 0, f"{name} {' '.join(arguments)}:\n{result.stderr}"
    assert "error" not in result.stderr.lower(), result.stderr
    return result.stdout


def _comparable(text: str) -> list[str]:
    return [line for line in text.splitlines() if not _VARYING.match(line)]


def _build(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for statement in SETUP:
            connection.execute(statement)


@pytest.fixture(scope="module")
def servers(template_cluster: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    directory = str(tmp_path_factory.mktemp("pg_dump"))
    with running_postgres() as postgres:
        _build(postgres.conninfo)
        with streaming_pair(template_cluster, directory) as (primary, standby):
            _build(primary.dsn())
            wait_for_replay_catchup(primary, standby)
            yield Servers(Endpoint(postgres.host, postgres.port, postgres.user),
                          Endpoint("127.0.0.1", primary.port), Endpoint("127.0.0.1", standby.port),
                          primary)


def _dump(endpoint: Endpoint, *options: str) -> list[str]:
    return _comparable(_tool("pg_dump", *endpoint.arguments(), *options, "postgres"))


def _assert_same(expected: list[str], got: list[str]) -> None:
    assert got == expected, "\n".join(
        f"{i}: postgres {a!r} / mirrordb {b!r}"
        for i, (a, b) in enumerate(zip(expected + [""] * len(got), got + [""] * len(expected)))
        if a != b)


@pytest.mark.parametrize("options", [(), ("--schema-only",), ("--data-only",),
                                     ("-t", "accounts"), ("-t", "public.owned", "--inserts")],
                         ids=["plain", "schema-only", "data-only", "table", "inserts"])
def test_plain_dump_matches_postgres(servers: Servers, options: tuple[str, ...]) -> None:
    expected = _dump(servers.postgres, *options)
    assert any("COPY public.accounts" in line or "INSERT INTO public.owned" in line or
               "CREATE TABLE public.accounts" in line for line in expected)
    _assert_same(expected, _dump(servers.primary, *options))


def test_standby_dump_matches_primary(servers: Servers) -> None:
    """pg_dump's REPEATABLE READ, READ ONLY transaction, ACCESS SHARE locks and COPY TO stdout
    on a standby in recovery."""
    primary = _dump(servers.primary)
    assert primary == _dump(servers.standby)
    assert _dump(servers.postgres) == _dump(servers.standby)


def _restore_list(path: str) -> list[str]:
    """pg_restore -l's entries without dump ids and OIDs (they differ between servers)."""
    entries = [line for line in _tool("pg_restore", "-l", path).splitlines()
               if line and not line.startswith(";")]
    return [re.sub(r"^\d+; \d+ \d+ ", "", line) for line in entries]


def test_custom_format_and_pg_restore(servers: Servers, tmp_path: object) -> None:
    lists, texts = [], []
    for name, endpoint in (("postgres", servers.postgres), ("mirrordb", servers.primary)):
        archive = os.path.join(str(tmp_path), f"{name}.dump")
        _tool("pg_dump", *endpoint.arguments(), "-Fc", "-f", archive, "postgres")
        lists.append(_restore_list(archive))
        restored = os.path.join(str(tmp_path), f"{name}.sql")
        _tool("pg_restore", "-f", restored, archive)
        with open(restored, encoding="utf-8") as handle:
            texts.append(_comparable(handle.read()))
    assert "TABLE DATA public accounts postgres" in lists[0]
    _assert_same(lists[0], lists[1])
    _assert_same(texts[0], texts[1])
    assert texts[1] == _dump(servers.primary)


def test_pg_dumpall_globals_only(servers: Servers) -> None:
    expected = _comparable(_tool("pg_dumpall", *servers.postgres.arguments(), "--globals-only"))
    assert "CREATE ROLE bob;" in expected
    _assert_same(expected, _comparable(_tool("pg_dumpall", *servers.primary.arguments(),
                                             "--globals-only")))
    _assert_same(expected, _comparable(_tool("pg_dumpall", *servers.standby.arguments(),
                                             "--globals-only")))


@pytest.mark.parametrize("command", ["\\d", "\\dt", "\\di", "\\ds", "\\dv", "\\dn", "\\du",
                                     "\\d accounts", "\\dp accounts"])
def test_psql_describe_commands_match(servers: Servers, command: str) -> None:
    """psql's \\d family reads the catalogs pg_dump reads: same answers as PostgreSQL."""
    def run(endpoint: Endpoint) -> str:
        return _tool("psql", *endpoint.arguments(), "-d", "postgres", "-X", "-c", command)
    assert run(servers.primary) == run(servers.postgres)


def test_psql_list_databases_runs(servers: Servers) -> None:
    text = _tool("psql", *servers.primary.arguments(), "-d", "postgres", "-X", "-c", "\\l")
    assert "postgres" in text


def test_tableoid_of_tables_and_catalogs(servers: Servers) -> None:
    queries = ["SELECT tableoid::regclass, count(*) FROM accounts GROUP BY 1",
               "SELECT tableoid FROM pg_class WHERE relname = 'pg_class'",
               "SELECT n.tableoid, c.tableoid FROM pg_namespace n JOIN pg_class c "
               "ON c.relnamespace = n.oid WHERE c.relname = 'accounts'",
               "SELECT 'pg_extension'::regclass::oid, 'pg_proc'::regclass::oid"]
    answers = []
    for conninfo in (psycopg.conninfo.make_conninfo(host=servers.postgres.host,
                                                    port=servers.postgres.port,
                                                    user="postgres", dbname="postgres"),
                     servers.primary_server.dsn()):
        with psycopg.connect(conninfo, autocommit=True) as connection:
            answers.append([connection.execute(q).fetchall() for q in queries])
    assert answers[0] == answers[1]


# -- the functions and catalogs pg_dump's queries use, statement by statement -------------------

from tests.compat.differential import Ours, Reference, differences, pair_fixture  # noqa: E402

catalog_pair = pair_fixture("pg_dump_catalogs", [
    "CREATE TABLE t (a int PRIMARY KEY, b text DEFAULT 'x')",
    "CREATE TABLE u (a int)",
    "CREATE SEQUENCE s",
    "CREATE VIEW v AS SELECT a FROM t"])


def test_catalog_functions_match_postgres(catalog_pair: tuple[Reference, Ours]) -> None:
    reference, ours = catalog_pair
    statements = [
        # aclitem[] is text[] here (sysviews.py): compared as text
        "SELECT acldefault('r', 10)::text, acldefault('s', 10)::text, "
        "acldefault('n', 10)::text, acldefault('d', 10)::text, acldefault('f', 10)::text, "
        "acldefault('T', 10)::text, acldefault('c', 10)::text",
        "SELECT acldefault('r', 0)::text, acldefault('r', 99999)::text, "
        "acldefault(NULL, 10)::text",
        "SELECT acldefault('q', 10)",
        "SELECT * FROM pg_options_to_table(ARRAY['a=1', 'b', 'c=x=y'])",
        "SELECT count(*) FROM pg_options_to_table(NULL)",
        "SELECT typname, typname[0], typname[1], typname[63], typname[64] FROM pg_type "
        "WHERE typname IN ('int4', '_int4') ORDER BY 1",
        "SELECT tableoid::regclass, a FROM t",
        "SELECT t.tableoid = 't'::regclass, s.tableoid::regclass FROM t, s",
        "SELECT tableoid FROM t, u",
        "SELECT tableoid FROM pg_roles",
        "SELECT tableoid FROM v",
        "SELECT DISTINCT tableoid::regclass FROM pg_namespace",
        "SELECT c.tableoid::regclass, count(*) > 0 FROM pg_class c GROUP BY 1",
        "SELECT 'pg_proc'::regclass, 'pg_extension'::regclass, 'pg_init_privs'::regclass",
        "SELECT lanname, lanispl, lanpltrusted FROM pg_language WHERE lanname <> 'plpgsql' "
        "ORDER BY 1",
        "SELECT opcname, opcintype::regtype FROM pg_opclass c JOIN pg_am a ON a.oid = opcmethod "
        "WHERE amname = 'btree' AND opcname IN ('int4_ops', 'text_ops', 'numeric_ops') "
        "ORDER BY 1",
        "SELECT nspname, pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace "
        "WHERE nspname IN ('public', 'pg_catalog') ORDER BY 1",
        "SELECT d.description FROM pg_description d JOIN pg_namespace n ON n.oid = d.objoid "
        "AND d.classoid = 'pg_namespace'::regclass WHERE nspname = 'public'",
        "SELECT current_schemas(false), current_schemas(true)",
        "SELECT set_config('search_path', '', false)",
        "SELECT current_schemas(false), current_schemas(true), 'public.t'::regclass",
        "SELECT pg_get_viewdef('public.v'::regclass)",
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'public.t'::regclass",
        "SELECT set_config('search_path', 'public', false)",
        "SELECT 't'::regclass, pg_get_viewdef('v'::regclass)",
        "SELECT count(*) FROM pg_attrdef a JOIN pg_depend d ON d.classid = a.tableoid "
        "AND d.objid = a.oid WHERE a.adrelid = 't'::regclass",
    ]
    found = differences(reference, ours, statements)
    assert not found, "\n".join(found)
