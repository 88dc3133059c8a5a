"""The same ALTER ROLE/DATABASE ... SET | RESET statements on PostgreSQL 15 and on mirrordb leave
the same pg_db_role_setting rows: the same pairs, the same "name=value" elements in the same
order, the same array text (names in their canonical spelling, lists flattened and quoted as SET
flattens them, FROM CURRENT as SHOW shows it), and a dropped role's rows gone.

PostgreSQL runs them in single-user mode on a throw-away cluster (tests/compat/auth_pg_helpers);
mirrordb runs them in a Session over an engine on a fresh cluster and the rows are read from the
heap.
"""

from __future__ import annotations

import pytest

from mirrordb.catalog import bootstrap as boot
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql import role_settings
from mirrordb.sql.session import Session
from tests.compat.auth_pg_helpers import pg_available, pg_cluster, unavailable_reason

pytestmark = pytest.mark.skipif(not pg_available(), reason=unavailable_reason())

STATEMENTS = [
    "CREATE ROLE r LOGIN", 'CREATE ROLE "We ird"', "CREATE ROLE doomed",
    "ALTER ROLE r SET synchronous_commit = off", "ALTER ROLE r SET work_mem = 65536",
    "ALTER ROLE r SET work_mem TO '64MB'", 'ALTER ROLE r SET search_path = a, "B c", public',
    "ALTER ROLE r SET datestyle = 'iso, mdy'", "ALTER ROLE r SET foo.bar = 'x y'",
    "ALTER ROLE r SET TimeZone = 'Europe/Paris'", "ALTER ROLE r SET search_path = 'x, y'",
    "ALTER ROLE r SET row_security = false", "ALTER ROLE r SET extra_float_digits = 2",
    "ALTER ROLE r SET default_transaction_isolation = 'repeatable read'",
    "ALTER ROLE r IN DATABASE postgres SET synchronous_commit = local",
    "ALTER ROLE r IN DATABASE postgres SET lock_timeout = '1s'",
    "ALTER ROLE r IN DATABASE postgres RESET ALL",
    "ALTER ROLE r IN DATABASE postgres SET synchronous_commit = remote_apply",
    'ALTER USER "We ird" SET application_name = \'it''s "quoted"\'',
    "ALTER ROLE ALL SET statement_timeout = '5s'",
    "ALTER ROLE ALL IN DATABASE postgres SET idle_in_transaction_session_timeout = 60000",
    "ALTER DATABASE postgres SET lock_timeout = 1000",
    "SET work_mem = '3MB'", "ALTER ROLE r SET work_mem FROM CURRENT",
    "ALTER ROLE r SET row_security TO DEFAULT", "ALTER ROLE r RESET extra_float_digits",
    "ALTER ROLE doomed SET work_mem = '1MB'",
    "ALTER ROLE doomed IN DATABASE postgres SET work_mem = '2MB'", "DROP ROLE doomed",
    "ALTER ROLE CURRENT_USER SET work_mem = '2MB'", "ALTER ROLE postgres RESET ALL",
]
NAMED_ROWS = ("COALESCE((SELECT rolname::text FROM pg_roles WHERE oid = setrole), '-'), "
              "COALESCE((SELECT datname::text FROM pg_database WHERE oid = setdatabase), '-'), "
              "setconfig::text")


def postgres_rows() -> set[tuple[str, str, str]]:
    with pg_cluster() as cluster:
        cluster.execute(";\n".join(STATEMENTS) + ";")
        return {(role, database, config) for role, database, config in
                cluster.query(NAMED_ROWS, "FROM pg_db_role_setting")}


def mirrordb_rows(datadir: str) -> set[tuple[str, str, str]]:
    engine = Engine.open(datadir)
    session = Session(engine, "postgres", "postgres",
                      SessionSettings(engine.settings, superuser=True))
    try:
        for statement in STATEMENTS:
            for result in session.simple_query(statement):
                list(result.rows)
            session.end_implicit()
        roles = {int(values[0]): str(values[1])
                 for _, values in engine.relcache.rows(boot.PG_AUTHID, None)}
        rows = role_settings.setting_rows(engine.relcache.rows(boot.PG_DB_ROLE_SETTING, None))
        return {(roles.get(row.role_oid, "-"),
                 "postgres" if row.database_oid == boot.POSTGRES_DATABASE_OID else "-",
                 role_settings.format_setconfig(row.config)) for row in rows}
    finally:
        session.terminate()
        engine.close()


def test_stored_rows_match_postgres(cluster: str) -> None:
    expected = postgres_rows()
    assert mirrordb_rows(cluster) == expected
    assert ("r", "-", '{synchronous_commit=off,work_mem=3MB,"search_path=\\"x, y\\"",'  # bites
            '"DateStyle=iso, mdy","foo.bar=x y",TimeZone=Europe/Paris,'
            '"default_transaction_isolation=repeatable read"}') in expected
