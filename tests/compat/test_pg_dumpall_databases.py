"""pg_dumpall of a whole cluster with several databases and database privileges: its output
on mirrordb equals PostgreSQL 15's for the same statements (apart from the server version and
\\restrict keys), and it restores with psql into a fresh mirrordb, whose own pg_dumpall then
prints the same cluster again (the databases, owners and datacl grants came back).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg

from tests.compat.differential import MARKS
from tests.compat.test_pg_dump import TOOL_TIMEOUT_S, _assert_same, _comparable
from tests.compat.types_pg_server import PG_BIN, running_postgres
from tests.server_process import RunningServer, start_server

pytestmark = MARKS

SETUP = ["CREATE ROLE alice LOGIN", "CREATE ROLE bob", "CREATE DATABASE app OWNER alice",
         "CREATE DATABASE quiet", "REVOKE CONNECT, TEMP ON DATABASE quiet FROM PUBLIC",
         "GRANT CONNECT ON DATABASE quiet TO bob WITH GRANT OPTION",
         "GRANT CREATE ON DATABASE app TO bob", "REVOKE TEMP ON DATABASE app FROM alice",
         "CREATE DATABASE plain CONNECTION LIMIT 3"]
ACL_QUERY = "SELECT datname, datacl::text FROM pg_database ORDER BY datname"
# psql -f of a pg_dumpall script on a fresh cluster: the one error PostgreSQL's restores see too.
EXPECTED_RESTORE_ERROR = 'role "postgres" already exists'


def _run(name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.path.join(PG_BIN, name), *arguments], capture_output=True,
                          text=True, timeout=TOOL_TIMEOUT_S, check=False,
                          env={**os.environ, "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C"})


def _dumpall(host: str, port: int, user: str) -> str:
    result = _run("pg_dumpall", "-h", host, "-p", str(port), "-U", user)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return result.stdout


def _build(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for statement in SETUP:
            connection.execute(statement)


def _fresh_server(template_cluster: str, directory: str) -> RunningServer:
    datadir = os.path.join(directory, "data")
    shutil.copytree(template_cluster, datadir)
    return start_server(datadir)


def test_pg_dumpall_with_database_grants(template_cluster: str, tmp_path: object) -> None:
    with running_postgres() as postgres:
        _build(postgres.conninfo)
        expected = _dumpall(postgres.host, postgres.port, postgres.user)
    source = _fresh_server(template_cluster, os.path.join(str(tmp_path), "source"))
    try:
        _build(source.dsn())
        dumped = _dumpall("127.0.0.1", source.port, "postgres")
        with psycopg.connect(source.dsn(), autocommit=True) as connection:
            acls = connection.execute(ACL_QUERY).fetchall()
    finally:
        source.stop()
    _assert_same(_comparable(expected), _comparable(dumped))
    assert "GRANT CONNECT ON DATABASE quiet TO bob WITH GRANT OPTION;" in dumped

    script = os.path.join(str(tmp_path), "cluster.sql")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(dumped)
    target = _fresh_server(template_cluster, os.path.join(str(tmp_path), "target"))
    try:
        restore = _run("psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(target.port),
                       "-U", "postgres", "-d", "postgres", "-f", script)
        errors = [line for line in restore.stderr.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and EXPECTED_RESTORE_ERROR in errors[0], restore.stderr
        with psycopg.connect(target.dsn(), autocommit=True) as connection:
            assert connection.execute(ACL_QUERY).fetchall() == acls
        _assert_same(_comparable(dumped), _comparable(_dumpall("127.0.0.1", target.port,
                                                               "postgres")))
    finally:
        target.stop()
