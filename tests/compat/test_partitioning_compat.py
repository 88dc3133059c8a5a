"""Declarative partitioning side by side with a real PostgreSQL 15 (tests/compat/differential.py
runs the statements on both): PARTITION BY RANGE/LIST/HASH, PARTITION OF with its bounds and
their errors, routing of INSERT and cross-partition UPDATE, DELETE/SELECT/TRUNCATE of the
parent, ATTACH/DETACH PARTITION, sub-partitioning, unique indexes that must hold the key, DROP
of the parent, and the catalogs clients read (pg_class.relispartition/relpartbound through
pg_get_expr, pg_inherits, pg_partitioned_table, pg_get_partkeydef, pg_partition_root).
Scenarios name their own objects, so they may run in any order."""

from __future__ import annotations

import psycopg
import pytest

from differential import MARKS, assert_same, copy_in_error, pair_fixture

pytestmark = MARKS

CATALOG_OF = ("select c.relname, c.relkind, c.relispartition, "
              "pg_get_expr(c.relpartbound, c.oid), i.inhparent::regclass "
              "from pg_class c left join pg_inherits i on i.inhrelid = c.oid "
              "where c.relname like '{0}%' and c.relnamespace = 'public'::regnamespace "
              "order by 1")
KEYS_OF = ("select partrelid::regclass, partstrat, partnatts, partdefid::regclass, partattrs, "
           "pg_get_partkeydef(partrelid) from pg_partitioned_table "
           "where partrelid::regclass::text like '{0}%' order by 1")
WHERE_ROWS_ARE = ("select tableoid::regclass, * from {0} order by 2, 3")

