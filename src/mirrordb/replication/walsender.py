"""The walsender: serves one physical replication connection (``replication=true``).

Who calls it: server/backend.py, once a replication connection has authenticated and got its
ReadyForQuery, runs ``WalSender(backend).run()`` on the connection's own thread (renamed
"walsender"). The other half is a standby's walreceiver (replication/walreceiver.py), the real
PostgreSQL walreceiver, ``pg_receivewal`` or ``pg_basebackup``.

Lifecycle: ``run()`` reads simple Query messages until Terminate or EOF. Each one is a replication
command (replication/commands.py: PostgreSQL 15's grammar) answered with PostgreSQL 15's result
columns, then ReadyForQuery. An error in a command is an ErrorResponse and the connection carries
on. START_REPLICATION switches the connection to CopyBoth and streams (below) until the client
sends CopyDone (we answer CopyDone, ``C START_STREAMING``, ``C START_REPLICATION``), the client
goes away, ``wal_sender_timeout`` passes without a reply (the connection is dropped), the backend
is terminated, or the server shuts down. BASE_BACKUP hands the connection to
replication/basebackup.py's ``run_base_backup``.

Streaming (PostgreSQL's WalSndLoop): only WAL that is durable here is sent (``flush_position``:
on a primary what its WAL writer flushed; on a standby, cascading, what its walreceiver flushed
while that is on the timeline replay is on, else what replay reached), read from
the segment files in ``pg_wal`` as XLogData messages of at most 128 KiB that never cross a segment
boundary (when more is waiting a chunk ends on a page boundary). Each segment is read from the
first file that exists among the timelines the server's history gives for it, newest first
(wal/timeline.py ``segment_timelines``): the segment holding a switch point exists under both
timeline IDs and the child's copy is the one that goes on past it. The thread sleeps in poll() on
the client socket and a wake-up socket pair; the WAL writer's flush listener writes a byte to the
pair, so new WAL goes out as soon as it is durable (on a standby the walreceiver calls the same
listeners after each flush). Replies are read between chunks: a standby
status update ('r') records write/flush/apply positions, lags and reply time for
pg_stat_replication and moves the slot's restart_lsn up to the flush position; hot standby
feedback ('h') sets the slot's xmin (or the walsender's own ``backend_xmin`` without a slot,
which ``WalSenderHorizon`` adds to VACUUM's horizon).
When the client has been silent for half of ``wal_sender_timeout`` a keepalive asks for a reply.

Synchronous replication (replication/syncrep.py, ``server.syncrep``): each walsender holds a slot
in the server's ``SyncRep`` for the life of the connection; at START_REPLICATION, whenever the
configuration changes and when its server is promoted it sets its ``sync_standby_priority`` from
its application_name (0 while serving from a standby: no synchronous cascading), and after every
status update, and when it first catches up, it lets ``SyncRep.release_waiters`` wake the commits
its standby confirmed.

Timelines: the server's history is its current timeline's history file (``engine.wal.timeline``:
the timeline a primary writes, or the one a standby's replay is on). START_REPLICATION of an
older timeline of that history streams it only up to its switch point; then the walsender sends
CopyDone, takes the client's replies until the client's CopyDone, and answers with the
one-row result set (next_tli, next_tli_startpos) before the two CommandCompletes. A start
exactly at the switch point gets that result set at once, without CopyBoth. A timeline not in the
history, or a start past the requested timeline's switch point, is refused before CopyBoth. A
standby's walsender streaming its current timeline notices, once per loop round, that replay
moved to a newer one: its timeline has then become historic and ends the same way.

States (``WalSenderState``, pg_stat_replication.state), with the allowed moves in ``TRANSITIONS``:
startup (commands) -> catchup (streaming, behind the flush position) -> streaming (caught up once)
-> stopping (server shutdown); backup while BASE_BACKUP runs, then startup again.

Shutdown (PostgreSQL's WalSndDone): the postmaster, once every ordinary backend has left and the
shutdown checkpoint is written and flushed, calls ``stop_walsenders(server, timeout_s)``. Each
streaming walsender then sends all WAL up to the flush position (so up to and including the
shutdown checkpoint record), a keepalive with reply requested, waits until the client reports that
position written/flushed (at most ``wal_sender_timeout``), sends ``C "COPY 0"`` without CopyDone
and closes. A terminate request that arrives while the server shuts down is not acted on until
then, if the postmaster says it will call ``stop_walsenders`` (``server.walsenders_stop_after_
checkpoint``); otherwise the walsender sends what is flushed and exits at once.

Shared state: each walsender's ``WalSenderStatus`` hangs on its BackendInfo as ``info.walsender``;
it is written by the walsender thread only (plain attribute writes) and read by
pg_stat_replication (``pg_stat_replication_rows``) and ``stop_walsenders``.
"""

from __future__ import annotations

import datetime
import enum
import logging
import os
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mirrordb.common.errors import (
    AdminShutdown,
    MirrordbError,
    ObjectNotInPrerequisiteState,
    ProtocolViolation,
    invariant,
)
from mirrordb.common.lsn import format_lsn
from mirrordb.protocol import messages as m
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.replication import commands as rc
from mirrordb.replication import messages as rm
from mirrordb.wal import timeline as tl
from mirrordb.wal.segment import (
    WAL_PAGE_SIZE,
    history_file_name,
)

log = logging.getLogger("mirrordb")

