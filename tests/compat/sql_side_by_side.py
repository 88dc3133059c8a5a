"""Running SQL on a real PostgreSQL and on a mirrordb Session, answers in one comparable form.

Used by the differential tests (test_*_vs_postgres.py). An answer is ("ok", [tag,] columns,
rows), columns being (name, type OID) pairs as RowDescription gives them and rows the values as
text; ("command",) when the statement returns no rows and tags are not compared; or ("error",
SQLSTATE, message, hint, position).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql import types as T
from mirrordb.sql.session import Session

from types_pg_server import postgres_available

# The marks of a differential test module: compat, and skipped without PostgreSQL 15.
COMPAT_MARKS = [pytest.mark.compat,
                pytest.mark.skipif(not postgres_available(),
                                   reason="PostgreSQL 15 binaries are not installed in "
                                          "/usr/lib/postgresql/15/bin")]


def _ok(tag: str | None, columns: list[tuple[str, int]] | None,
        rows: list[tuple[str | None, ...]]) -> tuple[Any, ...]:
    if tag is None:
        return ("ok", columns, rows) if columns is not None else ("command",)
    return ("ok", tag, columns, rows)


class Reference:
    """PostgreSQL's answers, read as text straight from libpq; ``with_tags``: the command tag
    is part of each answer."""

    def __init__(self, conninfo: str, with_tags: bool = False) -> None:
        self.connection = psycopg.connect(conninfo, autocommit=True)
        self.with_tags = with_tags

    def run(self, sql: str) -> tuple[Any, ...]:
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(sql, binary=False)
            except psycopg.Error as failure:
                diag = failure.diag
                position = int(diag.statement_position) if diag.statement_position else None
                return ("error", diag.sqlstate, diag.message_primary, diag.message_hint,
                        position)
            tag = (cursor.statusmessage or "") if self.with_tags else None
            result = cursor.pgresult
            if result is None or not result.nfields:
                return _ok(tag, None, [])
            columns = [(result.fname(i).decode(), result.ftype(i))
                       for i in range(result.nfields)]
            rows = [tuple(None if result.get_value(r, i) is None
                          else bytes(result.get_value(r, i)).decode()
                          for i in range(result.nfields)) for r in range(result.ntuples)]
            return _ok(tag, columns, rows)


class Ours:
    """mirrordb's answers, formatted as text the way its DataRow messages carry them."""

    def __init__(self, datadir: str, with_tags: bool = False) -> None:
        self.engine = Engine.open(datadir)
        self.session = Session(self.engine, "postgres", "postgres",
                               SessionSettings(self.engine.settings))
        self.with_tags = with_tags

    def run(self, sql: str) -> tuple[Any, ...]:
        outcome: tuple[Any, ...] = ("command",)
        try:
            for result in self.session.simple_query(sql):
                if result.columns is None:
                    list(result.rows or ())
                    outcome = _ok(result.tag(0) if self.with_tags else None, None, [])
                    continue
                columns = [(c.name, c.type_oid) for c in result.columns]
                rows = [tuple(None if value is None
                              else T.format_text(c.type_oid, value, timezone="UTC")
                              for value, c in zip(row, result.columns))
                        for row in result.rows]
                outcome = _ok(result.tag(len(rows)) if self.with_tags else None, columns, rows)
        except MirrordbError as failure:
            self.session.on_error()
            return ("error", failure.sqlstate, failure.message, failure.hint,
                    getattr(failure, "position", None))
        self.session.end_implicit()
        return outcome

    def close(self) -> None:
        self.session.terminate()
        self.engine.close()
