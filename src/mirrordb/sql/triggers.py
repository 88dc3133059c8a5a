"""Triggers: CREATE/DROP/ALTER TRIGGER, pg_trigger, and firing them as PostgreSQL's trigger.c does.

Who calls it: the session (CREATE TRIGGER, DROP TRIGGER, ALTER TRIGGER ... RENAME, ALTER TABLE
... ENABLE/DISABLE TRIGGER), dml.py and merge.py (``for_relation`` when a statement is planned,
then ``statement_start``, ``before_row``, ``after_row`` and ``statement_end`` as it runs), the
session's COPY FROM (the same calls), engine.py (dropping a relation deletes its rows here),
user_functions.py (DROP FUNCTION of a trigger's function is refused), sysviews.py (pg_trigger,
pg_class.relhastriggers) and catalog_functions.py (pg_get_triggerdef). The trigger function
runs in sql/plpgsql.py's interpreter with PostgreSQL's trigger variables (NEW, OLD, TG_OP,
TG_NAME, TG_WHEN, TG_LEVEL, TG_TABLE_NAME, TG_TABLE_SCHEMA, TG_RELID, TG_RELNAME, TG_NARGS,
TG_ARGV), which pglast's PL/pgSQL parser declares for a function returning trigger.

A trigger is a row of pg_trigger (catalog/bootstrap.py's PG_TRIGGER, WAL-logged like every
catalog row, so a standby has the primary's triggers; nothing fires there, since nothing
writes). tgtype has PostgreSQL's bits (ROW 1, BEFORE 2, INSERT 4, DELETE 8, UPDATE 16, TRUNCATE
32, INSTEAD 64); tgenabled 'O' (fires), 'D' (disabled), 'R' (replica only) or 'A' (always).

When they fire (PostgreSQL's order): BEFORE STATEMENT triggers before the statement's first
row; per row, the BEFORE ROW triggers in name order, each getting the NEW the one before it
returned (NULL skips the row, for the later triggers too), then the row is changed; its AFTER
ROW triggers (WHEN evaluated at once) are queued and fire at the end of the statement, row by
row, each row's in name order, followed by the AFTER STATEMENT triggers. INSTEAD OF triggers
on a view run in place of the INSERT, UPDATE or DELETE of each of its rows. An AFTER trigger's
transition tables (REFERENCING) are the statement's rows of its event, which the function reads
as working tables. Not done: constraint triggers, deferral (sql/README.md "Triggers").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import RELKIND_TABLE, RELKIND_VIEW, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import executor as ex
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (ExecContext, Expr, ExpressionCompiler, Scope, ScopeColumn,
                                      coerce_to_bool, error_at, feature_not_supported)
from mirrordb.sql.parser import Node, strings

TYPE_ROW = 1
TYPE_BEFORE = 2
TYPE_INSERT = 4
TYPE_DELETE = 8
TYPE_UPDATE = 16
TYPE_TRUNCATE = 32
TYPE_INSTEAD = 64
EVENT_BITS = {"INSERT": TYPE_INSERT, "DELETE": TYPE_DELETE, "UPDATE": TYPE_UPDATE,
              "TRUNCATE": TYPE_TRUNCATE}
ENABLED_FIRING = frozenset("OA")        # session_replication_role = origin
_QUEUE_KEY = "mirrordb.triggers.queue"
_TRANSITION_KEY = "mirrordb.triggers.transitions"
_TRANSITION_TABLES = -1      # where a compiled trigger function keeps its transition tables
# A trigger's call is a statement and a function deeper: it counts as this many nested calls
# (user_functions.MAX_CALL_DEPTH), so recursive triggers stop with 54001 long before Python's
# stack runs out (which inside a WAL critical section would stop the server).
CALL_LEVELS = 6
SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"})


@dataclass(frozen=True)
class Trigger:
    """One pg_trigger row."""

    oid: int
    relation_oid: int
    name: str
    function_oid: int
    type: int
    enabled: str = "O"
    args: tuple[str, ...] = ()
    columns: tuple[int, ...] = ()          # UPDATE OF's column numbers
    qual: str | None = None                # WHEN's raw parse tree, JSON
    old_table: str | None = None
    new_table: str | None = None

    @property
    def row(self) -> bool:
        return bool(self.type & TYPE_ROW)

    @property
    def timing(self) -> str:
        if self.type & TYPE_BEFORE:
            return "BEFORE"
        return "INSTEAD OF" if self.type & TYPE_INSTEAD else "AFTER"


def to_values(trigger: Trigger) -> list[Any]:
    """The stored row (bootstrap.PG_TRIGGER's columns)."""
    return [trigger.oid, trigger.relation_oid, 0, trigger.name, trigger.function_oid,
            trigger.type, trigger.enabled, False, 0, 0, 0, False, False, len(trigger.args),
            " ".join(str(c) for c in trigger.columns), json.dumps(list(trigger.args)),
            trigger.qual, trigger.old_table, trigger.new_table]


def from_values(values: tuple[Any, ...] | list[Any]) -> Trigger:
    (oid, relid, _parent, name, foid, tgtype, enabled, _internal, _crel, _cind, _con, _defer,
     _initdefer, _nargs, attrs, args, qual, old_table, new_table) = values
    return Trigger(int(oid), int(relid), str(name), int(foid), int(tgtype), str(enabled),
                   tuple(json.loads(args or "[]")),
                   tuple(int(c) for c in str(attrs or "").split()), qual, old_table, new_table)


# -- reading them ---------------------------------------------------------------------------------

def all_triggers(session: Any) -> tuple[Trigger, ...]:
    """Every trigger of the session's database as its statement sees them (cached per
    relation-cache generation, proc_catalog.cached_rows)."""
    from mirrordb.sql import proc_catalog
    return proc_catalog.cached_rows(session, boot.PG_TRIGGER, from_values)


def of_relation(session: Any, relation_oid: int) -> list[Trigger]:
    """A relation's triggers in name order (the order they fire in)."""
    return sorted((t for t in all_triggers(session) if t.relation_oid == relation_oid),
                  key=lambda t: t.name.encode())


def snapshot_triggers(snapshot: Any) -> list[Trigger]:
    """The triggers a catalog snapshot (catalog_functions.CatalogSnapshot) sees."""
    key = "triggers:rows"
    found = snapshot.view_rows.get(key)
    if found is None:
        columns = [column.name for column in boot.PG_TRIGGER.columns]
        found = snapshot.view_rows[key] = [from_values([record[c] for c in columns])
                                           for record in snapshot._read(boot.PG_TRIGGER)]
    return found  # type: ignore[no-any-return]


def has_triggers(snapshot: Any, relation_oid: int) -> bool:
    """pg_class.relhastriggers (with constraints.has_triggers for foreign keys)."""
    return any(t.relation_oid == relation_oid for t in snapshot_triggers(snapshot))


# -- CREATE TRIGGER -------------------------------------------------------------------------------


def _relation_named(session: Any, range_var: Node, missing_ok: bool = False
                    ) -> Relation | None:
    name, schema = range_var["relname"], range_var.get("schemaname")
    relation = session.lookup_relation(name, schema, LockMode.SHARE_ROW_EXCLUSIVE)
    if relation is None and not missing_ok:
        shown = name if not schema else f"{schema}.{name}"
        raise MirrordbError(f'relation "{shown}" does not exist', sqlstate="42P01")
    return relation


_KIND_WORDS = {"S": "sequences", "m": "materialized views", "c": "composite types",
               "f": "foreign tables"}


def _check_kind(relation: Relation, trigger_type: int) -> None:
    """What CreateTrigger allows on a table and on a view."""
    if relation.kind == RELKIND_TABLE:
        if trigger_type & TYPE_INSTEAD:
            raise MirrordbError(f'"{relation.name}" is a table', sqlstate="42809",
                                detail="Tables cannot have INSTEAD OF triggers.")
        return
    if relation.kind == RELKIND_VIEW:
        if trigger_type & (TYPE_BEFORE | TYPE_INSTEAD) != TYPE_INSTEAD and \
                trigger_type & TYPE_ROW:
            raise MirrordbError(f'"{relation.name}" is a view', sqlstate="42809",
                                detail="Views cannot have row-level BEFORE or AFTER triggers.")
        if trigger_type & TYPE_TRUNCATE:
            raise MirrordbError(f'"{relation.name}" is a view', sqlstate="42809",
                                detail="Views cannot have TRUNCATE triggers.")
        return
    if relation.kind == "i":
        raise MirrordbError(f'"{relation.name}" is an index', sqlstate="42809")
    raise MirrordbError(f'relation "{relation.name}" cannot have triggers', sqlstate="42809",
                        detail=f"This operation is not supported for "
                               f"{_KIND_WORDS.get(relation.kind, 'relations')}.")


def _refused(message: str) -> MirrordbError:
    return MirrordbError(message, sqlstate="0A000")


def _check_combination(node: Node, trigger_type: int) -> None:
    """The forbidden combinations (0A000) CreateTrigger refuses."""
    if trigger_type & TYPE_ROW and trigger_type & TYPE_TRUNCATE:
        raise _refused("TRUNCATE FOR EACH ROW triggers are not supported")
    if trigger_type & TYPE_INSTEAD:
        if not trigger_type & TYPE_ROW:
            raise _refused("INSTEAD OF triggers must be FOR EACH ROW")
        if node.get("whenClause") is not None:
            raise _refused("INSTEAD OF triggers cannot have WHEN conditions")
        if node.get("columns"):
            raise _refused("INSTEAD OF triggers cannot have column lists")
    if node.get("isconstraint"):
        raise feature_not_supported("CREATE CONSTRAINT TRIGGER")


def _transition_names(relation: Relation, node: Node, trigger_type: int
                      ) -> tuple[str | None, str | None]:
    """REFERENCING OLD TABLE AS o NEW TABLE AS n: the names, after CreateTrigger's checks."""
    old_name = new_name = None
    for item in node.get("transitionRels") or []:
        fields = item["TriggerTransition"]
        if not fields.get("isTable"):
            raise _refused("ROW variable naming in the REFERENCING clause is not supported")
        if relation.kind == RELKIND_VIEW:
            raise MirrordbError(f'"{relation.name}" is a view', sqlstate="42809",
                                detail="Triggers on views cannot have transition tables.")
        if trigger_type & (TYPE_BEFORE | TYPE_INSTEAD):
            raise _invalid("transition table name can only be specified for an AFTER trigger")
        if trigger_type & TYPE_TRUNCATE:
            raise _refused("TRUNCATE triggers with transition tables are not supported")
        if trigger_type & TYPE_ROW and bin(trigger_type & (TYPE_INSERT | TYPE_UPDATE
                                                           | TYPE_DELETE)).count("1") > 1:
            raise _refused("transition tables cannot be specified for triggers with more "
                           "than one event")
        if node.get("columns"):
            raise _refused("transition tables cannot be specified for triggers with column "
                           "lists")
        if fields.get("isNew"):
            if not trigger_type & (TYPE_INSERT | TYPE_UPDATE):
                raise _invalid("NEW TABLE can only be specified for an INSERT or UPDATE "
                               "trigger")
            if new_name is not None:
                raise _invalid("NEW TABLE cannot be specified multiple times")
            new_name = fields["name"]
        else:
            if not trigger_type & (TYPE_DELETE | TYPE_UPDATE):
                raise _invalid("OLD TABLE can only be specified for a DELETE or UPDATE "
                               "trigger")
            if old_name is not None:
                raise _invalid("OLD TABLE cannot be specified multiple times")
            old_name = fields["name"]
    if old_name is not None and old_name == new_name:
        raise _invalid("OLD TABLE name and NEW TABLE name cannot be the same")
    return old_name, new_name


def _invalid(message: str) -> MirrordbError:
    return MirrordbError(message, sqlstate="42P17")


def _column_refs(tree: Any) -> list[tuple[list[str], int]]:
    """The ColumnRef name lists anywhere in a parse tree, with their locations."""
    found: list[tuple[list[str], int]] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "ColumnRef":
                found.append(([f["String"]["sval"] for f in value.get("fields", [])
                               if "String" in f], int(value.get("location", -1))))
            else:
                found += _column_refs(value)
    elif isinstance(tree, list):
        for item in tree:
            found += _column_refs(item)
    return found


def _check_when(session: Any, relation: Relation, trigger_type: int, when: Node) -> None:
    """WHEN's references (42P17) and its type: it must compile over OLD and NEW."""
    for names, location in _column_refs(when):
        first = names[0].lower() if names else ""
        if first not in ("old", "new"):
            continue
        if not trigger_type & TYPE_ROW:
            raise error_at("statement trigger's WHEN condition cannot reference column values",
                           "42P17", location)
        if first == "old" and trigger_type & TYPE_INSERT:
            raise error_at("INSERT trigger's WHEN condition cannot reference OLD values",
                           "42P17", location)
        if first == "new" and trigger_type & TYPE_DELETE:
            raise error_at("DELETE trigger's WHEN condition cannot reference NEW values",
                           "42P17", location)
        if first == "new" and trigger_type & TYPE_BEFORE and len(names) > 1 and \
                names[1].lower() in SYSTEM_COLUMNS:
            raise error_at("BEFORE trigger's WHEN condition cannot reference NEW system "
                           "columns", "0A000", location)
    _compile_when(session, relation, when)


def _compile_when(session: Any, relation: Relation, when: Node) -> Expr:
    """A WHEN condition over a row made of OLD's values then NEW's."""
    from mirrordb.sql.planner import PlanBuilder
    builder = PlanBuilder(session, [])
    scope = Scope()
    for alias in ("old", "new"):
        scope.add(alias, [ScopeColumn(c.name, c.type_oid, c.typmod, relation.oid, i + 1)
                          for i, c in enumerate(relation.columns)])
    builder.clause = "WHEN"
    expr = ExpressionCompiler(builder, scope).compile(when)
    return coerce_to_bool(builder, expr, "WHEN", -1)


def _trigger_function(session: Any, node: Node) -> Any:
    """EXECUTE FUNCTION f(...): f() must exist and return trigger."""
    from mirrordb.sql import user_functions
    routine = user_functions.lookup_object(
        session, {"objname": node["funcname"], "objfuncargs": []}, "OBJECT_FUNCTION")
    user_functions.check_execute(session, routine)
    if routine.result_type != T.TRIGGER_OID:
        raise MirrordbError(f"function {'.'.join(strings(node['funcname']))} must return type "
                            "trigger", sqlstate="42P17")
    return routine


def _update_columns(relation: Relation, node: Node) -> tuple[int, ...]:
    numbers: list[int] = []
    names = [c.name for c in relation.columns]
    for name in strings(node.get("columns") or []):
        if name not in names:
            raise MirrordbError(f'column "{name}" of relation "{relation.name}" does not exist',
                                sqlstate="42703")
        number = names.index(name) + 1
        if number in numbers:
            raise MirrordbError(f'column "{name}" specified more than once', sqlstate="42701")
        numbers.append(number)
    return tuple(numbers)


def _argument_text(node: Node) -> str:
    kind, value = next(iter(node.items()))
    if kind == "String":
        return str(value["sval"])
    if kind == "Integer":
        return str(value.get("ival", 0))
    if kind == "Float":
        return str(value["fval"])
    return str(next(iter(value.values()), ""))


def create_trigger(session: Any, txn: Any, node: Node) -> str:
    """CREATE [OR REPLACE] TRIGGER; the command tag."""
    from mirrordb.sql import roles
    relation = _relation_named(session, node["relation"])
    assert relation is not None
    trigger_type = int(node.get("timing", 0)) | int(node.get("events", 0)) | \
        (TYPE_ROW if node.get("row") else 0)
    _check_kind(relation, trigger_type)
    roles.check_table_privilege(session, relation, "TRIGGER")
    _check_combination(node, trigger_type)
    when = node.get("whenClause")
    if when is not None:
        _check_when(session, relation, trigger_type, when)
    old_table, new_table = _transition_names(relation, node, trigger_type)
    routine = _trigger_function(session, node)
    name = node["trigname"]
    existing = next((t for t in of_relation(session, relation.oid) if t.name == name), None)
    if existing is not None and not node.get("replace"):
        raise MirrordbError(f'trigger "{name}" for relation "{relation.name}" already exists',
                            sqlstate="42710")
    trigger = Trigger(existing.oid if existing is not None else txn.engine.allocate_oid(),
                      relation.oid, name, routine.oid, trigger_type,
                      existing.enabled if existing is not None else "O",
                      tuple(_argument_text(a) for a in node.get("args") or []),
                      _update_columns(relation, node),
                      None if when is None else json.dumps(when), old_table, new_table)
    if existing is not None:
        txn._delete_catalog_rows(boot.PG_TRIGGER, lambda v: v[0] == existing.oid)
    txn._insert_catalog(boot.PG_TRIGGER, to_values(trigger))
    txn.transaction.command_counter_increment()
    return "CREATE TRIGGER"


# -- DROP, RENAME, ENABLE/DISABLE ----------------------------------------------------------------


def _missing_trigger(name: str, relation: Relation) -> MirrordbError:
    return MirrordbError(f'trigger "{name}" for table "{relation.name}" does not exist',
                         sqlstate="42704")


def _check_owner(session: Any, relation: Relation) -> None:
    from mirrordb.sql import roles
    roles.check_table_ownership(session, relation)


def drop_triggers(session: Any, txn: Any, node: Node) -> tuple[str, list[str]]:
    """DROP TRIGGER [IF EXISTS] name ON table [CASCADE | RESTRICT]."""
    notices: list[str] = []
    missing_ok = bool(node.get("missing_ok"))
    for item in node["objects"]:
        names = strings(item["List"]["items"])
        trigger_name, table = names[-1], names[:-1]
        range_var = {"relname": table[-1], "schemaname": table[-2] if len(table) > 1 else None}
        relation = _relation_named(session, range_var, missing_ok)
        if relation is None:
            notices.append(f'relation "{".".join(table)}" does not exist, skipping')
            continue
        found = next((t for t in of_relation(session, relation.oid)
                      if t.name == trigger_name), None)
        if found is None:
            if missing_ok:
                notices.append(f'trigger "{trigger_name}" for relation "{relation.name}" does '
                               "not exist, skipping")
                continue
            raise _missing_trigger(trigger_name, relation)
        try:
            _check_owner(session, relation)
        except MirrordbError as error:      # DROP TRIGGER names the relation so
            error.message = f"must be owner of relation {relation.name}"
            raise
        txn._delete_catalog_rows(boot.PG_TRIGGER, lambda v, oid=found.oid: v[0] == oid)
    txn.transaction.command_counter_increment()
    return "DROP TRIGGER", notices


def rename_trigger(session: Any, txn: Any, node: Node) -> str:
    """ALTER TRIGGER name ON table RENAME TO new_name."""
    relation = _relation_named(session, node["relation"])
    assert relation is not None
    _check_owner(session, relation)
    triggers = of_relation(session, relation.oid)
    new_name = node["newname"]
    if any(t.name == new_name for t in triggers):
        raise MirrordbError(f'trigger "{new_name}" for relation "{relation.name}" already '
                            "exists", sqlstate="42710")
    found = next((t for t in triggers if t.name == node["subname"]), None)
    if found is None:
        raise _missing_trigger(node["subname"], relation)
    txn._update_catalog_rows(boot.PG_TRIGGER, lambda v: v[0] == found.oid,
                             lambda v: to_values(replace(from_values(v), name=new_name)))
    txn.transaction.command_counter_increment()
    return "ALTER TRIGGER"


_ENABLE_SUBTYPES = {"AT_EnableTrig": "O", "AT_EnableAlwaysTrig": "A",
                    "AT_EnableReplicaTrig": "R", "AT_DisableTrig": "D",
                    "AT_EnableTrigAll": "O", "AT_DisableTrigAll": "D",
                    "AT_EnableTrigUser": "O", "AT_DisableTrigUser": "D"}


def is_enable_disable(node: Node) -> bool:
    """An ALTER TABLE made only of ENABLE/DISABLE TRIGGER subcommands."""
    commands = node.get("cmds") or []
    return bool(commands) and all(c["AlterTableCmd"]["subtype"] in _ENABLE_SUBTYPES
                                  for c in commands)


def enable_disable(session: Any, txn: Any, node: Node) -> str:
    """ALTER TABLE t ENABLE [REPLICA | ALWAYS] | DISABLE TRIGGER name | ALL | USER."""
    relation = _relation_named(session, node["relation"], bool(node.get("missing_ok")))
    if relation is None:
        return "ALTER TABLE"
    _check_owner(session, relation)
    for command in node["cmds"]:
        fields = command["AlterTableCmd"]
        state = _ENABLE_SUBTYPES[fields["subtype"]]
        triggers = of_relation(session, relation.oid)
        if fields["subtype"] in ("AT_EnableTrig", "AT_EnableAlwaysTrig", "AT_EnableReplicaTrig",
                                 "AT_DisableTrig"):
            chosen = [t for t in triggers if t.name == fields["name"]]
            if not chosen:
                raise _missing_trigger(fields["name"], relation)
        else:
            chosen = triggers
        oids = {t.oid for t in chosen}
        txn._update_catalog_rows(boot.PG_TRIGGER, lambda v, oids=oids: v[0] in oids,
                                 lambda v, state=state: to_values(replace(from_values(v),
                                                                          enabled=state)))
        txn.transaction.command_counter_increment()
    return "ALTER TABLE"


def check_function_drop(session: Any, txn: Any, routine: Any, cascade: bool) -> list[Any]:
    """DROP FUNCTION of a function triggers execute: 2BP01, as PostgreSQL's dependency; with
    CASCADE the triggers go too (its notices)."""
    users = sorted((t for t in all_triggers(session) if t.function_oid == routine.oid),
                   key=lambda t: t.oid)
    if not users:
        return []
    from mirrordb.sql.catalog_functions import CatalogSnapshot
    snapshot = CatalogSnapshot.for_session(session)
    names = []
    for trigger in users:
        entry = snapshot.classes.get(trigger.relation_oid)
        table = entry.name if entry is not None else str(trigger.relation_oid)
        names.append(f"trigger {trigger.name} on table {table}")
    if not cascade:
        raise MirrordbError(f"cannot drop function {routine.name}() because other objects "
                            "depend on it", sqlstate="2BP01",
                            detail="\n".join(f"{n} depends on function {routine.name}()"
                                             for n in names),
                            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    oids = {t.oid for t in users}
    txn._delete_catalog_rows(boot.PG_TRIGGER, lambda v: v[0] in oids)
    if len(names) == 1:
        return [("NOTICE", f"drop cascades to {names[0]}")]
    return [("NOTICE", f"drop cascades to {len(names)} other objects",
             "\n".join(f"drop cascades to {n}" for n in names))]


# -- firing ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class RelationTriggers:
    """A relation's enabled triggers, planned with the statement that may fire them."""

    relation: Relation
    triggers: list[Trigger]
    whens: dict[int, Expr] = field(default_factory=dict)
    schema: str = "public"
    transitions: dict[str, bool] = field(default_factory=dict)   # events whose rows to keep

    def chosen(self, event: str, timing: int, row: bool,
               updated: frozenset[int] | None = None) -> list[Trigger]:
        bit = EVENT_BITS[event]
        wanted_timing = timing & (TYPE_BEFORE | TYPE_INSTEAD)
        return [t for t in self.triggers
                if t.type & bit and (t.type & (TYPE_BEFORE | TYPE_INSTEAD)) == wanted_timing
                and bool(t.type & TYPE_ROW) == row
                and (not t.columns or event != "UPDATE" or updated is None
                     or not updated.isdisjoint(t.columns))]

    def has(self, event: str, timing: int, row: bool) -> bool:
        return bool(self.chosen(event, timing, row))


def for_relation(session: Any, relation: Relation) -> RelationTriggers | None:
    """The triggers a statement on ``relation`` may fire (None when it has none enabled)."""
    triggers = [t for t in of_relation(session, relation.oid) if t.enabled in ENABLED_FIRING]
    if not triggers:
        return None
    from mirrordb.sql import schemas
    planned = RelationTriggers(relation, triggers,
                               schema=schemas.namespace_name(session, relation.namespace_oid))
    for trigger in triggers:
        if trigger.old_table is not None or trigger.new_table is not None:
            for event, bit in EVENT_BITS.items():
                if trigger.type & bit:
                    planned.transitions[event] = True
        if trigger.qual is not None:
            planned.whens[trigger.oid] = _compile_when(session, relation,
                                                       json.loads(trigger.qual))
    return planned


class ZeroBasedArray(list):  # type: ignore[type-arg]
    """TG_ARGV: a text[] whose subscripts start at 0, as PostgreSQL makes it."""

    lower_bound = 0


@dataclass(eq=False)
class ViewTargetRows(ex.PlanNode):
    """The rows of a view an UPDATE or DELETE with INSTEAD OF triggers targets: the view's
    columns and an empty ctid, the layout dml.py's target rows have."""

    child: ex.PlanNode
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[tuple[Any, ...]]:
        for row in self.child.rows(ctx):
            yield (*row, None)

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return "Subquery Scan", [self.child]


def _record(relation: Relation, values: Any) -> Any:
    if values is None:
        return None
    return T.RowRecord.of(list(values)[:relation.natts],
                          tuple((c.name, c.type_oid) for c in relation.columns))


def _passes_when(ctx: ExecContext, planned: RelationTriggers, trigger: Trigger,
                 old: Any, new: Any) -> bool:
    when = planned.whens.get(trigger.oid)
    if when is None:
        return True
    width = planned.relation.natts
    row = (*(old[:width] if old is not None else (None,) * width),
           *(new[:width] if new is not None else (None,) * width))
    return when.fn(row, ctx) is True


def _call(ctx: ExecContext, planned: RelationTriggers, trigger: Trigger, event: str,
          old: Any, new: Any) -> list[Any] | None:
    """Run the trigger function once: a row trigger's RETURN as the row's values (None for
    NULL, and for a statement trigger)."""
    from mirrordb.sql import plpgsql, proc_catalog, user_functions
    session = ctx.session
    routine = proc_catalog.routine_by_oid(session, trigger.function_oid)
    if routine is None:
        raise MirrordbError(f"cache lookup failed for function {trigger.function_oid}",
                            sqlstate="XX000")
    relation = planned.relation
    text = user_functions.plpgsql_text(routine)
    tree, cache = plpgsql._compiled_function(session, routine, text, variant=relation.oid)
    interpreter = plpgsql.Interpreter(session, routine.name, tree, routine.source, False,
                                      T.TRIGGER_OID, [], cache=cache)
    interpreter.signature = f"{routine.name}()"
    if trigger.old_table is not None or trigger.new_table is not None:
        interpreter.transition_tables = _transition_tables(ctx, planned, trigger, event, cache)
    interpreter.declare()
    values = {"new": _record(relation, new), "old": _record(relation, old),
              "tg_name": trigger.name, "tg_when": trigger.timing,
              "tg_level": "ROW" if trigger.row else "STATEMENT", "tg_op": event,
              "tg_relid": relation.oid, "tg_relname": relation.name,
              "tg_table_name": relation.name, "tg_table_schema": planned.schema,
              "tg_nargs": len(trigger.args), "tg_argv": ZeroBasedArray(trigger.args)}
    structure = tuple((c.name, c.type_oid) for c in relation.columns)
    for name, value in values.items():
        slot = interpreter.slots.get(name)
        if slot is not None:
            interpreter.values[slot] = value
            if name in ("new", "old"):
                interpreter.record_columns[slot] = structure
    try:
        with user_functions.call_context(session, routine, CALL_LEVELS):
            interpreter.run(ctx)
    except MirrordbError as error:
        if error.sqlstate == "2F005":
            error.message = "control reached end of trigger procedure without RETURN"
        raise
    finally:
        session.pending_warnings.extend(interpreter.notices)
    if not trigger.row:
        return None
    try:
        return _returned_row(planned, interpreter.result)
    except MirrordbError as error:
        error.add_context(f"PL/pgSQL function {interpreter.signature} during function exit")
        raise


def _transition_tables(ctx: ExecContext, planned: RelationTriggers, trigger: Trigger,
                       event: str, cache: dict[int, Any]) -> dict[str, tuple[Any, list[Any]]]:
    """The trigger's OLD TABLE and NEW TABLE, filled with the statement's rows: working
    tables kept with the function's plans (which hold them), refilled for each call."""
    from mirrordb.sql import plpgsql
    from mirrordb.sql import recursive as rec
    from mirrordb.sql.planner import OutputColumn
    relation = planned.relation
    kept = cache.get(_TRANSITION_TABLES)
    if kept is None:
        columns = [OutputColumn(c.name, c.type_oid, c.typmod) for c in relation.columns]
        kept = cache[_TRANSITION_TABLES] = plpgsql._Compiled(
            "transitions", {"old": (rec.WorkTable(), columns), "new": (rec.WorkTable(), columns)})
    captured = ctx.cache.get(_TRANSITION_KEY, {})   # type: ignore[call-overload]
    olds, news = captured.get((relation.oid, event), ([], []))
    tables = {}
    for name, rows, which in ((trigger.old_table, olds, "old"), (trigger.new_table, news, "new")):
        if name is not None:
            table, columns = kept.plan[which]
            table.rows = list(rows)
            tables[name] = (table, columns)
    return tables


def _returned_row(planned: RelationTriggers, result: tuple[Any, int] | None) -> list[Any] | None:
    """A row trigger's RETURN as the row's new values (None: NULL, skip the row)."""
    if result is None or result[0] is None:
        return None
    value, _ = result
    relation = planned.relation
    if not isinstance(value, tuple) or len(value) != relation.natts:
        raise MirrordbError("returned row structure does not match the structure of the "
                            "triggering table", sqlstate="42804",
                            detail=f"Number of returned columns ({len(value)}) does not "
                                   f"match expected column count ({relation.natts}).")
    columns = getattr(value, "columns", ())
    row = list(value)
    for index, column in enumerate(relation.columns):
        source = columns[index][1] if index < len(columns) else column.type_oid
        if row[index] is not None and source not in (column.type_oid, T.UNKNOWN_OID):
            row[index] = T.cast(row[index], source, column.type_oid, context="assignment")
    return row


def statement_start(ctx: ExecContext, planned: RelationTriggers | None,
                    events: tuple[str, ...], updated: frozenset[int] | None = None) -> None:
    """The BEFORE STATEMENT triggers of ``events``."""
    if planned is None:
        return
    for event in events:
        for trigger in planned.chosen(event, TYPE_BEFORE, False, updated):
            _call(ctx, planned, trigger, event, None, None)


def before_row(ctx: ExecContext, planned: RelationTriggers | None, event: str,
               old: Any, new: Any, updated: frozenset[int] | None = None
               ) -> tuple[bool, list[Any] | None]:
    """The BEFORE ROW triggers of one row: (False, None) when one returned NULL (skip the
    row), else (True, the new values as the triggers left them; None for DELETE)."""
    if planned is None:
        return True, None if new is None else list(new)
    current = None if new is None else list(new)
    for trigger in planned.chosen(event, TYPE_BEFORE, True, updated):
        if not _passes_when(ctx, planned, trigger, old, current):
            continue
        returned = _call(ctx, planned, trigger, event, old, current)
        if returned is None:
            return False, None
        if event != "DELETE":
            current = returned
    return True, current


def instead_of_row(ctx: ExecContext, planned: RelationTriggers | None, event: str,
                   old: Any, new: Any) -> list[Any] | None:
    """The INSTEAD OF triggers of a view's row: the row as the last trigger returned it
    (RETURNING shows it), or None when one returned NULL (the row is not counted)."""
    if planned is None:
        return None
    current = list(new if new is not None else old)
    chosen = planned.chosen(event, TYPE_INSTEAD, True)
    for trigger in chosen:
        returned = _call(ctx, planned, trigger, event, old,
                         None if event == "DELETE" else current)
        if returned is None:
            return None
        current = returned
    return current if chosen else None


def after_row(ctx: ExecContext, planned: RelationTriggers | None, event: str,
              old: Any, new: Any, updated: frozenset[int] | None = None) -> None:
    """Queue one changed row for its AFTER ROW triggers (WHEN is decided now)."""
    if planned is None:
        return
    width = planned.relation.natts
    if planned.transitions.get(event):
        captured = ctx.cache.setdefault(_TRANSITION_KEY, {})   # type: ignore[call-overload]
        olds, news = captured.setdefault((planned.relation.oid, event), ([], []))
        if old is not None:
            olds.append(tuple(old)[:width])
        if new is not None:
            news.append(tuple(new)[:width])
    chosen = [t for t in planned.chosen(event, 0, True, updated)
              if _passes_when(ctx, planned, t, old, new)]
    if chosen:
        queue = ctx.cache.setdefault(_QUEUE_KEY, [])   # type: ignore[call-overload]
        queue.append((planned, event, chosen,
                      None if old is None else tuple(old)[:planned.relation.natts],
                      None if new is None else tuple(new)[:planned.relation.natts]))


def statement_end(ctx: ExecContext, planned: RelationTriggers | None,
                  events: tuple[str, ...], updated: frozenset[int] | None = None) -> None:
    """End of statement: the queued AFTER ROW triggers, then the AFTER STATEMENT ones."""
    queue = ctx.cache.pop(_QUEUE_KEY, None)   # type: ignore[call-overload]
    try:
        for queued_plan, event, chosen, old, new in queue or ():
            for trigger in chosen:
                _call(ctx, queued_plan, trigger, event, old, new)
        if planned is None:
            return
        for event in events:
            for trigger in planned.chosen(event, 0, False, updated):
                _call(ctx, planned, trigger, event, None, None)
    finally:
        ctx.cache.pop(_TRANSITION_KEY, None)   # type: ignore[call-overload]


# -- pg_trigger and pg_get_triggerdef ------------------------------------------------------------


def pg_trigger_rows(snapshot: Any) -> list[tuple[Any, ...]]:
    """pg_trigger as PostgreSQL 15 shows it (sysviews.py's PG_TRIGGER_COLUMNS)."""
    rows = []
    for t in snapshot_triggers(snapshot):
        args = b"".join(a.encode() + b"\x00" for a in t.args)
        rows.append((t.oid, t.relation_oid, 0, t.name, t.function_oid, t.type, t.enabled,
                     False, 0, 0, 0, False, False, len(t.args), list(t.columns), args,
                     t.qual, t.old_table, t.new_table))
    return rows


def _events_text(trigger: Trigger, column_names: list[str]) -> str:
    from mirrordb.sql.functions import quote_ident
    words = []
    for event in ("INSERT", "DELETE", "UPDATE", "TRUNCATE"):
        if trigger.type & EVENT_BITS[event]:
            word = event
            if event == "UPDATE" and trigger.columns:
                word += " OF " + ", ".join(quote_ident(column_names[c - 1])
                                           for c in trigger.columns)
            words.append(word)
    return " OR ".join(words)


def trigger_definition(ctx: ExecContext, snapshot: Any, oid: int, pretty: bool) -> str | None:
    """pg_get_triggerdef(oid [, pretty])."""
    from mirrordb.sql.catalog_functions import ExpressionDeparser
    from mirrordb.sql.functions import quote_ident, quote_literal
    trigger = next((t for t in snapshot_triggers(snapshot) if t.oid == oid), None)
    if trigger is None:
        return None
    entry = snapshot.classes.get(trigger.relation_oid)
    if entry is None:
        return None
    column_names = [a.name for a in snapshot.attributes.get(trigger.relation_oid, [])
                    if not a.dropped]
    table = quote_ident(entry.name)
    if not pretty:
        table = f"{quote_ident(snapshot.namespace_name(entry.namespace_oid))}.{table}"
    referencing = ""
    if trigger.old_table is not None or trigger.new_table is not None:
        referencing = "REFERENCING " + "".join(
            f"{word} TABLE AS {quote_ident(name)} " for word, name in
            (("OLD", trigger.old_table), ("NEW", trigger.new_table)) if name is not None)
    text = (f"CREATE TRIGGER {quote_ident(trigger.name)} {trigger.timing} "
            f"{_events_text(trigger, column_names)} ON {table} {referencing}"
            f"FOR EACH {'ROW' if trigger.row else 'STATEMENT'} ")
    if trigger.qual is not None:
        deparser = ExpressionDeparser(ctx.session, snapshot, None, pretty)
        scope = Scope()
        for alias in ("old", "new"):
            scope.add(alias, [ScopeColumn(a.name, a.type_oid, a.typmod)
                              for a in snapshot.attributes.get(trigger.relation_oid, [])
                              if not a.dropped])
        deparser.compiler = ExpressionCompiler(deparser.builder, scope)
        condition = deparser.deparse(json.loads(trigger.qual))
        text += f"WHEN ({condition}) " if pretty else f"WHEN (({condition})) " \
            if not condition.startswith("(") else f"WHEN ({condition}) "
    function = _function_name(ctx, trigger.function_oid)
    arguments = ", ".join(quote_literal(a) for a in trigger.args)
    return text + f"EXECUTE FUNCTION {function}({arguments})"


def _function_name(ctx: ExecContext, function_oid: int) -> str:
    from mirrordb.sql import proc_catalog, schemas
    from mirrordb.sql.functions import quote_ident
    routine = proc_catalog.routine_by_oid(ctx.session, function_oid)
    if routine is None:
        return str(function_oid)
    name = quote_ident(routine.name)
    if routine.namespace_oid not in schemas.search_path_oids(ctx.session):
        name = f"{quote_ident(schemas.namespace_name(ctx.session, routine.namespace_oid))}.{name}"
    return name


def has_instead_of(session: Any, relation: Relation, event: str) -> bool:
    """Whether a view has an enabled INSTEAD OF ``event`` trigger (then DML on it runs)."""
    return any(t.type & TYPE_INSTEAD and t.type & EVENT_BITS[event]
               and t.enabled in ENABLED_FIRING for t in of_relation(session, relation.oid))


# -- columns renamed and dropped ----------------------------------------------------------------


def column_renamed(session: Any, txn: Any, relation: Relation, old: str, new: str) -> None:
    """ALTER TABLE RENAME COLUMN: WHEN conditions name the column anew (tgattr keeps its
    number)."""
    from mirrordb.sql import constraints
    for trigger in of_relation(session, relation.oid):
        if trigger.qual is None:
            continue
        tree = json.loads(trigger.qual)
        if constraints.rename_references(tree, old, new):
            changed = to_values(replace(trigger, qual=json.dumps(tree)))
            txn._update_catalog_rows(boot.PG_TRIGGER, lambda v, oid=trigger.oid: v[0] == oid,
                                     lambda v, changed=changed: changed)
    txn.transaction.command_counter_increment()


def _uses_column(trigger: Trigger, number: int, name: str) -> bool:
    if number in trigger.columns:
        return True
    return trigger.qual is not None and any(
        names[-1] == name for names, _ in _column_refs(json.loads(trigger.qual)))


def column_dropped(session: Any, txn: Any, relation: Relation, name: str, cascade: bool
                   ) -> list[Any]:
    """ALTER TABLE DROP COLUMN: a trigger whose UPDATE OF or WHEN uses the column depends on
    it (2BP01; CASCADE drops the trigger, with its notice); the others' tgattr numbers close
    the gap."""
    number = relation.column_index(name) + 1
    triggers = of_relation(session, relation.oid)
    users = [t for t in triggers if _uses_column(t, number, name)]
    if users and not cascade:
        raise MirrordbError(f"cannot drop column {name} of table {relation.name} because other "
                            "objects depend on it", sqlstate="2BP01",
                            detail="\n".join(f"trigger {t.name} on table {relation.name} depends "
                                             f"on column {name} of table {relation.name}"
                                             for t in users),
                            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    doomed = {t.oid for t in users}
    txn._delete_catalog_rows(boot.PG_TRIGGER, lambda v: v[0] in doomed)
    for trigger in triggers:
        if trigger.oid in doomed or not any(c > number for c in trigger.columns):
            continue
        moved = tuple(c - 1 if c > number else c for c in trigger.columns)
        changed = to_values(replace(trigger, columns=moved))
        txn._update_catalog_rows(boot.PG_TRIGGER, lambda v, oid=trigger.oid: v[0] == oid,
                                 lambda v, changed=changed: changed)
    txn.transaction.command_counter_increment()
    notices = [("NOTICE", f"drop cascades to trigger {t.name} on table {relation.name}")
               for t in users]
    if len(notices) > 1:
        notices = [("NOTICE", f"drop cascades to {len(notices)} other objects",
                    "\n".join(n[1] for n in notices))]
    return notices
