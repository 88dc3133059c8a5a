"""MERGE, stored generated columns and system columns, side by side with a real PostgreSQL 15.

The statements run in order on a throw-away PostgreSQL server and on a mirrordb Session over a
fresh cluster (tests/compat/differential.py): MERGE with every WHEN clause form, sources that
are tables, subqueries, VALUES and WITH queries, its refusals (a target row reached twice,
unreachable clauses, references the clause may not make, syntax PostgreSQL 15 lacks), the
constraints, defaults, identity columns, serials and foreign keys its actions meet, its
privilege checks; stored generated columns (computed on INSERT, UPDATE, ON CONFLICT, MERGE,
their refusals of explicit values, PostgreSQL's checks of the expression, the catalogs and
information_schema, RENAME and DROP COLUMN); xmin, xmax, cmin, cmax, tableoid in queries;
and the string functions added beside them (regexp_matches, regexp_split_to_table,
string_to_table, regexp_substr, regexp_instr, regexp_replace's start/N forms, substring(...
from pattern), SIMILAR TO, overlay, normalize, unistr, byte and bit access, convert_to/from,
parse_ident, sha224..sha512, encode, decode). Answers (rows, command tags, errors with DETAIL,
HINT and position) must be equal.
"""

from __future__ import annotations

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

both = pair_fixture("merge_generated", [], with_tags=True, detailed=True)

MERGE_BASICS = [
    "create table t (a int primary key, b text default 'dflt', c int check (c > 0))",
    'create table s (a int, b text, c int)',
    "insert into t values (1,'one',1),(2,'two',2),(3,'three',3)",
    "insert into s values (1,'uno',10),(2,'dos',-1),(4,'cuatro',4),(5,null,5)",
    'merge into t using s on t.a = s.a when matched and s.a = 1 then update set b = s.b, c = '
    's.c when not matched then insert values (s.a, s.b, s.c)',
    'select * from t order by a',
    'merge into t using s on t.a = s.a when matched and s.c < 0 then delete when matched then '
    'do nothing when not matched then do nothing',
    'select * from t order by a',
    'merge into t using s on t.a = s.a when matched then update set c = s.c',
    'merge into t x using (select a, b from s) y on x.a = y.a when matched and y.a > 3 then '
    'update set b = default when not matched then insert (a) values (y.a)',
    'select * from t order by a',
    "merge into t using (values (10, 'ten'), (11, 'eleven')) v(a, b) on t.a = v.a when not "
    'matched and v.a = 10 then insert default values when not matched then insert (a, b) '
    'values (v.a, v.b)',
    "merge into t using (values (20, 'x')) v(a, b) on t.a = v.a when not matched then insert "
    '(b, a) values (v.b, v.a)',
    'select * from t order by a',
    'merge into t using (values (1), (1)) v(a) on t.a = v.a when matched then update set b = '
    "'twice'",
    'merge into t using (values (1), (1)) v(a) on t.a = v.a when matched then do nothing',
    'merge into t using (values (1), (1)) v(a) on t.a = v.a when matched then delete',
    'merge into t using (values (30), (30)) v(a) on t.a = v.a when not matched then insert (a) '
    'values (v.a)',
    'merge into t using s on t.a = s.a when matched then delete when matched and s.a = 1 then '
    'delete',
    'merge into t using s on t.a = s.a when not matched then insert values (t.a)',
    'merge into t using s on t.a = s.a when not matched then insert values (s.a, s.b, s.c, 1)',
    'merge into t using s on t.a = s.a when not matched then insert (a, b) values (s.a)',
    'merge into t using s on t.a = s.a when not matched then insert (zz) values (s.a)',
    'merge into t using s t on t.a = t.a when matched then delete',
    'merge into nosuch using s on true when matched then delete',
    'with w as (select 3 as a) merge into t using w on t.a = w.a when matched then update set '
    "b = 'via cte'",
    'select * from t order by a',
    'merge into t using s on t.a = s.a when matched then update set a = 100 + s.a',
    'select * from t order by a',
    'create view v as select * from t',
    'merge into v using s on v.a = s.a when matched then delete',
    'merge into t using s on t.a = s.a and s.b is null when matched then delete when not '
    'matched and s.a > 100 then insert (a) values (s.a)',
    'select count(*) from t',
    "merge into t using s on t.a = s.a when matched then update set b = 'x' returning *",
    'merge into t using s on s.a = t.a when not matched by source then delete',
    'merge into t using s on t.a = s.a when matched then update set xx = 1',
    'merge into t using s on t.a = s.a when matched then update set b = s.nope',
    'prepare m(int) as merge into t using (select $1 a) q on t.a = q.a when not matched then '
    'insert (a) values (q.a)',
    'execute m(77)',
    'execute m(77)',
    'select a from t where a = 77',
]


