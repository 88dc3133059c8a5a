"""Replication slots: what a standby still needs from the primary, remembered across restarts.

A physical slot names a consumer of the WAL stream (a standby, pg_receivewal, pg_basebackup's
streamer) and records two horizons for it: ``restart_lsn``, the oldest WAL it may still ask for
(the checkpointer keeps every segment from there on), and ``xmin``, the oldest transaction its
hot-standby queries may still see (VACUUM keeps row versions newer than that).

Who calls it:

* the postmaster creates one ``SlotManager`` per server and ``load()``\\ s it before accepting
  connections (PostgreSQL's StartupReplicationSlots); it is ``server.slots`` and ``engine.slots``;
* SQL (sql/replication_functions.py: pg_create_physical_replication_slot,
  pg_copy_physical_replication_slot, pg_replication_slot_advance, pg_drop_replication_slot,
  pg_replication_slots) and the walsender (CREATE_REPLICATION_SLOT,
  DROP_REPLICATION_SLOT, READ_REPLICATION_SLOT, START_REPLICATION SLOT; standby status updates
  move ``restart_lsn``, hot-standby feedback moves ``xmin``);
* the checkpointer (recovery/checkpoint.py) asks ``required_lsn()`` before removing segments,
  invalidates slots past ``max_slot_wal_keep_size`` (``invalidate_obsolete``) and persists dirty
  slots (``checkpoint()``, PostgreSQL's CheckPointReplicationSlots);
* VACUUM's horizon (access/xact.py ``horizon_hooks``) asks ``required_xmin()``.

Lifecycle of a slot: created (persistent slots are on disk before ``create`` returns), acquired
by at most one process at a time (``active_pid``), released; temporary slots are never written to
disk and are dropped when their owner releases them or its session ends; dropped (directory
renamed to ``<name>.tmp``, then removed). A slot whose WAL was given up is *invalidated* ("lost"):
its ``restart_lsn`` moves to ``invalidated_at`` and it no longer holds WAL back.

On disk, PostgreSQL 15's layout exactly: ``pg_replslot/<name>/state``, 200 bytes, native
(little-endian) byte order, ReplicationSlotOnDisk:

=======  ====  =========================================================================
offset   size  field
=======  ====  =========================================================================
0        4     magic, 0x1051CA1 (not checksummed)
4        4     checksum: CRC-32C of bytes 8..199 (not checksummed itself)
8        4     version, 2
12       4     length of what follows: 184
16       64    name (NameData, NUL padded)
80       4     database OID (0: a physical slot)
84       4     persistency: 0 persistent, 1 ephemeral, 2 temporary
88       4     xmin (0: none)
92       4     catalog_xmin (logical slots only)
96       8     restart_lsn (0: no WAL reserved)
104      8     invalidated_at: restart_lsn when the slot was invalidated, else 0
112      8     confirmed_flush (logical slots only)
120      8     two_phase_at (logical slots only)
128      1     two_phase (bool)
129      64    plugin (NameData; empty for a physical slot)
193      7     padding to 8 bytes (zero)
=======  ====  =========================================================================

A state file is replaced atomically (write ``state.tmp``, fsync, rename, fsync the file, its
directory and pg_replslot), so a crash leaves the old or the new state, never a mix. A damaged
file stops the start-up with PostgreSQL's message ("has wrong magic number", "checksum mismatch").

Locking: one lock (``SlotManager._lock``) guards the slot table and every slot's fields; file
writes happen under it too (they are rare and small). ``slots()`` and ``get()`` return copies.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from mirrordb.common.crc import crc32c
from mirrordb.common.errors import (DataCorrupted, DuplicateObject, MirrordbError,
                                    ObjectNotInPrerequisiteState, UndefinedObject, invariant)
from mirrordb.common.fileio import fsync_directory, os_errors, write_file_atomic
from mirrordb.common.lsn import INVALID_LSN, format_lsn

log = logging.getLogger("mirrordb.slots")

SLOT_DIRECTORY = "pg_replslot"
STATE_FILE = "state"
TEMPORARY_SUFFIX = ".tmp"     # what write_file_atomic adds to a name it is about to replace
SLOT_MAGIC = 0x1051CA1
SLOT_VERSION = 2
NAMEDATALEN = 64

# magic, checksum | version, length
ON_DISK_HEADER_FORMAT = "<IIII"
ON_DISK_HEADER_SIZE = struct.calcsize(ON_DISK_HEADER_FORMAT)
CHECKSUM_START = 8                       # the checksum covers version, length and the data
# name, database, persistency, xmin, catalog_xmin, restart_lsn, invalidated_at,
# confirmed_flush, two_phase_at, two_phase, plugin, padding
PERSISTENT_DATA_FORMAT = "<64sIiIIQQQQ?64s7x"
PERSISTENT_DATA_SIZE = struct.calcsize(PERSISTENT_DATA_FORMAT)
STATE_FILE_SIZE = ON_DISK_HEADER_SIZE + PERSISTENT_DATA_SIZE
invariant(ON_DISK_HEADER_SIZE == 16, "ReplicationSlotOnDisk header is 16 bytes")
invariant(PERSISTENT_DATA_SIZE == 184, "ReplicationSlotPersistentData is 184 bytes")
invariant(STATE_FILE_SIZE == 200, "a slot state file is 200 bytes")

RS_PERSISTENT, RS_EPHEMERAL, RS_TEMPORARY = 0, 1, 2

# sqlstates PostgreSQL uses for slots
INVALID_NAME = "42602"
NAME_TOO_LONG = "42622"
DUPLICATE_OBJECT = "42710"
UNDEFINED_OBJECT = "42704"
CONFIGURATION_LIMIT_EXCEEDED = "53400"
OBJECT_IN_USE = "55006"
FEATURE_NOT_SUPPORTED = "0A000"

WAL_LEVEL_ORDER = {"minimal": 0, "replica": 1, "logical": 2}


@dataclass
class ReplicationSlot:
    """One slot (PostgreSQL's ReplicationSlot: its persistent data and who has it)."""

    name: str
    slot_type: str = "physical"
    temporary: bool = False
    restart_lsn: int = 0          # 0 = not reserved
    xmin: int = 0                 # hot_standby_feedback xmin (0 = none)
    active_pid: int | None = None
    invalidated: bool = False     # "lost" (max_slot_wal_keep_size)
    invalidated_at: int = 0       # restart_lsn when it was invalidated
    database: int = 0             # 0 for a physical slot
    catalog_xmin: int = 0
    confirmed_flush: int = 0
    two_phase: bool = False
    two_phase_at: int = 0
    plugin: str = ""

    @property
    def active(self) -> bool:
        return self.active_pid is not None


# -- names -------------------------------------------------------------------------------------


def validate_slot_name(name: str) -> None:
    """PostgreSQL's rules: 1..63 bytes of lower-case letters, digits and underscores."""
    if not name:
        raise MirrordbError(f'replication slot name "{name}" is too short', sqlstate=INVALID_NAME)
    if len(name.encode("utf-8")) >= NAMEDATALEN:
        raise MirrordbError(f'replication slot name "{name}" is too long', sqlstate=NAME_TOO_LONG)
    if any(not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_") for c in name):
        raise MirrordbError(
            f'replication slot name "{name}" contains invalid character', sqlstate=INVALID_NAME,
            hint="Replication slot names may only contain lower case letters, numbers, and "
                 "the underscore character.")


# -- the state file codec ----------------------------------------------------------------------


def _name_bytes(text: str) -> bytes:
    raw = text.encode("utf-8")
    invariant(len(raw) < NAMEDATALEN, f"name {text!r} does not fit NameData")
    return raw


def _name_text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def encode_slot_state(slot: ReplicationSlot) -> bytes:
    """The 200-byte state file of ``slot`` (always written as persistent: temporary slots are
    never written)."""
    invariant(not slot.temporary, f"temporary slot {slot.name} must not be written to disk")
    restart_lsn = INVALID_LSN if slot.invalidated else slot.restart_lsn
    data = struct.pack(
        PERSISTENT_DATA_FORMAT, _name_bytes(slot.name), slot.database, RS_PERSISTENT,
        slot.xmin, slot.catalog_xmin, restart_lsn, slot.invalidated_at, slot.confirmed_flush,
        slot.two_phase_at, slot.two_phase, _name_bytes(slot.plugin))
    covered = struct.pack("<II", SLOT_VERSION, PERSISTENT_DATA_SIZE) + data
    return struct.pack("<II", SLOT_MAGIC, crc32c(covered)) + covered


def decode_slot_state(raw: bytes, path: str) -> tuple[ReplicationSlot, int]:
    """A state file's slot and its persistency; ``DataCorrupted`` with PostgreSQL's words if
    the file is damaged (``path`` names it in the message)."""
    if len(raw) < ON_DISK_HEADER_SIZE:
        raise DataCorrupted(f'could not read file "{path}": read {len(raw)} of '
                            f'{ON_DISK_HEADER_SIZE}')
    magic, checksum, version, length = struct.unpack_from(ON_DISK_HEADER_FORMAT, raw)
    if magic != SLOT_MAGIC:
        raise DataCorrupted(f'replication slot file "{path}" has wrong magic number: {magic} '
                            f'instead of {SLOT_MAGIC}')
    if version != SLOT_VERSION:
        raise DataCorrupted(f'replication slot file "{path}" has unsupported version {version}')
    if length != PERSISTENT_DATA_SIZE:
        raise DataCorrupted(f'replication slot file "{path}" has corrupted length {length}')
    if len(raw) != STATE_FILE_SIZE:
        raise DataCorrupted(f'could not read file "{path}": read '
                            f'{len(raw) - ON_DISK_HEADER_SIZE} of {length}')
    computed = crc32c(raw[CHECKSUM_START:])
    if computed != checksum:
        raise DataCorrupted(f'checksum mismatch for replication slot file "{path}": is '
                            f'{computed}, should be {checksum}')
    (name, database, persistency, xmin, catalog_xmin, restart_lsn, invalidated_at,
     confirmed_flush, two_phase_at, two_phase, plugin) = struct.unpack_from(
        PERSISTENT_DATA_FORMAT, raw, ON_DISK_HEADER_SIZE)
    slot = ReplicationSlot(
        name=_name_text(name), slot_type="physical" if database == 0 else "logical",
        restart_lsn=restart_lsn, xmin=xmin,
        invalidated=restart_lsn == INVALID_LSN and invalidated_at != INVALID_LSN,
        invalidated_at=invalidated_at, database=database, catalog_xmin=catalog_xmin,
        confirmed_flush=confirmed_flush, two_phase=two_phase, two_phase_at=two_phase_at,
        plugin=_name_text(plugin))
    return slot, persistency


# -- WAL retention arithmetic (pure) -----------------------------------------------------------


def keep_log_segment(current_lsn: int, slot_minimum_lsn: int, segment_size: int,
                     max_slot_wal_keep_size_bytes: int, wal_keep_size_bytes: int) -> int | None:
    """The oldest segment number the slots and ``wal_keep_size`` ask to keep, or None for no
    demand (PostgreSQL's KeepLogSeg; the caller takes the minimum with the REDO segment).

    Slots hold back to their oldest restart_lsn, but at most ``max_slot_wal_keep_size`` behind
    ``current_lsn`` (negative: no cap); ``wal_keep_size`` keeps at least that much.
    """
    current_segment = current_lsn // segment_size
    segment: int | None = None
    if slot_minimum_lsn != INVALID_LSN and slot_minimum_lsn < current_lsn:
        segment = slot_minimum_lsn // segment_size
        if max_slot_wal_keep_size_bytes >= 0:
            slot_keep_segments = max_slot_wal_keep_size_bytes // segment_size
            if current_segment - segment > slot_keep_segments:
                segment = current_segment - slot_keep_segments
    if wal_keep_size_bytes > 0:
        keep_segments = wal_keep_size_bytes // segment_size
        base = current_segment if segment is None else segment
        if current_segment - base < keep_segments:
            segment = 1 if current_segment <= keep_segments else current_segment - keep_segments
    return segment


def wal_status(slot: ReplicationSlot, *, current_lsn: int, slot_keep_segment: int,
               oldest_existing_segment: int, segment_size: int,
               max_wal_size_bytes: int) -> str | None:
    """pg_replication_slots.wal_status (PostgreSQL's GetWALAvailability): 'reserved' within
    max_wal_size, 'extended' kept beyond it by slots, 'unreserved' no longer kept but not yet
    removed, 'lost' removed; None for a slot without restart_lsn."""
    if slot.invalidated:
        return "lost"
    if slot.restart_lsn == INVALID_LSN:
        return None
    current_segment = current_lsn // segment_size
    keep_segments = max_wal_size_bytes // segment_size + 1
    oldest_by_max_wal_size = max(current_segment - keep_segments, 1)
    target = slot.restart_lsn // segment_size
    if target >= slot_keep_segment:
        return "reserved" if target >= oldest_by_max_wal_size else "extended"
    if target >= oldest_existing_segment:
        return "unreserved"
    return "lost"


def safe_wal_size(slot: ReplicationSlot, *, current_lsn: int, segment_size: int,
                  max_slot_wal_keep_size_bytes: int, wal_keep_size_bytes: int) -> int | None:
    """pg_replication_slots.safe_wal_size: bytes that can still be written before the slot's
    WAL is given up; None without a cap or for a lost slot."""
    if max_slot_wal_keep_size_bytes < 0 or slot.invalidated:
        return None
    target = slot.restart_lsn // segment_size
    keep = max(max_slot_wal_keep_size_bytes // segment_size, wal_keep_size_bytes // segment_size)
    fail_lsn = (target + keep + 1) * segment_size
    return fail_lsn - current_lsn


# -- the manager -------------------------------------------------------------------------------


class SlotManager:
    """Every slot of one server (see the module docstring)."""

    def __init__(self, datadir: str, max_replication_slots: int) -> None:
        self.datadir = os.path.abspath(datadir)
        self.directory = os.path.join(self.datadir, SLOT_DIRECTORY)
        self.max_replication_slots = max_replication_slots
        self._lock = threading.RLock()
        self._slots: dict[str, ReplicationSlot] = {}
        self._dirty: set[str] = set()
        # Wired by the server: where a slot reserving WAL now starts (PostgreSQL reserves from
        # the last checkpoint's REDO point), and whether a process id is still a live session.
        self.current_redo_lsn: Callable[[], int] | None = None
        self.is_process_alive: Callable[[int], bool] | None = None
        # Wired by the server: end the session using a slot that is being invalidated.
        self.terminate_process: Callable[[int], object] | None = None

    # -- start-up -------------------------------------------------------------------------------

    def load(self, *, wal_level: str = "replica") -> None:
        """Read every slot in pg_replslot (PostgreSQL's StartupReplicationSlots): leftovers of
        an interrupted create or drop (``<name>.tmp``) and non-persistent slots are removed; a
        damaged state file raises ``DataCorrupted``."""
        with self._lock:
            self._slots.clear()
            self._dirty.clear()
            with os_errors("create", self.directory):
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
            with os_errors("read", self.directory):
                entries = sorted(os.listdir(self.directory))
            for entry in entries:
                path = os.path.join(self.directory, entry)
                if not os.path.isdir(path):
                    continue
                if entry.endswith(TEMPORARY_SUFFIX):
                    self._remove_tree(path)
                    continue
                self._restore(entry, wal_level)

    def _restore(self, entry: str, wal_level: str) -> None:
        slot_dir = os.path.join(self.directory, entry)
        with os_errors("remove", slot_dir):
            try:
                os.unlink(os.path.join(slot_dir, STATE_FILE + TEMPORARY_SUFFIX))
            except FileNotFoundError:
                pass
        path = os.path.join(SLOT_DIRECTORY, entry, STATE_FILE)
        with os_errors("open", path):
            with open(os.path.join(self.datadir, path), "rb") as handle:
                raw = handle.read(STATE_FILE_SIZE + 1)
        slot, persistency = decode_slot_state(raw, path)
        if persistency != RS_PERSISTENT:
            self._remove_tree(slot_dir)
            return
        if slot.database == 0 and WAL_LEVEL_ORDER.get(wal_level, 1) < 1:
            raise ObjectNotInPrerequisiteState(
                f'physical replication slot "{slot.name}" exists, but wal_level < replica',
                hint='Change wal_level to be replica or higher.')
        if len(self._slots) >= self.max_replication_slots:
            raise MirrordbError("too many replication slots active before shutdown",
                                hint="Increase max_replication_slots and try again.")
        self._slots[slot.name] = slot
        log.debug('restored replication slot "%s"', slot.name)

    # -- creating and dropping ------------------------------------------------------------------

    def create(self, name: str, *, temporary: bool = False, reserve_wal: bool = False,
               owner_pid: int | None = None, reserve_lsn: int = 0) -> ReplicationSlot:
        """A new physical slot, on disk before this returns unless temporary. ``owner_pid``
        acquires it at once (a temporary slot needs one: it dies with that session).
        ``reserve_wal`` sets restart_lsn to ``reserve_lsn`` or else the current REDO point."""
        validate_slot_name(name)
        invariant(not temporary or owner_pid is not None, "a temporary slot needs an owner")
        self._check_slots_enabled()
        with self._lock:
            self._reap_dead_owners()
            if name in self._slots:
                raise DuplicateObject(f'replication slot "{name}" already exists',
                                      sqlstate=DUPLICATE_OBJECT)
            if len(self._slots) >= self.max_replication_slots:
                raise MirrordbError("all replication slots are in use",
                                    sqlstate=CONFIGURATION_LIMIT_EXCEEDED,
                                    hint="Free one or increase max_replication_slots.")
            slot = ReplicationSlot(name=name, temporary=temporary, active_pid=owner_pid)
            if reserve_wal:
                slot.restart_lsn = reserve_lsn or self._redo_lsn()
            if not temporary:
                self._create_on_disk(slot)
            self._slots[name] = slot
            return dataclasses.replace(slot)

    def copy(self, source: str, target: str, *, temporary: bool | None,
             owner_pid: int) -> ReplicationSlot:
        """PostgreSQL's pg_copy_physical_replication_slot: a new physical slot ``target``
        reserving WAL from ``source``'s restart_lsn, with its xmin; temporary like the source
        unless ``temporary`` says (a temporary copy belongs to ``owner_pid``)."""
        with self._lock:
            self._reap_dead_owners()
            original = self._existing(source)
            if original.slot_type != "physical":
                # PostgreSQL's wording for this case, word for word
                raise MirrordbError(f'cannot copy physical replication slot "{source}" as a '
                                    f'logical replication slot', sqlstate=FEATURE_NOT_SUPPORTED)
            if original.restart_lsn == INVALID_LSN:
                raise ObjectNotInPrerequisiteState(
                    "cannot copy a replication slot that doesn't reserve WAL")
            if temporary is None:
                temporary = original.temporary
            self.create(target, temporary=temporary, reserve_wal=True,
                        reserve_lsn=original.restart_lsn,
                        owner_pid=owner_pid if temporary else None)
            copied = self._slots[target]
            if original.xmin:
                copied.xmin = original.xmin
                if not temporary:
                    self._save(copied)
            return dataclasses.replace(copied)

    def advance(self, name: str, target_lsn: int, *, pid: int) -> int:
        """PostgreSQL's pg_replication_slot_advance for a physical slot: restart_lsn moves
        forward to ``target_lsn`` (the caller caps it at the flushed or replayed WAL), so the
        next checkpoint may remove the WAL before it; the slot is written at that checkpoint,
        as PostgreSQL marks it dirty. Returns the slot's position afterwards. 55006 if another
        process uses it; 55000 if it holds no WAL or ``target_lsn`` is behind it."""
        with self._lock:
            self._reap_dead_owners()
            slot = self._existing_not_used_by_others(name, pid)
            if slot.restart_lsn == INVALID_LSN:
                raise ObjectNotInPrerequisiteState(
                    f'replication slot "{name}" cannot be advanced',
                    detail="This slot has never previously reserved WAL, or it has been "
                           "invalidated.")
            if target_lsn < slot.restart_lsn:
                raise ObjectNotInPrerequisiteState(
                    f"cannot advance replication slot to {format_lsn(target_lsn)}, minimum is "
                    f"{format_lsn(slot.restart_lsn)}")
            if target_lsn > slot.restart_lsn:
                slot.restart_lsn = target_lsn
                self._dirty.add(name)
            return slot.restart_lsn

    def _check_slots_enabled(self) -> None:
        if self.max_replication_slots <= 0:
            raise ObjectNotInPrerequisiteState(
                "replication slots can only be used if max_replication_slots > 0")

    def _redo_lsn(self) -> int:
        invariant(self.current_redo_lsn is not None, "no REDO point source wired to slots")
        assert self.current_redo_lsn is not None
        return self.current_redo_lsn()

    def drop(self, name: str, *, pid: int | None = None) -> None:
        """Drop a slot; 55006 if a process other than ``pid`` has it."""
        with self._lock:
            self._reap_dead_owners()
            slot = self._existing_not_used_by_others(name, pid)
            self._drop_locked(slot)

    def _existing_not_used_by_others(self, name: str, pid: int | None) -> ReplicationSlot:
        """The slot (42704 if missing), 55006 if a process other than ``pid`` has it."""
        slot = self._existing(name)
        if slot.active_pid is not None and slot.active_pid != pid:
            raise MirrordbError(f'replication slot "{name}" is active for PID '
                                f'{slot.active_pid}', sqlstate=OBJECT_IN_USE)
        return slot

    def _drop_locked(self, slot: ReplicationSlot) -> None:
        del self._slots[slot.name]
        self._dirty.discard(slot.name)
        if slot.temporary:
            return
        path = os.path.join(self.directory, slot.name)
        doomed = path + TEMPORARY_SUFFIX
        with os_errors("rename", path):
            os.rename(path, doomed)
        fsync_directory(self.directory)
        self._remove_tree(doomed)

    # -- acquiring and releasing ----------------------------------------------------------------

    def acquire(self, name: str, pid: int) -> ReplicationSlot:
        """Make ``pid`` the slot's user; 42704 if it does not exist, 55006 if another has it."""
        with self._lock:
            self._reap_dead_owners()
            slot = self._existing_not_used_by_others(name, pid)
            slot.active_pid = pid
            return dataclasses.replace(slot)

    def release(self, name: str, pid: int) -> None:
        """``pid`` is done with the slot; a temporary slot is dropped."""
        with self._lock:
            slot = self._slots.get(name)
            if slot is None or slot.active_pid != pid:
                return
            if slot.temporary:
                self._drop_locked(slot)
            else:
                slot.active_pid = None

    def release_all_for(self, pid: int) -> None:
        """A session ended: release everything it held (its temporary slots die)."""
        with self._lock:
            for slot in [s for s in self._slots.values() if s.active_pid == pid]:
                self.release(slot.name, pid)

    def drop_temporary_of(self, pid: int) -> None:
        """A statement of session ``pid`` failed: its temporary slots are dropped
        (PostgreSQL's ReplicationSlotCleanup in error recovery); persistent slots it holds stay."""
        with self._lock:
            for slot in [s for s in self._slots.values()
                         if s.active_pid == pid and s.temporary]:
                self._drop_locked(slot)

    def _reap_dead_owners(self) -> None:
        """Release slots whose owner is gone without saying so (a session that died)."""
        alive = self.is_process_alive
        if alive is None:
            return
        for slot in list(self._slots.values()):
            if slot.active_pid is not None and not alive(slot.active_pid):
                self.release(slot.name, slot.active_pid)

    # -- horizons -------------------------------------------------------------------------------

    def update_restart_lsn(self, name: str, lsn: int) -> None:
        """A standby confirmed it flushed up to ``lsn`` (PhysicalConfirmReceivedLocation)."""
        with self._lock:
            slot = self._slots.get(name)
            if slot is None or slot.invalidated or lsn == INVALID_LSN:
                return
            if slot.restart_lsn != lsn:
                slot.restart_lsn = lsn
                self._dirty.add(name)

    def update_xmin(self, name: str, xmin: int) -> None:
        """Hot-standby feedback: the standby's oldest xmin (0 clears it)."""
        with self._lock:
            slot = self._slots.get(name)
            if slot is None:
                return
            if slot.xmin != xmin:
                slot.xmin = xmin
                self._dirty.add(name)

    def get(self, name: str) -> ReplicationSlot | None:
        with self._lock:
            self._reap_dead_owners()
            slot = self._slots.get(name)
            return None if slot is None else dataclasses.replace(slot)

    def slots(self) -> list[ReplicationSlot]:
        with self._lock:
            self._reap_dead_owners()
            return [dataclasses.replace(s) for s in self._slots.values()]

    def required_lsn(self) -> int:
        """The oldest restart_lsn of a valid slot (0: no slot holds WAL back)."""
        with self._lock:
            self._reap_dead_owners()
            held = [s.restart_lsn for s in self._slots.values()
                    if s.restart_lsn != INVALID_LSN and not s.invalidated]
            return min(held) if held else INVALID_LSN

    def required_xmin(self) -> int:
        """The oldest xmin a slot holds (0: none), for VACUUM's horizon."""
        with self._lock:
            self._reap_dead_owners()
            held = [s.xmin for s in self._slots.values() if s.xmin]
            return min(held) if held else 0

    # -- the checkpointer's side ----------------------------------------------------------------

    def invalidate_obsolete(self, oldest_kept_lsn: int) -> list[ReplicationSlot]:
        """Give up slots whose restart_lsn is before ``oldest_kept_lsn`` (the WAL they need is
        about to be removed): they become lost, on disk at once. Returns them (copies)."""
        lost = []
        with self._lock:
            for slot in self._slots.values():
                if slot.invalidated or slot.restart_lsn == INVALID_LSN \
                        or slot.restart_lsn >= oldest_kept_lsn:
                    continue
                if slot.active_pid is not None and self.terminate_process is not None:
                    log.info('terminating process %d to release replication slot "%s"',
                             slot.active_pid, slot.name)
                    self.terminate_process(slot.active_pid)
                log.info('invalidating slot "%s" because its restart_lsn %s exceeds '
                         'max_slot_wal_keep_size', slot.name, format_lsn(slot.restart_lsn))
                slot.invalidated_at = slot.restart_lsn
                slot.restart_lsn = INVALID_LSN
                slot.invalidated = True
                if not slot.temporary:
                    self._save(slot)
                lost.append(dataclasses.replace(slot))
        return lost

    def checkpoint(self) -> None:
        """Write every dirty persistent slot (PostgreSQL's CheckPointReplicationSlots)."""
        with self._lock:
            self._reap_dead_owners()
            for name in sorted(self._dirty):
                slot = self._slots.get(name)
                if slot is not None and not slot.temporary:
                    self._save(slot)
            self._dirty.clear()

    # -- files ----------------------------------------------------------------------------------

    def _existing(self, name: str) -> ReplicationSlot:
        slot = self._slots.get(name)
        if slot is None:
            raise UndefinedObject(f'replication slot "{name}" does not exist',
                                  sqlstate=UNDEFINED_OBJECT)
        return slot

    def _create_on_disk(self, slot: ReplicationSlot) -> None:
        """PostgreSQL's CreateSlotOnDisk: build ``<name>.tmp/state``, then rename the
        directory into place, so a crash never leaves a half-made slot under its name."""
        final = os.path.join(self.directory, slot.name)
        building = final + TEMPORARY_SUFFIX
        if os.path.isdir(building):
            self._remove_tree(building)
        with os_errors("create", building):
            os.mkdir(building, 0o700)
        self._write_state(building, slot)
        with os_errors("rename", building):
            os.rename(building, final)
        fsync_directory(final)
        fsync_directory(self.directory)

    def _save(self, slot: ReplicationSlot) -> None:
        self._write_state(os.path.join(self.directory, slot.name), slot)
        fsync_directory(self.directory)
        self._dirty.discard(slot.name)

    @staticmethod
    def _write_state(slot_dir: str, slot: ReplicationSlot) -> None:
        """Replace ``slot_dir/state`` atomically: state.tmp, fsync, rename, fsync dir (a write
        cut short by a filling disk is continued, or fails as DiskFull)."""
        write_file_atomic(os.path.join(slot_dir, STATE_FILE), encode_slot_state(slot))

    def _remove_tree(self, path: str) -> None:
        try:
            shutil.rmtree(path)
        except OSError as error:
            log.warning('could not remove directory "%s": %s', path, error)
        fsync_directory(self.directory)


__all__ = [
    "NAMEDATALEN",
    "SLOT_MAGIC",
    "SLOT_VERSION",
    "ReplicationSlot",
    "SlotManager",
    "decode_slot_state",
    "encode_slot_state",
    "keep_log_segment",
    "safe_wal_size",
    "validate_slot_name",
    "wal_status",
]
