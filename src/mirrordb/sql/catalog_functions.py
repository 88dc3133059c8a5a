"""The catalog as clients see it: a per-statement catalog snapshot and the functions psql calls.

Who calls it: three readers share the ``CatalogSnapshot`` built here.

- The planner, for function calls: ``session_functions.SPECIAL`` includes ``SPECIAL_HANDLERS``
  from this module, so ``pg_get_userbyid(...)``, ``pg_table_is_visible(...)``,
  ``pg_get_expr(...)``, ``pg_get_indexdef(...)``, ``pg_size_pretty(...)``,
  ``has_table_privilege(...)`` and the rest of ``CATALOG_FUNCTIONS`` compile to expressions whose
  closures read the snapshot of the running statement (``CatalogSnapshot.of(ctx)``).
- sysviews.py, which builds the pg_catalog and information_schema views from the same snapshot.
- The type system's regclass/regnamespace/regrole/regproc text I/O, through
  ``SessionCatalogLookup`` (the session installs its own for each statement it runs).

Lifecycle: a snapshot reads the catalog heap relations (catalog/bootstrap.py: pg_class,
pg_attribute, pg_index, pg_namespace, pg_sequence, pg_attrdef, pg_database, pg_authid) once, with
the statement's MVCC snapshot, the first time a statement needs it, and lives in that execution's
``ExecContext.cache``; the next statement reads again, so DDL is seen as soon as it is visible.
Relations that exist only as views here (pg_type, pg_constraint, pg_roles, ...; sysviews.py lists
them with PostgreSQL's OIDs) are added to it, so ``'pg_type'::regclass`` and ``\\d pg_roles`` work.

What is derived rather than stored (our catalogs hold a subset of PostgreSQL's columns):
- constraints: a primary-key index is a PRIMARY KEY constraint; a unique index is a UNIQUE
  constraint when it carries the name ddl.py gives one (``<table>_<columns>_key``), since
  pg_index does not record how the index was made;
- column defaults: pg_attrdef.adbin holds the default's raw parse tree (JSON, see ddl.py);
  ``pg_get_expr`` prints it as PostgreSQL's ruleutils prints the analyzed expression, typing
  literals from the column and from the operators and functions they meet.
"""

from __future__ import annotations

import decimal
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mirrordb.access.relation import RELKIND_SEQUENCE, RELKIND_TABLE, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import naming, network_types, range_types
from mirrordb.sql import functions as funcs
from mirrordb.sql import index_expressions as ixexpr
from mirrordb.sql import operators as ops
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (
    ExecContext,
    Expr,
    ExpressionCompiler,
    Row,
    Scope,
    ScopeColumn,
    coerce,
    feature_not_supported,
    no_such_function,
)
from mirrordb.sql.parser import Node, one, strings

# -- names and numbers PostgreSQL gives these objects -------------------------------------------

PG_CATALOG_NAMESPACE_OID = boot.PG_CATALOG_NAMESPACE_OID       # 11
PUBLIC_NAMESPACE_OID = boot.PUBLIC_NAMESPACE_OID               # 2200
PG_TOAST_NAMESPACE_OID = 99
INFORMATION_SCHEMA_NAMESPACE_OID = 13207
SEARCH_PATH_NAMESPACES = (PG_CATALOG_NAMESPACE_OID, PUBLIC_NAMESPACE_OID)  # pg_catalog first
DEFAULT_TABLESPACE_OID = 1663
GLOBAL_TABLESPACE_OID = 1664
HEAP_ACCESS_METHOD_OID = 2
BTREE_ACCESS_METHOD_OID = 403
DEFAULT_COLLATION_OID = 100
C_COLLATION_OID = 950
PG_TYPE_OID = 1247
PG_CONSTRAINT_OID = 2606
PG_DATABASE_OID = boot.PG_DATABASE_OID
RELKIND_VIEW = "v"
BLOCK_SIZE_BYTES = 8192
MAX_NAME_PARTS = 3                 # catalog.schema.relation
MAX_FUNCTION_NAME_CANDIDATES = 8   # overloads per catalog function (a sanity bound)
CATALOG_SNAPSHOT_KEY = -0x43415447  # ExecContext.cache key (sublinks use id()s, never negative)

# Descriptions PostgreSQL's initdb attaches to shared objects (initdb writes them into
# pg_shdescription).
SHARED_DESCRIPTIONS = {
    (boot.TEMPLATE1_DATABASE_OID, PG_DATABASE_OID): "default template for new databases",
    (boot.TEMPLATE0_DATABASE_OID, PG_DATABASE_OID): "unmodifiable empty database",
    (boot.POSTGRES_DATABASE_OID, PG_DATABASE_OID): "default administrative connection database"}
# pg_description's rows for the schemas initdb makes (PostgreSQL 15's texts; initdb writes them).
NAMESPACE_DESCRIPTIONS = [
    (PG_CATALOG_NAMESPACE_OID, boot.PG_NAMESPACE_OID, 0, "system catalog schema"),
    (PG_TOAST_NAMESPACE_OID, boot.PG_NAMESPACE_OID, 0, "reserved schema for TOAST tables"),
    (PUBLIC_NAMESPACE_OID, boot.PG_NAMESPACE_OID, 0, "standard public schema")]

# pg_encoding_to_char: PostgreSQL's encoding numbers (pg_wchar.h), 0..41.
ENCODING_NAMES = (
    "SQL_ASCII", "EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "UTF8", "MULE_INTERNAL",
    "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9",
    "LATIN10", "WIN1256", "WIN1258", "WIN866", "WIN874", "KOI8R", "WIN1251", "WIN1252",
    "ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8", "WIN1250", "WIN1253", "WIN1254",
    "WIN1255", "WIN1257", "KOI8U", "SJIS", "BIG5", "GBK", "UHC", "GB18030", "JOHAB",
    "SHIFT_JIS_2004")

# Default B-tree operator classes by column type (pg_opclass, PostgreSQL 15), for pg_index.indclass.
DEFAULT_BTREE_OPCLASSES = {
    16: 10003, 17: 10006, 18: 10007, 19: 10028, 20: 3124, 21: 1979, 23: 1978, 25: 3126,
    26: 1981, 30: 10032, 700: 10012, 701: 3123, 1042: 10004, 1043: 3126, 1082: 3122,
    1083: 10038, 1114: 3128, 1184: 3127, 1186: 10022, 1700: 3125, 2950: 10065, 3220: 10067,
    3802: 10088}

# pg_type facts the type table does not carry, read from a PostgreSQL 15 catalog:
# oid:typstorage:typcollation:typmodin:typmodout:typanalyze:typsubscript (functions by pg_proc OID).
_TYPE_FACTS = """
16:p:0:0:0:0:0 17:x:0:0:0:0:0 18:p:0:0:0:0:0 19:p:950:0:0:0:6180 20:p:0:0:0:0:0 21:p:0:0:0:0:0
22:p:0:0:0:0:6179 23:p:0:0:0:0:0 24:p:0:0:0:0:0 25:x:100:0:0:0:0 26:p:0:0:0:0:0 28:p:0:0:0:0:0
29:p:0:0:0:0:0 30:p:0:0:0:0:6179 114:x:0:0:0:0:0 199:x:0:0:0:3816:6179 700:p:0:0:0:0:0
701:p:0:0:0:0:0 705:p:0:0:0:0:0 1000:x:0:0:0:3816:6179 1001:x:0:0:0:3816:6179
1002:x:0:0:0:3816:6179 1003:x:950:0:0:3816:6179 1005:x:0:0:0:3816:6179 1006:x:0:0:0:3816:6179
1007:x:0:0:0:3816:6179 1008:x:0:0:0:3816:6179 1009:x:100:0:0:3816:6179 1011:x:0:0:0:3816:6179
1012:x:0:0:0:3816:6179 1013:x:0:0:0:3816:6179 1014:x:100:2913:2914:3816:6179
1015:x:100:2915:2916:3816:6179 1016:x:0:0:0:3816:6179 1021:x:0:0:0:3816:6179
1022:x:0:0:0:3816:6179 1028:x:0:0:0:3816:6179 1042:x:100:2913:2914:0:0 1043:x:100:2915:2916:0:0
1082:p:0:0:0:0:0 1083:p:0:2909:2910:0:0 1114:p:0:2905:2906:0:0 1115:x:0:2905:2906:3816:6179
1182:x:0:0:0:3816:6179 1183:x:0:2909:2910:3816:6179 1184:p:0:2907:2908:0:0
1185:x:0:2907:2908:3816:6179 1186:p:0:2903:2904:0:0 1187:x:0:2903:2904:3816:6179
1231:x:0:2917:2918:3816:6179 1263:x:0:0:0:3816:6179 1700:m:0:2917:2918:0:0 2202:p:0:0:0:0:0
2205:p:0:0:0:0:0 2206:p:0:0:0:0:0 2207:x:0:0:0:3816:6179 2210:x:0:0:0:3816:6179
2211:x:0:0:0:3816:6179 2249:x:0:0:0:0:0 2275:p:0:0:0:0:0 2276:p:0:0:0:0:0 2277:x:0:0:0:0:0
2278:p:0:0:0:0:0 2279:p:0:0:0:0:0 2283:p:0:0:0:0:0
2287:x:0:0:0:3816:6179 2776:p:0:0:0:0:0 2950:p:0:0:0:0:0
2951:x:0:0:0:3816:6179 3220:p:0:0:0:0:0 3221:x:0:0:0:3816:6179 3802:x:0:0:0:0:6098
3807:x:0:0:0:3816:6179 4089:p:0:0:0:0:0 4090:x:0:0:0:3816:6179 4096:p:0:0:0:0:0
4097:x:0:0:0:3816:6179 5077:p:0:0:0:0:0 5078:x:0:0:0:0:0
"""