TEXT_OID, INT4_OID, INT8_OID = 25, 23, 20
RECEIVE_BYTES = 256 * 1024            # most bytes read from the client at once
POLL_INTERVAL_S = 0.1                 # longest sleep before looking at interrupts again
SEND_RETRY_LIMIT = 10_000             # short-write retries of one message before giving up
LAG_SAMPLES_LIMIT = 8192              # (lsn, time) samples kept for the lag columns
SLOT_WAIT_POLL_S = 0.1                # DROP_REPLICATION_SLOT ... WAIT polls this often
DEFAULT_STOP_WAIT_S = 10.0            # shutdown wait for the last reply when the timeout is 0
UTC = datetime.timezone.utc


class WalSenderState(enum.Enum):
    STARTUP = "startup"
    CATCHUP = "catchup"
    STREAMING = "streaming"
    BACKUP = "backup"
    STOPPING = "stopping"


S = WalSenderState
TRANSITIONS: dict[WalSenderState, frozenset[WalSenderState]] = {
    S.STARTUP: frozenset({S.CATCHUP, S.BACKUP, S.STOPPING}),
    S.CATCHUP: frozenset({S.STREAMING, S.STARTUP, S.STOPPING}),
    S.STREAMING: frozenset({S.STARTUP, S.STOPPING}),
    S.BACKUP: frozenset({S.STARTUP, S.STOPPING}),
    S.STOPPING: frozenset(),
}


class ReplicationTimeout(MirrordbError):
    """No reply from the client within wal_sender_timeout: the walsender drops the connection."""

    sqlstate = "08006"


@dataclass
class WalSenderStatus:
    """One walsender as pg_stat_replication shows it (``info.walsender``; see module docstring)."""

    state: WalSenderState = WalSenderState.STARTUP
    sent_lsn: int = 0
    write_lsn: int = 0
    flush_lsn: int = 0
    apply_lsn: int = 0
    write_lag_s: float | None = None
    flush_lag_s: float | None = None
    apply_lag_s: float | None = None
    reply_time: datetime.datetime | None = None
    backend_xmin: int = 0
    slot_name: str | None = None
    application_name: str = ""
    sync_standby_priority: int = 0     # replication/syncrep.py; 0: asynchronous
    sync_slot: int = -1                # this walsender's slot in the server's SyncRep
    # (SyncRep configuration generation, serving from a standby) the priority was computed for
    sync_priority_basis: tuple[int, bool] | None = None
    announce_next_takeover: bool = True
    stop_requested: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    wake: Any = None                   # callable waking the walsender's poll()

    def move_to(self, new_state: WalSenderState) -> None:
        if new_state is self.state:
            return
        invariant(new_state in TRANSITIONS[self.state],
                  f"illegal walsender transition {self.state.name} -> {new_state.name}")
        self.state = new_state


