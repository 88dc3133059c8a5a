"""A delayed standby (``recovery_min_apply_delay``) on real processes, as MISSION.md's "time
machine": the standby receives and flushes the primary's WAL at once, but a commit is replayed
only once the commit's time plus the delay has passed, so its rows are invisible until then.

* A row committed on the primary is received at once (pg_last_wal_receive_lsn passes it) and not
  visible, nor replayed, before the commit's time plus the delay; then it appears.
* The setting is reloadable: lowering it with ALTER SYSTEM and pg_reload_conf() releases a
  commit held back by an hour's delay.
* A pause requested while a commit waits out its delay takes effect before that commit.
* Promotion ends the delay: a standby holding a commit back for an hour replays it and becomes a
  primary at once, as PostgreSQL's does.
* The time machine itself: after a mistake on the primary, the delayed standby restarted with
  the mistake's transaction as an exclusive recovery target promotes with the data as it was
  just before it.
"""

from __future__ import annotations

import time

import pytest

from mirrordb.common.lsn import parse_lsn
from tests.integration.test_replication_acceptance_controls import one, pause_state
from tests.integration.test_standby_streaming import (basebackup, current_wal_lsn,  # noqa: F401
                                                      execute, poll, primary, start_standby)

DELAY_S = 2.0


def received(standby, target: int) -> bool:
    return parse_lsn(str(one(standby, "SELECT pg_last_wal_receive_lsn()"))) >= target


def replayed_lsn(standby) -> int:
    return parse_lsn(str(one(standby, "SELECT pg_last_wal_replay_lsn()")))


def delayed_standby(primary, tmp_path, delay: str | None = None):
    """A standby of ``primary`` with a table ``d``; ``delay`` is set on its command line (which
    a reload does not change: the tests that reload leave it out)."""
    execute(primary, "CREATE TABLE d (id int)")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    settings = {} if delay is None else {"recovery_min_apply_delay": delay}
    standby = start_standby(standby_dir, **settings)
    # the table's creation is itself a delayed commit
    poll(lambda: one(standby, "SELECT count(*) FROM pg_class WHERE relname = 'd'") == 1,
         "the standby to replay the table's creation", servers=(primary, standby))
    return standby


def commit_row(primary, value: int) -> tuple[float, int]:
    """Insert a row in its own transaction: (wall time before the commit, WAL end after it)."""
    before = time.time()
    execute(primary, f"INSERT INTO d VALUES ({value})")
    return before, current_wal_lsn(primary)


def hold_a_commit(primary, standby, value: int) -> None:
    """Set the standby's delay to an hour by ALTER SYSTEM and a reload, commit a row on the
    primary, and see it received but neither replayed nor visible."""
    execute(standby, "ALTER SYSTEM SET recovery_min_apply_delay = '1h'",
            "SELECT pg_reload_conf()")
    poll(lambda: one(standby, "SHOW recovery_min_apply_delay") == "1h", "the reload",
         servers=(standby,))
    _, target = commit_row(primary, value)
    poll(lambda: received(standby, target), "the walreceiver to receive the commit",
         servers=(primary, standby))
    assert one(standby, "SELECT count(*) FROM d") == 0
    assert replayed_lsn(standby) < target


def test_a_commit_is_visible_only_after_its_delay(primary, tmp_path):
    standby = delayed_standby(primary, tmp_path, f"{int(DELAY_S * 1000)}ms")
    try:
        assert one(standby, "SHOW recovery_min_apply_delay") == "2s"
        started, target = commit_row(primary, 1)
        poll(lambda: received(standby, target), "the walreceiver to receive the commit",
             servers=(primary, standby))
        # the row is seen only once the commit's time plus the delay has passed (the commit's
        # time is after ``started``, on the same clock); before then replay has not passed it
        checks = 0
        while one(standby, "SELECT count(*) FROM d") == 0:
            if time.time() < started + DELAY_S:
                assert replayed_lsn(standby) < target
            checks += 1
            assert time.time() < started + 60, standby.log()[-3000:]
            time.sleep(0.05)
        assert time.time() >= started + DELAY_S
        assert checks > 0
    finally:
        standby.stop()


