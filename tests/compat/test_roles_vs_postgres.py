"""The same role and GRANT/REVOKE statements on PostgreSQL 15 and on mirrordb leave the same
pg_class.relacl texts and the same pg_authid rows (attributes, md5 verifiers, verifiers given
as passwords, an empty password cleared).

PostgreSQL runs them in single-user mode on a throw-away cluster (tests/compat/auth_pg_helpers);
mirrordb runs them in a Session over an engine on a fresh cluster, and the catalogs are read
straight from the heap (the relacl column itself, not a view of it).
"""

from __future__ import annotations

import pytest

from mirrordb.auth import scram
from mirrordb.catalog import bootstrap as boot
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql.session import Session
from tests.compat.auth_pg_helpers import pg_available, pg_cluster, unavailable_reason

pytestmark = pytest.mark.skipif(not pg_available(), reason=unavailable_reason())

SCRAM_VERIFIER = scram.build_verifier("given", b"0123456789abcdef")
STATEMENTS = [
    'CREATE ROLE bob', 'CREATE ROLE "we ird"', 'CREATE ROLE "Q""uote"', 'CREATE ROLE "a,b"',
    'CREATE ROLE ünï', 'CREATE ROLE Carol',
    "CREATE TABLE t1 (a int)", "GRANT SELECT ON t1 TO bob", "GRANT ALL ON t1 TO PUBLIC",
    "REVOKE INSERT ON t1 FROM bob", 'GRANT UPDATE ON t1 TO "we ird", "Q""uote"',
    'GRANT TRUNCATE, REFERENCES, TRIGGER ON TABLE t1 TO "a,b", ünï, carol',
    "CREATE TABLE t2 (a int)", "REVOKE ALL ON t2 FROM postgres",
    "CREATE TABLE t3 (a int)", "GRANT SELECT ON t3 TO bob", "REVOKE ALL PRIVILEGES ON t3 FROM bob",
    "CREATE TABLE t4 (a int)", "GRANT DELETE ON t4 TO bob",
    "REVOKE GRANT OPTION FOR DELETE ON t4 FROM bob",
    "CREATE TABLE t5 (a int)", "GRANT SELECT, INSERT ON t5, t4 TO bob, PUBLIC",
    "REVOKE SELECT ON t5 FROM PUBLIC",
    "CREATE SEQUENCE s1", "GRANT USAGE ON SEQUENCE s1 TO bob", "GRANT ALL ON s1 TO PUBLIC",
    "GRANT SELECT, INSERT ON TABLE s1 TO carol",
    "CREATE SEQUENCE s2", "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO carol",
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "we ird"',
    "CREATE USER u1 PASSWORD 'md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
    "SET password_encryption = md5",
    "CREATE ROLE u2 LOGIN PASSWORD 'pw' CREATEDB CONNECTION LIMIT 5",
    "CREATE ROLE u3 SUPERUSER NOINHERIT REPLICATION BYPASSRLS CREATEROLE",
    "ALTER ROLE u3 NOSUPERUSER NOREPLICATION LOGIN",
    "CREATE ROLE u4 PASSWORD ''",
    f"CREATE ROLE u5 PASSWORD '{SCRAM_VERIFIER}'",
    "CREATE ROLE u6 PASSWORD 'x'", "ALTER ROLE u6 PASSWORD NULL CONNECTION LIMIT 2",
    "CREATE GROUP g1", "ALTER USER u2 WITH PASSWORD 'other'",
    "CREATE ROLE doomed", "GRANT SELECT ON t1 TO doomed", "REVOKE SELECT ON t1 FROM doomed",
    "DROP ROLE doomed",
]
ROLE_NAMES = ("bob", "we ird", 'Q"uote', "a,b", "ünï", "carol", "u1", "u2", "u3", "u4", "u5",
              "u6", "g1", "doomed")
AUTHID_COLUMNS = ("rolname", "rolsuper", "rolinherit", "rolcreaterole", "rolcreatedb",
                  "rolcanlogin", "rolreplication", "rolbypassrls", "rolconnlimit", "rolpassword")


def postgres_catalogs() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    with pg_cluster() as cluster:
        cluster.execute(";\n".join(STATEMENTS) + ";")
        acls = {name: acl for name, acl in cluster.query(
            "relname::text, relacl::text",
            "FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'S')")}
        columns = ", ".join(f"{c}::text" for c in AUTHID_COLUMNS)
        names = ", ".join("'" + n.replace("'", "''") + "'" for n in ROLE_NAMES)
        roles = {row[0]: tuple(row) for row in cluster.query(
            columns, f"FROM pg_authid WHERE rolname IN ({names})")}
    return acls, roles


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def mirrordb_catalogs(datadir: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    engine = Engine.open(datadir)
    session = Session(engine, "postgres", "postgres", SessionSettings(engine.settings))
    try:
        for statement in STATEMENTS:
            for result in session.simple_query(statement):
                list(result.rows)
            session.end_implicit()
        acl = boot.PG_CLASS.column_index("relacl")
        acls = {str(v[1]): _text(v[acl]) for _, v in engine.relcache.rows(boot.PG_CLASS, None)
                if v[2] == boot.PUBLIC_NAMESPACE_OID and v[4] in ("r", "S")}
        names = [c.name for c in boot.PG_AUTHID.columns]
        roles = {}
        for _, values in engine.relcache.rows(boot.PG_AUTHID, None):
            row = dict(zip(names, values))
            if row["rolname"] in ROLE_NAMES:
                roles[str(row["rolname"])] = tuple(_text(row[c]) for c in AUTHID_COLUMNS)
    finally:
        session.terminate()
        engine.close()
    return acls, roles


def test_acls_and_roles_match_postgres(cluster: str) -> None:
    expected_acls, expected_roles = postgres_catalogs()
    acls, roles = mirrordb_catalogs(cluster)
    assert acls == expected_acls
    assert roles == expected_roles
    assert "doomed" not in roles
    assert expected_acls["t1"] == (   # what PostgreSQL 15 printed, so the comparison bites
        '{postgres=arwdDxt/postgres,bob=r/postgres,=arwdDxt/postgres,"\\"we ird\\"=rw/postgres",'
        '"\\"Q\\"\\"uote\\"=w/postgres","\\"a,b\\"=Dxt/postgres","\\"ünï\\"=Dxt/postgres",'
        'carol=Dxt/postgres}')
