"""System views computed from server state: pg_settings, pg_stat_activity.

Who calls it: the planner, through ``Session.system_view``, when a FROM item names one of these.
Catalog tables that are real heap relations (pg_class, pg_attribute, ...) are not here: they are
scanned like any table. A view here is a list of columns and a function that produces its rows at
execution time, so it always shows the current state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext, Row
from mirrordb.sql.planner import OutputColumn

TEXT, INT4, BOOL, TIMESTAMPTZ = T.TEXT_OID, T.INT4_OID, T.BOOL_OID, T.TIMESTAMPTZ_OID

PG_SETTINGS_COLUMNS = [
    ("name", TEXT), ("setting", TEXT), ("unit", TEXT), ("category", TEXT), ("short_desc", TEXT),
    ("extra_desc", TEXT), ("context", TEXT), ("vartype", TEXT), ("source", TEXT),
    ("min_val", TEXT), ("max_val", TEXT), ("enumvals", TEXT), ("boot_val", TEXT),
    ("reset_val", TEXT), ("sourcefile", TEXT), ("sourceline", INT4), ("pending_restart", BOOL)]

PG_STAT_ACTIVITY_COLUMNS = [
    ("datid", T.OID_OID), ("datname", T.NAME_OID), ("pid", INT4), ("leader_pid", INT4),
    ("usesysid", T.OID_OID), ("usename", T.NAME_OID), ("application_name", TEXT),
    ("client_addr", TEXT), ("client_hostname", TEXT), ("client_port", INT4),
    ("backend_start", TIMESTAMPTZ), ("xact_start", TIMESTAMPTZ), ("query_start", TIMESTAMPTZ),
    ("state_change", TIMESTAMPTZ), ("wait_event_type", TEXT), ("wait_event", TEXT),
    ("state", TEXT), ("backend_xid", T.XID_OID), ("backend_xmin", T.XID_OID),
    ("query_id", T.INT8_OID), ("query", TEXT), ("backend_type", TEXT)]

View = tuple[list[OutputColumn], Callable[[ExecContext], list[Row]]]


def _columns(spec: list[tuple[str, int]]) -> list[OutputColumn]:
    return [OutputColumn(name, type_oid) for name, type_oid in spec]


def _pg_settings(ctx: ExecContext) -> list[Row]:
    names = [name for name, _ in PG_SETTINGS_COLUMNS]
    return [tuple(row.get(name) for name in names)
            for row in ctx.session.settings.pg_settings_rows()]


def _pg_stat_activity(ctx: ExecContext) -> list[Row]:
    server = ctx.session.server
    if server is None:
        return []
    rows = []
    for info in server.backends():
        rows.append((5, getattr(info, "database", None), info.pid, None, None,
                     getattr(info, "user", None), getattr(info, "application_name", ""),
                     _text(getattr(info, "client_addr", None)), None,
                     getattr(info, "client_port", None), getattr(info, "backend_start", None),
                     getattr(info, "xact_start", None), getattr(info, "query_start", None),
                     getattr(info, "state_change", None), getattr(info, "wait_event_type", None),
                     getattr(info, "wait_event", None), getattr(info, "state", None), None, None,
                     None, getattr(info, "query", ""),
                     getattr(info, "backend_type", "client backend")))
    return rows


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


VIEWS: dict[str, tuple[list[tuple[str, int]], Callable[[ExecContext], list[Row]]]] = {
    "pg_settings": (PG_SETTINGS_COLUMNS, _pg_settings),
    "pg_stat_activity": (PG_STAT_ACTIVITY_COLUMNS, _pg_stat_activity),
}


def lookup(session: Any, name: str, schema: str | None) -> View | None:
    if schema not in (None, "pg_catalog"):
        return None
    found = VIEWS.get(name)
    if found is None:
        return None
    spec, produce = found
    return _columns(spec), produce


__all__ = ["lookup", "VIEWS"]
