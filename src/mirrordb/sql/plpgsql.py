"""PL/pgSQL: DO blocks and LANGUAGE plpgsql functions, run by a tree-walking interpreter.

Who calls it: the session (DO), user_functions.py (CREATE FUNCTION checks a plpgsql body's
syntax with ``check_syntax``; a call of a plpgsql routine runs ``call_function``). The other
half is pglast's PL/pgSQL parser (``parse_plpgsql_json``: PostgreSQL's own pl_gram.y), whose
tree of statements this module walks; PostgreSQL's interpreter is pl_exec.c.

What runs: DECLARE (with defaults), assignment, IF/ELSIF/ELSE, CASE, LOOP, WHILE,
EXIT/CONTINUE [WHEN], integer FOR (REVERSE, BY), query FOR over records, FOREACH over an
array, RETURN, RETURN
NEXT, RETURN QUERY, PERFORM, EXECUTE [INTO] [USING], GET DIAGNOSTICS ROW_COUNT, SQL
statements (SELECT/INSERT/UPDATE/DELETE, with INTO [STRICT] and FOUND; other statements run
as the session runs them), COMMIT and ROLLBACK in a procedure CALLed (or a DO run) outside a
transaction block, RAISE (levels, % parameters, USING ERRCODE,
MESSAGE, DETAIL, HINT; a bare RAISE re-raises in a handler), nested blocks, and EXCEPTION WHEN
handlers, each block with handlers running inside a savepoint that an error rolls back, as
PostgreSQL's does. RAISE NOTICE/WARNING/INFO go to the client as NoticeResponses
(session.pending_warnings; a DO block returns them with its result).

Variables live in one slot per name (the parser's datums; an integer FOR's variable has its
own while the loop runs, hiding an outer one of the same name), so a variable a nested
block declares shares the slot of an outer one of the same name (PostgreSQL would give it
its own). Expressions and
statements are planned at their first execution with a PlanBuilder whose parameter lookup is
the function's variables (``reference``), and kept; a record variable's fields take the types
of the record it holds then. pglast's tree leaves out ``RETURN var`` and ``RETURN NEXT var``'s
variable, which is read back from the source line (``_returned_names``).
"""

from __future__ import annotations

import json
import re
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (ExecContext, Expr, ExpressionCompiler, Scope,
                                      feature_not_supported)
from mirrordb.sql.parser import Node, one, parse

PLPGSQL_LANGUAGE_OID = 13563          # PostgreSQL 15's initdb gives plpgsql this OID
_LEVELS = {10: "DEBUG", 11: "DEBUG", 12: "DEBUG", 13: "DEBUG", 14: "DEBUG", 15: "LOG",
           17: "INFO", 18: "NOTICE", 19: "WARNING", 21: "ERROR"}
_ERROR_LEVEL = 21
_RAISE_OPTIONS = {0: "errcode", 1: "message", 2: "detail", 3: "hint"}
# Condition names of EXCEPTION WHEN and RAISE (PostgreSQL's plerrcodes.h, the common ones).
CONDITIONS = {
    "division_by_zero": "22012", "unique_violation": "23505", "not_null_violation": "23502",
    "foreign_key_violation": "23503", "check_violation": "23514", "raise_exception": "P0001",
    "no_data_found": "P0002", "too_many_rows": "P0003", "assert_failure": "P0004",
    "invalid_text_representation": "22P02", "numeric_value_out_of_range": "22003",
    "string_data_right_truncation": "22001", "null_value_not_allowed": "22004",
    "data_exception": "22000", "integrity_constraint_violation": "23000",
    "undefined_table": "42P01", "undefined_column": "42703", "undefined_function": "42883",
    "syntax_error": "42601", "insufficient_privilege": "42501", "duplicate_table": "42P07",
    "duplicate_object": "42710", "serialization_failure": "40001",
    "deadlock_detected": "40P01", "invalid_parameter_value": "22023",
    "feature_not_supported": "0A000", "read_only_sql_transaction": "25006",
    "lock_not_available": "55P03", "query_canceled": "57014",
    "cardinality_violation": "21000", "datetime_field_overflow": "22008",
    "invalid_datetime_format": "22007", "array_subscript_error": "2202E",
}
_SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")


class _Exit(Exception):
    def __init__(self, label: str | None) -> None:
        self.label = label


class _Continue(_Exit):
    pass


class _Return(Exception):
    pass


@dataclass(eq=False)
class _Compiled:
    """A statement or expression planned at its first execution."""

    kind: str
    plan: Any


