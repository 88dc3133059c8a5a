"""Functions that need the session or the server: sequences, settings, backends, set-returning.

Who calls it: the planner, through ``Session.special_function`` before ordinary function
resolution (sql/functions.py holds the pure ones). Each entry compiles to an ``Expr`` whose closure
reaches the session through ``ctx.session``; none of them is constant-folded, since their results
depend on state (nextval), time (pg_sleep) or other connections (pg_cancel_backend).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

from mirrordb.access.relation import RELKIND_SEQUENCE
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import (advisory_functions, catalog_functions, notify, read_only,
                          replication_functions, roles, schemas)
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (BOOL, INT4, INT8, TEXT, UNKNOWN, ExecContext, Expr, Row,
                                      check_arity, coerce)

PG_SLEEP_SLICE_S = 0.05
SERVER_VERSION_TEXT = ("PostgreSQL 15.0 (mirrordb 0.1.0) on x86_64-pc-linux-gnu, "
                       "compiled by CPython 3.11, 64-bit")
REGCLASS_OID = 2205


def _text_arg(builder: Any, expr: Expr) -> Expr:
    if expr.type_oid == REGCLASS_OID or expr.type_oid == UNKNOWN or expr.type_oid not in T.TYPES:
        return coerce(builder, expr, TEXT) if expr.type_oid == UNKNOWN else expr
    return coerce(builder, expr, TEXT, context="explicit") if expr.type_oid != TEXT else expr


def _sequence(value: Any, ctx: ExecContext) -> Any:
    """The relation a sequence function's argument names: a regclass OID, or a text name
    resolved as regclass input (qualified: that schema only; else the search path)."""
    if isinstance(value, int):
        found = ctx.txn.find(value)
        if found is None:
            raise MirrordbError(f"could not open relation with OID {value}", sqlstate="XX000")
        if found.kind != RELKIND_SEQUENCE:
            raise MirrordbError(f'"{found.name}" is not a sequence', sqlstate="42809")
        return found
    text = str(value)
    parts = catalog_functions.parse_qualified_name(text)
    schema = parts[-2] if len(parts) > 1 else None
    if schema is not None and schema not in schemas.namespaces(ctx.session):
        raise schemas.schema_missing(schema)
    namespace = schemas.relation_namespace(ctx.session, ctx.txn, parts[-1], schema)
    found = None if namespace is None else ctx.txn.find((namespace, parts[-1]))
    if found is None:
        raise MirrordbError(f'relation "{text.strip()}" does not exist', sqlstate="42P01")
    if found.kind != RELKIND_SEQUENCE:
        raise MirrordbError(f'"{found.name}" is not a sequence', sqlstate="42809")
    return found


def _sequence_of(builder: Any, argument: Expr) -> Callable[[Row, ExecContext], Any]:
    """The sequence a sequence function's first argument names, at run time. A string literal
    is a regclass constant to PostgreSQL, looked up while parsing: its lookup errors point at
    the literal."""
    arg = _text_arg(builder, argument).fn
    literal_at = (argument.location if argument.constant and argument.type_oid == UNKNOWN
                  else -1)

    def sequence(row: Row, ctx: ExecContext) -> Any:
        try:
            return _sequence(arg(row, ctx), ctx)
        except MirrordbError as failure:
            if literal_at >= 0 and failure.sqlstate in ("42P01", "3F000"):
                failure.position = literal_at + 1  # type: ignore[attr-defined]
            raise
    return sequence


def compile_special(session: Any, builder: Any, name: str, args: list[Expr],
                    location: int) -> Expr | None:
    handler = SPECIAL.get(name)
    if handler is None:
        return None
    return handler(session, builder, name, args, location)


def _nextval(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (1,), location)
    sequence_fn = _sequence_of(builder, args[0])

    def run(row: Row, ctx: ExecContext) -> Any:
        sequence = sequence_fn(row, ctx)
        if ctx.txn.transaction.read_only:
            raise read_only.refuse_in_read_only("nextval()")
        value = ctx.txn.nextval(sequence)
        ctx.session.sequence_values[sequence.oid] = value
        ctx.session.last_sequence_value = value
        return value
    return Expr(INT8, run, name="nextval", volatile=True)


def _currval(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (1,), location)
    sequence_fn = _sequence_of(builder, args[0])

    def run(row: Row, ctx: ExecContext) -> Any:
        sequence = sequence_fn(row, ctx)
        if sequence.oid not in ctx.session.sequence_values:
            raise MirrordbError(f'currval of sequence "{sequence.name}" is not yet defined in '
                                "this session", sqlstate="55000")
        return ctx.session.sequence_values[sequence.oid]
    return Expr(INT8, run, name="currval", volatile=True)


def _lastval(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (0,), location)

    def run(row: Row, ctx: ExecContext) -> Any:
        if ctx.session.last_sequence_value is None:
            raise MirrordbError("lastval is not yet defined in this session", sqlstate="55000")
        return ctx.session.last_sequence_value
    return Expr(INT8, run, name="lastval", volatile=True)


def _setval(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (2, 3), location)
    sequence_fn = _sequence_of(builder, args[0])
    value_fn = coerce(builder, args[1], INT8).fn
    called_fn = coerce(builder, args[2], BOOL).fn if len(args) == 3 else None

    def run(row: Row, ctx: ExecContext) -> Any:
        sequence = sequence_fn(row, ctx)
        if ctx.txn.transaction.read_only:
            raise read_only.refuse_in_read_only("setval()")
        value = value_fn(row, ctx)
        is_called = True if called_fn is None else bool(called_fn(row, ctx))
        ctx.txn.setval(sequence, value, is_called)
        if is_called:
            ctx.session.sequence_values[sequence.oid] = value
            ctx.session.last_sequence_value = value
        return value
    return Expr(INT8, run, name="setval", volatile=True)


def _current_setting(session: Any, builder: Any, name: str, args: list[Expr],
                     location: int) -> Expr:
    check_arity(name, args, (1, 2), location)
    name_fn = coerce(builder, args[0], TEXT).fn
    missing_fn = coerce(builder, args[1], BOOL).fn if len(args) == 2 else None

    def run(row: Row, ctx: ExecContext) -> Any:
        setting = name_fn(row, ctx)
        if setting is None:
            return None
        try:
            return ctx.session._show(setting)
        except MirrordbError:
            if missing_fn is not None and missing_fn(row, ctx):
                return None
            raise
    return Expr(TEXT, run, name="current_setting", volatile=True)


def _set_config(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (3,), location)
    fns = [coerce(builder, args[0], TEXT).fn, coerce(builder, args[1], TEXT).fn,
           coerce(builder, args[2], BOOL).fn]

    def run(row: Row, ctx: ExecContext) -> Any:
        setting, value, local = (fn(row, ctx) for fn in fns)
        if setting is not None and value is not None:
            ctx.session.check_identity_setting(str(setting), str(value))
        ctx.session.settings.set(setting, value, local=bool(local))
        return ctx.session._show(setting)
    return Expr(TEXT, run, name="set_config", volatile=True)


def _backend_pid(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (0,), location)
    return Expr(INT4, lambda row, ctx: ctx.session.process_id, name=name)


def _version(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (0,), location)
    return Expr(TEXT, lambda row, ctx: SERVER_VERSION_TEXT, name=name)


def _txid_current(session: Any, builder: Any, name: str, args: list[Expr],
                  location: int) -> Expr:
    check_arity(name, args, (0,), location)

    def run(row: Row, ctx: ExecContext) -> Any:
        if ctx.session.engine.in_recovery():   # txid_current is pg_current_xact_id in PG 15
            raise read_only.refuse_during_recovery("pg_current_xact_id()")
        if ctx.txn.transaction.read_only:
            raise MirrordbError(f"cannot execute {name}() in a read-only transaction",
                                sqlstate="25006")
        return ctx.txn.transaction.current_xid()
    return Expr(INT8, run, name=name, volatile=True)


def _xact_id_if_assigned(session: Any, builder: Any, name: str, args: list[Expr],
                         location: int) -> Expr:
    """pg_current_xact_id_if_assigned() and txid_current_if_assigned(): the transaction's
    xid, NULL before it has one (and always on a standby); it never assigns one."""
    check_arity(name, args, (0,), location)
    return Expr(INT8, lambda row, ctx: ctx.txn.transaction.xid or None, name=name,
                volatile=True)


def _server_time(attribute: str) -> Callable[..., Expr]:
    """pg_postmaster_start_time() and pg_conf_load_time(): a moment the server keeps
    (``Server.start_time``, ``Server.conf_load_time``, Unix seconds) as a timestamptz."""
    def compile_(session: Any, builder: Any, name: str, args: list[Expr],
                 location: int) -> Expr:
        check_arity(name, args, (0,), location)

        def run(row: Row, ctx: ExecContext) -> Any:
            server = ctx.session.server
            if server is None:
                return None
            return datetime.datetime.fromtimestamp(getattr(server, attribute),
                                                   datetime.timezone.utc)
        return Expr(T.TIMESTAMPTZ_OID, run, name=name, volatile=True)
    return compile_


# inet_{client,server}_{addr,port}: which BackendInfo field, and its type. The addresses are
# text (the type system has no inet; a host address prints the same). NULL over a Unix socket.
_CONNECTION_ENDS = {"inet_client_addr": ("client_addr", TEXT),
                    "inet_client_port": ("client_port", INT4),
                    "inet_server_addr": ("server_addr", TEXT),
                    "inet_server_port": ("server_port", INT4)}


def _connection_end(session: Any, builder: Any, name: str, args: list[Expr],
                    location: int) -> Expr:
    check_arity(name, args, (0,), location)
    attribute, type_oid = _CONNECTION_ENDS[name]

    def run(row: Row, ctx: ExecContext) -> Any:
        info = ctx.session.backend_info
        if info is None or info.client_addr is None:   # a Unix socket (or no connection)
            return None
        return getattr(info, attribute)
    return Expr(type_oid, run, name=name)


def _pg_sleep(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (1,), location)
    seconds_fn = coerce(builder, args[0], T.FLOAT8_OID).fn
    pause = threading.Event()

    def run(row: Row, ctx: ExecContext) -> Any:
        seconds = seconds_fn(row, ctx)
        if seconds is None:
            return None
        deadline = time.monotonic() + float(seconds)
        ctx.check_interrupts()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ""
            info = ctx.session.backend_info
            wakeup = getattr(getattr(info, "interrupts", None), "wakeup", None)
            if info is not None:
                info.wait_event_type, info.wait_event = "Timeout", "PgSleep"
            try:
                (wakeup or pause).wait(min(remaining, PG_SLEEP_SLICE_S))
            finally:
                if info is not None:
                    info.wait_event_type = info.wait_event = None
            ctx.check_interrupts()
    return Expr(T.VOID_OID if hasattr(T, "VOID_OID") else TEXT, run, name=name, volatile=True)


def _signal_backend(action: str) -> Callable[..., Expr]:
    def compile_(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
        check_arity(name, args, (1, 2), location)
        pid_fn = coerce(builder, args[0], INT4).fn

        def run(row: Row, ctx: ExecContext) -> Any:
            pid = pid_fn(row, ctx)
            server = ctx.session.server
            if pid is None or server is None:
                return False
            _check_may_signal(ctx, server, pid, action)
            done = server.signal_backend(pid, action)
            if not done:
                ctx.session.pending_warnings.append(
                    ("WARNING", f"PID {pid} is not a PostgreSQL backend process"))
            return bool(done)
        return Expr(BOOL, run, name=name, volatile=True)
    return compile_


# PostgreSQL's refusals to a non-superuser signalling a superuser's (or no role's) process,
# and another role's
_SUPERUSER_ONLY_SIGNALS = {"cancel": "must be a superuser to cancel superuser query",
                           "terminate": "must be a superuser to terminate superuser process"}
_OTHER_ROLE_SIGNALS = {
    "cancel": "must be a member of the role whose query is being canceled or member of "
              "pg_signal_backend",
    "terminate": "must be a member of the role whose process is being terminated or member "
                 "of pg_signal_backend"}


def _check_may_signal(ctx: ExecContext, server: Any, pid: int, action: str) -> None:
    """PostgreSQL's pg_signal_backend checks, for a caller who is not a superuser: a
    superuser's session may not be signalled, nor another role's (roles have no members
    here, so "member of the role" is being that role). Of the background threads only the
    autovacuum launcher takes signals, and it runs as no role: only a superuser may signal it
    (server/background.py); any other background pid gets the "not a PostgreSQL backend
    process" WARNING, as on PostgreSQL."""
    session = ctx.session
    if roles.is_superuser(session):
        return
    process = server.background_process(pid)
    if process is not None and process.signalable:
        raise roles.insufficient_privilege(_SUPERUSER_ONLY_SIGNALS[action])
    target = next((info for info in server.backends() if info.pid == pid), None)
    if target is None:
        return
    owner = roles.roles_by_name(session).get(target.user)
    if owner is not None and owner.superuser:
        raise roles.insufficient_privilege(_SUPERUSER_ONLY_SIGNALS[action])
    caller = roles.current_role(session)
    if owner is not None and (caller is None or caller.oid != owner.oid):
        raise roles.insufficient_privilege(_OTHER_ROLE_SIGNALS[action])


