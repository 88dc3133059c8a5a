"""The postmaster: start-up, the accept loop, the backend registry, reloads and shutdown.

``Server(datadir, overrides).run()`` is what ``mirrordb server -D DIR`` (PostgreSQL's
``postgres -D``) runs on the process's main thread. Lifecycle, as PostgreSQL's postmaster:

1. Read the configuration (``server/config.build_settings``); check the data directory.
2. Create ``postmaster.pid`` (``server/pidfile.py``), refusing if a live server owns it; write
   ``postmaster.opts``.
3. Bind TCP on each ``listen_addresses`` entry and a Unix-domain socket ``.s.PGSQL.<port>`` (with
   its ``.lock`` file) in each ``unix_socket_directories`` entry.
4. Open the engine: ``Engine.open`` runs crash recovery and starts the checkpointer.
5. Mark ``postmaster.pid`` ready and log "database system is ready to accept connections".
6. Loop: accept connections, each served by a thread named "backend" running
   ``mirrordb.server.backend.serve_connection(server, sock, peer_address, is_unix)``; act on
   signals, which only set flags and write one byte to the loop's wake-up socket.
7. Shut down as asked (below), remove the lock and socket files, return the exit code.

State machine (one ``PostmasterState``, transitions checked against ``_TRANSITIONS``):

============  =====================================================================================
STARTING      steps 1-5; connections wait in the listen backlog
RUNNING       accepting; ``admit()`` lets clients in up to max_connections / max_wal_senders
WAIT_CLIENTS  shutdown requested: ``admit()`` refuses with 57P03; fast mode has asked every
              backend to terminate; waits for every connection thread to end
SHUTDOWN      shutdown checkpoint (``Engine.close()``)
STOPPED       files removed; ``run()`` returns
============  =====================================================================================

Standby mode (``standby.signal`` in the data directory; recovery/standby.py and
replication/walreceiver.py): step 4 opens the engine with ``standby_mode=True`` (archive recovery
of the WAL in pg_wal), then starts the "startup" thread, which replays forever, and, when
``primary_conninfo`` is set, the "walreceiver" thread. postmaster.pid says "standby" until hot
standby is reached (consistent and ``hot_standby = on``: then "ready", and the log says
"database system is ready to accept read-only connections"). Until then ``admit()`` refuses
with PostgreSQL's 57P03 messages. A clean shutdown stops both threads, then ``Engine.close()``
makes a restartpoint and leaves pg_control "shut down in recovery"; if replay fails the server
stops at once (exit code 1), as PostgreSQL's postmaster does when its startup process dies.

Promotion (recovery/promote.py): SIGUSR1 (``pg_ctl promote``, ``mirrordb promote``) or
``request_promote`` (pg_promote()) sets a flag; the loop passes it on to the startup thread
when the ``promote`` file exists (a stale one is removed at start). The startup thread calls
back twice: ``_stop_walreceiver_for_promotion`` before it replays the rest of pg_wal, and
``_standby_promoted`` once the engine accepts writes (postmaster.pid says "ready", the
autovacuum launcher starts, "database system is ready to accept connections"). From then on
the server admits clients as a primary; ``standby_replay`` stays for pg_last_wal_replay_lsn.

Signals (PostgreSQL's): SIGTERM smart shutdown (wait for clients to leave), SIGINT fast (terminate
every backend through its InterruptState, wait, checkpoint), SIGQUIT immediate (no checkpoint:
``Engine.crash()``; the next start runs crash recovery), SIGHUP reload (postgresql.conf,
postgresql.auto.conf, pg_hba.conf), SIGUSR1 promote (a standby, with the ``promote`` file). A
more severe shutdown request overrides a milder one.

Threads and locks: ``_lock`` guards the backend registry, the connection table and the admission
counters; backends call the registry methods from their own threads. Background threads
(checkpointer, archiver, ...) are not in the registry: ``background_processes()`` lists the
ones running (server/background.py) for pg_stat_activity. ``settings`` and ``hba`` are replaced
whole on reload (one attribute assignment), never mutated, so readers need no lock.

Log lines go through the ``logging`` module; ``configure_server_logging`` formats them as
PostgreSQL does (``2024-01-01 00:00:00.000 UTC [pid] LOG:  message``), pid being the native id of
the logging thread, which is the backend's pid in pg_stat_activity.
"""

from __future__ import annotations

import enum
import hmac
import logging
import os
import secrets
import selectors
import shlex
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import TYPE_CHECKING, Any, TextIO

from mirrordb.common.errors import (CannotConnectNow, ConfigFileError, InvariantViolation,
                                    MirrordbError, TooManyConnections, invariant)
from mirrordb.recovery import promote, target
from mirrordb.server import pidfile
from mirrordb.server.config import LogMessage, build_settings, reload_settings
from mirrordb.server.interrupts import InterruptState, current_interrupts
from mirrordb.settings import SERVER_VERSION, Settings

if TYPE_CHECKING:
    from mirrordb.engine import Engine
    from mirrordb.recovery.standby import StandbyReplay
    from mirrordb.replication.basebackup_progress import BaseBackupProgress
    from mirrordb.replication.slots import SlotManager
    from mirrordb.replication.syncrep import SyncRep
    from mirrordb.replication.walreceiver import WalReceiver
    from mirrordb.server.background import BackgroundProcess

log = logging.getLogger("mirrordb.postmaster")

PG_MAJOR_VERSION = "15"
LISTEN_BACKLOG_LIMIT = 4096          # listen() backlog: 2 x max_connections, at most this
MAX_UNIX_SOCKET_PATH_BYTES = 107     # sun_path minus its terminating NUL
CONNECTION_THREADS_PER_SLOT = 2      # connection threads allowed per admission slot
BACKEND_EXIT_GRACE_S = 5.0           # fast shutdown: then close the sockets of lingering clients
BACKEND_EXIT_TIMEOUT_S = 60.0        # ... then give up waiting and stop without a checkpoint
IMMEDIATE_EXIT_GRACE_S = 0.2         # immediate shutdown: time for backends to say goodbye
SHUTDOWN_POLL_INTERVAL_S = 0.5       # loop wake-up while waiting for clients to leave
WALSENDER_DRAIN_TIMEOUT_S = 30.0     # walsenders streaming the shutdown checkpoint, at most
IMMEDIATE_SHUTDOWN_MESSAGE = "terminating connection due to immediate shutdown command"
SHUTTING_DOWN_MESSAGE = "the database system is shutting down"
STARTING_UP_MESSAGE = "the database system is starting up"
STANDBY_SIGNAL_FILE = promote.STANDBY_SIGNAL_FILE
NOT_CONSISTENT_MESSAGE = "the database system is not yet accepting connections"
NOT_CONSISTENT_DETAIL = "Consistent recovery state has not been yet reached."
HOT_STANDBY_OFF_MESSAGE = "the database system is not accepting connections"
HOT_STANDBY_OFF_DETAIL = "Hot standby mode is disabled."

PeerAddress = tuple[str, int] | None
ConnectionHandler = Callable[["Server", socket.socket, PeerAddress, bool], None]


