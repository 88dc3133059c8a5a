"""synchronous_standby_names: every form PostgreSQL 15 accepts and every error it gives, as
observed with ALTER SYSTEM on PostgreSQL 15.20 (replication/syncrep_gram.py), the priority each
form gives a standby, and the setting's check in SET / ALTER SYSTEM / the configuration files."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.replication.syncrep_gram import (SyncRepConfig, SyncRepMethod, c_atoi,
                                               parse_standby_names, standby_priority)
from mirrordb.server.config import alter_system, reload_settings
from mirrordb.settings import Settings

FIRST, ANY = SyncRepMethod.PRIORITY, SyncRepMethod.QUORUM

ACCEPTED = [
    ("s2", SyncRepConfig(1, FIRST, ("s2",))),
    ("other, s2", SyncRepConfig(1, FIRST, ("other", "s2"))),
    ("FIRST 1 (s2, other)", SyncRepConfig(1, FIRST, ("s2", "other"))),
    ("first 1 (s3)", SyncRepConfig(1, FIRST, ("s3",))),
    ("2 (other, s2)", SyncRepConfig(2, FIRST, ("other", "s2"))),
    ("ANY 1 (other, s2)", SyncRepConfig(1, ANY, ("other", "s2"))),
    ("Any 2 (a)", SyncRepConfig(2, ANY, ("a",))),
    ("ANY 2(a,b)", SyncRepConfig(2, ANY, ("a", "b"))),
    ("*", SyncRepConfig(1, FIRST, ("*",))),
    ("FIRST 2 (*)", SyncRepConfig(2, FIRST, ("*",))),
    ('"16/replica"', SyncRepConfig(1, FIRST, ("16/replica",))),
    ('"S2"', SyncRepConfig(1, FIRST, ("S2",))),
    ('"a""b"', SyncRepConfig(1, FIRST, ('a"b',))),
    ('""', SyncRepConfig(1, FIRST, ("",))),
    ('FIRST 1 ("any")', SyncRepConfig(1, FIRST, ("any",))),
    ("a$b,_x1, \u0132", SyncRepConfig(1, FIRST, ("a$b", "_x1", "\u0132"))),
    ("3 (1, 2)", SyncRepConfig(3, FIRST, ("1", "2"))),
    ("99999999999 (a)", SyncRepConfig(1215752191, FIRST, ("a",))),
    (" \t s1 ,\ns2 ", SyncRepConfig(1, FIRST, ("s1", "s2"))),
    ("anything, firstly", SyncRepConfig(1, FIRST, ("anything", "firstly"))),
]

SYNTAX_ERRORS = [
    ("16/replica", 'syntax error at or near "/"'),
    ("first", "syntax error at end of input"),
    ("any", "syntax error at end of input"),
    ("FIRST 1", "syntax error at end of input"),
    ("FIRST (a)", 'syntax error at or near "("'),
    ("ANY 1 (a", "syntax error at end of input"),
    ('"abc', "unterminated quoted identifier at end of input"),
    ('a b "c', 'syntax error at or near "b"'),
    ("a b", 'syntax error at or near "b"'),
    ("1abc", 'syntax error at or near "abc"'),
    ("a,,b", 'syntax error at or near ","'),
    ("a,", "syntax error at end of input"),
    ("(a)", 'syntax error at or near "("'),
    ("2 (a) b", 'syntax error at or near "b"'),
    ("-1 (a)", 'syntax error at or near "-"'),
    ("  ", "syntax error at end of input"),
    ("FIRST 1 (first)", 'syntax error at or near "first"'),
]

COUNT_ERRORS = [("0 (a)", 0), ("ANY 0 (a)", 0), ("99999999999999999999999 (a)", -1),
                ("2147483648 (a)", -2147483648)]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_forms(text, expected):
    assert parse_standby_names(text) == expected


def test_empty_means_no_synchronous_standbys():
    assert parse_standby_names("") is None


def _syntax_error(text: str, detail: str) -> tuple[str, str, str, str | None]:
    return (text, "42601", f'invalid value for parameter "synchronous_standby_names": "{text}"',
            detail)


def _count_error(text: str, count: int) -> tuple[str, str, str, str | None]:
    return (text, "22023", f"number of synchronous standbys ({count}) must be greater than zero",
            None)


@pytest.mark.parametrize(("text", "sqlstate", "message", "detail"),
                         [_syntax_error(*case) for case in SYNTAX_ERRORS]
                         + [_count_error(*case) for case in COUNT_ERRORS])
def test_errors_are_postgresqls(text, sqlstate, message, detail):
    with pytest.raises(MirrordbError) as caught:
        parse_standby_names(text)
    error = caught.value
    assert (error.sqlstate, error.message, error.detail) == (sqlstate, message, detail)


def test_atoi_wraps_like_c():
    assert [c_atoi(text) for text in ("7", "4294967297", "2147483647")] == [7, 1, 2147483647]


@pytest.mark.parametrize(("text", "name", "priority"), [
    ("s2", "s2", 1), ("other, s2", "s2", 2), ("s1, *", "s3", 2), ("*", "anything", 1),
    ("FIRST 2 (s3, s2, s1)", "s1", 3), ("ANY 2 (s1, s2, s3)", "s3", 1),
    ("FIRST 1 (other)", "s2", 0),
    ('"S2"', "s2", 1), ("S3", "s3", 1), ("s1, s1", "s1", 1), ('"16/replica"', "16/REPLICA", 1),
    ("\u00c9", "\u00e9", 0),   # pg_strcasecmp folds ASCII letters only
])
def test_priority_is_the_list_position(text, name, priority):
    assert standby_priority(parse_standby_names(text), name) == priority


def test_no_configuration_gives_priority_zero():
    assert standby_priority(None, "s1") == 0


def test_the_setting_check_refuses_a_bad_value_everywhere(tmp_path):
    settings = Settings()
    with pytest.raises(MirrordbError) as caught:
        settings.apply("synchronous_standby_names", "16/replica", source=settings.sources[
            "synchronous_standby_names"])
    assert caught.value.sqlstate == "42601"
    with pytest.raises(MirrordbError) as refused:
        alter_system(str(tmp_path), "synchronous_standby_names", "FIRST (a)")
    assert refused.value.detail == 'syntax error at or near "("'
    alter_system(str(tmp_path), "synchronous_standby_names", '"16/replica"')
    assert Settings(None, str(tmp_path)).get("synchronous_standby_names") == '"16/replica"'


def test_reload_keeps_the_old_value_when_the_file_has_a_bad_one(tmp_path):
    (tmp_path / "postgresql.conf").write_text("synchronous_standby_names = 's1'\n")
    current = Settings(None, str(tmp_path))
    (tmp_path / "postgresql.conf").write_text("synchronous_standby_names = 'ANY 0 (s1)'\n")
    load = reload_settings(current, str(tmp_path), {})
    assert load.settings.get("synchronous_standby_names") == "s1"
    assert any("must be greater than zero" in message.message for message in load.messages)
