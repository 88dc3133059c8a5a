"""Replication slots: the state file codec (byte-exact against PostgreSQL 15), corruption,
name rules, the manager's create/acquire/release/drop rules, persistence and WAL retention."""

from __future__ import annotations

import os

import pytest

from mirrordb.common.errors import DataCorrupted, MirrordbError
from mirrordb.replication import slots as S

# pg_replslot/<name>/state written by PostgreSQL 15.18 for
# pg_create_physical_replication_slot('s1', true) (restart_lsn 0/1500790) and ('abc_2').
PG15_S1_STATE = bytes.fromhex(
    "a11c050151bafc4c02000000b8000000" "7331" + "00" * 62 + "00" * 16
    + "9007500100000000" + "00" * 96)
PG15_ABC2_STATE = bytes.fromhex(
    "a11c0501e657961b02000000b8000000" "6162635f32" + "00" * 59 + "00" * 16
    + "00" * 104)

SEGMENT = 1024 * 1024


def test_encoding_matches_postgresql_15_byte_for_byte() -> None:
    assert len(PG15_S1_STATE) == S.STATE_FILE_SIZE == 200
    slot = S.ReplicationSlot("s1", restart_lsn=0x1500790)
    assert S.encode_slot_state(slot) == PG15_S1_STATE
    assert S.encode_slot_state(S.ReplicationSlot("abc_2")) == PG15_ABC2_STATE


def test_decoding_postgresql_15_file() -> None:
    slot, persistency = S.decode_slot_state(PG15_S1_STATE, "pg_replslot/s1/state")
    assert persistency == S.RS_PERSISTENT
    assert (slot.name, slot.slot_type, slot.restart_lsn, slot.invalidated) == \
        ("s1", "physical", 0x1500790, False)


def test_round_trip_keeps_every_field() -> None:
    slot = S.ReplicationSlot("standby_1", restart_lsn=0x12345678_9ABCDEF0, xmin=777)
    decoded, _ = S.decode_slot_state(S.encode_slot_state(slot), "x")
    assert decoded == slot
    lost = S.ReplicationSlot("gone", invalidated=True, invalidated_at=0x3000000)
    decoded, _ = S.decode_slot_state(S.encode_slot_state(lost), "x")
    assert decoded.invalidated and decoded.restart_lsn == 0 and decoded.invalidated_at == 0x3000000


@pytest.mark.parametrize("offset, message", [
    (0, "has wrong magic number: "),
    (8, "has unsupported version"),
    (12, "has corrupted length"),
    (4, "checksum mismatch for replication slot file"),
    (100, "checksum mismatch for replication slot file"),
    (199, "checksum mismatch for replication slot file"),
])
def test_corruption_is_detected(offset: int, message: str) -> None:
    damaged = bytearray(PG15_S1_STATE)
    damaged[offset] ^= 0x40
    with pytest.raises(DataCorrupted) as caught:
        S.decode_slot_state(bytes(damaged), "pg_replslot/s1/state")
    assert message in caught.value.message
    assert '"pg_replslot/s1/state"' in caught.value.message


def test_truncated_file_is_detected() -> None:
    with pytest.raises(DataCorrupted, match="could not read file"):
        S.decode_slot_state(PG15_S1_STATE[:150], "p")
    with pytest.raises(DataCorrupted, match="could not read file"):
        S.decode_slot_state(PG15_S1_STATE[:10], "p")


@pytest.mark.parametrize("name, sqlstate, words", [
    ("", "42602", "is too short"),
    ("a" * 64, "42622", "is too long"),
    ("Bad-Name", "42602", "contains invalid character"),
    ("sp ace", "42602", "contains invalid character"),
])
def test_name_rules(name: str, sqlstate: str, words: str) -> None:
    with pytest.raises(MirrordbError) as caught:
        S.validate_slot_name(name)
    assert caught.value.sqlstate == sqlstate and words in caught.value.message


def test_good_names() -> None:
    for name in ("a", "standby_1", "a" * 63, "0_9"):
        S.validate_slot_name(name)


def _manager(tmp_path: object, limit: int = 10) -> S.SlotManager:
    manager = S.SlotManager(str(tmp_path), limit)
    manager.current_redo_lsn = lambda: 0x2000028
    manager.load()
    return manager


