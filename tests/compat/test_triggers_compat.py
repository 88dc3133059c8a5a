"""Triggers side by side with a real PostgreSQL 15 (sql/triggers.py).

The statements run in order on a throw-away PostgreSQL server and on a mirrordb Session over a
fresh cluster: an audit-log AFTER ROW trigger, a BEFORE trigger that rewrites NEW (and one that
skips rows by returning NULL), a validation trigger raising an exception (its CONTEXT lines),
statement-level triggers counting statements, INSTEAD OF INSERT/UPDATE/DELETE on a view, name
order, WHEN and UPDATE OF, transition tables (REFERENCING), firing from ON CONFLICT, MERGE and
TRUNCATE, ENABLE/DISABLE, RENAME, DROP, DROP FUNCTION [CASCADE], pg_trigger and
pg_get_triggerdef, and PostgreSQL's errors for bad definitions. Answers (rows, command tags,
errors with DETAIL, HINT and CONTEXT, notices) must be equal.
"""

from __future__ import annotations

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table items (id int primary key, name text, price numeric, n int default 0)",
    "create table audit (seq serial, op text, id int, old_name text, new_name text, "
    "tg text)",
    "create table counts (event text primary key, n int)",
    "create table fired (seq serial, what text)",
    """create function audit_row() returns trigger language plpgsql as $$
begin
  if TG_OP = 'DELETE' then
    insert into audit (op, id, old_name, tg) values (TG_OP, OLD.id, OLD.name,
      TG_NAME || ' ' || TG_WHEN || ' ' || TG_LEVEL || ' ' || TG_TABLE_NAME || ' ' ||
      TG_TABLE_SCHEMA || ' ' || TG_NARGS || ' ' || coalesce(TG_ARGV[0], '-'));
    return OLD;
  elsif TG_OP = 'UPDATE' then
    insert into audit (op, id, old_name, new_name, tg) values (TG_OP, NEW.id, OLD.name,
      NEW.name, TG_NAME);
  else
    insert into audit (op, id, new_name, tg) values (TG_OP, NEW.id, NEW.name, TG_NAME);
  end if;
  return NEW;
end $$""",
    """create function rewrite() returns trigger language plpgsql as $$
begin
  if NEW.name = 'skip' then
    return null;
  end if;
  NEW.name := upper(NEW.name);
  NEW.n := NEW.n + 1;
  return NEW;
end $$""",
    """create function validate() returns trigger language plpgsql as $$
begin
  if NEW.price < 0 then
    raise exception 'price of % must not be negative', NEW.id
      using hint = 'Use a price of zero or more.';
  end if;
  return NEW;
end $$""",
    """create function count_statement() returns trigger language plpgsql as $$
begin
  insert into counts values (TG_WHEN || ' ' || TG_OP, 1)
    on conflict (event) do update set n = counts.n + 1;
  return null;
end $$""",
    """create function say() returns trigger language plpgsql as $$
begin
  insert into fired (what) values (concat_ws(' ', TG_NAME, TG_WHEN, TG_LEVEL, TG_OP));
  if TG_LEVEL = 'STATEMENT' then
    return null;
  elsif TG_OP = 'DELETE' then
    return OLD;
  end if;
  return NEW;
end $$""",
]

AUDIT_AND_REWRITE = [
    "create trigger items_audit after insert or update or delete on items for each row "
    "execute function audit_row('x', 'y')",
    "create trigger items_rewrite before insert or update on items for each row "
    "execute function rewrite()",
    "insert into items (id, name, price) values (1, 'apple', 1.5), (2, 'pear', 2), "
    "(3, 'skip', 3)",
    "select id, name, price, n from items order by id",
    "update items set name = 'green apple' where id = 1",
    "update items set name = 'skip' where id = 2",
    "delete from items where id = 2",
    "select id, name, price, n from items order by id",
    "select seq, op, id, old_name, new_name, tg from audit order by seq",
]

VALIDATION = [
    "create trigger items_validate before insert or update on items for each row "
    "execute function validate()",
    "insert into items (id, name, price) values (10, 'bad', -1)",
    "update items set price = -5 where id = 1",
    "select id, price from items order by id",
]

