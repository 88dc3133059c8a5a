"""Numbers as PostgreSQL 15 reads, prints and computes them: numeric, float4/float8, integers.

Who calls it: ``sql/types.py`` (text and binary I/O, casts), ``sql/operators.py`` and
``sql/functions.py`` (arithmetic), ``sql/aggregates.py`` (sum, avg, variance). Everything here is a
pure function of its arguments; there is no state.

numeric values are ``decimal.Decimal``. PostgreSQL keeps a *display scale* (dscale: the number of
digits after the decimal point) with every numeric value; a Decimal keeps its exponent, so
``dscale = max(0, -exponent)``, and every operation below picks the result's exponent by
PostgreSQL's rules (``select_div_scale`` for division, ``NUMERIC_MIN_SIG_DIGITS`` for the
transcendental functions, and so on). Rounding is half away from zero (Decimal's ROUND_HALF_UP),
as PostgreSQL's ``round_var``. NaN, Infinity and -Infinity are Decimal's own specials.

float8 values are Python floats; float4 values are Python floats rounded to single precision.
Output is the shortest text that reads back to the same value (PostgreSQL >= 12 with
``extra_float_digits`` > 0), with PostgreSQL's switch to exponent notation (exponent < -4 or
>= 15 for float8, >= 6 for float4) and its two-digit exponents (``1e+20``, ``1e-05``).

The numeric binary format (numeric_send/numeric_recv), all fields big-endian::

    int16   ndigits   number of base-10000 digits that follow
    int16   weight    weight of the first digit: value = sum(digit[i] * 10000^(weight - i))
    uint16  sign      0x0000 positive, 0x4000 negative, 0xC000 NaN, 0xD000 +Inf, 0xF000 -Inf
    uint16  dscale    display scale (0 .. 0x3FFF)
    int16   digit[ndigits]   each 0..9999, no leading or trailing zero digits
"""

from __future__ import annotations

import decimal
import math
import re
import struct
import functools
from collections.abc import Callable
from dataclasses import dataclass

from mirrordb.common.errors import MirrordbError
from mirrordb.storage import numeric_format

# -- PostgreSQL's numeric limits (utils/numeric.h) ------------------------------------------------

NUMERIC_MAX_PRECISION = 1000
NUMERIC_MAX_DISPLAY_SCALE = NUMERIC_MAX_PRECISION
NUMERIC_MIN_DISPLAY_SCALE = 0
NUMERIC_MAX_RESULT_SCALE = NUMERIC_MAX_PRECISION * 2
NUMERIC_MIN_SIG_DIGITS = 16            # digits wanted from inexact operations (division, sqrt...)
NUMERIC_MAX_INTEGER_DIGITS = 131072    # digits before the decimal point the format can hold
NUMERIC_MAX_DSCALE = 0x3FFF            # digits after the decimal point the format can hold
NBASE = numeric_format.NBASE           # the base of the binary format's digits
DEC_DIGITS = numeric_format.DEC_DIGITS  # decimal digits per base-NBASE digit
NUMERIC_TYPMOD_HEADER = 4              # VARHDRSZ, added to every numeric/varchar typmod
FLOAT8_DIGITS = 15                     # DBL_DIG: float8 -> numeric keeps this many digits
FLOAT4_DIGITS = 6                      # FLT_DIG
FLOAT8_FIXED_LIMIT = 1e15              # float8 output switches to exponent notation here
GUARD_DIGITS = 10                      # extra digits carried by transcendental functions

NUMERIC_POS = 0x0000
NUMERIC_NEG = 0x4000
NUMERIC_NAN = 0xC000
NUMERIC_PINF = 0xD000
NUMERIC_NINF = 0xF000
INFINITY_SEND_DSCALE = 0x20        # numeric_send reads an infinity's dscale from its header bits

NUMERIC_HEADER = struct.Struct(">hhHH")      # ndigits, weight, sign, dscale
NUMERIC_DIGIT = struct.Struct(">h")
FLOAT8_BINARY = struct.Struct(">d")
FLOAT4_BINARY = struct.Struct(">f")
FLOAT4_NATIVE = struct.Struct("<f")
assert NUMERIC_HEADER.size == 8 and FLOAT4_BINARY.size == 4 and FLOAT8_BINARY.size == 8

INT2_MIN, INT2_MAX = -2**15, 2**15 - 1
INT4_MIN, INT4_MAX = -2**31, 2**31 - 1
INT8_MIN, INT8_MAX = -2**63, 2**63 - 1

# Exact arithmetic: a precision no numeric value can reach, so +, - and * never round.
EXACT = decimal.Context(prec=decimal.MAX_PREC, rounding=decimal.ROUND_HALF_UP,
                        Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                        traps=[decimal.InvalidOperation, decimal.DivisionByZero,
                               decimal.Overflow])

NAN = decimal.Decimal("NaN")
POSITIVE_INFINITY = decimal.Decimal("Infinity")
NEGATIVE_INFINITY = decimal.Decimal("-Infinity")
ZERO = decimal.Decimal(0)
ONE = decimal.Decimal(1)


# -- errors ----------------------------------------------------------------------------------------


def invalid_syntax(type_name: str, text: str) -> MirrordbError:
    return MirrordbError(f'invalid input syntax for type {type_name}: "{text}"',
                         sqlstate="22P02")


def out_of_range(type_name: str) -> MirrordbError:
    """PostgreSQL's "integer out of range" family (22003)."""
    return MirrordbError(f"{type_name} out of range", sqlstate="22003")


def division_by_zero() -> MirrordbError:
    return MirrordbError("division by zero", sqlstate="22012")


def float_overflow() -> MirrordbError:
    return MirrordbError("value out of range: overflow", sqlstate="22003")


def float_underflow() -> MirrordbError:
    return MirrordbError("value out of range: underflow", sqlstate="22003")


def numeric_overflow() -> MirrordbError:
    return MirrordbError("value overflows numeric format", sqlstate="22003")


# -- integers --------------------------------------------------------------------------------------

_INTEGER_TEXT = re.compile(r"[ \t\n\r\v\f]*([+-]?[0-9]+)[ \t\n\r\v\f]*\Z")

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "smallint": (INT2_MIN, INT2_MAX),
    "integer": (INT4_MIN, INT4_MAX),
    "bigint": (INT8_MIN, INT8_MAX),
}


