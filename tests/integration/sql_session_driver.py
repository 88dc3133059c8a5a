"""Running SQL in a Session as a simple Query message would, for the tests of the SQL layer
without the wire (tests/integration/test_sql_*.py): each statement's command tag, rows and
result columns; an error rolls the session back as the backend would before it is re-raised."""

from __future__ import annotations

from dataclasses import dataclass

from mirrordb.common.errors import MirrordbError
from mirrordb.sql.session import Session


@dataclass(frozen=True)
class Outcome:
    tag: str
    rows: list[tuple]
    columns: list[tuple[str, int]]     # (name, type OID) as RowDescription gives them


def run_statements(session: Session, sql: str) -> list[Outcome]:
    """Every statement's outcome, in order."""
    out = []
    try:
        for result in session.simple_query(sql):
            rows = list(result.rows) if result.rows is not None else []
            columns = [(c.name, c.type_oid) for c in result.columns or []]
            out.append(Outcome(result.tag(len(rows)), rows, columns))
    except MirrordbError:
        session.on_error()
        raise
    session.end_implicit()
    return out