class LagTracker:
    """When each LSN was sent, so a reply for position X tells how long X took to come back.

    Samples are (end LSN, monotonic time) in LSN order, at most LAG_SAMPLES_LIMIT; when full the
    newest sample is replaced (lags then read a little high, never low).
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[int, float]] = deque()
        self._last: dict[str, float | None] = {"write": None, "flush": None, "apply": None}
        self._passed: dict[str, int] = {"write": 0, "flush": 0, "apply": 0}

    def sent(self, end_lsn: int, now: float) -> None:
        if len(self._samples) >= LAG_SAMPLES_LIMIT:
            self._samples.pop()
        self._samples.append((end_lsn, now))

    def reply(self, which: str, lsn: int, now: float) -> float | None:
        """The lag of position ``which`` ('write', 'flush', 'apply') now at ``lsn``."""
        newest: float | None = None
        for sample_lsn, sent_at in self._samples:
            if sample_lsn > lsn:
                break
            if sample_lsn > self._passed[which]:
                newest = sent_at
        if newest is not None:
            self._passed[which] = lsn
            self._last[which] = now - newest
        self._forget_passed()
        return self._last[which]

    def _forget_passed(self) -> None:
        oldest = min(self._passed.values())
        while self._samples and self._samples[0][0] <= oldest:
            self._samples.popleft()

    def reset(self) -> None:
        self._last = dict.fromkeys(self._last)


def _text_field(name: str, type_modifier: int = -1) -> m.FieldDescription:
    return m.FieldDescription(name, 0, 0, TEXT_OID, -1, type_modifier, 0)


def _int_field(name: str, type_oid: int, size: int, type_modifier: int = -1) -> m.FieldDescription:
    return m.FieldDescription(name, 0, 0, type_oid, size, type_modifier, 0)


IDENTIFY_SYSTEM_FIELDS = (_text_field("systemid"), _int_field("timeline", INT4_OID, 4),
                          _text_field("xlogpos"), _text_field("dbname"))
TIMELINE_HISTORY_FIELDS = (_text_field("filename", 0), _text_field("content", 0))
CREATE_SLOT_FIELDS = (_text_field("slot_name"), _text_field("consistent_point"),
                      _text_field("snapshot_name"), _text_field("output_plugin"))
READ_SLOT_FIELDS = (_text_field("slot_type"), _text_field("restart_lsn"),
                    _int_field("restart_tli", INT8_OID, 8))
END_OF_TIMELINE_FIELDS = (_int_field("next_tli", INT8_OID, 8), _text_field("next_tli_startpos"))


@dataclass(frozen=True, slots=True)
class TimelineEnd:
    """Where a historic timeline stops in this server's history: ``switch_lsn`` is the first
    byte of ``next_tli`` (the last byte streamed on the old timeline + 1)."""

    switch_lsn: int
    next_tli: int


def _text(value: object | None) -> bytes | None:
    return None if value is None else str(value).encode()


def _removed(segment_file_name: str) -> MirrordbError:
    return MirrordbError(f"requested WAL segment {segment_file_name} has already been removed",
                         sqlstate="58P01")


class WalSender:
    """One replication connection (see the module docstring)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.server = backend.server
        self.connection = backend.connection
        self.sock: socket.socket = backend.sock
        self.status = WalSenderStatus()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.status.wake = self._wake
        self._segment_fd: int | None = None
        self._segment_key: tuple[int, int] | None = None    # (segno, history's timeline)
        self._segment_name = ""
        self._history: tl.History = ()
        self._history_tli = 0                                # the timeline _history is of
        self._slot_name: str | None = None
        self._lag = LagTracker()
        self._caught_up_replies = 0
        if getattr(backend, "info", None) is not None:
            backend.info.walsender = self.status
            backend.info.backend_type = "walsender"
            self.status.application_name = str(getattr(backend.info, "application_name", ""))
        self.sync_rep = getattr(self.server, "syncrep", None)
        if self.sync_rep is not None:
            self.status.sync_slot = self.sync_rep.register_walsender(self.status)

    # -- engine access -----------------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        return self.server.engine

    @property
    def slots(self) -> Any:
        slots = getattr(self.server, "slots", None)
        if slots is None:
            raise ObjectNotInPrerequisiteState("replication slots are not available on this "
                                               "server", sqlstate="55000")
        return slots

    def timeline(self) -> int:
        return int(self.engine.wal.timeline)

    @property
    def waldir(self) -> str:
        return os.path.join(self.engine.datadir, "pg_wal")

    def history(self) -> tl.History:
        """The server's history: its current timeline's file, read again only when the
        timeline changed (promotion, or a standby's replay crossing a switch)."""
        current = self.timeline()
        if current != self._history_tli:
            self._history = tl.read_history(self.waldir, current)
            self._history_tli = current
        return self._history

    def timeline_end(self, timeline: int) -> TimelineEnd:
        """Where ``timeline``, older than the current one, ends in the server's history;
        XX000 "requested timeline N is not in this server's history" if it is not in it."""
        switch_lsn, next_tli = tl.switch_point(timeline, self.history())
        invariant(switch_lsn is not None, f"timeline {timeline} is not older than the current "
                                          f"timeline {self._history_tli}")
        assert switch_lsn is not None   # for the type checker; the invariant holds under -O
        return TimelineEnd(switch_lsn, next_tli)

    def flush_position(self) -> int:
        """What may be sent: a primary's flush position. A standby (cascading) sends what its
        walreceiver flushed while that is on the timeline replay is on, else only what it
        replayed (PostgreSQL's GetStandbyFlushRecPtr): WAL of a newer timeline goes out only
        once replay has crossed the switch and the old timeline has ended."""
        engine = self.engine
        if not engine.in_recovery():
            return int(engine.wal.flush_lsn)
        startup = engine.startup
        replayed = int(startup.state.last_replayed_end_lsn) if startup is not None else 0
        receiver = getattr(self.server, "walreceiver", None)
        if receiver is not None and receiver.writer.timeline == engine.wal.timeline:
            return max(replayed, int(receiver.status.flushed_lsn))
        return replayed

    def flush(self) -> None:
        """Send what the codec buffered (BASE_BACKUP's ``walsender.flush()``)."""
        self._send_all(self.connection.data_to_send())

    # -- the command loop ----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._command_loop()
        finally:
            self._finish()

    def _command_loop(self) -> None:
        while True:
            message = self.backend._next_message()
            if isinstance(message, (m.Terminate, ConnectionClosed)):
                return
            if not isinstance(message, m.Query):
                raise ProtocolViolation(f"invalid frontend message type {message.type_byte[0]}"
                                        if hasattr(message, "type_byte") else
                                        "invalid frontend message")
            if self._run_command(message.sql) is False:
                return
            self.connection.send(m.ReadyForQuery("I"))
            self.flush()

    def _run_command(self, text: str) -> bool:
        """Run one command; False when the connection must end (shutdown after streaming)."""
        self.backend.info.query = text
        try:
            command = rc.parse_command(text)
            handler = COMMAND_HANDLERS[type(command)]
            return handler(self, command) is not False
        except (AdminShutdown, ReplicationTimeout):
            raise
        except ProtocolViolation as violation:
            if violation.fatal:
                raise
            self._send_error(violation)
        except MirrordbError as error:
            self._send_error(error)
        return True

    def _send_error(self, error: MirrordbError) -> None:
        if self.connection.phase.name == "COPY_BOTH":
            self.connection.end_copy_both()
        self.connection.send(m.error_from_exception(error, "ERROR"))

    def _finish(self) -> None:
        slots = getattr(self.server, "slots", None)
        if slots is not None and self.backend.pid:
            try:
                slots.release_all_for(self.backend.pid)
            except MirrordbError:
                log.exception("could not release the replication slots of a walsender")
        self._remove_flush_listener()
        self._close_segment()
        if self.sync_rep is not None:
            self.sync_rep.unregister_walsender(self.status)
        self.status.finished.set()
        for sock in (self._wake_reader, self._wake_writer):
            sock.close()

    # -- simple commands -----------------------------------------------------------------------------

    def identify_system(self, command: rc.IdentifySystem) -> None:
        control = self.engine.control
        self._send_result(IDENTIFY_SYSTEM_FIELDS,
                          [(_text(control.system_identifier), _text(self.timeline()),
                            format_lsn(self._identify_position()).encode(), None)],
                          "IDENTIFY_SYSTEM")

    def _identify_position(self) -> int:
        """A primary's flush position; a standby's last replayed (or received) position."""
        if self.engine.in_recovery():
            for name in ("last_replayed_end_lsn", "replay_end_lsn", "received_lsn"):
                value = getattr(self.engine, name, None)
                if isinstance(value, int) and value:
                    return value
        return self.flush_position()

    def show(self, command: rc.Show) -> None:
        session = self.backend.session
        settings = session.settings if session is not None else self.server.settings
        value = settings.show(command.name)
        self._send_result((_text_field(command.name),), [(value.encode(),)], "SHOW")

    def timeline_history(self, command: rc.TimelineHistory) -> None:
        name = history_file_name(command.timeline)
        path = os.path.join(self.engine.datadir, "pg_wal", name)
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            raise MirrordbError(f'could not open file "pg_wal/{name}": No such file or '
                                "directory", sqlstate="58P01") from None
        self._send_result(TIMELINE_HISTORY_FIELDS, [(name.encode(), content)],
                          "TIMELINE_HISTORY")

    def create_replication_slot(self, command: rc.CreateReplicationSlot) -> None:
        if command.kind != "physical":
            raise ObjectNotInPrerequisiteState("logical decoding requires wal_level >= logical",
                                               sqlstate="55000")
        reserve_wal = command.reserve_wal
        reserve_lsn = int(self.engine.control.checkpoint.redo) if reserve_wal else 0
        self.slots.create(command.slot_name, temporary=command.temporary,
                          reserve_wal=reserve_wal,
                          owner_pid=self.backend.pid if command.temporary else None,
                          reserve_lsn=reserve_lsn)
        self._send_result(CREATE_SLOT_FIELDS,
                          [(command.slot_name.encode(), b"0/0", None, None)],
                          "CREATE_REPLICATION_SLOT")

    def drop_replication_slot(self, command: rc.DropReplicationSlot) -> None:
        while True:
            try:
                self.slots.drop(command.slot_name)
                break
            except MirrordbError as error:
                if not command.wait or error.sqlstate != "55006":
                    raise
            self.backend.interrupts.check_for_interrupts()
            self.backend.interrupts.wait(SLOT_WAIT_POLL_S)
        self.connection.send(m.CommandComplete("DROP_REPLICATION_SLOT"))

    def read_replication_slot(self, command: rc.ReadReplicationSlot) -> None:
        slot = self.slots.get(command.slot_name)
        row: tuple[bytes | None, ...] = (None, None, None)
        if slot is not None:
            if slot.slot_type != "physical":
                raise MirrordbError("cannot use READ_REPLICATION_SLOT with a logical "
                                    "replication slot", sqlstate="0A000")
            restart = slot.restart_lsn or 0
            row = (b"physical", format_lsn(restart).encode() if restart else None,
                   _text(tl.timeline_of(restart, self.history())) if restart else None)
        self._send_result(READ_SLOT_FIELDS, [row], "READ_REPLICATION_SLOT")

    def base_backup(self, command: rc.BaseBackup) -> None:
        """BASE_BACKUP, its progress on this backend for pg_stat_progress_basebackup while
        it runs."""
        from mirrordb.replication.basebackup import run_base_backup
        from mirrordb.replication.basebackup_progress import BaseBackupProgress
        self.status.move_to(WalSenderState.BACKUP)
        progress = BaseBackupProgress()
        self.backend.info.basebackup_progress = progress
        try:
            run_base_backup(self, dict(command.options), progress)
        finally:
            self.backend.info.basebackup_progress = None
            self.status.move_to(WalSenderState.STARTUP)

    def empty_command(self, command: rc.EmptyCommand) -> None:
        self.connection.send(m.EmptyQueryResponse())

    def _send_result(self, fields: tuple[m.FieldDescription, ...],
                     rows: list[tuple[bytes | None, ...]], tag: str) -> None:
        self.connection.send(m.RowDescription(fields))
        for row in rows:
            self.connection.send(m.DataRow(row))
        self.connection.send(m.CommandComplete(tag))

    # -- START_REPLICATION ----------------------------------------------------------------------------

    def start_replication(self, command: rc.StartReplication) -> bool:
        if command.kind != "physical":
            raise MirrordbError("logical replication is not supported", sqlstate="0A000")
        if command.slot_name is not None:
            self.slots.acquire(command.slot_name, self.backend.pid)
            self._slot_name = self.status.slot_name = command.slot_name
        try:
            timeline, end = self._requested_timeline(command)
            if end is not None and command.start_lsn == end.switch_lsn:
                self._send_end_of_timeline(end)    # nothing to stream: no CopyBoth
                return True
            self.follow_sync_config(force=True)
            return self._stream(command.start_lsn, timeline, end)
        finally:
            if self.status.state in (WalSenderState.CATCHUP, WalSenderState.STREAMING):
                self.status.move_to(WalSenderState.STARTUP)
            if self._slot_name is not None:
                self.slots.release(self._slot_name, self.backend.pid)
                self._slot_name = self.status.slot_name = None

    def _requested_timeline(self, command: rc.StartReplication) -> tuple[int, TimelineEnd | None]:
        """The timeline to stream and, for an older one, where it ends. As PostgreSQL, a start
        before the requested timeline began is allowed (a client asks for the start of the
        segment holding the switch point); only a start past its end is refused."""
        current = self.timeline()
        if command.timeline is None or command.timeline == current:
            return current, None
        end = self.timeline_end(command.timeline)
        if command.start_lsn > end.switch_lsn:
            raise MirrordbError(
                f"requested starting point {format_lsn(command.start_lsn)} on timeline "
                f"{command.timeline} is not in this server's history",
                detail=f"This server's history forked from timeline {command.timeline} at "
                       f"{format_lsn(end.switch_lsn)}.")
        return command.timeline, end

    def _stream(self, start_lsn: int, timeline: int, end: TimelineEnd | None) -> bool:
        self.connection.send(m.CopyBothResponse(0, ()))
        self.connection.start_copy_both()
        self.flush()
        self._close_segment()         # the history may have changed since the last stream
        flush_lsn = self.flush_position()
        if start_lsn > flush_lsn:
            raise MirrordbError(f"requested starting point {format_lsn(start_lsn)} is ahead of "
                                f"the WAL flush position of this server {format_lsn(flush_lsn)}")
        available_lsn = flush_lsn if end is None else end.switch_lsn
        if start_lsn < available_lsn:   # at the flush point the next segment may not exist yet
            self._open_segment(start_lsn)
        self.status.sent_lsn = start_lsn
        self.status.move_to(WalSenderState.CATCHUP)
        self.engine.wal.add_flush_listener(self._on_flush)
        self.backend.info.state = "active"
        loop = _StreamLoop(self, timeline, end)
        try:
            ended_by_client = loop.run()
        finally:
            self._remove_flush_listener()
            self.backend.info.state = "idle"
        if not ended_by_client:
            return False
        self.status.move_to(WalSenderState.STARTUP)
        if not loop.done_sending:
            self.connection.send(m.CopyDone())
        self.connection.end_copy_both()
        if loop.end is not None:
            self._send_end_of_timeline(loop.end)
        else:
            self.connection.send(m.CommandComplete("START_STREAMING"),
                                 m.CommandComplete("START_REPLICATION"))
        return True

    def _send_end_of_timeline(self, end: TimelineEnd) -> None:
        """The result set ending a historic timeline (no CommandComplete of its own: the
        START_STREAMING one follows it), then START_REPLICATION's CommandComplete."""
        self.connection.send(
            m.RowDescription(END_OF_TIMELINE_FIELDS),
            m.DataRow((str(end.next_tli).encode(), format_lsn(end.switch_lsn).encode())),
            m.CommandComplete("START_STREAMING"), m.CommandComplete("START_REPLICATION"))

    def _on_flush(self, flush_lsn: int) -> None:
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass   # already holds a wake-up byte, or closed

    def _remove_flush_listener(self) -> None:
        wal = getattr(getattr(self.server, "engine", None), "wal", None)
        remove = getattr(wal, "remove_flush_listener", None)
        if remove is not None:
            remove(self._on_flush)

    # -- reading WAL from the segment files ----------------------------------------------------------

    def _open_segment(self, lsn: int) -> int:
        """The file holding ``lsn``: the first that exists of the segment's candidate
        timelines in the server's history; 58P01 naming the likeliest one if none does."""
        segment_size = int(self.engine.wal.segment_size)
        segno = lsn // segment_size
        history = self.history()
        key = (segno, self._history_tli)
        if self._segment_key == key and self._segment_fd is not None:
            return self._segment_fd
        self._close_segment()
        _, name, exists = tl.segment_file(self.waldir, segno, segment_size, history)
        try:
            if not exists:
                raise FileNotFoundError(name)
            self._segment_fd = os.open(os.path.join(self.waldir, name), os.O_RDONLY)
        except FileNotFoundError:
            raise _removed(name) from None
        self._segment_key, self._segment_name = key, name
        return self._segment_fd

    def _close_segment(self) -> None:
        if self._segment_fd is not None:
            os.close(self._segment_fd)
        self._segment_fd = None
        self._segment_key = None

    def read_wal(self, start_lsn: int, end_lsn: int) -> bytes:
        """WAL bytes [start_lsn, end_lsn) from one segment file; 58P01 if it was removed."""
        segment_size = int(self.engine.wal.segment_size)
        invariant(start_lsn // segment_size == (end_lsn - 1) // segment_size,
                  "a WAL read crosses a segment boundary")
        fd = self._open_segment(start_lsn)
        data = os.pread(fd, end_lsn - start_lsn, start_lsn % segment_size)
        name = self._segment_name
        try:
            still_there = os.stat(os.path.join(self.waldir, name)).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_there = False
        if not still_there or len(data) != end_lsn - start_lsn:
            self._close_segment()
            raise _removed(name)
        return data

    # -- socket I/O ---------------------------------------------------------------------------------

    def _send_all(self, data: bytes) -> None:
        """Write ``data`` to the client, waiting (with interrupt checks) while its buffer is full."""
        from mirrordb.server.backend import ClientGone
        view = memoryview(data)
        retries = 0
        while view:
            try:
                sent = self.sock.send(view)
            except (socket.timeout, TimeoutError, BlockingIOError, *ssl_want_errors()):
                retries += 1
                if retries > SEND_RETRY_LIMIT:
                    raise ClientGone("send retry limit reached") from None
                self._check_interrupts()
                continue
            except OSError as exc:
                raise ClientGone(str(exc)) from None
            view = view[sent:]

    def receive_available(self, wait_s: float) -> bool:
        """Wait up to ``wait_s`` for client bytes or a wake-up; feed what came to the codec.
        True if the client sent something."""
        from mirrordb.server.backend import ClientGone
        pending = getattr(self.sock, "pending", None)
        if not (pending is not None and pending()):
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            poller.register(self._wake_reader, select.POLLIN)
            ready = {fd for fd, _ in poller.poll(max(int(wait_s * 1000), 0))}
            if self._wake_reader.fileno() in ready:
                self._drain_wake()
            if self.sock.fileno() not in ready:
                return False
        try:
            data = self.sock.recv(RECEIVE_BYTES)
        except (socket.timeout, TimeoutError, BlockingIOError, *ssl_want_errors()):
            return False
        except OSError as exc:
            raise ClientGone(str(exc)) from None
        if not data:
            raise ClientGone("EOF")
        self.connection.receive_data(data)
        return True

    def _drain_wake(self) -> None:
        try:
            while self._wake_reader.recv(64):
                pass
        except OSError:
            pass

    def _check_interrupts(self) -> None:
        """Act on pending interrupts: a cancel is dropped; a terminate during a server shutdown
        waits for ``stop_walsenders`` when the postmaster promised to call it."""
        interrupts = self.backend.interrupts
        if interrupts is None or not interrupts.pending:
            return
        if interrupts.terminate_pending and self._shutdown_will_stop_us():
            return
        if interrupts.cancel_pending and not interrupts.terminate_pending:
            interrupts.clear_cancel()
            return
        interrupts.check_for_interrupts()

    def _shutdown_will_stop_us(self) -> bool:
        return bool(getattr(self.server, "shutting_down", False)) and \
            bool(getattr(self.server, "walsenders_stop_after_checkpoint", False))

    def server_stopping_now(self) -> bool:
        """A shutdown the postmaster will not announce through ``stop_walsenders``."""
        interrupts = self.backend.interrupts
        return bool(interrupts is not None and interrupts.terminate_pending
                    and getattr(self.server, "shutting_down", False)
                    and not self._shutdown_will_stop_us())

    # -- synchronous replication (replication/syncrep.py) ------------------------------------------

    def follow_sync_config(self, force: bool = False) -> None:
        """PostgreSQL's SyncRepInitConfig: (re)compute this standby's priority when the
        configuration changed, or this server was promoted (or ``force``), then release what
        that now allows."""
        sync_rep, status = self.sync_rep, self.status
        if sync_rep is None:
            return
        basis = (sync_rep.generation, bool(self.engine.in_recovery()))
        if basis == status.sync_priority_basis and not force:
            return
        status.sync_priority_basis = basis
        status.sync_standby_priority = sync_rep.standby_priority(status.application_name,
                                                                 cascading=basis[1])
        sync_rep.release_waiters(status)

    def release_sync_waiters(self) -> None:
        if self.sync_rep is not None:
            self.sync_rep.release_waiters(self.status)

    # -- replies -----------------------------------------------------------------------------------

    def on_status_update(self, update: rm.StandbyStatusUpdate) -> None:
        now = time.monotonic()
        status = self.status
        status.write_lsn, status.flush_lsn, status.apply_lsn = (
            update.write_lsn, update.flush_lsn, update.apply_lsn)
        status.reply_time = datetime.datetime.fromtimestamp(
            rm.pg_timestamp_to_unix(update.send_time), UTC)
        caught_up = update.write_lsn == update.flush_lsn == update.apply_lsn == status.sent_lsn
        self._caught_up_replies = self._caught_up_replies + 1 if caught_up else 0
        if self._caught_up_replies >= 2:   # idle and fully applied: the lags say nothing
            self._lag.reset()
            status.write_lag_s = status.flush_lag_s = status.apply_lag_s = None
        else:
            status.write_lag_s = self._lag.reply("write", update.write_lsn, now)
            status.flush_lag_s = self._lag.reply("flush", update.flush_lsn, now)
            status.apply_lag_s = self._lag.reply("apply", update.apply_lsn, now)
        if self._slot_name is not None and update.flush_lsn:
            slot = self.slots.get(self._slot_name)
            if slot is not None and update.flush_lsn > (slot.restart_lsn or 0):
                self.slots.update_restart_lsn(self._slot_name, update.flush_lsn)
        self.release_sync_waiters()

    def on_feedback(self, feedback: rm.HotStandbyFeedback) -> None:
        """Hot-standby feedback (PostgreSQL's ProcessStandbyHSFeedbackMessage): the standby's
        oldest xmin holds VACUUM back, through the slot's xmin (persisted at checkpoints) or,
        without a slot, this walsender's own (``backend_xmin``, counted by
        ``WalSenderHorizon``); xmin 0 releases it. An xmin that is not a normal xid, or whose
        epoch puts it in the future or more than 2^31 xids back, is ignored."""
        xmin = feedback.xmin
        if xmin != 0 and not xid_in_recent_past(xmin, feedback.xmin_epoch,
                                                 int(self.engine.xacts.next_full_xid)):
            return
        if self._slot_name is not None:
            self.status.backend_xmin = 0
            self.slots.update_xmin(self._slot_name, xmin)
            return
        self.status.backend_xmin = xmin
        hooks = self.engine.xacts.horizon_hooks
        horizon = WalSenderHorizon(self.server)
        if xmin and horizon not in hooks:
            hooks.append(horizon)

    def lag_sent(self, end_lsn: int) -> None:
        self._lag.sent(end_lsn, time.monotonic())


