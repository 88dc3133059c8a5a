"""SCRAM-SHA-256: RFC 7677's test vector, an exchange captured between libpq and PostgreSQL 15,
our client against our server, the mock exchange, PostgreSQL's verifier format and parsing
quirks, SASLprep, and every malformed message with PostgreSQL's (or libpq's) wording.
(tests/compat/test_auth_pg.py checks the same code against the real server and libpq.)"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from mirrordb.auth import scram
from mirrordb.auth.scram import (
    ClientExchangeState,
    ScramClientExchange,
    ScramServerExchange,
    ServerExchangeState,
    advertised_mechanisms,
    build_verifier,
    is_scram_verifier,
    parse_verifier,
    saslprep,
)
from mirrordb.common.errors import AuthenticationFailed, InvariantViolation

# protocol_spec.md §1.3: role scramuser, password secret, libpq 15 against PostgreSQL 15.
CAPTURED_VERIFIER = (
    "SCRAM-SHA-256$4096:b40xCY3JYUZjrU1k+iAYhQ==$zF2+jiw1bKCqWuK9wypX7KiVGAp4Yd+sFtjpwBjJqQo="
    ":FgPN6luMPMR/16XsNHi3Rc0LjqBQlRlKiz43qaB8xIs=")
CAPTURED_CLIENT_NONCE = "TLq54hDSg1imQhiKB/mi6ozA"
CAPTURED_SERVER_NONCE = "s78qFd3lxUDEqfuoX9TWtKJw"
CAPTURED_CLIENT_FIRST = b"n,,n=,r=TLq54hDSg1imQhiKB/mi6ozA"
CAPTURED_SERVER_FIRST = (b"r=TLq54hDSg1imQhiKB/mi6ozAs78qFd3lxUDEqfuoX9TWtKJw,"
                         b"s=b40xCY3JYUZjrU1k+iAYhQ==,i=4096")
CAPTURED_CLIENT_FINAL = (b"c=biws,r=TLq54hDSg1imQhiKB/mi6ozAs78qFd3lxUDEqfuoX9TWtKJw,"
                         b"p=XePoyEiRdXNOvA5U1zNsmFiHezKBLqWYWd8nVzMWtPU=")
CAPTURED_SERVER_FINAL = b"v=kO+I55KU1L8m/a3r14sY+k+p8H1qX6GWndPXPTRwF1k="

MOCK_NONCE = bytes(range(32))


def fixed_nonce(monkeypatch: pytest.MonkeyPatch, nonce: str) -> None:
    monkeypatch.setattr(scram, "_new_nonce", lambda: nonce)


def exchange(password: str, verifier: str | None, username: str = "alice") -> bytes:
    """Our client against our server; returns the server-final-message."""
    client = ScramClientExchange(username, password)
    server = ScramServerExchange(username, verifier, mock_nonce=MOCK_NONCE)
    server_final = server.server_final(client.client_final(server.server_first(
        client.client_first())))
    client.verify_server_final(server_final)
    assert server.state is ServerExchangeState.FINISHED
    assert client.state is ClientExchangeState.FINISHED
    return server_final


def failure(call: object, *args: object) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


# --- known answers -----------------------------------------------------------------------------

def test_rfc7677_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7677 §3 (user "user", password "pencil"), against the server side."""
    verifier = build_verifier("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
    fixed_nonce(monkeypatch, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    server = ScramServerExchange("user", verifier)
    assert server.server_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO") == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    assert server.server_final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") == (
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def test_captured_postgresql_exchange_server_side(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed_nonce(monkeypatch, CAPTURED_SERVER_NONCE)
    server = ScramServerExchange("scramuser", CAPTURED_VERIFIER)
    assert server.server_first(CAPTURED_CLIENT_FIRST) == CAPTURED_SERVER_FIRST
    assert server.server_final(CAPTURED_CLIENT_FINAL) == CAPTURED_SERVER_FINAL


def test_captured_postgresql_exchange_client_side(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed_nonce(monkeypatch, CAPTURED_CLIENT_NONCE)
    client = ScramClientExchange("scramuser", "secret")
    assert client.client_first() == CAPTURED_CLIENT_FIRST
    assert client.client_final(CAPTURED_SERVER_FIRST) == CAPTURED_CLIENT_FINAL
    client.verify_server_final(CAPTURED_SERVER_FINAL)
    assert client.state is ClientExchangeState.FINISHED


def test_build_verifier_matches_postgresql() -> None:
    salt = base64.b64decode("b40xCY3JYUZjrU1k+iAYhQ==")
    assert build_verifier("secret", salt) == CAPTURED_VERIFIER
    assert build_verifier(b"secret", salt, 4096) == CAPTURED_VERIFIER


def test_build_verifier_defaults() -> None:
    verifier = parse_verifier(build_verifier("x"))
    assert verifier is not None
    assert verifier.iterations == 4096 and len(verifier.salt) == 16
    assert build_verifier("x") != build_verifier("x")  # a fresh salt each time
    parsed = parse_verifier(build_verifier("x", b"salt", iterations=1))
    assert parsed is not None and parsed.iterations == 1 and parsed.salt == b"salt"
    with pytest.raises(InvariantViolation):
        build_verifier("x", b"salt", iterations=0)


# --- exchanges ---------------------------------------------------------------------------------

def test_our_client_against_our_server() -> None:
    verifier = build_verifier("correct horse", b"0123456789abcdef", 4096)
    assert exchange("correct horse", verifier).startswith(b"v=")


def test_wrong_password() -> None:
    verifier = build_verifier("correct horse", b"0123456789abcdef")
    client = ScramClientExchange("alice", "wrong")
    server = ScramServerExchange("alice", verifier)
    client_final = client.client_final(server.server_first(client.client_first()))
    error = failure(server.server_final, client_final)
    assert error.message == 'password authentication failed for user "alice"'
    assert error.sqlstate == "28P01" and error.detail is None and error.log_detail is None
    assert server.state is ServerExchangeState.FAILED


def test_non_ascii_password_round_trip() -> None:
    for password in ("\u2168", "p\u00e4ss", "\u0627\u0628", "a\u0340"):
        assert exchange(password, build_verifier(password)).startswith(b"v=")


def test_client_rejects_a_forged_server_signature() -> None:
    verifier = build_verifier("pw")
    client = ScramClientExchange("alice", "pw")
    server = ScramServerExchange("alice", verifier)
    server.server_final(client.client_final(server.server_first(client.client_first())))
    forged = b"v=" + base64.b64encode(bytes(32))
    error = failure(client.verify_server_final, forged)
    assert error.message == "incorrect server signature" and error.sqlstate == "28000"


def test_mock_exchange_for_a_missing_role() -> None:
    server = ScramServerExchange("ghost", None, mock_nonce=MOCK_NONCE)
    first = server.server_first(b"n,,n=,r=abc").decode()
    expected_salt = hashlib.sha256(b"ghost" + MOCK_NONCE).digest()[:16]
    assert first.endswith(f",s={base64.b64encode(expected_salt).decode()},i=4096")
    # Same salt every time for the same role and nonce, another for another role.
    again = ScramServerExchange("ghost", None, mock_nonce=MOCK_NONCE).server_first(b"n,,n=,r=abc")
    assert again.split(b",")[1] == first.encode().split(b",")[1]
    other = ScramServerExchange("ghost2", None, mock_nonce=MOCK_NONCE).server_first(b"n,,n=,r=x")
    assert other.split(b",")[1] != first.encode().split(b",")[1]
    with pytest.raises(AuthenticationFailed) as caught:
        exchange("anything", None, username="ghost")
    assert caught.value.message == 'password authentication failed for user "ghost"'
    assert caught.value.log_detail is None


def test_mock_exchange_for_a_role_without_a_scram_verifier() -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        exchange("secret", "md5" + "0" * 32, username="md5user")
    assert caught.value.sqlstate == "28P01"
    assert caught.value.log_detail == 'User "md5user" does not have a valid SCRAM secret.'


def test_y_header_is_accepted_without_channel_binding() -> None:
    verifier = build_verifier("pw", b"saltsaltsaltsalt")
    server = ScramServerExchange("u", verifier)
    first = server.server_first(b"y,,n=,r=clientnonce").decode()
    nonce = first.split(",")[0][2:]
    without_proof = f"c=eSws,r={nonce}"
    proof = client_proof("pw", b"saltsaltsaltsalt", "n=,r=clientnonce", first, without_proof)
    assert server.server_final(f"{without_proof},p={proof}".encode()).startswith(b"v=")


def test_extensions_are_ignored() -> None:
    verifier = build_verifier("pw", b"saltsaltsaltsalt")
    server = ScramServerExchange("u", verifier)
    first = server.server_first(b"n,,n=someone,r=cn,x=ext1,y=ext2").decode()
    nonce = first.split(",")[0][2:]
    without_proof = f"c=biws,r={nonce},z=ext"
    proof = client_proof("pw", b"saltsaltsaltsalt", "n=someone,r=cn,x=ext1,y=ext2", first,
                         without_proof)
    assert server.server_final(f"{without_proof},p={proof}".encode()).startswith(b"v=")


def client_proof(password: str, salt: bytes, client_first_bare: str, server_first: str,
                 without_proof: str, iterations: int = 4096) -> str:
    """RFC 5802's ClientProof, computed independently of scram.py's client."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return base64.b64encode(proof).decode()


def test_channel_binding_with_scram_sha_256_plus() -> None:
    certificate_hash = hashlib.sha256(b"server certificate").digest()
    verifier = build_verifier("pw", b"saltsaltsaltsalt")
    server = ScramServerExchange("u", verifier, certificate_hash,
                                 mechanism=scram.SCRAM_SHA_256_PLUS_NAME)
    first = server.server_first(b"p=tls-server-end-point,,n=,r=cn").decode()
    nonce = first.split(",")[0][2:]
    binding = base64.b64encode(b"p=tls-server-end-point,," + certificate_hash).decode()
    without_proof = f"c={binding},r={nonce}"
    proof = client_proof("pw", b"saltsaltsaltsalt", "n=,r=cn", first, without_proof)
    assert server.server_final(f"{without_proof},p={proof}".encode()).startswith(b"v=")
    # The wrong certificate hash fails the binding check.
    server = ScramServerExchange("u", verifier, certificate_hash,
                                 mechanism=scram.SCRAM_SHA_256_PLUS_NAME)
    first = server.server_first(b"p=tls-server-end-point,,n=,r=cn").decode()
    bad = base64.b64encode(b"p=tls-server-end-point,," + bytes(32)).decode()
    error = failure(server.server_final, f"c={bad},r={first.split(',')[0][2:]},p=x".encode())
    assert (error.message, error.sqlstate) == ("SCRAM channel binding check failed", "28000")


def test_mechanisms() -> None:
    assert advertised_mechanisms(False) == ("SCRAM-SHA-256",)
    assert advertised_mechanisms(True) == ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
    for mechanism, binding in (("SCRAM-SHA-256-PLUS", None), ("PLAIN", None), ("", b"x")):
        with pytest.raises(AuthenticationFailed) as caught:
            ScramServerExchange("u", None, binding, mechanism=mechanism)
        assert caught.value.message == "client selected an invalid SASL authentication mechanism"
        assert caught.value.sqlstate == "08P01"


def test_steps_out_of_order_are_programmer_errors() -> None:
    server = ScramServerExchange("u", None)
    with pytest.raises(InvariantViolation):
        server.server_final(b"c=biws,r=x,p=x")
    server.server_first(b"n,,n=,r=x")
    with pytest.raises(InvariantViolation):
        server.server_first(b"n,,n=,r=x")
    client = ScramClientExchange("u", "pw")
    with pytest.raises(InvariantViolation):
        client.client_final(b"r=x,s=AAAA,i=1")
    client.client_first()
    with pytest.raises(InvariantViolation):
        client.verify_server_final(b"v=x")


# --- malformed client messages: PostgreSQL's words ---------------------------------------------

MALFORMED = "malformed SCRAM message"


@pytest.mark.parametrize("message, text, detail, sqlstate", [
    (b"", MALFORMED, "The message is empty.", "08P01"),
    (b"n,,n=,r=a\0b", MALFORMED, "Message length does not match input length.", "08P01"),
    (b"x,,n=,r=a", MALFORMED, "Unexpected channel-binding flag \"'x'\".", "08P01"),
    (b"\x01,,n=,r=a", MALFORMED, 'Unexpected channel-binding flag "0x01".', "08P01"),
    (b"nx,n=,r=a", MALFORMED, "Comma expected, but found character \"'x'\".", "08P01"),
    (b"n", MALFORMED, 'Comma expected, but found character "0x00".', "08P01"),
    (b"y;,n=,r=a", MALFORMED, "Comma expected, but found character \"';'\".", "08P01"),
    (b"p=tls-server-end-point,,n=,r=a", MALFORMED,
     "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes "
     "channel binding data.", "08P01"),
    (b"n,a=bob,n=,r=a", "client uses authorization identity, but it is not supported", None,
     "0A000"),
    (b"n,x,n=,r=a", MALFORMED, "Unexpected attribute \"'x'\" in client-first-message.", "08P01"),
    (b"n,,m=ext,n=,r=a", "client requires an unsupported SCRAM extension", None, "0A000"),
    (b"n,,r=a", MALFORMED, "Expected attribute \"n\" but found \"'r'\".", "08P01"),
    (b"n,,n", MALFORMED, 'Expected character "=" for attribute "n".', "08P01"),
    (b"n,,n=", MALFORMED, 'Expected attribute "r" but found "0x00".', "08P01"),
    (b"n,,n=,r=a b", "non-printable characters in SCRAM nonce", None, "08P01"),
    (b"n,,n=,r=\xe9", "non-printable characters in SCRAM nonce", None, "08P01"),
    (b"n,,n=,r=a,,", MALFORMED, "Attribute expected, but found invalid character \"','\".",
     "08P01"),
    (b"n,,n=,r=a,1=x", MALFORMED, "Attribute expected, but found invalid character \"'1'\".",
     "08P01"),
    (b"n,,n=,r=a,x", MALFORMED, 'Expected character "=" for attribute "x".', "08P01"),
    (b"n,," + b"x" * (scram.SCRAM_MESSAGE_MAX_BYTES + 1), MALFORMED,
     f"The message is longer than {scram.SCRAM_MESSAGE_MAX_BYTES} bytes.", "08P01"),
])
def test_malformed_client_first(message: bytes, text: str, detail: str | None,
                                sqlstate: str) -> None:
    server = ScramServerExchange("u", build_verifier("pw"))
    error = failure(server.server_first, message)
    assert (error.message, error.detail, error.sqlstate) == (text, detail, sqlstate)
    assert server.state is ServerExchangeState.FAILED


def test_malformed_client_first_with_plus() -> None:
    for header in (b"n,,", b"y,,"):
        server = ScramServerExchange("u", None, b"hash", mechanism="SCRAM-SHA-256-PLUS")
        error = failure(server.server_first, header + b"n=,r=a")
        assert error.detail == ("The client selected SCRAM-SHA-256-PLUS, but the SCRAM message "
                                "does not include channel binding data.")
    server = ScramServerExchange("u", None, b"hash")
    error = failure(server.server_first, b"y,,n=,r=a")
    assert (error.message, error.sqlstate) == ("SCRAM channel binding negotiation error", "28000")
    server = ScramServerExchange("u", None, b"hash", mechanism="SCRAM-SHA-256-PLUS")
    error = failure(server.server_first, b"p=tls-unique\x01,,n=,r=a")
    assert error.message == 'unsupported SCRAM channel-binding type "tls-unique?"'


@pytest.mark.parametrize("final, text, detail", [
    (b"", MALFORMED, "The message is empty."),
    (b"r=x", MALFORMED, "Expected attribute \"c\" but found \"'r'\"."),
    (b"c=eSws,r={nonce},p={proof}",
     "unexpected SCRAM channel-binding attribute in client-final-message", None),
    (b"c=xxxx,r={nonce},p={proof}",
     "unexpected SCRAM channel-binding attribute in client-final-message", None),
    (b"c=biws,p={proof}", MALFORMED, "Expected attribute \"r\" but found \"'p'\"."),
    (b"c=biws,r={nonce}", MALFORMED, "Attribute expected, but found end of string."),
    (b"c=biws,r={nonce},p=abc", MALFORMED, "Malformed proof in client-final-message."),
    (b"c=biws,r={nonce},p=" + base64.b64encode(bytes(31)), MALFORMED,
     "Malformed proof in client-final-message."),
    (b"c=biws,r={nonce},p={proof},x=1", MALFORMED,
     "Garbage found at the end of client-final-message."),
    (b"c=biws,r=wrong,p={proof}", "invalid SCRAM response", "Nonce does not match."),
    (b"c=biws,r={nonce}x,p={proof}", "invalid SCRAM response", "Nonce does not match."),
])
def test_malformed_client_final(final: bytes, text: str, detail: str | None) -> None:
    server = ScramServerExchange("u", build_verifier("pw"))
    nonce = server.server_first(b"n,,n=,r=cn").split(b",")[0][2:]
    proof = base64.b64encode(bytes(32))
    message = final.replace(b"{nonce}", nonce).replace(b"{proof}", proof)
    error = failure(server.server_final, message)
    assert (error.message, error.detail) == (text, detail)
    assert error.sqlstate == "08P01"


# --- what the client says about a misbehaving server: libpq's words ----------------------------

@pytest.mark.parametrize("server_first, text", [
    (b"", "malformed SCRAM message (empty message)"),
    (b"r=\0", "malformed SCRAM message (length mismatch)"),
    (b"s=abc", 'malformed SCRAM message (attribute "r" expected)'),
    (b"rx", 'malformed SCRAM message (expected character "=" for attribute "r")'),
    (b"r=someoneelse,s=AAAA,i=4096", "invalid SCRAM response (nonce mismatch)"),
    (b"r={nonce}x,s=A,i=4096", "malformed SCRAM message (invalid salt)"),
    (b"r={nonce}x,s=AAAA,i=0", "malformed SCRAM message (invalid iteration count)"),
    (b"r={nonce}x,s=AAAA,i=-1", "malformed SCRAM message (invalid iteration count)"),
    (b"r={nonce}x,s=AAAA,i=12a", "malformed SCRAM message (invalid iteration count)"),
    (b"r={nonce}x,s=AAAA,i=\xb2", "malformed SCRAM message (invalid iteration count)"),
    (b"r={nonce}x,s=AAAA,i=%d" % (scram.SCRAM_CLIENT_MAX_ITERATIONS + 1),
     "malformed SCRAM message (invalid iteration count)"),
    (b"r={nonce}x,s=AAAA,i=1,e=x", "malformed SCRAM message (garbage at end of "
     "server-first-message)"),
])
def test_client_rejects_bad_server_first(server_first: bytes, text: str) -> None:
    client = ScramClientExchange("u", "pw")
    nonce = client.client_first()[len(b"n,,n=,r="):]
    error = failure(client.client_final, server_first.replace(b"{nonce}", nonce))
    assert error.message == text and error.sqlstate == "08P01"
    assert client.state is ClientExchangeState.FAILED


@pytest.mark.parametrize("server_final, text", [
    (b"e=invalid-proof", "error received from server in SCRAM exchange: invalid-proof"),
    (b"x=1", 'malformed SCRAM message (attribute "v" expected)'),
    (b"v=" + base64.b64encode(bytes(32)) + b",x=1",
     "malformed SCRAM message (garbage at end of server-final-message)"),
    (b"v=AAAA", "malformed SCRAM message (invalid server signature)"),
    (b"v=not base64!", "malformed SCRAM message (invalid server signature)"),
])
def test_client_rejects_bad_server_final(server_final: bytes, text: str) -> None:
    client = ScramClientExchange("u", "pw")
    nonce = client.client_first()[len(b"n,,n=,r="):]
    client.client_final(b"r=" + nonce + b"srv,s=AAAA,i=1")
    assert failure(client.verify_server_final, server_final).message == text


# --- the stored verifier -----------------------------------------------------------------------

def test_parse_verifier_fields() -> None:
    verifier = parse_verifier(CAPTURED_VERIFIER)
    assert verifier is not None
    assert verifier.iterations == 4096
    assert verifier.salt_base64 == "b40xCY3JYUZjrU1k+iAYhQ=="
    assert verifier.salt == base64.b64decode("b40xCY3JYUZjrU1k+iAYhQ==")
    assert len(verifier.stored_key) == len(verifier.server_key) == 32


KEY = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize("text, iterations", [
    (f"SCRAM-SHA-256$4096:c2FsdA==${KEY}:{KEY}", 4096),
    (f"$SCRAM-SHA-256$4096:c2FsdA==${KEY}:{KEY}", 4096),  # strtok skips a leading "$"
    (f"SCRAM-SHA-256$::4096:c2FsdA==${KEY}:{KEY}", 4096),  # ...and leading ":" before a count
    (f"SCRAM-SHA-256$ +12:c2FsdA==${KEY}:{KEY}", 12),  # strtol: white space and a sign
    (f"SCRAM-SHA-256$-1:c2FsdA==${KEY}:{KEY}", -1),
    (f"SCRAM-SHA-256$4294967297:c2FsdA==${KEY}:{KEY}", 1),  # narrowed to a C int
])
def test_parse_verifier_quirks(text: str, iterations: int) -> None:
    verifier = parse_verifier(text)
    assert verifier is not None and verifier.iterations == iterations


@pytest.mark.parametrize("text", [
    "", "secret", "md5" + "0" * 32, "SCRAM-SHA-256",
    f"SCRAM-SHA-1$4096:c2FsdA==${KEY}:{KEY}",
    f"SCRAM-SHA-256$4096:c2FsdA==${KEY}",
    f"SCRAM-SHA-256$4096x:c2FsdA==${KEY}:{KEY}",
    f"SCRAM-SHA-256$$4096:c2FsdA==${KEY}:{KEY}",  # the count would read "$4096"
    f"SCRAM-SHA-256$99999999999999999999:c2FsdA==${KEY}:{KEY}",  # beyond a C long
    f"SCRAM-SHA-256$4096:c2FsdA=${KEY}:{KEY}",  # bad padding
    f"SCRAM-SHA-256$4096:c2Fs dA==${KEY}:{KEY}",
    f"SCRAM-SHA-256$4096:c2FsdA==$AAAA:{KEY}",  # a key must be 32 bytes
    f"SCRAM-SHA-256$4096:c2FsdA==${KEY}:{KEY}x",
])
def test_not_a_verifier(text: str) -> None:
    assert parse_verifier(text) is None
    assert not is_scram_verifier(text)


def test_plain_password_against_a_verifier() -> None:
    verifier = parse_verifier(CAPTURED_VERIFIER)
    assert verifier is not None
    assert scram.verify_plain_password("secret", verifier)
    assert not scram.verify_plain_password("Secret", verifier)


# --- SASLprep (each case checked against PostgreSQL 15 by tests/compat) ------------------------

@pytest.mark.parametrize("text, prepared", [
    ("secret", "secret"),
    ("a\u0007b", "a\u0007b"),  # ASCII is never touched, even control characters
    ("I\u00adX", "IX"),  # soft hyphen: mapped to nothing
    ("\u2168", "IX"),  # ROMAN NUMERAL NINE: NFKC
    ("\u00a0x\u00a0", " x "),  # non-ASCII spaces become spaces
    ("x\u200bx", "x x"),  # ZERO WIDTH SPACE is a non-ASCII space before it is "nothing"
    ("\ufb01", "fi"),
    ("e\u0301", "\u00e9"),
    ("\u0627\u0628", "\u0627\u0628"),  # right-to-left only: allowed
    ("\u65e5\u672c\u8a9e", "\u65e5\u672c\u8a9e"),
    ("\u00ad", None),  # empty after mapping
    ("\u0007\u00e9", None),  # prohibited control character in a non-ASCII string
    ("\u0627\u0031", None),  # must end with a right-to-left character
    ("\u0627a\u0628", None),  # right-to-left and left-to-right mixed
    ("a\u0340", None),  # prohibited before normalization (PostgreSQL checks there)
    ("\U000e0001a", None),  # tagging character
    ("\u0221", None),  # unassigned in Unicode 3.2
    ("a\u2028b", None),
])
def test_saslprep(text: str, prepared: str | None) -> None:
    assert saslprep(text) == prepared


def test_prepared_password_falls_back_to_raw_bytes() -> None:
    assert scram.prepared_password("\u2168") == b"IX"
    assert scram.prepared_password("a\u0340") == "a\u0340".encode()
    assert scram.prepared_password(b"\xff\xfe") == b"\xff\xfe"  # not UTF-8
    assert scram.prepared_password(b"\xe2\x85\xa8") == b"IX"
    assert scram.prepared_password(b"\xff".decode("utf-8", "surrogateescape")) == b"\xff"
