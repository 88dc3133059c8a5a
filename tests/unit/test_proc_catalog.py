"""Pure parts of user-defined functions: pg_proc's stored row and its printing
(sql/proc_catalog.py), and PL/pgSQL's RAISE formatting and RETURN-variable recovery
(sql/plpgsql.py). The behaviour against a server is tests/compat/test_user_functions_compat.py
and test_plpgsql_compat.py."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import plpgsql
from mirrordb.sql import proc_catalog as pc
from mirrordb.sql import types as T


def _routine(**changes: object) -> pc.Routine:
    fields: dict[str, object] = dict(
        oid=16400, name="f", namespace_oid=2200, owner_oid=10, kind="f",
        security_definer=False, strict=True, returns_set=False, volatility="i",
        result_type=T.RECORD_OID,
        parameters=(pc.Parameter("a", T.INT4_OID, "i"), pc.Parameter("b", T.TEXT_OID, "o"),
                    pc.Parameter("", T.INT4_OID, "b"), pc.Parameter("xs", T.INT4_ARRAY_OID, "v")),
        defaults=({"A_Const": {"ival": {"ival": 1}}},), source="select 1", sql_body=None)
    fields.update(changes)
    return pc.Routine(**fields)  # type: ignore[arg-type]


def test_stored_row_round_trips() -> None:
    routine = _routine()
    values = pc.to_values(routine)
    assert values[13] == "23 23 1007"              # proargtypes: the inputs only
    assert values[14] == "23 25 23 1007" and values[15] == "iobv"
    assert pc.from_values(values) == routine
    assert routine.variadic_type == T.INT4_OID
    body = _routine(sql_body=[{"SelectStmt": {}}], body_texts=("SELECT 1",), source="")
    assert pc.from_values(pc.to_values(body)) == body


def test_all_input_parameters_store_no_modes() -> None:
    routine = _routine(parameters=(pc.Parameter("", T.INT4_OID, "i"),), defaults=())
    values = pc.to_values(routine)
    assert values[14] is None and values[15] is None and values[16] is None


def test_arguments_and_result_text() -> None:
    routine = _routine()
    printed = pc.arguments_text(routine, lambda node: "1")
    assert printed == "a integer, OUT b text, INOUT integer, VARIADIC xs integer[] DEFAULT 1"
    assert pc.arguments_text(routine, identity=True) == \
        "a integer, OUT b text, INOUT integer, VARIADIC xs integer[]"
    assert pc.result_text(routine) == "record"
    table = _routine(parameters=(pc.Parameter("n", T.INT4_OID, "t"),), defaults=(),
                     returns_set=True)
    assert pc.result_text(table) == "TABLE(n integer)"
    assert pc.result_text(_routine(kind="p")) is None


def test_dollar_quote_avoids_the_body() -> None:
    assert pc.dollar_quote("select 1") == "$function$select 1$function$"
    assert pc.dollar_quote("a $function b", "function") == "$functionx$a $function b$functionx$"
    assert pc.dollar_quote("x", "procedure") == "$procedure$x$procedure$"


def test_raise_formats_parameters() -> None:
    assert plpgsql._format("a % b %% c %", [(1, T.INT4_OID), (None, T.TEXT_OID)]) == \
        "a 1 b % c <NULL>"
    assert plpgsql._format("no params %", []) == "no params %"


def test_condition_names_and_sqlstates() -> None:
    assert plpgsql._sqlstate_of("division_by_zero") == "22012"
    assert plpgsql._sqlstate_of("22P02") == "22P02"
    with pytest.raises(MirrordbError) as caught:
        plpgsql._sqlstate_of("no_such_condition")
    assert caught.value.sqlstate == "42704"


def test_returned_variable_is_read_from_its_line() -> None:
    source = "begin\n  if x then return r; end if;\n  return next total ;\nend"
    slots = {"r": 0, "total": 1}
    assert plpgsql._returned_names(source, 2, slots) == "r"
    assert plpgsql._returned_names(source, 3, slots) == "total"
    assert plpgsql._returned_names(source, 9, slots) is None
