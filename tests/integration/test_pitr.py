"""Point-in-time recovery on real processes: a base backup and an archive, restored with
``recovery.signal`` up to each kind of recovery target, as a PostgreSQL user does it to undo a
mistake (recovery/target.py).

One primary writes a short history once (module fixture): rows 1 and 2 (the second in a
transaction whose xid is noted), a time noted after that commit, a restore point, row 3, a WAL
location noted, row 4; its WAL is archived and it stops. Each test restores a copy of the base
backup taken before all that, with one target, and checks what the recovered server shows, what
it logs, and the new timeline's history file (PostgreSQL's reasons and layout).
"""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.storage.control import DBState, read_control_file
from mirrordb.wal.segment import segment_name
from tests.integration.test_standby_streaming import SEGMENT_SIZE, basebackup, execute, poll
from tests.server_process import RunningServer, start_server

RESTORE_POINT = "before_three"


class History:
    """What the primary wrote, and where its archive and base backup are."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.archive = os.path.join(root, "archive")
        self.backup = os.path.join(root, "backup")
        self.xid_two = 0
        self.time_after_two = ""
        self.lsn_before_four = 0
        self.xid_three = 0


def fetch_one(server: RunningServer, query: str) -> tuple:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return tuple(row)


def rows(server: RunningServer) -> list[int]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return [row[0] for row in connection.execute("SELECT i FROM t ORDER BY i").fetchall()]


@pytest.fixture(scope="module")
def history(template_cluster, tmp_path_factory) -> History:
    made = History(str(tmp_path_factory.mktemp("pitr")))
    os.makedirs(made.archive)
    primary_dir = os.path.join(made.root, "primary")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_server(primary_dir, archive_mode="on",
                           archive_command=f"cp %p {made.archive}/%f")
    try:
        basebackup(primary, made.backup)
        execute(primary, "CREATE TABLE t (i int)", "INSERT INTO t VALUES (1)")
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            with connection.transaction():
                connection.execute("INSERT INTO t VALUES (2)")
                made.xid_two = int(connection.execute("SELECT txid_current()").fetchone()[0])
            made.time_after_two = connection.execute("SELECT clock_timestamp()::text"
                                                     ).fetchone()[0]
            connection.execute(f"SELECT pg_create_restore_point('{RESTORE_POINT}')")
            with connection.transaction():
                connection.execute("INSERT INTO t VALUES (3)")
                made.xid_three = int(connection.execute("SELECT txid_current()").fetchone()[0])
            made.lsn_before_four = parse_lsn(connection.execute(
                "SELECT pg_current_wal_insert_lsn()::text").fetchone()[0])
            connection.execute("INSERT INTO t VALUES (4)")
            last = parse_lsn(connection.execute("SELECT pg_switch_wal()::text").fetchone()[0])
        last_segment = segment_name(1, (last - 1) // SEGMENT_SIZE, SEGMENT_SIZE)
        poll(lambda: last_segment in os.listdir(made.archive), "the last segment's archiving",
             servers=(primary,))
    finally:
        primary.stop()
    return made


def restore(history: History, name: str, *, signal_file: str = "recovery.signal",
            wait: bool = True, **settings: str) -> RunningServer:
    """A copy of the base backup started in archive recovery with ``settings``."""
    datadir = os.path.join(history.root, name)
    shutil.copytree(history.backup, datadir)
    os.unlink(os.path.join(datadir, "standby.signal"))     # written by basebackup -R
    with open(os.path.join(datadir, signal_file), "wb"):
        pass
    settings.setdefault("restore_command", f"cp {history.archive}/%f %p")
    return start_server(datadir, wait=wait, primary_conninfo="", **settings)


def wait_for_exit(server: RunningServer) -> int:
    poll(lambda: server.process.poll() is not None, "the server to stop by itself",
         servers=(server,))
    return server.process.returncode


def in_recovery(server: RunningServer) -> bool:
    return bool(fetch_one(server, "SELECT pg_is_in_recovery()")[0])


def new_history_file(server: RunningServer) -> str:
    with open(os.path.join(server.datadir, "pg_wal", "00000002.history"),
              encoding="utf-8") as handle:
        return handle.read()


def test_xid_target_pauses_then_resume_promotes_onto_a_new_timeline(history):
    server = restore(history, "xid", recovery_target_xid=str(history.xid_two))
    try:
        poll(lambda: fetch_one(server, "SELECT pg_get_wal_replay_pause_state()") == ("paused",),
             "replay to pause at the target", servers=(server,))
        assert in_recovery(server) and rows(server) == [1, 2]
        log = server.log()
        assert f"starting point-in-time recovery to XID {history.xid_two}" in log
        assert log.index("completed backup recovery with redo LSN ") < \
            log.index("consistent recovery state reached at ")
        assert f"recovery stopping after commit of transaction {history.xid_two}, time " in log
        assert "pausing at the end of recovery" in log
        assert "HINT:  Execute pg_wal_replay_resume() to promote." in log

        execute(server, "SELECT pg_wal_replay_resume()")
        poll(lambda: not in_recovery(server), "the end of recovery", servers=(server,))
        assert rows(server) == [1, 2]
        poll(lambda: fetch_one(server, "SELECT timeline_id FROM pg_control_checkpoint()")
             == (2,), "the end-of-recovery checkpoint", servers=(server,))
        lines = new_history_file(server).split("\t")
        assert lines[0] == "1" and lines[2] == f"after transaction {history.xid_two}\n"
        assert not os.path.exists(os.path.join(server.datadir, "recovery.signal"))
        log = server.log()
        assert log.index("redo done at") < log.index("selected new timeline ID: 2") < \
            log.index("archive recovery complete")
        execute(server, "INSERT INTO t VALUES (5)")
    finally:
        assert server.stop() == 0
    again = start_server(server.datadir)     # a primary now: no recovery, rows kept
    try:
        assert not in_recovery(again) and rows(again) == [1, 2, 5]
    finally:
        again.stop()


def test_restore_point_target_promotes(history):
    server = restore(history, "name", recovery_target_name=RESTORE_POINT,
                     recovery_target_action="promote")
    try:
        poll(lambda: not in_recovery(server), "the promotion at the target", servers=(server,))
        assert rows(server) == [1, 2]
        assert f'recovery stopping at restore point "{RESTORE_POINT}", time ' in server.log()
        assert new_history_file(server).endswith(f'\tat restore point "{RESTORE_POINT}"\n')
    finally:
        server.stop()


def test_promotion_removes_old_timeline_segments_past_the_switch(history):
    """PostgreSQL's RemoveNonParentXlogFiles: at the new timeline, segments of the old one after
    the switch point's segment go at once (here two made in advance, as a recycled or
    pre-allocated file would be), except one still waiting for the archive."""
    datadir = os.path.join(history.root, "beyond")
    shutil.copytree(history.backup, datadir)
    os.unlink(os.path.join(datadir, "standby.signal"))
    open(os.path.join(datadir, "recovery.signal"), "wb").close()
    waldir = os.path.join(datadir, "pg_wal")
    beyond = history.lsn_before_four // SEGMENT_SIZE + 1   # past any switch before row 3
    doomed, waiting = (segment_name(1, beyond + offset, SEGMENT_SIZE) for offset in (0, 1))
    for name in (doomed, waiting):
        with open(os.path.join(waldir, name), "wb") as handle:
            handle.truncate(SEGMENT_SIZE)
    open(os.path.join(waldir, "archive_status", f"{waiting}.ready"), "wb").close()
    server = start_server(datadir, primary_conninfo="", recovery_target_name=RESTORE_POINT,
                          recovery_target_action="promote",
                          restore_command=f"cp {history.archive}/%f %p")
    try:
        poll(lambda: not in_recovery(server), "the promotion at the target", servers=(server,))
        assert rows(server) == [1, 2]
        switch_lsn = parse_lsn(new_history_file(server).split("\t")[1])
        assert switch_lsn // SEGMENT_SIZE < beyond
        names = os.listdir(waldir)
        assert doomed not in names and f"{doomed}.ready" not in os.listdir(
            os.path.join(waldir, "archive_status"))
        assert waiting in names
        assert segment_name(2, switch_lsn // SEGMENT_SIZE, SEGMENT_SIZE) in names
    finally:
        server.stop()


def test_time_target_shuts_down_then_a_restart_promotes_at_the_same_point(history):
    settings = {"recovery_target_time": history.time_after_two,
                "recovery_target_inclusive": "off", "recovery_target_action": "shutdown",
                "restore_command": f"cp {history.archive}/%f %p"}
    server = restore(history, "time", wait=False, **settings)
    assert wait_for_exit(server) == 0
    log = server.log()
    assert f"recovery stopping before commit of transaction {history.xid_three}" in log
    assert "shutdown at recovery target" in log
    assert read_control_file(server.datadir).state == DBState.DB_SHUTDOWNED_IN_RECOVERY
    assert os.path.exists(os.path.join(server.datadir, "recovery.signal"))

    settings["recovery_target_action"] = "promote"
    again = start_server(server.datadir, server.port, **settings)
    try:
        poll(lambda: not in_recovery(again), "the promotion at the target", servers=(again,))
        assert rows(again) == [1, 2]
        # a time target's reason ends with a line break of its own: a blank line follows
        tli, switch, reason = new_history_file(again).split("\t")
        assert reason.startswith("before ") and reason.endswith("\n\n")
    finally:
        again.stop()


def test_lsn_target_stops_before_the_record_there(history):
    server = restore(history, "lsn", recovery_target_lsn=format_lsn(history.lsn_before_four),
                     recovery_target_inclusive="off", recovery_target_action="promote")
    try:
        poll(lambda: not in_recovery(server), "the promotion at the target", servers=(server,))
        assert rows(server) == [1, 2, 3]
        assert 'recovery stopping before WAL location (LSN) "' in server.log()
        tli, switch, reason = new_history_file(server).split("\t")
        stop_lsn = parse_lsn(reason.removeprefix("before LSN ").strip())
        # the new timeline begins where the record replay stopped before starts
        assert stop_lsn >= history.lsn_before_four and parse_lsn(switch) == stop_lsn
        assert reason.endswith("\n\n")
    finally:
        server.stop()


def test_immediate_target_stops_at_consistency(history):
    server = restore(history, "immediate", recovery_target="immediate")
    try:
        poll(lambda: fetch_one(server, "SELECT pg_get_wal_replay_pause_state()") == ("paused",),
             "replay to pause at consistency", servers=(server,))
        assert "recovery stopping after reaching consistency" in server.log()
        with pytest.raises(psycopg.errors.UndefinedTable):   # created after the backup
            rows(server)
    finally:
        server.stop()


def test_a_standby_with_a_target_pauses_there_and_promotes_on_request(history):
    server = restore(history, "standby", signal_file="standby.signal",
                     recovery_target_xid=str(history.xid_two))
    try:
        poll(lambda: fetch_one(server, "SELECT pg_get_wal_replay_pause_state()") == ("paused",),
             "replay to pause at the target", servers=(server,))
        assert rows(server) == [1, 2] and "entering standby mode" in server.log()
        assert fetch_one(server, "SELECT pg_promote()") == (True,)
        assert not in_recovery(server) and rows(server) == [1, 2]
        assert new_history_file(server).endswith(f"\tafter transaction {history.xid_two}\n")
    finally:
        server.stop()


def test_a_standby_promoted_before_its_target_fails(history):
    server = restore(history, "unreached_standby", signal_file="standby.signal",
                     recovery_target_xid=str(history.xid_two + 1000))
    try:
        poll(lambda: rows(server) == [1, 2, 3, 4], "replay of the whole archive",
             servers=(server,))
        execute(server, "SELECT pg_promote(false)")
        assert wait_for_exit(server) != 0
        assert "FATAL:  recovery ended before configured recovery target was reached" in \
            server.log()
    finally:
        server.stop()


@pytest.mark.parametrize("settings, message", [
    ({"recovery_target_xid": "999999"},
     "FATAL:  recovery ended before configured recovery target was reached"),
    ({"recovery_target_xid": "5", "recovery_target_name": "x"},
     "FATAL:  multiple recovery targets specified\nDETAIL:  At most one of recovery_target, "
     "recovery_target_lsn, recovery_target_name, recovery_target_time, recovery_target_xid "
     "may be set."),
    ({"restore_command": ""},
     "FATAL:  must specify restore_command when standby mode is not enabled"),
    ({"recovery_target": "soon"},
     'invalid value for parameter "recovery_target": "soon"\n'
     'DETAIL:  The only allowed value is "immediate".'),
], ids=["unreached", "two_targets", "no_restore_command", "bad_value"])
def test_refusals(history, settings, message, request):
    # a short directory name: the server's socket path must stay under 108 bytes
    server = restore(history, request.node.callspec.id, wait=False, **settings)
    try:
        assert wait_for_exit(server) != 0
        log = server.log()
        assert all(line in log for line in message.split("\n")), log
    finally:
        server.stop()
