"""The control file, ``global/pg_control``: PostgreSQL 15's ControlFileData, byte for byte.

Who calls it: initdb writes the first one; the startup process reads it to find the checkpoint to
recover from and the state the cluster was left in; the checkpointer rewrites it after every
checkpoint and at state changes (in production, shut down, in recovery); pg_basebackup copies it.
Because the layout is PostgreSQL's own, the real ``pg_controldata`` reads our file.
``encode_control_file``/``decode_control_file`` are pure; ``read_control_file``/
``write_control_file`` are the I/O edge (the write is atomic: temporary file, fsync, rename).

Layout (little-endian, offsets in bytes; padding bytes are zero)::

    0    system_identifier          u64  unique cluster id, also in every WAL segment header
    8    pg_control_version         u32  1300 (PostgreSQL 15)
    12   catalog_version_no         u32  202209061 (PostgreSQL 15)
    16   state                      i32  DBState below; then 4 pad bytes
    24   time                       i64  Unix seconds of the last update (pg_time_t)
    32   checkPoint                 u64  LSN of the latest checkpoint record
    40   checkPointCopy             88   that record's CheckPoint (common/checkpoint.py)
    128  unloggedLSN                u64  fake LSN counter for unlogged relations
    136  minRecoveryPoint           u64  recovery must replay at least up to here
    144  minRecoveryPointTLI        u32  its timeline; then 4 pad bytes
    152  backupStartPoint           u64  redo point of a base backup being restored (0 = none)
    160  backupEndPoint             u64  end of that backup, once known
    168  backupEndRequired          u8   an end-of-backup record must be reached; 3 pad bytes
    172  wal_level                  i32  0 minimal, 1 replica, 2 logical
    176  wal_log_hints              u8   then 3 pad bytes
    180  MaxConnections             i32
    184  max_worker_processes       i32
    188  max_wal_senders            i32
    192  max_prepared_xacts         i32
    196  max_locks_per_xact         i32
    200  track_commit_timestamp     u8   then 3 pad bytes
    204  maxAlign                   u32  8
    208  floatFormat                f64  1234567.0 (detects a foreign float format)
    216  blcksz                     u32  8192
    220  relseg_size                u32  131072 blocks per segment file
    224  xlog_blcksz                u32  8192
    228  xlog_seg_size              u32  WAL segment size in bytes (power of 2, 1 MB .. 1 GB)
    232  nameDataLen                u32  64
    236  indexMaxKeys               u32  32
    240  toast_max_chunk_size       u32  1996
    244  loblksize                  u32  2048
    248  float8ByVal                u8   1; then 3 pad bytes
    252  data_checksum_version      u32  0 (checksums off)
    256  mock_authentication_nonce  32   random bytes chosen at initdb
    288  crc                        u32  CRC-32C of bytes 0..287; then 4 pad bytes (struct = 296)
    296  zero bytes up to 8192 (PG_CONTROL_FILE_SIZE), so a write never tears a sector's content

``decode_control_file`` raises ``DataCorrupted`` for a short file, a wrong version, a bad CRC, a
build-constant mismatch (block size and friends) or an unknown state / wal_level.
"""

from __future__ import annotations

import enum
import os
import struct
import time
from dataclasses import dataclass, field

from mirrordb.common.checkpoint import CHECKPOINT_SIZE, CheckPoint
from mirrordb.common.crc import crc32c
from mirrordb.common.errors import DataCorrupted
from mirrordb.common.fileio import read_file, write_file_atomic

PG_CONTROL_VERSION = 1300
CATALOG_VERSION_NO = 202209061
PG_CONTROL_FILE_SIZE = 8192
CONTROL_FILE_PATH = os.path.join("global", "pg_control")
MOCK_AUTH_NONCE_LEN = 32
FLOAT_FORMAT = 1234567.0
MAXIMUM_ALIGNOF = 8
BLCKSZ = 8192
RELSEG_SIZE = 131072
XLOG_BLCKSZ = 8192
NAMEDATALEN = 64
INDEX_MAX_KEYS = 32
TOAST_MAX_CHUNK_SIZE = 1996
LOBLKSIZE = 2048
DEFAULT_XLOG_SEG_SIZE = 16 * 1024 * 1024
FIRST_NORMAL_UNLOGGED_LSN = 1000