STATEMENT_LEVEL = [
    "create trigger count_before before insert or update or delete on items "
    "for each statement execute function count_statement()",
    "create trigger count_after after insert or update or delete on items "
    "for each statement execute function count_statement()",
    "insert into items (id, name, price) values (20, 'plum', 1), (21, 'fig', 1)",
    "update items set price = price + 1 where id >= 20",
    "update items set price = 0 where id = 999",
    "delete from items where id = 999",
    "select event, n from counts order by event",
    "select tgname, tgtype, tgenabled, tgnargs, tgattr, tgqual is null from pg_trigger "
    "order by tgname",
]

ORDER_AND_WHEN = [
    "create table o (id int, v int)",
    "create trigger b2 before insert or update on o for each row execute function say()",
    "create trigger a1 before insert or update on o for each row execute function say()",
    "create trigger z9 after insert or update on o for each row execute function say()",
    "create trigger c3 after update of v on o for each row when (old.v is distinct from "
    "new.v) execute function say()",
    "create trigger s1 before insert on o for each statement execute function say()",
    "insert into o values (1, 1), (2, 2)",
    "update o set v = v where id = 1",
    "update o set v = v + 1 where id = 1",
    "update o set id = id where id = 2",
    "select pg_get_triggerdef(oid), pg_get_triggerdef(oid, true) from pg_trigger "
    "where tgrelid = 'o'::regclass order by tgname",
    "alter table o disable trigger a1",
    "insert into o values (3, 3)",
    "alter table o disable trigger all",
    "insert into o values (4, 4)",
    "alter table o enable trigger all",
    "select tgname, tgenabled from pg_trigger where tgrelid = 'o'::regclass order by 1",
    "alter trigger a1 on o rename to a0",
    "alter trigger a0 on o rename to b2",
    "drop trigger b2 on o",
    "drop trigger b2 on o",
    "drop trigger if exists b2 on o",
    "drop trigger if exists b2 on no_such_table",
    "select tgname from pg_trigger where tgrelid = 'o'::regclass order by 1",
    "select seq, what from fired order by seq",
    "create trigger w before insert on o for each row when (new.v > 1 and new.v < 10 or "
    "new.v is null) execute function say()",
    "create trigger w2 after update on o for each row when (old.* is distinct from new.*) "
    "execute function say()",
    "select pg_get_triggerdef(oid), pg_get_triggerdef(oid, true) from pg_trigger "
    "where tgname in ('w', 'w2') order by tgname",
    "create trigger tt before truncate on o execute function say()",
    "create trigger tt2 after truncate on o for each statement execute function say()",
    "truncate o",
    "select pg_get_triggerdef(oid) from pg_trigger where tgname like 'tt%' order by 1",
    "select what from fired where what like 'tt%' order by seq",
]

UPSERT_AND_MERGE = [
    "create table u (id int primary key, v text)",
    "create trigger u_say before insert or update or delete on u for each row "
    "execute function say()",
    "create trigger u_after after insert or update or delete on u for each row "
    "execute function say()",
    "insert into u values (1, 'a')",
    "insert into u values (1, 'b') on conflict (id) do update set v = excluded.v",
    "insert into u values (1, 'c') on conflict (id) do nothing",
    "merge into u using (values (1, 'm'), (2, 'n')) s(id, v) on u.id = s.id "
    "when matched then update set v = s.v when not matched then insert values (s.id, s.v)",
    "select id, v from u order by id",
    "select what from fired where what like 'u%' order by seq",
]

VIEWS = [
    "create table base (id int, label text)",
    "create view base_view as select id, label, length(label) as size from base",
    """create function view_insert() returns trigger language plpgsql as $$
begin
  insert into base values (NEW.id, 'via view: ' || NEW.label);
  return NEW;
end $$""",
    "create trigger base_view_insert instead of insert on base_view for each row "
    "execute function view_insert()",
    "insert into base_view values (1, 'one'), (2, 'two')",
    "insert into base_view (id, label) values (3, 'three')",
    "select id, label from base order by id",
    """create function view_change() returns trigger language plpgsql as $$
begin
  if TG_OP = 'UPDATE' then
    update base set label = NEW.label where id = OLD.id;
    return NEW;
  end if;
  if OLD.id = 3 then
    return null;
  end if;
  delete from base where id = OLD.id;
  return OLD;
end $$""",
    "create trigger base_view_change instead of update or delete on base_view for each row "
    "execute function view_change()",
    "update base_view set label = label || '!' where id < 3",
    "delete from base_view where id >= 2",
    "select id, label, size from base_view order by id",
    "select tgname, tgtype from pg_trigger where tgrelid = 'base_view'::regclass order by 1",
]