FIRST_NORMAL_XID = 3


def xid_in_recent_past(xid: int, epoch: int, next_full_xid: int) -> bool:
    """PostgreSQL's TransactionIdInRecentPast: ``xid`` of ``epoch`` is a normal xid no newer
    than the next one and less than 2^31 xids older."""
    if xid < FIRST_NORMAL_XID:
        return False
    next_xid, next_epoch = next_full_xid & 0xFFFFFFFF, next_full_xid >> 32
    if epoch != (next_epoch if xid <= next_xid else next_epoch - 1):
        return False
    return ((next_xid - xid) & 0xFFFFFFFF) < 0x80000000


@dataclass(frozen=True)
class WalSenderHorizon:
    """VACUUM's horizon hook (access/xact.py ``horizon_hooks``) for hot-standby feedback without
    a slot: the oldest ``backend_xmin`` of the server's walsenders (0: none). Registered once per
    server by the first such feedback; equal for the same server, so never twice."""

    server: Any

    def __call__(self) -> int:
        held = [status.backend_xmin for _, status in walsender_statuses(self.server)
                if status.backend_xmin]
        return min(held) if held else 0


def ssl_want_errors() -> tuple[type[BaseException], ...]:
    import ssl
    return (ssl.SSLWantReadError, ssl.SSLWantWriteError)


