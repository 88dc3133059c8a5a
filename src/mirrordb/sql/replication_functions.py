"""SQL functions and the view of replication: slots, WAL positions, the control file.

Who calls it: the planner, through ``session_functions.SPECIAL`` (which includes
``SPECIAL_HANDLERS`` from here, as it does catalog_functions'), and sysviews.py, whose registry
lists ``pg_replication_slots`` with ``PG_REPLICATION_SLOTS_COLUMNS`` and ``pg_replication_slots``.
Each function compiles to a volatile ``Expr`` whose closure reaches the server's
``SlotManager`` (replication/slots.py) and the engine's WAL writer through ``ctx.session``.

Functions (PostgreSQL 15's names, arguments, SQLSTATEs and words):

* ``pg_create_physical_replication_slot(slot_name name, immediately_reserve bool = false,
  temporary bool = false)`` returns PostgreSQL's record ``(slot_name, lsn)``; a temporary slot
  belongs to the calling session. The SQL layer has no record type, so in a select list the
  value is the record's text form (``(standby1,)``, ``(s1,0/1500790)``) typed text; in FROM
  (``SELECT * FROM pg_create_physical_replication_slot('s1')``) the record's fields are the
  columns (``RECORD_FUNCTIONS``).
* ``pg_drop_replication_slot(name)`` (55006 if another process has it).
* ``pg_copy_physical_replication_slot(src_slot_name, dst_slot_name [, temporary])`` returns
  ``(slot_name, lsn)``: a slot reserving WAL from the source's restart_lsn (a source that
  reserves none: 55000); temporary as the source unless told.
* ``pg_replication_slot_advance(slot_name, upto_lsn)`` returns ``(slot_name, end_lsn)``: a
  physical slot's restart_lsn moved forward, capped at the flushed WAL (on a standby the
  replayed WAL), written at the next checkpoint which may then remove the WAL it released;
  55006 when another process uses the slot, 55000 for a slot without restart_lsn or a
  target behind it, XX000 for 0/0 (PostgreSQL gives that error no code), 0A000 for a
  logical slot.
* ``pg_current_wal_lsn()`` (written), ``pg_current_wal_insert_lsn()``,
  ``pg_current_wal_flush_lsn()``, ``pg_switch_wal()`` (superuser): 55000 during recovery.
* ``pg_walfile_name(pg_lsn)``: the segment holding the byte *before* the position, as
  PostgreSQL (a segment boundary names the segment it ends); ``pg_walfile_name_offset(pg_lsn)``
  the record ``(file_name, file_offset)``; both 55000 during recovery.
* ``pg_wal_lsn_diff(pg_lsn, pg_lsn)`` numeric, ``pg_is_in_recovery()``; ``pg_control_system()``,
  ``pg_control_checkpoint()`` (on a standby its last restartpoint), ``pg_control_init()`` and
  ``pg_control_recovery()``
  (records, text or columns as the slot function's).

Recovery control (PostgreSQL 15's, on a standby's startup thread ``server.standby_replay``,
recovery/standby.py): ``pg_wal_replay_pause()`` and ``pg_wal_replay_resume()`` (void; superuser,
as PostgreSQL revokes them from PUBLIC), ``pg_get_wal_replay_pause_state()`` (text: 'not paused',
'pause requested', 'paused') and ``pg_is_wal_replay_paused()`` (true unless 'not paused'). Outside
recovery each fails with 55000 "recovery is not in progress".

Promotion (recovery/promote.py): ``pg_promote(wait boolean DEFAULT true, wait_seconds integer
DEFAULT 60)``, arguments by position or by name (``wait => false``); superuser only (function
privileges cannot be granted yet). Outside recovery 55000 as above; ``wait_seconds <= 0`` is
22023. It creates the ``promote`` file, asks the postmaster to pass the request on
(``server.request_promote``) and, when ``wait``, polls every ``PROMOTE_POLL_INTERVAL_S``
(wait event IPC/Promote) until the server is out of recovery: true, or after ``wait_seconds``
a WARNING "server did not promote within N seconds" and false.

Backups (PostgreSQL's low-level API, replication/basebackup.py's start and stop):
``pg_backup_start(label text, fast boolean DEFAULT false)`` returns the start LSN and
``pg_backup_stop(wait_for_archive boolean DEFAULT true)`` the record ``(lsn, labelfile,
spcmapfile)``, the label being what the user stores as ``backup_label`` beside the files they
copied; one backup per session, kept across its transactions and abandoned when the session
ends (``SessionBackup``); on a standby too. ``pg_create_restore_point(name text)`` writes an
XLOG_RESTORE_POINT record. All three are a superuser's (PostgreSQL revokes them from PUBLIC).

Slot functions need a superuser or a role with REPLICATION (PostgreSQL's CheckSlotPermissions),
``max_replication_slots > 0`` and ``wal_level >= replica`` (CheckSlotRequirements).
"""

from __future__ import annotations

import datetime
import decimal
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from mirrordb.common.errors import (InvalidParameterValue, MirrordbError,
                                    ObjectNotInPrerequisiteState)
from mirrordb.common.lsn import INVALID_LSN, format_lsn
from mirrordb.recovery import promote as promotelib
from mirrordb.replication import slots as slotlib
from mirrordb.sql import roles
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (BOOL, TEXT, EvalFn, ExecContext, Expr, Row,
                                      check_arity, coerce, error_at, no_such_function)
from mirrordb.wal import payloads
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_RESTORE_POINT
from mirrordb.wal.segment import is_segment_name, parse_segment_name, segment_name

PG_LSN, NAME, INT4, INT8, OID, XID = (T.PG_LSN_OID, T.NAME_OID, T.INT4_OID, T.INT8_OID,
                                      T.OID_OID, T.XID_OID)
