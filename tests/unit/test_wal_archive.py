"""WAL archiving's pieces without a server: the archive_status markers (wal/archive.py), the
WAL writer's finished-segment report and removal check, and one archiver pass
(wal/archiver.py) with real shell commands.
"""

from __future__ import annotations

import os

import pytest
from wal_helpers import SEGMENT_SIZE, new_writer, pad_to

from mirrordb.wal import archive
from mirrordb.wal.archiver import Archiver, ArchiverStatistics
from mirrordb.wal.segment import segment_name


def waldir_with(tmp_path, *names: str) -> str:
    waldir = str(tmp_path / "pg_wal")
    os.makedirs(os.path.join(waldir, archive.STATUS_DIRECTORY))
    for name in names:
        with open(os.path.join(waldir, name), "wb") as handle:
            handle.write(name.encode())
    return waldir


def markers(waldir: str) -> list[str]:
    return sorted(os.listdir(os.path.join(waldir, archive.STATUS_DIRECTORY)))


def test_placeholders_follow_postgresql():
    assert archive.format_command("cp %p /a/%f", p="pg_wal/X", f="X") == "cp pg_wal/X /a/X"
    assert archive.format_command("echo 100%% %f %r %x %", f="F") == "echo 100% F %r %x %"
    assert archive.format_command("%r%r", r="R") == "RR"


def test_failures_are_described_as_postgresql_does():
    assert archive.describe_failure("archive command", 1) == \
        "archive command failed with exit code 1"
    assert archive.describe_failure("archive command", -9) == \
        "archive command was terminated by signal 9: Killed"
    assert [archive.is_fatal_status(status) for status in (1, 2, 126, 127, 130, -15)] == \
        [False, False, False, True, True, True]


def test_markers_ready_done_and_removal(tmp_path):
    first, second, third = (segment_name(1, n, SEGMENT_SIZE) for n in (1, 2, 3))
    waldir = waldir_with(tmp_path, first, second, third)
    archive.notify(waldir, second)
    archive.notify(waldir, "00000002.history")
    assert archive.ready_files(waldir) == ["00000002.history", second]
    # archiving off: anything may go; on: only what is done
    assert archive.may_remove(waldir, second, archiving=False)
    assert not archive.may_remove(waldir, second, archiving=True)
    # a finished segment whose marker was lost is marked ready, not removed
    assert not archive.may_remove(waldir, first, archiving=True)
    assert f"{first}.ready" in markers(waldir)
    archive.archived(waldir, first)
    assert archive.may_remove(waldir, first, archiving=True)
    assert not archive.is_busy(waldir, first) and archive.is_busy(waldir, second)
    # a file that is gone was archived before it went
    os.unlink(os.path.join(waldir, third))
    assert not archive.is_busy(waldir, third)
    archive.mark_done(waldir, second)            # a standby's received segment
    archive.mark_done(waldir, third)
    assert markers(waldir) == sorted([f"{first}.done", f"{second}.done", f"{third}.done",
                                      "00000002.history.ready"])
    archive.forget(waldir, first)
    assert f"{first}.done" not in markers(waldir)


def test_the_writer_reports_each_finished_segment_after_it_is_on_disk(tmp_path):
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    finished: list[str] = []

    def report(name: str) -> None:
        # the segment is complete and closed when it is reported
        assert os.path.getsize(os.path.join(waldir, name)) == SEGMENT_SIZE
        finished.append(name)

    writer.on_segment_finished = report
    names = [segment_name(1, n, SEGMENT_SIZE) for n in range(5)]
    pad_to(writer, 2 * SEGMENT_SIZE + 4096)   # fills segment 1 (the first), goes into 2
    writer.flush(writer.insert_lsn)
    assert finished == [names[1]]
    writer.switch_segment()                   # ends segment 2 early
    writer.flush(writer.end_lsn)
    assert finished == names[1:3]
    writer.switch_segment()                   # nothing written since: no new segment ends
    writer.flush(writer.end_lsn)
    assert finished == names[1:3]

    writer.may_remove = lambda name: name != names[1]     # not archived yet
    pad_to(writer, 4 * SEGMENT_SIZE + 4096)
    writer.flush(writer.insert_lsn)
    assert finished == names[1:4]
    assert writer.remove_old_segments(4 * SEGMENT_SIZE) == 2      # segments 2 and 3
    assert os.path.exists(os.path.join(waldir, names[1]))
    writer.close()


