"""The walreceiver: a standby's thread that streams WAL from its primary into its own pg_wal.

Who runs it: server/postmaster.py, on a standby (``standby.signal``) whose ``primary_conninfo``
is set, starts ``WalReceiver(...).start()`` beside the startup thread (recovery/standby.py). The
other half is the primary's walsender (replication/walsender.py, or a real PostgreSQL 15).

One connection, step by step (PostgreSQL's WalReceiverMain):

1. Parse ``primary_conninfo`` (``parse_conninfo``: libpq's ``key=value`` and ``postgresql://``
   URI forms) and connect with ``replication=true`` (password from the conninfo, PGPASSWORD or
   ~/.pgpass; cleartext, md5 or SCRAM-SHA-256 as the server asks).
2. ``IDENTIFY_SYSTEM``: a different system identifier is refused with PostgreSQL's error ("database
   system identifier differs between the primary and standby"); so is a primary on a timeline
   older than the one streaming would start on. ``SHOW wal_level``: ``minimal`` is refused. A
   primary on a newer timeline: ``TIMELINE_HISTORY n`` for each newer timeline whose history
   file pg_wal lacks, written there (the startup thread's ``rescan_timelines`` reads them).
3. ``START_REPLICATION [SLOT primary_slot_name] PHYSICAL X/X TIMELINE n`` from the first byte
   the standby lacks (the end of its local WAL, or of what this receiver already flushed):
   from the start of that byte's WAL page when its segment file is already in pg_wal (it holds
   every byte before it: the startup thread read them, or a receiver wrote them), else from the
   start of its segment, as PostgreSQL always does, so that a segment this receiver creates never
   lacks its beginning (``streaming_start_lsn``). Not rewriting a segment's first part matters
   for a restarted standby: PostgreSQL's way re-sends up to a whole segment it already has.
   The timeline ``n`` is the one the startup thread's history gives that byte (``history``);
   the received WAL goes into that timeline's segment files.
4. Stream: each XLogData is written at its LSN into the segment file (created full size, zeroed,
   when missing); before waiting for more input the written WAL is fsynced, the startup thread
   woken and a status update (write/flush/apply) sent. A status update also goes out every
   ``wal_receiver_status_interval``, when a keepalive asks for one, and, with reply requested,
   after half of ``wal_receiver_timeout`` without input; after the whole timeout the connection
   is dropped ("terminating walreceiver due to timeout").

Hot-standby feedback (PostgreSQL's XLogWalRcvSendHSFeedback; ``FeedbackSchedule`` decides,
``feedback_horizon`` computes: recovery/hot_standby.py): with ``hot_standby_feedback`` on, an
'h' message reports the oldest xmin this standby still needs (catalog_xmin 0) once streaming
starts, every ``wal_receiver_status_interval``, at once when the setting changes, and when the
xmin moves (at most every ``FEEDBACK_CHANGE_INTERVAL_S``, so a standby query's end releases the
primary's VACUUM promptly). Turning it off (or the interval to 0) sends one message with xmin 0,
which releases the primary's horizon. Nothing is sent before hot standby is active.

Receipt times: after each flush the thread records when that stretch of WAL arrived
(``receipts``, recovery/conflicts.py's ``WalReceiptTimes``); replay measures
``max_standby_streaming_delay`` from there.

Replies after replay: the startup thread calls ``request_reply()`` right after replaying a commit
record that asks for it (XACT_COMPLETION_APPLY_FEEDBACK, written under synchronous_commit =
remote_apply); a byte on the thread's wake-up socket pair ends its wait at once and a status update
with the new apply position goes out (PostgreSQL's WalRcvForceReply), so the primary's waiting
commit is released without waiting for the next flush or status interval.

End of a timeline: streaming an older timeline of the primary (it was promoted, or is a standby
that followed a promotion), the primary sends WAL up to the switch point, then CopyDone and the
next timeline with its start. The thread logs "replication terminated by primary server" (End of
WAL reached on timeline n at X/X), answers CopyDone, fetches the missing history files, wakes the
startup thread and waits (state ``waiting``) until replay has adopted a history in which that
point belongs to a newer timeline; then it starts streaming again on the same connection ("restarted
WAL streaming at X/X on timeline n"). PostgreSQL's walreceiver and startup process do the same.

When the connection fails or the primary ends the stream (shutdown), the error is logged and the
thread connects again after ``wal_retrieve_retry_interval``; ``stop()`` ends it.

Shared state: ``status`` (a ``WalReceiverStatus``) is written by this thread only, read by
pg_stat_wal_receiver (``pg_stat_wal_receiver_rows``) and pg_last_wal_receive_lsn
(``status.flushed_lsn``).
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
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mirrordb.common.errors import IoError, MirrordbError, ProtocolViolation
from mirrordb.common.fileio import fsync_directory
from mirrordb.common.lsn import INVALID_LSN, format_lsn
from mirrordb.common.role_thread import RoleThread
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.protocol.messages import (CommandComplete, CopyBothResponse, CopyData, CopyDone,
                                        DataRow, ErrorResponse, NoticeResponse, Query,
                                        ReadyForQuery, RowDescription)
from mirrordb.recovery.conflicts import WalReceiptTimes
from mirrordb.recovery.hot_standby import FeedbackHorizon
from mirrordb.replication.messages import (HotStandbyFeedback, PrimaryKeepalive,
                                           StandbyStatusUpdate, XLogData,
                                           decode_primary_message, pg_timestamp_now,
                                           pg_timestamp_to_unix)
from mirrordb.wal.segment import WAL_PAGE_SIZE, history_file_name, segment_name
from mirrordb.wal.timeline import (History, history_exists, single_timeline, timeline_of,
                                   write_history)

log = logging.getLogger("mirrordb.walreceiver")

WALRECEIVER_THREAD_NAME = "walreceiver"
RECEIVE_SIZE_BYTES = 256 * 1024        # one recv()
TICK_S = 0.1                           # socket timeout: how often timers are looked at
# A backlog (a standby catching up) is flushed and handed to the startup thread in pieces of
# this size, not all at once when the socket runs dry: replay starts on the first piece while
# the rest is still arriving (receiving waits on the socket, outside the GIL).
FLUSH_AFTER_BYTES = 1024 * 1024
MAX_CONNINFO_BYTES = 16 * 1024         # longest primary_conninfo accepted
DEFAULT_APPLICATION_NAME = "walreceiver"
DEFAULT_PORT = 5432
DEFAULT_SOCKET_DIRECTORY = "/tmp"
TEMPORARY_SEGMENT_NAME = "xlogtemp.walreceiver"
STOP_TIMEOUT_S = 30.0
FEEDBACK_CHANGE_INTERVAL_S = 0.1       # a moved feedback xmin goes out at most this often


class WalReceiverError(MirrordbError):
    """The primary cannot serve this standby, or the stream broke (logged, then retried)."""

    sqlstate = "08006"


# -- primary_conninfo ---------------------------------------------------------------------------

def parse_conninfo(text: str) -> dict[str, str]:
    """libpq's connection string: ``key=value ...`` (values may be single-quoted, with
    backslash escapes) or a ``postgresql://user:password@host:port/dbname?key=value`` URI."""
    if len(text.encode()) > MAX_CONNINFO_BYTES:
        raise WalReceiverError("primary_conninfo is too long", sqlstate="22023")
    stripped = text.strip()
    if stripped.startswith(("postgresql://", "postgres://")):
        return _parse_uri(stripped)
    return _parse_key_values(stripped)


