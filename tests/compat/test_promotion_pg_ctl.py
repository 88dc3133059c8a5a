"""PostgreSQL 15's own ``pg_ctl promote`` against a mirrordb standby.

pg_ctl promote reads postmaster.pid and pg_control (which must say "in archive recovery"),
creates the ``promote`` file, sends SIGUSR1 to the postmaster and waits until pg_control says
"in production": exactly what mirrordb implements (recovery/promote.py), so the real tool works
unmodified. pg_ctl refuses to run as root; when the tests do, the standby's data directory
belongs to the ``postgres`` account and both the standby server and pg_ctl run as it
(``setpriv``), since pg_ctl may only signal its own user's processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import psycopg
import pytest

from tests.compat.auth_pg_helpers import (UNPRIVILEGED_USER, _as_owner, pg_available,
                                          unavailable_reason)
from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (basebackup, execute,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer, free_port, start_server, wait_until_ready

pytestmark = pytest.mark.skipif(not pg_available(), reason=unavailable_reason())
TOOL_TIMEOUT_S = 120


def owner_can_run_mirrordb() -> bool:
    """Whether the account pg_ctl runs as can start this interpreter and import mirrordb (a
    checkout under a directory only root may enter, such as a fresh ``mktemp -d``, hides
    both from it)."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(_as_owner([sys.executable, "-c", "import mirrordb"]),
                           capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    return probe.returncode == 0


@pytest.fixture
def owned_directory() -> Iterator[str]:
    """A directory the standby's owner can reach (pytest's tmp_path is root's alone)."""
    if not owner_can_run_mirrordb():
        pytest.skip(f"the {UNPRIVILEGED_USER} account, which pg_ctl must run as, cannot reach "
                    f"this checkout's interpreter or sources ({sys.executable})")
    path = tempfile.mkdtemp(prefix="mirrordb-promote-")
    if os.geteuid() == 0:
        shutil.chown(path, UNPRIVILEGED_USER, UNPRIVILEGED_USER)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def start_standby_as_owner(datadir: str) -> RunningServer:
    """``mirrordb server`` on ``datadir`` as the account pg_ctl runs as."""
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{UNPRIVILEGED_USER}:{UNPRIVILEGED_USER}", datadir],
                       check=True)
    port = free_port()
    log_path = os.path.join(os.path.dirname(datadir), f"server-{port}.log")
    command = _as_owner([sys.executable, "-m", "mirrordb.cli.main", "server", "-D", datadir,
                         "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1",
                         "-c", f"unix_socket_directories={datadir}",
                         "-c", "wal_retrieve_retry_interval=100ms"])
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = RunningServer(datadir, port, process, log_path)
    wait_until_ready(server)
    return server


def pg_ctl_promote(datadir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as_owner([pg_tool("pg_ctl"), "promote", "-D", datadir]),
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)


def test_pg_ctl_promote_promotes_a_mirrordb_standby(template_cluster, tmp_path,
                                                    owned_directory):
    primary_dir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_server(primary_dir)
    standby = None
    try:
        execute(primary, "CREATE TABLE t (id int PRIMARY KEY)",
                "INSERT INTO t SELECT g FROM generate_series(1, 25) g")
        standby_dir = os.path.join(owned_directory, "standby")
        basebackup(primary, standby_dir)
        standby = start_standby_as_owner(standby_dir)
        execute(primary, "INSERT INTO t VALUES (26)")
        wait_for_replay_catchup(primary, standby)
        primary.stop()

        result = pg_ctl_promote(standby_dir)
        assert result.returncode == 0, result.stderr
        assert "server promoted" in result.stdout
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
            connection.execute("INSERT INTO t VALUES (27)")
            assert connection.execute("SELECT count(*) FROM t").fetchone() == (27,)
        again = pg_ctl_promote(standby_dir)
        assert again.returncode == 1
        assert "cannot promote server; server is not in standby mode" in again.stderr
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
