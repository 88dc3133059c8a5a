"""HOT page functions (access/heapam.py): chains, pruning plans, the pruned page's line pointers,
and the same bytes when redo applies the plan to a copy."""

from __future__ import annotations

from mirrordb.access import heapam
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib

BLKNO = 0


def version(xmin: int, payload: bytes, heap_only: bool) -> bytes:
    item = bytearray(tuplelib.form_tuple(xmin, 0, 1, payload, None))
    if heap_only:
        tuplelib.set_hot_flags(item, 0, tuplelib.HEAP_ONLY_TUPLE)
    return bytes(item)


def place(page: bytearray, xmin: int, payload: bytes, heap_only: bool = False) -> int:
    offnum = heapam.choose_offset(page)
    item = bytearray(version(xmin, payload, heap_only))
    tuplelib.set_ctid(item, 0, BLKNO, offnum)
    heapam.page_insert(page, offnum, bytes(item), False)
    return offnum


def hot_update(page: bytearray, old: int, xid: int, payload: bytes) -> int:
    new = place(page, xid, payload, heap_only=True)
    heapam.page_set_xmax(page, old, xid, 0, 0, (BLKNO, new), hot_updated=True)
    return new


def new_heap_page() -> bytearray:
    page = pagelib.new_page()
    pagelib.page_init(page)
    return page


def statuses(verdicts: dict[int, str]) -> heapam.VersionStatus:
    """status(xmin, xmax) from each version's xmin (the tests give every version its own)."""
    def status(xmin: int, xmax: int) -> tuple[str, int]:
        verdict = verdicts.get(xmin, "live")
        return verdict, xmax if verdict == "dead" else 0
    return status


def test_hot_bits_survive_read_header() -> None:
    item = version(5, b"abcd", heap_only=True)
    assert tuplelib.read_header(item).infomask2_flags == tuplelib.HEAP_ONLY_TUPLE


def test_chain_follows_heap_only_successors_and_skips_stale_starts() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    second = hot_update(page, root, 11, b"v2")
    third = hot_update(page, second, 12, b"v3")
    assert heapam.hot_chain(page, root) == [root, second, third]
    assert heapam.hot_chain(page, second) == []        # heap-only: not a chain start
    assert heapam.chain_roots(page) == {root: [root, second, third]}


def test_chain_stops_where_xmin_is_not_the_prior_xmax() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    second = hot_update(page, root, 11, b"v2")
    heapam.page_set_xmax(page, root, 99, 0, 0, (BLKNO, second), hot_updated=True)
    assert heapam.hot_chain(page, root) == [root]


def test_non_hot_update_and_delete_clear_hot_updated() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    hot_update(page, root, 11, b"v2")               # say 11 aborted
    heapam.page_set_xmax(page, root, 12, 0, 0, None)     # then a delete
    lp_off = pagelib.get_item_id(page, root)[0]
    assert not tuplelib.get_infomask2(page, lp_off) & tuplelib.HEAP_HOT_UPDATED


def test_dead_prefix_redirects_the_root_and_frees_heap_only_members() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    second = hot_update(page, root, 11, b"v2")
    third = hot_update(page, second, 12, b"v3")
    plan = heapam.plan_prune(page, statuses({10: "dead", 11: "dead"}))
    assert (plan.redirected, plan.dead, plan.unused) == ([(root, third)], [], [second])
    assert plan.removed == 2 and plan.remaining == 1 and plan.latest_removed_xid == 12
    assert pagelib.get_prune_xid(page) == 11 and plan.new_prune_xid == 0
    copy = bytearray(page)
    heapam.page_prune(page, plan.redirected, plan.dead, plan.unused,
                      plan.new_prune_xid)
    heapam.page_prune(copy, plan.redirected, plan.dead, plan.unused,
                      plan.new_prune_xid)
    assert page == copy                                  # redo's bytes
    assert pagelib.get_item_id(page, root) == (third, pagelib.LP_REDIRECT, 0)
    assert pagelib.get_item_id(page, second)[1] == pagelib.LP_UNUSED
    assert heapam.hot_chain(page, root) == [third]
    # a later update through the redirect extends the chain; pruning again moves the redirect
    fourth = hot_update(page, third, 13, b"v4")
    assert fourth == second                              # the freed line pointer is reused
    assert heapam.hot_chain(page, root) == [third, fourth]
    plan = heapam.plan_prune(page, statuses({12: "dead"}))
    assert (plan.redirected, plan.dead, plan.unused) == ([(root, fourth)], [], [third])


def test_wholly_dead_chain_leaves_a_dead_root() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    second = hot_update(page, root, 11, b"v2")
    heapam.page_set_xmax(page, second, 12, 0, 0, None)
    plan = heapam.plan_prune(page, statuses({10: "dead", 11: "dead"}))
    assert (plan.redirected, plan.dead, plan.unused) == ([], [root], [second])
    heapam.page_prune(page, plan.redirected, plan.dead, plan.unused,
                      plan.new_prune_xid)
    assert pagelib.get_item_id(page, root) == (0, pagelib.LP_DEAD, 0)
    assert heapam.plan_prune(page, statuses({})).already_dead == [root]
    assert heapam.hot_chain(page, root) == []


def test_recently_dead_members_stay_and_live_ones_stop_the_walk() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    second = hot_update(page, root, 11, b"v2")
    hot_update(page, second, 12, b"v3")
    plan = heapam.plan_prune(page, statuses({10: "recently_dead", 11: "live", 12: "inserting"}))
    assert not plan.changes_page()
    assert (plan.remaining, plan.recently_dead, plan.inserting) == (3, 1, 1)


def test_aborted_heap_only_orphan_is_freed() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    second = hot_update(page, root, 11, b"v2")           # 11 aborted: root stays live
    plan = heapam.plan_prune(page, statuses({11: "dead"}))
    assert (plan.redirected, plan.dead, plan.unused) == ([], [], [second])


def test_same_datum_is_stored_equality() -> None:
    from decimal import Decimal
    assert heapam._same_datum(1, 1) and heapam._same_datum(None, None)
    assert not heapam._same_datum(Decimal("1.0"), Decimal("1.00"))
    assert not heapam._same_datum(1, None) and not heapam._same_datum(1, 1.0)


def test_prune_xid_is_the_oldest_xmax_that_stays() -> None:
    page = new_heap_page()
    root = place(page, 10, b"v1")
    other = place(page, 20, b"w1")
    second = hot_update(page, root, 11, b"v2")
    hot_update(page, other, 21, b"w2")
    assert pagelib.get_prune_xid(page) == 11
    plan = heapam.plan_prune(page, statuses({10: "dead", 20: "recently_dead"}))
    assert plan.redirected == [(root, second)] and plan.new_prune_xid == 21
    heapam.page_prune(page, plan.redirected, plan.dead, plan.unused,
                      plan.new_prune_xid)
    assert pagelib.get_prune_xid(page) == 21


def test_hot_updates_count_in_n_tup_hot_upd_through_savepoints_and_aborts() -> None:
    from mirrordb.access.pgstat import TableStatistics, TransactionCounts
    statistics = TableStatistics()
    counts = TransactionCounts()
    counts.count_update(1, hot=True)
    counts.savepoint()
    counts.count_update(1, hot=True)
    counts.count_update(1)
    counts.release_to(1)
    counts.savepoint()
    counts.count_update(1, hot=True)
    statistics.report_aborted(counts.rollback_to(1))    # counted, as PostgreSQL counts them
    statistics.report_commit(counts)
    entry = statistics.entry(1)
    assert entry is not None and (entry.n_tup_upd, entry.n_tup_hot_upd) == (4, 3)
