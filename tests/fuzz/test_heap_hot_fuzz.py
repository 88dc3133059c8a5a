"""Hypothesis fuzz of the page-level HOT functions (access/heapam.py) against a simple model.

Random sequences of insert, HOT update, non-HOT update (the successor on another page), delete,
commit/abort of the transactions that made them, taking and dropping snapshots, pruning and
VACUUM's page pass run on one heap page. The model keeps each row's versions, the commit log and
the snapshots; after every step, each snapshot must see through each row's root line pointer
exactly the version the model says (at most one chain member visible), pruning must never take
a version some snapshot still sees, and a copy of the page that only ever got what the WAL
records carry (PRUNE encoded and decoded, UPDATE/DELETE arguments) must be byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.access import heapam
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib
from tests.unit.test_heap_hot import new_heap_page, version

BLKNO = 0
OTHER_BLKNO = 7          # where a non-HOT update's successor goes (not modelled further)
FIRST_XID = 100
MAX_STEPS = 60


@dataclass
class Version:
    xmin: int
    offnum: int | None             # None: the successor of a non-HOT update, on another page
    xmax: int = 0


@dataclass
class Row:
    versions: list[Version]


@dataclass
class Snapshot:
    xmin: int
    committed: frozenset[int]

    def sees(self, xid: int) -> bool:
        return xid in self.committed


@dataclass
class Model:
    page: bytearray = field(default_factory=new_heap_page)
    copy: bytearray = field(default_factory=new_heap_page)     # what redo would make
    rows: dict[int, Row] = field(default_factory=dict)        # by root offnum
    next_xid: int = FIRST_XID
    running: set[int] = field(default_factory=set)
    committed: set[int] = field(default_factory=set)
    snapshots: list[Snapshot] = field(default_factory=list)

    # -- transactions -----------------------------------------------------------------------

    def begin(self) -> int:
        xid = self.next_xid
        self.next_xid += 1
        self.running.add(xid)
        return xid

    def end(self, xid: int, commit: bool) -> None:
        self.running.discard(xid)
        if commit:
            self.committed.add(xid)

    def settle(self, xid: int, fate: str) -> None:
        """Commit, abort, or leave running (``finish`` ends it later) an operation's xid."""
        if fate != "open":
            self.end(xid, fate == "commit")

    def take_snapshot(self) -> None:
        xmin = min(self.running, default=self.next_xid)
        self.snapshots.append(Snapshot(xmin, frozenset(self.committed)))

    def horizon(self) -> int:
        return min([self.next_xid, *self.running, *(s.xmin for s in self.snapshots)])

    def status(self, horizon: int) -> heapam.VersionStatus:
        """vacuum.py's rules over the model's commit log."""
        def status(xmin: int, xmax: int) -> tuple[str, int]:
            if xmin in self.running:
                return "inserting", 0
            if xmin not in self.committed:
                return "dead", 0
            if not xmax or xmax not in self.committed:
                return "live", 0
            return ("dead", xmax) if xmax < horizon else ("recently_dead", 0)
        return status

    # -- page operations (each applied to the page and, from its record's fields, the copy) ---

    def place(self, xid: int, heap_only: bool) -> int | None:
        """Store a new version made by ``xid`` on both pages (INSERT's and HOT_UPDATE's redo
        store the same bytes): its offset, or None when the page is full."""
        stored = bytearray(version(xid, b"v%d" % xid, heap_only))
        if not heapam._fits(self.page, len(stored)):
            return None
        offnum = heapam.choose_offset(self.page)
        if heap_only:
            tuplelib.set_infomask_flags(stored, 0, tuplelib.HEAP_UPDATED)
        tuplelib.set_ctid(stored, 0, BLKNO, offnum)
        for page in (self.page, self.copy):
            heapam.page_insert(page, offnum, bytes(stored), False)
        return offnum

    def insert(self, fate: str) -> None:
        xid = self.begin()
        offnum = self.place(xid, heap_only=False)
        if offnum is None:
            self.end(xid, False)
            return
        self.rows[offnum] = Row([Version(xid, offnum)])
        self.settle(xid, fate)

    def updatable(self) -> list[int]:
        """Roots of rows whose newest version is on the page, committed, and not deleted."""
        found = []
        for root, row in self.rows.items():
            last = row.versions[-1]
            if last.offnum is not None and last.xmin in self.committed and (
                    not last.xmax or (last.xmax not in self.committed
                                      and last.xmax not in self.running)):
                found.append(root)
        return found

    def update(self, root: int, hot: bool, fate: str) -> None:
        row = self.rows[root]
        old = row.versions[-1]
        xid = self.begin()
        assert old.offnum is not None
        if hot:
            offnum = self.place(xid, heap_only=True)
            if offnum is None:
                self.end(xid, False)
                return
            new_tid: tuple[int, int] = (BLKNO, offnum)
            for page in (self.page, self.copy):       # HOT_UPDATE's redo does the same
                heapam.page_set_xmax(page, old.offnum, xid, 0, 0, new_tid, True)
            new = Version(xid, offnum)
        else:
            new_tid = (OTHER_BLKNO, 1)
            for page in (self.page, self.copy):       # UPDATE's redo of the old page
                heapam.page_set_xmax(page, old.offnum, xid, 0, 0, new_tid, False)
            new = Version(xid, None)
        old.xmax = xid
        row.versions.append(new)
        self.settle(xid, fate)

    def delete(self, root: int, fate: str) -> None:
        old = self.rows[root].versions[-1]
        assert old.offnum is not None
        xid = self.begin()
        for page in (self.page, self.copy):
            heapam.page_set_xmax(page, old.offnum, xid, 0, 0, None, False)
        old.xmax = xid
        self.settle(xid, fate)

    def prune(self) -> None:
        """Opportunistic pruning (HeapAccess._prune_page)."""
        plan = heapam.plan_prune(self.page, self.status(self.horizon()))
        if plan.changes_page() or plan.new_prune_xid != pagelib.get_prune_xid(self.page):
            self.log_prune(plan.latest_removed_xid, plan.redirected, plan.dead, plan.unused,
                           plan.new_prune_xid)

    def vacuum(self) -> None:
        """VACUUM's passes on the page, every dead root's index entries removed in between
        (HeapAccess.vacuum_page with all of them cleaned)."""
        horizon = self.horizon()
        first = heapam.plan_prune(self.page, self.status(horizon))
        cleaned = set(first.dead + first.already_dead)
        plan = heapam.plan_prune(self.page, self.status(horizon))
        freed = [o for o in plan.dead + plan.already_dead if o in cleaned]
        dead = [o for o in plan.dead if o not in cleaned]
        if plan.redirected or dead or plan.unused or freed:
            self.log_prune(plan.latest_removed_xid, plan.redirected, dead,
                           sorted(plan.unused + freed), plan.new_prune_xid)
        for root in freed:          # its index entries are gone: the row is no more
            self.check_root_invisible(root)
            del self.rows[root]

    def log_prune(self, latest_removed_xid: int, redirected: list[tuple[int, int]],
                  dead: list[int], unused: list[int], new_prune_xid: int) -> None:
        heapam.page_prune(self.page, redirected, dead, unused, new_prune_xid)
        main, data = heapam.encode_prune(latest_removed_xid, redirected, dead, unused,
                                         new_prune_xid)
        _, redo_redirected, redo_dead, redo_unused, redo_prune_xid = heapam.decode_prune(
            main, data)
        heapam.page_prune(self.copy, redo_redirected, redo_dead, redo_unused, redo_prune_xid)
        pruned = {o for o, _ in redirected} | set(dead) | set(unused)
        for root, row in self.rows.items():            # no live row's version may go
            for member in row.versions:
                if member.offnum in pruned and member.offnum != root:
                    assert not any(self.visible(s, member) for s in self.snapshots)

    # -- checks -------------------------------------------------------------------------------

    def visible(self, snapshot: Snapshot, member: Version) -> bool:
        return snapshot.sees(member.xmin) and not (member.xmax and snapshot.sees(member.xmax))

    def check_root_invisible(self, root: int) -> None:
        for snapshot in self.snapshots:
            assert not any(self.visible(snapshot, v) for v in self.rows[root].versions
                           if v.offnum is not None)     # a successor elsewhere lives on

    def check(self) -> None:
        assert self.page == self.copy
        latest = Snapshot(self.next_xid, frozenset(self.committed))
        for snapshot in [*self.snapshots, latest]:
            for root, row in self.rows.items():
                expected = [v for v in row.versions if self.visible(snapshot, v)]
                assert len(expected) <= 1
                seen = []
                for offnum in heapam.hot_chain(self.page, root):
                    header = tuplelib.read_header(pagelib.get_item(self.page, offnum))
                    if snapshot.sees(header.xmin) and not (
                            header.xmax and snapshot.sees(header.xmax)):
                        seen.append(offnum)
                want = [v.offnum for v in expected if v.offnum is not None]
                assert seen == want, (root, snapshot, row)


