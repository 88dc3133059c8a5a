"""The walreceiver flushes streamed WAL and wakes the startup thread as soon as no more bytes are
waiting, before it blocks for the next tick (a tick-long wait first made every replayed commit
100 ms late: see bench/replication_bench.py), and never counts WAL as flushed after a failed
fsync. The socket and the protocol are stubs: no server."""

from __future__ import annotations

import errno

import pytest

from mirrordb.common.errors import IoError
from mirrordb.protocol.messages import CopyData
from mirrordb.replication import walreceiver
from mirrordb.replication.messages import XLogData
from mirrordb.replication.walreceiver import StandbyIdentity, WalReceiver

SEGMENT_SIZE = 1024 * 1024
START_LSN = 3 * SEGMENT_SIZE


class _Protocol:
    """Hands out the prepared backend messages, then nothing."""

    def __init__(self, events: list[object]) -> None:
        self.events = events

    def next_event(self) -> object | None:
        return self.events.pop(0) if self.events else None

    def receive_data(self, data: bytes) -> None:
        raise AssertionError("no bytes expected")


class _Waits:
    """Stands for the walreceiver's wait for input: records each wait it asks for; nothing ever
    arrives (a wait longer than zero ends the stream)."""

    def __init__(self, receiver: WalReceiver, log: list[str]) -> None:
        self.receiver, self.log = receiver, log

    def __call__(self, sock: object, wait_s: float) -> bool:
        self.log.append(f"recv wait={wait_s}")
        if wait_s:
            self.receiver._stopping.set()
        return False


class _Client:
    def __init__(self, protocol: _Protocol, sock: object) -> None:
        self.protocol, self.sock = protocol, sock

    def send(self, *messages: object) -> None:
        pass


def test_streamed_wal_is_flushed_and_replay_woken_before_waiting(tmp_path, monkeypatch):
    log: list[str] = []
    (tmp_path / "pg_wal").mkdir()
    identity = StandbyIdentity(str(tmp_path), 1, 1, SEGMENT_SIZE)
    receiver = WalReceiver(identity, lambda: None, start_lsn=lambda: START_LSN,
                           applied_lsn=lambda: START_LSN,
                           wake_startup=lambda: log.append("wake startup"))
    monkeypatch.setattr(receiver, "_setting_ms", lambda name: 0)
    receiver.writer.written_lsn = receiver.writer.flushed_lsn = START_LSN
    data = XLogData(START_LSN, START_LSN + 100, 0, b"\0" * 100)
    receiver._client = _Client(_Protocol([CopyData(data.encode())]), object())
    monkeypatch.setattr(receiver, "_wait_readable", _Waits(receiver, log))
    receiver._stream()
    receiver.writer.close()
    assert log == ["recv wait=0.0", "wake startup", f"recv wait={walreceiver.TICK_S}"]
    assert receiver.status.flushed_lsn == START_LSN + 100


def test_a_backlog_is_flushed_in_pieces_while_more_is_waiting(tmp_path, monkeypatch):
    """A catching-up standby receives more than FLUSH_AFTER_BYTES without the socket ever
    running dry: the startup thread is woken after each piece, not once at the end."""
    wakes: list[int] = []
    (tmp_path / "pg_wal").mkdir()
    identity = StandbyIdentity(str(tmp_path), 1, 1, SEGMENT_SIZE)
    receiver = WalReceiver(identity, lambda: None, start_lsn=lambda: START_LSN,
                           applied_lsn=lambda: START_LSN,
                           wake_startup=lambda: wakes.append(receiver.status.flushed_lsn))
    monkeypatch.setattr(receiver, "_setting_ms", lambda name: 0)
    monkeypatch.setattr(walreceiver, "FLUSH_AFTER_BYTES", 64 * 1024)
    receiver.writer.written_lsn = receiver.writer.flushed_lsn = START_LSN
    chunk = 16 * 1024
    events = [CopyData(XLogData(START_LSN + offset, START_LSN + SEGMENT_SIZE, 0,
                                b"\1" * chunk).encode())
              for offset in range(0, 256 * 1024, chunk)]
    receiver._client = _Client(_Protocol(events), object())
    monkeypatch.setattr(receiver, "_wait_readable", _Waits(receiver, []))
    receiver._stream()
    receiver.writer.close()
    assert wakes == [START_LSN + piece for piece in range(64 * 1024, 256 * 1024 + 1, 64 * 1024)]


def test_a_failed_fsync_breaks_the_writer_and_stops_the_server(tmp_path, monkeypatch):
    """After a failed fsync the kernel may have dropped the pages it could not write: no later
    flush may count them as durable. The writer refuses from then on and the walreceiver calls
    its panic hook once instead of reconnecting (PostgreSQL PANICs)."""
    panics: list[BaseException] = []
    (tmp_path / "pg_wal").mkdir()
    segment = tmp_path / "pg_wal" / "000000010000000000000003"   # holds START_LSN
    segment.write_bytes(bytes(SEGMENT_SIZE))
    identity = StandbyIdentity(str(tmp_path), 1, 1, SEGMENT_SIZE)
    receiver = WalReceiver(identity, lambda: None, start_lsn=lambda: START_LSN,
                           applied_lsn=lambda: START_LSN, wake_startup=lambda: None,
                           on_panic=panics.append)
    monkeypatch.setattr(receiver, "_setting_ms", lambda name: 0)
    receiver.writer.written_lsn = receiver.writer.flushed_lsn = START_LSN
    data = XLogData(START_LSN, START_LSN + 100, 0, b"\0" * 100)

    def one_connection() -> None:
        receiver._client = _Client(_Protocol([CopyData(data.encode())]), object())
        receiver._stream()

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(receiver, "_one_connection", one_connection)
    monkeypatch.setattr(receiver, "_disconnect", lambda: None)
    monkeypatch.setattr(receiver, "_wait_readable", _Waits(receiver, []))
    monkeypatch.setattr(walreceiver.os, "fsync", failing_fsync)
    receiver._run()     # returns after the panic instead of waiting to reconnect
    assert len(panics) == 1 and "could not fsync file" in str(panics[0])
    assert receiver.writer.broken == f'could not fsync file "{segment}": Input/output error'
    assert receiver.writer.written_lsn == START_LSN + 100
    assert receiver.writer.flushed_lsn == START_LSN        # nothing counted as durable
    assert receiver.status.flushed_lsn < START_LSN + 100   # nor reported to the primary
    monkeypatch.undo()                                     # a later fsync would succeed ...
    writer = receiver.writer
    for attempt in (lambda: writer.flush(), lambda: writer.write(START_LSN, b"\0")):
        with pytest.raises(IoError, match="could not fsync file"):   # ... it is never tried
            attempt()
