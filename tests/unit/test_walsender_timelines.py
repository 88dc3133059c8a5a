"""The walsender across a timeline switch (replication/walsender.py), BASE_BACKUP's WAL members
(replication/basebackup.py) and ``mirrordb basebackup -X stream`` following a switch
(cli/basebackup.py).

A fake server whose ``pg_wal`` holds real WAL on two timelines, laid out as a promotion leaves
it: timeline 1 from segment 1 on, switching to timeline 2 at ``SWITCH_LSN`` in segment 2; the
timeline 2 copy of segment 2 is timeline 1's bytes up to the switch point, then timeline 2's
records; ``00000002.history`` says so. Timeline 1's own file of segment 2 goes on past the switch
point with records timeline 2 does not have (an old primary that kept writing), so a test can
tell which file was read. A real ``WalSender`` runs on a thread over a socket pair, logged in by
the fake backend; the test side is the client codec (``ReplicationClient`` of cli/basebackup.py).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from mirrordb.cli.basebackup import ConnectionSettings, ReplicationClient, WalStreamer
from mirrordb.common.errors import MirrordbError
from mirrordb.common.lsn import format_lsn
from mirrordb.protocol import messages as m
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.protocol.server import ServerConnection
from mirrordb.replication import basebackup as bb
from mirrordb.replication import messages as rm
from mirrordb.replication.walsender import WalSender
from mirrordb.wal import timeline as tl
from mirrordb.wal.segment import segment_name
from mirrordb.wal.writer import WalWriter

from wal_helpers import SEGMENT_SIZE, SYSTEM_IDENTIFIER, new_writer, pad_to

SWITCH_LSN = 2 * SEGMENT_SIZE + 0x5100          # timeline 2 begins here, in segment 2
TIMELINE1_DIVERGED_END = SWITCH_LSN + 0x3000     # what timeline 1's file holds past the switch
TIMELINE2_END = 3 * SEGMENT_SIZE + 0x2200        # timeline 2 goes on into segment 3
SOCKET_TIMEOUT_S = 10.0
BACKEND_PID = 4242


# -- the WAL directory ------------------------------------------------------------------------------

@dataclass
class Cluster:
    datadir: str
    waldir: str

    def segment(self, timeline: int, segno: int) -> bytes:
        with open(os.path.join(self.waldir, segment_name(timeline, segno, SEGMENT_SIZE)),
                  "rb") as handle:
            return handle.read()

    def wal(self, timeline: int, start_lsn: int, end_lsn: int) -> bytes:
        """Bytes [start_lsn, end_lsn) from the files of ``timeline``."""
        data = b""
        lsn = start_lsn
        while lsn < end_lsn:
            segno, offset = divmod(lsn, SEGMENT_SIZE)
            take = min(end_lsn - lsn, SEGMENT_SIZE - offset)
            data += self.segment(timeline, segno)[offset:offset + take]
            lsn += take
        return data


@pytest.fixture
def cluster(tmp_path: Any) -> Cluster:
    datadir = str(tmp_path / "data")
    waldir = os.path.join(datadir, "pg_wal")
    os.makedirs(os.path.join(waldir, "archive_status"))
    old = new_writer(waldir)
    pad_to(old, SWITCH_LSN)
    last_record_lsn = old.last_record_start_lsn
    old.flush(old.end_lsn)
    pad_to(old, TIMELINE1_DIVERGED_END)
    old.flush(old.end_lsn)
    old.close()
    with open(os.path.join(waldir, segment_name(1, 2, SEGMENT_SIZE)), "rb") as handle:
        before_switch = handle.read(SWITCH_LSN % SEGMENT_SIZE)
    with open(os.path.join(waldir, segment_name(2, 2, SEGMENT_SIZE)), "wb") as handle:
        handle.write(before_switch + bytes(SEGMENT_SIZE - len(before_switch)))
    new = WalWriter(waldir, segment_size=SEGMENT_SIZE, system_identifier=SYSTEM_IDENTIFIER,
                    timeline=2)
    new.start_at(SWITCH_LSN, last_record_lsn)
    pad_to(new, TIMELINE2_END)
    new.flush(new.end_lsn)
    new.close()
    tl.write_history(waldir, 2, tl.child_history_content(None, 1, SWITCH_LSN))
    built = Cluster(datadir, waldir)
    assert built.wal(1, 2 * SEGMENT_SIZE, SWITCH_LSN) == built.wal(2, 2 * SEGMENT_SIZE, SWITCH_LSN)
    assert built.wal(1, SWITCH_LSN, SWITCH_LSN + 0x1000) != \
        built.wal(2, SWITCH_LSN, SWITCH_LSN + 0x1000)
    return built


# -- the fake server -----------------------------------------------------------------------------------

@dataclass
class FakeWal:
    timeline: int
    flush_lsn: int
    segment_size: int = SEGMENT_SIZE
    listeners: list[Any] = field(default_factory=list)

    def add_flush_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def remove_flush_listener(self, listener: Any) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)


class FakeSettings:
    def get_int(self, name: str) -> int:
        assert name == "wal_sender_timeout"
        return 60_000


class FakeSlots:
    def __init__(self, restart_lsn: int) -> None:
        self.slot = SimpleNamespace(slot_type="physical", restart_lsn=restart_lsn)
        self.holder: int | None = None

    def get(self, name: str) -> Any:
        return self.slot if name == "s" else None

    def acquire(self, name: str, pid: int) -> None:
        if name != "s":
            raise MirrordbError(f'replication slot "{name}" does not exist', sqlstate="42704")
        self.holder = pid

    def release(self, name: str, pid: int) -> None:
        self.holder = None

    def release_all_for(self, pid: int) -> None:
        self.holder = None

    def update_restart_lsn(self, name: str, lsn: int) -> None:
        self.slot.restart_lsn = lsn


class FakeBackend:
    """What WalSender uses of server/backend.py's Backend, after a trust login."""

    def __init__(self, server: Any, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.connection = ServerConnection()
        self.pid = BACKEND_PID
        self.session = None
        self.interrupts = None
        self.info = SimpleNamespace(query="", state="idle", walsender=None, backend_type="",
                                    application_name="walsender_test")

    def _next_message(self) -> Any:
        while True:
            event = self.connection.next_event()
            if event is not None:
                return event
            self.connection.receive_data(self.sock.recv(65536))

    def serve(self) -> None:
        startup = self._next_message()
        assert isinstance(startup, m.StartupMessage)
        self.connection.authentication_done()
        self.connection.send(m.AuthenticationOk(), m.BackendKeyData(BACKEND_PID, 1),
                             m.ReadyForQuery("I"))
        self.sock.sendall(self.connection.data_to_send())
        WalSender(self).run()


@dataclass
class Server:
    cluster: Cluster
    wal: FakeWal
    slots: FakeSlots
    threads: list[threading.Thread] = field(default_factory=list)
    clients: list[socket.socket] = field(default_factory=list)
    walsenders: list[socket.socket] = field(default_factory=list)

    def engine(self) -> Any:
        control = SimpleNamespace(system_identifier=SYSTEM_IDENTIFIER, xlog_seg_size=SEGMENT_SIZE)
        return SimpleNamespace(datadir=self.cluster.datadir, wal=self.wal, control=control,
                               in_recovery=lambda: False)

    def connect(self) -> ReplicationClient:
        ours, theirs = socket.socketpair()
        self.clients.append(ours)
        self.walsenders.append(theirs)
        server = SimpleNamespace(engine=self.engine(), settings=FakeSettings(), slots=self.slots)
        thread = threading.Thread(target=FakeBackend(server, theirs).serve, daemon=True,
                                  name="walsender")
        thread.start()
        self.threads.append(thread)
        ours.settimeout(SOCKET_TIMEOUT_S)
        return ReplicationClient(ConnectionSettings("fake", 0, "replicator"), sock=ours)


@pytest.fixture
def server(cluster: Cluster) -> Iterator[Server]:
    running = Server(cluster, FakeWal(timeline=2, flush_lsn=TIMELINE2_END),
                     FakeSlots(restart_lsn=SEGMENT_SIZE))
    yield running
    for sock in running.clients:     # each walsender sees the end of its input and returns
        sock.close()
    for thread in running.threads:
        thread.join(SOCKET_TIMEOUT_S)
        assert not thread.is_alive()
    for sock in running.walsenders:
        sock.close()


# -- the client side -------------------------------------------------------------------------------

def next_event(client: ReplicationClient) -> Any:
    """The next backend message, ErrorResponse included (socket timeout: the test fails)."""
    while True:
        event = client.protocol.next_event()
        if event is not None:
            assert not isinstance(event, ConnectionClosed)
            return event
        client.protocol.receive_data(client.sock.recv(262144))


def run(client: ReplicationClient, command: str) -> list[Any]:
    """Every message answering ``command`` up to ReadyForQuery."""
    client.send(m.Query(command))
    return messages_until_ready(client)


def messages_until_ready(client: ReplicationClient) -> list[Any]:
    messages = [next_event(client)]
    while not isinstance(messages[-1], m.ReadyForQuery):
        messages.append(next_event(client))
    return messages


def error_of(messages: list[Any]) -> m.ErrorResponse:
    assert [type(message) for message in messages] == [m.ErrorResponse, m.ReadyForQuery]
    return messages[0]


@dataclass
class Streamed:
    """What a START_REPLICATION sent inside CopyBoth, up to the server's CopyDone."""

    start_lsn: int
    data: bytes
    wal_ends: list[int]

    @property
    def end_lsn(self) -> int:
        return self.start_lsn + len(self.data)


def receive_wal(client: ReplicationClient, start_lsn: int, until_lsn: int | None = None) -> \
        tuple[Streamed, Any]:
    """XLogData from ``start_lsn`` on, checked contiguous, until the server's CopyDone (or,
    with ``until_lsn``, once that much arrived); returns it and the message that ended it."""
    data, wal_ends = bytearray(), []
    while until_lsn is None or start_lsn + len(data) < until_lsn:
        message = next_event(client)
        if not isinstance(message, m.CopyData):
            return Streamed(start_lsn, bytes(data), wal_ends), message
        decoded = rm.decode_primary_message(message.data)
        if isinstance(decoded, rm.XLogData):
            assert decoded.data_start_lsn == start_lsn + len(data)
            data += decoded.data
            wal_ends.append(decoded.wal_end_lsn)
    return Streamed(start_lsn, bytes(data), wal_ends), None


def client_copy_done(client: ReplicationClient, flushed_lsn: int) -> list[Any]:
    """A status update, then the client's CopyDone; what the server sends up to ReadyForQuery."""
    client.send(m.CopyData(rm.StandbyStatusUpdate(flushed_lsn, flushed_lsn, 0,
                                                  rm.pg_timestamp_now(), False).encode()),
                m.CopyDone())
    return messages_until_ready(client)


def end_of_timeline_messages(next_tli: int, switch_lsn: int) -> list[Any]:
    fields = (m.FieldDescription("next_tli", 0, 0, 20, 8, -1, 0),
              m.FieldDescription("next_tli_startpos", 0, 0, 25, -1, -1, 0))
    return [m.RowDescription(fields),
            m.DataRow((str(next_tli).encode(), format_lsn(switch_lsn).encode())),
            m.CommandComplete("START_STREAMING"), m.CommandComplete("START_REPLICATION"),
            m.ReadyForQuery("I")]


# -- START_REPLICATION -------------------------------------------------------------------------------

def test_a_timeline_not_in_the_history_is_refused_before_copy_both(server: Server) -> None:
    client = server.connect()
    error = error_of(run(client, "START_REPLICATION 0/100000 TIMELINE 3"))
    assert (error.sqlstate, error.message) == (
        "XX000", "requested timeline 3 is not in this server's history")
    error = error_of(run(client, 'START_REPLICATION SLOT "nope" 0/100000 TIMELINE 3'))
    assert error.sqlstate == "42704"     # the slot is looked at first, as PostgreSQL does
    assert server.slots.holder is None


def test_a_start_past_the_switch_point_is_refused_with_where_the_history_forked(
        server: Server) -> None:
    client = server.connect()
    start = SWITCH_LSN + 8
    error = error_of(run(client, f'START_REPLICATION SLOT "s" {format_lsn(start)} TIMELINE 1'))
    assert error.sqlstate == "XX000"
    assert error.message == (f"requested starting point {format_lsn(start)} on timeline 1 is "
                             "not in this server's history")
    assert error.detail == (f"This server's history forked from timeline 1 at "
                            f"{format_lsn(SWITCH_LSN)}.")
    assert server.slots.holder is None      # released again


def test_a_start_at_the_switch_point_gets_the_next_timeline_without_copy_both(
        server: Server) -> None:
    client = server.connect()
    messages = run(client, f"START_REPLICATION {format_lsn(SWITCH_LSN)} TIMELINE 1")
    assert messages == end_of_timeline_messages(2, SWITCH_LSN)
    encoded = messages[0].encode()
    assert encoded[5:7] == b"\x00\x02" and b"next_tli\x00" + bytes(6) + \
        b"\x00\x00\x00\x14\x00\x08\xff\xff\xff\xff\x00\x00" in encoded
    assert run(client, "IDENTIFY_SYSTEM")[1].values[1] == b"2"     # still usable


def test_a_historic_timeline_streams_up_to_its_switch_point_then_ends(
        server: Server, cluster: Cluster) -> None:
    client = server.connect()
    client.send(m.Query(f"START_REPLICATION 0/{SEGMENT_SIZE:X} TIMELINE 1"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    streamed, ended_by = receive_wal(client, SEGMENT_SIZE)
    assert ended_by == m.CopyDone()
    assert streamed.end_lsn == SWITCH_LSN      # not a byte of timeline 1 past it
    assert streamed.data == cluster.wal(1, SEGMENT_SIZE, SWITCH_LSN)
    assert set(streamed.wal_ends) == {SWITCH_LSN}
    assert client_copy_done(client, SWITCH_LSN) == end_of_timeline_messages(2, SWITCH_LSN)
    # and the client goes on with the next timeline from the switch segment's start
    client.send(m.Query(f"START_REPLICATION 0/{2 * SEGMENT_SIZE:X} TIMELINE 2"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    streamed, _ = receive_wal(client, 2 * SEGMENT_SIZE, until_lsn=TIMELINE2_END)
    assert streamed.data == cluster.wal(2, 2 * SEGMENT_SIZE, TIMELINE2_END)
    assert client_copy_done(client, TIMELINE2_END) == [
        m.CopyDone(), m.CommandComplete("START_STREAMING"),
        m.CommandComplete("START_REPLICATION"), m.ReadyForQuery("I")]


def test_the_switch_segment_is_read_from_the_new_timelines_file(
        server: Server, cluster: Cluster) -> None:
    client = server.connect()
    start = SWITCH_LSN - 0x100
    client.send(m.Query(f"START_REPLICATION {format_lsn(start)}"))    # current: timeline 2
    assert isinstance(next_event(client), m.CopyBothResponse)
    streamed, _ = receive_wal(client, start, until_lsn=3 * SEGMENT_SIZE)
    assert streamed.data == cluster.wal(2, start, 3 * SEGMENT_SIZE)
    assert streamed.data[0x100:0x1100] != cluster.wal(1, SWITCH_LSN, SWITCH_LSN + 0x1000)
    client_copy_done(client, 3 * SEGMENT_SIZE)


def test_without_the_new_timelines_copy_the_old_file_serves_up_to_the_switch(
        server: Server, cluster: Cluster) -> None:
    os.unlink(os.path.join(cluster.waldir, segment_name(2, 2, SEGMENT_SIZE)))
    client = server.connect()
    client.send(m.Query(f"START_REPLICATION 0/{2 * SEGMENT_SIZE:X} TIMELINE 1"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    streamed, ended_by = receive_wal(client, 2 * SEGMENT_SIZE)
    assert ended_by == m.CopyDone() and streamed.end_lsn == SWITCH_LSN
    assert streamed.data == cluster.wal(1, 2 * SEGMENT_SIZE, SWITCH_LSN)
    client_copy_done(client, SWITCH_LSN)


def test_a_missing_segment_is_named_after_its_likeliest_timeline(
        server: Server, cluster: Cluster) -> None:
    client = server.connect()
    client.send(m.Query("START_REPLICATION 0/0 TIMELINE 2"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    error = error_of(messages_until_ready(client))
    assert (error.sqlstate, error.message) == (
        "58P01", "requested WAL segment 000000010000000000000000 has already been removed")
    os.unlink(os.path.join(cluster.waldir, segment_name(2, 2, SEGMENT_SIZE)))
    os.unlink(os.path.join(cluster.waldir, segment_name(1, 2, SEGMENT_SIZE)))
    client.send(m.Query(f"START_REPLICATION 0/{2 * SEGMENT_SIZE:X} TIMELINE 1"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    error = error_of(messages_until_ready(client))
    assert error.message == ("requested WAL segment 000000020000000000000002 has already been "
                             "removed")


def test_the_client_ending_the_current_timeline_gets_copy_done_and_two_completions(
        server: Server) -> None:
    client = server.connect()
    client.send(m.Query(f"START_REPLICATION 0/{3 * SEGMENT_SIZE:X} TIMELINE 2"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    receive_wal(client, 3 * SEGMENT_SIZE, until_lsn=TIMELINE2_END)
    assert client_copy_done(client, TIMELINE2_END) == [
        m.CopyDone(), m.CommandComplete("START_STREAMING"),
        m.CommandComplete("START_REPLICATION"), m.ReadyForQuery("I")]


def test_the_client_ending_a_historic_timeline_early_still_learns_the_next_one(
        server: Server) -> None:
    client = server.connect()
    client.send(m.Query(f"START_REPLICATION 0/{SEGMENT_SIZE:X} TIMELINE 1"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    receive_wal(client, SEGMENT_SIZE, until_lsn=SEGMENT_SIZE + 1)
    messages = client_copy_done(client, SEGMENT_SIZE)
    while isinstance(messages[0], m.CopyData):       # chunks already on their way
        messages.pop(0)
    assert messages == [m.CopyDone()] + end_of_timeline_messages(2, SWITCH_LSN)


def test_a_standby_whose_replay_moves_to_a_new_timeline_ends_the_old_one(
        server: Server, cluster: Cluster) -> None:
    server.wal.timeline, server.wal.flush_lsn = 1, SWITCH_LSN - 0x1000
    client = server.connect()
    client.send(m.Query(f"START_REPLICATION 0/{SEGMENT_SIZE:X} TIMELINE 1"))
    assert isinstance(next_event(client), m.CopyBothResponse)
    first, _ = receive_wal(client, SEGMENT_SIZE, until_lsn=SWITCH_LSN - 0x1000)
    assert first.data == cluster.wal(1, SEGMENT_SIZE, SWITCH_LSN - 0x1000)
    # replay crosses the switch (and more is flushed): timeline 1 now ends at the switch point
    server.wal.timeline = 2
    server.wal.flush_lsn = TIMELINE2_END
    rest, ended_by = receive_wal(client, SWITCH_LSN - 0x1000)
    assert ended_by == m.CopyDone() and rest.end_lsn == SWITCH_LSN
    assert rest.data == cluster.wal(2, SWITCH_LSN - 0x1000, SWITCH_LSN)
    assert client_copy_done(client, SWITCH_LSN) == end_of_timeline_messages(2, SWITCH_LSN)


# -- the other commands -------------------------------------------------------------------------------

def test_timeline_history_sends_the_file_or_58p01(server: Server, cluster: Cluster) -> None:
    client = server.connect()
    messages = run(client, "TIMELINE_HISTORY 2")
    with open(os.path.join(cluster.waldir, "00000002.history"), "rb") as handle:
        content = handle.read()
    assert messages[1:] == [m.DataRow((b"00000002.history", content)),
                            m.CommandComplete("TIMELINE_HISTORY"), m.ReadyForQuery("I")]
    assert [(f.name, f.type_oid, f.type_size, f.type_modifier) for f in messages[0].fields] == [
        ("filename", 25, -1, 0), ("content", 25, -1, 0)]
    for timeline in (1, 3):
        error = error_of(run(client, f"TIMELINE_HISTORY {timeline}"))
        assert (error.sqlstate, error.message) == (
            "58P01", f'could not open file "pg_wal/{timeline:08X}.history": No such file or '
                     "directory")


def test_identify_system_and_the_slot_report_timelines_from_the_history(server: Server) -> None:
    client = server.connect()
    assert run(client, "IDENTIFY_SYSTEM")[1].values[1:3] == (
        b"2", format_lsn(TIMELINE2_END).encode())
    assert run(client, 'READ_REPLICATION_SLOT "s"')[1].values == (
        b"physical", format_lsn(SEGMENT_SIZE).encode(), b"1")
    server.slots.slot.restart_lsn = SWITCH_LSN
    assert run(client, 'READ_REPLICATION_SLOT "s"')[1].values[2] == b"2"


# -- BASE_BACKUP with WAL ----------------------------------------------------------------------------

def backup_engine(cluster: Cluster, timeline: int = 2) -> Any:
    return SimpleNamespace(datadir=cluster.datadir, wal=SimpleNamespace(timeline=timeline),
                           control=SimpleNamespace(xlog_seg_size=SEGMENT_SIZE))


def test_backup_wal_takes_each_segment_by_the_history_and_every_history_file(
        cluster: Cluster) -> None:
    tl.write_history(cluster.waldir, 3, b"1\t0/1\tx\n\n2\t0/FFFFFFFF\tx\n")   # present: sent too
    start = bb.BackupStart(SWITCH_LSN - 0x100, SWITCH_LSN - 0x100, 1, 0.0)
    members = [member.path for member in bb._wal_members(backup_engine(cluster), start,
                                                           TIMELINE2_END)]
    assert members == ["pg_wal/000000020000000000000002", "pg_wal/000000020000000000000003",
                       "pg_wal/00000002.history", "pg_wal/00000003.history"]
    start = bb.BackupStart(SEGMENT_SIZE, SEGMENT_SIZE, 1, 0.0)
    members = [member.path for member in bb._wal_members(backup_engine(cluster), start,
                                                           SWITCH_LSN)]
    assert members[:2] == ["pg_wal/000000010000000000000001", "pg_wal/000000020000000000000002"]


def test_backup_wal_names_a_missing_segment_after_its_likeliest_timeline(
        cluster: Cluster) -> None:
    os.unlink(os.path.join(cluster.waldir, segment_name(2, 3, SEGMENT_SIZE)))
    start = bb.BackupStart(SWITCH_LSN, SWITCH_LSN, 2, 0.0)
    with pytest.raises(MirrordbError, match='could not find WAL file "000000020000000000000003"'):
        list(bb._wal_members(backup_engine(cluster), start, TIMELINE2_END))


# -- mirrordb basebackup -X stream ----------------------------------------------------------------

def streamer_target(tmp_path: Any) -> str:
    waldir = str(tmp_path / "backup" / "pg_wal")
    os.makedirs(os.path.join(waldir, "archive_status"))
    return waldir


def new_streamer(server: Server, waldir: str, start_lsn: int, timeline: int) -> WalStreamer:
    """``mirrordb basebackup``'s WAL streamer, logged in to the test server."""
    return WalStreamer(ConnectionSettings("fake", 0, "replicator"), waldir, start_lsn, timeline,
                       SEGMENT_SIZE, slot=None, create_temporary_slot=False,
                       client=server.connect())


def test_the_streamer_fetches_the_start_timelines_history(
        server: Server, cluster: Cluster, tmp_path: Any) -> None:
    waldir = streamer_target(tmp_path)
    streamer = new_streamer(server, waldir, SWITCH_LSN, 2)
    streamer.start()
    streamer.stop_at(TIMELINE2_END)
    with open(os.path.join(waldir, "00000002.history"), "rb") as handle:
        assert handle.read() == tl.child_history_content(None, 1, SWITCH_LSN)
    assert os.path.exists(os.path.join(waldir, "archive_status", "00000002.history.done"))
    with open(os.path.join(waldir, segment_name(2, 2, SEGMENT_SIZE)), "rb") as handle:
        assert handle.read() == cluster.segment(2, 2)


def test_the_streamer_follows_the_servers_switch_to_the_next_timeline(
        server: Server, cluster: Cluster, tmp_path: Any) -> None:
    waldir = streamer_target(tmp_path)
    streamer = new_streamer(server, waldir, SEGMENT_SIZE, 1)
    streamer.start()
    streamer.stop_at(TIMELINE2_END)
    assert streamer.timeline == 2 and streamer.written_lsn >= TIMELINE2_END
    assert sorted(os.listdir(waldir)) == sorted([
        "00000002.history", "000000010000000000000001", "000000010000000000000002",
        "000000020000000000000002", "000000020000000000000003", "archive_status"])
    with open(os.path.join(waldir, "000000010000000000000002"), "rb") as handle:
        old_copy = handle.read()
    assert old_copy[:SWITCH_LSN % SEGMENT_SIZE] == cluster.wal(1, 2 * SEGMENT_SIZE, SWITCH_LSN)
    assert not any(old_copy[SWITCH_LSN % SEGMENT_SIZE:])
    with open(os.path.join(waldir, "000000020000000000000002"), "rb") as handle:
        assert handle.read() == cluster.segment(2, 2)
    assert sorted(os.listdir(os.path.join(waldir, "archive_status"))) == sorted([
        "00000002.history.done", "000000010000000000000001.done",
        "000000020000000000000002.done"])


def test_the_streamer_refuses_a_next_timeline_that_does_not_move_on(
        server: Server, tmp_path: Any) -> None:
    waldir = streamer_target(tmp_path)
    streamer = new_streamer(server, waldir, SEGMENT_SIZE, 1)
    streamer.client.send(m.Query(f"START_REPLICATION {format_lsn(SWITCH_LSN)} TIMELINE 1"))
    assert isinstance(streamer.client.next_message(), m.RowDescription)
    streamer.timeline = 3     # the server's answer (next timeline 2) is then not newer
    with pytest.raises(MirrordbError, match="server reported unexpected next timeline 2, "
                                            "following timeline 3"):
        streamer._follow_next_timeline()
