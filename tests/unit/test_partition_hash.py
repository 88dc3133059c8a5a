"""Hash partitioning's hashes against values a PostgreSQL 15 server computed (hashint4extended,
hashint8extended, hashtextextended, hashbpcharextended and the date's int4 hash, with seed 0,
small seeds and the partition seed), and the row hash's combination of columns and NULLs."""

from __future__ import annotations

import datetime

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import partition_hash as H
from mirrordb.sql import types as T

SEED = H.HASH_PARTITION_SEED


def signed(value: int) -> int:
    """PostgreSQL prints the uint64 hashes as bigint."""
    return value - (1 << 64) if value >= 1 << 63 else value


@pytest.mark.parametrize("type_oid, value, seed, expected", [
    (T.TEXT_OID, "abc", 0, -6747756470228489321),
    (T.TEXT_OID, "hello world, a longer text", SEED, 5352327044692902834),
    (T.INT8_OID, -5, SEED, 5466844944386338076),
    (T.INT4_OID, -7, 0, -4284878795861022465),
    (T.INT8_OID, 12345678901, 3, 4584427063911180635),
    (T.TEXT_OID, "", 5, -8122693617258832648),
    (T.DATE_OID, datetime.date(2024, 2, 29), SEED, -7425094147693931516),
    (T.BPCHAR_OID, "ab  ", SEED, 596009030900183869),
])
def test_type_hashes_are_postgresql_s(type_oid: int, value: object, seed: int,
                                      expected: int) -> None:
    assert signed(H.type_hash(type_oid, value, seed)) == expected


def test_nulls_add_nothing_to_the_row_hash() -> None:
    types = (T.INT4_OID, T.TEXT_OID)
    assert H.row_hash((None, None), types) == 0
    assert H.row_hash((5, None), types) == H.row_hash((5,), types[:1])
    assert H.row_hash((5, "a"), types) != H.row_hash(("a",), types[1:])


def test_types_without_a_hash_are_refused() -> None:
    with pytest.raises(MirrordbError) as failure:
        H.type_hash(T.FLOAT8_OID, 1.5, SEED)
    assert failure.value.sqlstate == "0A000"