class ShutdownMode(enum.IntEnum):
    """Shutdown modes, by severity (a later request may only raise it)."""

    SMART = 1
    FAST = 2
    IMMEDIATE = 3


class PostmasterState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    WAIT_CLIENTS = "wait clients"
    SHUTDOWN = "shutdown"
    STOPPED = "stopped"


_TRANSITIONS: dict[PostmasterState, frozenset[PostmasterState]] = {
    PostmasterState.STARTING: frozenset({PostmasterState.RUNNING, PostmasterState.WAIT_CLIENTS,
                                         PostmasterState.STOPPED}),
    PostmasterState.RUNNING: frozenset({PostmasterState.WAIT_CLIENTS, PostmasterState.STOPPED}),
    PostmasterState.WAIT_CLIENTS: frozenset({PostmasterState.SHUTDOWN, PostmasterState.STOPPED}),
    PostmasterState.SHUTDOWN: frozenset({PostmasterState.STOPPED}),
    PostmasterState.STOPPED: frozenset(),
}


@dataclass(frozen=True)
class SslStatus:
    """An encrypted connection's TLS session, as pg_stat_ssl shows it (the server asks for no
    client certificate, so there is no client DN, serial or issuer to show)."""

    version: str        # "TLSv1.3"
    cipher: str         # OpenSSL's name of the cipher suite
    bits: int           # the cipher's secret bits


@dataclass
class BackendInfo:
    """One session as pg_stat_activity shows it; the backend thread keeps it current.

    Times are timezone-aware UTC datetimes, None when not applicable. ``pid`` and
    ``secret_key`` are filled in by ``Server.register_backend``.
    """

    user: str = ""
    database: str = ""
    application_name: str = ""
    client_addr: str | None = None        # None for Unix-domain sockets
    client_port: int | None = None        # -1 for Unix-domain sockets, as PostgreSQL shows
    client_hostname: str | None = None
    server_addr: str | None = None        # the local end of a TCP connection (inet_server_addr)
    server_port: int | None = None
    ssl: SslStatus | None = None          # None: not encrypted
    backend_start: datetime = field(default_factory=lambda: datetime.now(UTC))
    xact_start: datetime | None = None
    query_start: datetime | None = None
    state_change: datetime | None = None
    state: str | None = "idle"            # idle | active | idle in transaction | ... (aborted)
    wait_event_type: str | None = None
    wait_event: str | None = None
    query: str = ""
    backend_type: str = "client backend"  # or "walsender"
    user_oid: int = 0
    database_oid: int = 0
    interrupts: InterruptState = field(default_factory=InterruptState)
    pid: int = 0
    secret_key: int = field(default=0, repr=False)
    # a walsender's running BASE_BACKUP (pg_stat_progress_basebackup), None otherwise
    basebackup_progress: BaseBackupProgress | None = None


@dataclass(eq=False)
class _Connection:
    """An accepted socket and the thread serving it."""

    sock: socket.socket
    is_unix: bool
    thread: threading.Thread | None = None
    native_id: int = 0


@dataclass
class _Listener:
    sock: socket.socket
    is_unix: bool
    path: str = ""                        # Unix-domain socket file, removed at exit
    lock: pidfile.LockFile | None = None  # its .lock file


