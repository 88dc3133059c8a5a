"""The server side of BASE_BACKUP: a copy of the data directory streamed to a replication client.

Who calls it: the walsender (``replication/walsender.py``), after parsing PostgreSQL 15's
``BASE_BACKUP ( LABEL '...', PROGRESS, CHECKPOINT 'fast', WAL, WAIT false, MANIFEST 'yes' ... )``
into a dict of lowercased option names, calls ``run_base_backup(walsender, options)``. It runs on
the walsender's thread and returns after ``CommandComplete "BASE_BACKUP"``; the walsender then
sends ReadyForQuery, as after any replication command. An operating error raised before the
CopyOutResponse is an ordinary ErrorResponse for the walsender to send.
The other half is ``mirrordb basebackup`` (``cli/basebackup.py``) or the real ``pg_basebackup``.

Lifecycle of one backup (PostgreSQL's do_pg_backup_start / perform_base_backup / do_pg_backup_stop):

1. A checkpoint (our checkpointer has one speed: 'fast' and 'spread' both run it at once). Its REDO
   point is the backup's start LSN; ``backup_label`` names it and the checkpoint record. From
   before that checkpoint until the backup ends (or fails), a hold in the checkpointer's
   ``wal_holds`` keeps every WAL segment from the start LSN on: checkpoints of a busy primary
   (or restartpoints of a standby) remove none of them, so ``-X fetch`` finds them all.
2. Result set 1 (start LSN, timeline), result set 2 (tablespaces; only the main directory here,
   size in kB when PROGRESS), CopyOutResponse.
3. Inside CopyData: ``n`` "base.tar\\0\\0", ``d`` chunks of a ustar archive (``backup_label`` first,
   the directory walk, ``global/pg_control`` last, then with WAL the segments from the start LSN
   to the end LSN and every timeline history file in ``pg_wal``, each with its ``.done`` file,
   then two zero blocks), ``p`` bytes done, and with MANIFEST ``m`` followed by ``d`` chunks of
   the JSON manifest. Each segment is the file of the first of its candidate timelines in the
   server's current history that exists (wal/timeline.py ``segment_timelines``), so a backup
   starting in the segment where a promotion switched timelines takes the new timeline's copy.
4. The backup-end WAL: an XLOG_BACKUP_END record carrying the start LSN, then XLOG_SWITCH, so that
   the segment holding the end is complete and a streaming client reaches the end LSN.
5. CopyDone, result set 3 (end LSN, timeline), CommandComplete "BASE_BACKUP".

From a standby (the engine is in recovery; PostgreSQL's backup "FROM: standby") nothing writes
WAL: the backup asks for a restartpoint (made if a checkpoint record newer than pg_control's was
replayed), and starts at the last restartpoint (pg_control's checkpoint and its REDO point),
``backup_label`` says "BACKUP FROM: standby", ``global/pg_control`` is copied after
every data file, and the end LSN is the minRecoveryPoint read after that copy. Every page the
archive holds was written before pg_control was copied, so its LSN is at most the copied
minRecoveryPoint; the restored cluster takes that value as its backupEndPoint and is consistent
once replay reaches it (recovery/startup.py).

MAX_RATE (kB/s) throttles the archive bytes: after each ``1/THROTTLING_FREQUENCY`` second's worth
of bytes the sender sleeps until the average is back at the limit (PostgreSQL's throttle()).

Formats (field by field):

* Tar member header, 512 bytes, ustar (what PostgreSQL 15 writes)::

    off len  field     contents
      0 100  name      path relative to the archive root, NUL padded; directories end in '/'
    100   8  mode      "%07o " permission bits
    108   8  uid       "%07o "
    116   8  gid       "%07o "
    124  12  size      "%011o " bytes of content (0 for directories and links)
    136  12  mtime     "%011o " Unix seconds
    148   8  chksum    "%07o " sum of all 512 bytes with this field counted as 8 spaces
    156   1  typeflag  '0' file, '5' directory, '2' symbolic link
    157 100  linkname  symbolic link target
    257   6  magic     "ustar\\0"
    263   2  version   "00"
    265  32  uname     "postgres"
    297  32  gname     "postgres"
    329   8  devmajor  "%07o " 0
    337   8  devminor  "%07o " 0
    345 155  prefix    empty
  Content follows, padded with NULs to a multiple of 512; the archive ends with 2 zero blocks.

* ``backup_label``: lines "START WAL LOCATION: X/X (file SEGMENT)", "CHECKPOINT LOCATION: X/X",
  "BACKUP METHOD: streamed", "BACKUP FROM: primary|standby", "START TIME: YYYY-MM-DD HH:MM:SS UTC",
  "LABEL: text", "START TIMELINE: n", each ending in a newline.

* Manifest: PostgreSQL's backup_manifest JSON, one file per line; a file's CRC32C is the hex of
  its 4 bytes in little-endian order; "Manifest-Checksum" is the hex SHA-256 of every byte before
  the text ``"Manifest-Checksum"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from mirrordb.common.crc import crc32c
from mirrordb.common.fileio import write_file_atomic
from mirrordb.common.errors import InvalidParameterValue, MirrordbError, invariant
from mirrordb.common.lsn import INVALID_LSN, format_lsn
from mirrordb.protocol.messages import (
    CommandComplete,
    CopyData,
    CopyDone,
    CopyOutResponse,
    DataRow,
    FieldDescription,
    NoticeResponse,
    RowDescription,
    error_fields,
)
from mirrordb.replication.basebackup_progress import BaseBackupProgress
from mirrordb.storage import reinit
from mirrordb.wal import archive
from mirrordb.wal import timeline as tl
from mirrordb.wal.segment import segment_name, segno_of

TAR_BLOCK_SIZE = 512
TAR_TRAILER = bytes(2 * TAR_BLOCK_SIZE)  # PostgreSQL >= 15 ends each archive with two zero blocks
TAR_NAME_LIMIT = 100
TAR_TYPE_FILE = b"0"
TAR_TYPE_SYMLINK = b"2"
TAR_TYPE_DIRECTORY = b"5"
TAR_OWNER_NAME = b"postgres"
TAR_CHECKSUM_OFFSET = 148
TAR_CHECKSUM_SIZE = 8
BACKUP_CHUNK_SIZE_BYTES = 1024 * 1024  # one 'd' CopyData carries at most this much
ARCHIVE_NAME = "base.tar"
TABLESPACE_COUNT = 1   # the main directory: mirrordb has no other tablespaces
DEFAULT_LABEL = "base backup"
MAX_RATE_MIN_KB = 32
MAX_RATE_MAX_KB = 1048576
PG_TEMP_FILE_PREFIX = "pgsql_tmp"
RELCACHE_INIT_FILE = "pg_internal.init"
BACKUP_LABEL_FILE = "backup_label"
TABLESPACE_MAP_FILE = "tablespace_map"
CONTROL_FILE = "global/pg_control"
WAL_DIRECTORY = "pg_wal"
ARCHIVE_STATUS_DIRECTORY = "./pg_wal/archive_status/"  # PostgreSQL really writes the "./"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
HISTORY_FILE_NAME = re.compile(r"[0-9A-F]{8}\.history\Z")   # PostgreSQL's IsTLHistoryFileName

THROTTLING_FREQUENCY = 8  # rate checks per second of transfer at MAX_RATE (PostgreSQL's value)

PROGRESS_MESSAGE = struct.Struct("!cq")  # 'p', Int64 bytes done
TEXT_OID, INT8_OID, OID_OID = 25, 20, 26

# Directories whose contents are left out (the directory itself is sent, empty).
EXCLUDED_DIRECTORY_CONTENTS = frozenset({
    "pg_stat_tmp", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots",
    "pg_subtrans", WAL_DIRECTORY})
# Files left out wherever they are (PostgreSQL's excludeFiles, plus the signal files).
EXCLUDED_FILES = frozenset({
    "postgresql.auto.conf.tmp", "current_logfiles.tmp", BACKUP_LABEL_FILE, TABLESPACE_MAP_FILE,
    "backup_manifest", "postmaster.pid", "postmaster.opts", "standby.signal", "recovery.signal",
    "backup_label.old"})

BOOLEAN_OPTIONS = frozenset({"progress", "wal", "wait", "tablespace_map", "verify_checksums"})
STRING_OPTIONS = frozenset({"label", "checkpoint", "manifest", "manifest_checksums", "target",
                            "target_detail", "compression", "compression_detail"})
INTEGER_OPTIONS = frozenset({"max_rate"})


class BackupSender(Protocol):
    """What ``run_base_backup`` needs from the walsender."""

    connection: object  # protocol.server.ServerConnection (``send(*messages)``)

    def flush(self) -> None: ...


# -- options ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BaseBackupOptions:
    label: str = DEFAULT_LABEL
    progress: bool = False
    fast_checkpoint: bool = False
    include_wal: bool = False
    wait_for_archive: bool = True
    tablespace_map: bool = False
    manifest: bool = False
    manifest_force_encode: bool = False
    max_rate_kb: int = 0  # 0 = unlimited
    target: str = "client"


def _boolean(name: str, value: object) -> bool:
    if value is None or value is True:
        return True
    if value is False:
        return False
    text = str(value).strip().lower()
    if text in ("true", "on", "1", "yes"):
        return True
    if text in ("false", "off", "0", "no"):
        return False
    raise InvalidParameterValue(f'{name} requires a Boolean value', sqlstate="22023")


def parse_options(options: dict[str, object]) -> BaseBackupOptions:
    """Check BASE_BACKUP's options as PostgreSQL 15 does and give them their defaults."""
    values: dict[str, object] = {}
    for name, value in options.items():
        name = name.lower()
        if name in values:
            raise MirrordbError(f'duplicate option "{name}"', sqlstate="42601")
        if name not in BOOLEAN_OPTIONS | STRING_OPTIONS | INTEGER_OPTIONS:
            raise MirrordbError(f'unrecognized base backup option: "{name}"', sqlstate="42601")
        values[name] = value
    return _options_from_values(values)


