"""The two sides of a differential SQL test: a real PostgreSQL 15 through psycopg, and a
mirrordb Session over its own cluster, each answering a statement with the same outcome form.

An outcome is ``("ok", [(column name, type OID)...], [rows as text...])`` for a statement with
result columns; ``("command",)`` for one without (``("command", [(message, detail)...])``
with its notices, when ``detailed``); or ``("error", SQLSTATE, message, hint, position)``
(``("error", SQLSTATE, message, detail, hint, position)`` when ``detailed``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql import types as T
from mirrordb.sql.session import Session

from types_pg_server import postgres_available, running_postgres

psycopg = pytest.importorskip("psycopg")

# What a differential test module sets as its ``pytestmark``.
COMPAT_MARKS = [pytest.mark.compat,
                pytest.mark.skipif(not postgres_available(),
                                   reason="PostgreSQL 15 binaries are not installed in "
                                          "/usr/lib/postgresql/15/bin")]


def ok(columns: list[tuple[str, int]], rows: list[tuple[str | None, ...]]) -> tuple[Any, ...]:
    return ("ok", columns, rows)


def _error(detailed: bool, sqlstate: str, message: str, detail: str | None, hint: str | None,
           position: int | None) -> tuple[Any, ...]:
    if detailed:
        return ("error", sqlstate, message, detail, hint, position)
    return ("error", sqlstate, message, hint, position)


def _command(detailed: bool, notices: list[tuple[str, str | None]]) -> tuple[Any, ...]:
    return ("command", notices) if detailed else ("command",)


class Reference:
    """PostgreSQL's answers, in text format."""

    def __init__(self, conninfo: str, detailed: bool = False) -> None:
        self.connection = psycopg.connect(conninfo, autocommit=True)
        self.detailed = detailed
        self.notices: list[tuple[str, str | None]] = []
        self.connection.add_notice_handler(
            lambda diag: self.notices.append((diag.message_primary, diag.message_detail)))

    def run(self, sql: str) -> tuple[Any, ...]:
        self.notices.clear()
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(sql, binary=False)
            except psycopg.Error as failure:
                diag = failure.diag
                position = int(diag.statement_position) if diag.statement_position else None
                return _error(self.detailed, diag.sqlstate or "", diag.message_primary or "",
                              diag.message_detail, diag.message_hint, position)
            result = cursor.pgresult
            if result is None or not result.nfields:
                return _command(self.detailed, list(self.notices))
            columns = [(result.fname(i).decode(), result.ftype(i))
                       for i in range(result.nfields)]
            rows = [tuple(None if result.get_value(r, i) is None
                          else bytes(result.get_value(r, i)).decode()
                          for i in range(result.nfields)) for r in range(result.ntuples)]
            return ok(columns, rows)

    def close(self) -> None:
        self.connection.close()


def _notice_fields(notice: Any) -> tuple[str, str | None]:
    """(message, detail) of a notice as the session hands it to the backend."""
    if isinstance(notice, str):
        return notice, None
    if isinstance(notice, MirrordbError):
        return notice.message, notice.detail
    return notice[1], notice[2] if len(notice) == 3 else None


class Ours:
    """mirrordb's answers, formatted as text the way its DataRow messages carry them."""

    def __init__(self, datadir: str, detailed: bool = False) -> None:
        self.engine = Engine.open(datadir)
        self.detailed = detailed
        self.session = Session(self.engine, "postgres", "postgres",
                               SessionSettings(self.engine.settings))

    def run(self, sql: str) -> tuple[Any, ...]:
        outcome = _command(self.detailed, [])
        try:
            for result in self.session.simple_query(sql):
                if result.columns is None:
                    list(result.rows or ())
                    outcome = _command(self.detailed,
                                       [_notice_fields(n) for n in result.notices])
                    continue
                columns = [(c.name, c.type_oid) for c in result.columns]
                rows = [tuple(None if value is None
                              else T.format_text(c.type_oid, value, timezone="UTC")
                              for value, c in zip(row, result.columns))
                        for row in result.rows]
                outcome = ok(columns, rows)
        except MirrordbError as failure:
            self.session.on_error()
            return _error(self.detailed, failure.sqlstate, failure.message, failure.detail,
                          failure.hint, getattr(failure, "position", None))
        self.session.end_implicit()
        return outcome

    def close(self) -> None:
        self.session.terminate()
        self.engine.close()


@contextmanager
def session_pair(template_cluster: str, directory: str, setup: list[str],
                 detailed: bool = False) -> Iterator[tuple[Reference, Ours]]:
    """A fresh copy of the template cluster in ``directory`` and a throw-away PostgreSQL,
    both given the ``setup`` statements (which must succeed alike)."""
    datadir = os.path.join(directory, "data")
    shutil.copytree(template_cluster, datadir)
    ours = Ours(datadir, detailed)
    with running_postgres() as server:
        reference = Reference(server.conninfo, detailed)
        try:
            for statement in setup:
                assert reference.run(statement) == ours.run(statement) == \
                    _command(detailed, []), statement
            yield reference, ours
        finally:
            reference.close()
            ours.close()
