"""System catalogs and catalog functions through a Session (no wire): PostgreSQL's column sets,
rows derived from our catalogs, pg_get_expr's printing of defaults, sizes, privileges, regclass.

Expected texts were taken from PostgreSQL 15 for the same statements (tests/compat/
test_psql_meta_commands.py checks the same things against a live PostgreSQL when one is there).
"""

from __future__ import annotations

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql import sysviews
from mirrordb.sql import types as T
from mirrordb.sql.session import Session

# Defaults and how PostgreSQL 15 prints them: pg_get_expr(adbin, adrelid, true) and without pretty.
DEFAULTS = [
    ("a int default -1", "'-1'::integer", "'-1'::integer"),
    ("b bigint default 0", "0", "0"),
    ("c numeric(10,2) default 1.5", "1.5", "1.5"),
    ("d float8 default 1e3", "'1000'::numeric", "'1000'::numeric"),
    ("e text default 'abc'", "'abc'::text", "'abc'::text"),
    ("f varchar(5) default 'x'", "'x'::character varying", "'x'::character varying"),
    ("g char(3) default 'y'", "'y'::bpchar", "'y'::bpchar"),
    ("h boolean default true", "true", "true"),
    ("i date default current_date", "CURRENT_DATE", "CURRENT_DATE"),
    ("j timestamptz default current_timestamp(3)", "CURRENT_TIMESTAMP(3)",
     "CURRENT_TIMESTAMP(3)"),
    ("k timestamp default now()", "now()", "now()"),
    ("l int default (1+2)*3", "(1 + 2) * 3", "((1 + 2) * 3)"),
    ("m int default 1+2*3", "1 + 2 * 3", "(1 + (2 * 3))"),
    ("n int default 1-(2-3)", "1 - (2 - 3)", "(1 - (2 - 3))"),
    ("o text default ('a' || 'b') || 'c'", "('a'::text || 'b'::text) || 'c'::text",
     "(('a'::text || 'b'::text) || 'c'::text)"),
    ("p boolean default ((1 is null) and not (2 = 3 or 4 < 5))",
     "1 IS NULL AND NOT (2 = 3 OR 4 < 5)", "((1 IS NULL) AND (NOT ((2 = 3) OR (4 < 5))))"),
    ("q text default case when random() > 0.5 then 'a' else 'b' end",
     "\nCASE\n    WHEN random() > 0.5::double precision THEN 'a'::text\n    ELSE 'b'::text\nEND",
     ("\nCASE\n    WHEN (random() > (0.5)::double precision) THEN 'a'::text\n"
      "    ELSE 'b'::text\nEND")),
    ("r int default coalesce(null, 4)", "COALESCE(NULL::integer, 4)",
     "COALESCE(NULL::integer, 4)"),
    ("s text default upper('x'::varchar)", "upper('x'::character varying::text)",
     "upper(('x'::character varying)::text)"),
    ("t bigint default 0::bigint", "0::bigint", "(0)::bigint"),
    ("u int default (1+2)::int", "1 + 2", "(1 + 2)"),
    ("v bigint default (1+2)::bigint", "(1 + 2)::bigint", "((1 + 2))::bigint"),
    ("w int[] default array[1,2]", "ARRAY[1, 2]", "ARRAY[1, 2]"),
    ("x text default 'a'::varchar(3)", "'a'::character varying(3)", "'a'::character varying(3)"),
    ("y bigint default 5000000000", "'5000000000'::bigint", "'5000000000'::bigint"),
    ("z boolean default (1 in (1,2))", "1 = ANY (ARRAY[1, 2])", "(1 = ANY (ARRAY[1, 2]))"),
    ("aa int default nullif(1, 2)", "NULLIF(1, 2)", "NULLIF(1, 2)"),
    ("ab int default -(1+2)", "- (1 + 2)", "(- (1 + 2))"),
    ("ac text default current_user", "CURRENT_USER", "CURRENT_USER"),
    ("ad int[] default '{1,2}'", "'{1,2}'::integer[]", "'{1,2}'::integer[]"),
    ("ae jsonb default '{}'", "'{}'::jsonb", "'{}'::jsonb"),
    ("af text default ''''::text", "''''::text", "''''::text"),
    ("ag int default (array[1,2])[2]", "(ARRAY[1, 2])[2]", "(ARRAY[1, 2])[2]"),
]


@pytest.fixture
def session(cluster):
    engine = Engine.open(str(cluster))
    s = Session(engine, "postgres", "postgres", SessionSettings(engine.settings))
    yield s
    s.terminate()
    engine.close()


def rows(session: Session, sql: str) -> list[tuple]:
    result = []
    try:
        for statement in session.simple_query(sql):
            result = list(statement.rows)
    except MirrordbError:
        session.on_error()
        raise
    session.end_implicit()
    return result