MERGE_RULES = [
    'create table t (a int primary key, b text)',
    'create table s (a int, b text)',
    "insert into t values (1, 'one')",
    "insert into s values (1, 'uno'), (2, 'dos')",
    'create role mu',
    'grant select on s to mu',
    'set role mu',
    'merge into t using s on t.a = s.a when matched then update set b = s.b',
    'reset role',
    'grant update on t to mu',
    'set role mu',
    'merge into t using s on t.a = s.a when matched then update set b = s.b',
    'merge into t using s on t.a = s.a when not matched then insert values (s.a, s.b)',
    'merge into t using s on t.a = s.a when matched then do nothing',
    'reset role',
    'grant select on t to mu',
    'set role mu',
    'merge into t using s on t.a = s.a when matched then update set b = s.b',
    'merge into t using s on t.a = s.a when matched then delete',
    'merge into t using s on t.a = s.a when matched then do nothing',
    'reset role',
    'revoke select on s from mu',
    'set role mu',
    'merge into t using s on t.a = s.a when matched then do nothing',
    'reset role',
    'create table p (id int primary key)',
    'create table c (id int primary key, pid int references p)',
    'insert into p values (1)',
    'merge into c using (values (1, 1), (2, 9)) v(id, pid) on c.id = v.id when not matched '
    'then insert values (v.id, v.pid)',
    'merge into c using (values (1, 1)) v(id, pid) on c.id = v.id when not matched then insert '
    'values (v.id, v.pid)',
    'merge into p using (values (1)) v(id) on p.id = v.id when matched then delete',
    'create table idt (id int generated always as identity, v text)',
    "merge into idt using (values ('a')) v(x) on false when not matched then insert (v) values "
    '(v.x)',
    "merge into idt using (values ('a')) v(x) on false when not matched then insert (id, v) "
    'values (5, v.x)',
    "merge into idt using (values ('a')) v(x) on false when not matched then insert (id, v) "
    'overriding system value values (5, v.x)',
    "merge into idt using (values ('a')) v(x) on true when matched then update set id = 3",
    'select * from idt order by id',
    'create table ser (id serial primary key, v text not null)',
    "merge into ser using (values ('a'), (null)) v(x) on false when not matched then insert "
    '(v) values (v.x)',
    "merge into ser using (values ('a')) v(x) on false when not matched then insert (v) values "
    '(v.x)',
    'merge into ser using (values (1)) v(x) on ser.id = v.x when not matched then insert (v) '
    "values ('z') when matched then update set id = 2",
    "merge into ser using (values (2, 'q')) v(x, y) on ser.id = v.x when not matched then "
    'insert values (v.x, v.y)',
    'select * from ser order by id',
    'merge into t using s on t.a = s.a when matched and count(*) > 0 then delete',
    'merge into t using s on t.a = s.a when not matched and t.a > 0 then insert values (s.a)',
    'merge into t using s on t.a = s.a when matched then update set b = s.b when matched then '
    'delete',
    'with recursive w(a) as (select 1) merge into t using w on t.a = w.a when matched then delete',
    'merge into t using t on t.a = t.a when matched then delete',
    'merge into t as s using s on t.a = s.a when matched then delete',
    'merge into t using s on t.a = s.a when matched then update set b = s.b when not matched '
    'then insert values (s.a, s.b)',
    'select * from t order by a',
    'select xmin = xmin, cmin, xmax from t order by a',
    'begin isolation level read only',
    'merge into t using s on t.a = s.a when matched then delete',
    'rollback',
    'merge into t using s on t.a = s.a when matched and count(*) > 0 then delete',
    'merge into t using s on t.a = s.a when matched and 1 then delete',
    'merge into t using s on t.a = s.a when matched and generate_series(1,2) > 0 then delete',
]


