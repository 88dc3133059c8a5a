"""Timelines: the history files that say where each timeline branched off its parent.

Every promotion starts a new timeline: the promoted server picks the next free timeline ID,
writes ``<tli>.history`` (``%08X.history``) into ``pg_wal``, and from then on names its segment
files with the new ID and writes it into its WAL page headers. The file lists the new
timeline's ancestors, oldest first, one line each::

    <parent tli> TAB <switch point %X/%X> TAB <reason> NEWLINE

The switch point is the first byte that belongs to the child: the child's XLOG_END_OF_RECOVERY
record sits exactly there. A child's file is its parent's file, a blank line, then the parent's
own line (``00000003.history`` of a twice-promoted server is ``1\\t0/4000A0\\t...\\n\\n2\\t0/60000A0
\\t...\\n``). Timeline 1 never has a file. Readers skip blank lines and ``#`` comments.

A *history* here is what PostgreSQL keeps as a list of TimeLineHistoryEntry, newest first: each
``TimelineEntry`` covers the LSNs ``[begin, end)`` of one timeline; the newest has no end and
the oldest begins at 0. With it a reader knows which file holds a segment (the newest timeline
that had begun by that segment: the segment holding a switch point exists under both IDs, and
the child's copy is the one that goes on past it), a walsender where a historic timeline ends,
and a standby whether a new timeline forked off before or after the point it has replayed.

Pure functions over bytes and integers; ``read_history`` and ``write_history`` at the bottom are
the file edge.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from mirrordb.common.errors import DataCorrupted, MirrordbError
from mirrordb.common.fileio import fsync_directory, write_file_atomic
from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.wal.segment import history_file_name, segment_name

MAX_TIMELINE = 0xFFFFFFFF
DEFAULT_REASON = "no recovery target specified"   # PostgreSQL's reason for a plain promotion


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """Timeline ``tli`` holds the WAL from ``begin`` up to, not including, ``end`` (None: the
    newest timeline of a history, still open)."""

    tli: int
    begin: int
    end: int | None


History = tuple[TimelineEntry, ...]    # newest first


def single_timeline(tli: int) -> History:
    """The history of a timeline without a history file (timeline 1, or a file not found)."""
    return (TimelineEntry(tli, 0, None),)


def parse_history(tli: int, content: bytes, file_name: str | None = None) -> History:
    """The history of timeline ``tli`` from its file's ``content``; DataCorrupted (naming the
    file) for a line that is not ``<tli> <lsn> ...`` or IDs that do not increase."""
    name = file_name or history_file_name(tli)
    entries: list[TimelineEntry] = []
    begin, last_tli = 0, 0
    for raw in content.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 2)
        try:
            parent = int(fields[0])
        except ValueError:
            raise DataCorrupted(f"syntax error in history file: {raw}",
                                hint="Expected a numeric timeline ID.") from None
        try:
            switch = parse_lsn(fields[1]) if len(fields) > 1 else None
        except ValueError:
            switch = None
        if switch is None:
            raise DataCorrupted(f"syntax error in history file: {raw}",
                                hint="Expected a write-ahead log switchpoint location.")
        if parent <= last_tli or parent > MAX_TIMELINE:
            raise DataCorrupted(f"invalid data in history file: {raw}",
                                hint="Timeline IDs must be in increasing sequence.")
        entries.append(TimelineEntry(parent, begin, switch))
        begin, last_tli = switch, parent
    if last_tli >= tli:
        raise DataCorrupted(f'invalid data in history file "{name}"',
                            hint="Timeline IDs must be less than child timeline's ID.")
    entries.append(TimelineEntry(tli, begin, None))
    return tuple(reversed(entries))


def child_history_content(parent_content: bytes | None, parent_tli: int, switch_point: int,
                          reason: str = DEFAULT_REASON) -> bytes:
    """The file of a timeline branching off ``parent_tli`` at ``switch_point``: the parent's
    file (None when it has none: timeline 1), a blank line after it, then the parent's line."""
    line = f"{parent_tli}\t{format_lsn(switch_point)}\t{reason}\n".encode()
    if parent_content is None:
        return line
    return parent_content + b"\n" + line


def newest_tli(history: History) -> int:
    return history[0].tli


def timeline_of(lsn: int, history: History) -> int:
    """The timeline that wrote ``lsn`` (a switch point belongs to the child)."""
    for entry in history:
        if entry.begin <= lsn and (entry.end is None or lsn < entry.end):
            return entry.tli
    return history[-1].tli      # before the oldest's beginning: cannot happen, begin is 0


