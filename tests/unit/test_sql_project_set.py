"""Unit tests of executor.ProjectSet, the node that runs a select list's set-returning
functions (sql/set_returning.py): lockstep, NULL padding, input rows that give no output row,
the padded row that functions above the first level read, and interrupt checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mirrordb.sql import executor as ex
from mirrordb.sql.expressions import ExecContext, Row


class _Rows(ex.PlanNode):
    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        yield from self._rows


def _context() -> tuple[ExecContext, list[int]]:
    checks: list[int] = []
    return ExecContext(None, [], None, None, lambda: checks.append(1)), checks


def _series(low: int, high_column: int) -> Any:
    """generate_series(low, row[high_column])."""
    return lambda row, ctx: range(low, row[high_column] + 1)


def test_each_input_row_is_followed_by_the_values_of_its_function() -> None:
    ctx, _ = _context()
    node = ex.ProjectSet(_Rows([("a", 2), ("b", 0), ("c", 1)]), [_series(1, 1)])
    assert list(node.rows(ctx)) == [("a", 2, 1), ("a", 2, 2), ("c", 1, 1)]


def test_functions_run_in_lockstep_and_the_ended_ones_give_null() -> None:
    ctx, _ = _context()
    node = ex.ProjectSet(_Rows([(3,)]), [_series(1, 0), lambda row, ctx: iter(["x"]),
                                         lambda row, ctx: iter(())])
    assert list(node.rows(ctx)) == [(3, 1, "x", None), (3, 2, None, None),
                                    (3, 3, None, None)]


def test_a_row_whose_functions_all_return_nothing_gives_no_row() -> None:
    ctx, _ = _context()
    node = ex.ProjectSet(_Rows([(0,), (1,)]), [_series(1, 0), _series(1, 0)])
    assert list(node.rows(ctx)) == [(1, 1, 1)]


def test_functions_above_the_first_level_see_the_row_padded_to_its_final_width() -> None:
    """A call above the first level reads the values below it counting from the end of the
    row the projection will read (here one more column, added by this node)."""
    ctx, _ = _context()
    seen: list[Row] = []

    def reads_padded(row: Row, ctx: ExecContext) -> Iterator[int]:
        seen.append(row)
        return iter(range(1, row[-2] + 1))     # the first level's value
    node = ex.ProjectSet(_Rows([("r", 2)]), [reads_padded], padding=1)
    assert list(node.rows(ctx)) == [("r", 2, 1), ("r", 2, 2)]
    assert seen == [("r", 2, None)]


def test_long_sets_check_for_interrupts() -> None:
    ctx, checks = _context()
    node = ex.ProjectSet(_Rows([(1000,)]), [_series(1, 0)])
    assert sum(1 for _ in node.rows(ctx)) == 1000
    assert len(checks) == 1000 // ex.INTERRUPT_CHECK_ROWS
    assert node.explain() == ("ProjectSet", [node.child])
