"""The operators and functions of PostgreSQL 15 on inet, cidr, macaddr and macaddr8
(network.c, mac.c, mac8.c).

Who calls it: sql/operators.py adds ``OPERATOR_ROWS`` and ``operator_implementations()`` to its
table when it loads (importing this module, which adds the functions below to sql/functions.py's
registry). The types themselves are sql/network_types.py's. As in PostgreSQL, cidr has no
operators of its own: a cidr operand is cast to inet (binary coercible).

Operators: = <> < <= > >= (network_cmp's order), << <<= >> >>= (strictly within / within or
equal / contains / contains or equals), && (either contains the other), ~ & | on the address
bits, inet + int8, int8 + inet, inet - int8, inet - inet. Functions: host, masklen, network,
broadcast, netmask, hostmask, set_masklen (inet and cidr), family, abbrev (inet and cidr),
text, inet_same_family, inet_merge, trunc(macaddr), trunc(macaddr8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import functions as funcs
from mirrordb.sql import types as T
from mirrordb.sql.network_types import (address_text, cidr_abbreviation, cidr_text, inet_text,
                                        inet_to_cidr)
from mirrordb.storage.datum import CIDR_OID, INET_OID, MACADDR8_OID, MACADDR_OID
from mirrordb.storage.network_format import Inet


def _prefix(value: Inet, bits: int) -> int:
    return value.address >> (value.max_bits - bits)


def _within(inner: Inet, outer: Inet, or_equal: bool) -> bool:
    """network_sub / network_subeq: ``inner``'s network lies in ``outer``'s."""
    if inner.version != outer.version:
        return False
    if inner.bits < outer.bits or (inner.bits == outer.bits and not or_equal):
        return False
    return _prefix(inner, outer.bits) == _prefix(outer, outer.bits)


def overlap(left: Inet, right: Inet) -> bool:
    if left.version != right.version:
        return False
    bits = min(left.bits, right.bits)
    return _prefix(left, bits) == _prefix(right, bits)


def _mask(value: Inet) -> int:
    return (1 << value.max_bits) - 1


def _bitwise(name: str, combine: Callable[[int, int], int]) -> Callable[[Inet, Inet], Inet]:
    def apply(left: Inet, right: Inet) -> Inet:
        if left.version != right.version:
            raise MirrordbError(f"cannot {name} inet values of different sizes",
                                sqlstate="22023")
        return Inet(left.version, combine(left.address, right.address),
                    max(left.bits, right.bits))
    return apply


def _plus(value: Inet, addend: int) -> Inet:
    address = value.address + addend
    if not 0 <= address <= _mask(value):
        raise MirrordbError("result is out of range", sqlstate="22003")
    return Inet(value.version, address, value.bits)


def _minus(left: Inet, right: Inet) -> int:
    if left.version != right.version:
        raise MirrordbError("cannot subtract inet values of different sizes", sqlstate="22023")
    difference = left.address - right.address
    if not -(1 << 63) <= difference < (1 << 63):
        raise MirrordbError("result is out of range", sqlstate="22003")
    return difference


_MAC_COMPARISONS = {"=": 1220, "<>": 1221, "<": 1222, "<=": 1223, ">": 1224, ">=": 1225}
_MAC8_COMPARISONS = {"=": 3362, "<>": 3363, "<": 3364, "<=": 3365, ">": 3366, ">=": 3367}
_INET_COMPARISONS = {"=": 1201, "<>": 1202, "<": 1203, "<=": 1204, ">": 1205, ">=": 1206}
_BOOL = T.BOOL_OID

OPERATOR_ROWS: list[tuple[int, str, int, int, int, str]] = [
    *[(oid, name, INET_OID, INET_OID, _BOOL, "network_cmp") for name, oid in
      _INET_COMPARISONS.items()],
    *[(oid, name, MACADDR_OID, MACADDR_OID, _BOOL, "macaddr_cmp") for name, oid in
      _MAC_COMPARISONS.items()],
    *[(oid, name, MACADDR8_OID, MACADDR8_OID, _BOOL, "macaddr8_cmp") for name, oid in
      _MAC8_COMPARISONS.items()],
    (931, "<<", INET_OID, INET_OID, _BOOL, "network_sub"),
    (932, "<<=", INET_OID, INET_OID, _BOOL, "network_subeq"),
    (933, ">>", INET_OID, INET_OID, _BOOL, "network_sup"),
    (934, ">>=", INET_OID, INET_OID, _BOOL, "network_supeq"),
    (3552, "&&", INET_OID, INET_OID, _BOOL, "network_overlap"),
    (2634, "~", 0, INET_OID, INET_OID, "inetnot"),
    (2635, "&", INET_OID, INET_OID, INET_OID, "inetand"),
    (2636, "|", INET_OID, INET_OID, INET_OID, "inetor"),
    (2637, "+", INET_OID, T.INT8_OID, INET_OID, "inetpl"),
    (2638, "+", T.INT8_OID, INET_OID, INET_OID, "int8pl_inet"),
    (2639, "-", INET_OID, T.INT8_OID, INET_OID, "inetmi_int8"),
    (2640, "-", INET_OID, INET_OID, T.INT8_OID, "inetmi"),
]


def operator_implementations() -> dict[str, Callable[..., Any]]:
    """The implementations of ``OPERATOR_ROWS`` by oprcode (comparisons are operators.py's,
    over Inet's and bytes' own order)."""
    return {
        "network_sub": lambda left, right: _within(left, right, False),
        "network_subeq": lambda left, right: _within(left, right, True),
        "network_sup": lambda left, right: _within(right, left, False),
        "network_supeq": lambda left, right: _within(right, left, True),
        "network_overlap": overlap,
        "inetnot": lambda value: Inet(value.version, value.address ^ _mask(value),
                                      value.bits),
        "inetand": _bitwise("AND", lambda left, right: left & right),
        "inetor": _bitwise("OR", lambda left, right: left | right),
        "inetpl": _plus, "int8pl_inet": lambda addend, value: _plus(value, addend),
        "inetmi_int8": lambda value, subtrahend: _plus(value, -subtrahend),
        "inetmi": _minus,
    }


# -- functions ------------------------------------------------------------------------------------


def _netmask(value: Inet) -> int:
    return _mask(value) ^ ((1 << (value.max_bits - value.bits)) - 1)


def _set_masklen(is_cidr: bool) -> Callable[[Inet, int], Inet]:
    def set_masklen(value: Inet, bits: int) -> Inet:
        if bits == -1:
            bits = value.max_bits
        if not 0 <= bits <= value.max_bits:
            raise MirrordbError(f"invalid mask length: {bits}", sqlstate="22023")
        changed = Inet(value.version, value.address, bits)
        return inet_to_cidr(changed) if is_cidr else changed
    return set_masklen


def _inet_merge(left: Inet, right: Inet) -> Inet:
    if left.version != right.version:
        raise MirrordbError("cannot merge addresses from different families",
                            sqlstate="22023")
    bits = min(left.bits, right.bits)
    while bits and _prefix(left, bits) != _prefix(right, bits):
        bits -= 1
    return inet_to_cidr(Inet(left.version, left.address, bits))


def _define() -> None:
    define = funcs.define
    define("host", [INET_OID], T.TEXT_OID, address_text)
    define("masklen", [INET_OID], T.INT4_OID, lambda value: value.bits)
    define("family", [INET_OID], T.INT4_OID, lambda value: value.version)
    define("network", [INET_OID], CIDR_OID, inet_to_cidr)
    define("broadcast", [INET_OID], INET_OID, lambda value: Inet(
        value.version, value.address | (_mask(value) ^ _netmask(value)), value.bits))
    define("netmask", [INET_OID], INET_OID,
           lambda value: Inet(value.version, _netmask(value), value.max_bits))
    define("hostmask", [INET_OID], INET_OID,
           lambda value: Inet(value.version, _mask(value) ^ _netmask(value), value.max_bits))
    define("set_masklen", [INET_OID, T.INT4_OID], INET_OID, _set_masklen(False))
    define("set_masklen", [CIDR_OID, T.INT4_OID], CIDR_OID, _set_masklen(True))
    define("abbrev", [INET_OID], T.TEXT_OID, inet_text)
    define("abbrev", [CIDR_OID], T.TEXT_OID, cidr_abbreviation)
    define("text", [INET_OID], T.TEXT_OID, cidr_text)
    define("inet_same_family", [INET_OID, INET_OID], T.BOOL_OID,
           lambda left, right: left.version == right.version)
    define("inet_merge", [INET_OID, INET_OID], CIDR_OID, _inet_merge)
    define("trunc", [MACADDR_OID], MACADDR_OID, lambda value: value[:3] + bytes(3))
    define("trunc", [MACADDR8_OID], MACADDR8_OID, lambda value: value[:3] + bytes(5))


_define()
