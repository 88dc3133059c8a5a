"""The heap access method: tuple versions on slotted pages, and their WAL records and redo.

Who calls it: the engine's data operations (insert, update, delete, lock, fetch, scan) and VACUUM.
Every page change follows the WAL-logging recipe (see access/README.md): under the pool's page lock,
run the pure page function, insert the WAL record, set pd_lsn, mark the buffer dirty; the last three
steps are ``PageChangeLogger.log`` (access/env.py), which skips the record for a table created by
its running transaction under wal_level=minimal. Redo runs the
same pure functions (``page_insert``, ``page_set_xmax``, ``page_prune``), which is what makes the
standby's pages byte-identical to the primary's.

WAL records (resource manager ``mirrordb_heap``, id 128), little-endian:

    INSERT  0x00 (| 0x80 INIT_PAGE)  block 0 data: offnum u16, tuple bytes
    DELETE  0x10                     block 0 data: offnum u16, xmax u32, cid u32, infomask_set u16
    UPDATE  0x20 (| 0x80 INIT_PAGE)  main: old_offnum u16, xmax u32, cid u32, infomask_set u16,
                                     new_offnum u16; block 0 = new page, data: new tuple bytes;
                                     block 1 = old page (only when it differs), no data. Redo
                                     clears HEAP_HOT_UPDATED on the old version.
    PRUNE   0x30                     main: latest_removed_xid u32 (the snapshot-conflict horizon a
                                     standby needs), nredirected u16, ndead u16, new_prune_xid
                                     u32 (pd_prune_xid after the prune);
                                     block 0 data: nredirected (from u16, to u16) pairs made
                                     LP_REDIRECT, ndead u16 offnums made LP_DEAD, then the rest
                                     u16 offnums made LP_UNUSED (all empty: conflict only)
    HOT_UPDATE 0x40                  an UPDATE whose new version is heap-only, on the old one's
                                     page: UPDATE's main data, block 0 only (the page), data: the
                                     new tuple bytes (HEAP_ONLY_TUPLE already set in them). Redo
                                     sets HEAP_HOT_UPDATED on the old version.
DELETE's redo clears HEAP_HOT_UPDATED (a deleted version has no successor). DELETE, UPDATE and
HOT_UPDATE lower pd_prune_xid to their xmax (``page_set_xmax``, both sides): an update that
finds its page full prunes it only when that xid is older than the VACUUM horizon.

Why PRUNE's main data carries new_prune_xid (our choice; PostgreSQL treats pd_prune_xid as a
hint that a standby's copy of the page need not match): our standbys are byte-for-byte copies,
and the value cannot be recomputed in redo. It is the oldest xmax among the versions the prune
keeps, and which versions are kept was decided from the primary's VACUUM horizon and its
transactions' fates at that moment, neither of which redo knows (a standby may still count an
xid as running that the primary saw committed). So the primary writes the number it put on the
page and redo copies it, exactly as it copies the line pointer changes.

Tuple versions never move: an update writes a new version and points the old one's ctid at it.
An update that changes no indexed column and fits on the old version's page is HOT (heap-only
tuple): the new version gets no index entries and is reached through its chain's root (see
access/README.md "HOT" for chains, redirects and pruning). Every other version has its own
index entries, removed by VACUUM before its line pointer is freed.
"""

from __future__ import annotations

import enum
import heapq
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mirrordb.access import snapshot as visibility
from mirrordb.access.clog import XACT_ABORTED, XACT_COMMITTED, XACT_IN_PROGRESS
from mirrordb.access.relation import Relation
from mirrordb.access.xact import IsolationLevel, RowLockMode
from mirrordb.common.errors import (LockNotAvailable, ProgramLimitExceeded, SerializationFailure,
                                    invariant)
from mirrordb.common.lsn import format_lsn
from mirrordb.recovery.redo import RedoContext, register_redo
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib
from mirrordb.storage.relfilenode import MAIN_FORKNUM
from mirrordb.wal.record import REGBUF_STANDARD, REGBUF_WILL_INIT, BlockRef, DecodedRecord
from mirrordb.wal.rmgr import RM_MIRRORDB_HEAP_ID
from mirrordb.wal.writer import BlockRegistration

if TYPE_CHECKING:
    from mirrordb.access.env import AccessEnv
    from mirrordb.access.xact import Transaction, TransactionManager
    from mirrordb.storage.bufmgr import Buffer

XLOG_HEAP_INSERT = 0x00
XLOG_HEAP_DELETE = 0x10
XLOG_HEAP_UPDATE = 0x20
XLOG_HEAP_PRUNE = 0x30
XLOG_HEAP_HOT_UPDATE = 0x40
XLOG_HEAP_OPMASK = 0x70
XLOG_HEAP_INIT_PAGE = 0x80

HEAP_COMBOCID = 0x0020
MAX_TUPLE_SIZE = pagelib.BLCKSZ - pagelib.PAGE_HEADER_SIZE - pagelib.ITEM_ID_SIZE
FREE_PAGES_TRIED_PER_INSERT = 4     # lowest free-space-map pages an insert tries before extending

_OFFNUM = struct.Struct("<H")
_DELETE = struct.Struct("<HIIH")
_UPDATE_MAIN = struct.Struct("<HIIHH")
_PRUNE_MAIN = struct.Struct("<IHHI")
_PRUNE_XID = struct.Struct("<I")
# t_xmin, t_xmax, (t_cid, t_ctid block skipped) t_ctid offset, t_infomask2: what chains need
_CHAIN_FIELDS = struct.Struct("<II8xHH")
assert tuplelib.CTID_OFFSET + 4 == 16 and tuplelib.INFOMASK2_OFFSET == 18
MAX_HOT_CHAIN_LENGTH = 2048          # more members than a page can hold: a corrupt chain loop
_ITEM_ID_WORD = struct.Struct("<I")
# The tuple header fields page_set_xmax reads and writes, adjacent in storage/tuple.py's layout:
# t_xmax u32, t_cid u32, t_ctid (block u32, offset u16), t_infomask2 u16, t_infomask u16.
_XMAX_THROUGH_INFOMASK = struct.Struct("<IIIHHH")
assert tuplelib.CID_OFFSET == tuplelib.XMAX_OFFSET + 4
assert tuplelib.CTID_OFFSET == tuplelib.CID_OFFSET + 4
assert tuplelib.INFOMASK2_OFFSET == tuplelib.CTID_OFFSET + 6
assert tuplelib.INFOMASK_OFFSET == tuplelib.INFOMASK2_OFFSET + 2
_probe = bytearray(tuplelib.HEAP_TUPLE_HEADER_SIZE)
tuplelib.set_ctid(_probe, 0, 0x01020304, 0x0506)
assert _probe[tuplelib.CTID_OFFSET:tuplelib.CTID_OFFSET + 6] == _XMAX_THROUGH_INFOMASK.pack(
    0, 0, 0x01020304, 0x0506, 0, 0)[8:14], "t_ctid layout differs from storage/tuple.py's"
