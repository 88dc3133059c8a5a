"""Garbage into synchronous_standby_names' parser raises only PostgreSQL's two errors (42601,
22023), never IndexError or StopIteration; any list of names written as double-quoted
identifiers in any of the four forms parses back to the same count, method and names."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.replication.syncrep_gram import (SyncRepConfig, SyncRepMethod,
                                               parse_standby_names, standby_priority)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that reach the scanner's and grammar's branches more often than uniform text would.
WORDS = st.sampled_from(["ANY", "any", "FIRST", "First", "s1", "s2", "*", "1", "2", "0", "007",
                         "99999999999", ",", "(", ")", '"', '""', '"a b"', " ", "\t", "\n",
                         "$", "_", "é", "-", "/", "16/replica", "\0", "\udcff"])
TEXT = st.one_of(st.text(max_size=80),
                 st.lists(WORDS, max_size=25).map("".join),
                 st.lists(st.one_of(WORDS, st.text(max_size=4)), max_size=25).map(" ".join))
NAMES = st.lists(st.text(max_size=12), min_size=1, max_size=6)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@FUZZ
@given(TEXT)
def test_garbage_raises_only_postgresqls_errors(text):
    try:
        config = parse_standby_names(text)
    except MirrordbError as error:
        assert error.sqlstate in ("42601", "22023")
        return
    assert config is None or (config.num_sync > 0 and config.member_names)
    if config is not None:
        assert 0 <= standby_priority(config, "s1") <= len(config.member_names)


@FUZZ
@given(NAMES, st.integers(min_value=1, max_value=2**31 - 1),
       st.sampled_from(["list", "legacy", "FIRST", "ANY"]))
def test_quoted_names_parse_back(names, count, form):
    listed = ", ".join(quoted(name) for name in names)
    text = {"list": listed, "legacy": f"{count} ({listed})", "FIRST": f"FIRST {count} ({listed})",
            "ANY": f"any {count}({listed})"}[form]
    method = SyncRepMethod.QUORUM if form == "ANY" else SyncRepMethod.PRIORITY
    expected = SyncRepConfig(1 if form == "list" else count, method, tuple(names))
    assert parse_standby_names(text) == expected
