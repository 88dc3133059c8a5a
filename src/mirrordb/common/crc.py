"""CRC-32C (Castagnoli), the checksum of WAL records, the control file and slot files.

Backed by the C-accelerated ``crc32c`` package. ``crc32c(data)`` returns the finished checksum
(initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, as PostgreSQL's INIT_CRC32C/FIN_CRC32C);
``crc32c(more, crc32c(first))`` continues a running checksum over several pieces.
"""

from __future__ import annotations

import crc32c as _crc32c


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C of ``data``, continuing from the finished checksum ``value`` of earlier bytes."""
    return _crc32c.crc32c(data, value)
