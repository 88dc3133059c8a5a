"""Fuzz replication/commands.py: any text parses or raises a MirrordbError, nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.replication import commands as rc

WORDS = st.sampled_from(sorted(rc.GRAMMAR_KEYWORDS) + [
    "(", ")", ",", ";", ".", "'a'", '"B"', "0/1", "7", "x", "label", "''", '"', "'", " "])


@given(st.one_of(st.text(max_size=80), st.lists(WORDS, max_size=12).map(" ".join)))
def test_any_text_parses_or_raises_an_operating_error(text: str) -> None:
    try:
        rc.parse_command(text)
    except MirrordbError as error:
        assert error.sqlstate in ("42601", "0A000")
