"""Range types, network address types and multidimensional arrays side by side with a real
PostgreSQL 15: literals and their canonical forms, the malformed-literal errors with their
DETAIL, constructors, operators and functions, columns with B-tree indexes, ORDER BY; inet,
cidr, macaddr and macaddr8 input, output, order and functions; ARRAY[[...]] and
'{{...}}' arrays, subscripts, array_dims/ndims/length, cardinality, unnest. Then the same values
fetched through psycopg in text and binary formats from both servers, and a table with such
columns on a streaming standby (rows, and pg_dump equal to PostgreSQL's).

Each scenario runs its statements in order on both servers (tests/compat/differential.py); every
answer must match: rows, or SQLSTATE, message, DETAIL, hint and position.
"""

from __future__ import annotations

import ipaddress
import os
import random
from typing import Any

import psycopg
import pytest

from differential import MARKS, assert_same, pair_fixture
from tests.compat.test_pg_dump import Endpoint, _assert_same, _dump
from tests.compat.types_pg_server import running_postgres
from tests.integration.test_standby_streaming import (execute, streaming_pair,
                                                      wait_for_replay_catchup)
from tests.server_process import start_server

pytestmark = MARKS

SETUP = [
    "CREATE TABLE spans (id int PRIMARY KEY, r int4range, b int8range, n numrange, d daterange, "
    "t tsrange, z tstzrange)",
    "CREATE INDEX spans_r ON spans (r)",
    "INSERT INTO spans VALUES (1, '[1,5)', '[10,20]', '(1.5,2.25]', '[2020-01-01,2020-02-01)', "
    "'[2020-01-01 10:00,2020-01-01 12:00)', '[2020-01-01 10:00+02,)'), "
    "(2, 'empty', '(,)', 'empty', '(,2021-01-01]', '(,)', 'empty'), "
    "(3, '(,3]', NULL, '[0,0]', NULL, NULL, NULL), (4, '[2,9)', '(5,6)', '[-1,1)', "
    "'[2020-03-01,2020-03-01]', 'empty', '(2019-12-31 23:00+00,2020-01-01 00:00+00]')",
    "CREATE TABLE hosts (id int PRIMARY KEY, a inet, c cidr, m macaddr, m8 macaddr8)",
    "CREATE INDEX hosts_a ON hosts (a)",
    "INSERT INTO hosts VALUES (1, '192.168.1.5/24', '192.168.1.0/24', '08:00:2b:01:02:03', "
    "'08:00:2b:01:02:03:04:05'), (2, '10.0.0.1', '10/8', '08-00-2b-01-02-04', "
    "'0800.2b01.0203'), (3, '::1', '2001:db8::/32', '0800.2b01.0202', '08002b0102030405'), "
    "(4, '10.0.0.0/8', '10.1', NULL, NULL), (5, '::ffff:1.2.3.4/120', '::/0', "
    "'FF:FF:FF:FF:FF:FF', NULL)",
    "CREATE TABLE matrices (id int PRIMARY KEY, g int[], n numeric[], t text[], r int4range[])",
    "INSERT INTO matrices VALUES (1, '{{1,2},{3,NULL}}', '{{{1.5}},{{-2}}}', "
    "'{{a,\"b c\"},{\"\",NULL}}', '{{\"[1,2)\",empty},{\"(,3]\",NULL}}'), "
    "(2, ARRAY[1,2], '{}', ARRAY[['x']], NULL)",
]

both = pair_fixture("ranges", SETUP, detailed=True)


