"""Dates, times, timestamps and intervals as PostgreSQL 15 reads, prints and computes them.

Who calls it: ``sql/types.py`` (text I/O of date, time, timestamp, timestamptz, interval and the
casts between them), ``sql/operators.py`` (date/time arithmetic and comparisons) and
``sql/functions.py`` (date_trunc, date_part/extract, age, make_*, justify_*, to_char, to_date,
to_timestamp). Pure functions; the only state is a bounded cache of time zone objects.

Runtime values (the storage row codec's, see storage/datum.py): ``datetime.date``,
``datetime.time`` (naive), ``datetime.datetime`` (naive = timestamp; aware in UTC = timestamptz)
and ``datum.Interval`` (months, days, microseconds kept apart, as PostgreSQL does).
Python's calendar covers years 1..9999; PostgreSQL's is wider (4713 BC .. 294276 AD) and has
+/-infinity. Values outside Python's range are rejected with PostgreSQL's "out of range"
errors; 'infinity' is refused with 0A000 (the storage format cannot hold it).

Session settings honoured: DateStyle 'ISO, MDY' (output is always ISO; ambiguous numeric input
dates are month/day/year), IntervalStyle 'postgres', and TimeZone, which every function that
needs it takes as a ``timezone`` string (an IANA name such as 'Europe/Paris', 'UTC', a POSIX
'<abbrev><offset>' such as 'EST5' or an ISO offset such as '+05:30').

Text input follows PostgreSQL's ParseDateTime/DecodeDateTime: the string is split into fields
(numbers, dates with '-', '/' or '.', times with ':', words, signed zone offsets), then each field
is placed by its shape and what is already known. The common forms are covered: ISO 8601 with
' ' or 'T', compact 'YYYYMMDD[THHMMSS]', 'Mon DD YYYY', 'DD Mon YYYY', 'MM/DD/YYYY', AM/PM,
zone offsets, abbreviations and names, and the special words epoch, now, today, tomorrow,
yesterday, allballs.
"""

from __future__ import annotations

import calendar
import datetime
import decimal
import functools
import math
import re
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass, field

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import numeric as num
from mirrordb.storage.datum import Interval

# -- units and limits --------------------------------------------------------------------------

USECS_PER_SEC = 1_000_000
USECS_PER_MINUTE = 60 * USECS_PER_SEC
USECS_PER_HOUR = 60 * USECS_PER_MINUTE
USECS_PER_DAY = 24 * USECS_PER_HOUR
SECS_PER_DAY = 86_400
DAYS_PER_MONTH = 30
MONTHS_PER_YEAR = 12
MAX_TIME_PRECISION = 6
MAX_ZONE_CACHE_ENTRIES = 512
MAX_DATETIME_TEXT_CHARS = 128          # longer input is not a date (PostgreSQL's MAXDATELEN)
MAX_INTERVAL_FIELDS = 64
MAX_TO_CHAR_OUTPUT_CHARS = 65_536

UTC = datetime.UTC
POSTGRES_EPOCH_DATE = datetime.date(2000, 1, 1)
UNIX_EPOCH_DATE = datetime.date(1970, 1, 1)
UNIX_EPOCH_TIMESTAMP = datetime.datetime(1970, 1, 1)
UNIX_EPOCH_TIMESTAMPTZ = datetime.datetime(1970, 1, 1, tzinfo=UTC)
MIN_TIMESTAMP = datetime.datetime.min
MAX_TIMESTAMP = datetime.datetime.max
ZERO_INTERVAL = Interval(0, 0, 0)
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1

_WHITESPACE = " \t\n\r\v\f"

# -- errors ------------------------------------------------------------------------------------


def invalid_syntax(type_name: str, text: str) -> MirrordbError:
    return MirrordbError(f'invalid input syntax for type {type_name}: "{text}"',
                         sqlstate="22007")


def field_out_of_range(text: str, hint: str | None = None) -> MirrordbError:
    return MirrordbError(f'date/time field value out of range: "{text}"', sqlstate="22008",
                         hint=hint)


def timestamp_out_of_range() -> MirrordbError:
    return MirrordbError("timestamp out of range", sqlstate="22008")


def date_out_of_range() -> MirrordbError:
    return MirrordbError("date out of range", sqlstate="22008")


def interval_out_of_range() -> MirrordbError:
    return MirrordbError("interval out of range", sqlstate="22008")


def infinity_unsupported(type_name: str) -> MirrordbError:
    return MirrordbError(f"infinite {type_name} values are not supported", sqlstate="0A000")


DATESTYLE_HINT = 'Perhaps you need a different "datestyle" setting.'

# -- time zones --------------------------------------------------------------------------------

# PostgreSQL's default zone abbreviations (timezonesets/Default) for the common ones; seconds
# east of UTC.
ZONE_ABBREVIATIONS: dict[str, int] = {
    "utc": 0, "ut": 0, "gmt": 0, "z": 0, "zulu": 0, "wet": 0,
    "est": -5 * 3600, "edt": -4 * 3600, "cst": -6 * 3600, "cdt": -5 * 3600,
    "mst": -7 * 3600, "mdt": -6 * 3600, "pst": -8 * 3600, "pdt": -7 * 3600,
    "akst": -9 * 3600, "akdt": -8 * 3600, "hst": -10 * 3600, "ast": -4 * 3600,
    "adt": -3 * 3600, "nst": -(3 * 3600 + 1800), "ndt": -(2 * 3600 + 1800),
    "bst": 3600, "cet": 3600, "cest": 2 * 3600, "met": 3600, "mest": 2 * 3600,
    "eet": 2 * 3600, "eest": 3 * 3600, "west": 3600, "msk": 3 * 3600, "ist": 2 * 3600,
    "jst": 9 * 3600, "kst": 9 * 3600, "hkt": 8 * 3600, "sgt": 8 * 3600,
    "awst": 8 * 3600, "acst": 9 * 3600 + 1800, "aest": 10 * 3600, "aedt": 11 * 3600,
    "nzst": 12 * 3600, "nzdt": 13 * 3600,
}

_POSIX_ZONE = re.compile(r"([A-Za-z]{3,})([+-]?)(\d{1,2})(?::(\d{2}))?\Z")
_ISO_OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?\Z")


@functools.lru_cache(maxsize=1)
def _zone_names_by_lower_case() -> dict[str, str]:
    import zoneinfo  # (~2.5 ms) UTC, the default zone, needs no zone database
    return {name.lower(): name for name in zoneinfo.available_timezones()}


@functools.lru_cache(maxsize=MAX_ZONE_CACHE_ENTRIES)
def get_zone(name: str) -> datetime.tzinfo:
    """The tzinfo of a TimeZone setting or a zone written in a value; 22023 if unknown."""
    zone = _lookup_zone(name.strip())
    if zone is None:
        raise MirrordbError(f'time zone "{name}" not recognized', sqlstate="22023")
    return zone


def _lookup_zone(name: str) -> datetime.tzinfo | None:
    lowered = name.lower()
    if lowered in ("utc", "etc/utc", "gmt", "z", "zulu", "ut"):
        return UTC
    real_name = _zone_names_by_lower_case().get(lowered)
    if real_name is not None:
        import zoneinfo  # loaded by the name lookup above: this only binds the name
        return zoneinfo.ZoneInfo(real_name)
    if lowered in ZONE_ABBREVIATIONS:
        return _fixed_zone(ZONE_ABBREVIATIONS[lowered])
    offset = _parse_iso_offset(name)
    if offset is not None:                 # a bare offset as a zone name is POSIX: + is west
        return _fixed_zone(-offset)
    posix = _POSIX_ZONE.match(name)
    if posix is not None:
        hours, minutes = int(posix.group(3)), int(posix.group(4) or 0)
        seconds_west = hours * 3600 + minutes * 60
        return _fixed_zone(seconds_west if posix.group(2) == "-" else -seconds_west)
    return None


def _parse_iso_offset(text: str) -> int | None:
    """'+05', '-0800', '+05:30', '+05:30:15' -> seconds east of UTC."""
    match = _ISO_OFFSET.match(text)
    if match is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.group(2, 3, 4))
    if hours > 15 or minutes > 59 or seconds > 59:
        return None
    total = hours * 3600 + minutes * 60 + seconds
    return -total if match.group(1) == "-" else total


def _fixed_zone(seconds_east: int) -> datetime.tzinfo:
    return datetime.timezone(datetime.timedelta(seconds=seconds_east))