def _options_from_values(values: dict[str, object]) -> BaseBackupOptions:
    checkpoint = str(values.get("checkpoint", "spread")).lower()
    if checkpoint not in ("fast", "spread"):
        raise InvalidParameterValue(f'unrecognized checkpoint type: "{checkpoint}"')
    manifest = str(values.get("manifest", "no")).lower()
    if manifest not in ("yes", "no", "force-encode", "true", "false", "on", "off", "1", "0"):
        raise InvalidParameterValue(f'unrecognized manifest option: "{manifest}"')
    checksums = str(values.get("manifest_checksums", "crc32c")).lower()
    if checksums not in ("crc32c", "none"):
        raise MirrordbError(f'unsupported manifest checksum algorithm: "{checksums}"',
                            sqlstate="0A000")
    compression = str(values.get("compression", "none")).lower()
    if compression != "none":
        raise MirrordbError(f'unsupported compression method: "{compression}"',
                            sqlstate="0A000")
    target = str(values.get("target", "client")).lower()
    if target not in ("client", "blackhole"):
        raise MirrordbError(f'unsupported backup target: "{target}"', sqlstate="0A000")
    max_rate = int(str(values.get("max_rate", 0)))
    if "max_rate" in values and not MAX_RATE_MIN_KB <= max_rate <= MAX_RATE_MAX_KB:
        raise InvalidParameterValue(
            f'{max_rate} is outside the valid range for parameter "MAX_RATE" '
            f"({MAX_RATE_MIN_KB} .. {MAX_RATE_MAX_KB})")
    return BaseBackupOptions(
        label=str(values.get("label", DEFAULT_LABEL)),
        progress=_boolean("progress", values.get("progress", False)),
        fast_checkpoint=checkpoint == "fast",
        include_wal=_boolean("wal", values.get("wal", False)),
        wait_for_archive=_boolean("wait", values.get("wait", True)),
        tablespace_map=_boolean("tablespace_map", values.get("tablespace_map", False)),
        manifest=manifest in ("yes", "force-encode", "true", "on", "1"),
        manifest_force_encode=manifest == "force-encode",
        max_rate_kb=max_rate, target=target)