def test_range_literals_canonical_forms_and_errors(both: Any) -> None:
    assert_same(both, [
        "SELECT '[1,5]'::int4range, '(1,5)'::int4range, '(1,2)'::int4range, '[1,1)'::int4range, "
        "'[1,1]'::int4range, '(,5]'::int4range, '[,)'::int4range, ' empty '::int4range, "
        "'EMPTY'::int8range, '[ 1 , 3 ]'::int4range, '[\"1\",\"3\")'::int4range",
        "SELECT '[1.50,2.0]'::numrange, '(1,1)'::numrange, '[1,1]'::numrange, "
        "'[2020-01-01,2020-01-31]'::daterange, '(2020-01-01,2020-01-02)'::daterange, "
        "'[2020-01-01 10:00, 2020-01-02)'::tsrange, '[2020-01-01 10:00+02,)'::tstzrange",
        "SELECT '1,2'::int4range", "SELECT '[1,2'::int4range", "SELECT '[1 2)'::int4range",
        "SELECT '[1,2,3)'::int4range", "SELECT '[1,2)x'::int4range", "SELECT ''::int4range",
        "SELECT 'emptyx'::int4range", "SELECT '[1,\"2)'::int4range", "SELECT '[a,2)'::int4range",
        "SELECT '[5,1)'::int4range", "SELECT '[2147483647,2147483647]'::int4range",
        "SELECT int4range(5, 1)", "SELECT int4range(1, 2, 'x')", "SELECT int4range(1, 2, NULL)",
        "SELECT int4range(1, 5), int4range(1, 5, '[]'), int4range(NULL, 5), "
        "int4range(1, NULL, '(]'), int4range(NULL, NULL), numrange(1, 2.5), "
        "int8range(1, 10, '(]'), daterange('2020-01-01', '2020-02-01', '(]'), "
        "tsrange('2020-01-01', '2020-01-02'), tstzrange('2020-01-01', NULL)",
        "SELECT '[1,5)'::int4range::text, '[1,5)'::text::int4range, "
        "pg_typeof('[1,5)'::int4range), '{\"[1,2)\",empty}'::int4range[]",
    ])


def test_range_operators_and_functions(both: Any) -> None:
    assert_same(both, [
        "SELECT int4range(1,5) @> 3, int4range(1,5) @> 5, 3 <@ int4range(1,5), "
        "numrange(1,5) @> 2.5, int4range(1,10) @> int4range(2,3), int4range(2,3) <@ "
        "int4range(1,10), 'empty'::int4range <@ int4range(1,2), int4range(1,5) @> '[2,3)'",
        "SELECT int4range(1,5) && int4range(4,8), numrange(1,5,'()') && numrange(5,10,'()'), "
        "int4range(1,5) << int4range(5,8), int4range(5,8) >> int4range(1,5), "
        "int4range(1,5) &< int4range(3,4), int4range(1,5) &> int4range(0,4), "
        "int4range(1,5) -|- int4range(5,7), numrange(1,5,'()') -|- numrange(5,10,'[)'), "
        "numrange(1,5,'[]') -|- numrange(5,10,'(]'), 'empty'::int4range && int4range(1,2)",
        "SELECT int4range(1,5) + int4range(5,8), numrange(1,5) + numrange(3,6), "
        "int4range(1,5) * int4range(3,8), int4range(1,5) * int4range(6,8), "
        "int4range(1,10) - int4range(5,20), int4range(1,10) - int4range(-5,3), "
        "int4range(1,10) - int4range(20,30), int4range(3,4) - int4range(1,10), "
        "'empty'::int4range + int4range(1,2), numrange(1,5,'[]') - numrange(5,7)",
        "SELECT int4range(1,3) + int4range(5,6)", "SELECT int4range(1,10) - int4range(3,4)",
        "SELECT numrange(1,5) @> 3", "SELECT int4range(1,5) @> 3::int8",
        "SELECT 2.5 <@ int4range(1,5)", "SELECT numrange(1,5) @> '3'",
        "SELECT lower(int4range(1,5)), upper(int4range(1,5)), lower('(,3]'::int4range), "
        "upper('empty'::int4range), isempty('empty'::int4range), lower_inc(int4range(1,5)), "
        "upper_inc(numrange(1,5,'[]')), lower_inf('(,3]'::int4range), "
        "upper_inf('empty'::int4range), range_merge(int4range(1,3), int4range(5,6)), "
        "lower(daterange('2020-01-01','2020-02-01')), upper(numrange(1.5, 2.25))",
        "SELECT int4range(1,5) = int4range(1,5,'[)'), int4range(1,5) < int4range(1,6), "
        "'empty'::int4range < int4range(1,2), '(,3)'::int4range < int4range(1,2), "
        "int4range(1,5) <> int4range(1,6), numrange(1.0, 2) = numrange(1, 2.00)",
    ])


def _random_range(generator: random.Random) -> str:
    if generator.random() < 0.05:
        return "empty"
    bounds = ["" if generator.random() < 0.15 else str(generator.randint(0, 6))
              for _ in range(2)]
    if all(bounds) and int(bounds[0]) > int(bounds[1]):
        bounds.reverse()
    return generator.choice("[(") + ",".join(bounds) + generator.choice("])")