SCENARIOS: dict[str, list[str]] = {
    "range": [
        "create table r (a int, b text) partition by range (a)",
        "create table r1 partition of r for values from (minvalue) to (0)",
        "create table r2 partition of r for values from (0) to (10)",
        "create table r3 partition of r for values from (10) to (100)",
        "create table r4 partition of r for values from (50) to (60)",
        "create table r4 partition of r for values from (200) to (100)",
        "create table r4 partition of r for values from (1, 2) to (3, 4)",
        "create table r4 partition of r for values in (1)",
        "create table r4 partition of r for values from ('x') to (200)",
        "insert into r values (-5, 'neg'), (1, 'one'), (10, 'ten'), (99, 'big')",
        "insert into r values (100, 'none')",
        "insert into r values (null, 'null')",
        WHERE_ROWS_ARE.format("r"),
        "select count(*) from r where a >= 1 and a < 50",
        "update r set a = a + 5 where b = 'one'",
        "update r set a = 20 where b = 'one' returning *",
        "update r set a = 500 where b = 'one'",
        WHERE_ROWS_ARE.format("r"),
        "delete from r where a < 0 returning b",
        "select * from only r",
        "select * from r2",
        "insert into r2 values (5, 'direct')",
        "insert into r2 values (50, 'outside')",
        "update r2 set a = 60 where b = 'direct'",
        "update r2 set a = 6 where b = 'direct' returning *",
        CATALOG_OF.format("r"),
        KEYS_OF.format("r"),
        "truncate r",
        "select count(*) from r",
        "drop table r",
        CATALOG_OF.format("r"),
    ],
    "list and default": [
        "create table l (k text, v int) partition by list (k)",
        "create table l_ab partition of l for values in ('a', 'b')",
        "create table l_n partition of l for values in (null)",
        "create table l_b partition of l for values in ('c', 'b')",
        "insert into l values ('a', 1), ('b', 2), (null, 3)",
        "insert into l values ('z', 4)",
        "create table l_d partition of l default",
        "create table l_d2 partition of l default",
        "insert into l values ('z', 4), ('y', 5)",
        WHERE_ROWS_ARE.format("l"),
        "create table l_z partition of l for values in ('z')",
        "create table l_q partition of l for values in ('q')",
        "update l set k = 'q' where v = 4",
        "insert into l_d values ('a', 9)",
        "insert into l_d values ('w', 9)",
        WHERE_ROWS_ARE.format("l"),
        CATALOG_OF.format("l"),
        KEYS_OF.format("l"),
        "create table l2 (k text, v int) partition by list (k, v)",
    ],
    "attach and detach": [
        # (PostgreSQL clears relhassubclass lazily, so CATALOG_OF leaves it out)
        "create table ap (a int, b int) partition by range (a)",
        "create table ap1 (a int, b int)",
        "insert into ap1 values (1, 1), (15, 2)",
        "alter table ap attach partition ap1 for values from (0) to (10)",
        "delete from ap1 where a = 15",
        "alter table ap attach partition ap1 for values from (0) to (10)",
        "alter table ap attach partition ap1 for values from (0) to (10)",
        "create table ap2 (a int, b int)",
        "alter table ap attach partition ap2 for values from (5) to (20)",
        "select * from ap",
        CATALOG_OF.format("ap"),
        "alter table ap detach partition ap2",
        "alter table ap detach partition ap1",
        "select * from ap",
        "select * from ap1",
        CATALOG_OF.format("ap"),
        "alter table ap1 attach partition ap2 for values from (5) to (20)",
    ],
    "sub-partitioning": [
        "create table s (a int, b text) partition by range (a)",
        "create table s1 partition of s for values from (0) to (10) partition by list (b)",
        "create table s1x partition of s1 for values in ('x')",
        "create table s2 partition of s for values from (10) to (20)",
        "insert into s values (1, 'x'), (11, 'y')",
        "insert into s values (2, 'y')",
        WHERE_ROWS_ARE.format("s"),
        "update s set a = 5 where b = 'y'",
        "update s set b = 'x', a = 3 where b = 'y'",
        "insert into s1x values (4, 'y')",
        "insert into s1x values (14, 'x')",
        "insert into s1x values (4, 'x')",
        WHERE_ROWS_ARE.format("s"),
        CATALOG_OF.format("s"),
        KEYS_OF.format("s"),
        "select pg_partition_root('s1x'), pg_partition_root('s'), pg_partition_root('pg_class')",
        "drop table s1",
        CATALOG_OF.format("s"),
        "drop table s",
        CATALOG_OF.format("s"),
    ],
    "hash": [
        "create table h (id int, v text) partition by hash (id)",
        "create table h0 partition of h for values with (modulus 4, remainder 0)",
        "create table h1 partition of h for values with (modulus 4, remainder 1)",
        "create table h2 partition of h for values with (modulus 3, remainder 2)",
        "create table h2 partition of h for values with (modulus 4, remainder 4)",
        "create table h2 partition of h for values with (modulus 8, remainder 1)",
        "create table h2 partition of h for values with (modulus 4, remainder 2)",
        "create table h3 partition of h for values with (modulus 4, remainder 3)",
        "create table hd partition of h default",
        "insert into h select g, 'v' || g from generate_series(1, 20) g",
        "select tableoid::regclass, count(*) from h group by 1 order by 1",
        "select tableoid::regclass, * from h where id in (1, 2, 3, 4, 5) order by 2",
        CATALOG_OF.format("h"),
        KEYS_OF.format("h"),
        "create table ht (k text, d date, n bigint) partition by hash (k, d, n)",
        "create table ht0 partition of ht for values with (modulus 3, remainder 0)",
        "create table ht1 partition of ht for values with (modulus 3, remainder 1)",
        "create table ht2 partition of ht for values with (modulus 3, remainder 2)",
        "insert into ht select 'key' || g, date '2024-01-01' + g, g * 1000000007 "
        "from generate_series(1, 30) g",
        "insert into ht values (null, null, null), ('x', null, 5)",
        "select tableoid::regclass, count(*), min(k), max(k) from ht group by 1 order by 1",
        "create table hf (f float8) partition by hash (f)",
    ],
    "indexes": [
        "create table ix (a int, b int, primary key (b)) partition by range (a)",
        "create table ix (a int, b int, unique (a, b)) partition by range (a)",
        "create table ix1 partition of ix for values from (0) to (10)",
        "create table ix2 (a int, b int)",
        "alter table ix attach partition ix2 for values from (10) to (20)",
        "create unique index on ix (b)",
        "create index on ix (b)",
        "insert into ix values (1, 1), (11, 1)",
        "insert into ix values (1, 1)",
        "select c.relname, c.relkind, i.inhparent::regclass from pg_class c "
        "left join pg_inherits i on i.inhrelid = c.oid where c.relname like 'ix%' order by 1",
        "select indexrelid::regclass, indrelid::regclass, indisunique, indisprimary "
        "from pg_index where indrelid::regclass::text like 'ix%' order by 1",
        "drop table ix",
        "select relname from pg_class where relname like 'ix%'",
    ],
    "partition constraints": [
        "create table pc (id int not null, at date not null, v numeric) "
        "partition by range (at)",
        "create table pc1 partition of pc for values from ('2023-01-01') to ('2024-01-01')",
        "create table pc2 partition of pc for values from ('2024-01-01') to (maxvalue) "
        "partition by list (id)",
        "create table pc2a partition of pc2 for values in (1, 2, 3)",
        "create table pc2b partition of pc2 for values in (4)",
        "create table pc2n partition of pc2 for values in (null, 5)",
        "create table pc2d partition of pc2 default",
        "create table pc0 partition of pc for values from (minvalue) to ('2023-01-01')",
        "create table pcr (a int, b int) partition by range (a, b)",
        "create table pcr1 partition of pcr for values from (1, 2) to (3, 4)",
        "create table pcr2 partition of pcr for values from (3, 4) to (5, maxvalue)",
        "create table pcr3 partition of pcr for values from (minvalue, minvalue) to (1, 2)",
        "create table pcr4 partition of pcr for values from (7, 1) to (7, 5)",
        "create table pcrd partition of pcr default",
        "create table pcl (t text) partition by list (t)",
        "create table pcl1 partition of pcl for values in ('a', 'b')",
        "create table pcl2 partition of pcl default",
        "create table pcn (x numeric) partition by range (x)",
        "create table pcn1 partition of pcn for values from (1.5) to (10)",
        "create table pcn2 partition of pcn for values from (-5) to (1.5)",
        "create table pcnd partition of pcn default",
        "select relname, pg_get_partition_constraintdef(oid) from pg_class "
        "where relname like 'pc%' and relnamespace = 'public'::regnamespace order by 1",
        "select relid, parentrelid, isleaf, level from pg_partition_tree('pc')",
        "select * from pg_partition_ancestors('pc2a')",
        "select pg_partition_ancestors('pc2a')",
        "select * from pg_partition_tree('pcr1')",
    ],
    "inheritance": [
        "create table ip (a int, b text default 'd')",
        "create table ic (c int) inherits (ip)",
        "create table ic2 (a int not null, d text) inherits (ip)",
        "create table ic3 (a text) inherits (ip)",
        "create table ic4 () inherits (ic)",
        "create table ic5 () inherits (nope)",
        "insert into ip values (1, 'p')",
        "insert into ic values (2, 'c', 20)",
        "insert into ic (a, c) values (3, 30)",
        "insert into ic2 values (4, 'x', 'dd')",
        "select tableoid::regclass, * from ip order by a",
        "select * from only ip",
        "select * from ic",
        "select count(*), sum(a) from ip where a > 1",
        "update ip set b = b || '!' where a >= 2 returning *",
        "select tableoid::regclass, * from ip order by a",
        "select * from ic order by a",
        "delete from ip where a = 3 returning a, b",
        "select tableoid::regclass, * from ip order by a",
        "select attrelid::regclass, attname, attinhcount from pg_attribute "
        "where attrelid in ('ic'::regclass, 'ic2'::regclass) and attnum > 0 order by 1, attnum",
        "select inhrelid::regclass, inhparent::regclass, inhseqno from pg_inherits "
        "where inhparent = 'ip'::regclass order by 1",
        "select relname, relhassubclass, relispartition from pg_class "
        "where relname in ('ip', 'ic', 'ic2') order by 1",
        "create table ip2 (a int) partition by list (a)",
        "create table ic6 () inherits (ip2)",
        "drop table ip",
        "truncate only ip",
        "select count(*) from ip",
        "truncate ip",
        "select count(*) from ip",
        "drop table ip cascade",
        "select relname from pg_class where relname like 'ic%' "
        "and relnamespace = 'public'::regnamespace",
    ],
    "on conflict": [
        "create table up (k int primary key, v text, n int default 0) "
        "partition by range (k)",
        "create table up1 partition of up for values from (0) to (10)",
        "create table up2 partition of up for values from (10) to (20) partition by list (k)",
        "create table up2a partition of up2 for values in (10, 11, 12)",
        "insert into up values (1, 'a'), (11, 'b')",
        "insert into up values (1, 'x'), (2, 'y') on conflict do nothing",
        "insert into up values (11, 'x'), (12, 'z') on conflict (k) do nothing returning *",
        "insert into up values (1, 'x') on conflict (k) do update set v = excluded.v, "
        "n = up.n + 1 returning tableoid::regclass, *",
        "insert into up values (11, 'w') on conflict (k) do update set v = up.v || excluded.v "
        "where up.n = 0 returning *",
        "insert into up values (2, 'q') on conflict (k) do update set k = 12",
        "insert into up values (3, 'q') on conflict (v) do nothing",
        "insert into up values (99, 'q') on conflict do nothing",
        "select tableoid::regclass, * from up order by k",
    ],
    "maintenance": [
        "create table mt (a int primary key, b text) partition by range (a)",
        "create table mt1 partition of mt for values from (0) to (10)",
        "insert into mt values (1, 'x'), (2, 'y')",
        "select pg_table_size('mt'), pg_relation_size('mt'), pg_indexes_size('mt')",
        "analyze mt",
        "select * from mt where a = 1 for update",
        "select * from mt order by a for share",
        "drop index mt1_pkey",
        "comment on table mt is 'partitioned'",
        "select obj_description('mt'::regclass)",
        "alter table mt rename to mt_renamed",
        "select tableoid::regclass, * from mt_renamed order by a",
        "lock table mt_renamed in access exclusive mode",
    ],
    "errors": [
        "create table e (a int) partition by range (nope)",
        "create table e1 partition of nope for values in (1)",
        "create table e (a int)",
        "create table e1 partition of e for values in (1)",
        "alter table e attach partition e for values in (1)",
        "create table ep (a int) partition by list (a)",
        "create table ep1 partition of ep for values from (1) to (2)",
        "create table ep1 partition of ep for values with (modulus 2, remainder 0)",
        "create table ep1 partition of ep for values in (a)",
        "create table ep1 partition of ep for values in (1)",
        "alter table ep detach partition e",
        "create table eh (a int) partition by hash (a)",
        "create table eh1 partition of eh default",
        "create table eh1 partition of eh for values with (modulus 0, remainder 0)",
        "create table eh1 partition of eh for values with (modulus 2, remainder 2)",
    ],
}


