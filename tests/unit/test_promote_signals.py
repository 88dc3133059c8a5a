"""Promotion's file-level pieces (recovery/promote.py) and ``mirrordb promote``'s refusals
(cli/ctl.py), without a server: the promote signal file, promote_trigger_file, the fsync of
WAL a stopped walreceiver left unflushed, and pg_ctl's messages when there is nothing to
promote."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from types import SimpleNamespace

import pytest

from mirrordb.cli import ctl
from mirrordb.recovery import promote
from mirrordb.server import pidfile
from mirrordb.storage.control import DBState, ControlFile, write_control_file
from mirrordb.wal.segment import segment_name

SEGMENT_SIZE = 1 << 20


def test_a_signal_promotes_only_with_its_file(tmp_path, caplog):
    datadir = str(tmp_path)
    caplog.set_level(logging.INFO, logger="mirrordb.startup")
    assert not promote.promotion_triggered(datadir, True, "")
    promote.write_promote_signal_file(datadir)
    assert not promote.promotion_triggered(datadir, False, "")    # the file alone: no signal
    assert promote.promote_signal_file_exists(datadir)
    assert promote.promotion_triggered(datadir, True, "")
    assert not promote.promote_signal_file_exists(datadir)
    assert "received promote request" in caplog.messages


def test_the_trigger_file_promotes_and_is_removed(tmp_path, caplog):
    trigger = str(tmp_path / "trigger")
    caplog.set_level(logging.INFO, logger="mirrordb.startup")
    assert not promote.promotion_triggered(str(tmp_path), False, trigger)
    with open(trigger, "wb"):
        pass
    assert promote.promotion_triggered(str(tmp_path), False, trigger)
    assert not os.path.exists(trigger)
    assert f"promote trigger file found: {trigger}" in caplog.messages


def test_signal_file_removal_takes_both_and_tolerates_missing_files(tmp_path):
    paths = [tmp_path / promote.STANDBY_SIGNAL_FILE, tmp_path / promote.RECOVERY_SIGNAL_FILE]
    for path in paths:
        path.write_bytes(b"")
    promote.remove_signal_files(str(tmp_path))
    assert not any(path.exists() for path in paths)
    promote.remove_signal_files(str(tmp_path))


def fake_engine(datadir: str) -> SimpleNamespace:
    checkpoint = SimpleNamespace(this_timeline=1)
    control = SimpleNamespace(xlog_seg_size=SEGMENT_SIZE, checkpoint=checkpoint)
    os.makedirs(os.path.join(datadir, "pg_wal"), exist_ok=True)
    return SimpleNamespace(datadir=datadir, control=control)


@pytest.mark.parametrize(("flushed", "written", "expected"), [
    (3 * SEGMENT_SIZE + 100, 3 * SEGMENT_SIZE + 100, 0),     # nothing unflushed
    (3 * SEGMENT_SIZE + 100, 3 * SEGMENT_SIZE + 200, 1),     # inside one segment
    (3 * SEGMENT_SIZE + 100, 5 * SEGMENT_SIZE, 2),           # up to a segment's end
    (3 * SEGMENT_SIZE + 100, 5 * SEGMENT_SIZE + 1, 2),       # segment 5 is missing: skipped
])
def test_unflushed_received_wal_is_synced(tmp_path, flushed, written, expected):
    engine = fake_engine(str(tmp_path))
    for segno in (2, 3, 4):
        with open(os.path.join(tmp_path, "pg_wal", segment_name(1, segno, SEGMENT_SIZE)),
                  "wb") as handle:
            handle.write(b"\0" * 16)
    received = promote.ReceivedWal(flushed_lsn=flushed, written_lsn=written)
    assert promote.sync_received_wal(engine, received) == expected  # type: ignore[arg-type]


def promote_args(**changes: object) -> argparse.Namespace:
    values: dict[str, object] = {"silent": False, "timeout": 1, "wait": True}
    values.update(changes)
    return argparse.Namespace(**values)


def cluster_directory(tmp_path, state: DBState) -> str:
    datadir = str(tmp_path / "data")
    os.makedirs(os.path.join(datadir, "global"))
    with open(os.path.join(datadir, "PG_VERSION"), "w", encoding="utf-8") as handle:
        handle.write("15\n")
    control = dataclasses.replace(ControlFile.initial(system_identifier=1), state=state)
    write_control_file(datadir, control)
    return datadir


def test_cli_promote_needs_a_running_server(tmp_path, capsys):
    datadir = cluster_directory(tmp_path, DBState.DB_IN_ARCHIVE_RECOVERY)
    assert ctl.promote(datadir, promote_args()) == ctl.EXIT_FAILED
    assert "Is server running?" in capsys.readouterr().err
    assert not promote.promote_signal_file_exists(datadir)


def test_cli_promote_refuses_a_primary(tmp_path, capsys):
    datadir = cluster_directory(tmp_path, DBState.DB_IN_PRODUCTION)
    contents = pidfile.LockFileContents(pid=os.getpid(), data_directory=datadir,
                                        start_time_s=0, port=5432)
    with open(pidfile.data_directory_lock_path(datadir), "w", encoding="utf-8") as handle:
        handle.write(contents.render())
    assert ctl.promote(datadir, promote_args()) == ctl.EXIT_FAILED
    assert "cannot promote server; server is not in standby mode" in capsys.readouterr().err
    assert not promote.promote_signal_file_exists(datadir)
