"""FOREIGN KEY constraints side by side with a real PostgreSQL 15: column ``REFERENCES`` and
table ``FOREIGN KEY`` clauses in CREATE TABLE and ALTER TABLE (NOT VALID, VALIDATE), the
referenced columns' unique constraint (42830) and the other definition errors, the checks on
INSERT, UPDATE and COPY FROM, every ON DELETE / ON UPDATE action (NO ACTION, RESTRICT, CASCADE,
SET NULL, SET DEFAULT), MATCH FULL, self-references, DROP TABLE and TRUNCATE of a referenced
table, and what clients read (pg_constraint's columns, pg_get_constraintdef, and psql's \\d
"Foreign-key constraints:" and "Referenced by:").

Each scenario runs its statements in order on both servers (tests/compat/differential.py); every
answer must match: rows, or SQLSTATE, message, DETAIL, hint and position, and notices.
"""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from differential import MARKS, Ours, Reference, assert_same, copy_in_error, pair_fixture

pytestmark = MARKS

PSQL = "/usr/lib/postgresql/15/bin/psql"
PSQL_TIMEOUT_S = 60
CATALOG_ROWS = ("select conname, contype, confrelid::regclass, conkey, confkey, confupdtype, "
                "confdeltype, confmatchtype, conindid::regclass, convalidated, condeferrable, "
                "pg_get_constraintdef(oid), pg_get_constraintdef(oid, true) "
                "from pg_constraint where contype = 'f' order by 1")

SCENARIOS: dict[str, list[str]] = {
    "define and check": [
        "create table p (id int primary key, code text unique, a int, b int, unique (a, b), "
        "n int)",
        "create table c (id int, pid int references p, code text references p (code) "
        "on delete cascade, a int, b int, foreign key (a, b) references p (a, b) "
        "on update set null)",
        CATALOG_ROWS,
        "select relname, relhastriggers from pg_class where relname in ('p', 'c') order by 1",
        "insert into c values (1, 5, null, null, null)",
        "insert into p values (5, 'x', 1, 2)",
        "insert into c values (1, 5, null, null, null)",
        "insert into c values (2, null, 'y', null, null)",
        "insert into c values (2, null, 'x', 1, null)",
        "insert into c values (2, null, 'x', 1, 3)",
        "insert into c values (2, null, 'x', 1, 2)",
        "update c set pid = 6 where id = 1",
        "update c set pid = 5, id = 10 where id = 1",
        "delete from p",
        "update p set id = 6",
        "update p set code = 'z'",
        "update p set a = 9",
        "select * from c order by id, code, a",
        "insert into p values (7, 'y', 3, 4), (8, 'w', null, null)",
        "insert into c select 20 + id, id, code, a, b from p where id > 6",
        "delete from p where id = 8",
        "select id, pid, code from c order by id, code",
    ],
    "definition errors": [
        "create table q (id int primary key, n int, t text unique)",
        "create table noprim (a int)",
        "create table bad (x int references q (n))",
        "create table bad (x int references q (id, n))",
        "create table bad (x int references nope)",
        "create table bad (x text references q)",
        "create table bad (x int references q (zz))",
        "create table bad (x int, foreign key (y) references q)",
        "create table bad (x int, y int, foreign key (x, y) references q)",
        "create table bad (x int references noprim)",
        "create table bad (x varchar(5) references q (t), "
        "constraint named foreign key (x) references q (t))",
        "select conname from pg_constraint where conrelid = 'bad'::regclass",
        "create table bad2 (x int constraint k foreign key references q, "
        "constraint k foreign key (x) references q)",
        "create table bad3 (x int references q not deferrable initially immediate)",
        "select count(*) from pg_constraint where conname like 'bad3%'",
    ],
    "actions": [
        "create table pp (k int primary key, v int)",
        "create table cc (k int references pp on delete restrict on update cascade)",
        "create table cd (k int default 0 references pp on delete set default, m int)",
        "create table cn (k int references pp on delete set null on update restrict, m int)",
        "insert into pp values (0, 0), (1, 1), (2, 2), (3, 3)",
        "insert into cc values (1), (2)",
        "insert into cd values (1, 1), (2, 2)",
        "insert into cn values (3, 3)",
        "delete from pp where k = 1",
        "update pp set k = 10 where k = 1",
        "select * from cc order by k",
        "update pp set k = 30 where k = 3",
        "delete from pp where k = 3",
        "select * from cn",
        "delete from pp where k = 2",
        "delete from cc where k = 2",
        "delete from pp where k = 2",
        "select * from cd order by m",
        "delete from pp where k = 0",
        "update pp set v = 5",
        "update pp set k = k",
        "truncate pp",
        "truncate cc",
        "truncate pp, cc, cd, cn",
        "create table t1 (k int primary key)",
        "create table t2 (k int primary key references t1)",
        "create table t3 (k int references t2)",
        "create table t4 (k int references t1)",
        "insert into t1 values (1)",
        "insert into t2 values (1)",
        "insert into t3 values (1)",
        "truncate t1 cascade",
        "select (select count(*) from t2) + (select count(*) from t3)",
        "truncate t2, t1 cascade",
    ],
    "self reference and match full": [
        "create table tree (id int primary key, parent int references tree on delete cascade)",
        "insert into tree values (1, null), (2, 1), (3, 2), (4, 1)",
        "insert into tree values (5, 9)",
        "insert into tree values (6, 7), (7, 6)",
        "delete from tree where id = 2",
        "select * from tree order by id",
        "delete from tree where id = 1",
        "select * from tree order by id",
        "create table p2 (x int, y int, primary key (x, y))",
        "create table mf (a int, b int, foreign key (a, b) references p2 (x, y) match full)",
        "insert into mf values (1, null)",
        "insert into mf values (null, null)",
        "insert into mf values (1, 2)",
        "create table ms (a int, b int, foreign key (b, a) references p2 (y, x))",
        "insert into ms values (1, null)",
        "insert into p2 values (1, 2)",
        "insert into ms values (1, 2), (2, 1)",
        "insert into ms values (1, 2)",
        "select pg_get_constraintdef(oid) from pg_constraint where conrelid in "
        "('mf'::regclass, 'ms'::regclass) order by 1",
    ],
    "alter and drop": [
        "create table ap (k int primary key)",
        "create table ac (k int, j int)",
        "insert into ap values (1), (2)",
        "insert into ac values (1, 1), (99, 2)",
        "alter table ac add constraint ac_k_fkey foreign key (k) references ap",
        "alter table ac add constraint ac_k_fkey foreign key (k) references ap not valid",
        "alter table ac add foreign key (j) references ap",
        "select conname, convalidated, pg_get_constraintdef(oid) from pg_constraint "
        "where conrelid = 'ac'::regclass order by 1",
        "insert into ac values (98, 1)",
        "alter table ac validate constraint ac_k_fkey",
        "delete from ac where k = 99",
        "alter table ac validate constraint ac_k_fkey",
        "select conname, convalidated from pg_constraint where conrelid = 'ac'::regclass "
        "order by 1",
        "alter table ac add column l int references ap",
        "insert into ac values (1, 1, 7)",
        "alter table ap drop constraint ap_pkey",
        "drop table ap",
        "alter table ac drop constraint ac_j_fkey",
        "alter table ac drop constraint ac_j_fkey",
        "alter table ac drop constraint if exists ac_j_fkey",
        "drop table ap cascade",
        "select count(*) from pg_constraint where contype = 'f' "
        "and conrelid = 'ac'::regclass",
        "insert into ac values (12345, 1, 1)",
        "create table ap2 (k int primary key)",
        "create table ac2 (k int references ap2)",
        "drop table ac2, ap2",
        "begin",
        "create table tp (k int primary key)",
        "create table tc (k int references tp)",
        "insert into tp values (1)",
        "insert into tc values (1)",
        "rollback",
        "select count(*) from pg_class where relname in ('tp', 'tc')",
    ],
}