both = pair_fixture("partitioning", [], detailed=True)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_partitioning_like_postgres(both, scenario: str) -> None:
    assert_same(both, SCENARIOS[scenario])


def test_copy_routes_rows(both, module_server) -> None:
    """COPY FROM a partitioned table routes each row, with PostgreSQL's error for a row no
    partition takes (a real mirrordb server: COPY needs the wire protocol); COPY TO of one is
    refused."""
    reference, _ = both
    statements = ["create table cpy (a int, b text) partition by list (a)",
                  "create table cpy1 partition of cpy for values in (1, 2)",
                  "create table cpy2 partition of cpy for values in (3)"]
    with psycopg.connect(module_server.dsn(), autocommit=True) as mine:
        for statement in statements:
            reference.connection.execute(statement)
            mine.execute(statement)
        for data in ["1\tx\n3\ty\n", "2\tz\n4\tw\n"]:
            assert copy_in_error(mine, "copy cpy from stdin", data) == \
                copy_in_error(reference.connection, "copy cpy from stdin", data), data
        counted = "select tableoid::regclass::text, a, b from cpy order by a"
        assert mine.execute(counted).fetchall() == \
            reference.connection.execute(counted).fetchall()
        for connection in (mine, reference.connection):
            with pytest.raises(psycopg.errors.WrongObjectType, match="partitioned table"):
                with connection.cursor().copy("copy cpy to stdout") as copy:
                    list(copy)


