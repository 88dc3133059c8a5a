"""B-tree order of user types' keys: PostgreSQL's enum_cmp and record_cmp as sort keys.

Who calls it: the B-tree (access/nbtree.py) builds its entries' sort keys with
``key_function(key_types)``; sql/user_types.py registers each enum's labels and sort orders
(``register_enum``) whenever it reads the catalog, and the domains over an enum and the arrays
of either (``register_alias``, ``register_array``). The other half, the catalog rows (pg_enum),
is written by sql/type_ddl.py. A composite type's keys (storage/datum.py knows its fields from
``register_composite``) sort field by field, each field in its own type's order and NULL after
any value, as record_cmp.

An enum value is stored as its label's pg_enum OID, but sorts by the label's enumsortorder.
As in PostgreSQL, a new enum's labels get even OIDs in label order, and ALTER TYPE ADD VALUE
gives an even OID only when it sorts right against the other even ones: so two even OIDs
compare directly, and anything else compares by the sort orders the catalog holds. Sort orders
may be renumbered (1, 2, ...), but the labels' relative order never changes, so keys made
before and after a renumbering compare alike: each comparison reads the newest registered
orders, never a number copied into the key.

B-tree redo never compares keys, so replay does not depend on any of this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mirrordb.storage.datum import (NULL_SORT_KEY, array_element_type, composite_field_types,
                                    sort_key)


class EnumOrder:
    """The sort orders of one enum's labels (replaced whole when the catalog is read again)."""

    __slots__ = ("orders",)

    def __init__(self) -> None:
        self.orders: Mapping[int, float] = {}


class EnumSortKey:
    """One enum value (a label OID) ordered as enum_cmp orders it."""

    __slots__ = ("label_oid", "order")

    def __init__(self, label_oid: int, order: EnumOrder) -> None:
        self.label_oid = label_oid
        self.order = order

    def _compare(self, other: object) -> int | None:
        if not isinstance(other, EnumSortKey):
            return None
        left, right = self.label_oid, other.label_oid
        if left == right:
            return 0
        if left % 2 == 0 and right % 2 == 0:
            return -1 if left < right else 1
        orders = self.order.orders
        left_order, right_order = orders.get(left), orders.get(right)
        if left_order is None or right_order is None:     # unknown label: OID order
            return -1 if left < right else 1
        return -1 if left_order < right_order else 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumSortKey) and other.label_oid == self.label_oid

    def __hash__(self) -> int:
        return hash(self.label_oid)

    def __lt__(self, other: object) -> bool:
        found = self._compare(other)
        return NotImplemented if found is None else found < 0

    def __le__(self, other: object) -> bool:
        found = self._compare(other)
        return NotImplemented if found is None else found <= 0

    def __gt__(self, other: object) -> bool:
        found = self._compare(other)
        return NotImplemented if found is None else found > 0

    def __ge__(self, other: object) -> bool:
        found = self._compare(other)
        return NotImplemented if found is None else found >= 0

    def __repr__(self) -> str:
        return f"EnumSortKey({self.label_oid})"


_LOCK = threading.Lock()
_ENUMS: dict[int, EnumOrder] = {}               # enum or domain over one -> its enum's orders
_ARRAYS: dict[int, EnumOrder] = {}              # array of such a type -> the enum's orders


def register_enum(type_oid: int, orders: Mapping[int, float]) -> None:
    """The labels (pg_enum OID -> enumsortorder) of enum ``type_oid`` as the catalog now has
    them. A process that opened several clusters may see one OID for different types: the
    newest registration wins, as in storage/datum.py."""
    with _LOCK:
        order = _ENUMS.get(type_oid)
        if order is None:
            order = _ENUMS[type_oid] = EnumOrder()
        order.orders = dict(orders)


def register_alias(type_oid: int, enum_oid: int) -> None:
    """Values of ``type_oid`` (a domain over enum ``enum_oid``) sort as the enum's."""
    with _LOCK:
        order = _ENUMS.get(enum_oid)
        if order is not None:
            _ENUMS[type_oid] = order


def register_array(array_oid: int, element_oid: int) -> None:
    """Arrays of ``element_oid`` (an enum or a domain over one) sort element by element."""
    with _LOCK:
        order = _ENUMS.get(element_oid)
        if order is not None:
            _ARRAYS[array_oid] = order


def _column_key(type_oid: int) -> Callable[[Any], Any] | None:
    """The sort key of one key column of ``type_oid`` when it is not datum.sort_key's."""
    fields = composite_field_types(type_oid)
    if fields is not None:
        return _record_key(fields)
    element = array_element_type(type_oid)
    if element is not None and composite_field_types(element) is not None:
        element_key = _record_key(composite_field_types(element) or ())
        return lambda value: NULL_SORT_KEY if value is None else [
            element_key(item) for item in value]
    order = _ENUMS.get(type_oid)
    if order is not None:
        return lambda value: NULL_SORT_KEY if value is None else EnumSortKey(value, order)
    array_order = _ARRAYS.get(type_oid)
    if array_order is not None:
        return lambda value: NULL_SORT_KEY if value is None else [
            NULL_SORT_KEY if item is None else EnumSortKey(item, array_order) for item in value]
    return None


def _record_key(field_types: Sequence[int]) -> Callable[[Any], Any]:
    """record_cmp as a key: a tuple of the fields' keys (NULL after any value)."""
    keys = [_column_key(type_oid) or _plain_key for type_oid in field_types]

    def key(value: Any) -> Any:
        if value is None:
            return NULL_SORT_KEY
        return tuple(field_key(item) for field_key, item in zip(keys, value))
    return key


def _plain_key(value: Any) -> Any:
    return sort_key((value,))[0]


def key_function(type_oids: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function from key values (or a prefix of them) to a tuple comparing with ``<`` in
    B-tree order: storage/datum.py's ``sort_key``, with enum columns as ``EnumSortKey``."""
    column_keys = [_column_key(type_oid) for type_oid in type_oids]
    if not any(column_keys):
        return sort_key
    generic = sort_key

    def key(values: Sequence[Any]) -> tuple[Any, ...]:
        base = generic(values)
        return tuple(item if column_key is None else column_key(value)
                     for item, value, column_key in zip(base, values, column_keys))
    return key
