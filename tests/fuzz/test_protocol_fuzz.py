"""Hypothesis tests of the wire protocol codec and both connection state machines.

Round trips: any value of every message decodes to what was encoded. Garbage: random or mutated
bytes fed to the decoders, to ServerConnection in each phase and to ClientConnection raise only
ProtocolViolation (or decode). Framing: a valid stream cut at arbitrary byte boundaries yields
exactly the events of the whole stream.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import ProtocolViolation
from mirrordb.protocol import messages as m
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.protocol.client import ClientConnection, ClientPhase, SSLResponse
from mirrordb.protocol.server import ServerConnection, ServerPhase

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

characters = st.characters(codec="utf-8", exclude_characters="\x00")
texts = st.text(characters, max_size=40)
names = st.text(characters, min_size=1, max_size=12)
int16s = st.integers(-(2**15), 2**15 - 1)
int32s = st.integers(-(2**31), 2**31 - 1)
uint32s = st.integers(0, 2**32 - 1)
values = st.one_of(st.none(), st.binary(max_size=40))
kinds = st.sampled_from(["S", "P"])


@st.composite
def binds(draw: st.DrawFn) -> m.Bind:
    params = tuple(draw(st.lists(values, max_size=5)))
    format_count = draw(st.sampled_from([0, 1, len(params)]))
    formats = tuple(draw(st.lists(int16s, min_size=format_count, max_size=format_count)))
    result_formats = tuple(draw(st.lists(int16s, max_size=4)))
    return m.Bind(draw(texts), draw(texts), formats, params, result_formats)


frontend_messages: st.SearchStrategy[m.FrontendMessage] = st.one_of(
    st.builds(m.Query, texts),
    st.builds(m.Parse, texts, texts, st.lists(uint32s, max_size=5).map(tuple)),
    binds(),
    st.builds(m.Describe, kinds, texts),
    st.builds(m.Execute, texts, int32s),
    st.just(m.Sync()), st.just(m.Flush()),
    st.builds(m.Close, kinds, texts),
    st.builds(m.CopyData, st.binary(max_size=60)), st.just(m.CopyDone()),
    st.builds(m.CopyFail, texts),
    st.builds(m.FunctionCall, uint32s, st.lists(int16s, max_size=3).map(tuple),
              st.lists(values, max_size=3).map(tuple), int16s),
    st.builds(m.PasswordMessage, st.binary(max_size=40)),
)

field_descriptions = st.builds(m.FieldDescription, texts, uint32s, int16s, uint32s, int16s,
                               int32s, int16s)
error_field_lists = st.lists(st.tuples(st.characters(min_codepoint=1, max_codepoint=127), texts),
                             max_size=6).map(tuple)

backend_messages: st.SearchStrategy[m.BackendMessage] = st.one_of(
    st.just(m.AuthenticationOk()), st.just(m.AuthenticationCleartextPassword()),
    st.builds(m.AuthenticationMD5Password, st.binary(min_size=4, max_size=4)),
    st.builds(m.AuthenticationSASL, st.lists(names, max_size=3).map(tuple)),
    st.builds(m.AuthenticationSASLContinue, st.binary(max_size=40)),
    st.builds(m.AuthenticationSASLFinal, st.binary(max_size=40)),
    st.builds(m.ParameterStatus, texts, texts),
    st.builds(m.BackendKeyData, uint32s, uint32s),
    st.builds(m.ReadyForQuery, st.sampled_from(["I", "T", "E"])),
    st.builds(m.RowDescription, st.lists(field_descriptions, max_size=4).map(tuple)),
    st.builds(m.DataRow, st.lists(values, max_size=6).map(tuple)),
    st.builds(m.CommandComplete, texts), st.just(m.EmptyQueryResponse()),
    st.builds(m.ErrorResponse, error_field_lists), st.builds(m.NoticeResponse, error_field_lists),
    st.just(m.ParseComplete()), st.just(m.BindComplete()), st.just(m.CloseComplete()),
    st.just(m.NoData()), st.just(m.PortalSuspended()),
    st.builds(m.ParameterDescription, st.lists(uint32s, max_size=5).map(tuple)),
    st.builds(m.CopyInResponse, st.integers(-128, 127), st.lists(int16s, max_size=4).map(tuple)),
    st.builds(m.CopyOutResponse, st.integers(-128, 127), st.lists(int16s, max_size=4).map(tuple)),
    st.builds(m.CopyBothResponse, st.integers(-128, 127), st.lists(int16s, max_size=4).map(tuple)),
    st.builds(m.CopyData, st.binary(max_size=60)), st.just(m.CopyDone()),
    st.builds(m.NegotiateProtocolVersion, st.integers(0, 0xFFFF), st.lists(names, max_size=3)
              .map(tuple)),
    st.builds(m.NotificationResponse, uint32s, texts, texts),
)

startup_packets = st.one_of(
    st.builds(m.StartupMessage, st.integers(0, 0xFFFF).map(lambda minor: (3 << 16) | minor),
              st.dictionaries(names, texts, max_size=5)),
    st.just(m.SSLRequest()), st.just(m.GSSENCRequest()),
    st.builds(m.CancelRequest, uint32s, uint32s),
)


def split(data: bytes) -> tuple[int, bytes]:
    return data[0], data[5:]


@FAST
@given(frontend_messages)
def test_frontend_round_trip(message: m.FrontendMessage) -> None:
    assert m.decode_frontend(*split(m.encode(message))) == message


@FAST
@given(backend_messages)
def test_backend_round_trip(message: m.BackendMessage) -> None:
    assert m.decode_backend(*split(m.encode(message))) == message


@FAST
@given(startup_packets)
def test_startup_round_trip(packet: m.StartupPacket) -> None:
    assert m.decode_startup(m.encode(packet)[4:]) == packet


@FAST
@given(st.integers(0, 255), st.binary(max_size=80))
def test_typed_decoders_raise_only_protocol_violations(type_byte: int, body: bytes) -> None:
    for decode in (m.decode_frontend, m.decode_backend):
        try:
            decode(type_byte, body)
        except ProtocolViolation:
            pass


@FAST
@given(st.binary(max_size=80))
def test_startup_and_auth_decoders_raise_only_protocol_violations(body: bytes) -> None:
    for decode in (m.decode_startup, m.decode_password, m.decode_sasl_initial_response):
        try:
            decode(body)
        except ProtocolViolation:
            pass


# -- state machines ------------------------------------------------------------------------


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(point % (len(data) + 1) for point in points)})
    return [data[start:end] for start, end in itertools.pairwise(edges)]


def react(conn: ServerConnection, event: object) -> None:
    """What a well-behaved backend does for each event (so no InvariantViolation may occur)."""
    if isinstance(event, m.SSLRequest):
        conn.ssl_response(False)
    elif isinstance(event, m.GSSENCRequest):
        conn.gssenc_response()
    elif isinstance(event, m.StartupMessage):
        conn.authentication_done()
    elif conn.phase is ServerPhase.COPY_IN and isinstance(event, m.CopyDone | m.CopyFail):
        conn.end_copy_in()


def drive_server(conn: ServerConnection, chunks: list[bytes], end: bool) -> list[object]:
    """Feed chunks, draining after each; a violation ends the run unless it is not fatal."""
    seen: list[object] = []

    def drain() -> bool:
        while True:
            try:
                event = conn.next_event()
            except ProtocolViolation as violation:
                seen.append(("violation", violation.message, violation.fatal))
                if violation.fatal:
                    assert conn.phase is ServerPhase.CLOSED
                    return False
                continue
            if event is None:
                return True
            seen.append(event)
            try:
                react(conn, event)
            except ProtocolViolation as violation:  # unencrypted data after SSLRequest
                seen.append(("violation", violation.message, violation.fatal))
                return False

    for chunk in [*chunks, *([b""] if end else [])]:
        conn.receive_data(chunk)
        if not drain():
            break
    return seen


def server_in(phase: ServerPhase) -> ServerConnection:
    conn = ServerConnection()
    if phase is ServerPhase.STARTUP:
        return conn
    conn.receive_data(m.StartupMessage(m.PROTOCOL_VERSION_3_0, {"user": "u"}).encode())
    conn.next_event()
    if phase is ServerPhase.AUTHENTICATING:
        conn.start_authentication()
        return conn
    conn.authentication_done()
    if phase is ServerPhase.COPY_IN:
        conn.start_copy_in()
    elif phase is ServerPhase.COPY_BOTH:
        conn.start_copy_both()
    return conn


phases = st.sampled_from([ServerPhase.STARTUP, ServerPhase.AUTHENTICATING, ServerPhase.READY,
                          ServerPhase.COPY_IN, ServerPhase.COPY_BOTH])


@FAST
@given(phases, st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=6), st.booleans())
def test_server_garbage_raises_only_protocol_violations(
        phase: ServerPhase, garbage: bytes, points: list[int], end: bool) -> None:
    drive_server(server_in(phase), cut(garbage, points), end)


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    stream = bytearray(b"".join(m.encode(message) for message in draw(
        st.lists(frontend_messages, min_size=1, max_size=6))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(stream) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            stream[position] ^= draw(st.integers(1, 255))
        elif action == "insert":
            stream[position:position] = draw(st.binary(min_size=1, max_size=4))
        else:
            del stream[position]
    return bytes(stream)


@FAST
@given(phases, mutated_streams(), st.lists(st.integers(0, 400), max_size=4))
def test_server_mutated_streams_raise_only_protocol_violations(
        phase: ServerPhase, stream: bytes, points: list[int]) -> None:
    drive_server(server_in(phase), cut(stream, points), end=True)


ready_messages = frontend_messages.filter(lambda message: not isinstance(message, m.PasswordMessage))


@FAST
@given(st.lists(st.one_of(st.just(m.SSLRequest()), st.just(m.GSSENCRequest())), max_size=1),
       st.lists(ready_messages, max_size=8), st.lists(st.integers(0, 2000), max_size=10))
def test_server_events_do_not_depend_on_byte_boundaries(
        negotiation: list[m.StartupPacket], sent: list[m.FrontendMessage],
        points: list[int]) -> None:
    startup = m.StartupMessage(m.PROTOCOL_VERSION_3_0, {"user": "u", "database": "d"})
    # The client waits for the one-byte answer before it sends more (else the server refuses).
    first = [m.encode(packet) for packet in negotiation]
    conversation: list[m.Message] = [startup, *sent, m.Terminate()]
    stream = b"".join(m.encode(message) for message in conversation)
    whole = drive_server(ServerConnection(), [*first, stream], end=False)
    assert drive_server(ServerConnection(), [*first, *cut(stream, points)], end=False) == whole
    expected_ready = [message for message in sent
                      if not isinstance(message, m.CopyData | m.CopyDone | m.CopyFail)]
    assert whole == [*negotiation, startup, *expected_ready, m.Terminate()]


def drive_client(chunks: list[bytes], authenticate: bool) -> list[object]:
    conn = ClientConnection()
    conn.startup({"user": "u"})
    if authenticate:
        conn.receive_data(m.AUTHENTICATION_OK)
        assert conn.next_event() == m.AuthenticationOk()
    seen: list[object] = []
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)
        while conn.phase is not ClientPhase.CLOSED:
            try:
                event = conn.next_event()
            except ProtocolViolation as violation:
                seen.append(("violation", violation.message, violation.fatal))
                continue
            if event is None:
                break
            assert not isinstance(event, SSLResponse)
            seen.append(event)
    return seen


@FAST
@given(st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=6), st.booleans())
def test_client_garbage_raises_only_protocol_violations(
        garbage: bytes, points: list[int], authenticate: bool) -> None:
    drive_client(cut(garbage, points), authenticate)


@FAST
@given(st.lists(backend_messages, max_size=8), st.lists(st.integers(0, 2000), max_size=10))
def test_client_events_do_not_depend_on_byte_boundaries(
        received: list[m.BackendMessage], points: list[int]) -> None:
    stream = b"".join(m.encode(message) for message in received)
    whole = drive_client([stream], authenticate=True)
    assert whole == [*received, ConnectionClosed()]
    assert drive_client(cut(stream, points), authenticate=True) == whole


@FAST
@given(st.binary(max_size=60), st.lists(st.integers(0, 100), max_size=4))
def test_client_ssl_answer_garbage(garbage: bytes, points: list[int]) -> None:
    conn = ClientConnection()
    conn.request_ssl()
    try:
        for chunk in [*cut(garbage, points), b""]:
            conn.receive_data(chunk)
            if conn.next_event() is not None:
                return
    except ProtocolViolation:
        pass