def columns(session: Session, sql: str) -> list[tuple[str, int]]:
    for statement in session.simple_query(sql):
        list(statement.rows)
        found = [(c.name, c.type_oid) for c in statement.columns or []]
    session.end_implicit()
    return found


def error(session: Session, sql: str) -> MirrordbError:
    with pytest.raises(MirrordbError) as caught:
        rows(session, sql)
    return caught.value


@pytest.fixture
def schema(session):
    rows(session, "create table t (id serial primary key, name text unique, qty int not null "
                  "default 0, note varchar(20) default 'x')")
    rows(session, "create index t_qty_idx on t (qty)")
    return session


def test_pg_class_has_postgresql_columns_and_derived_values(schema):
    names = [name for name, _ in columns(schema, "select * from pg_class limit 0")]
    assert names[:5] == ["oid", "relname", "relnamespace", "reltype", "reloftype"]
    assert len(names) == 33 and names[-1] == "relpartbound"
    found = rows(schema, "select relname, relkind, relam, relhasindex, reltablespace, "
                         "relreplident, relnatts, reltuples from pg_class "
                         "where relnamespace = 2200 order by relname")
    assert found == [("t", "r", 2, True, 0, "d", 4, -1.0),
                     ("t_id_seq", "S", 0, False, 0, "n", 2, -1.0),
                     ("t_name_key", "i", 403, False, 0, "n", 1, 0.0),
                     ("t_pkey", "i", 403, False, 0, "n", 1, 0.0),
                     ("t_qty_idx", "i", 403, False, 0, "n", 1, 0.0)]
    kinds = dict(columns(schema, "select relkind, relhasindex, reltuples from pg_class"))
    assert kinds == {"relkind": T.CHAR_OID, "relhasindex": T.BOOL_OID,
                     "reltuples": T.FLOAT4_OID}


def test_catalog_views_are_listed_in_pg_class_and_resolve_as_regclass(schema):
    assert rows(schema, "select relname, relkind from pg_class where oid = 12000") == \
        [("pg_roles", "v")]
    assert rows(schema, "select 'pg_type'::regclass::oid, 'pg_catalog.pg_class'::regclass::oid, "
                        "'information_schema.tables'::regclass") == [(1247, 1259, 13425)]
    names = [r[0] for r in rows(schema, "select attname from pg_attribute "
                                        "where attrelid = 'pg_roles'::regclass order by attnum")]
    assert names == [name for name, _ in sysviews.PG_ROLES_COLUMNS]


def test_pg_attribute_and_pg_index_of_a_table(schema):
    found = rows(schema, "select attname, atttypid, attlen, attnum, atttypmod, attbyval, "
                         "attalign, attstorage, attnotnull, atthasdef, attcollation "
                         "from pg_attribute where attrelid = 't'::regclass and attnum > 0 "
                         "order by attnum")
    assert found == [("id", 23, 4, 1, -1, True, "i", "p", True, True, 0),
                     ("name", 25, -1, 2, -1, False, "i", "x", False, False, 100),
                     ("qty", 23, 4, 3, -1, True, "i", "p", True, True, 0),
                     ("note", 1043, -1, 4, 24, False, "i", "x", False, True, 100)]
    indexes = rows(schema, "select c.relname, i.indisunique, i.indisprimary, i.indkey, "
                           "i.indcollation, i.indclass from pg_index i join pg_class c "
                           "on c.oid = i.indexrelid order by c.relname")
    assert indexes == [("t_name_key", True, False, [2], [100], [3126]),
                       ("t_pkey", True, True, [1], [0], [1978]),
                       ("t_qty_idx", False, False, [3], [0], [1978])]


def test_constraints_and_dependencies_derived_from_indexes_and_defaults(schema):
    found = rows(schema, "select conname, contype, conkey, pg_get_constraintdef(oid, true) "
                         "from pg_constraint where conrelid = 't'::regclass order by conname")
    assert found == [("t_name_key", "u", [2], "UNIQUE (name)"),
                     ("t_pkey", "p", [1], "PRIMARY KEY (id)")]
    depend = rows(schema, "select objid::regclass::text, refobjid::regclass::text, refobjsubid, "
                          "deptype from pg_depend where classid = 'pg_class'::regclass")
    assert depend == [("t_id_seq", "t", 1, "a")]
    defaults = rows(schema, "select a.adnum, d.refobjid::regclass::text, d.refobjsubid, d.deptype "
                            "from pg_attrdef a join pg_depend d on d.classid = a.tableoid and "
                            "d.objid = a.oid where a.adrelid = 't'::regclass "
                            "order by 1, d.deptype")
    assert defaults[:2] == [(1, "t", 1, "a"), (1, "t_id_seq", 0, "n")]
    assert rows(schema, "select pg_get_serial_sequence('t', 'id'), "
                        "pg_get_serial_sequence('public.t', 'name')") == [("public.t_id_seq", None)]
    assert error(schema, "select pg_get_serial_sequence('t', 'nope')").sqlstate == "42703"