def test_range_operators_on_random_pairs(both: Any) -> None:
    """Every range operator over seeded random pairs of int4range and numrange literals
    (bounds inclusive or not, infinite, empty)."""
    generator = random.Random(15)
    statements = []
    for type_name in ("int4range", "numrange"):
        for _ in range(25):
            left, right = _random_range(generator), _random_range(generator)
            operations = ", ".join(
                f"'{left}'::{type_name} {name} '{right}'::{type_name}"
                for name in ("&&", "@>", "<@", "<<", ">>", "&<", "&>", "-|-", "=", "<", ">="))
            statements.append(f"SELECT {operations}, range_merge('{left}'::{type_name}, "
                              f"'{right}'::{type_name})")
            statements.extend(f"SELECT '{left}'::{type_name} {name} '{right}'::{type_name}"
                              for name in ("+", "*", "-"))
    assert_same(both, statements)


def test_range_columns_order_and_index(both: Any) -> None:
    assert_same(both, [
        "SELECT * FROM spans ORDER BY id",
        "SELECT id, r FROM spans ORDER BY r, id",
        "SELECT id, r FROM spans ORDER BY r DESC, id",
        "SELECT id FROM spans WHERE r = '[1,5)'",
        "SELECT id FROM spans WHERE r > '[1,5)' ORDER BY id",
        "SELECT id FROM spans WHERE r @> 4 ORDER BY id",
        "SELECT id FROM spans WHERE d @> '2020-01-15'::date ORDER BY id",
        "SELECT id FROM spans WHERE z @> '2020-01-01 09:00+00'::timestamptz ORDER BY id",
        "SELECT r, count(*) FROM spans GROUP BY r ORDER BY r",
        "UPDATE spans SET r = r + int4range(9, 12) WHERE id = 4",
        "SELECT id, r FROM spans WHERE id = 4",
        "INSERT INTO spans (id, r) VALUES (5, '[3,1)')",
        "INSERT INTO spans (id, r) VALUES (5, 'x')",
        "SELECT min(id) FROM spans WHERE r IS NULL",
        "SELECT c.relname, i.indclass::text, oc.opcname, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_opclass oc "
        "ON oc.oid = i.indclass[0] WHERE c.relname IN ('spans_r', 'hosts_a') ORDER BY 1",
        "SELECT typname, typtype, typcategory, typlen, typalign, typstorage, typarray::regtype, "
        "typinput, typoutput, typreceive, typsend FROM pg_type WHERE oid IN ("
        "'int4range'::regtype, 'numrange'::regtype, 'tstzrange'::regtype, 'inet'::regtype, "
        "'cidr'::regtype, 'macaddr'::regtype, 'macaddr8'::regtype) ORDER BY oid",
        "SELECT format_type(a.atttypid, a.atttypmod), a.attname FROM pg_attribute a "
        "WHERE a.attrelid = 'spans'::regclass AND a.attnum > 0 ORDER BY a.attnum",
    ])


