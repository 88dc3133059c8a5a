"""CONNECT on a database, checked when a session starts, on a mirrordb server and on
PostgreSQL 15 side by side: the FATAL 42501 and its DETAIL, superusers always admitted, the
owner and PUBLIC as the ACL says; psql's ``\\l`` prints the stored datacl as PostgreSQL does;
a streaming standby refuses the same connection (datacl is a WAL-logged pg_database column).
"""

from __future__ import annotations

from typing import Any

import psycopg

from tests.integration.test_databases_sessions import (Connect, _answer, _connect_answer,
                                                       _ours, _psql, postgres_connect,
                                                       postgres_server)
from tests.integration.test_standby_streaming import (poll, streaming_pair,
                                                     wait_for_replay_catchup)
from tests.server_process import RunningServer

__all__ = ["postgres_connect", "postgres_server"]     # the fixtures this module uses

REFUSED = ("refused", 'permission denied for database "guarded"')


def _refusal_detail(connect: Connect, user: str, dbname: str) -> str | None:
    try:
        connect(user, dbname).close()
    except psycopg.OperationalError as failure:
        text = str(failure)
        return text.split("DETAIL:  ", 1)[1].strip() if "DETAIL:  " in text else None
    return None


def connect_privilege_scenario(connect: Connect) -> list[tuple[Any, ...]]:
    admin = connect("postgres", "postgres")
    steps = [_answer(admin, statement) for statement in (
        "CREATE ROLE keeper LOGIN", "CREATE ROLE guest LOGIN", "CREATE ROLE stranger LOGIN",
        "CREATE DATABASE guarded OWNER keeper",
        "REVOKE CONNECT ON DATABASE guarded FROM PUBLIC",
        "GRANT CONNECT ON DATABASE guarded TO guest")]
    steps += [_connect_answer(connect, user, "guarded")
              for user in ("stranger", "guest", "keeper", "postgres")]
    steps.append(("detail", _refusal_detail(connect, "stranger", "guarded")))
    steps += [_answer(admin, "REVOKE CONNECT ON DATABASE guarded FROM keeper"),
              _connect_answer(connect, "keeper", "guarded"),
              _answer(admin, "GRANT CONNECT ON DATABASE guarded TO PUBLIC"),
              _connect_answer(connect, "stranger", "guarded"),
              _answer(admin, "SELECT datacl::text FROM pg_database WHERE datname = 'guarded'")]
    admin.close()
    return steps


def test_connect_privilege(module_server: RunningServer, postgres_connect: Connect) -> None:
    ours = connect_privilege_scenario(_ours(module_server))
    assert ours == connect_privilege_scenario(postgres_connect)
    assert ours[6] == REFUSED
    assert ours[10] == ("detail", "User does not have CONNECT privilege.")


LIST_SETUP = ["CREATE ROLE lister_acl", "CREATE DATABASE acl_listed",
              "GRANT CONNECT, TEMP ON DATABASE acl_listed TO lister_acl WITH GRANT OPTION",
              'CREATE ROLE "odd name"', 'GRANT CREATE ON DATABASE acl_listed TO "odd name"',
              "REVOKE TEMP ON DATABASE acl_listed FROM PUBLIC"]


def test_psql_lists_database_acls(module_server: RunningServer, postgres_server: Any,
                                  postgres_connect: Connect) -> None:
    listings = []
    for server, connect in ((module_server, _ours(module_server)),
                            (postgres_server, postgres_connect)):
        with connect("postgres", "postgres") as admin:
            for statement in LIST_SETUP:
                assert _answer(admin, statement)[0] == "ok", statement
        listings.append(_psql(server, "-d", "postgres", "-c", r"\l acl_listed"))
    assert listings[0] == listings[1]
    assert "lister_acl=T*c*/postgres" in listings[0]


def test_standby_refuses_without_connect(template_cluster: str, tmp_path: object) -> None:
    with streaming_pair(template_cluster, str(tmp_path), "CREATE ROLE visitor LOGIN",
                        "CREATE DATABASE closed") as (primary, standby):
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            connection.execute("REVOKE CONNECT ON DATABASE closed FROM PUBLIC")
        wait_for_replay_catchup(primary, standby)
        query = "SELECT datacl::text FROM pg_database WHERE datname = 'closed'"

        def standby_acl() -> list[tuple[object, ...]]:
            with psycopg.connect(standby.dsn(), autocommit=True) as connection:
                return connection.execute(query).fetchall()
        poll(lambda: standby_acl() == [("{=T/postgres,postgres=CTc/postgres}",)],
             "the standby to show the new datacl", servers=(primary, standby))
        try:
            psycopg.connect(standby.dsn("visitor", "closed")).close()
            refused = ""
        except psycopg.OperationalError as failure:
            refused = str(failure)
        assert 'permission denied for database "closed"' in refused
