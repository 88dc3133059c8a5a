"""Child process of the crash test: random transactions until it is killed.

Usage: crash_workload.py DATADIR ACKFILE SEED

Before each COMMIT it appends ``B <n> <json ops>`` to ACKFILE, after COMMIT returns ``C <n>``, so
the parent knows which transactions were acknowledged (and which single one was in flight when it
killed us). Aborted transactions and rolled-back savepoints insert rows with negative ids, which
must never be visible after recovery.
"""

from __future__ import annotations

import json
import os
import random
import sys

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.storage import datum as T


def ensure_schema(engine: Engine) -> None:
    with engine.begin() as txn:
        if engine.relcache.lookup("items", txn.transaction) is None:
            txn.create_table("items", [("id", T.INT8_OID), ("val", T.TEXT_OID), ("grp", T.INT4_OID)])
            txn.create_index("items_pkey", "items", ["id"], unique=True, primary=True)
            txn.create_index("items_grp", "items", ["grp"])


def main() -> None:
    datadir, ackfile, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    engine = Engine.open(datadir, {"checkpoint_timeout": "2s"})
    ensure_schema(engine)
    ack = open(ackfile, "a", buffering=1)
    with engine.begin() as txn:
        live = {values[0] for _, values in txn.scan("items")}
    next_id = max(live, default=0) + 1 + seed * 1_000_000
    counter = 0
    while True:
        counter += 1
        txn = engine.begin()
        ops: list[list[object]] = []
        try:
            for _ in range(rng.randint(1, 6)):
                roll = rng.random()
                if roll < 0.45 or not live:
                    txn.insert("items", [next_id, f"v{next_id}", next_id % 17])
                    ops.append(["put", next_id, f"v{next_id}"])
                    live.add(next_id)
                    next_id += 1
                elif roll < 0.7:
                    key = rng.choice(sorted(live))
                    (tid, _), = txn.lookup("items_pkey", (key,))
                    value = f"u{counter}"
                    txn.update("items", tid, [key, value, key % 17])
                    ops.append(["put", key, value])
                elif roll < 0.85:
                    key = rng.choice(sorted(live))
                    (tid, _), = txn.lookup("items_pkey", (key,))
                    txn.delete("items", tid)
                    ops.append(["del", key])
                    live.discard(key)
                else:
                    txn.savepoint("s")
                    txn.insert("items", [-next_id, "rolled back", 0])
                    next_id += 1
                    txn.rollback_to_savepoint("s")
                txn.new_statement()
            if rng.random() < 0.1:
                txn.insert("items", [-next_id, "aborted", 0])
                next_id += 1
                txn.abort()
                with engine.begin() as reader:  # the model forgets the aborted changes
                    live = {values[0] for _, values in reader.scan("items") if values[0] > 0}
                continue
            ack.write(f"B {seed}:{counter} {json.dumps(ops)}\n")
            txn.commit()
            ack.write(f"C {seed}:{counter}\n")
        except MirrordbError:
            txn.abort()
            raise
        if rng.random() < 0.03:
            engine.vacuum("items")
        if rng.random() < 0.02:
            engine.checkpoint()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