del _probe
# Flags an xmax may bring: the ones the tuple module may change, except HEAP_HASNULL.
_XMAX_INFOMASK_ALLOWED = tuplelib.KNOWN_INFOMASK_FLAGS & ~tuplelib.HEAP_HASNULL

Tid = tuple[int, int]


class TmResult(enum.Enum):
    """Outcome of trying to change or lock a tuple version (PostgreSQL's TM_Result)."""

    OK = "ok"
    INVISIBLE = "invisible"
    SELF_MODIFIED = "self modified"
    UPDATED = "updated"
    DELETED = "deleted"
    WOULD_BLOCK = "would block"     # SKIP LOCKED: another transaction holds the row


class LockWaitPolicy(enum.IntEnum):
    """What a row lock does when another transaction holds the row (PostgreSQL's
    LockWaitPolicy; the stronger wins when one relation gets several: ERROR > SKIP > BLOCK)."""

    BLOCK = 0       # wait for it
    SKIP = 1        # SKIP LOCKED: give up on the row (TmResult.WOULD_BLOCK)
    ERROR = 2       # NOWAIT: 55P03


# -- pure page functions (shared by the primary and redo) ---------------------------------------


def page_insert(page: bytearray, offnum: int, item: bytes, init: bool) -> None:
    if init:
        pagelib.page_init(page)
    placed = pagelib.add_item(page, item, offnum)
    if placed != offnum:
        invariant(False, f"heap insert landed at {placed}, wanted {offnum}")


def page_set_xmax(page: bytearray, offnum: int, xmax: int, cid: int, infomask_set: int,
                  new_ctid: Tid | None, hot_updated: bool = False) -> None:
    """Mark version ``offnum`` deleted or updated by ``xmax``: t_xmax, t_cid (a combo id when
    ``infomask_set`` has HEAP_COMBOCID, else HEAP_COMBOCID is cleared), t_ctid when it was
    updated, and HEAP_HOT_UPDATED set for a HOT update, cleared otherwise (an aborted HOT
    update may have left it). Hot path of both sides: one unpack of the line pointer, then one
    read and one write of the header fields from t_xmax to t_infomask, which are adjacent."""
    word = _ITEM_ID_WORD.unpack_from(
        page, pagelib.PAGE_HEADER_SIZE - pagelib.ITEM_ID_SIZE + (offnum << 2))[0]
    if (word >> 15) & 0x3 != pagelib.LP_NORMAL:
        invariant(False, f"heap item {offnum} is not a tuple")
    if infomask_set & ~_XMAX_INFOMASK_ALLOWED:
        invariant(False, f"page_set_xmax: cannot set infomask flags {infomask_set:#06x}")
    at = (word & 0x7FFF) + tuplelib.XMAX_OFFSET
    _, _, ctid_block, ctid_offset, infomask2, infomask = _XMAX_THROUGH_INFOMASK.unpack_from(
        page, at)
    if new_ctid is not None:
        ctid_block, ctid_offset = new_ctid
    infomask |= infomask_set
    if not infomask_set & HEAP_COMBOCID:
        infomask &= ~HEAP_COMBOCID
    if hot_updated:
        infomask2 |= tuplelib.HEAP_HOT_UPDATED
    else:
        infomask2 &= ~tuplelib.HEAP_HOT_UPDATED
    _XMAX_THROUGH_INFOMASK.pack_into(page, at, xmax, cid, ctid_block, ctid_offset, infomask2,
                                     infomask)
    prune_xid = _PRUNE_XID.unpack_from(page, pagelib.PRUNE_XID_OFFSET)[0]
    if not prune_xid or xmax < prune_xid:
        _PRUNE_XID.pack_into(page, pagelib.PRUNE_XID_OFFSET, xmax)


def page_prune(page: bytearray, redirected: list[tuple[int, int]], dead: list[int],
               unused: list[int], new_prune_xid: int) -> None:
    """Pruning's line pointer changes and the page's new pd_prune_xid (PRUNE's redo and the
    primary alike)."""
    pagelib.prune_line_pointers(page, redirected, dead, unused)
    pagelib.set_prune_xid(page, new_prune_xid)


def encode_prune(latest_removed_xid: int, redirected: list[tuple[int, int]], dead: list[int],
                 unused: list[int], new_prune_xid: int) -> tuple[bytes, bytes]:
    """PRUNE's (main data, block 0 data), laid out as the module docstring says."""
    flat = [offnum for pair in redirected for offnum in pair] + dead + unused
    main = _PRUNE_MAIN.pack(latest_removed_xid, len(redirected), len(dead), new_prune_xid)
    return main, struct.pack(f"<{len(flat)}H", *flat)


PruneRecord = tuple[int, list[tuple[int, int]], list[int], list[int], int]


def decode_prune(main_data: bytes, data: bytes) -> PruneRecord:
    """(latest_removed_xid, redirected, dead, unused, new_prune_xid) of a PRUNE record."""
    latest_removed_xid, nredirected, ndead, new_prune_xid = _PRUNE_MAIN.unpack_from(main_data, 0)
    offnums = list(struct.unpack(f"<{len(data) // 2}H", data))
    split = 2 * nredirected
    redirected = list(zip(offnums[0:split:2], offnums[1:split:2]))
    return (latest_removed_xid, redirected, offnums[split:split + ndead],
            offnums[split + ndead:], new_prune_xid)


# what chains need of an item's header: (xmin, xmax, t_infomask2 HOT bits, t_ctid offset)
_ChainHeader = tuple[int, int, int, int]


