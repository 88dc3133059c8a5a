"""Built-in SQL functions and PostgreSQL's rules for choosing among overloaded candidates.

Who calls it: the planner resolves each function call once, at plan time, with
``resolve_function(name, argument types)``; it casts the arguments to ``arg_types`` of the
answer and calls ``definition.impl`` per row (only with non-NULL arguments when the function is
strict; with a ``FunctionContext`` first when ``needs_context``). ``operators.py`` and
``aggregates.py`` share the candidate selection here (``select_candidate``), which follows
PostgreSQL's func_select_candidate: exact match, then the candidates every argument can reach by
implicit casts, then most exact matches, then preferred types, then unknown literals resolved by
type category (string wins), then "unknowns take the one known type".

Polymorphic candidates (anyelement, anyarray, anynonarray, anycompatible, anycompatiblearray,
"any") are specialised at resolution: the answer's ``definition`` is a concrete FunctionDef whose
argument and result types are the actual ones, its ``impl`` built for them by the candidate's
``impl_factory``.

The function bodies live in this module (strings, math, date/time, JSON, misc); numbers and dates
defer to numeric.py and datetime.py. Catalog facts (pg_proc OIDs of the common functions) are in
``_PROC_OIDS``.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import math
import random
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import datetime as dt
from mirrordb.sql import numeric as num
from mirrordb.sql import types as T
from mirrordb.sql.types import (ANY_OID, ANYARRAY_OID, ANYCOMPATIBLE_OID, ANYCOMPATIBLEARRAY_OID,
                                ANYELEMENT_OID, ANYNONARRAY_OID, BOOL_OID, BPCHAR_OID, BYTEA_OID,
                                DATE_OID, FLOAT4_OID, FLOAT8_OID, INT2_OID, INT4_OID,
                                INT8_OID, INTERVAL_OID, JSON_OID, JSONB_OID, NUMERIC_OID,
                                OID_OID, REGCLASS_OID, REGTYPE_OID, TEXT_ARRAY_OID, TEXT_OID,
                                TIME_OID, TIMESTAMP_OID, TIMESTAMPTZ_OID, UNKNOWN_OID, UUID_OID,
                                VOID_OID, Interval)

# -- limits ----------------------------------------------------------------------------------------

MAX_STRING_RESULT_CHARS = 1 << 28          # repeat()/lpad() results beyond this are refused
MAX_FUNCTION_ARGUMENTS = 100               # PostgreSQL's FUNC_MAX_ARGS
MAX_CACHED_PATTERNS = 256                  # compiled regular expressions kept


# -- definitions -----------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class FunctionContext:
    """Per-statement facts a context-needing function reads; the executor fills it."""

    timezone: str
    transaction_timestamp: datetime.datetime
    statement_timestamp: datetime.datetime


@dataclass(slots=True, eq=False)
class FunctionDef:
    """One pg_proc entry (a candidate of an overloaded name)."""

    name: str
    arg_types: tuple[int, ...]
    result_type: int
    impl: Callable[..., Any]
    strict: bool = True
    volatility: str = "i"                  # 'i' immutable, 's' stable, 'v' volatile
    variadic_type: int | None = None       # element type of a VARIADIC last parameter
    needs_context: bool = False            # impl(context, *args)
    oid: int = 0                           # pg_proc.oid when known
    impl_factory: Callable[[tuple[int, ...]], Callable[..., Any]] | None = None


@dataclass(slots=True, eq=False)
class ResolvedFunction:
    """A resolved call: the (specialised) definition and the types to cast the arguments to."""

    definition: FunctionDef
    arg_types: tuple[int, ...]


# -- candidate selection (shared with operators and aggregates) -------------------------------


@dataclass(slots=True, eq=False)
class Candidate:
    """A candidate signature: declared argument types, with ``payload`` the thing it stands for."""

    arg_types: tuple[int, ...]
    payload: Any


class NoCandidate(Exception):
    """No candidate accepts the arguments."""


class AmbiguousCandidates(Exception):
    """Several candidates remain after every tie-breaking rule."""


def _coercible(source: int, target: int) -> bool:
    if target == ANY_OID:
        return True
    if target in T.POLYMORPHIC_OIDS:
        return source == UNKNOWN_OID or T.can_coerce(source, target)
    return T.can_coerce(source, target)


def _polymorphic_types(input_types: Sequence[int], declared: Sequence[int]
                       ) -> dict[str, int] | None:
    """The element types the polymorphic parameters stand for, or None if they disagree."""
    element: int | None = None
    compatible: list[int] = []
    for actual, wanted in zip(input_types, declared):
        if actual == UNKNOWN_OID:
            continue
        if wanted in (ANYELEMENT_OID, ANYNONARRAY_OID):
            if wanted == ANYNONARRAY_OID and T.is_array_type(actual):
                return None
            if element is not None and element != actual:
                return None
            element = actual
        elif wanted == ANYARRAY_OID:
            element_of = T.element_type_of(actual)
            if not element_of or (element is not None and element != element_of):
                return None
            element = element_of
        elif wanted == ANYCOMPATIBLE_OID:
            compatible.append(actual)
        elif wanted == ANYCOMPATIBLEARRAY_OID:
            element_of = T.element_type_of(actual)
            if not element_of:
                return None
            compatible.append(element_of)
    result = {"element": element if element is not None else 0}
    if compatible:
        try:
            result["compatible"] = T.common_type(compatible, "function")
        except MirrordbError:
            return None
    else:
        result["compatible"] = 0
    return result


def _accepts(input_types: Sequence[int], declared: Sequence[int]) -> bool:
    if len(input_types) != len(declared):
        return False
    if not all(_coercible(actual, wanted) for actual, wanted in zip(input_types, declared)):
        return False
    if any(wanted in T.POLYMORPHIC_OIDS for wanted in declared):
        return _polymorphic_types(input_types, declared) is not None
    return True


def select_candidate(input_types: Sequence[int], candidates: Sequence[Candidate]) -> Candidate:
    """PostgreSQL's overload resolution among ``candidates`` for arguments of ``input_types``
    (UNKNOWN_OID for untyped literals). Raises NoCandidate or AmbiguousCandidates."""
    inputs = tuple(input_types)
    for candidate in candidates:
        if candidate.arg_types == inputs:
            return candidate
    viable = [candidate for candidate in candidates if _accepts(inputs, candidate.arg_types)]
    if not viable:
        raise NoCandidate()
    if len(viable) == 1:
        return viable[0]
    viable = _keep_best(viable, lambda c: _exact_matches(inputs, c.arg_types))
    if len(viable) == 1:
        return viable[0]
    viable = _keep_best(viable, lambda c: _preferred_matches(inputs, c.arg_types))
    if len(viable) == 1:
        return viable[0]
    resolved = _resolve_unknown_slots(inputs, viable)
    if resolved is not None and len(resolved) == 1:
        return resolved[0]
    if resolved:
        viable = resolved
    return _assume_known_type(inputs, viable)


def _keep_best(candidates: list[Candidate], score: Callable[[Candidate], int]) -> list[Candidate]:
    scores = [score(candidate) for candidate in candidates]
    best = max(scores)
    return [candidate for candidate, value in zip(candidates, scores) if value == best]


def _exact_matches(inputs: Sequence[int], declared: Sequence[int]) -> int:
    return sum(1 for actual, wanted in zip(inputs, declared)
               if actual != UNKNOWN_OID and actual == wanted)


def _preferred_matches(inputs: Sequence[int], declared: Sequence[int]) -> int:
    count = 0
    for actual, wanted in zip(inputs, declared):
        if actual == UNKNOWN_OID:
            continue
        if actual == wanted or (T.is_preferred(wanted)
                                and T.type_category(wanted) == T.type_category(actual)):
            count += 1
    return count


def _resolve_unknown_slots(inputs: Sequence[int],
                           candidates: list[Candidate]) -> list[Candidate] | None:
    slots: dict[int, tuple[str, bool]] = {}
    for index, actual in enumerate(inputs):
        if actual != UNKNOWN_OID:
            continue
        slot = _slot_category(index, candidates)
        if slot is None:
            return None
        slots[index] = slot
    if not slots:
        return None
    kept = []
    for candidate in candidates:
        keep = True
        for index, (category, has_preferred) in slots.items():
            wanted = candidate.arg_types[index]
            if T.type_category(wanted) != category or (has_preferred
                                                       and not T.is_preferred(wanted)):
                keep = False
                break
        if keep:
            kept.append(candidate)
    return kept


def _slot_category(index: int, candidates: list[Candidate]) -> tuple[str, bool] | None:
    category: str | None = None
    has_preferred = False
    conflict = False
    for candidate in candidates:
        wanted = candidate.arg_types[index]
        current, preferred = T.type_category(wanted), T.is_preferred(wanted)
        if category is None:
            category, has_preferred = current, preferred
        elif current == category:
            has_preferred = has_preferred or preferred
        elif current == "S":
            category, has_preferred = current, preferred
        else:
            conflict = True
    if category is None or (conflict and category != "S"):
        return None
    return category, has_preferred


def _assume_known_type(inputs: Sequence[int], candidates: list[Candidate]) -> Candidate:
    known = {actual for actual in inputs if actual != UNKNOWN_OID}
    if len(known) == 1 and UNKNOWN_OID in inputs:
        assumed = tuple(next(iter(known)) for _ in inputs)
        matching = [candidate for candidate in candidates
                    if _accepts(assumed, candidate.arg_types)]
        if len(matching) == 1:
            return matching[0]
    raise AmbiguousCandidates()


def concrete_types(input_types: Sequence[int], declared: Sequence[int],
                   result_type: int) -> tuple[tuple[int, ...], int]:
    """The argument types to cast to and the result type of a chosen candidate, with the
    polymorphic parameters replaced by the actual types."""
    if not any(wanted in T.POLYMORPHIC_OIDS or wanted == ANY_OID
               for wanted in (*declared, result_type)):
        return tuple(declared), result_type
    found = _polymorphic_types(input_types, declared) or {"element": 0, "compatible": 0}
    element = found["element"] or (TEXT_OID if any(
        wanted in (ANYELEMENT_OID, ANYNONARRAY_OID, ANYARRAY_OID) for wanted in declared) else 0)
    compatible = found["compatible"] or TEXT_OID

    def substitute(wanted: int, actual: int) -> int:
        if wanted == ANY_OID:
            return actual
        if wanted in (ANYELEMENT_OID, ANYNONARRAY_OID):
            return element
        if wanted == ANYARRAY_OID:
            return T.array_type_of(element)
        if wanted == ANYCOMPATIBLE_OID:
            return compatible
        if wanted == ANYCOMPATIBLEARRAY_OID:
            return T.array_type_of(compatible)
        return wanted
    arguments = tuple(substitute(wanted, actual) for wanted, actual in zip(declared, input_types))
    result = substitute(result_type, UNKNOWN_OID) if result_type != ANY_OID else result_type
    if any(argument == 0 for argument in arguments) or result == 0:
        raise MirrordbError("could not determine polymorphic type because input has type "
                            "unknown", sqlstate="42804")
    return arguments, result


# -- the registry ------------------------------------------------------------------------------

_FUNCTIONS: dict[str, list[FunctionDef]] = {}
_PROC_NAMES_BY_OID: dict[int, str] = {}


def _register(definition: FunctionDef) -> None:
    _FUNCTIONS.setdefault(definition.name, []).append(definition)
    if definition.oid:
        _PROC_NAMES_BY_OID.setdefault(definition.oid, definition.name)


def define(name: str, arg_types: Sequence[int], result_type: int,
           impl: Callable[..., Any] | None = None, *, strict: bool = True,
           volatility: str = "i", variadic_type: int | None = None,
           needs_context: bool = False, oid: int = 0,
           impl_factory: Callable[[tuple[int, ...]], Callable[..., Any]] | None = None) -> None:
    """Add a candidate for ``name`` (module-level tables call this at import)."""
    invariant(impl is not None or impl_factory is not None, f"{name}: no implementation")
    _register(FunctionDef(name, tuple(arg_types), result_type,
                          impl if impl is not None else _unspecialised, strict, volatility,
                          variadic_type, needs_context, oid or _PROC_OIDS.get(name, 0),
                          impl_factory))


def _unspecialised(*args: Any) -> Any:
    raise MirrordbError("internal error: polymorphic function called before resolution",
                        sqlstate="XX000")


def function_exists(name: str) -> bool:
    return name.lower() in _FUNCTIONS


def function_name_by_oid(oid: int) -> str | None:
    return _PROC_NAMES_BY_OID.get(oid)


def function_oid_by_name(name: str) -> int | None:
    definitions = _FUNCTIONS.get(name)
    if not definitions:
        return None
    return next((definition.oid for definition in definitions if definition.oid), None)


def _signature_text(name: str, arg_types: Sequence[int]) -> str:
    return f"{name}({', '.join(T.format_type(oid) for oid in arg_types)})"


def _expand_variadic(definition: FunctionDef, count: int) -> tuple[int, ...] | None:
    fixed = definition.arg_types[:-1]
    if definition.variadic_type is None or count <= len(fixed):
        return None
    return fixed + (definition.variadic_type,) * (count - len(fixed))


def _candidates(name: str, arg_types: Sequence[int]) -> list[Candidate]:
    candidates = []
    for definition in _FUNCTIONS.get(name, []):
        declared = definition.arg_types
        if definition.variadic_type is not None:
            expanded = _expand_variadic(definition, len(arg_types))
            if expanded is None:
                continue
            declared = expanded
        if len(declared) == len(arg_types):
            candidates.append(Candidate(declared, definition))
    return candidates


def candidates_for(name: str, arg_types: Sequence[int]) -> list[Candidate]:
    """The built-in candidates of ``name`` for that many arguments (user functions are
    resolved together with them: sql/user_functions.py)."""
    return _candidates(name.lower(), arg_types)


def resolve_function(name: str, arg_types: Sequence[int]) -> ResolvedFunction:
    """The function a call ``name(args)`` runs, with the types to cast its arguments to.
    42883 when nothing matches, 42725 when the choice is ambiguous."""
    lowered = name.lower()
    if lowered.startswith("pg_catalog."):
        lowered = lowered[len("pg_catalog."):]
    if len(arg_types) > MAX_FUNCTION_ARGUMENTS:
        raise MirrordbError(f"cannot pass more than {MAX_FUNCTION_ARGUMENTS} arguments to a "
                            f"function", sqlstate="54023")
    if any(oid >= T.FIRST_USER_TYPE_OID for oid in arg_types):
        from mirrordb.sql import user_types
        enum_function = user_types.enum_function(lowered, arg_types)
        if enum_function is not None:
            return enum_function
        if lowered != "pg_typeof":
            arg_types = [T.base_type(oid) for oid in arg_types]
    try:
        chosen = select_candidate(arg_types, _candidates(lowered, arg_types))
    except NoCandidate:
        cast = _function_style_cast(lowered, arg_types)
        if cast is not None:
            return cast
        raise MirrordbError(f"function {_signature_text(lowered, arg_types)} does not exist",
                            sqlstate="42883",
                            hint="No function matches the given name and argument types. "
                                 "You might need to add explicit type casts.") from None
    except AmbiguousCandidates:
        raise MirrordbError(f"function {_signature_text(lowered, arg_types)} is not unique",
                            sqlstate="42725",
                            hint="Could not choose a best candidate function. You might need "
                                 "to add explicit type casts.") from None
    return _specialise(chosen.payload, chosen.arg_types, arg_types)


def _specialise(definition: FunctionDef, declared: Sequence[int],
                arg_types: Sequence[int]) -> ResolvedFunction:
    arguments, result = concrete_types(arg_types, declared, definition.result_type)
    if definition.impl_factory is not None:
        definition = replace(definition, impl=definition.impl_factory(arguments),
                             result_type=result, arg_types=arguments, impl_factory=None)
    elif result != definition.result_type:
        definition = replace(definition, result_type=result)
    return ResolvedFunction(definition, arguments)


def _function_style_cast(name: str, arg_types: Sequence[int]) -> ResolvedFunction | None:
    """int4(x), text(x), float8(x)...: a one-argument call named after a type is a cast."""
    if len(arg_types) != 1:
        return None
    try:
        target, _ = T.resolve_type_name([name], [])
    except MirrordbError:
        return None
    source = arg_types[0]
    if T.cast_context(source, target) is None:
        return None

    def convert(context: FunctionContext, value: Any) -> Any:
        return T.cast(value, source, target, context=T.EXPLICIT, timezone=context.timezone)
    definition = FunctionDef(name, (source,), target, convert, volatility="s",
                             needs_context=True)
    return ResolvedFunction(definition, (source,))


# pg_proc OIDs of common functions (the first overload's), for regproc output and pg_proc.
_PROC_OIDS: dict[str, int] = {
    "abs": 1397, "length": 1317, "lower": 870, "upper": 871, "now": 1299, "substr": 877,
    "replace": 2087, "concat": 3058, "concat_ws": 3059, "round": 1342, "trunc": 1343,
    "sqrt": 230, "floor": 2309, "ceil": 2308, "random": 1598, "version": 89,
    "pg_typeof": 1619, "format_type": 1081, "date_trunc": 2020, "date_part": 1171,
    "extract": 6202, "to_char": 2049, "md5": 2311, "btrim": 884, "ltrim": 875, "rtrim": 876,
    "gen_random_uuid": 3432, "count": 2803, "sum": 2108, "avg": 2101, "min": 2132,
    "max": 2116, "array_agg": 2335, "string_agg": 3538,
}


# -- shared helpers ----------------------------------------------------------------------------


def _ascii_lower(text: str) -> str:
    """lower() under lc_ctype C: only ASCII letters change."""
    return text.translate(_ASCII_LOWER)


def _ascii_upper(text: str) -> str:
    return text.translate(_ASCII_UPPER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _check_length(length: int) -> int:
    if length > MAX_STRING_RESULT_CHARS:
        raise MirrordbError("requested length too large", sqlstate="54000")
    return length


def _text_of(oid: int) -> Callable[[Any], str]:
    """The text a value of ``oid`` is shown as (for concat, format, ||)."""
    output = T.text_output(oid)
    zone_dependent = oid == TIMESTAMPTZ_OID or T.element_type_of(oid) == TIMESTAMPTZ_OID

    def text(value: Any) -> str:
        return output(value, T.session_timezone() if zone_dependent else "UTC")
    return text


# -- string functions ------------------------------------------------------------------------------


def _substring(text: str, start: int, length: int | None = None) -> str:
    """substr/substring with SQL's rules for starts before 1."""
    if length is not None and length < 0:
        raise MirrordbError("negative substring length not allowed", sqlstate="22011")
    begin = start - 1
    end = len(text) if length is None else begin + length
    return text[max(begin, 0):max(end, 0)]


