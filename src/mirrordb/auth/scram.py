"""SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL 15 speaks it: SASLprep, the stored verifier,
the server side of the exchange (with PostgreSQL's mock exchange) and the client side.

Who calls it: the backend, when the pg_hba.conf rule (via ``md5.effective_method``) says SCRAM,
creates one ``ScramServerExchange`` per connection, sends AuthenticationSASL with
``advertised_mechanisms()``, passes the SASLInitialResponse payload to ``server_first`` and the
SASLResponse payload to ``server_final``, wrapping each reply in AuthenticationSASLContinue /
AuthenticationSASLFinal; ``AuthenticationFailed`` from either ends the connection with a FATAL.
A SASLInitialResponse without initial data (length -1) is answered with an empty
AuthenticationSASLContinue; the client's next SASLResponse then goes to ``server_first``. The
standby's walreceiver, connecting to a primary, drives a ``ScramClientExchange`` the same way
from the other end. The SQL layer builds stored verifiers with ``build_verifier`` (through
``md5.encrypt_password``). Nothing here does I/O; nonces and salts come from ``secrets``.

The SASL payloads (ASCII; bytes travel unchanged, the user name is ignored)::

    client-first  gs2-header client-first-bare
                  gs2-header         "n,," no channel binding; "y,," the client could bind but
                                     thinks the server cannot; "p=tls-server-end-point,," binds
                                     (only with SCRAM-SHA-256-PLUS)
                  client-first-bare  "n=<user>,r=<client nonce>[,<extensions>]"; libpq sends an
                                     empty user and 18 random bytes in base64 as its nonce
    server-first  "r=<client nonce><server nonce>,s=<salt base64>,i=<iterations>"
    client-final  "c=<base64 of the gs2 header [+ binding data]>,r=<nonce>[,<ext>],p=<proof>"
    server-final  "v=<ServerSignature base64>"

The key schedule (hashes are SHA-256, HMAC is HMAC-SHA-256)::

    SaltedPassword  = PBKDF2(SASLprep(password), salt, iterations, 32 bytes)
    ClientKey       = HMAC(SaltedPassword, "Client Key");  StoredKey = H(ClientKey)
    ServerKey       = HMAC(SaltedPassword, "Server Key")
    AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
    ClientProof     = ClientKey XOR HMAC(StoredKey, AuthMessage)
    ServerSignature = HMAC(ServerKey, AuthMessage)

The stored verifier (pg_authid.rolpassword)::

    SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>

Mock exchange: for a role that does not exist or has no SCRAM verifier, the server still answers
with a plausible salt, SHA-256(user name + mock nonce)[:16], and 4096 iterations, then fails at
the proof, so a client cannot probe which roles exist. Pass the cluster's
``mock_authentication_nonce`` (pg_control) so the fake salt is stable across restarts.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass

from mirrordb.common.errors import AuthenticationFailed, invariant

SCRAM_SHA_256_NAME = "SCRAM-SHA-256"
SCRAM_SHA_256_PLUS_NAME = "SCRAM-SHA-256-PLUS"
SCRAM_KEY_LEN = 32
SCRAM_DEFAULT_SALT_LEN = 16
SCRAM_DEFAULT_ITERATIONS = 4096
SCRAM_RAW_NONCE_LEN = 18
MOCK_AUTH_NONCE_LEN = 32
# The longest SASL payload we parse; PostgreSQL reads SASL messages of at most 65535 bytes.
SCRAM_MESSAGE_MAX_BYTES = 65535
# The client's own bound on a server's iteration count: a hostile server could otherwise keep
# the walreceiver hashing for hours. libpq has none; 10 million is ~2500 times the default.
SCRAM_CLIENT_MAX_ITERATIONS = 10_000_000

_CHANNEL_BINDING_TYPE = "tls-server-end-point"
_GS2_HEADER_NO_BINDING = "biws"  # base64("n,,")
_GS2_HEADER_CLIENT_CAN_BIND = "eSws"  # base64("y,,")
_BASE64_TEXT = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# strtol(3) in base 10 over a C long, as PostgreSQL reads the verifier's iteration count.
_C_LONG = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")
_C_LONG_MIN, _C_LONG_MAX = -(1 << 63), (1 << 63) - 1
_PROCESS_MOCK_NONCE = secrets.token_bytes(MOCK_AUTH_NONCE_LEN)


# --- SASLprep and the stored verifier ----------------------------------------------------------

def saslprep(text: str) -> str | None:
    """RFC 4013 SASLprep as PostgreSQL's pg_saslprep does it, or None where PostgreSQL gives up.

    Pure ASCII passes unchanged (control characters too). Otherwise non-ASCII spaces become
    spaces, "commonly mapped to nothing" characters go, and the result is NFKC-normalized. The
    prohibited, unassigned and bidirectional checks look at the mapped string before
    normalization, as PostgreSQL's do. None means "use the raw password bytes instead": the text
    is empty after mapping, or fails a check.
    """
    if text.isascii():
        return text
    mapped = "".join(map(_saslprep_map, text))
    if not mapped or not _saslprep_allowed(mapped):
        return None
    return unicodedata.normalize("NFKC", mapped)


def _saslprep_map(character: str) -> str:
    """Step 1, in PostgreSQL's order: a non-ASCII space (C.1.2, which includes U+200B) becomes a
    space before "mapped to nothing" (B.1) is considered."""
    if stringprep.in_table_c12(character):
        return " "
    return "" if stringprep.in_table_b1(character) else character


def _saslprep_allowed(mapped: str) -> bool:
    for character in mapped:
        if (stringprep.in_table_c12(character) or stringprep.in_table_c21_c22(character)
                or stringprep.in_table_c3(character) or stringprep.in_table_c4(character)
                or stringprep.in_table_c5(character) or stringprep.in_table_c6(character)
                or stringprep.in_table_c7(character) or stringprep.in_table_c8(character)
                or stringprep.in_table_c9(character) or stringprep.in_table_a1(character)):
            return False
    if any(stringprep.in_table_d1(character) for character in mapped):
        if any(stringprep.in_table_d2(character) for character in mapped):
            return False
        return stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1])
    return True


def prepared_password(password: str | bytes) -> bytes:
    """The bytes PostgreSQL hashes: SASLprep of the password when it is valid UTF-8 and
    SASLprep succeeds, else the raw bytes. A ``str`` stands for its UTF-8 encoding (lone
    surrogates from ``surrogateescape`` decoding map back to the raw bytes)."""
    raw = password if isinstance(password, bytes) else _encode_text(password)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    prepared = saslprep(text)
    return raw if prepared is None else prepared.encode("utf-8")


def _encode_text(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def salted_password(password: str | bytes, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA-256; PostgreSQL computes one round for any count below 2."""
    return hashlib.pbkdf2_hmac("sha256", prepared_password(password), salt, max(1, iterations),
                               SCRAM_KEY_LEN)


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _client_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Client Key")


