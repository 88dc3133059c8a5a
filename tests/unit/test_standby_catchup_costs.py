"""Start-up and replay shortcuts of the standby catch-up work (P4b): each must keep the
behaviour of the slow path it replaces."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from mirrordb.common.crc import crc32c, crc32c_function
from mirrordb.replication import commands
from mirrordb.replication.walreceiver import SegmentWriter
from mirrordb.settings import STRING_CHECKS, _timezones_by_lower_name

SEGMENT_SIZE = 16 * 1024 * 1024


def test_crc32c_check_value_and_continuation() -> None:
    assert crc32c(b"123456789") == 0xE3069283          # the CRC-32C check value
    assert crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
    assert crc32c_function(b"123456789", 0) == 0xE3069283


def test_crc_module_does_not_import_package_metadata() -> None:
    code = ("import sys, mirrordb.common.crc, mirrordb.wal.record; "
            "print('importlib.metadata' in sys.modules, 'crc32c' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "False"]


def test_identifier_pattern_matches_the_range_form() -> None:
    ranges = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
    samples = [chr(code) for code in range(0x200)] + ["\u00e9", "\u4e2d", "\U0001f600",
                                                     "\uffff", "\U0010ffff"]
    for char in samples:
        for text in (char, "a" + char, char + "1$"):
            assert bool(commands._WORD.fullmatch(text)) == bool(ranges.fullmatch(text)), text


def test_default_time_zone_needs_no_scan_of_zone_names() -> None:
    _timezones_by_lower_name.cache_clear()
    assert STRING_CHECKS["TimeZone"]("Etc/UTC", None) == "Etc/UTC"
    assert _timezones_by_lower_name.cache_info().misses == 0
    assert STRING_CHECKS["TimeZone"]("europe/paris", None) == "Europe/Paris"


def test_segment_writer_flush_without_new_wal_does_not_fsync(tmp_path, monkeypatch) -> None:
    writer = SegmentWriter(str(tmp_path), 1, SEGMENT_SIZE)
    writer.write(SEGMENT_SIZE, b"x" * 100)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    assert writer.flush() is True
    assert len(synced) == 1
    assert writer.flush() is False                       # nothing written since: no fsync
    assert len(synced) == 1
    writer.write(2 * SEGMENT_SIZE - 50, b"y" * 100)     # crosses into the next segment
    synced.clear()                                       # (creating it fsynced the new file)
    assert writer.flush() is True
    assert len(synced) == 2                              # the finished segment and the new one
    assert writer.flush() is False
    assert len(synced) == 2
    writer.close()
