"""Table statistics (access/pgstat.py) and the autovacuum launcher's choices (access/autovacuum.py),
without an engine: PostgreSQL's counting rules at commit, abort and savepoint rollback, the
vacuum limit formula, the early wake-up, and a launcher round driven by a fake host."""

from __future__ import annotations

import datetime
import threading
import time

import pytest

from mirrordb.access.autovacuum import AutovacuumLauncher
from mirrordb.access.pgstat import AutovacuumPolicy, TableStatistics, TransactionCounts

NOW = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)
TABLE = 16384
DEADLINE_S = 20.0


def committed(statistics: TableStatistics, *, inserts: int = 0, updates: int = 0,
              deletes: int = 0, relid: int = TABLE) -> None:
    counts = TransactionCounts()
    for _ in range(inserts):
        counts.count_insert(relid)
    for _ in range(updates):
        counts.count_update(relid)
    for _ in range(deletes):
        counts.count_delete(relid)
    statistics.report_commit(counts)


def test_commit_counts_live_and_dead_as_postgresql_does() -> None:
    statistics = TableStatistics()
    committed(statistics, inserts=10)
    committed(statistics, updates=4, deletes=3)
    entry = statistics.entry(TABLE)
    assert entry is not None
    assert (entry.n_live_tup, entry.n_dead_tup) == (7, 7)
    assert (entry.n_tup_ins, entry.n_tup_upd, entry.n_tup_del) == (10, 4, 3)


def test_abort_makes_new_versions_dead_and_leaves_live_alone() -> None:
    statistics = TableStatistics()
    committed(statistics, inserts=5)
    counts = TransactionCounts()
    counts.count_insert(TABLE)
    counts.count_update(TABLE)
    counts.count_delete(TABLE)
    statistics.report_abort(counts)
    entry = statistics.entry(TABLE)
    assert entry is not None and (entry.n_live_tup, entry.n_dead_tup) == (5, 2)


def test_savepoint_rollback_counts_dead_and_release_folds_into_the_parent() -> None:
    statistics = TableStatistics()
    counts = TransactionCounts()
    counts.count_insert(TABLE)
    counts.savepoint()
    counts.count_insert(TABLE)
    counts.count_update(TABLE)
    statistics.report_aborted(counts.rollback_to(1))    # ROLLBACK TO the savepoint
    counts.savepoint()                                  # ... which stays defined
    counts.count_delete(TABLE)
    counts.savepoint()
    counts.count_insert(TABLE)
    counts.release_to(2)                                # RELEASE the inner one
    statistics.report_commit(counts)
    entry = statistics.entry(TABLE)
    assert entry is not None
    # live: 2 inserts committed - 1 delete; dead: rollback's insert + update, the delete
    assert (entry.n_live_tup, entry.n_dead_tup) == (1, 3)


def test_truncate_starts_live_and_dead_again_and_drop_forgets_the_table() -> None:
    statistics = TableStatistics()
    committed(statistics, inserts=10, updates=5)
    counts = TransactionCounts()
    counts.count_insert(TABLE)
    counts.count_truncate(TABLE)
    counts.count_insert(TABLE)
    counts.count_insert(TABLE)
    statistics.report_commit(counts)
    entry = statistics.entry(TABLE)
    assert entry is not None and (entry.n_live_tup, entry.n_dead_tup) == (2, 0)
    assert entry.n_tup_ins == 13
    counts = TransactionCounts()
    counts.count_drop(TABLE)
    statistics.report_commit(counts)
    assert statistics.entry(TABLE) is None


def test_vacuum_report_sets_the_counts_and_the_times() -> None:
    statistics = TableStatistics()
    committed(statistics, inserts=100, updates=80)
    statistics.report_vacuum(TABLE, live=100, dead=3, automatic=True, when=NOW)
    statistics.report_vacuum(TABLE, live=100, dead=0, automatic=False, when=NOW)
    entry = statistics.entry(TABLE)
    assert entry is not None
    assert (entry.n_dead_tup, entry.autovacuum_count, entry.vacuum_count) == (0, 1, 1)
    assert entry.last_autovacuum == entry.last_vacuum == NOW


