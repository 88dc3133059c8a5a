"""pg_stat_replication's (sync_priority, sync_state) for three standbys s1, s2, s3, connected in
that order and streaming, under each form of synchronous_standby_names: observed on PostgreSQL
15.20 with three ``pg_receivewal --synchronous`` clients (application_name s1, s2, s3), ALTER
SYSTEM + pg_reload_conf() per form. Shared by the unit test of replication/syncrep.py and the
integration test on a running mirrordb primary."""

from __future__ import annotations

STANDBY_NAMES = ("s1", "s2", "s3")
ASYNC = (0, "async")

SYNC_STATE_TABLE: list[tuple[str, tuple[tuple[int, str], ...]]] = [
    ("", (ASYNC, ASYNC, ASYNC)),
    ("s2", (ASYNC, (1, "sync"), ASYNC)),
    ("other, s2", (ASYNC, (2, "sync"), ASYNC)),
    ("s1, s2, s3", ((1, "sync"), (2, "potential"), (3, "potential"))),
    ("s3, s1", ((2, "potential"), ASYNC, (1, "sync"))),
    ("FIRST 1 (s2, other)", (ASYNC, (1, "sync"), ASYNC)),
    ("FIRST 2 (s1, s2, s3)", ((1, "sync"), (2, "sync"), (3, "potential"))),
    ("FIRST 2 (s3, s2, s1)", ((3, "potential"), (2, "sync"), (1, "sync"))),
    ("2 (other, s2)", (ASYNC, (2, "sync"), ASYNC)),
    ("2 (s1, s2, s3)", ((1, "sync"), (2, "sync"), (3, "potential"))),
    ("ANY 1 (other, s2)", (ASYNC, (1, "quorum"), ASYNC)),
    ("ANY 2 (s1, s2, s3)", ((1, "quorum"), (1, "quorum"), (1, "quorum"))),
    ("ANY 2 (s1, s3)", ((1, "quorum"), ASYNC, (1, "quorum"))),
    ("*", ((1, "sync"), (1, "potential"), (1, "potential"))),
    ("FIRST 2 (*)", ((1, "sync"), (1, "sync"), (1, "potential"))),
    ("ANY 2 (*)", ((1, "quorum"), (1, "quorum"), (1, "quorum"))),
    ("s1, *", ((1, "sync"), (2, "potential"), (2, "potential"))),
    ("FIRST 1 (other)", (ASYNC, ASYNC, ASYNC)),
    ('"S2"', (ASYNC, (1, "sync"), ASYNC)),
    ("S3", (ASYNC, ASYNC, (1, "sync"))),
    ("FIRST 5 (s1, s2)", ((1, "sync"), (2, "sync"), ASYNC)),
    ("s1, s1", ((1, "sync"), ASYNC, ASYNC)),
    ("first 1 (s3)", (ASYNC, ASYNC, (1, "sync"))),
]
