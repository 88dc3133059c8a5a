"""Built-in SQL operators: PostgreSQL 15's pg_operator rows and their implementations.

Who calls it: the analyzer/planner, once per operator in a statement, with
``resolve_operator(name, left type, right type)`` (left None for a prefix operator). It casts the
operands to ``left_type``/``right_type`` of the answer and calls ``impl(left, right)`` (or
``impl(right)``) per row, only with non-NULL operands: every operator here is strict except
the array ``||`` operators (``strict`` False), which, as PostgreSQL's array_append, array_prepend
and array_cat, also take NULL operands.

Resolution is PostgreSQL's oper_select_candidate, simplified: an exact match; for a binary
operator with one unknown literal, the candidate with both sides of the known type; then the
shared candidate rules of functions.select_candidate (implicit casts, exact matches, preferred
types, unknown literals by category). Failing that: 42883 "operator does not exist" or 42725
"operator is not unique", with PostgreSQL's hints.

The operator table ``_OPERATOR_ROWS`` lists pg_operator facts (oid, name, left, right, result,
oprcode) read from a PostgreSQL 15 catalog; each row's implementation is found by its oprcode in
``_IMPLEMENTATIONS`` (comparisons are generated from the operand types). Operators on
timestamptz that depend on the session time zone (interval arithmetic, comparisons with date and
timestamp) read it from types.session_timezone() when they run.

LIKE patterns and regular expressions are translated to Python's ``re`` once per distinct
pattern (a bounded cache); matching is ASCII-case-insensitive for ILIKE and ~*, as PostgreSQL's
under lc_ctype C.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import math
import operator as python_operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import datetime as dt
from mirrordb.sql import numeric as num
from mirrordb.sql import array_dimensions, json_functions, network_functions, range_functions
from mirrordb.sql import types as T
from mirrordb.sql.functions import (AmbiguousCandidates, Candidate, NoCandidate,
                                    concrete_types, select_candidate)
from mirrordb.sql.types import (BPCHAR_OID, DATE_OID, FLOAT4_OID, FLOAT8_OID, INT2_OID,
                                INT4_OID, INT8_OID, INTERVAL_OID, JSONB_OID, NUMERIC_OID,
                                TIMESTAMP_OID, TIMESTAMPTZ_OID, UNKNOWN_OID, Interval)

MAX_CACHED_PATTERNS = 512                  # compiled LIKE/regex patterns kept per process
MAX_PATTERN_CHARS = 65_536                 # longer patterns are refused rather than compiled

# -- definitions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorDef:
    """One pg_operator row (left 0 for a prefix operator)."""

    oid: int
    name: str
    left: int
    right: int
    result: int
    code: str                                        # oprcode: the implementing function
    impl: Callable[..., Any] | None = None
    impl_factory: Callable[[int, int], Callable[..., Any]] | None = None
    strict: bool = True                              # proisstrict of oprcode


@dataclass(frozen=True, slots=True)
class ResolvedOperator:
    """A resolved operator: the types to cast the operands to, the result type, the function."""

    oid: int
    name: str
    left_type: int | None
    right_type: int
    result_type: int
    impl: Callable[..., Any]
    strict: bool = True                              # False: impl is called with NULLs too


# -- integer arithmetic ----------------------------------------------------------------------------

_INT_CHECKS = {INT2_OID: num.check_int2, INT4_OID: num.check_int4, INT8_OID: num.check_int8}
_INT_BITS = {INT2_OID: 16, INT4_OID: 32, INT8_OID: 64}


def _int_arithmetic(function: Callable[[int, int], int], result: int) -> Callable[..., int]:
    check = _INT_CHECKS[result]
    return lambda left, right: check(function(left, right))


def _int_divide(result: int) -> Callable[[int, int], int]:
    check = _INT_CHECKS[result]
    return lambda left, right: check(num.int_divide(left, right))


def _wrap(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _shift_left(result: int) -> Callable[[int, int], int]:
    bits = _INT_BITS[result]
    mask = 63 if bits == 64 else 31                  # the C shift count as x86 takes it
    return lambda left, right: _wrap(left << (right & mask), bits)


def _shift_right(result: int) -> Callable[[int, int], int]:
    bits = _INT_BITS[result]
    mask = 63 if bits == 64 else 31
    return lambda left, right: left >> (right & mask)


def _int_abs(result: int) -> Callable[[int], int]:
    check = _INT_CHECKS[result]
    return lambda value: check(abs(value))


def _int_negate(result: int) -> Callable[[int], int]:
    check = _INT_CHECKS[result]
    return lambda value: check(-value)


# -- float arithmetic ------------------------------------------------------------------------------


def _float_add(single: bool) -> Callable[[float, float], float]:
    check = num.check_float4 if single else num.check_float8
    return lambda left, right: check(left + right, left, right)


def _float_sub(single: bool) -> Callable[[float, float], float]:
    check = num.check_float4 if single else num.check_float8
    return lambda left, right: check(left - right, left, right)


def _float_mul(single: bool) -> Callable[[float, float], float]:
    check = num.check_float4_nonzero if single else num.check_float8_nonzero
    return lambda left, right: check(left * right, left, right)


def _float_div(single: bool) -> Callable[[float, float], float]:
    finish = num.round_to_float4 if single else float

    def divide(left: float, right: float) -> float:
        if right == 0.0 and not math.isnan(left):
            raise num.division_by_zero()
        if math.isnan(right) or math.isnan(left):
            return math.nan
        result = finish(left / right)
        if math.isinf(result) and not math.isinf(left):
            raise num.float_overflow()
        if result == 0.0 and left != 0.0 and not math.isinf(right):
            raise num.float_underflow()
        return result
    return divide


# -- comparisons -------------------------------------------------------------------------------

_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": python_operator.eq, "<>": python_operator.ne, "<": python_operator.lt,
    ">": python_operator.gt, "<=": python_operator.le, ">=": python_operator.ge,
}


def _keyed(name: str, left_key: Callable[[Any], Any],
           right_key: Callable[[Any], Any]) -> Callable[[Any, Any], bool]:
    compare = _COMPARATORS[name]
    return lambda left, right: compare(left_key(left), right_key(right))


def _float_compare(name: str) -> Callable[[float, float], bool]:
    compare = _COMPARATORS[name]

    def float_compare(left: float, right: float) -> bool:
        if left == left and right == right:
            return compare(left, right)
        key = T.sort_key(FLOAT8_OID)
        return compare(key(left), key(right))
    return float_compare


def _zoned(convert: Callable[[Any, str], Any]) -> Callable[[Any], Any]:
    return lambda value: convert(value, T.session_timezone())


_TIMESTAMPTZ_KEYS: dict[int, Callable[[Any], Any]] = {
    DATE_OID: _zoned(dt.date_to_timestamptz),
    TIMESTAMP_OID: _zoned(dt.timestamp_to_timestamptz),
    TIMESTAMPTZ_OID: lambda value: value,
}
_TIMESTAMP_KEYS: dict[int, Callable[[Any], Any]] = {
    DATE_OID: dt.date_to_timestamp, TIMESTAMP_OID: lambda value: value,
}


def _comparison(name: str, left: int, right: int) -> Callable[[Any, Any], bool]:
    if left == right and left in (FLOAT4_OID, FLOAT8_OID) or {left, right} == {FLOAT4_OID,
                                                                              FLOAT8_OID}:
        return _float_compare(name)
    if left != right and {left, right} <= {DATE_OID, TIMESTAMP_OID, TIMESTAMPTZ_OID}:
        keys = _TIMESTAMPTZ_KEYS if TIMESTAMPTZ_OID in (left, right) else _TIMESTAMP_KEYS
        return _keyed(name, keys[left], keys[right])
    if left == right and left in (NUMERIC_OID, BPCHAR_OID, INTERVAL_OID, JSONB_OID) \
            or T.is_array_type(left):
        key = T.sort_key(left)
        return _keyed(name, key, key)
    return _COMPARATORS[name]


# -- strings ---------------------------------------------------------------------------------------


def _text_concat(left: str, right: str) -> str:
    return left + right


def _text_any_concat(left_type: int, right_type: int) -> Callable[[Any, Any], str]:
    """textanycat/anytextcat: the non-text operand is cast to text (bool gives 'true')."""
    def as_text(oid: int) -> Callable[[Any], str]:
        convert = T.cast_function(oid, T.TEXT_OID)
        return lambda value: convert(value, T.session_timezone())  # type: ignore[no-any-return]
    left_text, right_text = as_text(left_type), as_text(right_type)
    return lambda left, right: left_text(left) + right_text(right)


@functools.lru_cache(maxsize=MAX_CACHED_PATTERNS)
def like_regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    """A LIKE pattern ('%', '_', backslash escapes) as a compiled regular expression."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise MirrordbError("LIKE pattern is too long", sqlstate="54000")
    parts: list[str] = []
    position = 0
    while position < len(pattern):
        character = pattern[position]
        if character == "\\":
            if position + 1 >= len(pattern):
                raise MirrordbError("LIKE pattern must not end with escape character",
                                    sqlstate="22025")
            parts.append(re.escape(pattern[position + 1]))
            position += 2
            continue
        parts.append(".*" if character == "%" else "." if character == "_"
                     else re.escape(character))
        position += 1
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if case_insensitive else 0)
    return re.compile("".join(parts), flags)


