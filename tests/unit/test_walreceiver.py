"""The walreceiver's pure parts: primary_conninfo parsing (libpq's key=value and URI forms),
libpq's defaults, and the segment writer that puts streamed WAL into pg_wal."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.replication.walreceiver import (SegmentWriter, WalReceiverError, parse_conninfo,
                                              primary_address, streaming_start_lsn)
from mirrordb.wal.segment import WAL_PAGE_SIZE, segment_name

SEGMENT_SIZE = 1024 * 1024


def test_key_value_form_with_quotes_and_escapes():
    text = "user=replicator host=10.0.0.1 port=5433 application_name=s1"
    # libpq doubles nothing: a quote inside a quoted value is escaped with a backslash
    assert parse_conninfo("user=replicator password='it\\'s x' host = 10.0.0.1 port=5433") == {
        "user": "replicator", "password": "it's x", "host": "10.0.0.1", "port": "5433"}
    assert parse_conninfo(text)["application_name"] == "s1"


def test_what_basebackup_r_writes_parses():
    from mirrordb.cli.basebackup import ConnectionSettings, primary_conninfo
    text = primary_conninfo(ConnectionSettings("127.0.0.1", 5432, "rep user"), "p'w d")
    assert parse_conninfo(text) == {"user": "rep user", "password": "p'w d",
                                    "host": "127.0.0.1", "port": "5432"}


def test_uri_form():
    assert parse_conninfo("postgresql://rep:s%40cret@primary.example:6543/postgres"
                          "?application_name=standby1&sslmode=disable") == {
        "user": "rep", "password": "s@cret", "host": "primary.example", "port": "6543",
        "dbname": "postgres", "application_name": "standby1", "sslmode": "disable"}
    assert parse_conninfo("postgres://[::1]:5432")["host"] == "::1"
    assert parse_conninfo("postgresql://host-only") == {"host": "host-only"}


def test_malformed_conninfo_is_an_error():
    with pytest.raises(WalReceiverError, match='missing "="'):
        parse_conninfo("host")
    with pytest.raises(WalReceiverError, match="unterminated quoted string"):
        parse_conninfo("password='open")


def test_defaults_and_bad_port(monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGPORT", raising=False)
    monkeypatch.setenv("PGUSER", "someone")
    address = primary_address({})
    assert (address.host, address.port, address.user, address.application_name) == (
        "/tmp", 5432, "someone", "walreceiver")
    assert primary_address({"host": "a,b", "port": "7000,7001"}).host == "a"
    with pytest.raises(WalReceiverError, match="invalid port number"):
        primary_address({"port": "x"})


@given(st.text(max_size=200))
def test_fuzz_conninfo_raises_only_operating_errors(text):
    try:
        parse_conninfo(text)
    except MirrordbError:
        pass


def test_segment_writer_creates_full_segments_and_crosses_boundaries(tmp_path):
    writer = SegmentWriter(str(tmp_path), 1, SEGMENT_SIZE)
    start = 2 * SEGMENT_SIZE - 100
    data = bytes(range(256)) * 2
    writer.write(start, data)
    assert writer.written_lsn == start + len(data) and writer.flushed_lsn == 0
    assert writer.flush() is True and writer.flushed_lsn == start + len(data)
    assert writer.flush() is False
    writer.close()
    first = tmp_path / segment_name(1, 1, SEGMENT_SIZE)
    second = tmp_path / segment_name(1, 2, SEGMENT_SIZE)
    assert os.path.getsize(first) == os.path.getsize(second) == SEGMENT_SIZE
    assert first.read_bytes()[-100:] == data[:100]
    assert second.read_bytes()[:len(data) - 100] == data[100:]
    assert not any(name.startswith("xlogtemp") for name in os.listdir(tmp_path))


def test_segment_writer_rewrites_existing_segment_in_place(tmp_path):
    path = tmp_path / segment_name(1, 0, SEGMENT_SIZE)
    path.write_bytes(b"\1" * SEGMENT_SIZE)
    writer = SegmentWriter(str(tmp_path), 1, SEGMENT_SIZE)
    writer.write(8192, b"\2" * 10)
    writer.flush()
    writer.close()
    content = path.read_bytes()
    assert content[8190:8204] == b"\1\1" + b"\2" * 10 + b"\1\1"
    assert len(content) == SEGMENT_SIZE


def test_streaming_resumes_inside_a_segment_already_on_disk():
    inside = 3 * SEGMENT_SIZE + 5 * WAL_PAGE_SIZE + 100
    assert streaming_start_lsn(inside, SEGMENT_SIZE, True) == 3 * SEGMENT_SIZE + 5 * WAL_PAGE_SIZE
    # a segment the receiver has to create is written from its first byte (PostgreSQL's rule)
    assert streaming_start_lsn(inside, SEGMENT_SIZE, False) == 3 * SEGMENT_SIZE
    assert streaming_start_lsn(3 * SEGMENT_SIZE, SEGMENT_SIZE, True) == 3 * SEGMENT_SIZE
    page_start = 3 * SEGMENT_SIZE + WAL_PAGE_SIZE
    assert streaming_start_lsn(page_start, SEGMENT_SIZE, True) == page_start


def test_segment_writer_knows_which_segments_it_holds(tmp_path):
    writer = SegmentWriter(str(tmp_path), 1, SEGMENT_SIZE)
    assert not writer.holds_segment(2)
    writer.write(2 * SEGMENT_SIZE + 10, b"x")
    assert writer.holds_segment(2) and not writer.holds_segment(3)
    writer.sync_segment(2)          # the open segment: synced, still writable
    writer.write(2 * SEGMENT_SIZE + 11, b"y")
    writer.flush()
    writer.close()
    content = (tmp_path / segment_name(1, 2, SEGMENT_SIZE)).read_bytes()
    assert content[10:12] == b"xy"
