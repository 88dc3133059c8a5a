"""Fuzz: a slot state file decoder meets garbage and damaged files with DataCorrupted only, and
every slot it can encode decodes back to itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mirrordb.common.errors import DataCorrupted
from mirrordb.replication import slots as S

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=63)
LSNS = st.integers(min_value=0, max_value=2**64 - 1)
XIDS = st.integers(min_value=0, max_value=2**32 - 1)


@given(st.binary(max_size=400))
def test_garbage_raises_only_data_corrupted(raw: bytes) -> None:
    try:
        S.decode_slot_state(raw, "pg_replslot/x/state")
    except DataCorrupted:
        pass


@given(NAMES, LSNS, XIDS, st.integers(min_value=0, max_value=199), st.integers(1, 255))
def test_any_flipped_byte_is_caught(name: str, lsn: int, xmin: int, offset: int,
                                    mask: int) -> None:
    raw = bytearray(S.encode_slot_state(S.ReplicationSlot(name, restart_lsn=lsn, xmin=xmin)))
    raw[offset] ^= mask
    try:
        S.decode_slot_state(bytes(raw), "p")
    except DataCorrupted:
        return
    raise AssertionError(f"damage at byte {offset} went unnoticed")


@given(NAMES, LSNS, XIDS)
def test_round_trip(name: str, lsn: int, xmin: int) -> None:
    slot = S.ReplicationSlot(name, restart_lsn=lsn, xmin=xmin)
    decoded, persistency = S.decode_slot_state(S.encode_slot_state(slot), "p")
    assert persistency == S.RS_PERSISTENT
    assert decoded == slot