SYSTEM_COLUMNS = [
    'create table t (a int primary key, b text)',
    'begin',
    "insert into t values (1,'x')",
    "insert into t values (2,'y')",
    "update t set b = 'z' where a = 2",
    'select a, cmin, cmax, xmax, x.tableoid::regclass from t x order by a',
    'select t.cmin, t.xmin = (select xmin from t where a = 1) from t order by a',
    'commit',
    "select a, xmin::text::bigint > 0 from t where xmax = '0' order by 1",
    'select * from t order by 1',
    'select xmin + 1 from t',
    'select a from t where xmin = xmin',
    'create table sc (xmin int)',
    'create table sc (ctid int)',
    'create table sc (tableoid int)',
    'create table sc (a int)',
    'alter table sc add column cmax int',
    'alter table sc rename column a to xmax',
    'create view scv as select a, xmin from sc',
    'select * from scv',
    'create table sct as select xmin from sc',
    'create table sct as select xmin as x from sc',
    'create materialized view scm as select cmin from sc',
    'select x.xmin = y.xmin from sc x join sc y on true',
]

GENERATED_COLUMNS = [
    'create table g (a int, b int generated always as (a * 2) stored, c text)',
    "insert into g (a, c) values (1, 'x'), (2, 'y')",
    "insert into g values (3, default, 'z')",
    'select * from g order by a',
    "insert into g values (4, 8, 'w')",
    'insert into g (a, b) values (4, default), (5, 10)',
    'insert into g (a, b) select 1, 2',
    'update g set a = 10 where a = 1',
    'update g set b = 5',
    'update g set b = default where a = 2',
    'select * from g order by a',
    "select attname, attgenerated, atthasdef from pg_attribute where attrelid = 'g'::regclass "
    'and attnum > 0 order by attnum',
    'select pg_get_expr(adbin, adrelid), pg_get_expr(adbin, adrelid, true) from pg_attrdef '
    "where adrelid = 'g'::regclass",
    'select column_name, column_default, is_generated, generation_expression from '
    "information_schema.columns where table_name = 'g' order by ordinal_position",
    'create table g2 (a int, b int generated always as (a * 2) stored, c int generated always '
    'as (b + 1) stored)',
    'create table g3 (a int, b int generated always as (b * 2) stored)',
    'create table g4 (a int, b float8 generated always as (random()) stored)',
    'create table g5 (a int, b timestamptz generated always as (now()) stored)',
    'create table g6 (a int, b int generated always as (xmin::text::int) stored)',
    'create table g7 (a int, b int default 1 generated always as (a) stored)',
    'create table g8 (a int, b int generated always as (a) stored default 1)',
    'create table g9 (a int, b int generated always as identity generated always as (a) stored)',
    'create table g10 (a int, b int generated always as ((select 1)) stored)',
    'create table g11 (a int, b int generated always as (sum(a)) stored)',
    "create table g12 (a int, b int generated always as ('x'::text) stored)",
    'create table g13 (a int, b int generated always as (zz) stored)',
    "create table g14 (a int, b text generated always as (a::text || 'x') stored, d date "
    "generated always as ('2020-01-01'::date + a) stored)",
    'insert into g14 (a) values (3)',
    'select * from g14',
    'create table g15 (a int, b int generated always as (a + 1) stored check (b > 0), c int '
    'generated always as (a) stored not null)',
    'insert into g15 (a) values (-5)',
    'insert into g15 (a) values (null)',
    'insert into g15 (a) values (1) returning *',
    'create table g16 (a int primary key, b int generated always as (a * 100) stored)',
    'insert into g16 values (1) on conflict (a) do update set a = 2 returning *',
    'insert into g16 values (2) on conflict (a) do update set b = 3',
    'insert into g16 values (1), (2) on conflict (a) do update set a = excluded.a + 10 '
    'returning *',
    'merge into g16 using (values (11), (5)) v(x) on g16.a = v.x when matched then update set '
    'a = 50 when not matched then insert values (v.x)',
    'merge into g16 using (values (6)) v(x) on g16.a = v.x when not matched then insert values '
    '(v.x, 1)',
    'merge into g16 using (values (50)) v(x) on g16.a = v.x when matched then update set b = 1',
    'select * from g16 order by a',
    'copy g16 (a, b) to stdout',
    'select tableoid::regclass, xmax from g16 order by a',
    'create table gx (a timestamp, b text generated always as (a::text) stored)',
    "create table gy (a timestamptz, b timestamptz generated always as (a + interval '1 day') "
    'stored)',
    "create table gz (a int, b text generated always as (a::text || 'x') stored, c text "
    'generated always as (current_user) stored)',
    'create table gw (a text, b int generated always as (length(a)) stored, c text generated '
    'always as (upper(a)) stored)',
    "insert into gw (a) values ('abc')",
    'select * from gw',
]