@dataclass(eq=False)
class Interpreter:
    """One call of a PL/pgSQL function (or DO block): its variables and its results."""

    session: Any
    name: str
    tree: Node
    source: str
    returns_set: bool = False
    result_type: int = T.VOID_OID
    outputs: list[tuple[str, int]] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    result: Any = None
    notices: list[Any] = field(default_factory=list)
    cache: dict[int, _Compiled] = field(default_factory=dict)
    active_error: MirrordbError | None = None
    ctx: ExecContext | None = None
    row_count: int = 0                  # GET DIAGNOSTICS ROW_COUNT: the last statement's
    signature: str = "inline_code_block"     # as error CONTEXT lines name the function
    # may COMMIT/ROLLBACK: a procedure CALLed, or a DO run, outside a transaction block
    nonatomic: bool = False
    placed: set[int] = field(default_factory=set)   # errors given their CONTEXT line

    # -- variables -------------------------------------------------------------------------------

    def declare(self) -> None:
        for datum in self.tree["datums"]:
            kind, fields = one(datum)
            name = fields.get("refname", "")
            if kind == "PLpgSQL_var":
                type_oid = _type_of(self.session, fields["datatype"]["PLpgSQL_type"]["typname"])
            elif kind == "PLpgSQL_rec":
                type_oid = T.RECORD_OID
            else:
                type_oid = 0
            self.types.append(type_oid)
            self.values.append(None)
            if kind in ("PLpgSQL_var", "PLpgSQL_rec") and name not in self.slots:
                self.slots[name] = len(self.values) - 1

    def slot_of(self, datum_number: int) -> int:
        kind, fields = one(self.tree["datums"][datum_number])
        return self.slots.get(fields.get("refname", ""), datum_number)

    def reference(self, names: list[str], location: int) -> Expr | None:
        """A name in an expression or statement: a variable, or a record variable's field."""
        slot = self.slots.get(names[0])
        if slot is None:
            return None
        if len(names) == 1:
            type_oid = self.types[slot]

            def run(row: Any, ctx: ExecContext) -> Any:
                return ctx.params[slot]
            return Expr(type_oid, run, name=names[0], param=slot + 1, location=location)
        if len(names) == 2 and self.types[slot] == T.RECORD_OID:
            return self._field(slot, names[0], names[1])
        return None

    def _field(self, slot: int, record_name: str, field_name: str) -> Expr:
        record = self.values[slot]
        if record is None:
            raise MirrordbError(f'record "{record_name}" is not assigned yet', sqlstate="55000",
                                detail="The tuple structure of a not-yet-assigned record is "
                                       "indeterminate.")
        columns = getattr(record, "columns", ())
        index = next((i for i, (name, _) in enumerate(columns) if name == field_name), None)
        if index is None:
            raise MirrordbError(f'record "{record_name}" has no field "{field_name}"',
                                sqlstate="42703")
        type_oid = columns[index][1]

        def run(row: Any, ctx: ExecContext) -> Any:
            value = ctx.params[slot]
            return None if value is None else value[index]
        return Expr(type_oid, run, name=field_name)

    def assign(self, slot: int, value: Any, source_type: int) -> None:
        target = self.types[slot]
        if value is not None and target not in (source_type, T.RECORD_OID, 0) and \
                source_type != T.UNKNOWN_OID:
            value = T.cast(value, source_type, target, context="assignment",
                           timezone=self.session.timezone)
        elif value is not None and source_type == T.UNKNOWN_OID and target != T.RECORD_OID:
            value = T.parse_text(target, str(value), timezone=self.session.timezone)
        self.values[slot] = value

    # -- planning --------------------------------------------------------------------------------

    def _builder(self) -> Any:
        from mirrordb.sql.planner import PlanBuilder
        builder = PlanBuilder(self.session, list(self.types))
        builder.function_parameters = self  # type: ignore[attr-defined]
        return builder

    def expression(self, node: Node) -> Expr:
        key = id(node)
        compiled = self.cache.get(key)
        if compiled is None:
            text = node["PLpgSQL_expr"]["query"]
            if node["PLpgSQL_expr"].get("parseMode") == 3:   # "target := expression"
                text = re.split(r":=|=", text, maxsplit=1)[1]
            statement = parse(f"SELECT {text}")[0]
            targets = statement.node.get("targetList", [])
            if len(targets) != 1 or set(statement.node) - {"targetList", "limitOption", "op"}:
                compiled = _Compiled("query", self._plan_select(statement.node))
            else:
                builder = self._builder()
                expr = ExpressionCompiler(builder, Scope()).compile(targets[0]["ResTarget"]["val"])
                compiled = _Compiled("expr", expr)
            self.cache[key] = compiled
        return compiled.plan if compiled.kind == "expr" else _first_value_expr(compiled.plan)

    def evaluate(self, node: Node) -> tuple[Any, int]:
        """An expression's value and type; it sees the changes of the statements before it
        (as SPI's command counter increment makes PostgreSQL's)."""
        expr = self.expression(node)
        assert self.ctx is not None
        self.ctx.txn.transaction.command_counter_increment()
        return expr.fn((), self.ctx), expr.type_oid

    def condition(self, node: Node) -> bool:
        value, _ = self.evaluate(node)
        return value is True

    def _plan_select(self, node: Node) -> Any:
        return self._builder().plan_query(node)

    def statement(self, node: Node) -> _Compiled:
        key = id(node)
        compiled = self.cache.get(key)
        if compiled is None:
            from mirrordb.sql import dml
            parsed = parse(node["PLpgSQL_expr"]["query"])
            if len(parsed) != 1:
                raise MirrordbError("cannot insert multiple commands into a prepared statement",
                                    sqlstate="42601")
            kind, tree = parsed[0].node_type, parsed[0].node
            if kind == "SelectStmt" and not tree.get("intoClause"):
                compiled = _Compiled("select", self._plan_select(tree))
            elif kind in ("InsertStmt", "UpdateStmt", "DeleteStmt"):
                compiled = _Compiled("dml", dml.plan_dml(self._builder(), kind, tree))
            else:
                compiled = _Compiled("utility", parsed[0])
            self.cache[key] = compiled
        return compiled

    def run_sql(self, node: Node) -> list[tuple[Any, ...]]:
        """A SQL statement's rows (RETURNING's for DML); FOUND says whether there were any."""
        compiled = None
        try:
            compiled = self.statement(node)
            rows = self._execute(compiled)
        except MirrordbError as error:
            # PostgreSQL reports an error of parse analysis (it has a position) with the
            # query instead; one of planning (constant folding) or running with this line
            if (compiled is None and getattr(error, "position", None) is None) or \
                    (compiled is not None and compiled.kind != "utility"):
                error.add_context(f'SQL statement "{node["PLpgSQL_expr"]["query"]}"')
            raise
        self._set_found(bool(self.row_count))
        return rows

    def _execute(self, compiled: _Compiled) -> list[tuple[Any, ...]]:
        assert self.ctx is not None
        self.ctx.txn.transaction.command_counter_increment()
        if compiled.kind == "select":
            rows = list(compiled.plan.node.rows(self.ctx))
            self.row_count = len(rows)
        elif compiled.kind == "dml":
            if self.ctx.txn.transaction.read_only:
                raise MirrordbError(f"cannot execute {compiled.plan.command} in a read-only "
                                    "transaction", sqlstate="25006")
            produced, count = compiled.plan.run(self.ctx)
            rows = list(produced) if compiled.plan.columns else []
            self.row_count = int(count or 0)
        else:
            rows, self.row_count = self._utility(compiled.plan), 0
        return rows

    def _utility(self, statement: Any) -> list[tuple[Any, ...]]:
        from mirrordb.sql.session import PreparedStatement
        method = getattr(self.session, "_exec_" + statement.node_type, None)
        if method is None or statement.node_type in ("TransactionStmt", "DoStmt"):
            raise feature_not_supported(f"{statement.node_type.removesuffix('Stmt')} in "
                                        "PL/pgSQL")
        result = method(statement.node, PreparedStatement("", statement, []), [])
        self.notices += result.notices
        return []

    def _set_found(self, found: bool) -> None:
        slot = self.slots.get("found")
        if slot is not None:
            self.values[slot] = found

    def columns_of(self, node: Node) -> list[tuple[str, int]]:
        compiled = self.statement(node)
        columns = compiled.plan.columns if compiled.kind != "utility" else None
        return [(c.name, c.type_oid) for c in columns or []]

    # -- statements ------------------------------------------------------------------------------

    def run_block(self, statements: list[Node]) -> None:
        for statement in statements:
            self.run_statement(statement)

    def run_statement(self, node: Node) -> None:
        kind, fields = one(node)
        method: Callable[[Node], None] | None = getattr(self, "_" + kind, None)
        if method is None:
            raise feature_not_supported(f"PL/pgSQL statement {kind.removeprefix('PLpgSQL_stmt_')}")
        assert self.ctx is not None
        self.ctx.check_interrupts()
        try:
            method(fields)
        except MirrordbError as error:
            if id(error) not in self.placed:     # the innermost statement names the line
                self.placed.add(id(error))
                error.add_context(f"PL/pgSQL function {self.signature} line "
                                  f"{fields.get('lineno', 0)} at {_statement_word(kind, fields)}")
            raise

    def _PLpgSQL_stmt_block(self, f: Node) -> None:
        handlers = (f.get("exceptions") or {}).get("PLpgSQL_exception_block")
        if not handlers:
            self.run_block(f.get("body", []))
            return
        assert self.ctx is not None
        txn = self.ctx.txn
        savepoint = f"plpgsql block {len(txn.transaction.subtransactions)}"
        txn.savepoint(savepoint)
        try:
            self.run_block(f.get("body", []))
        except MirrordbError as error:
            handler = _handler_for(handlers["exc_list"], error)
            if handler is None:
                raise
            txn.rollback_to_savepoint(savepoint)
            txn.release_savepoint(savepoint)
            self._handle(handler, error)
            return
        txn.release_savepoint(savepoint)

    def _handle(self, handler: Node, error: MirrordbError) -> None:
        for name, value in (("sqlstate", error.sqlstate), ("sqlerrm", error.message)):
            slot = self.slots.get(name)
            if slot is not None:
                self.values[slot] = value
        outer, self.active_error = self.active_error, error
        try:
            self.run_block(handler.get("action", []))
        finally:
            self.active_error = outer

    def _PLpgSQL_stmt_assign(self, f: Node) -> None:
        value, type_oid = self.evaluate(f["expr"])
        self.assign(self.slot_of(f["varno"]), value, type_oid)

    def _PLpgSQL_stmt_if(self, f: Node) -> None:
        if self.condition(f["cond"]):
            self.run_block(f.get("then_body", []))
            return
        for branch in f.get("elsif_list", []):
            fields = branch["PLpgSQL_if_elsif"]
            if self.condition(fields["cond"]):
                self.run_block(fields.get("stmts", []))
                return
        self.run_block(f.get("else_body", []))

    def _loop_body(self, f: Node) -> bool:
        """One pass of a loop's body: False when EXIT left the loop (an empty body still
        checks for a cancel, so statement_timeout ends ``LOOP END LOOP``)."""
        assert self.ctx is not None
        self.ctx.check_interrupts()
        try:
            self.run_block(f.get("body", []))
        except _Continue as signal:
            if signal.label is not None and signal.label != f.get("label"):
                raise
        except _Exit as signal:
            if signal.label is not None and signal.label != f.get("label"):
                raise
            return False
        return True

    def _PLpgSQL_stmt_loop(self, f: Node) -> None:
        while self._loop_body(f):
            pass

    def _PLpgSQL_stmt_while(self, f: Node) -> None:
        while self.condition(f["cond"]) and self._loop_body(f):
            pass

    def _PLpgSQL_stmt_fori(self, f: Node) -> None:
        lower, _ = self.evaluate(f["lower"])
        upper, _ = self.evaluate(f["upper"])
        step = self.evaluate(f["step"])[0] if f.get("step") else 1
        for value, what in ((lower, "lower"), (upper, "upper"), (step, "BY")):
            if value is None:
                raise MirrordbError(f"{what} bound of FOR loop cannot be null"
                                    if what != "BY" else "BY value of FOR loop cannot be null",
                                    sqlstate="22004")
        if step <= 0:
            raise MirrordbError("BY value of FOR loop must be greater than zero",
                                sqlstate="22023")
        name = f["var"]["PLpgSQL_var"]["refname"]
        slot = self._loop_variable(name, f["var"]["PLpgSQL_var"].get("lineno"))
        outer, self.slots[name] = self.slots[name], slot    # the loop's own variable
        reverse = bool(f.get("reverse"))
        current, found = int(lower), False
        try:
            while (current >= upper) if reverse else (current <= upper):
                found = True
                self.values[slot] = current
                if not self._loop_body(f):
                    break
                current = current - step if reverse else current + step
        finally:
            self.slots[name] = outer
        self._set_found(found)

    def _loop_variable(self, name: str, lineno: int | None) -> int:
        """The datum an integer FOR declares for its variable (it hides a variable of the
        same name declared outside the loop, as in PostgreSQL)."""
        for index, datum in enumerate(self.tree["datums"]):
            kind, fields = one(datum)
            if kind == "PLpgSQL_var" and fields.get("refname") == name and \
                    fields.get("lineno") == lineno and "default_val" not in fields:
                return index
        return self.slots[name]

    def _PLpgSQL_stmt_fors(self, f: Node) -> None:
        rows = self.run_sql(f["query"])
        columns = self.columns_of(f["query"])
        for row in rows:
            self._into(f["var"], row, columns)
            if not self._loop_body(f):
                break
        self._set_found(bool(rows))

    def _PLpgSQL_stmt_foreach_a(self, f: Node) -> None:
        """FOREACH var IN ARRAY expr LOOP (arrays are one-dimensional: no SLICE)."""
        if f.get("slice"):
            raise feature_not_supported("FOREACH ... SLICE")
        array, type_oid = self.evaluate(f["expr"])
        if array is None:
            raise MirrordbError("FOREACH expression must not be null", sqlstate="22004")
        element = T.element_type_of(type_oid)
        if not element:
            raise MirrordbError(f"FOREACH expression must yield an array, not type "
                                f"{T.format_type(type_oid)}", sqlstate="42804")
        slot = self.slot_of(f["varno"])
        for value in array:
            self.assign(slot, value, element)
            if not self._loop_body(f):
                break

    def _PLpgSQL_stmt_exit(self, f: Node) -> None:
        if f.get("cond") is not None and not self.condition(f["cond"]):
            return
        raise (_Exit if f.get("is_exit") else _Continue)(f.get("label"))

    def _PLpgSQL_stmt_return(self, f: Node) -> None:
        if self.returns_set:
            raise _Return()
        if f.get("expr") is not None:
            self.result = self.evaluate(f["expr"])
        else:
            name = self._returned_name(f)
            if name is not None:
                slot = self.slots[name]
                self.result = (self.values[slot], self.types[slot])
        raise _Return()

    def _PLpgSQL_stmt_return_next(self, f: Node) -> None:
        if f.get("expr") is not None:
            value, type_oid = self.evaluate(f["expr"])
            self.rows.append((self._cast_result(value, type_oid),))
            return
        name = self._returned_name(f)
        if name is not None:
            slot = self.slots[name]
            self.rows.append((self._cast_result(self.values[slot], self.types[slot]),))
            return
        self.rows.append(tuple(self.values[self.slots[n]] for n, _ in self.outputs))

    def _PLpgSQL_stmt_return_query(self, f: Node) -> None:
        rows = self.run_sql(f["query"])
        self.rows.extend(rows)

    def _PLpgSQL_stmt_perform(self, f: Node) -> None:
        self.run_sql(f["expr"])

    def _PLpgSQL_stmt_execsql(self, f: Node) -> None:
        rows = self.run_sql(f["sqlstmt"])
        if not f.get("into"):
            return
        if f.get("strict"):
            if not rows:
                raise MirrordbError("query returned no rows", sqlstate="P0002")
            if len(rows) > 1:
                raise MirrordbError("query returned more than one row", sqlstate="P0003",
                                    hint="Make sure the query returns a single row, or use "
                                         "LIMIT 1.")
        columns = self.columns_of(f["sqlstmt"])
        self._into(f["target"], rows[0] if rows else (None,) * len(columns), columns)

    def _into(self, target: Node, row: tuple[Any, ...], columns: list[tuple[str, int]]) -> None:
        kind, fields = one(target)
        if kind == "PLpgSQL_row":
            for (field_spec, value, (_, type_oid)) in zip(fields["fields"], row, columns):
                self.assign(self.slot_of(field_spec["varno"]), value, type_oid)
        elif kind == "PLpgSQL_rec":
            self.values[self.slots[fields["refname"]]] = T.RowRecord.of(
                row[:len(columns)], tuple(columns))
        else:
            self.assign(self.slots[fields["refname"]], row[0] if row else None,
                        columns[0][1] if columns else T.UNKNOWN_OID)

    def _PLpgSQL_stmt_raise(self, f: Node) -> None:
        if not f.get("message") and not f.get("condname") and not f.get("options"):
            if self.active_error is None:
                raise MirrordbError("RAISE without parameters cannot be used outside an "
                                    "exception handler", sqlstate="0Z002")
            raise self.active_error
        level = f.get("elog_level", _ERROR_LEVEL)
        message = _format(f.get("message", ""), [self.evaluate(p) for p in f.get("params", [])])
        options = {"errcode": None, "detail": None, "hint": None}
        condition = f.get("condname")
        if condition:
            options["errcode"] = _sqlstate_of(condition)
            message = message or condition
        for option in f.get("options", []):
            fields = option["PLpgSQL_raise_option"]
            value, _ = self.evaluate(fields["expr"])
            name = _RAISE_OPTIONS.get(fields.get("opt_type", 0))
            if name == "message":
                message = str(value)
            elif name == "errcode":
                options["errcode"] = _sqlstate_of(str(value))
            elif name is not None:
                options[name] = None if value is None else str(value)
        if level >= _ERROR_LEVEL:
            raise MirrordbError(message, sqlstate=options["errcode"] or "P0001",
                                detail=options["detail"], hint=options["hint"])
        if not _sent_to_client(level, str(self.session.setting("client_min_messages"))):
            return
        notice: tuple[Any, ...] = (_LEVELS.get(level, "NOTICE"), message)
        if options["detail"] is not None or options["hint"] is not None:
            notice += (options["detail"],)
        self.notices.append(notice)

    def _PLpgSQL_stmt_case(self, f: Node) -> None:
        if f.get("t_expr") is not None:
            value, type_oid = self.evaluate(f["t_expr"])
            slot = self.slot_of(f["t_varno"])
            self.types[slot] = type_oid
            self.values[slot] = value
        for branch in f.get("case_when_list", []):
            fields = branch["PLpgSQL_case_when"]
            if self.condition(fields["expr"]):
                self.run_block(fields.get("stmts", []))
                return
        if not f.get("have_else"):
            raise MirrordbError("case not found", sqlstate="20000",
                                hint="CASE statement is missing ELSE part.")
        self.run_block(f.get("else_stmts", []))

    def _PLpgSQL_stmt_getdiag(self, f: Node) -> None:
        for item in f.get("diag_items", []):
            fields = item["PLpgSQL_diag_item"]
            if fields.get("kind") != "ROW_COUNT":
                raise feature_not_supported(f"GET DIAGNOSTICS {fields.get('kind')}")
            self.assign(self.slot_of(fields["target"]), self.row_count, T.INT8_OID)

    def _PLpgSQL_stmt_dynexecute(self, f: Node) -> None:
        """EXECUTE text [INTO target] [USING values]: planned at each execution, its $n the
        USING values (the function's variables are not visible to it)."""
        text, _ = self.evaluate(f["query"])
        if text is None:
            raise MirrordbError("query string argument of EXECUTE is null", sqlstate="22004")
        arguments = [self.evaluate(p) for p in f.get("params", [])]
        rows, columns = self._dynamic(str(text), arguments)
        if f.get("into"):
            if f.get("strict") and len(rows) != 1:
                raise MirrordbError("query returned no rows" if not rows
                                    else "query returned more than one row",
                                    sqlstate="P0002" if not rows else "P0003")
            self._into(f["target"], rows[0] if rows else (None,) * len(columns), columns)

    def _dynamic(self, text: str, arguments: list[tuple[Any, int]]
                 ) -> tuple[list[tuple[Any, ...]], list[tuple[str, int]]]:
        from mirrordb.sql import dml
        from mirrordb.sql.planner import PlanBuilder
        parsed = parse(text)
        if len(parsed) != 1:
            raise MirrordbError("cannot insert multiple commands into a prepared statement",
                                sqlstate="42601")
        kind, tree = parsed[0].node_type, parsed[0].node
        builder = PlanBuilder(self.session, [type_oid for _, type_oid in arguments])
        assert self.ctx is not None
        ctx = ExecContext(self.ctx.txn, [value for value, _ in arguments], self.session,
                          self.ctx.function_context, self.ctx.check_interrupts)
        ctx.txn.transaction.command_counter_increment()
        if kind == "SelectStmt" and not tree.get("intoClause"):
            plan = builder.plan_query(tree)
            rows = list(plan.node.rows(ctx))
            self.row_count, columns = len(rows), plan.columns
        elif kind in ("InsertStmt", "UpdateStmt", "DeleteStmt"):
            plan = dml.plan_dml(builder, kind, tree)
            produced, count = plan.run(ctx)
            rows = list(produced) if plan.columns else []
            self.row_count, columns = int(count or 0), plan.columns or []
        else:
            rows, columns = self._utility(parsed[0]), []
            self.row_count = 0
        self._set_found(bool(self.row_count))
        return rows, [(c.name, c.type_oid) for c in columns]

    def _PLpgSQL_stmt_commit(self, f: Node) -> None:
        self._end_transaction(commit=True)

    def _PLpgSQL_stmt_rollback(self, f: Node) -> None:
        self._end_transaction(commit=False)

    def _end_transaction(self, commit: bool) -> None:
        """COMMIT / ROLLBACK in a procedure CALLed, or a DO run, outside a transaction block:
        the transaction ends and a new one goes on with the rest of the body."""
        session = self.session
        assert self.ctx is not None
        if not self.nonatomic or session.in_block:
            raise MirrordbError("invalid transaction termination", sqlstate="2D000")
        if self.ctx.txn.transaction.subtransactions:
            word = "commit" if commit else "roll back"
            raise MirrordbError(f"cannot {word} while a subtransaction is active",
                                sqlstate="2D000")
        if commit:
            session._commit()
        else:
            session._abort()
        txn = session._ensure_transaction()
        txn.new_statement()
        self.ctx.txn = txn

    def _PLpgSQL_stmt_assert(self, f: Node) -> None:
        if self.condition(f["cond"]) is not True:
            message = str(self.evaluate(f["message"])[0]) if f.get("message") \
                else "assertion failed"
            raise MirrordbError(message, sqlstate="P0004")

    # -- results ---------------------------------------------------------------------------------

    def _returned_name(self, f: Node) -> str | None:
        """The variable a ``RETURN [NEXT] var`` names (pglast's tree leaves it out)."""
        return _returned_names(self.source, int(f.get("lineno", 0)), self.slots)

    def _cast_result(self, value: Any, type_oid: int) -> Any:
        target = self.result_type
        if value is None or target in (type_oid, T.RECORD_OID, T.VOID_OID):
            return value
        if type_oid == T.UNKNOWN_OID:
            return T.parse_text(target, str(value), timezone=self.session.timezone)
        return T.cast(value, type_oid, target, context="assignment",
                      timezone=self.session.timezone)

    def run(self, ctx: ExecContext) -> None:
        self.ctx = ExecContext(ctx.txn, self.values, ctx.session, ctx.function_context,
                               ctx.check_interrupts)
        for index, datum in enumerate(self.tree["datums"]):
            kind, fields = one(datum)
            default = fields.get("default_val")
            if default is not None and self.slots.get(fields.get("refname", "")) == index:
                value, type_oid = self.evaluate(default)
                self.assign(index, value, type_oid)
        self._set_found(False)
        try:
            self.run_statement(self.tree["action"])
        except _Return:
            return
        except _Exit:
            raise MirrordbError("control reached end of function without RETURN",
                                sqlstate="2F005") from None
        if not self.returns_set and self.result_type != T.VOID_OID and not self.outputs:
            raise MirrordbError("control reached end of function without RETURN",
                                sqlstate="2F005", context=f"PL/pgSQL function {self.signature}")


