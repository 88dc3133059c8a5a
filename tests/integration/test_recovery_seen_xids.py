"""Replay remembers the xids it saw so that the end of recovery can mark the unfinished ones
aborted; on a standby replaying for months that set must not grow without bound. With the
prune limit set tiny, crash recovery prunes many times, keeps the set small, and still aborts
the transaction that never finished."""

from __future__ import annotations

import pytest

from mirrordb.access.clog import XACT_ABORTED, XACT_COMMITTED
from mirrordb.engine import Engine
from mirrordb.recovery import startup
from mirrordb.storage import datum as T

PRUNE_AT = 8
COMMITTED = 60


def test_seen_xids_stay_bounded_and_unfinished_ones_still_abort(
        cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT4_OID)])
    unfinished = engine.begin()
    unfinished.insert("t", [-1])
    unfinished_xid = unfinished.transaction.top.xid
    committed_xids = []
    for key in range(COMMITTED):
        with engine.begin() as txn:
            txn.insert("t", [key])
            committed_xids.append(txn.transaction.top.xid)
    engine.wal.flush(engine.wal.insert_lsn)
    engine.crash()

    monkeypatch.setattr(startup, "SEEN_XIDS_PRUNE_AT", PRUNE_AT)
    sizes: list[int] = []
    prune = startup.Startup._prune_seen_xids

    def recording_prune(self: startup.Startup) -> None:
        prune(self)
        sizes.append(len(self._seen_xids))

    monkeypatch.setattr(startup.Startup, "_prune_seen_xids", recording_prune)
    recovered = Engine.open(cluster)
    try:
        assert len(sizes) >= COMMITTED // (2 * PRUNE_AT), sizes
        assert max(sizes) <= 2, sizes      # the unfinished xid and the one being replayed
        assert recovered.clog.status(unfinished_xid) == XACT_ABORTED
        assert all(recovered.clog.status(x) == XACT_COMMITTED for x in committed_xids)
    finally:
        recovered.close()