def _server_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Server Key")


def _stored_key(client_key: bytes) -> bytes:
    return hashlib.sha256(client_key).digest()


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict base64 (padding required, no white space), or None."""
    if _BASE64_TEXT.fullmatch(text) is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ScramVerifier:
    """A parsed stored verifier; ``salt_base64`` is the stored text, which the server sends."""

    iterations: int
    salt: bytes
    salt_base64: str
    stored_key: bytes
    server_key: bytes


def build_verifier(password: str | bytes, salt: bytes | None = None,
                   iterations: int = SCRAM_DEFAULT_ITERATIONS) -> str:
    """PostgreSQL's stored verifier for ``password``; a random 16-byte salt unless one is given."""
    invariant(iterations >= 1, f"SCRAM iteration count {iterations}")
    if salt is None:
        salt = secrets.token_bytes(SCRAM_DEFAULT_SALT_LEN)
    salted = salted_password(password, salt, iterations)
    stored = _stored_key(_client_key(salted))
    return (f"{SCRAM_SHA_256_NAME}${iterations}:{_b64encode(salt)}"
            f"${_b64encode(stored)}:{_b64encode(_server_key(salted))}")


def parse_verifier(text: str) -> ScramVerifier | None:
    """Parse a stored verifier as PostgreSQL's parse_scram_secret does, or None if it is not one.

    Its quirks are kept: fields are found with strtok (so a leading "$" is skipped), and the
    iteration count is strtol's (white space and a sign allowed) narrowed to a C int.
    """
    fields = _strtok_fields(text, ("$", ":", "$", ":", ""))
    if fields is None:
        return None
    scheme, iterations_text, salt_text, stored_text, server_text = fields
    iterations = _c_int_from_strtol(iterations_text)
    salt = _b64decode(salt_text)
    stored_key = _b64decode(stored_text)
    server_key = _b64decode(server_text)
    if (scheme != SCRAM_SHA_256_NAME or iterations is None or salt is None
            or stored_key is None or len(stored_key) != SCRAM_KEY_LEN
            or server_key is None or len(server_key) != SCRAM_KEY_LEN):
        return None
    return ScramVerifier(iterations, salt, salt_text, stored_key, server_key)