TRANSITION_TABLES = [
    "create table tx (a int, b text)",
    "create table tx_log (what text)",
    """create function tx_log() returns trigger language plpgsql as $$
begin
  insert into tx_log select TG_NAME || ' ' || TG_OP || ' ' ||
    coalesce((select string_agg(a::text || b, ',' order by a) from nt), '-');
  if TG_OP = 'UPDATE' then
    insert into tx_log select 'old ' || string_agg(o.b || '->' || n.b, ',' order by o.a)
      from ot o join nt n using (a);
  end if;
  return null;
end $$""",
    "create trigger tx_statement after insert on tx referencing new table as nt "
    "for each statement execute function tx_log()",
    "create trigger tx_row after update on tx referencing old table as ot new table as nt "
    "for each row execute function tx_log()",
    "insert into tx values (1, 'a'), (2, 'b')",
    "insert into tx select 3, 'c' where false",
    "update tx set b = b || '!'",
    "select what from tx_log",
    "select pg_get_triggerdef(oid) from pg_trigger where tgrelid = 'tx'::regclass "
    "order by tgname",
    "select tgname, tgoldtable, tgnewtable from pg_trigger where tgrelid = 'tx'::regclass "
    "order by tgname",
    "create trigger bad before insert on tx referencing new table as nt for each statement "
    "execute function tx_log()",
    "create trigger bad after insert or update on tx referencing new table as nt "
    "for each row execute function tx_log()",
    "create trigger bad after insert on tx referencing old table as ot "
    "for each statement execute function tx_log()",
    "create trigger bad after update of a on tx referencing old table as ot "
    "for each statement execute function tx_log()",
    "create trigger bad after update on tx referencing old table as t new table as t "
    "for each statement execute function tx_log()",
    "create trigger bad after delete on tx referencing new table as t "
    "for each statement execute function tx_log()",
    "create trigger bad after truncate on tx referencing old table as t "
    "for each statement execute function tx_log()",
]

COLUMNS = [
    "create table cols (a int, b int, c int, d int)",
    "create trigger cols1 before update of c, d on cols for each row execute function say()",
    "create trigger cols2 before update on cols for each row when (new.b > 0) "
    "execute function say()",
    "create trigger cols3 before update of b on cols for each row execute function say()",
    "alter table cols rename column b to bb",
    "select pg_get_triggerdef(oid) from pg_trigger where tgrelid = 'cols'::regclass "
    "order by tgname",
    "alter table cols drop column bb",
    "alter table cols drop column bb cascade",
    "alter table cols drop column a",
    "select pg_get_triggerdef(oid) from pg_trigger where tgrelid = 'cols'::regclass "
    "order by tgname",
]

CASCADES = [
    "create table parent (id int primary key)",
    "create table child (id int, pid int references parent on delete cascade "
    "on update cascade)",
    "create trigger child_before before delete or update on child for each row "
    "execute function say()",
    "create trigger child_after after delete or update on child for each row "
    "execute function say()",
    "create trigger child_statement after delete or update on child for each statement "
    "execute function say()",
    "create function one_line() returns trigger language plpgsql as $$ begin "
    "if TG_OP = 'DELETE' then return OLD; end if; NEW.id := NEW.id * 10; return NEW; end $$",
    "create trigger child_one_line before delete or update on child for each row "
    "execute function one_line()",
    """create function null_fields() returns trigger language plpgsql as $$
begin
  insert into fired (what) values (concat_ws(' ', TG_NAME, TG_OP, OLD.pid, NEW.pid));
  return null;
end $$""",
    "create trigger child_fields after insert or delete on child for each row "
    "execute function null_fields()",
    "create trigger child_fields_statement after insert on child for each statement "
    "execute function null_fields()",
    "insert into parent values (1), (2), (3)",
    "insert into child values (1, 1), (2, 1), (3, 2)",
    "delete from fired",
    "delete from parent where id = 1",
    "update parent set id = 20 where id = 2",
    "select what from fired order by seq",
    "select id, pid from child order by id",
]