class _StreamLoop:
    """The CopyBoth phase of one START_REPLICATION (PostgreSQL's WalSndLoop).

    ``end`` is None while ``timeline`` is the server's current timeline: WAL goes out up to the
    flush position. Once set (a historic timeline requested, or the current one left behind)
    WAL goes out up to its switch point only; then CopyDone (``done_sending``) and the loop
    waits for the client's CopyDone, still taking its replies.
    """

    def __init__(self, sender: WalSender, timeline: int, end: TimelineEnd | None) -> None:
        self.sender = sender
        self.timeline = timeline
        self.end = end
        self.timeout_s = sender.server.settings.get_int("wal_sender_timeout") / 1000
        self.last_reply = time.monotonic()
        self.ping_sent = False
        self.client_done = False
        self.done_sending = False

    def run(self) -> bool:
        """Stream until the client's CopyDone (True) or a shutdown (False); other ends raise."""
        sender, status = self.sender, self.sender.status
        while True:
            self.read_replies(wait_s=0.0)
            if self.client_done:
                return True
            if status.stop_requested.is_set() or sender.server_stopping_now():
                return self.stop()
            sender._check_interrupts()
            sender.follow_sync_config()
            if self.send_some():
                continue
            if status.state is WalSenderState.CATCHUP:
                status.move_to(WalSenderState.STREAMING)
                sender.release_sync_waiters()   # its replies in catchup released nothing
            self.keepalive_and_timeout()
            self.read_replies(wait_s=self.wait_time_s())

    def follow_timeline(self) -> None:
        """A standby's replay moved to a newer timeline (or the server was promoted): the one
        streamed is historic from now on and ends at its switch point in the new history."""
        if self.end is None and self.sender.timeline() != self.timeline:
            self.end = self.sender.timeline_end(self.timeline)

    def send_some(self) -> bool:
        """Send one chunk of flushed, unsent WAL; False if there is none. At the end of a
        historic timeline, CopyDone instead (once)."""
        if self.done_sending:
            return False
        sender, status = self.sender, self.sender.status
        flush_lsn = sender.flush_position()     # before the timeline check, as PostgreSQL
        self.follow_timeline()
        available_lsn = flush_lsn if self.end is None else self.end.switch_lsn
        start = status.sent_lsn
        if start >= available_lsn:
            if self.end is not None:
                self.end_of_timeline(self.end)
            return False
        segment_size = int(sender.engine.wal.segment_size)
        end = min(available_lsn, start + rm.MAX_XLOG_DATA_BYTES)
        if end < available_lsn and end - end % WAL_PAGE_SIZE > start:
            end -= end % WAL_PAGE_SIZE
        end = min(end, (start // segment_size + 1) * segment_size)
        data = sender.read_wal(start, end)
        message = rm.XLogData(start, available_lsn, rm.pg_timestamp_now(), data)
        sender.connection.send(m.CopyData(message.encode()))
        sender.flush()
        status.sent_lsn = end
        sender.lag_sent(end)
        return True

    def end_of_timeline(self, end: TimelineEnd) -> None:
        sender = self.sender
        sender._close_segment()
        sender.connection.send(m.CopyDone())
        sender.flush()
        self.done_sending = True
        log.debug("walsender reached end of timeline %d at %s (sent up to %s)", self.timeline,
                  format_lsn(end.switch_lsn), format_lsn(sender.status.sent_lsn))

    def wait_time_s(self) -> float:
        wait = POLL_INTERVAL_S
        if self.timeout_s > 0:
            half = self.last_reply + self.timeout_s / 2 - time.monotonic()
            if not self.ping_sent and not self.done_sending:
                wait = min(wait, max(half, 0.0))
        return wait

    def keepalive_and_timeout(self) -> None:
        if self.timeout_s <= 0:
            return
        silent_s = time.monotonic() - self.last_reply
        if silent_s >= self.timeout_s:
            log.info("terminating walsender process due to replication timeout")
            raise ReplicationTimeout("terminating walsender process due to replication timeout")
        if silent_s >= self.timeout_s / 2 and not self.ping_sent and not self.done_sending:
            self.send_keepalive(reply_requested=True)
            self.ping_sent = True

    def send_keepalive(self, reply_requested: bool) -> None:
        sender = self.sender
        keepalive = rm.PrimaryKeepalive(sender.status.sent_lsn, rm.pg_timestamp_now(),
                                        reply_requested)
        sender.connection.send(m.CopyData(keepalive.encode()))
        sender.flush()

    def read_replies(self, wait_s: float) -> None:
        """Take in what the client sent (waiting up to ``wait_s`` for something to happen)."""
        sender = self.sender
        if self.client_done:
            return
        sender.receive_available(wait_s)
        while True:
            event = sender.connection.next_event()
            if event is None:
                return
            self.last_reply = time.monotonic()
            self.ping_sent = False
            if isinstance(event, m.CopyData):
                self.on_copy_data(event.data)
            elif isinstance(event, m.CopyDone):
                self.client_done = True
                return
            elif isinstance(event, (m.Terminate, ConnectionClosed)):
                from mirrordb.server.backend import ClientGone
                raise ClientGone("the standby ended the connection")

    def on_copy_data(self, payload: bytes) -> None:
        message = rm.decode_standby_message(payload)
        if isinstance(message, rm.StandbyStatusUpdate):
            self.sender.on_status_update(message)
            if message.reply_requested and not self.done_sending:
                self.send_keepalive(reply_requested=False)
        else:
            self.sender.on_feedback(message)

    def stop(self) -> bool:
        """Server shutdown: send everything flushed, ask for a reply, wait for the client to
        confirm it, then ``C "COPY 0"`` (no CopyDone); the connection ends."""
        sender, status = self.sender, self.sender.status
        status.move_to(WalSenderState.STOPPING)
        while self.send_some():
            self.read_replies(wait_s=0.0)
        if not self.done_sending:      # after our CopyDone no CopyData may follow
            self.send_keepalive(reply_requested=True)
        wait_s = self.timeout_s if self.timeout_s > 0 else DEFAULT_STOP_WAIT_S
        deadline = time.monotonic() + wait_s
        while not self.client_done and time.monotonic() < deadline:
            confirmed = status.flush_lsn or status.write_lsn
            if confirmed >= status.sent_lsn:
                break
            self.read_replies(wait_s=min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0)))
        sender.connection.send(m.CommandComplete("COPY 0"))
        sender.flush()
        return False