def is_scram_verifier(text: str) -> bool:
    return parse_verifier(text) is not None


def verify_plain_password(password: str | bytes, verifier: ScramVerifier) -> bool:
    """The ``password`` method against a SCRAM verifier: compare the ServerKey it implies."""
    salted = salted_password(password, verifier.salt, verifier.iterations)
    return hmac.compare_digest(_server_key(salted), verifier.server_key)


def _strtok_fields(text: str, delimiters: tuple[str, ...]) -> list[str] | None:
    """Successive strtok(3) calls, one delimiter set each (an empty set takes the rest)."""
    fields: list[str] = []
    position = 0
    for delimiter in delimiters:
        while delimiter and position < len(text) and text[position] == delimiter:
            position += 1
        if position >= len(text):
            return None
        end = text.find(delimiter, position) if delimiter else -1
        if end < 0:
            fields.append(text[position:])
            position = len(text)
        else:
            fields.append(text[position:end])
            position = end + 1
    return fields


def _c_int_from_strtol(text: str) -> int | None:
    match = _C_LONG.fullmatch(text)
    if match is None:
        return None
    value = int(match.group(1))
    if not _C_LONG_MIN <= value <= _C_LONG_MAX:
        return None
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def mock_salt(username: str, mock_nonce: bytes) -> bytes:
    """PostgreSQL's scram_mock_salt: SHA-256(user name, cluster mock nonce), first 16 bytes."""
    return hashlib.sha256(_encode_text(username) + mock_nonce).digest()[:SCRAM_DEFAULT_SALT_LEN]


def advertised_mechanisms(channel_binding_available: bool) -> tuple[str, ...]:
    """The AuthenticationSASL list, strongest first; -PLUS only when TLS gives binding data."""
    if channel_binding_available:
        return (SCRAM_SHA_256_PLUS_NAME, SCRAM_SHA_256_NAME)
    return (SCRAM_SHA_256_NAME,)


def _new_nonce() -> str:
    return _b64encode(secrets.token_bytes(SCRAM_RAW_NONCE_LEN))


# --- message parsing (the server's wording) ----------------------------------------------------

def _malformed(detail: str) -> AuthenticationFailed:
    return AuthenticationFailed("malformed SCRAM message", detail=detail, sqlstate="08P01")


def _sanitize_char(character: str) -> str:
    """PostgreSQL's sanitize_char: printable ASCII quoted, anything else as 0x%02x."""
    code = ord(character)
    return f"'{character}'" if 0x21 <= code <= 0x7E else f"0x{code:02x}"


