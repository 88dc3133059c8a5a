"""User-defined functions and procedures: definition, resolution and calls.

Who calls it: the session (CREATE FUNCTION/PROCEDURE, CALL, DROP FUNCTION/PROCEDURE/ROUTINE,
ALTER FUNCTION ... RENAME/OWNER/SET SCHEMA/options); roles.py (GRANT/REVOKE EXECUTE, DROP
ROLE's dependents); schemas.py (DROP SCHEMA's members); the planner, for a call in a select
list, in FROM or as ``(f(...)).field`` whose name a user routine has (``compile_call``,
``set_values``, ``rows_in_from``, ``record_field``). The rows are pg_proc's
(sql/proc_catalog.py reads, writes and prints them); a standby replays them like any
catalog row, so its functions are the primary's and run there (CREATE is refused by
read_only.py with 25006, as every DDL). LANGUAGE sql bodies run here; LANGUAGE plpgsql
ones in sql/plpgsql.py.

Resolution follows PostgreSQL's func_get_detail for the routines of that name in the
search path (or the named schema), together with the built-in functions of that name
(pg_catalog comes first, so a built-in of the same argument types wins): positional
arguments, then ``name => value`` ones bound to input parameter names, missing trailing
inputs taken from their DEFAULTs, extra arguments gathered into a VARIADIC array; the
candidate is then chosen by functions.select_candidate's rules, a polymorphic one
specialised to the actual types, and the caller's EXECUTE privilege checked.

Calls run the body's statements, each planned once per call site at its first call (so a
function may call itself) by a PlanBuilder whose parameters are the arguments: ``$n`` reads
ctx.params, and a parameter's name reads it too when no column has that name
(``parameter_reference``, as in PostgreSQL, where columns win). A VOLATILE function's
statements each see the earlier ones' changes (the command counter advances before each);
the last statement's rows are the result, converted to the declared type. Unlike
PostgreSQL, the calling statement then also sees those changes (mirrordb's visibility reads
one command id per transaction). A SECURITY DEFINER routine runs as its owner, one with SET
clauses with those settings (undone when it returns); nesting is bounded (54001).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import functions as funcs
from mirrordb.sql import proc_catalog as pc
from mirrordb.sql import schemas
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (ExecContext, Expr, ExpressionCompiler, Scope, coerce,
                                      error_at, feature_not_supported, format_arguments)
from mirrordb.sql import plpgsql
from mirrordb.sql.parser import Node, one, parse, strings
from mirrordb.sql.plpgsql import PLPGSQL_LANGUAGE_OID

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder

MAX_CALL_DEPTH = 200           # nested SQL function calls before 54001
ACL_EXECUTE = 1 << 7           # aclitem's X (roles.ACL_RIGHT_LETTERS)
_MODES = {"FUNC_PARAM_DEFAULT": "i", "FUNC_PARAM_IN": "i", "FUNC_PARAM_OUT": "o",
          "FUNC_PARAM_INOUT": "b", "FUNC_PARAM_VARIADIC": "v", "FUNC_PARAM_TABLE": "t"}
_VOLATILITY = {"immutable": "i", "stable": "s", "volatile": "v"}
_DML = ("InsertStmt", "UpdateStmt", "DeleteStmt")
_depth = threading.local()


def _definition_error(message: str, **fields: Any) -> MirrordbError:
    return MirrordbError(message, sqlstate="42P13", **fields)


# -- CREATE FUNCTION / PROCEDURE ------------------------------------------------------------------


@dataclass
class _Options:
    language: str | None = None
    volatility: str = "v"
    strict: bool = False
    security_definer: bool = False
    source: list[str] | None = None
    config: list[str] = field(default_factory=list)     # SET clauses: "name=value"


def _options(node: Node) -> _Options:
    options = _Options()
    for item in node.get("options", []):
        definition = item["DefElem"]
        name, argument = definition["defname"], definition.get("arg", {})
        if name == "language":
            options.language = argument["String"]["sval"]
        elif name == "volatility":
            options.volatility = _VOLATILITY[argument["String"]["sval"]]
        elif name == "strict":
            options.strict = bool(argument["Boolean"].get("boolval"))
        elif name == "security":
            options.security_definer = bool(argument["Boolean"].get("boolval"))
        elif name == "as":
            options.source = strings(argument["List"]["items"])
        elif name == "set":
            options.config.append(_set_clause(argument["VariableSetStmt"]))
        elif name not in ("leakproof", "cost", "rows", "parallel"):
            raise feature_not_supported(f"CREATE FUNCTION option {name.upper()}")
    return options


def _set_clause(node: Node) -> str:
    """``SET name = value[, ...]`` of CREATE FUNCTION as proconfig's "name=value" (FROM
    CURRENT and RESET are not kept)."""
    from mirrordb.settings import find_setting
    from mirrordb.sql.session import _setting_text
    if node.get("kind") != "VAR_SET_VALUE":
        raise feature_not_supported("SET ... FROM CURRENT in CREATE FUNCTION")
    name = str(node["name"]).lower()
    setting = find_setting(name)
    if setting is None and "." not in name:
        raise MirrordbError(f'unrecognized configuration parameter "{name}"',
                            sqlstate="42704")
    name = setting.name if setting is not None else name      # its own spelling: DateStyle
    return f"{name}={', '.join(_setting_text(a) for a in node.get('args', []))}"


def _parameters(builder: PlanBuilder, node: Node
                ) -> tuple[tuple[pc.Parameter, ...], tuple[Node, ...]]:
    """The declared parameters and the input parameters' DEFAULTs, with
    interpret_function_parameter_list's checks."""
    parameters: list[pc.Parameter] = []
    defaults: list[Node] = []
    for item in node.get("parameters", []):
        fields = item["FunctionParameter"]
        mode = _MODES[fields.get("mode", "FUNC_PARAM_DEFAULT")]
        type_oid, _ = builder.resolve_type(fields["argType"])
        name = fields.get("name", "")
        if parameters and parameters[-1].mode == "v" and mode in pc.INPUT_MODES:
            raise _definition_error("VARIADIC parameter must be the last input parameter")
        if mode == "v" and not T.is_array_type(type_oid):
            raise _definition_error("VARIADIC parameter must be an array")
        if name and any(prior.name == name and not _in_and_out(prior.mode, mode)
                        for prior in parameters):
            raise _definition_error(f'parameter name "{name}" used more than once')
        if "defexpr" in fields:
            if mode not in pc.INPUT_MODES:
                raise _definition_error("only input parameters can have default values")
            defaults.append(fields["defexpr"])
        elif defaults and mode in pc.INPUT_MODES:
            raise _definition_error("input parameters after one with a default value must "
                                    "also have defaults")
        parameters.append(pc.Parameter(name, type_oid, mode))
    return tuple(parameters), tuple(defaults)


def _in_and_out(first: str, second: str) -> bool:
    """An IN-only and an OUT-only parameter may share a name."""
    return {first, second} <= {"i", "v", "o", "t"} and \
        (first in "iv") != (second in "iv")


