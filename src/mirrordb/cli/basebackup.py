"""``mirrordb basebackup``: copy a running primary's (or standby's) data directory, as
pg_basebackup does in plain format.

Who calls it: ``cli/main.py`` (``mirrordb basebackup -h -p -U -D [-R] [--slot NAME] [-C]
[-X stream|fetch] [-P] [-c fast|spread] [-l label] [-N]``). The server half is
``replication/basebackup.py`` on a mirrordb primary, or a real PostgreSQL 15 walsender.

Lifecycle: one replication connection (``replication=true``) runs IDENTIFY_SYSTEM and
BASE_BACKUP; the archive stream (CopyData 'n' new archive, 'd' data, 'p' progress, 'm' manifest)
is unpacked into the target directory as it arrives (``TarExtractor``) and the manifest is
written to ``backup_manifest``. With ``-X stream`` a second connection, opened once the header
result sets have arrived, runs START_REPLICATION from the segment holding the start LSN (on a
temporary slot ``pg_basebackup_<pid>`` unless ``--slot`` names one) and writes WAL into
``pg_wal`` until it has the backup's end LSN. ``-R`` then writes ``standby.signal`` and
appends ``primary_conninfo``/``primary_slot_name`` to ``postgresql.auto.conf``. Last, unless
``-N`` (``--no-sync``), every file and directory of the backup is fsynced, as pg_basebackup
does: when the command returns, a crash of the machine cannot take the backup back.

Timelines in ``-X stream``: a start timeline above 1 needs its history file, which the streamer
fetches with TIMELINE_HISTORY (unless ``pg_wal`` has it) before START_REPLICATION. When the
server's history leaves the streamed timeline (it was promoted, or a standby followed a
promotion) it ends the stream at the switch point with CopyDone and a result set naming the next
timeline and where it begins; the streamer then, as pg_basebackup, fetches that timeline's
history and starts again on it from the segment holding the switch point (the old timeline's
copy of that segment stays, unfinished, without a ``.done`` mark).

The tar format read here is the one documented in ``replication/basebackup.py``.
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mirrordb.auth.md5 import md5_response
from mirrordb.auth.scram import ScramClientExchange
from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.common.fileio import fsync_tree, write_file_atomic
from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.protocol.client import ClientConnection
from mirrordb.protocol.messages import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendKeyData,
    CommandComplete,
    CopyBothResponse,
    CopyData,
    CopyDone,
    CopyOutResponse,
    DataRow,
    ErrorResponse,
    NoticeResponse,
    PasswordMessage,
    Query,
    ReadyForQuery,
    RowDescription,
    encode_password,
    encode_sasl_initial_response,
)
from mirrordb.wal.segment import history_file_name, segment_name, segno_of

RECEIVE_SIZE_BYTES = 256 * 1024
CONNECT_TIMEOUT_S = 30.0
STREAM_POLL_S = 0.5
TAR_BLOCK_SIZE = 512
STATUS_INTERVAL_S = 10.0
SCRAM_MECHANISM = "SCRAM-SHA-256"
XLOG_DATA_HEADER = struct.Struct("!cqqq")  # 'w', dataStart, walEnd, sendTime
KEEPALIVE = struct.Struct("!cqqB")  # 'k', walEnd, sendTime, replyRequested
STATUS_UPDATE = struct.Struct("!cqqqqB")  # 'r', write, flush, apply, sendTime, replyRequested
PROGRESS = struct.Struct("!q")
PG_EPOCH_UNIX_S = 946684800
TIMELINE_SWITCH_LIMIT = 64   # timeline switches one -X stream follows before giving up


class BackupFailed(MirrordbError):
    """The server refused or broke off the backup, or the target directory is unusable."""


# -- connection --------------------------------------------------------------------------------

@dataclass
class ConnectionSettings:
    host: str
    port: int
    user: str
    password: str | None = None
    application_name: str = "mirrordb_basebackup"


def _pgpass_password(settings: ConnectionSettings) -> str | None:
    path = os.environ.get("PGPASSFILE") or os.path.expanduser("~/.pgpass")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    wanted = [settings.host, str(settings.port), "replication", settings.user]
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        fields = _split_pgpass(line)
        if len(fields) == 5 and all(
                pattern in ("*", value) for pattern, value in zip(fields[:4], wanted)):
            return fields[4]
    return None


def _split_pgpass(line: str) -> list[str]:
    fields, current, escaped = [], "", False
    for character in line:
        if escaped:
            current, escaped = current + character, False
        elif character == "\\":
            escaped = True
        elif character == ":":
            fields.append(current)
            current = ""
        else:
            current += character
    fields.append(current)
    return fields


class ReplicationClient:
    """A blocking replication connection over a socket, driving protocol/client.py."""

    def __init__(self, settings: ConnectionSettings, sock: socket.socket | None = None) -> None:
        """Connect as ``settings`` say (or log in over ``sock``, already connected)."""
        self.settings = settings
        self.protocol = ClientConnection()
        self.backend_pid = 0
        self.parameters: dict[str, str] = {}
        self.sock = sock if sock is not None else self._open_socket()
        self.password_used: str | None = None
        self._login()

    def _open_socket(self) -> socket.socket:
        host, port = self.settings.host, self.settings.port
        try:
            if host.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(CONNECT_TIMEOUT_S)
                sock.connect(os.path.join(host, f".s.PGSQL.{port}"))
            else:
                sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as error:
            raise BackupFailed(f'connection to server at "{host}", port {port} failed: '
                               f"{error.strerror or error}", sqlstate="08006") from None
        sock.settimeout(None)
        return sock

    def _password(self) -> str:
        password = self.settings.password or os.environ.get("PGPASSWORD") \
            or _pgpass_password(self.settings)
        if password is None:
            raise BackupFailed("fe_sendauth: no password supplied", sqlstate="28P01")
        self.password_used = password
        return password

    def _login(self) -> None:
        self.sock.sendall(self.protocol.startup({
            "user": self.settings.user, "database": "replication", "replication": "true",
            "application_name": self.settings.application_name}))
        scram: ScramClientExchange | None = None
        while True:
            message = self.next_message()
            if isinstance(message, AuthenticationCleartextPassword):
                self.send(PasswordMessage(encode_password(self._password())))
            elif isinstance(message, AuthenticationMD5Password):
                answer = md5_response(self._password(), self.settings.user, message.salt)
                self.send(PasswordMessage(encode_password(answer)))
            elif isinstance(message, AuthenticationSASL):
                scram = ScramClientExchange(self.settings.user, self._password())
                self.send(PasswordMessage(encode_sasl_initial_response(
                    SCRAM_MECHANISM, scram.client_first())))
            elif isinstance(message, AuthenticationSASLContinue):
                invariant(scram is not None, "SASL continue before SASL start")
                self.send(PasswordMessage(scram.client_final(message.data)))  # type: ignore
            elif isinstance(message, AuthenticationSASLFinal):
                scram.verify_server_final(message.data)  # type: ignore[union-attr]
            elif isinstance(message, BackendKeyData):
                self.backend_pid = message.process_id
            elif isinstance(message, ReadyForQuery):
                return
            elif hasattr(message, "name") and hasattr(message, "value"):
                self.parameters[message.name] = message.value  # type: ignore[attr-defined]

    def send(self, *messages: object) -> None:
        self.protocol.send(*messages)  # type: ignore[arg-type]
        self.sock.sendall(self.protocol.data_to_send())

    def next_message(self) -> object:
        """The next backend message; an ErrorResponse raises BackupFailed."""
        while True:
            event = self.protocol.next_event()
            if event is None:
                data = self.sock.recv(RECEIVE_SIZE_BYTES)
                self.protocol.receive_data(data)
                continue
            if isinstance(event, ConnectionClosed):
                raise BackupFailed("server closed the connection unexpectedly", sqlstate="08006")
            if isinstance(event, ErrorResponse):
                raise BackupFailed(event.message or "error", detail=event.detail,
                                   hint=event.hint, sqlstate=event.sqlstate)
            if isinstance(event, NoticeResponse):
                continue
            return event

    def query(self, sql: str) -> list[list[tuple[str | None, ...]]]:
        """Run a replication command that returns only result sets; the rows of each set."""
        self.send(Query(sql))
        results: list[list[tuple[str | None, ...]]] = []
        while True:
            message = self.next_message()
            if isinstance(message, RowDescription):
                results.append([])
            elif isinstance(message, DataRow):
                results[-1].append(_text_row(message))
            elif isinstance(message, ReadyForQuery):
                return results

    def read_result_set(self) -> list[tuple[str | None, ...]]:
        """Rows of the next result set up to its CommandComplete (inside BASE_BACKUP)."""
        rows: list[tuple[str | None, ...]] = []
        while True:
            message = self.next_message()
            if isinstance(message, DataRow):
                rows.append(_text_row(message))
            elif isinstance(message, CommandComplete):
                return rows

    def close(self) -> None:
        try:
            from mirrordb.protocol.messages import Terminate
            self.send(Terminate())
        except (OSError, MirrordbError):
            pass
        self.sock.close()


def _text_row(row: DataRow) -> tuple[str | None, ...]:
    return tuple(None if value is None else value.decode() for value in row.values)


# -- tar extraction ------------------------------------------------------------------------------

def _tar_number(field_bytes: bytes) -> int:
    text = field_bytes.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise BackupFailed(f"invalid tar number {text!r} in a member header") from None


def _tar_text(field_bytes: bytes) -> str:
    try:
        return field_bytes.split(b"\0", 1)[0].decode()
    except UnicodeDecodeError:
        raise BackupFailed("tar member name is not valid UTF-8") from None


@dataclass(eq=False)
class TarExtractor:
    """Unpacks a ustar stream fed in pieces of any size into ``target``."""

    target: str
    on_file: Callable[[str], None] | None = None
    _pending: bytearray = field(default_factory=bytearray)
    _handle: object = None
    _remaining: int = 0
    _padding: int = 0
    _ended: bool = False

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._remaining:
                take = min(self._remaining, len(view))
                self._handle.write(view[:take])  # type: ignore[attr-defined]
                self._remaining -= take
                view = view[take:]
                if not self._remaining:
                    self._close_member()
            elif self._padding:
                take = min(self._padding, len(view))
                self._padding -= take
                view = view[take:]
            else:
                take = min(TAR_BLOCK_SIZE - len(self._pending), len(view))
                self._pending += view[:take]
                view = view[take:]
                if len(self._pending) == TAR_BLOCK_SIZE:
                    header = bytes(self._pending)
                    self._pending.clear()
                    self._header(header)

    def _safe_path(self, name: str) -> str:
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if not parts or name.startswith("/") or ".." in parts:
            raise BackupFailed(f'tar member has unsafe path name: "{name}"')
        return os.path.join(self.target, *parts)

    def _header(self, header: bytes) -> None:
        if header == bytes(TAR_BLOCK_SIZE) or self._ended:
            self._ended = True
            return
        name = _tar_text(header[0:100])
        mode = _tar_number(header[100:108])
        size = _tar_number(header[124:136])
        typeflag = header[156:157]
        path = self._safe_path(name)
        if typeflag == b"5":
            os.makedirs(path, mode=mode or 0o700, exist_ok=True)
        elif typeflag == b"2":
            linkname = _tar_text(header[157:257])
            os.symlink(linkname, path)
        else:
            self._handle = open(path, "wb")  # noqa: SIM115 (closed in _close_member)
            os.chmod(path, mode or 0o600)
            self._remaining, self._padding = size, -size % TAR_BLOCK_SIZE
            if size == 0:
                self._close_member()
            if self.on_file is not None:
                self.on_file(name)

    def _close_member(self) -> None:
        self._handle.close()  # type: ignore[attr-defined]
        self._handle = None

    def finish(self) -> None:
        if self._handle is not None or self._pending:
            raise BackupFailed("COPY stream ended before last file was finished")


# -- the backup stream ---------------------------------------------------------------------------

@dataclass(eq=False)
class BackupStreamReceiver:
    """Consumes BASE_BACKUP's CopyData sub-messages ('n', 'd', 'p', 'm') for a plain backup."""

    target: str
    progress: Callable[[int], None] | None = None
    bytes_done: int = 0
    archives: list[str] = field(default_factory=list)
    _extractor: TarExtractor | None = None
    _manifest: object = None
    _in_manifest: bool = False

    def receive(self, data: bytes) -> None:
        kind, payload = data[:1], data[1:]
        if kind == b"n":
            self._new_archive(payload)
        elif kind == b"d":
            self._data(payload)
        elif kind == b"p":
            if len(payload) != PROGRESS.size:
                raise BackupFailed("progress report message has wrong length")
            self.bytes_done = PROGRESS.unpack(payload)[0]
            if self.progress is not None:
                self.progress(self.bytes_done)
        elif kind == b"m":
            if payload:
                raise BackupFailed("manifest message has wrong length")
            self._finish_archive()
            self._in_manifest = True
            self._manifest = open(os.path.join(self.target, "backup_manifest.tmp"), "wb")
        else:
            raise BackupFailed(f"unrecognized archive stream message type {kind!r}")

    def _new_archive(self, payload: bytes) -> None:
        if self._in_manifest:
            raise BackupFailed("archives must precede manifest")
        parts = payload.split(b"\0")
        name = _tar_text(parts[0])
        location = _tar_text(parts[1]) if len(parts) > 1 else ""
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise BackupFailed(f'invalid archive name: "{name}"')
        if location:
            raise BackupFailed("tablespaces are not supported by mirrordb basebackup yet",
                               sqlstate="0A000")
        self._finish_archive()
        self.archives.append(name)
        self._extractor = TarExtractor(self.target)

    def _data(self, payload: bytes) -> None:
        if self._in_manifest:
            self._manifest.write(payload)  # type: ignore[attr-defined]
            return
        if self._extractor is None:
            raise BackupFailed("unexpected payload data")
        self._extractor.feed(payload)
        if self.progress is not None:
            self.bytes_done += len(payload)
            self.progress(self.bytes_done)

    def _finish_archive(self) -> None:
        if self._extractor is not None:
            self._extractor.finish()
            self._extractor = None

    def finish(self) -> None:
        self._finish_archive()
        if self._manifest is not None:
            self._manifest.close()  # type: ignore[attr-defined]
            os.replace(os.path.join(self.target, "backup_manifest.tmp"),
                       os.path.join(self.target, "backup_manifest"))


