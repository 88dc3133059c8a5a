"""The json functions and operators applications use most, side by side with a real
PostgreSQL 15 (tests/compat/differential.py): the path and key operators, jsonb_set and
jsonb_insert, strip_nulls, jsonb_pretty, to_json(b), json(b)_object(_agg), and the
set-returning functions in select lists and in FROM (with LATERAL). Results must agree on
column names, type OIDs and rows as text (jsonb's key order and number forms included), and
errors on SQLSTATE, message, hint and position.
"""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "set timezone = 'UTC'",
    "create table t (id int, j jsonb, s json)",
    """insert into t values
       (1, '{"a": 1, "b": [1, 2.50, {"c": "x"}], "bb": {"d": null}}', '{"x" : 1, "y": [true, 1.50]}'),
       (2, '[1, "a", null]', '[1, "two" , {"k" : null}]'),
       (3, '"scalar"', '7'),
       (4, null, null)""",
    "create table r (a int, b text, c jsonb, d timestamp, e numeric[])",
    """insert into r values (1, 'x"y', '{"k": [1, 2]}', '2024-01-02 03:04:05', '{1.50,null}'),
       (2, null, null, null, null)""",
]

both = pair_fixture("json_functions", SETUP)

PATH_OPERATORS = [
    "select '{\"a\":{\"b\":[1,2,{\"c\":3}]}}'::jsonb #> '{a,b,-1,c}'",
    "select '{\"a\":{\"b\":[1,2]}}'::jsonb #> '{a,b}', '{\"a\":{\"b\":[1,2]}}'::jsonb #>> '{a,b}'",
    "select '[1,2]'::jsonb #> '{x}', '[1,2]'::jsonb #> '{}', '[1,2]'::jsonb #> '{5}'",
    "select '\"s\"'::jsonb #>> '{}', '3'::jsonb #> '{a}', '{\"a\":null}'::jsonb #>> '{a}'",
    "select '{\"a\":null}'::jsonb #> '{a}', '{\"a\":1}'::jsonb #> '{a,NULL}'",
    "select '{\"a\":\"x\"}'::jsonb #>> '{a}', '{\"a\":1.50}'::jsonb #>> '{a}'",
    "select '{\"a\":{\"b\" :  [1, 2]}}'::json #> '{a}', '{\"a\":{\"b\" :  [1, 2]}}'::json #>> '{a,b,1}'",
    "select '{\"a\":\"x\"}'::json #>> '{a}', '\"x\"'::json #>> '{}', '{\"a\" : 1}'::json #> '{}'",
    "select '[1,[2,3]]'::json #> '{1,-1}', '{\"a\":[1]}'::json #> '{a,x}', '{\"a\":1}'::json #> '{a,NULL}'",
    "select '{\"a\":1}'::jsonb #> null::text[], null::jsonb #> '{a}'",
    "select id, j #> '{b,2,c}', j #>> '{b,1}', s #> '{y,0}', s #>> '{x}' from t order by id",
    "select json_extract_path('{\"a\":{\"b\" : 1}}', 'a'), json_extract_path_text('{\"a\":{\"b\" : 1}}', 'a', 'b')",
    "select jsonb_extract_path('{\"a\":[1,2]}', 'a', '1'), jsonb_extract_path_text('{\"a\":\"x\"}', 'a')",
    "select jsonb_extract_path('{\"a\":1}')",
    "select jsonb_extract_path_text(j, 'b', '2', 'c'), json_extract_path(s, 'y') from t order by id",
]

KEY_OPERATORS = [
    "select '{\"a\":1,\"b\":2}'::jsonb - 'a', '[\"a\",\"b\",\"a\"]'::jsonb - 'a'",
    "select '{\"a\":1,\"b\":2,\"c\":3}'::jsonb - '{a,c}'::text[], '[\"a\",1]'::jsonb - '{a,NULL}'::text[]",
    "select '[1,2,3]'::jsonb - 1, '[1,2,3]'::jsonb - -1, '[1,2,3]'::jsonb - 9, '[1,2,3]'::jsonb - -9",
    "select '1'::jsonb - 'a'", "select '{\"a\":1}'::jsonb - 0", "select '1'::jsonb - 0",
    "select '\"a\"'::jsonb - '{}'::text[]",
    "select '{\"a\":{\"b\":[1,2]}}'::jsonb #- '{a,b,0}', '{\"a\":1}'::jsonb #- '{}'",
    "select '[1,2]'::jsonb #- '{-1}', '{\"a\":1}'::jsonb #- '{x,y}', '[1,2]'::jsonb #- '{7}'",
    "select '[1,2]'::jsonb #- '{x}'", "select '1'::jsonb #- '{x}'",
    "select '{\"a\":1}'::jsonb #- '{NULL}'",
    "select '{\"a\":1,\"b\":2}'::jsonb ?| array['a','z'], '{\"a\":1}'::jsonb ?& array['a','z']",
    "select '{\"a\":1}'::jsonb ?& '{}', '[\"a\",\"b\"]'::jsonb ?& array['a','b']",
    "select '{\"a\":1}'::jsonb ?| array[null], '\"a\"'::jsonb ?| array['a'], '{}'::jsonb ?| '{}'",
    "select id, j - 'a', j ?| array['a', 'x'], j ?& array['a', 'b'] from t where id <> 3 order by id",
    "select '{\"a\":1}'::json - 'a'",
]

