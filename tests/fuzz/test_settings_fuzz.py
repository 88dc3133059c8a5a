"""Fuzzing the setting parsers: any text either parses or raises an operating error, shown values
parse back to themselves, and configuration-file quoting round-trips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.server.config import SessionSettings
from mirrordb.settings import (SETTINGS, Settings, format_value, parse_config_lines, parse_value,
                               quote_config_value)

NUMERIC = [s for s in SETTINGS if s.kind in ("int", "size", "time", "real")]
SETTING_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\s*-?[0-9]{1,12}(\.[0-9]{1,4})?\s*(B|kB|MB|GB|TB|us|ms|s|min|h|d)?\s*",
                  fullmatch=True))


@given(st.sampled_from(SETTINGS), SETTING_TEXT)
@settings(max_examples=400, deadline=None)
def test_any_text_parses_or_raises_an_operating_error(setting: object, text: str) -> None:
    try:
        value = parse_value(setting, text)  # type: ignore[arg-type]
    except MirrordbError:
        return
    shown = format_value(setting, value)  # type: ignore[arg-type]
    assert parse_value(setting, shown) == value  # type: ignore[arg-type]


@given(st.sampled_from(NUMERIC), st.integers(min_value=-(2**31), max_value=2**31 - 1))
@settings(max_examples=300, deadline=None)
def test_numbers_in_range_show_and_parse_back(setting: object, number: int) -> None:
    try:
        value = parse_value(setting, str(number))  # type: ignore[arg-type]
    except MirrordbError:
        return
    assert parse_value(setting, format_value(setting, value)) == value  # type: ignore[arg-type]


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\x0b"
                                      "\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=40))
@settings(max_examples=300, deadline=None)
def test_quoted_values_round_trip_through_a_configuration_file(text: str) -> None:
    entries = parse_config_lines(f"application_name = {quote_config_value(text)}\n")
    assert [(entry.name, entry.value) for entry in entries] == [("application_name", text)]


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_configuration_text_never_crashes_the_parser(text: str) -> None:
    try:
        parse_config_lines(text, "fuzz.conf")
    except MirrordbError:
        pass


@given(st.lists(st.tuples(st.sampled_from(["set", "local", "reset", "savepoint", "release",
                                           "rollback_to"]),
                          st.integers(min_value=0, max_value=3)), max_size=25),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_an_aborted_transaction_leaves_session_values_as_before(
        steps: list[tuple[str, int]], abort: bool) -> None:
    session = SessionSettings(Settings(), superuser=True)
    session.set("statement_timeout", "7")
    before = session.show("statement_timeout")
    session.begin_transaction()
    levels: list[int] = []
    for action, number in steps:
        if action in ("set", "local"):
            session.set("statement_timeout", str(number + 1), local=action == "local")
        elif action == "reset":
            session.reset("statement_timeout")
        elif action == "savepoint":
            levels.append(session.savepoint())
        elif levels and action == "release":
            session.release_savepoint(levels.pop())
        elif levels:
            session.rollback_to_savepoint(levels[-1])
    if abort:
        session.abort_transaction()
        assert session.show("statement_timeout") == before
    else:
        session.commit_transaction()
        assert session.show("statement_timeout") in {before, "0", "1ms", "2ms", "3ms", "4ms"}