def parse_integer(text: str, type_name: str) -> int:
    """int2in/int4in/int8in: optional blanks and sign around decimal digits."""
    if text.isascii() and text.isdigit() and len(text) < 19:
        value = int(text)
        low, high = INTEGER_RANGES[type_name]
        if value <= high:
            return value
    match = _INTEGER_TEXT.match(text)
    if match is None:
        raise invalid_syntax(type_name, text)
    value = int(match.group(1))
    low, high = INTEGER_RANGES[type_name]
    if not low <= value <= high:
        raise MirrordbError(f'value "{text}" is out of range for type {type_name}',
                            sqlstate="22003")
    return value


def parse_oid(text: str, type_name: str = "oid") -> int:
    """oidin: an unsigned 32-bit number; negative numbers down to -2^31 wrap around."""
    match = _INTEGER_TEXT.match(text)
    if match is None:
        raise invalid_syntax(type_name, text)
    value = int(match.group(1))
    if not -2**31 <= value <= 2**32 - 1:
        raise MirrordbError(f'value "{text}" is out of range for type {type_name}',
                            sqlstate="22003")
    return value & 0xFFFFFFFF


def check_int2(value: int) -> int:
    if not INT2_MIN <= value <= INT2_MAX:
        raise out_of_range("smallint")
    return value


def check_int4(value: int) -> int:
    if not INT4_MIN <= value <= INT4_MAX:
        raise out_of_range("integer")
    return value


def check_int8(value: int) -> int:
    if not INT8_MIN <= value <= INT8_MAX:
        raise out_of_range("bigint")
    return value


def int_divide(left: int, right: int) -> int:
    """C integer division: truncates toward zero."""
    if right == 0:
        raise division_by_zero()
    quotient = abs(left) // abs(right)
    return quotient if (left < 0) == (right < 0) else -quotient


def int_modulo(left: int, right: int) -> int:
    """C's %: the result takes the dividend's sign."""
    if right == 0:
        raise division_by_zero()
    remainder = abs(left) % abs(right)
    return -remainder if left < 0 else remainder


# -- floats ----------------------------------------------------------------------------------------

_FLOAT_TEXT = re.compile(
    r"[ \t\n\r\v\f]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\n\r\v\f]*\Z")
_HEX_FLOAT_TEXT = re.compile(
    r"[ \t\n\r\v\f]*([+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
    r"(?:[pP][+-]?[0-9]+)?)[ \t\n\r\v\f]*\Z")
_FLOAT_SPECIALS = {
    "nan": math.nan, "+nan": math.nan, "-nan": math.nan,
    "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
    "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
}
FLOAT4_MAX = FLOAT4_NATIVE.unpack(b"\xff\xff\x7f\x7f")[0]


def parse_float8(text: str, type_name: str = "double precision") -> float:
    """float8in: decimal notation, NaN, [+-]Infinity/inf; out of range is an error."""
    match = _FLOAT_TEXT.match(text)
    if match is None:
        return _parse_float_special(text, type_name)
    number_text = match.group(1)
    value = float(number_text)
    if math.isinf(value) or (value == 0.0 and _has_nonzero_digit(number_text)):
        raise MirrordbError(f'"{text}" is out of range for type {type_name}', sqlstate="22003")
    return value


def _parse_float_special(text: str, type_name: str) -> float:
    """NaN, infinities and C99 hexadecimal floats (strtod accepts them)."""
    special = _FLOAT_SPECIALS.get(text.strip(" \t\n\r\v\f").lower())
    if special is not None:
        return special
    hexadecimal = _HEX_FLOAT_TEXT.match(text)
    if hexadecimal is None:
        raise invalid_syntax(type_name, text)
    body = hexadecimal.group(1)
    if "p" not in body.lower():
        body += "p0"
    try:
        value = float.fromhex(body)
    except OverflowError:
        raise MirrordbError(f'"{text}" is out of range for type {type_name}',
                            sqlstate="22003") from None
    return value


def parse_float4(text: str) -> float:
    """float4in: as float8in, then the value must fit single precision."""
    value = parse_float8(text, "real")
    if math.isinf(value) or math.isnan(value):
        return value
    single = round_to_float4(value)
    if math.isinf(single) or (single == 0.0 and value != 0.0):
        raise MirrordbError(f'"{text}" is out of range for type real', sqlstate="22003")
    return single


def _has_nonzero_digit(number_text: str) -> bool:
    mantissa = number_text.lower().split("e")[0]
    return any(character in "123456789" for character in mantissa)


def round_to_float4(value: float) -> float:
    """The nearest single-precision value (inf when it does not fit)."""
    try:
        return FLOAT4_NATIVE.unpack(FLOAT4_NATIVE.pack(value))[0]  # type: ignore[no-any-return]
    except OverflowError:
        return math.copysign(math.inf, value)


def check_float8(result: float, *inputs: float) -> float:
    """PostgreSQL's float overflow/underflow checks after an operation on finite inputs."""
    if math.isinf(result) and not any(math.isinf(value) for value in inputs):
        raise float_overflow()
    return result


def check_float8_nonzero(result: float, *inputs: float) -> float:
    """As check_float8 for * and /: a zero result from nonzero inputs is an underflow."""
    if math.isinf(result) and not any(math.isinf(value) for value in inputs):
        raise float_overflow()
    if result == 0.0 and inputs and all(value != 0.0 for value in inputs):
        raise float_underflow()
    return result


def check_float4(result: float, *inputs: float) -> float:
    single = round_to_float4(result)
    if math.isinf(single) and not any(math.isinf(value) for value in inputs):
        raise float_overflow()
    return single


def check_float4_nonzero(result: float, *inputs: float) -> float:
    single = check_float4(result, *inputs)
    if single == 0.0 and inputs and all(value != 0.0 for value in inputs):
        raise float_underflow()
    return single


def format_float8(value: float) -> str:
    """float8out with extra_float_digits > 0: shortest round-trip digits."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = repr(value)                 # shortest round-trip digits, as PostgreSQL's Ryu gives
    if "e" in text:                    # Python and PostgreSQL agree on exponent notation here
        return text
    if abs(value) < FLOAT8_FIXED_LIMIT:
        return text[:-2] if text.endswith(".0") else text
    digits, exponent = _shortest_digits(text)
    return _layout_float(value < 0, digits, exponent, FLOAT8_DIGITS)


def format_float4(value: float) -> str:
    """float4out with extra_float_digits > 0: shortest digits that read back as the same float4."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    single = round_to_float4(value)
    for precision in range(1, 10):
        text = f"{single:.{precision}e}" if precision > 1 else f"{single:.0e}"
        if round_to_float4(float(text)) == single:
            break
    digits, exponent = _shortest_digits(text)
    return _layout_float(single < 0, digits, exponent, FLOAT4_DIGITS)


