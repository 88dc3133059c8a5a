"""User-defined types as the SQL layer sees them: enums, domains and their array types.

Who calls it: the session, at the start of every statement (``install``), so the type system
(sql/types.py, through its ``UserTypes`` protocol) knows the types of the session's database as
its transaction sees them; operators.py and functions.py for enum comparisons, enum_range &
co.; constraints.py for a domain's NOT NULL. The other half, the statements that write the
catalog rows (CREATE TYPE ... AS ENUM, CREATE DOMAIN, ALTER, DROP), is sql/type_ddl.py.

Catalog (catalog/bootstrap.py): a pg_type row per user type and per array type it gets
(``_mood``); a pg_enum row per label; a domain's CHECK constraints are pg_constraint rows
with conrelid 0 and contypid the domain. Built-in types are not stored (types.TYPES).

Values: an enum value is its label's pg_enum OID (an ``int``), stored as four bytes as
PostgreSQL stores it (storage/datum.py's ``register_user_type``); it sorts by the label's
enumsortorder and prints as the label. A domain value is a value of its base type; converting
to the domain (a cast, INSERT, UPDATE, COPY) runs its CHECK constraints, and a NULL in a
column of a NOT NULL domain is refused when the row is checked (``domain_not_null_columns``).

The loaded catalog is cached per database and catalog generation, and read afresh while the
session's transaction has changed catalogs itself (its own changes are not in the generation).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mirrordb import engine as engine_module
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.storage import btree_order, datum

TYPTYPE_ENUM = "e"
TYPTYPE_DOMAIN = "d"
TYPTYPE_BASE = "b"           # a user type's array type
TYPTYPE_COMPOSITE = "c"      # CREATE TYPE ... AS (...): base_oid holds its relation (typrelid)
MAX_CACHED_CATALOGS = 64


@dataclass(frozen=True, slots=True)
class EnumLabel:
    """One pg_enum row."""

    oid: int
    type_oid: int
    sort_order: float
    label: str


@dataclass(frozen=True, slots=True)
class DomainCheck:
    """One CHECK constraint of a domain (a pg_constraint row with contypid)."""

    oid: int
    name: str
    expression: str                        # raw parse tree as JSON, VALUE a ColumnRef "value"
    validated: bool


@dataclass(slots=True, eq=False)
class UserType:
    """One pg_type row of a user type, with its labels (enum) or constraints (domain)."""

    oid: int
    name: str
    namespace_oid: int
    owner_oid: int
    typtype: str
    base_oid: int                          # a domain's base type, else 0
    typmod: int
    not_null: bool
    array_oid: int
    element_oid: int                       # an array type's element, else 0
    default_text: str | None
    default_tree: str | None
    labels: list[EnumLabel] = field(default_factory=list)
    checks: list[DomainCheck] = field(default_factory=list)
    # a composite type's attributes: (name, type OID) and their typmods
    fields: tuple[tuple[str, int], ...] = ()
    typmods: tuple[int, ...] = ()
    physical: tuple[tuple[int, bool], ...] = ()      # every attribute: (type OID, dropped)

    @staticmethod
    def from_row(values: Sequence[object]) -> UserType:
        return UserType(int(values[0]), str(values[1]), int(values[2]),  # type: ignore
                        int(values[3]), str(values[4]), int(values[5]),  # type: ignore
                        int(values[6]), bool(values[7]), int(values[8]),  # type: ignore
                        int(values[9]),  # type: ignore[arg-type]
                        None if values[10] is None else str(values[10]),
                        None if values[11] is None else str(values[11]))

    def row(self) -> list[object]:
        return [self.oid, self.name, self.namespace_oid, self.owner_oid, self.typtype,
                self.base_oid, self.typmod, self.not_null, self.array_oid, self.element_oid,
                self.default_text, self.default_tree]


class UserTypeCatalog:
    """The user types of one database as one catalog snapshot saw them."""

    def __init__(self, types: list[UserType], labels: list[EnumLabel],
                 checks: list[tuple[int, DomainCheck]]) -> None:
        self.by_oid = {t.oid: t for t in types}
        self.by_name = {(t.namespace_oid, t.name): t for t in types}
        self.labels = {label.oid: label for label in labels}
        for label in sorted(labels, key=lambda label: label.sort_order):
            owner = self.by_oid.get(label.type_oid)
            if owner is not None:
                owner.labels.append(label)
        for type_oid, check in sorted(checks, key=lambda pair: pair[1].name):
            owner = self.by_oid.get(type_oid)
            if owner is not None:
                owner.checks.append(check)
        self.infos = {t.oid: _type_info(t, self.by_oid) for t in types}

    def register_storage(self) -> None:
        """Tell the row codec how each type here is stored, and the B-tree how enums (and
        domains over them, and their arrays) sort (idempotent)."""
        for user_type in self.by_oid.values():
            if user_type.typtype in (TYPTYPE_ENUM, TYPTYPE_DOMAIN):
                datum.register_user_type(user_type.oid, _storage_oid(user_type, self.by_oid),
                                         user_type.array_oid)
            if user_type.typtype == TYPTYPE_ENUM:
                btree_order.register_enum(user_type.oid, {label.oid: label.sort_order
                                                         for label in user_type.labels})
        self._register_composites()
        for user_type in self.by_oid.values():
            enum_oid = _enum_beneath(user_type, self.by_oid)
            if enum_oid is not None and user_type.typtype == TYPTYPE_DOMAIN:
                btree_order.register_alias(user_type.oid, enum_oid)
            if enum_oid is not None and user_type.array_oid:
                btree_order.register_array(user_type.array_oid, user_type.oid)


    def _register_composites(self) -> None:
        """Each composite type after the composite types its fields have (a type cannot
        contain itself, so every round registers at least one)."""
        waiting = [t for t in self.by_oid.values() if t.typtype == TYPTYPE_COMPOSITE]
        while waiting:
            ready = [t for t in waiting
                     if all(datum.is_storable(oid) for oid, _ in t.physical)]
            if not ready:
                return                  # a field of a type this catalog does not hold
            for user_type in ready:
                T.register_row_type(user_type.oid)
                fields = user_type.fields
                datum.register_composite(user_type.oid, user_type.name, user_type.physical,
                                         user_type.array_oid,
                                         lambda values, fields=fields:  # type: ignore[misc]
                                         T.RowRecord.of(values, fields))
            waiting = [t for t in waiting if t not in ready]


def _enum_beneath(user_type: UserType, by_oid: dict[int, UserType]) -> int | None:
    """The enum a type is, or a domain is over (directly or through other domains)."""
    found: UserType | None = user_type
    while found is not None and found.typtype == TYPTYPE_DOMAIN:
        found = by_oid.get(found.base_oid)
    return found.oid if found is not None and found.typtype == TYPTYPE_ENUM else None


def _storage_oid(user_type: UserType, by_oid: dict[int, UserType]) -> int:
    if user_type.typtype == TYPTYPE_ENUM:
        return T.OID_OID
    base = by_oid.get(user_type.base_oid)
    return _storage_oid(base, by_oid) if base is not None else user_type.base_oid


def _type_info(user_type: UserType, by_oid: dict[int, UserType]) -> T.TypeInfo:
    if user_type.typtype == TYPTYPE_ENUM:
        return T.TypeInfo(user_type.oid, user_type.name, user_type.name, 4, True, "E", False,
                          user_type.array_oid, 0, "i", "enum_in", "enum_out", "e", "enum_recv",
                          "enum_send")
    if user_type.typtype == TYPTYPE_COMPOSITE:
        return T.TypeInfo(user_type.oid, user_type.name, user_type.name, -1, False, "C", False,
                          user_type.array_oid, 0, "d", "record_in", "record_out", "c",
                          "record_recv", "record_send")
    if user_type.typtype == TYPTYPE_DOMAIN:
        base_oid = user_type.base_oid
        base = (_type_info(by_oid[base_oid], by_oid) if base_oid in by_oid
                else T.TYPES[base_oid])
        return T.TypeInfo(user_type.oid, user_type.name, user_type.name, base.length,
                          base.by_value, base.category, False, user_type.array_oid, 0,
                          base.alignment, base.input_name, base.output_name, "d",
                          base.receive_name, base.send_name)
    element = by_oid.get(user_type.element_oid)
    alignment = "i"
    if element is not None and element.typtype in (TYPTYPE_DOMAIN, TYPTYPE_COMPOSITE):
        alignment = "d" if _type_info(element, by_oid).alignment == "d" else "i"
    return T.TypeInfo(user_type.oid, user_type.name, user_type.name[1:] + "[]", -1, False, "A",
                      False, 0, user_type.element_oid, alignment, "array_in", "array_out", "b",
                      "array_recv", "array_send")


# -- loading --------------------------------------------------------------------------------------

_cache: weakref.WeakKeyDictionary[Any, tuple[int, UserTypeCatalog]] = \
    weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()
_EMPTY = UserTypeCatalog([], [], [])


def load(engine: Any, transaction: Any) -> UserTypeCatalog:
    """The user types of ``engine``'s database as ``transaction`` (or the latest committed
    state, None) sees them."""
    relcache = engine.relcache
    types = [UserType.from_row(values) for _, values in relcache.rows(boot.PG_TYPE,
                                                                       transaction)]
    if not types:
        return _EMPTY
    labels = [EnumLabel(int(v[0]), int(v[1]), float(v[2]), str(v[3]))  # type: ignore
              for _, v in relcache.rows(boot.PG_ENUM, transaction)]
    checks = [(int(v[17]), DomainCheck(int(v[0]), str(v[1]), str(v[16]),  # type: ignore
                                       bool(v[6])))
              for _, v in relcache.rows(boot.PG_CONSTRAINT, transaction)
              if len(v) > 17 and v[17]]
    _load_attributes(relcache, transaction, types)
    catalog = UserTypeCatalog(types, labels, checks)
    catalog.register_storage()
    return catalog


def _load_attributes(relcache: Any, transaction: Any, types: list[UserType]) -> None:
    """Each composite type's attributes, from its relation's pg_attribute rows: the fields
    its values have, and the physical ones its stored datums have (with dropped ones)."""
    composites = {t.base_oid: t for t in types if t.typtype == TYPTYPE_COMPOSITE}
    if not composites:
        return
    rows = sorted((values for _, values in relcache.rows(boot.PG_ATTRIBUTE, transaction)
                   if values[0] in composites), key=lambda values: int(values[3]))  # type: ignore
    for relation_oid, user_type in composites.items():
        attributes = [values for values in rows if values[0] == relation_oid]
        live = [values for values in attributes if not values[6]]
        user_type.fields = tuple((str(values[1]), int(values[2]))  # type: ignore[call-overload]
                                 for values in live)
        user_type.typmods = tuple(int(values[5]) for values in live)  # type: ignore
        user_type.physical = tuple((int(values[2]), bool(values[6]))  # type: ignore
                                   for values in attributes)


def catalog_for(session: Any) -> UserTypeCatalog:
    """The user types the session's statement sees (cached per catalog generation)."""
    txn = getattr(session, "txn", None)
    transaction = txn.transaction if txn is not None else None
    engine = session.engine
    if transaction is not None and transaction.touched_catalogs:
        return load(engine, transaction)
    generation = engine.relcache.generation
    with _cache_lock:
        cached = _cache.get(engine)
    if cached is not None and cached[0] == generation:
        return cached[1]
    catalog = load(engine, None)
    with _cache_lock:
        _cache[engine] = (generation, catalog)
    return catalog


