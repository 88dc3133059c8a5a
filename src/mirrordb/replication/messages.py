"""The CopyBoth sub-messages of physical streaming replication: a pure sans-I/O codec.

Who calls it: the walsender (replication/walsender.py) encodes XLogData and keepalives and decodes
what a standby sends back; the walreceiver (replication/walreceiver.py) does the opposite. Both
wrap the bytes in protocol CopyData ('d') messages themselves; this module never sees a socket.

Every message is the payload of one CopyData message; its first byte says which one it is. All
integers are big-endian (network order); an LSN is an unsigned 64-bit byte position in the WAL;
a "PG timestamp" is a signed 64-bit count of microseconds since 2000-01-01 00:00:00 UTC.

Server -> client::

    XLogData 'w' (25-byte header, then WAL)
      off  0  Byte1   'w'
      off  1  UInt64  data_start_lsn   WAL position of the first byte of ``data``
      off  9  UInt64  wal_end_lsn      the server's end of WAL (its flush position on a primary)
      off 17  Int64   send_time        PG timestamp
      off 25  Byte n  data             raw WAL bytes as in the segment files (page headers too)

    Primary keepalive 'k' (18 bytes)
      off  0  Byte1   'k'
      off  1  UInt64  wal_end_lsn      the position sent so far
      off  9  Int64   send_time
      off 17  Byte1   reply_requested  1: answer with a standby status update at once

Client -> server::

    Standby status update 'r' (34 bytes)
      off  0  Byte1   'r'
      off  1  UInt64  write_lsn        last byte + 1 received and written
      off  9  UInt64  flush_lsn        last byte + 1 flushed to disk (0 = unknown)
      off 17  UInt64  apply_lsn        last byte + 1 replayed (0 = unknown)
      off 25  Int64   send_time        client clock
      off 33  Byte1   reply_requested  1: the server should answer with a keepalive at once

    Hot standby feedback 'h' (25 bytes)
      off  0  Byte1   'h'
      off  1  Int64   send_time
      off  9  UInt32  xmin             0 = no feedback (clears the horizon)
      off 13  UInt32  xmin_epoch
      off 17  UInt32  catalog_xmin     0 on a physical standby
      off 21  UInt32  catalog_xmin_epoch

Decoding rules: ``decode_standby_message`` / ``decode_primary_message`` accept exactly these
layouts. Anything else (an empty payload, an unknown kind byte, a wrong length) raises
``ProtocolViolation`` with PostgreSQL's wording; no other exception escapes for any input.
Encoding checks its arguments with ``invariant`` (a bad value there is our bug, not the peer's).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import ClassVar

from mirrordb.common.errors import ProtocolViolation, invariant

# -- formats (the kind byte is included; sizes checked below) -------------------------------------

XLOG_DATA_HEADER = struct.Struct(">cQQq")
PRIMARY_KEEPALIVE = struct.Struct(">cQqB")
STANDBY_STATUS_UPDATE = struct.Struct(">cQQQqB")
HOT_STANDBY_FEEDBACK = struct.Struct(">cqIIII")

assert XLOG_DATA_HEADER.size == 25
assert PRIMARY_KEEPALIVE.size == 18
assert STANDBY_STATUS_UPDATE.size == 34
assert HOT_STANDBY_FEEDBACK.size == 25

XLOG_DATA_KIND = b"w"
PRIMARY_KEEPALIVE_KIND = b"k"
STANDBY_STATUS_UPDATE_KIND = b"r"
HOT_STANDBY_FEEDBACK_KIND = b"h"

MAX_XLOG_DATA_BYTES = 16 * 8192   # MAX_SEND_SIZE: the most WAL one XLogData carries (128 KiB)
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

POSTGRES_EPOCH_UNIX_S = 946_684_800   # 2000-01-01 00:00:00 UTC in seconds since the Unix epoch
MICROSECONDS_PER_SECOND = 1_000_000


def pg_timestamp_now() -> int:
    """The current time as a PG timestamp (microseconds since 2000-01-01 UTC)."""
    return unix_to_pg_timestamp(time.time())


def unix_to_pg_timestamp(unix_s: float) -> int:
    return int(round((unix_s - POSTGRES_EPOCH_UNIX_S) * MICROSECONDS_PER_SECOND))


def pg_timestamp_to_unix(pg_timestamp: int) -> float:
    return pg_timestamp / MICROSECONDS_PER_SECOND + POSTGRES_EPOCH_UNIX_S


# -- messages -------------------------------------------------------------------------------------

@dataclass(slots=True)
class XLogData:
    """'w': ``data`` is the WAL from ``data_start_lsn`` on (server -> client)."""

    data_start_lsn: int
    wal_end_lsn: int
    send_time: int
    data: bytes
    kind: ClassVar[bytes] = XLOG_DATA_KIND

    @property
    def data_end_lsn(self) -> int:
        """The position just past the last WAL byte carried."""
        return self.data_start_lsn + len(self.data)

    def encode(self) -> bytes:
        _check_lsn(self.data_start_lsn, self.wal_end_lsn)
        _check_timestamp(self.send_time)
        return XLOG_DATA_HEADER.pack(self.kind, self.data_start_lsn, self.wal_end_lsn,
                                     self.send_time) + self.data


@dataclass(slots=True)
class PrimaryKeepalive:
    """'k': the server is alive, has sent up to ``wal_end_lsn``; maybe asks for a reply."""

    wal_end_lsn: int
    send_time: int
    reply_requested: bool = False
    kind: ClassVar[bytes] = PRIMARY_KEEPALIVE_KIND

    def encode(self) -> bytes:
        _check_lsn(self.wal_end_lsn)
        _check_timestamp(self.send_time)
        return PRIMARY_KEEPALIVE.pack(self.kind, self.wal_end_lsn, self.send_time,
                                      int(self.reply_requested))


@dataclass(slots=True)
class StandbyStatusUpdate:
    """'r': how far the standby has written, flushed and applied (client -> server)."""

    write_lsn: int
    flush_lsn: int
    apply_lsn: int
    send_time: int
    reply_requested: bool = False
    kind: ClassVar[bytes] = STANDBY_STATUS_UPDATE_KIND

    def encode(self) -> bytes:
        _check_lsn(self.write_lsn, self.flush_lsn, self.apply_lsn)
        _check_timestamp(self.send_time)
        return STANDBY_STATUS_UPDATE.pack(self.kind, self.write_lsn, self.flush_lsn,
                                          self.apply_lsn, self.send_time,
                                          int(self.reply_requested))


@dataclass(slots=True)
class HotStandbyFeedback:
    """'h': the oldest xmin the standby's queries still need (0 = none)."""

    send_time: int
    xmin: int
    xmin_epoch: int = 0
    catalog_xmin: int = 0
    catalog_xmin_epoch: int = 0
    kind: ClassVar[bytes] = HOT_STANDBY_FEEDBACK_KIND

    def encode(self) -> bytes:
        _check_timestamp(self.send_time)
        for value in (self.xmin, self.xmin_epoch, self.catalog_xmin, self.catalog_xmin_epoch):
            invariant(0 <= value <= UINT32_MAX, f"feedback value {value} out of range")
        return HOT_STANDBY_FEEDBACK.pack(self.kind, self.send_time, self.xmin, self.xmin_epoch,
                                         self.catalog_xmin, self.catalog_xmin_epoch)


