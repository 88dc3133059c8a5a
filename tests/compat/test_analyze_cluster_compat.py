"""ANALYZE, VACUUM and CREATE INDEX statistics side by side with a real PostgreSQL 15:
pg_class.relpages/reltuples/relallvisible (kept in place), pg_stats for small deterministic
tables (PostgreSQL samples every row of them, so its figures are exact), pg_stat_user_tables'
ANALYZE and VACUUM columns, and CLUSTER with ALTER TABLE ... CLUSTER ON / SET WITHOUT CLUSTER
(tests/compat/differential.py runs the statements on both). Scenarios name their own tables,
so they may run in any order."""

from __future__ import annotations

import pytest

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

both = pair_fixture("analyze_cluster", [])
verbose = pair_fixture("analyze_verbose", [
    "create table vb (a int, b text)",
    "insert into vb select g, 'b' || g from generate_series(1, 300) g",
    "create view vbv as select a from vb",
    "create table vb2 (c int)", "insert into vb2 values (1)", "analyze vb2",
    "create role vb_reader"], detailed=True)

# an index's relpages is left out: mirrordb's B-tree pages are not filled as PostgreSQL's
CLASS_STATS = ("select relname, case when relkind = 'i' then null else relpages end "
               "as relpages, reltuples, relallvisible from pg_class "
               "where relname like '{0}%' order by 1")
STATS = ("select attname, inherited, null_frac, avg_width, n_distinct, most_common_vals, "
         "most_common_freqs, histogram_bounds, correlation from pg_stats "
         "where tablename = '{0}' order by attname")