MODIFYING = [
    "select jsonb_set('{\"a\":[1,2]}', '{a,x}', '3')",
    "select jsonb_set('{\"a\":[1,2]}', '{a,5}', '3'), jsonb_set('{\"a\":[1,2]}', '{a,-5}', '3')",
    "select jsonb_set('{\"a\":[1,2]}', '{a,-1}', '3'), jsonb_set('{\"a\":[1,2]}', '{a,0}', '{\"z\": null}')",
    "select jsonb_set('{\"a\":[1,2]}', '{b}', '3'), jsonb_set('{\"a\":[1,2]}', '{b}', '3', false)",
    "select jsonb_set('{\"a\":[1,2]}', '{b,c}', '3'), jsonb_set('{\"a\":[1,2]}', '{}', '3')",
    "select jsonb_set('{\"a\":[1,2]}', '{a,5}', '3', false), jsonb_set('{\"a\":{\"b\":1}}', '{a,b}', '[]')",
    "select jsonb_set('1', '{a}', '3')", "select jsonb_set('1', '{}', '3')",
    "select jsonb_set('1', '{NULL}', '3')", "select jsonb_set('{\"a\":1}', '{NULL}', '3')",
    "select jsonb_set('{\"a\":1}', '{a,NULL}', '3')",
    "select jsonb_set('[1]', '{0,a}', '3'), jsonb_set('{\"a\":1}', '{a,b}', '3')",
    "select jsonb_set('{\"a\":1}', '{a}', null), jsonb_set(null, '{a}', '1')",
    "select jsonb_insert('{\"a\":[1,2]}', '{a,1}', '9'), jsonb_insert('{\"a\":[1,2]}', '{a,1}', '9', true)",
    "select jsonb_insert('{\"a\":[1,2]}', '{a,9}', '9'), jsonb_insert('{\"a\":[1,2]}', '{a,-9}', '9')",
    "select jsonb_insert('{\"a\":[1,2]}', '{b}', '9'), jsonb_insert('{\"a\":[1,2]}', '{a,-1}', '9', true)",
    "select jsonb_insert('{\"a\":[1,2]}', '{a}', '9')", "select jsonb_insert('1', '{a}', '9')",
    "select jsonb_insert('[1]', '{x}', '9')",
    "select id, jsonb_set(j, '{b,0}', '\"new\"') from t where id <> 3 order by id",
    "select jsonb_strip_nulls('{\"a\":null,\"b\":[1,null,{\"c\":null}],\"d\":{\"e\":null}}')",
    "select json_strip_nulls('{\"a\" : null, \"b\" : [1, null, {\"c\":null, \"d\" : 2}]}')",
    "select jsonb_strip_nulls('null'), jsonb_strip_nulls('[null, {\"a\": null}]'), json_strip_nulls('\"x\"')",
    "select json_strip_nulls('[null, {\"a\\n\": 1.50e1, \"b\": null}]')",
    "select id, jsonb_strip_nulls(j), json_strip_nulls(s) from t order by id",
]

PRETTY_AND_BUILDING = [
    "select jsonb_pretty('{\"a\":1,\"b\":[1,2,{\"c\":{}}],\"d\":[],\"e\":{\"f\":\"x\"}}')",
    "select jsonb_pretty('[]'), jsonb_pretty('1'), jsonb_pretty('{}'), jsonb_pretty('[[]]')",
    "select jsonb_pretty('\"x\"'), jsonb_pretty('{\"bb\":1,\"a\":null,\"ccc\":[true,false]}')",
    "select id, jsonb_pretty(j) from t order by id",
    "select to_json(1.50::numeric), to_json('x'::text), to_json(true), to_json(null::int)",
    "select to_json('2024-01-02 03:04:05.5'::timestamp), to_jsonb('2024-01-02 03:04:05+02'::timestamptz)",
    "select to_json('2024-01-02'::date), to_json('NaN'::float8), to_json(array['a\"b'])",
    "select to_json(array[1,null]), to_jsonb(array['x', null]), to_json(1e10::float8), to_jsonb(1.5::real)",
    "select to_json('1 day'::interval), to_json('10:00'::time), to_json('{\"a\":1}'::json)",
    "select to_jsonb(42::int8), to_jsonb(-3::int2), to_json(E'line\\nbreak'::text), to_jsonb('{\"b\":1,\"a\":2}'::json)",
    "select jsonb_object('{a,1,b,2}'), json_object('{a,1,b,2}'), jsonb_object('{a,b}', '{1,2}')",
    "select json_object('{a,b}', '{1,null}'), json_object('{}'), jsonb_object('{}'::text[])",
    "select jsonb_object('{a}')", "select json_object('{a,b}', '{1}')",
    "select json_object(array[null,'a'])",
    "select jsonb_object_agg(k, v), json_object_agg(k, v) from (values ('b', 1), ('a', 2)) x(k, v)",
    "select jsonb_object_agg(k, v) from (values (null, 1)) x(k, v)",
    "select json_object_agg(k, v) from (values ('a', null::int)) x(k, v)",
    "select json_object_agg(k, v) from (values (1, 'x'::text)) x(k, v) where false",
    "select jsonb_object_agg(id, j), json_object_agg(id, s) from t",
    "select jsonb_object_agg(x, y) from (values ('a', 1), ('a', 2)) v(x, y)",
]