def install(session: Any) -> None:
    """Make the session's user types the ones this thread's type system knows."""
    T.set_user_types(SessionUserTypes(session))


def _key_value_output(type_oid: int, value: object) -> str:
    """A unique violation's key value as its type's output function writes it (an enum's
    label, a record's record_out), for the engine's DETAIL (engine.KEY_VALUE_OUTPUT)."""
    try:
        return T.format_text(type_oid, value)
    except MirrordbError:
        return str(value)


engine_module.KEY_VALUE_OUTPUT[0] = _key_value_output


# -- the type system's view (types.UserTypes) -----------------------------------------------------


# Labels ALTER TYPE ADD VALUE added, by the transaction that added them (dropped with it).
_ADDED_LABELS: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()


def label_added(transaction: Any, label_oid: int) -> None:
    """Note a label ALTER TYPE ADD VALUE added (unusable until its transaction commits)."""
    with _cache_lock:
        _ADDED_LABELS.setdefault(transaction, set()).add(label_oid)


def invalid_enum_input(type_name: str, text: str) -> MirrordbError:
    return MirrordbError(f'invalid input value for enum {type_name}: "{text}"',
                         sqlstate="22P02")


class SessionUserTypes:
    """types.UserTypes for one session: its database's user types, read when first needed in
    a statement (most statements never ask)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._catalog: UserTypeCatalog | None = None
        self._read_at: tuple[int, int, int] | None = None

    @property
    def catalog(self) -> UserTypeCatalog:
        """Read once per statement, and again after each catalog change of the session's own
        transaction (a new command id, or a subtransaction rolled back)."""
        txn = getattr(self.session, "txn", None)
        transaction = txn.transaction if txn is not None else None
        read_at = None
        if transaction is not None and transaction.touched_catalogs:
            read_at = (id(transaction), transaction.own.command_id,
                       len(transaction.subtransactions))
        if self._catalog is None or read_at != self._read_at:
            self._catalog = catalog_for(self.session)
            self._read_at = read_at
        return self._catalog

    def info(self, oid: int) -> T.TypeInfo | None:
        return self.catalog.infos.get(oid)

    def oid_by_name(self, schema: str | None, name: str) -> int | None:
        from mirrordb.sql import schemas
        if schema is not None:
            entry = schemas.namespaces(self.session).get(schema.lower())
            namespaces: Sequence[int] = () if entry is None else (entry.oid,)
        else:
            namespaces = schemas.search_path_oids(self.session)
        from mirrordb.sql import composite_types
        by_name = self.catalog.by_name
        for namespace in namespaces:
            found = by_name.get((namespace, name))
            if found is not None:
                return found.oid
            row_type = composite_types.table_row_type(self.session, namespace, name)
            if row_type is not None:
                return row_type
        return None

    def base_type(self, oid: int) -> int:
        user_type = self.catalog.by_oid.get(oid)
        while user_type is not None and user_type.typtype == TYPTYPE_DOMAIN:
            oid = user_type.base_oid
            user_type = self.catalog.by_oid.get(oid)
        return oid

    def input_function(self, oid: int) -> Callable[[str, int, str], Any] | None:
        user_type = self.catalog.by_oid.get(oid)
        if user_type is None:          # a table's row type reads a record, as record_in
            return self.record_input(oid) if self.composite_fields(oid) is not None else None
        if user_type.typtype == TYPTYPE_ENUM:
            return self._enum_input(oid)
        if user_type.typtype == TYPTYPE_DOMAIN:
            return self._domain_input(user_type)
        if user_type.typtype == TYPTYPE_COMPOSITE:
            return self.record_input(oid)
        return None

    def record_input(self, oid: int) -> Callable[[str, int, str], Any]:
        """record_in of a composite type or a table's row type."""
        from mirrordb.sql import composite_types
        return composite_types.record_input(lambda: self.composite_fields(oid))

    def composite_fields(self, oid: int) -> tuple[tuple[tuple[str, int], ...],
                                                  tuple[int, ...]] | None:
        """(fields, typmods) of a composite type or a table's row type; None for others."""
        user_type = self.catalog.by_oid.get(oid)
        if user_type is not None:
            if user_type.typtype != TYPTYPE_COMPOSITE:
                return None
            return user_type.fields, user_type.typmods
        from mirrordb.sql import composite_types
        return composite_types.relation_fields(self.session, oid)

    def _enum_input(self, oid: int) -> Callable[[str, int, str], Any]:
        def enum_in(text: str, typmod: int, timezone: str) -> int:
            user_type = self.catalog.by_oid[oid]
            for label in user_type.labels:
                if label.label == text:
                    self._check_safe(label, user_type)
                    return label.oid
            raise invalid_enum_input(self.display_name(oid), text)
        return enum_in

    def _check_safe(self, label: EnumLabel, user_type: UserType) -> None:
        """check_safe_enum_use: a label ALTER TYPE ADD VALUE added in this (still open)
        transaction may not be used yet (55P04)."""
        txn = getattr(self.session, "txn", None)
        if txn is not None and label.oid in _ADDED_LABELS.get(txn.transaction, ()):
            raise MirrordbError(f'unsafe use of new value "{label.label}" of enum type '
                                f'{self.display_name(user_type.oid)}', sqlstate="55P04",
                                hint="New enum values must be committed before they can be "
                                     "used.")

    def _domain_input(self, user_type: UserType) -> Callable[[str, int, str], Any]:
        base_input = T.text_input(user_type.base_oid)
        check = self.domain_check(user_type.oid)
        typmod = user_type.typmod

        def domain_in(text: str, _typmod: int, timezone: str) -> Any:
            value = base_input(text, typmod, timezone)
            if check is None:
                return value
            try:
                return check(value)
            except PositionlessError as error:   # an input function's error has a position
                raise MirrordbError(error.message, sqlstate=error.sqlstate) from None
        return domain_in

    def output_function(self, oid: int) -> Callable[[Any, str], str] | None:
        user_type = self.catalog.by_oid.get(oid)
        if user_type is None:
            return None
        if user_type.typtype == TYPTYPE_DOMAIN:
            return T.text_output(user_type.base_oid)
        if user_type.typtype != TYPTYPE_ENUM:
            return None

        def enum_out(value: int, timezone: str) -> str:
            label = self.catalog.labels.get(value)
            if label is None:
                raise MirrordbError(f"invalid internal value for enum: {value}",
                                    sqlstate="22P02")
            return label.label
        return enum_out

    def sort_key(self, oid: int) -> Callable[[Any], Any] | None:
        user_type = self.catalog.by_oid.get(oid)
        if user_type is None or user_type.typtype != TYPTYPE_ENUM:
            return None

        def enum_key(value: int) -> float:
            label = self.catalog.labels.get(value)
            return label.sort_order if label is not None else float(value)
        return enum_key

    def display_name(self, oid: int) -> str:
        from mirrordb.sql import functions as funcs
        from mirrordb.sql import schemas
        user_type = self.catalog.by_oid.get(oid)
        if user_type is None:
            return "???"
        name = funcs.quote_ident(user_type.name)
        if self.oid_by_name(None, user_type.name) == oid:
            return name
        schema = schemas.namespace_name(self.session, user_type.namespace_oid)
        return f"{funcs.quote_ident(schema)}.{name}"

    def domain_check(self, oid: int) -> Callable[[Any], Any] | None:
        user_type = self.catalog.by_oid.get(oid)
        if user_type is None or user_type.typtype != TYPTYPE_DOMAIN:
            return None
        from mirrordb.sql import domain_checks
        return domain_checks.checker(self.session, self, user_type)


