"""Network address values (inet, cidr): their Python form and PostgreSQL's on-disk bytes
(utils/inet.h's inet_struct), for inet and cidr columns and array elements.

Who calls it: ``datum.py`` stores inet/cidr columns with ``encode_inet``/``decode_inet``;
sql/network_types.py parses, prints, compares and computes with ``Inet`` values. macaddr and
macaddr8 need no module of their own: their value is the 6 or 8 address bytes (``bytes``),
stored as they are.

The row codec gives a variable-width column its own length header, so the stored bytes are
PostgreSQL's value after its varlena header::

    offset  size   field
    0       1      family: 2 (PGSQL_AF_INET, IPv4) or 3 (PGSQL_AF_INET6)
    1       1      bits: the netmask length, 0..32 or 0..128
    2       4|16   the address, network byte order

inet and cidr share the format: a cidr is an inet whose bits past the mask are zero; the
value does not record which type it is (the column's type does).
"""

from __future__ import annotations

from dataclasses import dataclass

PGSQL_AF_INET = 2
PGSQL_AF_INET6 = 3
ADDRESS_BYTES = {4: 4, 6: 16}            # IP version -> address length
MAX_BITS = {4: 32, 6: 128}
_FAMILY_CODE = {4: PGSQL_AF_INET, 6: PGSQL_AF_INET6}
_VERSION_OF_CODE = {PGSQL_AF_INET: 4, PGSQL_AF_INET6: 6}


@dataclass(frozen=True, slots=True, eq=False)
class Inet:
    """One inet or cidr value: IP version (4 or 6), the address as an integer, the netmask
    length. Values order as network_cmp (B-tree order): IPv4 before IPv6, then by the
    network part, then the mask length, then the whole address."""

    version: int
    address: int
    bits: int

    @property
    def max_bits(self) -> int:
        return MAX_BITS[self.version]

    def network_address(self) -> int:
        host_bits = self.max_bits - self.bits
        return (self.address >> host_bits) << host_bits

    def sort_key(self) -> tuple[int, int, int, int]:
        return (self.version, self.network_address(), self.bits, self.address)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Inet) and self.sort_key() == other.sort_key()

    def __hash__(self) -> int:
        return hash(self.sort_key())

    def __lt__(self, other: Inet) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: Inet) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: Inet) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: Inet) -> bool:
        return self.sort_key() >= other.sort_key()


def encode_inet(value: Inet) -> bytes:
    """The stored bytes (after the varlena header) of an inet or cidr value."""
    return (bytes((_FAMILY_CODE[value.version], value.bits))
            + value.address.to_bytes(ADDRESS_BYTES[value.version], "big"))


def decode_inet(stored: bytes) -> Inet:
    """The value in ``stored``; malformed bytes raise ValueError."""
    if len(stored) < 2 or stored[0] not in _VERSION_OF_CODE:
        raise ValueError("malformed inet value")
    version = _VERSION_OF_CODE[stored[0]]
    if len(stored) != 2 + ADDRESS_BYTES[version] or stored[1] > MAX_BITS[version]:
        raise ValueError("malformed inet value")
    return Inet(version, int.from_bytes(stored[2:], "big"), stored[1])