# plpgsql_stmt_typename: how a CONTEXT line names the statement an error came from
_STATEMENT_WORDS = {
    "PLpgSQL_stmt_block": "statement block", "PLpgSQL_stmt_assign": "assignment",
    "PLpgSQL_stmt_if": "IF", "PLpgSQL_stmt_case": "CASE", "PLpgSQL_stmt_loop": "LOOP",
    "PLpgSQL_stmt_while": "WHILE", "PLpgSQL_stmt_fori": "FOR with integer loop variable",
    "PLpgSQL_stmt_fors": "FOR over SELECT rows", "PLpgSQL_stmt_return": "RETURN",
    "PLpgSQL_stmt_foreach_a": "FOREACH over array",
    "PLpgSQL_stmt_return_next": "RETURN NEXT", "PLpgSQL_stmt_return_query": "RETURN QUERY",
    "PLpgSQL_stmt_raise": "RAISE", "PLpgSQL_stmt_assert": "ASSERT",
    "PLpgSQL_stmt_execsql": "SQL statement", "PLpgSQL_stmt_dynexecute": "EXECUTE",
    "PLpgSQL_stmt_getdiag": "GET DIAGNOSTICS", "PLpgSQL_stmt_perform": "PERFORM",
    "PLpgSQL_stmt_commit": "COMMIT", "PLpgSQL_stmt_rollback": "ROLLBACK"}


