"""The replication command language of a walsender connection: a pure lexer and parser.

Who calls it: the walsender (replication/walsender.py) passes the text of every simple Query it
receives to ``parse_command`` and acts on the command object it gets back. Nothing here touches
sockets, files or the server: a string goes in, a dataclass (or a ``MirrordbError``) comes
out. The grammar is PostgreSQL 15's replication grammar (repl_gram.y / repl_scanner.l), re-stated:

    command      := ( IDENTIFY_SYSTEM
                    | SHOW var_name                              var_name := ident ( '.' ident )*
                    | TIMELINE_HISTORY uint
                    | CREATE_REPLICATION_SLOT ident [TEMPORARY] PHYSICAL slot_options
                    | CREATE_REPLICATION_SLOT ident [TEMPORARY] LOGICAL ident slot_options
                    | DROP_REPLICATION_SLOT ident [WAIT]
                    | READ_REPLICATION_SLOT ident
                    | START_REPLICATION [SLOT ident] [PHYSICAL] lsn [TIMELINE uint]
                    | START_REPLICATION SLOT ident LOGICAL lsn [ '(' plugin options ')' ]
                    | BASE_BACKUP [ '(' option (',' option)* ')' ]
                    ) [';']
    slot_options := '(' option (',' option)* ')'
                  | { RESERVE_WAL | EXPORT_SNAPSHOT | NOEXPORT_SNAPSHOT | USE_SNAPSHOT
                      | TWO_PHASE }                                 (the pre-15 form)
    option       := word [ 'string' | uint | word ]                 (word: identifier or keyword)

Tokens: keywords and bare identifiers are case-insensitive and read lower-cased
(``[A-Za-z_\\x80-\\xff][A-Za-z0-9_$\\x80-\\xff]*``); ``"quoted identifiers"`` keep their case
(``""`` is a quote); ``'strings'`` (``''`` is a quote); unsigned decimal integers; an LSN
``hex/hex``; the punctuation ``( ) , ; .``; whitespace between tokens. Any other character is a
token of its own, which no rule accepts.

Errors, as PostgreSQL 15 reports them:

* text whose first token is not one of the command keywords is SQL, which a physical walsender
  refuses: 0A000 "cannot execute SQL commands in WAL sender for physical replication";
* anything the grammar does not accept: 42601 "syntax error" (lexer problems: "unterminated
  quoted string", "unterminated quoted identifier", "zero-length delimited identifier");
* a zero timeline: 42601 "invalid timeline 0";
* an option given twice in one list: 42601 'duplicate option "x"'.

Option lists become ``dict[str, OptionValue]`` keyed by the lower-cased option name, in the order
given. The value is None for an option without an argument (PostgreSQL reads that as "true" for
booleans), a ``str`` for a quoted string or a word, an ``int`` for an unsigned integer.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from mirrordb.common.errors import MirrordbError

MAX_COMMAND_LENGTH = 1024 * 1024      # longest replication command text we tokenize
MAX_TIMELINE = 2**32 - 1
MAX_LSN_HALF = 2**32 - 1
SYNTAX_ERROR = "42601"
FEATURE_NOT_SUPPORTED = "0A000"
SQL_IN_PHYSICAL_WALSENDER = "cannot execute SQL commands in WAL sender for physical replication"

OptionValue = str | int | None


class ReplicationSyntaxError(MirrordbError):
    """A replication command that PostgreSQL's replication grammar rejects (42601)."""

    sqlstate = SYNTAX_ERROR


class SqlInPhysicalWalsender(MirrordbError):
    """A plain SQL statement sent on a physical replication connection (0A000)."""

    sqlstate = FEATURE_NOT_SUPPORTED


# -- commands -------------------------------------------------------------------------------------

@dataclass(slots=True)
class IdentifySystem:
    pass


@dataclass(slots=True)
class Show:
    name: str                        # lower-cased unless quoted; dotted parts joined by '.'


@dataclass(slots=True)
class TimelineHistory:
    timeline: int


@dataclass(slots=True)
class CreateReplicationSlot:
    slot_name: str
    kind: str                        # "physical" or "logical"
    temporary: bool = False
    plugin: str | None = None        # logical only
    options: dict[str, OptionValue] = field(default_factory=dict)

    @property
    def reserve_wal(self) -> bool:
        """RESERVE_WAL given (legacy keyword, or the option without a false argument)."""
        return option_is_true(self.options, "reserve_wal")


