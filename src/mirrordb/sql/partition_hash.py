"""Hash partitioning's row hash, bit for bit PostgreSQL's, so a row lands in the partition a
PostgreSQL server would put it in (and a dump restores into the same partitions).

Who calls it: sql/partitioning.py (``accepts`` of a hash bound). PostgreSQL hashes each non-NULL
key value with the type's extended hash function and the partition seed, and combines them
(hash_combine64); the remainder of the combination by the modulus picks the partition. The
type hash functions are Bob Jenkins' lookup3 as PostgreSQL's hashfn.c has it (hash_bytes_extended,
hash_bytes_uint32_extended) over the value's bytes or its 32-bit form.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T

HASH_PARTITION_SEED = 0x7A5B22367996DCFD
MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
_INITIAL = (0x9E3779B9 + 3923095) & MASK32
POSTGRES_EPOCH = datetime.date(2000, 1, 1)


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & MASK32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & MASK32; a ^= _rot(c, 4); c = (c + b) & MASK32
    b = (b - a) & MASK32; b ^= _rot(a, 6); a = (a + c) & MASK32
    c = (c - b) & MASK32; c ^= _rot(b, 8); b = (b + a) & MASK32
    a = (a - c) & MASK32; a ^= _rot(c, 16); c = (c + b) & MASK32
    b = (b - a) & MASK32; b ^= _rot(a, 19); a = (a + c) & MASK32
    c = (c - b) & MASK32; c ^= _rot(b, 4); b = (b + a) & MASK32
    return a, b, c


def _final(a: int, b: int, c: int) -> tuple[int, int, int]:
    c ^= b; c = (c - _rot(b, 14)) & MASK32
    a ^= c; a = (a - _rot(c, 11)) & MASK32
    b ^= a; b = (b - _rot(a, 25)) & MASK32
    c ^= b; c = (c - _rot(b, 16)) & MASK32
    a ^= c; a = (a - _rot(c, 4)) & MASK32
    b ^= a; b = (b - _rot(a, 14)) & MASK32
    c ^= b; c = (c - _rot(b, 24)) & MASK32
    return a, b, c


def _seeded(start: int, seed: int) -> tuple[int, int, int]:
    a = b = c = start
    if seed:
        a = (a + (seed >> 32)) & MASK32
        b = (b + (seed & MASK32)) & MASK32
        a, b, c = _mix(a, b, c)
    return a, b, c


def hash_uint32_extended(k: int, seed: int) -> int:
    a, b, c = _seeded((_INITIAL + 4) & MASK32, seed)
    a = (a + (k & MASK32)) & MASK32
    a, b, c = _final(a, b, c)
    return (b << 32) | c


def hash_bytes_extended(data: bytes, seed: int) -> int:
    length = len(data)
    a, b, c = _seeded((_INITIAL + length) & MASK32, seed)
    position = 0
    while length - position >= 12:
        a = (a + int.from_bytes(data[position:position + 4], "little")) & MASK32
        b = (b + int.from_bytes(data[position + 4:position + 8], "little")) & MASK32
        c = (c + int.from_bytes(data[position + 8:position + 12], "little")) & MASK32
        a, b, c = _mix(a, b, c)
        position += 12
    rest = data[position:]
    a = (a + int.from_bytes(rest[0:4], "little")) & MASK32
    b = (b + int.from_bytes(rest[4:8], "little")) & MASK32
    c = (c + (int.from_bytes(rest[8:11], "little") << 8)) & MASK32  # c's low byte: unused
    a, b, c = _final(a, b, c)
    return (b << 32) | c


def _hash_int8(value: int, seed: int) -> int:
    low, high = value & MASK32, (value >> 32) & MASK32
    low ^= high if value >= 0 else (~high & MASK32)
    return hash_uint32_extended(low, seed)


def type_hash(type_oid: int, value: Any, seed: int) -> int:
    """The type's extended hash function (hashint4extended, hashtextextended, ...)."""
    base = T.base_type(type_oid)
    if base in (T.INT2_OID, T.INT4_OID, T.OID_OID):
        return hash_uint32_extended(value, seed)
    if base == T.INT8_OID:
        return _hash_int8(value, seed)
    if base == T.BOOL_OID:
        return hash_uint32_extended(1 if value else 0, seed)
    if base in (T.TEXT_OID, T.VARCHAR_OID, T.NAME_OID):
        return hash_bytes_extended(str(value).encode(), seed)
    if base == T.BPCHAR_OID:
        return hash_bytes_extended(str(value).rstrip(" ").encode(), seed)
    if base == T.DATE_OID and isinstance(value, datetime.date):
        return hash_uint32_extended((value - POSTGRES_EPOCH).days, seed)
    raise MirrordbError(f"hash partitioning on type {T.format_type(type_oid)} is not "
                        "supported", sqlstate="0A000")


def row_hash(key: Sequence[Any], types: Sequence[int]) -> int:
    """PostgreSQL's compute_partition_hash_value: NULLs add nothing."""
    combined = 0
    for value, type_oid in zip(key, types):
        if value is None:
            continue
        hashed = type_hash(type_oid, value, HASH_PARTITION_SEED)
        combined ^= (hashed + 0x49A0F4DD15E5A8E3 + (combined << 54) + (combined >> 7)) & MASK64
        combined &= MASK64
    return combined
