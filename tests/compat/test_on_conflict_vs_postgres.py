"""INSERT ... ON CONFLICT, side by side with a real PostgreSQL 15.

Each statement runs on a throw-away PostgreSQL server (tests/compat/types_pg_server.py) and on a
mirrordb Session over a fresh cluster, in order, both starting from the same tables. They must
agree on the command tag, the result columns (names and type OIDs) and rows as text (RETURNING),
or on the error's SQLSTATE, message, hint and position; the SELECTs between the upserts check
that both tables hold the same rows.
"""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table kv (k int primary key, v int, note text default 'new')",
    "insert into kv values (1, 10, 'one'), (2, 20, 'two'), (3, 30, 'three')",
    "create table pair (a int, b int, c text, unique (a, b))",
    "insert into pair values (1, 1, 'x'), (1, 2, 'y')",
    "create table two (id int primary key, email text unique, n int default 0)",
    "insert into two values (1, 'a@x', 1), (2, 'b@x', 2)",
    "create table plain (a int, b int)",
    "create table ui (a int, b int)",
    "create unique index ui_a on ui (a)",
    "create table cnt (k text primary key, n int not null default 0)",
]

ALL_KV = "select * from kv order by k"

STATEMENTS = [
    # DO NOTHING without a target: any unique index is an arbiter
    "insert into kv values (1, 99) on conflict do nothing",
    "insert into kv values (4, 40) on conflict do nothing",
    "insert into kv values (1, 99), (5, 50), (2, 98) on conflict do nothing",
    "insert into kv values (6, 60), (6, 61) on conflict do nothing",
    "insert into kv values (1, 99) on conflict do nothing returning *",
    "insert into kv values (7, 70), (1, 1) on conflict do nothing returning k, v, note",
    ALL_KV,
    # DO NOTHING with a target
    "insert into kv values (1, 99) on conflict (k) do nothing",
    "insert into kv values (8, 80) on conflict (k) do nothing returning k",
    "insert into kv values (1, 99) on conflict on constraint kv_pkey do nothing",
    "insert into kv values (9, 90) on conflict (k) where k > 0 do nothing",
    "insert into kv select g, g * 10 from generate_series(1, 12) g on conflict do nothing "
    "returning k",
    ALL_KV,
    # DO UPDATE with EXCLUDED, the table name and an alias
    "insert into kv values (1, 5) on conflict (k) do update set v = excluded.v",
    "insert into kv values (1, 5) on conflict (k) do update set v = kv.v + excluded.v "
    "returning *",
    "insert into kv as t values (2, 7) on conflict (k) do update set v = t.v + excluded.v, "
    "note = 'upd' returning t.k, t.v, t.note",
    "insert into kv values (13, 130) on conflict (k) do update set v = -1 returning *",
    "insert into kv values (3, 1), (14, 140), (4, 1) on conflict (k) "
    "do update set v = kv.v * 100 returning k, v",
    "insert into kv values (1, 0) on conflict on constraint kv_pkey "
    "do update set note = excluded.note returning *",
    "insert into kv (k) values (2) on conflict (k) do update set v = excluded.v returning *",
    "insert into kv values (5, 1) on conflict (k) do update set v = default returning *",
    "insert into kv select k, 1 from kv where k < 4 on conflict (k) "
    "do update set v = kv.v + excluded.v returning k, v",
    ALL_KV,
    # DO UPDATE ... WHERE
    "insert into kv values (1, 1) on conflict (k) do update set v = 0 where kv.v > 1000",
    "insert into kv values (1, 1) on conflict (k) do update set v = 0 where kv.v > 1000 "
    "returning *",
    "insert into kv values (1, 1), (2, 2) on conflict (k) do update set v = 0 "
    "where kv.k = 2 returning *",
    "insert into kv as x values (3, 3) on conflict (k) do update set v = 3 "
    "where x.v <> excluded.v and excluded.k = 3 returning v",
    "insert into kv values (3, 3) on conflict (k) do update set v = 4 where excluded.v is null",
    "insert into kv values (3, 3) on conflict (k) do update set v = 4 where null",
    ALL_KV,
    # changing the key itself
    "insert into kv values (1, 1) on conflict (k) do update set k = excluded.k + 100 "
    "returning *",
    "insert into kv values (2, 1) on conflict (k) do update set k = 3",
    ALL_KV,
    # a row affected twice in one command
    "insert into kv values (20, 1), (20, 2) on conflict (k) do update set v = excluded.v",
    "insert into kv values (3, 1), (3, 2) on conflict (k) do update set v = excluded.v",
    "insert into kv values (21, 1), (21, 2) on conflict (k) do nothing returning *",
    "select * from kv where k in (3, 20, 21) order by k",
    # multi-column targets and several unique indexes
    "insert into pair values (1, 1, 'z') on conflict (a, b) do update set c = excluded.c "
    "returning *",
    "insert into pair values (1, 2, 'w') on conflict (b, a) do update set c = pair.c || "
    "excluded.c returning *",
    "insert into pair values (1, 3, 'n') on conflict (a, b) do nothing returning *",
    "insert into pair values (null, 1, 'n'), (null, 1, 'm') on conflict (a, b) do nothing "
    "returning *",
    "insert into pair values (1, 1, 'q') on conflict (a) do nothing",
    "insert into pair values (1, 1, 'q') on conflict (a, b, c) do nothing",
    "select * from pair order by a, b, c",
    "insert into two values (3, 'a@x') on conflict do nothing returning *",
    "insert into two values (3, 'a@x') on conflict (id) do nothing",
    "insert into two values (1, 'c@x') on conflict (email) do update set n = 9",
    "insert into two values (1, 'c@x') on conflict (id) do update set n = 9 returning *",
    "insert into two values (2, 'c@x') on conflict (email) do update set n = 10 returning *",
    "insert into two values (5, 'a@x', 5) on conflict (email) do update "
    "set n = two.n + excluded.n returning *",
    "insert into two values (5, 'b@x') on conflict on constraint two_email_key "
    "do update set n = 0",
    "select * from two order by id",
    # unique index that is not a constraint
    "insert into ui values (1, 1), (1, 2) on conflict (a) do nothing returning *",
    "insert into ui values (1, 3) on conflict (a) do update set b = excluded.b returning *",
    "insert into ui values (2, 1) on conflict do nothing returning *",
    # counters
    "insert into cnt values ('a', 1) on conflict (k) do update set n = cnt.n + 1 returning n",
    "insert into cnt values ('a', 1) on conflict (k) do update set n = cnt.n + 1 returning n",
    "insert into cnt (k) values ('b') on conflict (k) do update set n = cnt.n + 1 returning *",
    "select * from cnt order by k",
    # privileges: DO UPDATE needs UPDATE, a conflict target and read columns SELECT
    "create role oc_user",
    "grant insert on kv to oc_user",
    "set role oc_user",
    "insert into kv values (50, 1) on conflict do nothing",
    "insert into kv values (50, 1) on conflict (k) do nothing",
    "insert into kv values (50, 1) on conflict (k) do update set v = 1",
    "reset role",
    "grant update on kv to oc_user",
    "set role oc_user",
    "insert into kv values (50, 1) on conflict (k) do update set v = 1",
    "insert into kv values (50, 1) on conflict (k) do update set v = excluded.v",
    "insert into kv values (50, 1) on conflict (k) do update set v = kv.v",
    "insert into kv values (50, 1) on conflict (k) do nothing returning k",
    "reset role",
    "grant select on kv to oc_user",
    "set role oc_user",
    "insert into kv values (50, 1) on conflict (k) do update set v = kv.v + 1 returning *",
    "reset role",
    "drop role oc_user",
    # refused
    "insert into kv values (1, 1) on conflict do update set v = 1",
    "insert into kv values (1, 1) on conflict (v) do nothing",
    "insert into kv values (1, 1) on conflict (v) do update set v = 1",
    "insert into kv values (1, 1) on conflict (xyzzy) do nothing",
    "insert into kv values (1, 1) on conflict on constraint nope do nothing",
    "insert into plain values (1, 1) on conflict (a) do nothing",
    "insert into plain values (1, 1) on conflict do nothing returning *",
    "insert into kv values (1, 1) on conflict (k) do update set nope = 1",
    "insert into kv values (1, 1) on conflict (k) do update set v = excluded.xyzzy",
    "insert into kv values (1, 1) on conflict (k) do update set v = v + 1",
    "insert into kv values (1, 1) on conflict (k) do update set v = k",
    "insert into kv values (1, 1) on conflict (k) do update set v = other.v",
    "insert into kv values (1, 1) on conflict (k) do update set v = 1, v = 2",
    "insert into kv values (1, 1) on conflict (k) do update set v = now()",
    "insert into kv values (1, 1) on conflict (k) do update set v = array[excluded.v]",
    "insert into kv values (1, 1) on conflict (k) do update set v = 1 where excluded.k",
    "insert into kv values (1, 1) on conflict (k) do update set v = 1 where now() + '1 day'",
    "insert into kv values (1, now())",
    "insert into kv values (1, 1) on conflict (k) do update set v = 1 where v = 1",
    "insert into kv values (1, 1) on conflict ((k)) do nothing returning *",
    "insert into kv values (1, 1) on conflict (k, k) do nothing returning *",
    "insert into kv values (1, 1) on conflict ((k + 1)) do nothing",
    "insert into kv values (1, 1) on conflict (k) do update set v = excluded.ctid",
    "insert into kv values (1, 1) on conflict (k) do update set v = (select max(v) from kv) "
    "returning v",
    "insert into kv as t values (1, 1) on conflict (k) do update set v = kv.v",
    "insert into kv values (1, 1) on conflict (k) where xyzzy > 0 do nothing",
    "insert into kv values (1, 1) on conflict (k) do update set note = null, v = null "
    "where excluded.v = 1 returning *",
    "insert into kv values (1, 1) on conflict (k) do update set k = null",
    "insert into kv values (1, 1) on conflict (k) do update set k = 3",
    ALL_KV,
]


both = pair_fixture("upsert", SETUP, with_tags=True)


def test_statements_match_postgres(both: tuple[Reference, Ours]) -> None:
    """The statements run in order (each sees the tables the earlier ones left): every
    answer, and so every table state, matches PostgreSQL's."""
    assert_same(both, STATEMENTS)