GENERATED_ALTER = [
    'create table g (a int, b int generated always as (a * 2) stored, c int)',
    'insert into g (a, c) values (1, 1)',
    'alter table g rename column a to x',
    'insert into g (x, c) values (2, 2)',
    'select * from g order by x',
    "select pg_get_expr(adbin, adrelid) from pg_attrdef where adrelid = 'g'::regclass",
    'alter table g drop column c',
    'insert into g (x) values (3)',
    'select * from g order by x',
    'alter table g drop column x',
    'alter table g add column d int',
    'select * from g order by b',
    'create table h (a int, b int generated always as (a + 1) stored)',
    'alter table h drop column b',
    'insert into h values (1)',
    'select * from h',
    'create table m (a int, b int generated always as (a + 1) stored, c int generated always '
    'as (a * 2) stored, d int)',
    'alter table m drop column a',
    'alter table m drop column a cascade',
    'select * from m',
    'create table n (a int, b int generated always as (a + 1) stored, d int)',
    'alter table n drop column a cascade',
    'select * from n',
]


STRING_FUNCTIONS = [
    "select regexp_matches('foobarbequebaz', '(bar)(beque)')",
    "select regexp_matches('foobarbequebazilbarfbonk', '(b[^b]+)(b[^b]+)', 'g')",
    "select * from regexp_matches('abc', 'x')",
    "select regexp_matches('abcabc', 'b', 'g'), regexp_matches('aXbx', 'x', 'gi')",
    "select x[1] from regexp_matches('a1b22c333', '[0-9]+', 'g') as x",
    "select regexp_matches('abc', '(x)?b')",
    "select regexp_split_to_table('hello world  foo', '\\s+')",
    "select * from regexp_split_to_table('a,b,c', ',') with ordinality",
    "select regexp_split_to_table('abc', '')",
    "select regexp_split_to_array('hello world', '\\s+')",
    "select * from string_to_table('a,b,,c', ',')",
    "select string_to_table('a,b,,c', ',', ''), string_to_table('a b', null)",
    "select string_to_table(null, ',')",
    "select sha224('abc'), sha256('abc'), sha384('abc'), sha512('abc')",
    "select sha256('abc'::bytea), sha256(''), sha256(null)",
    "select regexp_instr('abcabc', 'c'), regexp_instr('abcabc', 'c', 4), "
    "regexp_instr('abcabc', 'c', 1, 2), regexp_instr('abcabc', 'x')",
    "select regexp_instr('abcabc', 'b(c)', 1, 1, 1), regexp_instr('ABC', 'b', 1, 1, 0, 'i'), "
    "regexp_instr('abc', 'b(c)', 1, 1, 0, '', 1)",
    "select regexp_substr('abcabc', 'b.'), regexp_substr('abcabc', 'b.', 3), "
    "regexp_substr('abcabc', 'b(.)', 1, 2, '', 1), regexp_substr('abc', 'x')",
    "select regexp_substr('abc', 'b', 0)",
    "select regexp_substr('abc', 'b', 1, 1, 'g')",
    "select overlay('Txxxxas' placing 'hom' from 2 for 4), overlay('Txxxxas' placing 'hom' "
    'from 2)',
    "select overlay('abc' placing 'x' from 0)",
    "select encode('abc'::bytea, 'base64'), decode('YWJj', 'base64'), encode('abc'::bytea, "
    "'hex'), decode('616263', 'hex')",
    "select encode(E'a\\\\000b\\\\\\\\'::bytea, 'escape'), decode('a\\000b\\\\', 'escape')",
    "select encode(decode(repeat('ab', 60), 'hex'), 'base64')",
    "select encode('abc'::bytea, 'nope')",
    "select decode('6162x', 'hex')",
    "select decode('616', 'hex')",
    "select substring('Thomas' from '...$'), substring('Thomas' from 'o(m)a'), "
    "substring('Thomas' from 'z')",
    "select substring('Thomas', 2), substring('Thomas' from 2 for 3)",
]


