"""sql/triggers.py without a server: pg_trigger's stored row, tgtype's bits and which triggers
a statement chooses (timing, level, event, UPDATE OF columns, name order)."""

from __future__ import annotations

from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.sql import triggers as tr


def _trigger(oid: int, name: str, type_bits: int, columns: tuple[int, ...] = ()) -> tr.Trigger:
    return tr.Trigger(oid, 16400, name, 16500, type_bits, columns=columns)


def test_stored_row_round_trips_with_pg_trigger_columns() -> None:
    trigger = tr.Trigger(16401, 16400, "audit", 16500,
                         tr.TYPE_ROW | tr.TYPE_BEFORE | tr.TYPE_INSERT | tr.TYPE_UPDATE, "D",
                         ("a", "it's"), (2, 1), '{"A_Const": {}}')
    values = tr.to_values(trigger)
    assert len(values) == len(boot.PG_TRIGGER.columns)
    assert [c.name for c in boot.PG_TRIGGER.columns][:6] == \
        ["oid", "tgrelid", "tgparentid", "tgname", "tgfoid", "tgtype"]
    assert values[5] == 23 and values[13] == 2 and values[14] == "2 1"
    assert tr.from_values(values) == trigger


def test_timing_words_follow_the_bits() -> None:
    assert _trigger(1, "a", tr.TYPE_BEFORE | tr.TYPE_INSERT).timing == "BEFORE"
    assert _trigger(1, "a", tr.TYPE_INSERT).timing == "AFTER"
    assert _trigger(1, "a", tr.TYPE_ROW | tr.TYPE_INSTEAD | tr.TYPE_INSERT).timing == \
        "INSTEAD OF"


def test_chosen_by_timing_level_event_and_update_columns() -> None:
    relation: Any = None
    planned = tr.RelationTriggers(relation, [
        _trigger(1, "a_row", tr.TYPE_ROW | tr.TYPE_BEFORE | tr.TYPE_UPDATE, (2,)),
        _trigger(2, "b_row", tr.TYPE_ROW | tr.TYPE_BEFORE | tr.TYPE_UPDATE | tr.TYPE_INSERT),
        _trigger(3, "c_after", tr.TYPE_ROW | tr.TYPE_UPDATE),
        _trigger(4, "d_statement", tr.TYPE_BEFORE | tr.TYPE_DELETE)])
    names = [t.name for t in planned.chosen("UPDATE", tr.TYPE_BEFORE, True, frozenset({2}))]
    assert names == ["a_row", "b_row"]
    names = [t.name for t in planned.chosen("UPDATE", tr.TYPE_BEFORE, True, frozenset({1}))]
    assert names == ["b_row"]
    assert [t.name for t in planned.chosen("UPDATE", 0, True)] == ["c_after"]
    assert [t.name for t in planned.chosen("DELETE", tr.TYPE_BEFORE, False)] == \
        ["d_statement"]
    assert not planned.has("INSERT", 0, False)


def test_tg_argv_counts_from_zero() -> None:
    argv = tr.ZeroBasedArray(["x", "y"])
    assert argv.lower_bound == 0 and list(argv) == ["x", "y"]
