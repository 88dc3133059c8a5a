"""Point-in-time recovery: where archive recovery stops (PostgreSQL's recovery targets).

A server started with ``recovery.signal`` (or a standby, with ``standby.signal``) may be told to
stop replaying at a point of its WAL instead of at its end, by one of five settings (setting
two is refused at start, "multiple recovery targets specified"):

==========================  ==============================================================
``recovery_target``         ``immediate``: as soon as replay is consistent
``recovery_target_xid``     the commit or abort record of that transaction
``recovery_target_time``    the first commit or abort record later than that time
``recovery_target_name``    the first restore point of that name (pg_create_restore_point)
``recovery_target_lsn``     the first record that starts at or after that WAL location
==========================  ==============================================================

``recovery_target_inclusive`` (on by default) says whether the record found is replayed (the
stop is *after* it) or not (*before* it); a restore point and ``immediate`` stop after, and a
time target stops before the first transaction past the time either way (on: past it; off: at
it or past it). Only transaction ends are stop points for xid and time targets: a transaction
is replayed whole or not at all.

The checks are pure: ``TargetCheck.stops_before`` / ``stops_after`` look at one decoded record
(the startup loop calls them around each record's redo, only when a target is set) and return
a ``StopPoint``: the log line, the reason the new timeline's history file gives, and whether
the stop is after the record. What happens once replay stops there is
``recovery_target_action``'s (recovery/standby.py): ``pause`` (the default; promote on
pg_wal_replay_resume()), ``promote``, or ``shutdown``.

Timestamps in messages are shown as PostgreSQL's timestamptz_to_str shows them, in the server's
``TimeZone``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mirrordb.common.errors import InvalidParameterValue, MirrordbError, WalCorrupted
from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.wal import payloads
from mirrordb.wal.record import DecodedRecord
from mirrordb.wal.rmgr import (RM_XACT_ID, RM_XLOG_ID, XACT_COMMIT_OPS, XACT_END_OPS,
                               XLOG_RESTORE_POINT, XLOG_XACT_ABORT_PREPARED,
                               XLOG_XACT_COMMIT_PREPARED, XLOG_XACT_OPMASK, XLR_RMGR_INFO_MASK)

if TYPE_CHECKING:
    from mirrordb.settings import Settings

TARGET_SETTINGS = ("recovery_target", "recovery_target_lsn", "recovery_target_name",
                   "recovery_target_time", "recovery_target_xid")
ACTIONS = ("pause", "promote", "shutdown")
_PREPARED = (XLOG_XACT_COMMIT_PREPARED, XLOG_XACT_ABORT_PREPARED)
_TIMES_REFUSED = ("now", "today", "tomorrow", "yesterday")   # they would move with the clock
_XID_MAX_TEXT = 2 ** 64 - 1     # a full transaction id (epoch and xid) is accepted too


# -- the settings' checks (settings.py calls these when a value is set) -------------------------

def _invalid(name: str, text: str, detail: str | None = None) -> InvalidParameterValue:
    return InvalidParameterValue(f'invalid value for parameter "{name}": "{text}"', detail=detail)


def check_recovery_target(text: str) -> str:
    if text not in ("", "immediate"):
        raise _invalid("recovery_target", text, 'The only allowed value is "immediate".')
    return text


def check_recovery_target_lsn(text: str) -> str:
    if text:
        try:
            parse_lsn(text)
        except ValueError:
            raise _invalid("recovery_target_lsn", text) from None
    return text


def check_recovery_target_name(text: str) -> str:
    if len(text.encode()) >= payloads.RESTORE_POINT_NAME_SIZE:
        raise _invalid("recovery_target_name", text,
                       f"recovery_target_name is too long (maximum "
                       f"{payloads.RESTORE_POINT_NAME_SIZE - 1} characters).")
    return text


def check_recovery_target_time(text: str) -> str:
    if text:
        try:
            parse_target_time(text, "UTC")
        except MirrordbError:
            raise _invalid("recovery_target_time", text) from None
    return text


def check_recovery_target_xid(text: str) -> str:
    """A transaction id in decimal (PostgreSQL reads anything, a word as 0; we refuse it)."""
    digits = text.strip()
    if text and not (digits.isascii() and digits.isdigit() and int(digits) <= _XID_MAX_TEXT):
        raise _invalid("recovery_target_xid", text)
    return text


SETTING_CHECKS = {
    "recovery_target": check_recovery_target,
    "recovery_target_lsn": check_recovery_target_lsn,
    "recovery_target_name": check_recovery_target_name,
    "recovery_target_time": check_recovery_target_time,
    "recovery_target_xid": check_recovery_target_xid,
}


def parse_target_time(text: str, timezone: str) -> int:
    """``recovery_target_time`` as a PG timestamp (a time without a zone is in ``timezone``)."""
    from mirrordb.sql.datetime import parse_timestamptz
    if text.strip().lower() in _TIMES_REFUSED:
        raise MirrordbError(f'invalid value for parameter "recovery_target_time": "{text}"')
    return payloads.datetime_to_pg_timestamp(parse_timestamptz(text, timezone))


def format_time(pg_timestamp: int, timezone: str) -> str:
    """PostgreSQL's timestamptz_to_str: ``2026-11-21 20:24:57.42048+00``."""
    from mirrordb.sql.datetime import format_timestamptz
    try:
        return format_timestamptz(payloads.pg_timestamp_to_datetime(pg_timestamp), timezone)
    except OverflowError:
        return "(timestamp out of range)"