def test_limit_is_threshold_plus_scale_factor_times_live_rows() -> None:
    statistics = TableStatistics()
    policy = AutovacuumPolicy(enabled=True, threshold=50, scale_factor=0.2)
    committed(statistics, inserts=1000)
    committed(statistics, updates=250)
    assert statistics.tables_to_vacuum(policy) == []        # 250 = 50 + 0.2 * 1000
    committed(statistics, updates=1)
    assert statistics.tables_to_vacuum(policy) == [TABLE]


def test_early_wake_up_once_per_crossing_and_not_for_versions_vacuum_kept() -> None:
    statistics = TableStatistics()
    statistics.policy = lambda: AutovacuumPolicy(enabled=True, threshold=5, scale_factor=0.0)
    wakes: list[int] = []
    statistics.changed = lambda: wakes.append(1)
    committed(statistics, inserts=1)
    committed(statistics, updates=5)
    assert wakes == []
    committed(statistics, updates=1)
    committed(statistics, updates=1)                        # already queued: no second wake
    assert wakes == [1]
    statistics.report_vacuum(TABLE, live=1, dead=7, automatic=True, when=NOW)  # kept them all
    committed(statistics, updates=5)
    assert wakes == [1]                                     # 5 new dead: not past 5
    committed(statistics, updates=1)
    assert wakes == [1, 1]


def test_no_wake_up_when_autovacuum_is_off() -> None:
    statistics = TableStatistics()
    statistics.policy = lambda: AutovacuumPolicy(enabled=False, threshold=0, scale_factor=0.0)
    wakes: list[int] = []
    statistics.changed = lambda: wakes.append(1)
    committed(statistics, updates=10)
    assert wakes == []


class FakeHost:
    def __init__(self, policy: AutovacuumPolicy, gone: set[int] | None = None) -> None:
        self.policy = policy
        self.gone = gone or set()
        self.vacuumed: list[int] = []
        self.allowed = True

    def autovacuum_policy(self) -> AutovacuumPolicy:
        return self.policy

    def autovacuum_naptime_ms(self) -> int:
        return 60_000

    def autovacuum_allowed(self) -> bool:
        return self.allowed

    def autovacuum_table(self, relid: int, stopping: threading.Event) -> bool:
        if relid in self.gone:
            return False
        self.vacuumed.append(relid)
        return True


@pytest.mark.parametrize("enabled, allowed", [(True, True), (False, True), (True, False)])
def test_launcher_round_vacuums_tables_past_the_limit(enabled: bool, allowed: bool) -> None:
    statistics = TableStatistics()
    policy = AutovacuumPolicy(enabled=enabled, threshold=10, scale_factor=0.0)
    host = FakeHost(policy, gone={3})
    host.allowed = allowed
    for relid, dead in ((1, 11), (2, 30), (3, 50), (4, 10)):
        committed(statistics, updates=dead, relid=relid)
    launcher = AutovacuumLauncher(host, statistics)
    done = launcher.run_once()
    if enabled and allowed:
        assert host.vacuumed == [2, 1] and done == [2, 1]   # most dead first; 3 is gone
        assert statistics.entry(3) is None
    else:
        assert host.vacuumed == [] and done == []


def test_launcher_thread_wakes_early_and_stops() -> None:
    statistics = TableStatistics()
    host = FakeHost(AutovacuumPolicy(enabled=True, threshold=1, scale_factor=0.0))
    statistics.policy = host.autovacuum_policy
    launcher = AutovacuumLauncher(host, statistics)
    statistics.changed = launcher.wake
    launcher.start()
    try:
        assert launcher.running
        assert [t for t in threading.enumerate() if t.name == "autovacuum launcher"]
        committed(statistics, updates=2)
        deadline = time.monotonic() + DEADLINE_S       # far below the 60 s naptime
        while not host.vacuumed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert host.vacuumed == [TABLE]
    finally:
        launcher.stop()
    assert not launcher.running