# -- tar ---------------------------------------------------------------------------------------

def _octal(value: int, width: int) -> bytes:
    """PostgreSQL's print_tar_number: ``width - 1`` octal digits and a space."""
    invariant(0 <= value < 8 ** (width - 1), f"tar number {value} does not fit {width} bytes")
    return b"%0*o " % (width - 1, value)


def tar_header(name: str, *, size: int = 0, mode: int = 0o600, mtime_s: int = 0,
               typeflag: bytes = TAR_TYPE_FILE, linkname: str = "", uid: int = 0,
               gid: int = 0) -> bytes:
    """One 512-byte ustar header as PostgreSQL 15 writes it (layout in the module docstring)."""
    encoded_name = name.encode()
    invariant(0 < len(encoded_name) <= TAR_NAME_LIMIT, f"tar member name too long: {name!r}")
    header = bytearray(TAR_BLOCK_SIZE)
    header[0:len(encoded_name)] = encoded_name
    header[100:108] = _octal(mode & 0o7777, 8)
    header[108:116] = _octal(uid & 0o7777777, 8)
    header[116:124] = _octal(gid & 0o7777777, 8)
    header[124:136] = _octal(size, 12)
    header[136:148] = _octal(mtime_s, 12)
    header[156:157] = typeflag
    encoded_link = linkname.encode()
    header[157:157 + len(encoded_link)] = encoded_link
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[265:265 + len(TAR_OWNER_NAME)] = TAR_OWNER_NAME
    header[297:297 + len(TAR_OWNER_NAME)] = TAR_OWNER_NAME
    header[329:337] = _octal(0, 8)
    header[337:345] = _octal(0, 8)
    header[TAR_CHECKSUM_OFFSET:TAR_CHECKSUM_OFFSET + TAR_CHECKSUM_SIZE] = b" " * TAR_CHECKSUM_SIZE
    header[TAR_CHECKSUM_OFFSET:TAR_CHECKSUM_OFFSET + TAR_CHECKSUM_SIZE] = _octal(sum(header), 8)
    return bytes(header)


