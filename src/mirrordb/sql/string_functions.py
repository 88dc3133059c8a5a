"""String and regular-expression functions PostgreSQL 15 has that the core table lacked:
regexp_matches, regexp_split_to_table and string_to_table (set-returning), regexp_substr,
regexp_instr, substring(text from pattern), overlay, sha224/sha256/sha384/sha512, encode and
decode (base64, hex, escape).

Who calls it: sql/set_returning.py imports it (so the scalar functions below join
sql/functions.py's registry when the planner loads) and hands the set-returning names here
(``compile_set_call``), in a select list and in FROM alike. The regular expressions are
sql/operators.py's ``compile_regex`` (PostgreSQL's ARE flavour in Python's engine) and the
flags sql/functions.py's ``_regex_flags``, as regexp_match and regexp_replace use them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import functions as funcs
from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext, Expr, Row, coerce, no_such_function

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder

BYTEA, INT4, TEXT = T.BYTEA_OID, T.INT4_OID, T.TEXT_OID
TEXT_ARRAY = T.TEXT_ARRAY_OID
BASE64_LINE_CHARS = 76          # PostgreSQL's base64 encoding breaks lines after this many

# -- set-returning -------------------------------------------------------------------------------

# name -> the argument lists accepted (all text), the element type of the rows
_SET_FUNCTIONS: dict[str, tuple[tuple[int, ...], int]] = {
    "regexp_matches": ((2, 3), TEXT_ARRAY),
    "regexp_split_to_table": ((2, 3), TEXT),
    "string_to_table": ((2, 3), TEXT),
}
SET_NAMES = frozenset(_SET_FUNCTIONS)


def compile_set_call(builder: PlanBuilder, name: str, args: list[Expr], location: int
                     ) -> tuple[Callable[[Row, ExecContext], Iterable[Any]], int]:
    """One of SET_NAMES over compiled ``args``: its values per input row and their type."""
    counts, result = _SET_FUNCTIONS[name]
    if len(args) not in counts:
        raise no_such_function(name, args, location)
    try:
        fns = [coerce(builder, arg, TEXT).fn for arg in args]
    except MirrordbError:
        raise no_such_function(name, args, location) from None
    produce = {"regexp_matches": regexp_matches,
               "regexp_split_to_table": regexp_split_to_table,
               "string_to_table": string_to_table}[name]
    strict = name != "string_to_table"

    def values(row: Row, ctx: ExecContext) -> Iterable[Any]:
        given = [fn(row, ctx) for fn in fns]
        if (strict and None in given) or given[0] is None:
            return ()
        return produce(*given)
    return values, result


def regexp_matches(text: str, pattern: str, flags: str = "") -> Iterator[list[str | None]]:
    """One row per match (only the first without flag g): the captured groups, or the whole
    match when the pattern captures none."""
    global_flag, insensitive = funcs._regex_flags(flags)
    compiled = funcs._regex(pattern, insensitive)
    for match in compiled.finditer(text):
        yield list(match.groups()) if compiled.groups else [match.group(0)]
        if not global_flag:
            return


def regexp_split_to_table(text: str, pattern: str, flags: str = "") -> list[str | None]:
    return funcs._regexp_split_to_array(text, pattern, flags)


def string_to_table(text: str, delimiter: str | None, null_string: str | None = None
                    ) -> list[str | None]:
    return funcs._string_to_array(text, delimiter, null_string)


# -- scalar --------------------------------------------------------------------------------------


def _search_from(function: str, text: str, pattern: str, start: int, occurrence: int,
                 flags: str, subexpression: int) -> re.Match[str] | None:
    """The ``occurrence``-th match at or after character ``start`` (1-based), as
    regexp_instr and regexp_substr find it."""
    if start <= 0:
        raise MirrordbError(f'invalid value for parameter "start": {start}', sqlstate="22023")
    if occurrence <= 0:
        raise MirrordbError(f'invalid value for parameter "n": {occurrence}', sqlstate="22023")
    if subexpression < 0:
        raise MirrordbError(f'invalid value for parameter "subexpr": {subexpression}',
                            sqlstate="22023")
    global_flag, insensitive = funcs._regex_flags(flags)
    if global_flag:
        raise MirrordbError(f'{function}() does not support the "global" option',
                            sqlstate="22023")
    compiled = funcs._regex(pattern, insensitive)
    for count, match in enumerate(compiled.finditer(text, start - 1), start=1):
        if count == occurrence:
            if subexpression > compiled.groups:
                return None
            return match
    return None


def regexp_substr(text: str, pattern: str, start: int = 1, occurrence: int = 1,
                  flags: str = "", subexpression: int = 0) -> str | None:
    match = _search_from("regexp_substr", text, pattern, start, occurrence, flags,
                         subexpression)
    return None if match is None else match.group(subexpression)


def regexp_instr(text: str, pattern: str, start: int = 1, occurrence: int = 1,
                 end_option: int = 0, flags: str = "", subexpression: int = 0) -> int:
    if end_option not in (0, 1):
        raise MirrordbError(f'invalid value for parameter "endoption": {end_option}',
                            sqlstate="22023")
    match = _search_from("regexp_instr", text, pattern, start, occurrence, flags,
                         subexpression)
    if match is None or match.start(subexpression) < 0:
        return 0
    return (match.end(subexpression) if end_option else match.start(subexpression)) + 1


def substring_regex(text: str, pattern: str) -> str | None:
    """substring(text from pattern): the first parenthesized group's text, or the whole
    match."""
    match = funcs._regex(pattern, False).search(text)
    if match is None:
        return None
    return match.group(1) if match.re.groups else match.group(0)


def overlay(text: str, placing: str, start: int, count: int | None = None) -> str:
    if count is None:
        count = len(placing)
    if start <= 0:
        raise MirrordbError("negative substring length not allowed", sqlstate="22011")
    if count < 0:
        raise MirrordbError("negative substring length not allowed", sqlstate="22011")
    return text[:start - 1] + placing + text[start - 1 + count:]


def encode(data: bytes, format_name: str) -> str:
    encoding = format_name.lower()
    if encoding == "hex":
        return data.hex()
    if encoding == "base64":
        text = base64.b64encode(data).decode("ascii")
        return "\n".join(text[i:i + BASE64_LINE_CHARS]
                         for i in range(0, len(text), BASE64_LINE_CHARS))
    if encoding == "escape":
        return "".join("\\\\" if byte == 0x5C else chr(byte) if 0 < byte < 0x80
                       else f"\\{byte:03o}" for byte in data)
    raise MirrordbError(f'unrecognized encoding: "{format_name}"', sqlstate="22023")


def decode(text: str, format_name: str) -> bytes:
    encoding = format_name.lower()
    if encoding == "hex":
        return _decode_hex(text)
    if encoding == "base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise MirrordbError("invalid base64 end sequence", sqlstate="22023",
                                hint="Input data is missing padding, is truncated, or is "
                                     "otherwise corrupted.") from None
    if encoding == "escape":
        return bytes.fromhex(_escape_to_hex(text))
    raise MirrordbError(f'unrecognized encoding: "{format_name}"', sqlstate="22023")


def _decode_hex(text: str) -> bytes:
    digits = "".join(text.split())
    bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise MirrordbError(f'invalid hexadecimal digit: "{bad}"', sqlstate="22023")
    if len(digits) % 2:
        raise MirrordbError("invalid hexadecimal data: odd number of digits",
                            sqlstate="22023")
    return bytes.fromhex(digits)


def _escape_to_hex(text: str) -> str:
    """The escape format's text (``\\\\``, ``\\nnn`` octal, other characters as themselves) as
    hex digits."""
    out = bytearray()
    i = 0
    while i < len(text):
        character = text[i]
        if character == "\\":
            if text[i + 1:i + 2] == "\\":
                out.append(0x5C)
                i += 2
                continue
            octal = text[i + 1:i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                out.append(int(octal, 8))
                i += 4
                continue
            raise MirrordbError("invalid input syntax for type bytea", sqlstate="22P02")
        out += character.encode("utf-8")
        i += 1
    return out.hex()


def _define() -> None:
    define = funcs.define
    for name, algorithm in (("sha224", hashlib.sha224), ("sha256", hashlib.sha256),
                            ("sha384", hashlib.sha384), ("sha512", hashlib.sha512)):
        define(name, [BYTEA], BYTEA, lambda data, hash_of=algorithm: hash_of(data).digest())
    define("encode", [BYTEA, TEXT], TEXT, encode)
    define("decode", [TEXT, TEXT], BYTEA, decode)
    define("substring", [TEXT, TEXT], TEXT, substring_regex)
    define("overlay", [TEXT, TEXT, INT4], TEXT, overlay)
    define("overlay", [TEXT, TEXT, INT4, INT4], TEXT, overlay)
    for arguments in ([TEXT, TEXT], [TEXT, TEXT, INT4], [TEXT, TEXT, INT4, INT4],
                      [TEXT, TEXT, INT4, INT4, TEXT], [TEXT, TEXT, INT4, INT4, TEXT, INT4]):
        define("regexp_substr", arguments, TEXT, regexp_substr)
    for arguments in ([TEXT, TEXT], [TEXT, TEXT, INT4], [TEXT, TEXT, INT4, INT4],
                      [TEXT, TEXT, INT4, INT4, INT4], [TEXT, TEXT, INT4, INT4, INT4, TEXT],
                      [TEXT, TEXT, INT4, INT4, INT4, TEXT, INT4]):
        define("regexp_instr", arguments, INT4, regexp_instr)


_define()
