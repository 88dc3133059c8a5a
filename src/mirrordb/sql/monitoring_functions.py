"""SQL functions that return a set of records, for monitoring: WAL files and resource managers.

Who calls it: the planner. In FROM (``SELECT * FROM pg_ls_waldir()``) through
``Session.record_function``, which asks ``record_set_in_from`` after the one-record functions
of replication_functions.py: the records' fields are the columns. In a select list
(``SELECT pg_ls_waldir()``) through set_returning.py, which treats these names as
set-returning functions (``RECORD_SET_FUNCTION_NAMES``) and takes their rows from
``record_set_as_text``: one text value per record, its record_out form, as PostgreSQL prints a
record. Each call reads the server's state when it runs.

Functions (PostgreSQL 15's names, columns, privileges and messages):

* ``pg_ls_waldir()`` and ``pg_ls_archive_statusdir()``: ``(name text, size bigint,
  modification timestamptz)`` for each regular file of pg_wal (pg_wal/archive_status), names
  starting with a dot left out, as PostgreSQL's pg_ls_dir_files. PostgreSQL grants them to
  superusers and pg_monitor; mirrordb's roles have no memberships, so only a superuser (42501
  "permission denied for function ..." for others). Rows come sorted by name (PostgreSQL's
  follow the directory's order).
* ``pg_get_wal_resource_managers()``: ``(rm_id integer, rm_name text, rm_builtin boolean)``
  for the resource managers this server can replay, the ones its WAL uses: PostgreSQL's
  built-in ids mirrordb writes (XLOG, Transaction, Storage, CLOG, Standby: rm_builtin true)
  and its own page-level managers in the custom range 128.. (mirrordb_heap, mirrordb_btree,
  mirrordb_sequence: rm_builtin false, as PostgreSQL shows a loaded custom manager).
  PostgreSQL lists all 22 of its built-in managers; the ones mirrordb never writes (Heap,
  Btree, Gin...) have no redo here, so they are not listed.
* ``pg_options_to_table(text[])``: ``(option_name text, option_value text)`` for each
  ``name=value`` of a reloptions-style array (no ``=``: a NULL value), as pg_dump reads
  attfdwoptions and fdwoptions; a NULL array gives no rows.
"""

from __future__ import annotations

import datetime
import os
import stat
from collections.abc import Callable, Iterable
from typing import Any

from mirrordb.recovery import redo
from mirrordb.sql import partition_functions
from mirrordb.sql import types as T
from mirrordb.sql.expressions import BOOL, TEXT, ExecContext, Expr, Row, check_arity
from mirrordb.sql.replication_functions import format_field, record_text, require_superuser
from mirrordb.wal import rmgr

INT4, INT8, TIMESTAMPTZ = T.INT4_OID, T.INT8_OID, T.TIMESTAMPTZ_OID

# What a compiled call gives per evaluation: its records.
RowsFn = Callable[[Row, ExecContext], "list[tuple[Any, ...]]"]
Columns = tuple[tuple[str, int], ...]

FILE_COLUMNS: Columns = (("name", TEXT), ("size", INT8), ("modification", TIMESTAMPTZ))


def _directory_files(path: str) -> list[tuple[Any, ...]]:
    """(name, size, modification) of the regular files in ``path``; a missing directory has
    none (both of PostgreSQL's callers pass missing_ok)."""
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    rows = []
    for name in names:
        if name.startswith("."):
            continue
        try:
            status = os.stat(os.path.join(path, name))
        except FileNotFoundError:
            continue   # removed (recycled, archived) since the listing
        if stat.S_ISREG(status.st_mode):
            rows.append((name, status.st_size,
                         datetime.datetime.fromtimestamp(int(status.st_mtime),
                                                         datetime.timezone.utc)))
    return rows


