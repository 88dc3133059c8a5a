"""The fixed schema of the system catalogs, with PostgreSQL's OIDs and names.

Catalogs are ordinary heap relations (DESIGN.md decision 4), so DDL and role changes reach a
standby through the WAL like any row. Their own descriptors cannot come from themselves, so they
are written here, as PostgreSQL's bootstrap catalog headers do; initdb inserts the matching pg_class
and pg_attribute rows, so the catalogs describe themselves to clients.

Shared catalogs (pg_database, pg_authid, pg_db_role_setting, pg_shdescription) live in ``global/``
and are the same for every database; every database has its own copy of the others in its
directory ``base/<database OID>/`` (``in_database``). The descriptors below are the ``postgres``
database's (OID 5); initdb also makes ``template1`` (OID 1), from which CREATE DATABASE copies,
and ``template0`` (OID 4), as PostgreSQL's initdb does.
"""

from __future__ import annotations

from mirrordb.access.relation import RELKIND_TABLE, Column, Relation
from mirrordb.storage import datum as T
from mirrordb.storage.relfilenode import (DEFAULT_TABLESPACE_OID, GLOBAL_TABLESPACE_OID,
                                          RelFileNode)

TEMPLATE1_DATABASE_OID = 1
TEMPLATE0_DATABASE_OID = 4
POSTGRES_DATABASE_OID = 5
PG_CATALOG_NAMESPACE_OID = 11
PUBLIC_NAMESPACE_OID = 2200
BOOTSTRAP_SUPERUSER_OID = 10
FIRST_NORMAL_OBJECT_ID = 16384

PG_CLASS_OID = 1259
PG_ATTRIBUTE_OID = 1249
PG_INDEX_OID = 2610
PG_NAMESPACE_OID = 2615
PG_SEQUENCE_OID = 2224
PG_ATTRDEF_OID = 2604
PG_DATABASE_OID = 1262
PG_AUTHID_OID = 1260
PG_DB_ROLE_SETTING_OID = 2964
PG_REWRITE_OID = 2618
PG_CONSTRAINT_OID = 2606
PG_DESCRIPTION_OID = 2609
PG_SHDESCRIPTION_OID = 2396
PG_DEPEND_OID = 2608
PG_PROC_OID = 1255
PG_TYPE_OID = 1247
PG_ENUM_OID = 3501
PG_STATISTIC_OID = 2619
PG_TRIGGER_OID = 2620
PG_INHERITS_OID = 2611
PG_PARTITIONED_TABLE_OID = 3350


def _catalog(oid: int, name: str, columns: list[tuple[str, int]], shared: bool = False
             ) -> Relation:
    rnode = (RelFileNode(GLOBAL_TABLESPACE_OID, 0, oid) if shared
             else RelFileNode(DEFAULT_TABLESPACE_OID, POSTGRES_DATABASE_OID, oid))
    return Relation(oid=oid, name=name, kind=RELKIND_TABLE, rnode=rnode,
                    columns=[Column(n, t, not_null=False) for n, t in columns],
                    namespace_oid=PG_CATALOG_NAMESPACE_OID)


PG_CLASS = _catalog(PG_CLASS_OID, "pg_class", [
    ("oid", T.OID_OID), ("relname", T.NAME_OID), ("relnamespace", T.OID_OID), ("relowner", T.OID_OID),
    ("relkind", T.TEXT_OID), ("relfilenode", T.OID_OID), ("reltablespace", T.OID_OID),
    ("relpersistence", T.TEXT_OID), ("relnatts", T.INT2_OID), ("relhasindex", T.BOOL_OID),
    ("relisshared", T.BOOL_OID),
    # aclitem[] in its text form (sql/roles.py documents it); NULL: the owner's default rights
    ("relacl", T.TEXT_OID),
    # planner statistics, overwritten in place (no new row version) by VACUUM, ANALYZE and
    # CREATE INDEX (catalog/relstats.py); reltuples -1: never vacuumed or analyzed
    ("relpages", T.INT4_OID), ("reltuples", T.FLOAT4_OID), ("relallvisible", T.INT4_OID)])
