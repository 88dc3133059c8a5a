"""The client side of a protocol v3 connection: a sans-I/O state machine over bytes.

Who drives it: tests, and the standby's WAL receiver (``mirrordb/replication``), which own the
socket. They write ``startup(...)`` (optionally after ``request_ssl()``), feed received bytes to
``receive_data`` (``b""`` at end of input), pull decoded backend messages with ``next_event()``
until it returns None, queue frontend messages with ``send(...)`` and write ``data_to_send()``.
The server half is ``server.py``; the message codec is ``messages.py``.

Phases (the machine moves itself, from what it sends and receives)::

    STARTUP ──request_ssl()──▶ (one byte: S or N → SSLResponse event) ──▶ STARTUP
    STARTUP ──startup()──▶ AUTHENTICATING ──AuthenticationOk received──▶ READY
    any ──send(Terminate()) / ConnectionClosed / fatal ProtocolViolation──▶ CLOSED

Limits and wording follow libpq (fe-connect.c, fe-protocol3.c): while authenticating only 'R',
'v' and 'E' may arrive ('R'/'v' of 8 .. 2000 bytes, 'E' of 8 .. 30000); afterwards a message
longer than 30000 bytes must be one of the "long" types T D d V E N A, which may reach
PostgreSQL's large limit (1 GiB - 2). A length word below 4 loses synchronization. Violations
are ``ProtocolViolation``; ``fatal`` ones close the machine, non-fatal ones (a malformed body of
a well-framed message) are skipped, as libpq skips them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from mirrordb.common.errors import ProtocolViolation, invariant
from mirrordb.protocol.buffers import ConnectionClosed, InputBuffer, OutputBuffer
from mirrordb.protocol.messages import (
    BACKEND_DECODERS,
    PROTOCOL_VERSION_3_0,
    AuthenticationOk,
    BackendMessage,
    FrontendMessage,
    PasswordMessage,
    SSLRequest,
    StartupMessage,
    Terminate,
    decode_backend,
    unexpected_backend_type_text,
)
from mirrordb.protocol.wire import LENGTH_WORD, LENGTH_WORD_SIZE, MESSAGE_HEADER_SIZE

CLIENT_SMALL_MESSAGE_LIMIT = 30000  # libpq: longest length word of a message not in LONG_TYPES
CLIENT_LARGE_MESSAGE_LIMIT = 0x3FFFFFFE  # our bound on the long types (PostgreSQL's large limit)
AUTH_REQUEST_MIN_LENGTH = 8
AUTH_REQUEST_MAX_LENGTH = 2000  # libpq's bound on 'R' and 'v' during authentication
AUTH_ERROR_MAX_LENGTH = 30000  # libpq's bound on 'E' during authentication
MINIMUM_MESSAGE_LENGTH = 4
LONG_MESSAGE_TYPES = frozenset(ord(code) for code in "TDdVENA")
AUTHENTICATION_TYPES: Mapping[int, int] = {
    ord("R"): AUTH_REQUEST_MAX_LENGTH, ord("v"): AUTH_REQUEST_MAX_LENGTH,
    ord("E"): AUTH_ERROR_MAX_LENGTH}
SERVER_CLOSED_TEXT = "server closed the connection unexpectedly"


class ClientPhase(enum.Enum):
    STARTUP = "startup"
    AUTHENTICATING = "authenticating"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class SSLResponse:
    """Event: the server's one-byte answer to an SSLRequest (``accepted``: it said ``S``)."""

    accepted: bool


ClientEvent = BackendMessage | SSLResponse | ConnectionClosed


