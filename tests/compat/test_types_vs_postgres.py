"""Differential test of the SQL type system against a real PostgreSQL 15.

Each case is a SQL expression. PostgreSQL evaluates ``SELECT <expression>`` (text results, read
raw from libpq: no client-side conversion), and so do we, with a small evaluator that walks
pglast's parse tree and calls only the type-system API (resolve_operator, resolve_function,
resolve_aggregate, cast, parse_text, format_text). The two must agree on the result type OID
and the exact text, or on the error's SQLSTATE and message.

Session as the brief fixes it: DateStyle 'ISO, MDY', IntervalStyle 'postgres',
extra_float_digits 1, TimeZone per case.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import aggregates, functions, operators
from mirrordb.sql import types as T

from types_pg_server import PostgresServer, postgres_available, running_postgres

psycopg = pytest.importorskip("psycopg")
pglast_parser = pytest.importorskip("pglast.parser")

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not postgres_available(),
                                 reason="PostgreSQL 15 binaries are not installed in "
                                        "/usr/lib/postgresql/15/bin")]

FIXED_NOW = datetime.datetime(2024, 5, 17, 12, 34, 56, 789012, tzinfo=datetime.UTC)

# -- the evaluator ---------------------------------------------------------------------------------

Value = tuple[int, Any]                      # (type OID, Python value)


class Unsupported(Exception):
    """An expression shape the evaluator does not know (a bug in the case table)."""


def _strings(nodes: list[dict[str, Any]]) -> list[str]:
    return [node["String"]["sval"] for node in nodes]


class Evaluator:
    def __init__(self, timezone: str, columns: dict[str, Value] | None = None) -> None:
        self.timezone = timezone
        self.columns = columns or {}
        self.context = functions.FunctionContext(timezone, FIXED_NOW, FIXED_NOW)

    def coerce(self, value: Value, target: int, context: str = "implicit",
               typmod: int = -1) -> Any:
        oid, python_value = value
        if python_value is None:
            return None
        if oid == target and typmod < 0:
            return python_value
        return T.cast(python_value, oid, target, typmod, context=context,
                      timezone=self.timezone)

    def evaluate(self, node: dict[str, Any]) -> Value:
        (kind, fields), = node.items()
        method = getattr(self, "_" + kind, None)
        if method is None:
            raise Unsupported(kind)
        return method(fields)  # type: ignore[no-any-return]

    def _A_Const(self, fields: dict[str, Any]) -> Value:
        if fields.get("isnull"):
            return T.UNKNOWN_OID, None
        if "ival" in fields:
            value = fields["ival"].get("ival", 0)
            return (T.INT4_OID if -2**31 <= value < 2**31 else T.INT8_OID), value
        if "fval" in fields:
            text = fields["fval"]["fval"]
            if text.lstrip("-").isdigit() and -2**63 <= int(text) < 2**63:
                value = int(text)
                return (T.INT4_OID if -2**31 <= value < 2**31 else T.INT8_OID), value
            return T.NUMERIC_OID, T.parse_text(T.NUMERIC_OID, text)
        if "sval" in fields:
            return T.UNKNOWN_OID, fields["sval"].get("sval", "")
        if "boolval" in fields:
            return T.BOOL_OID, bool(fields["boolval"].get("boolval", False))
        raise Unsupported("constant")

    def _ColumnRef(self, fields: dict[str, Any]) -> Value:
        return self.columns[_strings(fields["fields"])[-1]]

    def _TypeCast(self, fields: dict[str, Any]) -> Value:
        type_name = fields["typeName"]
        typmods = []
        for modifier in type_name.get("typmods", []):
            constant = modifier["A_Const"]
            typmods.append(constant["ival"].get("ival", 0) if "ival" in constant
                           else constant["sval"]["sval"])
        oid, typmod = T.resolve_type_name(_strings(type_name["names"]), typmods,
                                          len(type_name.get("arrayBounds", [])))
        argument = fields["arg"]
        if "A_ArrayExpr" in argument and not argument["A_ArrayExpr"].get("elements"):
            return oid, []
        value = self.evaluate(argument)
        return oid, self.coerce(value, oid, "explicit", typmod)

    def _A_Expr(self, fields: dict[str, Any]) -> Value:
        kind = fields["kind"]
        if kind not in ("AEXPR_OP", "AEXPR_LIKE", "AEXPR_ILIKE"):
            raise Unsupported(kind)
        name = _strings(fields["name"])[-1]
        right = self.evaluate(fields["rexpr"])
        if "lexpr" not in fields:
            resolved = operators.resolve_operator(name, None, right[0])
            operand = self.coerce(right, resolved.right_type)
            return resolved.result_type, None if operand is None else resolved.impl(operand)
        left = self.evaluate(fields["lexpr"])
        resolved = operators.resolve_operator(name, left[0], right[0])
        left_value = self.coerce(left, resolved.left_type or 0)
        right_value = self.coerce(right, resolved.right_type)
        if left_value is None or right_value is None:
            return resolved.result_type, None
        return resolved.result_type, resolved.impl(left_value, right_value)

    def _A_ArrayExpr(self, fields: dict[str, Any]) -> Value:
        elements = [self.evaluate(node) for node in fields.get("elements", [])]
        element_type = T.common_type([oid for oid, _ in elements], "ARRAY")
        return T.array_type_of(element_type), [self.coerce(element, element_type)
                                               for element in elements]

    def _CoalesceExpr(self, fields: dict[str, Any]) -> Value:
        arguments = [self.evaluate(node) for node in fields["args"]]
        result_type = T.common_type([oid for oid, _ in arguments], "COALESCE")
        for argument in arguments:
            value = self.coerce(argument, result_type)
            if value is not None:
                return result_type, value
        return result_type, None

    def _CaseExpr(self, fields: dict[str, Any]) -> Value:
        branches = [self.evaluate(when["CaseWhen"]["result"]) for when in fields["args"]]
        default = self.evaluate(fields["defresult"]) if "defresult" in fields else \
            (T.UNKNOWN_OID, None)
        # PostgreSQL puts the ELSE result first when it looks for the common type
        result_type = T.common_type([oid for oid, _ in [default] + branches], "CASE")
        results = [self.coerce(branch, result_type) for branch in branches]
        default_value = self.coerce(default, result_type)
        for when, result in zip(fields["args"], results):
            condition = self.evaluate(when["CaseWhen"]["expr"])
            if self.coerce(condition, T.BOOL_OID):
                return result_type, result
        return result_type, default_value

    def _BoolExpr(self, fields: dict[str, Any]) -> Value:
        if fields["boolop"] != "AND_EXPR":
            raise Unsupported(fields["boolop"])
        values = [self.coerce(self.evaluate(node), T.BOOL_OID) for node in fields["args"]]
        if False in values:
            return T.BOOL_OID, False
        return T.BOOL_OID, None if None in values else True

    def _FuncCall(self, fields: dict[str, Any]) -> Value:
        name = _strings(fields["funcname"])[-1]
        arguments = [self.evaluate(node) for node in fields.get("args", [])]
        resolved = functions.resolve_function(name, [oid for oid, _ in arguments])
        definition = resolved.definition
        values = [self.coerce(argument, oid)
                  for argument, oid in zip(arguments, resolved.arg_types)]
        if definition.strict and any(value is None for value in values):
            return definition.result_type, None
        if definition.needs_context:
            return definition.result_type, definition.impl(self.context, *values)
        return definition.result_type, definition.impl(*values)


def parse_expression(sql: str) -> dict[str, Any]:
    tree = json.loads(pglast_parser.parse_sql_json(f"SELECT {sql}"))
    return tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]


Outcome = tuple[str, ...]


def ours(sql: str, timezone: str) -> Outcome:
    T.set_session_timezone(timezone)
    try:
        oid, value = Evaluator(timezone).evaluate(parse_expression(sql))
        if oid == T.UNKNOWN_OID:
            oid, value = T.TEXT_OID, value
        text = None if value is None else T.format_text(oid, value, timezone=timezone)
        return ("ok", str(oid), repr(text))
    except MirrordbError as error:
        return ("error", error.sqlstate, error.message)
    finally:
        T.set_session_timezone("UTC")


def ours_aggregate(call: str, type_name: str, rows: list[str | None], timezone: str) -> Outcome:
    T.set_session_timezone(timezone)
    try:
        node = parse_expression(call)["FuncCall"]
        element_oid, _ = T.resolve_type_name([type_name], [])
        name = _strings(node["funcname"])[-1]
        arguments = node.get("args", [])
        constants = [None if "ColumnRef" in argument else Evaluator(timezone).evaluate(argument)
                     for argument in arguments]
        types = [element_oid if constant is None else constant[0] for constant in constants]
        resolved = aggregates.resolve_aggregate(name, [] if node.get("agg_star") else types)
        definition = resolved.definition
        state = definition.initial()
        evaluator = Evaluator(timezone)
        for row in rows:
            row_value = None if row is None else T.parse_text(element_oid, row, timezone=timezone)
            values = [evaluator.coerce((element_oid, row_value) if constant is None else constant,
                                       oid) for constant, oid in zip(constants, resolved.arg_types)]
            if definition.strict and any(value is None for value in values):
                continue
            state = definition.transition(state, *values)
        result = definition.final(state)
        text = None if result is None else T.format_text(definition.result_type, result,
                                                         timezone=timezone)
        return ("ok", str(definition.result_type), repr(text))
    except MirrordbError as error:
        return ("error", error.sqlstate, error.message)
    finally:
        T.set_session_timezone("UTC")


# -- PostgreSQL's answers ----------------------------------------------------------------------------


class Reference:
    def __init__(self, server: PostgresServer) -> None:
        self.connection = psycopg.connect(server.conninfo, autocommit=True)
        self.timezone = ""
        with self.connection.cursor() as cursor:
            cursor.execute("SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; "
                           "SET extra_float_digits = 1")

    def run(self, query: str, timezone: str) -> Outcome:
        with self.connection.cursor() as cursor:
            if timezone != self.timezone:
                cursor.execute(f"SET TimeZone = '{timezone}'")
                self.timezone = timezone
            try:
                cursor.execute(query, binary=False)
            except psycopg.Error as error:
                return ("error", error.diag.sqlstate or "", error.diag.message_primary or "")
            result = cursor.pgresult
            assert result is not None
            raw = result.get_value(0, 0)
            return ("ok", str(result.ftype(0)),
                    repr(None if raw is None else bytes(raw).decode("utf-8")))

    def close(self) -> None:
        self.connection.close()


@pytest.fixture(scope="module")
def reference() -> Iterator[Reference]:
    with running_postgres() as server:
        client = Reference(server)
        try:
            yield client
        finally:
            client.close()


# -- the cases -------------------------------------------------------------------------------------

UTC = "UTC"
NEW_YORK = "America/New_York"
KOLKATA = "Asia/Kolkata"
PARIS = "Europe/Paris"

LITERALS_AND_CASTS = [
    "1", "-2147483648", "2147483648", "9223372036854775807", "9223372036854775808", "1.50",
    "-0.0", "1e3", "1.5e-3", "'abc'", "NULL", "true", "'t'::bool", "'yes'::boolean",
    "'off'::bool", "' 1 '::bool", "'x'::bool", "'of'::bool", "'o'::bool",
    "'12'::int", "' -12 '::int4", "'x'::int", "'1.5'::int", "'99999999999'::int",
    "'40000'::int2", "'-32768'::smallint", "'9223372036854775807'::int8",
    "'9223372036854775808'::bigint", "''::int",
    "'1.5'::numeric", "'  1.50  '::numeric", "'NaN'::numeric", "'-Infinity'::numeric",
    "'inf'::numeric", "'1e5'::numeric", "'1.23e-5'::numeric", "'.5'::numeric",
    "'5.'::numeric", "'x'::numeric", "'1e100000000'::numeric", "'-0'::numeric",
    "'123.456'::numeric(5,2)", "'999.995'::numeric(5,2)", "'12345.6'::numeric(5,2)",
    "'0.5'::numeric(1,0)", "'-0.5'::numeric(1,0)", "'Infinity'::numeric(5,2)",
    "'NaN'::numeric(5,2)", "1.5::numeric(3,3)", "12.5::numeric(2,-1)",
    "'1.5'::float8", "'0.1'::float8", "'1e20'::float8", "'1e15'::float8", "'1e14'::float8",
    "'123456789012345678'::float8", "'1e-5'::float8", "'0.0001'::float8", "'-0'::float8",
    "'NaN'::float8", "'-inf'::float8", "'Infinity'::float8", "'1e400'::float8",
    "'1e-400'::float8", "'x'::float8", "'0x10'::float8", "'3.4028235e38'::float4",
    "'1e39'::float4", "'1e-50'::float4", "'0.1'::float4", "'1e6'::float4", "'123456'::float4",
    "'1.5e-5'::float4", "'16777217'::float4", "'3.14159265358979'::real",
    "1.0::float8 / 3", "2.0::float4 / 3", "1e300::float8 * 1e10::float8",
    "1e-300::float8 * 1e-300::float8", "100::float8 ^ 0.5", "0.1::float8 + 0.2::float8",
    "'abc'::varchar(2)", "'ab  '::varchar(2)", "'abc'::char(5)", "'abcdef'::char(3)",
    "'a'::char", "'abc'::character", "'abc'::bpchar", "'abc  '::bpchar", "'x'::\"char\"",
    "'xyz'::\"char\"", "''::\"char\"", "'abc'::name", "'abc'::text", "'café'::varchar(4)",
    "repeat('x', 70)::name", "'\\x414243'::bytea", "'\\x41 42'::bytea", "'abc'::bytea",
    "'a\\\\b'::bytea", "'\\101'::bytea", "'\\xg'::bytea", "'\\x1'::bytea", "'\\8'::bytea",
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "'{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}'::uuid",
    "'a0eebc999c0b4ef8bb6d6bb9bd380a11'::uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'::uuid",
    "'16/B374D848'::pg_lsn", "'x/1'::pg_lsn", "'123'::oid", "'-1'::oid", "'4294967296'::oid",
    "'x'::oid", "'{1,2,NULL}'::int[]", "'{}'::text[]", "'{\"a b\",c,\"\",\"NULL\",NULL}'::text[]",
    "'{ 1 , 2 }'::int[]", "'{a\\\\b,\"c\\\"d\"}'::text[]", "'{1,2'::int[]", "'1,2'::int[]",
    "'{1,{2}}'::int[]", "'[1:2]={5,6}'::int[]", "'{1.5,NaN}'::float8[]",
    "'{2024-01-01,2024-02-01}'::date[]", "'{true,f}'::bool[]", "ARRAY[1,2,3]",
    "ARRAY['a','b c']", "ARRAY[1.5, 2]", "ARRAY[1, 2.5]", "ARRAY[]::int[]",
    "'{\"x\":1}'::json", "'[1, 2,  3]'::json", "'{\"b\":1,\"a\":[true,null]}'::jsonb",
    "'{\"a\":1,\"a\":2}'::jsonb", "'1.50'::jsonb", "'\"a\\u00e9\\n\"'::jsonb", "'x'::json",
    "'{\"a\":}'::jsonb", "'[1e2, 1.0e1, -0]'::jsonb", "'NaN'::json",
    "'integer'::regtype", "'int4'::regtype", "'character varying'::regtype",
    "'timestamptz'::regtype", "'23'::regtype", "'numeric(10,2)'::regtype",
    "'text[]'::regtype", "'nosuchtype'::regtype",
    "1::int2 + 1::int2", "1::int8::int4", "3000000000::int8::int4", "70000::int4::int2",
    "2.5::float8::int", "3.5::float8::int", "-2.5::float8::int4", "1e10::float8::int4",
    "'NaN'::float8::int8", "2.5::numeric::int", "-2.5::numeric::int", "'NaN'::numeric::int",
    "'Infinity'::numeric::int", "1.5::numeric::float4", "0.1::float8::numeric",
    "(1.0/3)::float8::numeric", "1e20::float8::numeric", "123456789.123::float4::numeric",
    "'NaN'::float8::numeric", "'Infinity'::float8::numeric", "1::bool", "0::bool",
    "true::int", "65::\"char\"", "300::\"char\"", "'A'::\"char\"::int", "4294967295::oid",
    "4294967295::oid::int4", "(-1)::int4::oid", "1.7::int8::oid", "123::text",
    "12.50::text", "1.5::float8::text", "true::text", "'2024-01-01'::date::text",
    "123::varchar(2)", "'12'::text::int", "'  12'::varchar::int", "'abc'::char(5)::text",
    "'abc'::char(5)::varchar", "'abc  '::varchar::char(2)", "'abc'::text::name",
    "'{1,2}'::int[]::text[]", "'{1,2}'::text[]::int[]", "'{1.5,2.5}'::numeric[]::int[]",
    "ARRAY[1,2]::text", "'{\"a\":1}'::json::jsonb", "'{\"a\": 1}'::jsonb::json",
    "'true'::jsonb::bool", "'12.5'::jsonb::numeric", "'12'::jsonb::int", "'\"x\"'::jsonb::int",
    "'12.5'::jsonb::float8", "'{}'::jsonb::bool", "interval '1 day'::text",
    "'a'::text::regclass", "123::regclass", "'16384'::regclass",
]

OPERATORS = [
    "1 + 2", "2147483647 + 1", "-2147483648 - 1", "46341 * 46341", "7 / 2", "-7 / 2", "7 % 3",
    "-7 % 3", "7 % -3", "1 / 0", "1 % 0", "(-2147483648)::int4 / -1", "(-2147483648)::int4 % -1",
    "1::int2 + 1::int8", "32767::int2 + 1::int2", "32767::int2 + 1", "9223372036854775807 + 1",
    "(-9223372036854775808)::int8 * -1", "5::int8 / 2::int2", "- 5", "-(-2147483648)::int4",
    "@ -5", "@ -5.5", "+ 3", "~ 5", "5 & 3", "5 | 3", "5 # 3", "1 << 31", "1 << 32",
    "1::int8 << 63", "-8 >> 1", "1::int2 << 15", "1 + 1.5", "1.5 + 1", "1 + '2'", "'2' + 1",
    "1 + '2.5'", "'1' + '2'", "1 + 'a'::text", "1 + 1.5::float8", "1.5::float4 + 1",
    "1.5::float4 + 1.5::float8", "1.1::float4 * 3", "10 / 4.0", "1 / 3.0", "2 / 3::numeric",
    "1::numeric / 3", "10::numeric / 3.00", "1e10::numeric / 3", "123456789::numeric / 0.001",
    "1::numeric / 0", "0::numeric / 0", "'NaN'::numeric / 0", "'Infinity'::numeric - 'Infinity'",
    "'Infinity'::numeric * 0", "1.10::numeric * 2.200", "5::numeric % 3.00", "-7::numeric % 2",
    "7.5::numeric / 0.5", "2::numeric ^ 10", "2.5::numeric ^ 3", "2::numeric ^ 0.5",
    "10::numeric ^ -2", "0.5::numeric ^ 100", "0::numeric ^ -1", "(-8)::numeric ^ (1.0/3)",
    "2::numeric ^ 100", "1.5::numeric ^ 2.5", "0::numeric ^ 0", "2 ^ 3", "2.0 ^ 0.5",
    "(-8)::float8 ^ 0.5", "0::float8 ^ (-1)::float8", "10::float8 ^ 400", "|/ 16", "||/ 27",
    "|/ -1", "1.5::float8 / 0", "0::float8 / 0", "'NaN'::float8 / 0",
    "'Infinity'::float8 - 'Infinity'::float8", "1 = 1.0", "1 < 1.5", "1::int2 = 1::int8",
    "1 = 1::float8", "'NaN'::float8 = 'NaN'::float8", "'NaN'::float8 > 'Infinity'::float8",
    "'NaN'::numeric = 'NaN'::numeric", "'NaN'::numeric > 1e100", "0.1::float4 = 0.1::float8",
    "'abc' < 'abd'", "'abc' = 'abc'::char(5)", "'abc '::char(5) = 'abc'::varchar",
    "'a'::text < 'B'::text", "'é' > 'z'", "'abc'::name = 'abc'", "'abc'::name < 'abd'::text",
    "'2024-01-01'::date < '2024-01-01 00:00:01'::timestamp",
    "'2024-01-01'::date = '2024-01-01 00:00'::timestamptz",
    "'2024-01-01 00:00'::timestamp = '2024-01-01 00:00+00'::timestamptz",
    "interval '1 mon' = interval '30 days'", "interval '1 day' < interval '23 hours'",
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid < 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    "true > false", "'\\x01'::bytea < '\\x0100'::bytea", "1::oid < 2::oid",
    "'16/0'::pg_lsn > '15/FFFFFFFF'::pg_lsn", "ARRAY[1,2] = ARRAY[1,2]", "ARRAY[1,2] < ARRAY[1,3]",
    "ARRAY[1,2] < ARRAY[1,2,0]", "ARRAY[1,2] @> ARRAY[2]", "ARRAY[1,2] && ARRAY[3]",
    "ARRAY[1] <@ ARRAY[1,2]", "'{\"a\":1}'::jsonb = '{\"a\": 1}'::jsonb",
    "'abc' || 'def'", "'abc' || 1", "1 || 'abc'", "'a'::varchar || 'b'::varchar",
    "'a'::char(3) || 'b'", "'ab'::char(3) || 'c'::char(3)", "'\\x01'::bytea || '\\x02'::bytea",
    "ARRAY[1,2] || 3", "0 || ARRAY[1,2]", "ARRAY[1] || ARRAY[2,3]", "ARRAY[1] || 2.5",
    "'abc' || NULL", "NULL || NULL", "'abc' || true", "'x' || 1.50", "'{\"a\":1}'::jsonb || '{\"b\":2}'",
    "'[1]'::jsonb || '2'::jsonb", "'abc' LIKE 'a%'", "'abc' LIKE 'A%'", "'abc' ILIKE 'A%'",
    "'abc' NOT LIKE '_b_'", "'a%c' LIKE 'a\\%c'", "'abc' LIKE 'a\\'", "'a_c' LIKE 'a#_c' ESCAPE '#'",
    "'abc' LIKE 'abc' ESCAPE ''", "'ÉA' ILIKE 'éa'", "'abc '::char(4) LIKE 'abc'",
    "'foo.bar' LIKE 'foo.%'", "'line1\nline2' LIKE 'line1%'", "'abc' ~ '^a'", "'abc' ~ 'B'",
    "'abc' ~* 'B'", "'abc' !~ 'b'", "'abc' !~* 'B'", "'pg_class' ~ '^(pg_class)$'",
    "'abc' ~ '[[:alpha:]]+'", "'a1' ~ '^[[:digit:]]'", "'abc' ~ '('", "'foo bar' ~ '\\mbar'",
    "'abc' ~ 'a{2}'", "'aa' ~ 'a{2}'", "'{\"a\":{\"b\":[1,2]}}'::jsonb -> 'a'",
    "'{\"a\":{\"b\":[1,2]}}'::json -> 'a'", "'{\"a\": [1,  2]}'::json -> 'a'",
    "'{\"a\": \"x\\ny\"}'::json ->> 'a'", "'{\"a\":1}'::jsonb ->> 'a'", "'[1,2,3]'::jsonb -> 1",
    "'[1,2,3]'::jsonb -> -1", "'[1,2,3]'::json ->> 5", "'{\"a\":null}'::jsonb ->> 'a'",
    "'{\"a\":null}'::jsonb -> 'a'", "'{\"a\":1}'::jsonb -> 'b'", "'[1]'::jsonb -> 'a'",
    "'{\"a\": 1.50}'::json ->> 'a'", "'{\"a\":1}'::jsonb @> '{}'", "'[1,2]'::jsonb @> '[1]'",
    "'{\"a\":1}'::jsonb ? 'a'", "'[\"a\",\"b\"]'::jsonb ? 'b'", "'abc' ^@ 'ab'",
    "- 'a'::text", "'a' + 'b'", "1 @@ 2",
]

DATETIME = [
    "'2024-01-15'::date", "'2024-02-30'::date", "'2024-13-01'::date", "'13/01/2024'::date",
    "'01/02/2024'::date", "'01/02/03'::date", "'1999-Jan-08'::date", "'Jan 8 1999'::date",
    "'8 Jan 1999'::date", "'January 8, 1999'::date", "'20240102'::date", "'2024.01.02'::date",
    "'99-01-02'::date", "'abc'::date", "'2024-01-01 12:34'::date", "'epoch'::date",
    "'0001-01-01'::date",
    "'12:34:56'::time", "'12:34:56.789'::time", "'12:34'::time", "'1:2:3'::time", "'25:00'::time",
    "'12:60'::time", "'12:00 pm'::time", "'12:00 am'::time", "'1:30 PM'::time", "'13:00 pm'::time",
    "'allballs'::time", "'2024-01-01 10:00'::time", "'10:00+02'::time", "'abc'::time",
    "'12:34:56.1234567'::time", "'12:34:56.123'::time(1)", "'12:34:56.99'::time(1)",
    "'2024-01-15 12:34:56'::timestamp", "'2024-01-15T12:34:56.5'::timestamp",
    "'2024-01-15 12:34:56+05'::timestamp", "'2024-01-15 25:00'::timestamp",
    "'2024-01-15 24:00'::timestamp", "'2024-01-15 23:59:60'::timestamp",
    "'2024-01-15 12:34:56.1234567'::timestamp", "'2024-01-15 12:34:56.123456'::timestamp(2)",
    "'2024-01-15 12:34:56.555'::timestamp(2)", "'epoch'::timestamp", "'20240115 123456'::timestamp",
    "'20240115T123456'::timestamp", "'2024-01-15 12:34:56 PST'::timestamp",
    "'abc'::timestamp", "'2024-01-15'::timestamp",
    "'2024-01-15 12:00'::timestamptz", "'2024-01-15 12:00+05:30'::timestamptz",
    "'2024-01-15 12:00-0800'::timestamptz", "'2024-01-15 12:00Z'::timestamptz",
    "'2024-01-15T12:00:00.5+01'::timestamptz", "'2024-01-15 12:00 PST'::timestamptz",
    "'2024-01-15 12:00 EDT'::timestamptz", "'2024-01-15 12:00 Europe/Paris'::timestamptz",
    "'2024-01-15 12:00 America/New_York'::timestamptz", "'2024-01-15 12:00 Mars/Olympus'::timestamptz",
    "'2024-01-15 12:00 UTC'::timestamptz", "'epoch'::timestamptz",
    ("'2024-01-15 12:00'::timestamptz", NEW_YORK), ("'2024-07-15 12:00'::timestamptz", NEW_YORK),
    ("'2024-11-03 01:30'::timestamptz", NEW_YORK), ("'2024-03-10 02:30'::timestamptz", NEW_YORK),
    ("'1850-01-01'::timestamptz", NEW_YORK), ("'2024-01-15 12:00'::timestamptz", KOLKATA),
    ("'2024-01-15 12:00+00'::timestamptz", KOLKATA), ("'2024-06-15 12:00+00'::timestamptz", PARIS),
    ("'2024-01-15 12:00'::timestamptz::timestamp", PARIS),
    ("'2024-01-15 12:00'::timestamp::timestamptz", PARIS),
    ("'2024-01-15'::date::timestamptz", NEW_YORK), ("'2024-01-15 02:00+00'::timestamptz::date", NEW_YORK),
    ("'2024-01-15 02:00+00'::timestamptz::time", NEW_YORK),
    "'1 day'::interval", "'2 hours 3 minutes'::interval", "'1-2'::interval", "'00:01:00'::interval",
    "'P1D'::interval", "'P1Y2M3DT4H5M6.5S'::interval", "'PT1.5S'::interval", "'P1W'::interval",
    "'1.5 years 1.5 months 1.5 days'::interval", "'-1 +02:03'::interval", "'1:2:3.5'::interval",
    "'5'::interval", "'1 week ago'::interval", "'-1 day -2 hours'::interval",
    "'1 mon -1 day'::interval", "'@ 1 minute'::interval", "'1 year 2 mons 3 days 04:05:06.789'::interval",
    "'100 hours'::interval", "'-00:00:01'::interval", "'1 millisecond'::interval",
    "'1.5 weeks'::interval", "'1 decade 1 century'::interval", "'abc'::interval",
    "'1 day 1 day'::interval", "'0'::interval", "'1 day -00:00:01'::interval",
    "'-1 year -2 mons +3 days'::interval", "'1-13'::interval", "'12:60'::interval",
    "'1 hour 30 minutes'::interval(0)", "'1.234567 seconds'::interval(2)",
    "'2024-01-31'::date + 1", "'2024-01-31'::date - 1", "1 + '2024-01-31'::date",
    "'2024-03-01'::date - '2024-02-01'::date", "'2024-01-31'::date + interval '1 month'",
    "'2024-01-31'::date - interval '1 month'", "'2024-01-31'::date + '12:30'::time",
    "'2024-01-31 10:00'::timestamp + interval '1 day 2 hours'",
    "'2024-01-31 10:00'::timestamp - interval '1 mon'",
    "'2024-03-31 10:00'::timestamp - '2024-01-01 12:00'::timestamp",
    "'2024-01-01 12:00'::timestamp - '2024-03-31 10:00'::timestamp",
    ("'2024-03-09 12:00'::timestamptz + interval '1 day'", NEW_YORK),
    ("'2024-03-09 12:00'::timestamptz + interval '24 hours'", NEW_YORK),
    ("'2024-03-11 12:00'::timestamptz - '2024-03-09 12:00'::timestamptz", NEW_YORK),
    ("'2024-01-31 12:00'::timestamptz + interval '1 month'", KOLKATA),
    "'12:00'::time + interval '13 hours'", "'12:00'::time - interval '13 hours'",
    "'12:00'::time - '10:30'::time", "interval '1 day' + interval '2 hours'",
    "interval '1 day' - interval '2 days'", "- interval '1 mon 2 days 03:00'",
    "interval '1 mon' * 1.5", "interval '1 day' * 0.5", "interval '1 hour' / 3",
    "interval '1 mon 1 day' / 2", "interval '1 mon' / 0", "2 * interval '1.5 days'",
    "interval '10 days' * 3.3", "interval '1 year' / 7",
    "'2024-01-01 10:00'::timestamp + '1 day'", "'2024-01-01'::date + '1'",
    "date_trunc('month', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('week', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('quarter', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('year', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('decade', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('century', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('millennium', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('hour', '2024-05-17 12:34:56.789'::timestamp)",
    "date_trunc('milliseconds', '2024-05-17 12:34:56.789123'::timestamp)",
    "date_trunc('bogus', '2024-05-17 12:34:56'::timestamp)",
    "date_trunc('epoch', '2024-05-17 12:34:56'::timestamp)",
    ("date_trunc('day', '2024-05-17 02:00+00'::timestamptz)", NEW_YORK),
    ("date_trunc('month', '2024-11-17 02:00+00'::timestamptz)", NEW_YORK),
    ("date_trunc('hour', '2024-05-17 12:34+00'::timestamptz)", KOLKATA),
    "date_trunc('day', '2024-05-17 02:00+00'::timestamptz, 'Asia/Tokyo')",
    "date_trunc('hour', interval '1 day 12:34:56')", "date_trunc('year', interval '14 mons 3 days')",
    "extract(year from '2024-05-17 12:34:56.5'::timestamp)",
    "extract(second from '2024-05-17 12:34:56.5'::timestamp)",
    "extract(milliseconds from '2024-05-17 12:34:56.5'::timestamp)",
    "extract(microseconds from '2024-05-17 12:34:56.5'::timestamp)",
    "extract(epoch from '2024-05-17 12:34:56.5'::timestamp)",
    "extract(dow from '2024-05-19'::timestamp)", "extract(isodow from '2024-05-19'::timestamp)",
    "extract(doy from '2024-05-17'::timestamp)", "extract(week from '2024-01-01'::timestamp)",
    "extract(isoyear from '2024-12-30'::timestamp)", "extract(quarter from '2024-05-17'::timestamp)",
    "extract(century from '2024-05-17'::timestamp)", "extract(millennium from '2001-01-01'::timestamp)",
    "extract(decade from '2024-05-17'::timestamp)", "extract(julian from '2024-05-17 12:00'::timestamp)",
    "extract(julian from '2024-05-17'::date)", "extract(epoch from '2024-05-17'::date)",
    "extract(year from '2024-05-17'::date)", "extract(hour from '2024-05-17'::date)",
    "extract(hour from '12:34:56'::time)", "extract(second from '12:34:56.25'::time)",
    "extract(epoch from '12:34:56.25'::time)", "extract(day from '12:34'::time)",
    "extract(epoch from interval '1 day 2 hours')", "extract(epoch from interval '1 year 1 mon')",
    "extract(hour from interval '30 hours')", "extract(month from interval '14 mons')",
    "extract(year from interval '-14 mons')", "extract(second from interval '1 min 2.5 s')",
    "extract(bogus from '2024-05-17'::timestamp)", "extract(timezone from '2024-05-17'::timestamp)",
    ("extract(timezone from '2024-05-17 12:00+00'::timestamptz)", KOLKATA),
    ("extract(timezone_hour from '2024-05-17 12:00+00'::timestamptz)", NEW_YORK),
    ("extract(hour from '2024-05-17 12:00+00'::timestamptz)", NEW_YORK),
    ("extract(epoch from '2024-05-17 12:00+00'::timestamptz)", NEW_YORK),
    "date_part('year', '2024-05-17 12:34:56'::timestamp)",
    "date_part('second', '2024-05-17 12:34:56.5'::timestamp)",
    "date_part('epoch', '2024-05-17 12:34:56.5'::timestamp)",
    "date_part('hour', '2024-05-17'::date)", "date_part('epoch', interval '1.5 days')",
    "date_part('minute', '12:34:56'::time)",
    "age('2024-03-01'::timestamp, '2023-01-31'::timestamp)",
    "age('2023-01-31'::timestamp, '2024-03-01'::timestamp)",
    "age('2024-03-01 10:00'::timestamp, '2024-02-28 12:00'::timestamp)",
    ("age('2024-03-31 00:00+00'::timestamptz, '2024-01-31 12:00+00'::timestamptz)", NEW_YORK),
    "make_date(2024, 2, 29)", "make_date(2023, 2, 29)", "make_date(0, 1, 1)",
    "make_time(12, 34, 56.5)", "make_time(25, 0, 0)", "make_timestamp(2024, 1, 2, 3, 4, 5.5)",
    ("make_timestamptz(2024, 1, 2, 3, 4, 5.5)", NEW_YORK),
    "make_timestamptz(2024, 1, 2, 3, 4, 5, 'Asia/Tokyo')",
    "make_interval(1, 2, 3, 4, 5, 6, 7.5)", "make_interval(0, 0, 0, 10)",
    "make_interval()", "justify_days(interval '35 days')", "justify_days(interval '-35 days')",
    "justify_hours(interval '50 hours')", "justify_hours(interval '-50 hours')",
    "justify_interval(interval '1 mon -1 hour')", "justify_interval(interval '-1 mon 50 hours')",
    "isfinite('2024-01-01'::date)", "to_timestamp(1700000000.5)", "to_timestamp(0)",
    ("to_timestamp(1700000000)", NEW_YORK), "'2024-05-17 12:00'::timestamp AT TIME ZONE 'Asia/Tokyo'",
    "'2024-05-17 12:00+00'::timestamptz AT TIME ZONE 'America/New_York'",
    ("'2024-05-17 12:00'::timestamp AT TIME ZONE 'UTC'", KOLKATA),
    "'2024-05-17 12:00+00'::timestamptz AT TIME ZONE 'Nowhere/Land'",
]

FORMATTING = [
    "to_char('2024-03-05 14:07:09.123456'::timestamp, 'YYYY-MM-DD HH24:MI:SS.US')",
    "to_char('2024-03-05 14:07:09.123456'::timestamp, 'Month Mon Day Dy DDD D ID W WW IW CC Q J')",
    "to_char('2024-03-05 14:07:09'::timestamp, 'AM am A.M. HH HH12 FMHH12 FMMonth|')",
    "to_char('2024-03-05 14:07:09'::timestamp, 'DDth FMDDth Y,YYY YYY YY Y IYYY RM rm SSSS')",
    "to_char('2024-03-01 00:07:09.5'::timestamp, 'MS FF3 \"lit\" TZ OF TZH:TZM BC FMDay, FMDDth of FMMonth')",
    "to_char('2024-12-22'::timestamp, 'DAY day Dy dy MONTH month mon MON')",
    ("to_char('2024-03-05 14:07:09+00'::timestamptz, 'YYYY-MM-DD HH24:MI:SS TZ tz OF TZH:TZM')", KOLKATA),
    ("to_char('2024-07-05 14:07:09+00'::timestamptz, 'HH24:MI TZ OF')", NEW_YORK),
    "to_char(interval '1 year 2 mons 3 days 25:04:05.5', 'YYYY MM DD HH24 HH MI SS MS')",
    "to_char(123, '999')", "to_char(-123, '999')", "to_char(0.5, '9.99')", "to_char(0.5, '0.99')",
    "to_char(12, 'FM999')", "to_char(1234, '9,999')", "to_char(12345, '999')", "to_char(5, '9th')",
    "to_char(1.5, '9.9EEEE')", "to_char(485, 'RN')", "to_char(-0.5, 'S9.99')",
    "to_char(123.456, '999.99')", "to_char(-5, '999MI')", "to_char(-5, '999PR')",
    "to_char(7, '00009')", "to_char(5, '9,999')", "to_char(1234567, '9,999')", "to_char(-5, 'PL999')",
    "to_char(5, 'PL999')", "to_char(5, 'SG999')", "to_char(-5, 'SG999')", "to_char(5, '999PR')",
    "to_char(5, '9S')", "to_char(-5, '9S')", "to_char(5, 'L999')", "to_char(12.4, '99V9')",
    "to_char(0.1, 'FM9.99')", "to_char(1, 'FM9.99')", "to_char(12.5, 'FM990.00')",
    "to_char(5, 'FM999MI')", "to_char(-5, 'FM999MI')", "to_char(12345.6, '999.9')",
    "to_char(-12345.6, '999.9')", "to_char(1.5::float8, '9.99')", "to_char(2.675::float8, '9.99')",
    "to_char(123456789.123::float8, '999999999.999')", "to_char(0, '999')", "to_char(0, '0')",
    "to_char(-1.5, '99.9EEEE')", "to_char(12345, '9.99EEEE')", "to_char(0.000123, '9.9EEEE')",
    "to_char(5, 'rn')", "to_char(0, 'RN')", "to_char(21, 'FM99th')", "to_char(-21, '99th')",
    "to_char(1234.5, '9G999D99')", "to_char(3, '\"x\"9')", "to_char(5, '9 9')",
    "to_char(0, '9.99')", "to_char(0, '99')", "to_char(0.5, '99')", "to_char(0, 'FM999')",
    "to_char(-0.4, '999')", "to_char(-0.4, '9.9')", "to_char(0.04, '9.9')", "to_char(0, '0.99')",
    "to_char(10, '9')", "to_char(1.999, '9.99')", "to_char(9.999, '9.99')", "to_char(-12, '0999')",
    "to_char(12, 'S0999')", "to_char(1234, '9,9')", "to_char(123.4, '999D9FM')",
    "to_char(1e20::numeric, '9999')", "to_char(5, 'MI999')", "to_char(-5, 'MI999')",
    "to_char(5.5::float4, '9.9')", "to_char(-0.0::float8, '9.9')", "to_char(1234567890123, '9999999999999')",
    "to_char(12.345, '99.9')", "to_char(-12.345, 'FM99.99')", "to_char(1000000, '9G999G999')",
    "to_date('05 Mar 2024', 'DD Mon YYYY')", "to_date('2024-03-05', 'YYYY-MM-DD')",
    "to_date('20240305', 'YYYYMMDD')", "to_date('1/2/24', 'MM/DD/YY')",
    "to_date('March 5, 2024', 'Month DD, YYYY')", "to_date('2024-02-30', 'YYYY-MM-DD')",
    "to_timestamp('2024-03-05 14:07:09', 'YYYY-MM-DD HH24:MI:SS')",
    ("to_timestamp('2024-03-05 02:07:09 PM', 'YYYY-MM-DD HH12:MI:SS AM')", NEW_YORK),
    "to_timestamp('2024-03-05 14:07:09.123', 'YYYY-MM-DD HH24:MI:SS.MS')",
    "to_number('12,454.8', '99G999D9')", "to_number('-12.5', '999.99')",
]

STRINGS = [
    "length('abc')", "length('abc '::char(6))", "length('é')", "char_length('abc')",
    "octet_length('é')", "octet_length('ab'::char(4))", "bit_length('abc')", "length('\\x0102'::bytea)",
    "lower('ABC É')", "upper('abc é')", "initcap('hello wORLD foo_bar 3d')", "initcap('héllo wörld')",
    "substr('hello', 2)", "substr('hello', 2, 3)", "substr('hello', 0, 3)", "substr('hello', -1, 3)",
    "substr('hello', 2, -1)", "substring('hello' from 2 for 2)", "substring('hello', 10)",
    "strpos('hello', 'll')", "strpos('hello', 'z')", "position('l' in 'hello')",
    "btrim('  ab  ')", "btrim('xxabxx', 'x')", "ltrim('  ab  ')", "rtrim('  ab  ')",
    "ltrim('xyab', 'yx')", "trim(both 'x' from 'xxaxx')", "trim(leading from '  a  ')",
    "replace('hello', 'l', 'L')", "replace('hello', '', 'x')", "concat('a', 1, NULL, 2.5, true)",
    "concat()", "concat_ws(',', 'a', NULL, 1)", "concat_ws(NULL, 'a')", "left('hello', 2)",
    "left('hello', -2)", "right('hello', 2)", "right('hello', -2)", "repeat('ab', 3)",
    "repeat('ab', -1)", "reverse('abc')", "lpad('hi', 5)", "lpad('hi', 5, 'xy')", "lpad('hello', 2)",
    "rpad('hi', 5, 'xy')", "rpad('hi', 0)", "lpad('hi', 5, '')", "split_part('a,b,c', ',', 2)",
    "split_part('a,b,c', ',', -1)", "split_part('a,b,c', ',', 5)", "split_part('a,b,c', ',', 0)",
    "md5('abc')", "md5('\\x01'::bytea)", "to_hex(255)", "to_hex(-1)", "to_hex(-1::int8)",
    "chr(65)", "chr(233)", "chr(0)", "ascii('A')", "ascii('')", "quote_ident('foo')",
    "quote_ident('Foo')", "quote_ident('select')", "quote_ident('a b')", "quote_ident('a\"b')",
    "quote_literal('it''s')", "quote_literal('a\\b')", "quote_literal(42)", "quote_nullable(NULL)",
    "quote_nullable('x')", "format('%s-%s', 'a', 1)", "format('%I.%I', 'public', 'My Table')",
    "format('%L', 'it''s')", "format('%L', NULL)", "format('%%')", "format('%2$s %1$s', 'a', 'b')",
    "format('%5s|%-5s|', 'a', 'b')", "format('%s')", "format('%x', 1)",
    "regexp_replace('hello world', 'o', '0')", "regexp_replace('hello world', 'o', '0', 'g')",
    "regexp_replace('hello', '(l+)', '[\\1]')", "regexp_replace('Hello', 'h', 'j', 'i')",
    "regexp_match('foobarbaz', 'b(a)(r)')", "regexp_match('foo', 'x')", "regexp_match('foo', 'o+')",
    "regexp_like('abc', 'B', 'i')", "regexp_count('banana', 'an')",
    "regexp_split_to_array('a1b2c', '[0-9]')", "starts_with('hello', 'he')",
    "translate('hello', 'el', 'ip')", "translate('hello', 'lo', 'x')",
    "string_to_array('a,b,,c', ',')", "string_to_array('a,b,,c', ',', '')",
    "string_to_array('abc', NULL)", "string_to_array('', ',')", "array_to_string(ARRAY[1,NULL,3], ',')",
    "array_to_string(ARRAY[1,NULL,3], ',', '*')", "array_length(ARRAY[1,2,3], 1)",
    "array_length(ARRAY[]::int[], 1)", "cardinality(ARRAY[1,2])", "array_upper(ARRAY[1,2], 1)",
    "array_append(ARRAY[1,2], 3)", "array_prepend(0, ARRAY[1])", "array_cat(ARRAY[1], ARRAY[2])",
    "array_position(ARRAY['a','b'], 'b')", "array_remove(ARRAY[1,2,1], 1)", "like_escape('a#%', '#')",
    "length(NULL)", "upper(NULL)", "foo(1)", "length(1)", "abs('x')", "substr('abc', '2')",
]

MATH = [
    "abs(-5)", "abs(-5.5)", "abs(-5.5::float8)", "abs((-2147483648)::int4)", "ceil(1.2)",
    "ceil(-1.2::float8)", "ceiling(1.5)", "floor(-1.5)", "floor(1.5::float8)", "round(2.5)",
    "round(-2.5)", "round(2.5::float8)", "round(3.5::float8)", "round(2.345, 2)", "round(1234.5, -2)",
    "round(1)", "round(1.5::numeric, 10)", "trunc(2.789)", "trunc(2.789, 1)", "trunc(-2.789::float8)",
    "trunc(1234.5, -2)", "sqrt(2)", "sqrt(2::numeric)", "sqrt(100::numeric)", "sqrt(1000000.00::numeric)",
    "sqrt(-1)", "sqrt(-1::numeric)", "cbrt(27)", "cbrt(-8)", "power(2, 10)", "power(2::numeric, 10)",
    "pow(2.0, 0.5)", "exp(1)", "exp(1::numeric)", "exp(100::numeric)", "exp(1000)", "exp(-1000)",
    "ln(2)", "ln(2::numeric)", "ln(1e100::numeric)", "ln(0)", "ln(-1::numeric)", "log(100)",
    "log(100::numeric)", "log(2, 8)", "log(2::numeric, 8::numeric)", "log10(1000)", "mod(7, 3)",
    "mod(-7, 3)", "mod(7.5, 2)", "mod(7, 0)", "sign(-3.5)", "sign(0::float8)", "sign(2)",
    "pi()", "degrees(1)", "radians(180)", "sin(1)", "cos(0)", "tan(1)", "asin(1)", "acos(2)",
    "atan(1)", "atan2(1, 2)", "cot(1)", "div(7, 2)", "div(-7.5, 2)", "gcd(12, 18)", "gcd(12.5, 2.5)",
    "lcm(4, 6)", "lcm(2147483647, 2)", "width_bucket(5.35, 0.024, 10.06, 5)",
    "width_bucket(5.35::float8, 0.024, 10.06, 5)", "width_bucket(-1, 0, 10, 5)",
    "width_bucket(10, 0, 10, 5)", "width_bucket(5, 10, 0, 5)", "width_bucket(5, 0, 10, 0)",
    "factorial(10)", "scale(1.500)", "1.0 / 7", "1 / 7.0", "10.0 / 3", "2.00 / 4", "100 / 7.000",
    "0.001 / 7", "123456789012345678901234567890 / 7", "1 / 0.0000001", "sqrt(0.0001::numeric)",
    "exp(0.5::numeric)", "ln(1.0001::numeric)", "ln(0.5::numeric)", "log(10, 0.001::numeric)",
    "power(1.0001::numeric, 10000)", "2::numeric ^ 0.5::numeric", "abs(-0.0)",
]

AGGREGATES = [
    ("count(*)", "int4", ["1", None, "3"]), ("count(x)", "int4", ["1", None, "3"]),
    ("count(x)", "int4", []), ("sum(x)", "int4", ["1", "2", None]), ("sum(x)", "int2", ["1", "2"]),
    ("sum(x)", "int8", ["9223372036854775807", "1"]), ("sum(x)", "numeric", ["1.5", "2.25"]),
    ("sum(x)", "float8", ["0.1", "0.2"]), ("sum(x)", "float4", ["0.1", "0.2"]),
    ("sum(x)", "interval", ["1 day", "2 hours"]), ("sum(x)", "int4", []),
    ("sum(x)", "int4", ["2147483647", "1"]), ("sum(x)", "float8", ["1e308", "1e308"]),
    ("avg(x)", "int4", ["1", "2"]), ("avg(x)", "int4", ["1", "2", "2"]), ("avg(x)", "int8", ["10"]),
    ("avg(x)", "numeric", ["1.5", "2.25", "3"]), ("avg(x)", "float8", ["0.1", "0.2", "0.4"]),
    ("avg(x)", "float4", ["0.1", "0.2"]), ("avg(x)", "interval", ["1 day", "2 hours", "3 mons"]),
    ("avg(x)", "int4", []), ("min(x)", "int4", ["3", "1", "2"]), ("max(x)", "text", ["b", "a", "c"]),
    ("max(x)", "numeric", ["NaN", "1"]), ("min(x)", "float8", ["NaN", "1"]),
    ("max(x)", "date", ["2024-01-01", "2023-01-01"]), ("min(x)", "interval", ["1 mon", "31 days"]),
    ("max(x)", "bpchar", ["a", "b"]), ("max(x)", "_int4", ["{1,2}", "{1,3}"]),
    ("bool_and(x)", "bool", ["t", "f"]), ("bool_or(x)", "bool", ["t", "f"]),
    ("every(x)", "bool", ["t", None]), ("string_agg(x, ',')", "text", ["a", None, "b", "c"]),
    ("string_agg(x, '')", "text", []), ("array_agg(x)", "int4", ["1", None, "3"]),
    ("array_agg(x)", "text", ["a", "b c"]), ("array_agg(x)", "int4", []),
    ("stddev(x)", "int4", ["1", "2", "3", "4"]), ("stddev_pop(x)", "int4", ["1", "2", "3", "4"]),
    ("variance(x)", "int4", ["1", "2", "3", "4"]), ("var_pop(x)", "int4", ["1", "2", "3", "4"]),
    ("var_samp(x)", "numeric", ["1.5", "2.25", "3.125"]), ("stddev(x)", "numeric", ["1.5", "2.25"]),
    ("stddev(x)", "float8", ["1.5", "2.25", "3.125"]), ("variance(x)", "float8", ["0.1", "0.2", "0.3"]),
    ("stddev(x)", "int4", ["1"]), ("var_pop(x)", "int4", ["1"]), ("stddev(x)", "int4", ["5", "5"]),
    ("variance(x)", "float4", ["1.5", "2.5"]), ("stddev_samp(x)", "int8", ["100", "200", "400"]),
    ("bit_and(x)", "int4", ["12", "10"]), ("bit_or(x)", "int4", ["12", "10"]),
    ("bit_xor(x)", "int2", ["12", "10"]), ("json_agg(x)", "int4", ["1", None, "3"]),
    ("jsonb_agg(x)", "text", ["a", "b"]), ("sum(x)", "text", ["a"]), ("avg(x)", "text", ["1"]),
]


FLOAT_OUTPUT = [
    f"{value}::float8" for value in (
        "1.0/3", "2.0/3", "1e-10", "123.456", "1e100", "'5e-324'", "'1.7976931348623157e308'",
        "0.3", "100", "1e16", "12345678.9", "-1.5e-7", "'123456789012345.6'", "1e15 + 0.5",
        "'0.000123'", "'9007199254740993'", "'-1e-320'", "2.5e-5", "'1e22'", "'1e21'")
] + [
    f"{value}::float4" for value in (
        "1.0/3", "0.3", "16777216", "16777217", "'1e-38'", "'3e-45'", "'3.4e38'", "123456.7",
        "1234567.8", "0.000123", "'1e-5'", "2.5", "'7.038531e-26'", "'1.1754944e-38'")
] + [
    "0.1::float4::float8", "0.1::float4 + 0.2::float4", "1e10::float4 * 1e30::float4",
    "(1e-30::float4 * 1e-30::float4)", "3::float4 / 7", "16777217::int4::float4",
    "9007199254740993::int8::float8", "0.1::float4::numeric", "1.0e10::float4::text",
    "sqrt(2)::float4", "pi()::numeric", "exp(1)::text", "1e15::float8::text", "1e-5::float8::int",
]

NUMERIC_ARITHMETIC = [
    "1/7::numeric", "1::numeric(10,4)/7", "12345.6789 * 0.001", "-7.5 / 2", "-7.5 % 2",
    "7.5 % -2", "0.0001 / 3", "1e-10::numeric / 3", "100000000000000000000 / 3",
    "12345678901234567890.123 / 0.7", "'1.23e+5'::numeric", "'0.000001234'::numeric",
    "2.5::numeric(10,0)", "3.5::numeric(10,0)", "-2.5::numeric(10,0)", "0.125::numeric(5,2)",
    "-0.125::numeric(5,2)", "99.995::numeric(4,2)", "1e3::numeric(3,0)", "1e3::numeric(4,0)",
    "sqrt(12345678901234567890::numeric)", "sqrt(0.00000001::numeric)", "sqrt(2.0000::numeric)",
    "exp(10::numeric)", "exp(-10::numeric)", "exp(0.000001::numeric)", "ln(1e-10::numeric)",
    "ln(123456789::numeric)", "ln(1.1::numeric)", "ln(0.9::numeric)", "log(1e-20::numeric)",
    "log(7, 1e50::numeric)", "power(2::numeric, -3)", "power(-2::numeric, 3)",
    "power(1.5::numeric, -2.5)", "power(10::numeric, 0.5)", "power(0.5::numeric, 0.5)",
    "power(123.456::numeric, 3)", "power(2::numeric, 1000)", "power(9.99::numeric, 0)",
    "round(123.4567, 3)", "round(-123.4567, 1)", "round(0.5)", "round(-0.5)", "round(1.5, 0)",
    "round(12345, -5)", "round(5, -1)", "round(15, -1)", "round(-15, -1)", "trunc(-1.99)",
    "trunc(123.456, -1)", "ceil(-0.5)", "floor(-0.5)", "ceil(0.0001)", "abs(-0.00)",
    "sign(-0.001)", "mod(-10.5, 3)", "div(10.5, 3)", "div(-10.5, 3)", "1.000 + 2.5",
    "1.000 - 2.5", "1.000 * 2.5", "0.1 + 0.2", "1 - 1.00", "-(1.50)", "+(1.50)",
    "2 * 3.0", "4.0 / 2", "10 / 3::numeric(5,2)", "1.5::numeric::text", "gcd(0, 0)",
    "lcm(0, 5)", "gcd(-12, 18)", "123.45::numeric::int", "-123.5::numeric::int2",
    "1e20::numeric::int8", "1e20::numeric::float8", "1e20::numeric::float4", "'NaN'::numeric + 1",
    "'Infinity'::numeric + 1", "'Infinity'::numeric / 'Infinity'", "1 / 'Infinity'::numeric",
    "'Infinity'::numeric % 2", "sqrt('Infinity'::numeric)", "exp('-Infinity'::numeric)",
    "ln('Infinity'::numeric)", "'-Infinity'::numeric * -1", "abs('-Infinity'::numeric)",
]

INTERVAL_AND_TIME = [
    "'1 year -1 mons'::interval", "'-1 year 2 mons'::interval", "'1 day -1 hours'::interval",
    "'-00:00:00.5'::interval", "'25:00:00'::interval", "'-25:00:00'::interval",
    "'1 mon 00:00:00.000001'::interval", "'1 mon -00:00:00.000001'::interval",
    "'-1 mon -1 day -00:00:01'::interval", "'1 day'::interval * 1.3333",
    "'1 mon'::interval * 0.3333", "'1 mon'::interval / 7", "'1 day'::interval / 7",
    "'1 hour'::interval * -2.5", "'3 days 4 hours'::interval / 1.5", "'1 year'::interval * 2",
    "'36 hours'::interval + '1 day'::interval", "'1 mon'::interval - '1 day'::interval",
    "'12:00'::time + '1 mon 1 day 1 hour'::interval", "'00:30'::time - '1 hour'::interval",
    "'23:59:59.999999'::time", "'2024-02-29'::date + interval '1 year'",
    "'2024-02-29'::date - interval '1 year'", "'2024-01-31'::date + interval '1 mon 1 day'",
    "'0001-01-01 00:00'::timestamp", "'9999-12-31 23:59:59.999999'::timestamp",
    "'2024-01-01 12:00:00.9999995'::timestamp", "'2024-01-01 12:00:00.0000005'::timestamp",
    "'2024-01-01 23:59:59.9999999'::timestamp", "'2024-06-01 12:00:00+05:45'::timestamptz",
    ("'2024-06-01 12:00:00+00'::timestamptz", "Asia/Kathmandu"),
    ("'2024-06-01 12:00:00+00'::timestamptz", "Australia/Lord_Howe"),
    ("'2024-06-01 12:00:00+00'::timestamptz", "America/St_Johns"),
    ("'1900-01-01 12:00:00+00'::timestamptz", "Europe/Amsterdam"),
    ("'2024-06-01 12:00:00'::timestamptz", "UTC+3"), ("'2024-06-01 12:00:00'::timestamptz", "+05:30"),
    ("'2024-06-01 12:00:00+00'::timestamptz", "EST5EDT"),
    "'2024-06-01 12:00:00'::timestamp - '2024-06-01 12:00:00.5'::timestamp",
    "'2024-06-01'::timestamp - '2020-01-01'::timestamp",
    "'2024-06-01'::date - '2020-01-01'::date", "'2024-06-01'::date - 366",
    "'2024-06-01 10:00'::timestamp + '-1 mon 1 day'::interval",
    ("'2024-10-27 00:30:00+00'::timestamptz + interval '1 hour'", PARIS),
    ("'2024-10-26 12:00:00+00'::timestamptz + interval '1 day'", PARIS),
    ("'2024-10-27 12:00:00+00'::timestamptz - '2024-10-26 12:00:00+00'::timestamptz", PARIS),
    ("'2024-03-31 02:30'::timestamptz", PARIS), ("'2024-10-27 02:30'::timestamptz", PARIS),
    ("date_trunc('day', '2024-10-27 12:00:00+00'::timestamptz)", PARIS),
    ("'2024-10-27'::date::timestamptz", PARIS), ("'2024-10-27 03:00'::timestamp::timestamptz", PARIS),
    "'2024-01-15 12:00'::timestamp::date", "'2024-01-15 12:34:56.5'::timestamp::time",
    "'12:34:56'::time::interval", "'26 hours'::interval::time", "'-1 hour'::interval::time",
    "'2024-01-15'::date::timestamp", "'2024-01-15 12:34:56.123456'::timestamp(3)",
    "'2024-01-15 12:34:56.987654'::timestamp(0)", "'12:34:56.987654'::time(0)",
    "'1 day 12:34:56.987654'::interval(0)", "'1 day 12:34:56.987654'::interval(3)",
    "'2024-01-15 12:34:56.123456+00'::timestamptz(1)",
]

RESOLUTION = [
    "'1' = 1", "'1.5' = 1.5", "'abc' = 'abc'", "'a' < 'b'", "NULL = NULL", "1 = NULL",
    "'1 day' + '2024-01-01'::date", "'2024-01-01'::date + '1 day'::interval",
    "'2024-01-01' + interval '1 day'", "'2024-01-01'::date - '2023-12-01'",
    "1.5::float4 = 1.5", "1::int2 = '1'", "'1'::text = 1", "'5' > 10", "'10' > 5",
    "'a' || 'b'", "'1' || 2", "1::int8 + 2::int2 * 3", "2 ^ '2'", "- '5'", "@ '-5'",
    "'{1,2}' @> ARRAY[1]", "ARRAY[1,2] = '{1,2}'", "'abc' LIKE 'a%'::varchar",
    "'abc'::varchar(10) = 'abc'::char(10)", "'abc'::name = 'abc'::varchar", "true AND 't'::bool",
    "3 / 2 * 2.0", "1 + 2::numeric * 3.5::float8", "COALESCE(NULL, 1, 2.5)",
    "COALESCE(1, 'a'::text)", "COALESCE('a', 'b')", "COALESCE(NULL, NULL)",
    "COALESCE(1::int2, 2::int8)", "COALESCE('2024-01-01'::date, '2024-01-02 10:00'::timestamp)",
    "COALESCE('2024-01-01'::date, now())", "COALESCE(1, true)",
    "CASE WHEN true THEN 1 ELSE 'x' END", "CASE WHEN true THEN 1 ELSE '2' END",
    "CASE WHEN false THEN 1.5 ELSE 2 END", "CASE WHEN true THEN 'a' ELSE 'b'::varchar END",
    "CASE WHEN true THEN 1 ELSE 2::float4 END", "CASE WHEN true THEN 'x'::char(3) ELSE 'y' END",
    "CASE WHEN true THEN 1 ELSE 'a'::text END", "CASE WHEN true THEN NULL ELSE NULL END",
]


def _cases(rows: list[Any]) -> list[tuple[str, str]]:
    return [(row, UTC) if isinstance(row, str) else row for row in rows]


EXPRESSION_CASES = _cases(LITERALS_AND_CASTS + OPERATORS + DATETIME + FORMATTING + STRINGS
                          + MATH + FLOAT_OUTPUT + NUMERIC_ARITHMETIC + INTERVAL_AND_TIME
                          + RESOLUTION)


@pytest.mark.parametrize("expression,timezone", EXPRESSION_CASES,
                         ids=[f"{sql} [{zone}]" for sql, zone in EXPRESSION_CASES])
def test_expression_matches_postgres(reference: Reference, expression: str,
                                     timezone: str) -> None:
    expected = reference.run(f"SELECT {expression}", timezone)
    assert ours(expression, timezone) == expected


def _values_sql(type_name: str, rows: list[str | None]) -> str:
    if not rows:
        return f"(SELECT NULL::{type_name} AS x WHERE false) v"
    literals = ", ".join("(NULL::" + type_name + ")" if row is None
                         else "('" + row.replace("'", "''") + "'::" + type_name + ")"
                         for row in rows)
    return f"(VALUES {literals}) v(x)"


@pytest.mark.parametrize("call,type_name,rows", AGGREGATES,
                         ids=[f"{call} over {type_name} {rows}" for call, type_name, rows
                              in AGGREGATES])
def test_aggregate_matches_postgres(reference: Reference, call: str, type_name: str,
                                    rows: list[str | None]) -> None:
    expected = reference.run(f"SELECT {call} FROM {_values_sql(type_name, rows)}", UTC)
    assert ours_aggregate(call, type_name, rows, UTC) == expected


# -- binary formats ----------------------------------------------------------------------------------

BINARY_CASES = [
    ("bool", "t"), ("bool", "f"), ("int2", "-32768"), ("int4", "123456"), ("int8", "-1"),
    ("oid", "4294967295"), ("float4", "0.1"), ("float4", "-Infinity"), ("float8", "1e-300"),
    ("float8", "NaN"), ("numeric", "0"), ("numeric", "1.50"), ("numeric", "-123456789.0001"),
    ("numeric", "0.00001"), ("numeric", "10000"), ("numeric", "NaN"), ("numeric", "Infinity"),
    ("numeric", "-Infinity"), ("numeric", "1e100"), ("numeric", "0.000"), ("numeric", "99999.9999"),
    ("text", "héllo"), ("varchar", "abc"), ("bpchar", "ab  "), ("name", "pg_class"),
    ("char", "x"), ("bytea", "\\x00ff10"), ("date", "2024-02-29"), ("date", "1999-12-31"),
    ("time", "12:34:56.789"), ("timestamp", "2024-05-17 12:34:56.789012"),
    ("timestamp", "1970-01-01"), ("timestamptz", "2024-05-17 12:34:56+02"),
    ("interval", "1 year 2 mons -3 days 04:05:06.5"), ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ("json", "{\"a\": [1, 2]}"), ("jsonb", "{\"b\": 1, \"a\": [true, null]}"),
    ("pg_lsn", "16/B374D848"), ("_int4", "{1,NULL,3}"), ("_text", "{a,\"b c\"}"), ("_int4", "{}"),
    ("_numeric", "{1.5,NaN}"), ("_float8", "{1.5,-0}"), ("_bool", "{t,f,NULL}"),
    ("int2vector", "1 2 3"), ("oidvector", "23 25"), ("regtype", "integer"),
]


def _pg_binary(reference: Reference, type_name: str, literal: str) -> tuple[int, bytes]:
    with reference.connection.cursor() as cursor:
        escaped = literal.replace("'", "''")
        cursor.execute(f"SELECT '{escaped}'::{type_name}", binary=True)
        result = cursor.pgresult
        assert result is not None
        raw = result.get_value(0, 0)
        assert raw is not None
        return result.ftype(0), bytes(raw)


def _pg_text_of_binary(reference: Reference, oid: int, data: bytes) -> str:
    result = reference.connection.pgconn.exec_params(b"SELECT $1::text", [data], [oid], [1])
    raw = result.get_value(0, 0)
    assert raw is not None, result.error_message
    return bytes(raw).decode("utf-8")


@pytest.mark.parametrize("type_name,literal", BINARY_CASES,
                         ids=[f"{name} {literal}" for name, literal in BINARY_CASES])
def test_binary_format_matches_postgres(reference: Reference, type_name: str,
                                        literal: str) -> None:
    oid, pg_bytes = _pg_binary(reference, type_name, literal)
    value = T.parse_text(oid, literal)
    assert T.format_binary(oid, value) == pg_bytes          # our send == PostgreSQL's send
    received = T.parse_binary(oid, pg_bytes)                # our recv reads PostgreSQL's send
    assert T.format_text(oid, received) == T.format_text(oid, value)
    if oid not in (T.TIMESTAMPTZ_OID,):                     # PostgreSQL's recv reads our send
        expected_text = reference.run(f"SELECT '{literal.replace(chr(39), chr(39) * 2)}'::"
                                      f"{type_name}::text", UTC)[2]
        assert repr(_pg_text_of_binary(reference, oid, T.format_binary(oid, value))) == \
            expected_text