def _normal_header(page: bytes | bytearray, offnum: int) -> _ChainHeader | None:
    """(xmin, xmax, t_infomask2 HOT bits, t_ctid offset) of LP_NORMAL item ``offnum``, else
    None (also for an offset past the line pointer array)."""
    if offnum < 1 or offnum > pagelib.max_offset(page):
        return None
    word = _ITEM_ID_WORD.unpack_from(
        page, pagelib.PAGE_HEADER_SIZE - pagelib.ITEM_ID_SIZE + (offnum << 2))[0]
    if (word >> 15) & 0x3 != pagelib.LP_NORMAL:
        return None
    xmin, xmax, ctid_offset, infomask2 = _CHAIN_FIELDS.unpack_from(page, word & 0x7FFF)
    return xmin, xmax, infomask2 & tuplelib.HEAP2_HOT_FLAGS, ctid_offset


def _page_headers(page: bytes | bytearray) -> tuple[dict[int, _ChainHeader], list[int]]:
    """``_normal_header`` of every LP_NORMAL item of a page, read in one pass, and the line
    pointers that are LP_DEAD."""
    nline = pagelib.max_offset(page)
    words = struct.unpack_from(f"<{nline}I", page, pagelib.PAGE_HEADER_SIZE)
    headers: dict[int, _ChainHeader] = {}
    dead: list[int] = []
    unpack = _CHAIN_FIELDS.unpack_from
    hot_flags = tuplelib.HEAP2_HOT_FLAGS
    for offnum, word in enumerate(words, 1):
        flags = (word >> 15) & 0x3
        if flags == pagelib.LP_NORMAL:
            xmin, xmax, ctid_offset, infomask2 = unpack(page, word & 0x7FFF)
            headers[offnum] = (xmin, xmax, infomask2 & hot_flags, ctid_offset)
        elif flags == pagelib.LP_DEAD:
            dead.append(offnum)
    return headers, dead


def hot_chain(page: bytes | bytearray, root: int) -> list[int]:
    """The members of the HOT chain whose root line pointer is ``root``, oldest first: the root
    tuple itself (or, for an LP_REDIRECT root, the member it points at) and each heap-only
    successor whose xmin is its predecessor's xmax. Empty when ``root`` is not a chain root
    (unused, dead, or a heap-only tuple: a stale index entry whose line pointer was reused)."""
    return _walk_chain(page, root, lambda offnum: _normal_header(page, offnum))


def _walk_chain(page: bytes | bytearray, root: int,
                header_of: Callable[[int], _ChainHeader | None]) -> list[int]:
    """``hot_chain`` with the item headers from ``header_of`` (``_normal_header``'s result for
    an offset: read from the page, or looked up in ``_page_headers``' table)."""
    header = header_of(root)
    if header is None:
        if root < 1 or root > pagelib.max_offset(page):
            return []
        lp_off, lp_flags, _ = pagelib.get_item_id(page, root)
        if lp_flags != pagelib.LP_REDIRECT:
            return []
        header = header_of(lp_off)
        if header is None or not header[2] & tuplelib.HEAP_ONLY_TUPLE:
            invariant(False, f"redirect {root} points at {lp_off}, not a heap-only tuple")
        assert header is not None
        members = [lp_off]
    elif header[2] & tuplelib.HEAP_ONLY_TUPLE:
        return []
    else:
        members = [root]
    while header[2] & tuplelib.HEAP_HOT_UPDATED and len(members) < MAX_HOT_CHAIN_LENGTH:
        following = header_of(header[3])
        if following is None or not following[2] & tuplelib.HEAP_ONLY_TUPLE \
                or following[0] != header[1]:
            break
        members.append(header[3])
        header = following
    return members


def chain_roots(page: bytes | bytearray) -> dict[int, list[int]]:
    """Every chain root of a heap page (LP_REDIRECT, or LP_NORMAL not heap-only) and its
    members (``hot_chain``)."""
    roots: dict[int, list[int]] = {}
    if pagelib.is_new(page):
        return roots
    for offnum in range(1, pagelib.max_offset(page) + 1):
        members = hot_chain(page, offnum)
        if members:
            roots[offnum] = members
    return roots


@dataclass
class PrunePlan:
    """What pruning one heap page would do, and VACUUM's counts of what it saw there."""

    redirected: list[tuple[int, int]] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)      # roots of wholly dead chains: LP_DEAD
    unused: list[int] = field(default_factory=list)    # dead heap-only members: LP_UNUSED
    already_dead: list[int] = field(default_factory=list)   # LP_DEAD before this plan
    latest_removed_xid: int = 0
    new_prune_xid: int = 0        # oldest xmax of the versions that stay (0: none has one)
    removed: int = 0
    recently_dead: int = 0
    remaining: int = 0
    inserting: int = 0

    def changes_page(self) -> bool:
        return bool(self.redirected or self.dead or self.unused)


VersionStatus = Callable[[int, int], tuple[str, int]]


def plan_prune(page: bytes | bytearray, status: VersionStatus) -> PrunePlan:
    """Plan pruning of a heap page. ``status(xmin, xmax)`` says 'dead' | 'recently_dead' |
    'inserting' | 'live' and the deleter xid a removal must report (vacuum.py's rules).

    Each chain is walked from its root: the members up to the last dead one (recently dead
    ones before it included, as their successors are gone for every snapshot) are removed;
    the walk stops at the first live or in-progress member. A removed prefix followed by a
    survivor turns the root into a redirect to it; a wholly removed chain turns the root
    LP_DEAD (index entries still point at it; VACUUM frees it after its index pass). Removed
    heap-only members, and dead heap-only tuples no chain reaches (an aborted HOT update's),
    become unused: no index entry points at them."""
    plan = PrunePlan()
    if pagelib.is_new(page):
        return plan
    headers, plan.already_dead = _page_headers(page)
    reached: set[int] = set()
    for offnum in range(1, pagelib.max_offset(page) + 1):
        members = _walk_chain(page, offnum, headers.get)
        if members:
            reached.update(members[:_plan_chain(headers, offnum, members, status, plan)])
    for offnum, header in headers.items():
        if offnum in reached:
            continue
        verdict, removed_xid = status(header[0], header[1])
        if verdict == "dead":
            plan.unused.append(offnum)
            plan.removed += 1
            plan.latest_removed_xid = max(plan.latest_removed_xid, removed_xid)
        else:
            _count(plan, verdict)
            _keep_xmax(plan, header[1])
    return plan


def _keep_xmax(plan: PrunePlan, xmax: int) -> None:
    """A version that stays keeps its xmax's claim on pd_prune_xid."""
    if xmax and (not plan.new_prune_xid or xmax < plan.new_prune_xid):
        plan.new_prune_xid = xmax