def _list_directory(subdirectory: Callable[[Any], str]) -> Callable[..., RowsFn]:
    """A function of no arguments listing the files of ``subdirectory(engine)``; superuser."""
    def compile_(session: Any, builder: Any, name: str, args: list[Expr],
                 location: int) -> RowsFn:
        check_arity(name, args, (0,), location)

        def rows(row: Row, ctx: ExecContext) -> list[tuple[Any, ...]]:
            require_superuser(ctx, name)
            return _directory_files(subdirectory(ctx.session.engine))
        return rows
    return compile_


def _resource_managers(session: Any, builder: Any, name: str, args: list[Expr],
                       location: int) -> RowsFn:
    check_arity(name, args, (0,), location)

    def rows(row: Row, ctx: ExecContext) -> list[tuple[Any, ...]]:
        return [(rmid, rmgr.rmgr_name(rmid), rmid <= rmgr.RM_MAX_BUILTIN_ID)
                for rmid in sorted(redo.redo_handlers())]
    return rows


def _options_to_table(session: Any, builder: Any, name: str, args: list[Expr],
                      location: int) -> RowsFn:
    from mirrordb.sql.expressions import coerce
    check_arity(name, args, (1,), location)
    options = coerce(builder, args[0], T.TEXT_ARRAY_OID).fn

    def rows(row: Row, ctx: ExecContext) -> list[tuple[Any, ...]]:
        values = options(row, ctx)
        if values is None:
            return []
        return [_option_pair(option) for option in values if option is not None]
    return rows


def _option_pair(option: str) -> tuple[str, str | None]:
    option_name, equals, value = option.partition("=")
    return option_name, value if equals else None


RECORD_SET_FUNCTIONS: dict[str, tuple[Callable[..., RowsFn], Columns]] = {
    "pg_ls_waldir": (_list_directory(lambda engine: engine.waldir), FILE_COLUMNS),
    "pg_ls_archive_statusdir": (
        _list_directory(lambda engine: os.path.join(engine.waldir, "archive_status")),
        FILE_COLUMNS),
    "pg_get_wal_resource_managers": (_resource_managers, (
        ("rm_id", INT4), ("rm_name", TEXT), ("rm_builtin", BOOL))),
    "pg_options_to_table": (_options_to_table, (("option_name", TEXT), ("option_value", TEXT))),
    **partition_functions.RECORD_SET_FUNCTIONS,     # pg_partition_tree, pg_partition_ancestors
}
RECORD_SET_FUNCTION_NAMES = frozenset(RECORD_SET_FUNCTIONS)


def record_set_in_from(session: Any, builder: Any, name: str, args: list[Expr]
                       ) -> tuple[Callable[[ExecContext], list[Row]], Columns] | None:
    """Such a function in FROM: (its rows, its columns); None when ``name`` is not one."""
    entry = RECORD_SET_FUNCTIONS.get(name)
    if entry is None:
        return None
    compile_rows, columns = entry
    rows_fn = compile_rows(session, builder, name, args, -1)
    return (lambda ctx: rows_fn((), ctx)), columns


def record_set_as_text(builder: Any, name: str, args: list[Expr], location: int
                       ) -> tuple[Callable[[Row, ExecContext], Iterable[Any]], int]:
    """Such a function in a select list: each record as its text form (record_out); a
    function of one column gives that column's values (pg_partition_ancestors' regclass)."""
    compile_rows, columns = RECORD_SET_FUNCTIONS[name]
    rows_fn = compile_rows(builder.session, builder, name, args, location)
    types = [type_oid for _, type_oid in columns]
    if len(types) == 1:
        return (lambda row, ctx: [record[0] for record in rows_fn(row, ctx)]), types[0]

    def values(row: Row, ctx: ExecContext) -> Iterable[Any]:
        timezone = ctx.session.timezone
        return [record_text([None if value is None else format_field(type_oid, value, timezone)
                             for type_oid, value in zip(types, record)])
                for record in rows_fn(row, ctx)]
    return values, TEXT


__all__ = ["RECORD_SET_FUNCTIONS", "RECORD_SET_FUNCTION_NAMES", "record_set_as_text",
           "record_set_in_from"]