# pg_proc OIDs of the functions pg_type names (I/O, typmod, analyze, subscripting), PostgreSQL 15.
_TYPE_PROCEDURES = """
3504:enum_in 3505:enum_out 3532:enum_recv 3533:enum_send 2597:domain_in 2598:domain_recv
31:byteaout 33:charout 34:namein 35:nameout 38:int2in 39:int2out 40:int2vectorin
41:int2vectorout 42:int4in 43:int4out 44:regprocin 45:regprocout 46:textin 47:textout
50:xidin 51:xidout 52:cidin 53:cidout 54:oidvectorin 55:oidvectorout 109:unknownin
110:unknownout 200:float4in 201:float4out 214:float8in 215:float8out 321:json_in
322:json_out 323:json_recv 324:json_send 460:int8in 461:int8out 750:array_in 751:array_out
1044:bpcharin 1045:bpcharout 1046:varcharin 1047:varcharout 1084:date_in 1085:date_out
1143:time_in 1144:time_out 1150:timestamptz_in 1151:timestamptz_out 1160:interval_in
1161:interval_out 1242:boolin 1243:boolout 1244:byteain 1245:charin 1312:timestamp_in
1313:timestamp_out 1701:numeric_in 1702:numeric_out 1798:oidin 1799:oidout
2212:regprocedurein 2213:regprocedureout 2218:regclassin 2219:regclassout 2220:regtypein
2221:regtypeout 2290:record_in 2291:record_out 2292:cstring_in 2293:cstring_out 2294:any_in
2295:any_out 2296:anyarray_in 2297:anyarray_out
2298:void_in 2299:void_out 2300:trigger_in 2301:trigger_out
2312:anyelement_in 2313:anyelement_out 2400:array_recv 2401:array_send 2402:record_recv
2403:record_send 2404:int2recv 2405:int2send 2406:int4recv 2407:int4send 2408:int8recv
2409:int8send 2410:int2vectorrecv 2411:int2vectorsend 2412:bytearecv 2413:byteasend
2414:textrecv 2415:textsend 2416:unknownrecv 2417:unknownsend 2418:oidrecv 2419:oidsend
2420:oidvectorrecv 2421:oidvectorsend 2422:namerecv 2423:namesend 2424:float4recv
2425:float4send 2426:float8recv 2427:float8send 2430:bpcharrecv 2431:bpcharsend
2432:varcharrecv 2433:varcharsend 2434:charrecv 2435:charsend 2436:boolrecv 2437:boolsend
2440:xidrecv 2441:xidsend 2442:cidrecv 2443:cidsend 2444:regprocrecv 2445:regprocsend
2446:regprocedurerecv 2447:regproceduresend 2452:regclassrecv 2453:regclasssend
2454:regtyperecv 2455:regtypesend 2460:numeric_recv 2461:numeric_send 2468:date_recv
2469:date_send 2470:time_recv 2471:time_send 2474:timestamp_recv 2475:timestamp_send
2476:timestamptz_recv 2477:timestamptz_send 2478:interval_recv 2479:interval_send
2500:cstring_recv 2501:cstring_send 2502:anyarray_recv 2503:anyarray_send
2777:anynonarray_in 2778:anynonarray_out 2903:intervaltypmodin 2904:intervaltypmodout
2905:timestamptypmodin 2906:timestamptypmodout 2907:timestamptztypmodin
2908:timestamptztypmodout 2909:timetypmodin 2910:timetypmodout 2913:bpchartypmodin
2914:bpchartypmodout 2915:varchartypmodin 2916:varchartypmodout 2917:numerictypmodin
2918:numerictypmodout 2952:uuid_in 2953:uuid_out 2961:uuid_recv 2962:uuid_send
3120:void_recv 3121:void_send 3229:pg_lsn_in 3230:pg_lsn_out 3238:pg_lsn_recv
3239:pg_lsn_send 3803:jsonb_send 3804:jsonb_out 3805:jsonb_recv 3806:jsonb_in
3816:array_typanalyze 4084:regnamespacein 4085:regnamespaceout 4087:regnamespacerecv
4088:regnamespacesend 4092:regroleout 4094:regrolerecv 4095:regrolesend 4098:regrolein
5086:anycompatible_in 5087:anycompatible_out 5088:anycompatiblearray_in
5089:anycompatiblearray_out 5090:anycompatiblearray_recv 5091:anycompatiblearray_send
6098:jsonb_subscript_handler 6179:array_subscript_handler 6180:raw_array_subscript_handler
3:heap_tableam_handler 330:bthandler
"""


@dataclass(slots=True)
class TypeFacts:
    storage: str
    collation_oid: int
    modin_oid: int
    modout_oid: int
    analyze_oid: int
    subscript_oid: int


# PostgreSQL 15's predefined role that owns the public schema (sysviews' pg_namespace shows it
# so); listed by pg_roles and named by pg_get_userbyid. It cannot log in and has no members
# or privileges of its own here.
PG_DATABASE_OWNER_OID = 6171
PG_DATABASE_OWNER = "pg_database_owner"


def _parse_type_facts(text: str) -> dict[int, TypeFacts]:
    facts = {}
    for item in text.split():
        oid, storage, collation, modin, modout, analyze, subscript = item.split(":")
        facts[int(oid)] = TypeFacts(storage, int(collation), int(modin), int(modout),
                                    int(analyze), int(subscript))
    return facts


TYPE_FACTS: dict[int, TypeFacts] = _parse_type_facts(_TYPE_FACTS)
# range and network types: their facts live beside them (range_types.py, network_types.py)
TYPE_FACTS.update(_parse_type_facts(range_types.TYPE_FACTS + network_types.TYPE_FACTS))
DEFAULT_BTREE_OPCLASSES.update({**range_types.DEFAULT_BTREE_OPCLASSES,
                                **network_types.DEFAULT_BTREE_OPCLASSES})
PROCEDURE_NAMES: dict[int, str] = {int(oid): name for oid, name in
                                   (item.split(":") for item in
                                    (_TYPE_PROCEDURES + range_types.TYPE_PROCEDURES
                                     + network_types.TYPE_PROCEDURES).split())}
PROCEDURE_OIDS: dict[str, int] = {name: oid for oid, name in PROCEDURE_NAMES.items()}
invariant(set(TYPE_FACTS) == set(T.TYPES), "TYPE_FACTS covers exactly the type table")


def type_facts(type_oid: int) -> TypeFacts:
    if type_oid >= T.FIRST_USER_TYPE_OID:
        return _user_type_facts(type_oid)
    return TYPE_FACTS.get(type_oid) or TypeFacts("p", 0, 0, 0, 0, 0)


def _user_type_facts(type_oid: int) -> TypeFacts:
    """A domain has its base type's facts; an enum is stored plain, a composite type
    extended; a user type's array is extended, with its element's collation
    (sql/user_types.py)."""
    if T.is_array_type(type_oid):
        element = type_facts(T.element_type_of(type_oid))
        return TypeFacts("x", element.collation_oid, 0, 0, 3816, 6179)
    base = T.base_type(type_oid)
    if base == type_oid and T.is_row_type(type_oid):     # a composite type: extended
        return TypeFacts("x", 0, 0, 0, 0, 0)
    return type_facts(base) if base != type_oid else TypeFacts("p", 0, 0, 0, 0, 0)


def type_collation(type_oid: int) -> int:
    return type_facts(type_oid).collation_oid


# -- catalog entries -----------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class VirtualRelation:
    """A relation served only as a view (sysviews.py): pg_type, pg_roles, information_schema..."""

    oid: int
    name: str
    namespace_oid: int
    kind: str                                   # 'r' for catalogs, 'v' for views
    columns: tuple[tuple[str, int], ...]        # (name, type OID)


@dataclass(slots=True, eq=False)
class ClassEntry:
    """One relation as pg_class shows it (see sysviews.pg_class for the columns made of it)."""

    oid: int
    name: str
    namespace_oid: int
    owner_oid: int
    kind: str
    relfilenode: int
    tablespace_oid: int          # 0: the database's default tablespace
    persistence: str
    natts: int
    shared: bool
    virtual: bool = False        # served by sysviews, no relation file
    acl: str | None = None       # relacl: aclitem[] text (sql/roles.py), NULL = owner's default
    relpages: int = 0            # planner statistics (catalog/relstats.py)
    reltuples: float = -1.0
    relallvisible: int = 0


@dataclass(slots=True, eq=False)
class AttributeEntry:
    relation_oid: int
    name: str
    type_oid: int
    number: int
    not_null: bool
    typmod: int
    dropped: bool = False
    identity: str = ""    # pg_attribute.attidentity
    generated: str = ""   # pg_attribute.attgenerated


@dataclass(slots=True, eq=False)
class IndexEntry:
    index_oid: int
    table_oid: int
    unique: bool
    primary: bool
    key_numbers: tuple[int, ...]     # attnums of the table's key columns (0: an expression)
    is_constraint: bool              # backs a PRIMARY KEY or UNIQUE constraint
    expressions: str | None = None   # pg_index.indexprs, indpred (sql/index_expressions.py)
    predicate: str | None = None
    options: tuple[int, ...] = ()    # pg_index.indoption (empty: all 0)
    include_numbers: tuple[int, ...] = ()   # INCLUDE columns' attnums (indkey after the keys)
    clustered: bool = False          # pg_index.indisclustered (sql/cluster.py)


@dataclass(slots=True, eq=False)
class NamespaceEntry:
    oid: int
    name: str
    owner_oid: int


@dataclass(slots=True, eq=False)
class RoleEntry:
    oid: int
    name: str
    superuser: bool
    inherit: bool
    create_role: bool
    create_database: bool
    can_login: bool
    replication: bool
    bypass_rls: bool
    connection_limit: int
    password: str | None


PREDEFINED_ROLES = (RoleEntry(PG_DATABASE_OWNER_OID, PG_DATABASE_OWNER, False, True, False,
                              False, False, False, False, -1, None),)
_PREDEFINED_BY_OID = {role.oid: role for role in PREDEFINED_ROLES}


@dataclass(slots=True, eq=False)
class DatabaseEntry:
    oid: int
    name: str
    owner_oid: int
    encoding: int
    allow_connections: bool
    connection_limit: int
    is_template: bool = False
    acl: str | None = None          # datacl's stored text (sql/database_privileges.py)


Record = dict[str, Any]
CatalogReader = Callable[[Relation], list[Record]]


def _txn_reader(txn: Any) -> CatalogReader:
    """Catalog rows visible to the running statement of ``txn`` (an engine ``Txn``)."""
    def read(catalog: Relation) -> list[Record]:
        names = [column.name for column in catalog.columns]
        return [dict(zip(names, values)) for _, values in txn.scan(catalog)]
    return read


def _relcache_reader(engine: Any, transaction: Any) -> CatalogReader:
    """Catalog rows of the latest committed state plus ``transaction``'s own changes."""
    def read(catalog: Relation) -> list[Record]:
        names = [column.name for column in catalog.columns]
        return [dict(zip(names, values)) for _, values in engine.relcache.rows(catalog,
                                                                                transaction)]
    return read


