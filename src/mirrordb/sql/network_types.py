"""The network address types: inet, cidr, macaddr, macaddr8 (PostgreSQL's network.c, mac.c,
mac8.c and inet_net_pton/ntop, as a user sees them).

Who calls it: sql/types.py imports it at its end, and this module registers the four types and
their arrays there (pg_type rows with PostgreSQL's OIDs, text and binary I/O, the casts cidr ->
inet, inet -> cidr, inet/cidr -> text, macaddr <-> macaddr8); sql/network_functions.py builds
the operators and functions on the helpers here. Values: storage/network_format.py's ``Inet``
for inet and cidr, the 6 or 8 address bytes for macaddr and macaddr8.

Text input: IPv4 as 1 to 4 decimal octets with an optional ``/bits`` (inet needs all four
octets unless ``/bits`` is given and its whole bytes are no more than the octets written; cidr
without ``/bits`` takes the classful mask, widened to the octets written), IPv6 in any RFC 4291
form;
a cidr must have no bits set past its mask ("invalid cidr value", DETAIL "Value has bits set
to right of mask."). Text output: inet omits ``/bits`` when it is the whole address, cidr
always prints it; IPv6 prints as inet_net_ntop does (the longest run of two or more zero
groups as ``::``, an IPv4 tail for ``::a.b.c.d`` and ``::ffff:a.b.c.d``).

Binary form (inet_send): family (2 IPv4, 3 IPv6), bits, is_cidr (0 or 1), address length
(4 or 16), the address bytes. macaddr/macaddr8: their bytes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.storage.datum import CIDR_OID, INET_OID, MACADDR8_OID, MACADDR_OID
from mirrordb.storage.network_format import (ADDRESS_BYTES, MAX_BITS, PGSQL_AF_INET,
                                             PGSQL_AF_INET6, Inet)

_IPV4_PART = re.compile(r"[0-9]+(?:\.[0-9]+){0,3}\Z")
_BITS = re.compile(r"[0-9]+\Z")
_FAMILY_BY_CODE = {PGSQL_AF_INET: 4, PGSQL_AF_INET6: 6}
_FAMILY_CODE = {4: PGSQL_AF_INET, 6: PGSQL_AF_INET6}


def _invalid(type_name: str, text: str) -> MirrordbError:
    return MirrordbError(f'invalid input syntax for type {type_name}: "{text}"', sqlstate="22P02")


def _classful_bits(first_octet: int, octets: int) -> int:
    """inet_cidr_pton_ipv4's mask for a cidr written without one."""
    if first_octet >= 240:
        bits = 32
    elif first_octet >= 224:
        bits = 8
    elif first_octet >= 192:
        bits = 24
    elif first_octet >= 128:
        bits = 16
    else:
        bits = 8
    bits = max(bits, octets * 8)
    return 4 if bits == 8 and first_octet == 224 else bits