def tar_padding(size: int) -> bytes:
    return bytes(-size % TAR_BLOCK_SIZE)


# -- backup_label and manifest -----------------------------------------------------------------

def _utc_text(unix_s: float) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(unix_s))


def backup_label_text(*, start_lsn: int, checkpoint_lsn: int, timeline: int, segment_size: int,
                      label: str, start_time_s: float, from_standby: bool = False) -> str:
    """The ``backup_label`` file a restored cluster reads to find where recovery starts."""
    segment = segment_name(timeline, segno_of(start_lsn, segment_size), segment_size)
    return (f"START WAL LOCATION: {format_lsn(start_lsn)} (file {segment})\n"
            f"CHECKPOINT LOCATION: {format_lsn(checkpoint_lsn)}\n"
            "BACKUP METHOD: streamed\n"
            f"BACKUP FROM: {'standby' if from_standby else 'primary'}\n"
            f"START TIME: {_utc_text(start_time_s)} UTC\n"
            f"LABEL: {label}\n"
            f"START TIMELINE: {timeline}\n")


def parse_backup_label(text: str) -> dict[str, str]:
    """``backup_label``'s lines as {key: value} ("START WAL LOCATION" keeps its "(file ...)")."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition(": ")
        if separator:
            fields[key] = value
    return fields


def crc32c_hex(crc: int) -> str:
    """PostgreSQL writes a CRC32C checksum as the hex of its little-endian bytes."""
    return struct.pack("<I", crc).hex()


@dataclass(eq=False)
class ManifestBuilder:
    """Accumulates backup_manifest's text; ``finish`` appends the WAL range and the checksum."""

    force_encode: bool = False
    checksums: bool = True
    _parts: list[str] = field(default_factory=lambda: [
        '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": ['])
    _files: int = 0

    def add_file(self, path: str, size: int, mtime_s: float, crc: int | None) -> None:
        separator = "\n" if self._files == 0 else ",\n"
        self._files += 1
        if self.force_encode:
            name = f'"Encoded-Path": "{path.encode().hex()}"'
        else:
            name = f'"Path": {json.dumps(path, ensure_ascii=False)}'
        entry = f'{{ {name}, "Size": {size}, "Last-Modified": "{_utc_text(mtime_s)} GMT"'
        if self.checksums and crc is not None:
            entry += f', "Checksum-Algorithm": "CRC32C", "Checksum": "{crc32c_hex(crc)}"'
        self._parts.append(separator + entry + " }")

    def finish(self, timeline: int, start_lsn: int, end_lsn: int) -> bytes:
        self._parts.append("\n],\n\"WAL-Ranges\": [\n")
        self._parts.append(f'{{ "Timeline": {timeline}, "Start-LSN": "{format_lsn(start_lsn)}", '
                           f'"End-LSN": "{format_lsn(end_lsn)}" }}')
        self._parts.append("\n],\n")
        body = "".join(self._parts).encode()
        checksum = hashlib.sha256(body).hexdigest()
        return body + f'"Manifest-Checksum": "{checksum}"}}\n'.encode()


# -- the directory walk ------------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    """One tar member: ``path`` inside the archive, ``source`` on disk (None for a directory)."""

    path: str
    typeflag: bytes
    mode: int
    mtime_s: int
    size: int = 0
    source: str | None = None
    linkname: str = ""


def _excluded_file(name: str) -> bool:
    return (name in EXCLUDED_FILES or name.startswith(PG_TEMP_FILE_PREFIX)
            or name.startswith(RELCACHE_INIT_FILE))


def walk_data_directory(datadir: str) -> Iterator[Member]:
    """Members of base.tar between backup_label and pg_control, sorted within each directory."""
    yield from _walk(datadir, "")