def _shortest_digits(text: str) -> tuple[str, int]:
    """(significant digits without trailing zeros, decimal exponent of the first digit)."""
    text = text.lstrip("-")
    mantissa, _, exponent_text = text.partition("e")
    exponent = int(exponent_text) if exponent_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    leading_zeros = len(whole + fraction) - len(digits)
    exponent += len(whole) - 1 - leading_zeros
    return digits.rstrip("0") or "0", exponent


def _layout_float(negative: bool, digits: str, exponent: int, fixed_limit: int) -> str:
    sign = "-" if negative else ""
    if exponent < -4 or exponent >= fixed_limit:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exponent_sign = "-" if exponent < 0 else "+"
        return f"{sign}{mantissa}e{exponent_sign}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return sign + digits + "0" * (exponent + 1 - len(digits))
    return f"{sign}{digits[:exponent + 1]}.{digits[exponent + 1:]}"


def float_power(left: float, right: float) -> float:
    """dpow: float8 ^ float8 with PostgreSQL's errors."""
    if math.isnan(left):
        return 1.0 if right == 0.0 else math.nan
    if math.isnan(right):
        return 1.0 if left == 1.0 else math.nan
    if left == 0.0 and right < 0.0:
        raise MirrordbError("zero raised to a negative power is undefined", sqlstate="2201F")
    if left < 0.0 and not math.isinf(right) and math.floor(right) != right:
        raise MirrordbError("a negative number raised to a non-integer power yields a complex "
                            "result", sqlstate="2201F")
    try:
        result = math.pow(left, right)
    except OverflowError:
        raise float_overflow() from None
    except ValueError:
        return math.nan
    return check_float8_nonzero(result, left, right) if result == 0.0 and left != 0.0 \
        and not math.isinf(right) else check_float8(result, left, right)


def float_sqrt(value: float) -> float:
    if value < 0.0:
        raise MirrordbError("cannot take square root of a negative number", sqlstate="2201F")
    return math.sqrt(value)


def float_cbrt(value: float) -> float:
    return math.cbrt(value)


def float_to_int(value: float, type_name: str) -> int:
    """float -> integer casts: round half to even (rint), then range check."""
    if math.isnan(value) or math.isinf(value):
        raise out_of_range(type_name)
    result = round(value)
    low, high = INTEGER_RANGES[type_name]
    if not low <= result <= high:
        raise out_of_range(type_name)
    return result


def float_to_numeric(value: float, single: bool = False) -> decimal.Decimal:
    """float8_numeric/float4_numeric: through "%.15g" (or "%.6g") text, as PostgreSQL does."""
    if math.isnan(value):
        return NAN
    if math.isinf(value):
        return POSITIVE_INFINITY if value > 0 else NEGATIVE_INFINITY
    text = f"{value:.{FLOAT4_DIGITS if single else FLOAT8_DIGITS}g}"
    return normalize_numeric(decimal.Decimal(text))


def numeric_to_float(value: decimal.Decimal, single: bool = False) -> float:
    if value.is_nan():
        return math.nan
    result = float(value)
    if math.isinf(result) and value.is_finite():
        raise MirrordbError(f'"{format_numeric(value)}" is out of range for type '
                            f'{"real" if single else "double precision"}', sqlstate="22003")
    return round_to_float4(result) if single else result


# -- numeric text I/O ------------------------------------------------------------------------------

_NUMERIC_TEXT = re.compile(
    r"[ \t\n\r\v\f]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\n\r\v\f]*\Z")
_NUMERIC_SPECIALS = {
    "nan": NAN, "infinity": POSITIVE_INFINITY, "+infinity": POSITIVE_INFINITY,
    "-infinity": NEGATIVE_INFINITY, "inf": POSITIVE_INFINITY, "+inf": POSITIVE_INFINITY,
    "-inf": NEGATIVE_INFINITY,
}
_MAX_EXPONENT_DIGITS = 12             # longer exponents overflow the format anyway


def parse_numeric(text: str) -> decimal.Decimal:
    """numeric_in: decimal notation with an optional exponent, NaN, [+-]Infinity/inf."""
    match = _NUMERIC_TEXT.match(text)
    if match is None:
        special = _NUMERIC_SPECIALS.get(text.strip(" \t\n\r\v\f").lower())
        if special is None:
            raise invalid_syntax("numeric", text)
        return special
    number_text = match.group(1)
    _, _, exponent_text = number_text.lower().partition("e")
    if len(exponent_text.lstrip("+-").lstrip("0")) > _MAX_EXPONENT_DIGITS:
        raise numeric_overflow()
    return check_numeric_limits(normalize_numeric(decimal.Decimal(number_text)))


def normalize_numeric(value: decimal.Decimal) -> decimal.Decimal:
    """PostgreSQL's canonical form: no negative zero, no positive exponent (dscale >= 0)."""
    if not value.is_finite():
        return NAN if value.is_nan() else value
    if value.is_zero():
        value = value.copy_abs()
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        value = value.quantize(ONE, context=EXACT)
    return value


def check_numeric_limits(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_finite() and not value.is_zero():
        if value.adjusted() >= NUMERIC_MAX_INTEGER_DIGITS or dscale(value) > NUMERIC_MAX_DSCALE:
            raise numeric_overflow()
    return value


dscale = numeric_format.display_scale     # the display scale: digits after the decimal point


def format_numeric(value: decimal.Decimal) -> str:
    """numeric_out: plain notation keeping the display scale."""
    if not value.is_finite():
        if value.is_nan():
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_zero():
        value = value.copy_abs()
    return format(value, "f")


# -- numeric typmods -------------------------------------------------------------------------------


def numeric_typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | (scale & 0xFFFF)) + NUMERIC_TYPMOD_HEADER


def numeric_typmod_parts(typmod: int) -> tuple[int, int]:
    """(precision, scale) of a numeric typmod; the scale may be negative (PG 15)."""
    value = typmod - NUMERIC_TYPMOD_HEADER
    scale = value & 0x7FF
    if scale & 0x400:
        scale -= 0x800
    return (value >> 16) & 0xFFFF, scale


