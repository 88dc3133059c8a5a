"""A stand-in for ``mirrordb.server.backend`` in process-control tests.

It speaks a tiny line protocol instead of PostgreSQL's, so tests can observe the postmaster
without depending on the real backend:

* ``admit`` -> ``OK`` or ``ERROR <sqlstate> <message>`` (``Server.admit``; released at the end)
* ``key`` -> ``<pid> <secret>``
* ``show <name>`` -> the server's current value (``server.settings.show``)
* ``sleep`` -> waits (``BackendInfo.state`` "active"), interruptibly, until cancelled
  (``CANCELED``) or terminated

The session registers (``Server.register_backend``) at its first command, as a real backend
does after authentication; a silent connection stays unregistered. On a terminate (fast/immediate shutdown, pg_terminate_backend) it sends ``FATAL <sqlstate>
<message>`` and closes, as a real backend sends its FATAL ErrorResponse.

``install()`` makes every ``Server`` use it; the process-control tests load it in the server
process through a ``sitecustomize.py`` on PYTHONPATH.
"""

from __future__ import annotations

import socket
from typing import Any

from mirrordb.common.errors import AdminShutdown, MirrordbError, QueryCanceled
from mirrordb.server.postmaster import BackendInfo, Server

LINE_LIMIT_BYTES = 4096


def serve(server: Server, sock: socket.socket, peer: Any, is_unix: bool) -> None:
    info = BackendInfo(client_addr=None if is_unix else peer[0])
    session = _Session(server, sock, info)
    try:
        session.run()
    finally:
        if session.admitted:
            server.release()
        if info.pid:
            server.unregister_backend(info.pid)
        info.interrupts.close()


class _Session:
    def __init__(self, server: Server, sock: socket.socket, info: BackendInfo) -> None:
        self.server, self.sock, self.info = server, sock, info
        self.admitted = False
        self.buffer = b""

    def run(self) -> None:
        while True:
            line = self._read_line()
            if line is None:
                return
            if not self._answer(line):
                return

    def _read_line(self) -> str | None:
        while b"\n" not in self.buffer:
            if not self._wait():
                return None
            data = self.sock.recv(LINE_LIMIT_BYTES)
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def _wait(self) -> bool:
        """Wait for input; False when the session must end (after sending FATAL)."""
        while not self.info.interrupts.wait_readable(self.sock, None):
            try:
                self.info.interrupts.check_for_interrupts()
            except AdminShutdown as error:
                self._send(f"FATAL {error.sqlstate} {error.message}")
                return False
            except QueryCanceled:
                continue   # a cancel while idle is dropped
        return True

    def _answer(self, line: str) -> bool:
        if not self.info.pid:
            self.server.register_backend(self.info)
        command, _, argument = line.partition(" ")
        if command == "admit":
            try:
                self.server.admit()
            except MirrordbError as error:
                self._send(f"ERROR {error.sqlstate} {error.message}")
                return True
            self.admitted = True
            self._send("OK")
        elif command == "key":
            self._send(f"{self.info.pid} {self.info.secret_key}")
        elif command == "show":
            self._send(self.server.settings.show(argument))
        elif command == "sleep":
            return self._sleep()
        return True

    def _sleep(self) -> bool:
        self.info.state = "active"
        while True:
            self.info.interrupts.wait(None)
            try:
                self.info.interrupts.check_for_interrupts()
            except QueryCanceled as error:
                self.info.state = "idle"
                self._send(f"CANCELED {error.sqlstate} {error.message}")
                return True
            except AdminShutdown as error:
                self._send(f"FATAL {error.sqlstate} {error.message}")
                return False

    def _send(self, text: str) -> None:
        try:
            self.sock.sendall(text.encode() + b"\n")
        except OSError:
            pass


def install() -> None:
    Server._handler = lambda self: serve  # type: ignore[method-assign]