def _count(plan: PrunePlan, verdict: str) -> None:
    plan.remaining += 1
    plan.recently_dead += verdict == "recently_dead"
    plan.inserting += verdict == "inserting"


def _plan_chain(headers: dict[int, _ChainHeader], root: int, members: list[int],
                status: VersionStatus, plan: PrunePlan) -> int:
    """Plan one chain; returns how many members it settled. The ones after the first live or
    in-progress member are left to the heap-only pass (an aborted successor is dead there)."""
    verdicts = []
    latest_dead = -1
    for index, offnum in enumerate(members):
        header = headers[offnum]
        verdicts.append(status(header[0], header[1]))
        if verdicts[-1][0] == "dead":
            latest_dead = index
        elif verdicts[-1][0] != "recently_dead":
            break
    for index, offnum in enumerate(members[:len(verdicts)]):
        if index <= latest_dead:
            plan.removed += 1
            plan.latest_removed_xid = max(plan.latest_removed_xid, verdicts[index][1])
            if offnum != root:
                plan.unused.append(offnum)
        else:
            _count(plan, verdicts[index][0])
            _keep_xmax(plan, headers[offnum][1])
    if latest_dead >= 0:
        if latest_dead + 1 < len(members):
            plan.redirected.append((root, members[latest_dead + 1]))
        else:
            plan.dead.append(root)
    return len(verdicts)


def version_status(xacts: TransactionManager, xmin: int, xmax: int, horizon: int
                   ) -> tuple[str, int]:
    """('dead' | 'recently_dead' | 'inserting' | 'live', xid for the conflict horizon or 0)
    of a version, for VACUUM and pruning (fates from ``transaction_fate``)."""
    fate_xmin = transaction_fate(xacts, xmin)
    if fate_xmin == XACT_ABORTED:
        return "dead", 0
    if fate_xmin == XACT_IN_PROGRESS:
        return "inserting", 0
    if not xmax or transaction_fate(xacts, xmax) != XACT_COMMITTED:
        return "live", 0
    if xmax < horizon:
        return "dead", xmax
    return "recently_dead", 0


def transaction_fate(xacts: TransactionManager, xid: int) -> int:
    """COMMITTED, ABORTED, or IN_PROGRESS of transaction ``xid`` (VACUUM, pruning, CREATE INDEX).

    Running is asked first, the commit log second (PostgreSQL's order in its visibility
    checks): a transaction leaves the running set only after its commit log bit is set, so one
    that ends between the two questions is still seen as what it became. Asked the other way
    round, a commit between them made a just-committed inserter look aborted and its version
    dead: VACUUM removed the newest version of a row a READ COMMITTED updater was about to
    follow, and its update was lost."""
    if xacts.is_running(xid):
        return XACT_IN_PROGRESS
    if xacts.clog.status(xid) == XACT_COMMITTED:
        return XACT_COMMITTED
    return XACT_ABORTED


def _same_datum(old: object, new: object) -> bool:
    """Equal and stored alike (HOT's test for an indexed column)."""
    if old is None or new is None:
        return old is new
    if type(old) is not type(new) or old != new:
        return False
    return type(old) in (int, str, bool, bytes) or repr(old) == repr(new)


def choose_offset(page: bytes | bytearray) -> int:
    """The offset a new tuple gets: the first reusable line pointer, else one past the end."""
    nline = pagelib.max_offset(page)
    if pagelib.PD_HAS_FREE_LINES & struct.unpack_from("<H", page, 10)[0]:
        for offnum in range(1, nline + 1):
            if pagelib.get_item_id(page, offnum) == (0, pagelib.LP_UNUSED, 0):
                return offnum
    return nline + 1


def _fits(page: bytes | bytearray, item_length: int) -> bool:
    return pagelib.free_space(page) >= pagelib.maxalign(item_length)


# -- the primary's side -------------------------------------------------------------------------