NUMERIC = T.NUMERIC_OID
VOID = T.VOID_OID
log = logging.getLogger(__name__)
INSUFFICIENT_PRIVILEGE = "42501"
RECORD_SPECIAL_CHARACTERS = frozenset('",()\\ \t\n\r')

PG_REPLICATION_SLOTS_OID = 12257
# pg_replication_slots, PostgreSQL 15's columns in order
PG_REPLICATION_SLOTS_COLUMNS: tuple[tuple[str, int], ...] = (
    ("slot_name", NAME), ("plugin", NAME), ("slot_type", TEXT), ("datoid", OID),
    ("database", NAME), ("temporary", BOOL), ("active", BOOL), ("active_pid", INT4),
    ("xmin", XID), ("catalog_xmin", XID), ("restart_lsn", PG_LSN),
    ("confirmed_flush_lsn", PG_LSN), ("wal_status", TEXT), ("safe_wal_size", INT8),
    ("two_phase", BOOL))


# -- helpers ------------------------------------------------------------------------------------


def record_text(values: Sequence[str | None]) -> str:
    """PostgreSQL's record_out: ``(a,b)``, NULL as nothing, quoting fields that need it."""
    fields = []
    for value in values:
        if value is None:
            fields.append("")
        elif value == "" or any(c in RECORD_SPECIAL_CHARACTERS for c in value):
            fields.append('"' + value.replace("\\", "\\\\").replace('"', '""') + '"')
        else:
            fields.append(value)
    return "(" + ",".join(fields) + ")"


def _server_slots(ctx: ExecContext) -> slotlib.SlotManager:
    server = ctx.session.server
    slots = getattr(server, "slots", None) or getattr(ctx.session.engine, "slots", None)
    if slots is None:
        raise ObjectNotInPrerequisiteState("replication slots are not available here")
    return slots  # type: ignore[no-any-return]


def _check_slot_use(ctx: ExecContext) -> slotlib.SlotManager:
    """PostgreSQL's CheckSlotPermissions and CheckSlotRequirements."""
    role = roles.current_role(ctx.session)
    if role is None or not (role.superuser or role.replication):
        raise MirrordbError("must be superuser or replication role to use replication slots",
                            sqlstate=INSUFFICIENT_PRIVILEGE)
    slots = _server_slots(ctx)
    if slots.max_replication_slots <= 0:
        raise ObjectNotInPrerequisiteState(
            "replication slots can only be used if max_replication_slots > 0")
    if str(ctx.session.engine.settings.get("wal_level")) == "minimal":
        raise ObjectNotInPrerequisiteState(
            "replication slots can only be used if wal_level >= replica")
    return slots


def _refuse_in_recovery(ctx: ExecContext, hint: str) -> None:
    if ctx.session.engine.in_recovery():
        raise ObjectNotInPrerequisiteState("recovery is in progress", hint=hint)


def require_superuser(ctx: ExecContext, name: str) -> None:
    """For the functions PostgreSQL revokes from PUBLIC: only a superuser calls them here
    (function privileges cannot be granted yet)."""
    if not roles.is_superuser(ctx.session):
        raise MirrordbError(f"permission denied for function {name}",
                            sqlstate=INSUFFICIENT_PRIVILEGE)


WAL_CONTROL_HINT = "WAL control functions cannot be executed during recovery."


# -- slots --------------------------------------------------------------------------------------


def _create_physical_slot(session: Any, builder: Any, name: str, args: list[Expr],
                          location: int) -> RecordValues:
    check_arity(name, args, (1, 2, 3), location)
    name_fn = coerce(builder, args[0], NAME).fn
    flag_fns = [coerce(builder, a, BOOL).fn for a in args[1:]]

    def run(row: Row, ctx: ExecContext) -> tuple[Any, ...] | None:
        slot_name = name_fn(row, ctx)
        flags = [fn(row, ctx) for fn in flag_fns]
        if slot_name is None or None in flags:
            return None   # strict, as PostgreSQL's
        reserve, temporary = (bool(f) for f in (flags + [False, False])[:2])
        slots = _check_slot_use(ctx)
        pid = ctx.session.process_id
        slot = slots.create(str(slot_name), temporary=temporary, reserve_wal=reserve,
                            owner_pid=pid if temporary else None)
        return slot.name, (slot.restart_lsn if slot.restart_lsn != INVALID_LSN else None)
    return run


def _copy_physical_slot(session: Any, builder: Any, name: str, args: list[Expr],
                        location: int) -> RecordValues:
    """pg_copy_physical_replication_slot(src_slot_name name, dst_slot_name name
    [, temporary boolean]) returns (slot_name, lsn): the lsn, a logical slot's
    confirmed_flush, is NULL for a physical copy."""
    check_arity(name, args, (2, 3), location)
    source_fn, target_fn = (coerce(builder, a, NAME).fn for a in args[:2])
    temporary_fn = coerce(builder, args[2], BOOL).fn if len(args) == 3 else None

    def run(row: Row, ctx: ExecContext) -> tuple[Any, ...] | None:
        source, target = source_fn(row, ctx), target_fn(row, ctx)
        temporary = temporary_fn(row, ctx) if temporary_fn is not None else False
        if source is None or target is None or temporary is None:
            return None   # strict, as PostgreSQL's
        slots = _check_slot_use(ctx)
        slot = slots.copy(str(source), str(target),
                          temporary=bool(temporary) if temporary_fn is not None else None,
                          owner_pid=ctx.session.process_id)
        return slot.name, None
    return run


