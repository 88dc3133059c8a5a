"""A catch-up captured once and replayed in-process: a repeatable measure of replay alone.

``replication_bench.py`` times a whole catch-up (process start, streaming, replay, the poll) on
the wall clock, which on a shared machine varies by up to 25% between identical runs: too much to
see a change of a few percent. This script separates the two halves:

- ``capture DIR``: a mirrordb primary with the replication benchmark's pgbench tables, a standby
  made by ``mirrordb basebackup`` that streams until a CHECKPOINT is replayed, then is stopped
  cleanly; ``--seconds`` of unthrottled TPC-B-like load on the primary (2 clients), which is
  then stopped. DIR keeps ``primary/`` and ``standby/``: the standby lacks exactly the load's WAL,
  which lies in ``primary/pg_wal`` (the benchmark's catch-up, without the network).
- ``replay DIR``: copies ``standby/`` and the primary's WAL segments into ``DIR/replay`` and opens
  the copy as a standby in this process (``Engine.open(..., standby_mode=True)``), which replays
  all of it with the startup code a standby runs, then prints the records replayed and the CPU
  seconds. ``--profile`` adds cProfile's top functions.

For A/B comparisons of replay changes, count instructions instead of seconds (the count is the
same to within 0.1% from run to run; ~40 s a run):

    valgrind --tool=callgrind --callgrind-out-file=/tmp/replay.cg \\
        .venv/bin/python bench/replay_capture.py replay DIR

and subtract the count of ``replay DIR --setup-only`` (copying and imports, no replay).

Usage: .venv/bin/python bench/replay_capture.py capture DIR [--seconds 20] [--accounts 400000]
       .venv/bin/python bench/replay_capture.py replay DIR [--profile] [--setup-only]
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import shutil
import sys
import time

import replication_bench as bench   # bench/ is on sys.path when run

PROFILE_LINES = 30


def capture(directory: str, seconds: int, accounts: int) -> None:
    if os.path.exists(directory):
        raise SystemExit(f"{directory} exists: capture needs a new directory")
    os.makedirs(directory)
    environment = bench.mirrordb_environment(directory)
    primary = bench.MirrordbCluster(os.path.join(directory, "primary"), environment)
    standby = bench.MirrordbCluster(os.path.join(directory, "standby"), environment)
    system = bench.System("mirrordb", primary, standby)
    try:
        primary.initdb()
        primary.start()
        bench.load_tables(primary.port, accounts)
        bench.measure_base_backup(system, 1)
        standby.start()
        script = bench.write_script(directory, accounts)
        start_lsn, end_lsn, tps = bench.run_catchup_load(system, script, seconds, None)
    finally:
        standby.stop()
        primary.stop()
    print(f"captured {(end_lsn - start_lsn) / bench.MB:.1f} MB of WAL ({tps:.0f} tps for "
          f"{seconds} s) in {directory}")


def replay(directory: str, profile: bool, setup_only: bool) -> None:
    target = os.path.join(directory, "replay")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(os.path.join(directory, "standby"), target, symlinks=True)
    from mirrordb.wal.segment import is_segment_name
    source_wal = os.path.join(directory, "primary", "pg_wal")
    for name in os.listdir(source_wal):
        if is_segment_name(name):
            shutil.copy(os.path.join(source_wal, name), os.path.join(target, "pg_wal", name))
    from mirrordb.engine import Engine
    logging.disable(logging.INFO)
    if setup_only:
        return
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    engine = Engine.open(target, standby_mode=True)
    if profiler is not None:
        profiler.disable()
    cpu_s = time.process_time() - started
    assert engine.startup is not None
    print(f"replayed {engine.startup.records_replayed} records in {cpu_s:.3f} s of CPU")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(PROFILE_LINES)
    engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("capture", help="build a stopped standby and the WAL it lacks")
    make.add_argument("directory")
    make.add_argument("--seconds", type=int, default=20, help="seconds of load")
    make.add_argument("--accounts", type=int, default=400_000, help="pgbench_accounts rows")
    run = commands.add_parser("replay", help="replay a capture in this process")
    run.add_argument("directory")
    run.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    run.add_argument("--setup-only", action="store_true",
                     help="copy and import only (the baseline of an instruction count)")
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.directory, args.seconds, args.accounts)
    else:
        replay(args.directory, args.profile, args.setup_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
