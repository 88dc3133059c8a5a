"""The B-tree access method: ordered indexes of (key, heap TID) entries.

Who calls it: the executor (index inserts, unique checks, index scans), VACUUM (``bulk_delete``)
and amcheck-style verification (``check``). Crash recovery and the standby never call this class:
they replay our WAL records through ``btree_redo`` (``nbtree_xlog.py``), which runs the same pure
page functions (``nbtree_page.py``, where the on-disk layout is documented byte by byte).

A ``BTree`` object is a cheap handle (the engine makes one per statement); everything lasting lives
in the index's pages, plus a cache of decoded pages shared by all handles on a buffer pool.

The tree is a Lehman & Yao B-link tree, PostgreSQL style: a metapage at block 0, pages linked left
and right on each level, a high key on every page but the rightmost of its level, and entries
ordered by (``sort_key(key)``, heap TID) so that duplicates are allowed and any page can be split.

Concurrency: one lock, the buffer pool's ``lock`` (the page content lock). Every operation holds it
while it reads or changes pages, and a caller doing a unique check holds it around ``find_equal``
and ``insert`` (it is reentrant). Scans do not hold it between the items they yield: they copy a
leaf's matching entries, release the lock, and on the next page re-find their place by the last
(key, TID) they returned, so they stay correct when the tree changes in between. A backward
scan (ORDER BY ... DESC, max()) descends for the entries below the last one it returned and,
still under the lock, walks the left-links past leaves holding none of them.

Splits: a leaf that cannot take a new entry is split, and the split's downlink goes into the
parent in the same WAL record. When the parent has no room for it, the insert first splits the
lowest ancestor whose own parent does have room (or the root, making a new root), then descends
again. So every split is one WAL record touching at most four pages, applied atomically by crash
recovery: left half, new right half, parent (or new root and metapage), and the old right sibling
whose left-link changes. There are never half-finished splits to complete later. Pages are never
deleted; VACUUM leaves empty leaves in place.

WAL recipe (every change, see ``_log_change``): under the lock, pin the pages, apply the pure ops,
insert one record with a block reference per page whose data is the op, stamp every page with the
record's end LSN, mark the buffers dirty, unpin. The last three steps are
``PageChangeLogger.log`` (access/env.py): for an index created by its running transaction under
wal_level=minimal it skips the record and stamps a fake LSN, new for every change, so the cache
below still sees each change.

Decoded-page cache: binary search wants decoded keys, and decoding a key costs microseconds, so
each page's decoded entries are cached keyed on (relation, block) and validated by the page LSN:
every change to a page sets a new, larger LSN, so an entry whose LSN still matches the page is
exact. Our own inserts update the cached page in place together with its LSN ("write-through"),
so the hot path of repeated inserts into one leaf never re-decodes it. ``check`` never trusts the
cache: it decodes the bytes.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mirrordb.access import nbtree_page as btpage
from mirrordb.access.env import PageChangeLogger
from mirrordb.access.unlogged import copy_to_init_fork
from mirrordb.access.nbtree_page import (
    BTP_LEAF, BTP_META, BTP_ROOT, BTREE_METAPAGE, P_FIRSTKEY, P_HIKEY, P_NONE, HeapTid, MetaData,
    Opaque,
)
from mirrordb.access.nbtree_xlog import (
    XLOG_BTREE_BUILD_EMPTY, XLOG_BTREE_INSERT_LEAF, XLOG_BTREE_NEWROOT, XLOG_BTREE_SPLIT,
    XLOG_BTREE_VACUUM, BlockOp, BuildPage, DeleteItems, InitMeta, InsertItem, SetPrev, SplitLeft,
    btree_redo,
)
from mirrordb.common.errors import (
    DataCorrupted, InvariantViolation, ProgramLimitExceeded, invariant,
)
from mirrordb.recovery.redo import register_redo
from mirrordb.storage import page as pagelib
from mirrordb.storage.datum import RowCodec, sort_key
from mirrordb.storage.page import maxalign
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.wal.record import REGBUF_STANDARD, REGBUF_WILL_INIT
from mirrordb.wal.writer import BlockRegistration
from mirrordb.wal.rmgr import RM_MIRRORDB_BTREE_ID

if TYPE_CHECKING:
    from mirrordb.storage.bufmgr import Buffer, BufferPool
    from mirrordb.wal.writer import WalWriter

# Decoded entries kept per buffer pool (all indexes together), least recently used pages out
# first. An entry costs about 250 bytes (its tuples), so this is about 50 MB; a page counts with
# the entries it had when cached.
PAGE_CACHE_LIMIT_ENTRIES = 200_000
# Row codecs kept for distinct key type lists.
CODEC_CACHE_LIMIT = 256
# An insert restarts its descent after splitting an internal page; more means a bug.
MAX_INSERT_RESTARTS = 64
MAX_HEAP_BLOCK = 0xFFFFFFFE
MAX_HEAP_OFFSET = 0xFFFF

# A heap TID that sorts before every real one: a search target, never stored.
MIN_TID: HeapTid = (-1, -1)

SortKey = tuple[Any, ...]
Entry = tuple[SortKey, HeapTid]
Locator = Callable[[list[Entry]], int]


# ---------------------------------------------------------------------------------------------
# Decoded pages and their cache


@dataclass(slots=True)
class PageView:
    """A decoded B-tree page, valid while the page's LSN equals ``lsn``.

    Leaf: ``entries[i]`` is data item i as (sort key, heap TID) and ``values[i]`` its key values.
    Internal: ``children[0]`` is the minus-infinity item's child and ``entries[i]`` the pivot of
    ``children[i + 1]``. ``high`` is the high key as an entry (None on the rightmost page).
    """

    lsn: int
    opaque: Opaque
    high: Entry | None
    entries: list[Entry]
    values: list[tuple[Any, ...]]
    children: list[int]

    @property
    def first_data_offset(self) -> int:
        return P_HIKEY if self.opaque.next == P_NONE else P_FIRSTKEY

    @property
    def is_leaf(self) -> bool:
        return self.opaque.level == 0


class _PageCache:
    """LRU map (relation, block) -> PageView or _MetaView, guarded by the pool lock."""

    def __init__(self, limit_entries: int) -> None:
        self.limit_entries = limit_entries
        self.views: OrderedDict[tuple[RelFileNode, int], Any] = OrderedDict()
        self.sizes: dict[tuple[RelFileNode, int], int] = {}
        self.total_entries = 0

    def get(self, rnode: RelFileNode, blkno: int, lsn: int) -> Any:
        key = (rnode, blkno)
        view = self.views.get(key)
        if view is None or view.lsn != lsn:
            return None
        self.views.move_to_end(key)
        return view

    def peek(self, rnode: RelFileNode, blkno: int, lsn: int) -> Any:
        """The cached view if it matches ``lsn``, without touching the LRU order."""
        view = self.views.get((rnode, blkno))
        return view if view is not None and view.lsn == lsn else None

    def put(self, rnode: RelFileNode, blkno: int, view: Any) -> None:
        key = (rnode, blkno)
        size = len(view.entries) + 1 if isinstance(view, PageView) else 1
        self.total_entries += size - self.sizes.get(key, 0)
        self.sizes[key] = size
        self.views[key] = view
        self.views.move_to_end(key)
        while self.total_entries > self.limit_entries and len(self.views) > 1:
            evicted, _ = self.views.popitem(last=False)
            self.total_entries -= self.sizes.pop(evicted)


@dataclass(slots=True)
class _MetaView:
    lsn: int
    meta: MetaData


@dataclass(slots=True)
class _NewItem:
    """The entry a leaf insert adds: data index, leaf tuple, (sort key, TID), key values."""

    position: int
    item: bytes
    entry: Entry
    values: tuple[Any, ...]


@dataclass(slots=True)
class _SplitPlan:
    """A split worked out before any page changes: the SPLIT_LEFT and right-page contents."""

    first_right: int            # index of the first right item among the data items
    high: bytes                 # the left half's new high key; with the right block, the downlink
    old_high: bytes | None      # the right half's high key
    right_items: list[bytes]
    keep_count: int             # old data items the left half keeps
    new_index: int | None       # where the new item goes in the left half, if it goes left
    new_bytes: bytes


@dataclass(slots=True)
class _SplitViews:
    """What ``_cache_split`` needs to know about a split that was just logged."""

    view: PageView              # the page before the split
    new_item: _NewItem | None
    first_right: int            # index of the first right item among the data items
    left_opaque: Opaque
    right_opaque: Opaque
    blocks: list[int]           # the record's blocks: left, right, parent or new root, ...
    before_lsns: list[int]      # those pages' LSNs just before the split
    end_lsn: int
    parent: int | None


_page_caches: weakref.WeakKeyDictionary[Any, _PageCache] = weakref.WeakKeyDictionary()
_codecs: dict[tuple[int, ...], RowCodec] = {}


def _page_cache_for(pool: BufferPool) -> _PageCache:
    cache = _page_caches.get(pool)
    if cache is None:
        cache = _PageCache(PAGE_CACHE_LIMIT_ENTRIES)
        _page_caches[pool] = cache
    return cache


def _block_of(buffer: Buffer) -> int:
    """The block number of a pinned buffer."""
    tag = buffer.tag
    if tag is None:
        raise InvariantViolation(f"{buffer!r} has no tag although it is pinned")
    return tag[2]


def _sort_key_of(values: tuple[Any, ...]) -> SortKey:
    """``sort_key(values)``, sharing the values tuple itself when it already sorts right (ints,
    text...): one tuple less per cached entry."""
    key = sort_key(values)
    return values if key == values else key


def _codec_for(key_types: tuple[int, ...]) -> RowCodec:
    codec = _codecs.get(key_types)
    if codec is None:
        if len(_codecs) >= CODEC_CACHE_LIMIT:
            _codecs.pop(next(iter(_codecs)))
        codec = _codecs[key_types] = RowCodec(key_types)
    return codec


# ---------------------------------------------------------------------------------------------
# Search targets


def _after(target: Entry) -> Locator:
    """Locate the first entry greater than ``target`` (and, on internal pages, its child)."""
    return lambda entries: bisect_right(entries, target)


def _prefix_locator(bound: SortKey, inclusive: bool) -> Locator:
    """Locate the first entry whose first len(bound) key columns are >= (or >) ``bound``."""
    width = len(bound)

    def prefix(entry: Entry) -> SortKey:
        return entry[0][:width]

    if inclusive:
        return lambda entries: bisect_left(entries, bound, key=prefix)
    return lambda entries: bisect_right(entries, bound, key=prefix)


def _leftmost(entries: list[Entry]) -> int:
    return 0


def _rightmost(entries: list[Entry]) -> int:
    return len(entries)


def _before(target: Entry) -> Locator:
    """Locate the first entry not less than ``target``: the entries before it are the ones
    less than ``target`` (and, on internal pages, the child holding the last of them)."""
    return lambda entries: bisect_left(entries, target)


# ---------------------------------------------------------------------------------------------
# The access method


class BTree:
    """A handle on one B-tree index (relation ``rnode``, key columns of ``key_types``).

    ``unique`` is recorded for the caller: the tree itself accepts equal keys (dead versions of a
    unique key must coexist with live ones under MVCC), and the caller checks uniqueness with
    ``find_equal`` before ``insert`` while holding ``pool.lock``. ``name`` appears in messages.
    ``change_logger`` ends every page change (the engine passes its own, which knows which
    relations skip WAL under wal_level=minimal); without one, every change is WAL-logged.
    """

    def __init__(self, pool: BufferPool, wal: WalWriter, rnode: RelFileNode,
                 key_types: Sequence[int], unique: bool, *, name: str | None = None,
                 change_logger: PageChangeLogger | None = None) -> None:
        if not 1 <= len(key_types) <= btpage.INDEX_MAX_KEYS:
            raise ProgramLimitExceeded(
                f"cannot use more than {btpage.INDEX_MAX_KEYS} columns in an index"
                if key_types else "an index needs at least one key column", sqlstate="54011")
        self.pool = pool
        self.wal = wal
        self.change_logger = change_logger if change_logger is not None else \
            PageChangeLogger(pool, wal)
        self.rnode = rnode
        self.key_types = tuple(key_types)
        self.unique = unique
        self.name = name if name is not None else str(rnode.rel)
        self.natts = len(self.key_types)
        self._codec = _codec_for(self.key_types)
        self._bitmap_length = (self.natts + 7) // 8
        with pool.lock:
            self._cache = _page_cache_for(pool)

    # -- building -------------------------------------------------------------------------------

    def build_empty(self) -> None:
        """Write the metapage (block 0) and an empty root leaf (block 1) into the empty file
        (and, for an unlogged index, into its init fork: access/unlogged.py)."""
        with self.pool.lock:
            invariant(self.pool.nblocks(self.rnode, MAIN_FORKNUM) == 0,
                      f'build_empty on index "{self.name}" whose file is not empty')
            meta_buffer = self.pool.extend(self.rnode, MAIN_FORKNUM)
            root_buffer = self.pool.extend(self.rnode, MAIN_FORKNUM)
            try:
                invariant(_block_of(meta_buffer) == BTREE_METAPAGE, "metapage must be block 0")
                root = _block_of(root_buffer)
                self._log_change(XLOG_BTREE_BUILD_EMPTY, [
                    (meta_buffer, InitMeta(MetaData(root, 0))),
                    (root_buffer, BuildPage(Opaque(P_NONE, P_NONE, 0, BTP_LEAF | BTP_ROOT),
                                            None, [])),
                ])
            finally:
                self.pool.release(root_buffer)
                self.pool.release(meta_buffer)
        if self.change_logger.is_unlogged(self.rnode):
            copy_to_init_fork(self.change_logger, self.rnode)

    # -- insertion ------------------------------------------------------------------------------

    def insert(self, key: tuple[Any, ...], tid: HeapTid) -> None:
        """Add the entry (key, tid). Equal keys are allowed; (key, tid) pairs must be new."""
        values, item = self._form_leaf_tuple(key, tid)
        new_item = _NewItem(0, item, (_sort_key_of(values), tid), values)
        with self.pool.lock:
            for _ in range(MAX_INSERT_RESTARTS):
                if self._try_insert(self._descend(new_item.entry), new_item):
                    return
        raise InvariantViolation(f'index "{self.name}": insert restarted '
                                 f"{MAX_INSERT_RESTARTS} times")

    def _form_leaf_tuple(self, key: tuple[Any, ...],
                         tid: HeapTid) -> tuple[tuple[Any, ...], bytes]:
        # Per-row path: the checks format their messages only when they fail.
        if len(key) != self.natts:
            raise InvariantViolation(f'key of {len(key)} columns for index "{self.name}" of '
                                     f"{self.natts}")
        if not (0 <= tid[0] <= MAX_HEAP_BLOCK and 1 <= tid[1] <= MAX_HEAP_OFFSET):
            raise InvariantViolation(f"invalid heap TID {tid}")
        key_data, null_bitmap = self._codec.encode(key)
        values = self._codec.decode(key_data, null_bitmap)
        has_nulls, payload = btpage.make_payload(key_data, null_bitmap)
        item = btpage.make_leaf_tuple(tid, has_nulls, payload)
        if maxalign(len(item)) > btpage.BTREE_MAX_ITEM_SIZE:
            raise ProgramLimitExceeded(
                f"index row size {maxalign(len(item))} exceeds btree version "
                f"{btpage.BTREE_VERSION} maximum {btpage.BTREE_MAX_ITEM_SIZE} for index "
                f'"{self.name}"',
                detail=f"Index row references tuple ({tid[0]},{tid[1]}).",
                hint="Values larger than 1/3 of a buffer page cannot be indexed.\n"
                     "Consider a function index of an MD5 hash of the value, or use full text "
                     "indexing.", sqlstate="54000")
        return values, item

    def _descend(self, entry: Entry) -> list[int]:
        """The blocks from the root down to the leaf where ``entry`` belongs."""
        locate = _after(entry)
        path = [self._read_meta().root]
        while True:
            buffer = self._pin(path[-1])
            try:
                view = self._view(path[-1], buffer.page)
            finally:
                self.pool.release(buffer)
            if view.is_leaf:
                return path
            path.append(view.children[locate(view.entries)])

    def _try_insert(self, path: list[int], new_item: _NewItem) -> bool:
        """Insert into the leaf at the end of ``path``, splitting it if it is full; True if done.

        When the leaf's parent has no room for the downlink its split would add, split instead
        the lowest ancestor whose own parent has room for *its* new downlink (the root always
        can: a new root is made), and return False: the caller descends again. So each split is
        one WAL record and its parent always takes the downlink.
        """
        leaf = self._pin(path[-1])
        try:
            view = self._view(path[-1], leaf.page)
            new_item.position = bisect_right(view.entries, new_item.entry)
            self._check_insert_position(path[-1], view, new_item)
            if btpage.fits(leaf.page, len(new_item.item)):
                self._insert_into_leaf(leaf, view, new_item)
                return True
            plans = [self._plan_split(leaf.page, view.is_leaf, new_item)]
        finally:
            self.pool.release(leaf)
        depth = len(path) - 1
        while depth > 0:
            parent = self._pin(path[depth - 1])
            try:
                if btpage.fits(parent.page, len(plans[-1].high)):
                    break
                plans.append(self._plan_split(parent.page, False, None))
            finally:
                self.pool.release(parent)
            depth -= 1
        target = self._pin(path[depth])
        try:
            self._split(target, self._view(path[depth], target.page), plans[-1],
                        path[depth - 1] if depth > 0 else None,
                        new_item if depth == len(path) - 1 else None)
        finally:
            self.pool.release(target)
        return depth == len(path) - 1

    def _check_insert_position(self, blkno: int, view: PageView, new_item: _NewItem) -> None:
        position, entry = new_item.position, new_item.entry
        if view.high is not None and not entry < view.high:
            raise InvariantViolation(f'index "{self.name}": insert landed on block {blkno} past '
                                     "its high key")
        if position > 0 and view.entries[position - 1] == entry:
            raise InvariantViolation(f'index "{self.name}": entry for heap TID {entry[1]} '
                                     "inserted twice")

    def _insert_into_leaf(self, buffer: Buffer, view: PageView, new_item: _NewItem) -> None:
        end_lsn = self._log_change(XLOG_BTREE_INSERT_LEAF, [
            (buffer, InsertItem(view.first_data_offset + new_item.position, new_item.item))])
        view.entries.insert(new_item.position, new_item.entry)
        view.values.insert(new_item.position, new_item.values)
        view.lsn = end_lsn

    # -- splitting ------------------------------------------------------------------------------

    def _plan_split(self, page: bytearray, is_leaf: bool, new_item: _NewItem | None) -> _SplitPlan:
        """Where to split ``page`` (with ``new_item`` added) and what each half gets."""
        invariant(new_item is None or is_leaf, "only leaf splits carry a new item")
        old_high = btpage.high_key(page)
        items = btpage.data_items(page)
        if new_item is not None:
            items.insert(new_item.position, new_item.item)
        first_right = btpage.choose_split(
            [len(item) for item in items], is_leaf=is_leaf,
            is_rightmost=old_high is None,
            old_high_length=None if old_high is None else len(old_high)).first_right
        right_items = items[first_right:]
        if is_leaf:
            high = btpage.pivot_from_leaf(right_items[0], self.natts)
        else:
            high = btpage.with_child(right_items[0], P_NONE)
            right_items[0] = btpage.make_minus_infinity(btpage.parse_tuple(right_items[0]).block)
        if new_item is not None and new_item.position < first_right:
            return _SplitPlan(first_right, high, old_high, right_items, first_right - 1,
                              new_item.position, new_item.item)
        return _SplitPlan(first_right, high, old_high, right_items, first_right, None, b"")

    def _split(self, buffer: Buffer, view: PageView, plan: _SplitPlan, parent: int | None,
               new_item: _NewItem | None) -> None:
        """Split the pinned page as ``plan`` says (``new_item`` is the leaf entry it adds).

        One WAL record: left half, right half, then the parent's new downlink (or a new root and
        the metapage), then the old right sibling's left-link. The decoded views of all of them
        are updated in the cache with the record's LSN.
        """
        left = _block_of(buffer)
        opaque = view.opaque
        pinned: list[Buffer] = []
        try:
            right_buffer = self._extend(pinned)
            right = _block_of(right_buffer)
            left_opaque = Opaque(opaque.prev, right, opaque.level, opaque.flags & ~BTP_ROOT)
            right_opaque = Opaque(left, opaque.next, opaque.level, opaque.flags & BTP_LEAF)
            changes: list[tuple[Buffer, BlockOp]] = [
                (buffer, SplitLeft(right, left_opaque.flags, plan.high, plan.keep_count,
                                   plan.new_index, plan.new_bytes)),
                (right_buffer, BuildPage(right_opaque, plan.old_high, plan.right_items)),
            ]
            downlink = btpage.with_child(plan.high, right)
            if parent is None:
                info = XLOG_BTREE_NEWROOT
                changes += self._new_root_changes(pinned, left, downlink, opaque.level + 1)
            else:
                info = XLOG_BTREE_SPLIT
                changes.append(self._downlink_change(pinned, parent, left, downlink))
            if opaque.next != P_NONE:
                changes.append((self._pin_into(pinned, opaque.next), SetPrev(right)))
            before_lsns = [pagelib.get_lsn(changed.page) for changed, _ in changes]
            end_lsn = self._log_change(info, changes)
            blocks = [_block_of(changed) for changed, _ in changes]
            self._cache_split(_SplitViews(view, new_item, plan.first_right, left_opaque,
                                          right_opaque, blocks, before_lsns, end_lsn, parent))
        finally:
            for pinned_buffer in pinned:
                self.pool.release(pinned_buffer)

    def _new_root_changes(self, pinned: list[Buffer], left: int, downlink: bytes,
                          level: int) -> list[tuple[Buffer, BlockOp]]:
        root_buffer = self._extend(pinned)
        root = _block_of(root_buffer)
        meta_buffer = self._pin_into(pinned, BTREE_METAPAGE)
        return [(root_buffer, BuildPage(Opaque(P_NONE, P_NONE, level, BTP_ROOT), None,
                                        [btpage.make_minus_infinity(left), downlink])),
                (meta_buffer, InitMeta(MetaData(root, level)))]

    def _downlink_change(self, pinned: list[Buffer], parent: int, left: int,
                         downlink: bytes) -> tuple[Buffer, BlockOp]:
        parent_buffer = self._pin_into(pinned, parent)
        parent_view = self._view(parent, parent_buffer.page)
        invariant(left in parent_view.children,
                  f'index "{self.name}": block {parent} has no downlink to block {left}')
        invariant(btpage.fits(parent_buffer.page, len(downlink)),
                  f'index "{self.name}": parent block {parent} has no room for a downlink')
        offnum = parent_view.first_data_offset + parent_view.children.index(left) + 1
        return parent_buffer, InsertItem(offnum, downlink)

    def _cache_split(self, split: _SplitViews) -> None:
        """Put the decoded pages a split produced into the cache (they equal a fresh decode)."""
        view, lsn = split.view, split.end_lsn
        entries, values = list(view.entries), list(view.values)
        if split.new_item is not None:
            entries.insert(split.new_item.position, split.new_item.entry)
            values.insert(split.new_item.position, split.new_item.values)
        cut = split.first_right
        if view.is_leaf:
            separator = entries[cut]
            left_view = PageView(lsn, split.left_opaque, separator, entries[:cut], values[:cut],
                                 [])
            right_view = PageView(lsn, split.right_opaque, view.high, entries[cut:],
                                  values[cut:], [])
        else:
            separator = entries[cut - 1]
            left_view = PageView(lsn, split.left_opaque, separator, entries[:cut - 1], [],
                                 view.children[:cut])
            right_view = PageView(lsn, split.right_opaque, view.high, entries[cut:], [],
                                  view.children[cut:])
        left, right, upper = split.blocks[:3]
        self._cache.put(self.rnode, left, left_view)
        self._cache.put(self.rnode, right, right_view)
        if split.parent is None:
            level = view.opaque.level + 1
            self._cache.put(self.rnode, upper, PageView(
                lsn, Opaque(P_NONE, P_NONE, level, BTP_ROOT), None, [separator], [],
                [left, right]))
            self._cache.put(self.rnode, BTREE_METAPAGE, _MetaView(lsn, MetaData(upper, level)))
        else:
            parent_view = self._cache.peek(self.rnode, upper, split.before_lsns[2])
            if parent_view is not None:
                index = parent_view.children.index(left)
                parent_view.entries.insert(index, separator)
                parent_view.children.insert(index + 1, right)
                parent_view.lsn = lsn
        if view.opaque.next != P_NONE:
            sibling_view = self._cache.peek(self.rnode, view.opaque.next, split.before_lsns[-1])
            if sibling_view is not None:
                sibling_view.opaque = sibling_view.opaque._replace(prev=right)
                sibling_view.lsn = lsn

    # -- WAL-logged page changes ------------------------------------------------------------------

    def _log_change(self, info: int, changes: Sequence[tuple[Buffer, BlockOp]]) -> int:
        """Apply each op to its pinned page and log them as one record (a critical section).

        Returns the LSN now on every changed page: the record's end, or the fake LSN of a
        change whose WAL is skipped (wal_level=minimal, see access/env.py)."""
        registrations = [
            BlockRegistration(block_id, self.rnode, MAIN_FORKNUM, _block_of(buffer), buffer.page,
                              block_op.encode(),
                              REGBUF_STANDARD | (REGBUF_WILL_INIT if block_op.will_init else 0))
            for block_id, (buffer, block_op) in enumerate(changes)]
        buffers = [buffer for buffer, _ in changes]
        try:
            for buffer, block_op in changes:
                block_op.apply(buffer.page)
            self.change_logger.log(RM_MIRRORDB_BTREE_ID, info, b"", registrations, buffers)
        except InvariantViolation:
            raise       # the logger's own verdict, already naming the failure as its cause
        except BaseException as error:
            raise InvariantViolation(
                f'index "{self.name}": failure inside a WAL critical section; pages may be '
                "changed without WAL, the server must stop") from error
        return pagelib.get_lsn(buffers[0].page)

    # -- lookups ----------------------------------------------------------------------------------

    def find_equal(self, key: tuple[Any, ...]) -> list[HeapTid]:
        """Heap TIDs of the entries whose key equals ``key`` (NULL equals NULL here: a unique
        check must skip keys with NULLs itself, as PostgreSQL's does)."""
        if len(key) != self.natts:
            return [tid for _, tid in self.scan(key, key)]
        target = sort_key(key)
        found: list[HeapTid] = []
        with self.pool.lock:
            buffer, view, index = self._find_leaf(_after((target, MIN_TID)))
            while True:
                entries = view.entries
                while index < len(entries) and entries[index][0] == target:
                    found.append(entries[index][1])
                    index += 1
                next_block = view.opaque.next
                self.pool.release(buffer)
                if index < len(entries) or next_block == P_NONE or (
                        view.high is not None and view.high[0] != target):
                    return found
                buffer = self._pin(next_block)
                view, index = self._view(next_block, buffer.page), 0

    def scan(self, low: tuple[Any, ...] | None = None, high: tuple[Any, ...] | None = None,
             low_inclusive: bool = True, high_inclusive: bool = True,
             prefix_len: int | None = None, backward: bool = False
             ) -> Iterator[tuple[tuple[Any, ...], HeapTid]]:
        """Entries (key values, heap TID) with low <= key <= high, in index order (from the
        high end down when ``backward``: PostgreSQL's backward index scan).

        ``low``/``high`` may name only the first columns of the key; they are compared with that
        many leading key columns (``prefix_len`` of them when given). None is unbounded on that
        side; NULL keys sort last, so an unbounded high end includes them and a high bound of
        ``(None,)`` with ``high_inclusive=False`` stops before them.
        """
        low_key = self._bound(low, prefix_len)
        high_key = self._bound(high, prefix_len)
        cursor: _ScanCursor | _BackwardScanCursor
        if backward:
            start = _rightmost if high_key is None else _prefix_locator(high_key,
                                                                        not high_inclusive)
            stop = None if low_key is None else _prefix_locator(low_key, low_inclusive)
            cursor = _BackwardScanCursor(self, start, stop)
        else:
            start = _leftmost if low_key is None else _prefix_locator(low_key, low_inclusive)
            stop = None if high_key is None else _prefix_locator(high_key, not high_inclusive)
            cursor = _ScanCursor(self, start, stop, high_key, high_inclusive)
        while True:
            with self.pool.lock:
                batch = cursor.next_batch()
            if not batch:
                return
            yield from batch

    def _bound(self, bound: tuple[Any, ...] | None, prefix_len: int | None) -> SortKey | None:
        if bound is None:
            return None
        width = len(bound) if prefix_len is None else min(prefix_len, len(bound))
        if width > self.natts:
            invariant(False, f'bound of {width} columns on index "{self.name}"')
        return sort_key(bound[:width])

    def all_entries(self) -> list[tuple[tuple[Any, ...], HeapTid]]:
        return list(self.scan())

    # -- VACUUM -----------------------------------------------------------------------------------

    def bulk_delete(self, is_dead: Callable[[HeapTid], bool]) -> int:
        """Remove every entry whose heap TID ``is_dead``; one WAL record per changed leaf.

        Leaves are visited left to right, taking the lock per leaf (``is_dead`` runs under it).
        The next leaf is read from the current one's right-link *after* processing it, so entries
        that a split moves right in between are still visited.
        """
        removed = 0
        with self.pool.lock:
            buffer, _, _ = self._find_leaf(_leftmost)
            blkno = _block_of(buffer)
            self.pool.release(buffer)
        while blkno != P_NONE:
            with self.pool.lock:
                buffer = self._pin(blkno)
                try:
                    removed += self._vacuum_leaf(buffer, is_dead)
                    blkno = btpage.get_opaque(buffer.page).next
                finally:
                    self.pool.release(buffer)
        return removed

    def _vacuum_leaf(self, buffer: Buffer, is_dead: Callable[[HeapTid], bool]) -> int:
        view = self._view(_block_of(buffer), buffer.page)
        doomed = [index for index, (_, tid) in enumerate(view.entries) if is_dead(tid)]
        if not doomed:
            return 0
        first = view.first_data_offset
        view.lsn = self._log_change(XLOG_BTREE_VACUUM,
                                    [(buffer, DeleteItems([first + index for index in doomed]))])
        dead = set(doomed)
        view.entries = [entry for index, entry in enumerate(view.entries) if index not in dead]
        view.values = [values for index, values in enumerate(view.values) if index not in dead]
        return len(doomed)

    # -- verification -----------------------------------------------------------------------------

    def check(self) -> int:
        """Verify the whole structure from the bytes; raise DataCorrupted naming the block."""
        with self.pool.lock:
            return _Checker(self).run()

    # -- page access ------------------------------------------------------------------------------

    def _pin(self, blkno: int) -> Buffer:
        return self.pool.read_buffer(self.rnode, MAIN_FORKNUM, blkno)

    def _pin_into(self, pinned: list[Buffer], blkno: int) -> Buffer:
        buffer = self._pin(blkno)
        pinned.append(buffer)
        return buffer

    def _extend(self, pinned: list[Buffer]) -> Buffer:
        buffer = self.pool.extend(self.rnode, MAIN_FORKNUM)
        pinned.append(buffer)
        return buffer

    def _read_meta(self) -> MetaData:
        buffer = self._pin(BTREE_METAPAGE)
        try:
            lsn = pagelib.get_lsn(buffer.page)
            view = self._cache.get(self.rnode, BTREE_METAPAGE, lsn)
            if view is None:
                view = _MetaView(lsn, btpage.read_meta(buffer.page, self.name))
                self._cache.put(self.rnode, BTREE_METAPAGE, view)
            return view.meta
        finally:
            self.pool.release(buffer)

    def _find_leaf(self, locate: Locator) -> tuple[Buffer, PageView, int]:
        """Pin the leaf holding the first entry ``locate`` selects; return it with the index."""
        blkno = self._read_meta().root
        while True:
            buffer = self._pin(blkno)
            view = self._view(blkno, buffer.page)
            index = locate(view.entries)
            if view.is_leaf:
                return buffer, view, index
            self.pool.release(buffer)
            blkno = view.children[index]

    def _view(self, blkno: int, page: bytearray) -> PageView:
        lsn = pagelib.get_lsn(page)
        view = self._cache.get(self.rnode, blkno, lsn)
        if view is None:
            try:
                view = self._decode_page(page, lsn)
            except DataCorrupted as error:
                raise DataCorrupted(f'index "{self.name}" block {blkno}: {error.message}',
                                    detail=error.detail) from None
            self._cache.put(self.rnode, blkno, view)
        return view

    def _decode_page(self, page: bytearray, lsn: int) -> PageView:
        if pagelib.is_new(page) or pagelib.special_offset(page) != btpage.BT_SPECIAL_OFFSET:
            raise DataCorrupted("not a B-tree page")
        opaque = btpage.get_opaque(page)
        if opaque.flags & BTP_META:
            raise DataCorrupted("the metapage found inside the tree")
        first = P_HIKEY if opaque.next == P_NONE else P_FIRSTKEY
        last = pagelib.max_offset(page)
        high = None if first == P_HIKEY else self._pivot_entry(pagelib.get_item(page, P_HIKEY))
        if opaque.level == 0:
            entries, values = self._decode_leaf_items(page, first, last)
            return PageView(lsn, opaque, high, entries, values, [])
        pivots = [btpage.parse_tuple(pagelib.get_item(page, offnum))
                  for offnum in range(first, last + 1)]
        if not pivots or pivots[0].posid != 0:
            raise DataCorrupted("internal page without its minus-infinity item")
        entries = [self._pivot_entry_from(pivot) for pivot in pivots[1:]]
        return PageView(lsn, opaque, high, entries, [], [pivot.block for pivot in pivots])

    def _decode_leaf_items(self, page: bytearray, first: int,
                           last: int) -> tuple[list[Entry], list[tuple[Any, ...]]]:
        entries: list[Entry] = []
        values_list: list[tuple[Any, ...]] = []
        decode = self._codec.decode
        header = btpage.INDEX_TUPLE_HEADER
        bitmap_end = btpage.INDEX_TUPLE_HEADER_SIZE + btpage.NULL_BITMAP_SIZE
        for offnum in range(first, last + 1):
            offset, _, length = pagelib.get_item_id(page, offnum)
            item = bytes(page[offset:offset + length])
            if length < btpage.INDEX_TUPLE_HEADER_SIZE:
                raise DataCorrupted(f"leaf tuple at offset {offnum} is only {length} bytes")
            bi_hi, bi_lo, posid, info = header.unpack_from(item, 0)
            if info & btpage.INDEX_ALT_TID_MASK or info & btpage.INDEX_SIZE_MASK != length:
                raise DataCorrupted(f"malformed leaf tuple at offset {offnum}")
            if info & btpage.INDEX_NULL_MASK:
                values = decode(item[bitmap_end:],
                                item[btpage.INDEX_TUPLE_HEADER_SIZE:
                                     btpage.INDEX_TUPLE_HEADER_SIZE + self._bitmap_length])
            else:
                values = decode(item[btpage.INDEX_TUPLE_HEADER_SIZE:], None)
            entries.append((_sort_key_of(values), (bi_hi << 16 | bi_lo, posid)))
            values_list.append(values)
        return entries, values_list

    def _pivot_entry(self, item: bytes) -> Entry:
        return self._pivot_entry_from(btpage.parse_tuple(item))

    def _pivot_entry_from(self, pivot: btpage.IndexTuple) -> Entry:
        if not pivot.is_pivot or pivot.heap_tid is None or pivot.posid & btpage.BT_OFFSET_MASK \
                != self.natts:
            raise DataCorrupted("malformed pivot tuple")
        return sort_key(self._decode_payload(pivot)), pivot.heap_tid

    def _decode_payload(self, parsed: btpage.IndexTuple) -> tuple[Any, ...]:
        key_data, null_bitmap = btpage.split_payload(parsed.payload, parsed.has_nulls)
        if null_bitmap is not None:
            if any(null_bitmap[self._bitmap_length:]):
                raise DataCorrupted("null bitmap padding is not zero")
            null_bitmap = null_bitmap[:self._bitmap_length]
        return self._codec.decode(key_data, null_bitmap)


# ---------------------------------------------------------------------------------------------
# Scans


class _ScanCursor:
    """Where a scan stands between batches: the last entry returned and the leaf it came from.

    Each batch is taken under the pool lock: the rest of one leaf's matching entries. The next
    batch continues at the leaf's right sibling when that leaf has not changed since (its LSN is
    the same); otherwise it descends again for the first entry after the last one returned.
    """

    def __init__(self, tree: BTree, start: Locator, stop: Locator | None,
                 high_key: SortKey | None, high_inclusive: bool) -> None:
        self.tree = tree
        self.start = start
        self.stop = stop
        self.high_key = high_key
        self.high_inclusive = high_inclusive
        self.last: Entry | None = None
        self.leaf: tuple[int, int, int] | None = None   # (block, LSN, right-link) of last batch
        self.done = False

    def next_batch(self) -> list[tuple[tuple[Any, ...], HeapTid]]:
        tree = self.tree
        while not self.done:
            buffer, view, index = self._position()
            try:
                batch = self._take(_block_of(buffer), view, index)
            finally:
                tree.pool.release(buffer)
            if batch:
                return batch
        return []

    def _position(self) -> tuple[Buffer, PageView, int]:
        tree = self.tree
        if self.leaf is not None:
            blkno, lsn, next_block = self.leaf
            buffer = tree._pin(blkno)
            unchanged = pagelib.get_lsn(buffer.page) == lsn
            tree.pool.release(buffer)
            if unchanged:
                buffer = tree._pin(next_block)
                return buffer, tree._view(next_block, buffer.page), 0
        if self.last is None:
            return tree._find_leaf(self.start)
        return tree._find_leaf(_after(self.last))

    def _take(self, blkno: int, view: PageView,
              index: int) -> list[tuple[tuple[Any, ...], HeapTid]]:
        entries = view.entries
        end = len(entries) if self.stop is None else max(index, self.stop(entries))
        if end < len(entries) or view.opaque.next == P_NONE or self._high_key_ends(view):
            self.done = True
        else:
            self.leaf = (blkno, view.lsn, view.opaque.next)
        if end > index:
            self.last = entries[end - 1]
        return [(view.values[i], entries[i][1]) for i in range(index, end)]

    def _high_key_ends(self, view: PageView) -> bool:
        """True when the page's high key shows that no later page holds an entry in range."""
        if self.high_key is None or view.high is None:
            return False
        prefix = view.high[0][:len(self.high_key)]
        return prefix > self.high_key or (prefix == self.high_key and not self.high_inclusive)


class _BackwardScanCursor:
    """A backward scan's place between batches: the smallest entry it has returned.

    Each batch is taken under the pool lock: descend to the leaf where the entries before
    ``start`` (the first batch) or before the last entry returned end, walking left along the
    left-links past leaves with none of them (the lock keeps the links consistent while it is
    held), and return that leaf's entries in range, highest first. The next batch descends
    again, so it stays correct when the tree splits in between.
    """

    def __init__(self, tree: BTree, start: Locator, stop: Locator | None) -> None:
        self.tree = tree
        self.start = start
        self.stop = stop                  # the first entry in range (low bound), per page
        self.last: Entry | None = None
        self.done = False

    def next_batch(self) -> list[tuple[tuple[Any, ...], HeapTid]]:
        if self.done:
            return []
        tree = self.tree
        locate = self.start if self.last is None else _before(self.last)
        buffer, view, end = tree._find_leaf(locate)
        while end == 0:                   # nothing before the place on this leaf: go left
            previous = view.opaque.prev
            tree.pool.release(buffer)
            if previous == P_NONE:
                self.done = True
                return []
            buffer = tree._pin(previous)
            view = tree._view(previous, buffer.page)
            end = locate(view.entries)
        try:
            return self._take(view, end)
        finally:
            tree.pool.release(buffer)

    def _take(self, view: PageView, end: int) -> list[tuple[tuple[Any, ...], HeapTid]]:
        entries = view.entries
        invariant(self.last is None or entries[end - 1] < self.last,
                  f'backward scan of "{self.tree.name}" did not move below its last entry')
        begin = 0 if self.stop is None else min(end, self.stop(entries))
        if begin > 0 or view.opaque.prev == P_NONE or begin == end:
            self.done = True
        if begin < end:
            self.last = entries[begin]
        return [(view.values[i], entries[i][1]) for i in range(end - 1, begin - 1, -1)]


# ---------------------------------------------------------------------------------------------
# Verification


class _Checker:
    """amcheck for one tree: walks every level left to right and checks it against the next.

    Checked: the metapage; per page its header, flags, level and sibling links; items in
    strictly increasing order, each below the page's high key and at or above the left
    sibling's high key; each level's chain equals the downlinks of the level above in order;
    each downlink's key equals the child's lower bound. Returns the number of leaf entries.
    """

    def __init__(self, tree: BTree) -> None:
        self.tree = tree
        self.nblocks = tree.pool.nblocks(tree.rnode, MAIN_FORKNUM)

    def fail(self, blkno: int, message: str) -> DataCorrupted:
        return DataCorrupted(f'index "{self.tree.name}" block {blkno}: {message}')

    def run(self) -> int:
        tree = self.tree
        buffer = tree._pin(BTREE_METAPAGE)
        try:
            meta = btpage.read_meta(buffer.page, tree.name)
        finally:
            tree.pool.release(buffer)
        if not BTREE_METAPAGE < meta.root < self.nblocks:
            raise self.fail(BTREE_METAPAGE, f"root block {meta.root} outside the file")
        level = meta.level
        pages = self._check_level(level, [meta.root], [None], meta)
        while level > 0:
            level -= 1
            level_pages: list[int] = []
            lower_bounds: list[Entry | None] = []
            for page in pages:
                level_pages += page.children
                lower_bounds += [page.lower] + page.entries
            pages = self._check_level(level, level_pages, lower_bounds, meta)
        return sum(len(page.entries) for page in pages)

    def _check_level(self, level: int, expected: list[int], lower_bounds: list[Entry | None],
                     meta: MetaData) -> list[_CheckedPage]:
        pages: list[_CheckedPage] = []
        blkno, prev = expected[0], P_NONE
        lower: Entry | None = None
        while blkno != P_NONE:
            if len(pages) >= len(expected) or blkno != expected[len(pages)]:
                raise self.fail(blkno, f"level {level} sibling chain does not match the "
                                       "downlinks of the level above")
            if lower != lower_bounds[len(pages)]:
                raise self.fail(blkno, "downlink key differs from the left sibling's high key")
            page = self._check_page(blkno, level, prev, lower, meta)
            pages.append(page)
            prev, lower, blkno = blkno, page.high, page.next
        if len(pages) != len(expected):
            raise self.fail(prev, f"level {level} ends before its last downlink")
        return pages

    def _check_page(self, blkno: int, level: int, prev: int, lower: Entry | None,
                    meta: MetaData) -> _CheckedPage:
        if not BTREE_METAPAGE < blkno < self.nblocks:
            raise self.fail(prev, f"link to block {blkno} outside the file")
        tree = self.tree
        buffer = tree._pin(blkno)
        try:
            page = bytes(buffer.page)
        finally:
            tree.pool.release(buffer)
        try:
            return self._check_page_bytes(blkno, page, level, prev, lower, meta)
        except DataCorrupted as error:
            if error.message.startswith(f'index "{tree.name}" block'):
                raise
            raise self.fail(blkno, error.message) from None

    def _check_page_bytes(self, blkno: int, page: bytes, level: int, prev: int,
                          lower: Entry | None, meta: MetaData) -> _CheckedPage:
        pagelib.verify_header(page, f"block {blkno}")
        if pagelib.special_offset(page) != btpage.BT_SPECIAL_OFFSET:
            raise self.fail(blkno, "special space is not a B-tree page's")
        opaque = btpage.get_opaque(page)
        expected_flags = (BTP_LEAF if level == 0 else 0) | (BTP_ROOT if blkno == meta.root else 0)
        if opaque.flags != expected_flags:
            raise self.fail(blkno, f"flags {opaque.flags:#x}, expected {expected_flags:#x}")
        if opaque.level != level:
            raise self.fail(blkno, f"level {opaque.level}, expected {level}")
        if opaque.prev != prev:
            raise self.fail(blkno, f"left-link {opaque.prev}, expected {prev}")
        checked = self._check_items(blkno, page, opaque)
        if lower is not None and checked.entries and checked.entries[0] < lower:
            raise self.fail(blkno, "first item is below the left sibling's high key")
        checked.lower = lower
        return checked

    def _check_items(self, blkno: int, page: bytes, opaque: Opaque) -> _CheckedPage:
        tree = self.tree
        first = btpage.first_data_offset(page)
        parsed = [btpage.parse_tuple(pagelib.get_item(page, offnum))
                  for offnum in range(first, pagelib.max_offset(page) + 1)]
        for offnum in range(1, pagelib.max_offset(page) + 1):
            if not pagelib.item_is_normal(page, offnum):
                raise self.fail(blkno, f"line pointer {offnum} is not normal")
        high = None
        if opaque.next != P_NONE:
            high = tree._pivot_entry(pagelib.get_item(page, P_HIKEY))
        children: list[int] = []
        if opaque.level == 0:
            entries = [self._leaf_entry(blkno, item) for item in parsed]
        else:
            if not parsed or parsed[0].posid != 0 or not parsed[0].is_pivot:
                raise self.fail(blkno, "internal page lacks its minus-infinity item")
            entries = [tree._pivot_entry_from(item) for item in parsed[1:]]
            children = [item.block for item in parsed]
        for index in range(1, len(entries)):
            if not entries[index - 1] < entries[index]:
                raise self.fail(blkno, f"items at data index {index - 1} and {index} are out of "
                                       "order")
        if high is not None and entries and not entries[-1] < high:
            raise self.fail(blkno, "last item is not below the high key")
        return _CheckedPage(opaque.next, high, entries, children)

    def _leaf_entry(self, blkno: int, item: btpage.IndexTuple) -> Entry:
        if item.is_pivot or item.heap_tid is None:
            raise self.fail(blkno, "pivot tuple on a leaf page")
        return sort_key(self.tree._decode_payload(item)), item.heap_tid


@dataclass(slots=True)
class _CheckedPage:
    next: int
    high: Entry | None
    entries: list[Entry]
    children: list[int]
    lower: Entry | None = None


def register() -> None:
    """Install the B-tree redo routine (done at import; calling again is harmless)."""
    register_redo(RM_MIRRORDB_BTREE_ID, btree_redo)


register()