class Server:
    """One running server (see the module docstring)."""

    def __init__(self, datadir: str, overrides: dict[str, str] | None = None, *,
                 connection_handler: ConnectionHandler | None = None) -> None:
        self.datadir = os.path.abspath(datadir)
        self.overrides = dict(overrides or {})
        self.settings = Settings()
        self.engine: Engine | None = None
        self.slots: SlotManager | None = None   # replication slots, once the engine is open
        self.standby_replay: StandbyReplay | None = None   # a standby's startup thread
        self.walreceiver: WalReceiver | None = None        # ... and its walreceiver
        self.syncrep: SyncRep | None = None   # synchronous replication, once the engine is open
        self.start_time = time.time()
        self.conf_load_time = self.start_time   # pg_conf_load_time: the last (re)load
        self.state = PostmasterState.STARTING
        self.exit_code = 0
        self._connection_handler = connection_handler
        self._lock = threading.Lock()
        self._backends: dict[int, BackendInfo] = {}
        self._database_of_thread: dict[int, int] = {}   # session thread -> database OID
        self._dropped_databases: set[int] = set()       # claimed by DROP DATABASE
        self._connections: dict[int, _Connection] = {}
        self._clients = 0
        self._walsenders = 0
        self._listeners: list[_Listener] = []
        self._data_lock: pidfile.LockFile | None = None
        self._hba: Any = None
        self._hba_lock = threading.Lock()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._requested_mode: ShutdownMode | None = None
        self._shutdown_mode: ShutdownMode | None = None
        self._reload_requested = False
        self._promote_requested = False
        self._autovacuum_restart_requested = False
        self._shutdown_started = 0.0
        self._sockets_closed = False
        self.ready = threading.Event()      # set once accepting (tests wait on it)
        self.stopped = threading.Event()    # set when run() is about to return

    # -- public: process control ------------------------------------------------------------------

    def run(self) -> int:
        """Start, serve until shut down, clean up; the exit code (0 clean, 1 failed)."""
        previous_handlers = self._install_signal_handlers()
        try:
            if not self._start_or_report():
                return self.exit_code
            try:
                self._serve()
            except Exception:  # a postmaster bug: stop as a crash would
                log.critical("postmaster failed; performing immediate shutdown", exc_info=True,
                             extra={"pg_level": "PANIC"})
                self.exit_code = 1
                if not self._stopped():
                    self._immediate_stop()
            return self.exit_code
        finally:
            self._restore_signal_handlers(previous_handlers)
            self.stopped.set()

    def _start_or_report(self) -> bool:
        """Start; on failure log FATAL, undo what was set up and set exit code 1."""
        try:
            self._start()
            return True
        except MirrordbError as error:
            log_error("FATAL", error)
        except Exception:  # a bug: reported with its traceback
            log.critical("could not start the server", exc_info=True)
        if self.engine is not None:
            self.engine.crash()
        self._cleanup_files()
        self.exit_code = 1
        self._transition(PostmasterState.STOPPED)
        return False

    def request_shutdown(self, mode: ShutdownMode) -> None:
        """Ask for a shutdown (safe from signal handlers and any thread)."""
        if self._requested_mode is None or mode > self._requested_mode:
            self._requested_mode = mode
        self._wake()

    def request_reload(self) -> None:
        """Ask for a configuration reload (safe from signal handlers and any thread)."""
        self._reload_requested = True
        self._wake()

    def request_promote(self) -> None:
        """Ask a standby to promote (safe from signal handlers and any thread); acted on only
        if the ``promote`` file exists, as PostgreSQL's postmaster does with SIGUSR1."""
        self._promote_requested = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except (BlockingIOError, OSError):
            pass   # a wake-up byte is already waiting (or we are closed)

    # -- public: what backends use -----------------------------------------------------------------

    @property
    def hba(self) -> Any:
        """The current pg_hba.conf rules (``mirrordb.auth.hba.load_hba``), loaded on first use."""
        if self._hba is None:
            with self._hba_lock:
                if self._hba is None:
                    self._hba = self._load_hba()
        return self._hba

    def _load_hba(self) -> Any:
        from mirrordb.auth.hba import load_hba
        return load_hba(self.settings.get_str("hba_file"))

    @property
    def shutting_down(self) -> bool:
        """A shutdown was requested: new sessions are refused (57P03)."""
        return self._requested_mode is not None or self.state in (
            PostmasterState.WAIT_CLIENTS, PostmasterState.SHUTDOWN, PostmasterState.STOPPED)

    def admit(self, replication: bool = False) -> bool:
        """Count a new session in (True), or raise the FATAL error the backend must send:
        ``TooManyConnections`` 53300 or ``CannotConnectNow`` 57P03, with PostgreSQL's message.

        Replication (walsender) connections count against max_wal_senders, others against
        max_connections. Every successful ``admit`` needs one ``release`` with the same flag.
        """
        with self._lock:
            if self.state is PostmasterState.STARTING:
                raise CannotConnectNow(STARTING_UP_MESSAGE)
            if self.state is not PostmasterState.RUNNING:
                raise CannotConnectNow(SHUTTING_DOWN_MESSAGE)
            self._check_standby_admission()
            if replication:
                limit = self.settings.get_int("max_wal_senders")
                if self._walsenders >= limit:
                    raise TooManyConnections("number of requested standby connections exceeds "
                                             f"max_wal_senders (currently {limit})")
                self._walsenders += 1
            else:
                if self._clients >= self.settings.get_int("max_connections"):
                    raise TooManyConnections("sorry, too many clients already")
                self._clients += 1
        return True

    def release(self, replication: bool = False) -> None:
        """The session counted in by ``admit`` ended."""
        with self._lock:
            if replication:
                invariant(self._walsenders > 0, "release of a walsender never admitted")
                self._walsenders -= 1
            else:
                invariant(self._clients > 0, "release of a client never admitted")
                self._clients -= 1

    def check_superuser_reserved(self, superuser: bool) -> None:
        """After authentication: the last superuser_reserved_connections slots are for
        superusers (PostgreSQL's check, 53300)."""
        reserved = self.settings.get_int("superuser_reserved_connections")
        limit = self.settings.get_int("max_connections")
        if not superuser and reserved > 0 and self._clients > limit - reserved:
            raise TooManyConnections("remaining connection slots are reserved for "
                                     "non-replication superuser connections")

    def register_backend(self, info: BackendInfo) -> tuple[int, int]:
        """Called by a backend thread: its (process id, secret key) for BackendKeyData.

        The process id is the thread's native id; the secret is random in 1 .. 2**31 - 1, so
        it reads the same whether the wire codec treats it as signed or unsigned.
        """
        info.pid = threading.get_native_id()
        info.secret_key = secrets.randbelow(2**31 - 1) + 1
        with self._lock:
            invariant(info.pid not in self._backends, f"backend {info.pid} registered twice")
            self._backends[info.pid] = info
        return info.pid, info.secret_key

    # -- who is connected to which database (CREATE/DROP DATABASE: sql/databases.py) -----------

    def attach_to_database(self, oid: int) -> bool:
        """The calling session's thread is connected to database ``oid`` from now on; False
        if a DROP DATABASE has claimed it meanwhile."""
        with self._lock:
            if oid in self._dropped_databases:
                return False
            self._database_of_thread[threading.get_native_id()] = oid
            return True

    def detach_from_database(self) -> None:
        with self._lock:
            self._database_of_thread.pop(threading.get_native_id(), None)

    def database_users(self, oid: int) -> int:
        """How many sessions other than the calling one are connected to database ``oid``."""
        me = threading.get_native_id()
        with self._lock:
            return sum(1 for thread, database in self._database_of_thread.items()
                       if database == oid and thread != me)

    def claim_database_for_drop(self, oid: int) -> int:
        """DROP DATABASE: if no other session is connected to database ``oid``, no session
        may connect to it any more (returns 0); otherwise the number of those sessions."""
        me = threading.get_native_id()
        with self._lock:
            users = sum(1 for thread, database in self._database_of_thread.items()
                        if database == oid and thread != me)
            if not users:
                self._dropped_databases.add(oid)
            return users

    def close_database(self, oid: int) -> None:
        """Replay of DROP DATABASE on a hot standby: no session may connect to ``oid`` any
        more (recovery/conflicts.py ``resolve_database``)."""
        with self._lock:
            self._dropped_databases.add(oid)

    def reopen_database(self, oid: int) -> None:
        """Replay created a database with OID ``oid``: sessions may connect to it."""
        self.release_dropped_database(oid)

    def release_dropped_database(self, oid: int) -> None:
        """The DROP DATABASE that claimed ``oid`` failed before it removed anything."""
        with self._lock:
            self._dropped_databases.discard(oid)

    def unregister_backend(self, pid: int) -> None:
        with self._lock:
            self._backends.pop(pid, None)

    def backends(self) -> list[BackendInfo]:
        """Every registered session (live objects; pg_stat_activity reads them)."""
        with self._lock:
            return list(self._backends.values())

    def background_processes(self) -> list[BackgroundProcess]:
        """The role threads running now, as pg_stat_activity lists them
        (server/background.py)."""
        from mirrordb.server.background import background_processes
        return background_processes(self)

    def background_process(self, pid: int) -> BackgroundProcess | None:
        """The running role thread whose pid is ``pid``, if any."""
        return next((process for process in self.background_processes() if process.pid == pid),
                    None)

    def cancel_backend(self, pid: int, secret_key: int) -> bool:
        """A CancelRequest: cancel ``pid``'s statement if the key matches (constant time)."""
        with self._lock:
            info = self._backends.get(pid)
        if info is None:
            log.info("PID %d in cancel request did not match any process", pid)
            return False
        expected = (info.secret_key & 0xFFFFFFFF).to_bytes(4, "big")
        offered = (secret_key & 0xFFFFFFFF).to_bytes(4, "big")
        if not hmac.compare_digest(expected, offered):
            log.info("wrong key in cancel request for process %d", pid)
            return False
        info.interrupts.request_cancel()
        return True

    def signal_backend(self, pid: int, action: str) -> bool:
        """pg_cancel_backend / pg_terminate_backend (the SQL layer checks permissions)."""
        invariant(action in ("cancel", "terminate"), f"unknown backend signal {action}")
        with self._lock:
            info = self._backends.get(pid)
        if info is None:
            return self._signal_background_process(pid, action)
        if action == "cancel":
            info.interrupts.request_cancel()
        else:
            info.interrupts.request_terminate()
        return True

    def _signal_background_process(self, pid: int, action: str) -> bool:
        """Only the autovacuum launcher takes these signals (server/background.py): a cancel
        has nothing to cancel, a terminate has the postmaster loop replace it."""
        process = self.background_process(pid)
        if process is None or not process.signalable:
            return False
        if action == "terminate":
            self._autovacuum_restart_requested = True
            self._wake()
        return True

    # -- start-up ---------------------------------------------------------------------------------

    def _start(self) -> None:
        self._load_configuration()
        self._check_wal_settings()
        check_data_directory(self.datadir)
        port = self.settings.get_int("port")
        self._data_lock = pidfile.acquire_data_directory_lock(self.datadir, port,
                                                              int(self.start_time))
        write_options_file(self.datadir, self.overrides)
        log.info("starting PostgreSQL %s on %s-%s, Python %s", SERVER_VERSION,
                 os.uname().machine, sys.platform, sys.version.split()[0])
        self._open_listeners(port)
        self._load_hba_at_start()
        self._open_engine()
        if self._requested_mode is None and self.standby_replay is not None:
            self._data_lock.update(status=pidfile.PM_STATUS_STANDBY)
            self._transition(PostmasterState.RUNNING)
            self._start_standby_threads()
            self.ready.set()
        elif self._requested_mode is None:
            self._data_lock.update(status=pidfile.PM_STATUS_READY)
            self._transition(PostmasterState.RUNNING)
            log.info("database system is ready to accept connections")
            self.ready.set()

    def _load_configuration(self) -> None:
        load = build_settings(self.datadir, self.overrides)
        self.conf_load_time = time.time()
        log_messages(load.messages)
        if load.rejected or load.error_file is not None:
            raise ConfigFileError(f'configuration file "{load.error_file}" contains errors')
        self.settings = load.settings

    def _check_wal_settings(self) -> None:
        """PostgreSQL's start-up refusal: walsenders need WAL a standby can replay."""
        minimal = self.settings.get_str("wal_level") == "minimal"
        if minimal and self.settings.get_str("archive_mode") != "off":
            raise MirrordbError('WAL archival cannot be enabled when wal_level is "minimal"',
                                sqlstate="XX000")
        if self.settings.get_int("max_wal_senders") > 0 and minimal:
            raise MirrordbError('WAL streaming (max_wal_senders > 0) requires wal_level '
                                '"replica" or "logical"', sqlstate="XX000")

    def _load_hba_at_start(self) -> None:
        try:
            self._hba = self._load_hba()
        except ImportError:
            return   # the authentication module is not there yet: loaded on first use
        except MirrordbError as error:
            log_hba_errors(error)
            raise MirrordbError("could not load pg_hba.conf", sqlstate="F0000") from None

    def _open_engine(self) -> None:
        from mirrordb.engine import Engine
        slots = self._load_slots()
        promote.remove_promote_signal_file(self.datadir)   # a stale request promotes nothing
        standby = os.path.exists(os.path.join(self.datadir, STANDBY_SIGNAL_FILE))
        archive_recovery = standby or \
            os.path.exists(os.path.join(self.datadir, promote.RECOVERY_SIGNAL_FILE))
        target.check_single_target(self.settings)
        if standby:
            log.info("entering standby mode")
        elif archive_recovery:
            self._check_targeted_recovery()
        self.engine = Engine.open(self.datadir, self.overrides, standby_mode=archive_recovery)
        self.engine.checkpointer.on_panic = self._checkpointer_panicked
        self.settings.set_internal("wal_segment_size", str(self.engine.control.xlog_seg_size))
        self.engine.settings = self.settings
        self._attach_slots(self.engine, slots)
        self._attach_syncrep(self.engine)
        if archive_recovery:
            self._prepare_standby(self.engine, standby_mode=standby)
        else:
            self.engine.start_autovacuum()   # the "autovacuum launcher" thread

    def _check_targeted_recovery(self) -> None:
        """recovery.signal without standby.signal: WAL comes from the archive only, so
        restore_command must be set; the log says where recovery is headed."""
        if not self.settings.get_str("restore_command").strip():
            raise MirrordbError("must specify restore_command when standby mode is not enabled",
                                sqlstate="22023")
        stop_at = target.target_from_settings(self.settings)
        log.info("%s", "starting archive recovery" if stop_at is None
                 else stop_at.starting_message())

    def _attach_syncrep(self, engine: Engine) -> None:
        """Synchronous replication (replication/syncrep.py): commits wait through it, walsenders
        release them, each reload reconfigures it (a promoted standby's commits wait too)."""
        from mirrordb.replication.syncrep import SyncRep
        self.syncrep = SyncRep.attach(engine.xacts, self.settings, current_interrupts)

    # -- standby mode (recovery/standby.py, replication/walreceiver.py) ---------------------------

    def _prepare_standby(self, engine: Engine, *, standby_mode: bool) -> None:
        from mirrordb.recovery.standby import StandbyReplay
        self.standby_replay = StandbyReplay(
            engine, standby_mode=standby_mode, on_failure=self._standby_failed,
            on_consistent=self._standby_consistent,
            on_promotion_start=self._stop_walreceiver_for_promotion,
            on_promoted=self._standby_promoted, on_target_shutdown=self._shutdown_at_target)
        assert engine.startup is not None
        engine.startup.state.conflicts.attach(     # recovery conflicts: recovery/conflicts.py
            sessions=self.backends, stopping=lambda: self.shutting_down, databases=self,
            receipts=lambda: None if self.walreceiver is None else self.walreceiver.receipts)

    def _wal_received(self) -> None:
        """The walreceiver flushed WAL: the startup thread replays it, and walsenders serving
        from this standby (cascading) send it on."""
        replay, engine = self.standby_replay, self.engine
        if replay is not None:
            replay.wake()
        if engine is not None:
            engine.wal.notify_flush_listeners()

    def _start_standby_threads(self) -> None:
        """The walreceiver when primary_conninfo is set, then the startup thread (which may
        promote at once, and then stops the walreceiver: it must exist by then)."""
        from mirrordb.recovery.hot_standby import feedback_horizon
        from mirrordb.replication.walreceiver import StandbyIdentity, WalReceiver
        replay, engine = self.standby_replay, self.engine
        assert replay is not None and engine is not None
        if replay.standby_mode and self.settings.get_str("primary_conninfo").strip():
            control = engine.control
            identity = StandbyIdentity(self.datadir, control.system_identifier,
                                       control.checkpoint.this_timeline, control.xlog_seg_size)
            self.walreceiver = WalReceiver(
                identity, lambda: self.settings, start_lsn=lambda: replay.end_of_wal_lsn,
                applied_lsn=lambda: replay.replayed_lsn, wake_startup=self._wal_received,
                feedback_horizon=lambda: feedback_horizon(engine),
                on_panic=self._walreceiver_panicked, source_lock=replay.wal_source_lock,
                history=lambda: replay.startup.history, on_file_received=engine.segment_received)
            replay.request_walreceiver_reply = self.walreceiver.request_reply
            self.walreceiver.writer.on_segment_finished = engine.segment_received
            self.walreceiver.start()
        replay.start()

    def _stop_walreceiver_for_promotion(self) -> promote.ReceivedWal | None:
        """Called by the startup thread when promotion begins: no more WAL from the old
        primary; how far the walreceiver wrote and fsynced (None if none ran)."""
        receiver = self.walreceiver
        if receiver is None:
            return None
        receiver.stop()
        return promote.ReceivedWal(receiver.writer.flushed_lsn, receiver.writer.written_lsn,
                                   receiver.writer.timeline)

    def _standby_promoted(self) -> None:
        """Called by the startup thread once the promoted engine accepts writes."""
        if self._data_lock is not None and self._requested_mode is None:
            self._data_lock.update(status=pidfile.PM_STATUS_READY)
        log.info("database system is ready to accept connections")
        if self.engine is not None:
            self.engine.start_autovacuum()

    def _forward_promote_request(self) -> None:
        """PostgreSQL's postmaster on SIGUSR1: a standby's startup thread is told to promote
        if the ``promote`` file exists (it removes the file when it acts)."""
        replay = self.standby_replay
        if replay is None or not replay.running or self.shutting_down:
            return
        if promote.promote_signal_file_exists(self.datadir):
            replay.request_promote()

    def _standby_consistent(self) -> None:
        """Called by the startup thread once replay is consistent."""
        if not self.settings.get_bool("hot_standby"):
            return
        if self._data_lock is not None and self._requested_mode is None:
            self._data_lock.update(status=pidfile.PM_STATUS_READY)
        log.info("database system is ready to accept read-only connections")

    def _shutdown_at_target(self) -> None:
        """recovery_target_action = shutdown: the target is reached; the server stops, still in
        recovery (a restart with the same settings replays to the same point again)."""
        log.info("shutdown at recovery target")
        self.request_shutdown(ShutdownMode.FAST)

    def _standby_failed(self, error: BaseException) -> None:
        """The startup thread died: stop everything without a restartpoint."""
        self._stop_after_failure("startup process was terminated; shutting down")

    def _walreceiver_panicked(self, error: BaseException) -> None:
        """The walreceiver could not make received WAL durable: stop everything without a
        restartpoint, as PostgreSQL's PANIC does (the next start replays what the disk holds
        and streams the rest again)."""
        self._stop_after_failure("walreceiver could not make received WAL durable; shutting down")

    def _checkpointer_panicked(self, error: BaseException) -> None:
        self._stop_after_failure("checkpointer process was terminated; shutting down")

    def _stop_after_failure(self, message: str) -> None:
        self.exit_code = 1
        log.info("%s", message)
        self.request_shutdown(ShutdownMode.IMMEDIATE)

    def _check_standby_admission(self) -> None:
        """PostgreSQL's CAC_NOTCONSISTENT answers, for a standby without hot standby yet."""
        replay = self.standby_replay
        if replay is None or replay.promoted:
            return
        if not self.settings.get_bool("hot_standby"):
            raise CannotConnectNow(HOT_STANDBY_OFF_MESSAGE, detail=HOT_STANDBY_OFF_DETAIL)
        if not replay.consistent:
            raise CannotConnectNow(NOT_CONSISTENT_MESSAGE, detail=NOT_CONSISTENT_DETAIL)

    def _stop_standby_threads(self) -> None:
        """Before the engine closes: the walreceiver first (no new WAL), then replay."""
        if self.walreceiver is not None:
            self.walreceiver.stop()
        if self.standby_replay is not None:
            self.standby_replay.stop()

    # -- replication slots (replication/slots.py) -------------------------------------------------

    def _load_slots(self) -> SlotManager:
        """pg_replslot, read before recovery (PostgreSQL's StartupReplicationSlots): a damaged
        slot file stops the start-up here."""
        from mirrordb.replication.slots import SlotManager
        slots = SlotManager(self.datadir, self.settings.get_int("max_replication_slots"))
        slots.load(wal_level=self.settings.get_str("wal_level"))
        return slots

    def _attach_slots(self, engine: Engine, loaded: SlotManager) -> None:
        """``server.slots`` is ``engine.slots`` (the one recovery's checkpoint may already have
        attached, else ``loaded``); slots reserve WAL from the last REDO point, a slot held
        by a session that is gone is released, and the session using a slot that loses its WAL
        is terminated (PostgreSQL's InvalidateObsoleteReplicationSlots)."""
        from mirrordb.recovery.checkpoint import slot_manager
        if getattr(engine, "slots", None) is None:
            engine.slots = loaded  # type: ignore[attr-defined]
        self.slots = slot_manager(engine)
        self.slots.current_redo_lsn = lambda: engine.control.checkpoint.redo
        self.slots.is_process_alive = self._is_registered_backend
        self.slots.terminate_process = lambda pid: self.signal_backend(pid, "terminate")

    def _is_registered_backend(self, pid: int) -> bool:
        # No lock: the slot manager calls this under its own lock, and one dict lookup is atomic.
        return pid in self._backends

    # -- listening sockets ------------------------------------------------------------------------

    def _open_listeners(self, port: int) -> None:
        addresses = split_list(self.settings.get_str("listen_addresses"))
        directories = split_list(self.settings.get_str("unix_socket_directories"))
        first_address = self._open_tcp_listeners(addresses, port)
        if addresses and first_address is None:
            raise MirrordbError("could not create any TCP/IP sockets", sqlstate="58000")
        first_directory = self._open_unix_listeners(directories, port)
        if directories and first_directory is None:
            raise MirrordbError("could not create any Unix-domain sockets", sqlstate="58000")
        if not self._listeners:
            raise MirrordbError("no socket created for listening", sqlstate="58000")
        assert self._data_lock is not None
        self._data_lock.update(socket_directory=first_directory or "",
                               listen_address=first_address or "")

    def _backlog(self) -> int:
        return min(2 * self.settings.get_int("max_connections"),
                   LISTEN_BACKLOG_LIMIT)

    def _open_tcp_listeners(self, addresses: list[str], port: int) -> str | None:
        first = None
        for address in addresses:
            host = None if address == "*" else address
            try:
                infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                                           socket.AI_PASSIVE)
            except socket.gaierror as error:
                log.warning('could not translate host name "%s", service "%d" to address: %s',
                            address, port, error.strerror)
                continue
            for family, kind, proto, _, sockaddr in _unique(infos):
                if self._bind_tcp(family, kind, proto, sockaddr, port) and first is None:
                    first = address
        return first

    def _bind_tcp(self, family: int, kind: int, proto: int, sockaddr: Any, port: int) -> bool:
        family_name = "IPv6" if family == socket.AF_INET6 else "IPv4"
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            sock.listen(self._backlog())
        except OSError as error:
            sock.close()
            log_error("LOG", MirrordbError(
                f'could not bind {family_name} address "{sockaddr[0]}": {error.strerror}',
                hint=f"Is another postmaster already running on port {port}? If not, wait a "
                     "few seconds and retry."))
            return False
        sock.setblocking(False)
        self._listeners.append(_Listener(sock, is_unix=False))
        log.info('listening on %s address "%s", port %d', family_name, sockaddr[0], port)
        return True

    def _open_unix_listeners(self, directories: list[str], port: int) -> str | None:
        first = None
        for directory in directories:
            if self._bind_unix(directory, port) and first is None:
                first = directory
        return first

    def _bind_unix(self, directory: str, port: int) -> bool:
        path = os.path.join(directory, f".s.PGSQL.{port}")
        if len(path.encode()) > MAX_UNIX_SOCKET_PATH_BYTES:
            log.warning('Unix-domain socket path "%s" is too long (maximum %d bytes)', path,
                        MAX_UNIX_SOCKET_PATH_BYTES)
            return False
        lock = pidfile.acquire_socket_lock(path, directory, self.datadir, port,
                                           int(self.start_time))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _remove_stale_socket(path)
            sock.bind(path)
            os.chmod(path, self.settings.get_int("unix_socket_permissions"))
            sock.listen(self._backlog())
        except OSError as error:
            sock.close()
            lock.release()
            log.warning('could not bind Unix address "%s": %s', path, error.strerror)
            return False
        sock.setblocking(False)
        self._listeners.append(_Listener(sock, is_unix=True, path=path, lock=lock))
        log.info('listening on Unix socket "%s"', path)
        return True

    # -- the loop -----------------------------------------------------------------------------------

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_reader, selectors.EVENT_READ, None)
            for listener in self._listeners:
                selector.register(listener.sock, selectors.EVENT_READ, listener)
            while not self._stopped():
                timeout = None if self._shutdown_mode is None else SHUTDOWN_POLL_INTERVAL_S
                for key, _ in selector.select(timeout):
                    if key.data is None:
                        _drain(self._wake_reader)
                    elif not self._stopped():
                        self._accept(key.data)
                self._handle_requests()
                self._advance_shutdown()

    def _stopped(self) -> bool:
        return self.state is PostmasterState.STOPPED

    def _accept(self, listener: _Listener) -> None:
        try:
            sock, address = listener.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            log.info("could not accept new connection: %s", error.strerror)
            return
        sock.setblocking(True)
        if not listener.is_unix:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        peer: PeerAddress = None if listener.is_unix else (str(address[0]), int(address[1]))
        if not self._connection_slot_free():
            log.info("too many connection threads; closing a new connection")
            sock.close()
            return
        connection = _Connection(sock, listener.is_unix)
        thread = threading.Thread(target=self._backend_main, args=(connection, peer),
                                  name="backend", daemon=True)
        connection.thread = thread
        with self._lock:
            self._connections[id(connection)] = connection
        thread.start()

    def _connection_slot_free(self) -> bool:
        slots = (self.settings.get_int("max_connections")
                 + self.settings.get_int("max_wal_senders"))
        with self._lock:
            return len(self._connections) < CONNECTION_THREADS_PER_SLOT * slots

    def _backend_main(self, connection: _Connection, peer: PeerAddress) -> None:
        """A connection thread: run the backend, then clean up whatever it left behind."""
        connection.native_id = threading.get_native_id()
        try:
            self._handler()(self, connection.sock, peer, connection.is_unix)
        except InvariantViolation:
            log.critical("backend hit a broken invariant; stopping the server", exc_info=True,
                         extra={"pg_level": "PANIC"})
            self.request_shutdown(ShutdownMode.IMMEDIATE)
        except Exception:  # one session's bug must not end the server
            log.exception("backend ended with an unexpected error")
        finally:
            self._forget_connection(connection)

    def _handler(self) -> ConnectionHandler:
        if self._connection_handler is None:
            from mirrordb.server.backend import serve_connection
            self._connection_handler = serve_connection
        return self._connection_handler

    def _forget_connection(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.pop(id(connection), None)
            leftover = self._backends.pop(connection.native_id, None)
        if leftover is not None:
            leftover.interrupts.close()
        try:
            connection.sock.close()
        except OSError:
            pass
        self._wake()

    # -- signals and requests -------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        handlers: dict[int, Callable[[int, Any], None]] = {
            signal.SIGTERM: lambda *_: self.request_shutdown(ShutdownMode.SMART),
            signal.SIGINT: lambda *_: self.request_shutdown(ShutdownMode.FAST),
            signal.SIGQUIT: lambda *_: self.request_shutdown(ShutdownMode.IMMEDIATE),
            signal.SIGHUP: lambda *_: self.request_reload(),
            signal.SIGUSR1: lambda *_: self.request_promote(),
        }
        return {number: signal.signal(number, handler) for number, handler in handlers.items()}

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def _handle_requests(self) -> None:
        if self._reload_requested:
            self._reload_requested = False
            self._reload()
        if self._promote_requested:
            self._promote_requested = False
            self._forward_promote_request()
        if self._autovacuum_restart_requested:
            self._autovacuum_restart_requested = False
            self._restart_autovacuum()
        requested = self._requested_mode
        if requested is not None and (self._shutdown_mode is None
                                      or requested > self._shutdown_mode):
            self._begin_shutdown(requested)

    def _restart_autovacuum(self) -> None:
        """pg_terminate_backend of the autovacuum launcher: it ends (after the table in hand)
        and, as PostgreSQL's postmaster does, a new one starts."""
        if self.engine is None or self.shutting_down:
            return
        self.engine.stop_autovacuum()
        self.engine.start_autovacuum()

    def _reload(self) -> None:
        log.info("received SIGHUP, reloading configuration files")
        load = reload_settings(self.settings, self.datadir, self.overrides)
        self.conf_load_time = time.time()
        log_messages(load.messages)
        if load.settings is not self.settings:
            self.settings = load.settings
            if self.engine is not None:
                self.engine.settings = load.settings
                self.engine.wal.track_io_timing = bool(load.settings.get("track_wal_io_timing"))
            if self.syncrep is not None:
                self.syncrep.configure(load.settings)
            if self.standby_replay is not None:
                self.standby_replay.wake()    # a changed recovery_min_apply_delay applies now
        self._reload_hba()

    def _reload_hba(self) -> None:
        try:
            rules = self._load_hba()
        except ImportError:
            return
        except (MirrordbError, OSError) as error:
            if isinstance(error, MirrordbError):
                log_hba_errors(error)
            else:
                log.info('could not open configuration file "%s": %s',
                         self.settings.get("hba_file"), error.strerror)
            log.info("pg_hba.conf was not reloaded")
            return
        self._hba = rules

    # -- shutdown -------------------------------------------------------------------------------------

    # walsenders hold a terminate received during shutdown until the checkpoint is streamed
    walsenders_stop_after_checkpoint = True

    def _begin_shutdown(self, mode: ShutdownMode) -> None:
        log.info("received %s shutdown request", mode.name.lower())
        self._shutdown_mode = mode
        self._shutdown_started = time.monotonic()
        if self.state in (PostmasterState.STARTING, PostmasterState.RUNNING):
            self._transition(PostmasterState.WAIT_CLIENTS)
            if self._data_lock is not None:
                self._data_lock.update(status=pidfile.PM_STATUS_STOPPING)
        if mode is ShutdownMode.FAST:
            log.info("aborting any active transactions")
            self._terminate_backends()
            self._close_unregistered_connections()
        elif mode is ShutdownMode.IMMEDIATE:
            self._immediate_stop()

    def _terminate_backends(self, message: str | None = None) -> None:
        for info in self.backends():
            if message is None:
                info.interrupts.request_terminate()
            else:
                info.interrupts.request_terminate(message, "57P01")

    def _close_unregistered_connections(self) -> None:
        """Connections still authenticating have no InterruptState: end them by their socket."""
        with self._lock:
            registered = set(self._backends)
            lingering = [c for c in self._connections.values() if c.native_id not in registered]
        for connection in lingering:
            _shutdown_socket(connection.sock)

    def _walsender_ids(self) -> set[int]:
        return {info.pid for info in self.backends()
                if getattr(info, "backend_type", "") == "walsender"}

    def _advance_shutdown(self) -> None:
        if self.state is not PostmasterState.WAIT_CLIENTS:
            return
        walsenders = self._walsender_ids()
        with self._lock:   # walsenders stay until the shutdown checkpoint is streamed
            remaining = sum(1 for c in self._connections.values()
                            if c.native_id not in walsenders)
        if remaining == 0:
            self._checkpoint_and_stop()
            return
        if self._shutdown_mode is ShutdownMode.FAST:
            self._hurry_lingering_backends()

    def _hurry_lingering_backends(self) -> None:
        waited = time.monotonic() - self._shutdown_started
        if waited >= BACKEND_EXIT_TIMEOUT_S:
            log.warning("backends did not exit within %d s; stopping without a shutdown "
                        "checkpoint", int(BACKEND_EXIT_TIMEOUT_S))
            self._shutdown_mode = ShutdownMode.IMMEDIATE
            self._immediate_stop()
        elif waited >= BACKEND_EXIT_GRACE_S and not self._sockets_closed:
            self._sockets_closed = True
            with self._lock:
                lingering = list(self._connections.values())
            for connection in lingering:
                _shutdown_socket(connection.sock)

    def _checkpoint_and_stop(self) -> None:
        self._transition(PostmasterState.SHUTDOWN)
        self._close_listeners()
        if self.engine is not None:
            log.info("shutting down")
            try:
                self._stop_standby_threads()
                self.engine.close()
            except Exception as error:  # reported; the files are removed anyway
                log.critical("shutdown checkpoint failed: %s", error, exc_info=True,
                             extra={"pg_level": "PANIC"})
                self.exit_code = 1
        self._drain_walsenders()
        self._finish()

    def _drain_walsenders(self) -> None:
        """After the shutdown checkpoint: every walsender streams the rest of the WAL (the
        checkpoint record included) and exits, so a cleanly stopped primary has nothing its
        standbys lack; then the postmaster waits for them as for any backend."""
        if not self._walsender_ids():
            return
        from mirrordb.replication.walsender import stop_walsenders
        if not stop_walsenders(self, WALSENDER_DRAIN_TIMEOUT_S):
            log.warning("walsenders did not finish streaming within %d s",
                        int(WALSENDER_DRAIN_TIMEOUT_S))
        deadline = time.monotonic() + WALSENDER_DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            with self._lock:
                if not self._connections:
                    return
            time.sleep(SHUTDOWN_POLL_INTERVAL_S)   # polling the registry with a deadline

    def _immediate_stop(self) -> None:
        """No checkpoint: let backends send their FATAL, drop the engine as a crash would."""
        self._terminate_backends(IMMEDIATE_SHUTDOWN_MESSAGE)
        self._close_listeners()
        deadline = time.monotonic() + IMMEDIATE_EXIT_GRACE_S
        while time.monotonic() < deadline:
            with self._lock:
                if not self._connections:
                    break
            time.sleep(0.01)
        with self._lock:
            lingering = list(self._connections.values())
        for connection in lingering:
            _shutdown_socket(connection.sock)
        if self.engine is not None:
            try:
                self._stop_standby_threads()
                self.engine.crash()
            except Exception:  # the next start recovers from the WAL
                log.exception("error while dropping the engine")
        self._finish()

    def _finish(self) -> None:
        self._cleanup_files()
        self._transition(PostmasterState.STOPPED)
        log.info("database system is shut down")

    def _close_listeners(self) -> None:
        for listener in self._listeners:
            try:
                listener.sock.close()
            except OSError:
                pass

    def _cleanup_files(self) -> None:
        self._close_listeners()
        for listener in self._listeners:
            if listener.is_unix:
                _unlink_quietly(listener.path)
            if listener.lock is not None:
                listener.lock.release()
        self._listeners = []
        if self._data_lock is not None:
            self._data_lock.release()
            self._data_lock = None

    def _transition(self, new_state: PostmasterState) -> None:
        invariant(new_state in _TRANSITIONS[self.state],
                  f"postmaster cannot go from {self.state.value} to {new_state.value}")
        self.state = new_state


