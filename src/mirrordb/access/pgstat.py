"""Per-table row statistics: live and dead row versions, and when each table was vacuumed.

PostgreSQL's cumulative statistics for relations (pgstat_relation.c), kept in memory. Who writes
them: each engine ``Txn`` counts its own inserts, updates and deletes per table in a
``TransactionCounts`` (one level per open savepoint) and hands it to ``TableStatistics`` when it
ends; ``Engine.vacuum`` reports what VACUUM found. Who reads them: the autovacuum launcher
(access/autovacuum.py), to pick the tables to vacuum, and the ``pg_stat_user_tables`` view
(sql/sysviews.py).

Counting rules, PostgreSQL's:

=====================  =================================  ====================================
a transaction ...      commits                            aborts (or its savepoint rolls back)
=====================  =================================  ====================================
inserts a row          live + 1                           dead + 1 (the inserted version)
updates a row          dead + 1 (the old version)         dead + 1 (the new version)
deletes a row          live - 1, dead + 1                 nothing
truncates the table    live and dead start again from 0   nothing
=====================  =================================  ====================================

VACUUM sets ``n_live_tup`` to the versions it kept that everyone can see and ``n_dead_tup`` to
those it had to keep because a snapshot may still need them. Counts are never below zero.

Lifecycle: one ``TableStatistics`` per engine, empty at start (like PostgreSQL's after a crash:
the counts are not written to disk); a table's entry appears at its first counted change or
vacuum and goes when the table is dropped. ``changed`` (set by the engine) is called after a
commit or abort changed the counts, outside the lock: the autovacuum launcher uses it to wake
early. Thread safety: one lock guards the table of entries; ``TransactionCounts`` belongs to one
transaction's thread.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
from collections.abc import Callable
from dataclasses import dataclass

MAX_TABLES_TRACKED = 100_000   # entries kept; beyond it the stalest (never vacuumed) go first


@dataclass
class TableCounts:
    """One transaction level's changes to one table."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    hot_updated: int = 0          # of ``updated``, HOT ones (never reset: n_tup_hot_upd only)
    truncated: bool = False
    # before a TRUNCATE in this level: still counted in n_tup_*, and dead if the level aborts
    inserted_before_truncate: int = 0
    updated_before_truncate: int = 0
    deleted_before_truncate: int = 0

    def add_child(self, child: TableCounts) -> None:
        """Fold a released savepoint's counts into this (its parent) level."""
        if child.truncated:
            self.inserted_before_truncate += self.inserted + child.inserted_before_truncate
            self.updated_before_truncate += self.updated + child.updated_before_truncate
            self.deleted_before_truncate += self.deleted + child.deleted_before_truncate
            self.inserted = self.updated = self.deleted = 0
            self.truncated = True
        self.inserted += child.inserted
        self.updated += child.updated
        self.deleted += child.deleted
        self.hot_updated += child.hot_updated

    def truncate(self) -> None:
        self.inserted_before_truncate += self.inserted
        self.updated_before_truncate += self.updated
        self.deleted_before_truncate += self.deleted
        self.inserted = self.updated = self.deleted = 0
        self.truncated = True

    @property
    def all_inserted(self) -> int:
        return self.inserted + self.inserted_before_truncate

    @property
    def all_updated(self) -> int:
        return self.updated + self.updated_before_truncate

    @property
    def all_deleted(self) -> int:
        return self.deleted + self.deleted_before_truncate


@dataclass
class TableEntry:
    """What pg_stat_user_tables shows for one table (relid = pg_class oid)."""

    relid: int
    n_tup_ins: int = 0
    n_tup_upd: int = 0
    n_tup_del: int = 0
    n_tup_hot_upd: int = 0
    n_live_tup: int = 0
    n_dead_tup: int = 0
    n_ins_since_vacuum: int = 0
    last_vacuum: datetime.datetime | None = None
    last_autovacuum: datetime.datetime | None = None
    vacuum_count: int = 0
    autovacuum_count: int = 0
    dead_left_by_vacuum: int = 0   # n_dead_tup the last vacuum left: the early wake-up's base
    n_mod_since_analyze: int = 0   # rows inserted, updated or deleted since the last ANALYZE
    last_analyze: datetime.datetime | None = None
    analyze_count: int = 0