class ClientConnection:
    """One connection to a server, client side. Not thread-safe: one thread owns it."""

    def __init__(self) -> None:
        self._phase = ClientPhase.STARTUP
        self._input = InputBuffer()
        self._output = OutputBuffer()
        self._awaiting_ssl_response = False

    @property
    def phase(self) -> ClientPhase:
        return self._phase

    # -- startup -------------------------------------------------------------------------------

    def request_ssl(self) -> bytes:
        """The SSLRequest packet; the next event is the server's SSLResponse."""
        invariant(self._phase is ClientPhase.STARTUP and not self._awaiting_ssl_response,
                  f"request_ssl() in phase {self._phase.name}")
        self._awaiting_ssl_response = True
        return SSLRequest().encode()

    def startup(self, parameters: Mapping[str, str],
                protocol_version: int = PROTOCOL_VERSION_3_0) -> bytes:
        """The StartupMessage packet (user, database, application_name, replication...)."""
        invariant(self._phase is ClientPhase.STARTUP and not self._awaiting_ssl_response,
                  f"startup() in phase {self._phase.name}")
        self._phase = ClientPhase.AUTHENTICATING
        return StartupMessage(protocol_version, dict(parameters)).encode()

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the server; ``b""`` means the server closed its side."""
        if self._phase is ClientPhase.CLOSED:
            return
        self._input.feed(data)

    def next_event(self) -> ClientEvent | None:
        """The next complete backend message (or SSLResponse / ConnectionClosed), or None."""
        if self._phase is ClientPhase.CLOSED:
            return None
        if self._awaiting_ssl_response:
            return self._read_ssl_response()
        invariant(self._phase is not ClientPhase.STARTUP, "next_event() before startup()")
        try:
            message = self._read_message()
        except ProtocolViolation as violation:
            if violation.fatal or self._phase is ClientPhase.AUTHENTICATING:
                raise self._fatal(violation) from None
            raise
        if isinstance(message, AuthenticationOk):
            self._phase = ClientPhase.READY
        return message

    def _fatal(self, violation: ProtocolViolation) -> ProtocolViolation:
        self._phase = ClientPhase.CLOSED
        violation.fatal = True
        return violation

    def _end_of_input(self) -> ConnectionClosed | None:
        if not self._input.end_of_input:
            return None
        if self._input.available == 0:
            self._phase = ClientPhase.CLOSED
            return ConnectionClosed()
        raise self._fatal(ProtocolViolation(SERVER_CLOSED_TEXT))

    def _read_ssl_response(self) -> SSLResponse | ConnectionClosed | None:
        if self._input.available == 0:
            return self._end_of_input()
        answer = self._input.take(1)
        if answer not in (b"S", b"N"):
            raise self._fatal(ProtocolViolation(
                f"received invalid response to SSL negotiation: {answer.decode('latin-1')}"))
        self._awaiting_ssl_response = False
        if answer == b"S" and self._input.available:
            raise self._fatal(ProtocolViolation("received unencrypted data after SSL response"))
        return SSLResponse(answer == b"S")

    def _length_limit(self, type_byte: int) -> tuple[int, int]:
        """(smallest, largest) length word allowed for ``type_byte`` now."""
        if self._phase is ClientPhase.AUTHENTICATING:
            largest = AUTHENTICATION_TYPES.get(type_byte)
            if largest is None:
                raise self._fatal(ProtocolViolation(
                    "expected authentication request from server, but received "
                    f"{chr(type_byte)}", message_type=type_byte))
            return AUTH_REQUEST_MIN_LENGTH, largest
        if type_byte not in BACKEND_DECODERS:
            raise self._fatal(ProtocolViolation(unexpected_backend_type_text(type_byte),
                                                message_type=type_byte))
        if type_byte in LONG_MESSAGE_TYPES:
            return MINIMUM_MESSAGE_LENGTH, CLIENT_LARGE_MESSAGE_LIMIT
        return MINIMUM_MESSAGE_LENGTH, CLIENT_SMALL_MESSAGE_LIMIT

    def _read_message(self) -> BackendMessage | ConnectionClosed | None:
        if self._input.available == 0:
            return self._end_of_input()
        type_byte = self._input.byte_at(0)
        smallest, largest = self._length_limit(type_byte)
        if self._input.available < MESSAGE_HEADER_SIZE:
            return self._end_of_input()
        (length,) = LENGTH_WORD.unpack(self._input.peek(MESSAGE_HEADER_SIZE)[1:])
        if not smallest <= length <= largest:
            raise self._fatal(ProtocolViolation(
                f'lost synchronization with server: got message type "{chr(type_byte)}", '
                f"length {length}", message_type=type_byte))
        if self._input.available < 1 + length:
            return self._end_of_input()
        self._input.skip(MESSAGE_HEADER_SIZE)
        return decode_backend(type_byte, self._input.take(length - LENGTH_WORD_SIZE))

    # -- output --------------------------------------------------------------------------------

    def send(self, *messages: FrontendMessage) -> None:
        """Encode frontend messages onto the outbound buffer."""
        for message in messages:
            invariant(isinstance(message, FrontendMessage),
                      f"a client sends frontend messages, not {type(message).__name__}")
            invariant(self._phase in (ClientPhase.AUTHENTICATING, ClientPhase.READY),
                      f"send() in phase {self._phase.name}")
            invariant(self._phase is ClientPhase.READY or isinstance(
                message, PasswordMessage | Terminate),
                f"only password messages may be sent while authenticating, not {message!r}")
            self._output.append(message.encode())
            if isinstance(message, Terminate):
                self._phase = ClientPhase.CLOSED

    @property
    def pending_output_bytes(self) -> int:
        return self._output.pending_bytes

    def data_to_send(self) -> bytes:
        """Everything queued since the last call (``b""`` if nothing)."""
        return self._output.drain()
