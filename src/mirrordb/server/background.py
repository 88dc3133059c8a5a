"""The server's background threads as pg_stat_activity lists PostgreSQL's background processes.

PostgreSQL 15's pg_stat_activity has a row for each of its background processes beside the
client backends and walsenders. mirrordb runs a thread per role instead of a process
(common/role_thread.py), and ``background_processes(server)`` gives a ``BackgroundProcess`` for
each role thread running at the moment of the call, with PostgreSQL's ``backend_type`` and the
values PostgreSQL shows for such a process: no database, user, client, transaction, state or
query (NULL; '' for application_name and query), ``backend_start`` when the thread started,
``pid`` its kernel thread id (stable while it runs; the pid of its log lines; for the
walreceiver also pg_stat_wal_receiver's pid).

Each role, its row's wait event while idle, and when it is listed:

- autovacuum launcher (Activity AutoVacuumMain): its thread runs (on a primary) and
  ``autovacuum`` is on (PostgreSQL's launcher exits when it is turned off);
- archiver (Activity ArchiverMain): its thread runs (archive_mode on, on a primary; always, on
  a standby too);
- checkpointer (Activity CheckpointerMain): its thread runs, from start-up to the shutdown
  checkpoint, on a primary and on a standby, and keeps its pid across a promotion;
- walwriter (Activity WalWriterMain): its thread runs (started once a commit under
  synchronous_commit = off leaves its flush to it);
- startup (below): a standby's replay thread runs (a promotion ends it);
- walreceiver (Activity WalReceiverMain): its thread runs, as long as pg_stat_wal_receiver has
  a row.

The threads do not report their waits as they go; a row shows the wait event PostgreSQL's
process shows while idle in its main loop, where these threads spend nearly all their time.
The startup thread's depends on where its next WAL comes from: IPC RecoveryPause while replay
is paused, Activity RecoveryWalStream while a walreceiver runs, else Timeout
RecoveryRetrieveRetryInterval (it re-reads pg_wal and asks the archive again after a while).

Roles PostgreSQL has and mirrordb does not (background writer, logical replication launcher,
autovacuum workers: the launcher vacuums itself) have no row.

Signals: pg_cancel_backend and pg_terminate_backend refuse every background pid with
PostgreSQL's WARNING, except the autovacuum launcher's, which PostgreSQL counts among its
backends: only a superuser may signal it (``BackgroundProcess.signalable``); a cancel does
nothing, a terminate makes the postmaster stop the launcher and start a new one (a new pid),
as PostgreSQL's postmaster starts a launcher again after it exits.

Who calls it: ``Server.background_processes`` (server/postmaster.py), which pg_stat_activity
(sql/sysviews.py) and the signal functions (sql/session_functions.py) use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mirrordb.recovery.standby import RecoveryPauseState
from mirrordb.replication.walreceiver import WalReceiverState

if TYPE_CHECKING:
    from mirrordb.common.role_thread import RoleThread
    from mirrordb.server.postmaster import Server

WaitEvent = tuple[str | None, str | None]    # (wait_event_type, wait_event)


@dataclass(frozen=True, eq=False)
class BackgroundProcess:
    """One running background thread as a pg_stat_activity row reads it (the attribute names
    are ``BackendInfo``'s). A background process has no database, user, client, transaction,
    state or query; PostgreSQL shows '' for its application_name and query."""

    pid: int
    backend_type: str
    backend_start: datetime | None
    wait_event_type: str | None
    wait_event: str | None
    signalable: bool = False              # PostgreSQL signals it as a backend (superuser only)
    database: None = None
    user: None = None
    application_name: str = ""
    client_addr: None = None
    client_hostname: None = None
    client_port: None = None
    xact_start: None = None
    query_start: None = None
    state_change: None = None
    state: None = None
    query: str = ""


@dataclass(frozen=True, eq=False)
class _Role:
    thread: Callable[[Server], RoleThread | None]     # its thread, if it is to be listed
    wait_event: Callable[[Server], WaitEvent]
    signalable: bool = False


def _idle_in(event: str) -> Callable[[Server], WaitEvent]:
    return lambda server: ("Activity", event)


def _autovacuum_launcher_thread(server: Server) -> RoleThread | None:
    launcher = getattr(server.engine, "autovacuum", None)
    if launcher is None or not server.settings.get_bool("autovacuum"):
        return None
    return launcher.thread


def _archiver_thread(server: Server) -> RoleThread | None:
    archiver = getattr(server.engine, "archiver", None)
    return None if archiver is None else archiver.thread


def _checkpointer_thread(server: Server) -> RoleThread | None:
    return None if server.engine is None else server.engine.checkpointer.thread


def _walwriter_thread(server: Server) -> RoleThread | None:
    return None if server.engine is None else server.engine.wal.flusher_thread


def _startup_thread(server: Server) -> RoleThread | None:
    replay = server.standby_replay
    return None if replay is None else replay.thread


def _startup_wait_event(server: Server) -> WaitEvent:
    replay = server.standby_replay
    if replay is not None and replay.pause_state is RecoveryPauseState.PAUSED:
        return "IPC", "RecoveryPause"
    receiver = _walreceiver_thread(server)
    if receiver is not None and receiver.pid is not None:
        return "Activity", "RecoveryWalStream"
    return "Timeout", "RecoveryRetrieveRetryInterval"


def _walreceiver_thread(server: Server) -> RoleThread | None:
    receiver = server.walreceiver
    if receiver is None or receiver.status.state is WalReceiverState.STOPPED:
        return None
    return receiver.thread


# In the order pg_stat_activity lists them. Each thread is named after its role, which is
# PostgreSQL's backend_type for it.
_ROLES = (
    _Role(_autovacuum_launcher_thread, _idle_in("AutoVacuumMain"), signalable=True),
    _Role(_archiver_thread, _idle_in("ArchiverMain")),
    _Role(_checkpointer_thread, _idle_in("CheckpointerMain")),
    _Role(_walwriter_thread, _idle_in("WalWriterMain")),
    _Role(_startup_thread, _startup_wait_event),
    _Role(_walreceiver_thread, _idle_in("WalReceiverMain")),
)


def background_processes(server: Server) -> list[BackgroundProcess]:
    """A row for each role thread running now (module docstring)."""
    rows = []
    for role in _ROLES:
        thread = role.thread(server)
        pid = None if thread is None else thread.pid
        if thread is None or pid is None:
            continue
        wait_event_type, wait_event = role.wait_event(server)
        rows.append(BackgroundProcess(pid, thread.name, thread.started_at,
                                      wait_event_type, wait_event, role.signalable))
    return rows


__all__ = ["BackgroundProcess", "background_processes"]
