"""The thread that plays one of PostgreSQL's background process roles.

mirrordb runs each background role (checkpointer, walwriter, archiver, autovacuum launcher,
startup, walreceiver) as a daemon thread of the one server process, named after the role so a
stack dump reads like ``ps`` on a PostgreSQL host. ``RoleThread`` is that thread plus the two
facts pg_stat_activity shows for a background process that a plain ``threading.Thread`` does
not keep in a usable form: when it started (``backend_start``) and its kernel thread id, which
is the ``pid`` of its row and of its log lines (server/postmaster.py stamps log records with the
emitting thread's native id).

Who uses it: each role's owner creates one in its ``start()`` (recovery/checkpoint.py,
recovery/standby.py, wal/writer.py, wal/archiver.py, access/autovacuum.py,
replication/walreceiver.py) and exposes it while it runs; server/background.py turns the running
ones into pg_stat_activity rows. Nothing here knows the roles themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime


class RoleThread(threading.Thread):
    """A daemon thread named after its role (PostgreSQL's backend_type for that process:
    "checkpointer", "autovacuum launcher", ...) that remembers when it was started."""

    def __init__(self, target: Callable[..., object], role: str,
                 args: tuple[object, ...] = ()) -> None:
        super().__init__(target=target, args=args, name=role, daemon=True)
        self.started_at: datetime | None = None

    def start(self) -> None:
        self.started_at = datetime.now(UTC)
        super().start()

    @property
    def pid(self) -> int | None:
        """The kernel's id of the running thread (pg_stat_activity's pid), None once it has
        ended or before it started."""
        return self.native_id if self.is_alive() else None


__all__ = ["RoleThread"]
