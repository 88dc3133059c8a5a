"""ALTER DATABASE and COMMENT ON DATABASE reach a streaming standby: they are WAL-logged updates
of the shared catalogs pg_database and pg_shdescription, so the standby lists the renamed
database with its new owner, limit and flags, and refuses a connection to it as the primary
would (datallowconn false)."""

from __future__ import annotations

import psycopg

from tests.integration.test_standby_streaming import (poll, streaming_pair,
                                                     wait_for_replay_catchup)


def test_standby_shows_altered_databases(template_cluster: str, tmp_path: object) -> None:
    with streaming_pair(template_cluster, str(tmp_path), "CREATE ROLE owner_role",
                        "CREATE DATABASE first") as (primary, standby):
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            for statement in ["ALTER DATABASE first RENAME TO renamed",
                              "ALTER DATABASE renamed OWNER TO owner_role",
                              "ALTER DATABASE renamed CONNECTION LIMIT 3",
                              "ALTER DATABASE renamed IS_TEMPLATE true",
                              "ALTER DATABASE renamed ALLOW_CONNECTIONS false",
                              "COMMENT ON DATABASE renamed IS 'moved'"]:
                connection.execute(statement)
        wait_for_replay_catchup(primary, standby)
        query = ("SELECT datname, pg_get_userbyid(datdba), datconnlimit, datistemplate, "
                 "datallowconn, shobj_description(oid, 'pg_database') FROM pg_database "
                 "WHERE datname IN ('first', 'renamed')")

        def standby_rows() -> list[tuple[object, ...]]:
            with psycopg.connect(standby.dsn(), autocommit=True) as connection:
                return connection.execute(query).fetchall()
        expected = [("renamed", "owner_role", 3, True, False, "moved")]
        poll(lambda: standby_rows() == expected, "the standby to show the altered database",
             servers=(primary, standby))
        try:
            psycopg.connect(standby.dsn(dbname="renamed")).close()
            refused = ""
        except psycopg.OperationalError as failure:
            refused = str(failure)
        assert 'database "renamed" is not currently accepting connections' in refused
