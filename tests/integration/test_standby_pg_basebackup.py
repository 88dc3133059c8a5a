"""PostgreSQL 15's own ``pg_basebackup -R -X stream`` against a mirrordb primary produces a
directory from which ``mirrordb server`` runs a streaming hot standby (the primary_conninfo that
pg_basebackup writes carries libpq keys mirrordb ignores: passfile, sslmode, gssencmode...)."""

from __future__ import annotations

import os
import subprocess

import psycopg

from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (TOOL_TIMEOUT_S, execute, primary,  # noqa: F401
                                                      start_standby, wait_for_replay_catchup)


def test_standby_from_pg_basebackup_streams(primary, tmp_path):  # noqa: F811
    tool = pg_tool("pg_basebackup")
    execute(primary, "CREATE TABLE t (id int)",
            "INSERT INTO t SELECT g FROM generate_series(1, 50) g")
    standby_dir = str(tmp_path / "standby")
    result = subprocess.run([tool, "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                             "-D", standby_dir, "-R", "-X", "stream", "-c", "fast", "-w"],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    os.chmod(standby_dir, 0o700)
    standby = start_standby(standby_dir)
    try:
        execute(primary, "INSERT INTO t SELECT g FROM generate_series(51, 100) g")
        wait_for_replay_catchup(primary, standby)
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT count(*) FROM t").fetchone() == (100,)
    finally:
        standby.stop()