MERGE_EDGES = [
    'drop table t, s cascade',
    'create table t (a int primary key, b text unique)',
    'create table ch (id int, ta int references t on delete cascade)',
    "insert into t values (1, 'one'), (2, 'two')",
    'insert into ch values (10, 1)',
    "merge into t using (values (1, 'two')) v(a, b) on t.a = v.a when matched then update set "
    'b = v.b',
    "merge into t using (values (3, 'one')) v(a, b) on t.a = v.a when not matched then insert "
    'values (v.a, v.b)',
    'merge into t using (values (1)) v(a) on t.a = v.a when matched then delete',
    'select * from ch',
    'select * from t order by a',
    "merge into t using t as s on t.a = s.a + 1 when matched then update set b = s.b || '!'",
    'select * from t order by a',
    'merge into t using (select 2 as a) q on t.a = q.a and t.a in (select 2) when matched and '
    "exists (select 1) then update set b = (select 'sub') when not matched then insert values "
    "((select 9), 'x')",
    'select * from t order by a',
    'merge into t using (select 5 as a) q on t.a = q.a when not matched then insert values '
    '(q.a, (select b from t where a = 2))',
    'select * from t order by a',
    'merge into t using generate_series(1, 3) g on t.a = g when not matched then insert (a) '
    'values (g)',
    'select * from t order by a',
    'merge into t using (values (1)) v(a) on t.a = v.a when matched then update set a = v.a, a '
    '= 2',
    'merge into t using (values (1)) v(a) on t.a = v.a when matched then insert values (1)',
    "merge into t using (values (1)) v(a) on t.a = v.a when not matched then update set b = 'x'",
    'merge into t using (values (1)) v(a) on t.a = v.a when not matched then delete',
    'merge into public.t using (values (100)) v(a) on t.a = v.a when not matched then insert '
    '(a) values (v.a)',
    'merge into t tt using (values (100)) v(a) on t.a = v.a when matched then delete',
    'merge into t using (values (100)) v(a) on a = v.a when matched then delete',
    'merge into t using (values (100)) v(a) on t.a = v.a when matched then update set b = a::text',
    'select * from t order by a',
]


GENERATED_ADD_COLUMN = [
    'drop table t cascade',
    'create table t (a int, b text)',
    "insert into t values (1, 'x'), (2, null)",
    'alter table t add column c int generated always as (a * 10) stored',
    'select * from t order by a',
    'alter table t add column d text generated always as (b || c::text) stored',
    'select * from t order by a',
    'alter table t add column e int generated always as (c + 1) stored',
    'alter table t add column e int default 1 generated always as (a) stored',
    'alter table t add column e float8 generated always as (random()) stored',
    'alter table t add column e int generated always as (a) stored check (e > 1)',
    "insert into t (a, b) values (3, 'y')",
    'update t set a = 5 where a = 1',
    'select * from t order by a',
    "select attname, attgenerated from pg_attribute where attrelid = 't'::regclass and attnum "
    '> 0 order by attnum',
    'alter table t add column z int generated always as (nope) stored',
    'drop table t cascade',
    'create table t (a int, b int generated always as (a * 2) stored)',
    'insert into t (a) values (1)',
    'alter table t alter column a drop expression',
    'alter table t alter column a drop expression if exists',
    'alter table t alter column zz drop expression',
    'alter table t alter column b drop expression',
    "select attgenerated, atthasdef from pg_attribute where attrelid = 't'::regclass "
    "and attname = 'b'",
    'insert into t values (2, 7)',
    'update t set a = 10 where a = 1',
    'select * from t order by b',
]


