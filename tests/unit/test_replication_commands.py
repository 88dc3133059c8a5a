"""Unit tests for replication/commands.py: the exact command texts PostgreSQL 15's tools send,
and the errors PostgreSQL 15 gives for everything else."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.replication import commands as rc


def sqlstate_of(text: str) -> str:
    with pytest.raises(MirrordbError) as info:
        rc.parse_command(text)
    return info.value.sqlstate


def test_identify_system_and_show() -> None:
    assert rc.parse_command("IDENTIFY_SYSTEM") == rc.IdentifySystem()
    assert rc.parse_command("identify_system;") == rc.IdentifySystem()
    assert rc.parse_command("SHOW data_directory_mode") == rc.Show("data_directory_mode")
    assert rc.parse_command('SHOW "Wal_Segment_Size"') == rc.Show("Wal_Segment_Size")
    assert rc.parse_command("SHOW a.b") == rc.Show("a.b")


def test_timeline_history() -> None:
    assert rc.parse_command("TIMELINE_HISTORY 2") == rc.TimelineHistory(2)
    with pytest.raises(rc.ReplicationSyntaxError, match="invalid timeline 0"):
        rc.parse_command("TIMELINE_HISTORY 0")


def test_create_slot_as_the_tools_send_it() -> None:
    command = rc.parse_command('CREATE_REPLICATION_SLOT "standby1_slot" PHYSICAL ( RESERVE_WAL)')
    assert command == rc.CreateReplicationSlot("standby1_slot", "physical", False,
                                               options={"reserve_wal": None})
    assert command.reserve_wal
    command = rc.parse_command(
        'CREATE_REPLICATION_SLOT "pg_basebackup_7187" TEMPORARY PHYSICAL ( RESERVE_WAL)')
    assert command.temporary and command.reserve_wal and command.slot_name == "pg_basebackup_7187"
    command = rc.parse_command('CREATE_REPLICATION_SLOT "rw_slot" PHYSICAL')
    assert not command.reserve_wal and not command.temporary
    legacy = rc.parse_command("create_replication_slot s1 physical reserve_wal")
    assert legacy.reserve_wal
    off = rc.parse_command("CREATE_REPLICATION_SLOT s1 PHYSICAL (RESERVE_WAL false)")
    assert not off.reserve_wal
    logical = rc.parse_command("CREATE_REPLICATION_SLOT s LOGICAL pgoutput")
    assert logical.kind == "logical" and logical.plugin == "pgoutput"


def test_drop_and_read_slot() -> None:
    assert rc.parse_command('DROP_REPLICATION_SLOT "x"') == rc.DropReplicationSlot("x")
    assert rc.parse_command("DROP_REPLICATION_SLOT x WAIT") == rc.DropReplicationSlot("x", True)
    assert rc.parse_command('READ_REPLICATION_SLOT "rw_slot"') == rc.ReadReplicationSlot("rw_slot")


def test_start_replication_forms() -> None:
    assert rc.parse_command('START_REPLICATION SLOT "standby1_slot" 0/3000000 TIMELINE 1') == \
        rc.StartReplication(0x3000000, "standby1_slot", 1)
    assert rc.parse_command("START_REPLICATION 0/10000000 TIMELINE 1") == \
        rc.StartReplication(0x10000000, None, 1)
    assert rc.parse_command("START_REPLICATION PHYSICAL 1/a") == \
        rc.StartReplication((1 << 32) | 0xA)
    logical = rc.parse_command("START_REPLICATION SLOT s LOGICAL 0/0 (proto_version '1')")
    assert logical.kind == "logical" and logical.options == {"proto_version": "1"}


def test_base_backup_as_pg_basebackup_sends_it() -> None:
    command = rc.parse_command(
        "BASE_BACKUP ( LABEL 'pg_basebackup base backup',  PROGRESS,  CHECKPOINT 'fast',  "
        "WAIT 0,  MANIFEST 'yes',  TARGET 'client')")
    assert command == rc.BaseBackup({"label": "pg_basebackup base backup", "progress": None,
                                     "checkpoint": "fast", "wait": 0, "manifest": "yes",
                                     "target": "client"})
    assert list(command.options) == ["label", "progress", "checkpoint", "wait", "manifest",
                                     "target"]
    assert rc.parse_command("BASE_BACKUP") == rc.BaseBackup({})
    assert rc.parse_command("BASE_BACKUP (LABEL 'it''s')").options == {"label": "it's"}


@pytest.mark.parametrize("text", [
    "BASE_BACKUP LABEL 'x' FAST NOWAIT",       # the legacy form is gone in 15
    "IDENTIFY_SYSTEM foo",
    "START_REPLICATION SLOT 0/1",
    "START_REPLICATION SLOT x PHYSICAL",
    "CREATE_REPLICATION_SLOT x",
    "DROP_REPLICATION_SLOT",
    "SHOW",
    "BASE_BACKUP (LABEL 'a', LABEL 'b')",
    "BASE_BACKUP (",
    "TIMELINE_HISTORY x",
    "START_REPLICATION 0/1 TIMELINE 0",
    "SHOW 'x",
    'SHOW ""',
    'SHOW "x',
    "IDENTIFY_SYSTEM ; ;",
])
def test_syntax_errors(text: str) -> None:
    assert sqlstate_of(text) == "42601"


@pytest.mark.parametrize("text", ["SELECT 1", "select pg_current_wal_lsn()", "BEGIN", "x"])
def test_sql_is_refused_on_a_physical_walsender(text: str) -> None:
    with pytest.raises(rc.SqlInPhysicalWalsender,
                       match="cannot execute SQL commands in WAL sender for physical replication"):
        rc.parse_command(text)
    assert sqlstate_of(text) == "0A000"


def test_empty_command() -> None:
    assert rc.parse_command("") == rc.EmptyCommand()
    assert rc.parse_command("  ;") == rc.EmptyCommand()


def test_option_is_true() -> None:
    assert rc.option_is_true({"a": None}, "a")
    assert rc.option_is_true({"a": 1}, "a")
    assert not rc.option_is_true({"a": "off"}, "a")
    assert not rc.option_is_true({}, "a")
    with pytest.raises(rc.ReplicationSyntaxError):
        rc.option_is_true({"a": "maybe"}, "a")