class CatalogSnapshot:
    """The catalogs as one statement sees them, read lazily (each catalog at most once)."""

    def __init__(self, read: CatalogReader, session: Any) -> None:
        self._read = read
        self.session = session
        self.view_rows: dict[str, list[Row]] = {}   # sysviews' per-statement cache

    @staticmethod
    def of(ctx: ExecContext) -> CatalogSnapshot:
        snapshot = ctx.cache.get(CATALOG_SNAPSHOT_KEY)
        if snapshot is None:
            snapshot = CatalogSnapshot(_txn_reader(ctx.txn), ctx.session)
            ctx.cache[CATALOG_SNAPSHOT_KEY] = snapshot
        return snapshot

    @staticmethod
    def for_session(session: Any) -> CatalogSnapshot:
        txn = getattr(session, "txn", None)
        if txn is not None and getattr(txn.transaction, "snapshot", None) is not None:
            return CatalogSnapshot(_txn_reader(txn), session)
        transaction = txn.transaction if txn is not None else None
        return CatalogSnapshot(_relcache_reader(session.engine, transaction), session)

    # -- relations --------------------------------------------------------------------------------

    @functools.cached_property
    def virtual_relations(self) -> dict[int, VirtualRelation]:
        from mirrordb.sql import sysviews  # sysviews builds on this module: import on use
        return {relation.oid: relation for relation in sysviews.virtual_relations()}

    @functools.cached_property
    def classes(self) -> dict[int, ClassEntry]:
        classes: dict[int, ClassEntry] = {}
        for record in self._read(boot.PG_CLASS):
            entry = self._class_entry(record)
            classes[entry.oid] = entry
        for relation in self.virtual_relations.values():
            known = classes.get(relation.oid)
            if known is not None:   # a heap catalog served with PostgreSQL's full column set
                classes[relation.oid] = ClassEntry(
                    known.oid, known.name, known.namespace_oid, known.owner_oid, known.kind,
                    known.relfilenode, known.tablespace_oid, known.persistence,
                    len(relation.columns), known.shared, acl=known.acl,
                    relpages=known.relpages, reltuples=known.reltuples,
                    relallvisible=known.relallvisible)
            else:
                classes[relation.oid] = ClassEntry(
                    relation.oid, relation.name, relation.namespace_oid,
                    boot.BOOTSTRAP_SUPERUSER_OID, relation.kind, 0, 0, "p",
                    len(relation.columns), False, virtual=True)
        return classes

    @staticmethod
    def _class_entry(record: Record) -> ClassEntry:
        tablespace = int(record["reltablespace"])
        shared = bool(record["relisshared"])
        return ClassEntry(
            oid=int(record["oid"]), name=str(record["relname"]),
            namespace_oid=int(record["relnamespace"]), owner_oid=int(record["relowner"]),
            kind=str(record["relkind"]), relfilenode=int(record["relfilenode"]),
            tablespace_oid=0 if tablespace == DEFAULT_TABLESPACE_OID and not shared
            else tablespace, persistence=str(record["relpersistence"] or "p"),
            natts=int(record["relnatts"]), shared=shared, acl=record.get("relacl"),
            relpages=int(record.get("relpages") or 0),
            reltuples=float(record.get("reltuples", -1.0)),   # type: ignore[arg-type]
            relallvisible=int(record.get("relallvisible") or 0))

    @functools.cached_property
    def inherits(self) -> list[Record]:
        """pg_inherits' rows (partitions and their indexes, sql/partitioning.py)."""
        return sorted(self._read(boot.PG_INHERITS),
                      key=lambda record: (int(record["inhparent"]), int(record["inhrelid"])))

    @functools.cached_property
    def partitioned_tables(self) -> dict[int, Record]:
        return {int(record["partrelid"]): record
                for record in self._read(boot.PG_PARTITIONED_TABLE)}

    @functools.cached_property
    def rewrite_rules(self) -> list[Record]:
        """pg_rewrite's rows (each a view's "_RETURN" rule), by OID."""
        return sorted(self._read(boot.PG_REWRITE), key=lambda record: int(record["oid"]))

    @functools.cached_property
    def view_queries(self) -> dict[int, str]:
        """The view's OID -> its stored query (sql/views.py)."""
        return {int(record["ev_class"]): str(record["ev_action"])
                for record in self.rewrite_rules if record["rulename"] == "_RETURN"}

    @functools.cached_property
    def classes_by_name(self) -> dict[tuple[int, str], ClassEntry]:
        return {(entry.namespace_oid, entry.name): entry for entry in self.classes.values()}

    def find_relation(self, name: str, namespace_oid: int | None) -> ClassEntry | None:
        """A relation by name: in ``namespace_oid``, or the first on the search path."""
        namespaces = (namespace_oid,) if namespace_oid is not None else self.search_path
        for namespace in namespaces:
            entry = self.classes_by_name.get((namespace, name))
            if entry is not None:
                return entry
        return None

    def relation_is_visible(self, entry: ClassEntry) -> bool:
        """pg_table_is_visible: on the search path and not hidden by an earlier namesake."""
        if entry.namespace_oid not in self.search_path:
            return False
        return self.find_relation(entry.name, None) is entry

    def relation_display_name(self, oid: int) -> str | None:
        """regclass output: the name, schema-qualified when the relation is not visible."""
        entry = self.classes.get(oid)
        if entry is None:
            return None
        name = funcs.quote_ident(entry.name)
        if self.relation_is_visible(entry):
            return name
        return f"{funcs.quote_ident(self.namespace_name(entry.namespace_oid))}.{name}"

    def qualified_name(self, oid: int) -> str:
        """schema.relation, each part quoted when SQL needs it (psql's "public.t" titles)."""
        entry = self.classes[oid]
        return (f"{funcs.quote_ident(self.namespace_name(entry.namespace_oid))}."
                f"{funcs.quote_ident(entry.name)}")

    # -- columns, indexes, defaults -------------------------------------------------------------

    @functools.cached_property
    def attributes(self) -> dict[int, list[AttributeEntry]]:
        virtual = self.virtual_relations
        result: dict[int, list[AttributeEntry]] = {}
        for record in self._read(boot.PG_ATTRIBUTE):
            relation_oid = int(record["attrelid"])
            if relation_oid in virtual:
                continue
            result.setdefault(relation_oid, []).append(AttributeEntry(
                relation_oid, str(record["attname"]), int(record["atttypid"]),
                int(record["attnum"]), bool(record["attnotnull"]), int(record["atttypmod"]),
                bool(record["attisdropped"]), str(record["attidentity"] or ""),
                str(record["attgenerated"] or "")))
        for relation in virtual.values():
            result[relation.oid] = [AttributeEntry(relation.oid, name, type_oid, number, False,
                                                   -1)
                                    for number, (name, type_oid) in
                                    enumerate(relation.columns, start=1)]
        for columns in result.values():
            columns.sort(key=lambda attribute: attribute.number)
        return result

    def attribute(self, relation_oid: int, number: int) -> AttributeEntry | None:
        return next((a for a in self.attributes.get(relation_oid, []) if a.number == number),
                    None)

    @functools.cached_property
    def indexes(self) -> dict[int, IndexEntry]:
        result = {}
        for record in self._read(boot.PG_INDEX):
            index_oid, table_oid = int(record["indexrelid"]), int(record["indrelid"])
            numbers = tuple(int(part) for part in str(record["indkey"]).split())
            key_count = record["indnkeyatts"]
            keys = numbers if key_count is None else numbers[:int(key_count)]
            unique, primary = bool(record["indisunique"]), bool(record["indisprimary"])
            expressions, predicate = record["indexprs"], record["indpred"]
            result[index_oid] = IndexEntry(
                index_oid, table_oid, unique, primary, keys,
                expressions is None and predicate is None and self._backs_constraint(
                    index_oid, table_oid, numbers, unique, primary),   # named after all
                None if expressions is None else str(expressions),
                None if predicate is None else str(predicate),
                tuple(int(part) for part in str(record["indoption"] or "").split()),
                numbers[len(keys):], bool(record.get("indisclustered")))
        return result

    def _backs_constraint(self, index_oid: int, table_oid: int, keys: tuple[int, ...],
                          unique: bool, primary: bool) -> bool:
        if primary:
            return True
        if not unique or index_oid not in self.classes or table_oid not in self.classes:
            return False
        names = [self._column_name(table_oid, number) for number in keys]
        index_name = self.classes[index_oid].name
        number = index_name[len(index_name.rstrip("0123456789")):]   # t_a_key1: a free name
        return index_name == naming.make_object_name(
            self.classes[table_oid].name, naming.index_name_addition(names), f"key{number}")

    def _column_name(self, relation_oid: int, number: int) -> str:
        attribute = self.attribute(relation_oid, number)
        return attribute.name if attribute is not None else str(number)

    @functools.cached_property
    def indexes_of_table(self) -> dict[int, list[IndexEntry]]:
        result: dict[int, list[IndexEntry]] = {}
        for entry in self.indexes.values():
            result.setdefault(entry.table_oid, []).append(entry)
        return result

    @functools.cached_property
    def defaults(self) -> dict[tuple[int, int], Node]:
        """(relation, attnum) -> the default's raw parse tree; bare NULL defaults are left out,
        as PostgreSQL stores none for them."""
        result = {}
        for record in self._read(boot.PG_ATTRDEF):
            try:
                tree = json.loads(str(record["adbin"]))
            except ValueError:
                continue
            if "A_Const" in tree and tree["A_Const"].get("isnull"):
                continue
            result[(int(record["adrelid"]), int(record["adnum"]))] = tree
        return result

    @functools.cached_property
    def owned_sequences(self) -> dict[int, tuple[int, int]]:
        """sequence OID -> (table OID, attnum) for sequences a column owns: pg_depend's 'a'
        (serial, OWNED BY) and 'i' (identity) rows (sql/sequences.py writes them)."""
        return {int(r["objid"]): (int(r["refobjid"]), int(r["refobjsubid"]))
                for r in self._read(boot.PG_DEPEND)
                if r["classid"] == boot.PG_CLASS_OID and r["deptype"] in ("a", "i")}

    @functools.cached_property
    def search_path(self) -> tuple[int, ...]:
        """The schemas an unqualified name is looked up in (sql/schemas.py): regclass,
        pg_table_is_visible and the names pg_get_viewdef and pg_get_expr print follow it
        (pg_dump empties search_path, so every name it prints is qualified)."""
        return search_path_namespaces(self.session)

    @functools.cached_property
    def sequences(self) -> dict[int, Record]:
        return {int(record["seqrelid"]): record for record in self._read(boot.PG_SEQUENCE)}

    # -- namespaces, roles, databases -----------------------------------------------------------

    @functools.cached_property
    def namespaces(self) -> dict[int, NamespaceEntry]:
        result = {int(r["oid"]): NamespaceEntry(int(r["oid"]), str(r["nspname"]),
                                                int(r["nspowner"]))
                  for r in self._read(boot.PG_NAMESPACE)}
        for oid, name in ((PG_TOAST_NAMESPACE_OID, "pg_toast"),
                          (INFORMATION_SCHEMA_NAMESPACE_OID, "information_schema")):
            result.setdefault(oid, NamespaceEntry(oid, name, boot.BOOTSTRAP_SUPERUSER_OID))
        return result

    def namespace_name(self, oid: int) -> str:
        entry = self.namespaces.get(oid)
        return entry.name if entry is not None else str(oid)

    def namespace_oid(self, name: str) -> int | None:
        return next((n.oid for n in self.namespaces.values() if n.name == name), None)

    @functools.cached_property
    def roles(self) -> dict[int, RoleEntry]:
        return {int(r["oid"]): RoleEntry(
            int(r["oid"]), str(r["rolname"]), bool(r["rolsuper"]), bool(r["rolinherit"]),
            bool(r["rolcreaterole"]), bool(r["rolcreatedb"]), bool(r["rolcanlogin"]),
            bool(r["rolreplication"]), bool(r["rolbypassrls"]), int(r["rolconnlimit"]),
            r["rolpassword"]) for r in self._read(boot.PG_AUTHID)}

    def role_oid(self, name: str) -> int | None:
        return next((r.oid for r in self.roles.values() if r.name == name), None)

    @functools.cached_property
    def databases(self) -> dict[int, DatabaseEntry]:
        return {int(r["oid"]): DatabaseEntry(int(r["oid"]), str(r["datname"]), int(r["datdba"]),
                                             int(r["encoding"]), bool(r["datallowconn"]),
                                             int(r["datconnlimit"]), bool(r["datistemplate"]),
                                             r["datacl"])
                for r in self._read(boot.PG_DATABASE)}

    def database_oid(self, name: str) -> int | None:
        return next((d.oid for d in self.databases.values() if d.name == name), None)

    # -- name parsing ---------------------------------------------------------------------------

    def _regclass_from_text(self, text: str) -> ClassEntry | None:
        parts = parse_qualified_name(text)
        if len(parts) == 1:
            return self.find_relation(parts[0], None)
        namespace = self.namespace_oid(parts[-2])
        return None if namespace is None else self.find_relation(parts[-1], namespace)

    def stored_relation(self, text: str) -> ClassEntry | None:
        """The relation a name stored in the catalog (a default's ``nextval('seq')``) means:
        resolved on the default search path it was written under, whatever the session's
        path is now."""
        parts = parse_qualified_name(text)
        if len(parts) > 1:
            return self._regclass_from_text(text)
        for namespace in SEARCH_PATH_NAMESPACES:
            entry = self.classes_by_name.get((namespace, parts[0]))
            if entry is not None:
                return entry
        return None

    def relation_by_text(self, text: str) -> ClassEntry:
        """regclass input: a possibly qualified, possibly quoted name; 42P01 if none."""
        entry = self._regclass_from_text(text)
        if entry is None:
            raise MirrordbError(f'relation "{text.strip()}" does not exist', sqlstate="42P01")
        return entry

    # -- sizes ----------------------------------------------------------------------------------

    def relation_size_bytes(self, oid: int) -> int | None:
        entry = self.classes.get(oid)
        if entry is None:
            return None
        if entry.virtual or entry.kind == RELKIND_VIEW:
            return 0
        try:
            return int(self.session.engine.pool.nblocks(
                self._file_node(entry))) * BLOCK_SIZE_BYTES
        except (OSError, MirrordbError):
            return 0

    def relation_filepath(self, oid: int) -> str | None:
        """pg_relation_filepath: the main fork's path under the data directory; None for an
        unknown OID and a relation without storage (a view, a relation served by sysviews)."""
        entry = self.classes.get(oid)
        if entry is None or entry.virtual or entry.kind == RELKIND_VIEW:
            return None
        return self._file_node(entry).relative_path()

    def _file_node(self, entry: ClassEntry) -> Any:
        """The relation's file; a temporary relation's names its session's backend ID (the
        N of its schema pg_temp_N)."""
        rnode = _file_node(entry, self.session.engine.database_oid)
        if entry.persistence != "t":
            return rnode
        from mirrordb.access.relation import TEMP_NAMESPACE_PREFIX
        from mirrordb.sql import schemas
        from mirrordb.storage.relfilenode import TempRelFileNode
        name = schemas.namespace_name(self.session, entry.namespace_oid)
        return TempRelFileNode(*rnode, int(name.removeprefix(TEMP_NAMESPACE_PREFIX) or -1))