PRIVILEGES = [
    "create table px (a int)",
    "create function pf() returns trigger language plpgsql as $$ begin return NEW; end $$",
    "create role trigger_user",
    "set role trigger_user",
    "create trigger t before insert on px for each row execute function pf()",
    "reset role",
    "grant trigger on px to trigger_user",
    "revoke execute on function pf() from public",
    "set role trigger_user",
    "create trigger t before insert on px for each row execute function pf()",
    "reset role",
    "grant execute on function pf() to trigger_user",
    "set role trigger_user",
    "create trigger t before insert on px for each row execute function pf()",
    "drop trigger t on px",
    "alter table px disable trigger t",
    "alter trigger t on px rename to u",
    "reset role",
    "create sequence px_seq",
    "create trigger bad after insert on px_seq execute function pf()",
    "create index px_a on px (a)",
    "create trigger bad after insert on px_a execute function pf()",
    "create view px_view as select 1 as a",
    "create trigger bad instead of update on px_view for each row when (true) "
    "execute function pf()",
]

ERRORS = [
    "create function not_trigger() returns int language sql as 'select 1'",
    "create trigger bad before insert on items for each row execute function not_trigger()",
    "create trigger bad before insert on items for each row execute function nope()",
    "create trigger bad before truncate on items for each row execute function say()",
    "create trigger bad instead of insert on items for each row execute function say()",
    "create trigger bad instead of insert on base_view for each statement "
    "execute function say()",
    "create trigger bad before insert on base_view for each row execute function say()",
    "create trigger bad before insert on items for each statement when (new.id > 0) "
    "execute function say()",
    "create trigger bad before insert on items for each row when (old.id > 0) "
    "execute function say()",
    "create trigger bad before delete on items for each row when (new.id > 0) "
    "execute function say()",
    "create trigger bad before update of nope on items for each row execute function say()",
    "create trigger bad before insert on no_such_table for each row execute function say()",
    "create trigger items_audit after insert on items for each row execute function say()",
    "create or replace trigger items_audit after insert on items for each row "
    "execute function say()",
    "select tgname, tgfoid::regproc::text from pg_trigger where tgname = 'items_audit'",
    "drop function say()",
    "drop trigger nope on items",
    "alter table items enable trigger nope",
    "alter trigger nope on items rename to other",
    "create table dropped (id int)",
    "create trigger d after insert on dropped for each row execute function say()",
    "drop table dropped",
    "select count(*) from pg_trigger where tgname = 'd'",
    "select say()",
    "create function lonely() returns trigger language plpgsql as $$ begin return NEW; end $$",
    "create trigger lonely before insert on nr for each row execute function lonely()",
    "drop function lonely() cascade",
    "drop function say() cascade",
    "select tgname from pg_trigger where not tgisinternal order by 1",
    "create function sql_trigger() returns trigger language sql as 'select 1'",
    "create function no_return() returns trigger language plpgsql as $$ begin end $$",
    "create table nr (a int)",
    "create trigger nr before insert on nr for each row execute function no_return()",
    "insert into nr values (1)",
    "create trigger bad before insert on nr for each row when (new.ctid is null) "
    "execute function say()",
    "create function with_argument(int) returns trigger language plpgsql as $$ "
    "begin return new; end $$",
    "create table shaped (a int, b int)",
    "create function wrong_shape() returns trigger language plpgsql as $$ "
    "declare r record; begin select 1 as q into r; return r; end $$",
    "create trigger wrong_shape before insert on shaped for each row "
    "execute function wrong_shape()",
    "insert into shaped values (1, 2)",
    "drop trigger wrong_shape on shaped",
    "create function scalar() returns trigger language plpgsql as $$ begin return 5; end $$",
    "create trigger scalar after insert on shaped for each row execute function scalar()",
    "insert into shaped values (1, 2)",
]