def like(text: str, pattern: str) -> bool:
    return like_regex(pattern, False).fullmatch(text) is not None


def ilike(text: str, pattern: str) -> bool:
    return like_regex(pattern, True).fullmatch(text) is not None


def _bytea_like(data: bytes, pattern: bytes) -> bool:
    return like(data.decode("latin-1"), pattern.decode("latin-1"))


def like_escape(pattern: str, escape: str) -> str:
    """like_escape(): rewrite a pattern using ``escape`` as its escape character into one using
    backslash (LIKE ... ESCAPE ...)."""
    if len(escape) > 1:
        raise MirrordbError("invalid escape string", sqlstate="22025",
                            hint="Escape string must be empty or one character.")
    if escape == "\\":
        return pattern
    output: list[str] = []
    position = 0
    while position < len(pattern):
        character = pattern[position]
        if escape and character == escape:
            if position + 1 >= len(pattern):
                raise MirrordbError("LIKE pattern must not end with escape character",
                                    sqlstate="22025")
            output.append("\\" + pattern[position + 1])
            position += 2
            continue
        output.append("\\\\" if character == "\\" else character)
        position += 1
    return "".join(output)


_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "punct": "!-/:-@\\[-`{-~", "xdigit": "0-9A-Fa-f",
    "word": "a-zA-Z0-9_", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f", "print": " -~",
    "graph": "!-~",
}
_REGEX_ESCAPES = {"m": r"\b(?=\w)", "M": r"\b(?<=\w)", "y": r"\b", "Y": r"\B", "Z": r"\Z"}


def _translate_regex(pattern: str) -> str:
    """PostgreSQL's ARE syntax for the common subset, in Python's ``re`` dialect."""
    output: list[str] = []
    position = 0
    in_bracket = False
    while position < len(pattern):
        character = pattern[position]
        if character == "\\" and position + 1 < len(pattern):
            following = pattern[position + 1]
            output.append(_REGEX_ESCAPES.get(following, "\\" + following)
                          if not in_bracket else "\\" + following)
            position += 2
            continue
        if in_bracket and pattern.startswith("[:", position):
            end = pattern.find(":]", position + 2)
            name = pattern[position + 2:end] if end > 0 else ""
            if name in _POSIX_CLASSES:
                output.append(_POSIX_CLASSES[name])
                position = end + 2
                continue
        if character == "[" and not in_bracket:
            in_bracket = True
            output.append(character)
            if pattern.startswith("^", position + 1):
                output.append("^")
                position += 1
            if pattern.startswith("]", position + 1):
                output.append("\\]")
                position += 1
        elif character == "]" and in_bracket:
            in_bracket = False
            output.append(character)
        elif character == "[" and in_bracket:
            output.append("\\[")
        else:
            output.append(character)
        position += 1
    return "".join(output)


@functools.lru_cache(maxsize=MAX_CACHED_PATTERNS)
def compile_regex(pattern: str, case_insensitive: bool = False) -> re.Pattern[str]:
    """A POSIX regular expression (PostgreSQL's ARE flavour) compiled for Python."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise MirrordbError("regular expression is too long", sqlstate="54000")
    flags = re.ASCII | (re.IGNORECASE if case_insensitive else 0)
    body = pattern
    if body.startswith("***:"):
        body = body[4:]
    options = re.match(r"\(\?([bceimnpqstwx]+)\)", body)
    if options is not None:
        body = body[options.end():]
        if "i" in options.group(1):
            flags |= re.IGNORECASE
        if "q" in options.group(1):
            return re.compile(re.escape(body), flags)
    try:
        return re.compile(_translate_regex(body), flags)
    except (re.error, RecursionError, OverflowError) as error:
        raise MirrordbError(f"invalid regular expression: {_regex_error_text(error)}",
                            sqlstate="2201B") from None


_REGEX_ERRORS = (("missing )", "parentheses () not balanced"),
                 ("unbalanced parenthesis", "parentheses () not balanced"),
                 ("unterminated character set", "brackets [] not balanced"),
                 ("nothing to repeat", "quantifier operand invalid"),
                 ("multiple repeat", "quantifier operand invalid"),
                 ("bad escape", "invalid escape \\ sequence"),
                 ("bad character range", "invalid character range"))


def _regex_error_text(error: Exception) -> str:
    """PostgreSQL's wording for the common regular expression errors."""
    message = str(error)
    for fragment, wording in _REGEX_ERRORS:
        if fragment in message:
            return wording
    return message


def regex_match(text: str, pattern: str) -> bool:
    return compile_regex(pattern).search(text) is not None


def regex_imatch(text: str, pattern: str) -> bool:
    return compile_regex(pattern, True).search(text) is not None


