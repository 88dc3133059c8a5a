"""Synchronous replication, mirrordb beside PostgreSQL 15, in one run on the same machine.

For each system a primary loaded with the same pgbench tables (``--accounts``) and one streaming
standby made by that system's own base backup tool, whose ``primary_conninfo`` names it
``application_name=s1``. Measured one system at a time (the other one's pair stays up, idle):

1. **TPC-B-like pgbench** (server_bench's script, ``-M prepared``) with 1 and 8 clients, each run
   ``--seconds`` long, first with the standby asynchronous (``synchronous_standby_names`` empty),
   then synchronous (``synchronous_standby_names = 's1'``, ``synchronous_commit = on``, both
   applied by ALTER SYSTEM and ``pg_reload_conf()`` and checked in pg_stat_replication's
   ``sync_state`` before the run). Figures: tps (pgbench's, without connection time), latency
   median and p99 from pgbench's per-transaction log (``--log``), and per system the sync/async
   tps ratio of each pair of runs.
2. **Commit latency** with the standby synchronous: one client, autocommit single-row INSERTs
   (``bench_lag``), ``--probes`` commits under each of ``synchronous_commit = local``, ``on``
   and ``remote_apply``, timed around each statement on one monotonic clock; median and p99.
   ``local`` is the primary's own commit, the others add the standby's round trip; after the
   ``remote_apply`` probes the last row must already be visible on the standby.

With ``--repeat N`` every pgbench pair and every probe series runs N times, the systems taking
turns; the summary shows medians (tps, latencies) and the median of the per-pair ratios.
``--pin`` runs every server (both primaries, both standbys) on vCPU 0 and pgbench and the probe
client on vCPU 1 (bench/benchlib.py), so placement is the same for both systems.

The PostgreSQL half runs as the unprivileged ``postgres`` account (``setpriv``) when this runs as
root; mirrordb keeps its bytecode in the run's directory (bench/replication_bench.py). Everything
lives in one temporary directory, removed at the end; every server started is stopped by its own
pid or data directory. Figures are machine- and load-dependent: compare ratios.

Usage: .venv/bin/python bench/syncrep_bench.py [--seconds 10] [--probes 500] [--repeat 1]
           [--accounts 10000] [--pin] [--markdown] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

import psycopg

from benchlib import (Placement, PgbenchRun, pin_clients, run_pgbench, servers_placed,
                      set_application_name, temporary_root)
from replication_bench import (System, commit, current_lsn, dsn, load_tables, machine,
                               make_systems, percentile, poll, report, timed_base_backup,
                               wait_replayed, write_script)

STANDBY_NAME = "s1"
CLIENT_COUNTS = (1, 8)
MODES = ("async", "sync")
PROBE_LEVELS = ("local", "on", "remote_apply")
SETTING_DEADLINE_S = 30.0        # a reload reaching pg_stat_replication
STANDBY_DEADLINE_S = 60.0        # the standby streaming and caught up after its start
PROBE_ID_BASE = 1_000_000        # probe ids: system index * base + running number
GOAL_RATIOS = {1: 0.87, 8: 0.93}  # PostgreSQL's sync/async tps ratios measured for issue 5
GOAL_REMOTE_APPLY_MEDIAN_MS = 2.0
MS_PER_S = 1000.0


@dataclass
class Results:
    """Everything measured for one system: runs per (clients, mode), commit latencies per level
    (each list grows by one entry per repeat)."""

    runs: dict[tuple[int, str], list[PgbenchRun]] = field(default_factory=dict)
    commits_ms: dict[str, list[list[float]]] = field(default_factory=dict)

    def add_run(self, clients: int, mode: str, run: PgbenchRun) -> None:
        self.runs.setdefault((clients, mode), []).append(run)

    def tps(self, clients: int, mode: str) -> float:
        return statistics.median(run.tps for run in self.runs[(clients, mode)])

    def latency_ms(self, clients: int, mode: str, percent: float) -> float:
        """Median over the repeats of each run's latency percentile."""
        return statistics.median(percentile(run.latencies_ms, percent)
                                 for run in self.runs[(clients, mode)])

    def ratio(self, clients: int) -> float:
        """Median of the per-pair sync/async tps ratios."""
        pairs = zip(self.runs[(clients, "async")], self.runs[(clients, "sync")])
        return statistics.median(sync.tps / asynchronous.tps for asynchronous, sync in pairs)

    def commit_ms(self, level: str, percent: float) -> float:
        return statistics.median(percentile(series, percent)
                                 for series in self.commits_ms[level])


# -- setting up a primary and its standby -------------------------------------------------------

