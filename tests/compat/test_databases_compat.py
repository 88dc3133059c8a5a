"""CREATE / ALTER / DROP DATABASE, COMMENT ON DATABASE, DROP ROLE of a database owner and the
database functions, on PostgreSQL 15 and on mirrordb side by side (tests/compat/differential.py):
the same answers, SQLSTATEs, messages, DETAILs, HINTs and positions.

One session each, so the cases needing a second session (a template or database in use, WITH
(FORCE), connection limits) are tests/integration/test_databases_sessions.py's.
"""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = ["CREATE ROLE alice LOGIN", "CREATE ROLE bob LOGIN CREATEDB"]

both = pair_fixture("databases", SETUP, detailed=True)

CREATE_AND_DROP = [
    "CREATE DATABASE d1", "CREATE DATABASE d1", "CREATE DATABASE d2 TEMPLATE nosuch",
    "CREATE DATABASE d2 STRATEGY bogus", "CREATE DATABASE d2 STRATEGY = file_copy",
    "BEGIN", "CREATE DATABASE d3", "ROLLBACK", "BEGIN", "DROP DATABASE d2", "ROLLBACK",
    "SET ROLE alice", "CREATE DATABASE d4", "RESET ROLE",
    "DROP DATABASE IF EXISTS nosuch", "DROP DATABASE nosuch", "DROP DATABASE postgres",
    "DROP DATABASE template1", "SET ROLE bob", "DROP DATABASE d2", "CREATE DATABASE bobdb",
    "DROP DATABASE bobdb", "RESET ROLE",
    "CREATE DATABASE d5 CONNECTION LIMIT -5", "CREATE DATABASE d5 OWNER nosuch",
    "CREATE DATABASE d5 WITH FOO = 1", "CREATE DATABASE d5 CONNECTION LIMIT 3 CONNECTION LIMIT 4",
    "CREATE DATABASE d5 IS_TEMPLATE = maybe", "CREATE DATABASE d5 OID 100",
    "CREATE DATABASE d5 ENCODING LATIN1",
    "SELECT datname, datistemplate, datallowconn, datconnlimit, pg_get_userbyid(datdba) "
    "FROM pg_database ORDER BY 1",
    "SELECT current_database()", "DROP DATABASE d1", "DROP DATABASE d2",
]

ALTER = [
    "CREATE DATABASE d1", "CREATE DATABASE bobdb OWNER bob",
    "ALTER DATABASE d1 RENAME TO d1x", "ALTER DATABASE nosuch RENAME TO d9",
    "ALTER DATABASE d1x RENAME TO template1", "ALTER DATABASE postgres RENAME TO p2",
    "SET ROLE alice", "ALTER DATABASE d1x RENAME TO d1y", "ALTER DATABASE d1x OWNER TO alice",
    "ALTER DATABASE d1x CONNECTION LIMIT 3", "RESET ROLE",
    "SET ROLE bob", "ALTER DATABASE bobdb RENAME TO bobdb2", "ALTER DATABASE bobdb2 OWNER TO alice",
    "ALTER DATABASE bobdb2 OWNER TO bob", "ALTER DATABASE bobdb2 CONNECTION LIMIT 2", "RESET ROLE",
    "ALTER DATABASE d1x OWNER TO nosuch", "ALTER DATABASE nosuch OWNER TO alice",
    "ALTER DATABASE d1x OWNER TO alice", "ALTER DATABASE d1x CONNECTION LIMIT 7",
    "ALTER DATABASE d1x WITH CONNECTION LIMIT = -2", "ALTER DATABASE d1x ALLOW_CONNECTIONS false",
    "ALTER DATABASE d1x IS_TEMPLATE true", "ALTER DATABASE d1x IS_TEMPLATE maybe",
    "ALTER DATABASE d1x FOO 1", "ALTER DATABASE d1x CONNECTION LIMIT 1 CONNECTION LIMIT 2",
    "ALTER DATABASE postgres ALLOW_CONNECTIONS false",
    "ALTER DATABASE postgres ALLOW_CONNECTIONS true", "ALTER DATABASE nosuch CONNECTION LIMIT 1",
    "SELECT datname, datistemplate, datallowconn, datconnlimit, pg_get_userbyid(datdba) "
    "FROM pg_database ORDER BY 1",
    "DROP DATABASE d1x", "ALTER DATABASE d1x IS_TEMPLATE false", "DROP DATABASE d1x",
    "BEGIN", "ALTER DATABASE bobdb2 RENAME TO bobdb3", "ROLLBACK",
    "SELECT datname FROM pg_database ORDER BY 1",
]

