"""The fixed schema of the system catalogs, with PostgreSQL's OIDs and names.

Catalogs are ordinary heap relations (DESIGN.md decision 4), so DDL and role changes reach a
standby through the WAL like any row. Their own descriptors cannot come from themselves, so they
are written here, as PostgreSQL's bootstrap catalog headers do; initdb inserts the matching pg_class
and pg_attribute rows, so the catalogs describe themselves to clients.

Shared catalogs (pg_database, pg_authid) live in ``global/``; the others in the database's
directory ``base/5/`` (mirrordb has one database, ``postgres``, OID 5).
"""

from __future__ import annotations

from mirrordb.access.relation import RELKIND_TABLE, Column, Relation
from mirrordb.storage import datum as T
from mirrordb.storage.relfilenode import (DEFAULT_TABLESPACE_OID, GLOBAL_TABLESPACE_OID,
                                          RelFileNode)

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


def _catalog(oid: int, name: str, columns: list[tuple[str, int]], shared: bool = False
             ) -> Relation:
    rnode = (RelFileNode(GLOBAL_TABLESPACE_OID, 0, oid) if shared
             else RelFileNode(DEFAULT_TABLESPACE_OID, POSTGRES_DATABASE_OID, oid))
    return Relation(oid=oid, name=name, kind=RELKIND_TABLE, rnode=rnode,
                    columns=[Column(n, t, not_null=False) for n, t in columns],
                    namespace_oid=PG_CATALOG_NAMESPACE_OID)


PG_CLASS = _catalog(PG_CLASS_OID, "pg_class", [
    ("oid", T.OID), ("relname", T.NAME), ("relnamespace", T.OID), ("relowner", T.OID),
    ("relkind", T.TEXT), ("relfilenode", T.OID), ("reltablespace", T.OID),
    ("relpersistence", T.TEXT), ("relnatts", T.INT2), ("relhasindex", T.BOOL),
    ("relisshared", T.BOOL)])
PG_ATTRIBUTE = _catalog(PG_ATTRIBUTE_OID, "pg_attribute", [
    ("attrelid", T.OID), ("attname", T.NAME), ("atttypid", T.OID), ("attnum", T.INT2),
    ("attnotnull", T.BOOL), ("atttypmod", T.INT4), ("attisdropped", T.BOOL)])
PG_INDEX = _catalog(PG_INDEX_OID, "pg_index", [
    ("indexrelid", T.OID), ("indrelid", T.OID), ("indnatts", T.INT2), ("indisunique", T.BOOL),
    ("indisprimary", T.BOOL), ("indkey", T.TEXT)])
PG_NAMESPACE = _catalog(PG_NAMESPACE_OID, "pg_namespace", [
    ("oid", T.OID), ("nspname", T.NAME), ("nspowner", T.OID)])
PG_SEQUENCE = _catalog(PG_SEQUENCE_OID, "pg_sequence", [
    ("seqrelid", T.OID), ("seqtypid", T.OID), ("seqstart", T.INT8), ("seqincrement", T.INT8),
    ("seqmax", T.INT8), ("seqmin", T.INT8), ("seqcache", T.INT8), ("seqcycle", T.BOOL)])
PG_ATTRDEF = _catalog(PG_ATTRDEF_OID, "pg_attrdef", [
    ("adrelid", T.OID), ("adnum", T.INT2), ("adbin", T.TEXT)])
PG_DATABASE = _catalog(PG_DATABASE_OID, "pg_database", [
    ("oid", T.OID), ("datname", T.NAME), ("datdba", T.OID), ("encoding", T.INT4),
    ("datallowconn", T.BOOL), ("datconnlimit", T.INT4)], shared=True)
PG_AUTHID = _catalog(PG_AUTHID_OID, "pg_authid", [
    ("oid", T.OID), ("rolname", T.NAME), ("rolsuper", T.BOOL), ("rolinherit", T.BOOL),
    ("rolcreaterole", T.BOOL), ("rolcreatedb", T.BOOL), ("rolcanlogin", T.BOOL),
    ("rolreplication", T.BOOL), ("rolbypassrls", T.BOOL), ("rolconnlimit", T.INT4),
    ("rolpassword", T.TEXT)], shared=True)

CATALOGS: tuple[Relation, ...] = (PG_CLASS, PG_ATTRIBUTE, PG_INDEX, PG_NAMESPACE, PG_SEQUENCE,
                                  PG_ATTRDEF, PG_DATABASE, PG_AUTHID)
CATALOGS_BY_NAME = {catalog.name: catalog for catalog in CATALOGS}