def sql(port: int, *statements: str) -> list[tuple[object, ...]]:
    """Run ``statements`` in autocommit on one connection; the last one's rows (if any)."""
    rows: list[tuple[object, ...]] = []
    with psycopg.connect(dsn(port), autocommit=True, connect_timeout=5) as connection:
        for statement in statements:
            cursor = connection.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
    return rows


def standby_state(system: System) -> tuple[object, ...] | None:
    """(state, sync_state) of the standby named STANDBY_NAME in the primary's view."""
    rows = sql(system.primary.port, "select state, sync_state from pg_stat_replication "
                                    f"where application_name = '{STANDBY_NAME}'")
    return rows[0] if rows else None


def set_up(system: System, accounts: int) -> None:
    """initdb, start and load the primary; base-back it up into a standby named s1; start the
    standby and wait until it streams, caught up, asynchronously."""
    system.primary.initdb()
    with servers_placed():
        system.primary.start()
    load_tables(system.primary.port, accounts)
    size_bytes, elapsed_s = timed_base_backup(system, system.standby.data, standby=True)
    set_application_name(system.standby.data, STANDBY_NAME)
    with servers_placed():
        system.standby.start()
    wait_replayed(system, current_lsn(system.primary.port), STANDBY_DEADLINE_S)
    poll(lambda: standby_state(system) == ("streaming", "async"),
         f"{system.name} standby {STANDBY_NAME} streaming", STANDBY_DEADLINE_S)
    report(f"{system.name}: primary on port {system.primary.port}, standby {STANDBY_NAME} on "
           f"port {system.standby.port} ({size_bytes / 1e6:.1f} MB base backup in "
           f"{elapsed_s:.2f} s)")


def set_mode(system: System, mode: str) -> None:
    """Make the standby asynchronous or synchronous (synchronous_commit stays on) and wait
    until pg_stat_replication shows it."""
    names = STANDBY_NAME if mode == "sync" else ""
    sql(system.primary.port, f"alter system set synchronous_standby_names = '{names}'",
        "alter system set synchronous_commit = on", "select pg_reload_conf()")
    poll(lambda: standby_state(system) == ("streaming", mode),
         f"{system.name} standby {STANDBY_NAME} to be {mode}", SETTING_DEADLINE_S)


# -- measuring ----------------------------------------------------------------------------------

def measure_pgbench(system: System, results: Results, script: str, root: str,
                    args: argparse.Namespace) -> None:
    for clients in CLIENT_COUNTS:
        for mode in MODES:
            set_mode(system, mode)
            prefix = os.path.join(root, "pgbench-log")
            run = run_pgbench(system.primary.port, script, clients, args.seconds, prefix)
            results.add_run(clients, mode, run)
            report(f"{system.name}: {clients} client(s), {mode:5}: {run.tps:9.1f} tps, latency "
                   f"median {percentile(run.latencies_ms, 50):6.2f} ms, p99 "
                   f"{percentile(run.latencies_ms, 99):6.2f} ms")


def probe_commits(system: System, level: str, probes: int, first_id: int) -> list[float]:
    """``probes`` autocommit single-row INSERTs under synchronous_commit ``level``; the
    milliseconds each took, as the client saw them."""
    latencies_ms = []
    with psycopg.connect(dsn(system.primary.port), autocommit=True) as connection:
        connection.execute(f"set synchronous_commit = {level}")
        for probe_id in range(first_id, first_id + probes):
            started = time.perf_counter()
            connection.execute("insert into bench_lag (id, sent_at) values (%s, now())",
                               (probe_id,), prepare=True)
            latencies_ms.append((time.perf_counter() - started) * MS_PER_S)
    return latencies_ms


def check_applied(system: System, probe_id: int) -> None:
    """A remote_apply commit is visible on the standby the moment it returns."""
    rows = sql(system.standby.port, f"select 1 from bench_lag where id = {probe_id}")
    if not rows:
        raise RuntimeError(f"{system.name}: remote_apply row {probe_id} not on the standby")


def measure_commits(system: System, results: Results, probes: int, first_id: int) -> int:
    """One series of probes per level; returns the next free probe id."""
    set_mode(system, "sync")
    for level in PROBE_LEVELS:
        series = probe_commits(system, level, probes, first_id)
        first_id += probes
        if level == "remote_apply":
            check_applied(system, first_id - 1)
        results.commits_ms.setdefault(level, []).append(series)
        report(f"{system.name}: synchronous_commit = {level:12}: commit latency median "
               f"{percentile(series, 50):.3f} ms, p99 {percentile(series, 99):.3f} ms")
    set_mode(system, "async")
    return first_id