def local_to_utc(local: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    """A wall-clock time in ``zone`` as an aware UTC datetime. Ambiguous times (the hour repeated
    when clocks go back) and skipped times (clocks going forward) take the smaller UTC offset, as
    PostgreSQL does."""
    if zone is UTC:
        return local.replace(tzinfo=UTC)
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    offset_first, offset_second = first.utcoffset(), second.utcoffset()
    chosen = first
    if offset_first is not None and offset_second is not None and offset_second < offset_first:
        chosen = second
    try:
        return chosen.astimezone(UTC)
    except OverflowError:
        raise timestamp_out_of_range() from None


def utc_to_local(value: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    """An aware timestamp as the wall-clock time of ``zone`` (aware, in that zone)."""
    try:
        return value.astimezone(zone)
    except OverflowError:
        raise timestamp_out_of_range() from None


# -- output ------------------------------------------------------------------------------------


def _fraction(microseconds: int) -> str:
    if not microseconds:
        return ""
    return "." + f"{microseconds:06d}".rstrip("0")


def format_date(value: datetime.date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def format_time(value: datetime.time) -> str:
    return (f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
            + _fraction(value.microsecond))


def format_timestamp(value: datetime.datetime) -> str:
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
            f"{value.minute:02d}:{value.second:02d}" + _fraction(value.microsecond))


def format_offset(seconds_east: int) -> str:
    """'+HH', '+HH:MM' or '+HH:MM:SS' as PostgreSQL prints a zone offset."""
    sign = "-" if seconds_east < 0 else "+"
    seconds_east = abs(seconds_east)
    hours, rest = divmod(seconds_east, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}"
    if minutes or seconds:
        text += f":{minutes:02d}"
    if seconds:
        text += f":{seconds:02d}"
    return text


def format_timestamptz(value: datetime.datetime, timezone: str) -> str:
    zone = get_zone(timezone)
    if zone is UTC and value.tzinfo is UTC:
        return format_timestamp(value) + "+00"
    local = utc_to_local(value, zone)
    offset = local.utcoffset()
    seconds_east = int(offset.total_seconds()) if offset is not None else 0
    return format_timestamp(local.replace(tzinfo=None)) + format_offset(seconds_east)


def _split_time(microseconds: int) -> tuple[int, int, int, int]:
    """(hours, minutes, seconds, microseconds) of a signed span, each carrying the sign."""
    sign = -1 if microseconds < 0 else 1
    rest = abs(microseconds)
    hours, rest = divmod(rest, USECS_PER_HOUR)
    minutes, rest = divmod(rest, USECS_PER_MINUTE)
    seconds, micros = divmod(rest, USECS_PER_SEC)
    return sign * hours, sign * minutes, sign * seconds, sign * micros


def _c_divmod(value: int, divisor: int) -> tuple[int, int]:
    """C's truncating division and remainder."""
    quotient = abs(value) // divisor
    if value < 0:
        quotient = -quotient
    return quotient, value - quotient * divisor


def format_interval(value: Interval) -> str:
    """interval_out with IntervalStyle 'postgres': '1 year 2 mons -3 days +04:05:06.5'."""
    years, months = _c_divmod(value.months, MONTHS_PER_YEAR)
    parts: list[str] = []
    state = [True, False]                   # [is_zero, is_before]
    for amount, unit in ((years, "year"), (months, "mon"), (value.days, "day")):
        _add_postgres_part(parts, amount, unit, state)
    is_zero, is_before = state
    if is_zero or value.microseconds:
        hours, minutes, seconds, micros = _split_time(value.microseconds)
        minus = value.microseconds < 0
        sign = "-" if minus else ("+" if is_before else "")
        text = (f"{'' if is_zero else ' '}{sign}{abs(hours):02d}:{abs(minutes):02d}:"
                f"{abs(seconds):02d}{_fraction(abs(micros))}")
        parts.append(text)
    return "".join(parts)


def _add_postgres_part(parts: list[str], amount: int, unit: str, state: list[bool]) -> None:
    if amount == 0:
        return
    is_zero, is_before = state
    prefix = ("" if is_zero else " ") + ("+" if is_before and amount > 0 else "")
    parts.append(f"{prefix}{amount} {unit}{'' if amount == 1 else 's'}")
    state[0] = False
    state[1] = amount < 0


# -- text input: fields --------------------------------------------------------------------------

NUMBER, DATE, TIME, STRING, ZONE, ZONE_NAME, SPECIAL = ("number", "date", "time", "string",
                                                      "zone", "zone name", "special")


@dataclass(slots=True, eq=False)
class _Field:
    kind: str
    text: str


class _BadFormat(Exception):
    """Input that is not a date/time: reported as 22007 by the caller."""


class _OutOfRange(Exception):
    """A field with an impossible value: reported as 22008 by the caller."""

    def __init__(self, hint: str | None = None) -> None:
        super().__init__(hint)
        self.hint = hint


def _split_fields(text: str) -> list[_Field]:
    """PostgreSQL's ParseDateTime: the string's fields and their shapes."""
    fields: list[_Field] = []
    position, length = 0, len(text)
    while position < length:
        character = text[position]
        if character in _WHITESPACE or character == ",":
            position += 1
        elif character.isdigit() and character.isascii():
            position = _read_numeric_field(text, position, fields)
        elif character == ".":
            end = _span(text, position + 1, str.isdigit)
            fields.append(_Field(NUMBER, text[position:end]))
            position = end
        elif character.isalpha():
            position = _read_word_field(text, position, fields)
        elif character in "+-":
            position = _read_signed_field(text, position, fields)
        else:
            raise _BadFormat()
        if len(fields) > MAX_INTERVAL_FIELDS:
            raise _BadFormat()
    return fields


def _span(text: str, position: int, accept: Callable[[str], bool]) -> int:
    while position < len(text) and text[position].isascii() and accept(text[position]):
        position += 1
    return position


def _read_numeric_field(text: str, start: int, fields: list[_Field]) -> int:
    position = _span(text, start, str.isdigit)
    if position < len(text) and text[position] == ":":
        end = _span(text, position, lambda c: c.isdigit() or c in ":.")
        fields.append(_Field(TIME, text[start:end]))
        return end
    if position < len(text) and text[position] in "-/.":
        return _read_date_field(text, start, position, fields)
    fields.append(_Field(NUMBER, text[start:position]))
    return position


def _read_date_field(text: str, start: int, position: int, fields: list[_Field]) -> int:
    delimiter = text[position]
    position += 1
    if position < len(text) and text[position].isdigit():
        kind = NUMBER if delimiter == "." else DATE
        position = _span(text, position, str.isdigit)
        if position < len(text) and text[position] == delimiter:
            kind = DATE
            position = _span(text, position, lambda c: c.isdigit() or c == delimiter)
        fields.append(_Field(kind, text[start:position]))
        return position
    end = _span(text, position, lambda c: c.isalnum() or c == delimiter)
    fields.append(_Field(DATE, text[start:end].lower()))
    return end


def _read_word_field(text: str, start: int, fields: list[_Field]) -> int:
    position = start
    while position < len(text) and text[position].isalpha():
        position += 1
    if position < len(text) and text[position] in "/_":
        end = position
        while end < len(text) and (text[end].isalnum() or text[end] in "/_+-"):
            end += 1
        fields.append(_Field(ZONE_NAME, text[start:end]))
        return end
    if position < len(text) and text[position] in "-." and position + 1 < len(text) \
            and text[position + 1].isdigit() and _looks_like_text_date(text, start, position):
        delimiter = text[position]
        end = _span(text, position, lambda c: c.isalnum() or c == delimiter)
        fields.append(_Field(DATE, text[start:end].lower()))
        return end
    fields.append(_Field(STRING, text[start:position].lower()))
    return position


def _looks_like_text_date(text: str, start: int, position: int) -> bool:
    return text[start:position].lower()[:3] in _MONTH_NUMBERS_BY_PREFIX


def _read_signed_field(text: str, start: int, fields: list[_Field]) -> int:
    position = start + 1
    if position < len(text) and text[position].isdigit():
        end = _span(text, position, lambda c: c.isdigit() or c in ":.")
        fields.append(_Field(ZONE, text[start:end]))
        return end
    if position < len(text) and text[position].isalpha():
        end = position
        while end < len(text) and text[end].isalpha():
            end += 1
        fields.append(_Field(SPECIAL, text[start:end].lower()))
        return end
    raise _BadFormat()


# -- text input: placing the fields ----------------------------------------------------------------

_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
_MONTH_NUMBERS_BY_PREFIX = {name[:3]: number for number, name in enumerate(_MONTH_NAMES, 1)}
_MONTH_WORDS = {**{name: number for number, name in enumerate(_MONTH_NAMES, 1)},
                **_MONTH_NUMBERS_BY_PREFIX, "sept": 9}
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_WORDS = frozenset(list(_DAY_NAMES) + [name[:3] for name in _DAY_NAMES]
                       + ["tues", "wednes", "thur", "thurs"])
_SPECIAL_WORDS = frozenset({"epoch", "infinity", "-infinity", "+infinity", "now", "today",
                            "tomorrow", "yesterday", "allballs"})


@dataclass(slots=True, eq=False)
class _Parts:
    """What DecodeDateTime has learned so far."""

    year: int | None = None
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int = 0
    second: int = 0
    microsecond: int = 0
    offset_seconds: int | None = None
    zone: datetime.tzinfo | None = None
    meridian: str | None = None
    before_christ: bool = False
    special: str | None = None
    two_digit_year: bool = False
    day_first_text: bool = False
    pending: list[str] = field(default_factory=list)

    def has_date(self) -> bool:
        return self.year is not None and self.month is not None and self.day is not None


def _decode(text: str) -> _Parts:
    if len(text) > MAX_DATETIME_TEXT_CHARS:
        raise _BadFormat()
    fields = _split_fields(text)
    if not fields:
        raise _BadFormat()
    parts = _Parts()
    iso_time_next = False
    for index, item in enumerate(fields):
        if item.kind == STRING and item.text == "t":
            iso_time_next = True
            continue
        _place_field(parts, item, iso_time_next, fields, index)
        iso_time_next = False
    _finish_parts(parts)
    return parts


def _place_field(parts: _Parts, item: _Field, iso_time_next: bool, fields: list[_Field],
                 index: int) -> None:
    if item.kind == TIME:
        _place_time(parts, item.text)
    elif item.kind == DATE:
        _place_date(parts, item.text)
    elif item.kind == NUMBER:
        _place_number(parts, item.text, iso_time_next)
    elif item.kind == STRING:
        _place_word(parts, item.text)
    elif item.kind == SPECIAL:
        if item.text not in _SPECIAL_WORDS:
            raise _BadFormat()
        _set_special(parts, item.text)
    elif item.kind == ZONE_NAME:
        _place_zone_name(parts, item.text)
    else:
        _place_zone(parts, item.text)


def _set_special(parts: _Parts, word: str) -> None:
    if parts.special is not None:
        raise _BadFormat()
    parts.special = word.lstrip("+")


def _place_time(parts: _Parts, text: str) -> None:
    if parts.hour is not None:
        raise _BadFormat()
    pieces = text.split(":")
    if len(pieces) > 3 or any(not piece for piece in pieces):
        raise _BadFormat()
    if any("." in piece for piece in pieces[:-1]):
        raise _BadFormat()
    parts.hour = _int_field(pieces[0])
    parts.minute = _int_field(pieces[1])
    if len(pieces) == 3:
        parts.second, parts.microsecond = _seconds_field(pieces[2])
    elif "." in pieces[1]:
        raise _BadFormat()


def _int_field(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise _BadFormat()
    return int(text)


def _seconds_field(text: str) -> tuple[int, int]:
    whole, dot, fraction = text.partition(".")
    if not whole.isdigit() or (dot and fraction and not fraction.isdigit()):
        raise _BadFormat()
    return int(whole), _fraction_to_microseconds(fraction)


def _fraction_to_microseconds(fraction: str) -> int:
    """Digits after a decimal point as microseconds, rounded half to even as rint does."""
    if not fraction:
        return 0
    if len(fraction) <= 6:
        return int(fraction.ljust(6, "0"))
    exact = decimal.Decimal("0." + fraction) * USECS_PER_SEC
    return int(exact.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_EVEN))


def _place_date(parts: _Parts, text: str) -> None:
    if text[0].isalpha() and "/" in text:
        _place_zone_name(parts, text)
        return
    if parts.year is not None or parts.month is not None:
        raise _BadFormat()
    delimiter = next(character for character in text if character in "-/.")
    pieces = text.split(delimiter)
    if len(pieces) != 3 or any(not piece for piece in pieces):
        raise _BadFormat()
    words = [piece for piece in pieces if not piece.isdigit()]
    if len(words) > 1:
        raise _BadFormat()
    if words:
        _place_text_month_date(parts, pieces)
        return
    if len(pieces[0]) > 2:
        year_text, month_text, day_text = pieces
    else:
        month_text, day_text, year_text = pieces
        if int(month_text) > 12:
            raise _OutOfRange(DATESTYLE_HINT)
    parts.month, parts.day = int(month_text), int(day_text)
    _set_year(parts, year_text)


def _set_year(parts: _Parts, text: str) -> None:
    parts.year = int(text)
    parts.two_digit_year = len(text) <= 2


def _place_text_month_date(parts: _Parts, pieces: list[str]) -> None:
    month_positions = [index for index, piece in enumerate(pieces) if not piece.isdigit()]
    position = month_positions[0]
    month = _MONTH_WORDS.get(pieces[position])
    if month is None:
        raise _BadFormat()
    parts.month = month
    numbers = [piece for index, piece in enumerate(pieces) if index != position]
    if position == 1 and len(numbers[0]) > 2:           # 1999-Jan-08
        year_text, day_text = numbers
    elif position == 1:                                 # 08-Jan-1999
        day_text, year_text = numbers
    else:                                               # Jan-08-1999
        day_text, year_text = numbers
    parts.day = int(day_text)
    _set_year(parts, year_text)


def _place_number(parts: _Parts, text: str, iso_time_next: bool) -> None:
    if "." in text:
        _place_fractional_number(parts, text)
        return
    digits = len(text)
    if iso_time_next or (parts.has_date() and parts.hour is None and digits in (4, 6)
                         and parts.pending == []):
        _place_compact_time(parts, text)
    elif digits == 8 and parts.year is None and parts.month is None:
        parts.year, parts.month, parts.day = int(text[:4]), int(text[4:6]), int(text[6:])
    elif digits == 6 and parts.year is None and parts.month is None:
        parts.year, parts.month, parts.day = int(text[:2]), int(text[2:4]), int(text[4:])
        parts.two_digit_year = True
    else:
        _place_date_number(parts, text)


def _place_fractional_number(parts: _Parts, text: str) -> None:
    whole, _, fraction = text.partition(".")
    if parts.has_date() and parts.hour is None and len(whole) in (4, 6):
        _place_compact_time(parts, whole)
        parts.microsecond = _fraction_to_microseconds(fraction)
        return
    raise _BadFormat()


def _place_compact_time(parts: _Parts, text: str) -> None:
    if parts.hour is not None or len(text) not in (2, 4, 6):
        raise _BadFormat()
    parts.hour = int(text[:2])
    parts.minute = int(text[2:4] or 0)
    parts.second = int(text[4:6] or 0)


def _place_date_number(parts: _Parts, text: str) -> None:
    """A lone number in a date written with a month name: day, then year."""
    if parts.month is None:
        if parts.day is None and parts.year is None and len(text) <= 2:
            parts.day = int(text)
            parts.day_first_text = True
            return
        if parts.year is None and len(text) > 2:
            _set_year(parts, text)
            return
        raise _BadFormat()
    if parts.day is None and len(text) <= 2 and parts.year is None and not parts.day_first_text:
        parts.day = int(text)
    elif parts.year is None:
        _set_year(parts, text)
    elif parts.day is None:
        parts.day = int(text)
    else:
        raise _BadFormat()


def _place_word(parts: _Parts, word: str) -> None:
    if word in _MONTH_WORDS:
        if parts.month is not None:
            raise _BadFormat()
        parts.month = _MONTH_WORDS[word]
    elif word in _DAY_WORDS:
        return
    elif word in ("am", "pm", "a.m.", "p.m."):
        parts.meridian = word[0]
    elif word in ("ad", "bc"):
        parts.before_christ = word == "bc"
    elif word in _SPECIAL_WORDS:
        _set_special(parts, word)
    elif word in ZONE_ABBREVIATIONS:
        _set_offset(parts, ZONE_ABBREVIATIONS[word])
    elif word.lower() in _zone_names_by_lower_case():
        _place_zone_name(parts, word)
    else:
        raise _BadFormat()


def _place_zone_name(parts: _Parts, name: str) -> None:
    zone = _lookup_zone(name)
    if zone is None:
        raise MirrordbError(f'time zone "{name.lower()}" not recognized', sqlstate="22023")
    if parts.offset_seconds is not None or parts.zone is not None:
        raise _BadFormat()
    parts.zone = zone


def _place_zone(parts: _Parts, text: str) -> None:
    offset = _parse_zone_offset(text)
    if offset is None:
        raise _BadFormat()
    _set_offset(parts, offset)


def _parse_zone_offset(text: str) -> int | None:
    sign = -1 if text[0] == "-" else 1
    body = text[1:]
    if ":" in body:
        pieces = body.split(":")
        if len(pieces) > 3 or not all(piece.isdigit() for piece in pieces):
            return None
        hours, minutes, seconds = (int(piece) for piece in (pieces + ["0", "0"])[:3])
    elif body.isdigit() and len(body) in (1, 2):
        hours, minutes, seconds = int(body), 0, 0
    elif body.isdigit() and len(body) == 4:
        hours, minutes, seconds = int(body[:2]), int(body[2:]), 0
    elif body.isdigit() and len(body) == 6:
        hours, minutes, seconds = int(body[:2]), int(body[2:4]), int(body[4:])
    else:
        return None
    if hours > 15 or minutes > 59 or seconds > 59:
        raise _OutOfRange()
    return sign * (hours * 3600 + minutes * 60 + seconds)


def _set_offset(parts: _Parts, offset: int) -> None:
    if parts.offset_seconds is not None or parts.zone is not None:
        raise _BadFormat()
    parts.offset_seconds = offset


def _finish_parts(parts: _Parts) -> None:
    if parts.two_digit_year and parts.year is not None:
        parts.year += 2000 if parts.year < 70 else 1900
    if parts.meridian is not None:
        if parts.hour is None or not 0 <= parts.hour <= 12:
            raise _OutOfRange()
        if parts.meridian == "a" and parts.hour == 12:
            parts.hour = 0
        elif parts.meridian == "p" and parts.hour != 12:
            parts.hour += 12
    if parts.hour is not None:
        _check_time_fields(parts.hour, parts.minute, parts.second, parts.microsecond)
    if parts.month is not None and not 1 <= parts.month <= 12:
        raise _OutOfRange(DATESTYLE_HINT)    # PostgreSQL's "month/day field" overflow
    if parts.before_christ and parts.year is not None:
        if parts.year <= 0:
            raise _OutOfRange()
        parts.year = 1 - parts.year


def _check_time_fields(hour: int, minute: int, second: int, microsecond: int) -> None:
    if not (0 <= hour <= 24 and 0 <= minute <= 59 and 0 <= second <= 60
            and 0 <= microsecond <= USECS_PER_SEC):
        raise _OutOfRange()
    if hour == 24 and (minute or second or microsecond):
        raise _OutOfRange()


def _build_date(parts: _Parts) -> datetime.date:
    if parts.year is None or parts.month is None or parts.day is None:
        raise _BadFormat()
    if parts.year == 0 and not parts.before_christ:
        raise _OutOfRange()
    if not 1 <= parts.day <= 31:
        raise _OutOfRange(DATESTYLE_HINT)
    if parts.year < 1 or parts.year > 9999:
        if parts.day <= _days_in_month(2000, parts.month):
            raise _PythonRange()
        raise _OutOfRange()
    if parts.day > _days_in_month(parts.year, parts.month):
        raise _OutOfRange()
    return datetime.date(parts.year, parts.month, parts.day)


class _PythonRange(Exception):
    """A valid PostgreSQL date outside Python's calendar (years 1..9999)."""


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _time_of_day_microseconds(parts: _Parts) -> int:
    hour = parts.hour or 0
    return (((hour * 60 + parts.minute) * 60 + parts.second) * USECS_PER_SEC
            + parts.microsecond)


def _now_in_zone(timezone: str) -> datetime.datetime:
    return datetime.datetime.now(UTC).astimezone(get_zone(timezone))


def _special_date(word: str, timezone: str) -> datetime.date:
    if word == "epoch":
        return UNIX_EPOCH_DATE
    today = _now_in_zone(timezone).date()
    offsets = {"today": 0, "now": 0, "tomorrow": 1, "yesterday": -1}
    if word in offsets:
        return today + datetime.timedelta(days=offsets[word])
    raise _BadFormat()


def _checked_parse(type_name: str, text: str, build: Callable[[_Parts], object],
                   range_error: Callable[[], MirrordbError]) -> object:
    try:
        parts = _decode(text)
        if parts.special in ("infinity", "-infinity"):
            raise infinity_unsupported(type_name.split(" ")[0])
        return build(parts)
    except _BadFormat:
        raise invalid_syntax(type_name, text) from None
    except _OutOfRange as error:
        raise field_out_of_range(text, error.hint) from None
    except _PythonRange:
        raise MirrordbError(f'{range_error().message}: "{text}"', sqlstate="22008") from None
    except (ValueError, OverflowError):
        raise field_out_of_range(text) from None


_ISO_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,6}))?)?)?"
    r"(?:([+-])(\d\d)(?::?(\d\d))?)?\Z")