def domain_not_null_columns(type_oids: Sequence[int]) -> list[tuple[int, str]]:
    """(column index, domain name) of the columns whose type is a NOT NULL domain (or a
    domain over one)."""
    source = T.user_types()
    if source is None or not isinstance(source, SessionUserTypes):
        return []
    found = []
    for index, type_oid in enumerate(type_oids):
        oid = type_oid
        user_type = source.catalog.by_oid.get(oid)
        while user_type is not None and user_type.typtype == TYPTYPE_DOMAIN:
            if user_type.not_null:
                found.append((index, source.display_name(type_oid)))
                break
            user_type = source.catalog.by_oid.get(user_type.base_oid)
    return found


class PositionlessError(MirrordbError):
    """An error PostgreSQL reports without a position (a domain's checks run in the executor,
    not at a place in the statement): the expression layer's ``_locate`` cannot give it one."""

    @property  # type: ignore[override]
    def position(self) -> None:
        return None

    @position.setter
    def position(self, value: int | None) -> None:
        pass


def domain_null_error(name: str) -> MirrordbError:
    return PositionlessError(f"domain {name} does not allow null values", sqlstate="23502")


def type_is_visible(type_oid: int) -> bool | None:
    """pg_type_is_visible of a user type (None: no such type)."""
    source = T.user_types()
    if not isinstance(source, SessionUserTypes):
        return None
    user_type = source.catalog.by_oid.get(type_oid)
    if user_type is None:
        return None
    return source.oid_by_name(None, user_type.name) == type_oid