@dataclass(slots=True)
class DropReplicationSlot:
    slot_name: str
    wait: bool = False


@dataclass(slots=True)
class ReadReplicationSlot:
    slot_name: str


@dataclass(slots=True)
class StartReplication:
    start_lsn: int
    slot_name: str | None = None
    timeline: int | None = None      # None: the server's current timeline
    kind: str = "physical"           # "logical" only with SLOT name LOGICAL
    options: dict[str, OptionValue] = field(default_factory=dict)   # logical plugin options


@dataclass(slots=True)
class BaseBackup:
    options: dict[str, OptionValue] = field(default_factory=dict)


@dataclass(slots=True)
class EmptyCommand:
    """Only whitespace (and maybe a ';'): answered with EmptyQueryResponse."""


ReplicationCommand = (IdentifySystem | Show | TimelineHistory | CreateReplicationSlot
                      | DropReplicationSlot | ReadReplicationSlot | StartReplication | BaseBackup
                      | EmptyCommand)

TRUE_WORDS = frozenset({"true", "on", "yes", "1"})
FALSE_WORDS = frozenset({"false", "off", "no", "0"})


def option_is_true(options: dict[str, OptionValue], name: str) -> bool:
    """Whether boolean option ``name`` is on: present without an argument, or with a true one.
    An argument that is not a boolean raises 42601 as PostgreSQL's defGetBoolean would."""
    if name not in options:
        return False
    value = options[name]
    if value is None:
        return True
    text = str(value).lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ReplicationSyntaxError(f"{name} requires a Boolean value")


# -- lexer ----------------------------------------------------------------------------------------

class TokenKind(enum.Enum):
    WORD = "word"            # a bare identifier or keyword (lower-cased)
    QUOTED = "quoted"        # a "quoted identifier"
    STRING = "string"        # a 'string constant'
    NUMBER = "number"        # an unsigned decimal integer
    LSN = "lsn"              # hex/hex
    PUNCTUATION = "punctuation"


@dataclass(slots=True)
class Token:
    kind: TokenKind
    text: str                # lower-cased for WORD; unquoted for QUOTED and STRING
    value: int = 0           # NUMBER and LSN


COMMAND_KEYWORDS = frozenset({
    "identify_system", "show", "timeline_history", "create_replication_slot",
    "drop_replication_slot", "read_replication_slot", "start_replication", "base_backup",
})

