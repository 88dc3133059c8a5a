"""pgbench against mirrordb: TPC-B-like and select-only custom scripts, 1 and 8 clients, zero
failed transactions, balances that add up."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import pg_tool

SCALE_ACCOUNTS = 1000
TRANSACTIONS_PER_CLIENT = {1: 200, 8: 40}

TPCB = """\\set aid random(1, {accounts})
\\set bid random(1, 1)
\\set tid random(1, 10)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
"""

SELECT_ONLY = """\\set aid random(1, {accounts})
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
"""

SCHEMA = f"""
create table pgbench_branches (bid int primary key, bbalance int not null, filler char(88));
create table pgbench_tellers (tid int primary key, bid int, tbalance int not null, filler char(84));
create table pgbench_accounts (aid int primary key, bid int, abalance int not null,
                               filler char(84));
create table pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp,
                              filler char(22));
insert into pgbench_branches values (1, 0, null);
insert into pgbench_tellers select g, 1, 0, null from generate_series(1, 10) g;
insert into pgbench_accounts select g, 1, 0, '' from generate_series(1, {SCALE_ACCOUNTS}) g;
"""


@pytest.fixture(scope="module")
def bench_server(module_server):
    with module_server.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
    return module_server


def run_pgbench(server, tmp_path, script: str, clients: int, extra: list[str]) -> str:
    path = os.path.join(str(tmp_path), "script.sql")
    with open(path, "w") as handle:
        handle.write(script.format(accounts=SCALE_ACCOUNTS))
    args = [pg_tool("pgbench"), "-n", "-h", "127.0.0.1", "-p", str(server.port), "-U",
            "postgres", "-f", path, "-c", str(clients), "-j", str(min(clients, 2)), "-t",
            str(TRANSACTIONS_PER_CLIENT[clients]), *extra, "postgres"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def processed(output: str) -> tuple[int, int]:
    done = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    assert done, output
    return int(done.group(1)), int(failed.group(1)) if failed else 0


def check_balances(server) -> int:
    with server.connect() as conn:
        accounts, = conn.execute("select sum(abalance) from pgbench_accounts").fetchone()
        tellers, = conn.execute("select sum(tbalance) from pgbench_tellers").fetchone()
        branches, = conn.execute("select sum(bbalance) from pgbench_branches").fetchone()
        history, count = conn.execute("select coalesce(sum(delta), 0), count(*) from pgbench_history"
                                      ).fetchone()
    assert accounts == tellers == branches == history
    return count


@pytest.mark.parametrize("clients", [1, 8])
@pytest.mark.parametrize("mode", ["simple", "prepared"])
def test_tpcb_like(bench_server, tmp_path, clients, mode):
    before = check_balances(bench_server)
    output = run_pgbench(bench_server, tmp_path, TPCB, clients, ["-M", mode])
    done, failed = processed(output)
    assert (done, failed) == (clients * TRANSACTIONS_PER_CLIENT[clients], 0)
    assert check_balances(bench_server) == before + done


@pytest.mark.parametrize("clients", [1, 8])
def test_select_only(bench_server, tmp_path, clients):
    output = run_pgbench(bench_server, tmp_path, SELECT_ONLY, clients, ["-M", "prepared"])
    assert processed(output) == (clients * TRANSACTIONS_PER_CLIENT[clients], 0)