OPTIONS = [
    "CREATE DATABASE d1", "SET ROLE bob", "CREATE DATABASE x TEMPLATE postgres", "RESET ROLE",
    "ALTER DATABASE d1 ALLOW_CONNECTIONS", "ALTER DATABASE d1 IS_TEMPLATE",
    "ALTER DATABASE d1 SET TABLESPACE pg_default", "ALTER DATABASE d1 SET TABLESPACE nosuch",
    "ALTER DATABASE d1 TABLESPACE pg_default", "ALTER DATABASE postgres SET TABLESPACE nosuch",
    "ALTER DATABASE nosuch SET TABLESPACE nosuch",
    "BEGIN", "ALTER DATABASE d1 SET TABLESPACE pg_default", "ROLLBACK",
    "ALTER DATABASE d1 TABLESPACE pg_default CONNECTION LIMIT 3",
    "ALTER DATABASE d1 CONNECTION LIMIT 3 TABLESPACE pg_default",
    "ALTER DATABASE d1 CONNECTION LIMIT 'abc'", "ALTER DATABASE d1 CONNECTION LIMIT 2.5",
    "CREATE DATABASE d2 WITH OWNER = bob TEMPLATE = d1 CONNECTION_LIMIT = 5 IS_TEMPLATE = on",
    "SELECT datname, datistemplate, datallowconn, datconnlimit, pg_get_userbyid(datdba) "
    "FROM pg_database WHERE datname = 'd2'",
    "DROP DATABASE d1 WITH (FORCE)", "DROP DATABASE IF EXISTS d1 WITH (FORCE)",
    "ALTER DATABASE d2 RENAME TO d2", "ALTER DATABASE d2 OWNER TO CURRENT_USER",
    "ALTER DATABASE d2 OWNER TO public", "COMMENT ON DATABASE d2 IS NULL",
    "DROP DATABASE d2", "ALTER DATABASE d2 IS_TEMPLATE false", "DROP DATABASE d2",
]

INTROSPECTION = [
    "DROP ROLE bob",
    "SELECT pg_database_size('template0') > 8192, "
    "pg_database_size(4) = pg_database_size('template0')",
    "SELECT pg_database_size('nosuch')", "SELECT pg_database_size(99999)",
    "SELECT has_database_privilege('alice', 'bobdb2', 'CREATE'), "
    "has_database_privilege('alice', 'bobdb2', 'CONNECT, TEMP'), "
    "has_database_privilege('bob', 'bobdb2', 'CREATE'), "
    "has_database_privilege('template1', 'create')",
    "SELECT has_database_privilege('alice', 'bobdb2', 'CREATE WITH GRANT OPTION'), "
    "has_database_privilege('alice', 'bobdb2', 'CONNECT WITH GRANT OPTION'), "
    "has_database_privilege('alice', 'bobdb2', 'CREATE, TEMP')",
    "SELECT has_database_privilege('alice', 99999, 'CREATE')",
    "SELECT has_database_privilege('alice', 'nosuch', 'CREATE')",
    "COMMENT ON DATABASE bobdb2 IS 'bobs'", "COMMENT ON DATABASE nosuch IS 'x'",
    "SET ROLE alice", "COMMENT ON DATABASE bobdb2 IS 'mine'", "RESET ROLE",
    "SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d ORDER BY 1",
    "SELECT datname FROM pg_stat_database ORDER BY 1",
    "CREATE TABLE t (a int)", "INSERT INTO t SELECT generate_series(1, 5000)",
    "SELECT pg_database_size('postgres') = pg_database_size(current_database())",
    "DROP DATABASE bobdb2", "DROP ROLE bob",
]


@pytest.mark.parametrize("statements", [CREATE_AND_DROP, ALTER, OPTIONS, INTROSPECTION],
                         ids=["create-drop", "alter", "options", "introspection"])
def test_same_as_postgres(both: tuple[Reference, Ours], statements: list[str]) -> None:
    assert_same(both, statements)


def test_database_size_counts_the_directory(both: tuple[Reference, Ours]) -> None:
    """A database made from template1 is as big as template1's directory; a table in it
    grows it (the directory sum, not the current database's relations)."""
    _, ours = both
    assert ours.run("CREATE DATABASE sized") == ("command", [])
    before = ours.run("SELECT pg_database_size('sized') = pg_database_size('template1')")
    assert before[2] == [("t",)]
    assert ours.run("DROP DATABASE sized") == ("command", [])