def test_create_persists_and_survives_reload(tmp_path: object) -> None:
    manager = _manager(tmp_path)
    created = manager.create("s1", reserve_wal=True)
    assert created.restart_lsn == 0x2000028 and not created.active
    path = os.path.join(str(tmp_path), "pg_replslot", "s1", "state")
    assert os.path.getsize(path) == 200
    assert not os.path.exists(path + ".tmp")
    manager.update_restart_lsn("s1", 0x3000000)
    manager.update_xmin("s1", 900)
    assert S.SlotManager(str(tmp_path), 10).required_lsn() == 0   # not loaded yet
    reread = _manager(tmp_path)
    assert reread.get("s1").restart_lsn == 0x2000028   # not checkpointed yet
    manager.checkpoint()
    reread = _manager(tmp_path)
    slot = reread.get("s1")
    assert (slot.restart_lsn, slot.xmin, slot.active_pid) == (0x3000000, 900, None)


def test_duplicate_missing_full_and_active_errors(tmp_path: object) -> None:
    manager = _manager(tmp_path, limit=2)
    manager.create("a")
    with pytest.raises(MirrordbError) as caught:
        manager.create("a")
    assert caught.value.sqlstate == "42710"
    assert caught.value.message == 'replication slot "a" already exists'
    manager.create("b")
    with pytest.raises(MirrordbError) as caught:
        manager.create("c")
    assert caught.value.sqlstate == "53400"
    assert caught.value.message == "all replication slots are in use"
    assert caught.value.hint == "Free one or increase max_replication_slots."
    with pytest.raises(MirrordbError) as caught:
        manager.drop("zz")
    assert (caught.value.sqlstate, caught.value.message) == \
        ("42704", 'replication slot "zz" does not exist')
    manager.acquire("a", 4242)
    with pytest.raises(MirrordbError) as caught:
        manager.acquire("a", 1)
    assert (caught.value.sqlstate, caught.value.message) == \
        ("55006", 'replication slot "a" is active for PID 4242')
    with pytest.raises(MirrordbError) as caught:
        manager.drop("a")
    assert caught.value.sqlstate == "55006"
    manager.release("a", 4242)
    manager.drop("a")
    assert manager.get("a") is None
    assert not os.path.exists(os.path.join(str(tmp_path), "pg_replslot", "a"))


def test_no_slots_when_max_replication_slots_is_zero(tmp_path: object) -> None:
    manager = _manager(tmp_path, limit=0)
    with pytest.raises(MirrordbError) as caught:
        manager.create("a")
    assert caught.value.sqlstate == "55000"


def test_temporary_slots_are_never_written_and_die_with_their_session(tmp_path: object) -> None:
    manager = _manager(tmp_path)
    manager.create("t", temporary=True, reserve_wal=True, owner_pid=77)
    assert not os.path.exists(os.path.join(str(tmp_path), "pg_replslot", "t"))
    assert manager.get("t").active_pid == 77
    manager.checkpoint()
    assert not os.path.exists(os.path.join(str(tmp_path), "pg_replslot", "t"))
    manager.release_all_for(77)
    assert manager.get("t") is None
    manager.create("t2", temporary=True, owner_pid=78)
    alive = {78}
    manager.is_process_alive = lambda pid: pid in alive
    assert manager.get("t2") is not None
    alive.clear()
    assert manager.get("t2") is None          # its session went away


def test_required_lsn_and_xmin(tmp_path: object) -> None:
    manager = _manager(tmp_path)
    assert manager.required_lsn() == 0 and manager.required_xmin() == 0
    manager.create("a", reserve_lsn=0x5000000, reserve_wal=True)
    manager.create("b", reserve_lsn=0x4000000, reserve_wal=True)
    manager.create("c")
    assert manager.required_lsn() == 0x4000000
    manager.update_xmin("a", 1000)
    manager.update_xmin("c", 990)
    assert manager.required_xmin() == 990
    lost = manager.invalidate_obsolete(0x4800000)
    assert [s.name for s in lost] == ["b"]
    assert manager.required_lsn() == 0x5000000
    reread = _manager(tmp_path)
    slot = reread.get("b")
    assert slot.invalidated and slot.restart_lsn == 0 and slot.invalidated_at == 0x4000000
    reread.update_restart_lsn("b", 0x9000000)         # a lost slot stays lost
    assert reread.get("b").restart_lsn == 0