def _statement_word(kind: str, fields: Node) -> str:
    if kind == "PLpgSQL_stmt_exit":
        return "EXIT" if fields.get("is_exit") else "CONTINUE"
    return _STATEMENT_WORDS.get(kind, kind.removeprefix("PLpgSQL_stmt_"))


# client_min_messages' values as elog levels; INFO goes to the client whatever it says
_CLIENT_LEVELS = {"debug5": 10, "debug4": 11, "debug3": 12, "debug2": 13, "debug1": 14,
                  "debug": 14, "log": 15, "notice": 18, "warning": 19, "error": 21}
_INFO = 17


def _sent_to_client(level: int, client_min_messages: str) -> bool:
    if level == _INFO:
        return True
    return level >= _CLIENT_LEVELS.get(client_min_messages.lower(), 18)


def _first_value_expr(plan: Any) -> Expr:
    """A query used as an expression: its first row's first value (no row: NULL)."""
    if len(plan.columns) != 1:
        raise MirrordbError(f"query returned {len(plan.columns)} columns", sqlstate="42601")
    node = plan.node

    def run(row: Any, ctx: ExecContext) -> Any:
        for produced in node.rows(ctx):
            return produced[0]
        return None
    return Expr(plan.columns[0].type_oid, run, name=plan.columns[0].name)