def _reload_conf(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (0,), location)

    def run(row: Row, ctx: ExecContext) -> Any:
        server = ctx.session.server
        if server is None:
            return False
        request = getattr(server, "request_reload", None) or getattr(server, "reload")
        request()
        return True
    return Expr(BOOL, run, name=name, volatile=True)


def _current_database(session: Any, builder: Any, name: str, args: list[Expr],
                      location: int) -> Expr:
    check_arity(name, args, (0,), location)
    return Expr(T.NAME_OID, lambda row, ctx: ctx.session.database, name=name)


def _current_schema(session: Any, builder: Any, name: str, args: list[Expr],
                    location: int) -> Expr:
    check_arity(name, args, (0,), location)
    return Expr(T.NAME_OID, lambda row, ctx: _first_schema(ctx), name=name)


def _first_schema(ctx: ExecContext) -> str | None:
    """current_schema: the first existing schema of search_path (NULL if none)."""
    from mirrordb.sql import schemas
    listed = schemas.explicit_search_path(ctx.session)
    return listed[0] if listed else None


def _pg_typeof(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (1,), location)
    type_oid = args[0].type_oid    # a regtype: shown by name, compared and cast as an oid
    return Expr(T.REGTYPE_OID, lambda row, ctx: type_oid, name=name)