def _file_node(entry: ClassEntry, database_oid: int) -> Any:
    """The RelFileNode of a relation with storage in database ``database_oid``."""
    from mirrordb.storage.relfilenode import RelFileNode
    database = 0 if entry.shared else database_oid
    tablespace = entry.tablespace_oid or DEFAULT_TABLESPACE_OID
    return RelFileNode(tablespace, database, entry.relfilenode)


def parse_qualified_name(text: str) -> list[str]:
    """Identifier parts of ``schema.name`` as SQL reads them: unquoted parts fold to lower case,
    double-quoted parts keep their case (``""`` is a quote); 42602 when malformed."""
    parts: list[str] = []
    position, length = 0, len(text)
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position < length and text[position] == '"':
            part, position = _quoted_part(text, position)
        else:
            start = position
            while position < length and text[position] not in '."' and \
                    not text[position].isspace():
                position += 1
            part = text[start:position].lower()
        if not part:
            raise MirrordbError('invalid name syntax', sqlstate="42602")
        parts.append(part)
        while position < length and text[position].isspace():
            position += 1
        if position == length:
            break
        if text[position] != "." or len(parts) >= MAX_NAME_PARTS:
            raise MirrordbError("invalid name syntax", sqlstate="42602")
        position += 1
    return parts


def _quoted_part(text: str, position: int) -> tuple[str, int]:
    chars = []
    position += 1
    while position < len(text):
        if text[position] == '"':
            if position + 1 < len(text) and text[position + 1] == '"':
                chars.append('"')
                position += 2
                continue
            return "".join(chars), position + 1
        chars.append(text[position])
        position += 1
    raise MirrordbError("invalid name syntax", sqlstate="42602")


# -- regclass & co. text I/O ----------------------------------------------------------------------


class SessionCatalogLookup:
    """types.CatalogLookup for one session: names of relations, namespaces, roles and the
    pg_type I/O functions, read with the session's current transaction."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._cached: tuple[Any, Any, int, CatalogSnapshot] | None = None

    def _snapshot(self) -> CatalogSnapshot:
        """One snapshot per statement: reused while the transaction, its MVCC snapshot and the
        relation cache generation stay the same and the transaction has not changed catalogs
        (a regclass column of many rows then reads pg_class once)."""
        txn = getattr(self.session, "txn", None)
        transaction = txn.transaction if txn is not None else None
        if transaction is not None and transaction.touched_catalogs:
            return CatalogSnapshot.for_session(self.session)
        mvcc = getattr(transaction, "snapshot", None)
        generation = self.session.engine.relcache.generation
        cached = self._cached
        if cached is not None and cached[0] is txn and cached[1] is mvcc and \
                cached[2] == generation:
            return cached[3]
        snapshot = CatalogSnapshot.for_session(self.session)
        self._cached = (txn, mvcc, generation, snapshot)
        return snapshot

    def oid_of(self, type_oid: int, name: str) -> int:
        snapshot = self._snapshot()
        if type_oid == T.REGCLASS_OID:
            return snapshot.relation_by_text(name).oid
        if type_oid == T.REGNAMESPACE_OID:
            oid = snapshot.namespace_oid(parse_qualified_name(name)[-1])
            if oid is None:
                raise MirrordbError(f'schema "{name}" does not exist', sqlstate="3F000")
            return oid
        if type_oid == T.REGROLE_OID:
            oid = snapshot.role_oid(parse_qualified_name(name)[-1])
            if oid is None:
                raise MirrordbError(f'role "{name}" does not exist', sqlstate="42704")
            return oid
        if type_oid in (T.REGPROC_OID, T.REGPROCEDURE_OID):
            from mirrordb.sql import proc_catalog
            return proc_catalog.regproc_oid(self.session, name)
        raise T.invalid_text(T.TYPES[type_oid].name, name)

    def name_of(self, type_oid: int, oid: int) -> str | None:
        if type_oid in (T.REGPROC_OID, T.REGPROCEDURE_OID):
            from mirrordb.sql import proc_catalog
            return proc_catalog.regproc_name(self.session, oid, type_oid) \
                or PROCEDURE_NAMES.get(oid)
        snapshot = self._snapshot()
        if type_oid == T.REGCLASS_OID:
            return snapshot.relation_display_name(oid)
        if type_oid == T.REGNAMESPACE_OID:
            entry = snapshot.namespaces.get(oid)
            return funcs.quote_ident(entry.name) if entry is not None else None
        if type_oid == T.REGROLE_OID:
            role = snapshot.roles.get(oid)
            return funcs.quote_ident(role.name) if role is not None else None
        if type_oid == T.REGTYPE_OID:
            from mirrordb.sql import row_values   # it imports the planner, which imports us
            return row_values.row_type_name(snapshot, oid)
        return None


# -- pg_get_expr: printing stored expressions as PostgreSQL's ruleutils does --------------------

_SIMPLE, _OPERATOR, _UNARY, _BOOL, _TEST, _ARRAY_OPERATOR = ("simple", "operator", "unary",
                                                             "bool", "test", "array-operator")
_LOW_PRIORITY, _HIGH_PRIORITY = "+-", "*/%"
_SQL_VALUE_FUNCTIONS = {
    "SVFOP_CURRENT_DATE": "CURRENT_DATE", "SVFOP_CURRENT_TIME": "CURRENT_TIME",
    "SVFOP_CURRENT_TIME_N": "CURRENT_TIME", "SVFOP_CURRENT_TIMESTAMP": "CURRENT_TIMESTAMP",
    "SVFOP_CURRENT_TIMESTAMP_N": "CURRENT_TIMESTAMP", "SVFOP_LOCALTIME": "LOCALTIME",
    "SVFOP_LOCALTIME_N": "LOCALTIME", "SVFOP_LOCALTIMESTAMP": "LOCALTIMESTAMP",
    "SVFOP_LOCALTIMESTAMP_N": "LOCALTIMESTAMP", "SVFOP_CURRENT_ROLE": "CURRENT_ROLE",
    "SVFOP_CURRENT_USER": "CURRENT_USER", "SVFOP_USER": "USER",
    "SVFOP_SESSION_USER": "SESSION_USER", "SVFOP_CURRENT_CATALOG": "CURRENT_CATALOG",
    "SVFOP_CURRENT_SCHEMA": "CURRENT_SCHEMA"}
_REGCLASS_ARGUMENT_FUNCTIONS = {"nextval": (T.REGCLASS_OID,), "currval": (T.REGCLASS_OID,),
                                "setval": (T.REGCLASS_OID, T.INT8_OID, T.BOOL_OID)}
_BOOLEAN_TESTS = {"IS_TRUE": "IS TRUE", "IS_NOT_TRUE": "IS NOT TRUE", "IS_FALSE": "IS FALSE",
                  "IS_NOT_FALSE": "IS NOT FALSE", "IS_UNKNOWN": "IS UNKNOWN",
                  "IS_NOT_UNKNOWN": "IS NOT UNKNOWN"}
COLUMN_DEFAULT_NODE = "MirrordbColumnDefault"   # sysviews wraps adbin: {type_oid, typmod, expr}


@dataclass(slots=True, eq=False)
class _Printed:
    """An expression's text and what a parent needs to decide on parentheses."""

    text: str
    kind: str = _SIMPLE
    operator: str = ""           # the binary operator (kind _OPERATOR) or boolean operator