def _format(message: str, parameters: list[tuple[Any, int]]) -> str:
    """RAISE's message: each % takes the next parameter's text (NULL as <NULL>); %% is %."""
    parts, index, position = [], 0, 0
    while position < len(message):
        character = message[position]
        if character == "%" and message[position + 1:position + 2] == "%":
            parts.append("%")
            position += 2
            continue
        if character == "%" and index < len(parameters):
            value, type_oid = parameters[index]
            parts.append("<NULL>" if value is None else T.format_text(type_oid, value))
            index += 1
        else:
            parts.append(character)
        position += 1
    return "".join(parts)


def _sqlstate_of(text: str) -> str:
    if _SQLSTATE.match(text):
        return text
    code = CONDITIONS.get(text.lower())
    if code is None:
        raise MirrordbError(f'unrecognized exception condition "{text}"', sqlstate="42704")
    return code


def _handler_for(handlers: list[Node], error: MirrordbError) -> Node | None:
    for handler in handlers:
        fields = handler["PLpgSQL_exception"]
        for condition in fields.get("conditions", []):
            spec = condition["PLpgSQL_condition"]
            name = spec.get("condname", "")
            if name == "others":
                if error.sqlstate not in ("57014", "P0004"):
                    return fields
                continue
            code = spec.get("sqlerrstate") or CONDITIONS.get(name)
            if isinstance(code, str) and (code == error.sqlstate or (
                    code.endswith("000") and error.sqlstate[:2] == code[:2])):
                return fields
            if name == "sqlstate" or (code is None and _SQLSTATE.match(name.upper())):
                continue
    return None