# weighted by repetition: mostly committed HOT updates, so chains grow and pruning redirects
OPERATIONS = st.sampled_from(["insert", "insert", "hot", "hot", "hot", "hot", "cold", "delete",
                              "snapshot", "drop", "finish", "finish", "prune", "prune",
                              "vacuum"])
FATES = st.sampled_from(["commit"] * 6 + ["abort", "open"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(OPERATIONS, st.integers(0, 1000), st.booleans(), FATES),
                min_size=1, max_size=MAX_STEPS))
def test_hot_page_operations_match_the_model(steps: list[tuple[str, int, bool, str]]) -> None:
    model = Model()
    for name, pick, flag, fate in steps:
        roots = model.updatable()
        if name == "insert":
            model.insert(fate)
        elif name in ("hot", "cold", "delete") and roots:
            root = roots[pick % len(roots)]
            if name == "delete":
                model.delete(root, fate)
            else:
                model.update(root, name == "hot", fate)
        elif name == "snapshot":
            model.take_snapshot()
        elif name == "drop" and model.snapshots:
            model.snapshots.pop(pick % len(model.snapshots))
        elif name == "finish" and model.running:
            model.end(sorted(model.running)[pick % len(model.running)], flag)
        elif name == "prune":
            model.prune()
        elif name == "vacuum":
            model.vacuum()
        model.check()
