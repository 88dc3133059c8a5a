"""COPY FROM STDIN / TO STDOUT: PostgreSQL's text and csv formats, as a pure codec.

Who calls it: the session builds a ``CopyIn`` (FROM STDIN) or a ``CopyOut`` (TO STDOUT) for a COPY
statement; the backend moves the CopyData messages (protocol/), feeding bytes to ``CopyIn.feed``
and sending what ``CopyOut.lines`` yields. Rows are inserted as they are parsed, in the statement's
transaction, so a failing row aborts the whole COPY as in PostgreSQL.

Text format: one row per line, columns separated by the delimiter (tab), NULL written ``\\N``,
backslash escapes ``\\b \\f \\n \\r \\t \\v \\\\``, ``\\NNN`` octal and ``\\xHH`` hex; a line ``\\.``
ends the data. CSV: delimiter ``,``, fields quoted with ``"`` when they contain the delimiter, a
quote, CR or LF (a quote inside doubled), NULL is an unquoted empty field, optional header line.

Errors while a row is read carry PostgreSQL's CONTEXT (appended to the value's own, such as a
json input error's "JSON data, line 1: ..."): ``COPY t, line 2, column b: "abc"`` when a value is
refused, ``COPY t, line 2: "<the line>"`` for the row as a whole (wrong column count, a violated
constraint), values and lines cut to 100 bytes with "..." as PostgreSQL does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError

MAX_COPY_LINE_BYTES = 1024 * 1024 * 1024
MAX_COPY_DATA_DISPLAY_BYTES = 100   # PostgreSQL's limit on a value or line shown in CONTEXT
TEXT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
TEXT_OUTPUT_ESCAPES = str.maketrans({"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                                     "\r": "\\r", "\t": "\\t", "\v": "\\v"})


@dataclass
class CopyOptions:
    format: str = "text"
    delimiter: str = "\t"
    null: str = "\\N"
    header: bool = False
    quote: str = '"'
    escape: str = '"'

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> CopyOptions:
        fmt = str(options.get("format", "text")).lower()
        if fmt == "binary":
            raise MirrordbError("COPY BINARY is not supported", sqlstate="0A000")
        if fmt not in ("text", "csv"):
            raise MirrordbError(f'COPY format "{fmt}" not recognized', sqlstate="22023")
        result = cls(format=fmt)
        if fmt == "csv":
            result.delimiter, result.null = ",", ""
        if "delimiter" in options:
            result.delimiter = str(options["delimiter"])
            if len(result.delimiter) != 1:
                raise MirrordbError("COPY delimiter must be a single one-byte character",
                                    sqlstate="0A000")
        if "null" in options:
            result.null = str(options["null"])
        if "header" in options:
            value = options["header"]
            result.header = value is True or str(value).lower() in ("true", "on", "1", "yes")
            if result.header and fmt != "csv":
                raise MirrordbError("COPY HEADER available only in CSV mode", sqlstate="0A000")
        if "quote" in options:
            result.quote = str(options["quote"])
        if "escape" in options:
            result.escape = str(options["escape"])
        return result


class CopyIn:
    """Parses COPY FROM STDIN data fed in arbitrary chunks; ``insert(values)`` per row and
    ``at_end()`` once the data is all in (the statement's end-of-statement checks)."""

    def __init__(self, options: CopyOptions, parsers: Sequence[Callable[[str], Any]],
                 insert: Callable[[list[Any]], bool | None], column_names: Sequence[str],
                 at_end: Callable[[], None] | None = None, relation_name: str = "") -> None:
        self.options = options
        self.relation_name = relation_name
        self.at_end = at_end
        self.parsers = list(parsers)
        self.insert = insert
        self.column_names = list(column_names)
        self.pending = b""
        self.count = 0
        self.line_number = 0
        self.ended = False
        self.header_skipped = not options.header

    def feed(self, data: bytes) -> None:
        if self.ended:
            return
        self.pending += data
        if self.options.format == "csv":
            return  # csv fields may span lines: parsed whole at finish
        *lines, self.pending = self.pending.split(b"\n")
        if len(self.pending) > MAX_COPY_LINE_BYTES:
            raise MirrordbError("COPY line too long", sqlstate="54000")
        for line in lines:
            self._text_line(line)
            if self.ended:
                return

    def finish(self) -> int:
        if self.options.format == "csv":
            self._csv_all(self.pending)
        elif self.pending and not self.ended:
            self._text_line(self.pending)
        self.pending = b""
        if self.at_end is not None:
            self.at_end()
        return self.count

    def _decode(self, line: bytes) -> str:
        try:
            return line.decode()
        except UnicodeDecodeError:
            raise MirrordbError('invalid byte sequence for encoding "UTF8"',
                                sqlstate="22021") from None

    def _text_line(self, raw: bytes) -> None:
        self.line_number += 1
        line = self._decode(raw.rstrip(b"\r") if raw.endswith(b"\r") else raw)
        if line == "\\.":
            self.ended = True
            return
        fields = line.split(self.options.delimiter)
        values = [None if field == self.options.null else _unescape(field) for field in fields]
        self._row(values, line)

    def _csv_all(self, data: bytes) -> None:
        options = self.options
        records = _csv_records(self._decode(data), options.delimiter, options.quote,
                               options.escape)
        while True:
            try:
                record = next(records, None)
            except MirrordbError as error:
                self.line_number += 1
                error.add_context(self._line_context(getattr(error, "copy_line", "")))
                raise
            if record is None:
                return
            fields, line = record
            self.line_number += 1
            if not self.header_skipped:
                self.header_skipped = True
                continue
            if len(fields) == 1 and fields[0] == ("\\.", False):
                return
            self._row([None if text == options.null and not quoted else text
                       for text, quoted in fields], line)

    def _line_context(self, line: str) -> str:
        return f'COPY {self.relation_name}, line {self.line_number}: "{_clipped(line)}"'

    def _row(self, fields: list[str | None], line: str) -> None:
        """Convert and insert one row. The conversion is one comprehension per row (the bulk
        load's hot path); only when it fails is the refused value found, for the CONTEXT."""
        parsers = self.parsers
        if len(fields) != len(parsers):
            self._wrong_width(fields, line)
        try:
            values = [None if field is None else parse(field)
                      for field, parse in zip(fields, parsers)]
        except MirrordbError as error:
            self._add_value_context(error, fields)
            raise
        try:
            inserted = self.insert(values)
        except MirrordbError as error:
            null_column = getattr(error, "null_input_column", None)   # a NOT NULL domain's
            error.add_context(self._line_context(line) if null_column is None else
                              f"COPY {self.relation_name}, line {self.line_number}, column "
                              f"{null_column}: null input")
            raise
        if inserted is not False:        # a BEFORE ROW trigger may skip it
            self.count += 1

    def _wrong_width(self, fields: list[str | None], line: str) -> None:
        """Extra fields are refused before any is converted; with too few, the ones given are
        converted first (their errors come first), as PostgreSQL does."""
        if len(fields) > len(self.parsers):
            error = MirrordbError("extra data after last expected column", sqlstate="22P04")
        else:
            try:
                for field, parse in zip(fields, self.parsers):
                    if field is not None:
                        parse(field)
            except MirrordbError as refused:
                self._add_value_context(refused, fields)
                raise
            error = MirrordbError(f'missing data for column "{self.column_names[len(fields)]}"',
                                  sqlstate="22P04")
        error.add_context(self._line_context(line))
        raise error

    def _add_value_context(self, error: MirrordbError, fields: list[str | None]) -> None:
        """The CONTEXT of a value the row's conversion refused: the first field whose parser
        refuses it (parsers are pure, so asking again finds the same one)."""
        for field, parse, name in zip(fields, self.parsers, self.column_names):
            if field is None:
                continue
            try:
                parse(field)
            except MirrordbError:
                error.add_context(f'COPY {self.relation_name}, line {self.line_number}, column '
                                  f'{name}: "{_clipped(field)}"')
                return


def _clipped(text: str) -> str:
    """``text`` as PostgreSQL shows a COPY value or line: at most 100 bytes, whole characters,
    then "..." when cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_COPY_DATA_DISPLAY_BYTES:
        return text
    return encoded[:MAX_COPY_DATA_DISPLAY_BYTES].decode("utf-8", errors="ignore") + "..."


def _csv_records(text: str, delimiter: str, quote: str, escape: str
                 ) -> Iterator[tuple[list[tuple[str, bool]], str]]:
    """CSV records as lists of (field text, was quoted) with the record's text (for CONTEXT);
    blank lines are skipped. An unterminated quoted field's error carries the rest of the data
    as ``copy_line``."""
    i, length = 0, len(text)
    while i < length:
        start = i
        fields: list[tuple[str, bool]] = []
        while True:
            quoted = False
            chunk: list[str] = []
            if i < length and text[i] == quote:
                quoted = True
                i += 1
                while True:
                    if i >= length:
                        error = MirrordbError("unterminated CSV quoted field", sqlstate="22P04")
                        error.copy_line = text[start:]  # type: ignore[attr-defined]
                        raise error
                    char = text[i]
                    if char == escape and i + 1 < length and text[i + 1] == quote:
                        chunk.append(quote)
                        i += 2
                    elif char == quote:
                        i += 1
                        break
                    else:
                        chunk.append(char)
                        i += 1
            while i < length and text[i] not in (delimiter, "\n", "\r"):
                chunk.append(text[i])
                i += 1
            fields.append(("".join(chunk), quoted))
            if i < length and text[i] == delimiter:
                i += 1
                continue
            break
        end = i
        if i < length and text[i] == "\r":
            i += 1
        if i < length and text[i] == "\n":
            i += 1
        if fields != [("", False)]:
            yield fields, text[start:end]


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        char = field[i]
        if char != "\\" or i + 1 >= len(field):
            out.append(char)
            i += 1
            continue
        nxt = field[i + 1]
        if nxt in TEXT_ESCAPES:
            out.append(TEXT_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            digits = field[i + 1:i + 4]
            count = len(digits) - len(digits.lstrip("01234567"))
            digits = digits[:count] if count else digits[:1]
            out.append(chr(int(digits, 8)))
            i += 1 + len(digits)
        elif nxt == "x" and i + 2 < len(field) and field[i + 2] in "0123456789abcdefABCDEF":
            digits = field[i + 2:i + 4]
            if len(digits) == 2 and digits[1] not in "0123456789abcdefABCDEF":
                digits = digits[:1]
            out.append(chr(int(digits, 16)))
            i += 2 + len(digits)
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


class CopyOut:
    """Formats rows for COPY TO STDOUT."""

    def __init__(self, options: CopyOptions, formatters: Sequence[Callable[[Any], str]],
                 column_names: Sequence[str]) -> None:
        self.options = options
        self.formatters = list(formatters)
        self.column_names = list(column_names)
        self.count = 0

    def lines(self, rows: Iterator[Sequence[Any]]) -> Iterator[bytes]:
        options = self.options
        if options.format == "csv" and options.header:
            yield (options.delimiter.join(_csv_field(n, options) for n in self.column_names)
                   + "\n").encode()
        for row in rows:
            self.count += 1
            if options.format == "csv":
                fields = [options.null if v is None else _csv_field(fmt(v), options)
                          for v, fmt in zip(row, self.formatters)]
            else:
                fields = [options.null if v is None else
                          fmt(v).translate(TEXT_OUTPUT_ESCAPES).replace(
                              options.delimiter, "\\" + options.delimiter)
                          if options.delimiter != "\t" else fmt(v).translate(TEXT_OUTPUT_ESCAPES)
                          for v, fmt in zip(row, self.formatters)]
            yield (options.delimiter.join(fields) + "\n").encode()


def _csv_field(text: str, options: CopyOptions) -> str:
    needs_quotes = (text == "" or options.delimiter in text or options.quote in text
                    or "\n" in text or "\r" in text or text == "\\.")
    if not needs_quotes:
        return text
    return options.quote + text.replace(options.quote, options.quote * 2) + options.quote


__all__ = ["CopyOptions", "CopyIn", "CopyOut"]
