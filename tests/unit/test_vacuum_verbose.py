"""VACUUM VERBOSE's report (sql/ddl.py ``_verbose_lines`` from access/vacuum.py's stats) in the
lines PostgreSQL 15.20 printed here (captured with psql: a table of 10 rows, 5 deleted while a
REPEATABLE READ transaction held them, vacuumed, vacuumed again after it ended, then with an
index). The read rate, buffer and WAL usage lines are not produced (nothing counts them)."""

from __future__ import annotations

from mirrordb.access.vacuum import VacuumStats
from mirrordb.sql.ddl import _verbose_lines

POSTGRESQL_HELD = """\
finished vacuuming "postgres.public.t": index scans: 0
pages: 0 removed, 1 remain, 1 scanned (100.00% of total)
tuples: 0 removed, 10 remain, 5 are dead but not yet removable
removable cutoff: 727, which was 1 XIDs old when operation ended
index scan not needed: 0 pages from table (0.00% of total) had 0 dead item identifiers removed"""

POSTGRESQL_REMOVED = """\
finished vacuuming "postgres.public.t": index scans: 1
pages: 0 removed, 1 remain, 1 scanned (100.00% of total)
tuples: 5 removed, 5 remain, 0 are dead but not yet removable
removable cutoff: 728, which was 0 XIDs old when operation ended
index scan needed: 1 pages from table (100.00% of total) had 5 dead item identifiers removed
index "t_a_idx": pages: 2 in total, 0 newly deleted, 0 currently deleted, 0 reusable"""


def report(stats: VacuumStats) -> list[str]:
    (first_severity, first), (second_severity, second) = _verbose_lines(stats, "postgres")
    assert (first_severity, second_severity, first) == \
        ("INFO", "INFO", 'vacuuming "postgres.public.t"')
    lines = second.split("\n")
    assert lines[-1].startswith("system usage: CPU: user: ") and lines[-1].endswith(" s")
    return lines[:-1]


def test_versions_held_back_by_a_snapshot() -> None:
    stats = VacuumStats("t", pages_scanned=1, removed=0, recently_dead=5, remaining=10,
                        oldest_xmin=727, next_xid_at_end=728)
    assert report(stats) == POSTGRESQL_HELD.split("\n")


def test_versions_removed_with_an_index() -> None:
    stats = VacuumStats("t", pages_scanned=1, removed=5, remaining=5, oldest_xmin=728,
                        next_xid_at_end=728, pages_pruned=[0], index_scans=1,
                        index_pages=[("t_a_idx", 2)])
    assert report(stats) == POSTGRESQL_REMOVED.split("\n")


def test_empty_table_counts_as_all_scanned() -> None:
    lines = report(VacuumStats("t", oldest_xmin=5, next_xid_at_end=5))
    assert lines[1] == "pages: 0 removed, 0 remain, 0 scanned (100.00% of total)"
    assert lines[4].startswith("index scan not needed: 0 pages from table (100.00% of total)")