WAL_LEVEL_MINIMAL = 0
WAL_LEVEL_REPLICA = 1
WAL_LEVEL_LOGICAL = 2

CONTROL_FILE_STRUCT = struct.Struct(
    "<QIIi4xqQ"        # system_identifier .. checkPoint
    f"{CHECKPOINT_SIZE}s"
    "QQI4xQQ?3x"       # unloggedLSN .. backupEndRequired
    "i?3xiiiii?3x"     # wal_level .. track_commit_timestamp
    "Id"               # maxAlign, floatFormat
    "IIIIIIII?3xI"     # blcksz .. data_checksum_version
    f"{MOCK_AUTH_NONCE_LEN}s")
CRC_OFFSET = 288
_CRC = struct.Struct("<I")
CONTROL_FILE_DATA_SIZE = 296              # sizeof(ControlFileData), with its trailing padding
assert CONTROL_FILE_STRUCT.size == CRC_OFFSET
assert CRC_OFFSET + _CRC.size + 4 == CONTROL_FILE_DATA_SIZE


class DBState(enum.IntEnum):
    """The cluster state recorded in pg_control (PostgreSQL's DBState)."""

    DB_STARTUP = 0
    DB_SHUTDOWNED = 1
    DB_SHUTDOWNED_IN_RECOVERY = 2
    DB_SHUTDOWNING = 3
    DB_IN_CRASH_RECOVERY = 4
    DB_IN_ARCHIVE_RECOVERY = 5
    DB_IN_PRODUCTION = 6


DB_STARTUP = DBState.DB_STARTUP
DB_SHUTDOWNED = DBState.DB_SHUTDOWNED
DB_SHUTDOWNED_IN_RECOVERY = DBState.DB_SHUTDOWNED_IN_RECOVERY
DB_SHUTDOWNING = DBState.DB_SHUTDOWNING
DB_IN_CRASH_RECOVERY = DBState.DB_IN_CRASH_RECOVERY
DB_IN_ARCHIVE_RECOVERY = DBState.DB_IN_ARCHIVE_RECOVERY
DB_IN_PRODUCTION = DBState.DB_IN_PRODUCTION

_EMPTY_CHECKPOINT = CheckPoint(
    redo=0, this_timeline=1, prev_timeline=1, full_page_writes=True, next_full_xid=0,
    next_oid=0, next_multi=0, next_multi_offset=0, oldest_xid=0, oldest_xid_db=0,
    oldest_multi=0, oldest_multi_db=0, time_s=0, oldest_commit_ts_xid=0,
    newest_commit_ts_xid=0, oldest_active_xid=0)


@dataclass(frozen=True, kw_only=True)
class ControlFile:
    """The decoded control file. Change it with ``dataclasses.replace``."""

    system_identifier: int
    state: DBState
    time_s: int
    checkpoint_lsn: int
    checkpoint: CheckPoint
    min_recovery_point: int = 0
    min_recovery_point_tli: int = 0
    backup_start_point: int = 0
    backup_end_point: int = 0
    backup_end_required: bool = False
    wal_level: int = WAL_LEVEL_REPLICA
    wal_log_hints: bool = False
    max_connections: int = 100
    max_worker_processes: int = 8
    max_wal_senders: int = 10
    max_prepared_xacts: int = 0
    max_locks_per_xact: int = 64
    track_commit_timestamp: bool = False
    xlog_seg_size: int = DEFAULT_XLOG_SEG_SIZE
    unlogged_lsn: int = FIRST_NORMAL_UNLOGGED_LSN
    mock_authentication_nonce: bytes = field(default=bytes(MOCK_AUTH_NONCE_LEN), repr=False)
    pg_control_version: int = PG_CONTROL_VERSION
    catalog_version_no: int = CATALOG_VERSION_NO
    max_align: int = MAXIMUM_ALIGNOF
    float_format: float = FLOAT_FORMAT
    blcksz: int = BLCKSZ
    relseg_size: int = RELSEG_SIZE
    xlog_blcksz: int = XLOG_BLCKSZ
    name_data_len: int = NAMEDATALEN
    index_max_keys: int = INDEX_MAX_KEYS
    toast_max_chunk_size: int = TOAST_MAX_CHUNK_SIZE
    loblksize: int = LOBLKSIZE
    float8_by_val: bool = True
    data_checksum_version: int = 0

    @classmethod
    def initial(cls, *, system_identifier: int,
                xlog_seg_size: int = DEFAULT_XLOG_SEG_SIZE) -> ControlFile:
        """A new cluster's control file before its first checkpoint (initdb fills that in)."""
        return cls(system_identifier=system_identifier, state=DB_STARTUP,
                   time_s=int(time.time()), checkpoint_lsn=0, checkpoint=_EMPTY_CHECKPOINT,
                   xlog_seg_size=xlog_seg_size,
                   mock_authentication_nonce=generate_mock_nonce())