both = pair_fixture("fkeys", [], detailed=True)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_matches_postgres(both: tuple[Reference, Ours], scenario: str) -> None:
    assert_same(both, SCENARIOS[scenario])


def test_deferrable_is_refused(both: tuple[Reference, Ours]) -> None:
    """Where mirrordb differs on purpose: DEFERRABLE constraints are 0A000."""
    _, ours = both
    for statement in ["create table df (k int references pp deferrable)",
                      "create table df (k int, foreign key (k) references pp "
                      "deferrable initially deferred)"]:
        assert ours.run(statement)[:3] == ("error", "0A000",
                                           "DEFERRABLE constraints is not supported"
                                           if "initially" not in statement else
                                           "DEFERRABLE foreign key constraints is not "
                                           "supported")


def _psql(dsn: str, commands: str) -> str:
    result = subprocess.run([PSQL, "-X", "-d", dsn], input=commands, capture_output=True,
                            text=True, timeout=PSQL_TIMEOUT_S, check=False)
    return result.stdout + result.stderr


def _dsn(connection: psycopg.Connection) -> str:
    info = connection.info
    return f"host={info.host} port={info.port} user={info.user} dbname={info.dbname}"


def test_psql_describe_matches(both: tuple[Reference, Ours], module_server: object) -> None:
    """psql's \\d prints "Foreign-key constraints:", "Referenced by:" and "Check
    constraints:" as for PostgreSQL (a real mirrordb server: psql speaks the protocol)."""
    reference, _ = both
    schema = ["create table dp (id int primary key, code text unique)",
              "create table dc (id int check (id > 0), pid int references dp on delete cascade, "
              "code text references dp (code) match full on update set null)",
              "alter table dc add constraint late foreign key (id) references dp not valid",
              "create table dt (id int primary key, up int references dt)"]
    mine = _dsn_of(module_server)
    with psycopg.connect(mine, autocommit=True) as connection:
        for statement in schema:
            reference.connection.execute(statement)
            connection.execute(statement)
    commands = "\\d dc\n\\d dp\n\\d dt\n"
    expected = _psql(_dsn(reference.connection), commands)
    assert 'TABLE "dc" CONSTRAINT "dc_pid_fkey"' in expected
    assert _psql(mine, commands) == expected


def _dsn_of(server: object) -> str:
    return server.dsn()  # type: ignore[attr-defined,no-any-return]


def test_copy_from_checks_references(both: tuple[Reference, Ours],
                                     module_server: object) -> None:
    """COPY FROM checks each row's reference once the data is in."""
    reference, _ = both
    with psycopg.connect(_dsn_of(module_server), autocommit=True) as mine:
        for statement in ["create table fp (k int primary key)",
                          "insert into fp values (1), (2)",
                          "create table fc (k int references fp)"]:
            reference.connection.execute(statement)
            mine.execute(statement)
        for data in ["1\n2\n\\N\n", "1\n3\n"]:
            assert copy_in_error(mine, "copy fc from stdin", data) == \
                copy_in_error(reference.connection, "copy fc from stdin", data), data
        counted = "select count(*) from fc"
        assert mine.execute(counted).fetchall() == \
            reference.connection.execute(counted).fetchall() == [(3,)]