def _sanitize_str(text: str) -> str:
    """PostgreSQL's sanitize_str: at most 30 characters, non-printables as '?'."""
    return "".join(c if 0x21 <= ord(c) <= 0x7E else "?" for c in text[:30])


def _is_printable(text: str) -> bool:
    return all(0x21 <= ord(c) <= 0x7E and c != "," for c in text)


class _Cursor:
    """A read position in one SASL payload, decoded as Latin-1 so every byte is one character.

    ``peek()`` returns "\\0" at the end, standing in for C's terminator.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else "\0"

    def at_end(self) -> bool:
        return self.position >= len(self.text)

    def advance(self) -> None:
        self.position += 1

    def value_until_comma(self) -> str:
        """The text up to the next comma or the end; the comma is consumed."""
        end = self.text.find(",", self.position)
        if end < 0:
            value, self.position = self.text[self.position:], len(self.text)
        else:
            value, self.position = self.text[self.position:end], end + 1
        return value


def _read_attribute_value(cursor: _Cursor, attribute: str) -> str:
    found = cursor.peek()
    if found != attribute:
        raise _malformed(f'Expected attribute "{attribute}" but found "{_sanitize_char(found)}".')
    cursor.advance()
    if cursor.peek() != "=":
        raise _malformed(f'Expected character "=" for attribute "{attribute}".')
    cursor.advance()
    return cursor.value_until_comma()


def _read_any_attribute(cursor: _Cursor) -> tuple[str, str]:
    attribute = cursor.peek()
    if cursor.at_end():
        raise _malformed("Attribute expected, but found end of string.")
    if not ("A" <= attribute <= "Z" or "a" <= attribute <= "z"):
        raise _malformed("Attribute expected, but found invalid character "
                         f'"{_sanitize_char(attribute)}".')
    cursor.advance()
    if cursor.peek() != "=":
        raise _malformed(f'Expected character "=" for attribute "{attribute}".')
    cursor.advance()
    return attribute, cursor.value_until_comma()


def _payload_text(message: bytes) -> str:
    """Checks PostgreSQL makes before parsing any client payload, then Latin-1 text."""
    if not message:
        raise _malformed("The message is empty.")
    if b"\0" in message:
        raise _malformed("Message length does not match input length.")
    if len(message) > SCRAM_MESSAGE_MAX_BYTES:
        raise _malformed(f"The message is longer than {SCRAM_MESSAGE_MAX_BYTES} bytes.")
    return message.decode("latin-1")


# --- the server side ---------------------------------------------------------------------------

class ServerExchangeState(enum.Enum):
    INIT = "init"
    SALT_SENT = "salt sent"
    FINISHED = "finished"
    FAILED = "failed"


class ScramServerExchange:
    """One server-side SCRAM exchange: ``server_first`` then ``server_final``, once each.

    ``verifier`` is the role's rolpassword, or None when the role does not exist or has no
    password: then the exchange runs with a mock salt and fails at the end, like a wrong
    password. A stored md5 or plain password also gets the mock exchange (its log detail says
    why). ``channel_binding`` is the tls-server-end-point hash of the server's certificate when
    the connection uses TLS (None without TLS); ``mechanism`` is what the client chose in its
    SASLInitialResponse. Any failure raises ``AuthenticationFailed`` and the exchange is over.
    """

    def __init__(self, username: str, verifier: str | None, channel_binding: bytes | None = None,
                 *, mechanism: str = SCRAM_SHA_256_NAME,
                 mock_nonce: bytes = _PROCESS_MOCK_NONCE) -> None:
        self.username = username
        self.state = ServerExchangeState.INIT
        self._channel_binding = channel_binding
        self._binding_in_use = self._select_mechanism(mechanism)
        parsed = None if verifier is None else parse_verifier(verifier)
        self._doomed = parsed is None
        self._log_detail = (None if verifier is None or parsed is not None
                            else f'User "{username}" does not have a valid SCRAM secret.')
        if parsed is None:
            salt = mock_salt(username, mock_nonce)
            parsed = ScramVerifier(SCRAM_DEFAULT_ITERATIONS, salt, _b64encode(salt),
                                   bytes(SCRAM_KEY_LEN), bytes(SCRAM_KEY_LEN))
        self._verifier = parsed
        self._cbind_flag = ""
        self._client_nonce = ""
        self._server_nonce = ""
        self._client_first_bare = ""
        self._server_first = ""

    def _select_mechanism(self, mechanism: str) -> bool:
        if mechanism == SCRAM_SHA_256_PLUS_NAME and self._channel_binding is not None:
            return True
        if mechanism == SCRAM_SHA_256_NAME:
            return False
        raise AuthenticationFailed("client selected an invalid SASL authentication mechanism",
                                   sqlstate="08P01")

    def server_first(self, client_first_message: bytes) -> bytes:
        """Read the client-first-message; return the server-first-message."""
        invariant(self.state is ServerExchangeState.INIT, f"server_first in state {self.state}")
        self.state = ServerExchangeState.FAILED
        cursor = _Cursor(_payload_text(client_first_message))
        self._read_gs2_header(cursor)
        self._read_client_first_bare(cursor)
        self._server_nonce = _new_nonce()
        self._server_first = (f"r={self._client_nonce}{self._server_nonce},"
                              f"s={self._verifier.salt_base64},i={self._verifier.iterations}")
        self.state = ServerExchangeState.SALT_SENT
        return self._server_first.encode("latin-1")

    def _read_gs2_header(self, cursor: _Cursor) -> None:
        flag = self._cbind_flag = cursor.peek()
        if flag in ("n", "y"):
            if self._binding_in_use:
                raise _malformed("The client selected SCRAM-SHA-256-PLUS, but the SCRAM message "
                                 "does not include channel binding data.")
            if flag == "y" and self._channel_binding is not None:
                raise AuthenticationFailed(
                    "SCRAM channel binding negotiation error", sqlstate="28000",
                    detail="The client supports SCRAM channel binding but thinks the server "
                           "does not.  However, this server does support channel binding.")
            cursor.advance()
            if cursor.peek() != ",":
                raise _malformed(
                    f'Comma expected, but found character "{_sanitize_char(cursor.peek())}".')
            cursor.advance()
        elif flag == "p":
            if not self._binding_in_use:
                raise _malformed("The client selected SCRAM-SHA-256 without channel binding, but "
                                 "the SCRAM message includes channel binding data.")
            binding_type = _read_attribute_value(cursor, "p")
            if binding_type != _CHANNEL_BINDING_TYPE:
                raise AuthenticationFailed(
                    f'unsupported SCRAM channel-binding type "{_sanitize_str(binding_type)}"',
                    sqlstate="08P01")
        else:
            raise _malformed(f'Unexpected channel-binding flag "{_sanitize_char(flag)}".')
        if cursor.peek() == "a":
            raise AuthenticationFailed(
                "client uses authorization identity, but it is not supported", sqlstate="0A000")
        if cursor.peek() != ",":
            raise _malformed('Unexpected attribute '
                             f'"{_sanitize_char(cursor.peek())}" in client-first-message.')
        cursor.advance()

    def _read_client_first_bare(self, cursor: _Cursor) -> None:
        self._client_first_bare = cursor.text[cursor.position:]
        if cursor.peek() == "m":
            raise AuthenticationFailed("client requires an unsupported SCRAM extension",
                                       sqlstate="0A000")
        _read_attribute_value(cursor, "n")  # the user name; the startup packet's is used
        self._client_nonce = _read_attribute_value(cursor, "r")
        if not _is_printable(self._client_nonce):
            raise AuthenticationFailed("non-printable characters in SCRAM nonce", sqlstate="08P01")
        while not cursor.at_end():
            _read_any_attribute(cursor)  # extensions: none supported, all ignored

    def server_final(self, client_final_message: bytes) -> bytes:
        """Read the client-final-message, check nonce and proof; return the server-final-message."""
        invariant(self.state is ServerExchangeState.SALT_SENT,
                  f"server_final in state {self.state}")
        self.state = ServerExchangeState.FAILED
        text = _payload_text(client_final_message)
        cursor = _Cursor(text)
        self._check_channel_binding(_read_attribute_value(cursor, "c"))
        final_nonce = _read_attribute_value(cursor, "r")
        proof_start, proof = self._read_proof(cursor)
        if final_nonce != self._client_nonce + self._server_nonce:
            raise AuthenticationFailed("invalid SCRAM response", detail="Nonce does not match.",
                                       sqlstate="08P01")
        auth_message = (f"{self._client_first_bare},{self._server_first},"
                        f"{text[:proof_start]}").encode("latin-1")
        # The proof is checked even in a mock exchange, so both take the same time.
        if not self._proof_matches(proof, auth_message) or self._doomed:
            raise AuthenticationFailed(f'password authentication failed for user "{self.username}"',
                                       log_detail=self._log_detail)
        signature = _hmac(self._verifier.server_key, auth_message)
        self.state = ServerExchangeState.FINISHED
        return f"v={_b64encode(signature)}".encode("ascii")

    def _check_channel_binding(self, value: str) -> None:
        if self._binding_in_use:
            assert self._channel_binding is not None
            expected = _b64encode(f"p={_CHANNEL_BINDING_TYPE},,".encode("ascii")
                                  + self._channel_binding)
            if not hmac.compare_digest(value.encode("latin-1"), expected.encode("ascii")):
                raise AuthenticationFailed("SCRAM channel binding check failed", sqlstate="28000")
            return
        if not ((value == _GS2_HEADER_NO_BINDING and self._cbind_flag == "n")
                or (value == _GS2_HEADER_CLIENT_CAN_BIND and self._cbind_flag == "y")):
            raise AuthenticationFailed(
                "unexpected SCRAM channel-binding attribute in client-final-message",
                sqlstate="08P01")

    @staticmethod
    def _read_proof(cursor: _Cursor) -> tuple[int, bytes]:
        """Skip extensions up to the "p" attribute; return where ",p=" starts and the proof."""
        while True:
            proof_start = cursor.position - 1
            attribute, value = _read_any_attribute(cursor)
            if attribute == "p":
                break
        proof = _b64decode(value)
        if proof is None or len(proof) != SCRAM_KEY_LEN:
            raise _malformed("Malformed proof in client-final-message.")
        if not cursor.at_end():
            raise _malformed("Garbage found at the end of client-final-message.")
        return proof_start, proof

    def _proof_matches(self, proof: bytes, auth_message: bytes) -> bool:
        client_signature = _hmac(self._verifier.stored_key, auth_message)
        client_key = _xor(proof, client_signature)
        return hmac.compare_digest(_stored_key(client_key), self._verifier.stored_key)


# --- the client side ---------------------------------------------------------------------------

class ClientExchangeState(enum.Enum):
    INIT = "init"
    NONCE_SENT = "nonce sent"
    PROOF_SENT = "proof sent"
    FINISHED = "finished"
    FAILED = "failed"


def _client_error(message: str) -> AuthenticationFailed:
    """A server that broke the exchange, in libpq's words."""
    return AuthenticationFailed(message, sqlstate="08P01")