def test_network_types(both: Any) -> None:
    assert_same(both, [
        "SELECT '192.168.0.1/24'::inet, '10.0.0.1'::inet, '10/8'::inet, '::1'::inet, "
        "'2001:DB8::/32'::inet, '::ffff:1.2.3.4/120'::inet, '1:0:0:2:0:0:0:3'::inet, "
        "'::2'::inet, '010.1.2.3'::inet",
        "SELECT '10.1'::cidr, '224'::cidr, '200'::cidr, '130'::cidr, '10.1.2/24'::cidr, "
        "'2001:db8::/32'::cidr, '::/0'::cidr, '10.0.0.1'::cidr",
        "SELECT '10.1'::inet", "SELECT '10.0.0.256'::inet", "SELECT '10.0.0.1/33'::inet",
        "SELECT 'fe80::1%eth0'::inet", "SELECT ' 10.0.0.1'::inet", "SELECT '10.0.0.1/'::inet",
        "SELECT '1.2.3/25'::inet, '224.1.2'::cidr, '239'::cidr, '0/0'::inet, '1.2.3/25'::cidr, "
        "'::1.2.3.4'::inet, '1:2:3:4:5:6:1.2.3.4'::inet, '01.02.03.004'::inet",
        "SELECT '10/16'::inet", "SELECT '1.2.3.4.5'::inet", "SELECT '::/129'::cidr",
        "SELECT '192.168.1.5/24'::cidr", "SELECT '10.1/8'::cidr", "SELECT ''::cidr",
        "SELECT host('10.1.2.3/8'::inet), masklen('10.1.2.3/8'::inet), "
        "network('10.1.2.3/8'::inet), broadcast('10.1.2.3/8'::inet), "
        "netmask('10.1.2.3/8'::inet), hostmask('10.1.2.3/8'::inet), "
        "set_masklen('10.1.2.3/8'::inet, 16), set_masklen('10.1.0.0/16'::cidr, 8), "
        "family('::1'::inet), family('10.0.0.1'::inet), abbrev('10.1.2.3/8'::inet), "
        "abbrev('10.0.0.0/8'::cidr), abbrev('192.168.0.0/24'::cidr), "
        "abbrev('10.1.0.0/17'::cidr), text('10.0.0.1'::inet), text('10.0.0.0/8'::cidr), "
        "'10.0.0.1'::inet::text, '10.0.0.0/8'::cidr::text, '10.1.2.3/8'::inet::cidr",
        "SELECT set_masklen('10.1.2.3'::inet, 33)",
        "SELECT '10.1.2.3'::inet << '10.0.0.0/8'::cidr, '10.0.0.0/8'::inet << "
        "'10.0.0.0/8'::inet, '10.0.0.0/8'::inet <<= '10.0.0.0/8'::inet, "
        "'10.0.0.0/8'::cidr >> '10.1.2.3'::inet, '10.0.0.0/8'::cidr >>= '10.0.0.0/8'::cidr, "
        "'10.0.0.0/8'::inet && '10.1.0.0/16'::inet, '10.0.0.0/8'::inet && '::1'::inet, "
        "'10.0.0.0/8'::inet = '10.0.0.0/8'::cidr, '10.0.0.1'::inet < '::1'::inet, "
        "'10.0.0.0/8'::inet < '10.0.0.0/16'::inet, inet_same_family('10.0.0.1', '::1'), "
        "inet_merge('192.168.1.5/24', '192.168.2.5/24'), ~'10.0.0.1'::inet, "
        "'10.0.0.1'::inet + 5, '10.0.0.1'::inet - 2, '10.0.0.9'::inet - '10.0.0.1'::inet, "
        "'10.0.0.1'::inet & '255.255.0.0'::inet, '10.0.0.1'::inet | '0.0.255.255'::inet",
        "SELECT '255.255.255.255'::inet + 1",
        "SELECT '08:00:2b:01:02:03'::macaddr, '08002b-010203'::macaddr, "
        "'0800.2b01.0203'::macaddr, 'AB-CD-EF-01-02-03'::macaddr, "
        "'08:00:2b:01:02:03'::macaddr8, '08:00:2b:01:02:03:04:05'::macaddr8, "
        "'08:00:2b:01:02:03'::macaddr::macaddr8, trunc('08:00:2b:01:02:03'::macaddr), "
        "'08:00:2b:01:02:03'::macaddr < '08:00:2b:01:02:04'::macaddr",
        "SELECT 'x'::macaddr", "SELECT 'x'::macaddr8", "SELECT '8:0:2b:1:2:3'::macaddr, "
        "'0800-2b01-0203'::macaddr, '08002b:0102030405'::macaddr8, "
        "'0800.2b01.0203.0405'::macaddr8, '0800:2b01:0203'::macaddr8",
        "SELECT '08:00:2b:01:02'::macaddr", "SELECT '08:00-2b:01:02:03:04:05'::macaddr8",
        "SELECT * FROM hosts ORDER BY id",
        "SELECT id, a FROM hosts ORDER BY a, id",
        "SELECT id, c FROM hosts ORDER BY c DESC, id",
        "SELECT id FROM hosts WHERE a <<= '10.0.0.0/8' ORDER BY id",
        "SELECT id FROM hosts WHERE a = '10.0.0.1'",
        "SELECT id, m FROM hosts ORDER BY m NULLS FIRST, id",
        "SELECT '{10.0.0.1,::1/64}'::inet[], ARRAY['10/8'::cidr]",
        "INSERT INTO hosts (id, c) VALUES (9, '10.1.2.3/8')",
    ])


