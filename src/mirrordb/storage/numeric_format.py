"""PostgreSQL's on-disk numeric (``NumericData`` of numeric.c), as stored inside an array.

Who calls it: ``array_format.py``'s element table, through ``datum.py`` (a numeric element of an
array column is stored as PostgreSQL stores it). Scalar numeric columns keep the row codec's own
ASCII form (see ``datum.py``); ``sql/numeric.py`` holds the arithmetic and the wire format.

The bytes after the element's varlena header, little-endian, digits in base 10000 (NBASE)::

    short form (dscale <= 63 and -64 <= weight <= 63), used whenever it fits:
        uint16 header  0x8000 | 0x2000 if negative | dscale << 7 | weight & 0x7F
        int16 digits[]
    long form:
        uint16 sign_dscale  sign (0x0000 positive, 0x4000 negative) | dscale
        int16 weight
        int16 digits[]
    special values, a lone uint16: NaN 0xC000, Infinity 0xD000, -Infinity 0xF000

``weight`` is the power of NBASE of the first digit; leading and trailing zero digits are never
stored (zero has no digits and weight 0); ``dscale`` is the number of decimal digits shown after
the point.
"""

from __future__ import annotations

import decimal
import struct

NBASE = 10_000
DEC_DIGITS = 4                     # decimal digits per base-NBASE digit
NUMERIC_SHORT = 0x8000
NUMERIC_SHORT_SIGN_MASK = 0x2000
NUMERIC_SHORT_DSCALE_SHIFT = 7
NUMERIC_SHORT_DSCALE_MAX = 0x3F
NUMERIC_SHORT_WEIGHT_SIGN_MASK = 0x0040
NUMERIC_SHORT_WEIGHT_MASK = 0x003F
NUMERIC_SHORT_WEIGHT_MAX = 63
NUMERIC_SHORT_WEIGHT_MIN = -64
NUMERIC_SIGN_MASK = 0xC000
NUMERIC_POS = 0x0000
NUMERIC_NEG = 0x4000
NUMERIC_DSCALE_MASK = 0x3FFF
NUMERIC_NAN = 0xC000
NUMERIC_PINF = 0xD000
NUMERIC_NINF = 0xF000

_HEADER = struct.Struct("<H")
_LONG_HEADER = struct.Struct("<Hh")
assert _HEADER.size == 2 and _LONG_HEADER.size == 4

_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def display_scale(value: decimal.Decimal) -> int:
    """The display scale (dscale): decimal digits after the point."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def digits_and_weight(value: decimal.Decimal, dscale: int) -> tuple[list[int], int]:
    """``|value|`` as base-NBASE digits without leading or trailing zero digits, and the
    weight of the first (zero: no digits, weight 0); shared with sql/numeric.py's wire form."""
    fraction_groups = -(-dscale // DEC_DIGITS)
    number = int(value.copy_abs().scaleb(fraction_groups * DEC_DIGITS, context=_EXACT))
    digits: list[int] = []
    while number:
        number, digit = divmod(number, NBASE)
        digits.append(digit)
    digits.reverse()
    weight = len(digits) - 1 - fraction_groups
    while digits and digits[-1] == 0:
        digits.pop()
    leading_zeros = 0
    while leading_zeros < len(digits) and digits[leading_zeros] == 0:
        leading_zeros += 1
    del digits[:leading_zeros]
    return digits, (weight - leading_zeros if digits else 0)


def encode_numeric(value: decimal.Decimal) -> bytes:
    """The stored bytes of a finite, NaN or infinite numeric (not a signalling NaN)."""
    if value.is_nan():
        return _HEADER.pack(NUMERIC_NAN)
    if value.is_infinite():
        return _HEADER.pack(NUMERIC_PINF if value > 0 else NUMERIC_NINF)
    dscale = display_scale(value)
    digits, weight = digits_and_weight(value, dscale)
    negative = value.is_signed() and bool(digits)
    packed_digits = struct.pack(f"<{len(digits)}h", *digits)
    if dscale <= NUMERIC_SHORT_DSCALE_MAX and \
            NUMERIC_SHORT_WEIGHT_MIN <= weight <= NUMERIC_SHORT_WEIGHT_MAX:
        header = (NUMERIC_SHORT | (NUMERIC_SHORT_SIGN_MASK if negative else 0)
                  | dscale << NUMERIC_SHORT_DSCALE_SHIFT
                  | (weight & (NUMERIC_SHORT_WEIGHT_SIGN_MASK | NUMERIC_SHORT_WEIGHT_MASK)))
        return _HEADER.pack(header) + packed_digits
    if dscale > NUMERIC_DSCALE_MASK:
        raise ValueError("numeric display scale too large to store")
    sign = NUMERIC_NEG if negative else NUMERIC_POS
    return _LONG_HEADER.pack(sign | dscale, weight) + packed_digits


def decode_numeric(stored: bytes) -> decimal.Decimal:
    """The value of stored bytes; malformed bytes raise ValueError (or struct.error)."""
    (header,) = _HEADER.unpack_from(stored)
    if header & NUMERIC_SIGN_MASK == NUMERIC_NAN:      # NaN and both infinities: top bits 11
        return _special(stored, header)
    if header & NUMERIC_SHORT:
        negative = bool(header & NUMERIC_SHORT_SIGN_MASK)
        dscale = (header >> NUMERIC_SHORT_DSCALE_SHIFT) & NUMERIC_SHORT_DSCALE_MAX
        weight = header & NUMERIC_SHORT_WEIGHT_MASK
        if header & NUMERIC_SHORT_WEIGHT_SIGN_MASK:
            weight -= NUMERIC_SHORT_WEIGHT_SIGN_MASK
        digits_at = _HEADER.size
    else:
        sign_dscale, weight = _LONG_HEADER.unpack_from(stored)
        negative = sign_dscale & NUMERIC_SIGN_MASK == NUMERIC_NEG
        dscale = sign_dscale & NUMERIC_DSCALE_MASK
        digits_at = _LONG_HEADER.size
    return _from_digits(stored, digits_at, weight, dscale, negative)


def _special(stored: bytes, header: int) -> decimal.Decimal:
    if len(stored) != _HEADER.size:
        raise ValueError("a special numeric value has digits")
    if header == NUMERIC_NAN:
        return decimal.Decimal("NaN")
    if header == NUMERIC_PINF:
        return decimal.Decimal("Infinity")
    if header == NUMERIC_NINF:
        return decimal.Decimal("-Infinity")
    raise ValueError(f"unknown special numeric header {header:#06x}")


def _from_digits(stored: bytes, digits_at: int, weight: int, dscale: int,
                 negative: bool) -> decimal.Decimal:
    count, remainder = divmod(len(stored) - digits_at, 2)
    if remainder:
        raise ValueError("numeric digits are an odd number of bytes")
    number = 0
    for digit in struct.unpack_from(f"<{count}h", stored, digits_at):
        if not 0 <= digit < NBASE:
            raise ValueError(f"numeric digit {digit} out of range")
        number = number * NBASE + digit
    exponent = (weight - count + 1) * DEC_DIGITS
    value = decimal.Decimal(-number if negative else number).scaleb(exponent, context=_EXACT)
    return value.quantize(decimal.Decimal(1).scaleb(-dscale), context=_EXACT)
