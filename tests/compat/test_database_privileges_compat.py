"""GRANT / REVOKE ... ON DATABASE, the datacl they leave, has_database_privilege, CREATE SCHEMA's
CREATE check, ALTER DATABASE OWNER's rewritten ACL and DROP ROLE of a role named in a database
ACL, on PostgreSQL 15 and on mirrordb side by side (tests/compat/differential.py): the same
answers, warnings, SQLSTATEs, messages, DETAILs and HINTs.

Connection refusals need real connections: tests/integration/test_database_connect_privilege.py.
"""

from __future__ import annotations

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = ["CREATE ROLE alice LOGIN", "CREATE ROLE bob LOGIN CREATEDB", 'CREATE ROLE "we ird"',
         "CREATE DATABASE d1", "CREATE DATABASE d2 OWNER bob"]

both = pair_fixture("database_privileges", SETUP, detailed=True)

# aclitem[] is served as text[] (sysviews.ACL_ARRAY), so the texts are compared
ACL_QUERY = "SELECT datname, datacl::text FROM pg_database ORDER BY datname"


def test_initial_acls_match(both) -> None:
    assert_same(both, [ACL_QUERY, "SELECT datname FROM pg_database WHERE datacl IS NULL"])


def test_grant_and_revoke_leave_the_same_acls(both) -> None:
    assert_same(both, [
        "GRANT CONNECT ON DATABASE d1 TO alice",
        "GRANT TEMP, TEMPORARY ON DATABASE d1 TO alice, bob",
        'GRANT ALL PRIVILEGES ON DATABASE d1 TO "we ird"',
        "GRANT CREATE ON DATABASE d1 TO PUBLIC",
        "REVOKE CONNECT, TEMPORARY ON DATABASE d1 FROM PUBLIC",
        "GRANT ALL ON DATABASE d1, d2 TO alice WITH GRANT OPTION",
        "REVOKE GRANT OPTION FOR CREATE ON DATABASE d2 FROM alice",
        "REVOKE ALL ON DATABASE d1 FROM d1",
        "GRANT CONNECT ON DATABASE nosuch TO alice",
        "GRANT CONNECT ON DATABASE d1 TO nosuch",
        "GRANT SELECT ON DATABASE d1 TO alice",
        "GRANT USAGE, CONNECT ON DATABASE d1 TO alice",
        "GRANT bogus ON DATABASE d1 TO alice",
        "GRANT CONNECT ON DATABASE d1 TO PUBLIC WITH GRANT OPTION",
        "REVOKE CONNECT ON DATABASE d1 FROM bob",
        "GRANT CONNECT (a) ON DATABASE d1 TO bob",
        ACL_QUERY,
    ])


def test_grantors_warnings_and_cascade(both) -> None:
    assert_same(both, [
        "CREATE DATABASE d3",
        "SET ROLE alice", "GRANT CONNECT ON DATABASE d3 TO bob",
        "REVOKE CONNECT ON DATABASE d3 FROM bob", "GRANT CREATE ON DATABASE template1 TO bob",
        "RESET ROLE", "REVOKE ALL ON DATABASE d3 FROM PUBLIC",
        "SET ROLE alice", "GRANT CONNECT ON DATABASE d3 TO bob", "RESET ROLE",
        "GRANT CONNECT, CREATE ON DATABASE d3 TO alice WITH GRANT OPTION",
        "SET ROLE alice", "GRANT CONNECT, TEMP ON DATABASE d3 TO bob",
        "GRANT ALL ON DATABASE d3 TO bob WITH GRANT OPTION",
        "SET ROLE bob", 'GRANT CONNECT ON DATABASE d3 TO "we ird"',
        "RESET ROLE", ACL_QUERY,
        "REVOKE GRANT OPTION FOR CONNECT ON DATABASE d3 FROM alice",
        "REVOKE GRANT OPTION FOR CONNECT ON DATABASE d3 FROM alice CASCADE", ACL_QUERY,
        "REVOKE CREATE ON DATABASE d3 FROM alice CASCADE", ACL_QUERY,
        "SET ROLE bob", "REVOKE ALL ON DATABASE d3 FROM alice", "RESET ROLE",
    ])


def test_has_database_privilege_reads_the_acl(both) -> None:
    assert_same(both, [
        "CREATE DATABASE d4", "REVOKE CONNECT ON DATABASE d4 FROM PUBLIC",
        "GRANT CREATE ON DATABASE d4 TO alice WITH GRANT OPTION",
        "SELECT has_database_privilege('alice', 'd4', 'CONNECT'), "
        "has_database_privilege('alice', 'd4', 'CREATE WITH GRANT OPTION'), "
        "has_database_privilege('alice', 'd4', 'TEMP'), "
        "has_database_privilege('bob', 'd4', 'connect, temporary'), "
        "has_database_privilege('bob', 'd4', 'CONNECT WITH GRANT OPTION'), "
        "has_database_privilege('postgres', 'd4', 'CREATE WITH GRANT OPTION'), "
        "has_database_privilege('alice', 'template1', 'TEMP'), "
        "has_database_privilege('alice', 'postgres', 'TEMP, CONNECT')",
        "SET ROLE alice", "SELECT has_database_privilege('d4', 'CREATE')", "RESET ROLE",
    ])


def test_create_schema_needs_create_on_the_database(both) -> None:
    assert_same(both, [
        "SET ROLE alice", "CREATE SCHEMA alice_s", "RESET ROLE",
        "GRANT CREATE ON DATABASE postgres TO alice",
        "SET ROLE alice", "CREATE SCHEMA alice_s", "RESET ROLE",
        "REVOKE CREATE ON DATABASE postgres FROM alice",
        "SET ROLE alice", "CREATE SCHEMA alice_t", "RESET ROLE", "DROP SCHEMA alice_s",
    ])


def test_alter_owner_rewrites_the_acl(both) -> None:
    assert_same(both, [
        "CREATE DATABASE d5", "GRANT CONNECT ON DATABASE d5 TO bob WITH GRANT OPTION",
        "SET ROLE bob", "GRANT CONNECT ON DATABASE d5 TO alice", "RESET ROLE",
        "REVOKE TEMP ON DATABASE d5 FROM postgres",
        "ALTER DATABASE d5 OWNER TO bob", ACL_QUERY,
        "ALTER DATABASE d5 OWNER TO alice", ACL_QUERY,
        "CREATE DATABASE d6", "ALTER DATABASE d6 OWNER TO bob", ACL_QUERY,
    ])


def test_drop_role_named_in_a_database_acl(both) -> None:
    assert_same(both, [
        "CREATE ROLE carol", "CREATE DATABASE d7", "CREATE DATABASE d8 OWNER carol",
        "GRANT CONNECT ON DATABASE d7 TO carol", "GRANT TEMP ON DATABASE d1 TO carol",
        "CREATE TABLE carol_t (a int)", "GRANT SELECT ON carol_t TO carol",
        "DROP ROLE carol",
        "REVOKE ALL ON DATABASE d7, d1 FROM carol", "REVOKE ALL ON carol_t FROM carol",
        "DROP ROLE carol", "DROP DATABASE d8", "DROP ROLE carol",
    ])