_RETURN_VARIABLE = re.compile(r"\breturn\s+(?:next\s+)?([A-Za-z_][A-Za-z0-9_$]*)\s*;",
                              re.IGNORECASE)


def _returned_names(source: str, lineno: int, slots: dict[str, int]) -> str | None:
    lines = source.split("\n")
    if not 1 <= lineno <= len(lines):
        return None
    for match in _RETURN_VARIABLE.finditer(lines[lineno - 1]):
        name = match.group(1).lower()
        if name in slots:
            return name
    return None


def _type_of(session: Any, type_name: str) -> int:
    if type_name.lower() == "record":
        return T.RECORD_OID
    statement = parse(f"SELECT CAST(NULL AS {type_name})")[0]
    from mirrordb.sql.planner import PlanBuilder
    type_node = statement.node["targetList"][0]["ResTarget"]["val"]["TypeCast"]["typeName"]
    return PlanBuilder(session, []).resolve_type(type_node)[0]


# -- entry points ---------------------------------------------------------------------------------


def _parse(text: str) -> Node:
    from pglast.parser import ParseError, parse_plpgsql_json
    try:
        return json.loads(parse_plpgsql_json(text))[0]["PLpgSQL_function"]
    except ParseError as error:
        raise MirrordbError(str(error.args[0]) if error.args else "syntax error",
                            sqlstate="42601") from None