both = pair_fixture("triggers", SETUP, with_tags=True, detailed=True, with_context=True)


def test_audit_trigger_and_before_trigger_rewriting_new(both: object) -> None:
    assert_same(both, AUDIT_AND_REWRITE)  # type: ignore[arg-type]


def test_validation_trigger_error_and_context(both: object) -> None:
    assert_same(both, VALIDATION)  # type: ignore[arg-type]


def test_statement_level_triggers(both: object) -> None:
    assert_same(both, STATEMENT_LEVEL)  # type: ignore[arg-type]


def test_name_order_when_update_of_enable_rename_drop(both: object) -> None:
    assert_same(both, ORDER_AND_WHEN)  # type: ignore[arg-type]


def test_on_conflict_and_merge_fire_triggers(both: object) -> None:
    assert_same(both, UPSERT_AND_MERGE)  # type: ignore[arg-type]


def test_instead_of_insert_on_a_view(both: object) -> None:
    assert_same(both, VIEWS)  # type: ignore[arg-type]


def test_transition_tables(both: object) -> None:
    assert_same(both, TRANSITION_TABLES)  # type: ignore[arg-type]


def test_renamed_and_dropped_columns(both: object) -> None:
    """RENAME COLUMN renames WHEN's references; DROP COLUMN is refused while a trigger uses
    the column (CASCADE drops the trigger). mirrordb renumbers the later columns (tgattr too)
    where PostgreSQL keeps the dropped column's number, so tgattr itself is not compared."""
    assert_same(both, COLUMNS)  # type: ignore[arg-type]


def test_foreign_key_cascades_fire_the_child_tables_triggers(both: object) -> None:
    """A cascaded DELETE or UPDATE is a statement of its own on the referencing table; OLD
    and NEW read as NULL fields where the event has no such row."""
    assert_same(both, CASCADES)  # type: ignore[arg-type]


def test_privileges_and_relation_kinds(both: object) -> None:
    assert_same(both, PRIVILEGES)  # type: ignore[arg-type]


def test_errors_of_bad_definitions(both: object) -> None:
    assert_same(both, ERRORS)  # type: ignore[arg-type]


def test_recursive_trigger_stops_with_54001(both: object) -> None:
    """A trigger that fires itself without end: 54001 (PostgreSQL's stack depth error) long
    before Python's stack runs out, and the session carries on."""
    _, ours = both  # type: ignore[misc]
    for statement in ["create table r (a int)",
                      "create function again() returns trigger language plpgsql as $$ "
                      "begin insert into r values (NEW.a + 1); return NEW; end $$",
                      "create trigger again after insert on r for each row "
                      "execute function again()"]:
        assert ours.run(statement)[0] == "ok", statement
    answer = ours.run("insert into r values (1)")
    assert answer[:3] == ("error", "54001", "stack depth limit exceeded")
    assert ours.run("select count(*) from r")[3] == [("0",)]


NOTICES = [
    "create table x (a int)",
    "create table y (a int)",
    "create function f() returns trigger language plpgsql as $$ begin "
    "raise notice '% % % % %', TG_NAME, TG_WHEN, TG_LEVEL, TG_OP, TG_TABLE_NAME; "
    "return NEW; end $$",
    "create function g() returns trigger language plpgsql as $$ begin return NEW; end $$",
    "create trigger t2 before insert on x for each row execute function f()",
    "create trigger t1 before insert on x for each row execute function f()",
    "create trigger t0 after insert on x for each statement execute function f()",
    "create trigger t3 before insert on y for each row execute function f()",
    "create trigger t4 before insert on y for each row execute function g()",
    "drop function g() cascade",
    "drop function f() cascade",
    "drop trigger if exists nope on x",
    "drop trigger if exists nope on nosuch",
]

notices_pair = pair_fixture("trigger_notices", [], detailed=True, with_context=True)


def test_notices_of_firing_and_dropping(notices_pair: object) -> None:
    """DROP's cascade and skipping notices (the triggers' own RAISE NOTICEs reach a client
    through the session's pending warnings: test_triggers_server_compat.py compares them)."""
    assert_same(notices_pair, NOTICES)  # type: ignore[arg-type]