class ExpressionDeparser:
    """Prints a raw parse tree the way pg_get_expr prints the analyzed tree PostgreSQL stores.

    Literals print as the constants the analyzer makes of them (typed by the column, operator or
    function they meet); implicit casts print inside operators and function calls but not at the
    top; ``pretty`` (psql's choice) drops the parentheses operator precedence makes redundant.
    """

    def __init__(self, session: Any, snapshot: CatalogSnapshot, relation_oid: int | None,
                 pretty: bool, value_type: int | None = None) -> None:
        from mirrordb.sql.planner import PlanBuilder  # the planner imports the session layer
        self.snapshot = snapshot
        # a domain constraint's: VALUE has this type and prints as VALUE (sql/domain_checks.py)
        self.value_type = value_type
        self.pretty = pretty
        self.builder = PlanBuilder(session, [])
        scope = Scope()
        if relation_oid is not None and relation_oid in snapshot.classes:
            scope.add(snapshot.classes[relation_oid].name,
                      [ScopeColumn(a.name, a.type_oid, a.typmod)
                       for a in snapshot.attributes.get(relation_oid, []) if not a.dropped])
        if value_type is not None:
            scope.add("", [ScopeColumn("value", value_type)], aliased=False)
        self.compiler = ExpressionCompiler(self.builder, scope)
        self.timezone = getattr(session, "timezone", "UTC")

    def deparse(self, node: Node, target_oid: int | None = None) -> str:
        kind, fields = one(node)
        if kind == COLUMN_DEFAULT_NODE:
            return self.deparse(fields["expr"], int(fields["type_oid"]))
        return self._print(node, target_oid, show_implicit=False).text

    # -- dispatch -------------------------------------------------------------------------------

    def _type_of(self, node: Node) -> int:
        try:
            return self.compiler.compile(node).type_oid
        except MirrordbError:
            return T.UNKNOWN_OID

    def _print(self, node: Node, target_oid: int | None, show_implicit: bool = True
               ) -> _Printed:
        kind, fields = one(node)
        if kind == "A_Const" and ("sval" in fields or "bsval" in fields or fields.get("isnull")):
            return self._unknown_literal(fields, target_oid)
        method: Callable[[Node], _Printed] | None = getattr(self, "_" + kind, None)
        if method is None:
            raise feature_not_supported(f"printing expression {kind}")
        printed = method(fields)
        natural = self._type_of(node)
        if (show_implicit and target_oid is not None and natural != T.UNKNOWN_OID
                and target_oid not in (natural, T.UNKNOWN_OID, T.ANY_OID)
                and target_oid not in T.POLYMORPHIC_OIDS):
            return self._cast(printed, target_oid, -1)
        return printed

    # -- constants ------------------------------------------------------------------------------

    def _A_Const(self, f: Node) -> _Printed:
        if "boolval" in f:
            return _Printed("true" if f["boolval"].get("boolval") else "false")
        if "ival" in f:
            return self._constant(T.INT4_OID, str(f["ival"].get("ival", 0)))
        text = f["fval"]["fval"]
        if text.lstrip("-").isdigit() and -2**63 <= int(text) < 2**63:
            return self._constant(T.INT8_OID, str(int(text)))
        return self._constant(T.NUMERIC_OID, T.format_text(T.NUMERIC_OID,
                                                           T.parse_text(T.NUMERIC_OID, text)))

    def _unknown_literal(self, f: Node, target_oid: int | None) -> _Printed:
        type_oid = target_oid if target_oid not in (None, T.UNKNOWN_OID) else T.TEXT_OID
        assert type_oid is not None
        if f.get("isnull"):
            return _Printed(f"NULL::{_type_label(type_oid, -1)}")
        text = f["sval"]["sval"] if "sval" in f else f["bsval"]["bsval"]
        return self._constant(type_oid, self._output_text(type_oid, text))

    def _output_text(self, type_oid: int, text: str) -> str:
        """The literal as the type's output function shows the value it reads."""
        if type_oid == T.REGCLASS_OID:
            entry = self.snapshot.stored_relation(text)
            shown = self.snapshot.relation_display_name(entry.oid) if entry else None
            return shown if shown is not None else text
        try:
            value = T.parse_text(type_oid, text, timezone=self.timezone)
            return T.format_text(type_oid, value, timezone=self.timezone)
        except MirrordbError:
            return text

    @staticmethod
    def _constant(type_oid: int, text: str, decorate: bool = True) -> _Printed:
        """get_const_expr's rules: int4 and float-looking numerics bare, booleans as words,
        everything else a quoted literal with its type."""
        if type_oid == T.BOOL_OID:
            return _Printed("true" if text in ("t", "true") else "false")
        if type_oid == T.INT4_OID and not text.startswith("-"):
            return _Printed(text)
        if type_oid == T.NUMERIC_OID and text[:1].isdigit() and any(c in text for c in "eE."):
            return _Printed(text)
        quoted = "'" + text.replace("'", "''") + "'"
        return _Printed(f"{quoted}::{_type_label(type_oid, -1)}" if decorate else quoted)

    # -- casts ----------------------------------------------------------------------------------

    def _TypeCast(self, f: Node) -> _Printed:
        type_oid, typmod = self.builder.resolve_type(f["typeName"])
        argument = f["arg"]
        kind, fields = one(argument)
        if kind == "A_Const" and ("sval" in fields or fields.get("isnull")):
            if typmod < 0:
                return self._unknown_literal(fields, type_oid)
            if fields.get("isnull"):
                return _Printed(f"NULL::{_type_label(type_oid, typmod)}")
            text = self._output_text(type_oid, fields["sval"]["sval"])
            bare = self._constant(type_oid, text, decorate=False).text
            return _Printed(f"{bare}::{_type_label(type_oid, typmod)}")
        inner = self._print(argument, None)
        if self._type_of(argument) == type_oid and typmod < 0:
            return inner
        return self._cast(inner, type_oid, typmod)

    def _cast(self, inner: _Printed, type_oid: int, typmod: int) -> _Printed:
        label = _type_label(type_oid, typmod)
        if not self.pretty or inner.kind != _SIMPLE:
            return _Printed(f"({inner.text})::{label}")
        return _Printed(f"{inner.text}::{label}")

    # -- operators ------------------------------------------------------------------------------

    def _A_Expr(self, f: Node) -> _Printed:
        kind = f.get("kind", "AEXPR_OP")
        name = strings(f.get("name"))[-1] if f.get("name") else ""
        if kind in ("AEXPR_OP", "AEXPR_LIKE", "AEXPR_ILIKE"):
            if "lexpr" not in f:
                return self._prefix_operator(name, f["rexpr"])
            return self._binary_operator(name, f["lexpr"], f["rexpr"])
        if kind == "AEXPR_IN" and "RowExpr" in f["lexpr"]:
            return self._row_in_list(name, f["lexpr"], one(f["rexpr"])[1]["items"])
        if kind == "AEXPR_IN":
            operator, quantifier = ("=", "ANY") if name == "=" else ("<>", "ALL")
            array = {"A_ArrayExpr": {"elements": one(f["rexpr"])[1]["items"]}}
            return self._array_operator(operator, quantifier, f["lexpr"], array)
        if kind in ("AEXPR_OP_ANY", "AEXPR_OP_ALL"):
            return self._array_operator(name, "ANY" if kind == "AEXPR_OP_ANY" else "ALL",
                                        f["lexpr"], f["rexpr"])
        if kind == "AEXPR_DISTINCT" and "RowExpr" in f["lexpr"] and "RowExpr" in f["rexpr"]:
            return self._row_distinct(f["lexpr"], f["rexpr"])
        if kind in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
            word = "IS DISTINCT FROM" if kind == "AEXPR_DISTINCT" else "IS NOT DISTINCT FROM"
            return self._wrap(f"{self._child(f['lexpr'], None, _TEST).text} {word} "
                              f"{self._child(f['rexpr'], None, _TEST).text}", _TEST)
        if kind == "AEXPR_NULLIF":
            return _Printed(f"NULLIF({self._print(f['lexpr'], None).text}, "
                            f"{self._print(f['rexpr'], None).text})")
        if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN"):
            low, high = one(f["rexpr"])[1]["items"]
            if kind == "AEXPR_BETWEEN":
                parts = [self._binary_operator(">=", f["lexpr"], low),
                         self._binary_operator("<=", f["lexpr"], high)]
                return self._join_boolean("AND", parts)
            parts = [self._binary_operator("<", f["lexpr"], low),
                     self._binary_operator(">", f["lexpr"], high)]
            return self._join_boolean("OR", parts)
        raise feature_not_supported(f"printing operator kind {kind}")

    def _binary_operator(self, name: str, left_node: Node, right_node: Node) -> _Printed:
        if "RowExpr" in left_node and "RowExpr" in right_node:
            return self._row_comparison(name, left_node, right_node)
        left_type, right_type = self._type_of(left_node), self._type_of(right_node)
        try:
            resolved = ops.resolve_operator(name, left_type, right_type)
            targets: tuple[int | None, int | None] = (resolved.left_type, resolved.right_type)
        except MirrordbError:
            targets = (None, None)
        left = self._print(left_node, targets[0])
        right = self._print(right_node, targets[1])
        left_text = self._parenthesize(left, name, is_left=True)
        right_text = self._parenthesize(right, name, is_left=False)
        return self._wrap(f"{left_text} {name} {right_text}", _OPERATOR, name)

    # -- row values (sql/row_values.py) ---------------------------------------------------------

    def _RowExpr(self, f: Node) -> _Printed:
        return _Printed(f"ROW({', '.join(self._print(i, None).text for i in f.get('args', []))})")

    def _row_pairs(self, name: str, left_node: Node, right_node: Node
                   ) -> list[tuple[_Printed, _Printed]]:
        """Each column pair of two written rows, printed as the pair's operator sees it."""
        printed = []
        for left, right in zip(left_node["RowExpr"].get("args", []),
                               right_node["RowExpr"].get("args", [])):
            try:
                resolved = ops.resolve_operator(name, self._type_of(left), self._type_of(right))
                targets: tuple[int | None, int | None] = (resolved.left_type,
                                                          resolved.right_type)
            except MirrordbError:
                targets = (None, None)
            printed.append((self._print(left, targets[0]), self._print(right, targets[1])))
        return printed

    def _row_distinct(self, left_node: Node, right_node: Node) -> _Printed:
        """``ROW(...) IS DISTINCT FROM ROW(...)``: stored as the OR of the columns'."""
        parts = [self._wrap(f"{self._operand(left)} IS DISTINCT FROM {self._operand(right)}",
                            _TEST) for left, right in self._row_pairs("=", left_node,
                                                                       right_node)]
        return self._join_boolean("OR", parts)

    def _operand(self, printed: _Printed) -> str:
        return f"({printed.text})" if self.pretty and printed.kind != _SIMPLE else printed.text

    def _row_comparison(self, name: str, left_node: Node, right_node: Node) -> _Printed:
        """Two written rows compared: = and <> as the AND / OR of the columns' comparisons,
        the ordering operators as ``ROW(...) op ROW(...)``, as PostgreSQL stores them."""
        pairs = list(zip(left_node["RowExpr"].get("args", []),
                         right_node["RowExpr"].get("args", [])))
        if name in ("=", "<>"):
            parts = [self._binary_operator(name, left, right) for left, right in pairs]
            return self._join_boolean("AND" if name == "=" else "OR", parts)
        printed = self._row_pairs(name, left_node, right_node)
        text = (f"ROW({', '.join(left.text for left, _ in printed)}) {name} "
                f"ROW({', '.join(right.text for _, right in printed)})")
        # ruleutils puts a RowCompareExpr in parentheses of its own, pretty or not
        return _Printed(f"({text})", _BOOL) if self.pretty else self._wrap(text, _OPERATOR)

    def _row_in_list(self, name: str, left_node: Node, items: list[Node]) -> _Printed:
        """``(a, b) [NOT] IN ((1, 2), ...)``: each item's row comparison, ORed (ANDed)."""
        operator, word = ("=", "OR") if name == "=" else ("<>", "AND")
        parts = [self._binary_operator(operator, left_node, item) for item in items]
        return parts[0] if len(parts) == 1 else self._join_boolean(word, parts)

    def _prefix_operator(self, name: str, operand_node: Node) -> _Printed:
        operand = self._print(operand_node, None)
        text = operand.text if operand.kind == _SIMPLE else f"({operand.text})" \
            if self.pretty else operand.text
        return self._wrap(f"{name} {text}", _UNARY)

    def _array_operator(self, name: str, quantifier: str, left_node: Node,
                        array_node: Node) -> _Printed:
        left = self._child(left_node, None, _ARRAY_OPERATOR)
        array = self._print(array_node, None)
        return self._wrap(f"{left.text} {name} {quantifier} ({array.text})", _ARRAY_OPERATOR)

    def _parenthesize(self, child: _Printed, parent_operator: str, is_left: bool) -> str:
        """isSimpleNode for an operator's operand (pretty mode only adds parentheses here)."""
        if not self.pretty or child.kind == _SIMPLE:
            return child.text
        if child.kind == _OPERATOR and _binds_without_parentheses(child.operator,
                                                                  parent_operator, is_left):
            return child.text
        return f"({child.text})"

    def _child(self, node: Node, target_oid: int | None, parent_kind: str) -> _Printed:
        """An operand of IS [NOT] NULL/DISTINCT/ANY: parenthesized unless simple (pretty)."""
        printed = self._print(node, target_oid)
        if self.pretty and printed.kind != _SIMPLE:
            return _Printed(f"({printed.text})")
        return printed

    def _wrap(self, text: str, kind: str, operator: str = "") -> _Printed:
        return _Printed(text if self.pretty else f"({text})", kind, operator)

    # -- boolean forms --------------------------------------------------------------------------

    def _BoolExpr(self, f: Node) -> _Printed:
        word = {"AND_EXPR": "AND", "OR_EXPR": "OR", "NOT_EXPR": "NOT"}[f["boolop"]]
        parts = [self._print(argument, T.BOOL_OID) for argument in f["args"]]
        if word == "NOT":
            operand = parts[0]
            simple = operand.kind not in (_BOOL, _ARRAY_OPERATOR) or not self.pretty
            return self._wrap(f"NOT {operand.text if simple else '(' + operand.text + ')'}",
                              _BOOL, "NOT")
        return self._join_boolean(word, parts)

    def _join_boolean(self, word: str, parts: list[_Printed]) -> _Printed:
        texts = []
        for part in parts:
            nested_ok = part.kind not in (_BOOL, _ARRAY_OPERATOR) or part.operator == "NOT" \
                or part.operator == "AND" or word == part.operator
            texts.append(part.text if nested_ok or not self.pretty else f"({part.text})")
        return self._wrap(f" {word} ".join(texts), _BOOL, word)

    def _NullTest(self, f: Node) -> _Printed:
        operand = self._child(f["arg"], None, _TEST)
        word = "IS NOT NULL" if f.get("nulltesttype") == "IS_NOT_NULL" else "IS NULL"
        return self._wrap(f"{operand.text} {word}", _TEST)

    def _BooleanTest(self, f: Node) -> _Printed:
        operand = self._child(f["arg"], T.BOOL_OID, _TEST)
        return self._wrap(f"{operand.text} {_BOOLEAN_TESTS[f['booltesttype']]}", _TEST)

    # -- function-like forms --------------------------------------------------------------------

    def _FuncCall(self, f: Node) -> _Printed:
        name = strings(f["funcname"])[-1]
        if f.get("agg_star"):
            return _Printed(f"{name}(*)")
        arguments = f.get("args", [])
        targets = self._argument_types(name.lower(), arguments)
        texts = [self._print(a, t).text for a, t in zip(arguments, targets)]
        distinct = "DISTINCT " if f.get("agg_distinct") else ""
        return _Printed(f"{name}({distinct}{', '.join(texts)})")

    def _argument_types(self, name: str, arguments: list[Node]) -> list[int | None]:
        if name in _REGCLASS_ARGUMENT_FUNCTIONS:
            declared = _REGCLASS_ARGUMENT_FUNCTIONS[name]
            return [declared[i] if i < len(declared) else None for i in range(len(arguments))]
        try:
            resolved = funcs.resolve_function(name, [self._type_of(a) for a in arguments])
            return list(resolved.arg_types)
        except MirrordbError:
            return [None] * len(arguments)

    def _SQLValueFunction(self, f: Node) -> _Printed:
        text = _SQL_VALUE_FUNCTIONS.get(f["op"], f["op"].removeprefix("SVFOP_"))
        if f["op"].endswith("_N"):
            text += f"({f.get('typmod', 0)})"
        return _Printed(text)

    def _CoalesceExpr(self, f: Node) -> _Printed:
        return self._common_typed("COALESCE", f["args"])

    def _MinMaxExpr(self, f: Node) -> _Printed:
        return self._common_typed("GREATEST" if f.get("op") == "IS_GREATEST" else "LEAST",
                                  f["args"])

    def _common_typed(self, word: str, arguments: list[Node]) -> _Printed:
        common = self._common_type(arguments, word)
        return _Printed(f"{word}({', '.join(self._print(a, common).text for a in arguments)})")

    def _common_type(self, nodes: list[Node], context: str) -> int | None:
        try:
            return T.common_type([self._type_of(n) for n in nodes], context)
        except MirrordbError:
            return None

    def _A_ArrayExpr(self, f: Node) -> _Printed:
        elements = f.get("elements", [])
        common = self._common_type(elements, "ARRAY") if elements else None
        return _Printed(f"ARRAY[{', '.join(self._print(e, common).text for e in elements)}]")

    def _CaseExpr(self, f: Node) -> _Printed:
        """CASE prints over several lines, as ruleutils' indentation does in either mode."""
        results = [when["CaseWhen"]["result"] for when in f["args"]]
        if f.get("defresult"):
            results.append(f["defresult"])
        common = self._common_type(results, "CASE")
        lines = ["", "CASE" + (f" {self._print(f['arg'], None).text}" if f.get("arg") else "")]
        for when in f["args"]:
            condition = when["CaseWhen"]["expr"]
            condition_text = self._print(condition, None if f.get("arg") else T.BOOL_OID).text
            result_text = self._print(when["CaseWhen"]["result"], common).text
            lines.append(f"    WHEN {condition_text} THEN {result_text}")
        if f.get("defresult"):
            lines.append(f"    ELSE {self._print(f['defresult'], common).text}")
        else:       # the parser's implicit ELSE NULL, a constant of the CASE's type
            shown = T.TEXT_OID if common == T.UNKNOWN_OID else common
            lines.append(f"    ELSE NULL::{T.format_type(shown, -1)}")
        lines.append("END")
        return _Printed("\n".join(lines))

    def _A_Indirection(self, f: Node) -> _Printed:
        """``x[i]``: a subscripted expression other than a column is parenthesized."""
        base = self._print(f["arg"], None)
        text = base.text if "ColumnRef" in f["arg"] else f"({base.text})"
        for item in f["indirection"]:
            kind, fields = one(item)
            if kind == "String":        # (row).field
                text = f"({base.text}).{funcs.quote_ident(fields['sval'])}"
                continue
            if kind != "A_Indices" or fields.get("is_slice"):
                raise feature_not_supported("printing this indirection")
            text += f"[{self._print(fields['uidx'], T.INT4_OID).text}]"
        return _Printed(text)

    def _ColumnRef(self, f: Node) -> _Printed:
        names = strings(f["fields"])
        if self.value_type is not None and names == ["value"]:
            return _Printed("VALUE")
        if len(names) == 1 and self._is_whole_row({"ColumnRef": f}):
            return _Printed(f"{funcs.quote_ident(names[0])}.*")
        return _Printed(".".join(funcs.quote_ident(n) for n in names))

    def _is_whole_row(self, node: Node) -> bool:
        """A bare FROM item name: a whole-row reference, which ruleutils prints ``t.*``."""
        try:
            compiled = self.compiler.compile(node)
        except MirrordbError:
            return False
        return compiled.fields is not None and compiled.column is None

    def _ParamRef(self, f: Node) -> _Printed:   # a SQL function's RETURN expression
        return _Printed(f"${f.get('number', 0)}")

    def _CollateClause(self, f: Node) -> _Printed:
        operand = self._print(f["arg"], None)
        collation = ".".join(funcs.quote_ident(n) for n in strings(f["collname"]))
        return self._wrap(f"{operand.text} COLLATE {collation}", _TEST)