def _client_text(message: bytes) -> str:
    if not message:
        raise _client_error("malformed SCRAM message (empty message)")
    if b"\0" in message:
        raise _client_error("malformed SCRAM message (length mismatch)")
    if len(message) > SCRAM_MESSAGE_MAX_BYTES:
        raise _client_error("malformed SCRAM message (message too long)")
    return message.decode("latin-1")


def _client_read_attribute_value(cursor: _Cursor, attribute: str) -> str:
    if cursor.peek() != attribute:
        raise _client_error(f'malformed SCRAM message (attribute "{attribute}" expected)')
    cursor.advance()
    if cursor.peek() != "=":
        raise _client_error(
            f'malformed SCRAM message (expected character "=" for attribute "{attribute}")')
    cursor.advance()
    return cursor.value_until_comma()


class ScramClientExchange:
    """The client side, as libpq runs it without channel binding ("n,,", empty user name).

    ``client_first()``, then ``client_final(server_first)``, then
    ``verify_server_final(server_final)``, each once. A misbehaving server raises
    ``AuthenticationFailed`` with libpq's message.
    """

    def __init__(self, username: str, password: str | bytes) -> None:
        self.username = username
        self.state = ClientExchangeState.INIT
        self._password = password
        self._client_nonce = ""
        self._client_first_bare = ""
        self._server_signature = b""

    def client_first(self) -> bytes:
        invariant(self.state is ClientExchangeState.INIT, f"client_first in state {self.state}")
        self._client_nonce = _new_nonce()
        self._client_first_bare = f"n=,r={self._client_nonce}"
        self.state = ClientExchangeState.NONCE_SENT
        return f"n,,{self._client_first_bare}".encode("ascii")

    def client_final(self, server_first: bytes) -> bytes:
        invariant(self.state is ClientExchangeState.NONCE_SENT,
                  f"client_final in state {self.state}")
        self.state = ClientExchangeState.FAILED
        server_first_text = _client_text(server_first)
        nonce, salt, iterations = self._read_server_first(server_first_text)
        salted = salted_password(self._password, salt, iterations)
        client_key = _client_key(salted)
        without_proof = f"c={_GS2_HEADER_NO_BINDING},r={nonce}"
        auth_message = (f"{self._client_first_bare},{server_first_text},"
                        f"{without_proof}").encode("latin-1")
        proof = _xor(client_key, _hmac(_stored_key(client_key), auth_message))
        self._server_signature = _hmac(_server_key(salted), auth_message)
        self.state = ClientExchangeState.PROOF_SENT
        return f"{without_proof},p={_b64encode(proof)}".encode("latin-1")

    def _read_server_first(self, text: str) -> tuple[str, bytes, int]:
        cursor = _Cursor(text)
        nonce = _client_read_attribute_value(cursor, "r")
        if not nonce.startswith(self._client_nonce):
            raise _client_error("invalid SCRAM response (nonce mismatch)")
        salt = _b64decode(_client_read_attribute_value(cursor, "s"))
        if salt is None:
            raise _client_error("malformed SCRAM message (invalid salt)")
        iterations_match = _C_LONG.fullmatch(_client_read_attribute_value(cursor, "i"))
        iterations = 0 if iterations_match is None else int(iterations_match.group(1))
        if not 1 <= iterations <= SCRAM_CLIENT_MAX_ITERATIONS:
            raise _client_error("malformed SCRAM message (invalid iteration count)")
        if not cursor.at_end():
            raise _client_error(
                "malformed SCRAM message (garbage at end of server-first-message)")
        return nonce, salt, iterations

    def verify_server_final(self, server_final: bytes) -> None:
        invariant(self.state is ClientExchangeState.PROOF_SENT,
                  f"verify_server_final in state {self.state}")
        self.state = ClientExchangeState.FAILED
        cursor = _Cursor(_client_text(server_final))
        if cursor.peek() == "e":
            reason = _client_read_attribute_value(cursor, "e")
            raise _client_error(f"error received from server in SCRAM exchange: {reason}")
        signature_text = _client_read_attribute_value(cursor, "v")
        if not cursor.at_end():
            raise _client_error(
                "malformed SCRAM message (garbage at end of server-final-message)")
        signature = _b64decode(signature_text)
        if signature is None or len(signature) != SCRAM_KEY_LEN:
            raise _client_error("malformed SCRAM message (invalid server signature)")
        if not hmac.compare_digest(signature, self._server_signature):
            raise AuthenticationFailed("incorrect server signature", sqlstate="28000")
        self.state = ClientExchangeState.FINISHED
