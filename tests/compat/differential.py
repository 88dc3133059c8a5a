"""Differential tests against a real PostgreSQL 15: the same statements on a throw-away
PostgreSQL server (types_pg_server.py) and on a mirrordb Session over a fresh cluster.

Who uses it: the compat tests that compare statement results (test_*_vs_postgres.py).
``Reference.run`` and ``Ours.run`` give the same shape of answer: ("ok", [(column name, type
OID)...], rows as text), ("command",), or ("error", SQLSTATE, message, hint, 1-based position).
Two options refine it, on both sides alike:

* ``with_tags``: the command tag follows "ok" (``("ok", tag, columns or None, rows)``, also for
  a statement without result columns);
* ``detailed``: errors carry their DETAIL (``("error", SQLSTATE, message, detail, hint,
  position)``) and a statement without result columns its notices (``("command", [(message,
  detail)...])``);
* ``with_context``: errors end with their CONTEXT (ErrorResponse field W, None when absent).

``paired`` starts both, runs the set-up statements on each and stops both at the end;
``pair_fixture`` makes a module's fixture of it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql import types as T
from mirrordb.sql.session import Session

from types_pg_server import postgres_available, running_postgres

# The marks of a differential test module: compat, and skipped without PostgreSQL 15.
MARKS = [pytest.mark.compat,
         pytest.mark.skipif(not postgres_available(),
                            reason="PostgreSQL 15 binaries are not installed in "
                                   "/usr/lib/postgresql/15/bin")]


def ok(columns: list[tuple[str, int]], rows: list[tuple[str | None, ...]]) -> tuple[Any, ...]:
    """The answer to a statement with result columns (without tags)."""
    return ("ok", columns, rows)


class _Answers:
    """The shapes both sides answer in, by the options they were made with."""

    def __init__(self, with_tags: bool, detailed: bool, with_context: bool = False) -> None:
        self.with_tags = with_tags
        self.detailed = detailed
        self.with_context = with_context

    def rows(self, tag: str, columns: list[tuple[str, int]],
             rows: list[tuple[str | None, ...]]) -> tuple[Any, ...]:
        return ("ok", tag, columns, rows) if self.with_tags else ok(columns, rows)

    def command(self, tag: str, notices: list[tuple[str, str | None]]) -> tuple[Any, ...]:
        if self.with_tags:
            return ("ok", tag, None, [])
        return ("command", notices) if self.detailed else ("command",)

    def error(self, sqlstate: str, message: str, detail: str | None, hint: str | None,
              position: int | None, context: str | None = None) -> tuple[Any, ...]:
        answer: tuple[Any, ...] = (("error", sqlstate, message, detail, hint, position)
                                   if self.detailed else ("error", sqlstate, message, hint,
                                                          position))
        return answer + (context,) if self.with_context else answer


class Reference(_Answers):
    """PostgreSQL's answers, read as text straight from libpq."""

    def __init__(self, conninfo: str, with_tags: bool = False, detailed: bool = False,
                 with_context: bool = False) -> None:
        super().__init__(with_tags, detailed, with_context)
        self.connection = psycopg.connect(conninfo, autocommit=True)
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
                return self.error(diag.sqlstate or "", diag.message_primary or "",
                                  diag.message_detail, diag.message_hint, position,
                                  diag.context)
            tag = cursor.statusmessage or ""
            result = cursor.pgresult
            if result is None or not result.nfields:
                return self.command(tag, list(self.notices))
            columns = [(result.fname(i).decode(), result.ftype(i))
                       for i in range(result.nfields)]
            rows = [tuple(None if result.get_value(r, i) is None
                          else bytes(result.get_value(r, i)).decode()
                          for i in range(result.nfields)) for r in range(result.ntuples)]
            return self.rows(tag, columns, rows)

    def close(self) -> None:
        self.connection.close()


def _notice_fields(notice: Any) -> tuple[str, str | None]:
    """(message, detail) of a notice as the session hands it to the backend."""
    if isinstance(notice, str):
        return notice, None
    if isinstance(notice, MirrordbError):
        return notice.message, notice.detail
    return notice[1], notice[2] if len(notice) == 3 else None