def test_load_removes_leftovers_and_refuses_damage(tmp_path: object) -> None:
    manager = _manager(tmp_path)
    manager.create("keep")
    base = os.path.join(str(tmp_path), "pg_replslot")
    os.mkdir(os.path.join(base, "half_made.tmp"))
    open(os.path.join(base, "keep", "state.tmp"), "wb").close()
    ephemeral = bytearray(S.encode_slot_state(S.ReplicationSlot("eph")))
    ephemeral[84] = S.RS_EPHEMERAL
    ephemeral[4:8] = S.crc32c(bytes(ephemeral[8:])).to_bytes(4, "little")
    os.mkdir(os.path.join(base, "eph"))
    with open(os.path.join(base, "eph", "state"), "wb") as handle:
        handle.write(ephemeral)
    reread = _manager(tmp_path)
    assert [s.name for s in reread.slots()] == ["keep"]
    assert sorted(os.listdir(base)) == ["keep"]
    assert os.listdir(os.path.join(base, "keep")) == ["state"]
    with open(os.path.join(base, "keep", "state"), "r+b") as handle:
        handle.seek(0)
        handle.write(b"\0")
    with pytest.raises(DataCorrupted, match='replication slot file "pg_replslot/keep/state" has '
                                            'wrong magic number'):
        _manager(tmp_path)


def test_too_many_slots_on_disk(tmp_path: object) -> None:
    manager = _manager(tmp_path)
    manager.create("a")
    manager.create("b")
    with pytest.raises(MirrordbError, match="too many replication slots active before shutdown"):
        _manager(tmp_path, limit=1)


def test_keep_log_segment_follows_postgresql() -> None:
    # no slot, no wal_keep_size: no demand
    assert S.keep_log_segment(10 * SEGMENT, 0, SEGMENT, -1, 0) is None
    # a slot at segment 3 holds back to 3 without a cap
    assert S.keep_log_segment(10 * SEGMENT + 5, 3 * SEGMENT + 8, SEGMENT, -1, 0) == 3
    # capped by max_slot_wal_keep_size = 2 segments: 10 - 2
    assert S.keep_log_segment(10 * SEGMENT + 5, 3 * SEGMENT + 8, SEGMENT, 2 * SEGMENT, 0) == 8
    # wal_keep_size keeps at least 4 segments
    assert S.keep_log_segment(10 * SEGMENT, 9 * SEGMENT, SEGMENT, -1, 4 * SEGMENT) == 6
    assert S.keep_log_segment(3 * SEGMENT, 0, SEGMENT, -1, 4 * SEGMENT) == 1


def test_wal_status_and_safe_wal_size() -> None:
    slot = S.ReplicationSlot("s", restart_lsn=5 * SEGMENT + 40)
    common = dict(current_lsn=20 * SEGMENT, segment_size=SEGMENT)
    assert S.wal_status(slot, slot_keep_segment=5, oldest_existing_segment=2,
                        max_wal_size_bytes=64 * SEGMENT, **common) == "reserved"
    assert S.wal_status(slot, slot_keep_segment=5, oldest_existing_segment=2,
                        max_wal_size_bytes=4 * SEGMENT, **common) == "extended"
    assert S.wal_status(slot, slot_keep_segment=10, oldest_existing_segment=2,
                        max_wal_size_bytes=64 * SEGMENT, **common) == "unreserved"
    assert S.wal_status(slot, slot_keep_segment=10, oldest_existing_segment=8,
                        max_wal_size_bytes=64 * SEGMENT, **common) == "lost"
    assert S.wal_status(S.ReplicationSlot("x"), slot_keep_segment=1, oldest_existing_segment=1,
                        max_wal_size_bytes=SEGMENT, **common) is None
    assert S.safe_wal_size(slot, max_slot_wal_keep_size_bytes=-SEGMENT, wal_keep_size_bytes=0,
                           **common) is None
    # fail at segment 5 + 16 + 1 = 22
    assert S.safe_wal_size(slot, max_slot_wal_keep_size_bytes=16 * SEGMENT,
                           wal_keep_size_bytes=0, **common) == 2 * SEGMENT


def test_invalidation_terminates_the_slots_user(tmp_path: object) -> None:
    manager = _manager(tmp_path)
    terminated: list[int] = []
    manager.terminate_process = terminated.append
    manager.create("busy", reserve_wal=True, reserve_lsn=0x1000000)
    manager.acquire("busy", 31)
    manager.create("idle", reserve_wal=True, reserve_lsn=0x1000000)
    assert [s.name for s in manager.invalidate_obsolete(0x2000000)] == ["busy", "idle"]
    assert terminated == [31]
