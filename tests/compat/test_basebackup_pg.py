"""``mirrordb basebackup`` against a real PostgreSQL 15 primary: the same file set as
pg_basebackup, a backup_label, a manifest that pg_verifybackup accepts, -R files, slots."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from auth_pg_helpers import PG_BIN, PgCluster, pg_available, pg_cluster, unavailable_reason

pytestmark = pytest.mark.skipif(not pg_available(), reason=unavailable_reason())
TOOL_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def primary() -> Iterator[tuple[PgCluster, str]]:
    with pg_cluster() as cluster, cluster.server() as socket_dir:
        yield cluster, socket_dir


def _mirrordb_basebackup(socket_dir: str, target: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mirrordb.cli.main", "basebackup", "-h", socket_dir, "-p", "5432",
         "-U", "postgres", "-D", target, "-c", "fast", *extra],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)


def _file_set(root: str) -> set[str]:
    found = set()
    for directory, subdirectories, files in os.walk(root):
        for name in files + subdirectories:
            path = os.path.relpath(os.path.join(directory, name), root)
            if not path.startswith("pg_wal/0") and not path.startswith("pg_wal/archive_status/0"):
                found.add(path)
    return found


def _verify(target: str) -> None:
    result = subprocess.run([os.path.join(PG_BIN, "pg_verifybackup"), target],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    assert "backup successfully verified" in result.stdout


@pytest.mark.parametrize("wal_method", ["fetch", "stream"])
def test_same_files_as_pg_basebackup_and_verified(primary, tmp_path, wal_method):
    _cluster, socket_dir = primary
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    result = _mirrordb_basebackup(socket_dir, ours, "-X", wal_method, "-P")
    assert result.returncode == 0, result.stderr
    assert "kB (100%)" in result.stderr
    subprocess.run([os.path.join(PG_BIN, "pg_basebackup"), "-h", socket_dir, "-p", "5432",
                    "-U", "postgres", "-D", theirs, "-X", wal_method, "-c", "fast"],
                   check=True, capture_output=True, timeout=TOOL_TIMEOUT_S)
    assert _file_set(ours) == _file_set(theirs)
    with open(os.path.join(ours, "backup_label")) as handle:
        label = handle.read()
    assert label.startswith("START WAL LOCATION: ")
    assert "LABEL: mirrordb base backup\n" in label
    assert any(name.startswith("0000000100") for name in os.listdir(os.path.join(ours, "pg_wal")))
    _verify(ours)


def test_recovery_conf_and_created_slot(primary, tmp_path):
    cluster, socket_dir = primary
    target = str(tmp_path / "standby")
    result = _mirrordb_basebackup(socket_dir, target, "-R", "-C", "--slot", "standby1")
    assert result.returncode == 0, result.stderr
    assert os.path.exists(os.path.join(target, "standby.signal"))
    with open(os.path.join(target, "postgresql.auto.conf")) as handle:
        conf = handle.read()
    assert f"primary_conninfo = 'user=postgres host={socket_dir} port=5432'" in conf
    assert "primary_slot_name = 'standby1'\n" in conf
    _verify(target)


def test_non_empty_target_is_refused(primary, tmp_path):
    _cluster, socket_dir = primary
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    result = _mirrordb_basebackup(socket_dir, str(tmp_path / "busy"))
    assert result.returncode == 1
    assert "exists but is not empty" in result.stderr
