"""json_in and jsonb_in's parser: PostgreSQL 15's JSON grammar, tokens and error reports.

Who calls it: sql/types.py (``parse_json``, ``parse_jsonb``, ``json_value``) hands every json and
jsonb input text here. Python's ``json`` module accepts exactly the texts PostgreSQL accepts except
for the escapes jsonb refuses (lone surrogates, ``\\u0000``), so a text without ``\\u`` escapes
takes that fast path; everything else, and every text the fast path refuses, goes through the lexer
and recursive-descent parser below, which find the same error PostgreSQL finds and describe it as
PostgreSQL does: SQLSTATE 22P02 "invalid input syntax for type json" with a DETAIL naming the
offending token, and a CONTEXT "JSON data, line N: <that line up to the token>".

How PostgreSQL lexes (src/common/jsonapi.c), which this module follows:

* blanks are space, tab, CR and LF; only an LF outside a string starts a new line;
* ``{ } [ ] , :`` are one-character tokens; a string runs from ``"`` to ``"``; a number is
  ``-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?``; a word is a run of ASCII letters,
  digits, ``_`` and non-ASCII characters, valid only as ``true``, ``false`` or ``null``. A number
  followed by such characters, or malformed, is one invalid token up to the end of that run;
  any other character is an invalid token by itself;
* jsonb (``need_escapes``) also checks ``\\u`` escapes: surrogates must pair and ``\\u0000`` is
  refused (22P05), which json leaves alone.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError

CONTEXT_BYTES = 50            # PostgreSQL shows at most this many bytes before the error's end
CONTEXT_ELLIPSIS_BYTES = 3    # ... but the whole line when only this many more would be cut
BLANKS = " \t\n\r"
HEX_DIGITS = "0123456789abcdefABCDEF"
SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                  "t": "\t"}
WORDS = {"true": True, "false": False, "null": None}

# token kinds
OBJECT_START, OBJECT_END, ARRAY_START, ARRAY_END = "{", "}", "[", "]"
COMMA, COLON, STRING, NUMBER, WORD, END = ",", ":", "string", "number", "word", "end"
PUNCTUATION = frozenset("{}[],:")


class JsonInputError(Exception):
    """A refused text: PostgreSQL's DETAIL and SQLSTATE, and where the report's CONTEXT ends."""

    def __init__(self, detail: str, terminator: int, sqlstate: str = "22P02") -> None:
        super().__init__(detail)
        self.detail = detail
        self.terminator = terminator
        self.sqlstate = sqlstate


@dataclass(slots=True)
class Token:
    kind: str
    start: int
    end: int
    value: Any = None


def _is_word_character(character: str) -> bool:
    return not character.isascii() or character.isalnum() or character == "_"


class JsonLexer:
    """PostgreSQL's JSON lexer over one text, keeping the line number and start for CONTEXT."""

    def __init__(self, text: str, need_escapes: bool) -> None:
        self.text = text
        self.need_escapes = need_escapes
        self.position = 0
        self.line_number = 1
        self.line_start = 0
        self.token = Token(END, 0, 0)

    def advance(self) -> Token:
        """Lex the next token into ``self.token`` (raising JsonInputError for a bad one)."""
        text, position = self.text, self.position
        while position < len(text) and text[position] in BLANKS:
            if text[position] == "\n":
                self.line_number += 1
                self.line_start = position + 1
            position += 1
        if position >= len(text):
            token = Token(END, position, position)
        elif text[position] in PUNCTUATION:
            token = Token(text[position], position, position + 1)
        elif text[position] == '"':
            token = self._string(position)
        elif text[position] == "-" or text[position].isdigit() and text[position].isascii():
            token = self._number(position)
        else:
            token = self._word(position)
        self.token = token
        self.position = token.end
        return token

    def _invalid(self, start: int, end: int) -> JsonInputError:
        return JsonInputError(f'Token "{self.text[start:end]}" is invalid.', end)

    def _word(self, start: int) -> Token:
        end = start
        while end < len(self.text) and _is_word_character(self.text[end]):
            end += 1
        if end == start:
            raise self._invalid(start, start + 1)
        word = self.text[start:end]
        if word not in WORDS:
            raise self._invalid(start, end)
        return Token(WORD, start, end, WORDS[word])

    def _digits(self, position: int) -> int:
        while position < len(self.text) and self.text[position] in "0123456789":
            position += 1
        return position

    def _number(self, start: int) -> Token:
        text, position, valid = self.text, start, True
        if text[position] == "-":
            position += 1
        if text[position:position + 1] == "0":
            position += 1
        elif text[position:position + 1].isdigit() and text[position].isascii():
            position = self._digits(position)
        else:
            valid = False
        if valid and text[position:position + 1] == ".":
            following = self._digits(position + 1)
            valid = following > position + 1
            position = following
        if valid and text[position:position + 1] in ("e", "E"):
            position += 1
            if text[position:position + 1] in ("+", "-"):
                position += 1
            following = self._digits(position)
            valid = following > position
            position = following
        end = position
        while end < len(text) and _is_word_character(text[end]):
            end += 1
        if not valid or end > position:
            raise self._invalid(start, end)
        return Token(NUMBER, start, end, decimal.Decimal(text[start:end]))

    def _string(self, start: int) -> Token:
        text, position = self.text, start + 1
        pieces: list[str] = []
        high_surrogate: int | None = None
        while True:
            if position >= len(text):
                raise self._invalid(start, len(text))
            character = text[position]
            if ord(character) < 0x20:
                raise JsonInputError(f"Character with value 0x{ord(character):02x} must be "
                                     "escaped.", position)
            if character == "\\":
                position, high_surrogate = self._escape(start, position, pieces, high_surrogate)
                continue
            if high_surrogate is not None:
                raise _low_surrogate_missing(position + 1)
            if character == '"':
                return Token(STRING, start, position + 1, "".join(pieces))
            pieces.append(character)
            position += 1

    def _escape(self, start: int, backslash: int, pieces: list[str],
                high_surrogate: int | None) -> tuple[int, int | None]:
        """Decode the escape at ``backslash``: the position after it and the pending high
        surrogate (jsonb only)."""
        text, position = self.text, backslash + 1
        if position >= len(text):
            raise self._invalid(start, len(text))
        letter = text[position]
        if letter == "u":
            return self._unicode_escape(start, position, pieces, high_surrogate)
        if letter not in SIMPLE_ESCAPES:
            raise JsonInputError(f'Escape sequence "\\{letter}" is invalid.', position + 1)
        if high_surrogate is not None:
            raise _low_surrogate_missing(position + 1)
        pieces.append(SIMPLE_ESCAPES[letter])
        return position + 1, None

    def _unicode_escape(self, start: int, letter_u: int, pieces: list[str],
                        high_surrogate: int | None) -> tuple[int, int | None]:
        text = self.text
        for offset in range(1, 5):
            if letter_u + offset >= len(text):
                raise self._invalid(start, len(text))
            if text[letter_u + offset] not in HEX_DIGITS:
                raise JsonInputError('"\\u" must be followed by four hexadecimal digits.',
                                     letter_u + offset + 1)
        end = letter_u + 5
        code = int(text[letter_u + 1:end], 16)
        if not self.need_escapes:
            pieces.append(chr(code))
            return end, None
        if 0xD800 <= code <= 0xDBFF:
            if high_surrogate is not None:
                raise JsonInputError("Unicode high surrogate must not follow a high surrogate.",
                                     end)
            return end, code
        if 0xDC00 <= code <= 0xDFFF:
            if high_surrogate is None:
                raise _low_surrogate_missing(end)
            code = 0x10000 + ((high_surrogate - 0xD800) << 10) + (code - 0xDC00)
        elif high_surrogate is not None:
            raise _low_surrogate_missing(end)
        if code == 0:
            raise JsonInputError("\\u0000 cannot be converted to text.", end, "22P05")
        pieces.append(chr(code))
        return end, None