def _advance_slot(session: Any, builder: Any, name: str, args: list[Expr],
                  location: int) -> RecordValues:
    """pg_replication_slot_advance(slot_name name, upto_lsn pg_lsn) returns (slot_name,
    end_lsn): a physical slot's restart_lsn moved forward, to at most the flushed WAL (on a
    standby the replayed WAL)."""
    check_arity(name, args, (2,), location)
    name_fn = coerce(builder, args[0], NAME).fn
    lsn_fn = coerce(builder, args[1], PG_LSN).fn

    def run(row: Row, ctx: ExecContext) -> tuple[Any, ...] | None:
        slot_name, target_lsn = name_fn(row, ctx), lsn_fn(row, ctx)
        if slot_name is None or target_lsn is None:
            return None
        slots = _check_slot_use(ctx)
        if target_lsn == INVALID_LSN:
            raise MirrordbError("invalid target WAL LSN")   # XX000: PostgreSQL sets no code
        engine = ctx.session.engine
        if engine.in_recovery():
            replayed = _replay_lsn(ctx.session.server)
            target_lsn = min(target_lsn, replayed or INVALID_LSN)
        else:
            target_lsn = min(target_lsn, int(engine.wal.flush_lsn))
        slot = slots.get(str(slot_name))
        if slot is not None and slot.slot_type != "physical":
            raise MirrordbError("logical replication slots cannot be advanced: logical "
                                "decoding is not supported", sqlstate="0A000")
        end_lsn = slots.advance(str(slot_name), int(target_lsn),
                                pid=ctx.session.process_id)
        return str(slot_name), end_lsn
    return run


def _drop_slot(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (1,), location)
    name_fn = coerce(builder, args[0], NAME).fn

    def run(row: Row, ctx: ExecContext) -> Any:
        slot_name = name_fn(row, ctx)
        if slot_name is None:
            return None
        _check_slot_use(ctx).drop(str(slot_name), pid=ctx.session.process_id)
        return ""
    return Expr(VOID, run, name=name, volatile=True)


# -- WAL positions ------------------------------------------------------------------------------


