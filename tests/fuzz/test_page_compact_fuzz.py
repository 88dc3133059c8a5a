"""Page compaction (storage/page.py's ``set_unused``, ``delete_items``, ``compact``), which VACUUM
on the primary and redo (heap prune, B-tree delete) share, lays out the page exactly as a plain
reference does: line pointers kept, each item with storage placed in offset order downward from
pd_special, MAXALIGNed with zero padding, the hole zero. Pages are built by random adds and
removals, so items sit in any physical order before compaction."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.storage import page as pagelib

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_WORD = struct.Struct("<I")


def _words(page: bytearray) -> list[int]:
    return [_WORD.unpack_from(page, pagelib.PAGE_HEADER_SIZE + 4 * index)[0]
            for index in range(pagelib.max_offset(page))]


def _reference_layout(page: bytearray, words: list[int], flags: int) -> bytes:
    """The compacted page of ``page`` with line pointers ``words`` (already edited), built
    one item at a time into a fresh copy."""
    special = struct.unpack_from("<H", page, 16)[0]
    out = bytearray(page)
    lower = pagelib.PAGE_HEADER_SIZE + 4 * len(words)
    upper = special
    new_words = []
    storage = []
    for word in words:
        length, flag_bits = word >> 17, (word >> 15) & 0x3
        if length and flag_bits in (pagelib.LP_NORMAL, pagelib.LP_DEAD):
            start = word & 0x7FFF
            upper -= pagelib.maxalign(length)
            storage.append((upper, bytes(page[start:start + length])))
            new_words.append(upper | (word & ~0x7FFF))
        else:
            new_words.append(word)
    out[lower:special] = bytes(special - lower)
    for at, item in storage:
        out[at:at + len(item)] = item
    for index, word in enumerate(new_words):
        _WORD.pack_into(out, pagelib.PAGE_HEADER_SIZE + 4 * index, word)
    struct.pack_into("<HHH", out, 10, flags, lower, upper)
    return bytes(out)


@st.composite
def built_pages(draw: st.DrawFn) -> bytearray:
    page = bytearray(pagelib.BLCKSZ)
    pagelib.page_init(page, draw(st.sampled_from([0, 16])))
    for _ in range(draw(st.integers(1, 80))):
        item = bytes([draw(st.integers(1, 255))]) * draw(st.integers(1, 300))
        if not pagelib.add_item(page, item):
            break
        if draw(st.booleans()) and pagelib.max_offset(page) > 1:
            victim = draw(st.integers(1, pagelib.max_offset(page)))
            if pagelib.item_is_normal(page, victim):
                pagelib.set_unused(page, [victim])
    return page


@FUZZ
@given(built_pages(), st.data())
def test_set_unused_matches_the_reference_layout(page: bytearray, data: st.DataObject) -> None:
    words = _words(page)
    normal = [offnum for offnum in range(1, len(words) + 1)
              if (words[offnum - 1] >> 15) & 0x3 == pagelib.LP_NORMAL]
    doomed = data.draw(st.lists(st.sampled_from(normal), unique=True) if normal
                       else st.just([]))
    for offnum in doomed:
        words[offnum - 1] = 0
    while words and words[-1] == 0:
        words.pop()
    has_free = any(not (word >> 15) & 0x3 for word in words)
    flags = struct.unpack_from("<H", page, 10)[0]
    flags = flags | pagelib.PD_HAS_FREE_LINES if has_free else flags & ~pagelib.PD_HAS_FREE_LINES
    expected = _reference_layout(page, words, flags)
    pagelib.set_unused(page, doomed)
    assert bytes(page) == expected


@FUZZ
@given(built_pages(), st.data())
def test_delete_items_matches_the_reference_layout(page: bytearray, data: st.DataObject) -> None:
    words = _words(page)
    doomed = data.draw(st.lists(st.integers(1, len(words)), unique=True))
    kept = [word for offnum, word in enumerate(words, 1) if offnum not in doomed]
    expected = _reference_layout(page, kept, struct.unpack_from("<H", page, 10)[0])
    pagelib.delete_items(page, doomed)
    assert bytes(page) == expected
