"""Fuzzing the SQL name parser behind regclass input and pg_get_serial_sequence: any text gives
a list of names or MirrordbError 42602, and quoted names come back as written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import catalog_functions as cat
from mirrordb.sql.functions import quote_ident

NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused(text):
    try:
        parts = cat.parse_qualified_name(text)
    except MirrordbError as error:
        assert error.sqlstate == "42602"
        return
    assert 1 <= len(parts) <= cat.MAX_NAME_PARTS and all(parts)


@given(st.lists(NAMES, min_size=1, max_size=3))
def test_quoted_names_round_trip(names):
    text = ".".join('"' + name.replace('"', '""') + '"' for name in names)
    assert cat.parse_qualified_name(text) == names


@given(st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), min_size=1,
                max_size=3))
def test_quote_ident_output_parses_back(names):
    assert cat.parse_qualified_name(".".join(quote_ident(n) for n in names)) == names