def _walk(root: str, relative: str) -> Iterator[Member]:
    directory = os.path.join(root, relative) if relative else root
    # a database directory's unlogged relations are sent as their init forks only, and its
    # temporary relations not at all, as PostgreSQL's sendDir does: the other forks are reset
    # when the backup is recovered
    unlogged = reinit.unlogged_relations_in(directory) if relative.startswith("base/") \
        else set()
    for name in sorted(os.listdir(directory)):
        path = f"{relative}/{name}" if relative else name
        if _excluded_file(name) or path == CONTROL_FILE or \
                reinit.is_unlogged_data_file(name, unlogged) or \
                (relative.startswith("base/") and reinit.is_temp_relation_file(name)):
            continue
        try:
            status = os.lstat(os.path.join(root, path))
        except FileNotFoundError:
            continue  # dropped while we walk: recovery of the backup recreates or ignores it
        yield from _members_for(root, path, status)


def _members_for(root: str, path: str, status: os.stat_result) -> Iterator[Member]:
    mode, mtime = stat.S_IMODE(status.st_mode), int(status.st_mtime)
    if stat.S_ISLNK(status.st_mode):
        target = os.readlink(os.path.join(root, path))
        yield Member(path, TAR_TYPE_SYMLINK, mode, mtime, linkname=target)
    elif stat.S_ISDIR(status.st_mode):
        yield Member(path + "/", TAR_TYPE_DIRECTORY, mode, mtime)
        if path == WAL_DIRECTORY:
            yield Member(ARCHIVE_STATUS_DIRECTORY, TAR_TYPE_DIRECTORY, mode, mtime)
        elif path not in EXCLUDED_DIRECTORY_CONTENTS:
            yield from _walk(root, path)
    elif stat.S_ISREG(status.st_mode):
        yield Member(path, TAR_TYPE_FILE, mode, mtime, status.st_size,
                     os.path.join(root, path))


def estimate_size_bytes(datadir: str) -> int:
    """The PROGRESS estimate: the sizes of the files the walk will send."""
    total = sum(member.size for member in walk_data_directory(datadir))
    return total + os.path.getsize(os.path.join(datadir, CONTROL_FILE))


# -- the stream --------------------------------------------------------------------------------

def _text_column(name: str) -> FieldDescription:
    return FieldDescription(name, 0, 0, TEXT_OID, -1, 0, 0)


START_END_ROW = RowDescription((_text_column("recptr"),
                                FieldDescription("tli", 0, 0, INT8_OID, -1, 0, 0)))
TABLESPACE_ROW = RowDescription((FieldDescription("spcoid", 0, 0, OID_OID, 4, 0, 0),
                                 _text_column("spclocation"),
                                 FieldDescription("size", 0, 0, INT8_OID, 8, 0, 0)))