PrimaryMessage = XLogData | PrimaryKeepalive
StandbyMessage = StandbyStatusUpdate | HotStandbyFeedback


def _check_lsn(*lsns: int) -> None:
    for lsn in lsns:
        invariant(0 <= lsn <= UINT64_MAX, f"LSN {lsn} out of range")


def _check_timestamp(value: int) -> None:
    invariant(INT64_MIN <= value <= INT64_MAX, f"timestamp {value} out of range")


# -- decoding -------------------------------------------------------------------------------------

def decode_standby_message(payload: bytes) -> StandbyMessage:
    """A CopyData payload from a standby: 'r' or 'h'; anything else is a ProtocolViolation."""
    if not payload:
        raise ProtocolViolation("invalid standby message: empty CopyData")
    kind = payload[:1]
    if kind == STANDBY_STATUS_UPDATE_KIND:
        _expect_length(payload, STANDBY_STATUS_UPDATE.size)
        _, write, flush, apply, sent, reply = STANDBY_STATUS_UPDATE.unpack(payload)
        return StandbyStatusUpdate(write, flush, apply, sent, reply != 0)
    if kind == HOT_STANDBY_FEEDBACK_KIND:
        _expect_length(payload, HOT_STANDBY_FEEDBACK.size)
        _, sent, xmin, epoch, catalog_xmin, catalog_epoch = HOT_STANDBY_FEEDBACK.unpack(payload)
        return HotStandbyFeedback(sent, xmin, epoch, catalog_xmin, catalog_epoch)
    raise ProtocolViolation(f'unexpected message type "{_kind_text(kind)}"')


def decode_primary_message(payload: bytes) -> PrimaryMessage:
    """A CopyData payload from a primary: 'w' or 'k'; anything else is a ProtocolViolation."""
    if not payload:
        raise ProtocolViolation("invalid replication message: empty CopyData")
    kind = payload[:1]
    if kind == XLOG_DATA_KIND:
        if len(payload) < XLOG_DATA_HEADER.size:
            raise ProtocolViolation("streaming header too small: "
                                    f"{len(payload)}")
        _, start, end, sent = XLOG_DATA_HEADER.unpack_from(payload)
        return XLogData(start, end, sent, bytes(payload[XLOG_DATA_HEADER.size:]))
    if kind == PRIMARY_KEEPALIVE_KIND:
        _expect_length(payload, PRIMARY_KEEPALIVE.size)
        _, end, sent, reply = PRIMARY_KEEPALIVE.unpack(payload)
        return PrimaryKeepalive(end, sent, reply != 0)
    raise ProtocolViolation(f'unrecognized streaming header: "{_kind_text(kind)}"')


def _expect_length(payload: bytes, size: int) -> None:
    if len(payload) != size:
        raise ProtocolViolation(f'invalid "{_kind_text(payload[:1])}" message: length '
                                f"{len(payload)}, expected {size}")


def _kind_text(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isascii() and kind.isalnum() else f"\\x{kind.hex()}"


__all__ = [
    "HotStandbyFeedback", "MAX_XLOG_DATA_BYTES", "PrimaryKeepalive", "StandbyStatusUpdate",
    "XLogData", "decode_primary_message", "decode_standby_message", "pg_timestamp_now",
    "pg_timestamp_to_unix", "unix_to_pg_timestamp",
]
