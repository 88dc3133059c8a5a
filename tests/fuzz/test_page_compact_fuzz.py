"""Page compaction (storage/page.py's ``set_unused``, ``prune_line_pointers``, ``delete_items``,
``compact``), which VACUUM and pruning on the primary and redo (heap prune, B-tree delete) share,
lays out the page exactly as a plain reference of PostgreSQL's PageRepairFragmentation does: line
pointers kept, each item with storage placed downward from pd_special in descending order of its
current lp_off (physical order), MAXALIGNed with zero padding, the hole zero.

Pages are built by random adds, removals and line pointer reuse, so offset order and physical
order differ. Contiguous pages (every page the code builds) take the gap-closing fast path; pages
with holes (storage dropped without compaction, as an older or foreign page may have) take the
general path; where the fast path applies, both give the same bytes."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.storage import page as pagelib

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_WORD = struct.Struct("<I")


def _words(page: bytearray) -> list[int]:
    return [_WORD.unpack_from(page, pagelib.PAGE_HEADER_SIZE + 4 * index)[0]
            for index in range(pagelib.max_offset(page))]


def _has_storage(word: int) -> bool:
    return bool(word >> 17) and (word >> 15) & 0x3 in (pagelib.LP_NORMAL, pagelib.LP_DEAD)


def _reference_layout(page: bytearray, words: list[int], flags: int) -> bytes:
    """The compacted page of ``page`` with line pointers ``words`` (already edited), built
    one item at a time into a fresh copy, highest lp_off first."""
    special = struct.unpack_from("<H", page, 16)[0]
    out = bytearray(page)
    lower = pagelib.PAGE_HEADER_SIZE + 4 * len(words)
    upper = special
    new_words = list(words)
    out[lower:special] = bytes(special - lower)
    physical = sorted((word & 0x7FFF, index) for index, word in enumerate(words)
                      if _has_storage(word))
    for start, index in reversed(physical):
        length = words[index] >> 17
        upper -= pagelib.maxalign(length)
        out[upper:upper + length] = page[start:start + length]
        new_words[index] = upper | (words[index] & ~0x7FFF)
    for index, word in enumerate(new_words):
        _WORD.pack_into(out, pagelib.PAGE_HEADER_SIZE + 4 * index, word)
    struct.pack_into("<HHH", out, 10, flags, lower, upper)
    return bytes(out)


def _is_contiguous(page: bytearray) -> bool:
    _, upper = pagelib.lower_upper(page)
    special = pagelib.special_offset(page)
    size = sum(pagelib.maxalign(word >> 17) for word in _words(page) if _has_storage(word))
    return size == special - upper


def _flags_after(page: bytearray, words: list[int]) -> int:
    has_free = any(not (word >> 15) & 0x3 for word in words)
    flags = struct.unpack_from("<H", page, 10)[0]
    return flags | pagelib.PD_HAS_FREE_LINES if has_free else flags & ~pagelib.PD_HAS_FREE_LINES


def _trimmed(words: list[int]) -> list[int]:
    while words and words[-1] == 0:
        words.pop()
    return words


@st.composite
def built_pages(draw: st.DrawFn) -> bytearray:
    """A page as the code builds it: adds (reusing unused line pointers), removals that compact,
    some items marked LP_DEAD keeping their storage."""
    page = bytearray(pagelib.BLCKSZ)
    pagelib.page_init(page, draw(st.sampled_from([0, 16])))
    for _ in range(draw(st.integers(1, 80))):
        item = bytes([draw(st.integers(1, 255))]) * draw(st.integers(1, 300))
        if not pagelib.add_item(page, item):
            break
        if draw(st.booleans()) and pagelib.max_offset(page) > 1:
            victims = draw(st.lists(st.integers(1, pagelib.max_offset(page)), max_size=6))
            pagelib.set_unused(page, [victim for victim in set(victims)
                                      if pagelib.item_is_normal(page, victim)])
    if not pagelib.max_offset(page):
        pagelib.add_item(page, b"last")
    for offnum in draw(st.lists(st.integers(1, pagelib.max_offset(page)), max_size=3)):
        lp_off, lp_flags, lp_len = pagelib.get_item_id(page, offnum)
        if lp_flags == pagelib.LP_NORMAL:
            pagelib.set_item_id(page, offnum, lp_off, pagelib.LP_DEAD, lp_len)
    return page


@st.composite
def pages_with_holes(draw: st.DrawFn) -> bytearray:
    """A built page whose storage is no longer contiguous: some items' line pointers dropped
    (LP_UNUSED) without compaction, their bytes left where they were."""
    page = draw(built_pages())
    with_storage = [offnum for offnum, word in enumerate(_words(page), 1) if _has_storage(word)]
    if with_storage:
        for offnum in draw(st.lists(st.sampled_from(with_storage), min_size=1, unique=True)):
            pagelib.set_item_id(page, offnum, 0, pagelib.LP_UNUSED, 0)
    return page


def _check_set_unused(page: bytearray, data: st.DataObject) -> None:
    words = _words(page)
    normal = [offnum for offnum in range(1, len(words) + 1)
              if (words[offnum - 1] >> 15) & 0x3 == pagelib.LP_NORMAL]
    doomed = data.draw(st.lists(st.sampled_from(normal), unique=True) if normal
                       else st.just([]))
    for offnum in doomed:
        words[offnum - 1] = 0
    words = _trimmed(words)
    expected = _reference_layout(page, words, _flags_after(page, words))
    pagelib.set_unused(page, doomed)
    assert bytes(page) == expected


def _check_delete_items(page: bytearray, data: st.DataObject) -> None:
    words = _words(page)
    doomed = data.draw(st.lists(st.integers(1, len(words)), unique=True))
    kept = [word for offnum, word in enumerate(words, 1) if offnum not in doomed]
    expected = _reference_layout(page, kept, struct.unpack_from("<H", page, 10)[0])
    pagelib.delete_items(page, doomed)
    assert bytes(page) == expected


def _check_prune(page: bytearray, data: st.DataObject) -> None:
    words = _words(page)
    offnums = data.draw(st.permutations(range(1, len(words) + 1)))
    count = data.draw(st.integers(0, len(offnums)))
    chosen = offnums[:count]
    kinds = data.draw(st.lists(st.sampled_from(["redirect", "dead", "unused"]),
                               min_size=count, max_size=count))
    redirected = [(offnum, data.draw(st.integers(1, len(words))))
                  for offnum, kind in zip(chosen, kinds) if kind == "redirect"]
    dead = [offnum for offnum, kind in zip(chosen, kinds) if kind == "dead"]
    unused = [offnum for offnum, kind in zip(chosen, kinds) if kind == "unused"]
    for offnum, target in redirected:
        words[offnum - 1] = target | (pagelib.LP_REDIRECT << 15)
    for offnum in dead:
        words[offnum - 1] = pagelib.LP_DEAD << 15
    for offnum in unused:
        words[offnum - 1] = 0
    words = _trimmed(words)
    expected = _reference_layout(page, words, _flags_after(page, words))
    pagelib.prune_line_pointers(page, redirected, dead, unused)
    assert bytes(page) == expected


@pytest.mark.parametrize("check", [_check_set_unused, _check_prune, _check_delete_items],
                         ids=["set_unused", "prune", "delete_items"])
@pytest.mark.parametrize("pages", [built_pages(), pages_with_holes()],
                         ids=["contiguous", "with-holes"])     # fast path, general path
@FUZZ
@given(data=st.data())
def test_compaction_matches_the_reference_layout(
        check: Callable[[bytearray, st.DataObject], None], pages: st.SearchStrategy[bytearray],
        data: st.DataObject) -> None:
    check(data.draw(pages), data)


@FUZZ
@given(pages_with_holes())
def test_compact_on_a_page_with_holes(page: bytearray) -> None:
    words = _words(page)
    expected = _reference_layout(page, words, struct.unpack_from("<H", page, 10)[0])
    pagelib.compact(page)
    assert bytes(page) == expected
    assert _is_contiguous(page)


@FUZZ
@given(built_pages(), st.data())
def test_fast_path_and_general_path_give_the_same_bytes(page: bytearray,
                                                        data: st.DataObject) -> None:
    """Removing up to FAST_PATH_MAX_REMOVED items from a contiguous page: the gap-closing fast
    path (given the removed line pointers) and the general path (given None) agree."""
    assert _is_contiguous(page)
    words = _words(page)
    doomed = data.draw(st.lists(st.integers(1, len(words)), unique=True,
                                max_size=pagelib.FAST_PATH_MAX_REMOVED))
    kept = [word for offnum, word in enumerate(words, 1) if offnum not in doomed]
    removed = [words[offnum - 1] for offnum in doomed]
    flags = struct.unpack_from("<H", page, 10)[0]
    fast, general = bytearray(page), bytearray(page)
    pagelib._compact_words(fast, flags, list(kept), removed)
    pagelib._compact_words(general, flags, list(kept), None)
    assert fast == general
    assert bytes(fast) == _reference_layout(page, kept, flags)
