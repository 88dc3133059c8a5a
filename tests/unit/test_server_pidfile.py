"""Lock files (server/pidfile.py): PostgreSQL 15's layout, exclusive creation, stale files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mirrordb.common.errors import LockFileExists
from mirrordb.server import pidfile


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def live_child() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_layout_matches_postgresql_15(tmp_path: object) -> None:
    datadir = str(tmp_path)
    lock = pidfile.acquire_data_directory_lock(datadir, 5432, 1700000000)
    lock.update(socket_directory="/tmp", listen_address="localhost",
                status=pidfile.PM_STATUS_READY)
    with open(os.path.join(datadir, "postmaster.pid"), encoding="utf-8") as handle:
        text = handle.read()
    assert text == (f"{os.getpid()}\n{os.path.abspath(datadir)}\n1700000000\n5432\n/tmp\n"
                    "localhost\n        0         0\nready   \n")
    contents = pidfile.read_lock_file(lock.path)
    assert contents is not None and contents.is_ready and contents.port == 5432
    lock.release()
    assert not os.path.exists(lock.path)
    assert pidfile.read_lock_file(lock.path) is None


def test_socket_lock_has_five_lines(tmp_path: object) -> None:
    socket_path = os.path.join(str(tmp_path), ".s.PGSQL.5432")
    lock = pidfile.acquire_socket_lock(socket_path, str(tmp_path), "/data", 5432, 17)
    with open(socket_path + ".lock", encoding="utf-8") as handle:
        assert handle.read() == f"{os.getpid()}\n/data\n17\n5432\n{tmp_path}\n"
    lock.release()


def test_a_live_owner_is_refused_with_postgresql_message(tmp_path: object) -> None:
    datadir = str(tmp_path)
    other = live_child()
    try:
        with open(os.path.join(datadir, "postmaster.pid"), "w", encoding="utf-8") as handle:
            handle.write(f"{other.pid}\n{datadir}\n1\n5432\n\n\n\nready   \n")
        with pytest.raises(LockFileExists) as caught:
            pidfile.acquire_data_directory_lock(datadir, 5432, 2)
        assert (caught.value.sqlstate, caught.value.message, caught.value.hint) == (
            "F0001", 'lock file "postmaster.pid" already exists',
            (f'Is another postmaster (PID {other.pid}) running in data directory '
             f'"{os.path.abspath(datadir)}"?'))
    finally:
        other.kill()
        other.wait()


def test_a_stale_file_of_a_dead_process_is_replaced(tmp_path: object) -> None:
    datadir = str(tmp_path)
    with open(os.path.join(datadir, "postmaster.pid"), "w", encoding="utf-8") as handle:
        handle.write(f"{dead_pid()}\n{datadir}\n1\n5432\n\n\n\nready   \n")
    lock = pidfile.acquire_data_directory_lock(datadir, 5433, 2)
    contents = pidfile.read_lock_file(lock.path)
    assert contents is not None and (contents.pid, contents.port) == (os.getpid(), 5433)


def test_an_empty_lock_file_is_refused(tmp_path: object) -> None:
    open(os.path.join(str(tmp_path), "postmaster.pid"), "w").close()
    with pytest.raises(LockFileExists) as caught:
        pidfile.acquire_data_directory_lock(str(tmp_path), 5432, 1)
    assert caught.value.message == 'lock file "postmaster.pid" is empty'


def test_process_liveness() -> None:
    assert pidfile.process_is_alive(os.getpid())
    assert not pidfile.process_is_alive(dead_pid())
    assert not pidfile.process_is_alive(0)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)   # exited, not yet reaped
    assert not pidfile.process_is_alive(zombie.pid)
    zombie.wait()