def _bytes_substring(data: bytes, start: int, length: int | None = None) -> bytes:
    if length is not None and length < 0:
        raise MirrordbError("negative substring length not allowed", sqlstate="22011")
    begin = start - 1
    end = len(data) if length is None else begin + length
    return data[max(begin, 0):max(end, 0)]


def _strpos(text: str, needle: str) -> int:
    return text.find(needle) + 1


def _trim_function(side: str) -> Callable[..., str]:
    def trim(text: str, characters: str = " ") -> str:
        if side == "both":
            return text.strip(characters) if characters else text
        if side == "leading":
            return text.lstrip(characters) if characters else text
        return text.rstrip(characters) if characters else text
    return trim


def _bytes_trim(data: bytes, characters: bytes) -> bytes:
    return data.strip(characters) if characters else data


def _initcap(text: str) -> str:
    """initcap under lc_ctype C: words are runs of ASCII letters and digits."""
    output: list[str] = []
    in_word = False
    for character in text:
        alphanumeric = character.isascii() and character.isalnum()
        if alphanumeric:
            output.append(_ascii_lower(character) if in_word else _ascii_upper(character))
        else:
            output.append(character)
        in_word = alphanumeric
    return "".join(output)


def _left(text: str, count: int) -> str:
    return text[:count] if count >= 0 else text[:max(len(text) + count, 0)]


