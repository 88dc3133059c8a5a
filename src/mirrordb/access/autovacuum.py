"""The autovacuum launcher: a background thread that VACUUMs tables with many dead row versions.

PostgreSQL's launcher starts a worker process every ``autovacuum_naptime`` per database, and the
worker vacuums each table whose dead row versions exceed

    autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor * live rows

(the counts are the cumulative statistics of access/pgstat.py). Here one thread, named
"autovacuum launcher", does both jobs for the server's one database: it sleeps for the naptime,
asks ``TableStatistics.tables_to_vacuum`` which tables are past that limit, and vacuums them one
by one through its host (``Engine.autovacuum_table``, which runs the same ``Engine.vacuum`` code
as the VACUUM command, recorded as an autovacuum).

Early wake-up (a difference from PostgreSQL): when a commit or abort pushes a table's dead
versions added since its last vacuum past the limit, the statistics call ``wake()`` and the
launcher vacuums that table at once instead of at the end of the naptime. Small, hot tables
(pgbench's branches and tellers, updated by every transaction) then never carry more than about
a threshold's worth of dead versions, even in a benchmark shorter than one naptime. Versions a
vacuum had to keep (an open snapshot may still see them) do not count toward the early limit,
so a long-running transaction cannot make the launcher vacuum after every commit; the periodic
check still applies PostgreSQL's formula to the total.

Lifecycle: ``start()`` (the engine's ``start_autovacuum``, on a primary only) starts the thread;
``stop()`` asks it to finish the table in hand (a vacuum checks ``stopping`` between heap pages
and between indexes) and joins it. Nothing runs while ``autovacuum`` is off or while the server
is in recovery; a reload (SIGHUP) that changes the settings takes effect at the next wake-up.
Errors are logged and the launcher carries on with the next table, as a failed worker would.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from mirrordb.access.pgstat import AutovacuumPolicy, TableStatistics
from mirrordb.common.role_thread import RoleThread

log = logging.getLogger("mirrordb.autovacuum")

AUTOVACUUM_LAUNCHER_THREAD_NAME = "autovacuum launcher"
MAX_TABLES_PER_ROUND = 1000          # tables vacuumed before the launcher looks at its flags again


class AutovacuumHost(Protocol):
    """What the launcher needs from the engine (engine.py implements it)."""

    def autovacuum_policy(self) -> AutovacuumPolicy: ...

    def autovacuum_naptime_ms(self) -> int: ...

    def autovacuum_allowed(self) -> bool:
        """False while the server replays WAL (a standby): nothing may be written."""
        ...

    def autovacuum_table(self, relid: int, stopping: threading.Event) -> bool | None:
        """VACUUM the table with OID ``relid``; False if it no longer exists, None if it was
        skipped because a transaction holds a conflicting lock (PostgreSQL's autovacuum
        skips such a table; a later round tries again)."""
        ...


class AutovacuumLauncher:
    """The launcher thread of one engine (see the module docstring)."""

    def __init__(self, host: AutovacuumHost, statistics: TableStatistics) -> None:
        self.host = host
        self.statistics = statistics
        self.stopping = threading.Event()
        self._wake = threading.Condition()
        self._woken = False
        self._thread: RoleThread | None = None
        self.rounds = 0                  # wake-ups handled, whatever they did (tests poll it)
        self.tables_vacuumed = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> RoleThread | None:
        """The thread last started, None after ``stop`` (pg_stat_activity's row)."""
        return self._thread

    def start(self) -> None:
        if self.running:
            return
        self.stopping.clear()
        self._thread = RoleThread(self._run, AUTOVACUUM_LAUNCHER_THREAD_NAME)
        self._thread.start()

    def stop(self) -> None:
        """Finish the table in hand (abandoning its vacuum at the next check) and end."""
        self.stopping.set()
        self.wake()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def wake(self) -> None:
        """Look at the tables now instead of at the end of the naptime."""
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    def _sleep(self) -> None:
        naptime_s = max(self.host.autovacuum_naptime_ms(), 1) / 1000
        with self._wake:
            if not self._woken and not self.stopping.is_set():
                self._wake.wait(naptime_s)
            self._woken = False

    def _run(self) -> None:
        while not self.stopping.is_set():
            self._sleep()
            if self.stopping.is_set():
                return
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("autovacuum launcher round failed")
            self.rounds += 1

    def run_once(self) -> list[int]:
        """One round: vacuum every table past its limit; returns their OIDs."""
        policy = self.host.autovacuum_policy()
        if not policy.enabled or not self.host.autovacuum_allowed():
            return []
        done = []
        for relid in self.statistics.tables_to_vacuum(policy)[:MAX_TABLES_PER_ROUND]:
            if self.stopping.is_set():
                break
            if self._vacuum_one(relid):
                done.append(relid)
        return done

    def _vacuum_one(self, relid: int) -> bool:
        try:
            outcome = self.host.autovacuum_table(relid, self.stopping)
            if outcome:
                self.tables_vacuumed += 1
                return True
            if outcome is False:
                self.statistics.forget(relid)
        except Exception:  # noqa: BLE001 - one table's failure must not stop the others
            log.exception("automatic vacuum of table with OID %d failed", relid)
        return False


__all__ = ["AUTOVACUUM_LAUNCHER_THREAD_NAME", "AutovacuumHost", "AutovacuumLauncher"]
