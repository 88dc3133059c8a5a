"""Server and connection facts on a real server: pg_conf_load_time moves with each reload
(pg_reload_conf, SIGHUP) while pg_postmaster_start_time stays; the inet_* functions answer
over TCP and are NULL over the Unix socket; pg_stat_ssl shows an encrypted connection's TLS
version, cipher and bits."""

from __future__ import annotations

import datetime
import signal
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.integration.test_server_ssl import make_certificate
from tests.server_process import RunningServer, start_server

DEADLINE_S = 30.0
POLL_S = 0.05


@pytest.fixture
def server(cluster: str) -> Iterator[RunningServer]:
    running = start_server(cluster)
    yield running
    running.stop()


def _times(conn: psycopg.Connection) -> tuple[datetime.datetime, datetime.datetime]:
    row = conn.execute("SELECT pg_postmaster_start_time(), pg_conf_load_time()").fetchone()
    assert row is not None
    return row[0], row[1]


def _wait_for_reload(conn: psycopg.Connection, previous: datetime.datetime) -> datetime.datetime:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        _, loaded = _times(conn)
        if loaded > previous:
            return loaded
        assert time.monotonic() < deadline, "pg_conf_load_time did not move"
        time.sleep(POLL_S)


def test_conf_load_time_moves_on_reload(server: RunningServer) -> None:
    with server.connect(autocommit=True) as conn:
        started, loaded = _times(conn)
        assert started <= datetime.datetime.now(datetime.timezone.utc)
        assert conn.execute("SELECT pg_reload_conf()").fetchone() == (True,)
        reloaded = _wait_for_reload(conn, loaded)
        server.process.send_signal(signal.SIGHUP)
        _wait_for_reload(conn, reloaded)
        assert _times(conn)[0] == started


def test_connection_ends_over_tcp_and_unix_socket(server: RunningServer) -> None:
    with server.connect(autocommit=True) as conn:
        row = conn.execute("SELECT inet_client_addr(), inet_client_port(), inet_server_addr(),"
                           " inet_server_port(), client_port FROM pg_stat_activity"
                           " WHERE pid = pg_backend_pid()").fetchone()
        assert row is not None
        assert (row[0], row[2], row[3]) == ("127.0.0.1", "127.0.0.1", server.port)
        assert row[1] == row[4] > 0
    with psycopg.connect(host=server.datadir, port=server.port, user="postgres",
                         dbname="postgres", autocommit=True) as local:
        assert local.execute("SELECT inet_client_addr(), inet_client_port(), "
                             "inet_server_addr(), inet_server_port()").fetchone() == \
            (None, None, None, None)
        assert local.execute("SELECT ssl, version FROM pg_stat_ssl "
                             "WHERE pid = pg_backend_pid()").fetchall() == [(False, None)]


def test_pg_stat_ssl_shows_the_tls_session(cluster: str) -> None:
    make_certificate(cluster)
    server = start_server(cluster, ssl="on")
    try:
        with psycopg.connect(server.dsn() + " sslmode=require", autocommit=True) as conn:
            row = conn.execute("SELECT ssl, version, cipher, bits, client_dn, client_serial,"
                               " issuer_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                               ).fetchone()
            assert row is not None
            ssl, version, cipher, bits, *client = row
            assert ssl is True
            assert version in ("TLSv1.2", "TLSv1.3")   # the server's minimum is 1.2
            assert cipher and cipher == cipher.upper() and " " not in cipher   # OpenSSL's name
            assert bits in (128, 256)
            assert client == [None, None, None]    # no client certificate was asked for
            assert conn.execute("SELECT gss_authenticated, principal, encrypted "
                                "FROM pg_stat_gssapi WHERE pid = pg_backend_pid()"
                                ).fetchall() == [(False, None, False)]
        with psycopg.connect(server.dsn() + " sslmode=disable", autocommit=True) as plain:
            assert plain.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                                 ).fetchall() == [(False,)]
    finally:
        server.stop()