def test_multidimensional_arrays(both: Any) -> None:
    assert_same(both, [
        "SELECT '{{1,2},{3,4}}'::int[], '[1:2][1:2]={{1,2},{3,4}}'::int[], '{{{1}}}'::text[], "
        "'{ { 1 , 2 } , { 3 , 4 } }'::int[], '{{NULL,2},{3,\"4\"}}'::int[], "
        "'{{a,\"b c\"},{NULL,\"\"}}'::text[], '{{1.5,2},{3,4}}'::numeric[]",
        "SELECT '{{1,2},{3}}'::int[]", "SELECT '{{1,2},3}'::int[]", "SELECT '{1,{2}}'::int[]",
        "SELECT '{{}}'::int[]", "SELECT '{{1,2}}x'::int[]", "SELECT '{{1,2},{3,4}'::int[]",
        "SELECT '[1:2][1:3]={{1,2},{3,4}}'::int[]",
        "SELECT ARRAY[[1,2],[3,4]], ARRAY[ARRAY[1,2], ARRAY[3,4]], ARRAY[[[1],[2]],[[3],[4]]], "
        "ARRAY[['a','b'],['c','d']], ARRAY[ARRAY[]::int[], ARRAY[]::int[]]",
        "SELECT ARRAY[[1,2],[3]]", "SELECT ARRAY[ARRAY[1,2], NULL]",
        "SELECT (ARRAY[[1,2],[3,4]])[2][1], (ARRAY[[1,2],[3,4]])[2], (ARRAY[[1,2],[3,4]])[1:1], "
        "(ARRAY[[1,2],[3,4]])[1:2][2], (ARRAY[[1,2],[3,4]])[3][1], (ARRAY[1,2,3])[2:], "
        "(ARRAY[1,2,3])[:2], (ARRAY[1,2,3])[5:6], (ARRAY[[1,2],[3,4]])[2][NULL]",
        "SELECT array_dims(ARRAY[[1,2],[3,4]]), array_ndims(ARRAY[[1,2],[3,4]]), "
        "array_length(ARRAY[[1,2,3],[3,4,5]], 2), array_length(ARRAY[[1,2,3],[3,4,5]], 3), "
        "cardinality(ARRAY[[1,2],[3,4]]), array_upper(ARRAY[[1,2,3],[3,4,5]], 2), "
        "array_lower('{{1}}'::int[], 3), array_dims('{}'::int[]), array_ndims('{}'::int[]), "
        "cardinality('{}'::int[]), array_dims(ARRAY[1,2])",
        "SELECT unnest(ARRAY[[1,2],[3,4]])", "SELECT * FROM unnest('{{a,b},{c,d}}'::text[])",
        "SELECT '{1,2,3}'::int[] < '{{1,2}}', '{1,2}'::int[] < '{{1,2}}', "
        "'{{1,2}}'::int[] < '{{1,2,3}}', '{{1,2},{3,4}}'::int[] < '{{1,2,3,4}}', "
        "'{{1,NULL}}'::int[] < '{{1,2}}', '{1,NULL}'::int[] < '{{1,NULL,3}}', "
        "'{{1}}'::int[] < '{{{1}}}', '{{1,2}}'::int[] = '{1,2}'",
        "SELECT g FROM grids ORDER BY g",
        "SELECT ARRAY[[1,2],[3,4]] = '{{1,2},{3,4}}', ARRAY[[1,2],[3,4]] < ARRAY[[1,2],[3,5]], "
        "ARRAY[1,2,3,4] = ARRAY[[1,2],[3,4]], ARRAY[[1,2],[3,4]]::text[], "
        "'{{1,2},{3,4}}'::int[]::numeric[]",
        "CREATE TABLE grids (id int PRIMARY KEY, g int[], t text[])",
        "INSERT INTO grids VALUES (1, '{{1,2},{3,4}}', '{{a,NULL},{\"b c\",d}}'), "
        "(2, '{1,2}', '{}'), (3, ARRAY[[[1,2]],[[3,4]]], ARRAY[['x']])",
        "SELECT * FROM grids ORDER BY id", "SELECT id, g[2][1], t[1][1] FROM grids ORDER BY id",
        "SELECT id FROM grids WHERE g = '{{1,2},{3,4}}'",
        "SELECT array_to_string(ARRAY[[1,2],[3,4]], ','), ARRAY[[1,2],[3,4]] || ARRAY[5,6], "
        "ARRAY[[1,2],[3,4]] || ARRAY[[5,6]], ARRAY[5,6] || ARRAY[[1,2],[3,4]], "
        "ARRAY[[1,2],[3,4]] @> ARRAY[3], ARRAY[[1,2],[3,4]] && ARRAY[3], "
        "3 = ANY(ARRAY[[1,2],[3,4]]), to_json(ARRAY[[1,2],[3,4]]), "
        "array_cat(ARRAY[[1,2]], ARRAY[[3,4]])",
        "SELECT ARRAY[[1,2],[3,4]] || ARRAY[[5,6,7]]", "SELECT ARRAY[[1,2],[3,4]] || 5",
        "SELECT array_append(ARRAY[[1,2]], 3)", "SELECT array_position(ARRAY[[1,2],[3,4]], 3)",
        "SELECT array_remove(ARRAY[[1,2],[3,4]], 3)",
        "SELECT array_agg(g ORDER BY id) FROM grids WHERE id < 3",
        "SELECT array_agg(x) FROM (VALUES (ARRAY[[1,2]]), (ARRAY[[3,4]])) v(x)",
        "SELECT array_agg(x) FROM (VALUES (ARRAY[1,2]), (NULL)) v(x)",
        "SELECT ARRAY(SELECT x FROM (VALUES (ARRAY[1,2]), (ARRAY[3,4])) v(x))",
        "SELECT ARRAY(SELECT x FROM (VALUES (ARRAY[1,2]), (ARRAY[3])) v(x))",
        "SELECT ARRAY(SELECT x FROM (VALUES (ARRAY[1,2])) v(x) WHERE false)",
    ])