PG_ATTRIBUTE = _catalog(PG_ATTRIBUTE_OID, "pg_attribute", [
    ("attrelid", T.OID_OID), ("attname", T.NAME_OID), ("atttypid", T.OID_OID), ("attnum", T.INT2_OID),
    ("attnotnull", T.BOOL_OID), ("atttypmod", T.INT4_OID), ("attisdropped", T.BOOL_OID),
    # identity column kind: '' none, 'a' GENERATED ALWAYS, 'd' BY DEFAULT (sql/identity.py)
    ("attidentity", T.TEXT_OID),
    # 's' for a stored generated column, its expression in pg_attrdef; '' (sql/generated.py)
    ("attgenerated", T.TEXT_OID)])
PG_INDEX = _catalog(PG_INDEX_OID, "pg_index", [
    ("indexrelid", T.OID_OID), ("indrelid", T.OID_OID), ("indnatts", T.INT2_OID), ("indisunique", T.BOOL_OID),
    ("indisprimary", T.BOOL_OID), ("indkey", T.TEXT_OID),
    # an expression index's expressions (a JSON list of parse trees, one per indkey 0) and a
    # partial index's predicate (a JSON parse tree), as pg_attrdef.adbin; NULL: none
    # (sql/index_expressions.py); indoption: PostgreSQL's per-column bits (1 DESC, 2 NULLS
    # FIRST) as text ("0 3"), NULL when all are 0; indnkeyatts: how many of indkey's columns
    # are key columns (the rest are INCLUDE columns)
    ("indexprs", T.TEXT_OID), ("indpred", T.TEXT_OID), ("indoption", T.TEXT_OID),
    ("indnkeyatts", T.INT2_OID),
    # the index CLUSTER without USING orders the table by (ALTER TABLE ... CLUSTER ON,
    # sql/cluster.py); at most one per table
    ("indisclustered", T.BOOL_OID)])
PG_NAMESPACE = _catalog(PG_NAMESPACE_OID, "pg_namespace", [
    ("oid", T.OID_OID), ("nspname", T.NAME_OID), ("nspowner", T.OID_OID)])
PG_SEQUENCE = _catalog(PG_SEQUENCE_OID, "pg_sequence", [
    ("seqrelid", T.OID_OID), ("seqtypid", T.OID_OID), ("seqstart", T.INT8_OID), ("seqincrement", T.INT8_OID),
    ("seqmax", T.INT8_OID), ("seqmin", T.INT8_OID), ("seqcache", T.INT8_OID), ("seqcycle", T.BOOL_OID)])
PG_ATTRDEF = _catalog(PG_ATTRDEF_OID, "pg_attrdef", [
    ("adrelid", T.OID_OID), ("adnum", T.INT2_OID), ("adbin", T.TEXT_OID)])
PG_DATABASE = _catalog(PG_DATABASE_OID, "pg_database", [
    ("oid", T.OID_OID), ("datname", T.NAME_OID), ("datdba", T.OID_OID), ("encoding", T.INT4_OID),
    ("datistemplate", T.BOOL_OID), ("datallowconn", T.BOOL_OID), ("datconnlimit", T.INT4_OID),
    # aclitem[] in its text form, as relacl (sql/roles.py); NULL: the default database rights
    # (sql/database_privileges.py)
    ("datacl", T.TEXT_OID)],
    shared=True)
PG_AUTHID = _catalog(PG_AUTHID_OID, "pg_authid", [
    ("oid", T.OID_OID), ("rolname", T.NAME_OID), ("rolsuper", T.BOOL_OID), ("rolinherit", T.BOOL_OID),
    ("rolcreaterole", T.BOOL_OID), ("rolcreatedb", T.BOOL_OID), ("rolcanlogin", T.BOOL_OID),
    ("rolreplication", T.BOOL_OID), ("rolbypassrls", T.BOOL_OID), ("rolconnlimit", T.INT4_OID),
    ("rolpassword", T.TEXT_OID)], shared=True)