def _result_type(builder: PlanBuilder, node: Node, parameters: tuple[pc.Parameter, ...],
                 procedure: bool) -> tuple[int, bool]:
    """(prorettype, proretset): from RETURNS, which OUT parameters must agree with."""
    outputs = [p for p in parameters if p.mode in pc.OUTPUT_MODES]
    required = None
    if outputs:
        required = outputs[0].type_oid if len(outputs) == 1 else T.RECORD_OID
    if procedure:
        return (T.RECORD_OID if outputs else T.VOID_OID), False
    returns = node.get("returnType")
    if returns is None:
        if required is None:
            raise _definition_error("function result type must be specified")
        return required, False
    type_oid, _ = builder.resolve_type(returns)
    if any(p.mode == "t" for p in parameters):
        return T.RECORD_OID, True
    if required is not None and type_oid != required:
        raise _definition_error(f"function result type must be {T.format_type(required)} "
                                "because of OUT parameters")
    return type_oid, bool(returns.get("setof"))


def _language(options: _Options, node: Node) -> int:
    """prolang: sql, or plpgsql (sql/plpgsql.py)."""
    if node.get("sql_body") is not None:
        return pc.LANGUAGE_SQL_OID
    if options.language is None:
        raise _definition_error("no language specified")
    language = options.language.lower()
    if language == "sql":
        return pc.LANGUAGE_SQL_OID
    if language == "plpgsql":
        return PLPGSQL_LANGUAGE_OID
    if language in ("internal", "c"):
        raise feature_not_supported(f"LANGUAGE {language}")
    raise MirrordbError(f'language "{options.language}" does not exist', sqlstate="42704")


def _body(node: Node, options: _Options) -> tuple[str, list[Node] | None]:
    """(prosrc, prosqlbody): a string body as written, or the SQL-standard body's
    statements (a RETURN kept as its ReturnStmt)."""
    body = node.get("sql_body")
    if body is None:
        if options.source is None:
            raise _definition_error("no function body specified")
        return options.source[0], None
    if "ReturnStmt" in body:
        return "", [body]
    statements = body["List"]["items"][0]["List"].get("items", []) \
        if body["List"].get("items") else []
    return "", list(statements)


def _check_polymorphic_result(routine: pc.Routine) -> None:
    """A polymorphic result needs a polymorphic input to take its type from."""
    outputs = [routine.result_type] + [p.type_oid for p in routine.outputs]
    if any(t in T.POLYMORPHIC_OIDS for t in outputs) and \
            not any(p.type_oid in T.POLYMORPHIC_OIDS for p in routine.inputs):
        shown = T.format_type(next(t for t in outputs if t in T.POLYMORPHIC_OIDS))
        raise _definition_error(
            "cannot determine result data type",
            detail=f"A result of type {shown} requires at least one input of type "
                   "anyelement, anyarray, anynonarray, anyenum, anyrange, or anymultirange.")


def _body_texts(text: str) -> tuple[str, ...]:
    """A BEGIN ATOMIC body's statements printed back as SQL (pglast's deparser)."""
    import pglast
    from pglast.stream import RawStream
    statement = pglast.parse_sql(text)[0].stmt
    body = getattr(statement, "sql_body", None)
    if not body or not isinstance(body, tuple):
        return ()
    return tuple(RawStream()(item) for item in (body[0] or ()))


def create_routine(session: Any, txn: Any, node: Node, text: str) -> str:
    """CREATE [OR REPLACE] FUNCTION | PROCEDURE; the command tag."""
    from mirrordb.sql import roles
    from mirrordb.sql.planner import PlanBuilder
    procedure = bool(node.get("is_procedure"))
    names = strings(node["funcname"])
    name = names[-1]
    namespace_oid = schemas.creation_namespace(session, names[-2] if len(names) > 1 else None,
                                               name)
    builder = PlanBuilder(session, [])
    options = _options(node)
    language_oid = _language(options, node)
    parameters, defaults = _parameters(builder, node)
    result_type, returns_set = _result_type(builder, node, parameters, procedure)
    source, sql_body = _body(node, options)
    existing = _same_signature(session, namespace_oid, name,
                               tuple(p.type_oid for p in parameters if p.mode in pc.INPUT_MODES))
    routine = pc.Routine(
        existing.oid if existing is not None else txn.engine.allocate_oid(), name,
        namespace_oid, existing.owner_oid if existing is not None
        else roles.current_role_oid(session),
        pc.PROKIND_PROCEDURE if procedure else pc.PROKIND_FUNCTION, options.security_definer,
        options.strict, returns_set, options.volatility, result_type, parameters, defaults,
        source, sql_body, existing.acl if existing is not None else None, language_oid,
        body_texts=_body_texts(text) if sql_body and "ReturnStmt" not in sql_body[0] else (),
        config=tuple(options.config))
    _check_polymorphic_result(routine)
    if existing is not None:       # ProcedureCreate's checks come before the validator's
        if not node.get("replace"):
            raise MirrordbError(f'function "{name}" already exists with same argument types',
                                sqlstate="42723")
        _check_replacement(session, existing, routine)
    if language_oid == PLPGSQL_LANGUAGE_OID:
        plpgsql.check_syntax(text, _body_location(node))
    elif session.setting("check_function_bodies") in (True, "on") and \
            not _polymorphic(routine):     # planned for the actual types at each call
        try:
            _validate_body(session, routine)
        except MirrordbError as error:
            _transpose_position(error, node, text)
            raise
    if existing is not None:
        txn._delete_catalog_rows(_catalog(), lambda v: v[0] == existing.oid)
    txn._insert_catalog(_catalog(), pc.to_values(routine))
    txn.transaction.command_counter_increment()
    return "CREATE PROCEDURE" if procedure else "CREATE FUNCTION"


def _catalog() -> Any:
    from mirrordb.catalog import bootstrap as boot
    return boot.PG_PROC


def _same_signature(session: Any, namespace_oid: int, name: str, arg_types: tuple[int, ...]
                    ) -> pc.Routine | None:
    return next((r for r in pc.routines(session) if r.namespace_oid == namespace_oid
                 and r.name == name and r.arg_types == arg_types), None)


def _signature(routine: pc.Routine) -> str:
    return f"{routine.name}({', '.join(T.format_type(t) for t in routine.arg_types)})"


def _check_replacement(session: Any, old: pc.Routine, new: pc.Routine) -> None:
    """CREATE OR REPLACE's refusals (ProcedureCreate): kind, owner, result, input names."""
    check_owner(session, old)
    if old.kind != new.kind:
        word = "a procedure" if old.kind == pc.PROKIND_PROCEDURE else "a function"
        raise MirrordbError("cannot change routine kind", sqlstate="42809",
                            detail=f'"{old.name}" is {word}.')
    drop_hint = f"Use DROP {_word(old).upper()} {_signature(old)} first."
    if old.result_type != new.result_type or old.returns_set != new.returns_set:
        raise _definition_error("cannot change return type of existing function",
                                hint=drop_hint)
    if old.result_type == T.RECORD_OID and \
            [(p.name, p.type_oid) for p in old.outputs] != \
            [(p.name, p.type_oid) for p in new.outputs]:
        raise _definition_error("cannot change return type of existing function",
                                detail="Row type defined by OUT parameters is different.",
                                hint=drop_hint)
    for before, after in zip(old.inputs, new.inputs):
        if before.name and before.name != after.name:
            raise _definition_error(f'cannot change name of input parameter "{before.name}"',
                                    hint=drop_hint)
    if len(new.defaults) < len(old.defaults):
        raise _definition_error("cannot remove parameter defaults from existing function",
                                hint=drop_hint)


