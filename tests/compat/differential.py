"""Differential tests against a real PostgreSQL 15: the same statements on a throw-away
PostgreSQL server (types_pg_server.py) and on a mirrordb Session over a fresh cluster.

Who uses it: the compat tests that compare statement results (test_set_returning_vs_postgres.py,
test_window_vs_postgres.py). ``Reference.run`` and ``Ours.run`` give the same shape of answer:
("ok", [(column name, type OID)...], rows as text), ("command",), or ("error", SQLSTATE,
message, hint, 1-based position); ``paired`` starts both, runs the set-up statements on each and
stops both at the end; ``pair_fixture`` makes a module's fixture of it.
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


@contextmanager
def paired(template_cluster: str, directory: str,
           setup: list[str]) -> Iterator[tuple[Reference, Ours]]:
    """PostgreSQL and mirrordb (on a copy of ``template_cluster`` in ``directory``), each
    having run the ``setup`` statements."""
    datadir = os.path.join(directory, "data")
    shutil.copytree(template_cluster, datadir)
    ours = Ours(datadir)
    with running_postgres() as server:
        reference = Reference(server.conninfo)
        try:
            for statement in setup:
                assert reference.run(statement) == ours.run(statement) == ("command",)
            yield reference, ours
        finally:
            reference.connection.close()
            ours.close()


def pair_fixture(name: str, setup: list[str]) -> Any:
    """A module-scoped pytest fixture giving the ``paired`` servers, set up with ``setup``."""
    @pytest.fixture(scope="module")
    def both(template_cluster: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Reference, Ours]]:
        with paired(template_cluster, str(tmp_path_factory.mktemp(name)), setup) as pair:
            yield pair
    return both
