"""String and regular-expression functions PostgreSQL 15 has that the core table lacked:
regexp_matches, regexp_split_to_table and string_to_table (set-returning), regexp_substr,
regexp_instr, regexp_replace's start/N forms, substring(text from pattern), SIMILAR TO
(similar_to_escape) and substring(... similar ... escape ...), overlay, normalize and IS
NORMALIZED, unistr, textcat, get_byte/set_byte/get_bit/set_bit, convert_to/convert_from,
pg_client_encoding, parse_ident, sha224/sha256/sha384/sha512, encode and decode (base64, hex,
escape).

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
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import functions as funcs
from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext, Expr, Row, coerce, no_such_function

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder

BYTEA, BOOL, INT4, INT8, NAME, TEXT = (T.BYTEA_OID, T.BOOL_OID, T.INT4_OID, T.INT8_OID,
                                       T.NAME_OID, T.TEXT_OID)
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


def regexp_replace_from(text: str, pattern: str, replacement: str, start: int,
                        occurrence: int = 1, flags: str = "") -> str:
    """regexp_replace(source, pattern, replacement, start [, N [, flags]]): the N-th match at
    or after character ``start`` replaced, or every one when N is 0 (flag g changes nothing
    once N is given, as in PostgreSQL 15)."""
    if start <= 0:
        raise MirrordbError(f'invalid value for parameter "start": {start}', sqlstate="22023")
    if occurrence < 0:
        raise MirrordbError(f'invalid value for parameter "n": {occurrence}', sqlstate="22023")
    _, insensitive = funcs._regex_flags(flags)
    every = occurrence == 0
    pieces, position = [], 0
    for count, match in enumerate(funcs._regex(pattern, insensitive).finditer(text, start - 1),
                                  start=1):
        if not every and count != occurrence:
            continue
        pieces += [text[position:match.start()], funcs.regexp_replacement(match, replacement)]
        position = match.end()
        if not every:
            break
    return "".join(pieces) + text[position:]


def similar_to_escape(pattern: str, escape: str | None = "\\") -> str:
    """SQL's SIMILAR TO pattern as the POSIX regular expression ``~`` matches it against
    (PostgreSQL's similar_to_escape): anchored, ``%`` and ``_`` as ``.*`` and ``.``, the escape
    character quoting the next one, and a pair of escaped double quotes marking the part
    substring(... SIMILAR ...) returns."""
    if escape is None:
        escape = ""
    if len(escape) > 1:
        raise MirrordbError("invalid escape string", sqlstate="22025",
                            hint="Escape string must be empty or one character.")
    out, quotes, in_class, after_escape = ["^(?:"], 0, False, False
    for character in pattern:
        if after_escape:
            after_escape = False
            if character == '"':
                quotes += 1
                if quotes > 2:
                    raise MirrordbError("SQL regular expression may not contain more than "
                                        "two escape-double-quote separators",
                                        sqlstate="2201B")
                out.append("){1,1}?(" if quotes == 1 else "){1,1}(?:")
            else:
                out.append("\\" + character)
        elif escape and character == escape:
            after_escape = True
        elif in_class:
            out.append("\\\\" if character == "\\" else character)
            in_class = character != "]"
        elif character == "[":
            out.append(character)
            in_class = True
        elif character == "%":
            out.append(".*")
        elif character == "_":
            out.append(".")
        elif character in "\\.^$":
            out.append("\\" + character)
        else:
            out.append(character)
    out.append(")$")
    return "".join(out)


def substring_similar(text: str, pattern: str, escape: str) -> str | None:
    """substring(text SIMILAR pattern ESCAPE escape)."""
    return substring_regex(text, similar_to_escape(pattern, escape))


_NORMAL_FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def _normal_form(form: str) -> str:
    if form.upper() not in _NORMAL_FORMS:
        raise MirrordbError(f'invalid normalization form: "{form}"', sqlstate="22023")
    return form.upper()


def normalize(text: str, form: str = "NFC") -> str:
    return unicodedata.normalize(_normal_form(form), text)  # type: ignore[arg-type]


def is_normalized(text: str, form: str = "NFC") -> bool:
    return unicodedata.is_normalized(_normal_form(form), text)  # type: ignore[arg-type]


_UNISTR_ESCAPES = ((re.compile(r"[0-9A-Fa-f]{4}"), 0), (re.compile(r"\+[0-9A-Fa-f]{6}"), 1),
                   (re.compile(r"u[0-9A-Fa-f]{4}"), 1), (re.compile(r"U[0-9A-Fa-f]{8}"), 1))


def unistr(text: str) -> str:
    """Unicode escapes (a backslash then XXXX, +XXXXXX, uXXXX or UXXXXXXXX in hex; two
    backslashes make one) turned into their characters."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "\\":
            out.append(text[i])
            i += 1
            continue
        if text[i + 1:i + 2] == "\\":
            out.append("\\")
            i += 2
            continue
        for shape, skip in _UNISTR_ESCAPES:
            found = shape.match(text, i + 1)
            if found is not None:
                code = int(found.group(0)[skip:], 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise MirrordbError("invalid Unicode code point: " + found.group(0)[skip:],
                                        sqlstate="22P05")
                out.append(chr(code))
                i = found.end()
                break
        else:
            raise MirrordbError("invalid Unicode escape", sqlstate="42601",
                                hint="Unicode escapes must be \\XXXX, \\+XXXXXX, \\uXXXX, or "
                                     "\\UXXXXXXXX.")
    return "".join(out)


def _byte_index(data: bytes, index: int, limit: int) -> None:
    if not 0 <= index < limit:
        raise MirrordbError(f"index {index} out of valid range, 0..{limit - 1}",
                            sqlstate="2202E")


def get_byte(data: bytes, index: int) -> int:
    _byte_index(data, index, len(data))
    return data[index]


def set_byte(data: bytes, index: int, value: int) -> bytes:
    _byte_index(data, index, len(data))
    changed = bytearray(data)
    changed[index] = value & 0xFF
    return bytes(changed)


def get_bit(data: bytes, index: int) -> int:
    _byte_index(data, index, len(data) * 8)
    return (data[index // 8] >> (index % 8)) & 1


def set_bit(data: bytes, index: int, value: int) -> bytes:
    _byte_index(data, index, len(data) * 8)
    if value not in (0, 1):
        raise MirrordbError("new bit must be 0 or 1", sqlstate="22023")
    changed = bytearray(data)
    mask = 1 << (index % 8)
    changed[index // 8] = (changed[index // 8] & ~mask) | (mask if value else 0)
    return bytes(changed)


# encoding names as PostgreSQL cleans them (lower case, letters and digits) -> Python's codec
_ENCODINGS = {"utf8": "utf-8", "unicode": "utf-8", "sqlascii": "latin-1", "latin1": "latin-1",
              "iso88591": "latin-1", "latin2": "iso8859-2", "latin9": "iso8859-15",
              "win1252": "cp1252", "win1251": "cp1251", "koi8r": "koi8-r"}
_CANONICAL = {"utf-8": "UTF8", "latin-1": "LATIN1", "iso8859-2": "LATIN2",
              "iso8859-15": "LATIN9", "cp1252": "WIN1252", "cp1251": "WIN1251",
              "koi8-r": "KOI8R"}


def _codec(name: str, side: str) -> str:
    codec = _ENCODINGS.get("".join(c for c in name.lower() if c.isalnum()))
    if codec is None:
        raise MirrordbError(f'invalid {side} encoding name "{name}"', sqlstate="22023")
    return codec


def convert_to(text: str, encoding: str) -> bytes:
    codec = _codec(encoding, "destination")
    try:
        return text.encode(codec)
    except UnicodeEncodeError as error:
        character = text[error.start]
        raise MirrordbError(
            f'character with byte sequence {_hex_bytes(character.encode())} in encoding '
            f'"UTF8" has no equivalent in encoding "{_CANONICAL[codec]}"',
            sqlstate="22P05") from None


def convert_from(data: bytes, encoding: str) -> str:
    codec = _codec(encoding, "source")
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        bad = data[error.start:error.start + 1]
        raise MirrordbError(f'invalid byte sequence for encoding "{_CANONICAL[codec]}": '
                            f"{_hex_bytes(bad)}", sqlstate="22021") from None


def _hex_bytes(data: bytes) -> str:
    return " ".join(f"0x{byte:02x}" for byte in data)


def parse_ident(text: str, strict: bool = True) -> list[str | None]:
    """An SQL name, qualified or not, split into its parts (quoted parts as written, others
    in lower case), as PostgreSQL's parse_ident does."""
    parts: list[str | None] = []
    i, length = 0, len(text)

    def invalid(detail: str | None = None) -> MirrordbError:
        return MirrordbError(f'string is not a valid identifier: "{text}"', sqlstate="22023",
                             detail=detail)
    while True:
        while i < length and text[i].isspace():
            i += 1
        if i < length and text[i] == '"':
            end, part = i + 1, []
            while True:
                close = text.find('"', end)
                if close < 0:
                    raise invalid("String has unclosed double quotes.")
                part.append(text[end:close])
                if text[close + 1:close + 2] != '"':
                    break
                part.append('"')
                end = close + 2
            if close == i + 1:
                raise invalid("Quoted identifier must not be empty.")
            parts.append("".join(part))
            i = close + 1
        else:
            start = i
            while i < length and (text[i].isalnum() or text[i] in "_$" or ord(text[i]) > 127):
                i += 1
            if i == start or text[start].isdigit() or text[start] == "$":
                if parts and i == start:
                    raise invalid('No valid identifier after ".".')
                raise invalid('No valid identifier before ".".' if text[i:i + 1] == "."
                              else None)
            parts.append(text[start:i].lower())
        while i < length and text[i].isspace():
            i += 1
        if i < length and text[i] == ".":
            i += 1
            continue
        if i < length and strict:
            raise invalid()
        return parts


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
    for arguments in ([TEXT, TEXT, TEXT, INT4], [TEXT, TEXT, TEXT, INT4, INT4],
                      [TEXT, TEXT, TEXT, INT4, INT4, TEXT]):
        define("regexp_replace", arguments, TEXT, regexp_replace_from)
    define("similar_to_escape", [TEXT], TEXT, similar_to_escape)
    define("similar_to_escape", [TEXT, TEXT], TEXT, similar_to_escape)
    define("substring", [TEXT, TEXT, TEXT], TEXT, substring_similar)
    define("normalize", [TEXT], TEXT, normalize)
    define("normalize", [TEXT, TEXT], TEXT, normalize)
    define("is_normalized", [TEXT], BOOL, is_normalized)
    define("is_normalized", [TEXT, TEXT], BOOL, is_normalized)
    define("unistr", [TEXT], TEXT, unistr)
    define("textcat", [TEXT, TEXT], TEXT, lambda left, right: left + right)
    define("get_byte", [BYTEA, INT4], INT4, get_byte)
    define("set_byte", [BYTEA, INT4, INT4], BYTEA, set_byte)
    define("get_bit", [BYTEA, INT8], INT4, get_bit)
    define("set_bit", [BYTEA, INT8, INT4], BYTEA, set_bit)
    define("convert_to", [TEXT, NAME], BYTEA, convert_to, volatility="s")
    define("convert_from", [BYTEA, NAME], TEXT, convert_from, volatility="s")
    define("pg_client_encoding", [], NAME, lambda: "UTF8", volatility="s")
    define("parse_ident", [TEXT], TEXT_ARRAY, parse_ident)
    define("parse_ident", [TEXT, BOOL], TEXT_ARRAY, parse_ident)
    for arguments in ([TEXT, TEXT], [TEXT, TEXT, INT4], [TEXT, TEXT, INT4, INT4],
                      [TEXT, TEXT, INT4, INT4, INT4], [TEXT, TEXT, INT4, INT4, INT4, TEXT],
                      [TEXT, TEXT, INT4, INT4, INT4, TEXT, INT4]):
        define("regexp_instr", arguments, INT4, regexp_instr)


_define()