def _word(routine: pc.Routine) -> str:
    return "procedure" if routine.kind == pc.PROKIND_PROCEDURE else "function"


def check_owner(session: Any, routine: pc.Routine) -> None:
    from mirrordb.sql import roles
    if roles.is_superuser(session):
        return
    role = roles.current_role(session)
    if role is None or role.oid != routine.owner_oid:
        raise MirrordbError(f"must be owner of {_word(routine)} {routine.name}",
                            sqlstate="42501")


# -- validating and planning bodies ---------------------------------------------------------------


def _statements(routine: pc.Routine) -> list[Node]:
    """The body's statements as parse trees (a RETURN becomes SELECT expr)."""
    if routine.sql_body is not None:
        return [_return_as_select(s) if "ReturnStmt" in s else s for s in routine.sql_body]
    try:
        return [{statement.node_type: statement.node} for statement in parse(routine.source)]
    except MirrordbError as error:
        error.add_context(f'SQL function "{routine.name}"')
        raise


def _return_as_select(statement: Node) -> Node:
    value = statement["ReturnStmt"]["returnval"]
    return {"SelectStmt": {"targetList": [{"ResTarget": {"val": value}}],
                           "limitOption": "LIMIT_OPTION_DEFAULT", "op": "SETOP_NONE"}}


def _body_location(node: Node) -> int:
    """Where a string body starts in the CREATE statement (-1: not known)."""
    return next((item["DefElem"].get("arg_location", -1)
                 for item in node.get("options", []) if item["DefElem"]["defname"] == "as"),
                -1)


def _transpose_position(error: MirrordbError, node: Node, text: str) -> None:
    """An error at a position of a string body is reported at that place of the CREATE
    statement (PostgreSQL's function_parse_error_transpose)."""
    position = getattr(error, "position", None)
    location = _body_location(node)
    if position is None or location < 0 or location >= len(text):
        return
    if text[location] == "'":
        body_index, index = 0, location + 1
        while index < len(text) and body_index < position - 1:
            index += 2 if text[index] == "'" else 1
            body_index += 1
        error.position = index + 1  # type: ignore[attr-defined]
    elif text[location] == "$":
        tag_end = text.find("$", location + 1)
        if tag_end >= 0:
            error.position = tag_end + 1 + position  # type: ignore[attr-defined]


def _validate_body(session: Any, routine: pc.Routine) -> None:
    """check_function_bodies: plan every statement, and check what the last one returns
    against the declared result (check_sql_fn_retval)."""
    try:
        body = _Body(routine)
        body.plan(session)
        body.check_result()
    except MirrordbError as error:
        if error.context is None or "SQL function" not in error.context:
            error.add_context(f'SQL function "{routine.name}"')
        raise


class _Body:
    """A routine's statements, planned once (at its first call) for one call site."""

    def __init__(self, routine: pc.Routine) -> None:
        self.routine = routine
        self.plans: list[tuple[str, Any]] | None = None
        self.locks: tuple[Any, ...] = ()   # (relation tag, mode) the plans were made under

    def plan(self, session: Any) -> list[tuple[str, Any]]:
        """The statements' plans; made at the first call, whose relation locks each later
        call takes again (as a cached statement's plan does)."""
        if self.plans is not None:
            if self.locks and session.txn is not None:
                session.txn.lock_relations(self.locks)
            return self.plans
        outer = session._plan_locks
        session._plan_locks = []
        try:
            plans = self._make_plans(session)
            self.locks = tuple(dict.fromkeys(session._plan_locks))
        finally:
            if outer is not None:
                outer.extend(session._plan_locks)
            session._plan_locks = outer
        self.plans = plans
        return plans

    def _make_plans(self, session: Any) -> list[tuple[str, Any]]:
        from mirrordb.sql import dml
        from mirrordb.sql.planner import PlanBuilder
        plans = []
        for statement in _statements(self.routine):
            kind, node = one(statement)
            builder = PlanBuilder(session, list(self.routine.arg_types))
            builder.function_parameters = self.routine  # type: ignore[attr-defined]
            if kind == "SelectStmt" and not node.get("intoClause"):
                plans.append((kind, builder.plan_query(node)))
            elif kind in _DML:
                plans.append((kind, dml.plan_dml(builder, kind, node)))
            else:
                raise feature_not_supported(f"{kind.removesuffix('Stmt')} in a SQL function")
        return plans

    def result_columns(self) -> list[Any] | None:
        assert self.plans is not None
        if not self.plans:
            return None
        kind, plan = self.plans[-1]
        return plan.columns

    def check_result(self) -> None:
        routine = self.routine
        if routine.result_type == T.VOID_OID:
            return
        declared = T.format_type(routine.result_type)
        columns = self.result_columns()
        if columns is None:
            raise _definition_error(
                f"return type mismatch in function declared to return {declared}",
                detail="Function's final statement must be SELECT or INSERT/UPDATE/DELETE "
                       "RETURNING.")
        wanted = [p.type_oid for p in routine.outputs] if routine.result_type == T.RECORD_OID \
            else [routine.result_type]
        if routine.result_type == T.RECORD_OID and not routine.outputs:
            return
        if len(columns) != len(wanted):
            detail = ("Final statement must return exactly one column." if len(wanted) == 1
                      else "Final statement returns too many columns." if len(columns) > len(wanted)
                      else "Final statement returns too few columns.")
            raise _definition_error(
                f"return type mismatch in function declared to return {declared}", detail=detail)
        for column, type_oid in zip(columns, wanted):
            if not _assignable(column.type_oid, type_oid):
                actual = T.format_type(column.type_oid)
                if len(wanted) == 1:
                    detail = f"Actual return type is {actual}."
                else:
                    detail = (f"Final statement returns {actual} instead of "
                              f"{T.format_type(type_oid)} at column "
                              f"{columns.index(column) + 1}.")
                raise _definition_error(
                    f"return type mismatch in function declared to return {declared}",
                    detail=detail)

    def run(self, ctx: ExecContext, values: list[Any]) -> list[tuple[Any, ...]]:
        """Run the statements with ``values`` as the parameters: the last one's rows."""
        try:
            plans = self.plan(ctx.session)
        except MirrordbError as error:
            error.add_context(f'SQL function "{self.routine.name}" during startup')
            raise
        inner = ExecContext(ctx.txn, values, ctx.session, ctx.function_context,
                            ctx.check_interrupts)
        rows: list[tuple[Any, ...]] = []
        for number, (kind, plan) in enumerate(plans, start=1):
            try:
                rows = self._run_statement(ctx, inner, kind, plan)
            except MirrordbError as error:
                error.add_context(f'SQL function "{self.routine.name}" statement {number}')
                raise
        return rows

    def _run_statement(self, ctx: ExecContext, inner: ExecContext, kind: str, plan: Any
                       ) -> list[tuple[Any, ...]]:
        transaction = ctx.txn.transaction
        if self.routine.volatility == "v":
            transaction.command_counter_increment()
        if kind == "SelectStmt":
            return list(plan.node.rows(inner))
        if transaction.read_only:
            raise MirrordbError(f"cannot execute {plan.command} in a read-only transaction",
                                sqlstate="25006")
        produced, _ = plan.run(inner)
        return list(produced) if plan.columns else []


