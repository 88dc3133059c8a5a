"""System views: pg_catalog's catalogs and views and information_schema, computed per statement.

Who calls it: the planner, through ``Session.system_view`` → ``lookup(session, name, schema)``,
for every relation named in a FROM clause, before it looks for a heap relation; so a name here
wins over the catalog heap relation of the same name (our pg_class has a subset of PostgreSQL's
columns, the view has all 33). catalog_functions.CatalogSnapshot calls ``virtual_relations()`` so
that these relations also appear in pg_class and pg_attribute and resolve as regclass names.

A view is a ``SystemView``: PostgreSQL's column names and types, and a function producing the
rows when the plan runs. Rows come from the statement's ``CatalogSnapshot`` (the catalog heap
relations read with the statement's snapshot), from the type system (pg_type), from the server
(pg_stat_activity, pg_stat_database), the engine's table statistics (pg_stat_user_tables,
pg_stat_all_tables) or the session's settings (pg_settings); each view's rows
are computed once per statement execution and kept in the snapshot, since nested loops and
correlated subqueries rescan them.

Types PostgreSQL uses that the type system lacks are shown as their nearest kin: aclitem[] as
text[], pg_node_tree as text (pg_get_expr reads it), inet as text, int2vector in
pg_publication_rel.prattrs as int2[] (psql casts it to int2[]), and information_schema's domains
(sql_identifier, character_data, yes_or_no, cardinal_number) as name, varchar and integer.
Catalogs PostgreSQL has and mirrordb does not use (pg_inherits, pg_policy, pg_publication,
...) exist with their columns and no rows, so psql's joins with them work.
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirrordb.access.relation import RELKIND_INDEX, RELKIND_SEQUENCE, RELKIND_TABLE, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import catalog_functions as cat
from mirrordb.sql import constraints, inheritance, partition_functions, replication_functions
from mirrordb.sql import role_settings, roles
from mirrordb.sql import row_values, triggers
from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext, Row
from mirrordb.sql.database_privileges import acl_item_texts
from mirrordb.sql.planner import OutputColumn

OID, NAME, TEXT, CHAR, BOOL = T.OID_OID, T.NAME_OID, T.TEXT_OID, T.CHAR_OID, T.BOOL_OID
INT2, INT4, INT8, FLOAT4, FLOAT8 = T.INT2_OID, T.INT4_OID, T.INT8_OID, T.FLOAT4_OID, T.FLOAT8_OID
XID, REGPROC, TIMESTAMPTZ, BYTEA = T.XID_OID, T.REGPROC_OID, T.TIMESTAMPTZ_OID, T.BYTEA_OID
ANYARRAY, NUMERIC = T.ANYARRAY_OID, T.NUMERIC_OID
INT2VECTOR, OIDVECTOR, VARCHAR, REGTYPE = (T.INT2VECTOR_OID, T.OIDVECTOR_OID, T.VARCHAR_OID,
                                           T.REGTYPE_OID)
TEXT_ARRAY, OID_ARRAY, INT2_ARRAY, CHAR_ARRAY = (T.TEXT_ARRAY_OID, T.OID_ARRAY_OID,
                                                 T.INT2_ARRAY_OID, T.CHAR_ARRAY_OID)
ACL_ARRAY = TEXT_ARRAY          # aclitem[]
NODE_TREE = TEXT                # pg_node_tree
INET = TEXT
SQL_IDENTIFIER, CHARACTER_DATA, YES_OR_NO, CARDINAL_NUMBER = NAME, VARCHAR, VARCHAR, INT4

PG_CATALOG, INFORMATION_SCHEMA = "pg_catalog", "information_schema"
HIDDEN_PASSWORD = "********"
DATABASE_LOCALE_PROVIDER_LIBC = "c"

ColumnSpec = tuple[tuple[str, int], ...]
Producer = Callable[[ExecContext], list[Row]]
View = tuple[list[OutputColumn], Producer]


@dataclass(frozen=True)
class SystemView:
    """A relation computed at execution time, with its PostgreSQL OID and column set."""

    schema: str
    name: str
    oid: int
    kind: str                      # 'r' (a catalog table in PostgreSQL) or 'v' (a view)
    columns: ColumnSpec
    produce: Producer


def _spec(text: str) -> ColumnSpec:
    """'name:type name:type ...' with type OIDs given as names of this module's constants."""
    result = []
    for item in text.split():
        name, type_name = item.split(":")
        result.append((name, int(globals()[type_name])))
    return tuple(result)


# -- column sets (PostgreSQL 15's, in attnum order) ---------------------------------------------