SPECIAL: dict[str, Callable[..., Expr]] = {
    "nextval": _nextval, "currval": _currval, "lastval": _lastval, "setval": _setval,
    "current_setting": _current_setting, "set_config": _set_config,
    "pg_backend_pid": _backend_pid, "version": _version, "txid_current": _txid_current,
    "pg_current_xact_id": _txid_current, "pg_sleep": _pg_sleep,
    "pg_current_xact_id_if_assigned": _xact_id_if_assigned,
    "txid_current_if_assigned": _xact_id_if_assigned,
    "pg_postmaster_start_time": _server_time("start_time"),
    "pg_conf_load_time": _server_time("conf_load_time"),
    **{name: _connection_end for name in _CONNECTION_ENDS},
    "pg_cancel_backend": _signal_backend("cancel"),
    "pg_terminate_backend": _signal_backend("terminate"),
    "pg_reload_conf": _reload_conf, "current_database": _current_database,
    "current_schema": _current_schema, "pg_typeof": _pg_typeof,
}

# Catalog functions psql's meta-commands call (pg_get_userbyid, pg_get_expr, pg_size_pretty, ...)
# live in sql/catalog_functions.py; they join this table so the planner finds them the same way.
SPECIAL.update(catalog_functions.SPECIAL_HANDLERS)
# Slots, WAL positions and pg_control_system (sql/replication_functions.py), the same way.
SPECIAL.update(replication_functions.SPECIAL_HANDLERS)
# The advisory lock family (sql/advisory_functions.py).
SPECIAL.update(advisory_functions.SPECIAL_HANDLERS)
# pg_notify and pg_notification_queue_usage (sql/notify.py).
SPECIAL.update(notify.SPECIAL_HANDLERS)


