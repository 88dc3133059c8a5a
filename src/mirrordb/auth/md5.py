"""Stored passwords and the md5 and password methods, as PostgreSQL 15's crypt.c has them.

Who calls it: the backend, once ``hba.match_hba`` chose a rule, asks ``effective_method`` what to
run (an md5 rule runs SCRAM for a role with a SCRAM verifier), then for ``md5`` sends
AuthenticationMD5Password with 4 random salt bytes and checks the reply with ``md5_check``, and
for ``password`` sends AuthenticationCleartextPassword and checks the reply with
``password_check``. The SQL layer turns ``CREATE ROLE ... PASSWORD`` text into what
pg_authid.rolpassword stores with ``encrypt_password``. The standby's walreceiver answers an md5
challenge with ``md5_response``. Pure functions, no I/O.

Formats (all ASCII)::

    md5 verifier   "md5" + hex(MD5(password || user name))              35 characters
    md5 response   "md5" + hex(MD5(hex part of the verifier || salt))    sent NUL-terminated
    SCRAM          see scram.py

A stored value is an md5 verifier if it is "md5" and 32 lower-case hex digits, a SCRAM verifier if
``scram.parse_verifier`` accepts it, and plain text otherwise. PostgreSQL 15 never stores plain
text (``encrypt_password`` hashes it) and refuses to authenticate against it: so do we.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from mirrordb.auth import scram
from mirrordb.common.errors import invariant

PASSWORD_TYPE_PLAINTEXT = "plaintext"
PASSWORD_TYPE_MD5 = "md5"
PASSWORD_TYPE_SCRAM_SHA_256 = "scram-sha-256"
MD5_PASSWD_LEN = 35
MD5_SALT_LEN = 4
# password_encryption's values (PostgreSQL 15: "md5" or "scram-sha-256").
PASSWORD_ENCRYPTION_METHODS = (PASSWORD_TYPE_MD5, PASSWORD_TYPE_SCRAM_SHA_256)

_MD5_VERIFIER = re.compile(r"md5[0-9a-f]{32}")


def _as_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def password_type(stored: str) -> str:
    """PostgreSQL's get_password_type: 'md5', 'scram-sha-256' or 'plaintext'."""
    if _MD5_VERIFIER.fullmatch(stored):
        return PASSWORD_TYPE_MD5
    if scram.is_scram_verifier(stored):
        return PASSWORD_TYPE_SCRAM_SHA_256
    return PASSWORD_TYPE_PLAINTEXT


def md5_verifier(password: str | bytes, username: str | bytes) -> str:
    """The stored md5 form: "md5" + hex(MD5(password || user name))."""
    return "md5" + _md5_hex(_as_bytes(password) + _as_bytes(username))


def md5_response(stored_or_password: str | bytes, username: str | bytes, salt: bytes) -> str:
    """What a client answers to AuthenticationMD5Password (without the terminating NUL).

    ``stored_or_password`` may be the password, or an md5 verifier already (then it is salted
    as is, which lets a holder of the verifier log in: the weakness of the md5 method).
    """
    invariant(len(salt) == MD5_SALT_LEN, f"md5 salt of {len(salt)} bytes")
    verifier = (stored_or_password if isinstance(stored_or_password, str)
                and password_type(stored_or_password) == PASSWORD_TYPE_MD5
                else md5_verifier(stored_or_password, username))
    return "md5" + _md5_hex(verifier[3:].encode("ascii") + salt)


def md5_check(stored: str | None, username: str, salt: bytes, response: str | bytes) -> bool:
    """Check a client's md5 response. Only an md5 verifier can answer (PostgreSQL's
    md5_crypt_verify: "User has a password that cannot be used with MD5 authentication."); the
    user name is already inside the verifier. None (no such role or no password) fails."""
    invariant(len(salt) == MD5_SALT_LEN, f"md5 salt of {len(salt)} bytes")
    if stored is None or password_type(stored) != PASSWORD_TYPE_MD5:
        return False
    expected = md5_response(stored, username, salt).encode("ascii")
    return hmac.compare_digest(expected, _as_bytes(response))


def password_check(stored: str | None, username: str, cleartext: str | bytes) -> bool:
    """The ``password`` method: the client sent its password in clear text.

    A SCRAM verifier is checked through its ServerKey, an md5 verifier by hashing the password
    with the user name; a stored plain-text value fails, as in PostgreSQL 15 ("Password of user
    is in unrecognized format."). None (no such role or no password) fails.
    """
    if stored is None:
        return False
    kind = password_type(stored)
    if kind == PASSWORD_TYPE_SCRAM_SHA_256:
        verifier = scram.parse_verifier(stored)
        assert verifier is not None
        return scram.verify_plain_password(cleartext, verifier)
    if kind == PASSWORD_TYPE_MD5:
        return hmac.compare_digest(md5_verifier(cleartext, username).encode("ascii"),
                                   stored.encode("ascii"))
    return False


def effective_method(hba_method: str, stored_password: str | None, *,
                     password_encryption: str = PASSWORD_TYPE_SCRAM_SHA_256) -> str:
    """The method the backend really runs for a matched pg_hba.conf rule.

    PostgreSQL's CheckPWChallengeAuth: an ``md5`` rule runs md5 only for a role whose stored
    password is an md5 verifier, and SCRAM otherwise (SCRAM verifier, plain text); for a role with
    no password (or none at all) it follows ``password_encryption``, so the mock exchange looks
    like a real one. Every other method is run as written.
    """
    invariant(password_encryption in PASSWORD_ENCRYPTION_METHODS,
              f"password_encryption {password_encryption!r}")
    if hba_method != PASSWORD_TYPE_MD5:
        return hba_method
    kind = password_encryption if stored_password is None else password_type(stored_password)
    return PASSWORD_TYPE_MD5 if kind == PASSWORD_TYPE_MD5 else PASSWORD_TYPE_SCRAM_SHA_256


def encrypt_password(password: str, username: str, *,
                     password_encryption: str = PASSWORD_TYPE_SCRAM_SHA_256) -> str:
    """What CREATE/ALTER ROLE ... PASSWORD stores (PostgreSQL's encrypt_password).

    A value that already is an md5 or SCRAM verifier is stored unchanged (it cannot be
    converted); plain text is hashed with ``password_encryption``.
    """
    invariant(password_encryption in PASSWORD_ENCRYPTION_METHODS,
              f"password_encryption {password_encryption!r}")
    if password_type(password) != PASSWORD_TYPE_PLAINTEXT:
        return password
    if password_encryption == PASSWORD_TYPE_MD5:
        return md5_verifier(password, username)
    return scram.build_verifier(password)