# -- helpers -----------------------------------------------------------------------------------------

def split_list(text: str) -> list[str]:
    """A comma-separated setting (listen_addresses, unix_socket_directories), quotes removed."""
    items = []
    for raw in text.split(","):
        item = raw.strip()
        if len(item) >= 2 and item[0] == item[-1] == '"':
            item = item[1:-1].replace('""', '"')
        if item:
            items.append(item)
    return items


def _unique(infos: list[Any]) -> list[Any]:
    seen, unique = set(), []
    for info in infos:
        key = (info[0], info[4][0])
        if key not in seen:
            seen.add(key)
            unique.append(info)
    return unique


def _remove_stale_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, OSError):
        pass


def _shutdown_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def check_data_directory(datadir: str) -> None:
    """PostgreSQL's checks before touching a data directory."""
    if not os.path.isdir(datadir):
        raise MirrordbError(f'data directory "{datadir}" does not exist', sqlstate="58P01")
    mode = stat.S_IMODE(os.stat(datadir).st_mode)
    if mode & 0o027:
        raise MirrordbError(f'data directory "{datadir}" has invalid permissions',
                            detail="Permissions should be u=rwx (0700) or u=rwx,g=rx (0750).",
                            sqlstate="55000")
    version_file = os.path.join(datadir, "PG_VERSION")
    try:
        with open(version_file, encoding="utf-8") as handle:
            version = handle.read().strip()
    except FileNotFoundError:
        raise MirrordbError(f'"{datadir}" is not a valid data directory',
                            detail=f'File "{version_file}" is missing.',
                            sqlstate="55000") from None
    if version != PG_MAJOR_VERSION:
        raise MirrordbError("database files are incompatible with server",
                            detail=f"The data directory was initialized by PostgreSQL version "
                                   f"{version}, which is not compatible with this version "
                                   f"{SERVER_VERSION}.", sqlstate="55000")
    _check_catalog_files(datadir)


