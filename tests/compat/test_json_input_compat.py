"""json and jsonb input side by side with a real PostgreSQL 15 (tests/compat/differential.py):
PostgreSQL's tokens, DETAIL messages and "JSON data, line N: ..." CONTEXT lines for every kind
of refused text (bad words and numbers, broken strings and escapes, unpaired surrogates, a
structure that ends early or goes on), jsonb's refusal of \\u0000 (22P05) that json accepts, and
the values of texts both accept. Answers must agree on SQLSTATE, message, DETAIL, hint, position
and CONTEXT.
"""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, differences, pair_fixture

pytestmark = MARKS

both = pair_fixture("json_input", [], detailed=True, with_context=True)

TEXTS = [
    # words and numbers
    "not", "tru", "truex", "é", "01", "-01", "1.", ".5", "+1", "1e", "1.5e+", "1e5x", "0x10",
    "-", "-a", "-]", "1.x", "1\tx", "", "   ", "  x", "NaN", "Infinity", "-Infinity",
    # structure
    '{"a" 1}', '{"a":1,}', "[1,2", "[1 2]", "{", "{1:2}", '{"a":1} x', "[1,]", "[1,2]]",
    '{"a":1 "b":2}', "[}", "{]", '{"a"', '{"a":', '{"a":1', "[1,2,x",
    # strings and escapes
    '"abc', '"a\\xb"', '"é\\q"', '"\\é"', '"\\', '"\\u', '"\\u12"', '"\\u12g4"', '"a\tb"',
    '"ab\nc"', '"a\\u00\n',
    # escapes only jsonb checks
    '"\\udc00"', '"\\ud800"', '"\\ud800\\ud800"', '"\\ud800x"', '"\\ud800\\n"',
    '"\\ud800\\u0041"', '{"\\ud800": 1}', '"\\ud800é"', '"\\u0000"', '"\\ud800\\udc00\\u0000"',
    # several lines, long lines
    '{"a":\n 1,\n "b" 2, "c": 3}', '{"a":1}\n x', "[1,\n2,", "[1,\nx]", "[1,\n x\n]\n",
    "[" + ", ".join(str(n) for n in range(1, 22)) + ", x, 23]",
    '{"' + "a" * 58 + '": tru}', '"' + "é" * 45 + '" x', '"' + "é" * 28 + '" x',
    '"' + "abcdefghij" * 5 + 'ab" x', '"' + "abcdefghij" * 5 + '" x',
    '"' + "abcdefghij" * 4 + 'abcdefgh" x',
]

ACCEPTED = [
    '"\\u00e9\\uD83D\\uDE00"', '[1]  ', '{"a": [1, 2.50, -0, 1e3, 1E-2], "b": {"c": null}}',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t"', ' \n\t{ "k" : true , "k" : false }\r\n', "-0.0e+0",
]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.mark.parametrize("type_name", ["json", "jsonb"])
def test_refused_texts_report_postgres_detail_and_context(
        both: tuple[Reference, Ours], type_name: str) -> None:
    reference, ours = both
    statements = [f"select {_literal(text)}::{type_name}" for text in TEXTS]
    mismatches = differences(reference, ours, statements)
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("type_name", ["json", "jsonb"])
def test_accepted_texts_give_postgres_values(both: tuple[Reference, Ours],
                                             type_name: str) -> None:
    reference, ours = both
    statements = [f"select {_literal(text)}::{type_name}" for text in ACCEPTED]
    mismatches = differences(reference, ours, statements)
    assert not mismatches, "\n".join(mismatches)


def test_errors_in_a_table_column_carry_the_json_context(both: tuple[Reference, Ours]) -> None:
    reference, ours = both
    statements = ["create table ji (id int, j jsonb, s json)",
                  "insert into ji values (1, '{\"a\": tru}', null)",
                  "insert into ji values (2, null, '[1,\n 2 3]')",
                  "insert into ji values (3, '\"\\u0000\"', '\"\\u0000\"')",
                  "insert into ji values (3, null, '\"\\u0000\"') returning s",
                  "drop table ji"]
    mismatches = differences(reference, ours, statements)
    assert not mismatches, "\n".join(mismatches)