def _wal_position(attribute: str) -> Callable[..., Expr]:
    def compile_(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
        check_arity(name, args, (0,), location)

        def run(row: Row, ctx: ExecContext) -> Any:
            _refuse_in_recovery(ctx, WAL_CONTROL_HINT)
            return int(getattr(ctx.session.engine.wal, attribute))
        return Expr(PG_LSN, run, name=name, volatile=True)
    return compile_


def _switch_wal(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (0,), location)

    def run(row: Row, ctx: ExecContext) -> Any:
        require_superuser(ctx, name)
        _refuse_in_recovery(ctx, WAL_CONTROL_HINT)
        wal = ctx.session.engine.wal
        switch_end_lsn = wal.switch_segment()
        wal.flush(wal.insert_lsn)
        return switch_end_lsn
    return Expr(PG_LSN, run, name=name, volatile=True)


RESET_TARGETS = ("archiver", "bgwriter", "recovery_prefetch", "wal")


def _superuser_call(builder: Any, name: str, args: list[Expr], location: int,
                    argument_type: int, result_type: Any,
                    action: Callable[[ExecContext, Any], Any]) -> Expr:
    """A superuser-only function of one argument (coerced to ``argument_type``): NULL gives
    NULL, any other value ``action(ctx, value)``."""
    check_arity(name, args, (1,), location)
    argument_fn = coerce(builder, args[0], argument_type).fn

    def run(row: Row, ctx: ExecContext) -> Any:
        require_superuser(ctx, name)
        value = argument_fn(row, ctx)
        return None if value is None else action(ctx, value)
    return Expr(result_type, run, name=name, volatile=True)


def _stat_reset_shared(session: Any, builder: Any, name: str, args: list[Expr],
                       location: int) -> Expr:
    """pg_stat_reset_shared(target text): the archiver's (pg_stat_archiver), the WAL
    writer's (pg_stat_wal) or the checkpointer's (pg_stat_bgwriter) counters start again;
    recovery_prefetch has no counters here."""
    def reset(ctx: ExecContext, target: str) -> str:
        if target not in RESET_TARGETS:
            raise InvalidParameterValue(
                f'unrecognized reset target: "{target}"',
                hint='Target must be "archiver", "bgwriter", "recovery_prefetch", or "wal".')
        engine = ctx.session.engine
        if target == "archiver":
            engine.archiver_statistics.reset()
        elif target == "wal":
            engine.wal.reset_statistics()
        elif target == "bgwriter":
            engine.checkpointer.reset_statistics()
        return ""
    return _superuser_call(builder, name, args, location, TEXT, VOID, reset)


def _stat_reset(session: Any, builder: Any, name: str, args: list[Expr],
                location: int) -> Expr:
    """pg_stat_reset(): the current database's counters (tables, recovery conflicts) start
    again."""
    check_arity(name, args, (0,), location)

    def run(row: Row, ctx: ExecContext) -> Any:
        require_superuser(ctx, name)
        from mirrordb.recovery.conflicts import conflict_statistics
        session = ctx.session
        session.engine.table_stats.reset(session.database)
        conflict_statistics(session.engine).reset(session.database)
        return ""
    return Expr(VOID, run, name=name, volatile=True)


def _stat_reset_table(session: Any, builder: Any, name: str, args: list[Expr],
                      location: int) -> Expr:
    """pg_stat_reset_single_table_counters(oid): one table's counters start again."""
    def reset(ctx: ExecContext, relid: int) -> str:
        ctx.session.engine.table_stats.reset_table(int(relid))
        return ""
    return _superuser_call(builder, name, args, location, T.OID_OID, VOID, reset)


def _walfile_name(session: Any, builder: Any, name: str, args: list[Expr],
                  location: int) -> Expr:
    check_arity(name, args, (1,), location)
    lsn_fn = coerce(builder, args[0], PG_LSN).fn

    def run(row: Row, ctx: ExecContext) -> Any:
        lsn = lsn_fn(row, ctx)
        if lsn is None:
            return None
        _refuse_in_recovery(ctx, "pg_walfile_name() cannot be executed during recovery.")
        return _walfile_name_of(ctx.session.engine.wal, lsn)
    return Expr(TEXT, run, name=name, volatile=True)


def _walfile_name_offset(session: Any, builder: Any, name: str, args: list[Expr],
                         location: int) -> RecordValues:
    """pg_walfile_name_offset(lsn) returns (file_name, file_offset): the segment as
    pg_walfile_name names it and the position's offset in its own segment (PostgreSQL 15's
    pair: at a segment boundary the previous segment's name with offset 0)."""
    check_arity(name, args, (1,), location)
    lsn_fn = coerce(builder, args[0], PG_LSN).fn

    def values(row: Row, ctx: ExecContext) -> tuple[Any, ...] | None:
        lsn = lsn_fn(row, ctx)
        if lsn is None:
            return None
        _refuse_in_recovery(ctx, "pg_walfile_name_offset() cannot be executed during recovery.")
        wal = ctx.session.engine.wal
        return _walfile_name_of(wal, lsn), lsn % wal.segment_size
    return values


def _walfile_name_of(wal: Any, lsn: int) -> str:
    """The segment holding the byte before ``lsn`` (PostgreSQL's XLByteToPrevSeg)."""
    segment = ((lsn - 1) & 0xFFFF_FFFF_FFFF_FFFF) // wal.segment_size   # 0/0 wraps around
    return segment_name(wal.timeline, segment, wal.segment_size)


def _wal_lsn_diff(session: Any, builder: Any, name: str, args: list[Expr],
                  location: int) -> Expr:
    check_arity(name, args, (2,), location)
    left_fn, right_fn = (coerce(builder, a, PG_LSN).fn for a in args)

    def run(row: Row, ctx: ExecContext) -> Any:
        left, right = left_fn(row, ctx), right_fn(row, ctx)
        if left is None or right is None:
            return None
        return decimal.Decimal(int(left) - int(right))
    return Expr(NUMERIC, run, name=name)


def _is_in_recovery(session: Any, builder: Any, name: str, args: list[Expr],
                    location: int) -> Expr:
    check_arity(name, args, (0,), location)
    return Expr(BOOL, lambda row, ctx: bool(ctx.session.engine.in_recovery()), name=name,
                volatile=True)


def _control_record(values_of: Callable[[Any], tuple[Any, ...]]) -> Callable[..., RecordValues]:
    """A record function of pg_control's fields (no arguments): ``values_of(control)``."""
    def compile_(session: Any, builder: Any, name: str, args: list[Expr],
                 location: int) -> RecordValues:
        check_arity(name, args, (0,), location)
        return lambda row, ctx: values_of(ctx.session.engine.control)
    return compile_


def _pg_time(unix_s: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(unix_s, datetime.timezone.utc)


def _control_system(control: Any) -> tuple[Any, ...]:
    return (control.pg_control_version, control.catalog_version_no, control.system_identifier,
            _pg_time(control.time_s))


def _control_checkpoint(control: Any) -> tuple[Any, ...]:
    """pg_control's last checkpoint (on a standby its last restartpoint)."""
    checkpoint, segment_size = control.checkpoint, control.xlog_seg_size
    return (control.checkpoint_lsn, checkpoint.redo,
            segment_name(checkpoint.this_timeline, checkpoint.redo // segment_size,
                         segment_size),
            checkpoint.this_timeline, checkpoint.prev_timeline, checkpoint.full_page_writes,
            f"{checkpoint.next_full_xid >> 32}:{checkpoint.next_full_xid & 0xFFFFFFFF}",
            checkpoint.next_oid, checkpoint.next_multi, checkpoint.next_multi_offset,
            checkpoint.oldest_xid, checkpoint.oldest_xid_db, checkpoint.oldest_active_xid,
            checkpoint.oldest_multi, checkpoint.oldest_multi_db,
            checkpoint.oldest_commit_ts_xid, checkpoint.newest_commit_ts_xid,
            _pg_time(checkpoint.time_s))


def _control_init(control: Any) -> tuple[Any, ...]:
    """pg_control's build constants: alignment, block and segment sizes, limits."""
    return (control.max_align, control.blcksz, control.relseg_size, control.xlog_blcksz,
            control.xlog_seg_size, control.name_data_len, control.index_max_keys,
            control.toast_max_chunk_size, control.loblksize, control.float8_by_val,
            control.data_checksum_version)


def _control_recovery(control: Any) -> tuple[Any, ...]:
    """pg_control's recovery fields: minRecoveryPoint and the base backup's positions."""
    return (control.min_recovery_point, control.min_recovery_point_tli,
            control.backup_start_point, control.backup_end_point, control.backup_end_required)


# -- backups and restore points ----------------------------------------------------------------

BACKUP_LABEL_MAX_BYTES = 1024            # PostgreSQL's MAXPGPATH
BACKUP_START_PARAMETERS: tuple[tuple[str, int, object], ...] = (("label", TEXT, None),
                                                                ("fast", BOOL, False))
BACKUP_STOP_PARAMETERS: tuple[tuple[str, int, object], ...] = (("wait_for_archive", BOOL, True),)
ARCHIVE_WAIT_NOTICE_S = 5      # pg_backup_stop says it waits for the archiver after this
ARCHIVE_WAIT_WARNING_S = 60    # and warns after this, then after twice as long each time
NOT_ARCHIVING_NOTICE = ("WAL archiving is not enabled; you must ensure that all required WAL "
                        "segments are copied through other means to complete the backup")
WAL_LEVEL_HINT = 'wal_level must be set to "replica" or "logical" at server start.'


class SessionBackup:
    """A backup between ``pg_backup_start`` and ``pg_backup_stop`` (PostgreSQL's non-exclusive
    low-level backup): it belongs to the session that started it, across its transactions.
    Its WAL from the start LSN on is held (the checkpointer's ``wal_holds``) until it stops or
    the session ends, so the files the user copies meanwhile can be completed from pg_wal."""

    def __init__(self, start: Any, hold: int, label: str) -> None:
        self.start = start
        self.hold = hold
        self.label = label

    def abort(self, engine: Any) -> None:
        """The session ends before ``pg_backup_stop``: the backup is abandoned."""
        engine.checkpointer.wal_holds.release(self.hold)
        log.warning("aborting backup due to backend exiting before pg_backup_stop was called")


def _backup_start(session: Any, builder: Any, name: str, args: list[Expr],
                  location: int) -> Expr:
    """pg_backup_start(label text, fast boolean DEFAULT false): a checkpoint (on a standby a
    restartpoint), whose REDO point is returned; the checkpointer has one speed, so ``fast``
    changes nothing."""
    if not args:
        raise no_such_function(name, args, location)
    label_fn, fast_fn = _bind_arguments(builder, name, args, BACKUP_START_PARAMETERS, location)

    def run(row: Row, ctx: ExecContext) -> Any:
        require_superuser(ctx, name)
        label, fast = label_fn(row, ctx), fast_fn(row, ctx)
        if label is None or fast is None:
            return None
        if len(str(label).encode()) > BACKUP_LABEL_MAX_BYTES:
            raise InvalidParameterValue(
                f"backup label too long (max {BACKUP_LABEL_MAX_BYTES} bytes)")
        session = ctx.session
        if session.backup is not None:
            raise ObjectNotInPrerequisiteState("a backup is already in progress in this session")
        engine = session.engine
        if engine.env.wal_level == "minimal":
            raise ObjectNotInPrerequisiteState(
                "WAL level not sufficient for making an online backup", hint=WAL_LEVEL_HINT)
        from mirrordb.replication import basebackup
        start, hold = basebackup.start_backup_holding_wal(engine)
        session.backup = SessionBackup(start, hold, str(label))
        return start.start_lsn
    return Expr(PG_LSN, run, name=name, volatile=True)


def _backup_stop(session: Any, builder: Any, name: str, args: list[Expr],
                 location: int) -> RecordValues:
    """pg_backup_stop(wait_for_archive boolean DEFAULT true) returns (lsn, labelfile,
    spcmapfile): on a primary the backup-end record and a segment switch, the end LSN being
    that record's end; on a standby the end is minRecoveryPoint and nothing is written. The
    label text is what the user stores as ``backup_label`` beside the copied files."""
    (wait_fn,) = _bind_arguments(builder, name, args, BACKUP_STOP_PARAMETERS, location)

    def values(row: Row, ctx: ExecContext) -> tuple[Any, ...] | None:
        require_superuser(ctx, name)
        wait = wait_fn(row, ctx)
        if wait is None:
            return None
        session = ctx.session
        backup = session.backup
        if backup is None:
            raise ObjectNotInPrerequisiteState("backup is not in progress",
                                               hint="Did you call pg_backup_start()?")
        from mirrordb.replication import basebackup
        engine, start = session.engine, backup.start
        session.backup = None
        try:
            end_lsn = basebackup.stop_standby_backup(engine, start) if start.from_standby \
                else basebackup.stop_backup(engine, start, backup.label)
        finally:
            engine.checkpointer.wal_holds.release(backup.hold)
        segment_size = engine.control.xlog_seg_size
        if wait and engine.archiving():
            needed = [basebackup.last_backup_segment(start, end_lsn, segment_size)]
            if not start.from_standby:
                needed.append(basebackup.backup_history_file_name(start, segment_size))
            _wait_for_archive(ctx, needed)
        elif wait:
            session.pending_warnings.append(("NOTICE", NOT_ARCHIVING_NOTICE))
        return (end_lsn, start.label_text(backup.label, segment_size), "")
    return values


def _wait_for_archive(ctx: ExecContext, names: list[str]) -> None:
    """pg_backup_stop's wait until the archiver has stored ``names`` (the backup's last
    segment and history file), with PostgreSQL's notices: one after 5 s, a warning after 60 s,
    then after twice as long each time. A cancel ends the wait (the backup is then not
    usable without those files, as the hint says)."""
    from mirrordb.wal import archive
    session = ctx.session
    waldir = session.engine.waldir
    waits, warn_after, reported = 0, ARCHIVE_WAIT_WARNING_S, False
    while any(archive.is_busy(waldir, name) for name in names):
        ctx.check_interrupts()
        if not reported and waits > ARCHIVE_WAIT_NOTICE_S:
            session.pending_warnings.append(("NOTICE", "base backup done, waiting for required "
                                                       "WAL segments to be archived"))
            reported = True
        _pause(ctx, 1.0, "BackupWaitWalArchive")
        waits += 1
        if waits >= warn_after:
            warn_after *= 2
            session.pending_warnings.append(
                ("WARNING", f"still waiting for all required WAL segments to be archived "
                            f"({waits} seconds elapsed)"))
    session.pending_warnings.append(("NOTICE", "all required WAL segments have been archived"))


def _create_restore_point(session: Any, builder: Any, name: str, args: list[Expr],
                          location: int) -> Expr:
    """pg_create_restore_point(name text): an XLOG_RESTORE_POINT record; its end LSN."""
    def create(ctx: ExecContext, point: str) -> int:
        _refuse_in_recovery(ctx, WAL_CONTROL_HINT)
        engine = ctx.session.engine
        if engine.env.wal_level == "minimal":
            raise ObjectNotInPrerequisiteState(
                "WAL level not sufficient for creating a restore point", hint=WAL_LEVEL_HINT)
        if len(point.encode()) >= payloads.RESTORE_POINT_NAME_SIZE:
            raise InvalidParameterValue(
                "value too long for restore point (maximum "
                f"{payloads.RESTORE_POINT_NAME_SIZE - 1} characters)")
        end_lsn = engine.wal.insert(RM_XLOG_ID, XLOG_RESTORE_POINT, payloads.encode_restore_point(
            payloads.pg_timestamp_now(), point))
        log.info('restore point "%s" created at %s', point, format_lsn(end_lsn))
        return int(end_lsn)
    return _superuser_call(builder, name, args, location, TEXT, PG_LSN, create)


# -- functions returning one record -------------------------------------------------------------

# What a record function's compiler returns: the record's values (None: a NULL record).
RecordValues = Callable[[Row, ExecContext], "tuple[Any, ...] | None"]
# PostgreSQL's OUT parameters of the functions that return one record: in FROM
# (``SELECT * FROM pg_control_system()``) they are the columns; in a select list the record is
# one text value, ``(a,b)`` (record_out; mirrordb has no composite types).
RECORD_FUNCTIONS: dict[str, tuple[Callable[..., RecordValues], tuple[tuple[str, int], ...]]] = {
    "pg_create_physical_replication_slot": (_create_physical_slot,
                                            (("slot_name", NAME), ("lsn", PG_LSN))),
    "pg_copy_physical_replication_slot": (_copy_physical_slot,
                                          (("slot_name", NAME), ("lsn", PG_LSN))),
    "pg_replication_slot_advance": (_advance_slot, (("slot_name", NAME), ("end_lsn", PG_LSN))),
    "pg_control_system": (_control_record(_control_system), (
        ("pg_control_version", INT4), ("catalog_version_no", INT4), ("system_identifier", INT8),
        ("pg_control_last_modified", T.TIMESTAMPTZ_OID))),
    "pg_control_checkpoint": (_control_record(_control_checkpoint), (
        ("checkpoint_lsn", PG_LSN), ("redo_lsn", PG_LSN), ("redo_wal_file", TEXT),
        ("timeline_id", INT4), ("prev_timeline_id", INT4), ("full_page_writes", BOOL),
        ("next_xid", TEXT), ("next_oid", OID), ("next_multixact_id", XID),
        ("next_multi_offset", XID), ("oldest_xid", XID), ("oldest_xid_dbid", OID),
        ("oldest_active_xid", XID), ("oldest_multi_xid", XID), ("oldest_multi_dbid", OID),
        ("oldest_commit_ts_xid", XID), ("newest_commit_ts_xid", XID),
        ("checkpoint_time", T.TIMESTAMPTZ_OID))),
    "pg_control_recovery": (_control_record(_control_recovery), (
        ("min_recovery_end_lsn", PG_LSN), ("min_recovery_end_timeline", INT4),
        ("backup_start_lsn", PG_LSN), ("backup_end_lsn", PG_LSN),
        ("end_of_backup_record_required", BOOL))),
    "pg_control_init": (_control_record(_control_init), (
        ("max_data_alignment", INT4), ("database_block_size", INT4),
        ("blocks_per_segment", INT4), ("wal_block_size", INT4),
        ("bytes_per_wal_segment", INT4), ("max_identifier_length", INT4),
        ("max_index_columns", INT4), ("max_toast_chunk_size", INT4),
        ("large_object_chunk_size", INT4), ("float8_pass_by_value", BOOL),
        ("data_page_checksum_version", INT4))),
    "pg_walfile_name_offset": (_walfile_name_offset, (("file_name", TEXT),
                                                      ("file_offset", INT4))),
    "pg_backup_stop": (_backup_stop, (
        ("lsn", PG_LSN), ("labelfile", TEXT), ("spcmapfile", TEXT))),
}


def _record_as_text(name: str) -> Callable[..., Expr]:
    """The select-list form of record function ``name``: its record as text."""
    compile_values, columns = RECORD_FUNCTIONS[name]
    types = [type_oid for _, type_oid in columns]

    def compile_(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
        values_fn = compile_values(session, builder, name, args, location)

        def run(row: Row, ctx: ExecContext) -> Any:
            values = values_fn(row, ctx)
            if values is None:
                return None
            timezone = ctx.session.timezone
            return record_text([None if value is None else format_field(type_oid, value, timezone)
                                for type_oid, value in zip(types, values)])
        return Expr(TEXT, run, name=name, volatile=True)
    return compile_


def format_field(type_oid: int, value: Any, timezone: str) -> str:
    try:
        return T.format_text(type_oid, value, timezone=timezone)
    except Exception:  # noqa: BLE001 - an unknown zone name: shown in UTC
        return T.format_text(type_oid, value)


def record_function_in_from(session: Any, builder: Any, name: str, args: list[Expr]
                            ) -> tuple[Callable[[ExecContext], list[Row]],
                                       tuple[tuple[str, int], ...]] | None:
    """A record function called in FROM: (its rows, one, all NULL when the record is; its
    columns), or None when ``name`` is not one."""
    entry = RECORD_FUNCTIONS.get(name)
    if entry is None:
        return None
    compile_values, columns = entry
    values_fn = compile_values(session, builder, name, args, -1)

    def produce(ctx: ExecContext) -> list[Row]:
        values = values_fn((), ctx)
        return [values if values is not None else (None,) * len(columns)]
    return produce, columns


def record_field(session: Any, builder: Any, name: str, args: list[Expr], field: str,
                 location: int) -> Expr | None:
    """``(f(...)).field`` for record function ``name``: that OUT parameter's value (NULL
    when the record is); None when ``name`` is not a record function."""
    entry = RECORD_FUNCTIONS.get(name)
    if entry is None:
        return None
    compile_values, columns = entry
    names = [column for column, _ in columns]
    if field not in names:
        raise error_at(f'could not identify column "{field}" in record data type', "42703",
                       location)
    index = names.index(field)
    values_fn = compile_values(session, builder, name, args, location)

    def run(row: Row, ctx: ExecContext) -> Any:
        values = values_fn(row, ctx)
        return None if values is None else values[index]
    return Expr(columns[index][1], run, name=field, volatile=True)


# -- the view -----------------------------------------------------------------------------------


def _oldest_existing_segment(waldir: str, timeline: int, segment_size: int, fallback: int) -> int:
    """The oldest segment file still in pg_wal (PostgreSQL: last removed + 1)."""
    try:
        names = os.listdir(waldir)
    except OSError:
        return fallback
    numbers = []
    for entry in names:
        if is_segment_name(entry):
            try:
                tli, number = parse_segment_name(entry, segment_size)
            except MirrordbError:
                continue
            if tli == timeline:
                numbers.append(number)
    return min(numbers) if numbers else fallback


def pg_replication_slots(ctx: ExecContext) -> list[Row]:
    """The rows of pg_replication_slots (PostgreSQL's pg_get_replication_slots)."""
    server_slots = getattr(ctx.session.server, "slots", None) \
        or getattr(ctx.session.engine, "slots", None)
    if server_slots is None:
        return []
    engine = ctx.session.engine
    settings = engine.settings
    wal = engine.wal
    segment_size = wal.segment_size
    current_lsn = int(wal.write_lsn)
    slot_cap = int(settings.get("max_slot_wal_keep_size"))
    keep_bytes = int(settings.get("wal_keep_size"))
    demand = slotlib.keep_log_segment(current_lsn, server_slots.required_lsn(), segment_size,
                                      slot_cap, keep_bytes)
    current_segment = current_lsn // segment_size
    slot_keep_segment = current_segment if demand is None else min(current_segment, demand)
    oldest_segment = _oldest_existing_segment(os.path.join(engine.datadir, "pg_wal"),
                                              wal.timeline, segment_size, current_segment)
    rows: list[Row] = []
    for slot in sorted(server_slots.slots(), key=lambda s: s.name):
        status = slotlib.wal_status(
            slot, current_lsn=current_lsn, slot_keep_segment=slot_keep_segment,
            oldest_existing_segment=oldest_segment, segment_size=segment_size,
            max_wal_size_bytes=int(settings.get("max_wal_size")))
        if status == "lost" and slot.active and not slot.invalidated:
            status = "unreserved"   # its walsender may still be reading what it has
        safe = None if status is None else slotlib.safe_wal_size(
            slot, current_lsn=current_lsn, segment_size=segment_size,
            max_slot_wal_keep_size_bytes=slot_cap, wal_keep_size_bytes=keep_bytes)
        rows.append((
            slot.name, slot.plugin or None, slot.slot_type, slot.database or None, None,
            slot.temporary, slot.active, slot.active_pid, slot.xmin or None,
            slot.catalog_xmin or None, slot.restart_lsn or None,
            slot.confirmed_flush or None if slot.slot_type == "logical" else None, status,
            safe, slot.two_phase))
    return rows


# -- standby positions -----------------------------------------------------------------------


PG_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


def _standby_value(getter: Callable[[Any], Any], result_type: int) -> Callable[..., Expr]:
    """A function that reads the standby's replay or receive state (NULL on a primary)."""
    def compile_(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
        check_arity(name, args, (0,), location)

        def run(row: Row, ctx: ExecContext) -> Any:
            server = ctx.session.server
            return None if server is None else getter(server)
        return Expr(result_type, run, name=name, volatile=True)
    return compile_


def _replay_lsn(server: Any) -> Any:
    replay = getattr(server, "standby_replay", None)
    return None if replay is None else int(replay.replayed_lsn)


def _receive_lsn(server: Any) -> Any:
    receiver = getattr(server, "walreceiver", None)
    if receiver is None:
        return None
    flushed = receiver.status.flushed_lsn
    return int(flushed) if flushed else None


def _replay_timestamp(server: Any) -> Any:
    replay = getattr(server, "standby_replay", None)
    moment = None if replay is None else replay.last_commit_time
    return None if moment is None else PG_EPOCH + datetime.timedelta(microseconds=moment)


# -- recovery control ---------------------------------------------------------------------------


RECOVERY_CONTROL_HINT = "Recovery control functions can only be executed during recovery."


def _standby_replay(ctx: ExecContext) -> Any:
    """The startup thread (StandbyReplay) of a server in recovery; 55000 otherwise."""
    replay = getattr(ctx.session.server, "standby_replay", None)
    if replay is None or not ctx.session.engine.in_recovery():
        raise ObjectNotInPrerequisiteState("recovery is not in progress",
                                           hint=RECOVERY_CONTROL_HINT)
    return replay


def _recovery_control(action: Callable[[Any], Any], result_type: int, *,
                      superuser_only: bool) -> Callable[..., Expr]:
    """A function of no arguments acting on (or reading) the standby's pause state."""
    def compile_(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
        check_arity(name, args, (0,), location)

        def run(row: Row, ctx: ExecContext) -> Any:
            if superuser_only:
                require_superuser(ctx, name)
            return action(_standby_replay(ctx))
        return Expr(result_type, run, name=name, volatile=True)
    return compile_


# pg_promote's parameters: (name, type, default), PostgreSQL's pg_proc entry
PROMOTE_PARAMETERS: tuple[tuple[str, int, object], ...] = (("wait", BOOL, True),
                                                           ("wait_seconds", INT4, 60))
PROMOTE_POLL_INTERVAL_S = 0.1    # PostgreSQL's WAITS_PER_SECOND = 10


def _bind_arguments(builder: Any, name: str, args: list[Expr],
                    parameters: tuple[tuple[str, int, object], ...],
                    location: int) -> list[EvalFn]:
    """Positional, then named arguments, onto ``parameters``; the rest take their defaults.
    One closure per parameter, coerced to its type."""
    bound: dict[int, Expr] = {}
    names = [parameter[0] for parameter in parameters]
    for position, arg in enumerate(args):
        if arg.argument_name is None and bound and max(bound) >= position:
            raise error_at("positional argument cannot follow named argument", "42601", location)
        index = position if arg.argument_name is None else \
            names.index(arg.argument_name) if arg.argument_name in names else len(names)
        if index >= len(names) or index in bound:
            raise no_such_function(name, args, location)
        bound[index] = arg
    fns: list[EvalFn] = []
    for index, (_, type_oid, default) in enumerate(parameters):
        given = bound.get(index)
        fns.append(coerce(builder, given, type_oid).fn if given is not None
                   else (lambda row, ctx, value=default: value))
    return fns


def _promote(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    wait_fn, seconds_fn = _bind_arguments(builder, name, args, PROMOTE_PARAMETERS, location)

    def run(row: Row, ctx: ExecContext) -> Any:
        require_superuser(ctx, name)
        wait, wait_seconds = wait_fn(row, ctx), seconds_fn(row, ctx)
        if wait is None or wait_seconds is None:
            return None   # strict, as PostgreSQL's
        server = ctx.session.server
        if server is None or not ctx.session.engine.in_recovery():
            raise ObjectNotInPrerequisiteState("recovery is not in progress",
                                               hint=RECOVERY_CONTROL_HINT)
        if wait_seconds <= 0:
            raise InvalidParameterValue('"wait_seconds" must not be negative or zero')
        promotelib.write_promote_signal_file(ctx.session.engine.datadir)
        server.request_promote()
        return True if not wait else _wait_for_promotion(ctx, int(wait_seconds))
    return Expr(BOOL, run, name=name, volatile=True)


def _pause(ctx: ExecContext, seconds: float, wait_event: str) -> None:
    """Wait ``seconds`` shown as IPC ``wait_event`` in pg_stat_activity; a cancel or
    terminate request ends the wait early (the caller's next interrupt check acts on it)."""
    info = ctx.session.backend_info
    wakeup = getattr(getattr(info, "interrupts", None), "wakeup", None)
    if info is not None:
        info.wait_event_type, info.wait_event = "IPC", wait_event
    try:
        if wakeup is not None:
            wakeup.wait(seconds)
        else:
            time.sleep(seconds)   # a session without an interrupt state (tests)
    finally:
        if info is not None:
            info.wait_event_type = info.wait_event = None


def _wait_for_promotion(ctx: ExecContext, wait_seconds: int) -> bool:
    """Poll until the server is out of recovery (True) or ``wait_seconds`` pass (a WARNING,
    False); a cancel or terminate request interrupts the wait."""
    engine = ctx.session.engine
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if not engine.in_recovery():
            return True
        ctx.check_interrupts()
        _pause(ctx, min(PROMOTE_POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())),
               "Promote")
    if not engine.in_recovery():
        return True
    unit = "second" if wait_seconds == 1 else "seconds"
    ctx.session.pending_warnings.append(
        ("WARNING", f"server did not promote within {wait_seconds} {unit}"))
    return False


def _pause_replay(replay: Any) -> str:
    replay.request_pause()
    return ""


def _resume_replay(replay: Any) -> str:
    replay.resume()
    return ""


SPECIAL_HANDLERS: dict[str, Callable[..., Expr]] = {
    "pg_wal_replay_pause": _recovery_control(_pause_replay, VOID, superuser_only=True),
    "pg_wal_replay_resume": _recovery_control(_resume_replay, VOID, superuser_only=True),
    "pg_get_wal_replay_pause_state": _recovery_control(
        lambda replay: replay.pause_state.value, TEXT, superuser_only=False),
    "pg_is_wal_replay_paused": _recovery_control(
        lambda replay: replay.pause_state.value != "not paused", BOOL, superuser_only=False),
    "pg_last_wal_replay_lsn": _standby_value(_replay_lsn, PG_LSN),
    "pg_last_wal_receive_lsn": _standby_value(_receive_lsn, PG_LSN),
    "pg_last_xact_replay_timestamp": _standby_value(_replay_timestamp, T.TIMESTAMPTZ_OID),
    "pg_create_physical_replication_slot": _record_as_text("pg_create_physical_replication_slot"),
    "pg_copy_physical_replication_slot": _record_as_text("pg_copy_physical_replication_slot"),
    "pg_replication_slot_advance": _record_as_text("pg_replication_slot_advance"),
    "pg_drop_replication_slot": _drop_slot,
    "pg_current_wal_lsn": _wal_position("write_lsn"),
    "pg_current_wal_insert_lsn": _wal_position("insert_lsn"),
    "pg_current_wal_flush_lsn": _wal_position("flush_lsn"),
    "pg_switch_wal": _switch_wal,
    "pg_stat_reset_shared": _stat_reset_shared,
    "pg_stat_reset": _stat_reset,
    "pg_stat_reset_single_table_counters": _stat_reset_table,
    "pg_walfile_name": _walfile_name,
    "pg_wal_lsn_diff": _wal_lsn_diff,
    "pg_is_in_recovery": _is_in_recovery,
    "pg_promote": _promote,
    "pg_control_system": _record_as_text("pg_control_system"),
    "pg_control_checkpoint": _record_as_text("pg_control_checkpoint"),
    "pg_control_recovery": _record_as_text("pg_control_recovery"),
    "pg_control_init": _record_as_text("pg_control_init"),
    "pg_walfile_name_offset": _record_as_text("pg_walfile_name_offset"),
    "pg_backup_start": _backup_start,
    "pg_backup_stop": _record_as_text("pg_backup_stop"),
    "pg_create_restore_point": _create_restore_point,
}


__all__ = ["PG_REPLICATION_SLOTS_COLUMNS", "PG_REPLICATION_SLOTS_OID", "RECORD_FUNCTIONS",
           "SPECIAL_HANDLERS", "pg_replication_slots", "record_field", "record_function_in_from",
           "record_text"]
