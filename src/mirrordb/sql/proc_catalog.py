"""pg_proc rows of user-defined functions and procedures, and the functions that print them.

Who calls it: sql/user_functions.py writes rows (CREATE/DROP/ALTER FUNCTION and PROCEDURE)
and reads them to resolve calls (``routines``); sysviews.py (through object_catalogs.py)
shows them as PostgreSQL's pg_proc (``pg_proc_rows``); catalog_functions.py defines
pg_get_function_arguments/identity_arguments/result, pg_get_functiondef and
pg_function_is_visible with the printers here (psql's ``\\df`` and ``\\sf``, pg_dump).

Built-in functions are the type system's code (sql/functions.py), not rows; pg_proc holds the
user's only, as ordinary WAL-logged heap rows (catalog/bootstrap.py's PG_PROC), so a standby
has the primary's functions.

The stored row is PostgreSQL's pg_proc with mirrordb's text forms for list-valued columns
(bootstrap.py's comment): proargtypes (the input parameters' types) and proallargtypes
(every parameter's, NULL when all are IN) as space-separated OIDs, proargmodes one letter per
parameter (i IN, o OUT, b INOUT, v VARIADIC, t TABLE; NULL when all are IN), proargnames a
JSON list ("" for an unnamed parameter; NULL when none is named), proargdefaults the JSON
list of the raw parse trees of the last pronargdefaults input parameters' DEFAULTs,
prosqlbody a SQL-standard body: JSON ``{"statements": [parse trees], "texts": [SQL]}``
(RETURN is stored as its ReturnStmt; the texts are what pg_get_functiondef prints for BEGIN
ATOMIC; NULL for a string body, which is prosrc).
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass, replace
from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.sql import types as T
from mirrordb.sql.parser import Node

LANGUAGE_SQL_OID = 14
PLPGSQL_LANGUAGE_OID = 13563          # sql/plpgsql.py's
PROKIND_FUNCTION = "f"
PROKIND_PROCEDURE = "p"
INPUT_MODES = frozenset("ibv")
OUTPUT_MODES = frozenset("obt")
DEFAULT_COST = 100.0
DEFAULT_SET_ROWS = 1000.0
MODE_WORDS = {"o": "OUT ", "b": "INOUT ", "v": "VARIADIC ", "i": ""}
VOLATILITY_WORDS = {"i": "IMMUTABLE", "s": "STABLE", "v": ""}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its name ("" when unnamed), type and mode letter."""

    name: str
    type_oid: int
    mode: str


@dataclass(frozen=True)
class Routine:
    """A user-defined function or procedure: one pg_proc row."""

    oid: int
    name: str
    namespace_oid: int
    owner_oid: int
    kind: str
    security_definer: bool
    strict: bool
    returns_set: bool
    volatility: str
    result_type: int
    parameters: tuple[Parameter, ...]
    defaults: tuple[Node, ...]
    source: str
    sql_body: list[Node] | None
    acl: str | None = None
    language_oid: int = LANGUAGE_SQL_OID
    body_texts: tuple[str, ...] = ()       # a BEGIN ATOMIC body's statements as SQL text
    config: tuple[str, ...] = ()           # proconfig: SET clauses as "name=value"

    @property
    def inputs(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.mode in INPUT_MODES)

    @property
    def outputs(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.mode in OUTPUT_MODES)

    @property
    def arg_types(self) -> tuple[int, ...]:
        return tuple(p.type_oid for p in self.inputs)

    @property
    def variadic_type(self) -> int:
        """provariadic: the element type of a VARIADIC parameter, else 0."""
        last = self.inputs[-1] if self.inputs else None
        if last is None or last.mode != "v":
            return 0
        return T.TYPES[last.type_oid].element_oid if last.type_oid in T.TYPES else 0

    @property
    def table_function(self) -> bool:
        return any(p.mode == "t" for p in self.parameters)

    def renamed(self, name: str) -> Routine:
        return replace(self, name=name)