def apply_numeric_typmod(value: decimal.Decimal, typmod: int) -> decimal.Decimal:
    """Round to the column's scale, then check its precision (numeric field overflow)."""
    if typmod < NUMERIC_TYPMOD_HEADER or value.is_nan():
        return value
    precision, scale = numeric_typmod_parts(typmod)
    if value.is_infinite():
        raise MirrordbError("numeric field overflow", sqlstate="22003",
                            detail=f"A field with precision {precision}, scale {scale} cannot "
                                   f"hold an infinite value.")
    rounded = round_numeric(value, scale)
    integer_digits = precision - scale
    if not rounded.is_zero() and rounded.adjusted() >= integer_digits:
        raise MirrordbError(
            "numeric field overflow", sqlstate="22003",
            detail=f"A field with precision {precision}, scale {scale} must round to an absolute "
                   f"value less than {'10^' + str(integer_digits) if integer_digits else '1'}.")
    return rounded


# -- numeric arithmetic ----------------------------------------------------------------------------


def round_numeric(value: decimal.Decimal, scale: int) -> decimal.Decimal:
    """round_var: half away from zero to ``scale`` digits (negative: before the point)."""
    if not value.is_finite():
        return value
    return normalize_numeric(value.quantize(decimal.Decimal(1).scaleb(-scale),
                                            rounding=decimal.ROUND_HALF_UP, context=EXACT))


def truncate_numeric(value: decimal.Decimal, scale: int) -> decimal.Decimal:
    """trunc_var: drop digits after ``scale`` (toward zero)."""
    if not value.is_finite():
        return value
    return normalize_numeric(value.quantize(decimal.Decimal(1).scaleb(-scale),
                                            rounding=decimal.ROUND_DOWN, context=EXACT))


