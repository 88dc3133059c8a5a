"""CREATE TYPE ... AS ENUM, CREATE DOMAIN, ALTER TYPE / ALTER DOMAIN, DROP TYPE / DROP DOMAIN.

Who calls it: the session's statement dispatch (sql/session.py), for CreateEnumStmt,
AlterEnumStmt, CreateDomainStmt, AlterDomainStmt, CompositeTypeStmt (CREATE TYPE ... AS
(...), sql/composite_types.py), and the OBJECT_TYPE/OBJECT_DOMAIN forms of
RenameStmt, AlterOwnerStmt and DropStmt. What it writes are ordinary WAL-logged catalog rows
(pg_type, pg_enum, pg_constraint; catalog/bootstrap.py), so the types reach a standby as any
row does; sql/user_types.py reads them back for the type system.

As PostgreSQL: every user type gets an array type named ``_name``; an enum's labels get OIDs in
their sort order (enumsortorder 1, 2, ...); ALTER TYPE ADD VALUE BEFORE/AFTER takes the float4
midpoint of its neighbours, renumbering the labels 1..n when float4 cannot split them; a domain's
CHECK constraints are pg_constraint rows (conrelid 0, contypid the domain) named
``<domain>_check`` unless named. DROP refuses (2BP01) while a column, or a domain, uses the
type; CASCADE drops those columns and domains.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import composite_types, schemas
from mirrordb.sql import types as T
from mirrordb.sql import user_types as U
from mirrordb.sql.constraints import CONTYPE_CHECK, StoredConstraint, choose_constraint_name
from mirrordb.sql.parser import Node, strings

MAX_LABEL_BYTES = 63                   # NAMEDATALEN - 1
_FLOAT4 = struct.Struct("<f")


def _names(node: Any) -> list[str]:
    if isinstance(node, dict) and "List" in node:
        node = node["List"]["items"]
    if isinstance(node, dict) and "TypeName" in node:
        node = node["TypeName"]["names"]
    return strings(node)


def _split(names: Sequence[str]) -> tuple[str | None, str]:
    return (names[-2] if len(names) > 1 else None), names[-1]


def _catalog(session: Any) -> U.UserTypeCatalog:
    return U.catalog_for(session)


def find_type(session: Any, names: Sequence[str]) -> U.UserType | None:
    """The user type a (possibly qualified) name means, None if none."""
    schema, name = _split(names)
    source = U.SessionUserTypes(session)
    oid = source.oid_by_name(schema, name)
    return None if oid is None else source.catalog.by_oid.get(oid)


def _type_missing(names: Sequence[str]) -> MirrordbError:
    return MirrordbError(f'type "{".".join(names)}" does not exist', sqlstate="42704")


def _require_type(session: Any, names: Sequence[str]) -> U.UserType:
    found = find_type(session, names)
    if found is None or found.typtype == U.TYPTYPE_BASE:
        raise _type_missing(names)
    return found


def check_type_name_free(session: Any, txn: Any, namespace_oid: int, name: str) -> None:
    if (namespace_oid, name) in _catalog(session).by_name or \
            txn.engine.relcache.lookup(name, txn.transaction, namespace_oid) is not None:
        raise MirrordbError(f'type "{name}" already exists', sqlstate="42710")


def array_name(session: Any, txn: Any, namespace_oid: int, name: str) -> str:
    """makeArrayTypeName: "_name", with more underscores while that is taken."""
    candidate = "_" + name
    while (namespace_oid, candidate) in _catalog(session).by_name:
        candidate = "_" + candidate
    return candidate[:MAX_LABEL_BYTES]


def insert_type(txn: Any, user_type: U.UserType) -> None:
    txn._insert_catalog(boot.PG_TYPE, user_type.row())


def _new_type(session: Any, txn: Any, names: Sequence[str], typtype: str, base_oid: int = 0,
              typmod: int = -1) -> U.UserType:
    """Allocate and insert the pg_type rows of a new type and its array type."""
    from mirrordb.sql import roles
    schema, name = _split(names)
    namespace_oid = schemas.creation_namespace(session, schema, name)
    check_type_name_free(session, txn, namespace_oid, name)
    owner_oid = roles.current_role_oid(session)
    engine = txn.engine
    array_oid, type_oid = engine.allocate_oid(), engine.allocate_oid()
    user_type = U.UserType(type_oid, name, namespace_oid, owner_oid, typtype, base_oid, typmod,
                           False, array_oid, 0, None, None)
    insert_type(txn, user_type)
    insert_type(txn, U.UserType(array_oid, array_name(session, txn, namespace_oid, name),
                                 namespace_oid, owner_oid, U.TYPTYPE_BASE, 0, -1, False, 0,
                                 type_oid, None, None))
    txn.transaction.command_counter_increment()
    return user_type


def _update_type(txn: Any, oid: int, **changes: Any) -> None:
    def change(values: Sequence[object]) -> Sequence[object]:
        current = U.UserType.from_row(values)
        for key, value in changes.items():
            setattr(current, key, value)
        return current.row()
    txn._update_catalog_rows(boot.PG_TYPE, lambda v: v[0] == oid, change)
    txn.transaction.command_counter_increment()


# -- enums -----------------------------------------------------------------------------------------


def _check_label(label: str) -> None:
    if len(label.encode()) > MAX_LABEL_BYTES:
        raise MirrordbError(f'invalid enum label "{label}"', sqlstate="42602",
                            detail=f"Labels must be {MAX_LABEL_BYTES} bytes or less.")


def create_enum(session: Any, txn: Any, node: Node) -> None:
    labels = strings(node.get("vals", []))
    for label in labels:
        _check_label(label)
    user_type = _new_type(session, txn, strings(node["typeName"]), U.TYPTYPE_ENUM)
    for index, label in enumerate(labels):
        if label in labels[:index]:      # pg_enum's unique index on (enumtypid, enumlabel)
            raise MirrordbError('duplicate key value violates unique constraint '
                                '"pg_enum_typid_label_index"', sqlstate="23505",
                                detail=f"Key (enumtypid, enumlabel)=({user_type.oid}, {label}) "
                                       f"already exists.")
    oids = sorted(_even_oid(txn) for _ in labels)
    for order, (oid, label) in enumerate(zip(oids, labels), start=1):
        txn._insert_catalog(boot.PG_ENUM, [oid, user_type.oid, float(order), label])
    txn.transaction.command_counter_increment()


def _even_oid(txn: Any) -> int:
    """An even OID, as PostgreSQL gives a new enum's labels (in label order, so comparing
    two of them could compare OIDs; mirrordb compares sort orders, but uses the same OIDs)."""
    while True:
        oid = int(txn.engine.allocate_oid())
        if oid % 2 == 0:
            return oid


def _added_label_oid(txn: Any, user_type: U.UserType, order: float) -> int:
    """AddEnumLabel's choice: an even OID when one sorts correctly against the enum's
    even-OID labels, else an odd one (PostgreSQL's loop, so the same OIDs are used up)."""
    while True:
        oid = int(txn.engine.allocate_oid())
        sorts_ok = all((label.oid < oid) if label.sort_order < order else (label.oid > oid)
                       for label in user_type.labels if label.oid % 2 == 0)
        if sorts_ok == (oid % 2 == 0):
            return oid


def _require_enum(session: Any, names: Sequence[str]) -> U.UserType:
    user_type = _require_type(session, names)
    if user_type.typtype != U.TYPTYPE_ENUM:
        raise MirrordbError(f"{T.format_type(user_type.oid)} is not an enum",
                            sqlstate="42809")
    return user_type


def _float4(value: float) -> float:
    return float(_FLOAT4.unpack(_FLOAT4.pack(value))[0])


def alter_enum(session: Any, txn: Any, node: Node) -> list[str]:
    """ALTER TYPE ... ADD VALUE / RENAME VALUE; returns notices."""
    user_type = _require_enum(session, strings(node["typeName"]))
    check_owner(session, user_type)
    labels = {label.label: label for label in user_type.labels}
    new_label = str(node["newVal"])
    if node.get("oldVal") is not None:
        old = labels.get(str(node["oldVal"]))
        if old is None:
            raise MirrordbError(f'"{node["oldVal"]}" is not an existing enum label',
                                sqlstate="22023")
        if new_label in labels:
            raise MirrordbError(f'enum label "{new_label}" already exists', sqlstate="42710")
        _check_label(new_label)
        txn._update_catalog_rows(boot.PG_ENUM, lambda v: v[0] == old.oid,
                                 lambda v: (v[0], v[1], v[2], new_label))
        txn.transaction.command_counter_increment()
        return []
    if new_label in labels:
        if node.get("skipIfNewValExists"):
            return [f'enum label "{new_label}" already exists, skipping']
        raise MirrordbError(f'enum label "{new_label}" already exists', sqlstate="42710")
    _check_label(new_label)
    order = _new_sort_order(txn, user_type, node.get("newValNeighbor"),
                            bool(node.get("newValIsAfter")))
    label_oid = _added_label_oid(txn, user_type, order)
    txn._insert_catalog(boot.PG_ENUM, [label_oid, user_type.oid, order, new_label])
    U.label_added(txn.transaction, label_oid)
    txn.transaction.command_counter_increment()
    return []


def _new_sort_order(txn: Any, user_type: U.UserType, neighbour_label: str | None,
                    after: bool) -> float:
    """AddEnumLabel's placement: last without a neighbour, else between the neighbour and the
    label beside it on that side (renumbering 1..n first if float4 has no value between)."""
    labels = list(user_type.labels)
    if neighbour_label is None:
        return (labels[-1].sort_order + 1) if labels else 1.0
    names = [label.label for label in labels]
    if neighbour_label not in names:
        raise MirrordbError(f'"{neighbour_label}" is not an existing enum label',
                            sqlstate="22023")
    for _ in range(2):
        orders = [label.sort_order for label in labels]
        index = names.index(neighbour_label)
        if after:
            low = orders[index]
            high = orders[index + 1] if index + 1 < len(orders) else low + 2
        else:
            high = orders[index]
            low = orders[index - 1] if index > 0 else high - 2
        middle = _float4((low + high) / 2)
        if low < middle < high:
            return middle
        orders = _renumber(txn, labels)
        labels = [U.EnumLabel(label.oid, label.type_oid, order, label.label)
                  for label, order in zip(labels, orders)]
    raise MirrordbError("could not place the new enum label", sqlstate="XX000")


def _renumber(txn: Any, labels: list[U.EnumLabel]) -> list[float]:
    """RenumberEnumType: the labels' sort orders become 1, 2, ... in their current order."""
    new_orders = {label.oid: float(number) for number, label in enumerate(labels, start=1)}
    txn._update_catalog_rows(boot.PG_ENUM, lambda v: v[0] in new_orders,
                             lambda v: (v[0], v[1], new_orders[int(v[0])], v[3]))
    txn.transaction.command_counter_increment()
    return [new_orders[label.oid] for label in labels]


# -- owner, rename -----------------------------------------------------------------------------


def check_owner(session: Any, user_type: U.UserType) -> None:
    from mirrordb.sql import roles
    if roles.is_superuser(session) or roles.current_role_oid(session) == user_type.owner_oid:
        return
    raise MirrordbError(f"must be owner of type {user_type.name}", sqlstate="42501")


def _require_kind(session: Any, names: Sequence[str], object_type: str,
                  quoted: bool = True) -> U.UserType:
    """The type a statement about a type or a domain names (ALTER DOMAIN's refusal of a
    non-domain does not quote the name, the others' do)."""
    user_type = _require_type(session, names)
    if object_type == "OBJECT_DOMAIN" and user_type.typtype != U.TYPTYPE_DOMAIN:
        shown = T.format_type(user_type.oid)
        raise MirrordbError(f'"{shown}" is not a domain' if quoted else f"{shown} is not a domain",
                            sqlstate="42809")
    return user_type


def rename_type(session: Any, txn: Any, node: Node) -> str:
    names = _names(node["object"])
    object_type = node["renameType"]
    if object_type == "OBJECT_DOMCONSTRAINT":
        return _rename_domain_constraint(session, txn, node, names)
    user_type = _require_kind(session, names, object_type)
    check_owner(session, user_type)
    new_name = str(node["newname"])
    check_type_name_free(session, txn, user_type.namespace_oid, new_name)
    _update_type(txn, user_type.oid, name=new_name)
    _update_type(txn, user_type.array_oid,
                 name=array_name(session, txn, user_type.namespace_oid, new_name))
    if user_type.typtype == U.TYPTYPE_COMPOSITE:
        composite_types.update_relation(txn, user_type.base_oid, name=new_name)
    return "ALTER DOMAIN" if object_type == "OBJECT_DOMAIN" else "ALTER TYPE"


def alter_type_owner(session: Any, txn: Any, node: Node) -> str:
    from mirrordb.sql import roles
    object_type = node["objectType"]
    user_type = _require_kind(session, _names(node["object"]), object_type, quoted=False)
    check_owner(session, user_type)
    spec = node["newowner"]
    role_name = (str(spec.get("rolename")) if spec.get("roletype") == "ROLESPEC_CSTRING"
                 else str(session.user))
    found = roles.find_role(txn, role_name)
    if found is None:
        raise MirrordbError(f'role "{role_name}" does not exist', sqlstate="42704")
    owner_oid = found[1].oid
    _update_type(txn, user_type.oid, owner_oid=owner_oid)
    _update_type(txn, user_type.array_oid, owner_oid=owner_oid)
    if user_type.typtype == U.TYPTYPE_COMPOSITE:
        composite_types.update_relation(txn, user_type.base_oid, owner_oid=owner_oid)
    return "ALTER DOMAIN" if object_type == "OBJECT_DOMAIN" else "ALTER TYPE"


def comment_target(session: Any, node: Node) -> int:
    """The type COMMENT ON TYPE/DOMAIN names (its owner may comment)."""
    user_type = _require_kind(session, _names(node["object"]), node["objtype"])
    check_owner(session, user_type)
    return user_type.oid


# -- domains ---------------------------------------------------------------------------------------


def create_domain(session: Any, txn: Any, node: Node, builder: Any) -> None:
    base_oid, typmod = builder.resolve_type(node["typeName"])
    base_info = T.TYPES.get(base_oid)
    if base_info is None or base_info.type_type == "p":
        raise MirrordbError(f'"{T.format_type(base_oid)}" is not a valid base type for a '
                            f"domain", sqlstate="42804")
    names = strings(node["domainname"])
    not_null: bool | None = None
    default: Any = None
    checks = []
    for item in node.get("constraints", []):
        constraint = item["Constraint"]
        kind = constraint["contype"]
        if kind in ("CONSTR_NOTNULL", "CONSTR_NULL"):
            wanted = kind == "CONSTR_NOTNULL"
            if not_null is not None and not_null != wanted:
                raise MirrordbError("conflicting NULL/NOT NULL constraints", sqlstate="42601")
            not_null = wanted
        elif kind == "CONSTR_DEFAULT":
            if default is not None:
                raise MirrordbError("multiple default expressions", sqlstate="42601")
            default = constraint["raw_expr"]
        elif kind == "CONSTR_CHECK":
            checks.append(constraint)
        else:
            raise MirrordbError(f"{_constraint_word(kind)} constraints not possible for "
                                f"domains", sqlstate="42601")
    user_type = _new_type(session, txn, names, U.TYPTYPE_DOMAIN, base_oid, typmod)
    if default is not None:
        _check_default(builder, default, user_type.oid)
    _update_type(txn, user_type.oid, not_null=bool(not_null),
                 default_tree=None if default is None else json.dumps(default))
    for constraint in checks:
        _add_check(session, txn, user_type, constraint, validate_rows=False)


_CONSTRAINT_WORDS = {"CONSTR_UNIQUE": "unique", "CONSTR_PRIMARY": "primary key",
                     "CONSTR_FOREIGN": "foreign key", "CONSTR_EXCLUSION": "exclusion",
                     "CONSTR_GENERATED": "generated", "CONSTR_IDENTITY": "identity"}


def _constraint_word(kind: str) -> str:
    return _CONSTRAINT_WORDS.get(kind, kind.removeprefix("CONSTR_").lower())


def _check_default(builder: Any, tree: Any, domain_oid: int) -> None:
    from mirrordb.sql.expressions import ExpressionCompiler, Scope, coerce
    expr = ExpressionCompiler(builder, Scope()).compile(tree)
    coerce(builder, expr, domain_oid, -1, "assignment")


def _add_check(session: Any, txn: Any, user_type: U.UserType, constraint: Node,
               validate_rows: bool) -> None:
    from mirrordb.sql import domain_checks
    base = U.SessionUserTypes(session).base_type(user_type.base_oid)
    tree = constraint["raw_expr"]
    expr = domain_checks.compile_domain_check(session, base, user_type.typmod, tree)
    name = constraint.get("conname")
    if name is None:
        taken = {str(v[1]) for v in txn.constraint_rows() if v[2] == user_type.namespace_oid}
        name = choose_constraint_name(user_type.name, None, "check", taken)
    elif any(v[1] == name and len(v) > 17 and v[17] == user_type.oid
             for v in txn.constraint_rows()):
        raise MirrordbError(f'constraint "{name}" for domain "{user_type.name}" already exists',
                            sqlstate="42710")
    skip = bool(constraint.get("skip_validation"))
    if validate_rows and not skip:
        _scan_columns(session, txn, user_type.oid, lambda value: expr.fn(
            (value,), session._context([])) is False,
            "contains values that violate the new constraint", "23514")
    txn.create_constraint(StoredConstraint(
        0, str(name), user_type.namespace_oid, CONTYPE_CHECK, False, False, not skip, 0, 0, 0,
        " ", " ", " ", False, (), (), json.dumps(tree), user_type.oid).row()[1:])


def _columns_using(session: Any, txn: Any, type_oids: set[int]) -> list[tuple[Any, int]]:
    """(relation, column index) of every column whose type is one of ``type_oids``."""
    found = []
    for _, values in txn.engine.relcache.rows(boot.PG_ATTRIBUTE, txn.transaction):
        if int(values[2]) in type_oids and not values[6]:  # type: ignore[call-overload]
            relation = txn.engine.relcache.lookup_oid(int(values[0]),  # type: ignore
                                                      txn.transaction)
            if relation is not None and relation.oid >= boot.FIRST_NORMAL_OBJECT_ID:
                found.append((relation, int(values[3]) - 1))  # type: ignore[call-overload]
    return found


def _domain_family(session: Any, domain_oid: int) -> set[int]:
    """The domain and the domains over it (directly or through others)."""
    catalog = _catalog(session)
    family = {domain_oid}
    changed = True
    while changed:
        changed = False
        for user_type in catalog.by_oid.values():
            if user_type.typtype == U.TYPTYPE_DOMAIN and user_type.base_oid in family \
                    and user_type.oid not in family:
                family.add(user_type.oid)
                changed = True
    return family


def _scan_columns(session: Any, txn: Any, domain_oid: int, bad: Any, what: str,
                  sqlstate: str) -> None:
    for relation, index in _columns_using(session, txn, _domain_family(session, domain_oid)):
        if relation.kind == composite_types.RELKIND_COMPOSITE:
            continue                    # an attribute: its values live in other columns
        for _, values in txn.scan(relation):
            if bad(values[index]):
                raise MirrordbError(f'column "{relation.columns[index].name}" of table '
                                    f'"{relation.name}" {what}', sqlstate=sqlstate)


def alter_domain(session: Any, txn: Any, node: Node, builder: Any) -> list[str]:
    names = strings(node["typeName"])
    user_type = _require_kind(session, names, "OBJECT_DOMAIN", quoted=False)
    check_owner(session, user_type)
    subtype = node["subtype"]
    if subtype == "T":
        tree = node.get("def")
        if tree is not None:
            _check_default(builder, tree, user_type.oid)
        _update_type(txn, user_type.oid,
                     default_tree=None if tree is None else json.dumps(tree))
    elif subtype == "N":
        _update_type(txn, user_type.oid, not_null=False)
    elif subtype == "O":
        _scan_columns(session, txn, user_type.oid, lambda value: value is None,
                      "contains null values", "23502")
        _update_type(txn, user_type.oid, not_null=True)
    elif subtype == "C":
        _add_check(session, txn, user_type, node["def"]["Constraint"], validate_rows=True)
    elif subtype == "X":
        return _drop_domain_constraint(txn, user_type, str(node["name"]),
                                       bool(node.get("missing_ok")))
    elif subtype == "V":
        _validate_domain_constraint(session, txn, user_type, str(node["name"]))
    return []


def _domain_constraint(txn: Any, user_type: U.UserType, name: str) -> StoredConstraint | None:
    return next((StoredConstraint.from_row(v) for v in txn.constraint_rows()
                 if len(v) > 17 and v[17] == user_type.oid and v[1] == name), None)


def _constraint_missing(name: str, domain: str) -> MirrordbError:
    return MirrordbError(f'constraint "{name}" of domain "{domain}" does not exist',
                         sqlstate="42704")


def _drop_domain_constraint(txn: Any, user_type: U.UserType, name: str,
                            missing_ok: bool) -> list[str]:
    stored = _domain_constraint(txn, user_type, name)
    if stored is None:
        if missing_ok:
            return [f'constraint "{name}" of domain "{user_type.name}" does not exist, '
                    f"skipping"]
        raise _constraint_missing(name, user_type.name)
    txn.drop_constraint(stored.oid)
    return []


def _validate_domain_constraint(session: Any, txn: Any, user_type: U.UserType,
                                name: str) -> None:
    from dataclasses import replace
    from mirrordb.sql import domain_checks
    stored = _domain_constraint(txn, user_type, name)
    if stored is None:
        raise _constraint_missing(name, user_type.name)
    base = U.SessionUserTypes(session).base_type(user_type.base_oid)
    expr = domain_checks.compile_domain_check(session, base, user_type.typmod,
                                              json.loads(stored.expression or "null"))
    _scan_columns(session, txn, user_type.oid, lambda value: expr.fn(
        (value,), session._context([])) is False,
        "contains values that violate the new constraint", "23514")
    txn.update_constraint(stored.oid, replace(stored, validated=True).row())


def _rename_domain_constraint(session: Any, txn: Any, node: Node, names: list[str]) -> str:
    from dataclasses import replace
    user_type = _require_kind(session, names, "OBJECT_DOMAIN")
    stored = _domain_constraint(txn, user_type, str(node["subname"]))
    if stored is None:
        raise _constraint_missing(str(node["subname"]), user_type.name)
    txn.update_constraint(stored.oid, replace(stored, name=str(node["newname"])).row())
    return "ALTER DOMAIN"


# -- DROP ------------------------------------------------------------------------------------------


def drop_types(session: Any, txn: Any, node: Node) -> tuple[str, list[Any]]:
    object_type = node["removeType"]
    tag = "DROP DOMAIN" if object_type == "OBJECT_DOMAIN" else "DROP TYPE"
    cascade = node.get("behavior") == "DROP_CASCADE"
    notices: list[Any] = []
    for item in node["objects"]:
        names = _names(item)
        user_type = find_type(session, names)
        if user_type is None or user_type.typtype == U.TYPTYPE_BASE:
            if node.get("missing_ok"):
                notices.append(f'type "{".".join(names)}" does not exist, skipping')
                continue
            raise _type_missing(names)
        if object_type == "OBJECT_DOMAIN" and user_type.typtype != U.TYPTYPE_DOMAIN:
            raise MirrordbError(f'"{T.format_type(user_type.oid)}" is not a domain',
                                sqlstate="42809")
        check_owner(session, user_type)
        notices += _drop_one(session, txn, user_type, cascade)
    return tag, notices


def _dependents(session: Any, txn: Any, user_type: U.UserType) -> list[tuple[str, Any]]:
    """What depends on the type, as PostgreSQL lists it: what uses its array type first, then
    the domains over it and the columns of its type, oldest object first; each as (its
    description, the thing: a UserType or (relation, column index))."""
    catalog = _catalog(session)
    through_array = [(f"column {relation.columns[index].name} of {_kind(relation)} "
                      f"{relation.name}", user_type.name + "[]", relation.oid, index,
                      (relation, index))
                     for relation, index in _columns_using(session, txn,
                                                           {user_type.array_oid})]
    direct = [(f"type {t.name}", user_type.name, t.oid, 0, t) for t in catalog.by_oid.values()
              if t.typtype == U.TYPTYPE_DOMAIN and t.base_oid == user_type.oid]
    direct += [(f"column {relation.columns[index].name} of {_kind(relation)} {relation.name}",
                user_type.name, relation.oid, index, (relation, index))
               for relation, index in _columns_using(session, txn, {user_type.oid})]
    ordered = sorted(through_array, key=lambda d: (d[2], d[3])) + \
        sorted(direct, key=lambda d: (d[2], d[3]))
    return [(f"{what} depends on type {on}", thing) for what, on, _, _, thing in ordered]


def _kind(relation: Any) -> str:
    """How PostgreSQL's dependency messages name a relation holding a column."""
    return "composite type" if relation.kind == composite_types.RELKIND_COMPOSITE else "table"


def _drop_one(session: Any, txn: Any, user_type: U.UserType, cascade: bool) -> list[Any]:
    dependents = _dependents(session, txn, user_type)
    if dependents and not cascade:
        raise MirrordbError(f"cannot drop type {user_type.name} because other objects depend "
                            f"on it", sqlstate="2BP01",
                            detail="\n".join(text for text, _ in dependents),
                            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    notices: list[Any] = []
    lines = ["drop cascades to " + text.split(" depends on ")[0] for text, _ in dependents]
    if len(lines) == 1:
        notices.append(("NOTICE", lines[0]))
    elif lines:
        notices.append(("NOTICE", f"drop cascades to {len(lines)} other objects",
                        "\n".join(lines)))
    from mirrordb.sql import ddl
    for _, thing in dependents:
        if isinstance(thing, U.UserType):
            _drop_one(session, txn, thing, True)
            continue
        relation, index = thing
        current = txn.engine.relcache.lookup_oid(relation.oid, txn.transaction)
        if current.kind == composite_types.RELKIND_COMPOSITE:
            composite_types.drop_attribute(txn, current, relation.columns[index].name)
            continue
        ddl._drop_column(session, txn, current, {"name": relation.columns[index].name})
    oids = {user_type.oid, user_type.array_oid}
    if user_type.typtype == U.TYPTYPE_COMPOSITE:
        composite_types.drop_composite(txn, user_type.base_oid)
    txn._delete_catalog_rows(boot.PG_TYPE, lambda v: v[0] in oids)
    txn._delete_catalog_rows(boot.PG_ENUM, lambda v: v[1] == user_type.oid)
    txn._delete_catalog_rows(boot.PG_CONSTRAINT, lambda v: len(v) > 17 and v[17] in oids)
    txn._delete_catalog_rows(boot.PG_DESCRIPTION, lambda v: v[0] in oids
                             and v[1] == boot.PG_TYPE_OID)
    txn.transaction.command_counter_increment()
    return notices


# -- dispatch --------------------------------------------------------------------------------------

_STATEMENTS = frozenset({"CreateEnumStmt", "AlterEnumStmt", "CreateDomainStmt",
                         "AlterDomainStmt", "CompositeTypeStmt"})
_OBJECT_TYPES = frozenset({"OBJECT_TYPE", "OBJECT_DOMAIN", "OBJECT_DOMCONSTRAINT"})


def handles(node_type: str, node: Node) -> bool:
    """Whether the statement is one of this module's (the session dispatches it here)."""
    if node_type in _STATEMENTS:
        return True
    if node_type == "AlterTableStmt":
        return node.get("objtype") == "OBJECT_TYPE"         # ALTER TYPE ... ATTRIBUTE
    if node_type == "RenameStmt":
        return node.get("renameType") in _OBJECT_TYPES or (
            node.get("renameType") == "OBJECT_ATTRIBUTE")
    if node_type == "AlterOwnerStmt":
        return node.get("objectType") in _OBJECT_TYPES
    if node_type == "DropStmt":
        return node.get("removeType") in _OBJECT_TYPES
    return False


def execute(session: Any, txn: Any, node_type: str, node: Node) -> tuple[str, list[Any]]:
    """Run one statement ``handles`` accepted: (command tag, notices)."""
    try:
        return _execute(session, txn, node_type, node)
    except MirrordbError as error:
        if node_type in ("CreateDomainStmt", "AlterDomainStmt", "CompositeTypeStmt"):
            error.position = None   # PostgreSQL reports no position inside a domain's clauses
        raise


def _execute(session: Any, txn: Any, node_type: str, node: Node) -> tuple[str, list[Any]]:
    from mirrordb.sql.planner import PlanBuilder
    with txn.engine._ddl_lock:
        if node_type == "CreateEnumStmt":
            create_enum(session, txn, node)
            return "CREATE TYPE", []
        if node_type == "CompositeTypeStmt":
            composite_types.create_composite(session, txn, node, PlanBuilder(session, []))
            return "CREATE TYPE", []
        if node_type == "AlterEnumStmt":
            return "ALTER TYPE", alter_enum(session, txn, node)
        if node_type == "CreateDomainStmt":
            create_domain(session, txn, node, PlanBuilder(session, []))
            return "CREATE DOMAIN", []
        if node_type == "AlterDomainStmt":
            return "ALTER DOMAIN", alter_domain(session, txn, node, PlanBuilder(session, []))
        if node_type == "AlterTableStmt":
            return "ALTER TYPE", composite_types.alter_composite(session, txn, node,
                                                                 PlanBuilder(session, []))
        if node_type == "RenameStmt" and node["renameType"] == "OBJECT_ATTRIBUTE":
            composite_types.rename_attribute(session, txn, node)
            return "ALTER TYPE", []
        if node_type == "RenameStmt":
            return rename_type(session, txn, node), []
        if node_type == "AlterOwnerStmt":
            return alter_type_owner(session, txn, node), []
        return drop_types(session, txn, node)
