"""The row codec's registry of user-defined types across clusters in one process (tests open
many): an OID one cluster used for a type's array and another for a type itself must end up
meaning what the newest registration says, even when a registration repeats an old one."""

from __future__ import annotations

from mirrordb.storage import datum


def test_a_type_registered_again_after_its_oid_served_as_an_array() -> None:
    enum_a, enum_b = 990_002, 990_001     # cluster A: b's array is a's OID; cluster B: a
    datum.register_user_type(enum_a, datum.OID_OID, 990_000)
    datum.register_user_type(enum_b, datum.OID_OID, enum_a)
    datum.register_user_type(enum_a, datum.OID_OID, 990_000)
    codec = datum.RowCodec([enum_a])
    data, nulls = codec.encode([16402])         # an enum value: its label's OID
    assert codec.decode(data, nulls) == (16402,)
