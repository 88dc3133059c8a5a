"""WAL segment arithmetic and file names (PostgreSQL 15's xlog_internal.h conventions).

The WAL stream is cut into segment files of ``segment_size`` bytes (a power of two from 1 MiB to
1 GiB, chosen at initdb; 16 MiB by default), each made of 8 kB WAL pages. Segment number
``segno = lsn // segment_size``. A segment file is named ``TTTTTTTTXXXXXXXXYYYYYYYY``: the
timeline, then ``segno // segments_per_xlogid`` and ``segno % segments_per_xlogid``, eight
upper-case hex digits each, where ``segments_per_xlogid = 2**32 // segment_size``. With 16 MiB
segments LSN 0/0F000028 on timeline 1 lives in ``00000001000000000000000F``.

Pure functions; used by the writer (which files to create and recycle), the reader's file source,
and later the walsender, archiver and base backup.
"""

from __future__ import annotations

import os
import re

from mirrordb.common.errors import InvalidParameterValue, invariant

WAL_PAGE_SIZE = 8192  # XLOG_BLCKSZ
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
MIN_SEGMENT_SIZE = 1024 * 1024
MAX_SEGMENT_SIZE = 1024 * 1024 * 1024
XLOGID_SPAN = 2**32  # the bytes of WAL covered by one "xlog id" (the middle name part)
SEGMENT_NAME_LENGTH = 24
PARTIAL_SUFFIX = ".partial"   # an old timeline's segment cut by a promotion's switch point

_SEGMENT_NAME = re.compile(r"[0-9A-F]{24}\Z")


def is_valid_segment_size(segment_size: int) -> bool:
    """True for a power of two from 1 MiB to 1 GiB."""
    return (MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE
            and segment_size & (segment_size - 1) == 0)


def _check_size(segment_size: int) -> None:
    invariant(is_valid_segment_size(segment_size), f"invalid WAL segment size {segment_size}")


def segments_per_xlogid(segment_size: int) -> int:
    _check_size(segment_size)
    return XLOGID_SPAN // segment_size


def segno_of(lsn: int, segment_size: int) -> int:
    """The number of the segment holding byte ``lsn``."""
    _check_size(segment_size)
    return lsn // segment_size


def segment_offset(lsn: int, segment_size: int) -> int:
    """Offset of ``lsn`` inside its segment file."""
    _check_size(segment_size)
    return lsn % segment_size


def segment_start_lsn(segno: int, segment_size: int) -> int:
    """LSN of the first byte of segment ``segno``."""
    _check_size(segment_size)
    return segno * segment_size


def segment_name(tli: int, segno: int, segment_size: int) -> str:
    """File name of segment ``segno`` on timeline ``tli``."""
    per_id = segments_per_xlogid(segment_size)
    invariant(0 < tli <= 0xFFFFFFFF and 0 <= segno < 2**64 // segment_size,
              f"no segment name for timeline {tli}, segment {segno}")
    return f"{tli:08X}{segno // per_id:08X}{segno % per_id:08X}"


def is_segment_name(name: str) -> bool:
    """True for a 24-character upper-case hex name (PostgreSQL's IsXLogFileName)."""
    return _SEGMENT_NAME.match(name) is not None


def parse_segment_name(name: str, segment_size: int) -> tuple[int, int]:
    """``(tli, segno)`` of a segment file name; InvalidParameterValue for anything else."""
    per_id = segments_per_xlogid(segment_size)
    if not is_segment_name(name):
        raise InvalidParameterValue(f'invalid WAL file name "{name}"')
    tli, high, low = int(name[0:8], 16), int(name[8:16], 16), int(name[16:24], 16)
    if tli == 0 or low >= per_id:
        raise InvalidParameterValue(f'invalid WAL file name "{name}"')
    return tli, high * per_id + low


def segment_path(waldir: str, tli: int, segno: int, segment_size: int) -> str:
    return os.path.join(waldir, segment_name(tli, segno, segment_size))


def history_file_name(tli: int) -> str:
    """``%08X.history``: the timeline history file of timeline ``tli``."""
    invariant(0 < tli <= 0xFFFFFFFF, f"invalid timeline {tli}")
    return f"{tli:08X}.history"
