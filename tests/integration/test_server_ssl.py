"""TLS: with ``ssl = on`` and a certificate, clients negotiate SSL (SSLRequest -> 'S'), hostssl
rules match only encrypted connections; with ``ssl = off`` the server answers 'N'."""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
import pytest

from tests.server_process import start_server


def make_certificate(datadir: str) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", os.path.join(datadir, "server.key"),
                    "-out", os.path.join(datadir, "server.crt")],
                   check=True, capture_output=True)
    os.chmod(os.path.join(datadir, "server.key"), 0o600)


def test_ssl_connections_and_hostssl(cluster):
    make_certificate(cluster)
    with open(os.path.join(cluster, "pg_hba.conf"), "w") as hba:
        hba.write("local all all trust\n"
                  "hostssl all all 127.0.0.1/32 trust\n"
                  "hostnossl all all 127.0.0.1/32 reject\n")
    server = start_server(cluster, ssl="on")   # readiness probe uses sslmode=prefer
    try:
        with psycopg.connect(server.dsn() + " sslmode=require", connect_timeout=5) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("select 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="rejects connection"):
            psycopg.connect(server.dsn() + " sslmode=disable", connect_timeout=5)
    finally:
        server.stop()


def test_ssl_off_answers_n(cluster):
    server = start_server(cluster)
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.dsn() + " sslmode=require", connect_timeout=5)
        with psycopg.connect(server.dsn() + " sslmode=prefer", connect_timeout=5) as conn:
            assert not conn.pgconn.ssl_in_use
    finally:
        server.stop()
