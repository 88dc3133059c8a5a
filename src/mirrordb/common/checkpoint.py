"""The CheckPoint struct: the payload of checkpoint WAL records and the copy in ``pg_control``.

PostgreSQL 15's ``CheckPoint`` layout, 88 bytes, little-endian::

    0   redo                   u64  where replay must start (the checkpoint's REDO point)
    8   this_timeline          u32
    12  prev_timeline          u32  equals this_timeline unless the checkpoint starts a timeline
    16  full_page_writes       u8   then 7 pad bytes
    24  next_full_xid          u64  epoch << 32 | next xid
    32  next_oid               u32
    36  next_multi             u32
    40  next_multi_offset      u32
    44  oldest_xid             u32
    48  oldest_xid_db          u32
    52  oldest_multi           u32
    56  oldest_multi_db        u32  then 4 pad bytes
    64  time_s                 i64  Unix seconds (pg_time_t)
    72  oldest_commit_ts_xid   u32
    76  newest_commit_ts_xid   u32
    80  oldest_active_xid      u32  then 4 pad bytes (0 in a shutdown checkpoint)

Both the WAL package (checkpoint records) and the storage package (the control file) encode it with
this one module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mirrordb.common.errors import DataCorrupted

CHECKPOINT_STRUCT = struct.Struct("<QII?7xQIIIIIII4xqIII4x")
CHECKPOINT_SIZE = 88
assert CHECKPOINT_STRUCT.size == CHECKPOINT_SIZE


@dataclass(frozen=True)
class CheckPoint:
    redo: int
    this_timeline: int
    prev_timeline: int
    full_page_writes: bool
    next_full_xid: int
    next_oid: int
    next_multi: int
    next_multi_offset: int
    oldest_xid: int
    oldest_xid_db: int
    oldest_multi: int
    oldest_multi_db: int
    time_s: int
    oldest_commit_ts_xid: int
    newest_commit_ts_xid: int
    oldest_active_xid: int

    def encode(self) -> bytes:
        return CHECKPOINT_STRUCT.pack(
            self.redo, self.this_timeline, self.prev_timeline, self.full_page_writes,
            self.next_full_xid, self.next_oid, self.next_multi, self.next_multi_offset,
            self.oldest_xid, self.oldest_xid_db, self.oldest_multi, self.oldest_multi_db,
            self.time_s, self.oldest_commit_ts_xid, self.newest_commit_ts_xid,
            self.oldest_active_xid)

    @classmethod
    def decode(cls, data: bytes | memoryview) -> CheckPoint:
        if len(data) < CHECKPOINT_SIZE:
            raise DataCorrupted(f"checkpoint data too short: {len(data)} bytes, wanted 88")
        return cls(*CHECKPOINT_STRUCT.unpack_from(data, 0))

    @property
    def next_xid(self) -> int:
        return self.next_full_xid & 0xFFFFFFFF

    @property
    def next_xid_epoch(self) -> int:
        return self.next_full_xid >> 32
