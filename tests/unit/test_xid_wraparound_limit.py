"""Transaction ID wraparound: without freezing, no xid is assigned past XID_STOP_LIMIT
(PostgreSQL's error, SQLSTATE 54000), so rows committed before stay visible; reads go on; from
XID_WARN_LIMIT the server log warns."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mirrordb.access import xact
from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.storage import datum as T


@pytest.fixture
def engine(cluster: str) -> Iterator[Engine]:
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID)])
    yield engine
    engine.close()


def insert(engine: Engine, value: int) -> None:
    with engine.begin() as txn:
        txn.insert("t", [value])


def ids(engine: Engine) -> list[int]:
    with engine.begin("read committed", True) as txn:
        return sorted(values[0] for _, values in txn.scan("t"))


def test_the_last_xids_before_the_stop_limit_work_then_none_is_assigned(engine, caplog):
    engine.xacts.next_full_xid = xact.XID_STOP_LIMIT - 2
    insert(engine, 1)
    insert(engine, 2)         # the last xid below the limit
    assert engine.xacts.next_full_xid == xact.XID_STOP_LIMIT
    with pytest.raises(MirrordbError) as caught:
        insert(engine, 3)
    assert caught.value.sqlstate == "54000"
    assert caught.value.message == ("database is not accepting commands to avoid wraparound "
                                    'data loss in database "template1"')
    assert "does not freeze" in (caught.value.hint or "")
    assert engine.xacts.next_full_xid == xact.XID_STOP_LIMIT     # nothing was used up
    assert ids(engine) == [1, 2]     # committed rows stay visible, reads need no xid


def test_the_server_log_warns_from_the_warn_limit(engine, caplog):
    engine.xacts.next_full_xid = xact.XID_WARN_LIMIT
    with caplog.at_level(logging.WARNING, logger="mirrordb.access.xact"):
        insert(engine, 1)
        insert(engine, 2)     # not again until XID_WARN_INTERVAL xids later
    warnings = [r.getMessage() for r in caplog.records if "must be vacuumed" in r.getMessage()]
    assert warnings == [f'database "template1" must be vacuumed within '
                        f"{xact.XID_WRAP_LIMIT - xact.XID_WARN_LIMIT} transactions"]
    assert ids(engine) == [1, 2]


def test_an_epoch_past_zero_is_past_the_limit(engine):
    # (unreachable through the limit; a damaged control file could start a server there)
    engine.xacts.next_full_xid = (1 << 32) | xact.FIRST_NORMAL_XID
    with pytest.raises(MirrordbError) as caught:
        engine.xacts.assign_xid(xact.Proc())
    assert caught.value.sqlstate == "54000"