class HeapAccess:
    """Heap operations of one server (stateless apart from the shared services in ``env``)."""

    def __init__(self, env: AccessEnv) -> None:
        self.env = env

    # insertion target ------------------------------------------------------------------------

    def _target_buffer(self, rel: Relation, length: int) -> tuple[Buffer, bool]:
        """A pinned buffer with room for an item of ``length`` bytes; True if it is a new page."""
        pool, fsm, rnode = self.env.pool, self.env.fsm, rel.rnode
        candidates: list[int] = []
        target = fsm.target.get(rnode)
        if target is None:
            nblocks = pool.nblocks(rnode, MAIN_FORKNUM)
            target = nblocks - 1 if nblocks else None
        if target is not None:
            candidates.append(target)
        free_pages = fsm.free_pages.get(rnode)
        if free_pages:
            candidates += heapq.nsmallest(FREE_PAGES_TRIED_PER_INSERT, free_pages)
        for blkno in candidates:
            if blkno >= pool.nblocks(rnode, MAIN_FORKNUM):
                continue
            buffer = pool.read_buffer(rnode, MAIN_FORKNUM, blkno)
            if not pagelib.is_new(buffer.page) and _fits(buffer.page, length):
                fsm.target[rnode] = blkno
                return buffer, False
            pool.release(buffer)
            fsm.free_pages.get(rnode, set()).discard(blkno)
        buffer = pool.extend(rnode, MAIN_FORKNUM)
        fsm.target[rnode] = buffer.tag[2]
        return buffer, True

    def form(self, rel: Relation, txn: Transaction, values: tuple[object, ...] | list[object],
             xid: int) -> bytes:
        data, nulls = rel.codec.encode(values)
        item = tuplelib.form_tuple(xid, txn.own.command_id, rel.natts, data, nulls)
        if len(item) > MAX_TUPLE_SIZE:
            raise ProgramLimitExceeded(
                f"row is too big: size {len(item)}, maximum size {MAX_TUPLE_SIZE}")
        return item

    def insert(self, rel: Relation, txn: Transaction, values: tuple[object, ...] | list[object]
               ) -> Tid:
        xid = txn.current_xid()
        item = bytearray(self.form(rel, txn, values, xid))
        env = self.env
        with env.pool.lock:
            buffer, new_page = self._target_buffer(rel, len(item))
            try:
                blkno = buffer.tag[2]
                offnum = 1 if new_page else choose_offset(buffer.page)
                tuplelib.set_ctid(item, 0, blkno, offnum)
                page_insert(buffer.page, offnum, bytes(item), new_page)
                flags = REGBUF_STANDARD | (REGBUF_WILL_INIT if new_page else 0)
                info = XLOG_HEAP_INSERT | (XLOG_HEAP_INIT_PAGE if new_page else 0)
                self._log(info, b"", [BlockRegistration(
                    0, rel.rnode, MAIN_FORKNUM, blkno, buffer.page,
                    _OFFNUM.pack(offnum) + bytes(item), flags)], xid, [buffer])
            finally:
                env.pool.release(buffer)
        return blkno, offnum

    def _log(self, info: int, main: bytes, blocks: list[BlockRegistration], xid: int,
             buffers: list[Buffer]) -> None:
        """Second half of the WAL-logging recipe (the pages are already changed): insert the
        record, or skip it under wal_level=minimal; a failure here is an invariant violation
        (see ``PageChangeLogger.log``)."""
        self.env.changes.log(RM_MIRRORDB_HEAP_ID, info, main, blocks, buffers, xid)

    # reading ----------------------------------------------------------------------------------

    def _visible(self, txn: Transaction | None, snapshot: visibility.Snapshot,
                 header: tuplelib.HeapTupleHeader) -> bool:
        return visibility.tuple_visible(
            header.xmin, header.xmax, header.cid, bool(header.infomask & HEAP_COMBOCID), False,
            snapshot, txn.own if txn is not None else None, self.env.xacts.did_commit)

    def fetch(self, rel: Relation, txn: Transaction | None, snapshot: visibility.Snapshot,
              tid: Tid) -> tuple[object, ...] | None:
        """The values of version ``tid`` if the snapshot sees it, else None."""
        item = self._read_item(rel, tid)
        if item is None:
            return None
        header = tuplelib.read_header(item)
        if not self._visible(txn, snapshot, header):
            return None
        return rel.codec.decode(*tuplelib.tuple_data(item))

    def fetch_any(self, rel: Relation, txn: Transaction, snapshot: visibility.Snapshot,
                  tid: Tid) -> tuple[tuple[object, ...], tuplelib.HeapTupleHeader, bool] | None:
        """Version ``tid`` whatever the snapshot: its values, its header, and whether the
        snapshot sees it; None if its line pointer is gone. INSERT ... ON CONFLICT reads the
        conflicting row so: it may be a committed row the statement's snapshot predates."""
        with self.env.pool.lock:
            item = self._read_item(rel, tid)
            if item is None:
                return None
            header = tuplelib.read_header(item)
            return (rel.codec.decode(*tuplelib.tuple_data(item)), header,
                    self._visible(txn, snapshot, header))

    def hot_fetch(self, rel: Relation, txn: Transaction | None, snapshot: visibility.Snapshot,
                  tid: Tid) -> tuple[Tid, tuple[object, ...], bool] | None:
        """Through an index entry: the member of the HOT chain rooted at ``tid`` that the
        snapshot sees, as (its tid, its values, whether the chain is more than the version at
        ``tid`` itself: longer, or behind a redirect), or None (PostgreSQL's
        heap_hot_search_buffer). A plain version is a chain of one. A member of any other chain
        may carry another key than the entry (CREATE INDEX over chains, see access/README.md
        "HOT"; its other members may have been pruned since): the caller re-checks the key.

        At most one member is visible to a snapshot, so the newest is tried first: the one
        current snapshots see, read without copying the others."""
        blkno = tid[0]
        with self._existing_page(rel, blkno) as page:
            if page is None:
                return None
            found = None
            members = hot_chain(page, tid[1])
            for offnum in reversed(members):
                item = pagelib.get_item(page, offnum)
                if self._visible(txn, snapshot, tuplelib.read_header(item)):
                    found = (blkno, offnum), item
                    break
        if found is None:
            return None
        return found[0], rel.codec.decode(*tuplelib.tuple_data(found[1])), members != [tid[1]]

    def chain_items(self, rel: Relation, tid: Tid) -> list[tuple[Tid, bytes]]:
        """(tid, item) of each member of the HOT chain rooted at ``tid``, oldest first; empty
        when ``tid`` is no chain root (see ``hot_chain``)."""
        blkno = tid[0]
        with self._existing_page(rel, blkno) as page:
            if page is None:
                return []
            return [((blkno, offnum), pagelib.get_item(page, offnum))
                    for offnum in hot_chain(page, tid[1])]

    def read_item(self, rel: Relation, tid: Tid) -> bytes | None:
        """The stored tuple of line pointer ``tid`` (any version), or None."""
        return self._read_item(rel, tid)

    def _read_item(self, rel: Relation, tid: Tid) -> bytes | None:
        with self._existing_page(rel, tid[0]) as page:
            if page is None or tid[1] > pagelib.max_offset(page) \
                    or not pagelib.item_is_normal(page, tid[1]):
                return None
            return pagelib.get_item(page, tid[1])

    @contextmanager
    def _existing_page(self, rel: Relation, blkno: int) -> Iterator[bytearray | None]:
        """Block ``blkno`` of ``rel``'s main fork, under the pool lock and pinned while the
        caller reads it; None when the relation is shorter or the page was never initialised."""
        pool = self.env.pool
        with pool.lock:
            if blkno >= pool.nblocks(rel.rnode, MAIN_FORKNUM):
                yield None
                return
            buffer = pool.read_buffer(rel.rnode, MAIN_FORKNUM, blkno)
            try:
                yield None if pagelib.is_new(buffer.page) else buffer.page
            finally:
                pool.release(buffer)

    def scan(self, rel: Relation, txn: Transaction | None, snapshot: visibility.Snapshot
             ) -> Iterator[tuple[Tid, tuple[object, ...]]]:
        """Every version visible to ``snapshot``, in physical order."""
        pool = self.env.pool
        blkno = 0
        decode = rel.codec.decode
        while True:
            with pool.lock:
                if blkno >= pool.nblocks(rel.rnode, MAIN_FORKNUM):
                    return
                buffer = pool.read_buffer(rel.rnode, MAIN_FORKNUM, blkno)
                try:
                    items = self._visible_items(buffer.page, txn, snapshot)
                finally:
                    pool.release(buffer)
            for offnum, item in items:
                yield (blkno, offnum), decode(*tuplelib.tuple_data(item))
            blkno += 1

    def _visible_items(self, page: bytearray, txn: Transaction | None,
                       snapshot: visibility.Snapshot) -> list[tuple[int, bytes]]:
        if pagelib.is_new(page):
            return []
        found = []
        for offnum in range(1, pagelib.max_offset(page) + 1):
            lp_off, lp_flags, lp_len = pagelib.get_item_id(page, offnum)
            if lp_flags != pagelib.LP_NORMAL:
                continue
            item = bytes(page[lp_off:lp_off + lp_len])
            if self._visible(txn, snapshot, tuplelib.read_header(item)):
                found.append((offnum, item))
        return found

    def latest_version(self, rel: Relation, tid: Tid) -> Tid:
        """Follow the ctid chain from ``tid`` to the newest version (READ COMMITTED re-checks)."""
        return self.latest_version_item(rel, tid)[0]

    def latest_version_item(self, rel: Relation, tid: Tid) -> tuple[Tid, bytes | None]:
        """``latest_version`` and the item read there (None if its line pointer is gone)."""
        seen = 0
        while True:
            item = self._read_item(rel, tid)
            if item is None or seen >= 10_000:
                return tid, item
            header = tuplelib.read_header(item)
            next_tid = (header.ctid_block, header.ctid_offset)
            if next_tid == tid or not header.xmax or not self.env.xacts.did_commit(header.xmax):
                return tid, item
            tid = next_tid
            seen += 1

    # changing ---------------------------------------------------------------------------------

    def _modifiable(self, txn: Transaction, header: tuplelib.HeapTupleHeader, tid: Tid
                    ) -> tuple[TmResult, int]:
        """Whether ``txn`` may change this version now: (result, xid to wait for or 0)."""
        own = txn.own
        xacts = self.env.xacts
        if header.xmin not in own.xids and not xacts.did_commit(header.xmin):
            return TmResult.INVISIBLE, 0
        xmax = header.xmax
        if xmax == 0:
            return TmResult.OK, 0
        if xmax in own.xids:
            return TmResult.SELF_MODIFIED, 0
        if xacts.is_running(xmax):
            return TmResult.OK, xmax
        if xacts.did_commit(xmax):
            updated = (header.ctid_block, header.ctid_offset) != tid
            return (TmResult.UPDATED if updated else TmResult.DELETED), 0
        return TmResult.OK, 0

    def _serialization_check(self, txn: Transaction, result: TmResult) -> None:
        if txn.isolation == IsolationLevel.REPEATABLE_READ and result in (
                TmResult.UPDATED, TmResult.DELETED):
            what = "update" if result == TmResult.UPDATED else "delete"
            raise SerializationFailure(f"could not serialize access due to concurrent {what}")

    def _wait(self, txn: Transaction, xid: int) -> None:
        self.env.xacts.wait_for(xid, txn.current_xid(), txn.proc, txn.check_for_interrupts)

    def _row_lock_holder(self, rel: Relation, txn: Transaction, tid: Tid, mode: int) -> int:
        return self.env.xacts.row_lock_conflict((rel.rnode, tid[0], tid[1]), txn.own.xids,
                                                RowLockMode(mode))

    def delete(self, rel: Relation, txn: Transaction, tid: Tid) -> TmResult:
        xid = txn.current_xid()
        while True:
            wait_xid = 0
            with self.env.pool.lock:
                buffer = self.env.pool.read_buffer(rel.rnode, MAIN_FORKNUM, tid[0])
                try:
                    result, wait_xid = self._check_target(rel, txn, buffer.page, tid)
                    if result == TmResult.OK and not wait_xid:
                        self._log_delete(rel, txn, buffer, tid[1], xid)
                        return TmResult.OK
                finally:
                    self.env.pool.release(buffer)
            if not wait_xid:
                self._serialization_check(txn, result)
                return result
            self._wait(txn, wait_xid)

    def _check_target(self, rel: Relation, txn: Transaction, page: bytearray, tid: Tid
                      ) -> tuple[TmResult, int]:
        if tid[1] > pagelib.max_offset(page) or not pagelib.item_is_normal(page, tid[1]):
            return TmResult.DELETED, 0
        header = tuplelib.read_header(pagelib.get_item(page, tid[1]))
        result, wait_xid = self._modifiable(txn, header, tid)
        if result == TmResult.OK and not wait_xid:
                wait_xid = self._row_lock_holder(rel, txn, tid, RowLockMode.EXCLUSIVE)
        return result, wait_xid

    def _xmax_cid(self, txn: Transaction, page: bytearray, offnum: int, xid: int
                  ) -> tuple[int, int]:
        """(cid, infomask flag) to store with xmax: a combo id when the inserter is us too."""
        header = tuplelib.read_header(pagelib.get_item(page, offnum))
        if header.xmin in txn.own.xids:
            cmin = txn.own.cmin(header.cid, bool(header.infomask & HEAP_COMBOCID))
            return txn.own.combo_id(cmin, txn.own.command_id), HEAP_COMBOCID
        return txn.own.command_id, 0

    def _log_delete(self, rel: Relation, txn: Transaction, buffer: Buffer, offnum: int,
                    xid: int) -> None:
        cid, flag = self._xmax_cid(txn, buffer.page, offnum, xid)
        page_set_xmax(buffer.page, offnum, xid, cid, flag, None)
        self._log(XLOG_HEAP_DELETE, b"", [BlockRegistration(
            0, rel.rnode, MAIN_FORKNUM, buffer.tag[2], buffer.page,
            _DELETE.pack(offnum, xid, cid, flag), REGBUF_STANDARD)], xid, [buffer])

    def update(self, rel: Relation, txn: Transaction, tid: Tid,
               values: tuple[object, ...] | list[object]) -> tuple[TmResult, Tid]:
        """Replace version ``tid`` with ``values``: (OK, new tid) or the reason it could not."""
        result, new_tid, _ = self.update_row(rel, txn, tid, values)
        return result, new_tid

    def update_row(self, rel: Relation, txn: Transaction, tid: Tid,
                   values: tuple[object, ...] | list[object]) -> tuple[TmResult, Tid, bool]:
        """``update``, and whether it was HOT (then the caller adds no index entries). An
        update that would be HOT but finds the page full prunes the page once (outside the pool
        lock it reads the VACUUM horizon first) and tries again."""
        xid = txn.current_xid()
        item = bytearray(self.form(rel, txn, values, xid))
        horizon = 0
        while True:
            wait_xid = 0
            with self.env.pool.lock:
                old = self.env.pool.read_buffer(rel.rnode, MAIN_FORKNUM, tid[0])
                try:
                    result, wait_xid = self._check_target(rel, txn, old.page, tid)
                    if result == TmResult.OK and not wait_xid:
                        hot = self._hot_allowed(rel, old.page, tid[1], values)
                        if hot and not _fits(old.page, len(item)):
                            prune_xid = pagelib.get_prune_xid(old.page)
                            if not prune_xid or (horizon and prune_xid >= horizon):
                                hot = False              # nothing here is prunable yet
                            elif not horizon:
                                wait_xid = -1            # read the horizon, then prune
                            else:
                                self._prune_page(rel, old, horizon)
                                hot = _fits(old.page, len(item))
                        if wait_xid != -1:
                            new_tid = self._do_update(rel, txn, old, tid, item, xid, hot)
                            return TmResult.OK, new_tid, hot
                finally:
                    self.env.pool.release(old)
            if wait_xid == -1:
                horizon = self.env.xacts.oldest_xmin()
                continue
            if not wait_xid:
                self._serialization_check(txn, result)
                return result, tid, False
            self._wait(txn, wait_xid)

    @staticmethod
    def _hot_allowed(rel: Relation, page: bytearray, offnum: int,
                     values: tuple[object, ...] | list[object]) -> bool:
        """No indexed column changes between version ``offnum`` and ``values`` (compared
        as stored: equal values of different spelling, 1.0 and 1.00, are a change)."""
        if not rel.indexes:
            return True
        old_values = rel.codec.decode(*tuplelib.tuple_data(pagelib.get_item(page, offnum)))
        for info in rel.indexes:    # expression and predicate columns count too
            for column in info.columns_used():
                if not _same_datum(old_values[column], values[column]):
                    return False
        return True

    def _prune_page(self, rel: Relation, buffer: Buffer, horizon: int) -> None:
        """Opportunistic pruning under the pool lock the caller holds: dead chain prefixes
        go, wholly dead chains leave LP_DEAD roots for VACUUM."""
        plan = plan_prune(buffer.page, lambda xmin, xmax: version_status(
            self.env.xacts, xmin, xmax, horizon))
        if plan.changes_page() or plan.new_prune_xid != pagelib.get_prune_xid(buffer.page):
            self._log_prune(rel, buffer, plan.redirected, plan.dead, plan.unused,
                            plan.latest_removed_xid, plan.new_prune_xid)

    def _log_prune(self, rel: Relation, buffer: Buffer, redirected: list[tuple[int, int]],
                   dead: list[int], unused: list[int], latest_removed_xid: int,
                   new_prune_xid: int) -> None:
        page_prune(buffer.page, redirected, dead, unused, new_prune_xid)
        main, data = encode_prune(latest_removed_xid, redirected, dead, unused, new_prune_xid)
        self._log(XLOG_HEAP_PRUNE, main, [
            BlockRegistration(0, rel.rnode, MAIN_FORKNUM, buffer.tag[2], buffer.page, data,
                              REGBUF_STANDARD)], 0, [buffer])
        if unused or dead or redirected:
            self.env.fsm.free_pages.setdefault(rel.rnode, set()).add(buffer.tag[2])

    def _do_update(self, rel: Relation, txn: Transaction, old: Buffer, tid: Tid,
                   item: bytearray, xid: int, hot: bool = False) -> Tid:
        pool = self.env.pool
        tuplelib.set_infomask_flags(item, 0, tuplelib.HEAP_UPDATED)
        if hot:
            tuplelib.set_hot_flags(item, 0, tuplelib.HEAP_ONLY_TUPLE)
        if hot or _fits(old.page, len(item)):
            new, new_page = old, False
        else:
            new, new_page = self._target_buffer(rel, len(item))
        try:
            new_blkno = new.tag[2]
            new_offnum = 1 if new_page else choose_offset(new.page)
            tuplelib.set_ctid(item, 0, new_blkno, new_offnum)
            cid, flag = self._xmax_cid(txn, old.page, tid[1], xid)
            page_insert(new.page, new_offnum, bytes(item), new_page)
            page_set_xmax(old.page, tid[1], xid, cid, flag, (new_blkno, new_offnum), hot)
            main = _UPDATE_MAIN.pack(tid[1], xid, cid, flag, new_offnum)
            blocks = [BlockRegistration(0, rel.rnode, MAIN_FORKNUM, new_blkno, new.page,
                                        bytes(item),
                                        REGBUF_STANDARD | (REGBUF_WILL_INIT if new_page else 0))]
            buffers = [new]
            if new is not old:
                blocks.append(BlockRegistration(1, rel.rnode, MAIN_FORKNUM, tid[0], old.page, b"",
                                                REGBUF_STANDARD))
                buffers.append(old)
            info = XLOG_HEAP_HOT_UPDATE if hot else \
                XLOG_HEAP_UPDATE | (XLOG_HEAP_INIT_PAGE if new_page else 0)
            self._log(info, main, blocks, xid, buffers)
        finally:
            if new is not old:
                pool.release(new)
        return new_blkno, new_offnum

    def lock_tuple(self, rel: Relation, txn: Transaction, tid: Tid, mode: int,
                   wait_policy: LockWaitPolicy = LockWaitPolicy.BLOCK) -> TmResult:
        """SELECT ... FOR UPDATE/SHARE: wait for writers and conflicting lockers, then lock;
        under NOWAIT or SKIP LOCKED (``wait_policy``) a row held by another transaction
        raises 55P03 or gives WOULD_BLOCK instead of waiting."""
        xid = txn.current_xid()
        while True:
            with self.env.pool.lock:
                buffer = self.env.pool.read_buffer(rel.rnode, MAIN_FORKNUM, tid[0])
                try:
                    page = buffer.page
                    if tid[1] > pagelib.max_offset(page) or not pagelib.item_is_normal(page,
                                                                                      tid[1]):
                        return TmResult.DELETED
                    header = tuplelib.read_header(pagelib.get_item(page, tid[1]))
                    result, wait_xid = self._modifiable(txn, header, tid)
                    if result == TmResult.OK and not wait_xid:
                        wait_xid = self._row_lock_holder(rel, txn, tid, mode)
                        if not wait_xid:
                            self.env.xacts.add_row_lock((rel.rnode, tid[0], tid[1]), xid,
                                                        RowLockMode(mode))
                            return TmResult.OK
                finally:
                    self.env.pool.release(buffer)
            if result == TmResult.SELF_MODIFIED:
                return TmResult.OK
            if not wait_xid:
                self._serialization_check(txn, result)
                return result
            if wait_policy == LockWaitPolicy.SKIP:
                return TmResult.WOULD_BLOCK
            if wait_policy == LockWaitPolicy.ERROR:
                raise LockNotAvailable(
                    f'could not obtain lock on row in relation "{rel.name}"')
            self._wait(txn, wait_xid)

    # vacuum support ---------------------------------------------------------------------------

    def prune(self, rel: Relation, blkno: int, offnums: list[int], latest_removed_xid: int
              ) -> None:
        """Free the line pointers of dead versions on one page (their index entries are gone);
        no offnums: a record that only carries the snapshot-conflict horizon."""
        pool = self.env.pool
        with pool.lock:
            buffer = pool.read_buffer(rel.rnode, MAIN_FORKNUM, blkno)
            try:
                self._log_prune(rel, buffer, [], [], offnums, latest_removed_xid,
                                pagelib.get_prune_xid(buffer.page))
            finally:
                pool.release(buffer)

    def vacuum_page(self, rel: Relation, blkno: int, horizon: int, index_cleaned: set[int]
                    ) -> PrunePlan:
        """VACUUM's second heap pass on one page: prune it again with the same horizon (the
        page may have changed since the first pass) and free the LP_DEAD roots whose index
        entries VACUUM removed (``index_cleaned``); other dead roots stay LP_DEAD."""
        pool = self.env.pool
        with pool.lock:
            buffer = pool.read_buffer(rel.rnode, MAIN_FORKNUM, blkno)
            try:
                plan = plan_prune(buffer.page, lambda xmin, xmax: version_status(
                    self.env.xacts, xmin, xmax, horizon))
                freed = [offnum for offnum in plan.dead + plan.already_dead
                         if offnum in index_cleaned]
                dead = [offnum for offnum in plan.dead if offnum not in index_cleaned]
                if plan.redirected or dead or plan.unused or freed:
                    self._log_prune(rel, buffer, plan.redirected, dead,
                                    sorted(plan.unused + freed), plan.latest_removed_xid,
                                    plan.new_prune_xid)
                return plan
            finally:
                pool.release(buffer)