def run(systems: list[System], results: list[Results], root: str,
        args: argparse.Namespace) -> None:
    script = write_script(root, args.accounts)
    for system in systems:
        set_up(system, args.accounts)
    next_ids = [PROBE_ID_BASE * (index + 1) for index in range(len(systems))]
    for repeat in range(args.repeat):
        for index, system in enumerate(systems):
            report(f"{system.name}: round {repeat + 1} of {args.repeat}")
            measure_pgbench(system, results[index], script, root, args)
            next_ids[index] = measure_commits(system, results[index], args.probes,
                                              next_ids[index])


# -- reporting ----------------------------------------------------------------------------------

def goal_ratio(clients: int, pg: Results, ours: Results) -> str:
    """The issue's goal: mirrordb's ratio at least PostgreSQL's (its own here, the issue's in
    brackets)."""
    met = "met" if ours.ratio(clients) >= pg.ratio(clients) else "missed"
    return f">= PostgreSQL's ({GOAL_RATIOS[clients]} in the issue): {met}"


def goal_latency(ours: Results) -> str:
    met = "met" if ours.commit_ms("remote_apply", 50) < GOAL_REMOTE_APPLY_MEDIAN_MS else "missed"
    return f"< {GOAL_REMOTE_APPLY_MEDIAN_MS:g} ms: {met}"


def run_rows(pg: Results, ours: Results) -> list[list[str]]:
    rows = []
    for clients in CLIENT_COUNTS:
        for mode in MODES:
            cells = [str(clients), mode]
            for results in (pg, ours):
                cells += [f"{results.tps(clients, mode):.0f}",
                          f"{results.latency_ms(clients, mode, 50):.2f}",
                          f"{results.latency_ms(clients, mode, 99):.2f}"]
            rows.append(cells)
    return rows


def summary_rows(pg: Results, ours: Results) -> list[list[str]]:
    rows = [[f"sync/async tps, {clients} client{'s' if clients > 1 else ''}",
             f"{pg.ratio(clients):.3f}", f"{ours.ratio(clients):.3f}",
             goal_ratio(clients, pg, ours)] for clients in CLIENT_COUNTS]
    for level in PROBE_LEVELS:
        for percent, label in ((50, "median"), (99, "p99")):
            goal = goal_latency(ours) if (level, percent) == ("remote_apply", 50) else ""
            rows.append([f"commit ms, synchronous_commit = {level}, {label}",
                         f"{pg.commit_ms(level, percent):.3f}",
                         f"{ours.commit_ms(level, percent):.3f}", goal])
    return rows


def print_plain(pg: Results, ours: Results) -> None:
    print("\nclients mode   |  PostgreSQL 15: tps  median ms  p99 ms |  mirrordb: tps  "
          "median ms  p99 ms")
    for cells in run_rows(pg, ours):
        print(f"{cells[0]:>7} {cells[1]:6} | {cells[2]:>19} {cells[3]:>10} {cells[4]:>7} | "
              f"{cells[5]:>14} {cells[6]:>10} {cells[7]:>7}")
    print()
    for measure, pg_value, our_value, goal in summary_rows(pg, ours):
        print(f"{measure:52} {pg_value:>9} {our_value:>9}  {goal}")


def print_markdown(pg: Results, ours: Results, args: argparse.Namespace,
                   start_load: str) -> None:
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, commit {commit()}, load average "
          f"{start_load} at the start, {machine()}; "
          f"--seconds {args.seconds} --probes {args.probes} --repeat {args.repeat} "
          f"--accounts {args.accounts}{' --pin' if args.pin else ''}\n")
    print("| clients | standby | PostgreSQL 15 tps | median ms | p99 ms | mirrordb tps | "
          "median ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for cells in run_rows(pg, ours):
        print("| " + " | ".join(cells) + " |")
    print("\n| measure | PostgreSQL 15 | mirrordb | goal |")
    print("|---|---|---|---|")
    for cells in summary_rows(pg, ours):
        print("| " + " | ".join(cells) + " |")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each pgbench run")
    parser.add_argument("--probes", type=int, default=500,
                        help="single-row commits per synchronous_commit level")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every measurement per system; medians are shown")
    parser.add_argument("--accounts", type=int, default=10_000, help="pgbench_accounts rows")
    parser.add_argument("--pin", action="store_true",
                        help="servers on vCPU 0, pgbench and the probe client on vCPU 1")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


def stop_all(systems: list[System]) -> None:
    for system in systems:
        system.standby.stop()
        system.primary.stop()


def main() -> int:
    args = parse_arguments()
    start_load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    pin_clients(Placement(server_cpu=0, client_cpu=1) if args.pin else None)
    with temporary_root("mirrordb-syncbench-", keep=args.keep) as root:
        systems = make_systems(root)
        results = [Results() for _ in systems]
        try:
            run(systems, results, root, args)
        finally:
            stop_all(systems)
        print_plain(results[0], results[1])
        if args.markdown:
            print_markdown(results[0], results[1], args, start_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