def _binds_without_parentheses(child: str, parent: str, is_left: bool) -> bool:
    """ruleutils' rule for arithmetic: a tighter-binding child needs no parentheses, nor does
    a same-priority left operand ((a - b) - c)."""
    if child[:1] not in _LOW_PRIORITY + _HIGH_PRIORITY or len(child) != 1:
        return False
    if parent[:1] not in _LOW_PRIORITY + _HIGH_PRIORITY or len(parent) != 1:
        return False
    child_high, parent_high = child in _HIGH_PRIORITY, parent in _HIGH_PRIORITY
    if child_high and not parent_high:
        return True
    if not child_high and parent_high:
        return False
    return is_left


def _type_label(type_oid: int, typmod: int) -> str:
    """format_type_with_typemod: bpchar without a length shows as ``bpchar``."""
    return T.format_type(type_oid, typmod, typmod_given=True)


def deparse_stored_expression(ctx: ExecContext, text: str, relation_oid: int | None,
                              pretty: bool) -> str:
    snapshot = CatalogSnapshot.of(ctx)
    try:
        tree = json.loads(text)
    except ValueError:
        raise MirrordbError("input is not a stored expression", sqlstate="22023") from None
    deparser = ExpressionDeparser(ctx.session, snapshot, relation_oid, pretty)
    if isinstance(tree, list):        # pg_index.indexprs: the expressions, comma-separated
        texts = [deparser.deparse(item) for item in tree]   # (no space before a line break)
        return "".join(text if i == 0 else ("," if text.startswith("\n") else ", ") + text
                       for i, text in enumerate(texts))
    return deparser.deparse(tree)


# -- index and constraint definitions -----------------------------------------------------------


def index_definition(snapshot: CatalogSnapshot, index_oid: int, pretty: bool) -> str | None:
    """pg_get_indexdef: ``CREATE [UNIQUE] INDEX name ON [schema.]table USING btree (cols)``;
    the table is schema-qualified unless ``pretty`` and visible."""
    index = snapshot.indexes.get(index_oid)
    if index is None or index_oid not in snapshot.classes:
        return None
    table = snapshot.classes[index.table_oid]
    table_name = funcs.quote_ident(table.name) if pretty and snapshot.relation_is_visible(table) \
        else snapshot.qualified_name(table.oid)
    columns = ", ".join(_index_key_definitions(snapshot, index, pretty))
    unique = "UNIQUE " if index.unique else ""
    name = funcs.quote_ident(snapshot.classes[index_oid].name)
    where = ""
    predicate = ixexpr.stored_predicate(index.predicate)
    if predicate is not None:
        where = " WHERE " + _index_deparser(snapshot, index, pretty).deparse(predicate)
    include = _include_clause(snapshot, index)
    only = "ONLY " if snapshot.classes[index_oid].kind == "I" else ""   # a partitioned index
    return (f"CREATE {unique}INDEX {name} ON {only}{table_name} USING btree "
            f"({columns}){include}{where}")


def _include_clause(snapshot: CatalogSnapshot, index: IndexEntry) -> str:
    """`` INCLUDE (b, c)`` of an index or constraint with INCLUDE columns, else ''."""
    if not index.include_numbers:
        return ""
    return " INCLUDE (" + ", ".join(
        funcs.quote_ident(snapshot._column_name(index.table_oid, number))
        for number in index.include_numbers) + ")"


def _index_deparser(snapshot: CatalogSnapshot, index: IndexEntry, pretty: bool
                    ) -> ExpressionDeparser:
    return ExpressionDeparser(snapshot.session, snapshot, index.table_oid, pretty)


def _index_columns(snapshot: CatalogSnapshot, index: IndexEntry, pretty: bool) -> list[str]:
    """Each key column as pg_get_indexdef prints it: a column's name, an expression as
    sql/index_expressions.py's ``printed_column``."""
    trees = iter(ixexpr.stored_trees(index.expressions))
    printed = []
    for number in index.key_numbers:
        if number:
            printed.append(funcs.quote_ident(snapshot._column_name(index.table_oid, number)))
        else:
            deparser = _index_deparser(snapshot, index, pretty)
            printed.append(ixexpr.printed_column(deparser.deparse, next(trees)))
    return printed


def _index_key_definitions(snapshot: CatalogSnapshot, index: IndexEntry, pretty: bool
                           ) -> list[str]:
    """The key columns with their ordering (``v DESC``), as pg_get_indexdef's column list."""
    options = index.options or (0,) * len(index.key_numbers)
    return [column + ixexpr.option_suffix(bits)
            for column, bits in zip(_index_columns(snapshot, index, pretty), options)]


def index_column_definition(snapshot: CatalogSnapshot, index_oid: int, column: int
                            ) -> str | None:
    index = snapshot.indexes.get(index_oid)
    if index is None:
        return None
    return _index_column(snapshot, index, column, False)


def _index_column(snapshot: CatalogSnapshot, index: IndexEntry, column: int,
                  pretty: bool) -> str:
    """pg_get_indexdef(index, column): a key column's definition, an INCLUDE column's name,
    '' past the last."""
    if 1 <= column <= len(index.key_numbers):
        return _index_columns(snapshot, index, pretty)[column - 1]
    included = column - len(index.key_numbers)
    if 1 <= included <= len(index.include_numbers):
        return funcs.quote_ident(snapshot._column_name(index.table_oid,
                                                       index.include_numbers[included - 1]))
    return ""


def constraint_definition(snapshot: CatalogSnapshot, constraint_oid: int) -> str | None:
    """pg_get_constraintdef for the constraints we derive from indexes (OID = the index's)."""
    index = snapshot.indexes.get(constraint_oid)
    if index is None or not index.is_constraint:
        return None
    columns = ", ".join(funcs.quote_ident(snapshot._column_name(index.table_oid, number))
                        for number in index.key_numbers)
    return f"{'PRIMARY KEY' if index.primary else 'UNIQUE'} ({columns})" + \
        _include_clause(snapshot, index)


# -- sizes ----------------------------------------------------------------------------------------

# pg_size_pretty's units: (name, limit before half rounding, rounds, bits per unit).
SizeUnit = tuple[str, int, bool, int]
SIZE_UNITS: tuple[SizeUnit, ...] = (
    ("bytes", 10 * 1024, False, 0), ("kB", 20 * 1024 - 1, True, 10),
    ("MB", 20 * 1024 - 1, True, 20), ("GB", 20 * 1024 - 1, True, 30),
    ("TB", 20 * 1024 - 1, True, 40), ("PB", 20 * 1024 - 1, True, 50))


def _truncating_divide(value: Any, divisor: int) -> Any:
    if isinstance(value, int):
        quotient = abs(value) // divisor
        return quotient if value >= 0 else -quotient
    return (value / divisor).to_integral_value(rounding=decimal.ROUND_DOWN)


def _half_rounded(value: Any) -> Any:
    return _truncating_divide(value + (1 if value >= 0 else -1), 2)