PG_CLASS_COLUMNS = _spec("""
oid:OID relname:NAME relnamespace:OID reltype:OID reloftype:OID relowner:OID relam:OID
relfilenode:OID reltablespace:OID relpages:INT4 reltuples:FLOAT4 relallvisible:INT4
reltoastrelid:OID relhasindex:BOOL relisshared:BOOL relpersistence:CHAR relkind:CHAR
relnatts:INT2 relchecks:INT2 relhasrules:BOOL relhastriggers:BOOL relhassubclass:BOOL
relrowsecurity:BOOL relforcerowsecurity:BOOL relispopulated:BOOL relreplident:CHAR
relispartition:BOOL relrewrite:OID relfrozenxid:XID relminmxid:XID relacl:ACL_ARRAY
reloptions:TEXT_ARRAY relpartbound:NODE_TREE""")
FLOAT4_ARRAY = T.FLOAT4_ARRAY_OID
PG_STATS_COLUMNS = _spec("""
schemaname:NAME tablename:NAME attname:NAME inherited:BOOL null_frac:FLOAT4 avg_width:INT4
n_distinct:FLOAT4 most_common_vals:ANYARRAY most_common_freqs:FLOAT4_ARRAY
histogram_bounds:ANYARRAY correlation:FLOAT4 most_common_elems:ANYARRAY
most_common_elem_freqs:FLOAT4_ARRAY elem_count_histogram:FLOAT4_ARRAY""")
PG_ATTRIBUTE_COLUMNS = _spec("""
attrelid:OID attname:NAME atttypid:OID attstattarget:INT4 attlen:INT2 attnum:INT2 attndims:INT4
attcacheoff:INT4 atttypmod:INT4 attbyval:BOOL attalign:CHAR attstorage:CHAR attcompression:CHAR
attnotnull:BOOL atthasdef:BOOL atthasmissing:BOOL attidentity:CHAR attgenerated:CHAR
attisdropped:BOOL attislocal:BOOL attinhcount:INT4 attcollation:OID attacl:ACL_ARRAY
attoptions:TEXT_ARRAY attfdwoptions:TEXT_ARRAY attmissingval:ANYARRAY""")
PG_INDEX_COLUMNS = _spec("""
indexrelid:OID indrelid:OID indnatts:INT2 indnkeyatts:INT2 indisunique:BOOL
indnullsnotdistinct:BOOL indisprimary:BOOL indisexclusion:BOOL indimmediate:BOOL
indisclustered:BOOL indisvalid:BOOL indcheckxmin:BOOL indisready:BOOL indislive:BOOL
indisreplident:BOOL indkey:INT2VECTOR indcollation:OIDVECTOR indclass:OIDVECTOR
indoption:INT2VECTOR indexprs:NODE_TREE indpred:NODE_TREE""")
PG_NAMESPACE_COLUMNS = _spec("oid:OID nspname:NAME nspowner:OID nspacl:ACL_ARRAY")
PG_TYPE_COLUMNS = _spec("""
oid:OID typname:NAME typnamespace:OID typowner:OID typlen:INT2 typbyval:BOOL typtype:CHAR
typcategory:CHAR typispreferred:BOOL typisdefined:BOOL typdelim:CHAR typrelid:OID
typsubscript:REGPROC typelem:OID typarray:OID typinput:REGPROC typoutput:REGPROC
typreceive:REGPROC typsend:REGPROC typmodin:REGPROC typmodout:REGPROC typanalyze:REGPROC
typalign:CHAR typstorage:CHAR typnotnull:BOOL typbasetype:OID typtypmod:INT4 typndims:INT4
typcollation:OID typdefaultbin:NODE_TREE typdefault:TEXT typacl:ACL_ARRAY""")
PG_DATABASE_COLUMNS = _spec("""
oid:OID datname:NAME datdba:OID encoding:INT4 datlocprovider:CHAR datistemplate:BOOL
datallowconn:BOOL datconnlimit:INT4 datfrozenxid:XID datminmxid:XID dattablespace:OID
datcollate:TEXT datctype:TEXT daticulocale:TEXT datcollversion:TEXT datacl:ACL_ARRAY""")
PG_AUTHID_COLUMNS = _spec("""
oid:OID rolname:NAME rolsuper:BOOL rolinherit:BOOL rolcreaterole:BOOL rolcreatedb:BOOL
rolcanlogin:BOOL rolreplication:BOOL rolbypassrls:BOOL rolconnlimit:INT4 rolpassword:TEXT
rolvaliduntil:TIMESTAMPTZ""")
PG_ROLES_COLUMNS = _spec("""
rolname:NAME rolsuper:BOOL rolinherit:BOOL rolcreaterole:BOOL rolcreatedb:BOOL rolcanlogin:BOOL
rolreplication:BOOL rolconnlimit:INT4 rolpassword:TEXT rolvaliduntil:TIMESTAMPTZ
rolbypassrls:BOOL rolconfig:TEXT_ARRAY oid:OID""")
PG_USER_COLUMNS = _spec("""
usename:NAME usesysid:OID usecreatedb:BOOL usesuper:BOOL userepl:BOOL usebypassrls:BOOL
passwd:TEXT valuntil:TIMESTAMPTZ useconfig:TEXT_ARRAY""")
PG_AUTH_MEMBERS_COLUMNS = _spec("roleid:OID member:OID grantor:OID admin_option:BOOL")
PG_ATTRDEF_COLUMNS = _spec("oid:OID adrelid:OID adnum:INT2 adbin:NODE_TREE")
PG_CONSTRAINT_COLUMNS = _spec("""
oid:OID conname:NAME connamespace:OID contype:CHAR condeferrable:BOOL condeferred:BOOL
convalidated:BOOL conrelid:OID contypid:OID conindid:OID conparentid:OID confrelid:OID
confupdtype:CHAR confdeltype:CHAR confmatchtype:CHAR conislocal:BOOL coninhcount:INT4
connoinherit:BOOL conkey:INT2_ARRAY confkey:INT2_ARRAY conpfeqop:OID_ARRAY conppeqop:OID_ARRAY
conffeqop:OID_ARRAY confdelsetcols:INT2_ARRAY conexclop:OID_ARRAY conbin:NODE_TREE""")
PG_DEPEND_COLUMNS = _spec("""
classid:OID objid:OID objsubid:INT4 refclassid:OID refobjid:OID refobjsubid:INT4 deptype:CHAR""")
PG_AM_COLUMNS = _spec("oid:OID amname:NAME amhandler:REGPROC amtype:CHAR")
PG_COLLATION_COLUMNS = _spec("""
oid:OID collname:NAME collnamespace:OID collowner:OID collprovider:CHAR
collisdeterministic:BOOL collencoding:INT4 collcollate:TEXT collctype:TEXT colliculocale:TEXT
collversion:TEXT""")
PG_TABLESPACE_COLUMNS = _spec("""
oid:OID spcname:NAME spcowner:OID spcacl:ACL_ARRAY spcoptions:TEXT_ARRAY""")
PG_DESCRIPTION_COLUMNS = _spec("objoid:OID classoid:OID objsubid:INT4 description:TEXT")
PG_SHDESCRIPTION_COLUMNS = _spec("objoid:OID classoid:OID description:TEXT")
PG_INHERITS_COLUMNS = _spec("inhrelid:OID inhparent:OID inhseqno:INT4 inhdetachpending:BOOL")
PG_POLICY_COLUMNS = _spec("""
oid:OID polname:NAME polrelid:OID polcmd:CHAR polpermissive:BOOL polroles:OID_ARRAY
polqual:NODE_TREE polwithcheck:NODE_TREE""")
PG_TRIGGER_COLUMNS = _spec("""
oid:OID tgrelid:OID tgparentid:OID tgname:NAME tgfoid:OID tgtype:INT2 tgenabled:CHAR
tgisinternal:BOOL tgconstrrelid:OID tgconstrindid:OID tgconstraint:OID tgdeferrable:BOOL
tginitdeferred:BOOL tgnargs:INT2 tgattr:INT2VECTOR tgargs:BYTEA tgqual:NODE_TREE
tgoldtable:NAME tgnewtable:NAME""")
PG_STATISTIC_EXT_COLUMNS = _spec("""
oid:OID stxrelid:OID stxname:NAME stxnamespace:OID stxowner:OID stxstattarget:INT4
stxkeys:INT2VECTOR stxkind:CHAR_ARRAY stxexprs:NODE_TREE""")
PG_PUBLICATION_COLUMNS = _spec("""
oid:OID pubname:NAME pubowner:OID puballtables:BOOL pubinsert:BOOL pubupdate:BOOL
pubdelete:BOOL pubtruncate:BOOL pubviaroot:BOOL""")
PG_PUBLICATION_REL_COLUMNS = _spec("""
oid:OID prpubid:OID prrelid:OID prqual:NODE_TREE prattrs:INT2_ARRAY""")
PG_PUBLICATION_NAMESPACE_COLUMNS = _spec("oid:OID pnpubid:OID pnnspid:OID")
PG_PARTITIONED_TABLE_COLUMNS = _spec("""
partrelid:OID partstrat:CHAR partnatts:INT2 partdefid:OID partattrs:INT2VECTOR
partclass:OIDVECTOR partcollation:OIDVECTOR partexprs:NODE_TREE""")
PG_FOREIGN_TABLE_COLUMNS = _spec("ftrelid:OID ftserver:OID ftoptions:TEXT_ARRAY")
PG_REWRITE_COLUMNS = _spec("""
oid:OID rulename:NAME ev_class:OID ev_type:CHAR ev_enabled:CHAR is_instead:BOOL
ev_qual:NODE_TREE ev_action:NODE_TREE""")
PG_EXTENSION_COLUMNS = _spec("""
oid:OID extname:NAME extowner:OID extnamespace:OID extrelocatable:BOOL extversion:TEXT
extconfig:OID_ARRAY extcondition:TEXT_ARRAY""")
PG_DB_ROLE_SETTING_COLUMNS = _spec("setdatabase:OID setrole:OID setconfig:TEXT_ARRAY")
PG_TABLES_COLUMNS = _spec("""
schemaname:NAME tablename:NAME tableowner:NAME tablespace:NAME hasindexes:BOOL hasrules:BOOL
hastriggers:BOOL rowsecurity:BOOL""")
PG_INDEXES_COLUMNS = _spec("""
schemaname:NAME tablename:NAME indexname:NAME tablespace:NAME indexdef:TEXT""")
INFORMATION_SCHEMA_VIEWS_COLUMNS = _spec("""
table_catalog:SQL_IDENTIFIER table_schema:SQL_IDENTIFIER table_name:SQL_IDENTIFIER
view_definition:CHARACTER_DATA check_option:CHARACTER_DATA is_updatable:YES_OR_NO
is_insertable_into:YES_OR_NO is_trigger_updatable:YES_OR_NO is_trigger_deletable:YES_OR_NO
is_trigger_insertable_into:YES_OR_NO""")
PG_VIEWS_COLUMNS = _spec("schemaname:NAME viewname:NAME viewowner:NAME definition:TEXT")
PG_MATVIEWS_COLUMNS = _spec("""
schemaname:NAME matviewname:NAME matviewowner:NAME tablespace:NAME hasindexes:BOOL
ispopulated:BOOL definition:TEXT""")
PG_SEQUENCES_COLUMNS = _spec("""
schemaname:NAME sequencename:NAME sequenceowner:NAME data_type:REGTYPE start_value:INT8
min_value:INT8 max_value:INT8 increment_by:INT8 cycle:BOOL cache_size:INT8 last_value:INT8""")
PG_SETTINGS_COLUMNS = _spec("""
name:TEXT setting:TEXT unit:TEXT category:TEXT short_desc:TEXT extra_desc:TEXT context:TEXT
vartype:TEXT source:TEXT min_val:TEXT max_val:TEXT enumvals:TEXT_ARRAY boot_val:TEXT
reset_val:TEXT sourcefile:TEXT sourceline:INT4 pending_restart:BOOL""")
PG_STAT_ACTIVITY_COLUMNS = _spec("""
datid:OID datname:NAME pid:INT4 leader_pid:INT4 usesysid:OID usename:NAME application_name:TEXT
client_addr:INET client_hostname:TEXT client_port:INT4 backend_start:TIMESTAMPTZ
xact_start:TIMESTAMPTZ query_start:TIMESTAMPTZ state_change:TIMESTAMPTZ wait_event_type:TEXT
wait_event:TEXT state:TEXT backend_xid:XID backend_xmin:XID query_id:INT8 query:TEXT
backend_type:TEXT""")
PG_STAT_DATABASE_COLUMNS = _spec("""
datid:OID datname:NAME numbackends:INT4 xact_commit:INT8 xact_rollback:INT8 blks_read:INT8
blks_hit:INT8 tup_returned:INT8 tup_fetched:INT8 tup_inserted:INT8 tup_updated:INT8
tup_deleted:INT8 conflicts:INT8 temp_files:INT8 temp_bytes:INT8 deadlocks:INT8
checksum_failures:INT8 checksum_last_failure:TIMESTAMPTZ blk_read_time:FLOAT8
blk_write_time:FLOAT8 session_time:FLOAT8 active_time:FLOAT8 idle_in_transaction_time:FLOAT8
sessions:INT8 sessions_abandoned:INT8 sessions_fatal:INT8 sessions_killed:INT8
stats_reset:TIMESTAMPTZ""")
PG_STAT_TABLES_COLUMNS = _spec("""
relid:OID schemaname:NAME relname:NAME seq_scan:INT8 seq_tup_read:INT8 idx_scan:INT8
idx_tup_fetch:INT8 n_tup_ins:INT8 n_tup_upd:INT8 n_tup_del:INT8 n_tup_hot_upd:INT8
n_live_tup:INT8 n_dead_tup:INT8 n_mod_since_analyze:INT8 n_ins_since_vacuum:INT8
last_vacuum:TIMESTAMPTZ last_autovacuum:TIMESTAMPTZ last_analyze:TIMESTAMPTZ
last_autoanalyze:TIMESTAMPTZ vacuum_count:INT8 autovacuum_count:INT8 analyze_count:INT8
autoanalyze_count:INT8""")
INFORMATION_SCHEMA_TABLES_COLUMNS = _spec("""
table_catalog:SQL_IDENTIFIER table_schema:SQL_IDENTIFIER table_name:SQL_IDENTIFIER
table_type:CHARACTER_DATA self_referencing_column_name:SQL_IDENTIFIER
reference_generation:CHARACTER_DATA user_defined_type_catalog:SQL_IDENTIFIER
user_defined_type_schema:SQL_IDENTIFIER user_defined_type_name:SQL_IDENTIFIER
is_insertable_into:YES_OR_NO is_typed:YES_OR_NO commit_action:CHARACTER_DATA""")
INFORMATION_SCHEMA_COLUMNS_COLUMNS = _spec("""
table_catalog:SQL_IDENTIFIER table_schema:SQL_IDENTIFIER table_name:SQL_IDENTIFIER
column_name:SQL_IDENTIFIER ordinal_position:CARDINAL_NUMBER column_default:CHARACTER_DATA
is_nullable:YES_OR_NO data_type:CHARACTER_DATA character_maximum_length:CARDINAL_NUMBER
character_octet_length:CARDINAL_NUMBER numeric_precision:CARDINAL_NUMBER
numeric_precision_radix:CARDINAL_NUMBER numeric_scale:CARDINAL_NUMBER
datetime_precision:CARDINAL_NUMBER interval_type:CHARACTER_DATA
interval_precision:CARDINAL_NUMBER character_set_catalog:SQL_IDENTIFIER
character_set_schema:SQL_IDENTIFIER character_set_name:SQL_IDENTIFIER
collation_catalog:SQL_IDENTIFIER collation_schema:SQL_IDENTIFIER
collation_name:SQL_IDENTIFIER domain_catalog:SQL_IDENTIFIER domain_schema:SQL_IDENTIFIER
domain_name:SQL_IDENTIFIER udt_catalog:SQL_IDENTIFIER udt_schema:SQL_IDENTIFIER
udt_name:SQL_IDENTIFIER scope_catalog:SQL_IDENTIFIER scope_schema:SQL_IDENTIFIER
scope_name:SQL_IDENTIFIER maximum_cardinality:CARDINAL_NUMBER dtd_identifier:SQL_IDENTIFIER
is_self_referencing:YES_OR_NO is_identity:YES_OR_NO identity_generation:CHARACTER_DATA
identity_start:CHARACTER_DATA identity_increment:CHARACTER_DATA
identity_maximum:CHARACTER_DATA identity_minimum:CHARACTER_DATA identity_cycle:YES_OR_NO
is_generated:CHARACTER_DATA generation_expression:CHARACTER_DATA is_updatable:YES_OR_NO""")
INFORMATION_SCHEMA_SCHEMATA_COLUMNS = _spec("""
catalog_name:SQL_IDENTIFIER schema_name:SQL_IDENTIFIER schema_owner:SQL_IDENTIFIER
default_character_set_catalog:SQL_IDENTIFIER default_character_set_schema:SQL_IDENTIFIER
default_character_set_name:SQL_IDENTIFIER sql_path:CHARACTER_DATA""")