def _parse_key_values(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    position, length = 0, len(text)
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            return result
        equals = text.find("=", position)
        if equals < 0:
            raise WalReceiverError(f'missing "=" after "{text[position:]}" in connection info '
                                   "string", sqlstate="22023")
        key = text[position:equals].strip()
        position = equals + 1
        while position < length and text[position].isspace():
            position += 1
        value, position = _conninfo_value(text, position)
        result[key] = value


def _conninfo_value(text: str, position: int) -> tuple[str, int]:
    """One value from ``position``: quoted or up to the next blank; returns (value, next)."""
    quoted = position < len(text) and text[position] == "'"
    if quoted:
        position += 1
    value: list[str] = []
    while position < len(text):
        character = text[position]
        if character == "\\" and position + 1 < len(text):
            value.append(text[position + 1])
            position += 2
            continue
        if (quoted and character == "'") or (not quoted and character.isspace()):
            return "".join(value), position + 1
        value.append(character)
        position += 1
    if quoted:
        raise WalReceiverError("unterminated quoted string in connection info string",
                               sqlstate="22023")
    return "".join(value), position


def _parse_uri(text: str) -> dict[str, str]:
    parsed = urllib.parse.urlsplit(text)
    result: dict[str, str] = {}
    if parsed.username:
        result["user"] = urllib.parse.unquote(parsed.username)
    if parsed.password:
        result["password"] = urllib.parse.unquote(parsed.password)
    netloc_host = parsed.netloc.rpartition("@")[2]
    host, _, port = netloc_host.rpartition(":") if not netloc_host.endswith("]") \
        else (netloc_host, "", "")
    if not host:
        host, port = netloc_host, ""
    if host:
        result["host"] = urllib.parse.unquote(host.strip("[]"))
    if port:
        result["port"] = port
    if parsed.path.strip("/"):
        result["dbname"] = urllib.parse.unquote(parsed.path.strip("/"))
    for key, value in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
        result[key] = value
    return result


@dataclass(frozen=True)
class PrimaryAddress:
    host: str
    port: int
    user: str
    password: str | None
    application_name: str


def primary_address(conninfo: dict[str, str]) -> PrimaryAddress:
    """Where and as whom to connect (libpq's defaults: PGHOST, PGPORT, PGUSER, the OS user)."""
    host = conninfo.get("host") or conninfo.get("hostaddr") or os.environ.get("PGHOST") \
        or DEFAULT_SOCKET_DIRECTORY
    port_text = conninfo.get("port") or os.environ.get("PGPORT") or str(DEFAULT_PORT)
    try:
        port = int(port_text.split(",")[0])
    except ValueError:
        raise WalReceiverError(f'invalid port number: "{port_text}"', sqlstate="22023") from None
    user = conninfo.get("user") or os.environ.get("PGUSER") or _os_user()
    return PrimaryAddress(host.split(",")[0], port, user, conninfo.get("password"),
                          conninfo.get("application_name") or DEFAULT_APPLICATION_NAME)


def _os_user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


# -- state shown by pg_stat_wal_receiver -----------------------------------------------------------

class WalReceiverState(enum.Enum):
    """pg_stat_wal_receiver.status."""

    STOPPED = "stopped"
    STARTING = "starting"
    STREAMING = "streaming"
    WAITING = "waiting"
    STOPPING = "stopping"


@dataclass(eq=False)
class WalReceiverStatus:
    """What pg_stat_wal_receiver shows (written by the walreceiver thread only)."""

    pid: int = 0
    state: WalReceiverState = WalReceiverState.STARTING
    receive_start_lsn: int = INVALID_LSN
    receive_start_tli: int = 0
    written_lsn: int = INVALID_LSN
    flushed_lsn: int = INVALID_LSN
    received_tli: int = 0
    last_msg_send_time: float | None = None      # Unix seconds
    last_msg_receipt_time: float | None = None
    latest_end_lsn: int = INVALID_LSN
    latest_end_time: float | None = None
    slot_name: str | None = None
    sender_host: str | None = None
    sender_port: int | None = None
    conninfo: str = ""


# -- writing received WAL into pg_wal ----------------------------------------------------------------

class SegmentWriter:
    """Writes streamed WAL at its LSN into ``pg_wal`` segment files of one timeline; ``flush``
    fsyncs what was written. A missing segment is created full size (zeros) under a temporary
    name, fsynced and renamed, so a segment file never exists shorter than a segment.

    A failed fsync breaks the writer for good (``broken`` says why; every later write or flush
    raises IoError): the kernel may already have dropped the pages it could not write, so a
    later fsync could succeed without them and the standby would report, and replay, WAL its
    disk does not hold. PostgreSQL PANICs there; the walreceiver stops the server."""

    def __init__(self, waldir: str, timeline: int, segment_size: int) -> None:
        self.waldir = waldir
        self.timeline = timeline
        self.segment_size = segment_size
        self.written_lsn = INVALID_LSN
        self.flushed_lsn = INVALID_LSN
        self.broken: str | None = None
        self._segno: int | None = None
        self._fd: int | None = None
        self._unsynced_fds: list[int] = []
        self._paths: dict[int, str] = {}     # open fd -> its segment file, for messages
        # Called with a segment's file name once it was written to its end and fsynced: the
        # engine marks it for the archiver, or as done (``Engine.segment_received``).
        self.on_segment_finished: Callable[[str], None] | None = None
        self._finished: list[str] = []   # segments written to their end, reported at the flush
        self._finished_segno = -1

    def write(self, start_lsn: int, data: bytes) -> None:
        if self.broken is not None:
            raise IoError(self.broken)
        view = memoryview(data)
        position = start_lsn
        while view:
            segno, offset = divmod(position, self.segment_size)
            take = min(len(view), self.segment_size - offset)
            fd = self._segment_fd(segno)
            written = 0
            while written < take:
                written += os.pwrite(fd, view[written:take], offset + written)
            view = view[take:]
            position += take
            if position % self.segment_size == 0 and segno > self._finished_segno:
                self._finished_segno = segno     # written to its end: reported at the flush
                self._finished.append(segment_name(self.timeline, segno, self.segment_size))
        self.written_lsn = position

    def flush(self) -> bool:
        """fsync what was written; True if the flushed position moved. Nothing written since
        the last flush and no finished segment waiting: no fsync (an idle tick or a reply that
        replay asked for would otherwise sync the segment again, ~70 us each)."""
        if self.broken is not None:
            raise IoError(self.broken)
        if self.written_lsn <= self.flushed_lsn and not self._unsynced_fds:
            return False
        for fd in self._unsynced_fds:
            self._fsync(fd, self._paths[fd])
            if fd != self._fd:
                os.close(fd)
                self._paths.pop(fd, None)
        self._unsynced_fds = []      # the current segment's fd is synced just below
        if self._fd is not None:
            self._fsync(self._fd, self._paths[self._fd])
        moved = self.written_lsn > self.flushed_lsn
        self.flushed_lsn = max(self.flushed_lsn, self.written_lsn)
        finished, self._finished = self._finished, []
        if self.on_segment_finished is not None:
            for name in finished:
                self.on_segment_finished(name)
        return moved

    def _fsync(self, fd: int, path: str) -> None:
        """fsync ``fd`` (the file ``path``), or break the writer (see the class docstring)."""
        try:
            os.fsync(fd)
        except OSError as error:
            self.broken = f'could not fsync file "{path}": {error.strerror or error}'
            raise IoError(self.broken) from error

    def close(self) -> None:
        for fd in set(self._unsynced_fds + ([self._fd] if self._fd is not None else [])):
            os.close(fd)
        self._unsynced_fds = []
        self._paths = {}
        self._fd = self._segno = None

    def reopen(self) -> None:
        """Flush, then close the segment files: the next write opens them by name again."""
        self.flush()
        self.close()

    def holds_segment(self, segno: int) -> bool:
        """Whether segment ``segno``'s file exists in pg_wal (always full size: see above)."""
        return os.path.exists(os.path.join(self.waldir, segment_name(self.timeline, segno,
                                                                     self.segment_size)))

    def sync_segment(self, segno: int) -> None:
        """fsync segment ``segno``, which streaming resumes inside: the bytes before the resume
        point count as flushed from now on, and an earlier receiver (of a server that was
        killed) may have written them without syncing."""
        fd = self._segment_fd(segno)
        self._fsync(fd, self._paths[fd])

    def _segment_fd(self, segno: int) -> int:
        if segno == self._segno and self._fd is not None:
            return self._fd
        if self._fd is not None:
            self._unsynced_fds.append(self._fd)     # fsynced and closed at the next flush
        name = segment_name(self.timeline, segno, self.segment_size)
        path = os.path.join(self.waldir, name)
        if not os.path.exists(path):
            self._create_segment(path)
        self._fd = os.open(path, os.O_RDWR)
        self._paths[self._fd] = path
        self._segno = segno
        return self._fd

    def _create_segment(self, path: str) -> None:
        temporary = os.path.join(self.waldir, TEMPORARY_SEGMENT_NAME)
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, self.segment_size)
            self._fsync(fd, temporary)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        try:
            fsync_directory(self.waldir)
        except MirrordbError as error:   # the new name may not survive a crash: as a failed fsync
            self.broken = error.message
            raise