# -- the target ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecoveryTarget:
    """The one target set (``kind``: immediate, xid, time, name or lsn) and how to stop."""

    kind: str
    xid: int = 0
    time: int = 0          # PG timestamp
    name: str = ""
    lsn: int = 0
    inclusive: bool = True
    action: str = "pause"
    timezone: str = "UTC"  # for the messages

    def starting_message(self) -> str:
        """What archive recovery (not standby mode) logs as it begins."""
        match self.kind:
            case "xid":
                return f"starting point-in-time recovery to XID {self.xid}"
            case "time":
                return f"starting point-in-time recovery to {format_time(self.time, self.timezone)}"
            case "name":
                return f'starting point-in-time recovery to "{self.name}"'
            case "lsn":
                return ('starting point-in-time recovery to WAL location (LSN) '
                        f'"{format_lsn(self.lsn)}"')
        return "starting point-in-time recovery to earliest consistent point"


def configured_targets(settings: Settings) -> list[str]:
    return [name for name in TARGET_SETTINGS if settings.get_str(name)]


def check_single_target(settings: Settings) -> None:
    """At most one target may be set; PostgreSQL refuses to start otherwise."""
    if len(configured_targets(settings)) > 1:
        raise InvalidParameterValue(
            "multiple recovery targets specified",
            detail="At most one of recovery_target, recovery_target_lsn, recovery_target_name, "
                   "recovery_target_time, recovery_target_xid may be set.")


def target_from_settings(settings: Settings) -> RecoveryTarget | None:
    """The target the settings name, or None (recover to the end of WAL)."""
    check_single_target(settings)
    names = configured_targets(settings)
    if not names:
        return None
    name = names[0]
    text = settings.get_str(name)
    timezone = settings.get_str("TimeZone") or "UTC"
    common = {"inclusive": settings.get_bool("recovery_target_inclusive"),
              "action": settings.get_str("recovery_target_action"), "timezone": timezone}
    match name:
        case "recovery_target_xid":
            return RecoveryTarget("xid", xid=int(text.strip()) & 0xFFFFFFFF, **common)  # type: ignore
        case "recovery_target_time":
            return RecoveryTarget("time", time=parse_target_time(text, timezone),
                                  **common)  # type: ignore[arg-type]
        case "recovery_target_name":
            return RecoveryTarget("name", name=text, **common)  # type: ignore[arg-type]
        case "recovery_target_lsn":
            return RecoveryTarget("lsn", lsn=parse_lsn(text), **common)  # type: ignore
    return RecoveryTarget("immediate", **common)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StopPoint:
    """Where replay stopped for the target: ``after`` the record (it was replayed) or before it
    (``record_start_lsn`` is where the record that was not replayed starts)."""

    message: str         # the log line
    history_reason: str  # the new timeline's history file says why it branched
    after: bool
    record_start_lsn: int