def size_pretty(size: int | decimal.Decimal) -> str:
    """pg_size_pretty: bytes below 10 kB, then the largest unit keeping the figure under 20 k,
    halves rounded away from zero."""
    for index, (name, limit, rounds, bits) in enumerate(SIZE_UNITS):
        last = index == len(SIZE_UNITS) - 1
        if last or abs(size) < limit:  # type: ignore[operator]  # int or Decimal
            if rounds:
                size = _half_rounded(size)
            return f"{size} {name}"
        _, _, next_rounds, next_bits = SIZE_UNITS[index + 1]
        shift = next_bits - bits - (1 if next_rounds else 0) + (1 if rounds else 0)
        size = _truncating_divide(size, 1 << shift)
    raise AssertionError("unreachable: the last unit always answers")


# -- privilege checks ----------------------------------------------------------------------------
# Tables follow their ACLs (pg_class.relacl, sql/roles.py); databases and schemas carry none in
# mirrordb, so every role holds every right on them (connecting is pg_hba.conf's business).

DATABASE_PRIVILEGES = frozenset({"CREATE", "CONNECT", "TEMPORARY", "TEMP"})
SCHEMA_PRIVILEGES = frozenset({"CREATE", "USAGE"})
_GRANT_OPTION_SUFFIX = " WITH GRANT OPTION"
_CATALOG_NAMESPACES = (PG_CATALOG_NAMESPACE_OID, INFORMATION_SCHEMA_NAMESPACE_OID)


def _privilege_words(text: str, allowed: Sequence[str]) -> list[tuple[str, bool]]:
    """(privilege, with grant option) for each comma-separated item; 22023 if unknown."""
    words = []
    for item in text.split(","):
        word = " ".join(item.upper().split())
        with_option = word.endswith(_GRANT_OPTION_SUFFIX)
        word = word.removesuffix(_GRANT_OPTION_SUFFIX).strip()
        if word not in allowed:
            raise MirrordbError(f'unrecognized privilege type: "{item.strip()}"',
                                sqlstate="22023")
        words.append((word, with_option))
    return words


def _asking_role(snapshot: CatalogSnapshot, session: Any, role: Any
                 ) -> tuple[bool, RoleEntry | None]:
    """(found, role) for the role a privilege function asks about: the session's, or the one
    named or numbered; not found when an OID names no role (the function then returns NULL)."""
    if role is None:
        oid = snapshot.role_oid(session.user)
        return True, snapshot.roles.get(oid) if oid is not None else None
    if isinstance(role, int):
        return role in snapshot.roles, snapshot.roles.get(role)
    oid = snapshot.role_oid(str(role))
    if oid is None:
        raise MirrordbError(f'role "{role}" does not exist', sqlstate="42704")
    return True, snapshot.roles[oid]


def _relation_acl(snapshot: CatalogSnapshot, entry: ClassEntry) -> list[Any]:
    from mirrordb.sql import roles  # roles builds on the session layer: import on use
    if entry.acl is not None:
        return roles.parse_acl(entry.acl)
    owner = snapshot.roles.get(entry.owner_oid)
    items = roles.default_acl(owner.name if owner else str(entry.owner_oid), entry.kind)
    if entry.virtual and entry.namespace_oid in _CATALOG_NAMESPACES:
        items.append(roles.AclItem(roles.PUBLIC_GRANTEE, items[0].grantor, roles.ACL_SELECT))
    return items


def holds_table_privilege(snapshot: CatalogSnapshot, role: RoleEntry | None, entry: ClassEntry,
                          privileges: str) -> bool:
    """has_table_privilege: true when ``role`` holds any of the listed rights (with the grant
    option where asked); superusers hold them all."""
    from mirrordb.sql import roles
    words = _privilege_words(privileges, tuple(roles.PRIVILEGES))
    if role is not None and role.superuser:
        return True
    rights, options = roles.acl_mask(_relation_acl(snapshot, entry),
                                     role.name if role is not None else None)
    return any((options if with_option else rights) & roles.PRIVILEGES[word]
               for word, with_option in words)


# -- the functions --------------------------------------------------------------------------------

OID, TEXT, NAME, BOOL = T.OID_OID, T.TEXT_OID, T.NAME_OID, T.BOOL_OID
INT4, INT8, NUMERIC, REGCLASS = T.INT4_OID, T.INT8_OID, T.NUMERIC_OID, T.REGCLASS_OID

CatalogBody = Callable[..., Any]      # body(ctx, *argument values) -> value


@dataclass(slots=True, eq=False)
class CatalogFunction:
    arg_types: tuple[int, ...]
    result_type: int
    body: CatalogBody
    strict: bool = True


CATALOG_FUNCTIONS: dict[str, list[CatalogFunction]] = {}


def _define(name: str, arg_types: Sequence[int], result_type: int, body: CatalogBody,
            strict: bool = True) -> None:
    overloads = CATALOG_FUNCTIONS.setdefault(name, [])
    invariant(len(overloads) < MAX_FUNCTION_NAME_CANDIDATES, f"{name}: too many overloads")
    overloads.append(CatalogFunction(tuple(arg_types), result_type, body, strict))


def _snapshot(ctx: ExecContext) -> CatalogSnapshot:
    return CatalogSnapshot.of(ctx)


def _user_name(ctx: ExecContext, role_oid: int) -> str:
    role = _snapshot(ctx).roles.get(role_oid) or _PREDEFINED_BY_OID.get(role_oid)
    return role.name if role is not None else f"unknown (OID={role_oid})"


def _type_is_visible(ctx: ExecContext, type_oid: int) -> bool | None:
    """pg_type_is_visible: a built-in type always; a user type when the search path reaches it
    by its name (sql/user_types.py)."""
    if type_oid < T.FIRST_USER_TYPE_OID:
        return True if type_oid in T.TYPES else None
    from mirrordb.sql import user_types
    return user_types.type_is_visible(type_oid)


def _table_is_visible(ctx: ExecContext, oid: int) -> bool | None:
    snapshot = _snapshot(ctx)
    entry = snapshot.classes.get(oid)
    return None if entry is None else snapshot.relation_is_visible(entry)


def _get_expr(ctx: ExecContext, text: str, relation_oid: int, pretty: bool = False) -> str:
    from mirrordb.sql import partitioning
    bound = partitioning.bound_text(text)     # relpartbound
    if bound is not None:
        return bound
    return deparse_stored_expression(ctx, text, relation_oid or None, bool(pretty))


def _get_indexdef(ctx: ExecContext, index_oid: int, column: int = 0,
                  pretty: bool = False) -> str | None:
    snapshot = _snapshot(ctx)
    if column:
        index = snapshot.indexes.get(index_oid)
        return None if index is None else _index_column(snapshot, index, column, bool(pretty))
    return index_definition(snapshot, index_oid, bool(pretty))


def _get_constraintdef(ctx: ExecContext, constraint_oid: int, pretty: bool = False
                       ) -> str | None:
    from mirrordb.sql import constraints  # CHECK and FOREIGN KEY: pg_constraint's own rows
    snapshot = _snapshot(ctx)
    return constraint_definition(snapshot, constraint_oid) or \
        constraints.constraint_definition(ctx, snapshot, constraint_oid, bool(pretty))


def _get_triggerdef(ctx: ExecContext, trigger_oid: int, pretty: bool = False) -> str | None:
    from mirrordb.sql import triggers     # pg_trigger's rows and their printer
    return triggers.trigger_definition(ctx, _snapshot(ctx), trigger_oid, bool(pretty))


def _get_viewdef(ctx: ExecContext, view_oid: int, pretty: bool | int = False) -> str | None:
    """pg_get_viewdef(oid [, pretty | wrap column]): NULL for a relation that is no view; a
    wrap column asks for the pretty form, as in PostgreSQL."""
    return view_definition(_snapshot(ctx), view_oid, bool(pretty) or pretty is not False)


def _get_viewdef_by_name(ctx: ExecContext, name: str, pretty: bool = False) -> str | None:
    snapshot = _snapshot(ctx)
    return view_definition(snapshot, snapshot.relation_by_text(name).oid, bool(pretty))


def view_definition(snapshot: CatalogSnapshot, view_oid: int, pretty: bool) -> str | None:
    """The view's query as PostgreSQL prints it (sql/viewdef.py), relations by their current
    names."""
    from mirrordb.sql import views, viewdef  # both build on this module: import on use
    text = snapshot.view_queries.get(view_oid)
    if text is None:
        return None
    stored = views.StoredQuery.decode(text)
    names = {oid: snapshot.classes[oid].name for oid in stored.relations
             if oid in snapshot.classes}
    query = views.with_current_names(stored.query, names)
    columns = [a.name for a in sorted(snapshot.attributes.get(view_oid, []),
                                      key=lambda a: a.number) if not a.dropped]
    return viewdef.view_definition(snapshot.session, snapshot, query, pretty, columns)


def _no_description(ctx: ExecContext, *arguments: Any) -> None:
    return None


def _encoding_to_char(ctx: ExecContext, number: int) -> str:
    return ENCODING_NAMES[number] if 0 <= number < len(ENCODING_NAMES) else ""


def _char_to_encoding(ctx: ExecContext, name: str) -> int:
    wanted = name.upper().replace("-", "").replace("_", "")
    return next((i for i, n in enumerate(ENCODING_NAMES)
                 if n.replace("_", "") == wanted), -1)


def _relation_size(ctx: ExecContext, oid: int, fork: str = "main") -> int | None:
    if fork not in ("main", "fsm", "vm", "init"):
        raise MirrordbError('invalid fork name', sqlstate="22023",
                            hint='Valid fork names are "main", "fsm", "vm", and "init".')
    size = _snapshot(ctx).relation_size_bytes(oid)
    return size if fork == "main" or size is None else 0


def _relation_filepath(ctx: ExecContext, oid: int) -> str | None:
    return _snapshot(ctx).relation_filepath(oid)


def _indexes_size(ctx: ExecContext, oid: int) -> int | None:
    snapshot = _snapshot(ctx)
    if oid not in snapshot.classes:
        return None
    return sum(snapshot.relation_size_bytes(index.index_oid) or 0
               for index in snapshot.indexes_of_table.get(oid, []))


def _total_relation_size(ctx: ExecContext, oid: int) -> int | None:
    size = _relation_size(ctx, oid)
    return None if size is None else size + (_indexes_size(ctx, oid) or 0)


def _database_size(ctx: ExecContext, database: Any) -> int | None:
    snapshot = _snapshot(ctx)
    oid = database if isinstance(database, int) else snapshot.database_oid(str(database))
    if oid is None:
        raise MirrordbError(f'database "{database}" does not exist', sqlstate="3D000")
    if oid not in snapshot.databases:
        return None
    from mirrordb.sql.database_functions import database_size_bytes
    return database_size_bytes(ctx.session.engine, oid)


def _size_pretty(ctx: ExecContext, size: Any) -> str:
    return size_pretty(size)


def _table_privilege(ctx: ExecContext, *arguments: Any) -> bool | None:
    *role_argument, table, privileges = arguments
    snapshot = _snapshot(ctx)
    found, role = _asking_role(snapshot, ctx.session,
                               role_argument[0] if role_argument else None)
    if not found:
        return None
    if isinstance(table, int):
        entry = snapshot.classes.get(table)
        if entry is None:
            return None
    else:
        entry = snapshot.relation_by_text(table)
    return holds_table_privilege(snapshot, role, entry, privileges)