class Throttle:
    """MAX_RATE: keeps the bytes sent at or below ``max_rate_kb`` kB/s on average, checked
    every ``sample_bytes`` (1/THROTTLING_FREQUENCY second's worth). 0 = unlimited."""

    def __init__(self, max_rate_kb: int) -> None:
        self.bytes_per_s = max_rate_kb * 1024
        self.sample_bytes = max(1, self.bytes_per_s // THROTTLING_FREQUENCY)
        self._counted = 0
        self._since = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.bytes_per_s > 0

    def count(self, size: int) -> None:
        """``size`` bytes were sent (at most ``sample_bytes``): sleep if ahead of the rate."""
        if not self.enabled:
            return
        self._counted += size
        if self._counted < self.sample_bytes:
            return
        due = self._since + self._counted / self.bytes_per_s
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        self._since, self._counted = max(due, now), 0


class ArchiveStream:
    """Frames archive bytes into 'd' CopyData messages, counts them for 'p' and the manifest."""

    def __init__(self, send: Callable[[bytes], None], manifest: ManifestBuilder | None,
                 blackhole: bool = False, max_rate_kb: int = 0,
                 progress: BaseBackupProgress | None = None) -> None:
        self._send = send
        self._progress = progress
        self._blackhole = blackhole
        self._throttle = Throttle(max_rate_kb)
        self.manifest = manifest
        self.bytes_done = 0

    def _data(self, data: bytes) -> None:
        if not self._throttle.enabled:
            self._send_piece(data)
            return
        step = self._throttle.sample_bytes
        for offset in range(0, len(data), step):
            piece = data[offset:offset + step]
            self._send_piece(piece)
            self._throttle.count(len(piece))

    def _send_piece(self, data: bytes) -> None:
        self.bytes_done += len(data)
        if not self._blackhole and data:
            self._send(b"d" + data)
        if self._progress is not None:
            self._progress.streamed(len(data))

    def member(self, member: Member, *, in_manifest: bool = True) -> None:
        if member.source is None:
            self._data(tar_header(member.path, mode=member.mode, mtime_s=member.mtime_s,
                                  typeflag=member.typeflag, linkname=member.linkname))
            return
        self._file(member, in_manifest)

    def _file(self, member: Member, in_manifest: bool) -> None:
        invariant(member.source is not None, "a file member needs a source")
        try:
            handle = open(member.source, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return  # removed since the walk (a dropped relation): WAL replay deals with it
        with handle:
            self._data(tar_header(member.path, size=member.size, mode=member.mode,
                                  mtime_s=member.mtime_s))
            crc, sent = 0, 0
            while sent < member.size:
                chunk = handle.read(min(BACKUP_CHUNK_SIZE_BYTES, member.size - sent))
                if not chunk:  # truncated while we read: pad with zeros, as PostgreSQL does
                    chunk = bytes(min(BACKUP_CHUNK_SIZE_BYTES, member.size - sent))
                crc = crc32c(chunk, crc)
                sent += len(chunk)
                self._data(chunk)
        self._data(tar_padding(member.size))
        if in_manifest and self.manifest is not None:
            self.manifest.add_file(member.path, member.size, member.mtime_s, crc)

    def content(self, path: str, data: bytes, mtime_s: float, *, in_manifest: bool = True,
                mode: int = 0o600) -> None:
        self._data(tar_header(path, size=len(data), mode=mode, mtime_s=int(mtime_s)))
        self._data(data + tar_padding(len(data)))
        if in_manifest and self.manifest is not None:
            self.manifest.add_file(path, len(data), int(mtime_s), crc32c(data))

    def trailer(self) -> None:
        self._data(TAR_TRAILER)


@dataclass(frozen=True)
class BackupStart:
    start_lsn: int
    checkpoint_lsn: int
    timeline: int
    start_time_s: float
    from_standby: bool = False

    def label_text(self, label: str, segment_size: int) -> str:
        """This backup's ``backup_label``."""
        return backup_label_text(start_lsn=self.start_lsn, checkpoint_lsn=self.checkpoint_lsn,
                                 timeline=self.timeline, segment_size=segment_size,
                                 label=label, start_time_s=self.start_time_s,
                                 from_standby=self.from_standby)


def _engine_of(walsender: object) -> object:
    server = getattr(walsender, "server", None)
    if server is None:
        server = walsender.backend.server  # type: ignore[attr-defined]
    return server.engine


def start_backup(engine: object) -> BackupStart:
    """do_pg_backup_start: a checkpoint whose REDO point is where the backup's WAL begins; on a
    standby a restartpoint at the last checkpoint record replayed (if there is a newer one than
    pg_control's), then the last restartpoint, writing no WAL. The caller holds the WAL first."""
    start_time_s = time.time()
    if engine.in_recovery():  # type: ignore[attr-defined]
        engine.checkpointer.restartpoint()  # type: ignore[attr-defined]
        control = engine.control  # type: ignore[attr-defined]
        checkpoint, checkpoint_lsn = control.checkpoint, control.checkpoint_lsn
        return BackupStart(checkpoint.redo, checkpoint_lsn, checkpoint.this_timeline,
                           start_time_s, from_standby=True)
    checkpoint_lsn = engine.checkpointer.checkpoint()  # type: ignore[attr-defined]
    control = engine.control  # type: ignore[attr-defined]
    redo = control.checkpoint.redo if control.checkpoint_lsn == checkpoint_lsn else checkpoint_lsn
    return BackupStart(redo, checkpoint_lsn, control.checkpoint.this_timeline, start_time_s)


def start_backup_holding_wal(engine: object) -> tuple[BackupStart, int]:
    """``start_backup`` with the WAL held from before its checkpoint until the caller releases
    the returned token (``engine.checkpointer.wal_holds``): a checkpoint or restartpoint of a
    busy server meanwhile removes nothing the backup needs. Nothing stays held if it fails."""
    holds = engine.checkpointer.wal_holds  # type: ignore[attr-defined]
    hold = holds.hold(INVALID_LSN)  # everything, until the start is known
    try:
        start = start_backup(engine)
        holds.move(hold, start.start_lsn)
    except BaseException:
        holds.release(hold)
        raise
    return start, hold


def stop_standby_backup(engine: object, start: BackupStart) -> int:
    """do_pg_backup_stop on a standby, after pg_control was copied: the end LSN is
    minRecoveryPoint (no WAL is written)."""
    control = engine.control  # type: ignore[attr-defined]
    if not engine.in_recovery():  # type: ignore[attr-defined]
        raise MirrordbError("the standby was promoted during online backup", sqlstate="55000",
                            hint="This means that the backup being taken is corrupt and should "
                                 "not be used. Try taking another online backup.")
    end_lsn = int(control.min_recovery_point)
    invariant(end_lsn >= start.start_lsn, "a standby's minRecoveryPoint is behind its "
                                          "restartpoint")
    return end_lsn


def stop_backup(engine: object, start: BackupStart, label: str) -> int:
    """do_pg_backup_stop: XLOG_BACKUP_END (naming the start) then XLOG_SWITCH, and the backup
    history file; returns the end LSN, the end of the backup-end record, which a restored
    cluster must replay past."""
    from mirrordb.wal.payloads import encode_backup_end
    from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_BACKUP_END
    wal = engine.wal  # type: ignore[attr-defined]
    end_lsn = int(wal.insert(RM_XLOG_ID, XLOG_BACKUP_END, encode_backup_end(start.start_lsn)))
    wal.switch_segment()
    wal.flush(wal.insert_lsn)
    write_backup_history(engine, start, end_lsn, label)
    return end_lsn


def backup_history_file_name(start: BackupStart, segment_size: int) -> str:
    """``<start segment>.<start offset, 8 hex digits>.backup``, as PostgreSQL names it."""
    segno = segno_of(start.start_lsn, segment_size)
    return (f"{segment_name(start.timeline, segno, segment_size)}."
            f"{start.start_lsn % segment_size:08X}.backup")


def last_backup_segment(start: BackupStart, end_lsn: int, segment_size: int) -> str:
    """The segment holding the last byte of the backup's WAL (XLByteToPrevSeg of the end)."""
    return segment_name(start.timeline, segno_of(end_lsn - 1, segment_size), segment_size)


def write_backup_history(engine: object, start: BackupStart, end_lsn: int, label: str) -> None:
    """The backup history file in pg_wal: the label's lines with the stop location, time and
    timeline added; archived like a segment. Then every history file the archive no longer
    needs goes (with archiving off, this one too: PostgreSQL's CleanupBackupHistory)."""
    segment_size = engine.control.xlog_seg_size  # type: ignore[attr-defined]
    first, rest = start.label_text(label, segment_size).split("\n", 1)
    stop = last_backup_segment(start, end_lsn, segment_size)
    text = (f"{first}\nSTOP WAL LOCATION: {format_lsn(end_lsn)} (file {stop})\n{rest}"
            f"STOP TIME: {_utc_text(time.time())} UTC\nSTOP TIMELINE: {start.timeline}\n")
    waldir = os.path.join(engine.datadir, WAL_DIRECTORY)  # type: ignore[attr-defined]
    write_file_atomic(os.path.join(waldir, backup_history_file_name(start, segment_size)),
                      text.encode())
    for name in sorted(os.listdir(waldir)):
        if name.endswith(archive.BACKUP_HISTORY_SUFFIX) and \
                engine.may_remove_wal_file(name):  # type: ignore[attr-defined]
            try:
                os.unlink(os.path.join(waldir, name))
            except FileNotFoundError:
                continue
            archive.forget(waldir, name)
    engine.wake_archiver()  # type: ignore[attr-defined]


def _send_start_end(walsender: BackupSender, lsn: int, timeline: int) -> None:
    walsender.connection.send(  # type: ignore[attr-defined]
        START_END_ROW, DataRow((format_lsn(lsn).encode(), str(timeline).encode())),
        CommandComplete("SELECT"))


def _wal_members(engine: object, start: BackupStart, end_lsn: int) -> Iterator[Member]:
    """The WAL a backup with WAL needs, in order: its segments, each from the file the server's
    history picks, then every timeline history file in ``pg_wal``, as PostgreSQL sends them all
    (small, and the newest is needed when the start segment holds a switch point)."""
    segment_size = engine.control.xlog_seg_size  # type: ignore[attr-defined]
    waldir = os.path.join(engine.datadir, WAL_DIRECTORY)  # type: ignore[attr-defined]
    history = tl.read_history(waldir, int(engine.wal.timeline))  # type: ignore[attr-defined]
    for segno in range(segno_of(start.start_lsn, segment_size),
                       segno_of(end_lsn - 1, segment_size) + 1):
        _, name, exists = tl.segment_file(waldir, segno, segment_size, history)
        if not exists:
            raise MirrordbError(f"could not find WAL file \"{name}\"", sqlstate="58P01")
        path = os.path.join(waldir, name)
        yield Member(f"{WAL_DIRECTORY}/{name}", TAR_TYPE_FILE, 0o600,
                     int(os.stat(path).st_mtime), segment_size, path)
    for name in sorted(os.listdir(waldir)):
        if HISTORY_FILE_NAME.match(name):
            path = os.path.join(waldir, name)
            status = os.stat(path)
            yield Member(f"{WAL_DIRECTORY}/{name}", TAR_TYPE_FILE, 0o600, int(status.st_mtime),
                         status.st_size, path)


def run_base_backup(walsender: BackupSender, options: dict[str, object],
                    progress: BaseBackupProgress | None = None) -> None:
    """Serve one BASE_BACKUP command (see the module docstring for the message sequence),
    moving ``progress`` (pg_stat_progress_basebackup's row) through its phases."""
    parsed = parse_options(options)
    engine = _engine_of(walsender)
    progress = progress if progress is not None else BaseBackupProgress()
    progress.wait_checkpoint()
    start, hold = start_backup_holding_wal(engine)
    try:
        _serve_backup(walsender, engine, parsed, start, progress)
    finally:
        engine.checkpointer.wal_holds.release(hold)  # type: ignore[attr-defined]


def _serve_backup(walsender: BackupSender, engine: object, parsed: BaseBackupOptions,
                  start: BackupStart, progress: BaseBackupProgress) -> None:
    datadir = engine.datadir  # type: ignore[attr-defined]
    connection = walsender.connection
    _send_start_end(walsender, start.start_lsn, start.timeline)
    size_bytes = None
    if parsed.progress:
        progress.estimate_backup_size()
        size_bytes = estimate_size_bytes(datadir)
    size_kb = None if size_bytes is None else str(size_bytes // 1024).encode()
    connection.send(TABLESPACE_ROW, DataRow((None, None, size_kb)),  # type: ignore[attr-defined]
                    CommandComplete("SELECT"), CopyOutResponse(0, ()))
    progress.begin_streaming(size_bytes, TABLESPACE_COUNT)
    walsender.flush()

    def send(data: bytes) -> None:
        connection.send(CopyData(data))  # type: ignore[attr-defined]
        walsender.flush()

    manifest = ManifestBuilder(parsed.manifest_force_encode) if parsed.manifest else None
    stream = ArchiveStream(send, manifest, blackhole=parsed.target == "blackhole",
                           max_rate_kb=parsed.max_rate_kb, progress=progress)
    send(b"n" + ARCHIVE_NAME.encode() + b"\0\0")
    segment_size = engine.control.xlog_seg_size  # type: ignore[attr-defined]
    label = start.label_text(parsed.label, segment_size)
    stream.content(BACKUP_LABEL_FILE, label.encode(), time.time())
    if parsed.tablespace_map:
        stream.content(TABLESPACE_MAP_FILE, b"", time.time())
    for member in walk_data_directory(datadir):
        stream.member(member)
    progress.wait_wal_archive()
    if not start.from_standby:
        end_lsn = stop_backup(engine, start, parsed.label)
    control_path = os.path.join(datadir, CONTROL_FILE)
    status = os.stat(control_path)
    stream.member(Member(CONTROL_FILE, TAR_TYPE_FILE, stat.S_IMODE(status.st_mode),
                         int(status.st_mtime), status.st_size, control_path))
    if start.from_standby:
        end_lsn = stop_standby_backup(engine, start)
    if parsed.include_wal:
        progress.transfer_wal()
        _send_wal(stream, engine, start, end_lsn)
    stream.trailer()
    send(PROGRESS_MESSAGE.pack(b"p", stream.bytes_done))
    if manifest is not None:
        send(b"m")
        body = manifest.finish(start.timeline, start.start_lsn, end_lsn)
        for offset in range(0, len(body), BACKUP_CHUNK_SIZE_BYTES):
            send(b"d" + body[offset:offset + BACKUP_CHUNK_SIZE_BYTES])
    if parsed.wait_for_archive:
        connection.send(NoticeResponse(error_fields(  # type: ignore[attr-defined]
            "NOTICE", "00000", "WAL archiving is not enabled; you must ensure that all required "
            "WAL segments are copied through other means to complete the backup")))
    connection.send(CopyDone())  # type: ignore[attr-defined]
    _send_start_end(walsender, end_lsn, start.timeline)
    connection.send(CommandComplete("BASE_BACKUP"))  # type: ignore[attr-defined]
    walsender.flush()


def _send_wal(stream: ArchiveStream, engine: object, start: BackupStart, end_lsn: int) -> None:
    for member in _wal_members(engine, start, end_lsn):
        stream.member(member, in_manifest=False)
        name = member.path.rsplit("/", 1)[1]
        stream.content(f"{WAL_DIRECTORY}/archive_status/{name}.done", b"", time.time(),
                       in_manifest=False)
