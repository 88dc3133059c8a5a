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
        "create table rs2 (a int)",
        "create index rs2_a on rs2 (a)",
        CLASS_STATS.format("rs2"),
        "vacuum rs2",
        CLASS_STATS.format("rs2"),
        "insert into rs2 select g from generate_series(1, 500) g",
        "create index rs2_b on rs2 (a)",
        CLASS_STATS.format("rs2"),
    ],
    "pg_stats": [
        "create table st1 (i int, m int, t text, n int, b bool, u int)",
        "insert into st1 select g, g % 10, 'v' || (g % 7), case when g % 4 = 0 then null "
        "else g % 3 end, g % 2 = 0, case when g <= 20 then 1 else g end "
        "from generate_series(1, 1000) g",
        "analyze st1",
        STATS.format("st1"),
        "create table st2 (x int, y text)",
        "insert into st2 values (1, null), (2, null)",
        "analyze st2 (y)",
        STATS.format("st2"),
        "select schemaname, tablename from pg_stats where tablename = 'st2'",
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
