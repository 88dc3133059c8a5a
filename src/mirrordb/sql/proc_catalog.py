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
prosqlbody the JSON list of a SQL-standard body's statements (RETURN is stored as its
ReturnStmt; NULL for a string body, which is prosrc).
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
        None if routine.sql_body is None else json.dumps(routine.sql_body),
        routine.variadic_type, routine.acl]


def from_values(values: tuple[Any, ...] | list[Any]) -> Routine:
    (oid, name, namespace_oid, owner_oid, language_oid, kind, security_definer, strict,
     returns_set, volatility, _nargs, _ndefaults, result_type, arg_types, all_types, modes,
     names, defaults, source, sql_body, _variadic, acl) = values
    types = [int(t) for t in str(all_types if all_types is not None else arg_types).split()]
    letters = str(modes) if modes is not None else "i" * len(types)
    parameter_names = json.loads(names) if names is not None else [""] * len(types)
    parameters = tuple(Parameter(n, t, m) for n, t, m in zip(parameter_names, types, letters))
    return Routine(int(oid), str(name), int(namespace_oid), int(owner_oid), str(kind),
                   bool(security_definer), bool(strict), bool(returns_set), str(volatility),
                   int(result_type), parameters,
                   tuple(json.loads(defaults)) if defaults is not None else (),
                   str(source), json.loads(sql_body) if sql_body is not None else None,
                   None if acl is None else str(acl), int(language_oid))


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
            None if routine.sql_body is None else json.dumps(routine.sql_body), None,
            None if routine.acl is None else T.parse_text(T.TEXT_ARRAY_OID, routine.acl))


# -- printing: pg_get_function_arguments and friends -----------------------------------------


def _parameter_text(parameter: Parameter, default: str | None) -> str:
    text = MODE_WORDS.get(parameter.mode, "")
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
        parts.append(_parameter_text(parameter, default))
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


def dollar_quote(text: str) -> str:
    """prosrc in pg_get_functiondef's quoting: $function$, or a longer tag if the body holds
    it."""
    tag = "$function$"
    while tag in text:
        tag = tag[:-1] + "x$"
    return f"{tag}{text}{tag}"


def function_definition(routine: Routine, schema: str, print_default: Any,
                        print_body: Any) -> str:
    """pg_get_functiondef: the CREATE OR REPLACE statement that makes ``routine``."""
    word = "PROCEDURE" if routine.kind == PROKIND_PROCEDURE else "FUNCTION"
    lines = [f"CREATE OR REPLACE {word} {_quote(schema)}.{_quote(routine.name)}"
             f"({arguments_text(routine, print_default)})"]
    result = result_text(routine)
    if result is not None:
        lines.append(f" RETURNS {result}")
    lines.append(" LANGUAGE sql")
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
    if routine.sql_body is None:
        lines.append(f"AS {dollar_quote(routine.source)}")
    else:
        lines.append(print_body(routine))
    return "\n".join(lines) + "\n"