def streaming_start_lsn(needed_lsn: int, segment_size: int, segment_on_disk: bool) -> int:
    """Where START_REPLICATION asks the primary to begin, for a standby that lacks the bytes
    from ``needed_lsn`` on: the start of that byte's WAL page when its segment file exists
    (``segment_on_disk``), else the start of its segment (see the module docstring, step 3)."""
    offset = needed_lsn % segment_size
    if offset and segment_on_disk:
        return needed_lsn - needed_lsn % WAL_PAGE_SIZE
    return needed_lsn - offset


# -- hot-standby feedback -------------------------------------------------------------------------

@dataclass(eq=False)
class FeedbackSchedule:
    """When to send hot-standby feedback on one connection, and with which xmin (PostgreSQL's
    XLogWalRcvSendHSFeedback; pure, so it is tested without a primary).

    ``primary_has_standby_xmin`` starts true, so at least one message goes out, and one more
    with xmin 0 after feedback is turned off.
    """

    primary_has_standby_xmin: bool = True
    last_sent_s: float | None = None
    last_xmin: int | None = None
    last_enabled: bool | None = None

    def due(self, *, enabled: bool, interval_ms: int, horizon: FeedbackHorizon | None,
            now_s: float, immediate: bool = False) -> tuple[int, int, int] | None:
        """(xmin, its epoch, the next xid's epoch) to send now, or None. ``horizon`` is None
        while hot standby is not active; ``immediate`` asks for a message whatever the
        interval (start of streaming)."""
        enabled = enabled and interval_ms > 0
        if not enabled and not self.primary_has_standby_xmin:
            self.last_enabled = enabled
            return None
        immediate = immediate or (self.last_enabled is not None and enabled != self.last_enabled)
        self.last_enabled = enabled
        if horizon is None:
            return None
        xmin, epoch = (horizon.xmin, horizon.epoch) if enabled else (0, horizon.next_epoch)
        since_s = None if self.last_sent_s is None else now_s - self.last_sent_s
        moved = enabled and xmin != self.last_xmin and \
            (since_s is None or since_s >= FEEDBACK_CHANGE_INTERVAL_S)
        if not (immediate or moved or since_s is None or since_s * 1000 >= interval_ms):
            return None
        self.last_sent_s, self.last_xmin = now_s, xmin
        self.primary_has_standby_xmin = xmin != 0
        return xmin, epoch, horizon.next_epoch