# -- redo ---------------------------------------------------------------------------------------


def heap_redo(context: RedoContext, record: DecodedRecord) -> None:
    """Replay one heap record. Every record changes block 0 first; an UPDATE whose old version
    is on another page names that page as block 1.

    The hot path of replay (row changes are most records): each block goes through
    ``context.begin_block`` / ``end_block`` (redo.py's rules: image, LSN skip, init,
    consistency check) with the page functions called directly in between, all blocks of the
    record under one hold of the pool lock."""
    info = record.info
    op = info & XLOG_HEAP_OPMASK
    blocks = record.blocks
    block = blocks[0]
    if block.block_id:   # the message is built only on failure (hot path)
        invariant(False, f"heap record at {format_lsn(record.start_lsn)} has no block 0")
    if op == XLOG_HEAP_HOT_UPDATE:
        old_offnum, xmax, cid, flag, new_offnum = _UPDATE_MAIN.unpack_from(record.main_data, 0)
        with context.pool.lock:
            buffer = context.begin_block(record, block, False)
            if buffer is not None:
                page = buffer.page
                page_insert(page, new_offnum, block.data, False)
                page_set_xmax(page, old_offnum, xmax, cid, flag, (block.blkno, new_offnum), True)
                context.end_block(record, block, buffer)
    elif op == XLOG_HEAP_UPDATE:
        old_offnum, xmax, cid, flag, new_offnum = _UPDATE_MAIN.unpack_from(record.main_data, 0)
        new_tid = (block.blkno, new_offnum)
        old_block = blocks[1] if len(blocks) > 1 else None   # None: the same page
        init = (info & XLOG_HEAP_INIT_PAGE) != 0
        with context.pool.lock:
            buffer = context.begin_block(record, block, init)
            if buffer is not None:
                page = buffer.page
                page_insert(page, new_offnum, block.data, init)
                if old_block is None:
                    page_set_xmax(page, old_offnum, xmax, cid, flag, new_tid)
                context.end_block(record, block, buffer)
            if old_block is not None:
                _redo_set_xmax(context, record, old_block, old_offnum, xmax, cid, flag, new_tid)
    elif op == XLOG_HEAP_INSERT:
        data = block.data
        init = (info & XLOG_HEAP_INIT_PAGE) != 0
        with context.pool.lock:
            buffer = context.begin_block(record, block, init)
            if buffer is not None:
                page_insert(buffer.page, _OFFNUM.unpack_from(data, 0)[0], data[_OFFNUM.size:],
                            init)
                context.end_block(record, block, buffer)
    elif op == XLOG_HEAP_DELETE:
        offnum, xmax, cid, flag = _DELETE.unpack_from(block.data, 0)
        with context.pool.lock:
            _redo_set_xmax(context, record, block, offnum, xmax, cid, flag, None)
    elif op == XLOG_HEAP_PRUNE:
        latest_removed_xid, redirected, dead, unused, new_prune_xid = decode_prune(
            record.main_data, block.data)
        # a standby's queries whose snapshot may still see the removed versions go first
        context.state.resolve_snapshot_conflict(latest_removed_xid, block.rnode)
        with context.pool.lock:
            buffer = context.begin_block(record, block, False)
            if buffer is not None:
                page_prune(buffer.page, redirected, dead, unused, new_prune_xid)
                context.end_block(record, block, buffer)
    else:
        raise invariant(False, f"unknown heap record info {record.info:#x}")  # type: ignore[func-returns-value]


def _redo_set_xmax(context: RedoContext, record: DecodedRecord, block: BlockRef, offnum: int,
                   xmax: int, cid: int, flag: int, new_ctid: Tid | None) -> None:
    """``page_set_xmax`` on ``block`` (a DELETE's page, an UPDATE's old page), under the pool
    lock the caller holds."""
    buffer = context.begin_block(record, block, False)
    if buffer is not None:
        page_set_xmax(buffer.page, offnum, xmax, cid, flag, new_ctid)
        context.end_block(record, block, buffer)


register_redo(RM_MIRRORDB_HEAP_ID, heap_redo)