# -- SQL value functions (CURRENT_DATE, CURRENT_USER, ...) ------------------------------------


def sql_value_function(session: Any, builder: Any, op: str, typmod: int) -> Expr:
    name = op.removeprefix("SVFOP_").lower()
    if name == "session_user":
        return Expr(T.NAME_OID, lambda row, ctx: ctx.session.session_user, name="session_user")
    if name in ("current_user", "user", "current_role"):
        return Expr(T.NAME_OID, lambda row, ctx: ctx.session.user, name="current_user")
    if name == "current_catalog":
        return Expr(T.NAME_OID, lambda row, ctx: ctx.session.database, name="current_catalog")
    if name == "current_schema":
        return Expr(T.NAME_OID, lambda row, ctx: _first_schema(ctx), name="current_schema")
    if name.startswith("current_timestamp"):
        return Expr(T.TIMESTAMPTZ_OID,
                    lambda row, ctx: ctx.function_context.transaction_timestamp,
                    name="current_timestamp")
    if name.startswith("localtimestamp"):
        return Expr(T.TIMESTAMP_OID, lambda row, ctx: _local(ctx).replace(tzinfo=None),
                    name="localtimestamp")
    if name == "current_date":
        return Expr(T.DATE_OID, lambda row, ctx: _local(ctx).date(), name="current_date")
    if name.startswith("current_time") or name.startswith("localtime"):
        return Expr(T.TIME_OID, lambda row, ctx: _local(ctx).time().replace(tzinfo=None),
                    name="current_time" if name.startswith("current") else "localtime")
    raise MirrordbError(f"{name} is not supported", sqlstate="0A000")


def _local(ctx: ExecContext) -> datetime.datetime:
    moment = ctx.function_context.transaction_timestamp
    try:
        from zoneinfo import ZoneInfo
        return moment.astimezone(ZoneInfo(ctx.function_context.timezone))
    except Exception:  # an unknown zone name falls back to UTC, as the setting was validated
        return moment.astimezone(datetime.timezone.utc)


__all__ = ["compile_special", "sql_value_function", "SPECIAL"]