def domain_defaults(relation: Any, stored: dict[int, str]) -> dict[int, str]:
    """The DEFAULT of each column without its own whose type is a domain that has one (by
    1-based column number, as the stored defaults are)."""
    source = T.user_types()
    if source is None or not isinstance(source, SessionUserTypes):
        return {}
    found = {}
    for number, column in enumerate(relation.columns, start=1):
        if number in stored or column.type_oid < T.FIRST_USER_TYPE_OID:
            continue
        user_type = source.catalog.by_oid.get(column.type_oid)
        while user_type is not None and user_type.typtype == TYPTYPE_DOMAIN:
            if user_type.default_tree is not None:
                found[number] = user_type.default_tree
                break
            user_type = source.catalog.by_oid.get(user_type.base_oid)
    return found


# -- enum operators and functions -----------------------------------------------------------------

# PostgreSQL's pg_operator OIDs of the anyenum comparisons
_ENUM_OPERATORS: dict[str, tuple[int, Callable[[float, float], bool]]] = {
    "=": (3516, lambda a, b: a == b), "<>": (3517, lambda a, b: a != b),
    "<": (3518, lambda a, b: a < b), ">": (3519, lambda a, b: a > b),
    "<=": (3520, lambda a, b: a <= b), ">=": (3521, lambda a, b: a >= b)}