RECORDS = [
    "select row_to_json(r) from r order by a",
    "select row_to_json(r, true) from r order by a",
    "select to_json(r), to_jsonb(r) from r order by a",
    "select to_json(r.*), row_to_json(r.*) from r order by a",
    "select row_to_json(x) from (select 1 as a, 'q' as b, array[1,2] as c, 1.50 as d) x",
    "select row_to_json(x) from (select 1 a, 2 a) x",
    "select a, (select row_to_json(r)) from r order by a",
    "select json_agg(r order by a), jsonb_agg(r order by a) from r",
    "select jsonb_build_object('r', r) from r order by a",
    "select a, row_to_json(r)->>'b' from r order by 1",
    "select row_to_json(r) from r group by a",
    "select row_to_json(nosuch) from r",
]

TO_RECORD = [
    "select * from jsonb_to_record('{\"a\":1,\"b\":\"x\",\"c\":[1,2],\"d\":{\"e\":1},\"f\":\"2024-01-01\"}')"
    " as x(a int, b text, c jsonb, d json, f date, g text)",
    "select * from json_to_record('{\"a\":1,\"b\":\"x\",\"c\":[1,2],\"d\":{\"e\" : 1}}')"
    " as x(a int, b text, c jsonb, d json)",
    "select * from jsonb_to_record('{\"a\":1.5}') as x(a int)",
    "select * from jsonb_to_record('{\"a\":\"x\"}') as x(a int)",
    "select * from jsonb_to_record('{\"a\":true, \"b\": 2}') as x(a text, b text)",
    "select * from jsonb_to_record('{\"a\":true, \"b\": 2}') as x(a bool, b numeric)",
    "select * from jsonb_to_record('[1]') as x(a int)",
    "select * from jsonb_to_record('1') as x(a int)",
    "select * from jsonb_to_record('{\"a\":1}')",
    "select * from jsonb_to_recordset('[{\"a\":1,\"b\":\"x\"},{\"a\":2}]') as x(a int, b text)",
    "select * from jsonb_to_recordset('{\"a\":1}') as x(a int)",
    "select * from jsonb_to_recordset('[1]') as x(a int)",
    "select * from json_to_recordset('[{\"a\":1,\"b\":\"x\"},{\"a\":2}]') as x(a int, b text)",
    "select * from jsonb_to_record('{\"a\":[1,2]}') as x(a int[])",
    "select * from jsonb_to_record('{\"a\":{\"b\":1}}') as x(a text)",
    "select * from jsonb_to_record('{\"a\":\"x\"}') as x(a jsonb)",
    "select * from jsonb_to_record(null) as x(a int)",
    "select * from jsonb_to_recordset(null) as x(a int)",
    "select t.id, x.* from (values (1, '{\"a\":5}'::jsonb)) t(id, j), jsonb_to_record(t.j)"
    " as x(a int)",
    "select * from jsonb_to_record('{\"a\":\"abcdef\"}') as x(a varchar(3))",
    "select * from json_to_record('[1]') as x(a int)",
    "select * from json_to_recordset('{\"a\":1}') as x(a int)",
    "select * from json_to_recordset('[1]') as x(a int)",
    "select * from jsonb_to_recordset('[{\"a\":1}, null]') as x(a int)",
]