# -- the thread ---------------------------------------------------------------------------------------

@dataclass
class StandbyIdentity:
    """What the walreceiver checks the primary against, and where it writes."""

    datadir: str
    system_identifier: int
    timeline: int
    segment_size: int


@dataclass(eq=False)
class _Timers:
    last_receive: float = field(default_factory=time.monotonic)
    last_status: float = 0.0
    ping_sent: bool = False
    feedback: FeedbackSchedule = field(default_factory=FeedbackSchedule)


class WalReceiver:
    """The walreceiver thread (see the module docstring).

    ``settings`` is a callable returning the server's current Settings (reloads take effect
    at the next connection); ``start_lsn`` returns where the startup thread needs WAL from;
    ``applied_lsn`` where replay stands; ``wake_startup`` is called after each flush;
    ``feedback_horizon`` returns what hot-standby feedback reports (None: nothing yet; without
    it no feedback is ever sent). ``on_panic`` is called, and the thread ends, when the
    received WAL can no longer be made durable (a failed fsync: ``SegmentWriter.broken``).
    """

    def __init__(self, identity: StandbyIdentity, settings: Callable[[], Any], *,
                 start_lsn: Callable[[], int], applied_lsn: Callable[[], int],
                 wake_startup: Callable[[], None],
                 feedback_horizon: Callable[[], FeedbackHorizon | None] | None = None,
                 on_panic: Callable[[BaseException], None] = lambda error: None,
                 source_lock: threading.Lock | None = None,
                 history: Callable[[], History] | None = None,
                 on_file_received: Callable[[str], None] | None = None) -> None:
        self.identity = identity
        # the startup thread's current timeline history (which timeline to stream a byte from)
        single = single_timeline(identity.timeline)
        self._history = history if history is not None else (lambda: single)
        # a history file fetched from the primary (marked done, or for the archiver)
        self._on_file_received = on_file_received
        # Held while streaming: the startup thread fetches from the archive only without it
        # (a segment restored over one being written would lose what is written after).
        self._source_lock = source_lock if source_lock is not None else threading.Lock()
        self._holds_source = False
        self._on_panic = on_panic
        self._settings = settings
        self._start_lsn = start_lsn
        self._applied_lsn = applied_lsn
        self._wake_startup = wake_startup
        self._feedback_horizon = feedback_horizon
        self.receipts = WalReceiptTimes()
        self.status = WalReceiverStatus()
        self.writer = SegmentWriter(os.path.join(identity.datadir, "pg_wal"), identity.timeline,
                                    identity.segment_size)
        self._stopping = threading.Event()
        self._thread: RoleThread | None = None
        self._client: Any = None
        self._reply_requested = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._poller: tuple[Any, int] | None = None   # (poll object, client socket it watches)
        self.connections_made = 0
        self.last_error: MirrordbError | None = None

    def start(self) -> None:
        self._thread = RoleThread(self._run, WALRECEIVER_THREAD_NAME)
        self._thread.start()

    @property
    def thread(self) -> RoleThread | None:
        """The thread, once started (pg_stat_activity's "walreceiver" row while it runs)."""
        return self._thread

    def stop(self) -> None:
        self._stopping.set()
        client = self._client
        if client is not None:
            try:
                client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)

    # -- the loop -----------------------------------------------------------------------------------

    def _run(self) -> None:
        self.status.pid = threading.get_native_id()
        while not self._stopping.is_set():
            try:
                self._one_connection()
            except (MirrordbError, OSError) as error:
                if self._stopping.is_set():
                    break
                if self.writer.broken is not None:
                    log.critical("%s", self.writer.broken, extra={"pg_level": "PANIC"})
                    self._on_panic(error)
                    break
                self._report(error)
            finally:
                self._disconnect()
                self._release_source()
            self.status.state = WalReceiverState.WAITING
            retry_s = self._setting_ms("wal_retrieve_retry_interval") / 1000
            self._stopping.wait(retry_s)
        self.writer.close()
        self.status.state = WalReceiverState.STOPPED
        for end in (self._wake_reader, self._wake_writer):
            end.close()

    def request_reply(self) -> None:
        """Send a status update now (the startup thread replayed a commit asking for one)."""
        self._reply_requested = True
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass   # the pair already holds a wake-up byte, or the thread has ended

    def _report(self, error: BaseException) -> None:
        if isinstance(error, MirrordbError):
            self.last_error = error
            log.critical("%s", error.message, extra={"pg_level": "FATAL"})
            if error.detail:
                log.critical("%s", error.detail, extra={"pg_level": "DETAIL"})
        else:
            log.critical("could not receive data from WAL stream: %s", error,
                         extra={"pg_level": "FATAL"})

    def _setting_ms(self, name: str) -> int:
        return int(self._settings().get(name))

    def _one_connection(self) -> None:
        self.status.state = WalReceiverState.STARTING
        settings = self._settings()
        conninfo_text = str(settings.get("primary_conninfo"))
        address = primary_address(parse_conninfo(conninfo_text))
        self._client = _connect(address)
        self.connections_made += 1
        self.status.sender_host, self.status.sender_port = address.host, address.port
        self.status.conninfo = _obfuscated(conninfo_text)
        primary_timeline = self._identify_system()
        self._check_wal_level()
        self._take_source()
        slot = str(settings.get("primary_slot_name") or "")
        first = True
        while not self._stopping.is_set():
            start_lsn, timeline = self._streaming_start()
            if primary_timeline < timeline:
                raise WalReceiverError(f"highest timeline {primary_timeline} of the primary is "
                                       f"behind recovery timeline {timeline}", sqlstate="55000")
            self._fetch_history_files(timeline + 1, primary_timeline)
            if not self._start_replication(start_lsn, timeline, slot):
                end_lsn = start_lsn     # the start was the switch point itself
            else:
                if first:
                    log.info("started streaming WAL from primary at %s on timeline %d",
                             format_lsn(start_lsn), timeline)
                else:
                    log.info("restarted WAL streaming at %s on timeline %d",
                             format_lsn(start_lsn), timeline)
                first = False
                ended = self._stream()
                if ended is None:
                    return
                end_lsn = ended
            next_timeline = self._end_of_timeline_result()
            primary_timeline = max(primary_timeline, next_timeline)
            self._fetch_history_files(timeline + 1, next_timeline)
            self._wait_for_new_timeline(end_lsn, timeline)

    def _take_source(self) -> None:
        """Become pg_wal's writer for this stream: wait for a restore from the archive under
        way to finish, then reopen the segment files (one the archive replaced is another
        file now)."""
        while not self._source_lock.acquire(timeout=TICK_S):
            if self._stopping.is_set():
                raise WalReceiverError("walreceiver is stopping", sqlstate="57P01")
        self._holds_source = True
        self.writer.reopen()

    def _release_source(self) -> None:
        if self._holds_source:
            self._holds_source = False
            self._source_lock.release()

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.sock.close()
            except OSError:
                pass

    # -- the handshake --------------------------------------------------------------------------------

    def _identify_system(self) -> int:
        rows = self._client.query("IDENTIFY_SYSTEM")
        if not rows or not rows[0] or len(rows[0][0]) < 2:
            raise WalReceiverError("invalid response from primary server",
                                   detail="Could not identify system: got no rows.")
        system_id, timeline_text = rows[0][0][0], rows[0][0][1]
        ours = str(self.identity.system_identifier)
        if system_id != ours:
            raise WalReceiverError(
                "database system identifier differs between the primary and standby",
                detail=f"The primary's identifier is {system_id}, the standby's identifier is "
                       f"{ours}.", sqlstate="55000")
        return int(timeline_text or 0)

    def _check_wal_level(self) -> None:
        try:
            rows = self._client.query("SHOW wal_level")
        except MirrordbError:
            return      # a server that cannot SHOW: its walsender refuses minimal itself
        if rows and rows[0] and rows[0][0] and rows[0][0][0] == "minimal":
            raise WalReceiverError(
                'the primary runs with wal_level "minimal", which cannot feed a standby',
                hint='Set wal_level to "replica" on the primary and restart it.',
                sqlstate="55000")

    def _streaming_start(self) -> tuple[int, int]:
        """Where to stream from, and on which timeline: the first byte this standby lacks and
        the timeline the startup thread's history gives it, whose segment files the writer
        uses from now on (``streaming_start_lsn`` rounds the start down, within them)."""
        needed = max(self._start_lsn(), self.writer.flushed_lsn)
        timeline = timeline_of(needed, self._history())
        self._use_timeline(timeline)
        segment_size = self.identity.segment_size
        return streaming_start_lsn(needed, segment_size,
                                   self.writer.holds_segment(needed // segment_size)), timeline

    def _use_timeline(self, timeline: int) -> None:
        """Write into the segment files of ``timeline`` from now on."""
        if self.writer.timeline != timeline:
            self.writer.reopen()
            self.writer.timeline = timeline

    def _fetch_history_files(self, first: int, last: int) -> None:
        """TIMELINE_HISTORY for each timeline from ``first`` to ``last`` whose history file
        pg_wal lacks (PostgreSQL's WalRcvFetchTimeLineHistoryFiles), written as received."""
        waldir = self.writer.waldir
        for tli in range(max(first, 2), last + 1):
            if history_exists(waldir, tli):
                continue
            log.info("fetching timeline history file for timeline %d from primary server", tli)
            rows = self._client.query(f"TIMELINE_HISTORY {tli}")
            if not rows or not rows[0] or len(rows[0][0]) < 2 or rows[0][0][1] is None:
                raise WalReceiverError("invalid response from primary server",
                                       detail="Could not read timeline history file.")
            name, content = rows[0][0][0], rows[0][0][1]
            if name != history_file_name(tli):
                raise WalReceiverError("primary reported unexpected file name for timeline "
                                       f"history file of timeline {tli}")
            write_history(waldir, tli, content.encode())
            if self._on_file_received is not None:
                self._on_file_received(name)

    def _end_of_timeline_result(self) -> int:
        """After the primary ended a historic timeline: its result set (next timeline, its
        start), then the two CommandCompletes; returns the next timeline."""
        rows: list[tuple[bytes | None, ...]] = []
        while True:
            message = self._next_message(blocking=True)
            if isinstance(message, DataRow):
                rows.append(message.values)
            elif isinstance(message, CommandComplete) and message.tag == "START_REPLICATION":
                break
            elif isinstance(message, RowDescription | CommandComplete):
                continue
            else:
                raise WalReceiverError("unexpected message from primary server after the end "
                                       f"of its timeline: {type(message).__name__}")
        if len(rows) != 1 or len(rows[0]) < 2 or rows[0][0] is None:
            raise WalReceiverError("unexpected result set after end-of-streaming")
        try:
            return int(rows[0][0])
        except ValueError:
            raise WalReceiverError("unexpected result set after end-of-streaming") from None

    def _wait_for_new_timeline(self, end_lsn: int, timeline: int) -> None:
        """Wait until replay adopted a history where ``end_lsn`` belongs to a timeline newer
        than ``timeline`` (the startup thread rescans when it runs out of WAL; woken now)."""
        self.status.state = WalReceiverState.WAITING
        self._release_source()     # meanwhile the archive may serve the startup thread
        self._wake_startup()
        while timeline_of(end_lsn, self._history()) <= timeline:
            if self._stopping.wait(TICK_S):
                raise WalReceiverError("walreceiver is stopping", sqlstate="57P01")
        self._take_source()

    def _start_replication(self, start_lsn: int, timeline: int, slot: str) -> bool:
        """START_REPLICATION; False when the primary answered with the end of the timeline at
        once (the start was its switch point: no CopyBoth)."""
        slot_clause = f'SLOT "{slot}" ' if slot else ""
        self._client.send(Query(f"START_REPLICATION {slot_clause}PHYSICAL "
                                f"{format_lsn(start_lsn)} TIMELINE {timeline}"))
        while True:
            message = self._next_message(blocking=True, failing="could not start WAL streaming")
            if isinstance(message, CopyBothResponse):
                break
            if isinstance(message, RowDescription):
                return False
        status = self.status
        status.receive_start_lsn, status.receive_start_tli = start_lsn, timeline
        status.received_tli, status.slot_name = timeline, slot or None
        status.state = WalReceiverState.STREAMING
        if start_lsn % self.identity.segment_size:
            self.writer.sync_segment(start_lsn // self.identity.segment_size)
        self.writer.written_lsn = max(self.writer.written_lsn, start_lsn)
        self.writer.flushed_lsn = max(self.writer.flushed_lsn, start_lsn)
        # PostgreSQL's flushedUpto starts at the streaming start: pg_last_wal_receive_lsn()
        # names it before the first byte arrives (NULL only when no walreceiver ever ran)
        status.flushed_lsn = max(status.flushed_lsn, start_lsn)
        self.receipts.stream_started(start_lsn)
        return True

    # -- streaming ---------------------------------------------------------------------------------

    def _stream(self) -> int | None:
        """Receive until the primary ends this timeline (CopyDone: returns where it ended, our
        CopyDone sent) or ``stop()`` (None); the primary's shutdown or a failure raises."""
        timers = _Timers()
        self._send_status(timers, force=True)
        self._send_feedback(timers, immediate=True)
        while not self._stopping.is_set():
            if self._reply_requested:
                self._reply_requested = False   # cleared first: a later request sends again
                self._send_status(timers, force=True)
            # WAL written but not flushed: take only what already arrived, then flush (and wake
            # the startup thread) before waiting, as PostgreSQL's walreceiver does; waiting a
            # whole tick first delayed every commit's replay by up to TICK_S, or longer under a
            # steady stream
            unflushed = self.writer.written_lsn > self.writer.flushed_lsn
            message = self._next_message(blocking=False, wait_s=0.0 if unflushed else TICK_S)
            if message is None:
                self._flush(timers)
                self._tick(timers)
                continue
            timers.last_receive, timers.ping_sent = time.monotonic(), False
            if isinstance(message, CopyData):
                self._handle_copy_data(message.data, timers)
                if self.writer.written_lsn - self.writer.flushed_lsn >= FLUSH_AFTER_BYTES:
                    self._flush(timers)
            elif isinstance(message, CopyDone):
                self._flush(timers)
                log.info("replication terminated by primary server")
                log.info("End of WAL reached on timeline %d at %s.", self.writer.timeline,
                         format_lsn(self.writer.flushed_lsn), extra={"pg_level": "DETAIL"})
                self._client.send(CopyDone())
                return self.writer.flushed_lsn
            elif isinstance(message, CommandComplete):
                self._flush(timers)
                raise WalReceiverError("replication terminated by primary server",
                                       detail=f"End of WAL reached on timeline "
                                              f"{self.writer.timeline} at "
                                              f"{format_lsn(self.writer.flushed_lsn)}.")
        return None

    def _handle_copy_data(self, payload: bytes, timers: _Timers) -> None:
        message = decode_primary_message(payload)
        status = self.status
        status.last_msg_send_time = pg_timestamp_to_unix(message.send_time)
        status.last_msg_receipt_time = time.time()
        if status.latest_end_lsn != message.wal_end_lsn:
            status.latest_end_lsn = message.wal_end_lsn
            status.latest_end_time = status.last_msg_send_time
        if isinstance(message, XLogData):
            self.writer.write(message.data_start_lsn, message.data)
            status.written_lsn = self.writer.written_lsn
        elif isinstance(message, PrimaryKeepalive) and message.reply_requested:
            self._flush(timers)
            self._send_status(timers, force=True)

    def _flush(self, timers: _Timers) -> None:
        if self.writer.flush():
            self.status.flushed_lsn = self.writer.flushed_lsn
            self.receipts.flushed(self.writer.flushed_lsn, time.monotonic())
            self._wake_startup()
            self._send_status(timers, force=True)

    def _tick(self, timers: _Timers) -> None:
        now = time.monotonic()
        timeout_ms = self._setting_ms("wal_receiver_timeout")
        silent_s = now - timers.last_receive
        if timeout_ms > 0 and silent_s * 1000 >= timeout_ms:
            raise WalReceiverError("terminating walreceiver due to timeout", sqlstate="08006")
        if timeout_ms > 0 and not timers.ping_sent and silent_s * 1000 >= timeout_ms / 2:
            timers.ping_sent = True
            self._send_status(timers, force=True, reply_requested=True)
            return
        interval_ms = self._setting_ms("wal_receiver_status_interval")
        if interval_ms > 0 and (now - timers.last_status) * 1000 >= interval_ms:
            self._send_status(timers, force=True)
        self._send_feedback(timers)

    def _send_feedback(self, timers: _Timers, *, immediate: bool = False) -> None:
        """An 'h' message if ``FeedbackSchedule`` says one is due."""
        if self._feedback_horizon is None:
            return
        settings = self._settings()
        due = timers.feedback.due(
            enabled=bool(settings.get("hot_standby_feedback")),
            interval_ms=int(settings.get("wal_receiver_status_interval")),
            horizon=self._feedback_horizon(), now_s=time.monotonic(), immediate=immediate)
        if due is None:
            return
        xmin, epoch, catalog_epoch = due
        log.debug("sending hot standby feedback xmin %d epoch %d", xmin, epoch)
        feedback = HotStandbyFeedback(pg_timestamp_now(), xmin, epoch, 0, catalog_epoch)
        self._client.send(CopyData(feedback.encode()))

    def _send_status(self, timers: _Timers, *, force: bool,
                     reply_requested: bool = False) -> None:
        if not force:
            return
        writer = self.writer
        update = StandbyStatusUpdate(writer.written_lsn, writer.flushed_lsn,
                                     min(self._applied_lsn(), writer.flushed_lsn),
                                     pg_timestamp_now(), reply_requested)
        self._client.send(CopyData(update.encode()))
        timers.last_status = time.monotonic()

    def _next_message(self, *, blocking: bool, wait_s: float = TICK_S,
                      failing: str = "could not receive data from WAL stream") -> object | None:
        """The next backend message; None if none arrived within ``wait_s`` (non-blocking mode;
        0 = only what already arrived). An ErrorResponse or a closed connection raises
        WalReceiverError, its message prefixed by ``failing``."""
        client = self._client
        while True:
            event = client.protocol.next_event()
            if event is None:
                if blocking:
                    client.sock.settimeout(None)
                elif not self._wait_readable(client.sock, wait_s):
                    return None
                try:
                    data = client.sock.recv(RECEIVE_SIZE_BYTES)
                except (TimeoutError, BlockingIOError):
                    return None
                client.protocol.receive_data(data)
                continue
            if isinstance(event, ConnectionClosed):
                raise WalReceiverError(f"{failing}: server closed the connection "
                                       "unexpectedly")
            if isinstance(event, ErrorResponse):
                raise WalReceiverError(f"{failing}: ERROR:  {event.message}",
                                       detail=event.detail, sqlstate=event.sqlstate)
            if isinstance(event, NoticeResponse | ReadyForQuery):
                continue
            return event

    def _wait_readable(self, sock: socket.socket, wait_s: float) -> bool:
        """Wait up to ``wait_s`` for the primary's bytes (True) or a wake-up (False)."""
        kept = self._poller
        if kept is None or kept[1] != sock.fileno():
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            poller.register(self._wake_reader, select.POLLIN)
            self._poller = kept = (poller, sock.fileno())
        ready = {fd for fd, _ in kept[0].poll(max(int(wait_s * 1000), 0))}
        if self._wake_reader.fileno() in ready:
            try:
                while self._wake_reader.recv(64):
                    pass
            except OSError:
                pass
        return sock.fileno() in ready


def _connect(address: PrimaryAddress) -> Any:
    """A logged-in replication connection (the blocking client of the basebackup tool)."""
    from mirrordb.cli.basebackup import ConnectionSettings, ReplicationClient
    try:
        return ReplicationClient(ConnectionSettings(address.host, address.port, address.user,
                                                    address.password,
                                                    address.application_name))
    except ProtocolViolation as violation:
        raise WalReceiverError(f"could not connect to the primary server: {violation}") \
            from None
    except MirrordbError as error:
        raise WalReceiverError(f"could not connect to the primary server: {error.message}",
                               detail=error.detail, hint=error.hint,
                               sqlstate=error.sqlstate) from None


def _obfuscated(conninfo: str) -> str:
    """pg_stat_wal_receiver.conninfo: the password replaced by asterisks."""
    try:
        values = parse_conninfo(conninfo)
    except MirrordbError:
        return ""
    if "password" in values:
        values["password"] = "********"
    return " ".join(f"{key}={value}" for key, value in values.items())


# -- pg_stat_wal_receiver -----------------------------------------------------------------------------

# PostgreSQL 15's columns, in order, with their types' names
PG_STAT_WAL_RECEIVER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("pid", "int4"), ("status", "text"), ("receive_start_lsn", "pg_lsn"),
    ("receive_start_tli", "int4"), ("written_lsn", "pg_lsn"), ("flushed_lsn", "pg_lsn"),
    ("received_tli", "int4"), ("last_msg_send_time", "timestamptz"),
    ("last_msg_receipt_time", "timestamptz"), ("latest_end_lsn", "pg_lsn"),
    ("latest_end_time", "timestamptz"), ("slot_name", "text"), ("sender_host", "text"),
    ("sender_port", "int4"), ("conninfo", "text"))


def _timestamp(unix_s: float | None) -> datetime.datetime | None:
    if unix_s is None:
        return None
    return datetime.datetime.fromtimestamp(unix_s, datetime.UTC)


def _lsn_text(lsn: int) -> str | None:
    return None if lsn == INVALID_LSN else format_lsn(lsn)


def pg_stat_wal_receiver_rows(receiver: WalReceiver | None) -> list[tuple[object, ...]]:
    """The view's one row while a walreceiver runs (none otherwise); LSNs as text X/X."""
    if receiver is None or receiver.status.state is WalReceiverState.STOPPED:
        return []
    status = receiver.status
    return [(status.pid, status.state.value, _lsn_text(status.receive_start_lsn),
             status.receive_start_tli, _lsn_text(status.written_lsn),
             _lsn_text(status.flushed_lsn), status.received_tli,
             _timestamp(status.last_msg_send_time), _timestamp(status.last_msg_receipt_time),
             _lsn_text(status.latest_end_lsn), _timestamp(status.latest_end_time),
             status.slot_name, status.sender_host, status.sender_port, status.conninfo)]


__all__ = ["FeedbackSchedule", "PG_STAT_WAL_RECEIVER_COLUMNS", "PrimaryAddress", "SegmentWriter",
           "StandbyIdentity",
           "WalReceiver", "WalReceiverError", "WalReceiverState", "WalReceiverStatus",
           "parse_conninfo", "pg_stat_wal_receiver_rows", "primary_address"]
