"""synchronous_standby_names: the setting's scanner and grammar, PostgreSQL 15's (pure).

Who calls it: ``settings.py`` checks every value of the setting with ``check_standby_names``
(SET is refused by the setting's context anyway; ALTER SYSTEM, postgresql.conf at start-up and at
reload refuse a bad value with PostgreSQL's error), and ``replication/syncrep.py`` turns the
current value into a ``SyncRepConfig`` when the postmaster starts or reloads. The other half, which
standbys are synchronous and who waits for them, is ``replication/syncrep.py``.

Grammar (PostgreSQL's syncrep_gram.y), an empty value meaning "no synchronous standbys"::

    standby_config := standby_list                      -> FIRST 1 (standby_list)
                    | NUM '(' standby_list ')'          -> FIRST NUM (...)  (the 9.6 form)
                    | FIRST NUM '(' standby_list ')'    -> priority: the NUM highest-priority
                    | ANY NUM '(' standby_list ')'      -> quorum: any NUM of the listed
    standby_list   := standby_name [',' standby_name]...
    standby_name   := NAME | NUM

Tokens (PostgreSQL's syncrep_scanner.l): blanks are skipped; ``ANY`` and ``FIRST`` are keywords in
any letter case (as a standby name they must be double-quoted); NAME is an identifier (a letter,
``_`` or a non-ASCII character, then those, digits and ``$``), a double-quoted name (``""`` is a
quote inside it; case and every character kept) or ``*`` (matches every standby); NUM is a run of
digits; ``,`` ``(`` ``)``; any other character is JUNK, which no rule accepts. Names are kept as
written: matching against application_name is case-insensitive (``standby_priority``).

Errors are PostgreSQL's: 42601 ``invalid value for parameter "synchronous_standby_names": "<v>"``
with the DETAIL ``syntax error at or near "<token>"`` / ``syntax error at end of input`` /
``unterminated quoted identifier at end of input``, reported for the first token the grammar
cannot take (tokens are read one at a time, so an earlier syntax error wins over a later
unterminated quote); 22023 ``number of synchronous standbys (<n>) must be greater than zero``.
NUM becomes the count as C's atoi does (a 32-bit int: 99999999999 is 1215752191).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from mirrordb.common.errors import InvalidParameterValue, MirrordbError

SETTING_NAME = "synchronous_standby_names"
SYNTAX_ERROR_SQLSTATE = "42601"
BLANKS = " \t\n\r\f\v"
INT32_BITS = 32
LONG_MAX = 2**63 - 1                  # strtol's result on overflow, before atoi's cast to int
MATCH_ANY_STANDBY = "*"


class SyncRepMethod(enum.Enum):
    """How the synchronous standbys are chosen from the list."""

    PRIORITY = "FIRST"    # the num_sync connected standbys listed first
    QUORUM = "ANY"        # any num_sync of the listed standbys


@dataclass(frozen=True)
class SyncRepConfig:
    """A parsed synchronous_standby_names (PostgreSQL's SyncRepConfigData)."""

    num_sync: int
    method: SyncRepMethod
    member_names: tuple[str, ...]


class TokenKind(enum.Enum):
    NAME = "NAME"
    NUM = "NUM"
    ANY = "ANY"
    FIRST = "FIRST"
    COMMA = ","
    OPEN = "("
    CLOSE = ")"
    JUNK = "JUNK"
    END = "END"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str                      # what the scanner matched (yytext); "" at the end
    value: str = ""                # a NAME's or NUM's value (a quoted name without its quotes)
    scan_error: str | None = None  # set on the JUNK token of an unterminated quoted name


_KEYWORDS = {"any": TokenKind.ANY, "first": TokenKind.FIRST}
_PUNCTUATION = {",": TokenKind.COMMA, "(": TokenKind.OPEN, ")": TokenKind.CLOSE}


def _is_identifier_start(char: str) -> bool:
    return char == "_" or (char.isascii() and char.isalpha()) or ord(char) >= 0x80


def _is_identifier_part(char: str) -> bool:
    return _is_identifier_start(char) or char.isascii() and (char.isdigit() or char == "$")


def scan(text: str) -> Iterator[Token]:
    """The tokens of ``text``, then END forever (read lazily, as the parser asks)."""
    position, length = 0, len(text)
    while True:
        while position < length and text[position] in BLANKS:
            position += 1
        if position >= length:
            while True:
                yield Token(TokenKind.END, "")
        token, position = _next_token(text, position)
        yield token


def _next_token(text: str, position: int) -> tuple[Token, int]:
    """The token starting at ``position`` (not a blank) and where the next one starts."""
    char = text[position]
    if char == '"':
        return _quoted_name(text, position + 1)
    if _is_identifier_start(char):
        end = position + 1
        while end < len(text) and _is_identifier_part(text[end]):
            end += 1
        word = text[position:end]
        kind = _KEYWORDS.get(ascii_lower(word), TokenKind.NAME)
        return Token(kind, word, word), end
    if char.isascii() and char.isdigit():
        end = position + 1
        while end < len(text) and text[end].isascii() and text[end].isdigit():
            end += 1
        return Token(TokenKind.NUM, text[position:end], text[position:end]), end
    if char == MATCH_ANY_STANDBY:
        return Token(TokenKind.NAME, char, MATCH_ANY_STANDBY), position + 1
    return Token(_PUNCTUATION.get(char, TokenKind.JUNK), char), position + 1


def _quoted_name(text: str, position: int) -> tuple[Token, int]:
    """A double-quoted name whose opening quote ends before ``position``."""
    pieces: list[str] = []
    while position < len(text):
        quote = text.find('"', position)
        if quote < 0:
            break
        pieces.append(text[position:quote])
        if text.startswith('""', quote):
            pieces.append('"')
            position = quote + 2
            continue
        name = "".join(pieces)
        return Token(TokenKind.NAME, name, name), quote + 1
    return Token(TokenKind.JUNK, "", scan_error="unterminated quoted identifier"), len(text)


class _Parser:
    """Recursive descent over the grammar above, reading one token of lookahead at a time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = scan(text)
        self._lookahead: list[Token] = []

    def peek(self, ahead: int = 0) -> Token:
        while len(self._lookahead) <= ahead:
            token = next(self._tokens)
            self._lookahead.append(token)
            if token.scan_error is not None:
                raise self.error(token, token.scan_error)
        return self._lookahead[ahead]

    def take(self, *kinds: TokenKind) -> Token:
        token = self.peek()
        if token.kind not in kinds:
            raise self.error(token)
        self._lookahead.pop(0)
        return token

    def error(self, token: Token, message: str = "syntax error") -> MirrordbError:
        where = f'at or near "{token.text}"' if token.text else "at end of input"
        return invalid_standby_names(self.text, f"{message} {where}")

    def config(self) -> SyncRepConfig:
        first = self.peek()
        if first.kind in (TokenKind.ANY, TokenKind.FIRST):
            self.take(first.kind)
            method = SyncRepMethod.QUORUM if first.kind is TokenKind.ANY else \
                SyncRepMethod.PRIORITY
            config = self.counted_list(method)
        elif first.kind is TokenKind.NUM and self.peek(1).kind is TokenKind.OPEN:
            config = self.counted_list(SyncRepMethod.PRIORITY)
        else:
            config = SyncRepConfig(1, SyncRepMethod.PRIORITY, self.standby_list())
        self.take(TokenKind.END)
        return config

    def counted_list(self, method: SyncRepMethod) -> SyncRepConfig:
        count = self.take(TokenKind.NUM)
        self.take(TokenKind.OPEN)
        names = self.standby_list()
        self.take(TokenKind.CLOSE)
        return SyncRepConfig(c_atoi(count.value), method, names)

    def standby_list(self) -> tuple[str, ...]:
        names = [self.take(TokenKind.NAME, TokenKind.NUM).value]
        while self.peek().kind is TokenKind.COMMA:
            self.take(TokenKind.COMMA)
            names.append(self.take(TokenKind.NAME, TokenKind.NUM).value)
        return tuple(names)


def c_atoi(digits: str) -> int:
    """C's atoi of a run of digits: strtol (saturating at LONG_MAX), then cut to a 32-bit int."""
    value = min(int(digits), LONG_MAX) & ((1 << INT32_BITS) - 1)
    return value - (1 << INT32_BITS) if value >= 1 << (INT32_BITS - 1) else value


def invalid_standby_names(text: str, detail: str) -> MirrordbError:
    return InvalidParameterValue(f'invalid value for parameter "{SETTING_NAME}": "{text}"',
                                 detail=detail, sqlstate=SYNTAX_ERROR_SQLSTATE)


def parse_standby_names(text: str) -> SyncRepConfig | None:
    """The configuration ``text`` describes; None for the empty value (no synchronous
    standbys). Raises PostgreSQL's error for a bad value (module docstring)."""
    if text == "":
        return None
    config = _Parser(text).config()
    if config.num_sync <= 0:
        raise InvalidParameterValue(f"number of synchronous standbys ({config.num_sync}) must "
                                    "be greater than zero")
    return config


def check_standby_names(text: str, current: object) -> str:
    """settings.py's check of a new value: the value itself, or PostgreSQL's error."""
    parse_standby_names(text)
    return text


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only, as PostgreSQL's pg_strcasecmp compares."""
    return text.translate(_ASCII_LOWER)


def standby_priority(config: SyncRepConfig | None, application_name: str) -> int:
    """A standby's priority as PostgreSQL's SyncRepGetStandbyPriority gives it: its 1-based
    position in the list (case-insensitive match, ``*`` matching any name), 1 for every listed
    standby in quorum mode, 0 when it is not listed (an asynchronous standby)."""
    if config is None:
        return 0
    wanted = ascii_lower(application_name)
    for position, name in enumerate(config.member_names, start=1):
        if name == MATCH_ANY_STANDBY or ascii_lower(name) == wanted:
            return position if config.method is SyncRepMethod.PRIORITY else 1
    return 0


__all__ = ["SyncRepConfig", "SyncRepMethod", "check_standby_names", "parse_standby_names",
           "standby_priority"]
