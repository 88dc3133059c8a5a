"""Composite types side by side with a real PostgreSQL 15: CREATE TYPE ... AS (...) and its
errors, columns of composite type (input '(1,abc)', ROW(...)::type, output, NULLs and quoting),
``(col).field`` in the select list and WHERE, comparisons, arrays of composites, composite
types inside composite types, record input compared with a table's whole row, the catalog rows
clients read (pg_type, pg_class relkind 'c', pg_attribute, psql's \\dT), and DROP TYPE with
dependents (2BP01, CASCADE).

Each scenario runs its statements in order on both servers (tests/compat/differential.py); every
answer must match: rows, or SQLSTATE, message, DETAIL, hint and position, and notices.
"""

from __future__ import annotations

import pytest

from differential import MARKS, assert_same, paired
from tests.compat.test_enum_domain_compat import DESCRIBE_TYPES

pytestmark = MARKS

SCENARIOS: dict[str, list[str]] = {
    "create and use": [
        "create type pair as (a int, b text)",
        "create type pair as (x int)",
        "create type dup as (a int, a text)",
        "create type bad as (a nosuchtype)",
        "select '(1,abc)'::pair, pg_typeof('(1,abc)'::pair)",
        "select ROW(1, 'abc')::pair, (ROW(2, 'x')::pair).b",
        "select '(1,\"a b\")'::pair, '(,)'::pair, '(1,\"\")'::pair",
        "select '(1,abc'::pair",
        "select '1,abc)'::pair",
        "select '(1,abc,3)'::pair",
        "select '(1)'::pair",
        "select '(1,abc) x'::pair",
        "select '(x,abc)'::pair",
        "select ROW(1, 2, 3)::pair",
        "create table t (id int, p pair, ps pair[])",
        "insert into t values (1, '(1,one)', '{\"(1,a)\",\"(2,b)\"}'), "
        "(2, ROW(2, 'two'), null), (3, null, '{}'), (4, '(,)', '{NULL,\"(3,)\"}')",
        "insert into t values (5, ROW(5, 'five', 6))",
        "select * from t order by id",
        "select id, (p).a, (p).b, p is null from t order by id",
        "select id from t where (p).a > 1 order by id",
        "select id from t where (p).b = 'one'",
        "select (p).nothere from t",
        "select p.a from t",
        "select id, p::text from t order by id",
        "select ps[1], (ps[2]).a from t order by id",
        "select id from t where p = ROW(2, 'two')::pair",
        "select id from t where p = '(1,one)'",
        "select id from t where p < '(2,a)' order by id",
        "select p from t order by p",
        "select count(*) from t where p is not null",
        "update t set p = ROW((p).a + 10, (p).b) where id = 1",
        "select p from t where id = 1",
    ],
    "nested and catalog": [
        "create type inner_t as (x int, y numeric)",
        "create type outer_t as (name text, i inner_t, tags text[])",
        "select ROW('n', ROW(1, 2.5)::inner_t, ARRAY['a', 'b'])::outer_t",
        "select '(n,\"(1,2.5)\",\"{a,b}\")'::outer_t",
        "select (('(n,\"(1,2.5)\",{a})'::outer_t).i).y",
        "create table nest (o outer_t)",
        "insert into nest values ('(n,\"(1,2.5)\",\"{a,b}\")'), (ROW('m', null, null))",
        "select o, (o).name, ((o).i).x from nest order by (o).name",
        "select t.typname, t.typtype, t.typcategory, t.typlen, t.typbyval, t.typalign, "
        "t.typstorage, t.typinput::text, t.typoutput::text, t.typreceive::text, "
        "t.typsend::text, c.relname, c.relkind, c.relnatts, c.relfilenode, "
        "c.reltype = t.oid, a.typname, a.typelem = t.oid, a.typalign "
        "from pg_type t join pg_class c on c.oid = t.typrelid "
        "join pg_type a on a.oid = t.typarray where t.typname = 'outer_t'",
        "select attname, format_type(atttypid, atttypmod), attnum from pg_attribute "
        "where attrelid = 'inner_t'::regclass order by attnum",
        DESCRIBE_TYPES,
        "select format_type('outer_t'::regtype, null), format_type('_outer_t'::regtype, null)",
    ],
    "drop": [
        "create type pair as (a int, b text)",
        "create type holder as (p pair)",
        "create table uses (id int, p pair)",
        "drop type pair",
        "drop type pair cascade",
        "select * from uses",
        "drop type holder",
        "select 'x'::holder",
        "drop type if exists holder",
        "create type again as (a int)",
        "drop type again",
        "select '(1)'::again",
    ],
    "alter type attributes": [
        "create type pair as (a int, b text)",
        "create table t (p pair)",
        "insert into t values ('(1,one)'), ('(2,)')",
        "alter type pair add attribute c numeric",
        "select p, (p).c from t order by (p).a",
        "insert into t values (ROW(3, 'three', 3.5))",
        "select p from t order by (p).a",
        "alter type pair add attribute a int",
        "alter type pair drop attribute b",
        "select p, (p).a from t order by (p).a",
        "select (p).b from t",
        "insert into t values ('(4,4.5)')",
        "select p from t order by (p).a",
        "alter type pair drop attribute nothere",
        "alter type pair drop attribute if exists nothere",
        "alter type pair rename attribute c to amount",
        "alter type pair rename attribute nothere to x",
        "alter type pair rename attribute a to amount",
        "select (p).amount from t order by 1",
        "select attname, attnum, attisdropped from pg_attribute "
        "where attrelid = (select typrelid from pg_type where typname = 'pair') order by attnum",
        "select relnatts from pg_class where relname = 'pair'",
        "create type mood as enum ('x')",
        "alter type mood add attribute y int",
        "alter type nothere add attribute y int",
    ],
    "record input against a table": [
        "create table person (id int, name text)",
        "insert into person values (1, 'ann'), (2, 'bob')",
        "select id from person p where p = '(1,ann)'",
        "select p from person p where p > '(1,ann)'",
        "select '(3,cy)'::person::text",
        "select ('(3,cy)'::person).name",
    ],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_composite_type_scenarios_match_postgres(scenario: str, template_cluster: str,
                                                 tmp_path_factory: pytest.TempPathFactory
                                                 ) -> None:
    with paired(template_cluster, str(tmp_path_factory.mktemp(scenario.replace(" ", "_"))),
                [], detailed=True) as pair:
        assert_same(pair, SCENARIOS[scenario])


# -- the stored datum, byte for byte ------------------------------------------------------------

STORED_VALUES = [
    "(1,abc,2.50,t,9000000000,,)",
    "(-7,\"\",NaN,f,0,\"{x,NULL,yy}\",\"(1,2.5)\")",
    "(,,,,,,)",
    "(3," + "long text " * 20 + ",123456789.000001,t,-1,{},\"(,)\")",
]


def _payload(stored: bytes, one_byte_header: bool) -> bytes:
    """A varlena's bytes after its header (PostgreSQL's 1-byte header has the low bit set,
    mirrordb's row codec's has it clear)."""
    if (stored[0] & 1) == one_byte_header:
        return stored[1:]
    return stored[4:]


def test_stored_composite_datums_equal_postgres(template_cluster: str,
                                                tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    """A composite column's value is stored as PostgreSQL stores it: the datum after the
    varlena header equals the bytes pageinspect shows in PostgreSQL's heap (same type OID,
    header, NULL bitmap, alignment, short and long varlena headers, numeric's format, an
    array and a nested composite inside)."""
    from mirrordb.sql import types as T
    from mirrordb.storage import datum
    setup = ["create type inner_t as (x int, y numeric)",
             "create type pair as (a int, b text, c numeric, d bool, e int8, f text[], "
             "g inner_t)",
             "create table t (id int, p pair)"]
    with paired(template_cluster, str(tmp_path_factory.mktemp("datums")), setup) as pair:
        reference, ours = pair
        assert reference.run("create extension pageinspect")[0] == "command"
        for number, text in enumerate(STORED_VALUES):
            statement = f"insert into t values ({number}, '{text}')"
            assert reference.run(statement) == ours.run(statement)
        pages = reference.run("select encode(t_data, 'hex') from "
                              "heap_page_items(get_raw_page('t', 0)) order by lp")
        type_oid = int(reference.run("select 'pair'::regtype::oid")[2][0][0])
        values = [row[1] for row in ours.session.simple_query(
            "select id, p from t order by id").__next__().rows]
        codec = datum.RowCodec([type_oid])
        for (hex_data,), value in zip(pages[2], values):
            theirs = bytes.fromhex(hex_data)[4:]               # after the id column
            if theirs[0] == 0:                                 # a 4-byte header: aligned
                theirs = theirs[4:]
            mine = codec.encode([value])[0]
            assert _payload(mine, False) == _payload(theirs, True), (theirs.hex(), mine.hex())
        assert T.format_text(type_oid, values[1]) == \
            '(-7,"",NaN,f,0,"{x,NULL,yy}","(1,2.5)")'