def in_history(tli: int, history: History) -> bool:
    return any(entry.tli == tli for entry in history)


def switch_point(tli: int, history: History) -> tuple[int | None, int]:
    """Where timeline ``tli`` ends in this history and the timeline that follows it:
    ``(None, tli)`` for the newest. MirrordbError if ``tli`` is not in the history."""
    following = tli
    for entry in history:
        if entry.tli == tli:
            return entry.end, following
        following = entry.tli
    raise MirrordbError(f"requested timeline {tli} is not in this server's history")


def segment_timelines(segno: int, segment_size: int, history: History) -> list[int]:
    """The timelines whose file may hold segment ``segno``, the likeliest first: every
    timeline that had begun by the segment's end and had not ended by its start, newest
    first (the reader takes the first file that exists). The segment holding a switch point
    is the child's copy when there is one; the parent's file serves only up to the switch
    (a standby may not have the child's copy yet), and never a later segment: WAL a parent
    wrote after the switch is not in this history."""
    start, end = segno * segment_size, (segno + 1) * segment_size
    return [entry.tli for entry in history
            if entry.begin < end and (entry.end is None or start < entry.end)]


def segment_file(waldir: str, segno: int, segment_size: int, history: History
                 ) -> tuple[int, str, bool]:
    """The file that holds segment ``segno`` in ``waldir`` by this history: ``(timeline,
    name, True)`` for the first of its candidate files (``segment_timelines``) that exists,
    else the likeliest candidate with False (the name a "missing" message gives). Replay,
    the walsender, base backup and promotion all pick a segment's file this way."""
    candidates = segment_timelines(segno, segment_size, history) or [history[0].tli]
    for tli in candidates:
        name = segment_name(tli, segno, segment_size)
        if os.path.exists(os.path.join(waldir, name)):
            return tli, name, True
    return candidates[0], segment_name(candidates[0], segno, segment_size), False


def fork_point(current_tli: int, history: History) -> int | None:
    """Where a history leaves timeline ``current_tli`` (None: it does not contain it, or
    ``current_tli`` is its newest)."""
    if not in_history(current_tli, history):
        return None
    return switch_point(current_tli, history)[0]


# -- files ----------------------------------------------------------------------------------------

def history_path(waldir: str, tli: int) -> str:
    return os.path.join(waldir, history_file_name(tli))


def history_exists(waldir: str, tli: int) -> bool:
    return tli == 1 or os.path.exists(history_path(waldir, tli))


def read_history_content(waldir: str, tli: int) -> bytes | None:
    """The file's bytes, None if it does not exist (always for timeline 1)."""
    if tli == 1:
        return None
    try:
        with open(history_path(waldir, tli), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def read_history(waldir: str, tli: int) -> History:
    """Timeline ``tli``'s history from ``pg_wal`` (a timeline without a file has no parents,
    as PostgreSQL assumes)."""
    content = read_history_content(waldir, tli)
    if content is None:
        return single_timeline(tli)
    return parse_history(tli, content)


def write_history(waldir: str, tli: int, content: bytes) -> str:
    """Write a history file durably (whole or not at all); returns its name."""
    write_file_atomic(history_path(waldir, tli), content)
    fsync_directory(waldir)
    return history_file_name(tli)


def copy_segment_prefix(source: str, target: str, length: int, segment_size: int) -> None:
    """A new timeline's first segment: the first ``length`` bytes of ``source`` (the old
    timeline's segment, up to the switch point), zeros to the segment's end; written under a
    temporary name, fsynced, then renamed, so ``target`` is whole or absent."""
    with open(source, "rb") as handle:
        data = handle.read(length)
    if len(data) != length:
        raise MirrordbError(f'could not read file "{source}": read {len(data)} of {length}',
                            sqlstate="58030")
    write_file_atomic(target, data + bytes(segment_size - length))   # mode 0600, as WAL is


def newest_timeline(start_tli: int, exists: Callable[[int], bool]) -> int:
    """PostgreSQL's findNewestTimeLine: the highest timeline from ``start_tli`` up whose
    history file ``exists`` (probed in order; IDs are handed out one after another)."""
    newest = start_tli
    probe = start_tli + 1
    while probe <= MAX_TIMELINE and exists(probe):
        newest = probe
        probe += 1
    return newest
