"""The server side of a protocol v3 connection: a sans-I/O state machine over bytes.

Who drives it: a backend or walsender thread (``mirrordb/server/backend.py``) owns the socket. It
feeds what it receives to ``receive_data`` (``b""`` at end of input), pulls decoded messages with
``next_event()`` until that returns None, answers through ``send(...)`` / ``send_raw(...)`` and
writes ``data_to_send()`` to the socket. The backend also tells the machine when the protocol
phase changes, because only it knows (authentication outcome, a COPY starting). The client half
is ``client.py``; the message codec is ``messages.py``.

Phases and what moves between them (any other move is an ``InvariantViolation`` naming both)::

    STARTUP ──start_authentication()──▶ AUTHENTICATING ──authentication_done()──▶ READY
       │  └──────────────────────authentication_done() (trust)──────────────────▲  │
       │                                                    start_copy_in() ◀──┘  │  start_copy_both()
       │ CancelRequest, Terminate, ConnectionClosed,            COPY_IN ──end_copy_in()──▶ READY
       │ a fatal ProtocolViolation, close()                     COPY_BOTH ──end_copy_both()──▶ READY
       ▼
    CLOSED  (from any phase; next_event() returns None for ever)

What each phase reads (PostgreSQL 15: postmaster.c, postgres.c, copyfromparse.c, walsender.c):

    STARTUP         untyped packets: SSLRequest / GSSENCRequest (answer with ssl_response(),
                    which answers either, before reading on; after an accepted encryption the caller
                    feeds decrypted bytes to this same object), CancelRequest, StartupMessage.
                    A packet's body is 4 .. 10000 bytes. A second SSLRequest (or GSSENCRequest)
                    after one was answered is refused as an unsupported protocol, as PostgreSQL does.
    AUTHENTICATING  only 'p' (password / SASL), at most 65535 bytes.
    READY           Q P B D E S H C F X (and d c f, which PostgreSQL accepts and drops here: a
                    failed COPY's client may still be sending; they never reach the backend).
    COPY_IN         d c f; Flush and Sync are dropped (libpq may send them not knowing the
                    statement was a COPY). Anything else is fatal.
    COPY_BOTH       d c X; after the client's CopyDone only X.

Limits: Query, Parse, Bind, CopyData and FunctionCall up to PostgreSQL's large limit
(1 GiB - 2 bytes of length word), every other message up to 10000; a length word below 4 is a
violation. Oversized messages are refused from the length word alone, before their body arrives.

Errors: the peer's mistakes are ``ProtocolViolation`` (SQLSTATE 08P01 unless PostgreSQL uses
another), with PostgreSQL's message text. ``fatal`` ones move to CLOSED: the backend sends a FATAL
ErrorResponse if it can and closes the socket. Non-fatal ones (one well-framed message with a bad
body) leave the phase unchanged: the backend answers ERROR and, inside an extended-query exchange,
skips messages until Sync as PostgreSQL does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from mirrordb.common.errors import ProtocolViolation, invariant
from mirrordb.protocol.buffers import ConnectionClosed, InputBuffer, OutputBuffer
from mirrordb.protocol.messages import (
    MAX_STARTUP_PACKET_LENGTH,
    NEGOTIATE_GSS_CODE,
    NEGOTIATE_SSL_CODE,
    BackendMessage,
    CancelRequest,
    FrontendMessage,
    GSSENCRequest,
    SSLRequest,
    StartupMessage,
    StartupPacket,
    decode_frontend,
    decode_startup,
    unsupported_protocol_violation,
)
from mirrordb.protocol.wire import LENGTH_WORD, LENGTH_WORD_SIZE, MESSAGE_HEADER_SIZE

SMALL_MESSAGE_LIMIT = 10000  # PQ_SMALL_MESSAGE_LIMIT: longest length word of a small message
LARGE_MESSAGE_LIMIT = 0x3FFFFFFE  # PQ_LARGE_MESSAGE_LIMIT (MaxAllocSize - 1)
AUTH_MESSAGE_LIMIT = 65535  # PG_MAX_AUTH_TOKEN_LENGTH: longest password/SASL message
MINIMUM_MESSAGE_LENGTH = 4  # a length word counts itself
MINIMUM_STARTUP_LENGTH = 8  # length word + protocol version
CONNECTION_FAILURE = "08006"

UNENCRYPTED_DATA_DETAIL = ("This could be either a client-software bug or evidence of an "
                           "attempted man-in-the-middle attack.")


class ServerPhase(enum.Enum):
    STARTUP = "startup"
    AUTHENTICATING = "authenticating"
    READY = "ready"
    COPY_IN = "copy in"
    COPY_BOTH = "copy both"
    CLOSED = "closed"


P = ServerPhase

# (phase, backend call) -> next phase. close() is allowed from anywhere.
TRANSITIONS: Mapping[tuple[ServerPhase, str], ServerPhase] = {
    (P.STARTUP, "start_authentication"): P.AUTHENTICATING,
    (P.STARTUP, "authentication_done"): P.READY,
    (P.AUTHENTICATING, "authentication_done"): P.READY,
    (P.READY, "start_copy_in"): P.COPY_IN,
    (P.COPY_IN, "end_copy_in"): P.READY,
    (P.READY, "start_copy_both"): P.COPY_BOTH,
    (P.COPY_BOTH, "end_copy_both"): P.READY,
}


def _limits(large: str, small: str) -> dict[int, int]:
    table = {ord(code): LARGE_MESSAGE_LIMIT for code in large}
    table.update({ord(code): SMALL_MESSAGE_LIMIT for code in small})
    return table


# Message types each typed phase accepts, with the longest length word allowed for each.
PHASE_MESSAGE_LIMITS: Mapping[ServerPhase, Mapping[int, int]] = {
    P.AUTHENTICATING: {ord("p"): AUTH_MESSAGE_LIMIT},
    P.READY: _limits(large="QFBPd", small="XCDEHScf"),
    P.COPY_IN: _limits(large="d", small="cfHS"),
    P.COPY_BOTH: _limits(large="d", small="cX"),
}

# Message types a phase reads and drops, as PostgreSQL does (their bodies are not examined).
NOTHING_DROPPED: frozenset[int] = frozenset()
DROPPED_MESSAGE_TYPES: Mapping[ServerPhase, frozenset[int]] = {
    P.READY: frozenset(b"dcf"),
    P.COPY_IN: frozenset(b"HS"),
}
TERMINATE_TYPE = ord("X")
COPY_DONE_TYPE = ord("c")
PHASE_CHANGING_TYPES = frozenset(b"Xcf")  # Terminate; CopyDone/CopyFail end or mark a COPY

ServerEvent = FrontendMessage | StartupPacket | ConnectionClosed


def _wrong_type_text(phase: ServerPhase, type_byte: int, sasl: bool) -> str:
    if phase is P.AUTHENTICATING:
        expected = "SASL" if sasl else "password"
        return f"expected {expected} response, got message type {type_byte}"
    if phase is P.COPY_IN:
        return f"unexpected message type 0x{type_byte:02X} during COPY from stdin"
    if phase is P.COPY_BOTH:
        return f'invalid standby message type "{chr(type_byte)}"'
    return f"invalid frontend message type {type_byte}"


class ServerConnection:
    """One client connection, server side. Not thread-safe: one backend thread owns it."""

    def __init__(self) -> None:
        self._phase = P.STARTUP
        self._input = InputBuffer()
        self._output = OutputBuffer()
        self._ssl_done = False
        self._gss_done = False
        self._awaiting_encryption_answer: type[StartupPacket] | None = None
        self._startup_received = False
        self._sasl = False
        self._copy_in_ended = False  # CopyDone/CopyFail delivered; end_copy_in() must follow
        self._copy_both_done_received = False

    # -- state ---------------------------------------------------------------------------------

    @property
    def phase(self) -> ServerPhase:
        return self._phase

    def _move(self, action: str) -> None:
        target = TRANSITIONS.get((self._phase, action))
        invariant(target is not None,
                  f"illegal protocol transition {action}() from phase {self._phase.name}")
        assert target is not None
        self._phase = target

    def start_authentication(self, *, sasl: bool = False) -> None:
        """The backend sent an authentication request; only 'p' messages may follow.
        ``sasl`` picks PostgreSQL's wording for another message type ("expected SASL response")."""
        invariant(self._startup_received, "start_authentication() before a StartupMessage")
        self._sasl = sasl
        self._move("start_authentication")

    def authentication_done(self) -> None:
        """The backend sent AuthenticationOk; typed messages follow."""
        invariant(self._startup_received, "authentication_done() before a StartupMessage")
        self._move("authentication_done")

    def start_copy_in(self) -> None:
        """The backend sent CopyInResponse: CopyData/CopyDone/CopyFail follow."""
        self._copy_in_ended = False
        self._move("start_copy_in")

    def end_copy_in(self) -> None:
        """COPY FROM STDIN is over (CopyDone, CopyFail, or the backend failed it)."""
        self._copy_in_ended = False
        self._move("end_copy_in")

    def start_copy_both(self) -> None:
        """The backend sent CopyBothResponse (START_REPLICATION)."""
        self._copy_both_done_received = False
        self._move("start_copy_both")

    def end_copy_both(self) -> None:
        """Streaming is over; the backend sends its results and ReadyForQuery next."""
        self._copy_both_done_received = False
        self._move("end_copy_both")

    def close(self) -> None:
        """No more input will be read (after Terminate, a FATAL error, or shutdown)."""
        self._phase = P.CLOSED

    # -- encryption negotiation ----------------------------------------------------------------

    def ssl_response(self, accept: bool) -> bytes:
        """The one byte answering the pending encryption request: for an SSLRequest ``S`` (TLS
        follows) or ``N``; for a GSSENCRequest ``G`` or ``N``. Bytes received before the answer
        are refused (they would bypass the encryption), as PostgreSQL refuses them."""
        if self._awaiting_encryption_answer is GSSENCRequest:
            return self.gssenc_response(accept)
        return self._answer_encryption(SSLRequest, b"S" if accept else b"N", accept)

    def gssenc_response(self, accept: bool = False) -> bytes:
        """The one byte answering a GSSENCRequest: ``G`` or ``N``."""
        return self._answer_encryption(GSSENCRequest, b"G" if accept else b"N", accept)

    def _answer_encryption(self, request: type[StartupPacket], reply: bytes,
                           accept: bool) -> bytes:
        invariant(self._awaiting_encryption_answer is request,
                  f"no {request.__name__} is waiting for an answer")
        self._awaiting_encryption_answer = None
        if request is SSLRequest:
            self._ssl_done = True
            self._gss_done = self._gss_done or accept
        else:
            self._gss_done = True
            self._ssl_done = self._ssl_done or accept
        if self._input.available:
            what = "SSL request" if request is SSLRequest else "GSSAPI encryption request"
            raise self._fatal(ProtocolViolation(f"received unencrypted data after {what}",
                                                detail=UNENCRYPTED_DATA_DETAIL))
        return reply

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the client; ``b""`` means the client closed its side."""
        if self._phase is P.CLOSED:
            return
        self._input.feed(data)

    def next_event(self) -> ServerEvent | None:
        """The next complete message (or ConnectionClosed), or None until more bytes arrive."""
        if self._phase is P.CLOSED:
            return None
        if self._phase is P.STARTUP:
            return self._next_startup_packet()
        return self._next_typed_message()

    def _fatal(self, violation: ProtocolViolation) -> ProtocolViolation:
        self._phase = P.CLOSED
        violation.fatal = True
        return violation

    def _end_of_input(self, violation_text: str,
                      sqlstate: str | None = None) -> ConnectionClosed | None:
        """None while more bytes may come; at end of input a clean close or a violation."""
        if not self._input.end_of_input:
            return None
        if self._input.available == 0:
            self._phase = P.CLOSED
            return ConnectionClosed()
        raise self._fatal(ProtocolViolation(violation_text, sqlstate=sqlstate))

    def _next_startup_packet(self) -> ServerEvent | None:
        invariant(self._awaiting_encryption_answer is None,
                  "answer the encryption request (ssl_response/gssenc_response) before reading on")
        invariant(not self._startup_received,
                  "StartupMessage already read: start_authentication() or authentication_done()")
        if self._input.available < LENGTH_WORD_SIZE:
            return self._end_of_input("incomplete startup packet")
        (length,) = LENGTH_WORD.unpack(self._input.peek(LENGTH_WORD_SIZE))
        if not MINIMUM_STARTUP_LENGTH <= length <= MAX_STARTUP_PACKET_LENGTH + LENGTH_WORD_SIZE:
            raise self._fatal(ProtocolViolation("invalid length of startup packet"))
        if self._input.available < length:
            return self._end_of_input("incomplete startup packet")
        self._input.skip(LENGTH_WORD_SIZE)
        try:
            packet = decode_startup(self._input.take(length - LENGTH_WORD_SIZE))
        except ProtocolViolation as violation:
            raise self._fatal(violation) from None
        return self._accept_startup_packet(packet)

    def _accept_startup_packet(self, packet: StartupPacket) -> StartupPacket:
        if isinstance(packet, SSLRequest | GSSENCRequest):
            done = self._ssl_done if isinstance(packet, SSLRequest) else self._gss_done
            if done:
                code = NEGOTIATE_SSL_CODE if isinstance(packet, SSLRequest) else NEGOTIATE_GSS_CODE
                raise self._fatal(unsupported_protocol_violation(code))
            self._awaiting_encryption_answer = type(packet)
        elif isinstance(packet, CancelRequest):
            self._phase = P.CLOSED
        else:
            invariant(isinstance(packet, StartupMessage), f"unexpected packet {packet!r}")
            self._startup_received = True
        return packet

    def _next_typed_message(self) -> ServerEvent | None:
        invariant(not self._copy_in_ended, "CopyDone/CopyFail was read: call end_copy_in() first")
        limits = PHASE_MESSAGE_LIMITS[self._phase]
        dropped = DROPPED_MESSAGE_TYPES.get(self._phase, NOTHING_DROPPED)
        buffer = self._input
        while True:
            available = buffer.available
            if available < MESSAGE_HEADER_SIZE:
                if available:
                    self._check_type(buffer.byte_at(0), limits.get(buffer.byte_at(0)))
                return self._end_of_input(self._eof_text(inside_length_word=True),
                                          self._eof_sqlstate())
            type_byte, length = buffer.header()
            limit = limits.get(type_byte)
            if limit is None or self._copy_both_done_received:
                limit = self._check_type(type_byte, limit)
            if length < MINIMUM_MESSAGE_LENGTH or length > limit:
                raise self._fatal(ProtocolViolation("invalid message length",
                                                    message_type=type_byte))
            if available <= length:
                return self._end_of_input(self._eof_text(inside_length_word=False),
                                          self._eof_sqlstate())
            body = buffer.take_after(MESSAGE_HEADER_SIZE, length - LENGTH_WORD_SIZE)
            if type_byte in dropped:  # read and ignored, body unchecked, as PostgreSQL does
                continue
            message = decode_frontend(type_byte, body)
            if type_byte in PHASE_CHANGING_TYPES:
                self._after_message(type_byte)
            return message

    def _check_type(self, type_byte: int, limit: int | None) -> int:
        """``limit`` if ``type_byte`` may come now (``limit`` is its phase limit), else a fatal
        violation with PostgreSQL's text."""
        if self._copy_both_done_received and type_byte != TERMINATE_TYPE:
            raise self._fatal(ProtocolViolation(
                f'unexpected standby message type "{chr(type_byte)}", after receiving CopyDone',
                message_type=type_byte))
        if limit is None:
            raise self._fatal(ProtocolViolation(
                _wrong_type_text(self._phase, type_byte, self._sasl), message_type=type_byte))
        return limit

    def _eof_text(self, inside_length_word: bool) -> str:
        """PostgreSQL's complaint about input ending inside a message, for this phase."""
        if self._phase is P.COPY_BOTH:
            return "unexpected EOF on standby connection"
        if self._phase is P.COPY_IN:
            return "unexpected EOF on client connection with an open transaction"
        if inside_length_word:
            return "unexpected EOF within message length word"
        return "incomplete message from client"

    def _eof_sqlstate(self) -> str | None:
        return CONNECTION_FAILURE if self._phase is P.COPY_IN else None

    def _after_message(self, type_byte: int) -> None:
        if type_byte == TERMINATE_TYPE:
            self._phase = P.CLOSED
        elif self._phase is P.COPY_IN:
            self._copy_in_ended = True  # CopyDone or CopyFail
        elif self._phase is P.COPY_BOTH and type_byte == COPY_DONE_TYPE:
            self._copy_both_done_received = True

    # -- output --------------------------------------------------------------------------------

    def send(self, *messages: BackendMessage) -> None:
        """Encode backend messages onto the outbound buffer."""
        for message in messages:
            invariant(isinstance(message, BackendMessage),
                      f"a server sends backend messages, not {type(message).__name__}")
            self._output.append(message.encode())

    def send_raw(self, data: bytes) -> None:
        """Append pre-encoded backend messages (``encode_data_row``, ``READY_FOR_QUERY_IDLE``...)."""
        self._output.append(data)

    @property
    def pending_output_bytes(self) -> int:
        return self._output.pending_bytes

    def data_to_send(self) -> bytes:
        """Everything queued since the last call (``b""`` if nothing)."""
        return self._output.drain()