def _database_privilege(ctx: ExecContext, *arguments: Any) -> bool | None:
    *role_argument, database, privileges = arguments
    from mirrordb.sql.database_functions import holds_database_privilege
    snapshot = _snapshot(ctx)
    found, role = _asking_role(snapshot, ctx.session, role_argument[0] if role_argument else None)
    if not found:
        return None
    words = _privilege_words(privileges, tuple(DATABASE_PRIVILEGES))
    oid = database if isinstance(database, int) else snapshot.database_oid(database)
    if oid is None:
        raise MirrordbError(f'database "{database}" does not exist', sqlstate="3D000")
    entry = snapshot.databases.get(oid)
    if entry is None:
        return None
    owner = snapshot.roles.get(entry.owner_oid)
    return holds_database_privilege(role, entry.acl,
                                    owner.name if owner is not None else str(entry.owner_oid),
                                    words)


def _schema_privilege(ctx: ExecContext, *arguments: Any) -> bool | None:
    *role_argument, schema, privileges = arguments
    snapshot = _snapshot(ctx)
    if not _asking_role(snapshot, ctx.session, role_argument[0] if role_argument else None)[0]:
        return None
    _privilege_words(privileges, tuple(SCHEMA_PRIVILEGES))
    if isinstance(schema, int):
        return True if schema in snapshot.namespaces else None
    if snapshot.namespace_oid(schema) is None:
        raise MirrordbError(f'schema "{schema}" does not exist', sqlstate="3F000")
    return True


def _serial_sequence(ctx: ExecContext, table: str, column: str) -> str | None:
    snapshot = _snapshot(ctx)
    entry = snapshot.relation_by_text(table)
    attribute = next((a for a in snapshot.attributes.get(entry.oid, [])
                      if a.name == column and not a.dropped), None)
    if attribute is None:
        raise MirrordbError(f'column "{column}" of relation "{entry.name}" does not exist',
                            sqlstate="42703")
    for sequence_oid, owner in snapshot.owned_sequences.items():
        if owner == (entry.oid, attribute.number):
            return snapshot.qualified_name(sequence_oid)
    return None


def _relation_is_publishable(ctx: ExecContext, oid: int) -> bool | None:
    entry = _snapshot(ctx).classes.get(oid)
    if entry is None:
        return None
    return entry.kind == RELKIND_TABLE and entry.oid >= boot.FIRST_NORMAL_OBJECT_ID and \
        entry.persistence == "p"


def search_path_namespaces(session: Any) -> tuple[int, ...]:
    """The session's search path as schema OIDs (sql/schemas.py); without a session, the
    default path."""
    if session is None or not hasattr(session, "engine"):
        return SEARCH_PATH_NAMESPACES
    from mirrordb.sql import schemas
    return schemas.search_path_oids(session)


def _current_schemas(ctx: ExecContext, include_implicit: bool) -> list[str]:
    """current_schemas(true) is the whole path (the session's temporary schema first, then
    pg_catalog, unless search_path places them)."""
    from mirrordb.sql import schemas
    if include_implicit:
        return [schemas.namespace_name(ctx.session, oid)
                for oid in schemas.search_path_oids(ctx.session)]
    return schemas.explicit_search_path(ctx.session)


def _my_temp_schema(ctx: ExecContext) -> int:
    from mirrordb.sql import temp_tables
    return temp_tables.namespace_oid(ctx.session) or 0


def _is_other_temp_schema(ctx: ExecContext, oid: int) -> bool:
    from mirrordb.sql import schemas, temp_tables
    return temp_tables.is_other_temp_namespace(ctx.session,
                                               schemas.namespace_name(ctx.session, oid))


def _to_regclass(ctx: ExecContext, text: str) -> int | None:
    try:
        entry = _snapshot(ctx)._regclass_from_text(text)
    except MirrordbError:
        return None
    return entry.oid if entry is not None else None


def _tablespace_location(ctx: ExecContext, oid: int) -> str:
    return ""


# acldefault's object kinds: (PUBLIC's rights, the owner's rights) as aclitem letters, PostgreSQL
# 15's defaults (acldefault() in acl.c) for columns, relations, sequences, databases, functions,
# languages, large objects, schemas, tablespaces, FDWs, foreign servers, types and parameters.
ACL_DEFAULT_RIGHTS = {
    "c": ("", ""), "r": ("", "arwdDxt"), "s": ("", "rwU"), "d": ("Tc", "CTc"),
    "f": ("X", "X"), "l": ("U", "U"), "L": ("", "rw"), "n": ("", "UC"), "t": ("", "C"),
    "F": ("", "U"), "S": ("", "U"), "T": ("U", "U"), "p": ("", "sA")}


def _acl_default(ctx: ExecContext, kind: str, owner_oid: int) -> list[str]:
    """acldefault(objtype, owner): the privileges a NULL ACL of that kind of object stands
    for, as aclitem[] text (an owner that is no role prints as its OID; owner 0 is PUBLIC)."""
    from mirrordb.sql import roles
    rights = ACL_DEFAULT_RIGHTS.get(kind)
    if rights is None:
        raise MirrordbError(f"unrecognized objtype abbreviation: {kind}", sqlstate="XX000")
    role = _snapshot(ctx).roles.get(owner_oid)
    owner = role.name if role is not None else str(owner_oid)
    if owner_oid == 0:
        owner = roles.PUBLIC_GRANTEE
    world, owned = rights
    items = []
    if world:
        items.append(roles.AclItem(roles.PUBLIC_GRANTEE, owner or "0", _acl_bits(world)))
    if owned:
        items.append(roles.AclItem(owner, owner or "0", _acl_bits(owned)))
    return [roles.format_acl_item(item) for item in items]


def _acl_bits(letters: str) -> int:
    from mirrordb.sql import roles
    return sum(1 << roles.ACL_RIGHT_LETTERS.index(letter) for letter in letters)


def _always(value: Any) -> CatalogBody:
    return lambda ctx, *arguments: value


def _define_catalog_functions() -> None:
    _define("pg_get_userbyid", [OID], NAME, _user_name)
    _define("pg_table_is_visible", [OID], BOOL, _table_is_visible)
    _define("pg_type_is_visible", [OID], BOOL, _type_is_visible)
    for name in ("pg_function_is_visible", "pg_collation_is_visible",
                 "pg_opclass_is_visible", "pg_operator_is_visible", "pg_conversion_is_visible"):
        _define(name, [OID], BOOL, _always(True))
    _define("pg_get_expr", [TEXT, OID], TEXT, _get_expr)
    _define("pg_get_expr", [TEXT, OID, BOOL], TEXT, _get_expr)
    _define("pg_get_indexdef", [OID], TEXT, _get_indexdef)
    _define("pg_get_indexdef", [OID, INT4, BOOL], TEXT, _get_indexdef)
    _define("pg_get_constraintdef", [OID], TEXT, _get_constraintdef)
    _define("pg_get_constraintdef", [OID, BOOL], TEXT, _get_constraintdef)
    for arg_types in ([OID], [OID, BOOL], [OID, INT4]):
        _define("pg_get_viewdef", arg_types, TEXT, _get_viewdef)
    for arg_types in ([TEXT], [TEXT, BOOL]):
        _define("pg_get_viewdef", arg_types, TEXT, _get_viewdef_by_name)
    from mirrordb.sql import partition_functions
    partition_functions.define(_define)
    _define("pg_get_statisticsobjdef_columns", [OID], TEXT, _no_description)
    _define("pg_get_triggerdef", [OID], TEXT, _get_triggerdef)
    _define("pg_get_triggerdef", [OID, BOOL], TEXT, _get_triggerdef)
    from mirrordb.sql import comments    # comments.py reads through this module's snapshot
    _define("obj_description", [OID], TEXT, comments.object_description)
    _define("obj_description", [OID, NAME], TEXT, comments.object_description)
    _define("col_description", [OID, INT4], TEXT, comments.column_description)
    _define("shobj_description", [OID, NAME], TEXT, comments.shared_description)
    _define("pg_encoding_to_char", [INT4], NAME, _encoding_to_char)
    _define("pg_char_to_encoding", [NAME], INT4, _char_to_encoding)
    _define("pg_relation_size", [REGCLASS], INT8, _relation_size)
    _define("pg_relation_size", [REGCLASS, TEXT], INT8, _relation_size)
    _define("pg_table_size", [REGCLASS], INT8, _relation_size)
    _define("pg_relation_filepath", [REGCLASS], TEXT, _relation_filepath)
    _define("pg_indexes_size", [REGCLASS], INT8, _indexes_size)
    _define("pg_total_relation_size", [REGCLASS], INT8, _total_relation_size)
    _define("pg_database_size", [NAME], INT8, _database_size)
    _define("pg_database_size", [OID], INT8, _database_size)
    _define("pg_size_pretty", [INT8], TEXT, _size_pretty)
    _define("pg_size_pretty", [NUMERIC], TEXT, _size_pretty)
    for role_types in ([], [NAME], [OID]):
        for table_type in (TEXT, OID):
            _define("has_table_privilege", [*role_types, table_type, TEXT], BOOL,
                    _table_privilege)
        _define("has_database_privilege", [*role_types, TEXT, TEXT], BOOL, _database_privilege)
        _define("has_database_privilege", [*role_types, OID, TEXT], BOOL, _database_privilege)
        _define("has_schema_privilege", [*role_types, TEXT, TEXT], BOOL, _schema_privilege)
        _define("has_schema_privilege", [*role_types, OID, TEXT], BOOL, _schema_privilege)
    _define("pg_get_serial_sequence", [TEXT, TEXT], TEXT, _serial_sequence)
    _define("pg_relation_is_publishable", [REGCLASS], BOOL, _relation_is_publishable)
    _define("current_schemas", [BOOL], T.NAME_ARRAY_OID, _current_schemas)
    _define("to_regclass", [TEXT], REGCLASS, _to_regclass)
    _define("pg_tablespace_location", [OID], TEXT, _tablespace_location)
    _define("acldefault", [T.CHAR_OID, OID], T.TEXT_ARRAY_OID, _acl_default)
    _define("pg_my_temp_schema", [], OID, _my_temp_schema)
    _define("pg_is_other_temp_schema", [OID], BOOL, _is_other_temp_schema)
    from mirrordb.sql import proc_catalog     # pg_get_functiondef and its family
    proc_catalog.register(_define)


_define_catalog_functions()


# -- compiling calls (the planner reaches these through session_functions.SPECIAL) --------------


def _choose(name: str, args: list[Expr], location: int) -> CatalogFunction:
    overloads = CATALOG_FUNCTIONS[name]
    candidates = [funcs.Candidate(o.arg_types, o) for o in overloads
                  if len(o.arg_types) == len(args)]
    try:
        chosen = funcs.select_candidate([a.type_oid for a in args], candidates)
    except (funcs.NoCandidate, funcs.AmbiguousCandidates):
        raise no_such_function(name, args, location) from None
    return chosen.payload  # type: ignore[no-any-return]


def compile_catalog_function(session: Any, builder: Any, name: str, args: list[Expr],
                             location: int) -> Expr:
    """An Expr calling catalog function ``name``; its closure reads the statement's snapshot."""
    chosen = _choose(name, args, location)
    fns = [coerce(builder, a, t).fn for a, t in zip(args, chosen.arg_types)]
    body, strict = chosen.body, chosen.strict

    def run(row: Row, ctx: ExecContext) -> Any:
        values = [fn(row, ctx) for fn in fns]
        if strict and None in values:
            return None
        return body(ctx, *values)
    return Expr(chosen.result_type, run, name=name)


SPECIAL_HANDLERS: dict[str, Callable[..., Expr]] = {
    name: compile_catalog_function for name in CATALOG_FUNCTIONS}


__all__ = [
    "CATALOG_FUNCTIONS",
    "COLUMN_DEFAULT_NODE",
    "PROCEDURE_OIDS",
    "SPECIAL_HANDLERS",
    "TYPE_FACTS",
    "CatalogSnapshot",
    "ExpressionDeparser",
    "SessionCatalogLookup",
    "VirtualRelation",
    "constraint_definition",
    "index_definition",
    "parse_qualified_name",
    "size_pretty",
    "type_collation",
    "type_facts",
]