MORE_STRING_FUNCTIONS = [
    "select regexp_replace('abcabc', 'b', 'X', 2), regexp_replace('abcabcabc', 'b', 'X', 1, "
    "2), regexp_replace('abcABC', 'b', 'X', 1, 0, 'i')",
    "select normalize('abc'), normalize('abc', NFD), 'abc' is normalized, 'abc' is nfc normalized",
    'select parse_ident(\'a.b\'), parse_ident(\'"A".b\')',
    "select convert_to('abc', 'UTF8'), convert_from('\\x616263', 'UTF8')",
    'select pg_client_encoding(), quote_nullable(null), quote_nullable(1)',
    "select textcat('a', 'b'), to_hex(9223372036854775807), to_hex(-1)",
    'select chr(0)',
    "select btrim('\\x0001020100'::bytea, '\\x01'::bytea), length('abc'::bytea), "
    "octet_length('abc'::bytea)",
    "select 'abc' similar to 'a%', 'abc' not similar to 'b%', 'a|b' similar to 'a\\|b' escape "
    "'\\'",
    'select substring(\'foobar\' similar \'%#"o_b#"%\' escape \'#\')',
    "select string_agg(x, ',' order by x desc) from (values ('a'), ('b')) v(x)",
    "select split_part('abc', '', 1), split_part('a,b', ',', 0)",
    "select left('abc', -1), right('abc', 5), lpad('abc', 2), rpad('abc', -1)",
    "select format('%1$s %1$s %2$s', 'a', 'b'), format('%-5s|', 'x'), format('%5s|', 'x')",
    "select format('%s', array[1,2]), format('%L', null), format('%I', 'a b')",
    "select ascii(''), chr(8364), initcap('hi THERE_you-x'), reverse(null)",
    "select get_byte('\\x0102'::bytea, 1), set_byte('\\x0102'::bytea, 0, 255), "
    "get_bit('\\x01'::bytea, 0), bit_length('\\x01'::bytea)",
    "select sha256('\\x'::bytea), md5('\\x01'::bytea)",
    "select lower('ÀB'), upper('àb')",
    "select unistr('\\0041'), ltrim('xxabc', 'x'), rtrim('abcxx', 'x')",
    "select regexp_match('abc', '(a)(x)?')",
    "select strpos('abc', ''), position('' in 'abc'), replace('abcabc', 'b', ''), "
    "replace('abc', '', 'x')",
    "select 'a' || 1, 1 || 'a', 'a' || null",
    "select concat_ws(null, 'a'), concat(), concat_ws(',')",
    "select regexp_replace('abcabc', 'b', 'X', 2), regexp_replace('abcabcabc', 'b', 'X', 1, "
    "2), regexp_replace('abcABC', 'b', 'X', 1, 0, 'i')",
    "select regexp_replace('abcabcabc', 'b(c)', '<\\1>', 3, 0), regexp_replace('abc', 'b', "
    "'X', 1, 5), regexp_replace('abcbc', 'b', 'X', 2, 1, 'g')",
    "select regexp_replace('abc', 'b', 'X', 0)",
    "select normalize('abc'), normalize('abc', NFD), 'abc' is normalized, 'abc' is nfc "
    "normalized, U&'\\00E9' is nfd normalized",
    "select normalize(U&'e\\0301', nfc) = U&'\\00E9'",
    'select parse_ident(\'a.b\'), parse_ident(\'"A".b\'), parse_ident(\' Foo . "b""ar" \'), '
    "parse_ident('a.b junk', false)",
    "select parse_ident('a.')",
    "select parse_ident('.a')",
    'select parse_ident(\'"a\')',
    'select parse_ident(\'""\')',
    "select parse_ident('a b')",
    "select convert_to('abc', 'UTF8'), convert_from('\\x616263', 'UTF8'), convert_to('é', "
    "'LATIN1'), convert_from('\\xe9', 'latin1')",
    "select convert_from('\\xff', 'UTF8')",
    "select convert_to('€', 'LATIN1')",
    "select convert_to('a', 'nope')",
    'select pg_client_encoding(), quote_nullable(null), quote_nullable(1)',
    "select textcat('a', 'b'), to_hex(9223372036854775807), to_hex(-1)",
    "select 'abc' similar to 'a%', 'abc' not similar to 'b%', 'a|b' similar to 'a\\|b' escape "
    "'\\', 'a.c' similar to 'a.c', 'abc' similar to 'a.c'",
    "select 'abc' similar to '(a|x)[b-c]+', 'a_c' similar to 'a#_c' escape '#', 'abc' similar "
    "to 'a%' escape ''",
    "select 'abc' similar to 'a%' escape 'xx'",
    'select substring(\'foobar\' similar \'%#"o_b#"%\' escape \'#\'), substring(\'foobar\' '
    'similar \'#"o_b#"%\' escape \'#\')',
    "select get_byte('\\x0102'::bytea, 1), set_byte('\\x0102'::bytea, 0, 255), "
    "get_bit('\\x01'::bytea, 0), set_bit('\\x00'::bytea, 3, 1), bit_length('\\x01'::bytea)",
    "select get_byte('\\x0102'::bytea, 2)",
    "select set_bit('\\x00'::bytea, 3, 2)",
    "select unistr('\\0041'), unistr('d\\0061t\\+000061'), unistr('\\u00e9\\U0001F600\\\\x'), "
    "ltrim('xxabc', 'x')",
    "select unistr('\\zz')",
]