PLANS = {
    "select * from pr where a = 5": ["Seq Scan on pr1 pr (filtered)"],
    "select * from pr where a >= 10 and a < 15": ["Seq Scan on pr2 pr (filtered)"],
    "select * from pr where a > 100": ["Seq Scan on prd pr (filtered)"],
    "select * from pr where 25 >= a": ["Append", "  ->  Seq Scan on pr1 pr_1 (filtered)",
                                        "  ->  Seq Scan on pr2 pr_2 (filtered)",
                                        "  ->  Seq Scan on prd pr_3 (filtered)"],
    "select * from pr where a < 0": ["Seq Scan on prd pr (filtered)"],
    "select * from pr where b = 'x'": ["Append", "  ->  Seq Scan on pr1 pr_1 (filtered)",
                                        "  ->  Seq Scan on pr2 pr_2 (filtered)",
                                        "  ->  Seq Scan on prd pr_3 (filtered)"],
    "select * from only pr": ["Result (One-Time Filter: false)"],
    "select * from pl where k = 'b'": ["Seq Scan on pl_ab pl (filtered)"],
    "select * from pl where k = 'q'": ["Seq Scan on pl_d pl (filtered)"],
    "delete from pr where a = 12": ["Delete on pr", "  ->  Seq Scan on pr2 pr (filtered)"],
}


