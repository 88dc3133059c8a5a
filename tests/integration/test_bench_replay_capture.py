"""bench/replay_capture.py end to end on a small load: a capture made with real servers and
pgbench, then replayed in-process twice with the same record count (a capture is a fixed input:
that is what makes its replays comparable)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

BENCH_SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "bench",
                            "replay_capture.py")
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
RUN_DEADLINE_S = 240

pytestmark = pytest.mark.skipif(not os.path.exists(PGBENCH),
                                reason="the capture's load runs PostgreSQL 15's pgbench")


def run_script(*arguments: str) -> str:
    result = subprocess.run([sys.executable, BENCH_SCRIPT, *arguments], capture_output=True,
                            text=True, timeout=RUN_DEADLINE_S)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def replayed_records(output: str) -> int:
    match = re.search(r"replayed (\d+) records in [0-9.]+ s of CPU", output)
    assert match is not None, output
    return int(match.group(1))


def test_a_capture_replays_the_same_records_every_time(tmp_path):
    capture = str(tmp_path / "capture")
    output = run_script("capture", capture, "--seconds", "1", "--accounts", "2000")
    assert re.search(r"captured [0-9.]+ MB of WAL", output), output
    first = replayed_records(run_script("replay", capture))
    assert first > 100      # a second of TPC-B-like load: hundreds of transactions
    assert replayed_records(run_script("replay", capture)) == first
    assert run_script("replay", capture, "--setup-only") == ""