def generate_system_identifier() -> int:
    """A new cluster id as initdb makes one: seconds, microseconds and process id bits."""
    now_ns = time.time_ns()
    seconds, microseconds = divmod(now_ns // 1000, 1_000_000)
    return ((seconds << 32) | (microseconds << 12) | (os.getpid() & 0xFFF)) & 0xFFFFFFFFFFFFFFFF


def generate_mock_nonce() -> bytes:
    return os.urandom(MOCK_AUTH_NONCE_LEN)


def encode_control_file(cf: ControlFile) -> bytes:
    """The 8192-byte file content of ``cf``."""
    body = CONTROL_FILE_STRUCT.pack(
        cf.system_identifier, cf.pg_control_version, cf.catalog_version_no, int(cf.state),
        cf.time_s, cf.checkpoint_lsn, cf.checkpoint.encode(),
        cf.unlogged_lsn, cf.min_recovery_point, cf.min_recovery_point_tli,
        cf.backup_start_point, cf.backup_end_point, cf.backup_end_required,
        cf.wal_level, cf.wal_log_hints, cf.max_connections, cf.max_worker_processes,
        cf.max_wal_senders, cf.max_prepared_xacts, cf.max_locks_per_xact,
        cf.track_commit_timestamp, cf.max_align, cf.float_format,
        cf.blcksz, cf.relseg_size, cf.xlog_blcksz, cf.xlog_seg_size, cf.name_data_len,
        cf.index_max_keys, cf.toast_max_chunk_size, cf.loblksize, cf.float8_by_val,
        cf.data_checksum_version, cf.mock_authentication_nonce)
    content = bytearray(PG_CONTROL_FILE_SIZE)
    content[:CRC_OFFSET] = body
    _CRC.pack_into(content, CRC_OFFSET, crc32c(body))
    return bytes(content)


def decode_control_file(data: bytes | bytearray | memoryview) -> ControlFile:
    """Decode and check a control file; DataCorrupted if it is not a valid PostgreSQL 15 one."""
    if len(data) < CONTROL_FILE_DATA_SIZE:
        raise DataCorrupted(f"could not read control file: read {len(data)} of "
                            f"{CONTROL_FILE_DATA_SIZE} bytes")
    fields = CONTROL_FILE_STRUCT.unpack_from(data, 0)
    version = fields[1]
    if version != PG_CONTROL_VERSION:
        raise DataCorrupted("database files are incompatible with server",
                            detail=f"The database cluster was initialized with "
                                   f"PG_CONTROL_VERSION {version}, but the server expects "
                                   f"{PG_CONTROL_VERSION}.")
    stored_crc = _CRC.unpack_from(data, CRC_OFFSET)[0]
    if crc32c(memoryview(data)[:CRC_OFFSET]) != stored_crc:
        raise DataCorrupted("incorrect checksum in control file")
    cf = _from_fields(fields)
    _check_build_constants(cf)
    return cf


def _from_fields(fields: tuple) -> ControlFile:  # type: ignore[type-arg]
    (system_identifier, version, catalog_version, state, time_s, checkpoint_lsn, checkpoint,
     unlogged_lsn, min_recovery_point, min_recovery_point_tli, backup_start_point,
     backup_end_point, backup_end_required, wal_level, wal_log_hints, max_connections,
     max_worker_processes, max_wal_senders, max_prepared_xacts, max_locks_per_xact,
     track_commit_timestamp, max_align, float_format, blcksz, relseg_size, xlog_blcksz,
     xlog_seg_size, name_data_len, index_max_keys, toast_max_chunk_size, loblksize,
     float8_by_val, data_checksum_version, nonce) = fields
    if state not in DBState.__members__.values():
        raise DataCorrupted(f"control file has an invalid database state {state}")
    if wal_level not in (WAL_LEVEL_MINIMAL, WAL_LEVEL_REPLICA, WAL_LEVEL_LOGICAL):
        raise DataCorrupted(f"control file has an invalid wal_level {wal_level}")
    return ControlFile(
        system_identifier=system_identifier, state=DBState(state), time_s=time_s,
        checkpoint_lsn=checkpoint_lsn, checkpoint=CheckPoint.decode(checkpoint),
        min_recovery_point=min_recovery_point, min_recovery_point_tli=min_recovery_point_tli,
        backup_start_point=backup_start_point, backup_end_point=backup_end_point,
        backup_end_required=backup_end_required, wal_level=wal_level,
        wal_log_hints=wal_log_hints, max_connections=max_connections,
        max_worker_processes=max_worker_processes, max_wal_senders=max_wal_senders,
        max_prepared_xacts=max_prepared_xacts, max_locks_per_xact=max_locks_per_xact,
        track_commit_timestamp=track_commit_timestamp, xlog_seg_size=xlog_seg_size,
        unlogged_lsn=unlogged_lsn, mock_authentication_nonce=nonce,
        pg_control_version=version, catalog_version_no=catalog_version, max_align=max_align,
        float_format=float_format, blcksz=blcksz, relseg_size=relseg_size,
        xlog_blcksz=xlog_blcksz, name_data_len=name_data_len, index_max_keys=index_max_keys,
        toast_max_chunk_size=toast_max_chunk_size, loblksize=loblksize,
        float8_by_val=float8_by_val, data_checksum_version=data_checksum_version)


_BUILD_CONSTANTS = (
    ("catalog_version_no", "CATALOG_VERSION_NO", CATALOG_VERSION_NO),
    ("max_align", "MAXALIGN", MAXIMUM_ALIGNOF),
    ("float_format", "the float format", FLOAT_FORMAT),
    ("blcksz", "BLCKSZ", BLCKSZ),
    ("relseg_size", "RELSEG_SIZE", RELSEG_SIZE),
    ("xlog_blcksz", "XLOG_BLCKSZ", XLOG_BLCKSZ),
    ("name_data_len", "NAMEDATALEN", NAMEDATALEN),
    ("index_max_keys", "INDEX_MAX_KEYS", INDEX_MAX_KEYS),
    ("toast_max_chunk_size", "TOAST_MAX_CHUNK_SIZE", TOAST_MAX_CHUNK_SIZE),
    ("loblksize", "LOBLKSIZE", LOBLKSIZE),
    ("float8_by_val", "USE_FLOAT8_BYVAL", True),
)


def _check_build_constants(cf: ControlFile) -> None:
    for attribute, name, expected in _BUILD_CONSTANTS:
        found = getattr(cf, attribute)
        if found != expected:
            raise DataCorrupted("database files are incompatible with server",
                                detail=f"The database cluster was initialized with {name} "
                                       f"{found}, but the server expects {expected}.")
    segment_size = cf.xlog_seg_size
    if not (1 << 20 <= segment_size <= 1 << 30 and segment_size & (segment_size - 1) == 0):
        raise DataCorrupted(f"invalid WAL segment size in control file ({segment_size} bytes)",
                            hint="The WAL segment size must be a power of two between 1 MB "
                                 "and 1 GB.")


def read_control_file(datadir: str) -> ControlFile:
    return decode_control_file(read_file(os.path.join(datadir, CONTROL_FILE_PATH)))


def write_control_file(datadir: str, cf: ControlFile) -> None:
    """Replace ``global/pg_control`` atomically and durably."""
    write_file_atomic(os.path.join(datadir, CONTROL_FILE_PATH), encode_control_file(cf))