def _check_catalog_files(datadir: str) -> None:
    """Every system catalog this mirrordb has must have its file: a data directory made by an
    older mirrordb, before a catalog existed, is refused at start with the catalog named,
    instead of failing on the first statement that reads it."""
    from mirrordb.catalog import bootstrap as boot
    template1 = os.path.join(datadir, "base", str(boot.TEMPLATE1_DATABASE_OID))
    if not os.path.isdir(template1):
        raise _made_by_older_mirrordb(f'The template database directory "{template1}" is '
                                      "missing: the data directory was made by an older "
                                      "mirrordb, which had one database.")
    for catalog in boot.CATALOGS:
        rnode = catalog.rnode
        path = os.path.join(datadir, "global" if rnode.db == 0 else
                            os.path.join("base", str(rnode.db)), str(rnode.rel))
        if not os.path.exists(path):
            raise _made_by_older_mirrordb(f'The system catalog "{catalog.name}" (file "{path}") '
                                          "is missing: the data directory was made by an older "
                                          "mirrordb.")
        stored = _stored_column_count(path)
        if stored is not None and 0 < stored < len(catalog.columns):
            raise _made_by_older_mirrordb(f'The system catalog "{catalog.name}" has rows of '
                                          f"{stored} columns where this mirrordb has "
                                          f"{len(catalog.columns)}: the data directory was made "
                                          "by an older mirrordb.")