def _random_address(generator: random.Random) -> str:
    if generator.random() < 0.5:
        address = generator.choice([generator.getrandbits(32),
                                    0x0A000000 | generator.getrandbits(8)])
        bits = generator.choice([32, generator.randint(0, 32)])
        return f"{ipaddress.IPv4Address(address)}/{bits}"
    address = generator.choice([
        generator.getrandbits(128), generator.getrandbits(16), generator.getrandbits(32),
        0xFFFF00000000 | generator.getrandbits(32), (0x20010DB8 << 96) |
        (generator.getrandbits(16) << 48), (generator.getrandbits(16) << 112) | 1])
    return f"{ipaddress.IPv6Address(address)}/{generator.choice([128, generator.randint(0, 128)])}"


def test_network_functions_on_random_addresses(both: Any) -> None:
    """The functions and operators over seeded random IPv4 and IPv6 addresses and masks
    (IPv6 text with its zero runs and IPv4 tails, abbrev(cidr)'s groups)."""
    generator = random.Random(3)
    statements = []
    for _ in range(30):
        left, right = _random_address(generator), _random_address(generator)
        statements.append(
            f"SELECT '{left}'::inet, host('{left}'), network('{left}'), broadcast('{left}'), "
            f"netmask('{left}'), hostmask('{left}'), abbrev(network('{left}')), "
            f"text('{left}'::inet), set_masklen('{left}'::inet, 7), ~'{left}'::inet")
        statements.append(
            f"SELECT '{left}'::inet << '{right}', '{left}'::inet <<= '{right}', "
            f"'{left}'::inet >>= '{right}', '{left}'::inet && '{right}', "
            f"'{left}'::inet < '{right}', '{left}'::inet = '{right}'")
        statements.append(f"SELECT inet_merge('{left}', '{right}')")
    assert_same(both, statements)


def _random_array_literal(generator: random.Random, depth: int = 0) -> str:
    if depth > 3 or generator.random() < 0.3:
        return generator.choice(["1", "NULL", '"x"', "", " 3 ", "{", "}"])
    items = ",".join(_random_array_literal(generator, depth + 1)
                     for _ in range(generator.randint(0, 3)))
    return "{" + items + "}" + generator.choice(["", "", "", " ", "x"])