# pl_gram.y's errors that are not syntax errors (42601), and the word each points at
_PARSE_ERRORS = {"cannot use RETURN NEXT in a non-SETOF function": ("42804", "return"),
                 "cannot use RETURN QUERY in a non-SETOF function": ("42804", "return"),
                 "RETURN cannot have a parameter in function returning set": ("42804",
                                                                             "return"),
                 "RETURN cannot have a parameter in function with OUT parameters":
                     ("42804", "return")}
_NEAR = re.compile(r'at or near "(.*)"$')


def check_syntax(create_text: str, body_location: int) -> None:
    """CREATE FUNCTION ... LANGUAGE plpgsql: the body must parse (pl_gram.y's errors), the
    error placed where in the statement its word is (from ``body_location`` on)."""
    try:
        _parse(create_text)
    except MirrordbError as error:
        sqlstate, word = _PARSE_ERRORS.get(error.message, (error.sqlstate, None))
        error.sqlstate = sqlstate
        near = _NEAR.search(error.message)
        word = near.group(1) if near is not None else word
        if word and body_location >= 0:
            found = create_text.lower().find(word.lower(), body_location)
            if found >= 0:
                error.position = found + 1  # type: ignore[attr-defined]
        raise


def do_block(session: Any, node: Node) -> list[Any]:
    """DO [LANGUAGE plpgsql] $$ ... $$: run the block; its notices."""
    source = None
    for item in node.get("args", []):
        definition = item["DefElem"]
        if definition["defname"] == "as":
            source = definition["arg"]["String"]["sval"]
        elif definition["defname"] == "language" and \
                definition["arg"]["String"]["sval"].lower() != "plpgsql":
            language = definition["arg"]["String"]["sval"]
            raise MirrordbError(f'language "{language}" does not exist', sqlstate="42704")
    if source is None:
        raise MirrordbError("no inline code specified", sqlstate="42601")
    from mirrordb.sql.proc_catalog import dollar_quote
    tree = _parse(f"DO {dollar_quote(source, 'body')}")
    interpreter = Interpreter(session, "inline_code_block", tree, source,
                              nonatomic=not session.in_block)
    interpreter.declare()
    try:
        interpreter.run(session._context([]))
    except MirrordbError:
        session.pending_warnings.extend(interpreter.notices)
        raise
    return interpreter.notices