class _Settings:
    def __init__(self, command: str) -> None:
        self.command = command

    def get(self, name: str) -> object:
        assert name == "archive_command"
        return self.command


def test_one_archiver_pass_archives_in_order_and_stops_at_a_failure(tmp_path):
    first, second, third = (segment_name(1, n, SEGMENT_SIZE) for n in (1, 2, 3))
    datadir = str(tmp_path)
    waldir = waldir_with(tmp_path, first, second, third)
    target = tmp_path / "archive"
    target.mkdir()
    for name in (first, second, third):
        archive.notify(waldir, name)
    (target / second).write_bytes(b"already there")
    settings = _Settings(f"test ! -f {target}/%f && cp %p {target}/%f")
    statistics = ArchiverStatistics()
    archiver = Archiver(datadir, lambda: settings, statistics)
    archiver._wait_before_retry = lambda: False           # no second's pause between tries
    assert archiver.archive_ready() == 1
    assert sorted(os.listdir(target)) == [first, second]
    assert (target / first).read_bytes() == first.encode()
    row = statistics.row()
    assert row[:2] == (1, first) and row[3:5] == (3, second)
    assert archive.ready_files(waldir) == [second, third]

    (target / second).unlink()
    assert archiver.archive_ready() == 2
    assert archive.ready_files(waldir) == []
    assert statistics.row()[:2] == (3, third)

    # no command: nothing is archived, the files stay ready
    archive.notify(waldir, first)
    os.unlink(os.path.join(waldir, archive.STATUS_DIRECTORY, first + archive.DONE))
    settings.command = ""
    assert archiver.archive_ready() == 0
    assert archive.ready_files(waldir) == [first]


class _RecoverySettings:
    def __init__(self, **values: str) -> None:
        self.values = values

    def get_str(self, name: str) -> str:
        return self.values.get(name, "")


class _Checkpoint:
    redo = 3 * SEGMENT_SIZE + 40
    this_timeline = 1


class _Control:
    xlog_seg_size = SEGMENT_SIZE
    checkpoint = _Checkpoint()


class _Standby:
    """What ArchiveRestore uses of an engine."""

    def __init__(self, datadir: str, **settings: str) -> None:
        self.datadir = datadir
        self.settings = _RecoverySettings(**settings)
        self.control = _Control()
        self.received: list[str] = []

    def segment_received(self, name: str) -> None:
        self.received.append(name)


def test_restore_takes_only_whole_segments_and_passes_the_restart_file(tmp_path):
    from mirrordb.common.errors import DataCorrupted, MirrordbError
    from mirrordb.recovery.restore import ArchiveRestore
    waldir = waldir_with(tmp_path)
    store = tmp_path / "archive"
    store.mkdir()
    whole, short, long_ = (segment_name(1, n, SEGMENT_SIZE) for n in (4, 5, 6))
    (store / whole).write_bytes(b"w" * SEGMENT_SIZE)
    (store / short).write_bytes(b"s" * 100)              # still being copied in
    (store / long_).write_bytes(b"l" * (SEGMENT_SIZE + 1))
    seen = tmp_path / "seen"
    engine = _Standby(str(tmp_path),
                      restore_command=f"echo %r >> {seen}; cp {store}/%f %p")
    restore = ArchiveRestore(engine)  # type: ignore[arg-type]
    assert restore.restore(whole)
    with open(os.path.join(waldir, whole), "rb") as handle:
        assert handle.read() == b"w" * SEGMENT_SIZE
    assert engine.received == [whole]
    assert seen.read_text().split() == [segment_name(1, 3, SEGMENT_SIZE)]    # %r
    assert not restore.restore(short) and not os.path.exists(os.path.join(waldir, short))
    assert not restore.restore(segment_name(1, 9, SEGMENT_SIZE))          # not archived
    with pytest.raises(DataCorrupted, match="has wrong size"):
        restore.restore(long_)
    assert not os.path.exists(os.path.join(waldir, "RECOVERYXLOG"))
    engine.settings = _RecoverySettings(restore_command="kill -9 $$")
    with pytest.raises(MirrordbError, match="from archive: child process was terminated by "
                                            "signal 9: Killed"):
        restore.restore(whole)