# -- the heap row ---------------------------------------------------------------------------------


def _all_input(parameters: tuple[Parameter, ...]) -> bool:
    return all(p.mode == "i" for p in parameters)


def to_values(routine: Routine) -> list[Any]:
    """The stored pg_proc row (bootstrap.PG_PROC's columns)."""
    parameters = routine.parameters
    all_input = _all_input(parameters)
    named = any(p.name for p in parameters)
    return [
        routine.oid, routine.name, routine.namespace_oid, routine.owner_oid,
        routine.language_oid, routine.kind, routine.security_definer, routine.strict,
        routine.returns_set, routine.volatility, len(routine.inputs), len(routine.defaults),
        routine.result_type, " ".join(str(t) for t in routine.arg_types),
        None if all_input else " ".join(str(p.type_oid) for p in parameters),
        None if all_input else "".join(p.mode for p in parameters),
        json.dumps([p.name for p in parameters]) if named else None,
        json.dumps(list(routine.defaults)) if routine.defaults else None,
        routine.source,
        None if routine.sql_body is None else json.dumps(
            {"statements": routine.sql_body, "texts": list(routine.body_texts)}),
        routine.variadic_type, routine.acl,
        json.dumps(list(routine.config)) if routine.config else None]


def from_values(values: tuple[Any, ...] | list[Any]) -> Routine:
    (oid, name, namespace_oid, owner_oid, language_oid, kind, security_definer, strict,
     returns_set, volatility, _nargs, _ndefaults, result_type, arg_types, all_types, modes,
     names, defaults, source, sql_body, _variadic, acl, config) = values
    types = [int(t) for t in str(all_types if all_types is not None else arg_types).split()]
    letters = str(modes) if modes is not None else "i" * len(types)
    parameter_names = json.loads(names) if names is not None else [""] * len(types)
    parameters = tuple(Parameter(n, t, m) for n, t, m in zip(parameter_names, types, letters))
    body = json.loads(sql_body) if sql_body is not None else None
    return Routine(int(oid), str(name), int(namespace_oid), int(owner_oid), str(kind),
                   bool(security_definer), bool(strict), bool(returns_set), str(volatility),
                   int(result_type), parameters,
                   tuple(json.loads(defaults)) if defaults is not None else (),
                   str(source), None if body is None else body["statements"],
                   None if acl is None else str(acl), int(language_oid),
                   () if body is None else tuple(body["texts"]),
                   tuple(json.loads(config)) if config is not None else ())


# -- reading them ---------------------------------------------------------------------------------

_cache: weakref.WeakKeyDictionary[Any, tuple[int, tuple[Routine, ...]]] = \
    weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _read(engine: Any, transaction: Any) -> tuple[Routine, ...]:
    return tuple(from_values(values)
                 for _, values in engine.relcache.rows(boot.PG_PROC, transaction))


def routines(session: Any) -> tuple[Routine, ...]:
    """Every user function and procedure of the session's database, as its statement sees
    them (cached per relation-cache generation; a transaction that changed catalogs reads its
    own changes)."""
    txn = getattr(session, "txn", None)
    transaction = None if txn is None else txn.transaction
    if transaction is not None and transaction.touched_catalogs:
        return _read(session.engine, transaction)
    relcache = session.engine.relcache
    generation = relcache.generation
    with _cache_lock:
        cached = _cache.get(relcache)
    if cached is not None and cached[0] == generation:
        return cached[1]
    found = _read(session.engine, None)
    with _cache_lock:
        _cache[relcache] = (generation, found)
    return found


def routine_by_oid(session: Any, oid: int) -> Routine | None:
    return next((r for r in routines(session) if r.oid == oid), None)


# -- pg_proc as clients see it -------------------------------------------------------------------