# -- WAL streaming (-X stream) --------------------------------------------------------------------

def _now_pg_us() -> int:
    return int((time.time() - PG_EPOCH_UNIX_S) * 1_000_000)


class WalStreamer:
    """The second connection of ``-X stream``: writes the backup's WAL into ``pg_wal``."""

    def __init__(self, settings: ConnectionSettings, waldir: str, start_lsn: int, timeline: int,
                 segment_size: int, slot: str | None, create_temporary_slot: bool,
                 client: ReplicationClient | None = None) -> None:
        self.client = client if client is not None else ReplicationClient(settings)
        self.waldir = waldir
        self.timeline = timeline
        self.segment_size = segment_size
        self.start_lsn = start_lsn - start_lsn % segment_size
        self.slot = slot
        if create_temporary_slot:
            self.slot = f"pg_basebackup_{self.client.backend_pid}"
            self.client.query(f'CREATE_REPLICATION_SLOT "{self.slot}" TEMPORARY PHYSICAL '
                              "( RESERVE_WAL)")
        self.end_lsn: int | None = None
        self.written_lsn = self.start_lsn
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="basebackup-walstreamer",
                                        daemon=True)

    def start(self) -> None:
        self._start_streaming()
        self._thread.start()

    def stop_at(self, end_lsn: int) -> None:
        """The backup ended at ``end_lsn``: stream until then, and end the stream."""
        self.end_lsn = end_lsn
        self._thread.join()
        if self.error is not None:
            raise BackupFailed(f"could not stream write-ahead log: {self.error}")

    def _run(self) -> None:
        try:
            self._stream()
        except BaseException as error:  # reported by stop_at on the main thread
            self.error = error

    def _start_streaming(self) -> None:
        """START_REPLICATION on ``timeline`` from ``written_lsn`` (a segment start), once its
        history file is here. A server whose history leaves the timeline exactly there answers
        with the end-of-timeline result set instead of CopyBoth: follow it and ask again."""
        for _ in range(TIMELINE_SWITCH_LIMIT):
            self._fetch_history()
            slot = f'SLOT "{self.slot}" ' if self.slot else ""
            self.client.send(Query(f"START_REPLICATION {slot}{format_lsn(self.written_lsn)} "
                                   f"TIMELINE {self.timeline}"))
            if self._copy_both_started():
                return
        raise BackupFailed(f"more than {TIMELINE_SWITCH_LIMIT} timeline switches while "
                           "streaming write-ahead log")

    def _copy_both_started(self) -> bool:
        """True at CopyBothResponse; False after following an end-of-timeline result set."""
        while True:
            message = self.client.next_message()
            if isinstance(message, CopyBothResponse):
                return True
            if isinstance(message, RowDescription):
                self._follow_next_timeline()
                return False
            if isinstance(message, ReadyForQuery):
                raise BackupFailed("unexpected termination of replication stream")

    def _fetch_history(self) -> None:
        """TIMELINE_HISTORY of the streamed timeline into ``pg_wal`` (marked archived), as
        pg_basebackup does, unless it is timeline 1 or the file is already there."""
        name = history_file_name(self.timeline)
        path = os.path.join(self.waldir, name)
        if self.timeline == 1 or os.path.exists(path):
            return
        results = self.client.query(f"TIMELINE_HISTORY {self.timeline}")
        rows = results[0] if results else []
        if len(rows) != 1 or len(rows[0]) != 2:
            raise BackupFailed("unexpected response to TIMELINE_HISTORY command: got "
                               f"{len(rows)} rows and {len(rows[0]) if rows else 0} fields, "
                               "expected 1 rows and 2 fields")
        if rows[0][0] != name:
            raise BackupFailed("server reported unexpected history file name for timeline "
                               f"{self.timeline}: {rows[0][0]}")
        write_file_atomic(path, (rows[0][1] or "").encode())
        with open(os.path.join(self.waldir, "archive_status", name + ".done"), "wb"):
            pass

    def _follow_next_timeline(self) -> None:
        """Read the end-of-timeline result set (its RowDescription already read) up to
        ReadyForQuery, check it and move to the next timeline, from the start of the segment
        holding its first byte."""
        rows: list[tuple[str | None, ...]] = []
        while True:
            message = self.client.next_message()
            if isinstance(message, DataRow):
                rows.append(_text_row(message))
            elif isinstance(message, ReadyForQuery):
                break
        if len(rows) != 1 or len(rows[0]) < 2:
            raise BackupFailed("unexpected result set after end-of-timeline: got "
                               f"{len(rows)} rows and {len(rows[0]) if rows else 0} fields, "
                               "expected 1 rows and 2 fields")
        next_timeline, start_lsn = int(rows[0][0] or 0), parse_lsn(rows[0][1] or "0/0")
        if next_timeline <= self.timeline:
            raise BackupFailed(f"server reported unexpected next timeline {next_timeline}, "
                               f"following timeline {self.timeline}")
        if start_lsn > self.written_lsn:
            raise BackupFailed(f"server stopped streaming timeline {self.timeline} at "
                               f"{format_lsn(self.written_lsn)}, but reported next timeline "
                               f"{next_timeline} to begin at {format_lsn(start_lsn)}")
        self.timeline = next_timeline
        self.written_lsn = start_lsn - start_lsn % self.segment_size

    def _stream(self) -> None:
        handle = None
        self.client.sock.settimeout(STREAM_POLL_S)
        while self.end_lsn is None or self.written_lsn < self.end_lsn:
            try:
                message = self.client.next_message()
            except TimeoutError:
                continue
            if isinstance(message, CopyDone):     # the end of a timeline
                handle = self._close_unfinished_segment(handle)
                self._switch_timeline()
                continue
            if not isinstance(message, CopyData):
                raise BackupFailed(f"unexpected message {type(message).__name__} in stream")
            handle = self._handle_message(message.data, handle)
        if handle is not None:
            handle.close()  # type: ignore[attr-defined]
        self.client.sock.settimeout(None)
        self._send_status(0)
        self.client.send(CopyDone())
        while not isinstance(self.client.next_message(), ReadyForQuery):
            pass  # the server's CopyDone, then START_STREAMING / START_REPLICATION completes
        self.client.close()

    def _switch_timeline(self) -> None:
        """The server sent CopyDone: answer it, read what follows and go on with the next
        timeline; a stream that ends without naming one ends the backup's WAL too early."""
        self.client.sock.settimeout(None)
        self.client.send(CopyDone())
        while True:
            message = self.client.next_message()
            if isinstance(message, RowDescription):
                break
            if isinstance(message, ReadyForQuery):
                raise BackupFailed("replication stream was terminated before stop point")
        self._follow_next_timeline()
        self._start_streaming()
        self.client.sock.settimeout(STREAM_POLL_S)

    def _handle_message(self, data: bytes, handle: object) -> object:
        if data[:1] == b"k":
            _, wal_end, _, reply_requested = KEEPALIVE.unpack(data)
            if reply_requested:
                self._send_status(0)
            return handle
        if data[:1] != b"w":
            return handle
        _, data_start, _, _ = XLOG_DATA_HEADER.unpack_from(data)
        invariant(data_start == self.written_lsn,
                  f"got WAL data offset {data_start:#x}, expected {self.written_lsn:#x}")
        payload = memoryview(data)[XLOG_DATA_HEADER.size:]
        while payload:
            offset = self.written_lsn % self.segment_size
            if handle is None:
                handle = self._open_segment()
            take = min(len(payload), self.segment_size - offset)
            handle.write(payload[:take])  # type: ignore[attr-defined]
            payload = payload[take:]
            self.written_lsn += take
            if self.written_lsn % self.segment_size == 0:
                handle = self._close_segment(handle)
        return handle

    def _open_segment(self) -> object:
        segno = segno_of(self.written_lsn, self.segment_size)
        name = segment_name(self.timeline, segno, self.segment_size)
        path = os.path.join(self.waldir, name)
        handle = open(path, "wb")  # noqa: SIM115 (closed in _close_segment or at the end)
        handle.truncate(self.segment_size)  # a plain backup's segments are full size, as PG's
        handle.seek(self.written_lsn % self.segment_size)
        return handle

    def _close_segment(self, handle: object) -> None:
        handle.flush()  # type: ignore[attr-defined]
        os.fsync(handle.fileno())  # type: ignore[attr-defined]
        handle.close()  # type: ignore[attr-defined]
        segno = segno_of(self.written_lsn - 1, self.segment_size)
        name = segment_name(self.timeline, segno, self.segment_size)
        with open(os.path.join(self.waldir, "archive_status", name + ".done"), "wb"):
            pass
        self._send_status(0)
        return None

    def _close_unfinished_segment(self, handle: object) -> None:
        """The old timeline's copy of the switch segment: kept as written, not marked done."""
        if handle is not None:
            handle.flush()  # type: ignore[attr-defined]
            os.fsync(handle.fileno())  # type: ignore[attr-defined]
            handle.close()  # type: ignore[attr-defined]
        return None

    def _send_status(self, reply_requested: int) -> None:
        self.client.send(CopyData(STATUS_UPDATE.pack(
            b"r", self.written_lsn, self.written_lsn, 0, _now_pg_us(), reply_requested)))