def _low_surrogate_missing(terminator: int) -> JsonInputError:
    return JsonInputError("Unicode low surrogate must follow a high surrogate.", terminator)


# what report_parse_error says, by what the parser expected, when it found another token
EXPECTED = {
    "value": 'Expected JSON value, but found "{}".',
    "end": 'Expected end of input, but found "{}".',
    "object_first": 'Expected string or "}}", but found "{}".',
    "object_next": 'Expected "," or "}}", but found "{}".',
    "label": 'Expected string, but found "{}".',
    "colon": 'Expected ":", but found "{}".',
    "array_next": 'Expected "," or "]", but found "{}".',
}


class JsonParser:
    """PostgreSQL's recursive-descent JSON grammar; ``parse`` returns the Python value (objects
    through ``make_object`` from their key/value pairs, numbers as Decimal)."""

    def __init__(self, lexer: JsonLexer, make_object: Callable[[list[tuple[str, Any]]], Any]
                 ) -> None:
        self.lexer = lexer
        self.make_object = make_object

    def parse(self) -> Any:
        self.lexer.advance()
        value = self._value()
        self._expect(END, "end")
        return value

    def _unexpected(self, expected: str) -> JsonInputError:
        token = self.lexer.token
        if token.kind == END:
            return JsonInputError("The input string ended unexpectedly.", token.end)
        found = self.lexer.text[token.start:token.end]
        return JsonInputError(EXPECTED[expected].format(found), token.end)

    def _expect(self, kind: str, expected: str) -> Token:
        token = self.lexer.token
        if token.kind != kind:
            raise self._unexpected(expected)
        if kind != END:
            self.lexer.advance()
        return token

    def _value(self) -> Any:
        kind = self.lexer.token.kind
        if kind == OBJECT_START:
            return self._object()
        if kind == ARRAY_START:
            return self._array()
        if kind in (STRING, NUMBER, WORD):
            value = self.lexer.token.value
            self.lexer.advance()
            return value
        raise self._unexpected("value")

    def _object(self) -> Any:
        pairs: list[tuple[str, Any]] = []
        token = self.lexer.advance()
        if token.kind == STRING:
            pairs.append(self._field())
            while self.lexer.token.kind == COMMA:
                self.lexer.advance()
                pairs.append(self._field())
        elif token.kind != OBJECT_END:
            raise self._unexpected("object_first")
        self._expect(OBJECT_END, "object_next")
        return self.make_object(pairs)

    def _field(self) -> tuple[str, Any]:
        key = self._expect(STRING, "label").value
        self._expect(COLON, "colon")
        return key, self._value()

    def _array(self) -> list[Any]:
        items: list[Any] = []
        if self.lexer.advance().kind != ARRAY_END:
            items.append(self._value())
            while self.lexer.token.kind == COMMA:
                self.lexer.advance()
                items.append(self._value())
        self._expect(ARRAY_END, "array_next")
        return items