def _assignable(source: int, target: int) -> bool:
    if source == target or source == T.UNKNOWN_OID:
        return True
    return T.cast_context(source, target) in ("implicit", "assignment")


def parameter_reference(builder: Any, names: list[str], location: int) -> Expr | None:
    """A column reference that names a parameter of the SQL function whose body is being
    planned (``a`` or ``f.a``), after no column matched; None otherwise."""
    while builder is not None and getattr(builder, "function_parameters", None) is None:
        builder = builder.parent
    if builder is None:
        return None
    routine = builder.function_parameters
    if not isinstance(routine, pc.Routine):      # a PL/pgSQL function's variables
        return routine.reference(names, location)  # type: ignore[no-any-return]
    if len(names) == 2 and names[0] != routine.name or len(names) > 2:
        return None
    for index, parameter in enumerate(routine.inputs):
        if parameter.name and parameter.name == names[-1]:
            position = index

            def run(row: Any, ctx: ExecContext) -> Any:
                return ctx.params[position]
            return Expr(parameter.type_oid, run, name=parameter.name, param=index + 1,
                        location=location)
    return None


# -- resolving calls ------------------------------------------------------------------------------


@dataclass
class _Binding:
    routine: pc.Routine
    declared: tuple[int, ...]          # the declared type each supplied argument goes to
    slots: list[int]                   # input parameter index of each supplied argument
    variadic_from: int | None          # supplied arguments from here on form the array


def _named(session: Any, name: str, schema: str | None) -> list[pc.Routine]:
    if schema is not None:
        entry = schemas.namespaces(session).get(schema)
        if entry is None:
            raise schemas.schema_missing(schema)
        path: tuple[int, ...] = (entry.oid,)
    else:
        path = schemas.search_path_oids(session)
    found = [r for r in pc.routines(session) if r.name == name and r.namespace_oid in path]
    # a routine of an earlier schema hides one of the same input types in a later schema
    found.sort(key=lambda r: path.index(r.namespace_oid))
    kept: dict[tuple[int, ...], pc.Routine] = {}
    for routine in found:
        kept.setdefault(routine.arg_types, routine)
    return list(kept.values())


def has_routine(session: Any, name: str) -> bool:
    """Whether some user routine is called ``name`` (the planner's cheap first test). A
    stored index expression is compiled without a session's catalogs (index_expressions.py):
    it calls built-in functions only."""
    if getattr(session, "engine", None) is None:
        return False
    return any(r.name == name for r in pc.routines(session))


def _bind(routine: pc.Routine, args: list[Expr], expand_variadic: bool
          ) -> _Binding | None:
    inputs = routine.inputs
    positional = [a for a in args if a.argument_name is None]
    named = [a for a in args if a.argument_name is not None]
    variadic = bool(inputs) and inputs[-1].mode == "v" and expand_variadic
    slots: list[int] = list(range(len(positional)))
    declared = [p.type_oid for p in inputs[:len(positional)]]
    variadic_from = None
    if len(positional) > len(inputs) or (variadic and len(positional) >= len(inputs)
                                         and not named):
        if not variadic or named:
            return None
        element = routine.variadic_type
        variadic_from = len(inputs) - 1
        slots = slots[:variadic_from] + [variadic_from] * (len(positional) - variadic_from)
        declared = declared[:variadic_from] + [element] * (len(positional) - variadic_from)
    for argument in named:
        index = next((i for i, p in enumerate(inputs) if p.name == argument.argument_name),
                     None)
        if index is None or index in slots:
            return None
        slots.append(index)
        declared.append(inputs[index].type_oid)
    first_default = len(inputs) - len(routine.defaults)
    if any(i not in slots and i < first_default for i in range(len(inputs))):
        return None
    return _Binding(routine, tuple(declared), slots, variadic_from)


def resolve(session: Any, names: list[str], args: list[Expr], location: int,
            variadic_call: bool = False) -> _Binding | None:
    """The routine a call runs, or None when no user routine has the name; 42883 when
    routines have it but none accepts these arguments, 42725 when several do equally."""
    name, schema = names[-1], (names[-2] if len(names) > 1 else None)
    routines = _named(session, name, schema)
    if not routines:
        return None
    candidates = []
    for routine in routines:
        for expand in ((False,) if variadic_call else (True, False)):
            binding = _bind(routine, args, expand)
            if binding is not None and (binding.variadic_from is not None or not expand
                                        or routine.variadic_type == 0):
                candidates.append(funcs.Candidate(binding.declared, binding))
                break
    arg_types = [a.type_oid for a in args]
    if schema in (None, "pg_catalog") and not any(a.argument_name for a in args):
        # pg_catalog comes first in the path: a built-in of the same argument types hides a
        # user function, and the others compete with them
        builtins = funcs.candidates_for(name, arg_types)
        hidden = {candidate.arg_types for candidate in builtins}
        candidates = [c for c in candidates if c.arg_types not in hidden] + builtins
    try:
        chosen = funcs.select_candidate(arg_types, candidates)
        if not isinstance(chosen.payload, _Binding):
            return None                      # a built-in function wins
    except funcs.NoCandidate:
        if funcs.function_exists(name) and schema is None:
            return None
        raise error_at(f"function {'.'.join(names)}({format_arguments(args)}) does not exist",
                       "42883", location, hint="No function matches the given name and "
                       "argument types. You might need to add explicit type casts.") from None
    except funcs.AmbiguousCandidates:
        raise error_at(f"function {'.'.join(names)}({format_arguments(args)}) is not unique",
                       "42725", location, hint="Could not choose a best candidate function. "
                       "You might need to add explicit type casts.") from None
    binding: _Binding = chosen.payload
    check_execute(session, binding.routine)
    return _specialise(binding, arg_types)


def _polymorphic(routine: pc.Routine) -> bool:
    return any(t in T.POLYMORPHIC_OIDS
               for t in (routine.result_type, *(p.type_oid for p in routine.parameters)))


def _specialise(binding: _Binding, arg_types: list[int]) -> _Binding:
    """A call of a polymorphic routine: the routine with the actual types in place of
    anyelement and its kin (its body is planned for them), as PostgreSQL resolves them."""
    routine = binding.routine
    if not _polymorphic(routine):
        return binding
    declared = binding.declared
    arguments, result = funcs.concrete_types(arg_types, declared, routine.result_type)
    concrete: dict[int, int] = {}
    for slot, type_oid in zip(binding.slots, arguments):
        concrete[slot] = T.array_type_of(type_oid) if slot == binding.variadic_from \
            else type_oid
    inputs = iter(range(len(routine.inputs)))
    parameters = []
    for parameter in routine.parameters:
        type_oid = parameter.type_oid
        if parameter.mode in pc.INPUT_MODES:
            type_oid = concrete.get(next(inputs), type_oid)
        if type_oid in T.POLYMORPHIC_OIDS:
            type_oid = funcs.concrete_types(arg_types, declared, type_oid)[1]
        parameters.append(replace(parameter, type_oid=type_oid))
    specialised = replace(routine, parameters=tuple(parameters), result_type=result)
    return _Binding(specialised, arguments, binding.slots, binding.variadic_from)


