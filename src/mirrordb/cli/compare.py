"""``mirrordb compare DIR1 DIR2``: are two stopped clusters' data files identical, page by page?

The check behind mirrordb's headline property (DESIGN.md decision 3): after a standby has replayed
the primary's WAL up to the same point, every relation file is byte-for-byte the same. Walks
``global/`` and ``base/<db>/`` of both directories, pairs relation files by path, and compares them
8 kB page by page. Prints one line per relation and exits non-zero if anything differs or exists on
one side only. Unlogged relations are compared by their init forks only (their other forks are
not WAL-logged: a standby does not have them).

A block past the end of one file equals an all-zero block in the other: PostgreSQL (and replay,
which extends a relation to the block a record names) may leave zero-filled blocks at a file's end
that the other side never wrote, and both read back as a new, empty page. So trailing all-zero
blocks do not count in a file's length; any other difference does, including zero blocks inside
one file where the other has data. Files are read a block at a time (1 GB segments stay cheap).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from mirrordb.storage import reinit
from mirrordb.storage.page import BLCKSZ

RELATION_FILE = re.compile(r"^\d+(_(fsm|vm|init))?(\.\d+)?$")


ZERO_BLOCK = bytes(BLCKSZ)
MAX_REPORTED_DIFFERING_PAGES = 1000     # per file; the count goes on past it


@dataclass
class RelationComparison:
    """One relation file on both sides. ``pages_left``/``pages_right`` do not count trailing
    all-zero blocks (``zero_tail_left``/``zero_tail_right`` do)."""

    path: str
    pages_left: int
    pages_right: int
    differing_pages: list[int] = field(default_factory=list)
    zero_tail_left: int = 0
    zero_tail_right: int = 0
    differing_count: int = 0

    @property
    def identical(self) -> bool:
        return self.pages_left == self.pages_right and not self.differing_count


def relation_files(datadir: str) -> set[str]:
    """The relation files to compare; an unlogged relation's forks other than its init fork
    are not WAL-logged, so only its init fork is (storage/reinit.py)."""
    found = set()
    for top in ("global", "base"):
        root = os.path.join(datadir, top)
        for directory, _, files in os.walk(root):
            unlogged = reinit.unlogged_relations_in(directory)
            for name in files:
                if RELATION_FILE.match(name) and not reinit.is_unlogged_data_file(name, unlogged):
                    found.add(os.path.relpath(os.path.join(directory, name), datadir))
    return found


def compare_file(left: str, right: str, relative: str) -> RelationComparison:
    result = RelationComparison(relative, 0, 0)
    blocks_left = blocks_right = 0
    with open(left, "rb") as a, open(right, "rb") as b:
        blkno = 0
        while True:
            left_block, right_block = a.read(BLCKSZ), b.read(BLCKSZ)
            if not left_block and not right_block:
                break
            blocks_left += bool(left_block)
            blocks_right += bool(right_block)
            if left_block and left_block != ZERO_BLOCK:
                result.pages_left = blkno + 1
            if right_block and right_block != ZERO_BLOCK:
                result.pages_right = blkno + 1
            if (left_block or ZERO_BLOCK) != (right_block or ZERO_BLOCK):
                result.differing_count += 1
                if len(result.differing_pages) < MAX_REPORTED_DIFFERING_PAGES:
                    result.differing_pages.append(blkno)
            blkno += 1
    result.zero_tail_left = blocks_left - result.pages_left
    result.zero_tail_right = blocks_right - result.pages_right
    return result


def compare_clusters(left: str, right: str) -> tuple[list[RelationComparison], list[str]]:
    """Per-relation comparisons, and the files present in only one directory."""
    left_files, right_files = relation_files(left), relation_files(right)
    only_one_side = sorted((left_files ^ right_files))
    comparisons = [compare_file(os.path.join(left, rel), os.path.join(right, rel), rel)
                   for rel in sorted(left_files & right_files)]
    return comparisons, only_one_side


def run(left: str, right: str, verbose: bool = True) -> int:
    comparisons, only_one_side = compare_clusters(left, right)
    differing = 0
    for comparison in comparisons:
        if comparison.identical:
            if verbose:
                zeros = comparison.zero_tail_left + comparison.zero_tail_right
                note = f"; {zeros} trailing zero pages ignored" if zeros else ""
                print(f"{comparison.path}: identical ({comparison.pages_left} pages{note})")
        else:
            differing += 1
            pages = ", ".join(map(str, comparison.differing_pages[:20]))
            print(f"{comparison.path}: DIFFERENT ({comparison.pages_left} vs "
                  f"{comparison.pages_right} pages; {comparison.differing_count} differing "
                  f"pages: {pages})")
    for path in only_one_side:
        side = left if os.path.exists(os.path.join(left, path)) else right
        print(f"{path}: only in {side}")
    total = len(comparisons) + len(only_one_side)
    bad = differing + len(only_one_side)
    print(f"{total - bad} of {total} relation files identical")
    return 1 if bad else 0