def _fast_iso(text: str) -> tuple[datetime.datetime, int | None] | None:
    """The common ISO 8601 shape without the general field parser (None: not that shape)."""
    match = _ISO_TIMESTAMP.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, zone_hours, zone_minutes = \
        match.groups()
    try:
        value = datetime.datetime(int(year), int(month), int(day), int(hour or 0),
                                  int(minute or 0), int(second or 0),
                                  int(fraction.ljust(6, "0")) if fraction else 0)
    except ValueError:
        return None                    # let the general parser report it
    if sign is None:
        return value, None
    offset = int(zone_hours) * 3600 + int(zone_minutes or 0) * 60
    return value, -offset if sign == "-" else offset


def parse_date(text: str, timezone: str = "UTC") -> datetime.date:
    def build(parts: _Parts) -> datetime.date:
        if parts.special is not None:
            if parts.special == "allballs" or parts.has_date():
                raise _BadFormat()
            return _special_date(parts.special, timezone)
        return _build_date(parts)
    return _checked_parse("date", text, build, date_out_of_range)  # type: ignore[return-value]


def parse_time(text: str, timezone: str = "UTC") -> datetime.time:
    def build(parts: _Parts) -> datetime.time:
        if parts.special == "allballs":
            return datetime.time(0)
        if parts.special == "now":
            return _now_in_zone(timezone).time().replace(tzinfo=None)
        if parts.special is not None or parts.hour is None:
            raise _BadFormat()
        if parts.year is not None or parts.month is not None:
            _build_date(parts)
        return _microseconds_to_time(_time_of_day_microseconds(parts), 24)
    return _checked_parse("time", text, build, timestamp_out_of_range)  # type: ignore[return-value]


def _microseconds_to_time(microseconds: int, hour_limit: int) -> datetime.time:
    if microseconds >= USECS_PER_DAY:
        if microseconds == USECS_PER_DAY and hour_limit == 24:
            raise MirrordbError("time 24:00:00 is not supported", sqlstate="0A000")
        raise _OutOfRange()
    hours, rest = divmod(microseconds, USECS_PER_HOUR)
    minutes, rest = divmod(rest, USECS_PER_MINUTE)
    seconds, micros = divmod(rest, USECS_PER_SEC)
    return datetime.time(hours, minutes, seconds, micros)


def _parts_to_local(parts: _Parts, timezone: str) -> datetime.datetime:
    """The wall-clock timestamp a parsed value names (no zone applied)."""
    if parts.special is not None:
        return _special_timestamp(parts, timezone)
    day = _build_date(parts)
    midnight = datetime.datetime(day.year, day.month, day.day)
    try:
        return midnight + datetime.timedelta(microseconds=_time_of_day_microseconds(parts))
    except OverflowError:
        raise _PythonRange() from None


