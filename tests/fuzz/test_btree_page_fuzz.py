"""Hypothesis tests of the B-tree's pure page functions and WAL block op codec.

Random sequences of page changes, each run the way the primary runs it (``op.apply``) and the way
redo runs it (``decode_block_op(op.encode()).apply`` on a copy of the page before the change):
the two pages must be byte-identical, the data items must match a plain list model, the header
must stay valid and the hole zero. Garbage fed to the decoders may raise only their corruption
error.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.access import nbtree_page as btpage
from mirrordb.access import nbtree_xlog as btxlog
from mirrordb.access.nbtree_page import BTP_LEAF, Opaque
from mirrordb.common.errors import DataCorrupted, WalCorrupted
from mirrordb.storage import page as pagelib

item_lengths = st.integers(min_value=0, max_value=btpage.BTREE_MAX_ITEM_SIZE
                           - btpage.INDEX_TUPLE_HEADER_SIZE)


def make_item(serial: int, payload_length: int) -> bytes:
    return btpage.make_leaf_tuple((serial, serial % 0xFFFF + 1), False,
                                  bytes([serial % 251]) * payload_length)


operations = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10_000), item_lengths),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 10_000), max_size=6)),
    st.tuples(st.just("split"), st.integers(0, 10_000), st.integers(0, 10_000), item_lengths,
              st.booleans()),
    st.tuples(st.just("set_prev"), st.integers(0, 2**32 - 1)),
), max_size=40)


def check_page(page: bytearray, model: list[bytes]) -> None:
    pagelib.verify_header(page)
    lower, upper = pagelib.lower_upper(page)
    assert page[lower:upper] == bytes(upper - lower)
    assert btpage.data_items(page) == model


def run_as_primary_and_redo(page: bytearray, block_op: btxlog.BlockOp) -> None:
    replica = bytearray(page)
    block_op.apply(page)
    btxlog.decode_block_op(block_op.encode()).apply(replica)
    assert replica == page


@settings(max_examples=150, deadline=None)
@given(operations, st.lists(item_lengths, max_size=20))
def test_page_changes_are_deterministic_and_keep_invariants(
        script: list[tuple], initial_lengths: list[int]) -> None:
    serial = 0
    model: list[bytes] = []
    for length in initial_lengths:
        serial += 1
        candidate = model + [make_item(serial, length)]
        if sum(btpage.item_space(len(item)) for item in candidate) <= btpage.BTREE_USABLE_SIZE:
            model = candidate
    page = pagelib.new_page()
    run_as_primary_and_redo(page, btxlog.BuildPage(Opaque(0, 0, 0, BTP_LEAF), None, model))
    check_page(page, model)
    for step in script:
        serial += 1
        model = apply_step(page, model, step, serial)
        check_page(page, model)


def apply_step(page: bytearray, model: list[bytes], step: tuple, serial: int) -> list[bytes]:
    kind = step[0]
    first = btpage.first_data_offset(page)
    if kind == "insert":
        item = make_item(serial, step[2])
        if not btpage.fits(page, len(item)):
            return model
        position = step[1] % (len(model) + 1)
        run_as_primary_and_redo(page, btxlog.InsertItem(first + position, item))
        return model[:position] + [item] + model[position:]
    if kind == "delete":
        if not model:
            return model
        doomed = sorted({index % len(model) for index in step[1]})
        run_as_primary_and_redo(page, btxlog.DeleteItems([first + index for index in doomed]))
        return [item for index, item in enumerate(model) if index not in doomed]
    if kind == "split":
        return apply_split(page, model, step, serial)
    run_as_primary_and_redo(page, btxlog.SetPrev(step[1]))
    assert btpage.get_opaque(page).prev == step[1]
    return model


def apply_split(page: bytearray, model: list[bytes], step: tuple, serial: int) -> list[bytes]:
    _, keep_seed, index_seed, length, with_new = step
    keep_count = keep_seed % (len(model) + 1)
    high = btpage.pivot_from_leaf(make_item(serial, length // 2), 1)
    kept = model[:keep_count]
    new_index = None
    new_item = b""
    if with_new:
        new_item = make_item(serial + 1, length // 2)
        new_index = index_seed % (keep_count + 1)
        kept = kept[:new_index] + [new_item] + kept[new_index:]
    used = sum(btpage.item_space(len(item)) for item in kept + [high])
    if used > btpage.BTREE_USABLE_SIZE:
        return model
    run_as_primary_and_redo(page, btxlog.SplitLeft(serial, BTP_LEAF, high, keep_count, new_index,
                                                   new_item))
    assert btpage.high_key(page) == high and btpage.get_opaque(page).next == serial
    return kept


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_block_op_decoder_raises_only_wal_corrupted(data: bytes) -> None:
    try:
        btxlog.decode_block_op(data)
    except WalCorrupted:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(range(1, 7))), st.binary(max_size=120))
def test_decoded_garbage_applies_or_raises_data_corrupted(op_code: int, body: bytes) -> None:
    try:
        block_op = btxlog.decode_block_op(bytes([op_code]) + body)
    except WalCorrupted:
        return
    page = pagelib.new_page()
    btpage.build_page(page, Opaque(0, 5, 0, BTP_LEAF), make_item(9, 3),
                      [make_item(n, n) for n in range(1, 8)])
    try:
        block_op.apply(page)
    except DataCorrupted:
        return
    pagelib.verify_header(page)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_parse_tuple_raises_only_data_corrupted(data: bytes) -> None:
    try:
        parsed = btpage.parse_tuple(data)
    except DataCorrupted:
        return
    assert len(data) >= btpage.INDEX_TUPLE_HEADER_SIZE and parsed.is_pivot in (True, False)