_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_LSN = re.compile(r"([0-9A-Fa-f]+)/([0-9A-Fa-f]+)")
_NUMBER = re.compile(r"[0-9]+")
# An identifier: a letter, "_" or any non-ASCII character, then also digits and "$". Written as
# the complement of the ASCII characters that cannot appear: the same set as the ranges
# [A-Za-z_\x80-\U0010ffff], which take ~7 ms to compile at every process start, against 0.1.
_WORD = re.compile(r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
                   r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*")
_PUNCTUATION = frozenset("(),;.")


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` (see the module docstring); lexer errors raise 42601."""
    if len(text) > MAX_COMMAND_LENGTH:
        raise ReplicationSyntaxError("syntax error", detail="command too long")
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        space = _WHITESPACE.match(text, position)
        if space:
            position = space.end()
            continue
        token, position = _next_token(text, position)
        tokens.append(token)
    return tokens


def _next_token(text: str, position: int) -> tuple[Token, int]:
    character = text[position]
    if character == "'":
        body, end = _quoted(text, position, "'", "unterminated quoted string")
        return Token(TokenKind.STRING, body), end
    if character == '"':
        body, end = _quoted(text, position, '"', "unterminated quoted identifier")
        if not body:
            raise ReplicationSyntaxError("zero-length delimited identifier")
        return Token(TokenKind.QUOTED, body), end
    lsn = _LSN.match(text, position)
    if lsn:
        return _lsn_token(lsn.group(0), lsn.group(1), lsn.group(2)), lsn.end()
    number = _NUMBER.match(text, position)
    if number:
        return Token(TokenKind.NUMBER, number.group(0), int(number.group(0))), number.end()
    word = _WORD.match(text, position)
    if word:
        return Token(TokenKind.WORD, word.group(0).lower()), word.end()
    return Token(TokenKind.PUNCTUATION, character), position + 1


def _quoted(text: str, position: int, quote: str, unterminated: str) -> tuple[str, int]:
    """The body of a quoted token starting at ``position`` (a doubled quote is one quote)."""
    pieces: list[str] = []
    index = position + 1
    while True:
        end = text.find(quote, index)
        if end < 0:
            raise ReplicationSyntaxError(unterminated)
        pieces.append(text[index:end])
        if text.startswith(quote, end + 1):
            pieces.append(quote)
            index = end + 2
            continue
        return "".join(pieces), end + 1


def _lsn_token(text: str, high: str, low: str) -> Token:
    high_value, low_value = int(high, 16), int(low, 16)
    if high_value > MAX_LSN_HALF or low_value > MAX_LSN_HALF:
        raise ReplicationSyntaxError("syntax error")
    return Token(TokenKind.LSN, text, (high_value << 32) | low_value)


def is_replication_command(tokens: list[Token]) -> bool:
    """PostgreSQL's test: the first token is a replication command keyword (or nothing)."""
    if not tokens or tokens[0] == Token(TokenKind.PUNCTUATION, ";"):
        return True
    return tokens[0].kind is TokenKind.WORD and tokens[0].text in COMMAND_KEYWORDS


# -- parser ---------------------------------------------------------------------------------------

def parse_command(text: str) -> ReplicationCommand:
    """Parse one replication command (see the module docstring for the grammar and errors)."""
    tokens = tokenize(text)
    if not is_replication_command(tokens):
        raise SqlInPhysicalWalsender(SQL_IN_PHYSICAL_WALSENDER)
    return _Parser(tokens).command()


class _Parser:
    """Recursive descent over one command's tokens; every failure is "syntax error"."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    # token access

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise ReplicationSyntaxError("syntax error")
        self.position += 1
        return token

    def accept_word(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind is TokenKind.WORD and token.text == word:
            self.position += 1
            return True
        return False

    def accept_punctuation(self, character: str) -> bool:
        token = self.peek()
        if token is not None and token.kind is TokenKind.PUNCTUATION and \
                token.text == character:
            self.position += 1
            return True
        return False

    def expect_punctuation(self, character: str) -> None:
        if not self.accept_punctuation(character):
            raise ReplicationSyntaxError("syntax error")

    def identifier(self) -> str:
        """IDENT: a bare word that is not a keyword of the grammar, or a quoted identifier."""
        token = self.take()
        if token.kind is TokenKind.QUOTED or (token.kind is TokenKind.WORD
                                              and token.text not in GRAMMAR_KEYWORDS):
            return token.text
        raise ReplicationSyntaxError("syntax error")

    def timeline(self) -> int:
        token = self.take()
        if token.kind is not TokenKind.NUMBER or token.value > MAX_TIMELINE:
            raise ReplicationSyntaxError("syntax error")
        if token.value == 0:
            raise ReplicationSyntaxError(f"invalid timeline {token.value}")
        return token.value

    # commands

    def command(self) -> ReplicationCommand:
        token = self.peek()
        if token is None or token.kind is TokenKind.PUNCTUATION:
            result: ReplicationCommand = EmptyCommand()
        else:
            self.position += 1
            result = COMMAND_PARSERS[token.text](self)
        self.accept_punctuation(";")
        if self.peek() is not None:
            raise ReplicationSyntaxError("syntax error")
        return result

    def identify_system(self) -> IdentifySystem:
        return IdentifySystem()

    def show(self) -> Show:
        parts = [self.identifier()]
        while self.accept_punctuation("."):
            parts.append(self.identifier())
        return Show(".".join(parts))

    def timeline_history(self) -> TimelineHistory:
        return TimelineHistory(self.timeline())

    def create_replication_slot(self) -> CreateReplicationSlot:
        name = self.identifier()
        temporary = self.accept_word("temporary")
        if self.accept_word("physical"):
            return CreateReplicationSlot(name, "physical", temporary,
                                         options=self.slot_options())
        if self.accept_word("logical"):
            plugin = self.identifier()
            return CreateReplicationSlot(name, "logical", temporary, plugin,
                                         options=self.slot_options())
        raise ReplicationSyntaxError("syntax error")

    def slot_options(self) -> dict[str, OptionValue]:
        if self.accept_punctuation("("):
            return self.option_list()
        options: dict[str, OptionValue] = {}
        while True:
            token = self.peek()
            if token is None or token.kind is not TokenKind.WORD or \
                    token.text not in LEGACY_SLOT_OPTIONS:
                return options
            self.position += 1
            name, value = LEGACY_SLOT_OPTIONS[token.text]
            options[name] = value

    def drop_replication_slot(self) -> DropReplicationSlot:
        name = self.identifier()
        return DropReplicationSlot(name, wait=self.accept_word("wait"))

    def read_replication_slot(self) -> ReadReplicationSlot:
        return ReadReplicationSlot(self.identifier())

    def start_replication(self) -> StartReplication:
        slot_name = self.identifier() if self.accept_word("slot") else None
        if slot_name is not None and self.accept_word("logical"):
            start_lsn = self.lsn()
            options = self.option_list() if self.accept_punctuation("(") else {}
            return StartReplication(start_lsn, slot_name, kind="logical", options=options)
        self.accept_word("physical")
        start_lsn = self.lsn()
        timeline = self.timeline() if self.accept_word("timeline") else None
        return StartReplication(start_lsn, slot_name, timeline)

    def lsn(self) -> int:
        token = self.take()
        if token.kind is not TokenKind.LSN:
            raise ReplicationSyntaxError("syntax error")
        return token.value

    def base_backup(self) -> BaseBackup:
        if self.accept_punctuation("("):
            return BaseBackup(self.option_list())
        return BaseBackup()

    # generic options: '(' already read

    def option_list(self) -> dict[str, OptionValue]:
        options: dict[str, OptionValue] = {}
        while True:
            name, value = self.option()
            if name in options:
                raise ReplicationSyntaxError(f'duplicate option "{name}"')
            options[name] = value
            if self.accept_punctuation(")"):
                return options
            self.expect_punctuation(",")

    def option(self) -> tuple[str, OptionValue]:
        token = self.take()
        if token.kind not in (TokenKind.WORD, TokenKind.QUOTED):
            raise ReplicationSyntaxError("syntax error")
        argument = self.peek()
        if argument is None or argument.kind is TokenKind.PUNCTUATION:
            return token.text, None
        self.position += 1
        if argument.kind is TokenKind.NUMBER:
            return token.text, argument.value
        if argument.kind in (TokenKind.STRING, TokenKind.WORD, TokenKind.QUOTED):
            return token.text, argument.text
        raise ReplicationSyntaxError("syntax error")


COMMAND_PARSERS = {
    "identify_system": _Parser.identify_system,
    "show": _Parser.show,
    "timeline_history": _Parser.timeline_history,
    "create_replication_slot": _Parser.create_replication_slot,
    "drop_replication_slot": _Parser.drop_replication_slot,
    "read_replication_slot": _Parser.read_replication_slot,
    "start_replication": _Parser.start_replication,
    "base_backup": _Parser.base_backup,
}
assert set(COMMAND_PARSERS) == COMMAND_KEYWORDS

# The legacy (pre-15) CREATE_REPLICATION_SLOT keywords, as the option each one means.
LEGACY_SLOT_OPTIONS: dict[str, tuple[str, OptionValue]] = {
    "reserve_wal": ("reserve_wal", None),
    "export_snapshot": ("snapshot", "export"),
    "noexport_snapshot": ("snapshot", "nothing"),
    "use_snapshot": ("snapshot", "use"),
    "two_phase": ("two_phase", None),
}

# Words the replication grammar reserves: they are not identifiers where IDENT is expected.
GRAMMAR_KEYWORDS = COMMAND_KEYWORDS | frozenset({
    "timeline", "wait", "temporary", "physical", "logical", "slot", "reserve_wal",
    "export_snapshot", "noexport_snapshot", "use_snapshot", "two_phase",
})


__all__ = [
    "BaseBackup", "CreateReplicationSlot", "DropReplicationSlot", "EmptyCommand",
    "IdentifySystem", "ReadReplicationSlot", "ReplicationCommand", "ReplicationSyntaxError",
    "Show", "SqlInPhysicalWalsender", "StartReplication", "TimelineHistory", "option_is_true",
    "parse_command", "tokenize",
]