def _special_timestamp(parts: _Parts, timezone: str) -> datetime.datetime:
    word = parts.special
    if word == "epoch":
        return UNIX_EPOCH_TIMESTAMP
    if word == "now":
        return _now_in_zone(timezone).replace(tzinfo=None)
    if word in ("today", "tomorrow", "yesterday") and not parts.has_date():
        day = _special_date(word, timezone)
        base = datetime.datetime(day.year, day.month, day.day)
        return base + datetime.timedelta(microseconds=_time_of_day_microseconds(parts))
    raise _BadFormat()


def parse_timestamp(text: str, timezone: str = "UTC") -> datetime.datetime:
    fast = _fast_iso(text)
    if fast is not None:
        return fast[0]

    def build(parts: _Parts) -> datetime.datetime:
        return _parts_to_local(parts, timezone)
    return _checked_parse("timestamp", text, build,  # type: ignore[return-value]
                          timestamp_out_of_range)


def parse_timestamptz(text: str, timezone: str = "UTC") -> datetime.datetime:
    fast = _fast_iso(text)
    if fast is not None:
        local, offset = fast
        if offset is not None and abs(offset) <= 15 * 3600:
            try:
                return (local - datetime.timedelta(seconds=offset)).replace(tzinfo=UTC)
            except OverflowError:
                pass
        elif offset is None:
            return local_to_utc(local, get_zone(timezone))

    def build(parts: _Parts) -> datetime.datetime:
        local = _parts_to_local(parts, timezone)
        if parts.special == "epoch":
            return UNIX_EPOCH_TIMESTAMPTZ
        if parts.offset_seconds is not None:
            return _apply_fixed_offset(local, parts.offset_seconds)
        return local_to_utc(local, parts.zone or get_zone(timezone))
    return _checked_parse("timestamp with time zone", text, build,  # type: ignore[return-value]
                          timestamp_out_of_range)


def _apply_fixed_offset(local: datetime.datetime, offset_seconds: int) -> datetime.datetime:
    try:
        return (local - datetime.timedelta(seconds=offset_seconds)).replace(tzinfo=UTC)
    except OverflowError:
        raise _PythonRange() from None


# -- interval input ------------------------------------------------------------------------------

_INTERVAL_UNITS: dict[str, str] = {}
for _unit, _spellings in {
    "microsecond": ("microsecond", "microseconds", "microsecon", "us", "usec", "usecs",
                    "useconds"),
    "millisecond": ("millisecond", "milliseconds", "millisecon", "ms", "msec", "msecs",
                    "mseconds"),
    "second": ("second", "seconds", "s", "sec", "secs"),
    "minute": ("minute", "minutes", "m", "min", "mins"),
    "hour": ("hour", "hours", "h", "hr", "hrs"),
    "day": ("day", "days", "d"),
    "week": ("week", "weeks", "w"),
    "month": ("month", "months", "mon", "mons"),
    "year": ("year", "years", "y", "yr", "yrs"),
    "decade": ("decade", "decades", "dec", "decs"),
    "century": ("century", "centuries", "c", "cent"),
    "millennium": ("millennium", "millennia", "mil", "mils"),
}.items():
    for _spelling in _spellings:
        _INTERVAL_UNITS[_spelling] = _unit

_INTERVAL_TOKEN = re.compile(
    r"\s*(?:(?P<time>[+-]?\d+:\d+(?::\d+(?:\.\d*)?)?(?:\.\d*)?)(?=\s|\Z)"
    r"|(?P<yearmonth>[+-]?\d+-\d+)(?=\s|\Z)"
    r"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(?=\s|\Z|[a-z])"
    r"|(?P<word>[a-z]+))", re.IGNORECASE)


@dataclass(slots=True, eq=False)
class _IntervalParts:
    months: int = 0
    days: int = 0
    microseconds: decimal.Decimal = decimal.Decimal(0)   # exact: int64 spans exceed a float


def parse_interval(text: str) -> Interval:
    """interval_in with IntervalStyle 'postgres' (and ISO 8601 'P...' input)."""
    stripped = text.strip(_WHITESPACE)
    try:
        if stripped[:1] in ("P", "p") and len(stripped) > 1:
            return _parse_iso_interval(stripped[1:], text)
        return _parse_postgres_interval(stripped, text)
    except _BadFormat:
        raise invalid_syntax("interval", text) from None
    except (_OutOfRange, OverflowError, ValueError):
        raise MirrordbError(f'interval field value out of range: "{text}"',
                            sqlstate="22015") from None


def _interval_tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip(_WHITESPACE)
    while position < len(text):
        match = _INTERVAL_TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _BadFormat()
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
        if len(tokens) > MAX_INTERVAL_FIELDS:
            raise _BadFormat()
    return tokens


def _parse_postgres_interval(text: str, original: str) -> Interval:
    if text.startswith("@"):
        text = text[1:]
    tokens = _interval_tokens(text)
    if not tokens:
        raise _BadFormat()
    negate = False
    if tokens[-1] == ("word", tokens[-1][1]) and tokens[-1][1].lower() == "ago":
        negate = True
        tokens = tokens[:-1]
    parts = _IntervalParts()
    index = 0
    seen: set[str] = set()
    while index < len(tokens):
        index = _interval_token(parts, tokens, index, seen)
    return _finish_interval(parts, negate)


def _interval_token(parts: _IntervalParts, tokens: list[tuple[str, str]], index: int,
                    seen: set[str]) -> int:
    kind, value = tokens[index]
    if kind == "time":
        _claim(seen, "time")
        parts.microseconds += _interval_time(value)
        return index + 1
    if kind == "yearmonth":
        _claim(seen, "yearmonth")
        sign = -1 if value.startswith("-") else 1
        years, months = value.lstrip("+-").split("-")
        if int(months) > 11:
            raise _OutOfRange()
        parts.months += sign * (int(years) * MONTHS_PER_YEAR + int(months))
        return index + 1
    if kind == "word":
        raise _BadFormat()
    next_kind, next_value = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
    if next_kind == "word":
        unit = _INTERVAL_UNITS.get(next_value.lower())
        if unit is None:
            raise _BadFormat()
        _claim(seen, unit)
        _add_interval_amount(parts, decimal.Decimal(value), unit)
        return index + 2
    if next_kind == "time":
        _claim(seen, "day")
        _add_interval_amount(parts, decimal.Decimal(value), "day")
        return index + 1
    _claim(seen, "second")
    _add_interval_amount(parts, decimal.Decimal(value), "second")
    return index + 1


def _claim(seen: set[str], unit: str) -> None:
    if unit in seen:
        raise _BadFormat()
    seen.add(unit)


def _interval_time(text: str) -> decimal.Decimal:
    sign = -1 if text.startswith("-") else 1
    pieces = text.lstrip("+-").split(":")
    hours = int(pieces[0])
    if len(pieces) == 2 and "." in pieces[1]:          # mm:ss.fff
        minutes_text, _, _ = pieces[1].partition(".")
        minutes, seconds = hours, decimal.Decimal(pieces[1])
        hours = 0
        del minutes_text
    else:
        minutes = int(pieces[1])
        seconds = decimal.Decimal(pieces[2]) if len(pieces) == 3 else decimal.Decimal(0)
    if minutes > 59 or seconds >= 60:
        raise _OutOfRange()
    total = (hours * 3600 + minutes * 60) * USECS_PER_SEC + seconds * USECS_PER_SEC
    return sign * total


_UNIT_SECONDS = {"microsecond": decimal.Decimal("0.000001"), "millisecond": decimal.Decimal("0.001"),
                 "second": decimal.Decimal(1), "minute": decimal.Decimal(60),
                 "hour": decimal.Decimal(3600)}


def _add_interval_amount(parts: _IntervalParts, amount: decimal.Decimal, unit: str) -> None:
    """Add ``amount`` of ``unit``; fractions cascade down as PostgreSQL's DecodeInterval does."""
    if unit in _UNIT_SECONDS:
        parts.microseconds += amount * _UNIT_SECONDS[unit] * USECS_PER_SEC
        return
    if unit in ("day", "week"):
        days = amount * (7 if unit == "week" else 1)
        whole = int(days)
        parts.days += whole
        parts.microseconds += (days - whole) * SECS_PER_DAY * USECS_PER_SEC
        return
    if unit == "month":
        whole = int(amount)
        parts.months += whole
        _add_fraction_days(parts, (amount - whole) * DAYS_PER_MONTH)
        return
    years = amount * {"year": 1, "decade": 10, "century": 100, "millennium": 1000}[unit]
    whole = int(years)
    parts.months += whole * MONTHS_PER_YEAR + int(round(float(years - whole) * MONTHS_PER_YEAR))


def _add_fraction_days(parts: _IntervalParts, days: decimal.Decimal) -> None:
    whole = int(days)
    parts.days += whole
    parts.microseconds += (days - whole) * SECS_PER_DAY * USECS_PER_SEC


def _finish_interval(parts: _IntervalParts, negate: bool) -> Interval:
    microseconds = int(parts.microseconds.to_integral_value(decimal.ROUND_HALF_EVEN))
    value = Interval(parts.months, parts.days, microseconds)
    if negate:
        value = Interval(-value.months, -value.days, -value.microseconds)
    return check_interval(value)


def check_interval(value: Interval) -> Interval:
    if not (INT32_MIN <= value.months <= INT32_MAX and INT32_MIN <= value.days <= INT32_MAX
            and INT64_MIN <= value.microseconds <= INT64_MAX):
        raise interval_out_of_range()
    return value


_ISO_DESIGNATORS_DATE = {"y": "year", "m": "month", "w": "week", "d": "day"}
_ISO_DESIGNATORS_TIME = {"h": "hour", "m": "minute", "s": "second"}
_ISO_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


def _parse_iso_interval(body: str, original: str) -> Interval:
    parts = _IntervalParts()
    in_time = False
    position = 0
    while position < len(body):
        if body[position] in "Tt":
            in_time = True
            position += 1
            continue
        match = _ISO_NUMBER.match(body, position)
        if match is None or match.end() >= len(body):
            raise _BadFormat()
        designator = body[match.end()].lower()
        table = _ISO_DESIGNATORS_TIME if in_time else _ISO_DESIGNATORS_DATE
        unit = table.get(designator)
        if unit is None:
            raise _BadFormat()
        _add_interval_amount(parts, decimal.Decimal(match.group()), unit)
        position = match.end() + 1
    return _finish_interval(parts, False)


# -- conversions ---------------------------------------------------------------------------------


def date_to_timestamp(value: datetime.date) -> datetime.datetime:
    return datetime.datetime(value.year, value.month, value.day)


def date_to_timestamptz(value: datetime.date, timezone: str) -> datetime.datetime:
    return local_to_utc(date_to_timestamp(value), get_zone(timezone))


def timestamp_to_timestamptz(value: datetime.datetime, timezone: str) -> datetime.datetime:
    return local_to_utc(value, get_zone(timezone))


def timestamptz_to_timestamp(value: datetime.datetime, timezone: str) -> datetime.datetime:
    return utc_to_local(value, get_zone(timezone)).replace(tzinfo=None)


def timestamptz_to_date(value: datetime.datetime, timezone: str) -> datetime.date:
    return timestamptz_to_timestamp(value, timezone).date()


def timestamptz_to_time(value: datetime.datetime, timezone: str) -> datetime.time:
    return timestamptz_to_timestamp(value, timezone).time()