def _enum_type(oid: int | None) -> int | None:
    source = T.user_types()
    info = source.info(oid) if source is not None and oid is not None else None
    return oid if info is not None and info.type_type == TYPTYPE_ENUM else None


def enum_operator(name: str, left_oid: int | None, right_oid: int) -> Any:
    """A comparison of two values of one enum (an unknown literal takes the other side's
    type), by the labels' sort order; None for anything else."""
    from mirrordb.sql.operators import ResolvedOperator
    found = _ENUM_OPERATORS.get(name)
    if found is None or left_oid is None:
        return None
    enum_oid = _enum_type(left_oid) or _enum_type(right_oid)
    if enum_oid is None or {left_oid, right_oid} - {enum_oid, T.UNKNOWN_OID}:
        return None
    oid, compare = found
    key = T.sort_key(enum_oid)
    return ResolvedOperator(oid, name, enum_oid, enum_oid, T.BOOL_OID,
                            lambda a, b: compare(key(a), key(b)))


def _labels(enum_oid: int) -> list[EnumLabel]:
    source = T.user_types()
    if not isinstance(source, SessionUserTypes):
        return []
    return source.catalog.by_oid[enum_oid].labels


def _enum_range(enum_oid: int) -> Callable[..., Any]:
    def enum_range(*bounds: Any) -> list[int]:
        labels = [label.oid for label in _labels(enum_oid)]
        if len(bounds) == 2:
            low, high = bounds
            start = labels.index(low) if low is not None else 0
            end = labels.index(high) + 1 if high is not None else len(labels)
            return labels[start:end]
        return labels
    return enum_range