def pg_proc_row(routine: Routine) -> tuple[Any, ...]:
    """PostgreSQL 15's pg_proc columns (object_catalogs.py lists them) for one routine."""
    parameters = routine.parameters
    all_input = _all_input(parameters)
    named = any(p.name for p in parameters)
    return (routine.oid, routine.name, routine.namespace_oid, routine.owner_oid,
            routine.language_oid, DEFAULT_COST,
            DEFAULT_SET_ROWS if routine.returns_set else 0.0, routine.variadic_type, 0,
            routine.kind, routine.security_definer, False, routine.strict, routine.returns_set,
            routine.volatility, "u", len(routine.inputs), len(routine.defaults),
            routine.result_type, list(routine.arg_types),
            None if all_input else [p.type_oid for p in parameters],
            None if all_input else [p.mode for p in parameters],
            [p.name for p in parameters] if named else None,
            json.dumps(list(routine.defaults)) if routine.defaults else None, None,
            routine.source, None,
            None if routine.sql_body is None else json.dumps(routine.sql_body),
            list(routine.config) if routine.config else None,
            None if routine.acl is None else T.parse_text(T.TEXT_ARRAY_OID, routine.acl))


# -- printing: pg_get_function_arguments and friends -----------------------------------------


def _parameter_text(parameter: Parameter, default: str | None, procedure: bool) -> str:
    text = "IN " if procedure and parameter.mode == "i" else MODE_WORDS.get(parameter.mode, "")
    if parameter.name:
        text += _quote(parameter.name) + " "
    text += T.format_type(parameter.type_oid)
    if default is not None:
        text += " DEFAULT " + default
    return text


def _quote(name: str) -> str:
    from mirrordb.sql.functions import quote_ident
    return quote_ident(name)


def arguments_text(routine: Routine, print_default: Any = None, identity: bool = False) -> str:
    """pg_get_function_arguments (``print_default(node)`` prints a DEFAULT) or, with
    ``identity``, pg_get_function_identity_arguments: every parameter but TABLE columns."""
    first_default = len(routine.inputs) - len(routine.defaults)
    parts = []
    input_index = 0
    for parameter in routine.parameters:
        if parameter.mode == "t":
            continue
        default = None
        if parameter.mode in INPUT_MODES:
            if not identity and print_default is not None and input_index >= first_default:
                default = print_default(routine.defaults[input_index - first_default])
            input_index += 1
        parts.append(_parameter_text(parameter, default, routine.kind == PROKIND_PROCEDURE))
    return ", ".join(parts)


def result_text(routine: Routine) -> str | None:
    """pg_get_function_result: NULL for a procedure, TABLE(...) or [SETOF ]type."""
    if routine.kind == PROKIND_PROCEDURE:
        return None
    if routine.table_function:
        columns = ", ".join(f"{_quote(p.name)} {T.format_type(p.type_oid)}"
                            for p in routine.parameters if p.mode == "t")
        return f"TABLE({columns})"
    prefix = "SETOF " if routine.returns_set else ""
    return prefix + T.format_type(routine.result_type)


def config_items(routine: Routine) -> list[tuple[str, str]]:
    """proconfig as pg_get_functiondef prints it: (name, quoted value), a list setting's
    (search_path's) elements quoted one by one."""
    from mirrordb.settings import GucFlag, find_setting
    from mirrordb.sql.functions import quote_literal
    items = []
    for item in routine.config:
        name, _, value = item.partition("=")
        setting = find_setting(name)
        if setting is not None and GucFlag.LIST_QUOTE in setting.flags:
            shown = ", ".join(quote_literal(part.strip().strip('"')) for part in value.split(","))
        else:
            shown = quote_literal(value)
        items.append((name, shown))
    return items


def dollar_quote(text: str, word: str = "function") -> str:
    """prosrc in pg_get_functiondef's quoting: $function$ ($procedure$), or a longer tag if
    the body holds it."""
    tag = f"${word}"
    while tag in text:
        tag += "x"
    return f"{tag}${text}{tag}$"