def time_to_microseconds(value: datetime.time) -> int:
    return (((value.hour * 60 + value.minute) * 60 + value.second) * USECS_PER_SEC
            + value.microsecond)


def microseconds_to_time(microseconds: int) -> datetime.time:
    return _microseconds_to_time(microseconds % USECS_PER_DAY, 23)


def time_to_interval(value: datetime.time) -> Interval:
    return Interval(0, 0, time_to_microseconds(value))


def interval_to_time(value: Interval) -> datetime.time:
    return microseconds_to_time(value.microseconds % USECS_PER_DAY)


def round_time_precision(microseconds: int, precision: int) -> int:
    """AdjustTimestampForTypmod: round to ``precision`` fractional digits (half away from 0)."""
    if precision < 0 or precision >= MAX_TIME_PRECISION:
        return microseconds
    unit = 10 ** (MAX_TIME_PRECISION - precision)
    if microseconds >= 0:
        return ((microseconds + unit // 2) // unit) * unit
    return -(((-microseconds + unit // 2) // unit) * unit)


def adjust_timestamp_precision(value: datetime.datetime, precision: int) -> datetime.datetime:
    if precision < 0 or precision >= MAX_TIME_PRECISION:
        return value
    rounded = round_time_precision(value.microsecond, precision)
    return _add_microseconds(value.replace(microsecond=0), rounded)


def adjust_time_precision(value: datetime.time, precision: int) -> datetime.time:
    if precision < 0 or precision >= MAX_TIME_PRECISION:
        return value
    total = round_time_precision(time_to_microseconds(value), precision)
    return microseconds_to_time(total)


def adjust_interval_precision(value: Interval, precision: int) -> Interval:
    return Interval(value.months, value.days,
                    round_time_precision(value.microseconds, precision))


# -- arithmetic ------------------------------------------------------------------------------------


def _add_microseconds(value: datetime.datetime, microseconds: int) -> datetime.datetime:
    try:
        return value + datetime.timedelta(microseconds=microseconds)
    except OverflowError:
        raise timestamp_out_of_range() from None


def add_months(value: datetime.datetime, months: int) -> datetime.datetime:
    """Add calendar months, clamping the day to the end of the month (timestamp_pl_interval)."""
    if not months:
        return value
    total = value.year * MONTHS_PER_YEAR + (value.month - 1) + months
    year, month_index = divmod(total, MONTHS_PER_YEAR)
    if not 1 <= year <= 9999:
        raise timestamp_out_of_range()
    day = min(value.day, _days_in_month(year, month_index + 1))
    return value.replace(year=year, month=month_index + 1, day=day)


def timestamp_plus_interval(value: datetime.datetime, span: Interval) -> datetime.datetime:
    result = add_months(value, span.months)
    if span.days:
        result = _add_microseconds(result, span.days * USECS_PER_DAY)
    return _add_microseconds(result, span.microseconds)


def timestamp_minus_interval(value: datetime.datetime, span: Interval) -> datetime.datetime:
    return timestamp_plus_interval(value, negate_interval(span))


def timestamptz_plus_interval(value: datetime.datetime, span: Interval,
                              timezone: str) -> datetime.datetime:
    """Months and days move the wall clock of the session zone; the time part is absolute."""
    result = value
    if span.months or span.days:
        zone = get_zone(timezone)
        local = utc_to_local(value, zone).replace(tzinfo=None)
        local = add_months(local, span.months)
        if span.days:
            local = _add_microseconds(local, span.days * USECS_PER_DAY)
        result = local_to_utc(local, zone)
    return _add_microseconds(result, span.microseconds)


def timestamptz_minus_interval(value: datetime.datetime, span: Interval,
                               timezone: str) -> datetime.datetime:
    return timestamptz_plus_interval(value, negate_interval(span), timezone)


def justify_hours(value: Interval) -> Interval:
    whole_days, time = _c_divmod(value.microseconds, USECS_PER_DAY)
    days = value.days + whole_days
    if days > 0 and time < 0:
        time += USECS_PER_DAY
        days -= 1
    elif days < 0 and time > 0:
        time -= USECS_PER_DAY
        days += 1
    return check_interval(Interval(value.months, days, time))


def justify_days(value: Interval) -> Interval:
    whole_months, days = _c_divmod(value.days, DAYS_PER_MONTH)
    months = value.months + whole_months
    if months > 0 and days < 0:
        days += DAYS_PER_MONTH
        months -= 1
    elif months < 0 and days > 0:
        days -= DAYS_PER_MONTH
        months += 1
    return check_interval(Interval(months, days, value.microseconds))


def justify_interval(value: Interval) -> Interval:
    months, days, time = value.months, value.days, value.microseconds
    whole_days, time = _c_divmod(time, USECS_PER_DAY)
    days += whole_days
    whole_months, days = _c_divmod(days, DAYS_PER_MONTH)
    months += whole_months
    if months > 0 and (days < 0 or (days == 0 and time < 0)):
        days += DAYS_PER_MONTH
        months -= 1
    elif months < 0 and (days > 0 or (days == 0 and time > 0)):
        days -= DAYS_PER_MONTH
        months += 1
    if days > 0 and time < 0:
        time += USECS_PER_DAY
        days -= 1
    elif days < 0 and time > 0:
        time -= USECS_PER_DAY
        days += 1
    return check_interval(Interval(months, days, time))


def _span_microseconds(later: datetime.datetime, earlier: datetime.datetime) -> int:
    delta = later - earlier
    return (delta.days * SECS_PER_DAY + delta.seconds) * USECS_PER_SEC + delta.microseconds


def timestamp_minus_timestamp(left: datetime.datetime, right: datetime.datetime) -> Interval:
    return justify_hours(Interval(0, 0, _span_microseconds(left, right)))


def date_minus_date(left: datetime.date, right: datetime.date) -> int:
    return left.toordinal() - right.toordinal()


def date_plus_days(value: datetime.date, days: int) -> datetime.date:
    try:
        return value + datetime.timedelta(days=days)
    except OverflowError:
        raise date_out_of_range() from None


def date_plus_interval(value: datetime.date, span: Interval) -> datetime.datetime:
    return timestamp_plus_interval(date_to_timestamp(value), span)


def date_plus_time(value: datetime.date, moment: datetime.time) -> datetime.datetime:
    return datetime.datetime.combine(value, moment)


def time_plus_interval(value: datetime.time, span: Interval) -> datetime.time:
    return microseconds_to_time(time_to_microseconds(value) + span.microseconds)


def time_minus_interval(value: datetime.time, span: Interval) -> datetime.time:
    return microseconds_to_time(time_to_microseconds(value) - span.microseconds)


def time_minus_time(left: datetime.time, right: datetime.time) -> Interval:
    return Interval(0, 0, time_to_microseconds(left) - time_to_microseconds(right))


def negate_interval(value: Interval) -> Interval:
    return check_interval(Interval(-value.months, -value.days, -value.microseconds))


def interval_plus_interval(left: Interval, right: Interval) -> Interval:
    return check_interval(Interval(left.months + right.months, left.days + right.days,
                                   left.microseconds + right.microseconds))


def interval_minus_interval(left: Interval, right: Interval) -> Interval:
    return check_interval(Interval(left.months - right.months, left.days - right.days,
                                   left.microseconds - right.microseconds))


def _ts_round(value: float) -> float:
    """TSROUND: round to microsecond precision to hide float noise."""
    return _rint(value * 1_000_000.0) / 1_000_000.0


def _rint(value: float) -> float:
    return float(round(value))


def _c_int(value: float) -> int:
    """C's (int) cast: truncation toward zero."""
    return int(value)


def interval_multiply(value: Interval, factor: float) -> Interval:
    """interval * float8, cascading fractional months and days down as PostgreSQL does."""
    if math.isnan(factor):
        raise interval_out_of_range()
    month_product = value.months * factor
    day_product = value.days * factor
    if not (INT32_MIN <= month_product <= INT32_MAX and INT32_MIN <= day_product <= INT32_MAX):
        raise interval_out_of_range()
    months = _c_int(month_product)
    days = _c_int(day_product)
    month_remainder_days = _ts_round((value.months * factor - months) * DAYS_PER_MONTH)
    second_remainder = _ts_round((value.days * factor - days + month_remainder_days
                                  - _c_int(month_remainder_days)) * SECS_PER_DAY)
    return _finish_scaled_interval(months, days, month_remainder_days, second_remainder,
                                   value.microseconds * factor)


def interval_divide(value: Interval, factor: float) -> Interval:
    if factor == 0.0:
        raise num.division_by_zero()
    if math.isnan(factor):
        raise interval_out_of_range()
    months = _c_int(value.months / factor)
    days = _c_int(value.days / factor)
    month_remainder_days = _ts_round((value.months / factor - months) * DAYS_PER_MONTH)
    second_remainder = _ts_round((value.days / factor - days + month_remainder_days
                                  - _c_int(month_remainder_days)) * SECS_PER_DAY)
    return _finish_scaled_interval(months, days, month_remainder_days, second_remainder,
                                   value.microseconds / factor)


def _finish_scaled_interval(months: int, days: int, month_remainder_days: float,
                            second_remainder: float, scaled_time: float) -> Interval:
    if abs(second_remainder) >= SECS_PER_DAY:
        whole = _c_int(second_remainder / SECS_PER_DAY)
        days += whole
        second_remainder -= whole * SECS_PER_DAY
    days += _c_int(month_remainder_days)
    time = _rint(scaled_time + second_remainder * USECS_PER_SEC)
    if math.isnan(time) or not INT64_MIN <= time <= INT64_MAX:
        raise interval_out_of_range()
    return check_interval(Interval(months, days, int(time)))


def age(later: datetime.datetime, earlier: datetime.datetime) -> Interval:
    """age(): the symbolic difference in years, months, days and time of two timestamps."""
    negative = later < earlier
    first, second = (earlier, later) if negative else (later, earlier)
    micros = first.microsecond - second.microsecond
    seconds = first.second - second.second
    minutes = first.minute - second.minute
    hours = first.hour - second.hour
    days = first.day - second.day
    months = first.month - second.month
    years = first.year - second.year
    seconds, micros = _borrow(seconds, micros, USECS_PER_SEC)
    minutes, seconds = _borrow(minutes, seconds, 60)
    hours, minutes = _borrow(hours, minutes, 60)
    days, hours = _borrow(days, hours, 24)
    # the month whose length settles a negative day count is that of the later operand as
    # PostgreSQL passes it (tm1 when dt1 < dt2, else tm2)
    reference = later if negative else earlier
    while days < 0:
        days += _days_in_month(reference.year, reference.month)
        months -= 1
    years, months = _borrow(years, months, MONTHS_PER_YEAR)
    result = Interval(years * MONTHS_PER_YEAR + months, days,
                      ((hours * 60 + minutes) * 60 + seconds) * USECS_PER_SEC + micros)
    return negate_interval(result) if negative else result


def _borrow(higher: int, lower: int, base: int) -> tuple[int, int]:
    while lower < 0:
        lower += base
        higher -= 1
    return higher, lower


# -- date_trunc and date_part ------------------------------------------------------------------

_TRUNC_UNITS = {
    "microsecond": "microseconds", "microseconds": "microseconds", "us": "microseconds",
    "usec": "microseconds", "usecs": "microseconds", "useconds": "microseconds",
    "millisecond": "milliseconds", "milliseconds": "milliseconds", "ms": "milliseconds",
    "msec": "milliseconds", "msecs": "milliseconds", "mseconds": "milliseconds",
    "second": "second", "seconds": "second", "s": "second", "sec": "second", "secs": "second",
    "minute": "minute", "minutes": "minute", "m": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour",
    "day": "day", "days": "day", "d": "day",
    "week": "week", "weeks": "week", "w": "week",
    "month": "month", "months": "month", "mon": "month", "mons": "month",
    "quarter": "quarter", "qtr": "quarter",
    "year": "year", "years": "year", "y": "year", "yr": "year", "yrs": "year",
    "decade": "decade", "decades": "decade", "dec": "decade", "decs": "decade",
    "century": "century", "centuries": "century", "c": "century", "cent": "century",
    "millennium": "millennium", "millennia": "millennium", "mil": "millennium",
    "mils": "millennium",
    "epoch": "epoch", "dow": "dow", "isodow": "isodow", "doy": "doy", "isoyear": "isoyear",
    "julian": "julian", "j": "julian", "timezone": "timezone", "timezone_h": "timezone_hour",
    "timezone_hour": "timezone_hour", "timezone_m": "timezone_minute",
    "timezone_minute": "timezone_minute",
}


def canonical_unit(unit: str) -> str | None:
    return _TRUNC_UNITS.get(unit.strip(_WHITESPACE).lower())


_RESERVED_UNITS = frozenset({"epoch"})      # DecodeUnits' RESERV words: never "units"


def _unit_error(unit: str, type_name: str, recognized: bool) -> MirrordbError:
    if recognized and canonical_unit(unit) not in _RESERVED_UNITS:
        return MirrordbError(f'unit "{unit}" not supported for type {type_name}',
                             sqlstate="0A000")
    return MirrordbError(f'unit "{unit}" not recognized for type {type_name}', sqlstate="22023")


def truncate_timestamp(unit: str, value: datetime.datetime, type_name: str =
                       "timestamp without time zone") -> datetime.datetime:
    """date_trunc on a wall-clock timestamp."""
    canonical = canonical_unit(unit)
    if canonical == "microseconds":
        return value
    if canonical == "milliseconds":
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if canonical in ("second", "minute", "hour", "day"):
        fields = ("microsecond", "second", "minute", "hour")
        count = ("second", "minute", "hour", "day").index(canonical) + 1
        return value.replace(**{name: 0 for name in fields[:count]})  # type: ignore[arg-type]
    midnight = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if canonical == "week":
        return midnight - datetime.timedelta(days=value.weekday())
    if canonical in ("month", "quarter"):
        month = value.month if canonical == "month" else (value.month - 1) // 3 * 3 + 1
        return midnight.replace(month=month, day=1)
    return _truncate_years(canonical, unit, midnight, type_name)


def _truncate_years(canonical: str | None, unit: str, midnight: datetime.datetime,
                    type_name: str) -> datetime.datetime:
    year = midnight.year
    if canonical == "year":
        pass
    elif canonical == "decade":
        year = year // 10 * 10
    elif canonical == "century":
        year = (year - 1) // 100 * 100 + 1
    elif canonical == "millennium":
        year = (year - 1) // 1000 * 1000 + 1
    else:
        raise _unit_error(unit, type_name, canonical is not None)
    if year < 1:
        raise timestamp_out_of_range()
    return midnight.replace(year=year, month=1, day=1)


def truncate_timestamptz(unit: str, value: datetime.datetime, timezone: str) -> datetime.datetime:
    canonical = canonical_unit(unit)
    if canonical in ("microseconds", "milliseconds", "second", "minute"):
        zone = get_zone(timezone)
        local = utc_to_local(value, zone)
        truncated = truncate_timestamp(unit, local.replace(tzinfo=None))
        offset = local.utcoffset() or datetime.timedelta(0)
        return (truncated - offset).replace(tzinfo=UTC)
    zone = get_zone(timezone)
    local = utc_to_local(value, zone).replace(tzinfo=None)
    truncated = truncate_timestamp(unit, local, "timestamp with time zone")
    return local_to_utc(truncated, zone)


def truncate_interval(unit: str, value: Interval) -> Interval:
    canonical = canonical_unit(unit)
    years, months = _c_divmod(value.months, MONTHS_PER_YEAR)
    hours, minutes, seconds, micros = _split_time(value.microseconds)
    steps = ["microseconds", "milliseconds", "second", "minute", "hour", "day", "month",
             "quarter", "year", "decade", "century", "millennium"]
    if canonical not in steps:
        raise _unit_error(unit, "interval", canonical is not None)
    level = steps.index(canonical)
    if level >= 1:
        micros = micros // 1000 * 1000 if level == 1 else 0
    if level >= 3:
        seconds = 0
    if level >= 4:
        minutes = 0
    if level >= 5:
        hours = 0
    days = value.days if level < 6 else 0
    if level >= 7:
        months = months // 3 * 3 if level == 7 else 0
    for step, size in (("decade", 10), ("century", 100), ("millennium", 1000)):
        if canonical == step:
            years = years // size * size if years >= 0 else -((-years) // size * size)
    time = ((hours * 60 + minutes) * 60 + seconds) * USECS_PER_SEC + micros
    return Interval(years * MONTHS_PER_YEAR + months, days, time)


@dataclass(frozen=True, slots=True)
class _Moment:
    """The broken-down fields date_part reads from a date, timestamp or timestamptz."""

    local: datetime.datetime
    epoch_microseconds: int
    offset_seconds: int | None
    is_date: bool


def _iso_year(value: datetime.date) -> int:
    return value.isocalendar()[0]


def _julian_day(value: datetime.date) -> int:
    return value.toordinal() + 1_721_425


def timestamp_part(unit: str, moment: _Moment, type_name: str) -> decimal.Decimal:
    """extract(unit from ...) as numeric (PostgreSQL 15's result for EXTRACT)."""
    canonical = canonical_unit(unit)
    local = moment.local
    fractional_micros = local.second * USECS_PER_SEC + local.microsecond
    simple: dict[str, Callable[[], int]] = {
        "year": lambda: local.year, "month": lambda: local.month, "day": lambda: local.day,
        "quarter": lambda: (local.month - 1) // 3 + 1,
        "week": lambda: local.isocalendar()[1],
        "dow": lambda: local.isoweekday() % 7, "isodow": lambda: local.isoweekday(),
        "doy": lambda: local.timetuple().tm_yday, "isoyear": lambda: _iso_year(local),
        "decade": lambda: local.year // 10,
        "century": lambda: (local.year + 99) // 100,
        "millennium": lambda: (local.year + 999) // 1000,
    }
    if canonical in simple:
        return decimal.Decimal(simple[canonical]())
    if moment.is_date and canonical in ("hour", "minute", "second", "milliseconds",
                                        "microseconds", "timezone", "timezone_hour",
                                        "timezone_minute"):
        raise _unit_error(unit, "date", True)
    time_fields: dict[str, Callable[[], decimal.Decimal]] = {
        "hour": lambda: decimal.Decimal(local.hour),
        "minute": lambda: decimal.Decimal(local.minute),
        "second": lambda: decimal.Decimal(fractional_micros).scaleb(-6),
        "milliseconds": lambda: decimal.Decimal(fractional_micros).scaleb(-3),
        "microseconds": lambda: decimal.Decimal(fractional_micros),
    }
    if canonical in time_fields:
        return time_fields[canonical]()
    return _timestamp_special_part(unit, canonical, moment, type_name)


def _timestamp_special_part(unit: str, canonical: str | None, moment: _Moment,
                            type_name: str) -> decimal.Decimal:
    local = moment.local
    if canonical == "epoch":
        if moment.is_date:
            return decimal.Decimal(moment.epoch_microseconds // USECS_PER_SEC)
        return decimal.Decimal(moment.epoch_microseconds).scaleb(-6)
    if canonical == "julian":
        day_micros = time_to_microseconds(local.time())
        julian = decimal.Decimal(_julian_day(local.date()))
        if moment.is_date:
            return julian
        return num.numeric_add(julian, num.numeric_div(decimal.Decimal(day_micros),
                                                       decimal.Decimal(USECS_PER_DAY)))
    if moment.offset_seconds is not None and canonical in ("timezone", "timezone_hour",
                                                           "timezone_minute"):
        offset = moment.offset_seconds
        if canonical == "timezone":
            return decimal.Decimal(offset)
        hours, rest = _c_divmod(offset, 3600)
        return decimal.Decimal(hours if canonical == "timezone_hour" else rest // 60
                               if rest >= 0 else -((-rest) // 60))
    raise _unit_error(unit, type_name, canonical is not None)


def moment_of_date(value: datetime.date) -> _Moment:
    local = date_to_timestamp(value)
    return _Moment(local, _span_microseconds(local, UNIX_EPOCH_TIMESTAMP), None, True)


def moment_of_timestamp(value: datetime.datetime) -> _Moment:
    return _Moment(value, _span_microseconds(value, UNIX_EPOCH_TIMESTAMP), None, False)


def moment_of_timestamptz(value: datetime.datetime, timezone: str) -> _Moment:
    local = utc_to_local(value, get_zone(timezone))
    offset = local.utcoffset()
    return _Moment(local.replace(tzinfo=None), _span_microseconds(value, UNIX_EPOCH_TIMESTAMPTZ),
                   int(offset.total_seconds()) if offset is not None else 0, False)


def moment_of_time(value: datetime.time) -> _Moment:
    local = datetime.datetime.combine(UNIX_EPOCH_DATE, value)
    return _Moment(local, time_to_microseconds(value), None, False)


def time_part(unit: str, value: datetime.time) -> decimal.Decimal:
    canonical = canonical_unit(unit)
    if canonical in ("hour", "minute", "second", "milliseconds", "microseconds", "epoch"):
        return timestamp_part(unit, moment_of_time(value), "time without time zone")
    raise _unit_error(unit, "time without time zone", canonical is not None)


def interval_part(unit: str, value: Interval) -> decimal.Decimal:
    canonical = canonical_unit(unit)
    years, months = _c_divmod(value.months, MONTHS_PER_YEAR)
    hours, minutes, _, _ = _split_time(value.microseconds)
    second_micros = value.microseconds - (hours * 60 + minutes) * USECS_PER_MINUTE
    simple = {"year": years, "month": months, "day": value.days, "hour": hours,
              "minute": minutes, "quarter": months // 3 + 1 if months >= 0 else
              -((-months) // 3) + 1, "decade": _c_divmod(years, 10)[0],
              "century": _c_divmod(years, 100)[0], "millennium": _c_divmod(years, 1000)[0],
              "microseconds": second_micros}
    if canonical in simple:
        return decimal.Decimal(simple[canonical])
    if canonical == "second":
        return decimal.Decimal(second_micros).scaleb(-6)
    if canonical == "milliseconds":
        return decimal.Decimal(second_micros).scaleb(-3)
    if canonical == "epoch":
        # days_per_year = 365.25: 1 year is 365.25 days, 1 month is 30 days
        seconds = (decimal.Decimal(years) * decimal.Decimal("31557600")
                   + decimal.Decimal(months) * (DAYS_PER_MONTH * SECS_PER_DAY)
                   + decimal.Decimal(value.days) * SECS_PER_DAY)
        return num.numeric_add(seconds, decimal.Decimal(value.microseconds).scaleb(-6))
    raise _unit_error(unit, "interval", canonical is not None)


# -- constructors ------------------------------------------------------------------------------


def make_date(year: int, month: int, day: int) -> datetime.date:
    if year == 0:
        raise MirrordbError(f"date field value out of range: {year}-{month:02d}-{day:02d}",
                            sqlstate="22008")
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise MirrordbError(f"date field value out of range: {year}-{month:02d}-{day:02d}",
                            sqlstate="22008") from None


def make_time(hour: int, minute: int, second: float) -> datetime.time:
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second < 60):
        raise MirrordbError(f"time field value out of range: {hour:02d}:{minute:02d}:"
                            f"{num.format_float8(second).zfill(2)}", sqlstate="22008")
    micros = int(round(second * USECS_PER_SEC))
    return _microseconds_to_time((hour * 60 + minute) * USECS_PER_MINUTE + micros, 23)


def make_timestamp(year: int, month: int, day: int, hour: int, minute: int,
                   second: float) -> datetime.datetime:
    day_value = make_date(year, month, day)
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 60):
        raise MirrordbError(f"date field value out of range: {year}-{month:02d}-{day:02d}",
                            sqlstate="22008")
    micros = int(round(second * USECS_PER_SEC))
    return _add_microseconds(date_to_timestamp(day_value),
                             (hour * 60 + minute) * USECS_PER_MINUTE + micros)


def make_interval(years: int, months: int, weeks: int, days: int, hours: int, minutes: int,
                  seconds: float) -> Interval:
    if math.isinf(seconds) or math.isnan(seconds):
        raise interval_out_of_range()
    micros = _rint(seconds * USECS_PER_SEC)
    return check_interval(Interval(years * MONTHS_PER_YEAR + months, weeks * 7 + days,
                                   (hours * 60 + minutes) * USECS_PER_MINUTE + int(micros)))


def epoch_to_timestamptz(seconds: float) -> datetime.datetime:
    """to_timestamp(float8)."""
    if math.isnan(seconds):
        raise MirrordbError("timestamp cannot be NaN", sqlstate="22008")
    if math.isinf(seconds):
        raise infinity_unsupported("timestamp")
    micros = _rint(seconds * USECS_PER_SEC)
    try:
        return UNIX_EPOCH_TIMESTAMPTZ + datetime.timedelta(microseconds=micros)
    except OverflowError:
        raise MirrordbError(f'timestamp out of range: "{num.format_float8(seconds)}"',
                            sqlstate="22008") from None


def timeofday(now: datetime.datetime, timezone: str) -> str:
    """timeofday(): 'Mon Jan 01 12:00:00.123456 2024 UTC'."""
    local = utc_to_local(now, get_zone(timezone))
    abbreviation = local.tzname() or timezone
    return (f"{local.strftime('%a %b %d %H:%M:%S')}.{local.microsecond:06d} {local.year} "
            f"{abbreviation}")


def system_now() -> datetime.datetime:
    return datetime.datetime.fromtimestamp(time_module.time(), UTC)


# -- to_char / to_date / to_timestamp templates --------------------------------------------------

_TEMPLATE_KEYWORDS = sorted([
    "A.D.", "A.M.", "AD", "AM", "B.C.", "BC", "CC", "DAY", "DDD", "DD", "DY", "Day", "Dy", "D",
    "FF1", "FF2", "FF3", "FF4", "FF5", "FF6", "HH24", "HH12", "HH", "IDDD", "ID", "IW", "IYYY",
    "IYY", "IY", "I", "J", "MI", "MM", "MONTH", "MON", "MS", "Month", "Mon", "OF", "P.M.", "PM",
    "Q", "RM", "SSSSS", "SSSS", "SS", "TZH", "TZM", "TZ", "US", "WW", "W", "Y,YYY", "YYYY",
    "YYY", "YY", "Y",
], key=len, reverse=True)
_CASED_KEYWORDS = frozenset({"DAY", "Day", "DY", "Dy", "MONTH", "Month", "MON", "Mon", "AM",
                             "PM", "A.M.", "P.M.", "AD", "BC", "A.D.", "B.C.", "RM", "TZ"})
_ROMAN_MONTHS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


@dataclass(frozen=True, slots=True)
class _TemplateNode:
    """A keyword with its modifiers, or literal text (keyword None)."""

    keyword: str | None
    text: str
    fill_mode: bool = False
    ordinal: str = ""                 # "TH", "th" or ""


def _match_keyword(template: str, position: int) -> tuple[str, str] | None:
    """(canonical keyword, case form as written) at ``position``."""
    for keyword in _TEMPLATE_KEYWORDS:
        written = template[position:position + len(keyword)]
        if written == keyword:
            return keyword, written
        if written.upper() == keyword.upper() and written.lower() == written:
            return keyword.upper() if keyword.upper() in _TEMPLATE_KEYWORDS else keyword, written
    return None


@functools.lru_cache(maxsize=256)
def _parse_template(template: str) -> tuple[_TemplateNode, ...]:
    nodes: list[_TemplateNode] = []
    position = 0
    while position < len(template):
        fill_mode = False
        while template[position:position + 2].upper() in ("FM", "TM", "FX", "SP"):
            if template[position:position + 2].upper() == "FM":
                fill_mode = True
            position += 2
        if position >= len(template):
            break
        match = _match_keyword(template, position)
        if match is not None:
            keyword, written = match
            position += len(written)
            ordinal = ""
            if template[position:position + 2] in ("TH", "th"):
                ordinal = template[position:position + 2]
                position += 2
            nodes.append(_TemplateNode(keyword, written, fill_mode, ordinal))
            continue
        position = _template_literal(template, position, nodes)
    return tuple(nodes)


def _template_literal(template: str, position: int, nodes: list[_TemplateNode]) -> int:
    character = template[position]
    if character == '"':
        end = position + 1
        literal: list[str] = []
        while end < len(template) and template[end] != '"':
            if template[end] == "\\" and end + 1 < len(template):
                end += 1
            literal.append(template[end])
            end += 1
        nodes.append(_TemplateNode(None, "".join(literal)))
        return end + 1
    if character == "\\" and template[position + 1:position + 2] == '"':
        nodes.append(_TemplateNode(None, '"'))
        return position + 2
    nodes.append(_TemplateNode(None, character))
    return position + 1


def _ordinal_suffix(number: int, upper: bool) -> str:
    remainder = abs(number) % 100
    if 11 <= remainder <= 13:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(abs(number) % 10, "th")
    return suffix.upper() if upper else suffix


def _cased(text: str, written: str) -> str:
    if written.isupper() or written == written.upper():
        return text.upper()
    if written.islower():
        return text.lower()
    return text.capitalize()


@dataclass(frozen=True, slots=True)
class _Fields:
    """Broken-down fields to_char prints."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    microsecond: int
    day_of_year: int
    weekday: int                        # ISO: Monday 1 .. Sunday 7
    iso_year: int
    iso_week: int
    iso_day_of_year: int
    julian: int
    zone_name: str | None
    offset_seconds: int
    is_interval: bool = False


def _timestamp_fields(local: datetime.datetime, zone_name: str | None,
                      offset_seconds: int) -> _Fields:
    iso_year, iso_week, iso_weekday = local.isocalendar()
    iso_day_of_year = (iso_week - 1) * 7 + iso_weekday
    return _Fields(local.year, local.month, local.day, local.hour, local.minute, local.second,
                   local.microsecond, local.timetuple().tm_yday, local.isoweekday(), iso_year,
                   iso_week, iso_day_of_year, _julian_day(local.date()), zone_name,
                   offset_seconds)


def _number(value: int, width: int, fill_mode: bool) -> str:
    if fill_mode:
        return str(value)
    sign = "-" if value < 0 else ""
    return sign + str(abs(value)).zfill(width)


def _render_keyword(node: _TemplateNode, fields: _Fields) -> tuple[str, int | None]:
    """(text, the number an ordinal suffix refers to)."""
    keyword, fill = node.keyword or "", node.fill_mode
    hour12 = fields.hour % 12 or 12
    numbers: dict[str, tuple[int, int]] = {
        "HH": (hour12, 2), "HH12": (hour12, 2), "HH24": (fields.hour, 2),
        "MI": (fields.minute, 2), "SS": (fields.second, 2),
        "MS": (fields.microsecond // 1000, 3), "US": (fields.microsecond, 6),
        "SSSS": (fields.hour * 3600 + fields.minute * 60 + fields.second, 0),
        "SSSSS": (fields.hour * 3600 + fields.minute * 60 + fields.second, 0),
        "YYYY": (fields.year, 4), "YYY": (fields.year % 1000, 3), "YY": (fields.year % 100, 2),
        "Y": (fields.year % 10, 1), "IYYY": (fields.iso_year, 4),
        "IYY": (fields.iso_year % 1000, 3), "IY": (fields.iso_year % 100, 2),
        "I": (fields.iso_year % 10, 1), "MM": (fields.month, 2), "DD": (fields.day, 2),
        "DDD": (fields.day_of_year, 3), "IDDD": (fields.iso_day_of_year, 3),
        "D": (fields.weekday % 7 + 1, 0), "ID": (fields.weekday, 0),
        "W": ((fields.day - 1) // 7 + 1, 0), "WW": ((fields.day_of_year - 1) // 7 + 1, 2),
        "IW": (fields.iso_week, 2), "CC": ((fields.year + 99) // 100 if fields.year > 0
                                          else fields.year // 100, 2),
        "Q": ((fields.month - 1) // 3 + 1, 0), "J": (fields.julian, 0),
    }
    if fields.is_interval and keyword in ("HH", "HH12"):
        numbers[keyword] = (fields.hour % 12, 2)
    if keyword in numbers:
        value, width = numbers[keyword]
        return _number(value, width, fill), value
    if keyword.startswith("FF"):
        digits = int(keyword[2])
        return f"{fields.microsecond:06d}"[:digits], None
    if keyword == "Y,YYY":
        return f"{fields.year // 1000},{fields.year % 1000:03d}", fields.year
    return _render_text_keyword(node, fields), None


def _render_text_keyword(node: _TemplateNode, fields: _Fields) -> str:
    keyword, written, fill = node.keyword or "", node.text, node.fill_mode
    if keyword in ("MONTH", "Month"):
        name = _cased(_MONTH_NAMES[fields.month - 1], written)
        return name if fill else name.ljust(9)
    if keyword in ("MON", "Mon"):
        return _cased(_MONTH_NAMES[fields.month - 1][:3], written)
    if keyword in ("DAY", "Day"):
        name = _cased(_DAY_NAMES[fields.weekday - 1], written)
        return name if fill else name.ljust(9)
    if keyword in ("DY", "Dy"):
        return _cased(_DAY_NAMES[fields.weekday - 1][:3], written)
    if keyword in ("AM", "PM", "A.M.", "P.M."):
        text = ("P.M." if fields.hour >= 12 else "A.M.") if "." in keyword else \
            ("PM" if fields.hour >= 12 else "AM")
        return text if written.isupper() else text.lower()
    if keyword in ("AD", "BC", "A.D.", "B.C."):
        text = "A.D." if "." in keyword else "AD"
        return text if written.isupper() else text.lower()
    if keyword == "RM":
        roman = _ROMAN_MONTHS[fields.month - 1]
        roman = roman if written.isupper() else roman.lower()
        return roman if fill else roman.ljust(4)
    return _render_zone_keyword(keyword, written, fields)


def _render_zone_keyword(keyword: str, written: str, fields: _Fields) -> str:
    offset = fields.offset_seconds
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), 3600)
    minutes = rest // 60
    if keyword == "TZ":
        name = fields.zone_name or ""
        return name if written.isupper() else name.lower()
    if keyword == "TZH":
        return f"{sign}{hours:02d}"
    if keyword == "TZM":
        return f"{minutes:02d}"
    if keyword == "OF":
        return f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")
    raise MirrordbError(f'invalid datetime format keyword "{keyword}"', sqlstate="22007")


def _render_template(template: str, fields: _Fields) -> str:
    output: list[str] = []
    for node in _parse_template(template):
        if node.keyword is None:
            output.append(node.text)
            continue
        text, number = _render_keyword(node, fields)
        if node.ordinal and number is not None:
            text += _ordinal_suffix(number, node.ordinal == "TH")
        output.append(text)
        if sum(map(len, output)) > MAX_TO_CHAR_OUTPUT_CHARS:
            raise MirrordbError("to_char result is too long", sqlstate="54000")
    return "".join(output)


def to_char_timestamp(value: datetime.datetime, template: str, timezone: str | None) -> str:
    """to_char(timestamp[tz], template); ``timezone`` is None for a timestamp without zone."""
    if timezone is None:
        return _render_template(template, _timestamp_fields(value, None, 0))
    local = utc_to_local(value, get_zone(timezone))
    offset = local.utcoffset() or datetime.timedelta(0)
    name = local.tzname() or ""
    if name.startswith(("+", "-")):
        name = format_offset(int(offset.total_seconds()))
    return _render_template(template, _timestamp_fields(local.replace(tzinfo=None), name,
                                                        int(offset.total_seconds())))


def to_char_interval(value: Interval, template: str) -> str:
    years, months = _c_divmod(value.months, MONTHS_PER_YEAR)
    hours, minutes, seconds, micros = _split_time(value.microseconds)
    fields = _Fields(years, months, value.days, hours, minutes, seconds, micros,
                     value.days, 1, years, 0, 0, 0, None, 0, is_interval=True)
    for node in _parse_template(template):
        if node.keyword in ("MONTH", "Month", "MON", "Mon") and not 1 <= months <= 12:
            fields = replace_month(fields)
    return _render_template(template, fields)


def replace_month(fields: _Fields) -> _Fields:
    month = fields.month if 1 <= fields.month <= 12 else 1
    return _Fields(fields.year, month, fields.day, fields.hour, fields.minute, fields.second,
                   fields.microsecond, fields.day_of_year, fields.weekday, fields.iso_year,
                   fields.iso_week, fields.iso_day_of_year, fields.julian, fields.zone_name,
                   fields.offset_seconds, fields.is_interval)


@dataclass(slots=True, eq=False)
class _ParsedTemplate:
    year: int | None = None
    month: int = 1
    day: int = 1
    hour: int = 0
    minute: int = 0
    second: int = 0
    microsecond: int = 0
    meridian: str | None = None
    offset_seconds: int | None = None
    day_of_year: int | None = None
    two_digit_year: bool = False


_NUMERIC_FIELD_WIDTHS = {
    "YYYY": 4, "YYY": 3, "YY": 2, "Y": 1, "IYYY": 4, "MM": 2, "DD": 2, "DDD": 3, "HH": 2,
    "HH12": 2, "HH24": 2, "MI": 2, "SS": 2, "MS": 3, "US": 6, "D": 1, "ID": 1, "CC": 2,
    "Q": 1, "W": 1, "WW": 2, "IW": 2, "J": 7, "SSSS": 5, "SSSSS": 5,
    "FF1": 1, "FF2": 2, "FF3": 3, "FF4": 4, "FF5": 5, "FF6": 6,
}


def _read_template_number(text: str, position: int, width: int, greedy: bool
                          ) -> tuple[int, int, str]:
    while position < len(text) and text[position] == " ":
        position += 1
    start = position
    sign = text[position:position + 1]
    if sign in ("-", "+"):
        position += 1
    limit = len(text) if greedy else position + width
    while position < limit and position < len(text) and text[position].isdigit():
        position += 1
    digits = text[start:position]
    if not digits.lstrip("+-"):
        found = text[start:start + width] or ""
        raise MirrordbError(f'invalid value "{found}" for "{"X" * max(width, 1)}"',
                            sqlstate="22007",
                            detail="Value must be an integer.")
    return int(digits), position, digits


def _parse_with_template(text: str, template: str) -> _ParsedTemplate:
    parsed = _ParsedTemplate()
    position = 0
    nodes = _parse_template(template)
    for index, node in enumerate(nodes):
        if node.keyword is None:
            if position < len(text) and (text[position] == node.text or
                                         not text[position].isalnum()):
                position += 1
            continue
        while position < len(text) and text[position] == " " and node.keyword is not None:
            position += 1
        following_is_keyword = index + 1 < len(nodes) and nodes[index + 1].keyword is not None
        position = _parse_template_field(parsed, node, text, position,
                                         greedy=not following_is_keyword)
    return parsed


def _parse_template_field(parsed: _ParsedTemplate, node: _TemplateNode, text: str,
                          position: int, greedy: bool) -> int:
    keyword = node.keyword or ""
    if keyword in ("MONTH", "Month", "MON", "Mon"):
        return _parse_month_name(parsed, text, position, keyword.upper() == "MON")
    if keyword in ("DAY", "Day", "DY", "Dy"):
        while position < len(text) and text[position].isalpha():
            position += 1
        return position
    if keyword in ("AM", "PM", "A.M.", "P.M."):
        word = text[position:position + len(keyword)].upper()
        parsed.meridian = "p" if word.startswith("P") else "a"
        return position + len(keyword)
    if keyword in ("AD", "BC", "A.D.", "B.C."):
        return position + len(keyword)
    if keyword in ("TZH", "TZM", "OF", "TZ"):
        return _parse_template_zone(parsed, keyword, text, position)
    width = _NUMERIC_FIELD_WIDTHS.get(keyword)
    if width is None:
        return position
    value, position, digits = _read_template_number(text, position, width,
                                                    greedy and keyword.startswith("Y"))
    _store_template_number(parsed, keyword, value, digits)
    return position


def _parse_month_name(parsed: _ParsedTemplate, text: str, position: int,
                      abbreviated: bool) -> int:
    word_end = position
    while word_end < len(text) and text[word_end].isalpha():
        word_end += 1
    word = text[position:word_end].lower()
    for number, name in enumerate(_MONTH_NAMES, 1):
        if (abbreviated and word[:3] == name[:3]) or word == name:
            parsed.month = number
            return position + (3 if abbreviated else len(name))
    raise MirrordbError(f'invalid value "{text[position:position + 3]}" for '
                        f'"{"MON" if abbreviated else "MONTH"}"', sqlstate="22007",
                        detail="The given value did not match any of the allowed values for "
                               "this field.")


def _parse_template_zone(parsed: _ParsedTemplate, keyword: str, text: str,
                         position: int) -> int:
    if keyword == "TZH":
        value, position, _ = _read_template_number(text, position, 2, False)
        parsed.offset_seconds = value * 3600
    elif keyword == "TZM":
        value, position, _ = _read_template_number(text, position, 2, False)
        current = parsed.offset_seconds or 0
        parsed.offset_seconds = current + (value * 60 if current >= 0 else -value * 60)
    return position


def _store_template_number(parsed: _ParsedTemplate, keyword: str, value: int,
                           digits: str) -> None:
    if keyword in ("YYYY", "IYYY"):
        parsed.year = value
    elif keyword in ("YYY", "YY", "Y"):
        parsed.year = value
        parsed.two_digit_year = len(digits.lstrip("+-")) <= 2
    elif keyword == "MM":
        parsed.month = value
    elif keyword == "DD":
        parsed.day = value
    elif keyword == "DDD":
        parsed.day_of_year = value
    elif keyword in ("HH", "HH12", "HH24"):
        parsed.hour = value
        if keyword != "HH24" and not 1 <= value <= 12:
            raise MirrordbError(f'hour "{value}" is invalid for the 12-hour clock',
                                sqlstate="22008",
                                hint="Use the 24-hour clock, or give an hour between 1 and 12.")
    elif keyword == "MI":
        parsed.minute = value
    elif keyword == "SS":
        parsed.second = value
    elif keyword == "MS":
        parsed.microsecond = value * 1000
    elif keyword == "US" or keyword.startswith("FF"):
        parsed.microsecond = int(digits.ljust(6, "0")[:6]) if keyword != "US" else value


def _template_timestamp(text: str, template: str) -> tuple[datetime.datetime, int | None]:
    parsed = _parse_with_template(text, template)
    year = parsed.year if parsed.year is not None else 0
    if parsed.two_digit_year:
        year += 2000 if year < 70 else 1900
    hour = parsed.hour
    if parsed.meridian == "p" and hour < 12:
        hour += 12
    elif parsed.meridian == "a" and hour == 12:
        hour = 0
    if year < 1 or year > 9999:
        raise MirrordbError(f'date out of range: "{text}"', sqlstate="22008")
    try:
        if parsed.day_of_year is not None:
            day = datetime.date(year, 1, 1) + datetime.timedelta(days=parsed.day_of_year - 1)
        else:
            day = datetime.date(year, parsed.month, parsed.day)
        moment = datetime.datetime(day.year, day.month, day.day) + datetime.timedelta(
            hours=hour, minutes=parsed.minute, seconds=parsed.second,
            microseconds=parsed.microsecond)
    except (ValueError, OverflowError):
        raise field_out_of_range(text) from None
    if not (0 <= hour <= 24 and 0 <= parsed.minute <= 59 and 0 <= parsed.second <= 60):
        raise field_out_of_range(text)
    return moment, parsed.offset_seconds


def to_date(text: str, template: str) -> datetime.date:
    moment, _ = _template_timestamp(text, template)
    return moment.date()


def to_timestamp(text: str, template: str, timezone: str) -> datetime.datetime:
    moment, offset = _template_timestamp(text, template)
    if offset is not None:
        return (moment - datetime.timedelta(seconds=offset)).replace(tzinfo=UTC)
    return local_to_utc(moment, get_zone(timezone))
