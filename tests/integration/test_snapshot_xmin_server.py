"""A READ COMMITTED session's xmin on real processes: it follows the snapshots the session still
holds, so a session idle in its transaction holds back neither VACUUM on the primary nor replay
on a standby, while an open cursor (and REPEATABLE READ) still does.

One primary (autovacuum off: only the tests' VACUUMs remove rows) and one streaming standby
(``basebackup -R``) serve the module:

* primary: a READ COMMITTED transaction, idle after its last statement, shows no backend_xmin,
  and VACUUM VERBOSE removes the rows deleted before that statement; with a cursor open it
  shows the cursor's xmin, VACUUM leaves the rows "dead but not yet removable", the cursor
  still returns them, and once it is closed VACUUM removes them;
* standby, max_standby_streaming_delay = 0: the primary deletes and VACUUMs rows two idle
  sessions have read; the REPEATABLE READ one is terminated by the conflict (which shows the
  conflict did reach the standby), the READ COMMITTED one carries on and sees the rows gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.integration.test_hot_standby_feedback import vacuum_verbose
from tests.integration.test_recovery_conflicts import (DELETED, ROWS, TERMINATE_MESSAGE,
                                                       conflict_counters, delete_and_vacuum,
                                                       make_table, one, running_pair, set_delay)
from tests.integration.test_standby_streaming import execute, poll, wait_for_replay_catchup
from tests.server_process import RunningServer


@pytest.fixture(scope="module")
def pair(tmp_path_factory, template_cluster) -> Iterator[tuple[RunningServer, RunningServer]]:
    with running_pair(tmp_path_factory.mktemp("xmin"), template_cluster,
                      {"autovacuum": "off"}) as servers:     # only the tests' VACUUMs remove
        yield servers


def backend_xmin(server: RunningServer, connection: psycopg.Connection) -> object:
    return one(server, "SELECT backend_xmin FROM pg_stat_activity WHERE pid = "
                       f"{connection.info.backend_pid}")


def test_primary_vacuum_passes_an_idle_read_committed_transaction(pair) -> None:
    primary, standby = pair
    make_table(primary, standby, "idle_rc")
    with psycopg.connect(primary.dsn()) as session:      # a transaction block (BEGIN)
        assert session.execute("SELECT count(*) FROM idle_rc").fetchone() == (ROWS,)
        execute(primary, f"DELETE FROM idle_rc WHERE id <= {DELETED}")
        assert session.execute("SELECT count(*) FROM idle_rc").fetchone() == (ROWS - DELETED,)
        assert backend_xmin(primary, session) is None
        removed, remain, _ = vacuum_verbose(primary, "idle_rc")
        assert (removed, remain) == (DELETED, ROWS - DELETED)
        session.rollback()


def test_an_open_cursor_holds_vacuum_back_until_closed(pair) -> None:
    primary, standby = pair
    make_table(primary, standby, "cursor_rc")
    with psycopg.connect(primary.dsn()) as session:
        session.execute("DECLARE c CURSOR FOR SELECT id FROM cursor_rc")
        held = backend_xmin(primary, session)
        assert held is not None
        execute(primary, f"DELETE FROM cursor_rc WHERE id <= {DELETED}")
        assert session.execute("SELECT count(*) FROM cursor_rc").fetchone() == (ROWS - DELETED,)
        assert backend_xmin(primary, session) == held
        assert vacuum_verbose(primary, "cursor_rc") == (0, ROWS, DELETED)
        assert len(session.execute("FETCH ALL FROM c").fetchall()) == ROWS
        session.execute("CLOSE c")
        assert backend_xmin(primary, session) is None
        assert vacuum_verbose(primary, "cursor_rc")[:2] == (DELETED, ROWS - DELETED)
        session.rollback()


def test_a_standby_session_idle_in_read_committed_is_not_a_conflict_victim(pair) -> None:
    primary, standby = pair
    set_delay(standby, "0", "0")
    make_table(primary, standby, "standby_rc")
    before = conflict_counters(standby)
    with psycopg.connect(standby.dsn()) as committed, \
            psycopg.connect(standby.dsn()) as repeatable:
        repeatable.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for session in (committed, repeatable):
            assert session.execute("SELECT count(*) FROM standby_rc").fetchone() == (ROWS,)
        assert backend_xmin(standby, committed) is None
        assert backend_xmin(standby, repeatable) is not None
        delete_and_vacuum(primary, "standby_rc")
        poll(lambda: conflict_counters(standby)[0] > before[0],
             "the REPEATABLE READ session to act on the conflict", servers=(standby,))
        wait_for_replay_catchup(primary, standby)
        with pytest.raises(psycopg.OperationalError) as caught:
            repeatable.execute("SELECT count(*) FROM standby_rc")
        assert caught.value.diag.message_primary == TERMINATE_MESSAGE
        assert committed.execute("SELECT count(*) FROM standby_rc").fetchone() == \
            (ROWS - DELETED,)
        committed.commit()
    assert conflict_counters(standby)[0] == before[0] + 1