def _bound_arguments(builder: PlanBuilder, binding: _Binding, args: list[Expr]) -> list[Expr]:
    """One expression per input parameter: the supplied arguments cast to their types, the
    gathered VARIADIC array, the DEFAULTs of the others."""
    routine = binding.routine
    inputs = routine.inputs
    supplied: dict[int, list[Expr]] = {}
    for argument, slot, type_oid in zip(args, binding.slots, binding.declared):
        supplied.setdefault(slot, []).append(coerce(builder, argument, type_oid))
    first_default = len(inputs) - len(routine.defaults)
    result = []
    for index, parameter in enumerate(inputs):
        if index == binding.variadic_from:
            fns = [e.fn for e in supplied[index]]
            result.append(Expr(parameter.type_oid,
                               lambda row, ctx, fns=fns: [fn(row, ctx) for fn in fns]))
        elif index in supplied:
            result.append(supplied[index][0])
        else:
            compiler = ExpressionCompiler(builder, Scope())
            default = compiler.compile(routine.defaults[index - first_default])
            result.append(coerce(builder, default, parameter.type_oid, context="assignment"))
    return result


def _wrong_kind(binding: _Binding, args: list[Expr], location: int, procedure: bool
                ) -> None:
    routine = binding.routine
    signature = f"{routine.name}({format_arguments(args)})"
    if procedure and routine.kind != pc.PROKIND_PROCEDURE:
        raise error_at(f"{signature} is not a procedure", "42809", location,
                       hint="To call a function, use SELECT.")
    if not procedure and routine.kind == pc.PROKIND_PROCEDURE:
        raise error_at(f"{signature} is a procedure", "42809", location,
                       hint="To call a procedure, use CALL.")


# -- calls ----------------------------------------------------------------------------------------


def _stack_depth_exceeded() -> MirrordbError:
    return MirrordbError("stack depth limit exceeded", sqlstate="54001",
                         hint='Increase the configuration parameter "max_stack_depth" '
                              "(currently 2048kB), after ensuring the platform's stack depth "
                              "limit is adequate.")


@contextlib.contextmanager
def _call_depth() -> Iterator[None]:
    """One more level of nested routine calls: 54001 beyond ``MAX_CALL_DEPTH``, or when
    Python's own stack runs out first (a PL/pgSQL level takes many frames)."""
    depth = getattr(_depth, "value", 0)
    if depth >= MAX_CALL_DEPTH:
        raise _stack_depth_exceeded()
    _depth.value = depth + 1
    try:
        yield
    except RecursionError:
        raise _stack_depth_exceeded() from None
    finally:
        _depth.value = depth


_PLPGSQL_TEXTS: dict[tuple[int, str, tuple[int, ...], int], str] = {}
MAX_CACHED_PLPGSQL_TEXTS = 256


def plpgsql_text(routine: pc.Routine) -> str:
    """The CREATE statement pglast's PL/pgSQL parser reads a plpgsql routine from (it needs the
    parameters and the result as well as the body)."""
    key = (routine.oid, routine.source, tuple(p.type_oid for p in routine.parameters),
           routine.result_type)            # a polymorphic routine's types vary per call
    text = _PLPGSQL_TEXTS.get(key)
    if text is None:
        word = "PROCEDURE" if routine.kind == pc.PROKIND_PROCEDURE else "FUNCTION"
        result = pc.result_text(routine)
        returns = f" RETURNS {result}" if result is not None else ""
        text = (f"CREATE {word} {pc._quote(routine.name)}({pc.arguments_text(routine)})"
                f"{returns} LANGUAGE plpgsql AS {pc.dollar_quote(routine.source, 'body')}")
        if len(_PLPGSQL_TEXTS) >= MAX_CACHED_PLPGSQL_TEXTS:
            _PLPGSQL_TEXTS.clear()
        _PLPGSQL_TEXTS[key] = text
    return text


def _converter(body: _Body, ctx: ExecContext, wanted: list[int]
               ) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    columns = body.result_columns() or []
    pairs = [(c.type_oid, t) for c, t in zip(columns, wanted)]
    if all(source == target for source, target in pairs):
        return lambda row: tuple(row[:len(wanted)])
    timezone = ctx.function_context.timezone

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(value if value is None or source == target else
                     T.cast(value, source, target, context="assignment", timezone=timezone)
                     for value, (source, target) in zip(row, pairs))
    return convert


def _output_columns(routine: pc.Routine) -> list[tuple[str, int]]:
    if routine.outputs:
        return [(p.name or f"column{i + 1}", p.type_oid) for i, p in enumerate(routine.outputs)]
    return [(routine.name, routine.result_type)]


@contextlib.contextmanager
def _security_context(session: Any, routine: pc.Routine) -> Iterator[None]:
    """A SECURITY DEFINER routine runs as its owner (current_user and every privilege
    check), its body planned and run so; a routine with SET clauses runs with those
    settings, and whatever it set is undone when it returns (as a savepoint's SETs are)."""
    with _definer(session, routine), _configured(session, routine):
        yield


@contextlib.contextmanager
def _definer(session: Any, routine: pc.Routine) -> Iterator[None]:
    if not routine.security_definer:
        yield
        return
    from mirrordb.sql import roles
    outer = session.definer_user
    session.definer_user = roles.role_name_of(roles.roles_by_name(session), routine.owner_oid)
    try:
        yield
    finally:
        session.definer_user = outer


@contextlib.contextmanager
def _configured(session: Any, routine: pc.Routine) -> Iterator[None]:
    settings = session.settings
    if not routine.config or not getattr(settings, "in_transaction", False):
        yield
        return
    level = settings.savepoint()
    try:
        for item in routine.config:
            name, _, value = item.partition("=")
            settings.set(name, value, local=True)
        yield
    finally:
        settings.rollback_to_savepoint(level)
        settings.release_savepoint(level)


def _result_rows(routine: pc.Routine, body: _Body, arguments: list[Expr], ctx: ExecContext,
                 row: Any, nonatomic: bool = False) -> list[tuple[Any, ...]] | None:
    """The routine's result rows for one call (None: a strict routine given a NULL)."""
    values = [argument.fn(row, ctx) for argument in arguments]
    if routine.strict and None in values:
        return None
    with _security_context(ctx.session, routine), _call_depth():
        if routine.language_oid == PLPGSQL_LANGUAGE_OID:
            return plpgsql.call_function(routine, plpgsql_text(routine), ctx, values,
                                         nonatomic)
        rows = body.run(ctx, values)
    wanted = [t for _, t in _output_columns(routine)]
    if routine.result_type == T.VOID_OID:
        return [(None,)]
    convert = _converter(body, ctx, wanted)
    return [convert(r) for r in rows]


def compile_call(builder: PlanBuilder, names: list[str], args: list[Expr], location: int,
                 variadic_call: bool = False) -> Expr | None:
    """A user function called in an expression, or None when no user routine has the name."""
    compiled = _compile_call(builder, names, args, location, variadic_call)
    return None if compiled is None else compiled[0]


