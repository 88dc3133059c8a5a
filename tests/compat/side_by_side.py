"""Run the same statement on a real PostgreSQL 15 (over psycopg) and on a mirrordb Session in
this process, and describe each outcome the same way, so a compat test compares them with ``==``:
``("ok", [(column name, type OID)...], [row as text...])``, ``("command",)`` for a statement
without a result, or ``("error", SQLSTATE, message, hint, position)``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql import types as T
from mirrordb.sql.session import Session


def _ok(columns: list[tuple[str, int]], rows: list[tuple[str | None, ...]]) -> tuple[Any, ...]:
    return ("ok", columns, rows)


class Reference:
    """PostgreSQL's answers, read as text straight from libpq."""

    def __init__(self, conninfo: str) -> None:
        self.connection = psycopg.connect(conninfo, autocommit=True)

    def run(self, sql: str) -> tuple[Any, ...]:
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(sql, binary=False)
            except psycopg.Error as failure:
                diag = failure.diag
                position = int(diag.statement_position) if diag.statement_position else None
                return ("error", diag.sqlstate, diag.message_primary, diag.message_hint,
                        position)
            result = cursor.pgresult
            if result is None or not result.nfields:
                return ("command",)
            columns = [(result.fname(i).decode(), result.ftype(i))
                       for i in range(result.nfields)]
            rows = [tuple(None if result.get_value(r, i) is None
                          else bytes(result.get_value(r, i)).decode()
                          for i in range(result.nfields)) for r in range(result.ntuples)]
            return _ok(columns, rows)


class Ours:
    """mirrordb's answers, formatted as text the way its DataRow messages carry them."""

    def __init__(self, datadir: str) -> None:
        self.engine = Engine.open(datadir)
        self.session = Session(self.engine, "postgres", "postgres",
                               SessionSettings(self.engine.settings))

    def run(self, sql: str) -> tuple[Any, ...]:
        outcome: tuple[Any, ...] = ("command",)
        try:
            for result in self.session.simple_query(sql):
                if result.columns is None:
                    list(result.rows or ())
                    continue
                columns = [(c.name, c.type_oid) for c in result.columns]
                rows = [tuple(None if value is None
                              else T.format_text(c.type_oid, value, timezone="UTC")
                              for value, c in zip(row, result.columns))
                        for row in result.rows]
                outcome = _ok(columns, rows)
        except MirrordbError as failure:
            self.session.on_error()
            return ("error", failure.sqlstate, failure.message, failure.hint,
                    getattr(failure, "position", None))
        self.session.end_implicit()
        return outcome

    def close(self) -> None:
        self.session.terminate()
        self.engine.close()