def function_definition(routine: Routine, schema: str, print_default: Any,
                        print_body: Any) -> str:
    """pg_get_functiondef: the CREATE OR REPLACE statement that makes ``routine``."""
    word = "PROCEDURE" if routine.kind == PROKIND_PROCEDURE else "FUNCTION"
    lines = [f"CREATE OR REPLACE {word} {_quote(schema)}.{_quote(routine.name)}"
             f"({arguments_text(routine, print_default)})"]
    result = result_text(routine)
    if result is not None:
        lines.append(f" RETURNS {result}")
    lines.append(" LANGUAGE plpgsql" if routine.language_oid == PLPGSQL_LANGUAGE_OID
                 else " LANGUAGE sql")
    options = []
    volatility = VOLATILITY_WORDS.get(routine.volatility, "")
    if volatility:
        options.append(volatility)
    if routine.strict:
        options.append("STRICT")
    if routine.security_definer:
        options.append("SECURITY DEFINER")
    if options:
        lines.append(" " + " ".join(options))
    lines += [f" SET {name} TO {value}" for name, value in config_items(routine)]
    if routine.sql_body is None:
        lines.append(f"AS {dollar_quote(routine.source, word.lower())}")
    else:
        lines.append(print_body(routine))
    return "\n".join(lines) + "\n"


# -- the catalog functions (catalog_functions.py registers them) ---------------------------------


def _routine_of(ctx: Any, oid: int) -> Routine | None:
    from mirrordb.sql.catalog_functions import CatalogSnapshot
    snapshot = CatalogSnapshot.of(ctx)
    key = "proc_catalog:routines"
    found = snapshot.view_rows.get(key)
    if found is None:
        columns = [column.name for column in boot.PG_PROC.columns]
        found = {routine.oid: routine for routine in
                 (from_values([record[c] for c in columns])
                  for record in snapshot._read(boot.PG_PROC))}
        snapshot.view_rows[key] = found
    return found.get(oid)  # type: ignore[no-any-return]


def _default_printer(ctx: Any, routine: Routine) -> Any:
    from mirrordb.sql.catalog_functions import CatalogSnapshot, ExpressionDeparser
    deparser = ExpressionDeparser(ctx.session, CatalogSnapshot.of(ctx), None, False)
    inputs = routine.inputs[len(routine.inputs) - len(routine.defaults):]
    types = {id(node): parameter.type_oid for node, parameter in zip(routine.defaults, inputs)}
    return lambda node: deparser.deparse(node, types.get(id(node)))


def function_arguments(ctx: Any, oid: int) -> str | None:
    routine = _routine_of(ctx, oid)
    return None if routine is None else arguments_text(routine, _default_printer(ctx, routine))


def function_identity_arguments(ctx: Any, oid: int) -> str | None:
    routine = _routine_of(ctx, oid)
    return None if routine is None else arguments_text(routine, identity=True)


def function_result(ctx: Any, oid: int) -> str | None:
    routine = _routine_of(ctx, oid)
    return None if routine is None else result_text(routine)


def function_sqlbody(ctx: Any, oid: int) -> str | None:
    routine = _routine_of(ctx, oid)
    if routine is None or routine.sql_body is None:
        return None
    return _body_text(ctx, routine)


def _body_text(ctx: Any, routine: Routine) -> str:
    """A SQL-standard body as pg_get_functiondef prints it: ``RETURN expr`` or
    ``BEGIN ATOMIC`` and the statements (as pglast's deparser printed them at CREATE, not
    as PostgreSQL's ruleutils prints them)."""
    assert routine.sql_body is not None
    from mirrordb.sql.catalog_functions import CatalogSnapshot, ExpressionDeparser
    first = routine.sql_body[0] if routine.sql_body else {}
    if "ReturnStmt" in first:
        deparser = ExpressionDeparser(ctx.session, CatalogSnapshot.of(ctx), None, False)
        deparser.builder.param_types.extend(routine.arg_types)   # typed $n and names
        deparser.builder.function_parameters = routine  # type: ignore[attr-defined]
        value = first["ReturnStmt"]["returnval"]
        return f"RETURN {deparser.deparse(value, routine.result_type)}"
    return "\n".join(["BEGIN ATOMIC", *(f" {text};" for text in routine.body_texts), "END"])