def _compile_call(builder: PlanBuilder, names: list[str], args: list[Expr], location: int,
                  variadic_call: bool) -> tuple[Expr, pc.Routine] | None:
    binding = resolve(builder.session, names, args, location, variadic_call)
    if binding is None:
        return None
    _wrong_kind(binding, args, location, procedure=False)
    routine = binding.routine
    arguments = _bound_arguments(builder, binding, args)
    body = _Body(routine)
    columns = _output_columns(routine)
    record = routine.result_type == T.RECORD_OID and len(columns) > 1

    def run(row: Any, ctx: ExecContext) -> Any:
        rows = _result_rows(routine, body, arguments, ctx, row)
        if not rows:
            return None
        if record:
            return T.RowRecord.of(rows[0], tuple(columns))
        return rows[0][0]
    return Expr(routine.result_type, run, name=routine.name, volatile=True), routine


def record_field(builder: PlanBuilder, compiler: ExpressionCompiler, call: Node, field_name: str,
                 location: int) -> Expr | None:
    """``(f(...)).field`` of a user function with OUT parameters (None: no user function
    of that name takes these arguments); 42703 for a field it does not have."""
    args = [compiler.compile(a) for a in call.get("args", [])]
    compiled = _compile_call(builder, strings(call["funcname"]), args, location,
                             bool(call.get("func_variadic")))
    if compiled is None:
        return None
    whole, routine = compiled
    columns = _output_columns(routine)
    names = [name for name, _ in columns]
    if field_name not in names:
        raise error_at(f'could not identify column "{field_name}" in record data type', "42703",
                       location)
    index = names.index(field_name)
    record = len(columns) > 1
    fn = whole.fn
    type_oid = columns[index][1]

    def run(row: Any, ctx: ExecContext) -> Any:
        value = fn(row, ctx)
        if value is None or not record:
            return value
        return value[index]
    return Expr(type_oid, run, name=field_name, volatile=True)


def returns_set(builder: PlanBuilder, names: list[str], args: list[Expr], location: int,
                variadic_call: bool = False) -> bool:
    """Whether a call resolves to a user function returning a set (the select list then
    gives it to its set-returning calls, set_returning.SetCalls)."""
    binding = resolve(builder.session, names, args, location, variadic_call)
    return binding is not None and binding.routine.returns_set


def set_values(builder: PlanBuilder, compiler: ExpressionCompiler, call: Node, location: int
               ) -> tuple[Callable[[Any, ExecContext], list[Any]], int] | None:
    """A set-returning user function in a select list: its values per input row (a record
    per row when it has several result columns) and their type; None when the call is no
    such function."""
    names = strings(call["funcname"])
    if not has_routine(builder.session, names[-1].lower()):
        return None
    args = [compiler.compile(a) for a in call.get("args", [])]
    binding = resolve(builder.session, names, args, location, bool(call.get("func_variadic")))
    if binding is None or not binding.routine.returns_set:
        return None
    routine = binding.routine
    arguments = _bound_arguments(builder, binding, args)
    body = _Body(routine)
    columns = tuple(_output_columns(routine))
    record = routine.result_type == T.RECORD_OID

    def values(row: Any, ctx: ExecContext) -> list[Any]:
        rows = _result_rows(routine, body, arguments, ctx, row) or []
        if record:
            return [T.RowRecord.of(r, columns) for r in rows]
        return [r[0] for r in rows]
    return values, routine.result_type


def rows_in_from(builder: PlanBuilder, names: list[str], args: list[Expr], location: int
                 ) -> tuple[Callable[[ExecContext], Iterator[tuple[Any, ...]]],
                            tuple[tuple[str, int], ...]] | None:
    """A user function in FROM: its rows and columns (OUT/TABLE parameters, else one column
    named after the function), or None when no user routine has the name."""
    binding = resolve(builder.session, names, args, location)
    if binding is None:
        return None
    _wrong_kind(binding, args, location, procedure=False)
    routine = binding.routine
    arguments = _bound_arguments(builder, binding, args)
    body = _Body(routine)

    def produce(ctx: ExecContext) -> Iterator[tuple[Any, ...]]:
        rows = _result_rows(routine, body, arguments, ctx, ())
        if rows is None:
            return iter([] if routine.returns_set else [(None,) * len(_output_columns(routine))])
        if not routine.returns_set:
            rows = rows[:1] or [(None,) * len(_output_columns(routine))]
        return iter(rows)
    return produce, tuple(_output_columns(routine))


# -- CALL -----------------------------------------------------------------------------------------


def call(session: Any, node: Node, params: list[Any], param_types: list[int]
         ) -> tuple[list[Any] | None, list[Any]]:
    """CALL proc(args): (result columns, rows): a procedure with OUT parameters returns one
    row of them. ``$n`` are the statement's parameters, of the types the client gave (none:
    unknown, typed by the procedure's parameter they meet)."""
    from mirrordb.sql.planner import OutputColumn, PlanBuilder
    call_node = node["funccall"]
    names = strings(call_node["funcname"])
    location = call_node.get("location", -1)
    builder = PlanBuilder(session, [t or T.UNKNOWN_OID for t in param_types])
    compiler = ExpressionCompiler(builder, Scope())
    args = [compiler.compile(a) for a in call_node.get("args", [])]
    binding = resolve(session, names, args, location, bool(call_node.get("func_variadic")))
    if binding is None:
        raise error_at(f"procedure {'.'.join(names)}({format_arguments(args)}) does not exist",
                       "42883", location, hint="No procedure matches the given name and "
                       "argument types. You might need to add explicit type casts.")
    _wrong_kind(binding, args, location, procedure=True)
    routine = binding.routine
    arguments = _bound_arguments(builder, binding, args)
    ctx = session._context(params)
    body = _Body(routine)
    rows = _result_rows(routine, body, arguments, ctx, (), nonatomic=not session.in_block)
    if not routine.outputs:
        return None, []
    columns = [OutputColumn(name, type_oid) for name, type_oid in _output_columns(routine)]
    return columns, (rows or [(None,) * len(columns)])[:1]


# -- DROP / ALTER ---------------------------------------------------------------------------------

_KIND_OF_OBJECT = {"OBJECT_FUNCTION": pc.PROKIND_FUNCTION,
                   "OBJECT_PROCEDURE": pc.PROKIND_PROCEDURE, "OBJECT_ROUTINE": None}


def _type_list_text(args: list[Node]) -> str:
    return ",".join(".".join(strings(a["names"])) + ("[]" * len(a.get("arrayBounds", [])))
                    for a in args)