def _stored_column_count(path: str) -> int | None:
    """The attribute count (t_infomask2) of the first row on a catalog file's first page, or
    None when that page holds no row. Every row of a catalog is formed with all the columns the
    mirrordb that ran initdb had, so fewer than today's means an older catalog layout (a torn
    page can only show zeros here, which the caller ignores)."""
    from mirrordb.storage import page as pagelib
    from mirrordb.storage import tuple as tuplelib
    with open(path, "rb") as handle:
        page = handle.read(pagelib.BLCKSZ)
    if len(page) < pagelib.BLCKSZ or pagelib.is_new(page):
        return None
    for offnum in range(1, pagelib.max_offset(page) + 1):
        if pagelib.item_is_normal(page, offnum):
            item = pagelib.get_item(page, offnum)
            if len(item) < tuplelib.HEAP_TUPLE_HEADER_SIZE:
                return None
            infomask2 = int.from_bytes(item[tuplelib.INFOMASK2_OFFSET:
                                            tuplelib.INFOMASK2_OFFSET + 2], "little")
            return infomask2 & tuplelib.HEAP_NATTS_MASK
    return None


def _made_by_older_mirrordb(detail: str) -> MirrordbError:
    return MirrordbError("database files are incompatible with server", detail=detail,
                         hint="Run mirrordb initdb on a new data directory and load the data "
                              "there (pg_dump, then psql).", sqlstate="55000")