MERGE_PERSISTENCE = [
    'drop table if exists s cascade',
    'create temp table tt (a int primary key, b text)',
    'create table s (a int, b text)',
    "insert into s values (1, 'x')",
    'begin read only',
    'merge into tt using s on tt.a = s.a when not matched then insert values (s.a, s.b)',
    'merge into s using tt on tt.a = s.a when matched then delete',
    'rollback',
    'create unlogged table ut (a int generated always as identity, b text, c text generated '
    'always as (upper(b)) stored)',
    'merge into ut using s on false when not matched then insert (b) values (s.b)',
    'select * from ut',
    'select * from tt',
]


def test_merge_actions_sources_and_refusals(both: tuple[Reference, Ours]) -> None:
    assert_same(both, MERGE_BASICS)


def test_merge_meets_constraints_identity_privileges(both: tuple[Reference, Ours]) -> None:
    assert_same(both, ["drop table t, s cascade"] + MERGE_RULES)


def test_merge_edges(both: tuple[Reference, Ours]) -> None:
    assert_same(both, MERGE_EDGES)


def test_merge_into_temporary_and_unlogged_tables(both: tuple[Reference, Ours]) -> None:
    assert_same(both, MERGE_PERSISTENCE)


def test_system_columns(both: tuple[Reference, Ours]) -> None:
    assert_same(both, ["drop table t, ch, s, ut cascade"] + SYSTEM_COLUMNS)


def test_stored_generated_columns(both: tuple[Reference, Ours]) -> None:
    assert_same(both, GENERATED_COLUMNS)


def test_generated_columns_follow_renames_and_drops(both: tuple[Reference, Ours]) -> None:
    assert_same(both, GENERATED_ALTER)


def test_regexp_and_string_functions(both: tuple[Reference, Ours]) -> None:
    assert_same(both, STRING_FUNCTIONS + MORE_STRING_FUNCTIONS)


def test_generated_column_added_by_alter_table(both: tuple[Reference, Ours]) -> None:
    assert_same(both, GENERATED_ADD_COLUMN)