def lookup_object(session: Any, spec: Node, object_type: str, missing_ok: bool = False
                  ) -> pc.Routine | None:
    """The routine an ObjectWithArgs names (LookupFuncWithArgs), with its errors."""
    from mirrordb.sql.planner import PlanBuilder
    names = strings(spec["objname"])
    name, schema = names[-1], (names[-2] if len(names) > 1 else None)
    word = {"OBJECT_PROCEDURE": "procedure", "OBJECT_ROUTINE": "routine"}.get(object_type,
                                                                             "function")
    if schema is not None and schema not in schemas.namespaces(session):
        if missing_ok:
            return None
        raise schemas.schema_missing(schema)
    routines = _named(session, name, schema)
    if spec.get("args_unspecified"):
        if not routines:
            if missing_ok:
                return None
            raise MirrordbError(f'could not find a {word} named "{".".join(names)}"',
                                sqlstate="42883")
        if len(routines) > 1:
            raise MirrordbError(f'{word} name "{".".join(names)}" is not unique',
                                sqlstate="42725",
                                hint=f"Specify the argument list to select the {word} "
                                     "unambiguously.")
        found = routines[0]
    else:
        builder = PlanBuilder(session, [])
        inputs = [p for p in spec.get("objfuncargs", [])
                  if _MODES[p["FunctionParameter"].get("mode", "FUNC_PARAM_DEFAULT")]
                  in pc.INPUT_MODES]
        types = tuple(builder.resolve_type(p["FunctionParameter"]["argType"])[0]
                      for p in inputs)
        found = next((r for r in routines if r.arg_types == types), None)
        if found is None:
            if missing_ok:
                return None
            shown = ", ".join(T.format_type(t) for t in types)
            raise MirrordbError(f"{word} {'.'.join(names)}({shown}) does not exist",
                                sqlstate="42883")
    wanted = _KIND_OF_OBJECT.get(object_type)
    if wanted is not None and found.kind != wanted:
        shown = ", ".join(T.format_type(t) for t in found.arg_types)
        raise MirrordbError(f"{'.'.join(names)}({shown}) is not a {_word_of(wanted)}",
                            sqlstate="42809")
    return found


def _word_of(kind: str) -> str:
    return "procedure" if kind == pc.PROKIND_PROCEDURE else "function"


def drop_routines(session: Any, txn: Any, node: Node) -> tuple[str, list[Any]]:
    """DROP FUNCTION | PROCEDURE | ROUTINE [IF EXISTS] name[(args)], ... [CASCADE]."""
    object_type = node["removeType"]
    missing_ok = bool(node.get("missing_ok"))
    word = {"OBJECT_PROCEDURE": "procedure", "OBJECT_ROUTINE": "routine"}.get(object_type,
                                                                             "function")
    notices: list[Any] = []
    for spec in node["objects"]:
        fields = spec["ObjectWithArgs"]
        routine = lookup_object(session, fields, object_type, missing_ok)
        if routine is None:
            names = ".".join(strings(fields["objname"]))
            types = [p["FunctionParameter"]["argType"] for p in fields.get("objfuncargs", [])]
            arguments = "" if fields.get("args_unspecified") else f"({_type_list_text(types)})"
            notices.append(f"{word} {names}{arguments} does not exist, skipping")
            continue
        check_owner(session, routine)
        txn._delete_catalog_rows(_catalog(), lambda v, oid=routine.oid: v[0] == oid)
        from mirrordb.sql import comments
        comments.forget_object(txn, routine.oid, _catalog().oid)
    txn.transaction.command_counter_increment()
    return f"DROP {word.upper()}", notices


def rename_routine(session: Any, txn: Any, node: Node) -> str:
    """ALTER FUNCTION | PROCEDURE | ROUTINE name(args) RENAME TO new."""
    object_type = node["renameType"]
    routine = lookup_object(session, node["object"]["ObjectWithArgs"], object_type)
    assert routine is not None
    check_owner(session, routine)
    new_name = node["newname"]
    clash = _same_signature(session, routine.namespace_oid, new_name, routine.arg_types)
    if clash is not None:
        schema = schemas.namespace_name(session, routine.namespace_oid)
        shown = ", ".join(T.format_type(t) for t in routine.arg_types)
        raise MirrordbError(f'{_word(routine)} {new_name}({shown}) already exists in schema '
                            f'"{schema}"', sqlstate="42723")
    _replace_row(txn, routine.renamed(new_name))
    return f"ALTER {_tag_word(object_type)}"


def alter_owner(session: Any, txn: Any, node: Node) -> str:
    """ALTER FUNCTION | PROCEDURE | ROUTINE name(args) OWNER TO role."""
    from dataclasses import replace

    from mirrordb.sql import roles
    object_type = node["objectType"]
    routine = lookup_object(session, node["object"]["ObjectWithArgs"], object_type)
    assert routine is not None
    spec = node["newowner"]
    name = spec.get("rolename") or session.user
    role = roles.roles_by_name(session).get(name)
    if role is None:
        raise roles.role_missing(name)
    if role.oid != routine.owner_oid:
        from mirrordb.sql.database_privileges import acl_for_new_owner
        check_owner(session, routine)
        if not roles.is_superuser(session):
            raise MirrordbError(f'must be member of role "{name}"', sqlstate="42501")
        old_owner = roles.role_name_of(roles.roles_by_name(session), routine.owner_oid)
        _replace_row(txn, replace(routine, owner_oid=role.oid,
                                  acl=acl_for_new_owner(routine.acl, old_owner, name)))
    return f"ALTER {_tag_word(object_type)}"


def alter_routine(session: Any, txn: Any, node: Node) -> str:
    """ALTER FUNCTION | PROCEDURE | ROUTINE name(args) IMMUTABLE | STABLE | VOLATILE, [NOT]
    STRICT / CALLED ON NULL INPUT, [EXTERNAL] SECURITY DEFINER | INVOKER (COST, ROWS,
    PARALLEL and LEAKPROOF are accepted and not kept, as at CREATE)."""
    from dataclasses import replace
    object_type = node["objtype"]
    routine = lookup_object(session, node["func"], object_type)
    assert routine is not None
    check_owner(session, routine)
    changed = routine
    for item in node.get("actions", []):
        definition = item["DefElem"]
        name, argument = definition["defname"], definition.get("arg", {})
        if name == "volatility":
            changed = replace(changed, volatility=_VOLATILITY[argument["String"]["sval"]])
        elif name == "strict":
            changed = replace(changed, strict=bool(argument["Boolean"].get("boolval")))
        elif name == "security":
            changed = replace(changed,
                              security_definer=bool(argument["Boolean"].get("boolval")))
        elif name == "set":
            changed = replace(changed, config=_altered_config(changed.config,
                                                              argument["VariableSetStmt"]))
        elif name not in ("leakproof", "cost", "rows", "parallel"):
            raise feature_not_supported(f"ALTER FUNCTION ... {name.upper()}")
    _replace_row(txn, changed)
    return f"ALTER {_tag_word(object_type)}"


def _altered_config(config: tuple[str, ...], node: Node) -> tuple[str, ...]:
    """proconfig after ALTER FUNCTION ... SET name = value | RESET name | RESET ALL."""
    kind = node.get("kind")
    if kind == "VAR_RESET_ALL":
        return ()
    name = str(node.get("name", "")).lower()
    if kind in ("VAR_RESET", "VAR_SET_DEFAULT"):
        return tuple(item for item in config if item.partition("=")[0].lower() != name)
    item = _set_clause(node)
    names = [existing.partition("=")[0].lower() for existing in config]
    if name in names:             # replaced where it was, as GUCArrayAdd does
        index = names.index(name)
        return config[:index] + (item,) + config[index + 1:]
    return config + (item,)