SET_RETURNING = [
    "select * from jsonb_each('{\"b\":[1, 2], \"a\":null, \"aa\": \"x\"}')",
    "select * from jsonb_each_text('{\"b\":[1, 2], \"a\":null, \"aa\": \"x\"}')",
    "select * from json_each('{\"a\" : [1, 2], \"b\":null, \"c\" : \"x\", \"a\": 2}')",
    "select * from json_each_text('{\"a\" : [1, 2], \"b\":null, \"c\" : \"x\"}')",
    "select * from jsonb_array_elements('[1,\"a\",null,{\"b\":2}]')",
    "select * from jsonb_array_elements_text('[1,\"a\",null,{\"b\":2}]') as x(v)",
    "select * from json_array_elements('[1, \"a\" , {\"b\" : 2}, null]')",
    "select * from json_array_elements_text('[1, \"a\" , {\"b\" : 2}, null]')",
    "select * from jsonb_object_keys('{\"b\":1,\"aa\":2}')",
    "select * from jsonb_object_keys('{\"b\":1,\"aa\":2}') k",
    "select * from jsonb_object_keys('{\"b\":1,\"aa\":2}') k(name)",
    "select * from json_object_keys('{\"b\":1, \"a\":2, \"b\":3}')",
    "select * from jsonb_array_elements('[1,\"a\"]') with ordinality",
    "select * from jsonb_each('{\"a\":1}') with ordinality as e(k, v, n)",
    "select * from jsonb_each(null)", "select * from jsonb_array_elements('[]')",
    "select json_array_elements('[1, \"a\" , {\"b\" : 2}, null]'), json_each('{\"a\" : [1, 2], \"b\":null, \"c\" : \"x\"}')",
    "select json_object_keys('{\"b\":1, \"a\":2, \"b\":3}'), jsonb_object_keys('{\"bb\":1, \"a\":2}')",
    "select jsonb_each('{\"a\":1, \"b c\": \"x y\"}'), jsonb_each_text('{\"a\":null, \"b\":\"\"}')",
    "select jsonb_array_elements_text('[\"a\", 1, null, {\"b\": 2}]') as v",
    "select id, k, v from t, jsonb_each(t.j) as e(k, v) where jsonb_typeof(j) = 'object' order by id, k",
    "select id, e.* from t, lateral jsonb_each_text(j) e where id = 1 order by 1, 2",
    "select id, key, value from (select * from t where id = 1) t cross join lateral json_each(s) order by 1, 2",
    "select id, jsonb_each(j) from t where id = 1 order by 1",
    "select id, value from t, jsonb_array_elements(t.j) where id = 2",
    "select id, v from (select * from t where id in (1, 4)) t left join lateral jsonb_each(j) e(k, v) on true order by 1, 2",
    "select count(*) from t, jsonb_each(j) where id = 1",
    "select jsonb_agg(value order by value) from t, jsonb_array_elements(j->'b') where id = 1",
    "select key from jsonb_each('{\"a\":1, \"b\":2}') where value = '1'",
    "select k, jsonb_typeof(v) from jsonb_each('{\"a\":1,\"b\":[]}') e(k, v) order by k",
]

SET_RETURNING_ERRORS = [
    "select * from jsonb_each('[1]')", "select * from json_each('[1]')",
    "select * from jsonb_each_text('1')", "select * from json_each_text('1')",
    "select * from jsonb_array_elements('{\"a\":1}')", "select * from jsonb_array_elements('1')",
    "select * from json_array_elements('{\"a\":1}')", "select * from json_array_elements('1')",
    "select * from jsonb_array_elements_text('1')",
    "select * from json_array_elements_text('{\"a\":1}')",
    "select * from jsonb_object_keys('1')", "select * from jsonb_object_keys('[1]')",
    "select * from json_object_keys('1')", "select * from json_object_keys('[1]')",
    "select * from json_each('{\"a\":1}'::jsonb)", "select jsonb_each('{\"a\":1}'::json)",
    "select * from jsonb_each('not json')", "select jsonb_each(j) from t",
    "select * from t, jsonb_array_elements(t.j)",
]


@pytest.mark.parametrize("statements", [PATH_OPERATORS, KEY_OPERATORS, MODIFYING,
                                        PRETTY_AND_BUILDING, RECORDS, SET_RETURNING,
                                        SET_RETURNING_ERRORS, TO_RECORD],
                         ids=["paths", "keys", "modifying", "pretty_building", "records", "srf",
                              "srf_errors", "to_record"])
def test_statements_match_postgres(both: tuple[Reference, Ours], statements: list[str]) -> None:
    assert_same(both, statements)


def test_whole_row_text_matches_postgres(both: tuple[Reference, Ours]) -> None:
    """``SELECT r FROM r``: the same record text, the column typed with the table's row type
    on both (its OID is each server's own: sql/row_values.py row_type_oid)."""
    reference, ours = both
    expected, got = reference.run("select r from r order by a"), ours.run(
        "select r from r order by a")
    assert got[0] == "ok" and got[2] == expected[2]
    for server, answer in ((reference, expected), (ours, got)):
        row_type = server.run("select reltype from pg_class where relname = 'r'")[2][0][0]
        assert answer[1] == [("r", int(row_type))]
