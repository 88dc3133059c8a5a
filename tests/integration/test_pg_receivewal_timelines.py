"""PostgreSQL 15's own pg_receivewal following a timeline switch on mirrordb, as it follows one
on PostgreSQL (checked by running the same steps on PostgreSQL 15: same stderr lines, same
files).

The scenario (one per module, ``promoted``): a primary and a streaming standby; a physical slot
on the standby (it keeps every segment on the standby from before the stream's start, so the
files can be compared with the server's own); pg_receivewal streams from the standby; rows are
written on the primary, which is then stopped cleanly; the standby is promoted with
``mirrordb promote`` and writes rows and a ``pg_switch_wal()`` on timeline 2.

What PostgreSQL's pg_receivewal does then, and so must do here: at the end of timeline 1 the
walsender sends CopyDone and the next timeline; pg_receivewal leaves the timeline-1 segment
holding the switch point as ``.partial`` ("not renaming ..., segment is not complete": it holds
timeline 1 up to the switch point, zeros after), says "switched to timeline 2 at <switch>",
fetches ``00000002.history`` and streams timeline 2 from the start of that same segment. Every
complete segment it saves is byte-for-byte the server's, and pg_waldump reads both timelines.
Started later against the promoted server from a position on timeline 1 (an archive whose
newest files are timeline 1's, or the slot, whose restart_lsn is on timeline 1), it streams
timeline 1 up to the switch point and follows the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.storage.control import read_control_file
from mirrordb.wal.segment import history_file_name, is_segment_name, segment_name, segno_of
from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (SEGMENT_SIZE, execute, poll, streaming_pair,
                                                      wait_for_replay_catchup)
from tests.integration.test_promotion import mirrordb
from tests.integration.test_wal_archiving import one
from tests.server_process import RunningServer

pytestmark = pytest.mark.compat

SLOT = "receiver"
TOOL_TIMEOUT_S = 60
PREFIX = "pg_receivewal: "
INTERRUPTED = "received interrupt signal, exiting"


@dataclass(frozen=True)
class Promoted:
    """The scenario once it has run: the promoted standby (still running) and what the first
    pg_receivewal, streaming from it since before the promotion, saved and printed."""

    server: RunningServer
    archive: str
    output: str
    switch_lsn: int

    @property
    def waldir(self) -> str:
        return os.path.join(self.server.datadir, "pg_wal")

    @property
    def switch_segno(self) -> int:
        return segno_of(self.switch_lsn, SEGMENT_SIZE)


@contextlib.contextmanager
def receiving(server: RunningServer, directory: str, *options: str) -> Iterator[str]:
    """pg_receivewal -v --no-loop into ``directory``; yields the path of its output. On exit it
    gets SIGINT (it ends the stream with CopyDone, as a user's Ctrl-C) and must exit 0."""
    output_path = directory + ".out"
    with open(output_path, "wb") as output:
        receiver = subprocess.Popen(
            [pg_tool("pg_receivewal"), "-D", directory, "--no-loop", "-v", *options,
             "-d", f"host=127.0.0.1 port={server.port} user=postgres"],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield output_path
    finally:
        receiver.send_signal(signal.SIGINT)
        try:
            returncode = receiver.wait(TOOL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            receiver.kill()
            returncode = receiver.wait(TOOL_TIMEOUT_S)
    assert returncode == 0, read_text(output_path)


def read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def streamed_lines(output: str) -> list[str]:
    """pg_receivewal's messages up to the interrupt that ended it, without the program name."""
    lines = [line.removeprefix(PREFIX) for line in output.splitlines()]
    return lines[:lines.index(INTERRUPTED)] if INTERRUPTED in lines else lines


def expected_lines(start_lsn: int, switch_lsn: int) -> list[str]:
    """What PostgreSQL's pg_receivewal prints streaming timeline 1 from ``start_lsn`` (a
    segment start) across a switch to timeline 2 at ``switch_lsn``, up to the end of the
    switch segment on timeline 2."""
    switch_segno = segno_of(switch_lsn, SEGMENT_SIZE)
    lines = [f"starting log streaming at {format_lsn(start_lsn)} (timeline 1)"]
    lines += [f"finished segment at {format_lsn(segno * SEGMENT_SIZE)} (timeline 1)"
              for segno in range(segno_of(start_lsn, SEGMENT_SIZE) + 1, switch_segno + 1)]
    lines += [f'not renaming "{segment_name(1, switch_segno, SEGMENT_SIZE)}.partial", segment '
              f"is not complete",
              f"switched to timeline 2 at {format_lsn(switch_lsn)}",
              f"finished segment at {format_lsn((switch_segno + 1) * SEGMENT_SIZE)} "
              f"(timeline 2)"]
    return lines


def wait_for_timeline_2_segment(archive: str, switch_segno: int, output_path: str,
                                servers: tuple[RunningServer, ...]) -> None:
    """Until timeline 2's switch segment is complete and the next one begun."""
    names = (segment_name(2, switch_segno, SEGMENT_SIZE),
             segment_name(2, switch_segno + 1, SEGMENT_SIZE) + ".partial")
    poll(lambda: all(os.path.exists(os.path.join(archive, name)) for name in names),
         f"pg_receivewal to write {names}:\n{read_text(output_path)}", servers=servers)


def replication_state(server: RunningServer) -> object:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute("SELECT state FROM pg_stat_replication "
                                 "WHERE application_name = 'pg_receivewal'").fetchone()
    return None if row is None else row[0]


@pytest.fixture(scope="module")
def promoted(template_cluster: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Promoted]:
    pg_tool("pg_receivewal")
    directory = tmp_path_factory.mktemp("receivewal_timelines")
    archive = str(directory / "archive")
    os.mkdir(archive)
    with streaming_pair(template_cluster, str(directory),
                        "CREATE TABLE t (id int PRIMARY KEY, note text)") as (primary, standby):
        execute(standby, f"SELECT pg_create_physical_replication_slot('{SLOT}', true)")
        with receiving(standby, archive) as output_path:
            poll(lambda: replication_state(standby) == "streaming",
                 "pg_receivewal to stream from the standby", servers=(standby,))
            # about two segments of timeline 1, so whole ones are saved before the switch
            execute(primary, "INSERT INTO t SELECT g, repeat('a', 600) "
                             "FROM generate_series(1, 3000) g")
            wait_for_replay_catchup(primary, standby)
            assert primary.stop() == 0
            shutdown_lsn = read_control_file(primary.datadir).checkpoint_lsn
            poll(lambda: parse_lsn(str(one(standby, "SELECT pg_last_wal_replay_lsn()")))
                 > shutdown_lsn, "replay of the shutdown checkpoint", servers=(standby,))
            promotion = mirrordb("promote", "-D", standby.datadir)
            assert promotion.returncode == 0, promotion.stderr
            execute(standby, "INSERT INTO t SELECT g, 'timeline 2' "
                             "FROM generate_series(3001, 4000) g", "SELECT pg_switch_wal()",
                    "INSERT INTO t VALUES (4001, 'after the switch')")
            with open(os.path.join(standby.datadir, "pg_wal", history_file_name(2))) as handle:
                switch_lsn = parse_lsn(handle.read().split("\t")[1])
            wait_for_timeline_2_segment(archive, segno_of(switch_lsn, SEGMENT_SIZE),
                                        output_path, (standby,))
        yield Promoted(standby, archive, read_text(output_path), switch_lsn)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def assert_saved_like_the_server(promoted: Promoted, archive: str) -> None:
    """Complete segments and the history file are the server's own bytes; timeline 1's
    ``.partial`` is the server's timeline-1 switch segment up to the switch point, zeros after;
    timeline 2 goes on in a ``.partial`` of the next segment."""
    switch_segno, switch_offset = promoted.switch_segno, promoted.switch_lsn % SEGMENT_SIZE
    assert switch_offset != 0, "the switch point must fall inside a segment for this test"
    names = sorted(os.listdir(archive))
    history = history_file_name(2)
    old_partial = segment_name(1, switch_segno, SEGMENT_SIZE) + ".partial"
    new_switch_segment = segment_name(2, switch_segno, SEGMENT_SIZE)
    new_partial = segment_name(2, switch_segno + 1, SEGMENT_SIZE) + ".partial"
    assert {history, old_partial, new_switch_segment, new_partial} <= set(names), names
    for name in names:
        assert name == history or os.path.getsize(os.path.join(archive, name)) == SEGMENT_SIZE
        if name.endswith(".partial"):
            continue
        assert read_bytes(os.path.join(archive, name)) == \
            read_bytes(os.path.join(promoted.waldir, name)), f"{name} differs from the server's"
    saved = read_bytes(os.path.join(archive, old_partial))
    server_copy = read_bytes(os.path.join(promoted.waldir, old_partial.removesuffix(".partial")))
    assert saved[:switch_offset] == server_copy[:switch_offset]
    assert saved[switch_offset:] == bytes(SEGMENT_SIZE - switch_offset)
    timeline_1 = [name for name in names if name.startswith("00000001") and is_segment_name(name)]
    assert timeline_1 == [segment_name(1, segno, SEGMENT_SIZE) for segno in
                          range(switch_segno - len(timeline_1), switch_segno)]


def waldump(directory: str, timeline: int, start_lsn: int, end_lsn: int) -> list[str]:
    result = subprocess.run([pg_tool("pg_waldump"), "-p", directory, "-t", str(timeline),
                             "-s", format_lsn(start_lsn), "-e", format_lsn(end_lsn)],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def waldump_lsn(lsn: int) -> str:
    """An LSN as pg_waldump prints it (the low half zero-padded)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:08X}"


def test_a_stream_from_a_standby_follows_its_promotion(promoted: Promoted, tmp_path) -> None:
    lines = streamed_lines(promoted.output)
    start_lsn = parse_lsn(lines[0].split(" at ")[1].split(" ")[0])
    assert lines == expected_lines(start_lsn, promoted.switch_lsn), promoted.output
    assert_saved_like_the_server(promoted, promoted.archive)
    assert read_bytes(os.path.join(promoted.archive, history_file_name(2))) == \
        read_bytes(os.path.join(promoted.waldir, history_file_name(2)))

    # timeline 1, read up to the switch point with the .partial under its segment's name
    # (pg_waldump opens no .partial files): it ends with the old primary's shutdown checkpoint
    timeline_1 = str(tmp_path / "timeline1")
    os.mkdir(timeline_1)
    for name in os.listdir(promoted.archive):
        if name.startswith("00000001"):
            shutil.copy(os.path.join(promoted.archive, name),
                        os.path.join(timeline_1, name.removesuffix(".partial")))
    records = waldump(timeline_1, 1, start_lsn, promoted.switch_lsn)
    first_lsn = parse_lsn(records[0].split("lsn: ")[1].split(",")[0])
    assert segno_of(first_lsn, SEGMENT_SIZE) == segno_of(start_lsn, SEGMENT_SIZE)
    assert "CHECKPOINT_SHUTDOWN" in records[-1] and "tli 1;" in records[-1]

    # timeline 2 from the switch point to the end of its first segment
    segment_end = (promoted.switch_segno + 1) * SEGMENT_SIZE
    records = waldump(promoted.archive, 2, promoted.switch_lsn, segment_end)
    assert f"lsn: {waldump_lsn(promoted.switch_lsn)}," in records[0]
    assert "END_OF_RECOVERY tli 2; prev tli 1" in records[0]
    assert "desc: SWITCH" in records[-1]


@pytest.mark.parametrize("start_from", ["timeline 1 segments", "timeline 1 partial", "slot"])
def test_a_stream_started_on_timeline_1_at_the_promoted_server_follows(
        promoted: Promoted, tmp_path, start_from: str) -> None:
    """pg_receivewal picks where to start from the newest file it finds on timeline 1 (the
    segment after the newest complete one, or the start of a .partial), or without files from
    the slot's restart_lsn (READ_REPLICATION_SLOT gives timeline 1 for it)."""
    archive = str(tmp_path / "archive")
    os.mkdir(archive)
    options: tuple[str, ...] = ()
    if start_from == "slot":
        options = ("--slot", SLOT)
        restart_lsn = parse_lsn(str(one(promoted.server, "SELECT restart_lsn FROM "
                                        f"pg_replication_slots WHERE slot_name = '{SLOT}'")))
        start_lsn = restart_lsn - restart_lsn % SEGMENT_SIZE
    else:
        with_partial = start_from == "timeline 1 partial"
        for name in os.listdir(promoted.archive):
            if name.startswith("00000001") and (is_segment_name(name) or with_partial):
                shutil.copy(os.path.join(promoted.archive, name), archive)
        start_lsn = promoted.switch_segno * SEGMENT_SIZE
    assert start_lsn < promoted.switch_lsn
    with receiving(promoted.server, archive, *options) as output_path:
        wait_for_timeline_2_segment(archive, promoted.switch_segno, output_path,
                                    (promoted.server,))
    output = read_text(output_path)
    assert streamed_lines(output) == expected_lines(start_lsn, promoted.switch_lsn), output
    assert_saved_like_the_server(promoted, archive)