def _right(text: str, count: int) -> str:
    if count >= 0:
        return text[len(text) - count:] if count < len(text) else text
    return text[min(-count, len(text)):]


def _repeat(text: str, count: int) -> str:
    if count <= 0:
        return ""
    _check_length(len(text) * count)
    return text * count


def _pad(left_side: bool) -> Callable[..., str]:
    def pad(text: str, length: int, fill: str = " ") -> str:
        if length <= 0:
            return ""
        _check_length(length)
        if len(text) >= length or not fill:
            return text[:length]
        needed = length - len(text)
        padding = (fill * (needed // len(fill) + 1))[:needed]
        return padding + text if left_side else text + padding
    return pad


def _split_part(text: str, delimiter: str, field: int) -> str:
    if field == 0:
        raise MirrordbError("field position must not be zero", sqlstate="22023")
    if not delimiter:
        return text if field in (1, -1) else ""
    parts = text.split(delimiter)
    index = field - 1 if field > 0 else len(parts) + field
    return parts[index] if 0 <= index < len(parts) else ""


def _to_hex(bits: int) -> Callable[[int], str]:
    return lambda value: format(value & ((1 << bits) - 1), "x")


def _chr(code: int) -> str:
    if code == 0:
        raise MirrordbError("null character not permitted", sqlstate="54000")
    if code < 0:
        raise MirrordbError("character number must be positive", sqlstate="54000")
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise MirrordbError(f"requested character too large for encoding: {code}",
                            sqlstate="54000")
    return chr(code)


def _ascii(text: str) -> int:
    return ord(text[0]) if text else 0


def _keywords_needing_quotes() -> frozenset[str]:
    from pglast import keywords
    return frozenset(keywords.RESERVED_KEYWORDS | keywords.COL_NAME_KEYWORDS
                     | keywords.TYPE_FUNC_NAME_KEYWORDS)


_QUOTED_KEYWORDS = _keywords_needing_quotes()
_SIMPLE_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]*\Z")


def quote_ident(name: str) -> str:
    """An identifier quoted only when SQL needs it (PostgreSQL's quote_identifier)."""
    if _SIMPLE_IDENTIFIER.match(name) and name not in _QUOTED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    quoted = "'" + text.replace("'", "''").replace("\\", "\\\\") + "'"
    return "E" + quoted if "\\" in text else quoted


def _quote_literal_any(oid: int) -> Callable[[Any], str]:
    text = _text_of(oid)
    return lambda value: quote_literal(text(value))


def _quote_nullable_any(oid: int) -> Callable[[Any], str]:
    text = _text_of(oid)
    return lambda value: "NULL" if value is None else quote_literal(text(value))


def _concat_factory(arg_types: tuple[int, ...]) -> Callable[..., str]:
    texts = [_text_of(oid) for oid in arg_types]

    def concat(*values: Any) -> str:
        return "".join(text(value) for text, value in zip(texts, values) if value is not None)
    return concat


def _concat_ws_factory(arg_types: tuple[int, ...]) -> Callable[..., str | None]:
    texts = [_text_of(oid) for oid in arg_types[1:]]

    def concat_ws(separator: str | None, *values: Any) -> str | None:
        if separator is None:
            return None
        return separator.join(text(value) for text, value in zip(texts, values)
                              if value is not None)
    return concat_ws


_FORMAT_SPEC = re.compile(r"%(?:(\d+)\$)?(-)?(\d+|\*)?([sIL%])")


def _format_factory(arg_types: tuple[int, ...]) -> Callable[..., str | None]:
    texts = [_text_of(oid) for oid in arg_types[1:]]

    def format_function(template: str | None, *values: Any) -> str | None:
        if template is None:
            return None
        return _apply_format(template, [None if value is None else text(value)
                                        for text, value in zip(texts, values)])
    return format_function


def _apply_format(template: str, values: list[str | None]) -> str:
    output: list[str] = []
    position = 0
    next_argument = 0
    while position < len(template):
        percent = template.find("%", position)
        if percent < 0:
            output.append(template[position:])
            break
        output.append(template[position:percent])
        match = _FORMAT_SPEC.match(template, percent)
        if match is None:
            raise MirrordbError("unterminated format() type specifier" if percent + 1 >=
                                len(template) else
                                f'unrecognized format() type specifier "{template[percent + 1]}"',
                                sqlstate="22023",
                                hint='For a single "%" use "%%".')
        number, minus, width, kind = match.groups()
        position = match.end()
        if kind == "%":
            output.append("%")
            continue
        if number is not None:
            next_argument = int(number) - 1
        if width == "*":
            raise MirrordbError("format() width from an argument is not supported",
                                sqlstate="0A000")
        if next_argument >= len(values) or next_argument < 0:
            raise MirrordbError("too few arguments for format()", sqlstate="22023")
        value = values[next_argument]
        next_argument += 1
        output.append(_format_one(kind, value, minus is not None, int(width or 0)))
    return "".join(output)


def _format_one(kind: str, value: str | None, left_align: bool, width: int) -> str:
    if kind == "I":
        if value is None:
            raise MirrordbError("null values cannot be formatted as an SQL identifier",
                                sqlstate="22004")
        text = quote_ident(value)
    elif kind == "L":
        text = "NULL" if value is None else quote_literal(value)
    else:
        text = "" if value is None else value
    if len(text) < width:
        text = text.ljust(width) if left_align else text.rjust(width)
    return text


def _translate(text: str, source: str, target: str) -> str:
    table: dict[int, int | None] = {}
    for index, character in enumerate(source):
        if ord(character) not in table:
            table[ord(character)] = ord(target[index]) if index < len(target) else None
    return text.translate(table)


def _regex_flags(flags: str) -> tuple[bool, bool]:
    """(global, case-insensitive) from regexp_* flags."""
    for flag in flags:
        if flag not in "gicnpsmwx":
            raise MirrordbError(f'invalid regular expression option: "{flag}"',
                                sqlstate="22023")
    return "g" in flags, "i" in flags


def _regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    from mirrordb.sql.operators import compile_regex
    return compile_regex(pattern, case_insensitive)


_REPLACEMENT_REFERENCE = re.compile(r"\\([0-9&\\])")


def _regexp_replace(text: str, pattern: str, replacement: str, flags: str = "") -> str:
    global_flag, insensitive = _regex_flags(flags)
    compiled = _regex(pattern, insensitive)
    return compiled.sub(lambda match: regexp_replacement(match, replacement), text,
                        count=0 if global_flag else 1)


def regexp_replacement(match: re.Match[str], replacement: str) -> str:
    """regexp_replace's replacement text for one match: \\n the n-th group, \\& the whole
    match, \\\\ a backslash."""
    def reference(ref: re.Match[str]) -> str:
        name = ref.group(1)
        if name == "\\":
            return "\\"
        if name == "&":
            return match.group(0)
        index = int(name)
        if index > match.re.groups:
            return ""
        return match.group(index) or ""
    return _REPLACEMENT_REFERENCE.sub(reference, replacement)


def _regexp_match(text: str, pattern: str, flags: str = "") -> list[str | None] | None:
    global_flag, insensitive = _regex_flags(flags)
    if global_flag:
        raise MirrordbError("regexp_match() does not support the \"global\" option",
                            sqlstate="22023", hint="Use the regexp_matches function instead.")
    match = _regex(pattern, insensitive).search(text)
    if match is None:
        return None
    if match.re.groups == 0:
        return [match.group(0)]
    return list(match.groups())


def _regexp_like(text: str, pattern: str, flags: str = "") -> bool:
    _, insensitive = _regex_flags(flags)
    return _regex(pattern, insensitive).search(text) is not None


def _regexp_count(text: str, pattern: str, start: int = 1, flags: str = "") -> int:
    if start <= 0:
        raise MirrordbError(f'invalid value for parameter "start": {start}', sqlstate="22023")
    _, insensitive = _regex_flags(flags)
    return sum(1 for _ in _regex(pattern, insensitive).finditer(text, start - 1))


def _regexp_split_to_array(text: str, pattern: str, flags: str = "") -> list[str | None]:
    _, insensitive = _regex_flags(flags)
    compiled = _regex(pattern, insensitive)
    pieces: list[str | None] = []
    position = 0
    for match in compiled.finditer(text):
        if match.end() == match.start() and (match.start() == 0 or match.start() >= len(text)):
            continue
        if match.end() == match.start():
            pieces.append(text[position:match.start()])
            position = match.start()
            continue
        pieces.append(text[position:match.start()])
        position = match.end()
    pieces.append(text[position:])
    if not text:
        return [""]
    return pieces


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _string_to_array(text: str, delimiter: str | None, null_string: str | None = None
                     ) -> list[str | None]:
    if text == "":
        return []
    if delimiter is None:
        pieces: list[str] = list(text)
    elif delimiter == "":
        pieces = [text]
    else:
        pieces = text.split(delimiter)
    return [None if null_string is not None and piece == null_string else piece
            for piece in pieces]


def _array_to_string_factory(arg_types: tuple[int, ...]) -> Callable[..., str | None]:
    text = _text_of(T.element_type_of(arg_types[0]))

    def array_to_string(values: list[Any], delimiter: str, null_string: str | None = None
                        ) -> str:
        pieces = []
        for value in values:
            if value is None:
                if null_string is not None:
                    pieces.append(null_string)
            else:
                pieces.append(text(value))
        return delimiter.join(pieces)
    return array_to_string


def _array_length(values: list[Any], dimension: int) -> int | None:
    return len(values) if dimension == 1 and values else None


def _array_upper(values: list[Any], dimension: int) -> int | None:
    return len(values) if dimension == 1 and values else None


def _array_lower(values: list[Any], dimension: int) -> int | None:
    return 1 if dimension == 1 and values else None


def _array_position_factory(arg_types: tuple[int, ...]) -> Callable[..., int | None]:
    key = T.sort_key(T.element_type_of(arg_types[0]))

    def array_position(values: list[Any], wanted: Any) -> int | None:
        wanted_key = None if wanted is None else key(wanted)
        for index, value in enumerate(values, 1):
            if (value is None and wanted is None) or (value is not None and wanted is not None
                                                      and key(value) == wanted_key):
                return index
        return None
    return array_position


def _array_remove_factory(arg_types: tuple[int, ...]) -> Callable[..., list[Any]]:
    key = T.sort_key(T.element_type_of(arg_types[0]))

    def array_remove(values: list[Any], unwanted: Any) -> list[Any]:
        if unwanted is None:
            return [value for value in values if value is not None]
        unwanted_key = key(unwanted)
        return [value for value in values if value is None or key(value) != unwanted_key]
    return array_remove


def _strict_array(function: Callable[..., Any]) -> Callable[..., Any]:
    def call(values: list[Any] | None, *rest: Any) -> Any:
        if values is None:
            return None
        return function(values, *rest)
    return call


def _define_string_functions() -> None:
    for name in ("length", "char_length", "character_length"):
        define(name, [TEXT_OID], INT4_OID, len)
        define(name, [BPCHAR_OID], INT4_OID, lambda text: len(text.rstrip(" ")))
    define("length", [BYTEA_OID], INT4_OID, len)
    define("octet_length", [TEXT_OID], INT4_OID, lambda text: len(text.encode("utf-8")))
    define("octet_length", [BPCHAR_OID], INT4_OID, lambda text: len(text.encode("utf-8")))
    define("octet_length", [BYTEA_OID], INT4_OID, len)
    define("bit_length", [TEXT_OID], INT4_OID, lambda text: 8 * len(text.encode("utf-8")))
    define("bit_length", [BYTEA_OID], INT4_OID, lambda data: 8 * len(data))
    define("lower", [TEXT_OID], TEXT_OID, _ascii_lower)
    define("upper", [TEXT_OID], TEXT_OID, _ascii_upper)
    define("initcap", [TEXT_OID], TEXT_OID, _initcap)
    for name in ("substr", "substring"):
        define(name, [TEXT_OID, INT4_OID], TEXT_OID, _substring)
        define(name, [TEXT_OID, INT4_OID, INT4_OID], TEXT_OID, _substring)
        define(name, [BYTEA_OID, INT4_OID], BYTEA_OID, _bytes_substring)
        define(name, [BYTEA_OID, INT4_OID, INT4_OID], BYTEA_OID, _bytes_substring)
    define("strpos", [TEXT_OID, TEXT_OID], INT4_OID, _strpos)
    define("position", [TEXT_OID, TEXT_OID], INT4_OID, _strpos)
    define("position", [BYTEA_OID, BYTEA_OID], INT4_OID, lambda data, part: data.find(part) + 1)
    for name, side in (("btrim", "both"), ("ltrim", "leading"), ("rtrim", "trailing")):
        define(name, [TEXT_OID], TEXT_OID, _trim_function(side))
        define(name, [TEXT_OID, TEXT_OID], TEXT_OID, _trim_function(side))
    define("btrim", [BYTEA_OID, BYTEA_OID], BYTEA_OID, _bytes_trim)
    define("replace", [TEXT_OID, TEXT_OID, TEXT_OID], TEXT_OID,
           lambda text, old, new: text.replace(old, new) if old else text)
    define("concat", [ANY_OID], TEXT_OID, strict=False, variadic_type=ANY_OID,
           volatility="s", impl_factory=_concat_factory)
    define("concat_ws", [TEXT_OID, ANY_OID], TEXT_OID, strict=False, variadic_type=ANY_OID,
           volatility="s", impl_factory=_concat_ws_factory)
    define("format", [TEXT_OID], TEXT_OID, lambda template: _apply_format(template, []),
           volatility="s")
    define("format", [TEXT_OID, ANY_OID], TEXT_OID, strict=False, variadic_type=ANY_OID,
           volatility="s", impl_factory=_format_factory)
    define("left", [TEXT_OID, INT4_OID], TEXT_OID, _left)
    define("right", [TEXT_OID, INT4_OID], TEXT_OID, _right)
    define("repeat", [TEXT_OID, INT4_OID], TEXT_OID, _repeat)
    define("reverse", [TEXT_OID], TEXT_OID, lambda text: text[::-1])
    define("lpad", [TEXT_OID, INT4_OID], TEXT_OID, _pad(True))
    define("lpad", [TEXT_OID, INT4_OID, TEXT_OID], TEXT_OID, _pad(True))
    define("rpad", [TEXT_OID, INT4_OID], TEXT_OID, _pad(False))
    define("rpad", [TEXT_OID, INT4_OID, TEXT_OID], TEXT_OID, _pad(False))
    define("split_part", [TEXT_OID, TEXT_OID, INT4_OID], TEXT_OID, _split_part)
    define("md5", [TEXT_OID], TEXT_OID, _md5)
    define("md5", [BYTEA_OID], TEXT_OID, _md5_bytes)
    define("to_hex", [INT4_OID], TEXT_OID, _to_hex(32))
    define("to_hex", [INT8_OID], TEXT_OID, _to_hex(64))
    define("chr", [INT4_OID], TEXT_OID, _chr)
    define("ascii", [TEXT_OID], INT4_OID, _ascii)
    define("quote_ident", [TEXT_OID], TEXT_OID, quote_ident)
    define("quote_literal", [TEXT_OID], TEXT_OID, quote_literal)
    define("quote_literal", [ANYELEMENT_OID], TEXT_OID, volatility="s",
           impl_factory=lambda types: _quote_literal_any(types[0]))
    define("quote_nullable", [TEXT_OID], TEXT_OID, strict=False,
           impl=lambda text: "NULL" if text is None else quote_literal(text))
    define("quote_nullable", [ANYELEMENT_OID], TEXT_OID, strict=False, volatility="s",
           impl_factory=lambda types: _quote_nullable_any(types[0]))
    define("starts_with", [TEXT_OID, TEXT_OID], BOOL_OID, lambda text, prefix:
           text.startswith(prefix))
    define("translate", [TEXT_OID, TEXT_OID, TEXT_OID], TEXT_OID, _translate)
    define("like_escape", [TEXT_OID, TEXT_OID], TEXT_OID, _like_escape)
    _define_regex_functions()


def _like_escape(pattern: str, escape: str) -> str:
    from mirrordb.sql.operators import like_escape
    return like_escape(pattern, escape)


def _define_regex_functions() -> None:
    define("regexp_replace", [TEXT_OID, TEXT_OID, TEXT_OID], TEXT_OID, _regexp_replace)
    define("regexp_replace", [TEXT_OID, TEXT_OID, TEXT_OID, TEXT_OID], TEXT_OID, _regexp_replace)
    define("regexp_match", [TEXT_OID, TEXT_OID], TEXT_ARRAY_OID, _regexp_match)
    define("regexp_match", [TEXT_OID, TEXT_OID, TEXT_OID], TEXT_ARRAY_OID, _regexp_match)
    define("regexp_like", [TEXT_OID, TEXT_OID], BOOL_OID, _regexp_like)
    define("regexp_like", [TEXT_OID, TEXT_OID, TEXT_OID], BOOL_OID, _regexp_like)
    define("regexp_count", [TEXT_OID, TEXT_OID], INT4_OID, _regexp_count)
    define("regexp_count", [TEXT_OID, TEXT_OID, INT4_OID], INT4_OID, _regexp_count)
    define("regexp_split_to_array", [TEXT_OID, TEXT_OID], TEXT_ARRAY_OID,
           _regexp_split_to_array)
    define("regexp_split_to_array", [TEXT_OID, TEXT_OID, TEXT_OID], TEXT_ARRAY_OID,
           _regexp_split_to_array)


def _define_array_functions() -> None:
    define("string_to_array", [TEXT_OID, TEXT_OID], TEXT_ARRAY_OID, strict=False,
           impl=lambda text, delimiter: None if text is None else
           _string_to_array(text, delimiter))
    define("string_to_array", [TEXT_OID, TEXT_OID, TEXT_OID], TEXT_ARRAY_OID, strict=False,
           impl=lambda text, delimiter, null_string: None if text is None else
           _string_to_array(text, delimiter, null_string))
    define("array_to_string", [ANYARRAY_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl_factory=_array_to_string_factory)
    define("array_to_string", [ANYARRAY_OID, TEXT_OID, TEXT_OID], TEXT_OID, strict=False,
           volatility="s", impl_factory=lambda types: _strict_array(
               _array_to_string_factory(types)))
    define("array_length", [ANYARRAY_OID, INT4_OID], INT4_OID, _array_length)
    define("array_upper", [ANYARRAY_OID, INT4_OID], INT4_OID, _array_upper)
    define("array_lower", [ANYARRAY_OID, INT4_OID], INT4_OID, _array_lower)
    define("cardinality", [ANYARRAY_OID], INT4_OID, len)
    define("array_append", [ANYCOMPATIBLEARRAY_OID, ANYCOMPATIBLE_OID], ANYCOMPATIBLEARRAY_OID,
           strict=False, impl=lambda values, value: (values or []) + [value])
    define("array_prepend", [ANYCOMPATIBLE_OID, ANYCOMPATIBLEARRAY_OID], ANYCOMPATIBLEARRAY_OID,
           strict=False, impl=lambda value, values: [value] + (values or []))
    define("array_cat", [ANYCOMPATIBLEARRAY_OID, ANYCOMPATIBLEARRAY_OID],
           ANYCOMPATIBLEARRAY_OID, strict=False,
           impl=lambda left, right: None if left is None and right is None else
           (left or []) + (right or []))
    define("array_position", [ANYCOMPATIBLEARRAY_OID, ANYCOMPATIBLE_OID], INT4_OID,
           strict=False, impl_factory=lambda types: _strict_array(
               _array_position_factory(types)))
    define("array_remove", [ANYARRAY_OID, ANYELEMENT_OID], ANYARRAY_OID, strict=False,
           impl_factory=lambda types: _strict_array(_array_remove_factory(types)))


# -- math ------------------------------------------------------------------------------------------

RADIANS_PER_DEGREE = 0.0174532925199432957692


def _finite_or(function: Callable[[float], float]) -> Callable[[float], float]:
    """Apply an integral rounding to finite floats; NaN and infinities pass through."""
    return lambda value: float(function(value)) if math.isfinite(value) else value


def _float_sign(value: float) -> float:
    if math.isnan(value):
        return value
    return 1.0 if value > 0 else -1.0 if value < 0 else 0.0


def _float_exp(value: float) -> float:
    if math.isnan(value):
        return value
    if math.isinf(value):
        return value if value > 0 else 0.0
    try:
        result = math.exp(value)
    except OverflowError:
        raise num.float_overflow() from None
    if result == 0.0:
        raise num.float_underflow()
    return result


def _float_log(base10: bool) -> Callable[[float], float]:
    def log(value: float) -> float:
        if value == 0.0:
            raise MirrordbError("cannot take logarithm of zero", sqlstate="2201E")
        if value < 0.0:
            raise MirrordbError("cannot take logarithm of a negative number", sqlstate="2201E")
        if math.isnan(value) or math.isinf(value):
            return value
        return math.log10(value) if base10 else math.log(value)
    return log


def _trig(function: Callable[[float], float], low: float = -math.inf,
          high: float = math.inf) -> Callable[[float], float]:
    def apply(value: float) -> float:
        if math.isnan(value):
            return value
        if math.isinf(value) or not low <= value <= high:
            raise MirrordbError("input is out of range", sqlstate="22003")
        return function(value)
    return apply


def _cot(value: float) -> float:
    if math.isnan(value):
        return value
    if math.isinf(value):
        raise MirrordbError("input is out of range", sqlstate="22003")
    tangent = math.tan(value)
    return math.inf if tangent == 0.0 else 1.0 / tangent


def _degrees(value: float) -> float:
    return num.check_float8(value / RADIANS_PER_DEGREE, value)


def _radians(value: float) -> float:
    return num.check_float8(value * RADIANS_PER_DEGREE, value)


_RANDOM = random.Random()
_RANDOM_LOCK = threading.Lock()


def _random() -> float:
    with _RANDOM_LOCK:
        return _RANDOM.random()


def _setseed(seed: float) -> None:
    if not -1.0 <= seed <= 1.0 or math.isnan(seed):
        raise MirrordbError(f"setseed parameter {num.format_float8(seed)} is out of allowed "
                            f"range [-1,1]", sqlstate="22003")
    with _RANDOM_LOCK:
        _RANDOM.seed(seed)


def _int_gcd(type_name: str) -> Callable[[int, int], int]:
    low, high = num.INTEGER_RANGES[type_name]

    def gcd(left: int, right: int) -> int:
        result = math.gcd(left, right)
        if result > high:
            raise num.out_of_range(type_name)
        return result
    return gcd


def _int_lcm(type_name: str) -> Callable[[int, int], int]:
    low, high = num.INTEGER_RANGES[type_name]

    def lcm(left: int, right: int) -> int:
        result = math.lcm(left, right)
        if result > high:
            raise num.out_of_range(type_name)
        return result
    return lcm


def _width_bucket(operand: float, low: float, high: float, count: int) -> int:
    if count <= 0:
        raise MirrordbError("count must be greater than zero", sqlstate="2201G")
    if math.isnan(operand) or math.isnan(low) or math.isnan(high):
        raise MirrordbError("operand, lower bound, and upper bound cannot be NaN",
                            sqlstate="2201G")
    if math.isinf(low) or math.isinf(high):
        raise MirrordbError("lower and upper bounds must be finite", sqlstate="2201G")
    if low == high:
        raise MirrordbError("lower bound cannot equal upper bound", sqlstate="2201G")
    if low < high:
        if operand < low:
            return 0
        if operand >= high:
            return num.check_int4(count + 1)
        return int(count * ((operand - low) / (high - low))) + 1
    if operand > low:
        return 0
    if operand <= high:
        return num.check_int4(count + 1)
    return int(count * ((low - operand) / (low - high))) + 1


def _numeric_width_bucket(operand: decimal.Decimal, low: decimal.Decimal,
                          high: decimal.Decimal, count: int) -> int:
    if not (operand.is_finite() and low.is_finite() and high.is_finite()):
        if operand.is_nan() or low.is_nan() or high.is_nan():
            raise MirrordbError("operand, lower bound, and upper bound cannot be NaN",
                                sqlstate="2201G")
        if low.is_infinite() or high.is_infinite():
            raise MirrordbError("lower and upper bounds must be finite", sqlstate="2201G")
    if count <= 0:
        raise MirrordbError("count must be greater than zero", sqlstate="2201G")
    if low == high:
        raise MirrordbError("lower bound cannot equal upper bound", sqlstate="2201G")
    if low < high:
        if operand < low:
            return 0
        if operand >= high:
            return num.check_int4(count + 1)
        return int((operand - low) * count // (high - low)) + 1
    if operand > low:
        return 0
    if operand <= high:
        return num.check_int4(count + 1)
    return int((low - operand) * count // (low - high)) + 1


def _numeric_round(value: decimal.Decimal, scale: int = 0) -> decimal.Decimal:
    scale = max(min(scale, num.NUMERIC_MAX_DISPLAY_SCALE), -num.NUMERIC_MAX_RESULT_SCALE)
    rounded = num.round_numeric(value, scale)
    return rounded if scale >= 0 or not rounded.is_finite() else \
        rounded.quantize(num.ONE, context=num.EXACT)


def _numeric_trunc(value: decimal.Decimal, scale: int = 0) -> decimal.Decimal:
    scale = max(min(scale, num.NUMERIC_MAX_DISPLAY_SCALE), -num.NUMERIC_MAX_RESULT_SCALE)
    truncated = num.truncate_numeric(value, scale)
    return truncated if scale >= 0 or not truncated.is_finite() else \
        truncated.quantize(num.ONE, context=num.EXACT)


def _numeric_factorial(value: int) -> decimal.Decimal:
    if value < 0:
        raise MirrordbError("factorial of a negative number is undefined", sqlstate="22003")
    if value > 32177:
        raise MirrordbError("value overflows numeric format", sqlstate="22003")
    return decimal.Decimal(math.factorial(value))


def _define_math_functions() -> None:
    for oid, check in ((INT2_OID, num.check_int2), (INT4_OID, num.check_int4),
                       (INT8_OID, num.check_int8)):
        define("abs", [oid], oid, lambda value, check=check: check(abs(value)))
        define("mod", [oid, oid], oid, num.int_modulo)
    define("abs", [FLOAT4_OID], FLOAT4_OID, abs)
    define("abs", [FLOAT8_OID], FLOAT8_OID, abs)
    define("abs", [NUMERIC_OID], NUMERIC_OID, num.numeric_abs)
    define("mod", [NUMERIC_OID, NUMERIC_OID], NUMERIC_OID, num.numeric_mod)
    for name in ("ceil", "ceiling"):
        define(name, [FLOAT8_OID], FLOAT8_OID, _finite_or(math.ceil))
        define(name, [NUMERIC_OID], NUMERIC_OID, num.numeric_ceil)
    define("floor", [FLOAT8_OID], FLOAT8_OID, _finite_or(math.floor))
    define("floor", [NUMERIC_OID], NUMERIC_OID, num.numeric_floor)
    define("round", [FLOAT8_OID], FLOAT8_OID, _finite_or(round))
    define("round", [NUMERIC_OID], NUMERIC_OID, _numeric_round)
    define("round", [NUMERIC_OID, INT4_OID], NUMERIC_OID, _numeric_round)
    define("trunc", [FLOAT8_OID], FLOAT8_OID, _finite_or(math.trunc))
    define("trunc", [NUMERIC_OID], NUMERIC_OID, _numeric_trunc)
    define("trunc", [NUMERIC_OID, INT4_OID], NUMERIC_OID, _numeric_trunc)
    define("sqrt", [FLOAT8_OID], FLOAT8_OID, num.float_sqrt)
    define("sqrt", [NUMERIC_OID], NUMERIC_OID, num.numeric_sqrt)
    define("cbrt", [FLOAT8_OID], FLOAT8_OID, num.float_cbrt)
    for name in ("power", "pow"):
        define(name, [FLOAT8_OID, FLOAT8_OID], FLOAT8_OID, num.float_power)
        define(name, [NUMERIC_OID, NUMERIC_OID], NUMERIC_OID, num.numeric_power)
    define("exp", [FLOAT8_OID], FLOAT8_OID, _float_exp)
    define("exp", [NUMERIC_OID], NUMERIC_OID, num.numeric_exp)
    define("ln", [FLOAT8_OID], FLOAT8_OID, _float_log(False))
    define("ln", [NUMERIC_OID], NUMERIC_OID, num.numeric_ln)
    for name in ("log", "log10"):
        define(name, [FLOAT8_OID], FLOAT8_OID, _float_log(True))
        define(name, [NUMERIC_OID], NUMERIC_OID, num.numeric_log10)
    define("log", [NUMERIC_OID, NUMERIC_OID], NUMERIC_OID, num.numeric_log)
    define("sign", [FLOAT8_OID], FLOAT8_OID, _float_sign)
    define("sign", [NUMERIC_OID], NUMERIC_OID, num.numeric_sign)
    define("pi", [], FLOAT8_OID, lambda: math.pi)
    define("degrees", [FLOAT8_OID], FLOAT8_OID, _degrees)
    define("radians", [FLOAT8_OID], FLOAT8_OID, _radians)
    define("sin", [FLOAT8_OID], FLOAT8_OID, _trig(math.sin))
    define("cos", [FLOAT8_OID], FLOAT8_OID, _trig(math.cos))
    define("tan", [FLOAT8_OID], FLOAT8_OID, _trig(math.tan))
    define("cot", [FLOAT8_OID], FLOAT8_OID, _cot)
    define("asin", [FLOAT8_OID], FLOAT8_OID, _trig(math.asin, -1.0, 1.0))
    define("acos", [FLOAT8_OID], FLOAT8_OID, _trig(math.acos, -1.0, 1.0))
    define("atan", [FLOAT8_OID], FLOAT8_OID, lambda value: math.atan(value))
    define("atan2", [FLOAT8_OID, FLOAT8_OID], FLOAT8_OID, math.atan2)
    define("random", [], FLOAT8_OID, _random, volatility="v")
    define("setseed", [FLOAT8_OID], VOID_OID, _setseed, volatility="v")
    define("div", [NUMERIC_OID, NUMERIC_OID], NUMERIC_OID, num.numeric_div_trunc)
    define("gcd", [INT4_OID, INT4_OID], INT4_OID, _int_gcd("integer"))
    define("gcd", [INT8_OID, INT8_OID], INT8_OID, _int_gcd("bigint"))
    define("gcd", [NUMERIC_OID, NUMERIC_OID], NUMERIC_OID, num.numeric_gcd)
    define("lcm", [INT4_OID, INT4_OID], INT4_OID, _int_lcm("integer"))
    define("lcm", [INT8_OID, INT8_OID], INT8_OID, _int_lcm("bigint"))
    define("lcm", [NUMERIC_OID, NUMERIC_OID], NUMERIC_OID, num.numeric_lcm)
    define("width_bucket", [FLOAT8_OID, FLOAT8_OID, FLOAT8_OID, INT4_OID], INT4_OID,
           _width_bucket)
    define("width_bucket", [NUMERIC_OID, NUMERIC_OID, NUMERIC_OID, INT4_OID], INT4_OID,
           _numeric_width_bucket)
    define("factorial", [INT8_OID], NUMERIC_OID, _numeric_factorial)
    define("scale", [NUMERIC_OID], INT4_OID, lambda value: None if not value.is_finite()
           else num.dscale(value))


# -- date and time -------------------------------------------------------------------------------


def _date_part_float(part: decimal.Decimal) -> float:
    return float(part)


def _extract_timestamptz(context: FunctionContext, unit: str,
                         value: datetime.datetime) -> decimal.Decimal:
    moment = dt.moment_of_timestamptz(value, context.timezone)
    return dt.timestamp_part(unit, moment, "timestamp with time zone")


def _extract_timestamp(unit: str, value: datetime.datetime) -> decimal.Decimal:
    return dt.timestamp_part(unit, dt.moment_of_timestamp(value), "timestamp without time zone")


def _extract_date(unit: str, value: datetime.date) -> decimal.Decimal:
    return dt.timestamp_part(unit, dt.moment_of_date(value), "date")


def _session_today(context: FunctionContext) -> datetime.datetime:
    local = dt.utc_to_local(context.transaction_timestamp, dt.get_zone(context.timezone))
    return datetime.datetime(local.year, local.month, local.day)


def _age_timestamptz(context: FunctionContext, later: datetime.datetime,
                     earlier: datetime.datetime) -> Interval:
    zone = dt.get_zone(context.timezone)
    return dt.age(dt.utc_to_local(later, zone).replace(tzinfo=None),
                  dt.utc_to_local(earlier, zone).replace(tzinfo=None))


def _make_timestamptz(context: FunctionContext, year: int, month: int, day: int, hour: int,
                      minute: int, second: float, zone: str | None = None) -> datetime.datetime:
    local = dt.make_timestamp(year, month, day, hour, minute, second)
    return dt.local_to_utc(local, dt.get_zone(zone if zone is not None else context.timezone))


def _make_interval(*parts: Any) -> Interval:
    defaults = [0, 0, 0, 0, 0, 0, 0.0]
    values = list(parts) + defaults[len(parts):]
    return dt.make_interval(*values)


def _at_time_zone_of_timestamptz(zone: str, value: datetime.datetime) -> datetime.datetime:
    """timezone(zone, timestamptz): the wall-clock time in ``zone``."""
    return dt.timestamptz_to_timestamp(value, zone)


def _at_time_zone_of_timestamp(zone: str, value: datetime.datetime) -> datetime.datetime:
    """timezone(zone, timestamp): the instant at which ``zone``'s clock shows ``value``."""
    return dt.timestamp_to_timestamptz(value, zone)


def _define_datetime_functions() -> None:
    define("date_trunc", [TEXT_OID, TIMESTAMP_OID], TIMESTAMP_OID, dt.truncate_timestamp)
    define("date_trunc", [TEXT_OID, TIMESTAMPTZ_OID], TIMESTAMPTZ_OID, volatility="s",
           needs_context=True, impl=lambda context, unit, value:
           dt.truncate_timestamptz(unit, value, context.timezone))
    define("date_trunc", [TEXT_OID, TIMESTAMPTZ_OID, TEXT_OID], TIMESTAMPTZ_OID,
           lambda unit, value, zone: dt.truncate_timestamptz(unit, value, zone))
    define("date_trunc", [TEXT_OID, INTERVAL_OID], INTERVAL_OID, dt.truncate_interval)
    define("extract", [TEXT_OID, TIMESTAMP_OID], NUMERIC_OID, _extract_timestamp)
    define("extract", [TEXT_OID, TIMESTAMPTZ_OID], NUMERIC_OID, _extract_timestamptz,
           volatility="s", needs_context=True)
    define("extract", [TEXT_OID, DATE_OID], NUMERIC_OID, _extract_date)
    define("extract", [TEXT_OID, TIME_OID], NUMERIC_OID, dt.time_part)
    define("extract", [TEXT_OID, INTERVAL_OID], NUMERIC_OID, dt.interval_part)
    define("date_part", [TEXT_OID, TIMESTAMP_OID], FLOAT8_OID,
           lambda unit, value: _date_part_float(_extract_timestamp(unit, value)))
    define("date_part", [TEXT_OID, TIMESTAMPTZ_OID], FLOAT8_OID, volatility="s",
           needs_context=True, impl=lambda context, unit, value:
           _date_part_float(_extract_timestamptz(context, unit, value)))
    define("date_part", [TEXT_OID, DATE_OID], FLOAT8_OID,
           lambda unit, value: _date_part_float(_extract_timestamp(
               unit, dt.date_to_timestamp(value))))
    define("date_part", [TEXT_OID, TIME_OID], FLOAT8_OID,
           lambda unit, value: _date_part_float(dt.time_part(unit, value)))
    define("date_part", [TEXT_OID, INTERVAL_OID], FLOAT8_OID,
           lambda unit, value: _date_part_float(dt.interval_part(unit, value)))
    define("age", [TIMESTAMP_OID, TIMESTAMP_OID], INTERVAL_OID, dt.age)
    define("age", [TIMESTAMPTZ_OID, TIMESTAMPTZ_OID], INTERVAL_OID, _age_timestamptz,
           volatility="s", needs_context=True)
    define("age", [TIMESTAMP_OID], INTERVAL_OID, volatility="s", needs_context=True,
           impl=lambda context, value: dt.age(_session_today(context), value))
    define("age", [TIMESTAMPTZ_OID], INTERVAL_OID, volatility="s", needs_context=True,
           impl=lambda context, value: _age_timestamptz(
               context, dt.local_to_utc(_session_today(context), dt.get_zone(context.timezone)),
               value))
    define("make_date", [INT4_OID] * 3, DATE_OID, dt.make_date)
    define("make_time", [INT4_OID, INT4_OID, FLOAT8_OID], TIME_OID, dt.make_time)
    define("make_timestamp", [INT4_OID] * 5 + [FLOAT8_OID], TIMESTAMP_OID, dt.make_timestamp)
    define("make_timestamptz", [INT4_OID] * 5 + [FLOAT8_OID], TIMESTAMPTZ_OID,
           _make_timestamptz, volatility="s", needs_context=True)
    define("make_timestamptz", [INT4_OID] * 5 + [FLOAT8_OID, TEXT_OID], TIMESTAMPTZ_OID,
           _make_timestamptz, volatility="s", needs_context=True)
    interval_parts = [INT4_OID] * 6 + [FLOAT8_OID]
    for count in range(len(interval_parts) + 1):
        define("make_interval", interval_parts[:count], INTERVAL_OID, _make_interval)
    define("justify_days", [INTERVAL_OID], INTERVAL_OID, dt.justify_days)
    define("justify_hours", [INTERVAL_OID], INTERVAL_OID, dt.justify_hours)
    define("justify_interval", [INTERVAL_OID], INTERVAL_OID, dt.justify_interval)
    for oid in (DATE_OID, TIMESTAMP_OID, TIMESTAMPTZ_OID, INTERVAL_OID):
        define("isfinite", [oid], BOOL_OID, lambda value: True)
    define("to_timestamp", [FLOAT8_OID], TIMESTAMPTZ_OID, dt.epoch_to_timestamptz)
    define("timezone", [TEXT_OID, TIMESTAMPTZ_OID], TIMESTAMP_OID, _at_time_zone_of_timestamptz)
    define("timezone", [TEXT_OID, TIMESTAMP_OID], TIMESTAMPTZ_OID, _at_time_zone_of_timestamp)
    _define_clock_functions()
    _define_formatting_functions()


def _define_clock_functions() -> None:
    for name in ("now", "transaction_timestamp"):
        define(name, [], TIMESTAMPTZ_OID, volatility="s", needs_context=True,
               impl=lambda context: context.transaction_timestamp)
    define("statement_timestamp", [], TIMESTAMPTZ_OID, volatility="s", needs_context=True,
           impl=lambda context: context.statement_timestamp)
    define("clock_timestamp", [], TIMESTAMPTZ_OID, volatility="v", needs_context=True,
           impl=lambda context: dt.system_now())
    define("timeofday", [], TEXT_OID, volatility="v", needs_context=True,
           impl=lambda context: dt.timeofday(dt.system_now(), context.timezone))


def _define_formatting_functions() -> None:
    define("to_char", [TIMESTAMP_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl=lambda value, template: dt.to_char_timestamp(value, template, None))
    define("to_char", [TIMESTAMPTZ_OID, TEXT_OID], TEXT_OID, volatility="s",
           needs_context=True, impl=lambda context, value, template: dt.to_char_timestamp(
               value, template, context.timezone))
    define("to_char", [INTERVAL_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl=dt.to_char_interval)
    define("to_char", [NUMERIC_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl=num.to_char_numeric)
    define("to_char", [INT4_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl=lambda value, template: num.to_char_numeric(decimal.Decimal(value), template))
    define("to_char", [INT8_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl=lambda value, template: num.to_char_numeric(decimal.Decimal(value), template))
    define("to_char", [FLOAT8_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl=lambda value, template: num.to_char_float(value, template, False))
    define("to_char", [FLOAT4_OID, TEXT_OID], TEXT_OID, volatility="s",
           impl=lambda value, template: num.to_char_float(value, template, True))
    define("to_date", [TEXT_OID, TEXT_OID], DATE_OID, volatility="s", impl=dt.to_date)
    define("to_timestamp", [TEXT_OID, TEXT_OID], TIMESTAMPTZ_OID, volatility="s",
           needs_context=True, impl=lambda context, text, template: dt.to_timestamp(
               text, template, context.timezone))
    define("to_number", [TEXT_OID, TEXT_OID], NUMERIC_OID, volatility="s",
           impl=num.to_number)


# -- json ------------------------------------------------------------------------------------------


def _json_scalar_text(oid: int) -> Callable[[Any], str]:
    """A value as the JSON text to_json makes of it (a domain's as its base type's)."""
    oid = T.base_type(oid)
    if oid in (JSON_OID, JSONB_OID):
        return lambda value: value
    if oid == BOOL_OID:
        return lambda value: "true" if value else "false"
    if oid in (INT2_OID, INT4_OID, INT8_OID, OID_OID):
        return str
    if oid in (FLOAT4_OID, FLOAT8_OID, NUMERIC_OID):
        text = _text_of(oid)
        return lambda value: text(value) if _is_json_number(text(value)) else \
            T.json_quote(text(value))
    if oid == TIMESTAMP_OID:
        return lambda value: T.json_quote(dt.format_timestamp(value).replace(" ", "T"))
    if oid == TIMESTAMPTZ_OID:
        return lambda value: T.json_quote(_json_timestamptz(value))
    if T.is_row_type(oid):
        from mirrordb.sql.json_functions import record_json
        return record_json
    if T.is_array_type(oid):
        element = _json_scalar_text(T.element_type_of(oid))
        return lambda values: "[" + ",".join("null" if value is None else element(value)
                                             for value in values) + "]"
    text = _text_of(oid)
    return lambda value: T.json_quote(text(value))


def _is_json_number(text: str) -> bool:
    return text not in ("NaN", "Infinity", "-Infinity")


def _json_timestamptz(value: datetime.datetime) -> str:
    local = dt.utc_to_local(value, dt.get_zone(T.session_timezone()))
    offset = local.utcoffset() or datetime.timedelta(0)
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    zone = f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
    return dt.format_timestamp(local.replace(tzinfo=None)).replace(" ", "T") + zone


def _to_json_factory(normalize: bool) -> Callable[[tuple[int, ...]], Callable[[Any], str]]:
    def factory(types: tuple[int, ...]) -> Callable[[Any], str]:
        text = _json_scalar_text(types[0])
        if normalize:
            return lambda value: T.parse_jsonb(text(value))
        return text
    return factory


def _json_typeof(document: str) -> str:
    parsed = T.json_value(document)
    if isinstance(parsed, list):
        return "object" if parsed.__class__.__name__ == "_JsonObject" else "array"
    if isinstance(parsed, str):
        return "string"
    if isinstance(parsed, bool):
        return "boolean"
    if parsed is None:
        return "null"
    return "number"


def _json_array_length(document: str) -> int:
    kind = _json_typeof(document)
    if kind == "array":
        return len(T.json_value(document))
    if kind == "object":
        raise MirrordbError("cannot get array length of a non-array", sqlstate="22023")
    raise MirrordbError("cannot get array length of a scalar", sqlstate="22023")


def _build_object_factory(normalize: bool) -> Callable[[tuple[int, ...]], Callable[..., str]]:
    def factory(types: tuple[int, ...]) -> Callable[..., str]:
        texts = [_json_scalar_text(oid) for oid in types]
        key_texts = [_text_of(oid) for oid in types]

        def build(*values: Any) -> str:
            if len(values) % 2:
                raise MirrordbError("argument list must have even number of elements",
                                    sqlstate="22023",
                                    hint="The arguments of json_build_object() must consist "
                                         "of alternating keys and values.")
            pieces = []
            for index in range(0, len(values), 2):
                key = values[index]
                if key is None:
                    raise MirrordbError("argument 1: key must not be null"
                                        if index == 0 else f"argument {index + 1}: key must not "
                                        f"be null", sqlstate="22004")
                value = values[index + 1]
                pieces.append(f"{T.json_quote(key_texts[index](key))} : "
                              f"{'null' if value is None else texts[index + 1](value)}")
            text = "{" + ", ".join(pieces) + "}"
            return T.parse_jsonb(text) if normalize else text
        return build
    return factory


def _build_array_factory(normalize: bool) -> Callable[[tuple[int, ...]], Callable[..., str]]:
    def factory(types: tuple[int, ...]) -> Callable[..., str]:
        texts = [_json_scalar_text(oid) for oid in types]

        def build(*values: Any) -> str:
            text = "[" + ", ".join("null" if value is None else convert(value)
                                   for convert, value in zip(texts, values)) + "]"
            return T.parse_jsonb(text) if normalize else text
        return build
    return factory


def _define_json_functions() -> None:
    define("to_json", [ANYELEMENT_OID], JSON_OID, volatility="s",
           impl_factory=_to_json_factory(False))
    define("to_jsonb", [ANYELEMENT_OID], JSONB_OID, volatility="s",
           impl_factory=_to_json_factory(True))
    define("json_typeof", [JSON_OID], TEXT_OID, _json_typeof)
    define("jsonb_typeof", [JSONB_OID], TEXT_OID, _json_typeof)
    define("json_array_length", [JSON_OID], INT4_OID, _json_array_length)
    define("jsonb_array_length", [JSONB_OID], INT4_OID, _json_array_length)
    for name, normalize, result in (("json_build_object", False, JSON_OID),
                                    ("jsonb_build_object", True, JSONB_OID)):
        define(name, [], result, lambda: "{}")
        define(name, [ANY_OID], result, strict=False, variadic_type=ANY_OID, volatility="s",
               impl_factory=_build_object_factory(normalize))
    for name, normalize, result in (("json_build_array", False, JSON_OID),
                                    ("jsonb_build_array", True, JSONB_OID)):
        define(name, [], result, lambda: "[]")
        define(name, [ANY_OID], result, strict=False, variadic_type=ANY_OID, volatility="s",
               impl_factory=_build_array_factory(normalize))


# -- miscellaneous ---------------------------------------------------------------------------------


def _format_type_function(oid: int | None, typmod: int | None) -> str | None:
    if oid is None:
        return None
    if typmod is None:
        return T.format_type(oid)
    return T.format_type(oid, typmod, typmod_given=True)


def _count_nulls(want_nulls: bool) -> Callable[..., int]:
    return lambda *values: sum(1 for value in values if (value is None) == want_nulls)


def _define_misc_functions() -> None:
    define("gen_random_uuid", [], UUID_OID, uuid.uuid4, volatility="v")
    define("num_nulls", [ANY_OID], INT4_OID, _count_nulls(True), strict=False,
           variadic_type=ANY_OID)
    define("num_nonnulls", [ANY_OID], INT4_OID, _count_nulls(False), strict=False,
           variadic_type=ANY_OID)
    define("format_type", [OID_OID, INT4_OID], TEXT_OID, _format_type_function, strict=False,
           volatility="s")
    define("bool", [INT4_OID], BOOL_OID, lambda value: value != 0)
    define("int4", [BOOL_OID], INT4_OID, lambda value: 1 if value else 0)
    define("to_regtype", [TEXT_OID], REGTYPE_OID, _to_regtype, volatility="s")
    define("regclass", [TEXT_OID], REGCLASS_OID, volatility="s", impl=lambda text:
           T.parse_text(REGCLASS_OID, text))


def _to_regtype(text: str) -> int | None:
    try:
        return T.parse_text(REGTYPE_OID, text)  # type: ignore[no-any-return]
    except MirrordbError:
        return None


_define_string_functions()
_define_array_functions()
_define_math_functions()
_define_datetime_functions()
_define_json_functions()
_define_misc_functions()