def test_random_array_literals(both: Any) -> None:
    """Seeded random (mostly malformed) nested literals: the same array or the same error
    and DETAIL as array_in's scan, which reports the first problem it meets."""
    generator = random.Random(4)
    literals = sorted({_random_array_literal(generator) for _ in range(150)})
    assert_same(both, [f"SELECT '{literal}'::text[]" for literal in literals])


def _fetch(dsn: str, query: str, binary: bool, **options: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True, **options) as connection:
        with connection.cursor(binary=binary) as cursor:
            cursor.execute(query)
            return cursor.fetchall()


VALUE_QUERIES = [
    "SELECT r, b, n, d, t, z FROM spans ORDER BY id",
    "SELECT a, c, m, m8 FROM hosts ORDER BY id",
    "SELECT g, n, t, r FROM matrices ORDER BY id",
    "SELECT '{\"[1,2)\",empty}'::int4range[], '{10.0.0.1,::1/64}'::inet[]",
    "SELECT '{{1,2},{3,NULL}}'::int[], ARRAY[[['a']],[['b']]], '{{1.5},{2}}'::numeric[]",
]


def test_values_through_psycopg_text_and_binary(template_cluster: str, tmp_path: Any) -> None:
    """psycopg reads the same Python values (its Range, ipaddress objects, strings for
    macaddr) from both servers, in text and in binary; parameters sent both ways agree."""
    datadir = os.path.join(tmp_path, "data")
    import shutil
    shutil.copytree(template_cluster, datadir)
    ours = start_server(datadir)
    try:
        with running_postgres() as reference:
            execute(ours, *SETUP)
            with psycopg.connect(reference.conninfo, autocommit=True) as connection:
                for statement in SETUP:
                    connection.execute(statement)
            for query in VALUE_QUERIES:
                for binary in (False, True):
                    expected = _fetch(reference.conninfo, query, binary)
                    assert _fetch(ours.dsn(), query, binary) == expected, (query, binary)
            _check_parameters(reference.conninfo, ours.dsn())
            zoned = "SELECT z, z::text, ARRAY[z]::text FROM spans ORDER BY id"
            for binary in (False, True):    # tstzrange's text follows the session's zone
                expected = _fetch(reference.conninfo, zoned, binary,
                                  options="-c TimeZone=Asia/Tokyo")
                assert _fetch(ours.dsn(), zoned, binary,
                              options="-c TimeZone=Asia/Tokyo") == expected, binary
    finally:
        ours.stop()


def _check_parameters(reference_dsn: str, ours_dsn: str) -> None:
    from psycopg.types.range import Range
    import ipaddress
    parameters = [Range(1, 5), ipaddress.ip_interface("10.0.0.1/8"),
                  ipaddress.ip_network("10.0.0.0/8")]
    query = "SELECT %s::int4range @> 3, %s::inet, %s::cidr"
    for binary in (False, True):
        answers = []
        for dsn in (reference_dsn, ours_dsn):
            with psycopg.connect(dsn, autocommit=True) as connection:
                with connection.cursor(binary=binary) as cursor:
                    cursor.execute(query.replace("%s", "%b" if binary else "%t"), parameters)
                    answers.append(cursor.fetchall())
        assert answers[0] == answers[1], binary


def test_range_and_network_columns_on_a_streaming_standby(template_cluster: str,
                                                          tmp_path: Any) -> None:
    """The standby's rows equal the primary's; pg_dump of either equals PostgreSQL's."""
    with running_postgres() as reference:
        with psycopg.connect(reference.conninfo, autocommit=True) as connection:
            for statement in SETUP:
                connection.execute(statement)
        with streaming_pair(template_cluster, str(tmp_path)) as (primary, standby):
            execute(primary, *SETUP)
            wait_for_replay_catchup(primary, standby)
            for query in VALUE_QUERIES[:3]:
                assert _fetch(standby.dsn(), query, True) == _fetch(primary.dsn(), query, True)
            assert _fetch(standby.dsn(), "SELECT id FROM spans WHERE r = '[1,5)'",
                          False) == [(1,)]
            expected = _dump(Endpoint(reference.host, reference.port, reference.user))
            assert any("[1,5)" in line for line in expected)
            _assert_same(expected, _dump(Endpoint("127.0.0.1", primary.port)))
            _assert_same(expected, _dump(Endpoint("127.0.0.1", standby.port)))
