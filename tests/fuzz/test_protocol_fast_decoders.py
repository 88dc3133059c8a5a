"""The fast Bind/Execute/Sync decoders agree with the general ones on every body.

``decode_frontend`` tries ``FAST_FRONTEND_DECODERS`` first; they may decline (None) but must never
answer differently from the general ``decode_body`` path, and malformed bodies must still get the
general path's exact error.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import ProtocolViolation
from mirrordb.protocol import messages as m
from mirrordb.protocol.wire import BodyReader, MalformedBody


def _general(type_byte: int, body: bytes) -> object:
    try:
        return m.FRONTEND_DECODERS[type_byte](BodyReader(body))
    except MalformedBody as error:
        return ("error", error.text, error.sqlstate)


def _via_decode_frontend(type_byte: int, body: bytes) -> object:
    try:
        return m.decode_frontend(type_byte, body)
    except ProtocolViolation as error:
        return ("error", error.message, error.sqlstate)


def _bind_body(portal: bytes, statement: bytes, param_formats: list[int],
               values: list[bytes | None], result_formats: list[int]) -> bytes:
    parts = [portal, b"\0", statement, b"\0", struct.pack("!H", len(param_formats))]
    parts += [struct.pack("!h", code) for code in param_formats]
    parts.append(struct.pack("!H", len(values)))
    for value in values:
        parts.append(struct.pack("!i", -1) if value is None
                     else struct.pack("!i", len(value)) + value)
    parts.append(struct.pack("!H", len(result_formats)))
    parts += [struct.pack("!h", code) for code in result_formats]
    return b"".join(parts)


names = st.binary(max_size=6).filter(lambda raw: b"\0" not in raw)
codes = st.lists(st.integers(-2, 2), max_size=3)
bind_bodies = st.builds(_bind_body, names, names, codes,
                        st.lists(st.none() | st.binary(max_size=5), max_size=4), codes)


@settings(max_examples=400, deadline=None)
@given(bind_bodies, st.integers(0, 40), st.binary(max_size=3))
def test_bind_fast_path_matches_general(body: bytes, cut: int, tail: bytes) -> None:
    for candidate in (body, body[:cut], body + tail):
        assert _via_decode_frontend(ord("B"), candidate) == _general(ord("B"), candidate)


@settings(max_examples=300, deadline=None)
@given(names, st.integers(-2**31, 2**31 - 1), st.binary(max_size=8), st.integers(0, 12))
def test_execute_and_sync_fast_paths_match_general(name: bytes, rows: int, junk: bytes,
                                                   cut: int) -> None:
    body = name + b"\0" + struct.pack("!i", rows)
    for candidate in (body, body[:cut], body + junk, junk):
        assert _via_decode_frontend(ord("E"), candidate) == _general(ord("E"), candidate)
        assert _via_decode_frontend(ord("S"), candidate) == _general(ord("S"), candidate)


def test_common_shapes_take_the_fast_path() -> None:
    body = _bind_body(b"", b"P0_1", [], [b"42"], [0])
    assert m._fast_bind(body) == m.Bind("", "P0_1", (), (b"42",), (0,))
    assert m._fast_execute(b"\0\0\0\0\0") == m.Execute("", 0)
    assert m._fast_sync(b"") is m.SYNC_MESSAGE