COMMAND_HANDLERS: dict[type, Any] = {
    rc.IdentifySystem: WalSender.identify_system,
    rc.Show: WalSender.show,
    rc.TimelineHistory: WalSender.timeline_history,
    rc.CreateReplicationSlot: WalSender.create_replication_slot,
    rc.DropReplicationSlot: WalSender.drop_replication_slot,
    rc.ReadReplicationSlot: WalSender.read_replication_slot,
    rc.StartReplication: WalSender.start_replication,
    rc.BaseBackup: WalSender.base_backup,
    rc.EmptyCommand: WalSender.empty_command,
}


# -- the postmaster's side ---------------------------------------------------------------------------

def walsender_statuses(server: Any) -> list[tuple[Any, WalSenderStatus]]:
    """(BackendInfo, status) of every registered walsender of ``server``."""
    return [(info, info.walsender) for info in server.backends()
            if isinstance(getattr(info, "walsender", None), WalSenderStatus)]


def stop_walsenders(server: Any, timeout_s: float) -> bool:
    """Shutdown hook: the postmaster calls this after the shutdown checkpoint is flushed. Every
    walsender sends the rest of the WAL, waits for its client's confirmation and exits. True if
    all finished within ``timeout_s``."""
    statuses = [status for _, status in walsender_statuses(server)]
    for status in statuses:
        status.stop_requested.set()
        if status.wake is not None:
            status.wake()
    deadline = time.monotonic() + timeout_s
    return all(status.finished.wait(max(deadline - time.monotonic(), 0.0))
               for status in statuses)