def test_index_definitions(schema):
    assert rows(schema, "select pg_get_indexdef('t_pkey'::regclass), "
                        "pg_get_indexdef('t_qty_idx'::regclass, 0, true), "
                        "pg_get_indexdef('t_name_key'::regclass, 1, true)") == [
        ("CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)",
         "CREATE INDEX t_qty_idx ON t USING btree (qty)", "name")]
    assert rows(schema, "select indexname, indexdef from pg_indexes where tablename = 't' "
                        "order by 1")[0] == \
        ("t_name_key", "CREATE UNIQUE INDEX t_name_key ON public.t USING btree (name)")


@pytest.mark.parametrize("definition,pretty,plain", DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_pg_get_expr_prints_defaults_as_postgresql(session, definition, pretty, plain):
    rows(session, f"create table e ({definition})")
    assert rows(session, "select pg_get_expr(adbin, adrelid, true), pg_get_expr(adbin, adrelid) "
                         "from pg_attrdef where adrelid = 'e'::regclass") == [(pretty, plain)]


def test_bare_null_default_is_not_stored(session):
    rows(session, "create table e (a int default null)")
    assert rows(session, "select atthasdef from pg_attribute where attrelid = 'e'::regclass "
                         "and attnum = 1") == [(False,)]
    assert rows(session, "select count(*) from pg_attrdef") == [(0,)]


def test_regclass_names_are_quoted_and_qualified_when_needed(session):
    rows(session, 'create table "Mixed Case" (x int)')
    assert rows(session, "select 'public.\"Mixed Case\"'::regclass::text, "
                         "'pg_class'::regclass::text, 'pg_class'::regclass") == \
        [('"Mixed Case"', "pg_class", 1259)]
    assert rows(session, "select to_regclass('nosuch'), "
                         "pg_table_is_visible('pg_class'::regclass)") == [(None, True)]
    assert error(session, "select 'nosuch'::regclass").sqlstate == "42P01"


@pytest.mark.parametrize("value,text", [
    ("0::bigint", "0 bytes"), ("10239::bigint", "10239 bytes"), ("10240::bigint", "10 kB"),
    ("-10240::bigint", "-10 kB"), ("20971519::bigint", "20 MB"), ("-123456789::bigint", "-118 MB"),
    ("9223372036854775807", "8192 PB"), ("12345.67::numeric", "12 kB"),
    ("-123456789.5::numeric", "-118 MB"), ("10239.5::numeric", "10239.5 bytes"),
])
def test_pg_size_pretty_as_postgresql(session, value, text):
    assert rows(session, f"select pg_size_pretty({value})") == [(text,)]


def test_sizes_privileges_and_descriptions(schema):
    rows(schema, "insert into t (name) select 'n' || g from generate_series(1, 200) g")
    table, total, indexes = rows(schema, "select pg_relation_size('t'), "
                                         "pg_total_relation_size('t'), pg_indexes_size('t')")[0]
    assert table >= 8192 and table % 8192 == 0 and total == table + indexes and indexes >= 3 * 8192
    assert rows(schema, "select has_table_privilege('t', 'select, insert'), "
                        "has_database_privilege('postgres', 'connect'), "
                        "has_schema_privilege('public', 'usage'), "
                        "has_table_privilege(12345678, 'select')") == [(True, True, True, None)]
    assert error(schema, "select has_table_privilege('t', 'bogus')").sqlstate == "22023"
    assert error(schema, "select has_table_privilege('nosuch', 'select')").sqlstate == "42P01"
    assert rows(schema, "select shobj_description(5, 'pg_database'), "
                        "obj_description('t'::regclass, 'pg_class'), pg_encoding_to_char(6), "
                        "pg_get_userbyid(10), pg_get_userbyid(424242)") == [
        ("default administrative connection database", None, "UTF8", "postgres",
         "unknown (OID=424242)")]


def test_roles_databases_namespaces_and_types(session):
    assert rows(session, "select rolname, rolsuper, rolpassword from pg_roles "
                         "where rolname !~ '^pg_'") == [("postgres", True, "********")]
    assert rows(session, "select usename, usesuper from pg_user") == [("postgres", True)]
    assert rows(session, "select datname, pg_encoding_to_char(encoding), datcollate, "
                         "datlocprovider, dattablespace from pg_database order by datname") == \
        [("postgres", "UTF8", "C", "c", 1663), ("template0", "UTF8", "C", "c", 1663),
         ("template1", "UTF8", "C", "c", 1663)]
    assert [r[0] for r in rows(session, "select nspname from pg_namespace order by oid")] == \
        ["pg_catalog", "pg_toast", "public", "information_schema"]
    assert rows(session, "select typname, typlen, typcategory, typelem, typarray, typinput, "
                         "typcollation from pg_type where oid in (19, 1007) order by oid") == [
        ("name", 64, "S", 18, 1003, 34, 950), ("_int4", -1, "A", 23, 0, 750, 0)]
    assert rows(session, "select typinput::text from pg_type where oid = 23") == [("int4in",)]


def test_pg_authid_is_for_superusers(cluster):
    engine = Engine.open(str(cluster))
    stranger = Session(engine, "nobody", "postgres", SessionSettings(engine.settings))
    try:
        assert error(stranger, "select rolname from pg_authid").sqlstate == "42501"
        assert rows(stranger, "select rolname from pg_roles") == [("postgres",),
                                                                  ("pg_database_owner",)]
    finally:
        stranger.terminate()
        engine.close()


def test_information_schema(schema):
    assert rows(schema, "select table_catalog, table_schema, table_name, table_type, "
                        "is_insertable_into from information_schema.tables "
                        "where table_schema = 'public'") == \
        [("postgres", "public", "t", "BASE TABLE", "YES")]
    found = rows(schema, "select column_name, ordinal_position, column_default, is_nullable, "
                         "data_type, character_maximum_length, numeric_precision, udt_name "
                         "from information_schema.columns where table_name = 't' "
                         "order by ordinal_position")
    assert found == [("id", 1, "nextval('t_id_seq'::regclass)", "NO", "integer", None, 32, "int4"),
                     ("name", 2, None, "YES", "text", None, None, "text"),
                     ("qty", 3, "0", "NO", "integer", None, 32, "int4"),
                     ("note", 4, "'x'::character varying", "YES", "character varying", 20, None,
                      "varchar")]
    assert error(schema, "select * from tables").sqlstate == "42P01"   # needs its schema


def test_empty_catalogs_exist_with_their_columns(session):
    for name in ("pg_inherits", "pg_policy", "pg_trigger", "pg_statistic_ext", "pg_publication",
                 "pg_publication_rel", "pg_partitioned_table", "pg_foreign_table",
                 "pg_auth_members", "pg_extension"):
        assert rows(session, f"select * from pg_catalog.{name}") == [], name
    assert [n for n, _ in columns(session, "select * from pg_policy")][:3] == \
        ["oid", "polname", "polrelid"]


def test_server_views_without_a_server(session):
    assert rows(session, "select datid, datname, numbackends, xact_commit from pg_stat_database "
                         "order by datid") == [(0, None, 0, 0), (1, "template1", 0, 0),
                                               (4, "template0", 0, 0), (5, "postgres", 0, 0)]
    assert rows(session, "select count(*) from pg_stat_activity") == [(0,)]
    enumvals = rows(session, "select enumvals from pg_settings where name = 'wal_level'")
    assert enumvals == [(["minimal", "replica", "logical"],)]
    assert dict(columns(session, "select enumvals from pg_settings"))["enumvals"] == \
        T.TEXT_ARRAY_OID


def test_array_subqueries_and_subscripts(schema):
    assert rows(schema, "select array(select relname from pg_class where relnamespace = 2200 "
                        "and relkind = 'i' order by 1)") == [(["t_name_key", "t_pkey",
                                                              "t_qty_idx"],)]
    assert rows(schema, "select array(select 1 where false)") == [([],)]
    assert rows(schema, "select indkey[0], indkey[1] from pg_index "
                        "where indexrelid = 't_pkey'::regclass") == [(1, None)]
    assert rows(schema, "select (array[10, 20, 30])[2], (array[10, 20, 30])[4]") == [(20, None)]
    assert error(schema, "select (1)[1]").sqlstate == "42804"
    assert error(schema, "select array(select 1, 2)").sqlstate == "42601"


def test_table_privileges_follow_the_acl(schema):
    rows(schema, "create role bob login")
    asked = ("select has_table_privilege('bob', 't', 'select'), "
             "has_table_privilege('bob', 't', 'insert, select'), "
             "has_table_privilege('bob', 't', 'select with grant option'), "
             "has_table_privilege('bob', 'pg_roles', 'select'), "
             "has_table_privilege('bob', 'pg_authid', 'select')")
    assert rows(schema, asked) == [(False, False, False, True, False)]
    rows(schema, "grant select on t to bob")
    assert rows(schema, asked) == [(True, True, False, True, False)]
    assert rows(schema, "select relacl from pg_class where relname = 't'") == \
        [(["postgres=arwdDxt/postgres", "bob=r/postgres"],)]
    assert rows(schema, "select has_table_privilege(424242, 't', 'select')") == [(None,)]
    assert error(schema, "select has_table_privilege('nobody', 't', 'select')").sqlstate == \
        "42704"
