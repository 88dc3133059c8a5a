"""PostgreSQL's advisory lock functions (pg_advisory_lock and its family) over the session's
advisory locks (access/advisory.py).

Each name takes a key as one bigint or as two ints (PostgreSQL's two overloads; smallint and
int arguments widen, any other type is 42883), is strict (a NULL key returns NULL and locks
nothing), and works on a hot standby and in a read-only transaction as on a primary. The
lock functions return void and wait; the ``try`` ones return whether they got the lock; the
unlock functions return false with PostgreSQL's WARNING when the session holds no
session-level lock of that mode on the key.

Who calls it: the planner, through ``Session.special_function`` (sql/session_functions.py
merges ``SPECIAL_HANDLERS`` into its table).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirrordb.access.advisory import EXCLUSIVE, SHARE, bigint_tag, int_pair_tag
from mirrordb.access.lmgr import LOCK_MODE_NAMES
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (BOOL, INT4, INT8, UNKNOWN, ExecContext, Expr, Row,
                                      check_arity, coerce, no_such_function)

# name -> (mode, session level, waits); the unlock functions are below
LOCK_FUNCTIONS: dict[str, tuple[int, bool, bool]] = {
    "pg_advisory_lock": (EXCLUSIVE, True, True),
    "pg_advisory_lock_shared": (SHARE, True, True),
    "pg_advisory_xact_lock": (EXCLUSIVE, False, True),
    "pg_advisory_xact_lock_shared": (SHARE, False, True),
    "pg_try_advisory_lock": (EXCLUSIVE, True, False),
    "pg_try_advisory_lock_shared": (SHARE, True, False),
    "pg_try_advisory_xact_lock": (EXCLUSIVE, False, False),
    "pg_try_advisory_xact_lock_shared": (SHARE, False, False),
}
UNLOCK_FUNCTIONS: dict[str, int] = {"pg_advisory_unlock": EXCLUSIVE,
                                    "pg_advisory_unlock_shared": SHARE}

_BIGINT_ARGUMENTS = (T.INT2_OID, INT4, INT8, UNKNOWN)
_INT_ARGUMENTS = (T.INT2_OID, INT4, UNKNOWN)

KeyFn = Callable[[Row, ExecContext], "tuple[int, ...] | None"]


def _key(builder: Any, name: str, args: list[Expr], location: int) -> KeyFn:
    """The call's key as a tag maker: (database, ...) fields, None for a NULL argument."""
    check_arity(name, args, (1, 2), location)
    allowed = _BIGINT_ARGUMENTS if len(args) == 1 else _INT_ARGUMENTS
    if any(arg.type_oid not in allowed for arg in args):
        raise no_such_function(name, args, location)
    fns = [coerce(builder, arg, INT8 if len(args) == 1 else INT4).fn for arg in args]

    def key(row: Row, ctx: ExecContext) -> tuple[int, ...] | None:
        values = [fn(row, ctx) for fn in fns]
        if None in values:
            return None
        database = _database_oid(ctx)
        if len(values) == 1:
            return bigint_tag(database, values[0])
        return int_pair_tag(database, values[0], values[1])
    return key


def _database_oid(ctx: ExecContext) -> int:
    """The session's database OID: advisory locks of two databases never conflict."""
    session = ctx.session
    oid = session.database_oid
    if oid is None:
        from mirrordb.sql.catalog_functions import CatalogSnapshot
        oid = session.database_oid = CatalogSnapshot.of(ctx).database_oid(session.database) or 0
    return int(oid)


def _lock(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    mode, session_level, waits = LOCK_FUNCTIONS[name]
    key = _key(builder, name, args, location)

    def run(row: Row, ctx: ExecContext) -> Any:
        tag = key(row, ctx)
        if tag is None:
            return None
        got = ctx.session.advisory_locks().lock(tag, mode, session_level=session_level,
                                                wait=waits)
        return "" if waits else got
    return Expr(T.VOID_OID if waits else BOOL, run, name=name, volatile=True)


def _unlock(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    mode = UNLOCK_FUNCTIONS[name]
    key = _key(builder, name, args, location)

    def run(row: Row, ctx: ExecContext) -> Any:
        tag = key(row, ctx)
        if tag is None:
            return None
        if ctx.session.advisory_locks().unlock(tag, mode):
            return True
        ctx.session.pending_warnings.append(
            ("WARNING", f"you don't own a lock of type {LOCK_MODE_NAMES[mode]}"))
        return False
    return Expr(BOOL, run, name=name, volatile=True)


def _unlock_all(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (0,), location)

    def run(row: Row, ctx: ExecContext) -> Any:
        ctx.session.advisory_locks().unlock_all_session()
        return ""
    return Expr(T.VOID_OID, run, name=name, volatile=True)


SPECIAL_HANDLERS: dict[str, Callable[..., Expr]] = {
    **{name: _lock for name in LOCK_FUNCTIONS},
    **{name: _unlock for name in UNLOCK_FUNCTIONS},
    "pg_advisory_unlock_all": _unlock_all,
}

__all__ = ["SPECIAL_HANDLERS", "LOCK_FUNCTIONS", "UNLOCK_FUNCTIONS"]