def _interval(seconds: float | None) -> datetime.timedelta | None:
    return None if seconds is None else datetime.timedelta(seconds=seconds)


def pg_stat_replication_rows(server: Any, role_oid: Any) -> list[tuple[object, ...]]:
    """pg_stat_replication's rows (PostgreSQL 15 column order; see sql/sysviews.py)."""
    rows = []
    sync_rep = getattr(server, "syncrep", None)
    sync_states = sync_rep.standby_states() if sync_rep is not None else {}
    for info, status in walsender_statuses(server):
        user = getattr(info, "user", None)
        sync_priority, sync_state = sync_states.get(status.sync_slot, (0, "async"))
        rows.append((
            info.pid, getattr(info, "user_oid", 0) or role_oid(user), user,
            getattr(info, "application_name", ""), getattr(info, "client_addr", None),
            getattr(info, "client_hostname", None), getattr(info, "client_port", None),
            getattr(info, "backend_start", None), status.backend_xmin or None,
            status.state.value,
            status.sent_lsn or None, status.write_lsn or None, status.flush_lsn or None,
            status.apply_lsn or None,
            _interval(status.write_lag_s), _interval(status.flush_lag_s),
            _interval(status.apply_lag_s), sync_priority, sync_state, status.reply_time))
    return rows


__all__ = ["WalSender", "WalSenderHorizon", "WalSenderState", "WalSenderStatus",
           "pg_stat_replication_rows", "stop_walsenders", "walsender_statuses",
           "xid_in_recent_past"]