def json_context(lexer: JsonLexer, terminator: int) -> str:
    """PostgreSQL's CONTEXT for an error ending at ``terminator``: the error's line up to there,
    its last 50 bytes at most (with "..." before when cut, and after when the line goes on)."""
    text = lexer.text
    line = text[lexer.line_start:terminator]
    start = 0
    remaining = len(line.encode("utf-8"))
    while remaining >= CONTEXT_BYTES:
        remaining -= len(line[start].encode("utf-8"))
        start += 1
    if len(line[:start].encode("utf-8")) <= CONTEXT_ELLIPSIS_BYTES:
        start = 0
    prefix = "..." if start > 0 else ""
    suffix = "..." if terminator < len(text) and text[terminator] not in "\n\r" else ""
    return f"JSON data, line {lexer.line_number}: {prefix}{line[start:]}{suffix}"


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse_json_input(text: str, need_escapes: bool,
                     make_object: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    """The value of a json (``need_escapes`` False) or jsonb input text, or PostgreSQL's error."""
    if not (need_escapes and "\\u" in text):
        try:
            return json.loads(text, parse_float=decimal.Decimal, parse_int=decimal.Decimal,
                              parse_constant=_reject_constant, object_pairs_hook=make_object)
        except (ValueError, RecursionError):
            pass                                   # the parser below says why, as PostgreSQL
    lexer = JsonLexer(text, need_escapes)
    try:
        return JsonParser(lexer, make_object).parse()
    except JsonInputError as error:
        message = ("unsupported Unicode escape sequence" if error.sqlstate == "22P05"
                   else "invalid input syntax for type json")
        raise MirrordbError(message, sqlstate=error.sqlstate, detail=error.detail,
                            context=json_context(lexer, error.terminator)) from None
    except RecursionError:
        raise MirrordbError("stack depth limit exceeded", sqlstate="54001",
                            hint='Increase the configuration parameter "max_stack_depth" '
                                 '(currently 2048kB), after ensuring the platform\'s stack '
                                 'depth limit is adequate.') from None