# Per-role and per-database setting defaults (ALTER ROLE/DATABASE ... SET): setdatabase and
# setrole are 0 for "every"; setconfig is a text[] of "name=value" in its text form, as
# sql/role_settings.py documents and writes it.
PG_DB_ROLE_SETTING = _catalog(PG_DB_ROLE_SETTING_OID, "pg_db_role_setting", [
    ("setdatabase", T.OID_OID), ("setrole", T.OID_OID), ("setconfig", T.TEXT_OID)], shared=True)

# A view's query: one "_RETURN" rule per view (ev_class = the view's pg_class OID, ev_type '1'
# for SELECT, is_instead true). ev_action is mirrordb's stored form of the query, not
# PostgreSQL's node tree: sql/views.py documents it (a JSON parse tree whose relation
# references carry their OIDs, so renames do not break the view).
PG_REWRITE = _catalog(PG_REWRITE_OID, "pg_rewrite", [
    ("oid", T.OID_OID), ("rulename", T.NAME_OID), ("ev_class", T.OID_OID), ("ev_type", T.TEXT_OID),
    ("ev_enabled", T.TEXT_OID), ("is_instead", T.BOOL_OID), ("ev_qual", T.TEXT_OID),
    ("ev_action", T.TEXT_OID)])

# CHECK and FOREIGN KEY constraints (PRIMARY KEY and UNIQUE are derived from pg_index, see
# sql/catalog_functions.py). conkey/confkey are column numbers as text ("1 2", like pg_index's
# indkey); conbin is a CHECK constraint's raw parse tree as JSON (like pg_attrdef.adbin);
# sql/constraints.py and sql/foreign_keys.py write and read the rows.
PG_CONSTRAINT = _catalog(PG_CONSTRAINT_OID, "pg_constraint", [
    ("oid", T.OID_OID), ("conname", T.NAME_OID), ("connamespace", T.OID_OID),
    ("contype", T.TEXT_OID), ("condeferrable", T.BOOL_OID), ("condeferred", T.BOOL_OID),
    ("convalidated", T.BOOL_OID), ("conrelid", T.OID_OID), ("conindid", T.OID_OID),
    ("confrelid", T.OID_OID), ("confupdtype", T.TEXT_OID), ("confdeltype", T.TEXT_OID),
    ("confmatchtype", T.TEXT_OID), ("connoinherit", T.BOOL_OID), ("conkey", T.TEXT_OID),
    ("confkey", T.TEXT_OID), ("conbin", T.TEXT_OID),
    # a domain's constraint: the domain (conrelid 0); 0 for a table's (sql/user_types.py)
    ("contypid", T.OID_OID)])

# COMMENT ON: one row per commented object (objsubid: the column number, 0 for the object
# itself); roles' comments go to the shared pg_shdescription. sql/comments.py writes both.
PG_DESCRIPTION = _catalog(PG_DESCRIPTION_OID, "pg_description", [
    ("objoid", T.OID_OID), ("classoid", T.OID_OID), ("objsubid", T.INT4_OID),
    ("description", T.TEXT_OID)])
PG_SHDESCRIPTION = _catalog(PG_SHDESCRIPTION_OID, "pg_shdescription", [
    ("objoid", T.OID_OID), ("classoid", T.OID_OID), ("description", T.TEXT_OID)], shared=True)
# The dependencies mirrordb records rather than derives: a sequence owned by a column
# (deptype 'a': serial and ALTER SEQUENCE ... OWNED BY; 'i': an identity column's sequence).
# sql/sequences.py writes them; DROP TABLE drops the sequences its columns own.
PG_DEPEND = _catalog(PG_DEPEND_OID, "pg_depend", [
    ("classid", T.OID_OID), ("objid", T.OID_OID), ("objsubid", T.INT4_OID),
    ("refclassid", T.OID_OID), ("refobjid", T.OID_OID), ("refobjsubid", T.INT4_OID),
    ("deptype", T.TEXT_OID)])