def _enum_end(enum_oid: int, last: bool) -> Callable[[Any], Any]:
    def enum_end(_: Any) -> int | None:
        labels = _labels(enum_oid)
        if not labels:
            raise MirrordbError(f"enum {T.format_type(enum_oid)} contains no values",
                                sqlstate="55000")
        return labels[-1].oid if last else labels[0].oid
    return enum_end


def enum_function(name: str, arg_types: Sequence[int]) -> Any:
    """enum_range(e), enum_range(e, e), enum_first(e), enum_last(e) for an enum's arguments;
    None for anything else."""
    from mirrordb.sql.functions import FunctionDef, ResolvedFunction
    if name not in ("enum_range", "enum_first", "enum_last") or not arg_types:
        return None
    enum_oid = next((oid for oid in arg_types if _enum_type(oid) is not None), None)
    if enum_oid is None or any(oid not in (enum_oid, T.UNKNOWN_OID) for oid in arg_types):
        return None
    array_oid = T.array_type_of(enum_oid)
    if name == "enum_range" and len(arg_types) in (1, 2):
        definition = FunctionDef(name, (enum_oid,) * len(arg_types), array_oid,
                                 _enum_range(enum_oid), strict=False, volatility="s")
    elif name != "enum_range" and len(arg_types) == 1:
        definition = FunctionDef(name, (enum_oid,), enum_oid,
                                 _enum_end(enum_oid, name == "enum_last"), strict=False,
                                 volatility="s")
    else:
        return None
    return ResolvedFunction(definition, definition.arg_types)


# -- pg_type's rows (sql/sysviews.py) -------------------------------------------------------------

# pg_proc OIDs PostgreSQL 15 gives the functions user types name
ENUM_PROCEDURES = (3504, 3505, 3532, 3533)            # enum_in, enum_out, enum_recv, enum_send
ARRAY_PROCEDURES = (750, 751, 2400, 2401)             # array_in, array_out, array_recv, _send
RECORD_PROCEDURES = (2290, 2291, 2402, 2403)          # record_in, _out, _recv, _send
DOMAIN_IN, DOMAIN_RECV = 2597, 2598                 # domain_in, domain_recv
ARRAY_SUBSCRIPT_HANDLER = 6179
ARRAY_TYPANALYZE = 3816