class TransactionCounts:
    """One transaction's counts per table, a level per open savepoint (level 0: the top)."""

    def __init__(self) -> None:
        self.levels: list[dict[int, TableCounts]] = [{}]
        self.dropped: list[set[int]] = [set()]

    def _current(self, relid: int) -> TableCounts:
        level = self.levels[-1]
        counts = level.get(relid)
        if counts is None:
            counts = level[relid] = TableCounts()
        return counts

    def count_insert(self, relid: int) -> None:
        self._current(relid).inserted += 1

    def count_update(self, relid: int, hot: bool = False) -> None:
        counts = self._current(relid)
        counts.updated += 1
        counts.hot_updated += hot

    def count_delete(self, relid: int) -> None:
        self._current(relid).deleted += 1

    def count_truncate(self, relid: int) -> None:
        self._current(relid).truncate()

    def count_drop(self, relid: int) -> None:
        self.dropped[-1].add(relid)

    def savepoint(self) -> None:
        self.levels.append({})
        self.dropped.append(set())

    def release_to(self, depth: int) -> None:
        """Savepoints were released until ``depth`` levels remain: fold the rest in."""
        while len(self.levels) > max(depth, 1):
            child = self.levels.pop()
            child_dropped = self.dropped.pop()
            parent = self.levels[-1]
            for relid, counts in child.items():
                parent.setdefault(relid, TableCounts()).add_child(counts)
            self.dropped[-1] |= child_dropped

    def rollback_to(self, depth: int) -> dict[int, TableCounts]:
        """Savepoints were rolled back until ``depth`` levels remain: their counts, folded
        together, for ``TableStatistics.report_aborted``. The caller opens the level that
        ROLLBACK TO keeps (``savepoint()``)."""
        aborted: dict[int, TableCounts] = {}
        while len(self.levels) > max(depth, 1):
            for relid, counts in self.levels.pop().items():
                aborted.setdefault(relid, TableCounts()).add_child(counts)
            self.dropped.pop()
        return aborted

    def flattened(self) -> dict[int, TableCounts]:
        """Every level folded into the top (as commit does)."""
        self.release_to(1)
        return self.levels[0]

    @property
    def empty(self) -> bool:
        return len(self.levels) == 1 and not self.levels[0] and not self.dropped[0]


@dataclass
class AutovacuumPolicy:
    """The settings that decide when a table needs vacuuming (PostgreSQL's formula)."""

    enabled: bool = True
    threshold: int = 50
    scale_factor: float = 0.2

    def limit(self, entry: TableEntry) -> float:
        return self.threshold + self.scale_factor * entry.n_live_tup

    def needs_vacuum(self, entry: TableEntry) -> bool:
        return entry.n_dead_tup > self.limit(entry)

    def grew_past_limit(self, entry: TableEntry) -> bool:
        """Dead versions added since the last vacuum alone pass the limit (the early wake-up:
        versions a vacuum had to keep do not count, or a long snapshot would make the launcher
        vacuum after every commit)."""
        return entry.n_dead_tup - entry.dead_left_by_vacuum > self.limit(entry)


