"""Garbage into pg_hba.conf parsing and both ends of the SCRAM exchange raises only our errors
(HbaError, AuthenticationFailed), never IndexError, ValueError, UnicodeError..."""

from __future__ import annotations

import base64
import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.auth import scram
from mirrordb.auth.hba import match_hba, parse_hba
from mirrordb.auth.md5 import md5_check, password_check, password_type
from mirrordb.auth.scram import ScramClientExchange, ScramServerExchange
from mirrordb.common.errors import AuthenticationFailed, HbaError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VERIFIER = scram.build_verifier("pw", b"0123456789abcdef", 1)

# Pieces that reach the interesting branches more often than uniform text would.
HBA_WORDS = st.sampled_from([
    "local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc", "all", "sameuser",
    "samerole", "replication", "+g", "@f", '"', '""', ",", "#", "\\", "\n", "\r", " ", "\t",
    "\0", "trust", "md5", "scram-sha-256", "password", "reject", "ldap", "bogus",
    "127.0.0.1", "10.0.0.0/8", "/", "/33", "::1", "::1/128", "255.0.0.0", "ffff::", "samehost",
    "samenet", "clientcert=verify-ca", "clientname=CN", "map=x", "x", "=", "é", "\udcff"])
HBA_TEXT = st.one_of(st.text(max_size=200),
                     st.lists(HBA_WORDS, max_size=40).map("".join),
                     st.lists(st.one_of(HBA_WORDS, st.text(max_size=5)), max_size=40).map(" ".join))

SCRAM_PIECES = st.sampled_from([
    b"n", b"y", b"p", b"a", b"m", b",", b"=", b"n=", b"r=", b"c=", b"p=", b"s=", b"i=", b"v=",
    b"e=", b"biws", b"eSws", b"tls-server-end-point", b"\0", b"\xff", b"\xe9", b"AAAA", b"=="])
SCRAM_BYTES = st.one_of(st.binary(max_size=120),
                        st.lists(st.one_of(SCRAM_PIECES, st.binary(max_size=4)),
                                 max_size=30).map(b"".join))


@FUZZ
@given(HBA_TEXT)
def test_parse_hba_raises_only_hba_errors(text: str) -> None:
    try:
        rules = parse_hba(text, "/fuzz/pg_hba.conf")
    except HbaError as error:
        assert error.sqlstate in ("F0000",)
        assert all(isinstance(each, HbaError) for each in error.all_errors)
        return
    for address in (None, ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")):
        match_hba(rules, conn_type="local" if address is None else "host", ssl=False, gss=False,
                  database="d", user="u", address=address, is_replication=False,
                  interfaces=())


@FUZZ
@given(SCRAM_BYTES, st.booleans())
def test_server_first_raises_only_authentication_failed(message: bytes, plus: bool) -> None:
    binding = b"hash" if plus else None
    mechanism = scram.SCRAM_SHA_256_PLUS_NAME if plus else scram.SCRAM_SHA_256_NAME
    server = ScramServerExchange("u", VERIFIER, binding, mechanism=mechanism)
    try:
        server.server_first(message)
    except AuthenticationFailed:
        return


@FUZZ
@given(SCRAM_BYTES, st.booleans())
def test_server_final_raises_only_authentication_failed(message: bytes, splice: bool) -> None:
    server = ScramServerExchange("u", VERIFIER)
    nonce = server.server_first(b"n,,n=,r=abc").split(b",")[0][2:]
    if splice:  # a well-formed start, so the later checks are reached
        message = b"c=biws,r=" + nonce + b"," + message
    try:
        server.server_final(message)
    except AuthenticationFailed:
        return


@FUZZ
@given(SCRAM_BYTES, SCRAM_BYTES, st.booleans())
def test_client_raises_only_authentication_failed(first: bytes, final: bytes,
                                                  splice: bool) -> None:
    client = ScramClientExchange("u", "pw")
    nonce = client.client_first()[len(b"n,,n=,r="):]
    if splice:
        first = b"r=" + nonce + b"x,s=" + base64.b64encode(b"salt") + b",i=1" + first
    try:
        client.client_final(first)
        client.verify_server_final(final)
    except AuthenticationFailed:
        return


@FUZZ
@given(st.text(max_size=80), st.binary(min_size=4, max_size=4), st.text(max_size=40))
def test_stored_password_checks_never_raise(stored: str, salt: bytes, response: str) -> None:
    password_type(stored)
    scram.parse_verifier(stored)
    md5_check(stored, "u", salt, response)
    password_check(stored, "u", response)


@FUZZ
@given(st.text(max_size=40))
def test_saslprep_never_raises(text: str) -> None:
    scram.saslprep(text)
    scram.prepared_password(text)
