"""Log sequence numbers (LSNs).

An LSN is a byte position in the write-ahead log stream, a plain ``int`` in 0 .. 2**64-1. Its text
form is PostgreSQL's ``%X/%X``: the high 32 bits, a slash, the low 32 bits, upper-case hex with no
padding (``0/15016E8``). ``INVALID_LSN`` (0) means "no position".

When a function takes or returns an LSN, its name says which end it means: ``start_lsn`` is the
first byte of a record, ``end_lsn`` is its last byte + 1.
"""

from __future__ import annotations

INVALID_LSN = 0
MAX_LSN = 2**64 - 1


def format_lsn(lsn: int) -> str:
    """Render an LSN as PostgreSQL does: ``format_lsn(0x15016E8) == '0/15016E8'``."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """Parse ``X/X`` (case-insensitive hex halves) into an LSN; raise ValueError on bad input."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low or len(high) > 8 or len(low) > 8:
        raise ValueError(f'invalid input syntax for type pg_lsn: "{text}"')
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ValueError(f'invalid input syntax for type pg_lsn: "{text}"') from None
