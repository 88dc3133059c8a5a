"""Real pg_basebackup, and ``mirrordb basebackup``, against a mirrordb primary (needs the
walsender: expected to fail until replication/walsender.py exists)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

PG_BIN = "/usr/lib/postgresql/15/bin"
TOOL_TIMEOUT_S = 120
WALSENDER_MISSING = importlib.util.find_spec("mirrordb.replication.walsender") is None

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PG_BIN, "pg_basebackup")),
                       reason=f"needs PostgreSQL 15 in {PG_BIN}"),
    pytest.mark.xfail(WALSENDER_MISSING, reason="the walsender (replication/walsender.py, "
                      "engineer B) is not in the tree yet", strict=False),
]


def _check_backup(target: str) -> None:
    for name in ("backup_label", "backup_manifest", "standby.signal", "PG_VERSION",
                 os.path.join("global", "pg_control")):
        assert os.path.exists(os.path.join(target, name)), name
    assert not os.path.exists(os.path.join(target, "postmaster.pid"))
    result = subprocess.run([os.path.join(PG_BIN, "pg_verifybackup"), target],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("wal_method", ["fetch", "stream"])
def test_pg_basebackup_from_mirrordb(module_server, tmp_path, wal_method):
    target = str(tmp_path / "backup")
    result = subprocess.run(
        [os.path.join(PG_BIN, "pg_basebackup"), "-h", "127.0.0.1", "-p", str(module_server.port),
         "-U", "postgres", "-D", target, "-R", "-X", wal_method, "-c", "fast", "-w"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    _check_backup(target)


def test_mirrordb_basebackup_from_mirrordb(module_server, tmp_path):
    target = str(tmp_path / "backup")
    result = subprocess.run(
        [sys.executable, "-m", "mirrordb.cli.main", "basebackup", "-h", "127.0.0.1", "-p",
         str(module_server.port), "-U", "postgres", "-D", target, "-R", "-X", "fetch", "-P"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    _check_backup(target)
