"""Partitioned (and inheriting) tables through PostgreSQL 15's own clients, side by side with
a real PostgreSQL holding the same tables, and on a streaming standby: psql's \\d / \\d+ of a
partitioned table ("Partition key:", "Partitions:") and of a partition ("Partition of: ... FOR
VALUES ..."), pg_dump's output (CREATE TABLE ... PARTITION BY, ATTACH PARTITION, the data
COPYed per partition), its restore into a fresh mirrordb, and the standby answering the same
queries (its partitions are ordinary heap relations replayed from the WAL) while refusing DDL
with 25006.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.compat.differential import MARKS
from tests.compat.test_pg_dump import Endpoint, _assert_same, _comparable, _tool
from tests.compat.types_pg_server import running_postgres
from tests.integration.test_standby_streaming import streaming_pair, wait_for_replay_catchup
from tests.server_process import start_server

pytestmark = MARKS

SETUP = [
    "CREATE TABLE measures (id int NOT NULL, at date NOT NULL, v numeric DEFAULT 0, "
    "PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
    "CREATE TABLE measures_2023 PARTITION OF measures "
    "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')",
    "CREATE TABLE measures_2024 PARTITION OF measures "
    "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (id)",
    "CREATE TABLE measures_2024_small PARTITION OF measures_2024 FOR VALUES IN (1, 2, 3)",
    "CREATE TABLE measures_2024_other PARTITION OF measures_2024 DEFAULT",
    "CREATE TABLE regions (code text, name text) PARTITION BY LIST (code)",
    "CREATE TABLE regions_eu PARTITION OF regions FOR VALUES IN ('de', 'fr')",
    "CREATE TABLE regions_rest (code text, name text)",
    "INSERT INTO regions_rest VALUES ('us', 'United States')",
    "ALTER TABLE regions ATTACH PARTITION regions_rest DEFAULT",
    "CREATE TABLE buckets (k int, note text) PARTITION BY HASH (k)",
    "CREATE TABLE buckets_0 PARTITION OF buckets FOR VALUES WITH (modulus 2, remainder 0)",
    "CREATE TABLE buckets_1 PARTITION OF buckets FOR VALUES WITH (modulus 2, remainder 1)",
    "CREATE INDEX buckets_note ON buckets (note)",
    "CREATE TABLE base (id int, note text DEFAULT 'n')",
    "CREATE TABLE derived (extra int) INHERITS (base)",
    "INSERT INTO base VALUES (1, 'base')",
    "INSERT INTO derived VALUES (2, 'derived', 20)",
    "INSERT INTO measures VALUES (1, '2023-05-01', 1.5), (2, '2024-02-02', 2), "
    "(9, '2024-03-03', NULL)",
    "INSERT INTO regions VALUES ('de', 'Germany'), ('br', 'Brazil')",
    "INSERT INTO buckets SELECT g, 'n' || g FROM generate_series(1, 6) g",
]

QUERIES = [
    "SELECT tableoid::regclass, * FROM measures ORDER BY id",
    "SELECT tableoid::regclass, * FROM regions ORDER BY code",
    "SELECT tableoid::regclass, count(*) FROM buckets GROUP BY 1 ORDER BY 1",
    "SELECT * FROM measures WHERE at >= '2024-01-01' AND id = 9",
    "SELECT tableoid::regclass, * FROM base ORDER BY id",
    "SELECT * FROM ONLY base",
    "SELECT c.relname, c.relkind, c.relispartition, pg_get_expr(c.relpartbound, c.oid) "
    "FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
]

DESCRIBE = ["\\d+ measures", "\\d measures_2023", "\\d+ measures_2024", "\\d regions_rest",
            "\\d+ buckets", "\\d buckets_1", "\\d", "\\dt", "\\dP", "\\d measures_pkey",
            "\\d+ regions", "\\d base", "\\d+ base", "\\d derived", "\\d+ derived"]


def _build(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for statement in SETUP:
            connection.execute(statement)


def _answers(conninfo: str) -> list[list[tuple[object, ...]]]:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return [connection.execute(query).fetchall() for query in QUERIES]


@pytest.fixture(scope="module")
def servers(template_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = str(tmp_path_factory.mktemp("partition_tools"))
    with running_postgres() as postgres:
        _build(postgres.conninfo)
        with streaming_pair(template_cluster, directory) as (primary, standby):
            _build(primary.dsn())
            wait_for_replay_catchup(primary, standby)
            yield (postgres, Endpoint(postgres.host, postgres.port, postgres.user),
                   primary, standby)


def _psql(endpoint: Endpoint, command: str) -> str:
    return _tool("psql", *endpoint.arguments(), "-d", "postgres", "-X", "-c", command)


@pytest.mark.parametrize("command", DESCRIBE)
def test_psql_describe_matches_postgres(servers: Any, command: str) -> None:
    _, postgres, primary, _ = servers
    assert _psql(Endpoint("127.0.0.1", primary.port), command) == _psql(postgres, command)


def test_queries_match_postgres_and_standby(servers: Any) -> None:
    reference, _, primary, standby = servers
    expected = _answers(reference.conninfo)
    assert _answers(primary.dsn()) == expected
    assert _answers(standby.dsn()) == expected


def test_standby_refuses_partition_ddl(servers: Any) -> None:
    _, _, _, standby = servers
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        for statement in ["CREATE TABLE measures_2025 PARTITION OF measures "
                          "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
                          "ALTER TABLE regions DETACH PARTITION regions_eu",
                          "INSERT INTO regions VALUES ('fr', 'France')",
                          "TRUNCATE buckets"]:
            with pytest.raises(psycopg.Error) as failure:
                connection.execute(statement)
            assert failure.value.sqlstate == "25006", statement


@pytest.mark.parametrize("options", [(), ("--schema-only",), ("--data-only",)],
                         ids=["plain", "schema-only", "data-only"])
def test_pg_dump_matches_postgres(servers: Any, options: tuple[str, ...]) -> None:
    _, postgres, primary, _ = servers
    expected = _comparable(_tool("pg_dump", *postgres.arguments(), *options, "postgres"))
    assert any("PARTITION BY RANGE" in line for line in expected) or "--data-only" in options
    got = _comparable(_tool("pg_dump", *Endpoint("127.0.0.1", primary.port).arguments(),
                            *options, "postgres"))
    _assert_same(expected, got)


def test_dump_restores_into_mirrordb(servers: Any, template_cluster: str,
                                     tmp_path: object) -> None:
    """The dump of PostgreSQL's tables, restored by psql into a fresh mirrordb, answers the
    queries as PostgreSQL does."""
    reference, postgres, _, _ = servers
    dump = _tool("pg_dump", *postgres.arguments(), "postgres")
    datadir = os.path.join(str(tmp_path), "data")
    shutil.copytree(template_cluster, datadir)
    server = start_server(datadir)
    try:
        restored = subprocess.run(
            [os.path.join("/usr/lib/postgresql/15/bin", "psql"), "-X", "-h", "127.0.0.1", "-p",
             str(server.port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
             "-q"], input=dump, capture_output=True, text=True, timeout=120, check=False)
        assert restored.returncode == 0, restored.stderr
        assert _answers(server.dsn()) == _answers(reference.conninfo)
    finally:
        server.stop()