def server_command(datadir: str, overrides: dict[str, str]) -> list[str]:
    """The argument vector that runs this server in the foreground."""
    command = [sys.executable, "-m", "mirrordb.cli.main", "server", "-D", datadir]
    for name, value in overrides.items():
        command += ["-c", f"{name}={value}"]
    return command


def write_options_file(datadir: str, overrides: dict[str, str]) -> None:
    """postmaster.opts: the command line, each argument double-quoted (``mirrordb restart``
    starts the server again with it; ``mirrordb status`` prints it)."""
    command = server_command(datadir, overrides)
    program, arguments = command[:4], command[4:]
    line = " ".join(program) + "".join(f' "{argument}"' for argument in arguments)
    with open(os.path.join(datadir, pidfile.OPTIONS_FILE_NAME), "w", encoding="utf-8") as handle:
        handle.write(line + "\n")


def read_options_file(datadir: str) -> list[str] | None:
    """The quoted arguments of postmaster.opts (after the program), or None if absent."""
    try:
        with open(os.path.join(datadir, pidfile.OPTIONS_FILE_NAME), encoding="utf-8") as handle:
            line = handle.readline()
    except FileNotFoundError:
        return None
    quoted = line[line.find('"'):] if '"' in line else ""
    return shlex.split(quoted)