class Ours(_Answers):
    """mirrordb's answers, formatted as text the way its DataRow messages carry them."""

    def __init__(self, datadir: str, with_tags: bool = False, detailed: bool = False,
                 with_context: bool = False) -> None:
        super().__init__(with_tags, detailed, with_context)
        self.engine = Engine.open(datadir)
        self.session = Session(self.engine, "postgres", "postgres",
                               SessionSettings(self.engine.settings))

    def run(self, sql: str) -> tuple[Any, ...]:
        outcome = self.command("", [])
        try:
            for result in self.session.simple_query(sql):
                if result.columns is None:
                    list(result.rows or ())
                    outcome = self.command(result.tag(0) if self.with_tags else "",
                                           [_notice_fields(n) for n in result.notices])
                    continue
                # a domain's column is described as its base type's (server/backend.py)
                columns = [(c.name, T.base_type(c.type_oid)) for c in result.columns]
                rows = [tuple(None if value is None
                              else T.format_text(c.type_oid, value, timezone="UTC")
                              for value, c in zip(row, result.columns))
                        for row in result.rows]
                outcome = self.rows(result.tag(len(rows)) if self.with_tags else "", columns,
                                    rows)
        except MirrordbError as failure:
            self.session.on_error()
            return self.error(failure.sqlstate, failure.message, failure.detail, failure.hint,
                              getattr(failure, "position", None), failure.context)
        self.session.end_implicit()
        return outcome

    def close(self) -> None:
        self.session.terminate()
        self.engine.close()


@contextmanager
def paired(template_cluster: str, directory: str, setup: list[str], with_tags: bool = False,
           detailed: bool = False, with_context: bool = False
           ) -> Iterator[tuple[Reference, Ours]]:
    """PostgreSQL and mirrordb (on a copy of ``template_cluster`` in ``directory``), each
    having run the ``setup`` statements (which must succeed alike); ``with_tags``: answers
    carry the command tag."""
    datadir = os.path.join(directory, "data")
    shutil.copytree(template_cluster, datadir)
    ours = Ours(datadir, with_tags, detailed, with_context)
    with running_postgres() as server:
        reference = Reference(server.conninfo, with_tags, detailed, with_context)
        try:
            for statement in setup:
                expected = reference.run(statement)
                assert expected[0] in ("command", "ok"), (statement, expected)
                assert ours.run(statement) == expected, statement
            yield reference, ours
        finally:
            reference.close()
            ours.close()


def pair_fixture(name: str, setup: list[str], with_tags: bool = False,
                 detailed: bool = False, with_context: bool = False) -> Any:
    """A module-scoped pytest fixture giving the ``paired`` servers, set up with ``setup``."""
    @pytest.fixture(scope="module")
    def both(template_cluster: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Reference, Ours]]:
        with paired(template_cluster, str(tmp_path_factory.mktemp(name)), setup,
                    with_tags, detailed, with_context) as pair:
            yield pair
    return both


def copy_in_error(connection: psycopg.Connection, statement: str, data: str | bytes,
                  with_context: bool = False) -> tuple[str | None, ...]:
    """Run COPY ... FROM STDIN with ``data`` on a real server (``Ours`` is a session without
    the protocol's COPY messages): the error's SQLSTATE, message and DETAIL (and CONTEXT when
    ``with_context``), or Nones."""
    try:
        with connection.cursor() as cursor:
            with cursor.copy(statement) as copy:
                copy.write(data)
    except psycopg.Error as failure:
        diag = failure.diag
        answer = (failure.sqlstate, diag.message_primary, diag.message_detail)
        return answer + (diag.context,) if with_context else answer
    return (None, None, None, None) if with_context else (None, None, None)


def differences(reference: Reference, ours: Ours, statements: list[str]) -> list[str]:
    """Run ``statements`` in order on both (each sees what the earlier ones left); a line for
    every statement whose answers differ."""
    found = []
    for statement in statements:
        expected, got = reference.run(statement), ours.run(statement)
        if got != expected:
            found.append(f"{statement}\n  postgres: {expected}\n  mirrordb: {got}")
    return found


def assert_same(both: tuple[Reference, Ours], statements: list[str]) -> None:
    """Run ``statements`` in order on both and fail listing every one whose answers differ."""
    reference, ours = both
    mismatches = differences(reference, ours, statements)
    assert not mismatches, "\n".join(mismatches)