def set_schema(session: Any, txn: Any, node: Node) -> str:
    """ALTER FUNCTION | PROCEDURE | ROUTINE name(args) SET SCHEMA s."""
    from dataclasses import replace
    object_type = node["objectType"]
    routine = lookup_object(session, node["object"]["ObjectWithArgs"], object_type)
    assert routine is not None
    check_owner(session, routine)
    target = schemas.lookup_namespace(session, node["newschema"])
    schemas.check_create_privilege(session, target)
    if _same_signature(session, target.oid, routine.name, routine.arg_types) is not None \
            and target.oid != routine.namespace_oid:
        shown = ", ".join(T.format_type(t) for t in routine.arg_types)
        raise MirrordbError(f'{_word(routine)} {routine.name}({shown}) already exists in '
                            f'schema "{target.name}"', sqlstate="42723")
    _replace_row(txn, replace(routine, namespace_oid=target.oid))
    return f"ALTER {_tag_word(object_type)}"


def _tag_word(object_type: str) -> str:
    return {"OBJECT_PROCEDURE": "PROCEDURE", "OBJECT_ROUTINE": "ROUTINE"}.get(object_type,
                                                                            "FUNCTION")


def _replace_row(txn: Any, routine: pc.Routine) -> None:
    txn._update_catalog_rows(_catalog(), lambda v: v[0] == routine.oid,
                             lambda v: pc.to_values(routine))
    txn.transaction.command_counter_increment()


def schema_members(txn: Any, namespace_oid: int) -> list[tuple[int, str, str]]:
    """(OID, kind word, ``name(types)``) of the schema's routines, for DROP SCHEMA's list
    (PostgreSQL 15's object descriptions say "function" for procedures too)."""
    found = (pc.from_values(values)
             for _, values in txn.engine.relcache.rows(_catalog(), txn.transaction))
    return [(r.oid, "function", _described(r)) for r in found
            if r.namespace_oid == namespace_oid]


def _described(routine: pc.Routine) -> str:
    """``f(integer,text)``, as PostgreSQL's object descriptions name a routine."""
    return f"{routine.name}({','.join(T.format_type(t) for t in routine.arg_types)})"


def role_dependents(engine: Any, transaction: Any, role: Any
                    ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """DROP ROLE's dependents among one database's routines: (OID, "owner of function
    f(integer)") for those it owns, (OID, "privileges for function ...") for those whose
    ACL names it."""
    from mirrordb.sql import roles
    owned, privileged = [], []
    for _, values in engine.relcache.rows(_catalog(), transaction):
        routine = pc.from_values(values)
        described = f"function {_described(routine)}"
        if routine.owner_oid == role.oid:
            owned.append((routine.oid, f"owner of {described}"))
        elif routine.acl is not None and any(role.name in (item.grantee, item.grantor)
                                             for item in roles.parse_acl(routine.acl)):
            privileged.append((routine.oid, f"privileges for {described}"))
    return owned, privileged


def drop_schema_routines(txn: Any, namespace_oid: int) -> None:
    """DROP SCHEMA ... CASCADE: the schema's routines go with it."""
    txn._delete_catalog_rows(_catalog(), lambda v: v[2] == namespace_oid)


# -- EXECUTE privilege: GRANT / REVOKE ... ON FUNCTION | PROCEDURE | ROUTINE -----------------------


def _acl(session: Any, routine: pc.Routine) -> list[Any]:
    """proacl's items (NULL: acldefault('f'): PUBLIC and the owner hold EXECUTE)."""
    from mirrordb.sql import roles
    if routine.acl is not None:
        return roles.parse_acl(routine.acl)
    owner = roles.role_name_of(roles.roles_by_name(session), routine.owner_oid)
    return [roles.AclItem(roles.PUBLIC_GRANTEE, owner, ACL_EXECUTE),
            roles.AclItem(owner, owner, ACL_EXECUTE)]


def check_execute(session: Any, routine: pc.Routine) -> None:
    """EXECUTE on the routine (pg_proc_aclcheck): 42501 when the current role lacks it."""
    from mirrordb.sql import roles
    if routine.acl is None or roles.is_superuser(session):
        return
    role = roles.current_role(session)
    if role is not None and role.oid == routine.owner_oid:
        return
    held, _ = roles.acl_mask(_acl(session, routine), session.user)
    if not held & ACL_EXECUTE:
        raise MirrordbError(f"permission denied for {_word(routine)} {routine.name}",
                            sqlstate="42501")


def grant(session: Any, txn: Any, node: Node) -> tuple[str, list[Any]]:
    """GRANT | REVOKE [GRANT OPTION FOR] EXECUTE | ALL ON FUNCTION | PROCEDURE | ROUTINE
    name[(args)], ... TO | FROM roles | PUBLIC [WITH GRANT OPTION]."""
    from mirrordb.sql import roles
    is_grant = bool(node.get("is_grant"))
    command = "GRANT" if is_grant else "REVOKE"
    if node.get("targtype", "ACL_TARGET_OBJECT") != "ACL_TARGET_OBJECT":
        raise feature_not_supported(f"{command} ON ALL FUNCTIONS IN SCHEMA")
    for privilege in node.get("privileges") or []:
        name = str(privilege["AccessPriv"].get("priv_name", "")).upper()
        if name != "EXECUTE":
            raise MirrordbError(f"invalid privilege type {name} for "
                                f"{_tag_word(node['objtype']).lower()}", sqlstate="0LP01")
    grant_option = bool(node.get("grant_option"))
    grantees = [roles.grantee_name(session, txn, spec["RoleSpec"])
                for spec in node.get("grantees", [])]
    notices: list[Any] = []
    for spec in node["objects"]:
        routine = lookup_object(session, spec["ObjectWithArgs"], node["objtype"])
        assert routine is not None
        acl = _acl(session, routine)
        grantor = _grantor(session, routine, acl, notices)
        if grantor is None:
            continue
        for grantee in grantees:
            if is_grant and grant_option and grantee == roles.PUBLIC_GRANTEE:
                raise MirrordbError("grant options can only be granted to roles",
                                    sqlstate="0LP01")
            acl = roles.acl_update(acl, grantee, grantor, ACL_EXECUTE,
                                   is_grant=is_grant, grant_option=grant_option)
        _replace_row(txn, _with_acl(routine, roles.format_acl(acl)))
    return command, notices


def _with_acl(routine: pc.Routine, acl: str | None) -> pc.Routine:
    from dataclasses import replace
    return replace(routine, acl=acl)


def _grantor(session: Any, routine: pc.Routine, acl: list[Any], notices: list[Any]
             ) -> str | None:
    """The owner for superusers and the owner; another role only with a grant option
    (without any right at all: 42501; with rights but no option: a warning, nothing done)."""
    from mirrordb.sql import roles
    known = roles.roles_by_name(session)
    owner = roles.role_name_of(known, routine.owner_oid)
    if roles.is_superuser(session) or session.user == owner:
        return owner
    held, options = roles.acl_mask(acl, session.user)
    if options & ACL_EXECUTE:
        return str(session.user)
    if not held:
        raise MirrordbError(f"permission denied for {_word(routine)} {routine.name}",
                            sqlstate="42501")
    notices.append(("WARNING", f'no privileges were granted for "{routine.name}"'))
    return None