# -- -R ------------------------------------------------------------------------------------------

def _quote_conninfo(value: str) -> str:
    if value and all(character.isalnum() or character in "._-/" for character in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def primary_conninfo(settings: ConnectionSettings, password: str | None) -> str:
    parts = [f"user={_quote_conninfo(settings.user)}"]
    if password:
        parts.append(f"password={_quote_conninfo(password)}")
    parts += [f"host={_quote_conninfo(settings.host)}", f"port={settings.port}"]
    return " ".join(parts)


def write_recovery_config(target: str, conninfo: str, slot: str | None) -> None:
    """What ``pg_basebackup -R`` writes: standby.signal, and lines appended to
    postgresql.auto.conf (single quotes doubled inside the quoted values)."""
    with open(os.path.join(target, "standby.signal"), "wb"):
        pass
    lines = f"primary_conninfo = '{conninfo.replace(chr(39), chr(39) * 2)}'\n"
    if slot:
        lines += f"primary_slot_name = '{slot.replace(chr(39), chr(39) * 2)}'\n"
    with open(os.path.join(target, "postgresql.auto.conf"), "a", encoding="utf-8") as handle:
        handle.write(lines)


# -- the command -----------------------------------------------------------------------------------

def _prepare_target(target: str) -> None:
    if os.path.exists(target):
        if not os.path.isdir(target) or os.listdir(target):
            raise BackupFailed(f'directory "{target}" exists but is not empty')
    else:
        os.makedirs(target, mode=0o700)
    os.chmod(target, stat.S_IRWXU)


def _base_backup_command(args: argparse.Namespace) -> str:
    options = [f"LABEL '{args.label.replace(chr(39), chr(39) * 2)}'", "PROGRESS"]
    if args.checkpoint == "fast":
        options.append("CHECKPOINT 'fast'")
    if args.wal_method == "fetch":
        options.append("WAL")
    options += ["WAIT 0", "MANIFEST 'yes'", "TARGET 'client'"]
    return "BASE_BACKUP ( " + ",  ".join(options) + ")"


class ProgressBar:
    """pg_basebackup -P's line: "done/total kB (percent%), tablespaces"."""

    def __init__(self, total_kb: int, enabled: bool) -> None:
        self.total_kb = max(total_kb, 1)
        self.enabled = enabled
        self._last_s = 0.0

    def update(self, bytes_done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last_s < 1.0):
            return
        self._last_s = now
        done_kb = bytes_done // 1024
        total = max(self.total_kb, done_kb)
        percent = done_kb * 100 // total
        width = len(str(total))
        sys.stderr.write(f"\r{done_kb:>{width}}/{total} kB ({percent}%), 0/1 tablespace")
        sys.stderr.flush()

    def finish(self, bytes_done: int) -> None:
        if self.enabled:
            self.update(bytes_done, force=True)
            sys.stderr.write("\n")


def run_backup(args: argparse.Namespace) -> int:
    settings = ConnectionSettings(args.host, args.port, args.username)
    target = os.path.abspath(args.pgdata)
    _prepare_target(target)
    client = ReplicationClient(settings)
    try:
        segment_size = _segment_size(client)
        system = client.query("IDENTIFY_SYSTEM")[0][0]
        if args.create_slot:
            client.query(f'CREATE_REPLICATION_SLOT "{args.slot}" PHYSICAL ( RESERVE_WAL)')
        _receive_backup(client, args, settings, target, segment_size, system)
    finally:
        client.close()
    if args.write_recovery_conf:
        write_recovery_config(target, primary_conninfo(settings, client.password_used), args.slot)
    if args.sync:     # as pg_basebackup: the backup is on disk when the command returns
        fsync_tree(target)
    return 0


def _segment_size(client: ReplicationClient) -> int:
    text = client.query("SHOW wal_segment_size")[0][0][0] or "16MB"
    units = {"kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(text[:-len(unit)]) * factor
    return int(text)


def _receive_backup(client: ReplicationClient, args: argparse.Namespace,
                    settings: ConnectionSettings, target: str, segment_size: int,
                    system: tuple[str | None, ...]) -> None:
    client.send(Query(_base_backup_command(args)))
    start_row = client.read_result_set()[0]
    start_lsn, timeline = parse_lsn(start_row[0] or "0/0"), int(start_row[1] or 1)
    tablespaces = client.read_result_set()
    total_kb = sum(int(row[2] or 0) for row in tablespaces)
    streamer = None
    if args.wal_method == "stream":
        os.makedirs(os.path.join(target, "pg_wal", "archive_status"), mode=0o700, exist_ok=True)
        streamer = WalStreamer(settings, os.path.join(target, "pg_wal"), start_lsn, timeline,
                               segment_size, args.slot, create_temporary_slot=not args.slot)
        streamer.start()
    bar = ProgressBar(total_kb, args.progress)
    receiver = BackupStreamReceiver(target, progress=bar.update)
    while not isinstance(client.next_message(), CopyOutResponse):
        pass
    while True:
        message = client.next_message()
        if isinstance(message, CopyDone):
            break
        if isinstance(message, CopyData):
            receiver.receive(message.data)
    receiver.finish()
    bar.finish(receiver.bytes_done)
    end_row = client.read_result_set()[0]
    while not isinstance(client.next_message(), ReadyForQuery):
        pass
    if streamer is not None:
        streamer.stop_at(parse_lsn(end_row[0] or "0/0"))


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("basebackup", help="take a base backup of a running server",
                                 add_help=False)
    parser.add_argument("--help", action="help", help="show this help message and exit")
    parser.add_argument("-h", "--host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("PGPORT", 5432)))
    parser.add_argument("-U", "--username", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("-D", "--pgdata", required=True, help="directory to receive the backup")
    parser.add_argument("-R", "--write-recovery-conf", action="store_true")
    parser.add_argument("-S", "--slot", default=None, help="replication slot to use")
    parser.add_argument("-C", "--create-slot", action="store_true")
    parser.add_argument("-X", "--wal-method", choices=("stream", "fetch"), default="stream")
    parser.add_argument("-P", "--progress", action="store_true")
    parser.add_argument("-c", "--checkpoint", choices=("fast", "spread"), default="spread")
    parser.add_argument("-l", "--label", default="mirrordb base backup")
    parser.add_argument("-N", "--no-sync", dest="sync", action="store_false",
                        help="do not wait for the backup to be written safely to disk")


def run(args: argparse.Namespace) -> int:
    if args.create_slot and not args.slot:
        raise BackupFailed("--create-slot needs a slot to be specified using --slot")
    return run_backup(args)
