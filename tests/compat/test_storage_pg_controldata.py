"""The real PostgreSQL 15 tools against our control file: pg_controldata reads what we write (no
CRC or size warnings, the right values), and a pg_control written by the real initdb decodes and
re-encodes byte for byte."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.lsn import format_lsn
from mirrordb.storage.control import (
    CONTROL_FILE_PATH,
    ControlFile,
    DBState,
    decode_control_file,
    encode_control_file,
    write_control_file,
)

PG_BIN = "/usr/lib/postgresql/15/bin"
TOOL_TIMEOUT_S = 60

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(not os.path.exists(os.path.join(PG_BIN, "pg_controldata")),
                       reason=f"PostgreSQL 15 tools not installed in {PG_BIN}"),
]

STATE_TEXT = {
    DBState.DB_STARTUP: "starting up",
    DBState.DB_SHUTDOWNED: "shut down",
    DBState.DB_SHUTDOWNED_IN_RECOVERY: "shut down in recovery",
    DBState.DB_SHUTDOWNING: "shutting down",
    DBState.DB_IN_CRASH_RECOVERY: "in crash recovery",
    DBState.DB_IN_ARCHIVE_RECOVERY: "in archive recovery",
    DBState.DB_IN_PRODUCTION: "in production",
}


def pg_controldata(datadir: Path) -> dict[str, str]:
    result = subprocess.run([os.path.join(PG_BIN, "pg_controldata"), str(datadir)],
                            check=False, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                            env={**os.environ, "LC_ALL": "C", "LANG": "C"})
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    fields = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def our_control_file(state: DBState) -> ControlFile:
    checkpoint = CheckPoint(
        redo=0x3_0000_0028, this_timeline=4, prev_timeline=4, full_page_writes=True,
        next_full_xid=(2 << 32) | 901, next_oid=24576, next_multi=1, next_multi_offset=0,
        oldest_xid=716, oldest_xid_db=1, oldest_multi=1, oldest_multi_db=1,
        time_s=1_700_000_000, oldest_commit_ts_xid=0, newest_commit_ts_xid=0,
        oldest_active_xid=901)
    cf = ControlFile.initial(system_identifier=7301234567890123456, xlog_seg_size=1 << 20)
    return dataclasses.replace(cf, state=state, checkpoint_lsn=0x3_0000_00A0,
                               checkpoint=checkpoint, min_recovery_point=0x3_0000_0100,
                               min_recovery_point_tli=4, wal_level=2, max_connections=42)


@pytest.mark.parametrize("state", list(DBState))
def test_pg_controldata_reads_our_file(tmp_path: Path, state: DBState) -> None:
    (tmp_path / "global").mkdir()
    write_control_file(str(tmp_path), our_control_file(state))
    fields = pg_controldata(tmp_path)
    assert fields["pg_control version number"] == "1300"
    assert fields["Catalog version number"] == "202209061"
    assert fields["Database system identifier"] == "7301234567890123456"
    assert fields["Database cluster state"] == STATE_TEXT[state]
    assert fields["Latest checkpoint location"] == format_lsn(0x3_0000_00A0) == "3/A0"
    assert fields["Latest checkpoint's REDO location"] == "3/28"
    assert fields["Latest checkpoint's REDO WAL file"] == "000000040000000300000000"
    assert fields["Latest checkpoint's TimeLineID"] == "4"
    assert fields["Latest checkpoint's NextXID"] == "2:901"
    assert fields["Latest checkpoint's NextOID"] == "24576"
    assert fields["Minimum recovery ending location"] == "3/100"
    assert fields["Min recovery ending loc's timeline"] == "4"
    assert fields["wal_level setting"] == "logical"
    assert fields["max_connections setting"] == "42"
    assert fields["Bytes per WAL segment"] == "1048576"
    assert fields["Database block size"] == "8192"
    assert fields["Float8 argument passing"] == "by value"


@pytest.fixture(scope="module")
def initdb_datadir() -> Iterator[Path]:
    """A cluster made by the real initdb (as user postgres when the tests run as root)."""
    parent = Path(tempfile.mkdtemp(prefix="mirrordb-initdb-"))
    datadir = parent / "data"
    command = [os.path.join(PG_BIN, "initdb"), "-D", str(datadir), "-A", "trust", "--no-sync",
               "--wal-segsize=1", "-U", "postgres"]
    try:
        if os.geteuid() == 0:
            shutil.chown(parent, "postgres")
            command = ["runuser", "-u", "postgres", "--"] + command
        result = subprocess.run(command, check=False, capture_output=True, text=True,
                                timeout=TOOL_TIMEOUT_S, env={**os.environ, "LC_ALL": "C"})
        assert result.returncode == 0, result.stderr
        yield datadir
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_real_initdb_control_file_round_trips(initdb_datadir: Path) -> None:
    data = (initdb_datadir / CONTROL_FILE_PATH).read_bytes()
    cf = decode_control_file(data)
    fields = pg_controldata(initdb_datadir)
    assert str(cf.system_identifier) == fields["Database system identifier"]
    assert format_lsn(cf.checkpoint_lsn) == fields["Latest checkpoint location"]
    assert cf.state == DBState.DB_SHUTDOWNED and cf.xlog_seg_size == 1 << 20
    assert encode_control_file(cf) == data