def functiondef(ctx: Any, oid: int) -> str | None:
    routine = _routine_of(ctx, oid)
    if routine is None:
        return None
    from mirrordb.sql.catalog_functions import CatalogSnapshot
    schema = CatalogSnapshot.of(ctx).namespace_name(routine.namespace_oid)
    return function_definition(routine, schema, _default_printer(ctx, routine),
                               lambda r: _body_text(ctx, r))


def register(define: Any) -> None:
    """Add the pg_proc printing functions through catalog_functions' ``_define``."""
    oid_type = T.OID_OID
    define("pg_get_function_arguments", [oid_type], T.TEXT_OID, function_arguments)
    define("pg_get_function_identity_arguments", [oid_type], T.TEXT_OID,
           function_identity_arguments)
    define("pg_get_function_result", [oid_type], T.TEXT_OID, function_result)
    define("pg_get_function_sqlbody", [oid_type], T.TEXT_OID, function_sqlbody)
    define("pg_get_functiondef", [oid_type], T.TEXT_OID, functiondef)


# -- regproc / regprocedure -----------------------------------------------------------------------


def regproc_oid(session: Any, text: str) -> int:
    """regprocin / regprocedurein: ``name`` or ``name(type, ...)``, optionally
    schema-qualified; user routines first, then the built-in functions."""
    from mirrordb.common.errors import MirrordbError
    from mirrordb.sql import functions, schemas
    from mirrordb.sql.catalog_functions import parse_qualified_name
    name_text, _, arguments = text.partition("(")
    names = parse_qualified_name(name_text.strip())
    if names[:-1] and names[-2] in schemas.namespaces(session):
        path: tuple[int, ...] = (schemas.namespaces(session)[names[-2]].oid,)
    else:
        path = schemas.search_path_oids(session)
    found = [r for r in routines(session) if r.name == names[-1] and r.namespace_oid in path]
    if arguments:
        wanted = _argument_types(session, arguments.rstrip().removesuffix(")"))
        found = [r for r in found if r.arg_types == wanted]
    if len(found) == 1:
        return found[0].oid
    if len(found) > 1:
        raise MirrordbError(f'more than one function named "{name_text.strip()}"',
                            sqlstate="42725")
    oid = functions.function_oid_by_name(names[-1].lower())
    if oid is None:
        raise MirrordbError(f'function "{text}" does not exist', sqlstate="42883")
    return oid


def _argument_types(session: Any, text: str) -> tuple[int, ...]:
    from mirrordb.sql.parser import parse
    from mirrordb.sql.planner import PlanBuilder
    if not text.strip():
        return ()
    statement = parse(f"SELECT CAST(NULL AS {text.replace(',', ') , CAST(NULL AS ')})")[0]
    builder = PlanBuilder(session, [])
    return tuple(builder.resolve_type(target["ResTarget"]["val"]["TypeCast"]["typeName"])[0]
                 for target in statement.node["targetList"])


def regproc_name(session: Any, oid: int, type_oid: int) -> str | None:
    """regprocout / regprocedureout of a user routine (None: not one)."""
    from mirrordb.sql import schemas
    routine = routine_by_oid(session, oid)
    if routine is None:
        return None
    name = _quote(routine.name)
    if routine.namespace_oid not in schemas.search_path_oids(session):
        name = f"{_quote(schemas.namespace_name(session, routine.namespace_oid))}.{name}"
    if type_oid == T.REGPROCEDURE_OID:
        return f"{name}({','.join(T.format_type(t) for t in routine.arg_types)})"
    return name
