"""``mirrordb compare DIR1 DIR2``: are two stopped clusters' data files identical, page by page?

The check behind mirrordb's headline property (DESIGN.md decision 3): after a standby has replayed
the primary's WAL up to the same point, every relation file is byte-for-byte the same. Walks
``global/`` and ``base/<db>/`` of both directories, pairs relation files by path, and compares them
8 kB page by page. Prints one line per relation and exits non-zero if anything differs or exists on
one side only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from mirrordb.storage.page import BLCKSZ

RELATION_FILE = re.compile(r"^\d+(_(fsm|vm|init))?(\.\d+)?$")


@dataclass
class RelationComparison:
    path: str
    pages_left: int
    pages_right: int
    differing_pages: list[int] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.pages_left == self.pages_right and not self.differing_pages


def relation_files(datadir: str) -> set[str]:
    found = set()
    for top in ("global", "base"):
        root = os.path.join(datadir, top)
        for directory, _, files in os.walk(root):
            for name in files:
                if RELATION_FILE.match(name):
                    found.add(os.path.relpath(os.path.join(directory, name), datadir))
    return found


def compare_file(left: str, right: str, relative: str) -> RelationComparison:
    with open(left, "rb") as a, open(right, "rb") as b:
        left_data, right_data = a.read(), b.read()
    result = RelationComparison(relative, len(left_data) // BLCKSZ, len(right_data) // BLCKSZ)
    for blkno in range(max(result.pages_left, result.pages_right)):
        start = blkno * BLCKSZ
        if left_data[start:start + BLCKSZ] != right_data[start:start + BLCKSZ]:
            result.differing_pages.append(blkno)
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
                print(f"{comparison.path}: identical ({comparison.pages_left} pages)")
        else:
            differing += 1
            pages = ", ".join(map(str, comparison.differing_pages[:20]))
            print(f"{comparison.path}: DIFFERENT ({comparison.pages_left} vs "
                  f"{comparison.pages_right} pages; differing pages: {pages})")
    for path in only_one_side:
        side = left if os.path.exists(os.path.join(left, path)) else right
        print(f"{path}: only in {side}")
    total = len(comparisons) + len(only_one_side)
    bad = differing + len(only_one_side)
    print(f"{total - bad} of {total} relation files identical")
    return 1 if bad else 0