def test_pruning_leaves_only_the_partitions_the_conditions_allow(both) -> None:
    """Constant conditions on the key prune partitions at plan time (EXPLAIN shows what is
    left under the Append); the rows are the same with or without pruning."""
    reference, ours = both
    for statement in ["create table pr (a int, b text) partition by range (a)",
                      "create table pr1 partition of pr for values from (0) to (10)",
                      "create table pr2 partition of pr for values from (10) to (20)",
                      "create table prd partition of pr default",
                      "insert into pr select g, 'x' from generate_series(-5, 30) g",
                      "create table pl (k text) partition by list (k)",
                      "create table pl_ab partition of pl for values in ('a', 'b')",
                      "create table pl_d partition of pl default",
                      "create table ux (k int primary key, v text) partition by range (k)",
                      "create table ux1 partition of ux for values from (0) to (10)",
                      "create table ux2 partition of ux for values from (10) to (20) "
                      "partition by list (k)",
                      "create table ux2a partition of ux2 for values in (10, 11, 12)",
                      "insert into ux values (1, 'a'), (11, 'b'), (12, 'c')"]:
        assert ours.run(statement)[0] == "command", statement
        reference.run(statement)
    for query, plan in PLANS.items():
        assert ours.run("explain " + query) == ("ok", [("QUERY PLAN", 25)],
                                                [(line,) for line in plan]), query
        if query.startswith("select"):
            assert ours.run(query + " order by 1") == reference.run(query + " order by 1")
PLANS.update({
    "select * from ux where k = 11": ["Index Scan using ux2a_pkey on ux2a"],
    "select * from ux where k >= 1": ["Append", "  ->  Index Scan using ux1_pkey on ux1",
                                      "  ->  Index Scan using ux2a_pkey on ux2a"],
    "update ux set v = 'u' where k = 1": ["Update on ux",
                                          "  ->  Index Scan using ux1_pkey on ux1"],

    "select * from pr where a >= 3 and a < 20": ["Append", "  ->  Seq Scan on pr1 pr_1 (filtered)",
                                                  "  ->  Seq Scan on pr2 pr_2 (filtered)"],
    "select * from pr where a >= 3 and a <= 20": ["Append",
                                                   "  ->  Seq Scan on pr1 pr_1 (filtered)",
                                                   "  ->  Seq Scan on pr2 pr_2 (filtered)",
                                                   "  ->  Seq Scan on prd pr_3 (filtered)"],
})