_CompiledFunctions = dict[tuple[int, str, int], tuple[Node, dict[int, _Compiled]]]
_COMPILED: weakref.WeakKeyDictionary[Any, _CompiledFunctions] = weakref.WeakKeyDictionary()
MAX_COMPILED_FUNCTIONS = 64          # per session


def _compiled_function(session: Any, routine: Any, create_text: str
                       ) -> tuple[Node, dict[int, _Compiled]]:
    """A routine's parse tree and the plans of its statements, kept per session until the
    catalogs change, so a function called per row is parsed and planned once."""
    generation = session.engine.relcache.generation
    kept = _COMPILED.setdefault(session, {})
    key = (routine.oid, create_text, generation)     # the text has the actual types
    found = kept.get(key)
    if found is None:
        if len(kept) >= MAX_COMPILED_FUNCTIONS:
            kept.clear()
        found = kept[key] = (_parse(create_text), {})
    return found


def call_function(routine: Any, create_text: str, ctx: ExecContext, arguments: list[Any],
                  nonatomic: bool = False) -> list[tuple[Any, ...]]:
    """Run a plpgsql routine with its input arguments: its result rows (a scalar function's
    one value, a SETOF function's rows, OUT parameters as one row)."""
    tree, cache = _compiled_function(ctx.session, routine, create_text)
    outputs = [(p.name, p.type_oid) for p in routine.outputs]
    interpreter = Interpreter(ctx.session, routine.name, tree, routine.source,
                              routine.returns_set, routine.result_type, outputs, cache=cache,
                              nonatomic=nonatomic)
    shown = ",".join(T.format_type(p.type_oid) for p in routine.inputs)
    interpreter.signature = f"{routine.name}({shown})"
    interpreter.declare()
    inputs = iter(arguments)
    for slot, parameter in enumerate(routine.parameters):   # parameters are the first datums
        if parameter.mode in "ibv":
            interpreter.values[slot] = next(inputs)
    try:
        interpreter.run(ctx)
    finally:
        ctx.session.pending_warnings.extend(interpreter.notices)
    if routine.returns_set:
        return interpreter.rows
    if outputs and interpreter.result is None:
        return [tuple(interpreter.values[interpreter.slots[name]] for name, _ in outputs)]
    if interpreter.result is None:
        return [(None,)]
    value, type_oid = interpreter.result
    return [(interpreter._cast_result(value, type_oid),)]