class TableStatistics:
    """Every table's ``TableEntry`` (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, TableEntry] = {}
        self._pending: set[int] = set()   # queued by an early wake-up, not yet vacuumed
        self.policy: Callable[[], AutovacuumPolicy] = AutovacuumPolicy
        self.changed: Callable[[], None] = lambda: None
        # pg_stat_database.stats_reset: when pg_stat_reset() last ran in each database
        self.stats_reset: dict[str, datetime.datetime] = {}

    def _entry(self, relid: int) -> TableEntry:
        entry = self._entries.get(relid)
        if entry is None:
            if len(self._entries) >= MAX_TABLES_TRACKED:
                self._evict_one()
            entry = self._entries[relid] = TableEntry(relid)
        return entry

    def _evict_one(self) -> None:
        victim = min(self._entries.values(), key=lambda e: (e.vacuum_count + e.autovacuum_count,
                                                            e.n_dead_tup))
        del self._entries[victim.relid]
        self._pending.discard(victim.relid)

    # -- reports ----------------------------------------------------------------------------

    def report_commit(self, counts: TransactionCounts) -> None:
        levels = counts.flattened()
        dropped = counts.dropped[0]
        if not levels and not dropped:
            return
        policy = self.policy()
        wake = False
        with self._lock:
            for relid, change in levels.items():
                if relid in dropped:
                    continue
                entry = self._entry(relid)
                entry.n_tup_ins += change.all_inserted
                entry.n_tup_upd += change.all_updated
                entry.n_tup_del += change.all_deleted
                entry.n_tup_hot_upd += change.hot_updated
                if change.truncated:
                    entry.n_live_tup = entry.n_dead_tup = entry.dead_left_by_vacuum = 0
                    entry.n_ins_since_vacuum = 0
                entry.n_live_tup = max(0, entry.n_live_tup + change.inserted - change.deleted)
                entry.n_dead_tup += change.updated + change.deleted
                entry.n_ins_since_vacuum += change.inserted
                entry.n_mod_since_analyze += (change.all_inserted + change.all_updated
                                              + change.all_deleted)
                wake |= self._note_if_due(entry, policy)
            for relid in dropped:
                self._entries.pop(relid, None)
                self._pending.discard(relid)
        if wake:
            self.changed()

    def report_abort(self, counts: TransactionCounts) -> None:
        self.report_aborted(counts.flattened())

    def report_aborted(self, changes: dict[int, TableCounts]) -> None:
        """Work undone by an abort or a savepoint rollback: its new versions are dead."""
        if not changes:
            return
        policy = self.policy()
        wake = False
        with self._lock:
            for relid, change in changes.items():
                entry = self._entry(relid)
                entry.n_tup_ins += change.all_inserted
                entry.n_tup_upd += change.all_updated
                entry.n_tup_del += change.all_deleted
                entry.n_tup_hot_upd += change.hot_updated
                entry.n_dead_tup += change.all_inserted + change.all_updated
                wake |= self._note_if_due(entry, policy)
        if wake:
            self.changed()

    def _note_if_due(self, entry: TableEntry, policy: AutovacuumPolicy) -> bool:
        """Under the lock: queue the table for the launcher if it newly needs a vacuum."""
        if not policy.enabled or entry.relid in self._pending:
            return False
        if not policy.grew_past_limit(entry):
            return False
        self._pending.add(entry.relid)
        return True

    def report_vacuum(self, relid: int, live: int, dead: int, automatic: bool,
                      when: datetime.datetime) -> None:
        with self._lock:
            entry = self._entry(relid)
            entry.n_live_tup = max(0, live)
            entry.n_dead_tup = entry.dead_left_by_vacuum = max(0, dead)
            entry.n_ins_since_vacuum = 0
            if automatic:
                entry.last_autovacuum = when
                entry.autovacuum_count += 1
            else:
                entry.last_vacuum = when
                entry.vacuum_count += 1
            self._pending.discard(relid)

    def report_analyze(self, relid: int, live: int, dead: int, when: datetime.datetime
                       ) -> None:
        """An ANALYZE of the table finished (sql/analyze.py): what it counted and when."""
        with self._lock:
            entry = self._entry(relid)
            entry.n_live_tup = max(0, live)
            entry.n_dead_tup = max(0, dead)
            entry.n_mod_since_analyze = 0
            entry.last_analyze = when
            entry.analyze_count += 1

    def forget(self, relid: int) -> None:
        with self._lock:
            self._entries.pop(relid, None)
            self._pending.discard(relid)

    def reset(self, database: str) -> None:
        """pg_stat_reset() in ``database`` (where every table lives): every table's counters
        start again, and the database's stats_reset says when. As in PostgreSQL, autovacuum
        then knows of no dead row versions until new ones are counted."""
        with self._lock:
            self._entries.clear()
            self._pending.clear()
            self.stats_reset[database] = datetime.datetime.now(datetime.timezone.utc)

    def reset_table(self, relid: int) -> None:
        """pg_stat_reset_single_table_counters(relid)."""
        self.forget(relid)

    # -- readers ----------------------------------------------------------------------------

    def entry(self, relid: int) -> TableEntry | None:
        """A copy of the table's entry (None if nothing was counted for it yet)."""
        with self._lock:
            entry = self._entries.get(relid)
            return dataclasses.replace(entry) if entry is not None else None

    def entries(self) -> list[TableEntry]:
        with self._lock:
            return [dataclasses.replace(entry) for entry in self._entries.values()]

    def tables_to_vacuum(self, policy: AutovacuumPolicy) -> list[int]:
        """Tables past the limit or queued by an early wake-up, most dead versions first."""
        with self._lock:
            due = [entry for entry in self._entries.values()
                   if entry.relid in self._pending or policy.needs_vacuum(entry)]
            self._pending.clear()
        due.sort(key=lambda entry: -entry.n_dead_tup)
        return [entry.relid for entry in due]


__all__ = ["AutovacuumPolicy", "TableCounts", "TableEntry", "TableStatistics",
           "TransactionCounts"]