def _parse_ipv4(address_text: str, bits: int | None, is_cidr: bool, type_name: str,
                text: str) -> Inet:
    if not _IPV4_PART.match(address_text):
        raise _invalid(type_name, text)
    octets = [int(part) for part in address_text.split(".")]
    if any(octet > 255 for octet in octets):
        raise _invalid(type_name, text)
    if bits is None:
        if len(octets) < 4 and not is_cidr:
            raise _invalid(type_name, text)
        bits = 32 if len(octets) == 4 else _classful_bits(octets[0], len(octets))
    elif bits > 32 or (not is_cidr and bits // 8 > len(octets)):
        raise _invalid(type_name, text)
    address = int.from_bytes(bytes(octets + [0] * (4 - len(octets))), "big")
    return Inet(4, address, bits)


def _parse_ipv6(address_text: str, bits: int | None, type_name: str, text: str) -> Inet:
    if "%" in address_text:              # Python takes a scope id; inet_net_pton does not
        raise _invalid(type_name, text)
    try:
        address = int(ipaddress.IPv6Address(address_text))
    except ValueError:
        raise _invalid(type_name, text) from None
    if bits is None:
        bits = 128
    elif bits > 128:
        raise _invalid(type_name, text)
    return Inet(6, address, bits)


def parse_inet(text: str, is_cidr: bool) -> Inet:
    """inet_in / cidr_in."""
    type_name = "cidr" if is_cidr else "inet"
    address_text, slash, bits_text = text.partition("/")
    bits: int | None = None
    if slash:
        if not _BITS.match(bits_text):
            raise _invalid(type_name, text)
        bits = int(bits_text)
    if ":" in address_text:
        value = _parse_ipv6(address_text, bits, type_name, text)
    else:
        value = _parse_ipv4(address_text, bits, is_cidr, type_name, text)
    if is_cidr and value.network_address() != value.address:
        raise MirrordbError(f'invalid cidr value: "{text}"', sqlstate="22P02",
                            detail="Value has bits set to right of mask.")
    return value


def _ipv4_text(address: int) -> str:
    return ".".join(str(octet) for octet in address.to_bytes(4, "big"))


def _longest_zero_run(words: list[int]) -> tuple[int, int]:
    best_start, best_length, start = -1, 0, -1
    for index, word in enumerate(words + [1]):
        if word == 0 and index < len(words):
            start = index if start < 0 else start
            continue
        if start >= 0 and index - start > best_length:
            best_start, best_length = start, index - start
        start = -1
    return (best_start, best_length) if best_length >= 2 else (-1, 0)


def _ipv6_text(address: int) -> str:
    """inet_net_ntop's IPv6 form."""
    words = [(address >> (112 - 16 * index)) & 0xFFFF for index in range(8)]
    start, length = _longest_zero_run(words)
    if start == 0 and (length == 6 or (length == 5 and words[5] == 0xFFFF)):
        return ("::ffff:" if length == 5 else "::") + _ipv4_text(address & 0xFFFFFFFF)
    if start < 0:
        return ":".join(f"{word:x}" for word in words)
    head = ":".join(f"{word:x}" for word in words[:start])
    tail = ":".join(f"{word:x}" for word in words[start + length:])
    return head + "::" + tail


def _cidr_zero_run(words: list[int]) -> tuple[int, int]:
    """inet_cidr_ntop's run of zero groups to elide: the longest found so far, where a run no
    longer than the best keeps counting on into the next run (PostgreSQL's scan does)."""
    best_start = best_length = run_start = run_length = 0
    for index, word in enumerate(words):
        if word == 0:
            if run_length == 0:
                run_start = index
            run_length += 1
        elif run_length and best_length < run_length:
            best_start, best_length, run_length = run_start, run_length, 0
    if run_length and best_length < run_length:
        best_start, best_length = run_start, run_length
    return best_start, best_length


def _ipv6_cidr_text(address: int, bits: int) -> str:
    """The groups abbrev(cidr) prints for an IPv6 network (``::`` for /0), with the IPv4
    tail rules and quirks of PostgreSQL's inet_cidr_ntop_ipv6."""
    if bits == 0:
        return "::"
    data = address.to_bytes(16, "big")
    count = max(2, (bits + 15) // 16)
    words = [data[2 * index] << 8 | data[2 * index + 1] for index in range(count)]
    zero_start, zero_length = _cidr_zero_run(words)
    as_ipv4 = zero_length != count and zero_start == 0 and (
        zero_length == 6 or (zero_length == 5 and data[10:12] == b"\xff\xff")
        or (zero_length == 7 and data[14] != 0 and data[15] != 1))
    text = ""
    for index in range(count):
        if zero_length and zero_start <= index < zero_start + zero_length:
            text += (":" if index == zero_start else "") + (":" if index == count - 1 else "")
        elif as_ipv4 and index > 5:
            text += (":" if index == 6 else ".") + str(data[2 * index])
            if index != 7 or bits > 120:
                text += "." + str(data[2 * index + 1])
        else:
            text += (":" if text else "") + f"{words[index]:x}"
    return text


def address_text(value: Inet) -> str:
    """The address alone (host())."""
    return _ipv4_text(value.address) if value.version == 4 else _ipv6_text(value.address)


def inet_text(value: Inet) -> str:
    """inet_out: the mask only when it is not the whole address."""
    text = address_text(value)
    return text if value.bits == value.max_bits else f"{text}/{value.bits}"


def cidr_text(value: Inet) -> str:
    """cidr_out and text(inet): always with the mask."""
    return f"{address_text(value)}/{value.bits}"


def cidr_abbreviation(value: Inet) -> str:
    """abbrev(cidr) (inet_cidr_ntop): IPv4 with only the octets the mask covers (at least
    one); IPv6 with only the groups it covers (at least two), see ``_ipv6_cidr_text``."""
    if value.version == 6:
        return _ipv6_cidr_text(value.network_address(), value.bits) + f"/{value.bits}"
    octets = value.address.to_bytes(4, "big")
    count = max(1, (value.bits + 7) // 8)
    return ".".join(str(octet) for octet in octets[:count]) + f"/{value.bits}"


# -- macaddr and macaddr8 ----------------------------------------------------------------------

_HEX_PAIR = "([0-9A-Fa-f]{2})"
_HEX_GROUP = "([0-9A-Fa-f]{1,2})"      # sscanf's %2x: one digit will do between separators
_MACADDR_FORMS = [re.compile(r"\s*" + pattern + r"\s*\Z") for pattern in (
    ":".join([_HEX_GROUP] * 6), "-".join([_HEX_GROUP] * 6),
    _HEX_PAIR * 3 + ":" + _HEX_PAIR * 3, _HEX_PAIR * 3 + "-" + _HEX_PAIR * 3,
    r"\.".join([_HEX_PAIR * 2] * 3), "-".join([_HEX_PAIR * 2] * 3), _HEX_PAIR * 6)]
_MAC_SEPARATORS = re.compile(r"[:.\-]")


def parse_macaddr(text: str) -> bytes:
    """macaddr_in: the six forms PostgreSQL documents."""
    for form in _MACADDR_FORMS:
        match = form.match(text)
        if match:
            return bytes(int(group, 16) for group in match.groups())
    raise _invalid("macaddr", text)


def parse_macaddr8(text: str) -> bytes:
    """macaddr8_in: 6 or 8 bytes in hex, pairs optionally separated by one kind of ':', '-'
    or '.'; a 6-byte address gets FF:FE in its middle (EUI-48 to EUI-64)."""
    stripped = text.strip(" \t\n\r\v\f")
    separators = set(_MAC_SEPARATORS.findall(stripped))
    digits = _MAC_SEPARATORS.sub("", stripped)
    if len(separators) > 1 or not re.fullmatch(r"[0-9A-Fa-f]+", digits) or \
            len(digits) not in (12, 16) or _bad_mac8_grouping(stripped):
        raise _invalid("macaddr8", text)
    data = bytes.fromhex(digits)
    return data[:3] + b"\xff\xfe" + data[3:] if len(data) == 6 else data


def _bad_mac8_grouping(text: str) -> bool:
    """A separator may only fall between whole bytes."""
    groups = _MAC_SEPARATORS.split(text)
    return any(len(group) % 2 or not group for group in groups)


def format_mac(value: bytes) -> str:
    return ":".join(f"{octet:02x}" for octet in value)


# -- binary I/O ---------------------------------------------------------------------------------


def _inet_receive(is_cidr: bool) -> Callable[[bytes], Inet]:
    type_name = "cidr" if is_cidr else "inet"

    def receive(data: bytes) -> Inet:
        if len(data) < 4 or data[0] not in _FAMILY_BY_CODE:
            raise MirrordbError(f'invalid address family in external "{type_name}" value',
                                sqlstate="22P03")
        version = _FAMILY_BY_CODE[data[0]]
        if data[1] > MAX_BITS[version]:
            raise MirrordbError(f'invalid bits in external "{type_name}" value',
                                sqlstate="22P03")
        if data[3] != ADDRESS_BYTES[version] or len(data) != 4 + data[3]:
            raise MirrordbError(f'invalid length in external "{type_name}" value',
                                sqlstate="22P03")
        value = Inet(version, int.from_bytes(data[4:], "big"), data[1])
        if is_cidr and value.network_address() != value.address:
            raise MirrordbError('invalid external "cidr" value', sqlstate="22P03",
                                detail="Value has bits set to right of mask.")
        return value
    return receive


def _inet_send(is_cidr: bool) -> Callable[[Inet], bytes]:
    def send(value: Inet) -> bytes:
        size = ADDRESS_BYTES[value.version]
        return (bytes((_FAMILY_CODE[value.version], value.bits, int(is_cidr), size))
                + value.address.to_bytes(size, "big"))
    return send


def _mac_receive(length: int, type_name: str) -> Callable[[bytes], bytes]:
    def receive(data: bytes) -> bytes:
        if len(data) == 6 and length == 8:
            return data[:3] + b"\xff\xfe" + data[3:]
        if len(data) != length:
            raise T.bad_binary()
        return bytes(data)
    return receive


# -- casts ----------------------------------------------------------------------------------------


def inet_to_cidr(value: Inet, timezone: str = "UTC") -> Inet:
    """cidr(inet): the host bits cleared."""
    return Inet(value.version, value.network_address(), value.bits)


def _as_text(value: Inet, timezone: str) -> str:
    return cidr_text(value)


def _macaddr_to_macaddr8(value: bytes, timezone: str) -> bytes:
    return value[:3] + b"\xff\xfe" + value[3:]


def _macaddr8_to_macaddr(value: bytes, timezone: str) -> bytes:
    if value[3:5] != b"\xff\xfe":
        raise MirrordbError("macaddr8 data out of range to convert to macaddr",
                            sqlstate="22003",
                            hint="Only addresses that have FF and FE as values in the 4th "
                                 "and 5th bytes from the left, for example "
                                 "xx:xx:xx:ff:fe:xx:xx:xx, are eligible to be converted "
                                 "from macaddr8 to macaddr.")
    return value[:3] + value[5:]


# pg_type facts catalog_functions.py shows (oid:typstorage:typcollation:typmodin:typmodout:
# typanalyze:typsubscript, from a PostgreSQL 15 catalog) and the I/O functions' pg_proc OIDs.
TYPE_FACTS = """
650:m:0:0:0:0:0 651:x:0:0:0:3816:6179 774:p:0:0:0:0:0 775:x:0:0:0:3816:6179 829:p:0:0:0:0:0
869:m:0:0:0:0:0 1040:x:0:0:0:3816:6179 1041:x:0:0:0:3816:6179
"""
TYPE_PROCEDURES = """
1267:cidr_in 1427:cidr_out 2494:macaddr_recv 2495:macaddr_send 2496:inet_recv 2497:inet_send
2498:cidr_recv 2499:cidr_send 3446:macaddr8_recv 3447:macaddr8_send 4110:macaddr8_in
4111:macaddr8_out 436:macaddr_in 437:macaddr_out 910:inet_in 911:inet_out
"""
# B-tree operator classes (pg_opclass, pg_opfamily; cidr uses inet's), as pg_index.indclass
# shows them.
BTREE_OPERATOR_CLASSES = {10015: ("inet_ops", 1974, INET_OID, 0),
                          10024: ("macaddr_ops", 1984, MACADDR_OID, 0),
                          10026: ("macaddr8_ops", 3371, MACADDR8_OID, 0)}
BTREE_OPERATOR_FAMILIES = {1974: "network_ops", 1984: "macaddr_ops", 3371: "macaddr8_ops"}
DEFAULT_BTREE_OPCLASSES = {INET_OID: 10015, CIDR_OID: 10015, MACADDR_OID: 10024,
                           MACADDR8_OID: 10026}


# -- registration -------------------------------------------------------------------------------


def _info(oid: int, name: str, length: int, category: str, preferred: bool, array_oid: int,
          input_name: str, output_name: str) -> T.TypeInfo:
    stem = input_name[:-2]
    return T.TypeInfo(oid, name, name, length, False, category, preferred, array_oid, 0, "i",
                      input_name, output_name, "b", stem + "recv", stem + "send")


def _text_casts(oid: int, function: Callable[[Any, str], Any] | None
                ) -> dict[tuple[int, int], tuple[str, Any]]:
    """inet/cidr -> text, varchar, bpchar by text(inet) (assignment, as pg_cast has them)."""
    if function is None:
        return {}
    return {(oid, target): ("a", function)
            for target in (T.TEXT_OID, T.VARCHAR_OID, T.BPCHAR_OID)}


def _register() -> None:
    T.register_builtin_type(T.BuiltinType(
        _info(INET_OID, "inet", -1, "I", True, 1041, "inet_in", "inet_out"),
        lambda text, typmod, timezone: parse_inet(text, False),
        lambda value, timezone: inet_text(value), _inet_receive(False), _inet_send(False),
        {**_text_casts(INET_OID, _as_text), (INET_OID, CIDR_OID): ("a", inet_to_cidr)}))
    T.register_builtin_type(T.BuiltinType(
        _info(CIDR_OID, "cidr", -1, "I", False, 651, "cidr_in", "cidr_out"),
        lambda text, typmod, timezone: parse_inet(text, True),
        lambda value, timezone: cidr_text(value), _inet_receive(True), _inet_send(True),
        {**_text_casts(CIDR_OID, _as_text), (CIDR_OID, INET_OID): ("i", None)}))
    T.register_builtin_type(T.BuiltinType(
        _info(MACADDR_OID, "macaddr", 6, "U", False, 1040, "macaddr_in", "macaddr_out"),
        lambda text, typmod, timezone: parse_macaddr(text),
        lambda value, timezone: format_mac(value), _mac_receive(6, "macaddr"), bytes,
        {(MACADDR_OID, MACADDR8_OID): ("i", _macaddr_to_macaddr8)}))
    T.register_builtin_type(T.BuiltinType(
        _info(MACADDR8_OID, "macaddr8", 8, "U", False, 775, "macaddr8_in", "macaddr8_out"),
        lambda text, typmod, timezone: parse_macaddr8(text),
        lambda value, timezone: format_mac(value), _mac_receive(8, "macaddr8"), bytes,
        {(MACADDR8_OID, MACADDR_OID): ("i", _macaddr8_to_macaddr)}))


_register()