SCENARIOS: dict[str, list[str]] = {
    "relstats": [
        "create table rs1 (id int primary key, v text)",
        CLASS_STATS.format("rs1"),
        "insert into rs1 select g, 'value ' || g from generate_series(1, 1000) g",
        CLASS_STATS.format("rs1"),
        "analyze rs1",
        CLASS_STATS.format("rs1"),
        "create index rs1_v on rs1 (v)",
        CLASS_STATS.format("rs1"),
        "delete from rs1 where id <= 100",
        "vacuum rs1",
        CLASS_STATS.format("rs1"),
        "update rs1 set v = 'changed' where id > 990",
        "analyze rs1",
        CLASS_STATS.format("rs1"),
        "create table rs2 (a int)",
        "create index rs2_a on rs2 (a)",
        CLASS_STATS.format("rs2"),
        "vacuum rs2",
        CLASS_STATS.format("rs2"),
        "insert into rs2 select g from generate_series(1, 500) g",
        "create index rs2_b on rs2 (a)",
        CLASS_STATS.format("rs2"),
        "reindex index rs2_b",
        CLASS_STATS.format("rs2"),
        "begin",
        "truncate rs2",
        CLASS_STATS.format("rs2"),
        "rollback",
        CLASS_STATS.format("rs2"),
        "truncate rs2",
        CLASS_STATS.format("rs2"),
        "insert into rs2 values (1)",
        "reindex table rs2",
        CLASS_STATS.format("rs2"),
    ],
    "pg_stats": [
        "create table st1 (i int, m int, t text, n int, b bool, u int)",
        "insert into st1 select g, g % 10, 'v' || (g % 7), case when g % 4 = 0 then null "
        "else g % 3 end, g % 2 = 0, case when g <= 20 then 1 else g end "
        "from generate_series(1, 1000) g",
        "create index st1_expr on st1 ((m * 2), i, lower(t)) where n is not null",
        "analyze st1",
        STATS.format("st1"),
        STATS.format("st1_expr"),
        "create table st2 (x int, y text)",
        "insert into st2 values (1, null), (2, null)",
        "create table st3 (m int, u int)",
        "insert into st3 select g % 10, case when g % 50 = 0 then 1 else g end "
        "from generate_series(1, 600) g",
        "set default_statistics_target = 3",
        "analyze st3",
        STATS.format("st3"),
        "reset default_statistics_target",
        "analyze st2 (y)",
        STATS.format("st2"),
        "select schemaname, tablename from pg_stats where tablename = 'st2'",
    ],
    "cluster": [
        "create table cl1 (id int primary key, k int, v text)",
        "insert into cl1 select g, (g * 7919) % 1000, 'r' || g from generate_series(1, 1000) g",
        "create unique index cl1_k on cl1 (k)",
        "create index cl1_part on cl1 (v) where id > 10",
        "cluster cl1",
        "cluster cl1 using nosuch",
        "alter table cl1 cluster on nosuch",
        "cluster cl1 using cl1_part",
        "cluster nosuch",
        "cluster cl1 using cl1_k",
        "select id, k from cl1 limit 5",
        "select c.relname, i.indisclustered from pg_index i join pg_class c "
        "on c.oid = i.indexrelid where c.relname like 'cl1%' order by 1",
        CLASS_STATS.format("cl1"),
        "select count(*) from cl1 where k = 500",
        "select id from cl1 where id = 500",
        "alter table cl1 cluster on cl1_pkey",
        "select c.relname, i.indisclustered from pg_index i join pg_class c "
        "on c.oid = i.indexrelid where c.relname like 'cl1%' order by 1",
        "begin",
        "cluster",
        "rollback",
        "cluster",
        "select id, k from cl1 limit 3",
        "alter table cl1 set without cluster",
        "select c.relname, i.indisclustered from pg_index i join pg_class c "
        "on c.oid = i.indexrelid where c.relname like 'cl1%' order by 1",
        "cluster cl1",
        "begin",
        "cluster cl1 using cl1_k",
        "select id, k from cl1 limit 3",
        "commit",
        "delete from cl1 where id % 3 = 0",
        "vacuum full cl1",
        CLASS_STATS.format("cl1"),
        "select id, k from cl1 limit 3",
        "select count(*) from cl1 where k < 100",
        "begin",
        "vacuum full cl1",
        "rollback",
    ],
    "analyze statements": [
        "create table an1 (a int, b text)",
        "insert into an1 select g, 'x' || (g % 5) from generate_series(1, 200) g",
        "create view an1v as select * from an1",
        "analyze nosuch",
        "analyze an1 (nosuch)",
        "analyze an1 (b, b)",
        STATS.format("an1"),
        "analyze an1",
        "begin",
        "analyze an1",
        "commit",
        "begin read only",
        "analyze an1",
        "rollback",
        "create index an1_a on an1 (a)",
        "begin read only",
        "cluster an1 using an1_a",
        "select a from an1 limit 2",
        "rollback",
        "select relname, n_mod_since_analyze, analyze_count, last_analyze is not null, "
        "vacuum_count from pg_stat_user_tables where relname = 'an1'",
        "update an1 set a = a + 1 where a <= 10",
        "vacuum analyze an1",
        "select n_mod_since_analyze, analyze_count, vacuum_count, last_vacuum is not null "
        "from pg_stat_user_tables where relname = 'an1'",
        CLASS_STATS.format("an1"),
        STATS.format("an1"),
        "create table an2 (n numeric, d date, f float8, t text)",
        "insert into an2 select g / 4.0, date '2020-01-01' + g % 50, g * 0.5, "
        "repeat('long', g % 3) from generate_series(1, 1000) g",
        "analyze an2",
        STATS.format("an2"),
        "create table an3 (i interval, j json, a int[], nn numeric)",
        "insert into an3 select case when g % 3 = 0 then interval '1 mon' else "
        "interval '30 days' * (g % 4) end, '{\"a\": 1}', array[g % 5, g % 2], "
        "case when g % 10 = 0 then 'NaN'::numeric else g % 7 end "
        "from generate_series(1, 400) g",
        "analyze an3",
        STATS.format("an3"),
        "alter table an2 drop column d",
        STATS.format("an2"),
        "drop table an2",
        "select count(*) from pg_statistic s join pg_class c on c.oid = s.starelid "
        "where c.relname = 'an2'",
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(both, name: str) -> None:   # type: ignore[no-untyped-def]
    assert_same(both, SCENARIOS[name])


def test_pg_stats_has_rows(both) -> None:   # type: ignore[no-untyped-def]
    """The comparison above is not of two empty answers."""
    _, ours = both
    ours.run("create table filled (a int)")
    ours.run("insert into filled select g % 3 from generate_series(1, 30) g")
    ours.run("analyze filled")
    assert ours.run("select most_common_vals, most_common_freqs, n_distinct from pg_stats "
                    "where tablename = 'filled'") == \
        ("ok", [("most_common_vals", 2277), ("most_common_freqs", 1021), ("n_distinct", 700)],
         [("{0,1,2}", "{0.33333334,0.33333334,0.33333334}", "3")])


def test_analyze_verbose(verbose) -> None:   # type: ignore[no-untyped-def]
    assert_same(verbose, ["analyze verbose vb", "analyze verbose vb (a)",
                          "analyze (verbose) vb, nosuch", "analyze vbv",
                          "delete from vb where a % 3 = 0", "update vb set b = 'u' where a < 50",
                          "analyze verbose vb",
                          "select n_live_tup from pg_stat_user_tables "
                          "where relname = 'vb'",
                          "create index vb_a on vb (a)", "cluster verbose vb using vb_a",
                          "delete from vb where a < 10", "vacuum (full, verbose) vb",
                          "grant select on vb to vb_reader", "set role vb_reader",
                          "analyze vb", "cluster vb",
                          "select tablename, attname from pg_stats "
                          "where tablename in ('vb', 'vb2') order by 1, 2",
                          "reset role",
                          "select tablename, attname from pg_stats "
                          "where tablename in ('vb', 'vb2') order by 1, 2"])