def _snapshot(ctx: ExecContext) -> cat.CatalogSnapshot:
    return cat.CatalogSnapshot.of(ctx)


def _owner_name(snapshot: cat.CatalogSnapshot, role_oid: int) -> str:
    role = snapshot.roles.get(role_oid)
    return role.name if role is not None else f"unknown (OID={role_oid})"


# -- pg_class, pg_attribute, pg_index, pg_namespace, pg_type -------------------------------------


def _pg_class(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    rows = []
    for entry in sorted(snapshot.classes.values(), key=lambda e: e.oid):
        is_table = entry.kind in (RELKIND_TABLE, "m")     # "m": a materialized view's heap
        access_method = (cat.HEAP_ACCESS_METHOD_OID if is_table and not entry.virtual else
                         cat.BTREE_ACCESS_METHOD_OID if entry.kind in (RELKIND_INDEX, "I") else 0)
        has_index = bool(snapshot.indexes_of_table.get(entry.oid))
        rows.append((
            entry.oid, entry.name, entry.namespace_oid, row_values.reltype(entry), 0,
            entry.owner_oid, access_method,
            entry.relfilenode, entry.tablespace_oid, entry.relpages, entry.reltuples,
            entry.relallvisible, 0, has_index, entry.shared,
            entry.persistence, entry.kind, entry.natts,
            constraints.check_count(snapshot, entry.oid), False,
            constraints.has_triggers(snapshot, entry.oid)
            or triggers.has_triggers(snapshot, entry.oid),
            partition_functions.has_subclass(snapshot, entry.oid), False, False,
            _relispopulated(snapshot, entry),
            "d" if entry.kind in (RELKIND_TABLE, "m", "p")
            and entry.oid >= boot.FIRST_NORMAL_OBJECT_ID else "n",
            partition_functions.is_partition(snapshot, entry.oid),
            0, 0, 1 if is_table else 0, _acl_array(entry.acl), None,
            partition_functions.partition_bound(snapshot, entry.oid)))
    return rows


def _pg_inherits(ctx: ExecContext) -> list[Row]:
    return [(int(r["inhrelid"]), int(r["inhparent"]), int(r["inhseqno"]),
             bool(r["inhdetachpending"])) for r in _snapshot(ctx).inherits]


def _pg_partitioned_table(ctx: ExecContext) -> list[Row]:
    """partdefid from the partitions' bounds (a dropped default leaves none)."""
    snapshot = _snapshot(ctx)
    rows = []
    for oid, r in sorted(snapshot.partitioned_tables.items()):
        default = next((int(i["inhrelid"]) for i in snapshot.inherits
                        if int(i["inhparent"]) == oid and i["inhpartbound"] is not None
                        and '"kind": "d"' in str(i["inhpartbound"])), 0)
        attrs = [int(n) for n in str(r["partattrs"]).split()]
        types = [_column_type(snapshot, oid, n) for n in attrs]
        rows.append((oid, str(r["partstrat"]), len(attrs), default, attrs,
                     [cat.DEFAULT_BTREE_OPCLASSES.get(t, 0) for t in types],
                     [cat.type_collation(t) for t in types], None))
    return rows


def _relispopulated(snapshot: cat.CatalogSnapshot, entry: Any) -> bool:
    """False only for a materialized view created WITH NO DATA and not refreshed since."""
    if entry.kind != "m":
        return True
    from mirrordb.sql import create_table_as
    return create_table_as.is_populated(snapshot.view_queries.get(entry.oid))


def _acl_array(text: str | None) -> list[str] | None:
    """relacl's stored aclitem[] text as the text[] this view shows it as."""
    return None if text is None else T.parse_text(TEXT_ARRAY, text)


def _pg_attribute(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    inherited = inheritance.attribute_inheritance(snapshot)
    rows = []
    for relation_oid in sorted(snapshot.attributes):
        for a in snapshot.attributes[relation_oid]:
            info = T.TYPES.get(a.type_oid)
            facts = cat.type_facts(a.type_oid)
            is_array = info is not None and T.is_array_type(a.type_oid)
            rows.append((
                a.relation_oid, a.name, a.type_oid, -1, info.length if info else -1, a.number,
                1 if is_array else 0, -1, a.typmod, info.by_value if info else False,
                info.alignment if info else "i", facts.storage, "", a.not_null,
                (relation_oid, a.number) in snapshot.defaults, False, a.identity, a.generated,
                a.dropped,
                (relation_oid, a.name) not in inherited, inherited.get((relation_oid, a.name), 0),
                facts.collation_oid, None, None, None, None))
    return rows


def _pg_index(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    rows = []
    for index in sorted(snapshot.indexes.values(), key=lambda i: i.index_oid):
        types = [_column_type(snapshot, index.index_oid, n)      # the index's own columns
                 for n in range(1, len(index.key_numbers) + 1)]
        count = len(index.key_numbers)
        rows.append((
            index.index_oid, index.table_oid, count + len(index.include_numbers), count,
            index.unique, False, index.primary, False, True, index.clustered, True, False,
            True, True,
            False, [*index.key_numbers, *index.include_numbers],
            [cat.type_collation(t) for t in types],
            [cat.DEFAULT_BTREE_OPCLASSES.get(t, 0) for t in types],
            list(index.options) or [0] * count,
            index.expressions, index.predicate))
    return rows


def _column_type(snapshot: cat.CatalogSnapshot, relation_oid: int, number: int) -> int:
    attribute = snapshot.attribute(relation_oid, number)
    return attribute.type_oid if attribute is not None else 0


def _pg_namespace(ctx: ExecContext) -> list[Row]:
    """mirrordb checks no schema privileges (every role may use and create in public);
    the schemas are shown as PostgreSQL 15's initdb leaves them (pg_catalog and
    information_schema usable by PUBLIC, public owned by pg_database_owner), which is what
    pg_dump and psql's \\dn compare against."""
    snapshot = _snapshot(ctx)
    superuser = _owner_name(snapshot, boot.BOOTSTRAP_SUPERUSER_OID)
    rows: list[Row] = []
    for n in sorted(snapshot.namespaces.values(), key=lambda n: n.oid):
        owner_oid = n.owner_oid
        if n.oid == cat.PUBLIC_NAMESPACE_OID and owner_oid == boot.BOOTSTRAP_SUPERUSER_OID:
            owner_oid = PG_DATABASE_OWNER_OID
        rows.append((n.oid, n.name, owner_oid, initial_namespace_acl(n.oid, superuser)))
    return rows


PG_DATABASE_OWNER_OID, PG_DATABASE_OWNER = cat.PG_DATABASE_OWNER_OID, cat.PG_DATABASE_OWNER
# Schemas whose nspacl initdb sets: owner (or pg_database_owner) UC, PUBLIC U.
_USABLE_SCHEMAS = (cat.PG_CATALOG_NAMESPACE_OID, cat.PUBLIC_NAMESPACE_OID,
                   cat.INFORMATION_SCHEMA_NAMESPACE_OID)


def initial_namespace_acl(namespace_oid: int, superuser: str) -> list[str] | None:
    """nspacl as PostgreSQL 15's initdb leaves it (also pg_init_privs' initprivs)."""
    if namespace_oid not in _USABLE_SCHEMAS:
        return None
    owner = PG_DATABASE_OWNER if namespace_oid == cat.PUBLIC_NAMESPACE_OID else superuser
    return [f"{owner}=UC/{owner}", f"=U/{owner}"]


def _pg_type(ctx: ExecContext) -> list[Row]:
    """The built-in types (types.TYPES), then the user types' heap rows (sql/user_types.py)."""
    from mirrordb.sql import user_types
    return [_builtin_type_row(oid) for oid in sorted(T.TYPES)] + \
        user_types.pg_type_rows(ctx, _builtin_type_row)


def _builtin_type_row(oid: int) -> Row:
    procedures = cat.PROCEDURE_OIDS
    info = T.TYPES[oid]
    facts = cat.type_facts(oid)
    return (
        oid, info.name, cat.PG_CATALOG_NAMESPACE_OID, boot.BOOTSTRAP_SUPERUSER_OID,
        info.length, info.by_value, info.type_type, info.category, info.preferred, True, ",",
        0, facts.subscript_oid, info.element_oid, info.array_oid,
        procedures.get(info.input_name, 0), procedures.get(info.output_name, 0),
        procedures.get(info.receive_name, 0), procedures.get(info.send_name, 0),
        facts.modin_oid, facts.modout_oid, facts.analyze_oid, info.alignment, facts.storage,
        False, 0, -1, 0, facts.collation_oid, None, None, None)


# -- databases and roles ----------------------------------------------------------------------


def _pg_database(ctx: ExecContext) -> list[Row]:
    session = ctx.session
    collate, ctype = session.setting("lc_collate") or "C", session.setting("lc_ctype") or "C"
    frozen = _oldest_xid(session)
    snapshot = _snapshot(ctx)
    return [(d.oid, d.name, d.owner_oid, d.encoding, DATABASE_LOCALE_PROVIDER_LIBC, d.is_template,
             d.allow_connections, d.connection_limit, frozen, 1, cat.DEFAULT_TABLESPACE_OID,
             collate, ctype, None, None, acl_item_texts(d.acl))
            for d in sorted(snapshot.databases.values(), key=lambda d: d.oid)]


def _owner_name(snapshot: Any, role_oid: int) -> str:
    role = snapshot.roles.get(role_oid)
    return role.name if role is not None else str(role_oid)


def _oldest_xid(session: Any) -> int:
    control = getattr(session.engine, "control", None)
    return int(control.checkpoint.oldest_xid) if control is not None else 0


def _require_superuser(ctx: ExecContext, relation: str) -> None:
    snapshot = _snapshot(ctx)
    oid = snapshot.role_oid(ctx.session.user)
    if oid is None or not snapshot.roles[oid].superuser:
        raise MirrordbError(f"permission denied for table {relation}", sqlstate="42501")


def _pg_authid(ctx: ExecContext) -> list[Row]:
    _require_superuser(ctx, "pg_authid")
    return [(r.oid, r.name, r.superuser, r.inherit, r.create_role, r.create_database,
             r.can_login, r.replication, r.bypass_rls, r.connection_limit, r.password, None)
            for r in _roles(ctx)]


def _roles(ctx: ExecContext) -> list[cat.RoleEntry]:
    roles_by_oid = dict(_snapshot(ctx).roles)
    for role in cat.PREDEFINED_ROLES:
        roles_by_oid.setdefault(role.oid, role)
    return sorted(roles_by_oid.values(), key=lambda r: r.oid)


def _pg_roles(ctx: ExecContext) -> list[Row]:
    config = _role_config(ctx)
    return [(r.name, r.superuser, r.inherit, r.create_role, r.create_database, r.can_login,
             r.replication, r.connection_limit, HIDDEN_PASSWORD, None, r.bypass_rls,
             config.get(r.oid), r.oid)
            for r in _roles(ctx)]


def _pg_user(ctx: ExecContext) -> list[Row]:
    config = _role_config(ctx)
    return [(r.name, r.oid, r.create_database, r.superuser, r.replication, r.bypass_rls,
             HIDDEN_PASSWORD, None, config.get(r.oid)) for r in _roles(ctx) if r.can_login]


def _db_role_settings(ctx: ExecContext) -> list[role_settings.DbRoleSetting]:
    """pg_db_role_setting's rows as the statement's snapshot sees them."""
    return role_settings.statement_rows(ctx.txn)


def _pg_db_role_setting(ctx: ExecContext) -> list[Row]:
    return [(row.database_oid, row.role_oid, list(row.config)) for row in _db_role_settings(ctx)]


def _role_config(ctx: ExecContext) -> dict[int, list[str]]:
    """rolconfig/useconfig: each role's settings for every database (setdatabase 0)."""
    return {row.role_oid: list(row.config) for row in _db_role_settings(ctx)
            if row.database_oid == 0 and row.role_oid != 0}


# -- defaults, constraints, dependencies -------------------------------------------------------


# pg_attrdef keeps no OID on disk; a row's oid is this base plus its place in (adrelid, adnum)
# order: the same for every statement of one snapshot (pg_dump reads pg_attrdef and pg_depend
# in one), distinct within the catalog, and above any OID mirrordb hands out.
ATTRDEF_OID_BASE = 0xC0000000


def _attrdef_oids(snapshot: cat.CatalogSnapshot) -> dict[tuple[int, int], int]:
    """(adrelid, adnum) -> the oid pg_attrdef shows for the default."""
    return {key: ATTRDEF_OID_BASE + position
            for position, key in enumerate(sorted(snapshot.defaults))}


def _pg_attrdef(ctx: ExecContext) -> list[Row]:
    """adbin carries the column's type with the raw tree, so pg_get_expr can type literals."""
    snapshot = _snapshot(ctx)
    oids = _attrdef_oids(snapshot)
    rows = []
    for (relation_oid, number), tree in sorted(snapshot.defaults.items()):
        attribute = snapshot.attribute(relation_oid, number)
        if attribute is None:
            continue
        wrapped = {cat.COLUMN_DEFAULT_NODE: {"type_oid": attribute.type_oid,
                                             "typmod": attribute.typmod, "expr": tree}}
        rows.append((oids[(relation_oid, number)], relation_oid, number, json.dumps(wrapped)))
    return rows


def _pg_constraint(ctx: ExecContext) -> list[Row]:
    """PRIMARY KEY and UNIQUE constraints, one per index that backs one (OID = the index's)."""
    snapshot = _snapshot(ctx)
    rows = []
    for index in sorted(snapshot.indexes.values(), key=lambda i: i.index_oid):
        if not index.is_constraint or index.index_oid not in snapshot.classes:
            continue
        table = snapshot.classes.get(index.table_oid)
        parent = partition_functions.parent_of(snapshot, index.index_oid) or 0  # partition's
        rows.append((
            index.index_oid, snapshot.classes[index.index_oid].name,
            table.namespace_oid if table else cat.PUBLIC_NAMESPACE_OID,
            "p" if index.primary else "u", False, False, True, index.table_oid, 0,
            index.index_oid, parent, 0, " ", " ", " ", not parent, 1 if parent else 0, True,
            list(index.key_numbers), None, None, None, None, None, None, None))
    return rows + constraints.pg_constraint_rows(snapshot)


def _pg_depend(ctx: ExecContext) -> list[Row]:
    """The dependencies clients look for: the stored ones (a sequence owned by a column, 'a'
    or 'i'); derived, a view's rule belongs to the view ('i') and depends on the relations
    its query reads ('n')."""
    from mirrordb.sql.views import StoredQuery
    class_oid, rewrite_oid = boot.PG_CLASS_OID, boot.PG_REWRITE_OID
    snapshot = _snapshot(ctx)
    rows: list[Row] = [tuple(record[c.name] for c in boot.PG_DEPEND.columns)
                       for record in snapshot._read(boot.PG_DEPEND)]
    rows += _partition_constraint_dependencies(snapshot, rows)
    rows += _attrdef_dependencies(snapshot)
    for rule in snapshot.rewrite_rules:
        rule_oid, view_oid = int(rule["oid"]), int(rule["ev_class"])
        rows.append((rewrite_oid, rule_oid, 0, class_oid, view_oid, 0, "i"))
        rows += [(rewrite_oid, rule_oid, 0, class_oid, oid, 0, "n")
                 for oid in StoredQuery.decode(str(rule["ev_action"])).relations]
    return rows


def _partition_constraint_dependencies(snapshot: cat.CatalogSnapshot,
                                       stored: list[Row]) -> list[Row]:
    """A partition's PRIMARY KEY/UNIQUE constraint depends on its parent's ('P') and on its
    table ('S'), as its index does (the stored rows, sql/partition_indexes.py); the
    constraint's OID is its index's."""
    constraint_oid, class_oid = boot.PG_CONSTRAINT_OID, boot.PG_CLASS_OID
    rows: list[Row] = []
    for classid, objid, _, refclassid, refobjid, _, deptype in stored:
        index = snapshot.indexes.get(int(objid))  # type: ignore[call-overload]
        if classid != class_oid or deptype not in ("P", "S") or index is None or \
                not index.is_constraint:
            continue
        referenced = constraint_oid if deptype == "P" else class_oid
        rows.append((constraint_oid, objid, 0, referenced, refobjid, 0, deptype))
    return rows


def _attrdef_dependencies(snapshot: cat.CatalogSnapshot) -> list[Row]:
    class_oid, attrdef_oid = boot.PG_CLASS_OID, boot.PG_ATTRDEF_OID
    sequence_of = {key: sequence_oid
                   for sequence_oid, key in snapshot.owned_sequences.items()}
    rows: list[Row] = []
    for key, oid in _attrdef_oids(snapshot).items():
        rows.append((attrdef_oid, oid, 0, class_oid, key[0], key[1], "a"))
        if key in sequence_of:
            rows.append((attrdef_oid, oid, 0, class_oid, sequence_of[key], 0, "n"))
    return rows


# -- constant catalogs ------------------------------------------------------------------------


def _constant(rows: list[Row]) -> Producer:
    frozen = list(rows)
    return lambda ctx: frozen


PG_AM_ROWS: list[Row] = [
    (cat.HEAP_ACCESS_METHOD_OID, "heap", cat.PROCEDURE_OIDS["heap_tableam_handler"], "t"),
    (cat.BTREE_ACCESS_METHOD_OID, "btree", cat.PROCEDURE_OIDS["bthandler"], "i")]
PG_COLLATION_ROWS: list[Row] = [
    (cat.DEFAULT_COLLATION_OID, "default", cat.PG_CATALOG_NAMESPACE_OID,
     boot.BOOTSTRAP_SUPERUSER_OID, "d", True, -1, None, None, None, None),
    (cat.C_COLLATION_OID, "C", cat.PG_CATALOG_NAMESPACE_OID, boot.BOOTSTRAP_SUPERUSER_OID, "c",
     True, -1, "C", "C", None, None),
    (951, "POSIX", cat.PG_CATALOG_NAMESPACE_OID, boot.BOOTSTRAP_SUPERUSER_OID, "c", True, -1,
     "POSIX", "POSIX", None, None)]
PG_TABLESPACE_ROWS: list[Row] = [
    (cat.DEFAULT_TABLESPACE_OID, "pg_default", boot.BOOTSTRAP_SUPERUSER_OID, None, None),
    (cat.GLOBAL_TABLESPACE_OID, "pg_global", boot.BOOTSTRAP_SUPERUSER_OID, None, None)]
def _pg_trigger(ctx: ExecContext) -> list[Row]:
    return triggers.pg_trigger_rows(_snapshot(ctx))


def _heap_rows(catalog: Relation) -> Producer:
    """A catalog whose heap relation has PostgreSQL's columns: its rows as they are."""
    def produce(ctx: ExecContext) -> list[Row]:
        return [tuple(record[c.name] for c in catalog.columns)
                for record in _snapshot(ctx)._read(catalog)]
    return produce


# -- convenience views ----------------------------------------------------------------------------


def _relations_of_kind(snapshot: cat.CatalogSnapshot, kinds: str) -> list[cat.ClassEntry]:
    return sorted((e for e in snapshot.classes.values() if e.kind in kinds),
                  key=lambda e: (snapshot.namespace_name(e.namespace_oid), e.name))


def _pg_tables(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    return [(snapshot.namespace_name(e.namespace_oid), e.name, _owner_name(snapshot, e.owner_oid),
             None, bool(snapshot.indexes_of_table.get(e.oid)), False, False, False)
            for e in _relations_of_kind(snapshot, RELKIND_TABLE)]


def _pg_indexes(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    rows = []
    for entry in _relations_of_kind(snapshot, RELKIND_INDEX):
        index = snapshot.indexes.get(entry.oid)
        table = snapshot.classes.get(index.table_oid) if index else None
        if table is None:
            continue
        rows.append((snapshot.namespace_name(table.namespace_oid), table.name, entry.name, None,
                     cat.index_definition(snapshot, entry.oid, pretty=False)))
    return rows


def _pg_views(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    return [(snapshot.namespace_name(e.namespace_oid), e.name, _owner_name(snapshot, e.owner_oid),
             cat.view_definition(snapshot, e.oid, pretty=False))
            for e in _relations_of_kind(snapshot, cat.RELKIND_VIEW)]


def _pg_matviews(ctx: ExecContext) -> list[Row]:
    from mirrordb.sql import create_table_as
    return create_table_as.pg_matviews_rows(_snapshot(ctx), _owner_name)


def _pg_rewrite(ctx: ExecContext) -> list[Row]:
    """ev_action is mirrordb's stored query (sql/views.py), not PostgreSQL's node tree;
    ev_qual is PostgreSQL's "<>" for a rule without a condition."""
    return [(int(r["oid"]), r["rulename"], int(r["ev_class"]), r["ev_type"], r["ev_enabled"],
             r["is_instead"], r["ev_qual"] or "<>", r["ev_action"])
            for r in _snapshot(ctx).rewrite_rules]


def _pg_sequences(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    rows = []
    for entry in _relations_of_kind(snapshot, RELKIND_SEQUENCE):
        record = snapshot.sequences.get(entry.oid)
        if record is None:
            continue
        rows.append((snapshot.namespace_name(entry.namespace_oid), entry.name,
                     _owner_name(snapshot, entry.owner_oid), int(record["seqtypid"]),
                     record["seqstart"], record["seqmin"], record["seqmax"],
                     record["seqincrement"], record["seqcycle"], record["seqcache"],
                     _sequence_last_value(ctx, entry.oid)))
    return rows


def _sequence_last_value(ctx: ExecContext, oid: int) -> int | None:
    """The sequence's last value, or NULL before its first nextval (as PostgreSQL shows)."""
    engine = ctx.session.engine
    relation = ctx.txn.relation(oid)
    params = engine.relcache.sequence_params(relation, ctx.txn.transaction)
    value, is_called = engine.sequences.last_value(relation.rnode, params)
    return int(value) if is_called else None


# -- server state: settings and statistics ------------------------------------------------------


def _pg_settings(ctx: ExecContext) -> list[Row]:
    names = [name for name, _ in PG_SETTINGS_COLUMNS]
    return [tuple(row.get(name) for name in names)
            for row in ctx.session.settings.pg_settings_rows()]


def _pg_stat_activity(ctx: ExecContext) -> list[Row]:
    """Client backends and walsenders, then the background threads running now
    (server/background.py), whose rows carry no database, user or query."""
    server = ctx.session.server
    if server is None:
        return []
    snapshot = _snapshot(ctx)
    sees_all = _sees_every_session(ctx)
    rows = []
    for info in [*server.backends(), *server.background_processes()]:
        database, user = getattr(info, "database", None), getattr(info, "user", None)
        database_oid = getattr(info, "database_oid", 0) or \
            (snapshot.database_oid(database) if database else None)
        user_oid = getattr(info, "user_oid", 0) or (snapshot.role_oid(user) if user else None)
        if not sees_all and user != ctx.session.user:
            rows.append(_hidden_activity(database_oid, database, info, user_oid, user))
            continue
        rows.append((database_oid, database, info.pid, None, user_oid, user,
                     getattr(info, "application_name", ""),
                     _text(getattr(info, "client_addr", None)),
                     getattr(info, "client_hostname", None), getattr(info, "client_port", None),
                     getattr(info, "backend_start", None), getattr(info, "xact_start", None),
                     getattr(info, "query_start", None), getattr(info, "state_change", None),
                     *_wait_event(info),
                     getattr(info, "state", None), *_backend_xid_and_xmin(info), None,
                     getattr(info, "query", ""),
                     getattr(info, "backend_type", "client backend")))
    return rows


def _sees_every_session(ctx: ExecContext) -> bool:
    """Whether pg_stat_activity shows this session every other one whole: a superuser's does
    (PostgreSQL's pg_read_all_stats members too; roles have no members here)."""
    return roles.is_superuser(ctx.session)


INSUFFICIENT_PRIVILEGE = "<insufficient privilege>"


def _hidden_activity(database_oid: int | None, database: str | None, info: Any,
                     user_oid: int | None, user: str | None) -> Row:
    """Another role's session (or a background process) as PostgreSQL shows it to a role that
    may not see it: who and where, its xid and xmin, and nothing of what it does."""
    return (database_oid, database, info.pid, None, user_oid, user,
            getattr(info, "application_name", ""), None, None, None, None, None, None, None,
            None, None, None, *_backend_xid_and_xmin(info), None, INSUFFICIENT_PRIVILEGE, None)


def _backend_xid_and_xmin(info: Any) -> tuple[int | None, int | None]:
    """backend_xid and backend_xmin: the xid of the backend's transaction and the oldest
    snapshot it holds (access/xact.py), NULL when there is none."""
    proc = getattr(info, "proc", None)
    return (getattr(proc, "xid", 0) or None), (getattr(proc, "xmin", 0) or None)


# Waits of a transaction (its proc entry) that are not lock waits: name -> wait_event_type
PROC_WAIT_EVENT_TYPES = {"SyncRep": "IPC"}   # a commit waiting for replication/syncrep.py


def _wait_event(info: Any) -> tuple[str | None, str | None]:
    """(wait_event_type, wait_event): a wait of the backend's transaction (its proc entry says
    what it waits for: a lock, or synchronous replication at commit) or what the backend itself
    reported (client read, pg_sleep...)."""
    proc = getattr(info, "proc", None)
    proc_wait = getattr(proc, "wait_event", None) if proc is not None else None
    if proc_wait:
        return PROC_WAIT_EVENT_TYPES.get(proc_wait, "Lock"), proc_wait
    return getattr(info, "wait_event_type", None), getattr(info, "wait_event", None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _pg_stat_database(ctx: ExecContext) -> list[Row]:
    """One row per database plus PostgreSQL 15's row for shared objects (datid 0). mirrordb
    keeps few cumulative statistics yet: numbackends is live, conflicts counts recovery
    conflicts (pg_stat_database_conflicts), the other counters are zero."""
    server = ctx.session.server
    backends = server.backends() if server is not None else []
    databases = sorted(_snapshot(ctx).databases.values(), key=lambda d: d.oid)
    rows = []
    for oid, name in [(0, None)] + [(d.oid, d.name) for d in databases]:
        count = sum(1 for b in backends if name is not None and
                    getattr(b, "database", None) == name and
                    getattr(b, "backend_type", "client backend") == "client backend")
        reset = ctx.session.engine.table_stats.stats_reset.get(name) if name else None
        row = (oid, name, count) + (0,) * 13 + (None, None) + (0.0,) * 5 + (0,) * 4 + (reset,)
        rows.append(row[:_CONFLICTS_COLUMN] + (_conflicts_total(ctx, name),) +
                    row[_CONFLICTS_COLUMN + 1:])
    return rows


_CONFLICTS_COLUMN = [name for name, _ in PG_STAT_DATABASE_COLUMNS].index("conflicts")


def _conflicts_total(ctx: ExecContext, database: str | None) -> int:
    from mirrordb.recovery.conflicts import conflict_statistics
    if database is None:
        return 0
    return conflict_statistics(ctx.session.engine).total(database)


_SYSTEM_SCHEMAS = (PG_CATALOG, INFORMATION_SCHEMA, "pg_toast")


def _pg_stats(ctx: ExecContext) -> list[Row]:
    """pg_stats, from pg_statistic's rows (sql/analyze.py)."""
    from mirrordb.sql import analyze
    snapshot = _snapshot(ctx)
    return analyze.pg_stats_rows(snapshot, list(snapshot._read(boot.PG_STATISTIC)),
                                 analyze.readable(ctx.session))


def _pg_stat_tables(user_only: bool) -> Producer:
    """pg_stat_all_tables / pg_stat_user_tables: the engine's table statistics
    (access/pgstat.py) for every table the statement's catalog snapshot shows. Scan counters
    and autoanalyze columns are zero or NULL: mirrordb keeps no such counts."""
    def produce(ctx: ExecContext) -> list[Row]:
        snapshot = _snapshot(ctx)
        statistics = getattr(ctx.session.engine, "table_stats", None)
        rows = []
        for entry in _relations_of_kind(snapshot, RELKIND_TABLE):
            schema = snapshot.namespace_name(entry.namespace_oid)
            if user_only and schema in _SYSTEM_SCHEMAS:
                continue
            stats = statistics.entry(entry.oid) if statistics is not None else None
            rows.append(_pg_stat_table_row(entry.oid, schema, entry.name, stats))
        return rows
    return produce


def _pg_stat_table_row(relid: int, schema: str, name: str, stats: Any) -> Row:
    if stats is None:
        return (relid, schema, name) + (0,) * 12 + (None,) * 4 + (0,) * 4
    return (relid, schema, name, 0, 0, 0, 0, stats.n_tup_ins, stats.n_tup_upd, stats.n_tup_del,
            stats.n_tup_hot_upd, stats.n_live_tup, stats.n_dead_tup, stats.n_mod_since_analyze,
            stats.n_ins_since_vacuum,
            stats.last_vacuum, stats.last_autovacuum, stats.last_analyze, None,
            stats.vacuum_count, stats.autovacuum_count, stats.analyze_count, 0)


# -- information_schema ----------------------------------------------------------------------------


def _visible_relations(snapshot: cat.CatalogSnapshot, kinds: str) -> list[cat.ClassEntry]:
    return [e for e in _relations_of_kind(snapshot, kinds)
            if e.namespace_oid != cat.PG_TOAST_NAMESPACE_OID]


def _information_schema_tables(ctx: ExecContext) -> list[Row]:
    from mirrordb.sql import temp_tables
    snapshot = _snapshot(ctx)
    database = ctx.session.database
    my_temp = temp_tables.namespace_oid(ctx.session)   # its relations: LOCAL TEMPORARY
    rows = []
    for entry in _visible_relations(snapshot, RELKIND_TABLE + cat.RELKIND_VIEW):
        schema = snapshot.namespace_name(entry.namespace_oid)
        if entry.persistence == "t" and entry.namespace_oid != my_temp:
            continue                             # another session's (pg_is_other_temp_schema)
        is_table = entry.kind == RELKIND_TABLE
        kind = "LOCAL TEMPORARY" if entry.namespace_oid == my_temp else \
            "BASE TABLE" if is_table else "VIEW"
        rows.append((database, schema, entry.name, kind, None, None, None, None, None,
                     "YES" if is_table and not entry.virtual else "NO", "NO", None))
    return rows


def _information_schema_columns(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    database = ctx.session.database
    rows = []
    for entry in _visible_relations(snapshot, RELKIND_TABLE + cat.RELKIND_VIEW):
        schema = snapshot.namespace_name(entry.namespace_oid)
        updatable = "YES" if entry.kind == RELKIND_TABLE and not entry.virtual else "NO"
        for a in snapshot.attributes.get(entry.oid, []):
            if a.dropped or a.number <= 0:
                continue
            values = dict(zip(_SQL_TYPE_COLUMN_NAMES, _sql_type_columns(a.type_oid, a.typmod)))
            values.update(
                table_catalog=database, table_schema=schema, table_name=entry.name,
                column_name=a.name, ordinal_position=a.number,
                column_default=_column_default_text(ctx, snapshot, a),
                is_nullable="NO" if a.not_null else "YES", udt_catalog=database,
                udt_schema=PG_CATALOG,
                udt_name=T.TYPES[a.type_oid].name if a.type_oid in T.TYPES else None,
                dtd_identifier=str(a.number), is_self_referencing="NO", is_identity="NO",
                identity_cycle="NO", is_generated="NEVER", is_updatable=updatable)
            if a.identity:
                values.update(_identity_columns(snapshot, a))
            if a.generated:      # its expression is no default (sql/generated.py)
                values.update(column_default=None, is_generated="ALWAYS",
                              generation_expression=_column_default_text(ctx, snapshot, a))
            rows.append(_record(INFORMATION_SCHEMA_COLUMNS_COLUMNS, values))
    return rows


def _identity_columns(snapshot: cat.CatalogSnapshot, a: cat.AttributeEntry
                      ) -> dict[str, Any]:
    """information_schema.columns' identity_* columns of an identity column: its kind and
    its sequence's parameters."""
    values: dict[str, Any] = {
        "is_identity": "YES",
        "identity_generation": "ALWAYS" if a.identity == "a" else "BY DEFAULT"}
    sequence_oid = next((oid for oid, owner in snapshot.owned_sequences.items()
                         if owner == (a.relation_oid, a.number)), None)
    sequence = snapshot.sequences.get(sequence_oid) if sequence_oid is not None else None
    if sequence is not None:
        values.update(identity_start=str(sequence["seqstart"]),
                      identity_increment=str(sequence["seqincrement"]),
                      identity_maximum=str(sequence["seqmax"]),
                      identity_minimum=str(sequence["seqmin"]),
                      identity_cycle="YES" if sequence["seqcycle"] else "NO")
    return values


def _record(columns: ColumnSpec, values: dict[str, Any]) -> Row:
    """A row of a wide view from the values it has by name (the others are NULL)."""
    return tuple(values.get(name) for name, _ in columns)


def _column_default_text(ctx: ExecContext, snapshot: cat.CatalogSnapshot,
                         attribute: cat.AttributeEntry) -> str | None:
    tree = snapshot.defaults.get((attribute.relation_oid, attribute.number))
    if tree is None:
        return None
    deparser = cat.ExpressionDeparser(ctx.session, snapshot, attribute.relation_oid, pretty=False)
    return deparser.deparse(tree, attribute.type_oid)


_INTEGER_PRECISION_BITS = {T.INT2_OID: 16, T.INT4_OID: 32, T.INT8_OID: 64, T.FLOAT4_OID: 24,
                           T.FLOAT8_OID: 53}
_DEFAULT_DATETIME_PRECISION = 6
_MAX_CHARACTER_OCTETS = 1073741824
_UTF8_MAX_BYTES_PER_CHARACTER = 4


_SQL_TYPE_COLUMN_NAMES = ("data_type", "character_maximum_length", "character_octet_length",
                          "numeric_precision", "numeric_precision_radix", "numeric_scale",
                          "datetime_precision")


def _sql_type_columns(type_oid: int, typmod: int) -> tuple[Any, ...]:
    """data_type .. datetime_precision of information_schema.columns (SQL's type vocabulary)."""
    data_type = "ARRAY" if T.is_array_type(type_oid) else \
        T.format_type(type_oid) if type_oid in T.TYPES else "USER-DEFINED"
    length = octets = precision = radix = scale = datetime = None
    if type_oid in (T.VARCHAR_OID, T.BPCHAR_OID, T.TEXT_OID):
        if typmod >= 0:
            length = typmod - T.VARHDRSZ
            octets = length * _UTF8_MAX_BYTES_PER_CHARACTER
        else:
            octets = _MAX_CHARACTER_OCTETS
    elif type_oid in _INTEGER_PRECISION_BITS:
        precision, radix = _INTEGER_PRECISION_BITS[type_oid], 2
        scale = 0 if type_oid in T.INTEGER_OIDS else None
    elif type_oid == T.NUMERIC_OID:
        radix = 10
        if typmod >= 0:
            packed = typmod - T.VARHDRSZ
            precision, scale = (packed >> 16) & 0xFFFF, packed & 0xFFFF
    elif type_oid == T.DATE_OID:
        datetime = 0
    elif type_oid in (T.TIME_OID, T.TIMESTAMP_OID, T.TIMESTAMPTZ_OID, T.INTERVAL_OID):
        datetime = typmod if typmod >= 0 and type_oid != T.INTERVAL_OID else \
            _DEFAULT_DATETIME_PRECISION
    return (data_type, length, octets, precision, radix, scale, datetime)


def _information_schema_views(ctx: ExecContext) -> list[Row]:
    """The user's views; none is updatable (mirrordb does not change rows through views)."""
    snapshot = _snapshot(ctx)
    database = ctx.session.database
    return [(database, snapshot.namespace_name(e.namespace_oid), e.name,
             cat.view_definition(snapshot, e.oid, pretty=False), "NONE", "NO", "NO", "NO", "NO",
             "NO")
            for e in _visible_relations(snapshot, cat.RELKIND_VIEW)
            if e.namespace_oid not in (cat.PG_CATALOG_NAMESPACE_OID,
                                       cat.INFORMATION_SCHEMA_NAMESPACE_OID)]


def _information_schema_schemata(ctx: ExecContext) -> list[Row]:
    snapshot = _snapshot(ctx)
    database = ctx.session.database
    return [(database, n.name, _owner_name(snapshot, n.owner_oid), None, None, None, None)
            for n in sorted(snapshot.namespaces.values(), key=lambda n: n.name)]


# -- the registry ---------------------------------------------------------------------------------

_EMPTY = _constant([])


def _view(schema: str, name: str, oid: int, kind: str, columns: ColumnSpec,
          produce: Producer) -> SystemView:
    return SystemView(schema, name, oid, kind, columns, produce)


_VIEW_LIST = [
    _view(PG_CATALOG, "pg_class", boot.PG_CLASS_OID, "r", PG_CLASS_COLUMNS, _pg_class),
    _view(PG_CATALOG, "pg_attribute", boot.PG_ATTRIBUTE_OID, "r", PG_ATTRIBUTE_COLUMNS,
          _pg_attribute),
    _view(PG_CATALOG, "pg_index", boot.PG_INDEX_OID, "r", PG_INDEX_COLUMNS, _pg_index),
    _view(PG_CATALOG, "pg_namespace", boot.PG_NAMESPACE_OID, "r", PG_NAMESPACE_COLUMNS,
          _pg_namespace),
    _view(PG_CATALOG, "pg_type", 1247, "r", PG_TYPE_COLUMNS, _pg_type),
    _view(PG_CATALOG, "pg_database", boot.PG_DATABASE_OID, "r", PG_DATABASE_COLUMNS,
          _pg_database),
    _view(PG_CATALOG, "pg_authid", boot.PG_AUTHID_OID, "r", PG_AUTHID_COLUMNS, _pg_authid),
    _view(PG_CATALOG, "pg_attrdef", boot.PG_ATTRDEF_OID, "r", PG_ATTRDEF_COLUMNS, _pg_attrdef),
    _view(PG_CATALOG, "pg_constraint", cat.PG_CONSTRAINT_OID, "r", PG_CONSTRAINT_COLUMNS,
          _pg_constraint),
    _view(PG_CATALOG, "pg_depend", 2608, "r", PG_DEPEND_COLUMNS, _pg_depend),
    _view(PG_CATALOG, "pg_am", 2601, "r", PG_AM_COLUMNS, _constant(PG_AM_ROWS)),
    _view(PG_CATALOG, "pg_collation", 3456, "r", PG_COLLATION_COLUMNS,
          _constant(PG_COLLATION_ROWS)),
    _view(PG_CATALOG, "pg_tablespace", 1213, "r", PG_TABLESPACE_COLUMNS,
          _constant(PG_TABLESPACE_ROWS)),
    _view(PG_CATALOG, "pg_description", boot.PG_DESCRIPTION_OID, "r", PG_DESCRIPTION_COLUMNS,
          _heap_rows(boot.PG_DESCRIPTION)),
    _view(PG_CATALOG, "pg_shdescription", boot.PG_SHDESCRIPTION_OID, "r",
          PG_SHDESCRIPTION_COLUMNS, _heap_rows(boot.PG_SHDESCRIPTION)),
    _view(PG_CATALOG, "pg_auth_members", 1261, "r", PG_AUTH_MEMBERS_COLUMNS, _EMPTY),
    _view(PG_CATALOG, "pg_inherits", 2611, "r", PG_INHERITS_COLUMNS, _pg_inherits),
    _view(PG_CATALOG, "pg_policy", 3256, "r", PG_POLICY_COLUMNS, _EMPTY),
    _view(PG_CATALOG, "pg_trigger", boot.PG_TRIGGER_OID, "r", PG_TRIGGER_COLUMNS,
          _pg_trigger),
    _view(PG_CATALOG, "pg_rewrite", boot.PG_REWRITE_OID, "r", PG_REWRITE_COLUMNS, _pg_rewrite),
    _view(PG_CATALOG, "pg_statistic_ext", 3381, "r", PG_STATISTIC_EXT_COLUMNS, _EMPTY),
    _view(PG_CATALOG, "pg_stats", 12451, "v", PG_STATS_COLUMNS, _pg_stats),
    _view(PG_CATALOG, "pg_publication", 6104, "r", PG_PUBLICATION_COLUMNS, _EMPTY),
    _view(PG_CATALOG, "pg_publication_rel", 6106, "r", PG_PUBLICATION_REL_COLUMNS, _EMPTY),
    _view(PG_CATALOG, "pg_publication_namespace", 6237, "r", PG_PUBLICATION_NAMESPACE_COLUMNS,
          _EMPTY),
    _view(PG_CATALOG, "pg_partitioned_table", 3350, "r", PG_PARTITIONED_TABLE_COLUMNS,
          _pg_partitioned_table),
    _view(PG_CATALOG, "pg_foreign_table", 3118, "r", PG_FOREIGN_TABLE_COLUMNS, _EMPTY),
    _view(PG_CATALOG, "pg_extension", 3079, "r", PG_EXTENSION_COLUMNS, _EMPTY),
    _view(PG_CATALOG, "pg_db_role_setting", boot.PG_DB_ROLE_SETTING_OID, "r",
          PG_DB_ROLE_SETTING_COLUMNS, _pg_db_role_setting),
    _view(PG_CATALOG, "pg_roles", 12000, "v", PG_ROLES_COLUMNS, _pg_roles),
    _view(PG_CATALOG, "pg_user", 12014, "v", PG_USER_COLUMNS, _pg_user),
    _view(PG_CATALOG, "pg_views", 12028, "v", PG_VIEWS_COLUMNS, _pg_views),
    _view(PG_CATALOG, "pg_tables", 12033, "v", PG_TABLES_COLUMNS, _pg_tables),
    _view(PG_CATALOG, "pg_matviews", 12038, "v", PG_MATVIEWS_COLUMNS, _pg_matviews),
    _view(PG_CATALOG, "pg_indexes", 12043, "v", PG_INDEXES_COLUMNS, _pg_indexes),
    _view(PG_CATALOG, "pg_sequences", 12048, "v", PG_SEQUENCES_COLUMNS, _pg_sequences),
    _view(PG_CATALOG, "pg_settings", 12104, "v", PG_SETTINGS_COLUMNS, _pg_settings),
    _view(PG_CATALOG, "pg_stat_activity", 12222, "v", PG_STAT_ACTIVITY_COLUMNS,
          _pg_stat_activity),
    _view(PG_CATALOG, "pg_stat_database", 12266, "v", PG_STAT_DATABASE_COLUMNS,
          _pg_stat_database),
    _view(PG_CATALOG, "pg_stat_all_tables", 12142, "v", PG_STAT_TABLES_COLUMNS,
          _pg_stat_tables(user_only=False)),
    _view(PG_CATALOG, "pg_stat_user_tables", 12161, "v", PG_STAT_TABLES_COLUMNS,
          _pg_stat_tables(user_only=True)),
    _view(INFORMATION_SCHEMA, "tables", 13425, "v", INFORMATION_SCHEMA_TABLES_COLUMNS,
          _information_schema_tables),
    _view(INFORMATION_SCHEMA, "columns", 13295, "v", INFORMATION_SCHEMA_COLUMNS_COLUMNS,
          _information_schema_columns),
    _view(INFORMATION_SCHEMA, "schemata", 13382, "v", INFORMATION_SCHEMA_SCHEMATA_COLUMNS,
          _information_schema_schemata),
    _view(INFORMATION_SCHEMA, "views", 13483, "v", INFORMATION_SCHEMA_VIEWS_COLUMNS,
          _information_schema_views),
    _view(PG_CATALOG, "pg_replication_slots", replication_functions.PG_REPLICATION_SLOTS_OID,
          "v", replication_functions.PG_REPLICATION_SLOTS_COLUMNS,
          replication_functions.pg_replication_slots),
]
VIEWS: dict[tuple[str, str], SystemView] = {(v.schema, v.name): v for v in _VIEW_LIST}
_SCHEMA_OIDS = {PG_CATALOG: cat.PG_CATALOG_NAMESPACE_OID,
                INFORMATION_SCHEMA: cat.INFORMATION_SCHEMA_NAMESPACE_OID}


def virtual_relations() -> list[cat.VirtualRelation]:
    """Every relation served here, as the catalog snapshot lists it in pg_class."""
    return [cat.VirtualRelation(v.oid, v.name, _SCHEMA_OIDS[v.schema], v.kind, v.columns)
            for v in _VIEW_LIST]


def _cached(view: SystemView) -> Producer:
    """The view's rows computed once per statement execution (rescans reuse them)."""
    def produce(ctx: ExecContext) -> list[Row]:
        snapshot = cat.CatalogSnapshot.of(ctx)
        key = f"{view.schema}.{view.name}"
        rows = snapshot.view_rows.get(key)
        if rows is None:
            rows = snapshot.view_rows[key] = view.produce(ctx)
        return rows
    return produce


def lookup(session: Any, name: str, schema: str | None) -> View | None:
    """The view a FROM item names: unqualified names find pg_catalog's (first on the search
    path); information_schema's need their schema."""
    view = VIEWS.get((schema or PG_CATALOG, name))
    if view is None:
        return None
    return [OutputColumn(column, type_oid) for column, type_oid in view.columns], _cached(view)


def register(view: SystemView) -> None:
    """Add a relation served here (modules of more catalogs call it once, at import)."""
    _VIEW_LIST.append(view)
    VIEWS[(view.schema, view.name)] = view


column_spec = _spec
constant_rows = _constant


def catalog_table_oid(name: str, schema: str | None) -> int | None:
    """The catalog's OID, its rows' tableoid (pg_dump matches it against pg_depend.classid);
    None for a view or a name served elsewhere."""
    view = VIEWS.get((schema or PG_CATALOG, name))
    return view.oid if view is not None and view.kind == "r" else None


__all__ = ["VIEWS", "SystemView", "catalog_table_oid", "column_spec", "constant_rows", "lookup",
           "register", "virtual_relations"]


# -- pg_stat_replication (rows from replication/walsender.py) ----------------------------------------

PG_LSN, INTERVAL = T.PG_LSN_OID, T.INTERVAL_OID
PG_STAT_REPLICATION_COLUMNS = _spec("""
    pid:INT4 usesysid:OID usename:NAME application_name:TEXT client_addr:INET
    client_hostname:TEXT client_port:INT4 backend_start:TIMESTAMPTZ backend_xmin:XID state:TEXT
    sent_lsn:PG_LSN write_lsn:PG_LSN flush_lsn:PG_LSN replay_lsn:PG_LSN write_lag:INTERVAL
    flush_lag:INTERVAL replay_lag:INTERVAL sync_priority:INT4 sync_state:TEXT
    reply_time:TIMESTAMPTZ""")


def _pg_stat_replication(ctx: ExecContext) -> list[Row]:
    from mirrordb.replication.walsender import pg_stat_replication_rows
    from mirrordb.storage.datum import Interval
    server = ctx.session.server
    if server is None:
        return []
    snapshot = _snapshot(ctx)
    rows = []
    for row in pg_stat_replication_rows(server, lambda user: snapshot.role_oid(user)
                                        if user else None):
        values = list(row)
        for index in (14, 15, 16):   # write_lag, flush_lag, replay_lag: timedelta -> interval
            lag = values[index]
            if lag is not None:
                values[index] = Interval(0, 0, round(lag.total_seconds() * 1_000_000))
        rows.append(tuple(values))
    return rows


_VIEW_LIST.append(_view(PG_CATALOG, "pg_stat_replication", 12248, "v",
                        PG_STAT_REPLICATION_COLUMNS, _pg_stat_replication))
VIEWS[(PG_CATALOG, "pg_stat_replication")] = _VIEW_LIST[-1]


PG_STAT_WAL_RECEIVER_COLUMNS = _spec("""
    pid:INT4 status:TEXT receive_start_lsn:PG_LSN receive_start_tli:INT4 written_lsn:PG_LSN
    flushed_lsn:PG_LSN received_tli:INT4 last_msg_send_time:TIMESTAMPTZ
    last_msg_receipt_time:TIMESTAMPTZ latest_end_lsn:PG_LSN latest_end_time:TIMESTAMPTZ
    slot_name:TEXT sender_host:TEXT sender_port:INT4 conninfo:TEXT""")


def _pg_stat_wal_receiver(ctx: ExecContext) -> list[Row]:
    from mirrordb.common.lsn import parse_lsn
    from mirrordb.replication.walreceiver import pg_stat_wal_receiver_rows
    server = ctx.session.server
    receiver = getattr(server, "walreceiver", None) if server is not None else None
    lsn_columns = (2, 4, 5, 9)
    rows = []
    for row in pg_stat_wal_receiver_rows(receiver):
        values = list(row)
        for index in lsn_columns:
            if isinstance(values[index], str):
                values[index] = parse_lsn(values[index])
        rows.append(tuple(values))
    return rows


_VIEW_LIST.append(_view(PG_CATALOG, "pg_stat_wal_receiver", 12262, "v",
                        PG_STAT_WAL_RECEIVER_COLUMNS, _pg_stat_wal_receiver))
VIEWS[(PG_CATALOG, "pg_stat_wal_receiver")] = _VIEW_LIST[-1]


# -- pg_stat_archiver (wal/archiver.py's counters) -----------------------------------------------

PG_STAT_ARCHIVER_COLUMNS = _spec("""
    archived_count:INT8 last_archived_wal:TEXT last_archived_time:TIMESTAMPTZ failed_count:INT8
    last_failed_wal:TEXT last_failed_time:TIMESTAMPTZ stats_reset:TIMESTAMPTZ""")


def _pg_stat_archiver(ctx: ExecContext) -> list[Row]:
    return [ctx.session.engine.archiver_statistics.row()]


_VIEW_LIST.append(_view(PG_CATALOG, "pg_stat_archiver", 12285, "v", PG_STAT_ARCHIVER_COLUMNS,
                        _pg_stat_archiver))
VIEWS[(PG_CATALOG, "pg_stat_archiver")] = _VIEW_LIST[-1]


# -- pg_stat_wal (wal/writer.py's counters), pg_stat_bgwriter (recovery/checkpoint.py's) ---------

PG_STAT_WAL_COLUMNS = _spec("""
    wal_records:INT8 wal_fpi:INT8 wal_bytes:NUMERIC wal_buffers_full:INT8 wal_write:INT8
    wal_sync:INT8 wal_write_time:FLOAT8 wal_sync_time:FLOAT8 stats_reset:TIMESTAMPTZ""")
PG_STAT_BGWRITER_COLUMNS = _spec("""
    checkpoints_timed:INT8 checkpoints_req:INT8 checkpoint_write_time:FLOAT8
    checkpoint_sync_time:FLOAT8 buffers_checkpoint:INT8 buffers_clean:INT8
    maxwritten_clean:INT8 buffers_backend:INT8 buffers_backend_fsync:INT8 buffers_alloc:INT8
    stats_reset:TIMESTAMPTZ""")


def _pg_stat_wal(ctx: ExecContext) -> list[Row]:
    row = ctx.session.engine.wal.statistics()
    return [row[:2] + (decimal.Decimal(row[2]),) + row[3:]]


def _pg_stat_bgwriter(ctx: ExecContext) -> list[Row]:
    return [ctx.session.engine.checkpointer.statistics_row()]


_VIEW_LIST.append(_view(PG_CATALOG, "pg_stat_wal", 12290, "v", PG_STAT_WAL_COLUMNS,
                        _pg_stat_wal))
VIEWS[(PG_CATALOG, "pg_stat_wal")] = _VIEW_LIST[-1]
_VIEW_LIST.append(_view(PG_CATALOG, "pg_stat_bgwriter", 12289, "v", PG_STAT_BGWRITER_COLUMNS,
                        _pg_stat_bgwriter))
VIEWS[(PG_CATALOG, "pg_stat_bgwriter")] = _VIEW_LIST[-1]


# -- pg_stat_database_conflicts (counters from recovery/conflicts.py) ------------------------------

PG_STAT_DATABASE_CONFLICTS_COLUMNS = _spec("""
    datid:OID datname:NAME confl_tablespace:INT8 confl_lock:INT8 confl_snapshot:INT8
    confl_bufferpin:INT8 confl_deadlock:INT8""")


def _pg_stat_database_conflicts(ctx: ExecContext) -> list[Row]:
    """One row per database: the recovery conflicts its sessions were cancelled for (counted on
    a standby, when the session acts on the conflict; kept after promotion)."""
    from mirrordb.recovery.conflicts import conflict_statistics
    statistics = conflict_statistics(ctx.session.engine)
    databases = sorted(_snapshot(ctx).databases.values(), key=lambda d: d.oid)
    return [(d.oid, d.name) + statistics.counters(d.name) for d in databases]


_VIEW_LIST.append(_view(PG_CATALOG, "pg_stat_database_conflicts", 12271, "v",
                        PG_STAT_DATABASE_CONFLICTS_COLUMNS, _pg_stat_database_conflicts))
VIEWS[(PG_CATALOG, "pg_stat_database_conflicts")] = _VIEW_LIST[-1]


# -- pg_locks (access/lmgr.py's lock table and the transactions' own locks) ------------------------

PG_LOCKS_COLUMNS = _spec("""
locktype:TEXT database:OID relation:OID page:INT4 tuple:INT2 virtualxid:TEXT transactionid:XID
classid:OID objid:OID objsubid:INT2 virtualtransaction:TEXT pid:INT4 mode:TEXT granted:BOOL
fastpath:BOOL waitstart:TIMESTAMPTZ""")


def _pg_locks(ctx: ExecContext) -> list[Row]:
    """As PostgreSQL shows them: each open transaction's own virtualxid lock and transactionid
    locks (ExclusiveLock), a wait for another transaction as a ShareLock not granted on its xid,
    every held or awaited relation lock (fastpath: the weak modes PostgreSQL would keep in its
    per-backend slots) and advisory lock (classid, objid, objsubid: the key's fields)."""
    from mirrordb.access.lmgr import ADVISORY_TAG_LENGTH, LOCK_MODE_NAMES, WEAK_MODES
    xacts = ctx.session.engine.xacts
    manager = xacts.locks
    rows: list[Row] = []
    for proc in xacts.activity():
        vxid = manager.virtual_transaction(proc)
        rows.append(_lock_row("virtualxid", vxid, proc.pid, "ExclusiveLock", virtualxid=vxid,
                              fastpath=True))
        for xid in [proc.xid, *proc.subxids] if proc.xid else []:
            rows.append(_lock_row("transactionid", vxid, proc.pid, "ExclusiveLock",
                                  transactionid=xid))
    for proc, xid in manager.waiting_for_xid():
        rows.append(_lock_row("transactionid", manager.virtual_transaction(proc), proc.pid,
                              "ShareLock", transactionid=xid, granted=False))
    for status in manager.status():
        waitstart = None if status.wait_start is None else \
            datetime.datetime.fromtimestamp(status.wait_start, datetime.timezone.utc)
        mode = LOCK_MODE_NAMES[status.mode]
        if len(status.tag) == ADVISORY_TAG_LENGTH:
            database, classid, objid, objsubid = status.tag
            rows.append(_lock_row("advisory", status.virtual_transaction, status.pid, mode,
                                  database=database, classid=classid, objid=objid,
                                  objsubid=objsubid, granted=status.granted,
                                  waitstart=waitstart))
            continue
        rows.append(_lock_row("relation", status.virtual_transaction, status.pid, mode,
                              database=status.tag[0], relation=status.tag[1],
                              granted=status.granted,
                              fastpath=status.granted and bool((1 << status.mode) & WEAK_MODES),
                              waitstart=waitstart))
    return rows


def _lock_row(locktype: str, virtual_transaction: str, pid: int, mode: str, *,
              database: int | None = None, relation: int | None = None,
              virtualxid: str | None = None, transactionid: int | None = None,
              classid: int | None = None, objid: int | None = None,
              objsubid: int | None = None, granted: bool = True, fastpath: bool = False,
              waitstart: Any = None) -> Row:
    return (locktype, database, relation, None, None, virtualxid, transactionid, classid, objid,
            objsubid, virtual_transaction, pid, mode, granted, fastpath, waitstart)


_VIEW_LIST.append(_view(PG_CATALOG, "pg_locks", 12073, "v", PG_LOCKS_COLUMNS, _pg_locks))
VIEWS[(PG_CATALOG, "pg_locks")] = _VIEW_LIST[-1]


# -- pg_stat_ssl, pg_stat_gssapi (server/backend.py's connection state) ----------------------------

PG_STAT_SSL_COLUMNS = _spec("""
pid:INT4 ssl:BOOL version:TEXT cipher:TEXT bits:INT4 client_dn:TEXT client_serial:NUMERIC
issuer_dn:TEXT""")
PG_STAT_GSSAPI_COLUMNS = _spec("pid:INT4 gss_authenticated:BOOL principal:TEXT encrypted:BOOL")


def _visible_connections(ctx: ExecContext) -> list[Any]:
    """The client backends and walsenders whose connection this session may see: every one
    for a superuser, its own role's otherwise (PostgreSQL leaves the client port of the others
    NULL, and these views keep only rows with a client port)."""
    server = ctx.session.server
    if server is None:
        return []
    sees_all = _sees_every_session(ctx)
    return [info for info in server.backends() if sees_all or info.user == ctx.session.user]


def _pg_stat_ssl(ctx: ExecContext) -> list[Row]:
    """One row per connection: its TLS version, cipher and bits when encrypted. The server
    asks no client certificate, so client_dn, client_serial and issuer_dn stay NULL."""
    rows: list[Row] = []
    for info in _visible_connections(ctx):
        ssl = info.ssl
        if ssl is None:
            rows.append((info.pid, False, None, None, None, None, None, None))
        else:
            rows.append((info.pid, True, ssl.version, ssl.cipher, ssl.bits, None, None, None))
    return rows


def _pg_stat_gssapi(ctx: ExecContext) -> list[Row]:
    """One row per connection; mirrordb has no GSSAPI, so none is authenticated or encrypted
    by it."""
    return [(info.pid, False, None, False) for info in _visible_connections(ctx)]


# -- pg_stat_progress_basebackup (replication/basebackup_progress.py) --------------------------

PG_STAT_PROGRESS_BASEBACKUP_COLUMNS = _spec("""
pid:INT4 phase:TEXT backup_total:INT8 backup_streamed:INT8 tablespaces_total:INT8
tablespaces_streamed:INT8""")


def _pg_stat_progress_basebackup(ctx: ExecContext) -> list[Row]:
    """One row per walsender running BASE_BACKUP. A session that may not see the walsender's
    role gets the pid alone, as PostgreSQL's pg_stat_get_progress_info hides the counters."""
    server = ctx.session.server
    if server is None:
        return []
    sees_all = _sees_every_session(ctx)
    rows: list[Row] = []
    for info in server.backends():
        progress = info.basebackup_progress
        if progress is None:
            continue
        if sees_all or info.user == ctx.session.user:
            rows.append((info.pid, *progress.values()))
        else:
            rows.append((info.pid, None, None, None, None, None))
    return rows


for _extra_view in (
        _view(PG_CATALOG, "pg_stat_ssl", 12249, "v", PG_STAT_SSL_COLUMNS, _pg_stat_ssl),
        _view(PG_CATALOG, "pg_stat_gssapi", 12253, "v", PG_STAT_GSSAPI_COLUMNS, _pg_stat_gssapi),
        _view(PG_CATALOG, "pg_stat_progress_basebackup", 12317, "v",
              PG_STAT_PROGRESS_BASEBACKUP_COLUMNS, _pg_stat_progress_basebackup)):
    _VIEW_LIST.append(_extra_view)
    VIEWS[(PG_CATALOG, _extra_view.name)] = _extra_view


# The catalogs of functions, languages, operator classes, text search, foreign data... (their
# module registers them here as it is imported).
from mirrordb.sql import object_catalogs  # noqa: E402,F401