# User-defined functions and procedures (built-in functions are the type system's code, not
# rows). The list-valued columns are mirrordb's text forms, not PostgreSQL's arrays:
# proargtypes/proallargtypes type OIDs separated by spaces (as pg_index.indkey), proargmodes
# one letter per parameter ("iob"), proargnames, proargdefaults (a default is its raw parse
# tree) and proconfig ("name=value" items) JSON lists, prosqlbody a SQL-standard body's
# statements as JSON; sql/proc_catalog.py documents, reads and shows them with PostgreSQL's
# column types.
PG_PROC = _catalog(PG_PROC_OID, "pg_proc", [
    ("oid", T.OID_OID), ("proname", T.NAME_OID), ("pronamespace", T.OID_OID),
    ("proowner", T.OID_OID), ("prolang", T.OID_OID), ("prokind", T.TEXT_OID),
    ("prosecdef", T.BOOL_OID), ("proisstrict", T.BOOL_OID), ("proretset", T.BOOL_OID),
    ("provolatile", T.TEXT_OID), ("pronargs", T.INT2_OID), ("pronargdefaults", T.INT2_OID),
    ("prorettype", T.OID_OID), ("proargtypes", T.TEXT_OID), ("proallargtypes", T.TEXT_OID),
    ("proargmodes", T.TEXT_OID), ("proargnames", T.TEXT_OID), ("proargdefaults", T.TEXT_OID),
    ("prosrc", T.TEXT_OID), ("prosqlbody", T.TEXT_OID), ("provariadic", T.OID_OID),
    ("proacl", T.TEXT_OID), ("proconfig", T.TEXT_OID)])

# User-defined types (CREATE TYPE ... AS ENUM, CREATE DOMAIN, and the array type each gets):
# one row per type. Built-in types are not stored: the type system (sql/types.py) serves them
# and the pg_type view shows both. typtype 'e' enum, 'd' domain, 'b' a user type's array
# (typelem its element); typdefaultbin is a domain default's raw parse tree as JSON, typdefault
# its text. sql/user_types.py reads the rows and sql/type_ddl.py writes them.
PG_TYPE = _catalog(PG_TYPE_OID, "pg_type", [
    ("oid", T.OID_OID), ("typname", T.NAME_OID), ("typnamespace", T.OID_OID),
    ("typowner", T.OID_OID), ("typtype", T.TEXT_OID), ("typbasetype", T.OID_OID),
    ("typtypmod", T.INT4_OID), ("typnotnull", T.BOOL_OID), ("typarray", T.OID_OID),
    ("typelem", T.OID_OID), ("typdefault", T.TEXT_OID), ("typdefaultbin", T.TEXT_OID)])
# An enum's labels, one row each, as PostgreSQL keeps them: the label's OID is what a column of
# the enum stores; enumsortorder (float4) orders the labels.
PG_ENUM = _catalog(PG_ENUM_OID, "pg_enum", [
    ("oid", T.OID_OID), ("enumtypid", T.OID_OID), ("enumsortorder", T.FLOAT4_OID),
    ("enumlabel", T.NAME_OID)])

# ANALYZE's per-column statistics, one row per (starelid, staattnum, stainherit), with
# PostgreSQL's five slots (stakindN, staopN, stacollN, stanumbersN, stavaluesN). stanumbersN is a
# float4[] and stavaluesN an array of the column's type, both stored in their text form
# (PostgreSQL stores anyarray); sql/analyze.py writes the rows and the pg_stats view reads them.
PG_STATISTIC = _catalog(PG_STATISTIC_OID, "pg_statistic", [
    ("starelid", T.OID_OID), ("staattnum", T.INT2_OID), ("stainherit", T.BOOL_OID),
    ("stanullfrac", T.FLOAT4_OID), ("stawidth", T.INT4_OID), ("stadistinct", T.FLOAT4_OID),
    *[(f"stakind{n}", T.INT2_OID) for n in range(1, 6)],
    *[(f"staop{n}", T.OID_OID) for n in range(1, 6)],
    *[(f"stacoll{n}", T.OID_OID) for n in range(1, 6)],
    *[(f"stanumbers{n}", T.TEXT_OID) for n in range(1, 6)],
    *[(f"stavalues{n}", T.TEXT_OID) for n in range(1, 6)]])