def _negated(function: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda left, right: not function(left, right)


# -- arrays ----------------------------------------------------------------------------------------


# The three ``||`` operators are not strict (see the module docstring): a NULL array counts as
# empty, a NULL element is appended as a NULL element.


def _array_concat(left_type: int, right_type: int
                  ) -> Callable[[list[Any] | None, list[Any] | None], list[Any] | None]:
    return lambda left, right: None if left is None and right is None else \
        array_dimensions.concatenate(left or [], right or [])


def _array_append(left_type: int, right_type: int
                  ) -> Callable[[list[Any] | None, Any], list[Any]]:
    def append(left: list[Any] | None, right: Any) -> list[Any]:
        array_dimensions.check_one_dimension(left)
        return list(left or []) + [right]
    return append


def _array_prepend(left_type: int, right_type: int
                   ) -> Callable[[Any, list[Any] | None], list[Any]]:
    def prepend(left: Any, right: list[Any] | None) -> list[Any]:
        array_dimensions.check_one_dimension(right)
        return [left] + list(right or [])
    return prepend


_NON_STRICT_CODES = frozenset({"array_cat", "array_append", "array_prepend"})


def _array_contains(left_type: int, right_type: int) -> Callable[[list[Any], list[Any]], bool]:
    key = T.sort_key(T.element_type_of(left_type))

    def contains(left: list[Any], right: list[Any]) -> bool:
        present = {key(value) for value in array_dimensions.flatten(left) if value is not None}
        return all(value is not None and key(value) in present
                   for value in array_dimensions.flatten(right))
    return contains


def _array_contained(left_type: int, right_type: int) -> Callable[[list[Any], list[Any]], bool]:
    contains = _array_contains(right_type, left_type)
    return lambda left, right: contains(right, left)


def _array_overlap(left_type: int, right_type: int) -> Callable[[list[Any], list[Any]], bool]:
    key = T.sort_key(T.element_type_of(left_type))

    def overlap(left: list[Any], right: list[Any]) -> bool:
        present = {key(value) for value in array_dimensions.flatten(left) if value is not None}
        return any(value is not None and key(value) in present
                   for value in array_dimensions.flatten(right))
    return overlap


# -- json ------------------------------------------------------------------------------------------

_JSON_DECODER = __import__("json").JSONDecoder()
_JSON_BLANKS = " \t\n\r"


def _skip_json_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in _JSON_BLANKS:
        position += 1
    return position


def _json_value_end(text: str, position: int) -> int:
    try:
        _, end = _JSON_DECODER.raw_decode(text, position)
    except ValueError:
        raise MirrordbError("invalid input syntax for type json", sqlstate="22P02") from None
    return end  # type: ignore[no-any-return]


def _json_members(text: str) -> tuple[str, list[tuple[str | None, int, int]]]:
    """The container kind ('object', 'array' or 'scalar') of a json text and the raw slices of
    its members: (key or None, start, end). A json text with a "\\u0000" escape in a string
    fails here, as PostgreSQL's json processing functions do (they de-escape every string they
    parse, and text cannot hold the character), with the escape's CONTEXT."""
    if "\\u0000" in text:
        from mirrordb.sql.json_input import parse_json_input
        parse_json_input(text, True, list)   # jsonb's rules refuse it, or it was "\\\\u0000"
    position = _skip_json_blanks(text, 0)
    opening = text[position:position + 1]
    if opening not in ("{", "["):
        return "scalar", []
    members: list[tuple[str | None, int, int]] = []
    closing = "}" if opening == "{" else "]"
    position = _skip_json_blanks(text, position + 1)
    if text[position:position + 1] == closing:
        return ("object" if opening == "{" else "array"), members
    while True:
        key: str | None = None
        if opening == "{":
            key, position = _JSON_DECODER.raw_decode(text, position)
            position = _skip_json_blanks(text, position) + 1        # the ':'
            position = _skip_json_blanks(text, position)
        end = _json_value_end(text, position)
        members.append((key, position, end))
        position = _skip_json_blanks(text, end)
        if text[position:position + 1] != ",":
            break
        position = _skip_json_blanks(text, position + 1)
    return ("object" if opening == "{" else "array"), members


def _json_member(text: str, key: str | int) -> str | None:
    kind, members = _json_members(text)
    if isinstance(key, str):
        if kind != "object":
            return None
        found = [(start, end) for name, start, end in members if name == key]
        if not found:
            return None
        start, end = found[-1]
        return text[start:end]
    if kind != "array":
        return None
    index = key + len(members) if key < 0 else key
    if not 0 <= index < len(members):
        return None
    _, start, end = members[index]
    return text[start:end]


def _json_as_text(raw: str | None, normalize: bool) -> str | None:
    if raw is None:
        return None
    stripped = raw.strip(_JSON_BLANKS)
    if stripped == "null":
        return None
    if stripped.startswith('"'):
        text: str = _JSON_DECODER.decode(stripped)
        if "\x00" in text:     # json keeps "\u0000" as written; text cannot hold it
            raise MirrordbError("unsupported Unicode escape sequence", sqlstate="22P05",
                                detail="\\u0000 cannot be converted to text.")
        return text
    return T.parse_jsonb(stripped) if normalize else stripped


def _json_arrow(normalize: bool) -> Callable[[str, Any], str | None]:
    def arrow(document: str, key: Any) -> str | None:
        raw = _json_member(document, key)
        if raw is None:
            return None
        return T.parse_jsonb(raw) if normalize else raw
    return arrow


def _json_arrow_text(normalize: bool) -> Callable[[str, Any], str | None]:
    return lambda document, key: _json_as_text(_json_member(document, key), normalize)


def _jsonb_contains(left: str, right: str) -> bool:
    return _json_contains(T.json_value(left), T.json_value(right), top=True)


def _json_contains(container: Any, contained: Any, top: bool = False) -> bool:
    container_kind, contained_kind = _json_kind(container), _json_kind(contained)
    if container_kind == "object":
        if contained_kind != "object":
            return False
        members = dict(container)
        return all(key in members and _json_contains(members[key], value)
                   for key, value in dict(contained).items())
    if container_kind == "array":
        if contained_kind == "array":
            return all(any(_json_contains(item, wanted) for item in container)
                       for wanted in contained)
        return top and contained_kind not in ("object",) and any(
            _json_contains(item, contained) for item in container)
    if contained_kind != container_kind:
        return False
    return bool(container == contained)


def _json_kind(value: Any) -> str:
    if isinstance(value, list) and value.__class__.__name__ == "_JsonObject":
        return "object"
    if isinstance(value, list):
        return "array"
    return "scalar"


def _jsonb_exists(document: str, key: str) -> bool:
    parsed = T.json_value(document)
    kind = _json_kind(parsed)
    if kind == "object":
        return key in dict(parsed)
    if kind == "array":
        return any(item == key for item in parsed if isinstance(item, str))
    return parsed == key


def _jsonb_concat(left: str, right: str) -> str:
    first, second = T.json_value(left), T.json_value(right)
    if _json_kind(first) == "object" and _json_kind(second) == "object":
        merged = dict(first)
        merged.update(dict(second))
        return T.jsonb_text(merged)
    first_items = first if _json_kind(first) == "array" else [first]
    second_items = second if _json_kind(second) == "array" else [second]
    return T.jsonb_text(list(first_items) + list(second_items))


# -- date and time ---------------------------------------------------------------------------------


def _with_zone(function: Callable[[Any, Any, str], Any]) -> Callable[[Any, Any], Any]:
    return lambda left, right: function(left, right, T.session_timezone())


def _timestamptz_minus(left: datetime.datetime, right: datetime.datetime) -> Interval:
    return dt.timestamp_minus_timestamp(left, right)


def _interval_times(left: Interval, right: float) -> Interval:
    return dt.interval_multiply(left, right)


# -- implementations by oprcode --------------------------------------------------------------------


def _build_implementations() -> dict[str, Callable[..., Any]]:
    impls: dict[str, Callable[..., Any]] = {}
    names = {INT2_OID: "int2", INT4_OID: "int4", INT8_OID: "int8"}
    codes = {INT2_OID: "2", INT4_OID: "4", INT8_OID: "8"}
    for left in names:
        for right in names:
            result = max(left, right, key=lambda oid: _INT_BITS[oid])
            prefix = names[left] if left == right else f"int{codes[left]}{codes[right]}"
            impls[prefix + "pl"] = _int_arithmetic(python_operator.add, result)
            impls[prefix + "mi"] = _int_arithmetic(python_operator.sub, result)
            impls[prefix + "mul"] = _int_arithmetic(python_operator.mul, result)
            impls[prefix + "div"] = _int_divide(result)
    for oid, name in names.items():
        impls[name + "mod"] = num.int_modulo
        impls[name + "and"] = python_operator.and_
        impls[name + "or"] = python_operator.or_
        impls[name + "xor"] = python_operator.xor
        impls[name + "not"] = python_operator.invert
        impls[name + "shl"] = _shift_left(oid)
        impls[name + "shr"] = _shift_right(oid)
        impls[name + "abs"] = _int_abs(oid)
        impls[name + "um"] = _int_negate(oid)
        impls[name + "up"] = lambda value: value
    for name, single in (("float4", True), ("float8", False), ("float48", False),
                         ("float84", False)):
        impls[name + "pl"] = _float_add(single)
        impls[name + "mi"] = _float_sub(single)
        impls[name + "mul"] = _float_mul(single)
        impls[name + "div"] = _float_div(single)
    impls.update({
        "float4abs": abs, "float8abs": abs, "float4um": python_operator.neg,
        "float8um": python_operator.neg, "float4up": lambda value: value,
        "float8up": lambda value: value, "dpow": num.float_power, "dsqrt": num.float_sqrt,
        "dcbrt": num.float_cbrt,
        "numeric_add": num.numeric_add, "numeric_sub": num.numeric_sub,
        "numeric_mul": num.numeric_mul, "numeric_div": num.numeric_div,
        "numeric_mod": num.numeric_mod, "numeric_power": num.numeric_power,
        "numeric_abs": num.numeric_abs, "numeric_uminus": num.numeric_negate,
        "numeric_uplus": lambda value: value,
    })
    impls.update(_pg_lsn_implementations())
    impls.update(_string_implementations())
    impls.update(_datetime_implementations())
    impls.update(_json_implementations())
    return impls


PG_LSN_MAX = 0xFFFF_FFFF_FFFF_FFFF


def _pg_lsn_plus_bytes(lsn: int, nbytes: Any, nan_message: str) -> int:
    """An LSN moved by a numeric count of bytes, the sum rounded half away from zero (as
    PostgreSQL's numeric-to-pg_lsn conversion): 0A000 for NaN or infinity, 22023 outside
    0 .. 2^64-1."""
    if nbytes.is_nan():
        raise MirrordbError(nan_message, sqlstate="0A000")
    if nbytes.is_infinite():
        raise MirrordbError("cannot convert infinity to pg_lsn", sqlstate="0A000")
    exact = num.EXACT.add(decimal.Decimal(lsn), nbytes)
    result = int(exact.quantize(num.ONE, rounding=decimal.ROUND_HALF_UP, context=num.EXACT))
    if not 0 <= result <= PG_LSN_MAX:
        raise MirrordbError("pg_lsn out of range", sqlstate="22023")
    return result


def _pg_lsn_implementations() -> dict[str, Callable[..., Any]]:
    """pg_lsn - pg_lsn gives the distance in bytes as numeric; pg_lsn +/- numeric, and
    numeric + pg_lsn, move a position (what lag queries write)."""
    add, subtract = "cannot add NaN to pg_lsn", "cannot subtract NaN from pg_lsn"
    return {
        "pg_lsn_mi": lambda left, right: decimal.Decimal(left - right),
        "pg_lsn_pli": lambda lsn, nbytes: _pg_lsn_plus_bytes(lsn, nbytes, add),
        "numeric_pl_pg_lsn": lambda nbytes, lsn: _pg_lsn_plus_bytes(lsn, nbytes, add),
        "pg_lsn_mii": lambda lsn, nbytes: _pg_lsn_plus_bytes(lsn, -nbytes, subtract),
    }


def _string_implementations() -> dict[str, Callable[..., Any]]:
    impls: dict[str, Callable[..., Any]] = {
        "textcat": _text_concat, "byteacat": python_operator.add,
        "textlike": like, "textnlike": _negated(like), "texticlike": ilike,
        "texticnlike": _negated(ilike), "namelike": like, "namenlike": _negated(like),
        "nameiclike": ilike, "nameicnlike": _negated(ilike),
        "bpcharlike": like, "bpcharnlike": _negated(like), "bpchariclike": ilike,
        "bpcharicnlike": _negated(ilike),
        "bytealike": _bytea_like, "byteanlike": _negated(_bytea_like),
        "starts_with": lambda text, prefix: text.startswith(prefix),
    }
    for prefix in ("text", "name", "bpchar"):
        impls[prefix + "regexeq"] = regex_match
        impls[prefix + "regexne"] = _negated(regex_match)
        impls[prefix + "icregexeq"] = regex_imatch
        impls[prefix + "icregexne"] = _negated(regex_imatch)
    return impls


def _datetime_implementations() -> dict[str, Callable[..., Any]]:
    return {
        "date_pli": dt.date_plus_days,
        "integer_pl_date": lambda days, value: dt.date_plus_days(value, days),
        "date_mii": lambda value, days: dt.date_plus_days(value, -days),
        "date_mi": dt.date_minus_date,
        "date_pl_interval": dt.date_plus_interval,
        "interval_pl_date": lambda span, value: dt.date_plus_interval(value, span),
        "date_mi_interval": lambda value, span: dt.date_plus_interval(
            value, dt.negate_interval(span)),
        "datetime_pl": dt.date_plus_time,
        "timedate_pl": lambda moment, value: dt.date_plus_time(value, moment),
        "time_pl_interval": dt.time_plus_interval,
        "interval_pl_time": lambda span, moment: dt.time_plus_interval(moment, span),
        "time_mi_interval": dt.time_minus_interval,
        "time_mi_time": dt.time_minus_time,
        "timestamp_pl_interval": dt.timestamp_plus_interval,
        "interval_pl_timestamp": lambda span, value: dt.timestamp_plus_interval(value, span),
        "timestamp_mi_interval": dt.timestamp_minus_interval,
        "timestamp_mi": dt.timestamp_minus_timestamp,
        "timestamptz_pl_interval": _with_zone(dt.timestamptz_plus_interval),
        "interval_pl_timestamptz": lambda span, value: dt.timestamptz_plus_interval(
            value, span, T.session_timezone()),
        "timestamptz_mi_interval": _with_zone(dt.timestamptz_minus_interval),
        "timestamptz_mi": _timestamptz_minus,
        "interval_pl": dt.interval_plus_interval,
        "interval_mi": dt.interval_minus_interval,
        "interval_um": dt.negate_interval,
        "interval_mul": _interval_times,
        "mul_d_interval": lambda factor, span: dt.interval_multiply(span, factor),
        "interval_div": dt.interval_divide,
    }


def _json_implementations() -> dict[str, Callable[..., Any]]:
    return {
        "json_object_field": _json_arrow(False), "json_array_element": _json_arrow(False),
        "json_object_field_text": _json_arrow_text(False),
        "json_array_element_text": _json_arrow_text(False),
        "jsonb_object_field": _json_arrow(True), "jsonb_array_element": _json_arrow(True),
        "jsonb_object_field_text": _json_arrow_text(True),
        "jsonb_array_element_text": _json_arrow_text(True),
        "jsonb_contains": _jsonb_contains,
        "jsonb_contained": lambda left, right: _jsonb_contains(right, left),
        "jsonb_exists": _jsonb_exists, "jsonb_concat": _jsonb_concat,
        **json_functions.operator_implementations(),
        **range_functions.operator_implementations(),
        **network_functions.operator_implementations(),
    }


_IMPLEMENTATIONS = _build_implementations()

_FACTORIES: dict[str, Callable[[int, int], Callable[..., Any]]] = {
    "textanycat": _text_any_concat, "anytextcat": _text_any_concat,
    "array_cat": _array_concat, "array_append": _array_append,
    "array_prepend": _array_prepend, "arraycontains": _array_contains,
    "arraycontained": _array_contained, "arrayoverlap": _array_overlap,
}

# -- the pg_operator facts ------------------------------------------------------------------------
# oid:name:left:right:result:oprcode, read from a PostgreSQL 15 catalog (operators on the
# supported types). Operators whose names contain '|' are listed separately.

_OPERATOR_ROWS = """
640:!~:19:25:16:nameregexne 642:!~:25:25:16:textregexne 1056:!~:1042:25:16:bpcharregexne
1227:!~*:19:25:16:nameicregexne 1229:!~*:25:25:16:texticregexne
1235:!~*:1042:25:16:bpcharicregexne 2017:!~~:17:17:16:byteanlike 1208:!~~:19:25:16:namenlike
1210:!~~:25:25:16:textnlike 1212:!~~:1042:25:16:bpcharnlike 1626:!~~*:19:25:16:nameicnlike
1628:!~~*:25:25:16:texticnlike 1630:!~~*:1042:25:16:bpcharicnlike 1888:#:20:20:20:int8xor
1876:#:21:21:21:int2xor 1882:#:23:23:23:int4xor 439:%:20:20:20:int8mod 529:%:21:21:21:int2mod
530:%:23:23:23:int4mod 1762:%:1700:1700:1700:numeric_mod 1886:&:20:20:20:int8and
1874:&:21:21:21:int2and 1880:&:23:23:23:int4and 2750:&&:2277:2277:16:arrayoverlap
686:*:20:20:20:int8mul 820:*:20:21:20:int82mul 690:*:20:23:20:int84mul 824:*:21:20:20:int28mul
526:*:21:21:21:int2mul 544:*:21:23:23:int24mul 694:*:23:20:20:int48mul 545:*:23:21:23:int42mul
514:*:23:23:23:int4mul 589:*:700:700:700:float4mul 1119:*:700:701:701:float48mul
1129:*:701:700:701:float84mul 594:*:701:701:701:float8mul 1584:*:701:1186:1186:mul_d_interval
1583:*:1186:701:1186:interval_mul 1760:*:1700:1700:1700:numeric_mul 1916:+:0:20:20:int8up
1917:+:0:21:21:int2up 1918:+:0:23:23:int4up 1919:+:0:700:700:float4up 1920:+:0:701:701:float8up
1921:+:0:1700:1700:numeric_uplus 684:+:20:20:20:int8pl 818:+:20:21:20:int82pl
688:+:20:23:20:int84pl 822:+:21:20:20:int28pl 550:+:21:21:21:int2pl 552:+:21:23:23:int24pl
692:+:23:20:20:int48pl 553:+:23:21:23:int42pl 551:+:23:23:23:int4pl
2555:+:23:1082:1082:integer_pl_date 586:+:700:700:700:float4pl 1116:+:700:701:701:float48pl
1126:+:701:700:701:float84pl 591:+:701:701:701:float8pl 1100:+:1082:23:1082:date_pli
1360:+:1082:1083:1114:datetime_pl 1076:+:1082:1186:1114:date_pl_interval
1363:+:1083:1082:1114:timedate_pl 1800:+:1083:1186:1083:time_pl_interval
2066:+:1114:1186:1114:timestamp_pl_interval 1327:+:1184:1186:1184:timestamptz_pl_interval
2551:+:1186:1082:1114:interval_pl_date 1849:+:1186:1083:1083:interval_pl_time
2553:+:1186:1114:1114:interval_pl_timestamp 2554:+:1186:1184:1184:interval_pl_timestamptz
1337:+:1186:1186:1186:interval_pl 1758:+:1700:1700:1700:numeric_add 484:-:0:20:20:int8um
559:-:0:21:21:int2um 558:-:0:23:23:int4um 584:-:0:700:700:float4um 585:-:0:701:701:float8um
1336:-:0:1186:1186:interval_um 1751:-:0:1700:1700:numeric_uminus 685:-:20:20:20:int8mi
819:-:20:21:20:int82mi 689:-:20:23:20:int84mi 823:-:21:20:20:int28mi 554:-:21:21:21:int2mi
556:-:21:23:23:int24mi 693:-:23:20:20:int48mi 557:-:23:21:23:int42mi 555:-:23:23:23:int4mi
587:-:700:700:700:float4mi 1117:-:700:701:701:float48mi 1127:-:701:700:701:float84mi
592:-:701:701:701:float8mi 1101:-:1082:23:1082:date_mii 1099:-:1082:1082:23:date_mi
1077:-:1082:1186:1114:date_mi_interval 1399:-:1083:1083:1186:time_mi_time
1801:-:1083:1186:1083:time_mi_interval 2067:-:1114:1114:1186:timestamp_mi
2068:-:1114:1186:1114:timestamp_mi_interval 1328:-:1184:1184:1186:timestamptz_mi
1329:-:1184:1186:1184:timestamptz_mi_interval 1338:-:1186:1186:1186:interval_mi
1759:-:1700:1700:1700:numeric_sub 3228:-:3220:3220:1700:pg_lsn_mi
5025:+:3220:1700:3220:pg_lsn_pli 5026:+:1700:3220:3220:numeric_pl_pg_lsn
5027:-:3220:1700:3220:pg_lsn_mii
3964:->:114:23:114:json_array_element 3962:->:114:25:114:json_object_field
3212:->:3802:23:3802:jsonb_array_element 3211:->:3802:25:3802:jsonb_object_field
3965:->>:114:23:25:json_array_element_text 3963:->>:114:25:25:json_object_field_text
3481:->>:3802:23:25:jsonb_array_element_text 3477:->>:3802:25:25:jsonb_object_field_text
687:/:20:20:20:int8div 821:/:20:21:20:int82div 691:/:20:23:20:int84div 825:/:21:20:20:int28div
527:/:21:21:21:int2div 546:/:21:23:23:int24div 695:/:23:20:20:int48div 547:/:23:21:23:int42div
528:/:23:23:23:int4div 588:/:700:700:700:float4div 1118:/:700:701:701:float48div
1128:/:701:700:701:float84div 593:/:701:701:701:float8div 1585:/:1186:701:1186:interval_div
1761:/:1700:1700:1700:numeric_div 58:<:16:16:16:boollt 1957:<:17:17:16:bytealt
631:<:18:18:16:charlt 660:<:19:19:16:namelt 255:<:19:25:16:namelttext 412:<:20:20:16:int8lt
1870:<:20:21:16:int82lt 418:<:20:23:16:int84lt 1864:<:21:20:16:int28lt 95:<:21:21:16:int2lt
534:<:21:23:16:int24lt 37:<:23:20:16:int48lt 535:<:23:21:16:int42lt 97:<:23:23:16:int4lt
261:<:25:19:16:textltname 664:<:25:25:16:text_lt 609:<:26:26:16:oidlt
645:<:30:30:16:oidvectorlt 622:<:700:700:16:float4lt 1122:<:700:701:16:float48lt
1132:<:701:700:16:float84lt 672:<:701:701:16:float8lt 1058:<:1042:1042:16:bpcharlt
1095:<:1082:1082:16:date_lt 2345:<:1082:1114:16:date_lt_timestamp
2358:<:1082:1184:16:date_lt_timestamptz 1110:<:1083:1083:16:time_lt
2371:<:1114:1082:16:timestamp_lt_date 2062:<:1114:1114:16:timestamp_lt
2534:<:1114:1184:16:timestamp_lt_timestamptz 2384:<:1184:1082:16:timestamptz_lt_date
2540:<:1184:1114:16:timestamptz_lt_timestamp 1322:<:1184:1184:16:timestamptz_lt
1332:<:1186:1186:16:interval_lt 1754:<:1700:1700:16:numeric_lt 1072:<:2277:2277:16:array_lt
2974:<:2950:2950:16:uuid_lt 3224:<:3220:3220:16:pg_lsn_lt 3242:<:3802:3802:16:jsonb_lt
1890:<<:20:23:20:int8shl 1878:<<:21:23:21:int2shl 1884:<<:23:23:23:int4shl
1694:<=:16:16:16:boolle 1958:<=:17:17:16:byteale 632:<=:18:18:16:charle 661:<=:19:19:16:namele
256:<=:19:25:16:nameletext 414:<=:20:20:16:int8le 1872:<=:20:21:16:int82le
420:<=:20:23:16:int84le 1866:<=:21:20:16:int28le 522:<=:21:21:16:int2le 540:<=:21:23:16:int24le
80:<=:23:20:16:int48le 541:<=:23:21:16:int42le 523:<=:23:23:16:int4le
262:<=:25:19:16:textlename 665:<=:25:25:16:text_le 611:<=:26:26:16:oidle
647:<=:30:30:16:oidvectorle 624:<=:700:700:16:float4le 1124:<=:700:701:16:float48le
1134:<=:701:700:16:float84le 673:<=:701:701:16:float8le 1059:<=:1042:1042:16:bpcharle
1096:<=:1082:1082:16:date_le 2346:<=:1082:1114:16:date_le_timestamp
2359:<=:1082:1184:16:date_le_timestamptz 1111:<=:1083:1083:16:time_le
2372:<=:1114:1082:16:timestamp_le_date 2063:<=:1114:1114:16:timestamp_le
2535:<=:1114:1184:16:timestamp_le_timestamptz 2385:<=:1184:1082:16:timestamptz_le_date
2541:<=:1184:1114:16:timestamptz_le_timestamp 1323:<=:1184:1184:16:timestamptz_le
1333:<=:1186:1186:16:interval_le 1755:<=:1700:1700:16:numeric_le 1074:<=:2277:2277:16:array_le
2976:<=:2950:2950:16:uuid_le 3226:<=:3220:3220:16:pg_lsn_le 3244:<=:3802:3802:16:jsonb_le
85:<>:16:16:16:boolne 1956:<>:17:17:16:byteane 630:<>:18:18:16:charne 643:<>:19:19:16:namene
259:<>:19:25:16:namenetext 411:<>:20:20:16:int8ne 1869:<>:20:21:16:int82ne
417:<>:20:23:16:int84ne 1863:<>:21:20:16:int28ne 519:<>:21:21:16:int2ne 538:<>:21:23:16:int24ne
36:<>:23:20:16:int48ne 539:<>:23:21:16:int42ne 518:<>:23:23:16:int4ne
265:<>:25:19:16:textnename 531:<>:25:25:16:textne 608:<>:26:26:16:oidne
3316:<>:28:23:16:xidneqint4 3315:<>:28:28:16:xidneq 644:<>:30:30:16:oidvectorne
621:<>:700:700:16:float4ne 1121:<>:700:701:16:float48ne 1131:<>:701:700:16:float84ne
671:<>:701:701:16:float8ne 1057:<>:1042:1042:16:bpcharne 1094:<>:1082:1082:16:date_ne
2350:<>:1082:1114:16:date_ne_timestamp 2363:<>:1082:1184:16:date_ne_timestamptz
1109:<>:1083:1083:16:time_ne 2376:<>:1114:1082:16:timestamp_ne_date
2061:<>:1114:1114:16:timestamp_ne 2539:<>:1114:1184:16:timestamp_ne_timestamptz
2389:<>:1184:1082:16:timestamptz_ne_date 2545:<>:1184:1114:16:timestamptz_ne_timestamp
1321:<>:1184:1184:16:timestamptz_ne 1331:<>:1186:1186:16:interval_ne
1753:<>:1700:1700:16:numeric_ne 1071:<>:2277:2277:16:array_ne 2973:<>:2950:2950:16:uuid_ne
3223:<>:3220:3220:16:pg_lsn_ne 3241:<>:3802:3802:16:jsonb_ne
2752:<@:2277:2277:16:arraycontained 3250:<@:3802:3802:16:jsonb_contained 91:=:16:16:16:booleq
1955:=:17:17:16:byteaeq 92:=:18:18:16:chareq 93:=:19:19:16:nameeq 254:=:19:25:16:nameeqtext
410:=:20:20:16:int8eq 1868:=:20:21:16:int82eq 416:=:20:23:16:int84eq 1862:=:21:20:16:int28eq
94:=:21:21:16:int2eq 532:=:21:23:16:int24eq 15:=:23:20:16:int48eq 533:=:23:21:16:int42eq
96:=:23:23:16:int4eq 260:=:25:19:16:texteqname 98:=:25:25:16:texteq 607:=:26:26:16:oideq
353:=:28:23:16:xideqint4 352:=:28:28:16:xideq 649:=:30:30:16:oidvectoreq
620:=:700:700:16:float4eq 1120:=:700:701:16:float48eq 1130:=:701:700:16:float84eq
670:=:701:701:16:float8eq 1054:=:1042:1042:16:bpchareq 1093:=:1082:1082:16:date_eq
2347:=:1082:1114:16:date_eq_timestamp 2360:=:1082:1184:16:date_eq_timestamptz
1108:=:1083:1083:16:time_eq 2373:=:1114:1082:16:timestamp_eq_date
2060:=:1114:1114:16:timestamp_eq 2536:=:1114:1184:16:timestamp_eq_timestamptz
2386:=:1184:1082:16:timestamptz_eq_date 2542:=:1184:1114:16:timestamptz_eq_timestamp
1320:=:1184:1184:16:timestamptz_eq 1330:=:1186:1186:16:interval_eq
1752:=:1700:1700:16:numeric_eq 1070:=:2277:2277:16:array_eq 2972:=:2950:2950:16:uuid_eq
3222:=:3220:3220:16:pg_lsn_eq 3240:=:3802:3802:16:jsonb_eq 59:>:16:16:16:boolgt
1959:>:17:17:16:byteagt 633:>:18:18:16:chargt 662:>:19:19:16:namegt 258:>:19:25:16:namegttext
413:>:20:20:16:int8gt 1871:>:20:21:16:int82gt 419:>:20:23:16:int84gt 1865:>:21:20:16:int28gt
520:>:21:21:16:int2gt 536:>:21:23:16:int24gt 76:>:23:20:16:int48gt 537:>:23:21:16:int42gt
521:>:23:23:16:int4gt 264:>:25:19:16:textgtname 666:>:25:25:16:text_gt 610:>:26:26:16:oidgt
646:>:30:30:16:oidvectorgt 623:>:700:700:16:float4gt 1123:>:700:701:16:float48gt
1133:>:701:700:16:float84gt 674:>:701:701:16:float8gt 1060:>:1042:1042:16:bpchargt
1097:>:1082:1082:16:date_gt 2349:>:1082:1114:16:date_gt_timestamp
2362:>:1082:1184:16:date_gt_timestamptz 1112:>:1083:1083:16:time_gt
2375:>:1114:1082:16:timestamp_gt_date 2064:>:1114:1114:16:timestamp_gt
2538:>:1114:1184:16:timestamp_gt_timestamptz 2388:>:1184:1082:16:timestamptz_gt_date
2544:>:1184:1114:16:timestamptz_gt_timestamp 1324:>:1184:1184:16:timestamptz_gt
1334:>:1186:1186:16:interval_gt 1756:>:1700:1700:16:numeric_gt 1073:>:2277:2277:16:array_gt
2975:>:2950:2950:16:uuid_gt 3225:>:3220:3220:16:pg_lsn_gt 3243:>:3802:3802:16:jsonb_gt
1695:>=:16:16:16:boolge 1960:>=:17:17:16:byteage 634:>=:18:18:16:charge 663:>=:19:19:16:namege
257:>=:19:25:16:namegetext 415:>=:20:20:16:int8ge 1873:>=:20:21:16:int82ge
430:>=:20:23:16:int84ge 1867:>=:21:20:16:int28ge 524:>=:21:21:16:int2ge 542:>=:21:23:16:int24ge
82:>=:23:20:16:int48ge 543:>=:23:21:16:int42ge 525:>=:23:23:16:int4ge
263:>=:25:19:16:textgename 667:>=:25:25:16:text_ge 612:>=:26:26:16:oidge
648:>=:30:30:16:oidvectorge 625:>=:700:700:16:float4ge 1125:>=:700:701:16:float48ge
1135:>=:701:700:16:float84ge 675:>=:701:701:16:float8ge 1061:>=:1042:1042:16:bpcharge
1098:>=:1082:1082:16:date_ge 2348:>=:1082:1114:16:date_ge_timestamp
2361:>=:1082:1184:16:date_ge_timestamptz 1113:>=:1083:1083:16:time_ge
2374:>=:1114:1082:16:timestamp_ge_date 2065:>=:1114:1114:16:timestamp_ge
2537:>=:1114:1184:16:timestamp_ge_timestamptz 2387:>=:1184:1082:16:timestamptz_ge_date
2543:>=:1184:1114:16:timestamptz_ge_timestamp 1325:>=:1184:1184:16:timestamptz_ge
1335:>=:1186:1186:16:interval_ge 1757:>=:1700:1700:16:numeric_ge 1075:>=:2277:2277:16:array_ge
2977:>=:2950:2950:16:uuid_ge 3227:>=:3220:3220:16:pg_lsn_ge 3245:>=:3802:3802:16:jsonb_ge
1891:>>:20:23:20:int8shr 1879:>>:21:23:21:int2shr 1885:>>:23:23:23:int4shr
3247:?:3802:25:16:jsonb_exists 473:@:0:20:20:int8abs 682:@:0:21:21:int2abs
773:@:0:23:23:int4abs 590:@:0:700:700:float4abs 595:@:0:701:701:float8abs
1763:@:0:1700:1700:numeric_abs 2751:@>:2277:2277:16:arraycontains
3246:@>:3802:3802:16:jsonb_contains 965:^:701:701:701:dpow 1038:^:1700:1700:1700:numeric_power
3877:^@:25:25:16:starts_with 1889:~:0:20:20:int8not 1877:~:0:21:21:int2not
1883:~:0:23:23:int4not 639:~:19:25:16:nameregexeq 641:~:25:25:16:textregexeq
1055:~:1042:25:16:bpcharregexeq 1226:~*:19:25:16:nameicregexeq 1228:~*:25:25:16:texticregexeq
1234:~*:1042:25:16:bpcharicregexeq 2016:~~:17:17:16:bytealike 1207:~~:19:25:16:namelike
1209:~~:25:25:16:textlike 1211:~~:1042:25:16:bpcharlike 1625:~~*:19:25:16:nameiclike
1627:~~*:25:25:16:texticlike 1629:~~*:1042:25:16:bpchariclike
"""

_BAR_OPERATOR_ROWS = [
    (654, "||", 25, 25, 25, "textcat"), (2779, "||", 25, 2776, 25, "textanycat"),
    (2780, "||", 2776, 25, 25, "anytextcat"), (2018, "||", 17, 17, 17, "byteacat"),
    (3284, "||", 3802, 3802, 3802, "jsonb_concat"),
    (374, "||", 5077, 5078, 5078, "array_prepend"),
    (349, "||", 5078, 5077, 5078, "array_append"), (375, "||", 5078, 5078, 5078, "array_cat"),
    (596, "|/", 0, 701, 701, "dsqrt"), (597, "||/", 0, 701, 701, "dcbrt"),
    (1887, "|", 20, 20, 20, "int8or"), (1875, "|", 21, 21, 21, "int2or"),
    (1881, "|", 23, 23, 23, "int4or"),
]

_COMPARISON_NAMES = frozenset(_COMPARATORS)
_POLYMORPHIC_COMPARISON_CODES = frozenset({"array_eq", "array_ne", "array_lt", "array_gt",
                                           "array_le", "array_ge"})


def _operator_rows() -> list[tuple[int, str, int, int, int, str]]:
    rows: list[tuple[int, str, int, int, int, str]] = list(_BAR_OPERATOR_ROWS)
    rows.extend(json_functions.OPERATOR_ROWS)
    rows.extend(range_functions.OPERATOR_ROWS)
    rows.extend(network_functions.OPERATOR_ROWS)
    for item in _OPERATOR_ROWS.split():
        oid, name, left, right, result, code = item.split(":")
        rows.append((int(oid), name, int(left), int(right), int(result), code))
    return rows


def _make_definition(row: tuple[int, str, int, int, int, str]) -> OperatorDef | None:
    oid, name, left, right, result, code = row
    if code in _FACTORIES:
        return OperatorDef(oid, name, left, right, result, code, impl_factory=_FACTORIES[code],
                           strict=code not in _NON_STRICT_CODES)
    if code in _POLYMORPHIC_COMPARISON_CODES:
        return OperatorDef(oid, name, left, right, result, code,
                           impl_factory=lambda left_type, right_type, name=name:
                           _comparison(name, left_type, right_type))
    impl = _IMPLEMENTATIONS.get(code)
    if impl is None and name in _COMPARISON_NAMES:
        impl = _comparison(name, left, right)
    if impl is None:
        return None
    return OperatorDef(oid, name, left, right, result, code, impl=impl)


def _build_operator_table() -> dict[str, list[OperatorDef]]:
    table: dict[str, list[OperatorDef]] = {}
    for row in _operator_rows():
        definition = _make_definition(row)
        if definition is not None:
            table.setdefault(definition.name, []).append(definition)
    return table


OPERATORS: dict[str, list[OperatorDef]] = _build_operator_table()


# -- resolution ------------------------------------------------------------------------------------


def _operator_text(name: str, left: int | None, right: int) -> str:
    if left is None:
        return f"{name} {T.format_type(right)}"
    return f"{T.format_type(left)} {name} {T.format_type(right)}"


def _candidates(name: str, prefix: bool) -> list[Candidate]:
    definitions = OPERATORS.get(name, [])
    if prefix:
        return [Candidate((definition.right,), definition)
                for definition in definitions if definition.left == 0]
    return [Candidate((definition.left, definition.right), definition)
            for definition in definitions if definition.left != 0]


def _binary_exact(name: str, left: int, right: int) -> OperatorDef | None:
    """With one unknown operand, an operator whose both sides are the known type."""
    if (left == UNKNOWN_OID) == (right == UNKNOWN_OID):
        return None
    known = right if left == UNKNOWN_OID else left
    for definition in OPERATORS.get(name, []):
        if definition.left == known and definition.right == known:
            return definition
    return None


def resolve_operator(name: str, left_oid: int | None, right_oid: int) -> ResolvedOperator:
    """The operator ``name`` for operands of the given types (left None: prefix operator)."""
    if name.lower().startswith("pg_catalog."):
        name = name[len("pg_catalog."):]
    if right_oid >= T.FIRST_USER_TYPE_OID or (left_oid or 0) >= T.FIRST_USER_TYPE_OID:
        from mirrordb.sql import user_types
        enum_operator = user_types.enum_operator(name, left_oid, right_oid)
        if enum_operator is not None:
            return enum_operator
        left_oid = None if left_oid is None else T.base_type(left_oid)
        right_oid = T.base_type(right_oid)
        if right_oid >= T.FIRST_USER_TYPE_OID or (left_oid or 0) >= T.FIRST_USER_TYPE_OID:
            return _resolve.__wrapped__(name, left_oid, right_oid)  # not cached: user types
    return _resolve(name, left_oid, right_oid)


@functools.lru_cache(maxsize=2048)
def _resolve(name: str, left_oid: int | None, right_oid: int) -> ResolvedOperator:
    if range_functions.element_operand_mismatch(name, left_oid, right_oid):
        raise _no_operator(name, left_oid, right_oid)
    prefix = left_oid is None
    inputs = (right_oid,) if prefix else (left_oid or 0, right_oid)
    definition = None if prefix else _binary_exact(name, inputs[0], right_oid)
    if definition is None:
        try:
            chosen = select_candidate(inputs, _candidates(name, prefix))
        except NoCandidate:
            raise _no_operator(name, left_oid, right_oid) from None
        except AmbiguousCandidates:
            raise MirrordbError(f"operator is not unique: "
                                f"{_operator_text(name, left_oid, right_oid)}",
                                sqlstate="42725",
                                hint="Could not choose a best candidate operator. You might "
                                     "need to add explicit type casts.") from None
        definition = chosen.payload
    return _specialise(definition, inputs)


def _no_operator(name: str, left_oid: int | None, right_oid: int) -> MirrordbError:
    if left_oid is None:
        hint = ("No operator matches the given name and argument type. You might need to add "
                "an explicit type cast.")
    else:
        hint = ("No operator matches the given name and argument types. You might need to add "
                "explicit type casts.")
    return MirrordbError(f"operator does not exist: {_operator_text(name, left_oid, right_oid)}",
                         sqlstate="42883", hint=hint)


def _specialise(definition: OperatorDef, inputs: tuple[int, ...]) -> ResolvedOperator:
    declared = (definition.right,) if definition.left == 0 else (definition.left,
                                                                  definition.right)
    arguments, result = concrete_types(inputs, declared, definition.result)
    impl = definition.impl
    if definition.impl_factory is not None:
        left_type = arguments[0] if len(arguments) == 2 else 0
        impl = definition.impl_factory(left_type, arguments[-1])
    invariant(impl is not None, f"operator {definition.oid} has no implementation")
    left_type_or_none = arguments[0] if len(arguments) == 2 else None
    return ResolvedOperator(definition.oid, definition.name, left_type_or_none, arguments[-1],
                            result, impl, definition.strict)


def operator_exists(name: str) -> bool:
    return name in OPERATORS


__all__ = ["OperatorDef", "ResolvedOperator", "resolve_operator", "like", "ilike", "like_escape",
           "regex_match", "regex_imatch", "compile_regex", "like_regex", "OPERATORS",
           "operator_exists"]
