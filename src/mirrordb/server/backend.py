"""The backend: one thread per client connection, from the startup packet to Terminate.

Who calls it: the postmaster (server/postmaster.py) starts ``serve_connection`` in a thread named
"backend" for every accepted socket. This is the only place where a client's socket, the protocol
state machine (protocol/server.py), authentication (auth/) and the SQL session (sql/session.py)
meet: bytes come in, the codec turns them into messages, messages become session calls, and
results become messages again.

Lifecycle: SSL/GSSENC negotiation and CancelRequest, then StartupMessage; admission
(max_connections, shutdown); pg_hba.conf and authentication; AuthenticationOk, ParameterStatus,
BackendKeyData, ReadyForQuery; then the command loop until Terminate, EOF, a protocol violation
or termination by the postmaster. Errors in a statement become an ErrorResponse and the
connection carries on; a protocol violation or a FATAL error ends only this connection.
Waiting for the client's next message wakes every ``IDLE_POLL_S`` so a fast shutdown or an
idle-in-transaction timeout reaches an idle connection.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import secrets
import select
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mirrordb.common.errors import (CommitNotAcknowledged, InvariantViolation, MirrordbError,
                                    ProtocolViolation)
from mirrordb.protocol import messages as m
from mirrordb.protocol.server import ServerConnection
from mirrordb.sql import types as T
from mirrordb.sql.planner import OutputColumn
from mirrordb.sql.session import Session, StatementResult

if TYPE_CHECKING:
    import ssl

log = logging.getLogger("mirrordb")

RECEIVE_BYTES = 256 * 1024
IDLE_POLL_S = 0.25
SSL_HANDSHAKE_TIMEOUT_S = 60.0
AUTHENTICATION_POLL_LIMIT = 240   # polls of IDLE_POLL_S before authentication_timeout at most
TID_OID = 27
RESULT_ENCODERS_CACHED = 256      # distinct result shapes whose encoders a backend keeps
ROW_DESCRIPTIONS_CACHED = 256     # encoded RowDescription messages a backend keeps
IDLE_STATES = {"I": "idle", "T": "idle in transaction", "E": "idle in transaction (aborted)"}
# result types whose text and binary output never depends on the session's TimeZone
ZONE_FREE_OUTPUT_TYPES = frozenset({T.INT2_OID, T.INT4_OID, T.INT8_OID, T.OID_OID, T.TEXT_OID,
                                    T.VARCHAR_OID, T.NAME_OID, T.BPCHAR_OID, T.BOOL_OID, TID_OID})

class Fatal(Exception):
    """Ends the connection after sending ``error`` (already a MirrordbError) as FATAL."""

    def __init__(self, error: MirrordbError) -> None:
        super().__init__(error.message)
        self.error = error


class ClientGone(Exception):
    """The client closed its end or the socket failed."""


def fatal(message: str, sqlstate: str, **kwargs: Any) -> Fatal:
    return Fatal(MirrordbError(message, sqlstate=sqlstate, **kwargs))


def serve_connection(server: Any, sock: socket.socket, peer_address: Any, is_unix: bool) -> None:
    """Serve one client connection until it ends (runs in the connection's own thread)."""
    backend = Backend(server, sock, peer_address, is_unix)
    try:
        backend.run()
    finally:
        backend.close()


class Backend:
    """One connection's loop; see the module docstring."""

    def __init__(self, server: Any, sock: socket.socket, peer_address: Any,
                 is_unix: bool) -> None:
        self.server = server
        self.sock = sock
        self.peer_address = peer_address
        self.is_unix = is_unix
        self.connection = ServerConnection()
        self.session: Session | None = None
        self.info: Any = None
        self.interrupts: Any = None
        self.pid = 0
        self.ssl = False
        self.admitted = False
        self.user = ""
        self.database = ""
        self.database_oid = 0          # 0: a physical replication connection (no database)
        self.skip_until_sync = False
        self.replication = False       # a walsender connection (replication=true)
        self._idle_timeout_armed = False
        self._nonblocking = False      # the session socket after _use_nonblocking_socket()
        self._in_hot_standby = False   # the session reported in_hot_standby = on
        # result encoders by (type OIDs, formats, time zone); RowDescription messages by the
        # column list they describe (kept, so its id() stays its own) and formats
        self._encoder_cache: dict[tuple[Any, ...], list[Callable[[Any], bytes]]] = {}
        self._row_description_cache: dict[int, tuple[Any, tuple[int, ...], bytes]] = {}
        self._row_descriptions_by_shape: dict[tuple[Any, ...], bytes] = {}

    # -- socket I/O -----------------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.connection.data_to_send()
        if not data:
            return
        if self._nonblocking:
            self._send_nonblocking(data)
            return
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ClientGone(str(exc)) from None

    def _send_nonblocking(self, data: bytes) -> None:
        """Send all of ``data`` on the session's non-blocking socket: one send() when the
        socket buffer has room (the common case: no poll), else wait until it has, however long
        the client takes to read, unless the backend is being terminated meanwhile."""
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                self._wait_writable()
                continue
            except OSError as exc:
                raise ClientGone(str(exc)) from None
            view = view[sent:]

    def _wait_writable(self) -> None:
        poller = select.poll()
        poller.register(self.sock, select.POLLOUT)
        while not poller.poll(int(IDLE_POLL_S * 1000)):
            if getattr(self.interrupts, "terminate_pending", False):
                raise ClientGone("terminated while the client was not reading")

    def _receive(self, idle: bool = False) -> None:
        """Read more bytes into the codec; an interrupt (shutdown, timeout) wakes the wait."""
        while True:
            if self.interrupts is not None and not (self.ssl and self._tls_pending()):
                if not self.interrupts.wait_readable(self.sock, IDLE_POLL_S):
                    self._check_idle_interrupts()
                    if self.interrupts.take_notify() and idle:
                        self._send_notifications(flush=True)
                    continue
            try:
                data = self.sock.recv(RECEIVE_BYTES)
            except (socket.timeout, TimeoutError):
                self._check_idle_interrupts()
                continue
            except (BlockingIOError, InterruptedError):
                continue   # non-blocking session socket: readable was a false alarm
            except OSError as exc:
                raise ClientGone(str(exc)) from None
            if not data:
                raise ClientGone("EOF")
            self.connection.receive_data(data)
            return

    def _use_nonblocking_socket(self) -> None:
        """A plain (not TLS) session socket goes non-blocking once the command loop starts:
        ``_receive`` already waits for input itself (``wait_readable``), so a socket timeout
        would only make every recv() and send() poll again first."""
        if self.ssl or self.interrupts is None:
            return
        self.sock.setblocking(False)
        self._nonblocking = True

    def _tls_pending(self) -> bool:
        pending = getattr(self.sock, "pending", None)
        return bool(pending()) if pending is not None else False

    def _check_idle_interrupts(self) -> None:
        if self.interrupts is None:
            return
        try:
            self.interrupts.check_for_interrupts()
        except MirrordbError as error:
            if error.sqlstate == "57014":
                return  # a cancel that arrives while idle is dropped, as in PostgreSQL
            raise Fatal(error) from None

    def _next_message(self) -> Any:
        while True:
            event = self.connection.next_event()
            if event is not None:
                return event
            self._flush()
            self._receive(idle=True)

    def close(self) -> None:
        try:
            self._flush()
        except ClientGone:
            pass
        if self.session is not None:
            try:
                self.session.terminate()
            except Exception:  # the connection is ending; log and release everything else
                log.exception("rollback at disconnect failed")
        slots = getattr(self.server, "slots", None)
        if self.pid and slots is not None:
            slots.release_all_for(self.pid)      # temporary slots die with their session
        if self.pid and hasattr(self.server, "unregister_backend"):
            self.server.unregister_backend(self.pid)
        if self.database_oid and hasattr(self.server, "detach_from_database"):
            self.server.detach_from_database()
        if self.admitted and hasattr(self.server, "release"):
            self.server.release(replication=self.replication)
        if self.interrupts is not None:
            self._unbind_interrupts()
        try:
            self.sock.close()
        except OSError:
            pass

    # -- the whole connection -------------------------------------------------------------------

    def run(self) -> None:
        self.sock.settimeout(IDLE_POLL_S)
        if not self.is_unix:
            try:   # replies are small and answer a request: never hold them back (Nagle)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        try:
            if not self._startup():
                return
            from mirrordb.server.interrupts import bind_interrupts
            with bind_interrupts(self.interrupts):
                if self.replication:
                    from mirrordb.replication.walsender import WalSender
                    threading.current_thread().name = "walsender"
                    WalSender(self).run()
                else:
                    self._use_nonblocking_socket()
                    self._command_loop()
        except ClientGone:
            return
        except Fatal as exc:
            if isinstance(exc.error, CommitNotAcknowledged):
                self.connection.data_to_send()   # e.g. "INSERT 0 1", queued before the commit
            self._send_pending_warnings()   # e.g. a terminated wait for synchronous replication
            self._send_error(exc.error, "FATAL")
            try:
                self._flush()
            except ClientGone:
                pass
        except MirrordbError as error:
            if error.sqlstate == "08P01":
                log.info("protocol violation from %s: %s", self._peer_text(), error.message)
            self._send_error(error, "FATAL")
            try:
                self._flush()
            except ClientGone:
                pass

    def _peer_text(self) -> str:
        if self.is_unix:
            return "[local]"
        return str(self.peer_address[0]) if isinstance(self.peer_address, tuple) else \
            str(self.peer_address)

    # -- startup and authentication -------------------------------------------------------------

    def _startup(self) -> bool:
        """Negotiate, authenticate and start the session; False if the connection is done."""
        while True:
            packet = self._next_message()
            if isinstance(packet, m.SSLRequest):
                self._answer_ssl()
                continue
            if isinstance(packet, m.GSSENCRequest):
                self.sock.sendall(self.connection.ssl_response(False))
                continue
            if isinstance(packet, m.CancelRequest):
                if hasattr(self.server, "cancel_backend"):
                    self.server.cancel_backend(packet.process_id, packet.secret_key)
                return False
            if isinstance(packet, m.StartupMessage):
                break
            raise fatal("expected startup packet", "08P01")
        parameters = dict(packet.parameters)
        negotiation = getattr(packet, "needs_negotiation", None)
        if negotiation is not None:
            self.connection.send(negotiation)
        self.user = parameters.get("user", "")
        if not self.user:
            raise fatal("no PostgreSQL user name specified in startup packet", "28000")
        self.database = parameters.get("database") or self.user
        replication = parameters.get("replication", "false").lower()
        if replication not in ("false", "off", "no", "0"):
            if replication != "database":
                return self._start_replication(parameters)
            raise fatal("logical replication is not supported", "0A000")
        self._admit()
        self._authenticate(is_replication=False)
        self._check_database_and_role()
        self._start_session(parameters)
        return True

    def _answer_ssl(self) -> None:
        context = server_ssl_context(self.server)
        if context is None or self.is_unix or self.ssl:
            self.sock.sendall(self.connection.ssl_response(False))
            return
        self.sock.sendall(self.connection.ssl_response(True))
        self.sock.settimeout(SSL_HANDSHAKE_TIMEOUT_S)
        try:
            self.sock = context.wrap_socket(self.sock, server_side=True)
        except (OSError, ValueError) as exc:
            raise ClientGone(f"could not accept SSL connection: {exc}") from None
        self.sock.settimeout(IDLE_POLL_S)
        self.ssl = True

    def _start_replication(self, parameters: dict[str, str]) -> bool:
        """A physical replication connection (``replication=true``): pg_hba.conf's
        ``replication`` lines, a role with REPLICATION (or a superuser), a max_wal_senders slot;
        then the walsender (replication/walsender.py) serves it in this thread."""
        self.replication = True
        self._admit()
        self._authenticate(is_replication=True)
        role = self._roles().get(self.user)
        if role is None:
            raise fatal(f'role "{self.user}" does not exist', "28000")
        if not role.get("rolcanlogin", True):
            raise fatal(f'role "{self.user}" is not permitted to log in', "28000")
        if not (role.get("rolreplication") or role.get("rolsuper")):
            raise fatal("must be superuser or replication role to start walsender", "42501")
        self._start_session(parameters)
        self.info.backend_type = "walsender"
        return True

    def _admit(self) -> None:
        if getattr(self.server, "shutting_down", False):
            raise fatal("the database system is shutting down", "57P03")
        admit = getattr(self.server, "admit", None)
        if admit is not None:
            if not admit(replication=self.replication):
                raise fatal("sorry, too many clients already", "53300")
            self.admitted = True

    def _roles(self) -> dict[str, dict[str, Any]]:
        """pg_authid as name -> row (read with a fresh snapshot: roles change at commit)."""
        from mirrordb.catalog import bootstrap as boot
        names = [c.name for c in boot.PG_AUTHID.columns]
        engine = self.server.engine
        return {str(values[1]): dict(zip(names, values))
                for _, values in engine.relcache.rows(boot.PG_AUTHID, None)}

    def _authenticate(self, is_replication: bool) -> None:
        from mirrordb.auth import hba
        rules = self.server.hba
        address = None
        if not self.is_unix and isinstance(self.peer_address, tuple):
            address = ipaddress.ip_address(self.peer_address[0].split("%")[0])
        rule = hba.match_hba(rules, conn_type="local" if self.is_unix else "host", ssl=self.ssl,
                             gss=False, database=self.database, user=self.user,
                             address=address, is_replication=is_replication,
                             user_roles=frozenset([self.user]) if self.user in self._roles()
                             else frozenset())
        if rule is None:
            raise fatal(hba.no_match_message(address=address, user=self.user,
                                             database=self.database, ssl=self.ssl,
                                             is_replication=is_replication), "28000")
        method = rule.method
        role = self._roles().get(self.user)
        stored = role.get("rolpassword") if role else None
        if method == "reject":
            raise fatal(hba.reject_message(address=address, user=self.user,
                                           database=self.database, ssl=self.ssl,
                                           is_replication=is_replication), "28000")
        if method == "trust":
            self.connection.authentication_done()
            return
        from mirrordb.auth import md5 as md5lib
        effective = md5lib.effective_method(
            method, stored,
            password_encryption=str(self.server.settings.get("password_encryption")))
        self.connection.start_authentication(sasl=effective == "scram-sha-256")
        failed = fatal(f'password authentication failed for user "{self.user}"', "28P01")
        if effective == "password":
            self.connection.send(m.AuthenticationCleartextPassword())
            password = m.decode_password(self._password_message())
            if not stored or not md5lib.password_check(stored, self.user, password):
                raise failed
        elif effective == "md5":
            salt = secrets.token_bytes(4)
            self.connection.send(m.AuthenticationMD5Password(salt))
            response = m.decode_password(self._password_message())
            if not stored or not md5lib.md5_check(stored, self.user, salt, response):
                raise failed
        else:
            self._scram(stored)   # rolcanlogin is checked after authentication, as in PostgreSQL
        self.connection.authentication_done()

    def _scram(self, stored: str | None) -> None:
        from mirrordb.auth import scram
        self.connection.send(m.AuthenticationSASL(("SCRAM-SHA-256",)))
        mechanism, first = m.decode_sasl_initial_response(self._password_message())
        if mechanism != "SCRAM-SHA-256":
            raise fatal("client selected an invalid SASL authentication mechanism", "08P01")
        if first is None:
            self.connection.send(m.AuthenticationSASLContinue(b""))
            first = self._password_message()
        verifier = stored if stored and scram.is_scram_verifier(stored) else None
        exchange = scram.ScramServerExchange(self.user, verifier,
                                             mock_nonce=mock_authentication_nonce(self.server))
        try:
            self.connection.send(m.AuthenticationSASLContinue(exchange.server_first(first)))
            final = exchange.server_final(self._password_message())
        except MirrordbError as error:
            raise Fatal(error) from None
        self.connection.send(m.AuthenticationSASLFinal(final))

    def _password_message(self) -> bytes:
        self._flush()
        message = self._next_message()
        if not isinstance(message, m.PasswordMessage):
            raise fatal("expected password response, got message type "
                        f"{type(message).__name__}", "08P01")
        return message.data

    def _check_database_and_role(self) -> None:
        role = self._roles().get(self.user)
        if role is None:
            raise fatal(f'role "{self.user}" does not exist', "28000")
        if not role.get("rolcanlogin", True):
            raise fatal(f'role "{self.user}" is not permitted to log in', "28000")
        self.database_oid = self._find_database()

    def _find_database(self) -> int:
        """The OID of the database the client asked for, if it may connect to it now (the
        server lists it as connected from here on: ``Server.attach_to_database``)."""
        from mirrordb.catalog import bootstrap as boot
        names = [c.name for c in boot.PG_DATABASE.columns]
        rows = {str(values[1]): dict(zip(names, values)) for _, values in
                self.server.engine.relcache.rows(boot.PG_DATABASE, None)}
        row = rows.get(self.database)
        if row is None:
            raise fatal(f'database "{self.database}" does not exist', "3D000")
        if not row["datallowconn"]:
            raise fatal(f'database "{self.database}" is not currently accepting connections',
                        "55000")
        self._check_connect_privilege(row)
        oid = int(row["oid"])
        attach = getattr(self.server, "attach_to_database", None)
        if attach is not None and not attach(oid):
            raise fatal(f'database "{self.database}" does not exist',  "3D000",
                        detail="It seems to have just been dropped or renamed.")
        self._check_database_connection_limit(oid, int(row["datconnlimit"]))
        return oid

    def _check_connect_privilege(self, row: dict[str, Any]) -> None:
        """CONNECT on the database, as its datacl grants it (superusers need none)."""
        from mirrordb.sql.database_privileges import connect_denied
        known = self._roles()
        role = known.get(self.user, {})
        owner = next((name for name, fields in known.items()
                      if fields.get("oid") == row["datdba"]), str(row["datdba"]))
        if connect_denied(self.user, bool(role.get("rolsuper")), row["datacl"], owner):
            raise fatal(f'permission denied for database "{self.database}"', "42501",
                        detail="User does not have CONNECT privilege.")

    def _check_database_connection_limit(self, oid: int, limit: int) -> None:
        """datconnlimit: a non-superuser may not be one session too many (this one counted,
        as PostgreSQL's CountDBConnections counts it)."""
        if limit < 0 or self._roles().get(self.user, {}).get("rolsuper"):
            return
        users = getattr(self.server, "database_users", None)
        if users is not None and int(users(oid)) + 1 > limit:
            self.server.detach_from_database()
            raise fatal(f'too many connections for database "{self.database}"', "53300")

    def _start_session(self, parameters: dict[str, str]) -> None:
        from mirrordb.server import config as configlib
        from mirrordb.server import interrupts as interruptlib
        role = self._roles().get(self.user, {})
        superuser = bool(role.get("rolsuper"))
        settings = configlib.SessionSettings(self.server.settings, superuser=superuser)
        options = {name: value for name, value in parameters.items()
                   if name not in ("user", "database", "options", "replication")}
        options.update(_options_settings(parameters.get("options", "")))
        settings.apply_startup_options(options)
        settings.set_session_user(self.user, superuser)
        warnings = [] if self.replication else self._apply_role_settings(settings, role)
        self.interrupts = interruptlib.InterruptState(interruptlib.shared_timers())
        self.info = interruptlib_backend_info(self, parameters)
        self.pid, secret_key = self.server.register_backend(self.info)
        self.info.pid = self.pid
        self.info.database_oid = self.database_oid
        self.info.user_oid = int(role.get("oid", 0))
        engine = self.server.engine
        if self.database_oid and hasattr(engine, "database"):
            engine = engine.database(self.database_oid)
        self.session = Session(engine, self.user, self.database, settings,
                               self.server, self.info, self.interrupts.check_for_interrupts)
        self.session.process_id = self.pid
        self._in_hot_standby = bool(settings.get("in_hot_standby"))
        start_autovacuum = getattr(self.server.engine, "start_autovacuum", None)
        if start_autovacuum is not None:   # the launcher runs once the server serves sessions
            start_autovacuum()
        self.connection.send(m.AuthenticationOk())
        self._send_notices(warnings)
        for name, value in settings.startup_reports():
            self.connection.send(m.ParameterStatus(name, value))
        self.connection.send(m.BackendKeyData(self.pid, secret_key))
        self._ready()

    def _apply_role_settings(self, settings: Any, role: dict[str, Any]) -> list[MirrordbError]:
        """The role's and database's stored defaults (ALTER ROLE/DATABASE ... SET,
        sql/role_settings.py), below the start-up packet's options; what no longer applies
        comes back as warnings for the client. A physical replication connection has none,
        as in PostgreSQL."""
        from mirrordb.sql import role_settings
        if "oid" not in role:
            return []
        entries = role_settings.connection_settings(self.server.engine, self.database,
                                                    int(role["oid"]))
        return settings.apply_role_settings(entries) if entries else []

    def _unbind_interrupts(self) -> None:
        self.interrupts.close()

    # -- the command loop -----------------------------------------------------------------------

    def _ready(self) -> None:
        assert self.session is not None
        self._send_pending_warnings()   # from a commit at the end of the message or at Sync
        if self._in_hot_standby:
            self._leave_hot_standby_if_promoted()
        self._report_setting_changes()
        self._send_notifications(flush=False)
        status = self.session.transaction_status
        self.connection.send_raw(m.READY_FOR_QUERY[status])
        if self.info is not None:
            self.info.state = IDLE_STATES[status]
            self.info.state_change = datetime.datetime.now(datetime.timezone.utc)
            if status != "I":
                self._arm_idle_timeout()
        self._flush()

    def _send_notifications(self, flush: bool) -> None:
        """NotificationResponse for each notification the session may take now (it listens
        and is idle outside a transaction: sql/notify.py), as PostgreSQL sends them before
        ReadyForQuery or while waiting for the next command."""
        assert self.session is not None
        for notification in self.session.take_notifications():
            self.connection.send(m.NotificationResponse(notification.pid, notification.channel,
                                                        notification.payload))
        if flush:
            self._flush()

    def _leave_hot_standby_if_promoted(self) -> None:
        """The server was promoted (recovery/promote.py): in_hot_standby goes off, reported
        with this ReadyForQuery (PostgreSQL's ReportChangedGUCOptions does the same)."""
        assert self.session is not None
        engine = self.server.engine
        if engine is None or engine.in_recovery():
            return
        self._in_hot_standby = False
        self.session.settings.set_internal("in_hot_standby", "off")

    def _arm_idle_timeout(self) -> None:
        assert self.session is not None
        arm = getattr(self.interrupts, "arm_idle_in_transaction_timeout", None)
        timeout = int(self.session.settings.get("idle_in_transaction_session_timeout"))
        if arm is not None and timeout > 0:
            arm(timeout)
            self._idle_timeout_armed = True

    def _disarm_idle_timeout(self) -> None:
        if not self._idle_timeout_armed:
            return
        self._idle_timeout_armed = False
        disarm = getattr(self.interrupts, "disarm_idle_in_transaction_timeout", None)
        if disarm is not None:
            disarm()

    def _report_setting_changes(self) -> None:
        assert self.session is not None
        changes = getattr(self.session.settings, "reported_changes", None)
        if changes is None:
            return
        for name, value in changes():
            self.connection.send(m.ParameterStatus(name, value))
        interrupts = self.interrupts
        if interrupts is not None and getattr(interrupts, "cancel_pending", True):
            interrupts.clear_cancel()

    def _command_loop(self) -> None:
        while True:
            try:
                message = self._next_message()
            except ProtocolViolation as violation:
                if violation.fatal:
                    raise
                # one well-formed message with a bad body: ERROR, and in the extended protocol
                # skip to Sync, as PostgreSQL does; the connection carries on
                self._after_error()
                self._send_error(violation, "ERROR")
                if violation.message_type not in (None, ord("Q")):
                    self.skip_until_sync = True
                else:
                    self._ready()
                continue
            self._disarm_idle_timeout()
            if self.session is not None:
                self.session.settings.refresh(self.server.settings)
            if isinstance(message, m.Terminate):
                return
            if self.skip_until_sync and not isinstance(message, m.Sync):
                continue
            handler = self.HANDLERS.get(type(message))
            if handler is None:
                raise fatal(f"unexpected message type {type(message).__name__}", "08P01")
            handler(self, message)

    def _run_guarded(self, action: Callable[[], None], extended: bool,
                     timed: bool = True) -> bool:
        """Run one statement-level action; an error is reported and the transaction marked.
        ``timed``: under statement_timeout (Describe and Sync are not: they run no statement,
        and a commit holds interrupts off anyway)."""
        assert self.session is not None
        timeout_armed = timed and self._arm_statement_timeout()
        try:
            action()
            return True
        except MirrordbError as error:
            if error.sqlstate in ("57P01", "25P03", "57P02"):
                raise Fatal(error) from None
            if error.sqlstate == "08P01":
                raise
            self._statement_failed(error, extended)
            return False
        except (ClientGone, Fatal, InvariantViolation):
            raise    # a broken invariant stops the whole server (the postmaster's PANIC path)
        except RecursionError:
            self._statement_failed(MirrordbError("stack depth limit exceeded",
                                                 sqlstate="54001"), extended)
            return False
        except Exception as exc:  # a bug: report it as PostgreSQL reports internal errors
            log.error("internal error: %s\n%s", exc, traceback.format_exc())
            self._statement_failed(MirrordbError(f"internal error: {exc}", sqlstate="XX000"),
                                   extended)
            return False
        finally:
            if timeout_armed:
                self._disarm_statement_timeout()
            if self.info is not None:
                self.info.wait_event_type = self.info.wait_event = None

    def _statement_failed(self, error: MirrordbError, extended: bool) -> None:
        self._after_error()
        self._send_error(error, "ERROR")
        if extended:
            self.skip_until_sync = True

    def _after_error(self) -> None:
        """What an ERROR does to the session besides aborting its transaction: as PostgreSQL
        15's error recovery, it drops the temporary replication slots the session created (a
        ROLLBACK does not)."""
        assert self.session is not None
        self.session.on_error()
        slots = getattr(self.server, "slots", None)
        if self.pid and slots is not None:
            slots.drop_temporary_of(self.pid)

    def _arm_statement_timeout(self) -> bool:
        """Start statement_timeout's timer if it is set; True if it was started."""
        assert self.session is not None
        arm = getattr(self.interrupts, "arm_statement_timeout", None)
        timeout = int(self.session.settings.get("statement_timeout"))
        if arm is None or timeout <= 0:
            return False
        arm(timeout)
        return True

    def _disarm_statement_timeout(self) -> None:
        disarm = getattr(self.interrupts, "disarm_statement_timeout", None)
        if disarm is not None:
            disarm()

    def _send_error(self, error: MirrordbError, severity: str) -> None:
        self.connection.send(m.error_from_exception(error, severity))

    def _send_pending_warnings(self) -> None:
        warnings = getattr(self.session, "pending_warnings", None)
        if warnings:
            self._send_notices(warnings)
            warnings.clear()

    def _send_notices(self, notices: Iterable[Any]) -> None:
        for notice in notices:
            if isinstance(notice, MirrordbError):   # a WARNING with its own SQLSTATE and DETAIL
                self.connection.send(m.NoticeResponse(m.error_fields(
                    "WARNING", notice.sqlstate, notice.message, detail=notice.detail,
                    hint=notice.hint)))
                continue
            if isinstance(notice, tuple) and len(notice) == 3:   # (severity, text, DETAIL)
                severity, text, detail = notice
                self.connection.send(m.NoticeResponse(m.error_fields(severity, "00000", text,
                                                                     detail=detail)))
                continue
            severity, text = ("NOTICE", notice) if isinstance(notice, str) else notice
            code = "01000" if severity == "WARNING" else "00000"
            if text.startswith("there is") or "skipping" in text:
                code = "25001" if "already" in text else "25P01" if "no transaction" in text \
                    else "00000"
            lines = text.split("\n", 1)
            fields = m.error_fields(severity, code, lines[0],
                                    detail=lines[1] if len(lines) > 1 and severity != "INFO"
                                    else None)
            if severity == "INFO" and len(lines) > 1:
                fields = m.error_fields(severity, code, text)
            self.connection.send(m.NoticeResponse(fields))

    # simple query

    def _on_query(self, message: m.Query) -> None:
        session = self.session
        assert session is not None
        if self.info is not None:
            self.info.query = message.sql
            self.info.query_start = datetime.datetime.now(datetime.timezone.utc)
            self.info.state = "active"
        results = session.simple_query(message.sql)
        any_statement = failed = False

        def next_result() -> StatementResult | None:
            return next(results, None)

        while True:
            holder: list[StatementResult | None] = []
            if not self._run_guarded(lambda: holder.append(next_result()), extended=False):
                failed = True
                break
            result = holder[0]
            if result is None:
                break
            any_statement = True
            if not self._run_guarded(lambda: self._send_result(result, [], None, True),
                                     extended=False):
                break
        if not any_statement and not failed:   # nothing but white space, ";" or comments
            self.connection.send_raw(m.EMPTY_QUERY_RESPONSE)
        self._run_guarded(session.end_implicit, extended=False)
        self._ready()

    def _send_result(self, result: StatementResult, formats: Sequence[int],
                     rows: Sequence[Any] | None, describe: bool, finished: bool = True) -> None:
        """RowDescription (if asked), DataRows, notices and the completion message."""
        assert self.session is not None
        if result.command == "EMPTY":
            self.connection.send_raw(m.EMPTY_QUERY_RESPONSE)
            return
        if result.copy_in is not None:
            self._copy_in(result)
            return
        if result.copy_out is not None:
            self._copy_out(result)
            return
        if result.notices:
            self._send_notices(result.notices)
        if self.session.pending_warnings:
            self._send_notices(self.session.pending_warnings)
            self.session.pending_warnings.clear()
        sent = 0
        if result.columns is not None:
            encoders = self._encoders(result.columns, formats)
            if describe:
                self._send_row_description(result.columns, formats)
            source = result.rows if rows is None else rows
            send_raw = self.connection.send_raw
            encode_row = m.encode_data_row
            check = self.interrupts.check_for_interrupts if self.interrupts else None
            for row in source:
                send_raw(encode_row([None if v is None else enc(v)
                                     for v, enc in zip(row, encoders)]))
                sent += 1
                if sent % 1024 == 0:
                    self._flush()
                    if check is not None:
                        check()
        if self.session.pending_warnings:    # raised while the rows were made (RAISE NOTICE)
            self._send_notices(self.session.pending_warnings)
            self.session.pending_warnings.clear()
        if finished:
            total = sent if rows is None else self._portal_total(sent)
            self.connection.send_raw(m.encode_command_complete(result.tag(total)))
        else:
            self.connection.send_raw(m.PORTAL_SUSPENDED)

    def _copy_in(self, result: StatementResult) -> None:
        """COPY FROM STDIN: take CopyData until CopyDone (or CopyFail) from the client."""
        self.connection.send(m.CopyInResponse(0, (0,) * result.copy_columns))
        self.connection.start_copy_in()
        self._flush()
        copy_in = result.copy_in
        try:
            while True:
                message = self._next_message()
                if isinstance(message, m.CopyData):
                    copy_in.feed(message.data)
                elif isinstance(message, m.CopyDone):
                    break
                elif isinstance(message, m.CopyFail):
                    raise MirrordbError(f"COPY from stdin failed: {message.message}",
                                        sqlstate="57014")
                # Flush and Sync inside COPY are tolerated, as PostgreSQL does
            count = copy_in.finish()
        finally:
            self.connection.end_copy_in()
        self.connection.send_raw(m.encode_command_complete(f"COPY {count}"))

    def _copy_out(self, result: StatementResult) -> None:
        """COPY TO STDOUT: CopyOutResponse, one CopyData per row, CopyDone."""
        self.connection.send(m.CopyOutResponse(0, (0,) * result.copy_columns))
        sent = 0
        for line in result.copy_out:
            self.connection.send(m.CopyData(line))
            sent += 1
            if sent % 1024 == 0:
                self._flush()
                if self.interrupts is not None:
                    self.interrupts.check_for_interrupts()
        self.connection.send(m.CopyDone())
        self.connection.send_raw(m.encode_command_complete(result.tag(sent)))

    def _portal_total(self, sent: int) -> int:
        return self._current_portal_sent if self._current_portal_sent is not None else sent

    _current_portal_sent: int | None = None

    def _encoders(self, columns: list[OutputColumn], formats: Sequence[int]
                  ) -> list[Callable[[Any], bytes]]:
        assert self.session is not None
        types = tuple(column.type_oid for column in columns)
        zone_free = all(oid in ZONE_FREE_OUTPUT_TYPES for oid in types)
        timezone = "UTC" if zone_free else self.session.timezone
        key = (types, tuple(formats), timezone)
        encoders = self._encoder_cache.get(key)
        if encoders is not None:
            return encoders
        encoders = []
        for i, column in enumerate(columns):
            fmt = formats[i] if len(formats) > 1 else (formats[0] if formats else 0)
            oid = column.type_oid
            if fmt == 1:
                encoders.append(_binary_encoder(oid))
            else:
                encoders.append(_text_encoder(oid, timezone))
        if len(self._encoder_cache) >= RESULT_ENCODERS_CACHED:
            self._encoder_cache.clear()
        self._encoder_cache[key] = encoders
        return encoders

    def _send_row_description(self, columns: list[OutputColumn], formats: Sequence[int]
                              ) -> None:
        """RowDescription, encoded once per column list (a prepared statement's) and formats,
        or once per column shape (the new column list of every simple query)."""
        cached = self._row_description_cache.get(id(columns))
        formats_key = tuple(formats)
        if cached is None or cached[0] is not columns or cached[1] != formats_key:
            shape = (tuple((c.name, c.type_oid, c.typmod, c.table_oid, c.attnum)
                           for c in columns), formats_key)
            encoded = self._row_descriptions_by_shape.get(shape)
            if encoded is None:
                encoded = self._row_description(columns, formats).encode()
                if len(self._row_descriptions_by_shape) >= ROW_DESCRIPTIONS_CACHED:
                    self._row_descriptions_by_shape.clear()
                self._row_descriptions_by_shape[shape] = encoded
            if len(self._row_description_cache) >= ROW_DESCRIPTIONS_CACHED:
                self._row_description_cache.clear()
            cached = (columns, formats_key, encoded)
            self._row_description_cache[id(columns)] = cached
        self.connection.send_raw(cached[2])

    @staticmethod
    def _row_description(columns: list[OutputColumn], formats: Sequence[int]
                         ) -> m.RowDescription:
        fields = []
        for i, column in enumerate(columns):
            fmt = formats[i] if len(formats) > 1 else (formats[0] if formats else 0)
            info = T.TYPES.get(column.type_oid)
            size = info.length if info is not None else -1
            # a domain's column is described as its base type's, as PostgreSQL does
            fields.append(m.FieldDescription(column.name, column.table_oid, column.attnum,
                                             T.base_type(column.type_oid), size,
                                             column.typmod, fmt))
        return m.RowDescription(tuple(fields))

    # extended query

    def _on_parse(self, message: m.Parse) -> None:
        assert self.session is not None
        session = self.session

        def parse() -> None:
            session.parse_message(message.statement, message.query, message.param_type_oids)
            self.connection.send_raw(m.PARSE_COMPLETE)
        self._run_guarded(parse, extended=True)

    def _on_bind(self, message: m.Bind) -> None:
        assert self.session is not None
        session = self.session

        def bind() -> None:
            session.bind(message.portal, message.statement, message.param_formats,
                         message.params, message.result_formats)
            self.connection.send_raw(m.BIND_COMPLETE)
        self._run_guarded(bind, extended=True)

    def _on_describe(self, message: m.Describe) -> None:
        assert self.session is not None
        session = self.session

        def describe() -> None:
            if message.kind == "S":
                prepared = session.describe_statement(message.name)
                self.connection.send(m.ParameterDescription(tuple(prepared.param_types)))
                columns = prepared.columns
                formats: Sequence[int] = ()
            else:
                portal = session.portals.get(message.name)
                if portal is None:
                    raise MirrordbError(f'portal "{message.name}" does not exist',
                                        sqlstate="34000")
                columns = session.portal_columns(portal)
                formats = portal.result_formats
            if columns is None:
                self.connection.send_raw(m.NO_DATA)
            else:
                self._send_row_description(columns, formats)
        self._run_guarded(describe, extended=True, timed=False)

    def _on_execute(self, message: m.Execute) -> None:
        assert self.session is not None
        session = self.session
        if self.info is not None:
            self.info.state = "active"

        def execute() -> None:
            portal = session.portals.get(message.portal)
            result, rows, finished = session.execute_portal(message.portal, message.max_rows)
            formats = portal.result_formats if portal is not None else []
            self._current_portal_sent = portal.sent if portal is not None else len(rows)
            try:
                self._send_result(result, formats, rows, describe=False, finished=finished)
            finally:
                self._current_portal_sent = None
        self._run_guarded(execute, extended=True)

    def _on_sync(self, message: m.Sync) -> None:
        assert self.session is not None
        self.skip_until_sync = False
        self._run_guarded(self.session.sync, extended=False, timed=False)
        self._ready()

    def _on_flush(self, message: m.Flush) -> None:
        self._flush()

    def _on_close(self, message: m.Close) -> None:
        assert self.session is not None
        session = self.session

        def close() -> None:
            if message.kind == "S":
                session.close_statement(message.name)
            else:
                session.close_portal(message.name)
            self.connection.send_raw(m.CLOSE_COMPLETE)
        self._run_guarded(close, extended=True)

    def _on_function_call(self, message: Any) -> None:
        self._run_guarded(lambda: (_ for _ in ()).throw(MirrordbError(
            "fastpath function calls are not supported", sqlstate="0A000")), extended=True)

    def _on_copy_outside(self, message: Any) -> None:
        pass  # CopyData/CopyDone/CopyFail outside COPY are ignored, as PostgreSQL does

    HANDLERS: dict[type, Callable[[Backend, Any], None]] = {
        m.Query: _on_query, m.Parse: _on_parse, m.Bind: _on_bind, m.Describe: _on_describe,
        m.Execute: _on_execute, m.Sync: _on_sync, m.Flush: _on_flush, m.Close: _on_close,
        m.CopyData: _on_copy_outside, m.CopyDone: _on_copy_outside,
        m.CopyFail: _on_copy_outside,
    }


def mock_authentication_nonce(server: Any) -> bytes:
    """pg_control's mock_authentication_nonce, read once per server and cached on it: the SCRAM
    mock exchange for unknown roles derives its fake salt from it, so the salt is the same
    across connections, restarts and standbys (as PostgreSQL's is)."""
    nonce = getattr(server, "mock_authentication_nonce", None)
    if nonce is None:
        engine = getattr(server, "engine", None)
        control = getattr(engine, "control", None)
        if control is None:
            from mirrordb.storage.control import read_control_file
            control = read_control_file(server.datadir)
        nonce = bytes(control.mock_authentication_nonce)
        server.mock_authentication_nonce = nonce
    return nonce


_ssl_lock = threading.Lock()


def server_ssl_context(server: Any) -> ssl.SSLContext | None:
    """The TLS context for ``ssl = on`` (None when off or unusable), built from ssl_cert_file and
    ssl_key_file (relative to the data directory) and rebuilt when a reload changes them."""
    settings = server.settings
    if not settings.get("ssl"):
        return None
    paths = tuple(os.path.join(server.datadir, str(settings.get(name)))
                  for name in ("ssl_cert_file", "ssl_key_file"))
    with _ssl_lock:
        cached = getattr(server, "_mirrordb_ssl_context", None)
        if cached is not None and cached[0] == paths:
            return cached[1]
        import ssl   # only a server with ssl = on pays for the module's import
        context: ssl.SSLContext | None = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(paths[0], paths[1])
        except (OSError, ssl.SSLError) as exc:
            log.error('could not load server certificate file "%s": %s', paths[0], exc)
            context = None
        server._mirrordb_ssl_context = (paths, context)
        return context


def _text_encoder(oid: int, timezone: str) -> Callable[[Any], bytes]:
    if oid in (T.INT2_OID, T.INT4_OID, T.INT8_OID, T.OID_OID):
        return lambda v: str(v).encode()
    if oid in (T.TEXT_OID, T.VARCHAR_OID, T.NAME_OID, T.BPCHAR_OID, T.UNKNOWN_OID):
        return lambda v: v.encode() if isinstance(v, str) else \
            T.format_text(oid, v, timezone=timezone).encode()
    if oid == T.BOOL_OID:
        return lambda v: b"t" if v else b"f"
    if oid == TID_OID:
        return lambda v: f"({v[0]},{v[1]})".encode()
    format_text = T.format_text
    return lambda v: format_text(oid, v, timezone=timezone).encode()


def _binary_encoder(oid: int) -> Callable[[Any], bytes]:
    if oid == TID_OID:
        import struct
        layout = struct.Struct("!IH")
        return lambda v: layout.pack(v[0], v[1])
    format_binary = T.format_binary
    return lambda v: format_binary(oid, v)


def _options_settings(options: str) -> dict[str, str]:
    """``-c name=value`` and ``--name=value`` pairs from the startup ``options`` parameter."""
    words = options.split()
    settings = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-c" and i + 1 < len(words):
            word, i = words[i + 1], i + 1
            name, _, value = word.partition("=")
            settings.append((name, value))
        elif word.startswith("-c") and "=" in word:
            name, _, value = word[2:].partition("=")
            settings.append((name, value))
        elif word.startswith("--") and "=" in word:
            name, _, value = word[2:].partition("=")
            settings.append((name.replace("-", "_"), value))
        i += 1
    return dict(settings)


def interruptlib_backend_info(backend: Backend, parameters: dict[str, str]) -> Any:
    from mirrordb.server import postmaster
    now = datetime.datetime.now(datetime.timezone.utc)
    address = backend.peer_address if isinstance(backend.peer_address, tuple) else None
    local = _local_address(backend)
    return postmaster.BackendInfo(
        pid=0, user=backend.user, database=backend.database,
        application_name=parameters.get("application_name", ""),
        client_addr=None if address is None else address[0],
        client_port=-1 if address is None else address[1],
        server_addr=None if local is None else local[0],
        server_port=None if local is None else local[1],
        ssl=_ssl_status(backend), backend_start=now, state="idle",
        interrupts=backend.interrupts)


def _local_address(backend: Backend) -> tuple[str, int] | None:
    """(address, port) of the server's end of a TCP connection; None over a Unix socket."""
    if backend.is_unix:
        return None
    try:
        local = backend.sock.getsockname()
    except OSError:
        return None
    return (str(local[0]), int(local[1])) if isinstance(local, tuple) else None


def _ssl_status(backend: Backend) -> Any:
    """The TLS session of an encrypted connection (pg_stat_ssl), None for a plain one."""
    from mirrordb.server import postmaster
    if not backend.ssl:
        return None
    version = backend.sock.version()  # type: ignore[attr-defined]
    cipher = backend.sock.cipher()    # type: ignore[attr-defined]
    if version is None or cipher is None:
        return None
    name, _, secret_bits = cipher
    return postmaster.SslStatus(version, name, int(secret_bits))


__all__ = ["serve_connection", "Backend", "threading"]
