"""``mirrordb compare``: page-by-page comparison of relation files, where trailing all-zero blocks
equal absent ones (PostgreSQL and replay may extend a file with zero pages), but nothing else
does."""

from __future__ import annotations

import os

from mirrordb.cli.compare import compare_clusters, compare_file, run
from mirrordb.storage.page import BLCKSZ

ZERO = bytes(BLCKSZ)


def page(fill: int) -> bytes:
    return bytes([fill]) * BLCKSZ


def write(path: str, *blocks: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"".join(blocks))
    return path


def compare(tmp_path, left: list[bytes], right: list[bytes]):
    return compare_file(write(str(tmp_path / "l" / "16384"), *left),
                        write(str(tmp_path / "r" / "16384"), *right), "base/5/16384")


def test_trailing_zero_blocks_equal_absent_blocks(tmp_path):
    result = compare(tmp_path, [page(1), page(2), ZERO, ZERO], [page(1), page(2)])
    assert result.identical and result.pages_left == result.pages_right == 2
    assert (result.zero_tail_left, result.zero_tail_right) == (2, 0)
    assert compare(tmp_path, [ZERO], []).identical
    assert compare(tmp_path, [page(1), ZERO], [page(1), ZERO, ZERO, ZERO]).identical


def test_other_differences_still_count(tmp_path):
    inner_zero = compare(tmp_path, [page(1), ZERO, page(3)], [page(1), page(2), page(3)])
    assert not inner_zero.identical and inner_zero.differing_pages == [1]
    longer = compare(tmp_path, [page(1), page(2)], [page(1)])
    assert not longer.identical and longer.differing_pages == [1]
    assert (longer.pages_left, longer.pages_right) == (2, 1)
    torn = compare(tmp_path, [page(1), ZERO[:100]], [page(1)])
    assert not torn.identical and torn.differing_pages == [1]
    changed = compare(tmp_path, [page(1), ZERO], [page(9), ZERO])
    assert changed.differing_pages == [0] and changed.differing_count == 1


def test_clusters_with_zero_extended_files_compare_equal(tmp_path, capsys):
    left, right = str(tmp_path / "a"), str(tmp_path / "b")
    write(os.path.join(left, "base", "5", "16384"), page(1), ZERO)
    write(os.path.join(right, "base", "5", "16384"), page(1))
    write(os.path.join(left, "global", "1262"), page(4))
    write(os.path.join(right, "global", "1262"), page(4), ZERO, ZERO)
    comparisons, only_one_side = compare_clusters(left, right)
    assert not only_one_side and all(c.identical for c in comparisons)
    assert run(left, right) == 0
    assert "trailing zero pages ignored" in capsys.readouterr().out
    write(os.path.join(right, "base", "5", "16384"), page(1), page(7))
    assert run(left, right) == 1
    assert "DIFFERENT" in capsys.readouterr().out