def pg_type_rows(ctx: Any, builtin_row: Callable[[int], tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """pg_type's rows for the user types (PostgreSQL's columns, as sysviews.PG_TYPE_COLUMNS);
    a domain repeats its base type's facts (``builtin_row``: a built-in type's row)."""
    source = SessionUserTypes(ctx.session)
    catalog = source.catalog
    rows = []
    for user_type in sorted(catalog.by_oid.values(), key=lambda t: t.oid):
        rows.append(_pg_type_row(ctx, source, user_type, builtin_row))
    return rows


def _base_row(source: SessionUserTypes, oid: int, ctx: Any,
              builtin_row: Callable[[int], tuple[Any, ...]]) -> tuple[Any, ...]:
    user_type = source.catalog.by_oid.get(oid)
    if user_type is None:
        return builtin_row(oid)
    return _pg_type_row(ctx, source, user_type, builtin_row)


def _pg_type_row(ctx: Any, source: SessionUserTypes, user_type: UserType,
                 builtin_row: Callable[[int], tuple[Any, ...]]) -> tuple[Any, ...]:
    head = (user_type.oid, user_type.name, user_type.namespace_oid, user_type.owner_oid)
    if user_type.typtype == TYPTYPE_ENUM:
        return head + (4, True, "e", "E", False, True, ",", 0, 0, 0, user_type.array_oid,
                       *ENUM_PROCEDURES, 0, 0, 0, "i", "p", False, 0, -1, 0, 0, None, None,
                       None)
    if user_type.typtype == TYPTYPE_COMPOSITE:
        return head + (-1, False, "c", "C", False, True, ",", user_type.base_oid, 0, 0,
                       user_type.array_oid, *RECORD_PROCEDURES, 0, 0, 0, "d", "x", False, 0,
                       -1, 0, 0, None, None, None)
    if user_type.typtype == TYPTYPE_BASE:
        element = source.catalog.by_oid.get(user_type.element_oid)
        alignment = "i"
        if element is not None and element.typtype == TYPTYPE_COMPOSITE:
            alignment = "d"
        if element is not None and element.typtype == TYPTYPE_DOMAIN:
            alignment = "d" if _base_row(source, element.base_oid, ctx,
                                         builtin_row)[22] == "d" else "i"
        collation = (_base_row(source, element.oid, ctx, builtin_row)[28]
                     if element is not None else 0)
        return head + (-1, False, "b", "A", False, True, ",", 0, ARRAY_SUBSCRIPT_HANDLER,
                       user_type.element_oid, 0, *ARRAY_PROCEDURES, 0, 0, ARRAY_TYPANALYZE,
                       alignment, "x", False, 0, -1, 0, collation, None, None, None)
    base = _base_row(source, user_type.base_oid, ctx, builtin_row)
    default_text = None
    if user_type.default_tree is not None:
        from mirrordb.sql.catalog_functions import deparse_stored_expression
        default_text = deparse_stored_expression(ctx, user_type.default_tree, None, False)
    return head + (base[4], base[5], "d", base[7], False, True, ",", 0, 0, 0,
                   user_type.array_oid, DOMAIN_IN, base[16], DOMAIN_RECV, base[18], 0, 0, 0,
                   base[22], base[23],
                   user_type.not_null, user_type.base_oid, user_type.typmod, 0, base[28],
                   user_type.default_tree, default_text, None)


def not_null_domain(type_oid: int) -> str | None:
    """The name of the NOT NULL domain ``type_oid`` is (or is over), None if it is not one."""
    found = domain_not_null_columns([type_oid])
    return found[0][1] if found else None


def enforce_domain_not_null(expr: Any, type_oid: int) -> Any:
    """``expr`` (converted to ``type_oid``), refusing NULL when the type is a NOT NULL domain
    (PostgreSQL's CoerceToDomain), checked when it runs."""
    from mirrordb.sql.expressions import Expr
    name = not_null_domain(type_oid)
    if name is None:
        return expr
    inner = expr.fn

    def run(row: Any, ctx: Any) -> Any:
        value = inner(row, ctx)
        if value is None:
            raise domain_null_error(str(name))
        return value
    return Expr(expr.type_oid, run, expr.typmod, expr.name, volatile=expr.volatile)
