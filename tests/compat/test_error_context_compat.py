"""PostgreSQL's CONTEXT lines (ErrorResponse field W) side by side with a real PostgreSQL 15:
COPY FROM STDIN's "COPY t, line N, column c: "value"" for a refused value and "COPY t, line N:
"<line>"" for a row-level problem (wrong column count, a violated constraint, an unterminated
CSV field), stacked under a json value's own "JSON data, line N: ..." line, in text and CSV
formats, read through psycopg and printed by psql ("CONTEXT:  ..."). COPY needs the wire
protocol, so mirrordb runs as a real server (tests/conftest.py module_server); answers must
agree on SQLSTATE, message, DETAIL and CONTEXT.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import psycopg
import pytest

from differential import MARKS, copy_in_error
from types_pg_server import running_postgres

pytestmark = MARKS

PSQL = "/usr/lib/postgresql/15/bin/psql"
TABLE = ("create table t (a int, b int check (b > 0), j jsonb, "
         "s text not null default 'x')")

COPIES = [
    ("copy t from stdin", "1\t2\t{}\tx\n2\tabc\t{}\tx\n"),
    ("copy t from stdin", "1\t2\t{}\tx\n2\t3\n"),
    ("copy t from stdin", "1\t2\t{}\tx\t5\n"),
    ("copy t from stdin", "1\t2\t{}\tx\n2\t3\t{}\tx\n3\t-1\t{}\tx\n"),
    ("copy t from stdin", "1\t2\t{}\t\\N\n"),
    ("copy t from stdin", '1\t2\t{"a" 1}\tx\n'),
    ("copy t from stdin", '1\t2\t"\\\\u0000"\tx\n'),
    ("copy t (a, s) from stdin", "1\t\\N\n"),
    ("copy t from stdin", "x" * 150 + "\t1\t{}\tx\n"),
    ("copy t from stdin", "1\t" + "9" * 120 + "\t{}\tx\n"),
    ("copy t from stdin", "1\t2\t{}\t" + "é" * 80 + "\t9\n"),
    ("copy t from stdin", "\n"),
    ("copy t (a) from stdin", "1\n\n"),
    ("copy t (a, s) from stdin", "99999999999\tx\n"),
    ("copy t from stdin with (format csv)", "1,2,{},x\n2,abc,{},x\n"),
    ("copy t from stdin with (format csv)", "1,2,{},x\n2,3\n"),
    ("copy t from stdin with (format csv)", '1,2,"{""a"":\n tru}",x\n'),
    ("copy t from stdin with (format csv)", "1,2,{},x,y\n"),
    ("copy t from stdin with (format csv, header)", "a,b,j,s\n1,x,{},x\n"),
    ("copy t from stdin with (format csv)", '1,2,{},"x\n'),
    ("copy t from stdin with (format csv)", "1,2,{},x\n3,-3,{},x\n"),
]


@pytest.fixture(scope="module")
def servers(module_server: object) -> Iterator[tuple[psycopg.Connection, psycopg.Connection]]:
    """(PostgreSQL, mirrordb) connections, each with an empty table t."""
    with running_postgres() as postgres:
        with psycopg.connect(postgres.conninfo, autocommit=True) as reference, \
                psycopg.connect(module_server.dsn(),  # type: ignore[attr-defined]
                                autocommit=True) as mine:
            for connection in (reference, mine):
                connection.execute(TABLE)
            yield reference, mine


@pytest.mark.parametrize("statement, data", COPIES)
def test_copy_errors_carry_postgres_context(
        servers: tuple[psycopg.Connection, psycopg.Connection], statement: str,
        data: str) -> None:
    reference, mine = servers
    expected = copy_in_error(reference, statement, data, with_context=True)
    assert expected[0] is not None, "every case must fail on PostgreSQL"
    assert copy_in_error(mine, statement, data, with_context=True) == expected


def _psql_copy(connection: psycopg.Connection, data: str) -> str:
    """What psql prints to stderr for COPY FROM STDIN fed ``data`` (after the statement)."""
    info = connection.info
    conninfo = f"host={info.host} port={info.port} user={info.user} dbname={info.dbname}"
    finished = subprocess.run(
        [PSQL, "-X", "-q", "-d", conninfo, "-v", "VERBOSITY=default", "-f", "-"],
        input="copy t from stdin;\n" + data + "\\.\n", capture_output=True, text=True,
        timeout=30, check=False)
    return "\n".join(line.split("ERROR:", 1)[-1] if "ERROR:" in line else line
                     for line in finished.stderr.splitlines())


def test_psql_prints_the_context_line(
        servers: tuple[psycopg.Connection, psycopg.Connection]) -> None:
    reference, mine = servers
    data = '1\t2\t{}\tx\n2\t2\t{"a": tru}\tx\n'
    expected = _psql_copy(reference, data)
    assert 'CONTEXT:  JSON data, line 1: {"a": tru...' in expected
    assert _psql_copy(mine, data) == expected