def _special_sum(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    if left.is_nan() or right.is_nan():
        return NAN
    if left.is_infinite() and right.is_infinite() and left != right:
        return NAN
    return left if left.is_infinite() else right


def numeric_add(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    """Exact sum; the display scale is the larger input's (inputs are in canonical form, so
    the sum's exponent needs no normalising)."""
    if not (left.is_finite() and right.is_finite()):
        return _special_sum(left, right)
    total = EXACT.add(left, right)
    if not total:
        return total.copy_abs()
    if total.adjusted() >= NUMERIC_MAX_INTEGER_DIGITS:
        raise numeric_overflow()
    return total


def numeric_sub(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    return numeric_add(left, right.copy_negate() if not right.is_nan() else right)


def numeric_mul(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    if not (left.is_finite() and right.is_finite()):
        if left.is_nan() or right.is_nan() or left.is_zero() or right.is_zero():
            return NAN
        negative = (left < 0) != (right < 0)
        return NEGATIVE_INFINITY if negative else POSITIVE_INFINITY
    product = EXACT.multiply(left, right)
    if dscale(product) > NUMERIC_MAX_DSCALE:
        product = round_numeric(product, NUMERIC_MAX_DSCALE)
    return check_numeric_limits(normalize_numeric(product))


def _weight_and_first_digit(value: decimal.Decimal) -> tuple[int, int]:
    """The base-10000 weight and first digit of a nonzero value (PostgreSQL's digit layout)."""
    if value.is_zero():
        return 0, 0
    adjusted = value.adjusted()
    weight = adjusted // DEC_DIGITS
    first_digit = int(value.copy_abs().scaleb(-weight * DEC_DIGITS, context=EXACT))
    return weight, first_digit


def select_div_scale(left: decimal.Decimal, right: decimal.Decimal) -> int:
    """The display scale of a quotient: at least NUMERIC_MIN_SIG_DIGITS significant digits."""
    weight1, first1 = _weight_and_first_digit(left)
    weight2, first2 = _weight_and_first_digit(right)
    quotient_weight = weight1 - weight2
    if first1 <= first2:
        quotient_weight -= 1
    scale = NUMERIC_MIN_SIG_DIGITS - quotient_weight * DEC_DIGITS
    scale = max(scale, dscale(left), dscale(right), NUMERIC_MIN_DISPLAY_SCALE)
    return min(scale, NUMERIC_MAX_DISPLAY_SCALE)


def divide_to_scale(left: decimal.Decimal, right: decimal.Decimal, scale: int,
                    rounding: str = decimal.ROUND_HALF_UP) -> decimal.Decimal:
    """left / right rounded to ``scale`` digits, computed exactly with integers."""
    left_digits, left_exponent = _integer_and_exponent(left)
    right_digits, right_exponent = _integer_and_exponent(right)
    # left/right * 10^scale = left_digits * 10^(le - re + scale) / right_digits
    shift = left_exponent - right_exponent + scale
    numerator = left_digits * 10 ** shift if shift >= 0 else left_digits
    denominator = right_digits if shift >= 0 else right_digits * 10 ** -shift
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(abs(numerator), abs(denominator))
    if rounding == decimal.ROUND_HALF_UP and remainder * 2 >= abs(denominator):
        quotient += 1
    result = decimal.Decimal(-quotient if negative else quotient).scaleb(-scale, context=EXACT)
    return normalize_numeric(result)


def _integer_and_exponent(value: decimal.Decimal) -> tuple[int, int]:
    sign, digits, exponent = value.as_tuple()
    number = int("".join(map(str, digits)) or "0")
    return (-number if sign else number), int(exponent)


def numeric_div(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    special = _special_div(left, right)
    if special is not None:
        return special
    if right.is_zero():
        raise division_by_zero()
    return check_numeric_limits(divide_to_scale(left, right, select_div_scale(left, right)))


def _special_div(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal | None:
    if left.is_finite() and right.is_finite():
        return None
    if left.is_nan() or right.is_nan():
        return NAN
    if left.is_infinite():
        if right.is_infinite():
            return NAN
        if right.is_zero():
            raise division_by_zero()
        return left if right > 0 else left.copy_negate()
    return ZERO                                   # finite / infinity


def numeric_div_trunc(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    """div(): the integer part of the quotient."""
    if left.is_nan() or right.is_nan():
        return NAN
    if left.is_infinite():
        if right.is_infinite():
            return NAN
        if right.is_zero():
            raise division_by_zero()
        return left if right > 0 else left.copy_negate()
    if right.is_infinite():
        return ZERO
    if right.is_zero():
        raise division_by_zero()
    return divide_to_scale(left, right, 0, rounding=decimal.ROUND_DOWN)


def numeric_mod(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    if left.is_nan() or right.is_nan():
        return NAN
    if left.is_infinite():
        if right.is_zero():
            raise division_by_zero()
        return NAN
    if right.is_infinite():
        return left
    if right.is_zero():
        raise division_by_zero()
    quotient = divide_to_scale(left, right, 0, rounding=decimal.ROUND_DOWN)
    return normalize_numeric(EXACT.subtract(left, EXACT.multiply(quotient, right)))


def numeric_abs(value: decimal.Decimal) -> decimal.Decimal:
    return value.copy_abs() if not value.is_nan() else value


def numeric_negate(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_nan() or value.is_zero():
        return value
    return value.copy_negate()


def numeric_sign(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_nan():
        return NAN
    if value.is_zero():
        return ZERO
    return ONE if value > 0 else -ONE


def numeric_ceil(value: decimal.Decimal) -> decimal.Decimal:
    if not value.is_finite():
        return value
    return normalize_numeric(value.quantize(ONE, rounding=decimal.ROUND_CEILING, context=EXACT))


def numeric_floor(value: decimal.Decimal) -> decimal.Decimal:
    if not value.is_finite():
        return value
    return normalize_numeric(value.quantize(ONE, rounding=decimal.ROUND_FLOOR, context=EXACT))


def _working_context(scale: int, magnitude: int) -> decimal.Context:
    """A context precise enough for ``scale`` digits after the point of a result whose decimal
    exponent is about ``magnitude``."""
    return decimal.Context(prec=max(magnitude, 0) + scale + GUARD_DIGITS + 2,
                           rounding=decimal.ROUND_HALF_EVEN, Emax=decimal.MAX_EMAX,
                           Emin=decimal.MIN_EMIN, traps=[decimal.InvalidOperation,
                                                         decimal.DivisionByZero,
                                                         decimal.Overflow])


def _finish(value: decimal.Decimal, scale: int) -> decimal.Decimal:
    return check_numeric_limits(round_numeric(value, scale))


def numeric_sqrt(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_nan():
        return NAN
    if value < 0:
        raise MirrordbError("cannot take square root of a negative number", sqlstate="2201F")
    if value.is_infinite():
        return value
    weight, _ = _weight_and_first_digit(value)
    result_weight = (weight + 1) * DEC_DIGITS // 2 - 1
    scale = NUMERIC_MIN_SIG_DIGITS - result_weight
    scale = min(max(scale, dscale(value), NUMERIC_MIN_DISPLAY_SCALE), NUMERIC_MAX_DISPLAY_SCALE)
    context = _working_context(scale, value.adjusted() // 2 + 1)
    return _finish(value.sqrt(context), scale)


def numeric_exp(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_nan():
        return NAN
    if value.is_infinite():
        return value if value > 0 else ZERO
    estimate = float(value) * 0.434294481903252
    estimate = max(min(estimate, NUMERIC_MAX_RESULT_SCALE), -NUMERIC_MAX_RESULT_SCALE)
    if estimate >= NUMERIC_MAX_INTEGER_DIGITS:
        raise numeric_overflow()
    scale = NUMERIC_MIN_SIG_DIGITS - int(estimate)
    scale = min(max(scale, dscale(value), NUMERIC_MIN_DISPLAY_SCALE), NUMERIC_MAX_DISPLAY_SCALE)
    context = _working_context(scale, int(estimate) + 1)
    return _finish(value.exp(context), scale)


def estimate_ln_dweight(value: decimal.Decimal) -> int:
    """The decimal weight of ln(value), estimated as PostgreSQL does to pick a result scale."""
    if value <= 0:
        return 0
    if decimal.Decimal("0.9") <= value <= decimal.Decimal("1.1"):
        difference = EXACT.subtract(value, ONE)
        return 0 if difference.is_zero() else difference.adjusted()
    weight, first_digit = _weight_and_first_digit(value)
    digits = first_digit
    decimal_weight = weight * DEC_DIGITS
    scaled = value.scaleb(-weight * DEC_DIGITS, context=EXACT)
    second = int((scaled - first_digit) * NBASE)
    if scaled != first_digit:
        digits = first_digit * NBASE + second
        decimal_weight -= DEC_DIGITS
    ln_estimate = math.log(digits) + decimal_weight * 2.302585092994046
    return int(math.log10(abs(ln_estimate))) if ln_estimate != 0 else 0


def numeric_ln(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_nan():
        return NAN
    _check_log_argument(value)
    if value.is_infinite():
        return value
    scale = NUMERIC_MIN_SIG_DIGITS - estimate_ln_dweight(value)
    scale = min(max(scale, dscale(value), NUMERIC_MIN_DISPLAY_SCALE), NUMERIC_MAX_DISPLAY_SCALE)
    context = _working_context(scale, 8)
    return _finish(value.ln(context), scale)


def _check_log_argument(value: decimal.Decimal) -> None:
    if value.is_zero():
        raise MirrordbError("cannot take logarithm of zero", sqlstate="2201E")
    if value < 0:
        raise MirrordbError("cannot take logarithm of a negative number", sqlstate="2201E")


def numeric_log(base: decimal.Decimal, value: decimal.Decimal) -> decimal.Decimal:
    """log(base, value)."""
    if base.is_nan() or value.is_nan():
        return NAN
    _check_log_argument(base)
    _check_log_argument(value)
    if base.is_infinite() or value.is_infinite():
        if base.is_infinite() and value.is_infinite():
            return NAN
        return ZERO if base.is_infinite() else value
    result_dweight = estimate_ln_dweight(value) - estimate_ln_dweight(base)
    scale = NUMERIC_MIN_SIG_DIGITS - result_dweight
    scale = max(scale, dscale(base), dscale(value), NUMERIC_MIN_DISPLAY_SCALE)
    scale = min(scale, NUMERIC_MAX_DISPLAY_SCALE)
    context = _working_context(scale + 8, 8)
    denominator = base.ln(context)
    if denominator.is_zero():
        raise division_by_zero()
    return _finish(context.divide(value.ln(context), denominator), scale)


def numeric_log10(value: decimal.Decimal) -> decimal.Decimal:
    return numeric_log(decimal.Decimal(10), value)


def numeric_power(base: decimal.Decimal, exponent: decimal.Decimal) -> decimal.Decimal:
    special = _special_power(base, exponent)
    if special is not None:
        return special
    if base.is_zero() and exponent < 0:
        raise MirrordbError("zero raised to a negative power is undefined", sqlstate="2201F")
    integral = exponent == exponent.to_integral_value()
    if base < 0 and not integral:
        raise MirrordbError("a negative number raised to a non-integer power yields a complex "
                            "result", sqlstate="2201F")
    if integral and abs(exponent) <= INT4_MAX:
        return _power_integer(base, int(exponent))
    return _power_general(base, exponent)


def _special_power(base: decimal.Decimal, exponent: decimal.Decimal) -> decimal.Decimal | None:
    if base.is_finite() and exponent.is_finite():
        return None
    if exponent.is_nan():
        return ONE if base == ONE else NAN
    if base.is_nan():
        return ONE if exponent.is_zero() else NAN
    if exponent.is_infinite():
        magnitude = abs(base)
        if magnitude == ONE:
            return ONE
        if (magnitude > ONE) == (exponent > 0):
            return POSITIVE_INFINITY
        return ZERO
    # base is infinite, exponent finite
    if exponent.is_zero():
        return ONE
    if exponent < 0:
        return ZERO
    if base > 0:
        return POSITIVE_INFINITY
    odd = exponent == exponent.to_integral_value() and int(exponent) % 2 == 1
    return NEGATIVE_INFINITY if odd else POSITIVE_INFINITY


def _power_integer(base: decimal.Decimal, exponent: int) -> decimal.Decimal:
    if exponent == 0:
        return ONE.quantize(ONE.scaleb(-max(NUMERIC_MIN_SIG_DIGITS, dscale(base))),
                            context=EXACT)
    scale = min(max(NUMERIC_MIN_SIG_DIGITS, dscale(base), NUMERIC_MIN_DISPLAY_SCALE),
                NUMERIC_MAX_DISPLAY_SCALE)
    if not base.is_zero():
        magnitude = base.adjusted() * exponent
        if magnitude >= NUMERIC_MAX_INTEGER_DIGITS:
            raise numeric_overflow()
        if magnitude < -NUMERIC_MAX_RESULT_SCALE * 2:
            return decimal.Decimal(0).scaleb(-scale)
    if exponent > 0:
        result = EXACT.power(base, exponent)
        return _finish(result, scale)
    context = _working_context(scale, -base.adjusted() * exponent + 1)
    return _finish(context.divide(ONE, EXACT.power(base, -exponent)), scale)


def _power_general(base: decimal.Decimal, exponent: decimal.Decimal) -> decimal.Decimal:
    if base.is_zero():
        return decimal.Decimal(0).scaleb(-max(NUMERIC_MIN_SIG_DIGITS, dscale(base),
                                              dscale(exponent)))
    estimate_context = decimal.Context(prec=30)
    ln_estimate = float(estimate_context.multiply(base.ln(estimate_context), exponent))
    if abs(ln_estimate) > NUMERIC_MAX_RESULT_SCALE * 3.01:
        if ln_estimate > 0:
            raise numeric_overflow()
        return decimal.Decimal(0).scaleb(-NUMERIC_MAX_DISPLAY_SCALE)
    decimal_weight = ln_estimate * 0.434294481903252
    scale = NUMERIC_MIN_SIG_DIGITS - int(decimal_weight)
    scale = max(scale, dscale(base), dscale(exponent), NUMERIC_MIN_DISPLAY_SCALE)
    scale = min(scale, NUMERIC_MAX_DISPLAY_SCALE)
    context = _working_context(scale, int(decimal_weight) + 1)
    return _finish(context.power(base, exponent), scale)


def numeric_to_int(value: decimal.Decimal, type_name: str) -> int:
    """numeric -> integer casts: round half away from zero, then range check."""
    if value.is_nan():
        raise MirrordbError(f"cannot convert NaN to {type_name}", sqlstate="0A000")
    if value.is_infinite():
        raise MirrordbError(f"cannot convert infinity to {type_name}", sqlstate="0A000")
    result = int(value.quantize(ONE, rounding=decimal.ROUND_HALF_UP, context=EXACT))
    low, high = INTEGER_RANGES[type_name]
    if not low <= result <= high:
        raise out_of_range(type_name)
    return result


def numeric_gcd(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    if not (left.is_finite() and right.is_finite()):
        return NAN
    scale = max(dscale(left), dscale(right))
    factor = decimal.Decimal(10) ** scale
    result = math.gcd(int(EXACT.multiply(left, factor)), int(EXACT.multiply(right, factor)))
    return normalize_numeric(decimal.Decimal(result).scaleb(-scale))


def numeric_lcm(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    if not (left.is_finite() and right.is_finite()):
        return NAN
    scale = max(dscale(left), dscale(right))
    factor = decimal.Decimal(10) ** scale
    result = math.lcm(int(EXACT.multiply(left, factor)), int(EXACT.multiply(right, factor)))
    return check_numeric_limits(normalize_numeric(decimal.Decimal(result).scaleb(-scale)))


# -- numeric binary I/O ----------------------------------------------------------------------------


def numeric_send(value: decimal.Decimal) -> bytes:
    if value.is_nan():
        return NUMERIC_HEADER.pack(0, 0, NUMERIC_NAN, 0)
    if value.is_infinite():                # the dscale bits of PostgreSQL's special header
        return NUMERIC_HEADER.pack(0, 0, NUMERIC_PINF if value > 0 else NUMERIC_NINF,
                                   INFINITY_SEND_DSCALE)
    scale = dscale(value)
    sign = NUMERIC_NEG if value.is_signed() and not value.is_zero() else NUMERIC_POS
    digits, weight = numeric_format.digits_and_weight(value, scale)
    header = NUMERIC_HEADER.pack(len(digits), weight, sign, scale)
    return header + struct.pack(f">{len(digits)}h", *digits)


def numeric_recv(data: bytes, bad_format: Callable[[], MirrordbError]) -> decimal.Decimal:
    if len(data) < NUMERIC_HEADER.size:
        raise bad_format()
    ndigits, weight, sign, scale = NUMERIC_HEADER.unpack_from(data)
    if ndigits < 0 or len(data) != NUMERIC_HEADER.size + 2 * ndigits:
        raise bad_format()
    if sign == NUMERIC_NAN:
        return NAN
    if sign == NUMERIC_PINF:
        return POSITIVE_INFINITY
    if sign == NUMERIC_NINF:
        return NEGATIVE_INFINITY
    if sign not in (NUMERIC_POS, NUMERIC_NEG):
        raise MirrordbError('invalid sign in external "numeric" value', sqlstate="22P03")
    if scale > NUMERIC_MAX_DSCALE:
        raise MirrordbError('invalid scale in external "numeric" value', sqlstate="22P03")
    digits = struct.unpack_from(f">{ndigits}h", data, NUMERIC_HEADER.size)
    number = 0
    for digit in digits:
        if not 0 <= digit < NBASE:
            raise MirrordbError('invalid digit in external "numeric" value', sqlstate="22P03")
        number = number * NBASE + digit
    exponent = (weight - ndigits + 1) * DEC_DIGITS
    value = decimal.Decimal(-number if sign == NUMERIC_NEG else number).scaleb(exponent,
                                                                              context=EXACT)
    return check_numeric_limits(truncate_numeric(value, scale))


# -- to_char / to_number templates -------------------------------------------------------------

_NUMBER_TEMPLATE_KEYWORDS = ("EEEE", "FM", "PR", "PL", "SG", "MI", "RN", "rn", "TH", "th",
                             "9", "0", ".", ",", "D", "G", "S", "L", "V")
MAX_ROMAN = 3999
ROMAN_WIDTH = 15


@dataclass(frozen=True, slots=True)
class _NumberTemplate:
    tokens: tuple[tuple[str, str], ...]     # (keyword or "literal", text)
    integer_digits: int                     # 9/0 positions before the decimal point (and V)
    fraction_digits: int
    multiplier_digits: int                  # 9/0 positions after V
    zero_start: int                         # first integer position forced to print a digit
    has_decimal: bool
    fill_mode: bool
    scientific: bool
    roman: bool


@functools.lru_cache(maxsize=256)
def _parse_number_template(template: str) -> _NumberTemplate:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(template):
        if template[position] == '"':
            end = template.find('"', position + 1)
            end = len(template) if end < 0 else end
            tokens.append(("literal", template[position + 1:end]))
            position = end + 1
            continue
        keyword = next((word for word in _NUMBER_TEMPLATE_KEYWORDS
                        if template.startswith(word, position)
                        or (word.isupper() and template[position:position + len(word)].upper()
                            == word and word not in ("RN", "TH"))), None)
        if keyword is None:
            tokens.append(("literal", template[position]))
            position += 1
            continue
        written = template[position:position + len(keyword)]
        tokens.append((keyword if keyword not in ("rn", "th") else keyword, written))
        position += len(keyword)
    return _summarise_template(tuple(tokens))


def _summarise_template(tokens: tuple[tuple[str, str], ...]) -> _NumberTemplate:
    integer_digits = fraction_digits = multiplier_digits = 0
    zero_start = -1
    after_decimal = after_multiplier = False
    for keyword, _ in tokens:
        if keyword in (".", "D"):
            after_decimal = True
        elif keyword == "V":
            after_multiplier = True
        elif keyword in ("9", "0"):
            if after_decimal:
                fraction_digits += 1
            else:
                if keyword == "0" and zero_start < 0:
                    zero_start = integer_digits + multiplier_digits
                if after_multiplier:
                    multiplier_digits += 1
                else:
                    integer_digits += 1
    keywords = {keyword for keyword, _ in tokens}
    total_integer = integer_digits + multiplier_digits
    return _NumberTemplate(tokens, total_integer, fraction_digits, multiplier_digits,
                           zero_start if zero_start >= 0 else total_integer,
                           bool(keywords & {".", "D"}), "FM" in keywords, "EEEE" in keywords,
                           bool(keywords & {"RN", "rn"}))


def _roman(value: int) -> str:
    numerals = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    output = []
    for amount, numeral in numerals:
        while value >= amount:
            output.append(numeral)
            value -= amount
    return "".join(output)


def _to_char_roman(value: decimal.Decimal, template: _NumberTemplate) -> str:
    lower = any(keyword == "rn" or text == "rn" for keyword, text in template.tokens)
    integer = int(value.quantize(ONE, rounding=decimal.ROUND_HALF_UP, context=EXACT)) \
        if value.is_finite() else 0
    if not 1 <= integer <= MAX_ROMAN:
        return "#" * ROMAN_WIDTH
    text = _roman(integer)
    text = text.lower() if lower else text
    return text if template.fill_mode else text.rjust(ROMAN_WIDTH)


def _scientific(value: decimal.Decimal, digits: int) -> str:
    """numeric_out_sci: d.ddde+XX with ``digits`` after the point."""
    if value.is_zero():
        exponent = 0
    else:
        exponent = value.adjusted()
        mantissa = round_numeric(value.scaleb(-exponent, context=EXACT), digits)
        if abs(mantissa) >= 10:
            exponent += 1
    mantissa = round_numeric(value.scaleb(-exponent, context=EXACT), digits)
    sign = "-" if exponent < 0 else "+"
    return f"{format_numeric(mantissa)}e{sign}{abs(exponent):02d}"


def to_char_numeric(value: decimal.Decimal, template_text: str) -> str:
    """to_char(numeric, template) for the template patterns 9 0 . , D G S MI PL SG PR L V
    EEEE RN TH FM and literal text."""
    template = _parse_number_template(template_text)
    if template.roman:
        return _to_char_roman(value, template)
    if template.scientific:
        if not value.is_finite():
            return " " + "#" * (len(template_text) - 1)
        text = _scientific(value, template.fraction_digits)
        return text if text.startswith("-") else " " + text
    if template.multiplier_digits and value.is_finite():
        value = EXACT.multiply(value, decimal.Decimal(10) ** template.multiplier_digits)
    if not value.is_finite():
        return _render_number(template, "", "", False, overflow=True)
    rounded = round_numeric(value, template.fraction_digits)
    text = format_numeric(rounded)
    return _render_number_text(template, text)


def to_char_float(value: float, template_text: str, single: bool) -> str:
    """to_char(float4/float8, template): digits as C's printf gives them (at most DBL_DIG)."""
    template = _parse_number_template(template_text)
    if math.isnan(value) or math.isinf(value):
        if template.roman:
            return "#" * ROMAN_WIDTH
        return _render_number(template, "", "", value < 0, overflow=True)
    if template.roman or template.scientific:
        decimal_value = decimal.Decimal(repr(value))
        return to_char_numeric(decimal_value, template_text)
    if template.multiplier_digits:
        value = value * 10.0 ** template.multiplier_digits
    digit_limit = FLOAT4_DIGITS if single else FLOAT8_DIGITS
    integer_length = len(f"{abs(value):.0f}")
    fraction = template.fraction_digits
    if integer_length >= digit_limit:
        fraction = 0
    elif integer_length + fraction > digit_limit:
        fraction = digit_limit - integer_length
    text = f"{value:.{fraction}f}"
    if fraction < template.fraction_digits:
        text = text + ("." if fraction == 0 else "") + "0" * (template.fraction_digits - fraction)
    return _render_number_text(template, text)


def _render_number_text(template: _NumberTemplate, text: str) -> str:
    negative = text.startswith("-")
    digits = text.lstrip("-")
    integer_part, _, fraction_part = digits.partition(".")
    whole_zero = integer_part.strip("0") == "" and fraction_part.strip("0") == ""
    if integer_part == "0" and template.has_decimal and not (template.fill_mode and whole_zero):
        integer_part = ""
    overflow = len(integer_part) > template.integer_digits
    return _render_number(template, integer_part, fraction_part, negative, overflow)


def _render_number(template: _NumberTemplate, integer_part: str, fraction_part: str,
                   negative: bool, overflow: bool) -> str:
    state = _NumberRender(template, integer_part, fraction_part, negative, overflow)
    for keyword, text in template.tokens:
        state.emit(keyword, text)
    return state.finish()


class _NumberRender:
    """The output of one to_char(number) call, built token by token."""

    def __init__(self, template: _NumberTemplate, integer_part: str, fraction_part: str,
                 negative: bool, overflow: bool) -> None:
        self.template = template
        self.integer_part = integer_part
        self.fraction_part = fraction_part.ljust(template.fraction_digits, "0")
        self.negative = negative
        self.overflow = overflow
        keywords = {keyword for keyword, _ in template.tokens}
        self.anchored_sign = _sign_after_digits(template.tokens)
        self.floating = not keywords & {"SG", "MI"} and not self.anchored_sign
        self.plus_sign = "S" in keywords
        self.brackets = "PR" in keywords
        self.pieces: list[str] = []
        self.leading = True                 # still in the blank run before the number
        self.sign_placed = False
        self.integer_index = 0
        self.fraction_index = 0
        self.fraction_from_nine: list[int] = []

    def _sign_text(self) -> str:
        if self.brackets:
            return "<" if self.negative else " "
        if self.negative:
            return "-"
        if self.plus_sign:
            return "+"
        return "" if self.template.fill_mode else " "

    def _place_sign(self) -> None:
        if self.floating and not self.sign_placed:
            self.pieces.append(self._sign_text())
            self.sign_placed = True
        self.leading = False

    def _blank(self) -> None:
        if not self.template.fill_mode:
            self.pieces.append(" ")

    def emit(self, keyword: str, text: str) -> None:
        if keyword in ("9", "0"):
            if self.fraction_index or self._past_decimal:
                self._fraction_digit(keyword)
            else:
                self._integer_digit()
        elif keyword in (".", "D"):
            self._past_decimal = True
            if self.template.fraction_digits:
                if self.leading:
                    self._place_sign()
                self.pieces.append(".")
        elif keyword in (",", "G"):
            self._group()
        else:
            self._other(keyword, text)

    _past_decimal = False

    def _integer_digit(self) -> None:
        template = self.template
        position = self.integer_index
        self.integer_index += 1
        from_right = template.integer_digits - position
        if self.overflow:
            if self.leading:
                self._place_sign()
            self.pieces.append("#")
            return
        if from_right <= len(self.integer_part):
            if self.leading:
                self._place_sign()
            self.pieces.append(self.integer_part[len(self.integer_part) - from_right])
        elif position >= template.zero_start:
            if self.leading:
                self._place_sign()
            self.pieces.append("0")
        else:
            self._blank()

    def _fraction_digit(self, keyword: str) -> None:
        if self.leading:
            self._place_sign()
        index = self.fraction_index
        self.fraction_index += 1
        if self.overflow:
            self.pieces.append("#")
            return
        self.pieces.append(self.fraction_part[index] if index < len(self.fraction_part) else "0")
        if keyword == "9":
            self.fraction_from_nine.append(len(self.pieces) - 1)
        else:
            self.fraction_from_nine.clear()

    def _group(self) -> None:
        if self.leading:
            self._blank()
        else:
            self.pieces.append(",")

    def _other(self, keyword: str, text: str) -> None:
        if keyword == "literal":
            self.pieces.append(text)
        elif keyword == "MI":
            self.pieces.append("-" if self.negative else ("" if self.template.fill_mode
                                                          else " "))
        elif keyword == "PL":
            self.pieces.append(" " if self.negative else "+")
        elif keyword == "SG":
            self.pieces.append("-" if self.negative else "+")
        elif keyword == "PR":
            self.pieces.append(">" if self.negative else ("" if self.template.fill_mode
                                                          else " "))
        elif keyword == "L":
            self.pieces.append(" ")
        elif keyword == "S" and self.anchored_sign:
            self.pieces.append("-" if self.negative else "+")
        elif keyword in ("TH", "th"):
            self._ordinal(text)

    def _ordinal(self, text: str) -> None:
        if self.negative or self.overflow or self.fraction_part.strip("0"):
            return
        number = int(self.integer_part or "0")
        remainder = number % 100
        suffix = "th" if 11 <= remainder <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(
            number % 10, "th")
        self.pieces.append(suffix.upper() if text == "TH" else suffix)

    def finish(self) -> str:
        if self.leading:
            self._place_sign()
        if self.template.fill_mode:
            for index in reversed(self.fraction_from_nine):
                if self.pieces[index] != "0":
                    break
                self.pieces[index] = ""
        return "".join(self.pieces)


def _sign_after_digits(tokens: tuple[tuple[str, str], ...]) -> bool:
    """Whether an S comes after the first digit position (then it is printed where it is)."""
    seen_digit = False
    for keyword, _ in tokens:
        if keyword in ("9", "0"):
            seen_digit = True
        elif keyword == "S":
            return seen_digit
    return False


def to_number(text: str, template_text: str) -> decimal.Decimal:
    """to_number(text, template): the digits, sign and decimal point the template locates."""
    template = _parse_number_template(template_text)
    negative = "-" in text or ("PR" in {k for k, _ in template.tokens} and "<" in text)
    cleaned = "".join(character for character in text if character.isdigit() or character == ".")
    if not template.has_decimal:
        cleaned = cleaned.replace(".", "")
    if not cleaned or cleaned == ".":
        raise MirrordbError(f'invalid input syntax for type numeric: " "', sqlstate="22P02")
    integer_part, _, fraction_part = cleaned.partition(".")
    integer_part = integer_part[-template.integer_digits:] if template.integer_digits else ""
    fraction_part = fraction_part[:template.fraction_digits]
    value = decimal.Decimal((integer_part or "0") + ("." + fraction_part if fraction_part
                                                    else ""))
    if template.multiplier_digits:
        value = value.scaleb(-template.multiplier_digits, context=EXACT)
    return normalize_numeric(-value if negative else value)
