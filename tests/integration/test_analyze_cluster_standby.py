"""ANALYZE, VACUUM and CLUSTER on a real primary reach a real streaming standby: pg_class's
relpages/reltuples/relallvisible (overwritten in place, XLOG_HEAP_INPLACE records that the real
pg_waldump prints as "INPLACE off N"), pg_stats (pg_statistic rows) and the clustered table's
new files are the primary's; the standby refuses ANALYZE and CLUSTER with PostgreSQL 15's
recovery error; after a checkpoint on both, ``mirrordb compare`` finds every page equal."""

from __future__ import annotations

import os
import re
import subprocess

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn
from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (current_wal_lsn, stop_pair_and_compare,
                                                      streaming_pair, wait_for_replay_catchup)
from tests.integration.test_views_standby import query

SETUP = ("CREATE TABLE m (id int PRIMARY KEY, k int, v text)",
         "INSERT INTO m SELECT g, (g * 37) % 500, 'v' || (g % 13) FROM generate_series(1, 500) g",
         "CREATE INDEX m_k ON m (k)")
CLASS_STATS = ("SELECT relname, relpages, reltuples, relallvisible FROM pg_class "
               "WHERE relname LIKE 'm%' ORDER BY relname")
STATS = ("SELECT attname, null_frac, avg_width, n_distinct, most_common_vals::text, "
         "most_common_freqs, histogram_bounds::text, correlation FROM pg_stats "
         "WHERE tablename = 'm' ORDER BY attname")


def refused_in_recovery(server, sql: str) -> str:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as caught:
            connection.execute(sql)
    assert caught.value.sqlstate == "25006"
    return str(caught.value.diag.message_primary)


def test_statistics_and_cluster_follow_on_the_standby(tmp_path, template_cluster):
    with streaming_pair(template_cluster, str(tmp_path), *SETUP) as (primary, standby):
        start = current_wal_lsn(primary)
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            connection.execute("ANALYZE m")
            connection.execute("DELETE FROM m WHERE id % 10 = 0")
            connection.execute("VACUUM m")
            connection.execute("CLUSTER m USING m_k")
            connection.execute("ANALYZE m")
            connection.execute("CREATE INDEX m_v ON m (v)")
            connection.execute("ALTER TABLE m CLUSTER ON m_v")
        end = current_wal_lsn(primary)
        wait_for_replay_catchup(primary, standby)
        on_primary = query(primary, CLASS_STATS)
        assert ("m", 3, 450.0, 0) in on_primary and ("m_v", 4, 450.0, 0) in on_primary
        assert query(standby, CLASS_STATS) == on_primary
        assert len(query(primary, STATS)) == 3
        assert query(standby, STATS) == query(primary, STATS)
        assert query(standby, "SELECT id FROM m LIMIT 3") == query(
            primary, "SELECT id FROM m LIMIT 3")
        clustered = ("SELECT indexrelid::regclass::text FROM pg_index "
                     "WHERE indisclustered")
        assert query(standby, clustered) == query(primary, clustered) == [("m_v",)]
        assert refused_in_recovery(standby, "ANALYZE m") == \
            "cannot execute ANALYZE during recovery"
        assert refused_in_recovery(standby, "CLUSTER m") == \
            "cannot execute CLUSTER during recovery"
        listing = subprocess.run([pg_tool("pg_waldump"), "-p",
                                  os.path.join(primary.datadir, "pg_wal"), "-s",
                                  format_lsn(start), "-e", format_lsn(end), "-r", "Heap"],
                                 capture_output=True, text=True, timeout=60)
        assert listing.returncode == 0, listing.stderr
        inplace = [line for line in listing.stdout.splitlines()
                   if re.search(r"rmgr: Heap .* desc: INPLACE off \d+", line)]
        assert len(inplace) >= 4, listing.stdout[-2000:]
        stop_pair_and_compare(primary, standby)