# Triggers (CREATE TRIGGER), one row each, PostgreSQL's columns. tgtype has PostgreSQL's bits
# (sql/triggers.py); tgattr (UPDATE OF's column numbers) is text "1 2" like pg_index.indkey,
# tgargs a JSON list of the argument strings, tgqual the WHEN condition's raw parse tree as
# JSON. sql/triggers.py writes, reads and shows them.
PG_TRIGGER = _catalog(PG_TRIGGER_OID, "pg_trigger", [
    ("oid", T.OID_OID), ("tgrelid", T.OID_OID), ("tgparentid", T.OID_OID),
    ("tgname", T.NAME_OID), ("tgfoid", T.OID_OID), ("tgtype", T.INT2_OID),
    ("tgenabled", T.TEXT_OID), ("tgisinternal", T.BOOL_OID), ("tgconstrrelid", T.OID_OID),
    ("tgconstrindid", T.OID_OID), ("tgconstraint", T.OID_OID), ("tgdeferrable", T.BOOL_OID),
    ("tginitdeferred", T.BOOL_OID), ("tgnargs", T.INT2_OID), ("tgattr", T.TEXT_OID),
    ("tgargs", T.TEXT_OID), ("tgqual", T.TEXT_OID), ("tgoldtable", T.NAME_OID),
    ("tgnewtable", T.NAME_OID)])

# Partitioning (sql/partitioning.py): one pg_inherits row per partition (its parent, inhseqno
# 1) and, as mirrordb's addition, inhpartbound: the partition's bound as JSON (what
# pg_class.relpartbound shows, printed by pg_get_expr); NULL for a plain inheritance child.
# relispartition is derived: a child whose parent is partitioned. One pg_partitioned_table
# row per partitioned table: strategy ('r' range, 'l' list, 'h' hash), key columns as
# text ("1 2", like indkey) and its default partition (0: none).
PG_INHERITS = _catalog(PG_INHERITS_OID, "pg_inherits", [
    ("inhrelid", T.OID_OID), ("inhparent", T.OID_OID), ("inhseqno", T.INT4_OID),
    ("inhdetachpending", T.BOOL_OID), ("inhpartbound", T.TEXT_OID)])
PG_PARTITIONED_TABLE = _catalog(PG_PARTITIONED_TABLE_OID, "pg_partitioned_table", [
    ("partrelid", T.OID_OID), ("partstrat", T.TEXT_OID), ("partnatts", T.INT2_OID),
    ("partdefid", T.OID_OID), ("partattrs", T.TEXT_OID)])

CATALOGS: tuple[Relation, ...] = (PG_CLASS, PG_ATTRIBUTE, PG_INDEX, PG_NAMESPACE, PG_SEQUENCE,
                                  PG_ATTRDEF, PG_DATABASE, PG_AUTHID, PG_DB_ROLE_SETTING,
                                  PG_REWRITE, PG_CONSTRAINT, PG_DESCRIPTION, PG_SHDESCRIPTION,
                                  PG_DEPEND, PG_PROC, PG_TYPE, PG_ENUM, PG_STATISTIC,
                                  PG_TRIGGER, PG_INHERITS, PG_PARTITIONED_TABLE)
CATALOGS_BY_NAME = {catalog.name: catalog for catalog in CATALOGS}


_IN_DATABASE: dict[tuple[int, int], Relation] = {}


def in_database(catalog: Relation, database_oid: int) -> Relation:
    """``catalog``'s descriptor in database ``database_oid`` (its file under that database's
    directory); a shared catalog's own descriptor. Descriptors are made once and kept."""
    if catalog.rnode.db == 0 or database_oid == catalog.rnode.db:
        return catalog
    key = (catalog.oid, database_oid)
    found = _IN_DATABASE.get(key)
    if found is None:
        found = _IN_DATABASE.setdefault(key, Relation(
            oid=catalog.oid, name=catalog.name, kind=catalog.kind,
            rnode=RelFileNode(catalog.rnode.spc, database_oid, catalog.rnode.rel),
            columns=catalog.columns, namespace_oid=catalog.namespace_oid))
    return found
