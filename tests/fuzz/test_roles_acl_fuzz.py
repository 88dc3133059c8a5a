"""aclitem[] texts: whatever names and rights, format then parse gives the items back; garbage
raises only MirrordbError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.sql.roles import TABLE_RIGHTS, AclItem, format_acl, parse_acl

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME_PIECES = st.sampled_from(['"', "\\", ",", "{", "}", "=", "/", "*", " ", "NULL", "a", "é",
                               "_", "1"])
NAMES = st.one_of(st.text(st.characters(blacklist_characters="\0"), min_size=1, max_size=12),
                  st.lists(NAME_PIECES, min_size=1, max_size=8).map("".join))
RIGHTS = st.integers(min_value=1, max_value=(1 << 14) - 1)


@st.composite
def acl_items(draw: st.DrawFn) -> AclItem:
    privileges = draw(RIGHTS)
    return AclItem(draw(st.one_of(st.just(""), NAMES)), draw(NAMES), privileges,
                   draw(st.integers(min_value=0, max_value=TABLE_RIGHTS)) & privileges)


@FUZZ
@given(st.lists(acl_items(), max_size=6))
def test_format_then_parse_round_trips(items: list[AclItem]) -> None:
    assert parse_acl(format_acl(items)) == items


TEXT_PIECES = st.sampled_from(["{", "}", '"', "\\", ",", "=", "/", "*", "a", "r", "w", "bob",
                               "postgres", " ", "NULL", "\n"])


@FUZZ
@given(st.one_of(st.text(max_size=60), st.lists(TEXT_PIECES, max_size=30).map("".join)))
def test_garbage_raises_only_our_error(text: str) -> None:
    try:
        parse_acl(text)
    except MirrordbError:
        pass
