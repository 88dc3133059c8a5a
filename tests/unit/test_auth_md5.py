"""Stored-password kinds, the md5 and password methods, and the md5-rule-runs-SCRAM switch, with
the values PostgreSQL 15 produced (protocol_spec.md §1.3)."""

from __future__ import annotations

import pytest

from mirrordb.auth import md5, scram
from mirrordb.auth.md5 import (
    effective_method,
    encrypt_password,
    md5_check,
    md5_response,
    md5_verifier,
    password_check,
    password_type,
)
from mirrordb.common.errors import InvariantViolation

STORED_MD5 = "md52aea419619857e8a27f0f7aa641db0c6"  # secret / md5user
SALT = bytes.fromhex("384a1f13")
RESPONSE = "md5601f54ec4b40e495b55af8148e3bd0d5"
SCRAM_VERIFIER = scram.build_verifier("secret", b"0123456789abcdef")


def test_md5_verifier_and_response_match_postgresql() -> None:
    assert md5_verifier("secret", "md5user") == STORED_MD5
    assert md5_verifier(b"secret", b"md5user") == STORED_MD5
    assert md5_response("secret", "md5user", SALT) == RESPONSE
    assert md5_response(STORED_MD5, "md5user", SALT) == RESPONSE  # from the verifier itself


def test_md5_check() -> None:
    assert md5_check(STORED_MD5, "md5user", SALT, RESPONSE)
    assert md5_check(STORED_MD5, "md5user", SALT, RESPONSE.encode())
    assert not md5_check(STORED_MD5, "md5user", bytes(4), RESPONSE)
    assert not md5_check(STORED_MD5, "md5user", SALT, RESPONSE.upper())
    assert not md5_check(STORED_MD5, "md5user", SALT, "")
    # Only an md5 verifier can answer an md5 challenge (PostgreSQL 15's md5_crypt_verify).
    assert not md5_check(SCRAM_VERIFIER, "md5user", SALT, RESPONSE)
    assert not md5_check("secret", "md5user", SALT, md5_response("secret", "md5user", SALT))
    assert not md5_check(None, "md5user", SALT, RESPONSE)
    with pytest.raises(InvariantViolation):
        md5_check(STORED_MD5, "md5user", b"abc", RESPONSE)


@pytest.mark.parametrize("stored, kind", [
    (STORED_MD5, "md5"),
    (SCRAM_VERIFIER, "scram-sha-256"),
    ("secret", "plaintext"),
    ("md5" + "A" * 32, "plaintext"),  # upper-case hex is not PostgreSQL's md5 form
    ("md5" + "0" * 31, "plaintext"),
    ("md5" + "0" * 33, "plaintext"),
    ("", "plaintext"),
])
def test_password_type(stored: str, kind: str) -> None:
    assert password_type(stored) == kind


def test_password_check() -> None:
    assert password_check(SCRAM_VERIFIER, "anyone", "secret")
    assert not password_check(SCRAM_VERIFIER, "anyone", "Secret")
    assert password_check(STORED_MD5, "md5user", "secret")
    assert password_check(STORED_MD5, "md5user", b"secret")
    assert not password_check(STORED_MD5, "other", "secret")  # the user name is in the hash
    assert not password_check(None, "md5user", "secret")
    # PostgreSQL 15 never authenticates against plain text ("unrecognized format").
    assert not password_check("secret", "md5user", "secret")


@pytest.mark.parametrize("hba_method, stored, encryption, method", [
    ("md5", STORED_MD5, "scram-sha-256", "md5"),
    ("md5", SCRAM_VERIFIER, "md5", "scram-sha-256"),  # an md5 rule runs SCRAM for SCRAM roles
    ("md5", "plain", "md5", "scram-sha-256"),
    ("md5", None, "md5", "md5"),  # no password: follow password_encryption
    ("md5", None, "scram-sha-256", "scram-sha-256"),
    ("scram-sha-256", STORED_MD5, "md5", "scram-sha-256"),
    ("password", STORED_MD5, "scram-sha-256", "password"),
    ("trust", None, "scram-sha-256", "trust"),
    ("reject", SCRAM_VERIFIER, "scram-sha-256", "reject"),
])
def test_effective_method(hba_method: str, stored: str | None, encryption: str,
                          method: str) -> None:
    assert effective_method(hba_method, stored, password_encryption=encryption) == method


def test_encrypt_password() -> None:
    assert encrypt_password("secret", "md5user", password_encryption="md5") == STORED_MD5
    stored = encrypt_password("secret", "md5user")
    assert password_type(stored) == "scram-sha-256"
    assert password_check(stored, "md5user", "secret")
    # An already hashed value is kept as it is, whatever the target.
    assert encrypt_password(STORED_MD5, "x") == STORED_MD5
    assert encrypt_password(SCRAM_VERIFIER, "x", password_encryption="md5") == SCRAM_VERIFIER
    with pytest.raises(InvariantViolation):
        encrypt_password("secret", "x", password_encryption="password")


def test_constants() -> None:
    assert len(STORED_MD5) == md5.MD5_PASSWD_LEN and len(SALT) == md5.MD5_SALT_LEN
