"""Session settings (server/config.py) and the setting table (settings.py), checked against what
a PostgreSQL 15 server answers to the same SET/SHOW/RESET statements."""

from __future__ import annotations

import os

import pytest

from mirrordb.common.errors import (CantChangeRuntimeParam, ConfigFileError,
                                    InvalidParameterValue, InvalidTransactionState,
                                    InvariantViolation, MirrordbError)
from mirrordb.server.config import (AUTO_CONF_HEADER, REPORTED_SETTINGS, SessionSettings,
                                    alter_system, build_settings, quote_identifier,
                                    reload_settings)
from mirrordb.settings import (SETTINGS, Settings, find_setting, format_value, parse_value,
                               render_postgresql_conf)


def session(superuser: bool = True, settings: Settings | None = None) -> SessionSettings:
    return SessionSettings(settings or Settings(), superuser=superuser)


def error_of(call: object, *args: object, **kwargs: object) -> MirrordbError:
    with pytest.raises(MirrordbError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# -- values and display (expected texts are PostgreSQL 15's) --------------------------------------

@pytest.mark.parametrize(("name", "text", "shown"), [
    ("statement_timeout", "5 min", "5min"),
    ("statement_timeout", "1.5s", "1500ms"),
    ("statement_timeout", "1500", "1500ms"),
    ("statement_timeout", "1500us", "2ms"),
    ("statement_timeout", "500us", "0"),
    ("statement_timeout", "1e3", "1s"),
    ("statement_timeout", "1e3s", "1000s"),
    ("statement_timeout", " 5 s ", "5s"),
    ("statement_timeout", "0.4", "0"),
    ("work_mem", "1.5MB", "1536kB"),
    ("work_mem", "1000000kB", "1000000kB"),
    ("work_mem", "65", "65kB"),
    ("work_mem", "0x40", "64kB"),
    ("work_mem", "5MB", "5MB"),
    ("shared_buffers", "16384", "128MB"),
    ("checkpoint_timeout", "300", "5min"),
    ("authentication_timeout", "60", "1min"),
    ("max_slot_wal_keep_size", "-1", "-1"),
    ("unix_socket_permissions", "0777", "0777"),
    ("extra_float_digits", "1.6", "2"),
    ("extra_float_digits", "0x2", "2"),
    ("checkpoint_completion_target", "0.5", "0.5"),
    ("enable_seqscan", "of", "off"),
    ("enable_seqscan", "Tr", "on"),
    ("synchronous_commit", "true", "on"),
    ("synchronous_commit", "0", "off"),
    ("wal_level", "hot_standby", "replica"),
    ("default_transaction_isolation", "READ COMMITTED", "read committed"),
    ("IntervalStyle", "SQL_Standard", "sql_standard"),
    ("client_encoding", "unicode", "UTF8"),
    ("client_encoding", "latin1", "LATIN1"),
    ("client_encoding", "win1252", "WIN1252"),
    ("TimeZone", "europe/paris", "Europe/Paris"),
    ("TimeZone", "utc", "UTC"),
    ("TimeZone", "+02", "<+02>-02"),
    ("TimeZone", "5", "<+05>-05"),
    ("TimeZone", "GMT+2", "GMT+2"),
    ("application_name", "h\u00e9llo", "h??llo"),
])
def test_values_show_as_postgresql_shows_them(name: str, text: str, shown: str) -> None:
    setting = find_setting(name)
    assert setting is not None
    assert format_value(setting, parse_value(setting, text)) == shown
    if setting.context == "user":
        settings = session()
        settings.set(name, text)
        assert settings.show(name) == shown


@pytest.mark.parametrize(("text", "shown"), [
    ("iso, dmy", "ISO, DMY"), ("german", "German, DMY"), ("sql", "SQL, MDY"),
    ("postgres, dmy", "Postgres, DMY"), ("ymd", "ISO, YMD"), ("euro", "ISO, DMY"),
])
def test_date_style_keeps_the_half_not_given(text: str, shown: str) -> None:
    settings = session()
    settings.set("DateStyle", text)
    assert settings.show("datestyle") == shown


def test_defaults_show_like_postgresql() -> None:
    settings = session()
    expected = {"shared_buffers": "128MB", "wal_buffers": "4MB", "checkpoint_timeout": "5min",
                "max_wal_size": "1GB", "statement_timeout": "0", "wal_writer_delay": "200ms",
                "wal_segment_size": "16MB", "min_wal_size": "80MB", "work_mem": "4MB",
                "data_directory_mode": "0700", "search_path": '"$user", public',
                "DateStyle": "ISO, MDY", "integer_datetimes": "on", "server_encoding": "UTF8",
                "standard_conforming_strings": "on", "server_version_num": "150000",
                "wal_sender_timeout": "1min", "password_encryption": "scram-sha-256"}
    assert {name: settings.show(name) for name in expected} == expected
    assert settings.show("server_version").startswith("15.")


@pytest.mark.parametrize(("name", "text", "message", "hint"), [
    ("statement_timeout", "abc", 'invalid value for parameter "statement_timeout": "abc"', None),
    ("statement_timeout", "100000000000",
     'invalid value for parameter "statement_timeout": "100000000000"',
     "Value exceeds integer range."),
    ("statement_timeout", "-5",
     '-5 ms is outside the valid range for parameter "statement_timeout" (0 .. 2147483647)', None),
    ("extra_float_digits", "10",
     '10 is outside the valid range for parameter "extra_float_digits" (-15 .. 3)', None),
    ("statement_timeout", "5 S", 'invalid value for parameter "statement_timeout": "5 S"',
     'Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".'),
    ("work_mem", "5mb", 'invalid value for parameter "work_mem": "5mb"',
     'Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".'),
    ("intervalstyle", "bogus", 'invalid value for parameter "intervalstyle": "bogus"',
     "Available values: postgres, postgres_verbose, sql_standard, iso_8601."),
    ("enable_seqscan", "maybe", 'parameter "enable_seqscan" requires a Boolean value', None),
    ("client_encoding", "bogus", 'invalid value for parameter "client_encoding": "bogus"', None),
    ("timezone", "bogus", 'invalid value for parameter "TimeZone": "bogus"', None),
])
def test_bad_values_are_refused_with_postgresql_wording(name: str, text: str, message: str,
                                                         hint: str | None) -> None:
    error = error_of(session().set, name, text)
    assert (error.sqlstate, error.message, error.hint) == ("22023", message, hint)


def test_date_style_errors_carry_postgresql_details() -> None:
    assert error_of(session().set, "DateStyle", "bogus").detail == 'Unrecognized key word: "bogus".'
    assert error_of(session().set, "DateStyle", "iso, sql").detail == \
        'Conflicting "datestyle" specifications.'


@pytest.mark.parametrize(("name", "message"), [
    ("port", 'parameter "port" cannot be changed without restarting the server'),
    ("fsync", 'parameter "fsync" cannot be changed now'),
    ("server_version", 'parameter "server_version" cannot be changed'),
    ("is_superuser", 'parameter "is_superuser" cannot be changed'),
    ("log_connections", 'parameter "log_connections" cannot be set after connection start'),
])
def test_context_refusals(name: str, message: str) -> None:
    error = error_of(session().set, name, "1")
    assert isinstance(error, CantChangeRuntimeParam)
    assert (error.sqlstate, error.message) == ("55P02", message)


def test_unknown_names_and_superuser_only_settings() -> None:
    error = error_of(session().set, "nonexist", "1")
    assert (error.sqlstate, error.message) == \
        ("42704", 'unrecognized configuration parameter "nonexist"')
    assert error_of(session().show, "nonexist").sqlstate == "42704"
    error = error_of(session(superuser=False).set, "log_statement", "all")
    assert (error.sqlstate, error.message) == \
        ("42501", 'permission denied to set parameter "log_statement"')


def test_custom_placeholder_settings() -> None:
    settings = session()
    settings.set("myapp.tenant", "42")
    assert settings.show("MyApp.Tenant") == "42"
    settings.reset_all()
    assert settings.show("myapp.tenant") == ""


def test_list_arguments_are_joined_and_quoted_as_postgresql() -> None:
    settings = session()
    settings.set("search_path", ["a", "b"])
    assert settings.show("search_path") == "a, b"
    settings.set("search_path", ["a, b"])
    assert settings.show("search_path") == '"a, b"'
    settings.set("search_path", ["$user", "public"])
    assert settings.show("search_path") == '"$user", public'
    settings.set("search_path", ["MyS"])
    assert settings.show("search_path") == '"MyS"'
    settings.set("search_path", [""])
    assert settings.show("search_path") == '""'
    error = error_of(settings.set, "statement_timeout", ["1", "2"])
    assert error.message == "SET statement_timeout takes only one argument"
    assert quote_identifier("select") == '"select"' and quote_identifier("abort") == "abort"


# -- transactions ---------------------------------------------------------------------------------

def test_set_local_outside_a_transaction_does_nothing() -> None:
    settings = session()
    settings.set("statement_timeout", "5", local=True)
    assert settings.show("statement_timeout") == "0"


def test_postgresql_transaction_semantics() -> None:
    """The sequences of the PostgreSQL session this table was taken from."""
    settings = session()
    settings.set("statement_timeout", "7")
    # begin; set 9; set local 11; show -> 11; commit; show -> 9
    settings.begin_transaction()
    settings.set("statement_timeout", "9")
    settings.set("statement_timeout", "11", local=True)
    assert settings.show("statement_timeout") == "11ms"
    settings.commit_transaction()
    assert settings.show("statement_timeout") == "9ms"
    # begin; set local 11; set 13; show -> 13; commit; show -> 13
    settings.begin_transaction()
    settings.set("statement_timeout", "11", local=True)
    settings.set("statement_timeout", "13")
    assert settings.show("statement_timeout") == "13ms"
    settings.commit_transaction()
    assert settings.show("statement_timeout") == "13ms"
    # begin; set 15; savepoint a; set 17; rollback to a; show -> 15; commit
    settings.begin_transaction()
    settings.set("statement_timeout", "15")
    level = settings.savepoint()
    settings.set("statement_timeout", "17")
    settings.rollback_to_savepoint(level)
    assert settings.show("statement_timeout") == "15ms"
    settings.commit_transaction()
    assert settings.show("statement_timeout") == "15ms"
    # begin; savepoint a; set local 19; release a; show -> 19; rollback -> 15
    settings.begin_transaction()
    level = settings.savepoint()
    settings.set("statement_timeout", "19", local=True)
    settings.release_savepoint(level)
    assert settings.show("statement_timeout") == "19ms"
    settings.abort_transaction()
    assert settings.show("statement_timeout") == "15ms"
    # begin; set 21; savepoint a; set local 23; release a; commit -> 21
    settings.begin_transaction()
    settings.set("statement_timeout", "21")
    level = settings.savepoint()
    settings.set("statement_timeout", "23", local=True)
    settings.release_savepoint(level)
    settings.commit_transaction()
    assert settings.show("statement_timeout") == "21ms"
    settings.reset_all()
    assert settings.show("statement_timeout") == "0"


def test_abort_undoes_set_and_reset_inside_nested_savepoints() -> None:
    settings = session()
    settings.set("work_mem", "8MB")
    settings.begin_transaction()
    outer = settings.savepoint()
    settings.savepoint()
    settings.reset("work_mem")
    settings.set("extra_float_digits", "3")
    assert settings.show("work_mem") == "4MB"
    settings.rollback_to_savepoint(outer)
    assert (settings.show("work_mem"), settings.show("extra_float_digits")) == ("8MB", "1")
    settings.set("work_mem", "2MB")
    settings.release_savepoint(outer)
    settings.abort_transaction()
    assert settings.show("work_mem") == "8MB"


def test_transaction_hooks_check_their_order() -> None:
    settings = session()
    with pytest.raises(InvariantViolation):
        settings.commit_transaction()
    settings.begin_transaction()
    with pytest.raises(InvariantViolation):
        settings.begin_transaction()
    with pytest.raises(InvariantViolation):
        settings.release_savepoint(1)


def test_transaction_isolation_follows_the_default_and_locks_after_first_query() -> None:
    settings = session()
    settings.set("default_transaction_isolation", "serializable")
    assert settings.show("transaction_isolation") == "serializable"
    settings.set("transaction_isolation", "read committed")     # outside a block: no effect
    assert settings.show("transaction_isolation") == "serializable"
    settings.begin_transaction()
    settings.set("transaction_isolation", "repeatable read")
    assert settings.show("transaction_isolation") == "repeatable read"
    settings.mark_snapshot_taken()
    error = error_of(settings.set, "transaction_isolation", "read committed")
    assert isinstance(error, InvalidTransactionState)
    assert (error.sqlstate, error.message) == \
        ("25001", "SET TRANSACTION ISOLATION LEVEL must be called before any query")
    settings.commit_transaction()
    assert settings.show("transaction_isolation") == "serializable"


def test_read_write_mode_is_refused_on_a_hot_standby() -> None:
    settings = session()
    settings.set_internal("in_hot_standby", "on")
    settings.begin_transaction()
    assert error_of(settings.set, "transaction_read_only", "off").sqlstate == "25006"


# -- ParameterStatus, start-up options, reloads -------------------------------------------------------

def test_startup_reports_list_postgresql_reported_settings_in_order() -> None:
    settings = session()
    settings.apply_startup_options({"application_name": "psql"})
    settings.set_session_user("alice", superuser=False)
    reports = settings.startup_reports()
    assert [name for name, _ in reports] == [
        "application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
        "in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser",
        "server_encoding", "server_version", "session_authorization",
        "standard_conforming_strings", "TimeZone"]
    values = dict(reports)
    assert (values["application_name"], values["is_superuser"],
            values["session_authorization"]) == ("psql", "off", "alice")
    assert settings.reported_changes() == []


def test_reported_changes_follow_set_rollback_and_reset() -> None:
    settings = session()
    settings.startup_reports()
    settings.set("statement_timeout", "5")          # not a reported setting
    assert settings.reported_changes() == []
    settings.begin_transaction()
    settings.set("DateStyle", "german")
    settings.set("application_name", "x")
    assert settings.reported_changes() == [("application_name", "x"),
                                           ("DateStyle", "German, DMY")]
    settings.abort_transaction()
    assert settings.reported_changes() == [("application_name", ""), ("DateStyle", "ISO, MDY")]
    assert set(REPORTED_SETTINGS) >= {"TimeZone", "server_version", "integer_datetimes"}


def test_startup_options_become_reset_values() -> None:
    settings = session()
    settings.apply_startup_options({"work_mem": "8MB", "log_connections": "on"})
    settings.set("work_mem", "1MB")
    settings.reset("work_mem")
    assert settings.show("work_mem") == "8MB"
    assert settings.source_of("work_mem").kind == "client"
    with pytest.raises(CantChangeRuntimeParam):
        settings.apply_startup_options({"port": "1"})


def test_sessions_follow_a_reload_unless_they_set_the_value(tmp_path: object) -> None:
    datadir = str(tmp_path)
    first = build_settings(datadir, {}).settings
    settings = session(settings=first)
    settings.set("work_mem", "1MB")
    with open(os.path.join(datadir, "postgresql.conf"), "w", encoding="utf-8") as handle:
        handle.write("work_mem = 9MB\nstatement_timeout = 7s\n")
    load = reload_settings(first, datadir, {})
    settings.refresh(load.settings)
    assert (settings.show("work_mem"), settings.show("statement_timeout")) == ("1MB", "7s")
    settings.reset("work_mem")
    assert settings.show("work_mem") == "9MB"


def test_pg_settings_rows() -> None:
    settings = session()
    settings.set("statement_timeout", "5")
    rows = {row["name"]: row for row in settings.pg_settings_rows()}
    assert "is_superuser" not in rows and "session_authorization" not in rows
    assert {key: rows["shared_buffers"][key] for key in
            ("setting", "unit", "context", "vartype", "min_val", "max_val", "boot_val",
             "source", "category")} == {
        "setting": "16384", "unit": "8kB", "context": "postmaster", "vartype": "integer",
        "min_val": "16", "max_val": "1073741823", "boot_val": "16384", "source": "default",
        "category": "Resource Usage / Memory"}
    assert (rows["statement_timeout"]["setting"], rows["statement_timeout"]["source"],
            rows["statement_timeout"]["reset_val"]) == ("5", "session", "0")
    assert rows["synchronous_commit"]["enumvals"] == \
        ["local", "remote_write", "remote_apply", "on", "off"]
    assert rows["checkpoint_completion_target"]["vartype"] == "real"
    names = [row["name"] for row in settings.pg_settings_rows()]
    assert names == sorted(names, key=str.lower)
    assert [name for name, _, _ in settings.show_all()] == names


# -- files: start-up, reload, ALTER SYSTEM --------------------------------------------------------------

def write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_reload_logs_like_postgresql(tmp_path: object) -> None:
    datadir = str(tmp_path)
    conf = os.path.join(datadir, "postgresql.conf")
    auto = os.path.join(datadir, "postgresql.auto.conf")
    write(conf, "work_mem = 8MB\n")
    start = build_settings(datadir, {})
    assert start.messages == [] and start.error_file is None
    write(conf, "statement_timeout = 'xx'\n")
    write(auto, AUTO_CONF_HEADER + "port = '1'\nwal_level = 'minimal'\nwork_mem = '9MB'\n")
    load = reload_settings(start.settings, datadir, {})
    assert [message.message for message in load.messages] == [
        'invalid value for parameter "statement_timeout": "xx"',
        'parameter "port" cannot be changed without restarting the server',
        'parameter "wal_level" cannot be changed without restarting the server',
        'parameter "work_mem" changed to "9MB"',
        f'configuration file "{auto}" contains errors; unaffected changes were applied']
    new = load.settings
    assert (new.show("port"), new.show("wal_level"), new.show("work_mem")) == \
        ("5432", "replica", "9MB")
    assert new.pending_restart == {"port", "wal_level"}
    assert new.generation > start.settings.generation
    write(auto, AUTO_CONF_HEADER)
    write(conf, "")
    load = reload_settings(new, datadir, {})
    assert load.messages[0].message == \
        'parameter "work_mem" removed from configuration file, reset to default'


def test_reload_with_an_unknown_name_changes_nothing(tmp_path: object) -> None:
    datadir = str(tmp_path)
    conf = os.path.join(datadir, "postgresql.conf")
    current = build_settings(datadir, {}).settings
    write(conf, "work_mem = 8MB\nbogus_setting = 1\n")
    load = reload_settings(current, datadir, {})
    assert load.settings is current
    assert [message.message for message in load.messages] == [
        f'unrecognized configuration parameter "bogus_setting" in file "{conf}" line 2',
        f'configuration file "{conf}" contains errors; no changes were applied']


def test_startup_reads_files_then_overrides_with_sources(tmp_path: object) -> None:
    datadir = str(tmp_path)
    conf = os.path.join(datadir, "postgresql.conf")
    write(conf, "# comment\nwork_mem = '2MB'  # trailing\nport 5433\napplication_name = 'it''s'\n")
    load = build_settings(datadir, {"port": "6000"})
    settings = load.settings
    assert (settings.show("work_mem"), settings.show("port"),
            settings.show("application_name")) == ("2MB", "6000", "it's")
    assert (settings.sources["work_mem"].kind, settings.sources["work_mem"].file,
            settings.sources["work_mem"].line) == ("configuration file", conf, 2)
    assert settings.sources["port"].kind == "command line"
    assert settings.show("data_directory") == os.path.abspath(datadir)
    with pytest.raises(MirrordbError) as caught:
        build_settings(datadir, {"nonexist": "1"})
    assert caught.value.sqlstate == "42704"


def test_engine_style_settings_refuse_unknown_file_entries(tmp_path: object) -> None:
    datadir = str(tmp_path)
    write(os.path.join(datadir, "postgresql.conf"), "bogus = 1\n")
    with pytest.raises(ConfigFileError):
        Settings(None, datadir)
    write(os.path.join(datadir, "postgresql.conf"), "custom.option = 1\n")
    assert Settings(None, datadir).get("custom.option") == "1"


def test_alter_system_rewrites_postgresql_auto_conf(tmp_path: object) -> None:
    datadir = str(tmp_path)
    path = os.path.join(datadir, "postgresql.auto.conf")
    alter_system(datadir, "work_mem", "8MB")
    alter_system(datadir, "statement_timeout", "5000")
    alter_system(datadir, "application_name", "it's")
    alter_system(datadir, "search_path", ["a", "b c"])
    alter_system(datadir, "work_mem", "9MB")
    alter_system(datadir, "statement_timeout", None)
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == AUTO_CONF_HEADER + (
            "application_name = 'it''s'\n"
            "search_path = 'a, \"b c\"'\n"
            "work_mem = '9MB'\n")
    settings = Settings(None, datadir)
    assert (settings.show("application_name"), settings.show("search_path")) == \
        ("it's", 'a, "b c"')
    assert error_of(alter_system, datadir, "server_version", "x").sqlstate == "55P02"
    assert error_of(alter_system, datadir, "nonexist", "1").sqlstate == "42704"
    assert isinstance(error_of(alter_system, datadir, "work_mem", "5 ms"), InvalidParameterValue)
    alter_system(datadir, "all", None)
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == AUTO_CONF_HEADER
    server_settings = Settings(None, datadir)
    assert error_of(session(superuser=False, settings=server_settings).alter_system,
                    "work_mem", "1MB").sqlstate == "42501"
    session(settings=server_settings).alter_system("work_mem", "1MB")
    assert Settings(None, datadir).show("work_mem") == "1MB"


def test_every_default_parses_and_shows_back_to_itself() -> None:
    for setting in SETTINGS:
        value = parse_value(setting, setting.default)
        assert parse_value(setting, format_value(setting, value)) == value, setting.name


def test_sample_configuration_is_readable_and_complete(tmp_path: object) -> None:
    datadir = str(tmp_path)
    text = render_postgresql_conf()
    write(os.path.join(datadir, "postgresql.conf"), text.replace("#work_mem", "work_mem"))
    assert Settings(None, datadir).show("work_mem") == "4MB"
    assert "#port = '5432'" in text and "server_version" not in text


def test_setting_names_are_unique_case_insensitively() -> None:
    names = [setting.name.lower() for setting in SETTINGS]
    assert len(names) == len(set(names))