@pytest.fixture
def standby(primary, tmp_path):
    """A standby started without the setting on its command line, so a reload changes it."""
    server = delayed_standby(primary, tmp_path)
    yield server
    server.stop()


def test_a_reload_lowering_the_delay_releases_a_held_commit(primary, standby):
    hold_a_commit(primary, standby, 1)

    # a pause asked for while the commit waits takes effect before it
    one(standby, "SELECT pg_wal_replay_pause()")
    assert pause_state(standby) == ("pause requested", True)
    execute(standby, "ALTER SYSTEM SET recovery_min_apply_delay = 0",
            "SELECT pg_reload_conf()")
    poll(lambda: pause_state(standby) == ("paused", True),
         "the pause to take effect once the delay ended", servers=(standby,))
    assert one(standby, "SELECT count(*) FROM d") == 0
    one(standby, "SELECT pg_wal_replay_resume()")
    poll(lambda: one(standby, "SELECT count(*) FROM d") == 1,
         "the commit to be replayed after resume", servers=(primary, standby))


def test_promotion_ends_the_delay(primary, standby):
    hold_a_commit(primary, standby, 7)
    assert one(standby, "SELECT pg_promote(true, 30)") is True
    assert one(standby, "SELECT pg_is_in_recovery()") is False
    assert one(standby, "SELECT array_agg(id) FROM d") == [7]
    execute(standby, "INSERT INTO d VALUES (8)")
    assert one(standby, "SELECT count(*) FROM d") == 2


def test_the_time_machine_brings_back_what_a_mistake_removed(primary, standby):
    """MISSION.md's time machine, as a PostgreSQL user runs it: rows the delayed standby has,
    a mistake on the primary (DELETE) that the standby holds back; the standby is restarted
    with the mistake's transaction as an exclusive recovery target, no delay and
    recovery_target_action = 'promote': it replays up to just before the mistake and becomes
    a primary with the rows, on a new timeline."""
    execute(primary, "INSERT INTO d VALUES (1), (2), (3)")
    poll(lambda: one(standby, "SELECT count(*) FROM d") == 3, "the rows on the standby",
         servers=(primary, standby))
    execute(standby, "ALTER SYSTEM SET recovery_min_apply_delay = '1h'",
            "SELECT pg_reload_conf()")
    poll(lambda: one(standby, "SHOW recovery_min_apply_delay") == "1h", "the reload",
         servers=(standby,))
    with primary.connect(autocommit=True) as connection:
        with connection.transaction():
            connection.execute("DELETE FROM d")
            mistake = connection.execute("SELECT txid_current()").fetchone()[0]
    poll(lambda: received(standby, current_wal_lsn(primary)), "the mistake to be received",
         servers=(primary, standby))
    assert one(standby, "SELECT count(*) FROM d") == 3

    execute(standby, "ALTER SYSTEM SET recovery_min_apply_delay = 0",
            f"ALTER SYSTEM SET recovery_target_xid = '{mistake}'",
            "ALTER SYSTEM SET recovery_target_inclusive = off",
            "ALTER SYSTEM SET recovery_target_action = 'promote'")
    assert standby.stop() == 0
    restored = start_standby(standby.datadir, standby.port)
    try:
        poll(lambda: one(restored, "SELECT pg_is_in_recovery()") is False,
             "the promotion at the target", servers=(restored,))
        assert sorted(one(restored, "SELECT array_agg(id) FROM d")) == [1, 2, 3]
        assert f"recovery stopping before commit of transaction {mistake}" in restored.log()
        assert one(primary, "SELECT count(*) FROM d") == 0
        assert one(restored, "SELECT timeline_id FROM pg_control_checkpoint()") in (1, 2)
        execute(restored, "CHECKPOINT")
        assert one(restored, "SELECT timeline_id FROM pg_control_checkpoint()") == 2
    finally:
        restored.stop()