def _transaction_end(record: DecodedRecord) -> tuple[int, int, bool] | None:
    """(xid, time, is a commit) of a commit or abort record, else None."""
    op = record.info & XLOG_XACT_OPMASK
    if record.rmid != RM_XACT_ID or op not in XACT_END_OPS:
        return None
    try:
        if op in _PREPARED:
            parsed = payloads.decode_xact_record(record.info, record.main_data)
            xid = parsed.twophase_xid  # type: ignore[union-attr]
        else:
            xid = record.xid
        time = payloads.xact_time(record.main_data)
    except (struct.error, IndexError, WalCorrupted):
        return None          # a malformed record: its redo reports it
    return xid, time, op in XACT_COMMIT_OPS


class TargetCheck:
    """The stop tests of one target, around each record's redo (see the module docstring)."""

    def __init__(self, target: RecoveryTarget) -> None:
        self.target = target

    def stops_before(self, record: DecodedRecord, consistent: bool) -> StopPoint | None:
        target = self.target
        kind = target.kind
        if kind == "immediate":
            return self._at_consistency(record, after=False) if consistent else None
        if kind == "lsn":
            if target.inclusive or record.start_lsn < target.lsn:
                return None
            return self._at_lsn(record, after=False)
        if kind not in ("xid", "time"):
            return None
        end = _transaction_end(record)
        if end is None:
            return None
        xid, time, commit = end
        if kind == "xid":
            stops = not target.inclusive and xid == target.xid
        else:
            stops = time > target.time if target.inclusive else time >= target.time
        if not stops:
            return None
        return self._at_transaction(record, xid, time, commit, after=False)

    def stops_after(self, record: DecodedRecord, consistent: bool) -> StopPoint | None:
        target = self.target
        kind = target.kind
        if kind == "name":
            if record.rmid != RM_XLOG_ID or \
                    record.info & XLR_RMGR_INFO_MASK != XLOG_RESTORE_POINT:
                return None
            time, name = payloads.decode_restore_point(record.main_data)
            if name != target.name:
                return None
            return StopPoint(f'recovery stopping at restore point "{name}", time '
                             f"{format_time(time, target.timezone)}",
                             f'at restore point "{name}"', True, record.start_lsn)
        if kind == "lsn":
            if not target.inclusive or record.start_lsn < target.lsn:
                return None
            return self._at_lsn(record, after=True)
        if kind == "xid" and target.inclusive:
            end = _transaction_end(record)
            if end is not None and end[0] == target.xid:
                return self._at_transaction(record, *end, after=True)
            return None
        if kind == "immediate" and consistent:
            return self._at_consistency(record, after=True)
        return None

    # -- the stop points --------------------------------------------------------------------------

    def _at_consistency(self, record: DecodedRecord, *, after: bool) -> StopPoint:
        return StopPoint("recovery stopping after reaching consistency", "reached consistency",
                         after, record.start_lsn)

    def _at_lsn(self, record: DecodedRecord, *, after: bool) -> StopPoint:
        where = "after" if after else "before"
        lsn = format_lsn(record.start_lsn)
        # PostgreSQL's reason for an LSN (and a time) target ends with a newline of its own,
        # which leaves a blank line in the history file; kept, for identical files.
        return StopPoint(f'recovery stopping {where} WAL location (LSN) "{lsn}"',
                         f"{where} LSN {lsn}\n", after, record.start_lsn)

    def _at_transaction(self, record: DecodedRecord, xid: int, time: int, commit: bool, *,
                        after: bool) -> StopPoint:
        where = "after" if after else "before"
        shown = format_time(time, self.target.timezone)
        message = (f"recovery stopping {where} {'commit' if commit else 'abort'} of "
                   f"transaction {xid}, time {shown}")
        reason = f"{where} transaction {xid}" if self.target.kind == "xid" \
            else f"{where} {shown}\n"
        return StopPoint(message, reason, after, record.start_lsn)


__all__ = ["ACTIONS", "RecoveryTarget", "SETTING_CHECKS", "StopPoint", "TARGET_SETTINGS",
           "TargetCheck", "check_single_target", "format_time", "parse_target_time",
           "target_from_settings"]