# -- logging in PostgreSQL's style ------------------------------------------------------------------------

_PYTHON_TO_PG_LEVEL = {logging.DEBUG: "DEBUG1", logging.INFO: "LOG", logging.WARNING: "WARNING",
                       logging.ERROR: "ERROR", logging.CRITICAL: "FATAL"}
_PG_LEVEL_RANK = {name: rank for rank, name in enumerate(
    ("DEBUG5", "DEBUG4", "DEBUG3", "DEBUG2", "DEBUG1", "INFO", "NOTICE", "WARNING", "ERROR",
     "LOG", "FATAL", "PANIC"))}
_PG_LEVEL_RANK.update({"DETAIL": -1, "HINT": -1, "CONTEXT": -1, "STATEMENT": -1})


def pg_level_of(record: logging.LogRecord) -> str:
    explicit = getattr(record, "pg_level", None)
    if explicit:
        return str(explicit)
    return _PYTHON_TO_PG_LEVEL.get(record.levelno, "LOG")


class PostgresLogFormatter(logging.Formatter):
    """``2024-01-01 12:00:00.123 UTC [12345] LOG:  message`` (log_line_prefix '%m [%p] ')."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        stamp = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"
        pid = getattr(record, "native_id", None) or os.getpid()
        text = f"{stamp} [{pid}] {pg_level_of(record)}:  {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _LevelFilter(logging.Filter):
    """Stamps the emitting thread's native id; applies log_min_messages."""

    def __init__(self, minimum: Callable[[], str]) -> None:
        super().__init__()
        self._minimum = minimum

    def filter(self, record: logging.LogRecord) -> bool:
        record.native_id = threading.get_native_id()
        level = pg_level_of(record)
        rank = _PG_LEVEL_RANK.get(level, _PG_LEVEL_RANK["LOG"])
        if rank < 0:  # DETAIL/HINT/CONTEXT lines follow their message
            return True
        return rank >= _PG_LEVEL_RANK.get(self._minimum().upper(), _PG_LEVEL_RANK["WARNING"])


def configure_server_logging(stream: TextIO,
                             minimum: Callable[[], str] = lambda: "warning") -> logging.Handler:
    """Send every ``mirrordb`` log record to ``stream`` in PostgreSQL's format."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PostgresLogFormatter())
    handler.addFilter(_LevelFilter(minimum))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return handler


def log_error(level: str, error: MirrordbError) -> None:
    """An error with its DETAIL and HINT lines, as PostgreSQL logs one."""
    python_level = logging.CRITICAL if level in ("FATAL", "PANIC") else logging.INFO
    log.log(python_level, "%s", error.message, extra={"pg_level": level})
    if error.detail:
        log.log(python_level, "%s", error.detail, extra={"pg_level": "DETAIL"})
    if error.hint:
        log.log(python_level, "%s", error.hint, extra={"pg_level": "HINT"})


def log_messages(messages: list[LogMessage]) -> None:
    for message in messages:
        log_error(message.level, MirrordbError(message.message, hint=message.hint,
                                               detail=message.detail))


def log_hba_errors(error: MirrordbError) -> None:
    """Every pg_hba.conf problem with its CONTEXT line (``HbaError.all_errors``)."""
    for each in getattr(error, "all_errors", (error,)):
        log_error("LOG", each)
        context = getattr(each, "context", None)
        if context:
            log.info("%s", context, extra={"pg_level": "CONTEXT"})
