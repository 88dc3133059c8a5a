"""The catalogs of object kinds pg_dump and psql read beyond tables: functions, languages,
operators, operator classes, casts, text search, foreign data, default privileges, event
triggers, subscriptions, large objects, initial privileges and security labels.

Who calls it: nobody directly. sysviews.py imports this module at its end, and the module adds
its catalogs to sysviews' registry (``sysviews.register``), so they are found in FROM, appear in
pg_class and pg_attribute and resolve as regclass names (``'pg_proc'::regclass``), with the
tableoid PostgreSQL gives them.

What the rows are, and why (only what is true of a mirrordb cluster):

* pg_language: PostgreSQL's three built-in languages, internal, c and sql, with their OIDs and
  validators, and plpgsql (sql/plpgsql.py) as PostgreSQL 15's initdb makes it; its OID is
  below FirstNormalObjectId, so pg_dump finds no language to dump.
* pg_opfamily and pg_opclass: the B-tree operator classes mirrordb's indexes use, one per
  indexable type (catalog_functions.DEFAULT_BTREE_OPCLASSES, the OIDs pg_index.indclass shows),
  and their families, with PostgreSQL 15's OIDs and names. All live in pg_catalog.
* pg_proc: the user's functions and procedures, read from the pg_proc heap catalog
  (sql/proc_catalog.py shows them with PostgreSQL's columns); built-in functions are the type
  system's code (sql/functions.py), not rows, and pg_dump and psql's \\df only look for
  functions outside pg_catalog.
* pg_operator, pg_amop, pg_amproc, pg_cast, pg_range, pg_conversion: empty. mirrordb's
  built-in operators and casts are the type system's code (operators.py, types.py), not
  catalog rows, and a cluster holds no user-defined ones; pg_dump and psql's \\do only look
  for objects outside pg_catalog, of which there are none.
* The catalogs of features mirrordb does not have (text search objects, foreign data
  wrappers, servers and user mappings, default privileges, event triggers, transforms,
  subscriptions, large objects, aggregates, enums, security labels, parameter privileges):
  empty, which is the truth for every mirrordb cluster.
* pg_init_privs: the ACL initdb gave each catalog relation that has one, and pg_catalog's and
  public's (sysviews.initial_namespace_acl); pg_dump dumps the difference between an
  object's ACL and its initial one, so it leaves untouched catalogs out and dumps a GRANT
  made on one.
"""

from __future__ import annotations

from mirrordb.catalog import bootstrap as boot
from mirrordb.sql import catalog_functions as cat
from mirrordb.sql import sysviews as sv
from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext, Row

PG_CATALOG = sv.PG_CATALOG
SUPERUSER_OID = boot.BOOTSTRAP_SUPERUSER_OID
BTREE = cat.BTREE_ACCESS_METHOD_OID

# -- pg_language: PostgreSQL's built-in languages (oid, name, trusted, validator's pg_proc OID) --

LANGUAGES: tuple[tuple[int, str, bool, int], ...] = (
    (12, "internal", False, 2246), (13, "c", False, 2247), (14, "sql", True, 2248))


# plpgsql (sql/plpgsql.py), with the OIDs PostgreSQL 15's initdb gives it and its handler,
# inline handler and validator; below FirstNormalObjectId, so pg_dump does not dump it.
PLPGSQL_LANGUAGE = (13563, "plpgsql", SUPERUSER_OID, True, True, 13560, 13561, 13562, None)


def _pg_language_rows() -> list[Row]:
    return [(oid, name, SUPERUSER_OID, False, trusted, 0, 0, validator, None)
            for oid, name, trusted, validator in LANGUAGES] + [PLPGSQL_LANGUAGE]


# -- pg_opfamily, pg_opclass: the B-tree operator classes of indexable types ---------------------

# opclass OID -> (opcname, opcfamily, opcintype, opckeytype), from PostgreSQL 15's pg_opclass.
BTREE_OPERATOR_CLASSES: dict[int, tuple[str, int, int, int]] = {
    1978: ("int4_ops", 1976, 23, 0), 1979: ("int2_ops", 1976, 21, 0),
    1981: ("oid_ops", 1989, 26, 0), 3122: ("date_ops", 434, 1082, 0),
    3123: ("float8_ops", 1970, 701, 0), 3124: ("int8_ops", 1976, 20, 0),
    3125: ("numeric_ops", 1988, 1700, 0), 3126: ("text_ops", 1994, 25, 0),
    3127: ("timestamptz_ops", 434, 1184, 0), 3128: ("timestamp_ops", 434, 1114, 0),
    10003: ("bool_ops", 424, 16, 0), 10004: ("bpchar_ops", 426, 1042, 0),
    10006: ("bytea_ops", 428, 17, 0), 10007: ("char_ops", 429, 18, 0),
    10012: ("float4_ops", 1970, 700, 0), 10022: ("interval_ops", 1982, 1186, 0),
    10028: ("name_ops", 1994, 19, T.CSTRING_OID), 10032: ("oidvector_ops", 1991, 30, 0),
    10038: ("time_ops", 1996, 1083, 0), 10065: ("uuid_ops", 2968, 2950, 0),
    10067: ("pg_lsn_ops", 3253, 3220, 0), 10088: ("jsonb_ops", 4033, 3802, 0)}
# opfamily OID -> opfname
BTREE_OPERATOR_FAMILIES: dict[int, str] = {
    424: "bool_ops", 426: "bpchar_ops", 428: "bytea_ops", 429: "char_ops", 434: "datetime_ops",
    1970: "float_ops", 1976: "integer_ops", 1982: "interval_ops", 1988: "numeric_ops",
    1989: "oid_ops", 1991: "oidvector_ops", 1994: "text_ops", 1996: "time_ops",
    2968: "uuid_ops", 3253: "pg_lsn_ops", 4033: "jsonb_ops"}


def _pg_opclass_rows() -> list[Row]:
    return [(oid, BTREE, name, cat.PG_CATALOG_NAMESPACE_OID, SUPERUSER_OID, family, input_type,
             True, key_type)
            for oid, (name, family, input_type, key_type) in sorted(BTREE_OPERATOR_CLASSES.items())]


def _pg_opfamily_rows() -> list[Row]:
    return [(oid, BTREE, name, cat.PG_CATALOG_NAMESPACE_OID, SUPERUSER_OID)
            for oid, name in sorted(BTREE_OPERATOR_FAMILIES.items())]


# -- the catalogs: (name, OID, PostgreSQL 15's columns, rows) ----------------------------------

PG_PROC = ("pg_proc", boot.PG_PROC_OID, """
oid:OID proname:NAME pronamespace:OID proowner:OID prolang:OID procost:FLOAT4 prorows:FLOAT4
provariadic:OID prosupport:REGPROC prokind:CHAR prosecdef:BOOL proleakproof:BOOL
proisstrict:BOOL proretset:BOOL provolatile:CHAR proparallel:CHAR pronargs:INT2
pronargdefaults:INT2 prorettype:OID proargtypes:OIDVECTOR proallargtypes:OID_ARRAY
proargmodes:CHAR_ARRAY proargnames:TEXT_ARRAY proargdefaults:NODE_TREE protrftypes:OID_ARRAY
prosrc:TEXT probin:TEXT prosqlbody:NODE_TREE proconfig:TEXT_ARRAY proacl:ACL_ARRAY""")


def _pg_proc(ctx: ExecContext) -> list[Row]:
    """The user's functions and procedures (sql/proc_catalog.py), read with the statement's
    snapshot."""
    from mirrordb.sql import proc_catalog
    snapshot = cat.CatalogSnapshot.of(ctx)
    columns = [column.name for column in boot.PG_PROC.columns]
    return [proc_catalog.pg_proc_row(proc_catalog.from_values([record[c] for c in columns]))
            for record in snapshot._read(boot.PG_PROC)]


_CATALOGS: tuple[tuple[str, int, str, list[Row]], ...] = (
    ("pg_language", 2612, """
oid:OID lanname:NAME lanowner:OID lanispl:BOOL lanpltrusted:BOOL lanplcallfoid:OID
laninline:OID lanvalidator:OID lanacl:ACL_ARRAY""", _pg_language_rows()),
    ("pg_operator", 2617, """
oid:OID oprname:NAME oprnamespace:OID oprowner:OID oprkind:CHAR oprcanmerge:BOOL
oprcanhash:BOOL oprleft:OID oprright:OID oprresult:OID oprcom:OID oprnegate:OID
oprcode:REGPROC oprrest:REGPROC oprjoin:REGPROC""", []),
    ("pg_opclass", 2616, """
oid:OID opcmethod:OID opcname:NAME opcnamespace:OID opcowner:OID opcfamily:OID opcintype:OID
opcdefault:BOOL opckeytype:OID""", _pg_opclass_rows()),
    ("pg_opfamily", 2753, """
oid:OID opfmethod:OID opfname:NAME opfnamespace:OID opfowner:OID""", _pg_opfamily_rows()),
    ("pg_amop", 2602, """
oid:OID amopfamily:OID amoplefttype:OID amoprighttype:OID amopstrategy:INT2 amoppurpose:CHAR
amopopr:OID amopmethod:OID amopsortfamily:OID""", []),
    ("pg_amproc", 2603, """
oid:OID amprocfamily:OID amproclefttype:OID amprocrighttype:OID amprocnum:INT2
amproc:REGPROC""", []),
    ("pg_cast", 2605, """
oid:OID castsource:OID casttarget:OID castfunc:OID castcontext:CHAR castmethod:CHAR""", []),
    ("pg_range", 3541, """
rngtypid:OID rngsubtype:OID rngmultitypid:OID rngcollation:OID rngsubopc:OID
rngcanonical:REGPROC rngsubdiff:REGPROC""", []),
    ("pg_conversion", 2607, """
oid:OID conname:NAME connamespace:OID conowner:OID conforencoding:INT4 contoencoding:INT4
conproc:REGPROC condefault:BOOL""", []),
    ("pg_transform", 3576, """
oid:OID trftype:OID trflang:OID trffromsql:REGPROC trftosql:REGPROC""", []),
    ("pg_ts_parser", 3601, """
oid:OID prsname:NAME prsnamespace:OID prsstart:REGPROC prstoken:REGPROC prsend:REGPROC
prsheadline:REGPROC prslextype:REGPROC""", []),
    ("pg_ts_template", 3764, """
oid:OID tmplname:NAME tmplnamespace:OID tmplinit:REGPROC tmpllexize:REGPROC""", []),
    ("pg_ts_dict", 3600, """
oid:OID dictname:NAME dictnamespace:OID dictowner:OID dicttemplate:OID
dictinitoption:TEXT""", []),
    ("pg_ts_config", 3602, """
oid:OID cfgname:NAME cfgnamespace:OID cfgowner:OID cfgparser:OID""", []),
    ("pg_foreign_data_wrapper", 2328, """
oid:OID fdwname:NAME fdwowner:OID fdwhandler:OID fdwvalidator:OID fdwacl:ACL_ARRAY
fdwoptions:TEXT_ARRAY""", []),
    ("pg_foreign_server", 1417, """
oid:OID srvname:NAME srvowner:OID srvfdw:OID srvtype:TEXT srvversion:TEXT srvacl:ACL_ARRAY
srvoptions:TEXT_ARRAY""", []),
    ("pg_user_mapping", 1418, "oid:OID umuser:OID umserver:OID umoptions:TEXT_ARRAY", []),
    ("pg_default_acl", 826, """
oid:OID defaclrole:OID defaclnamespace:OID defaclobjtype:CHAR defaclacl:ACL_ARRAY""", []),
    ("pg_event_trigger", 3466, """
oid:OID evtname:NAME evtevent:NAME evtowner:OID evtfoid:OID evtenabled:CHAR
evttags:TEXT_ARRAY""", []),
    ("pg_subscription", 6100, """
oid:OID subdbid:OID subskiplsn:PG_LSN subname:NAME subowner:OID subenabled:BOOL
subbinary:BOOL substream:BOOL subtwophasestate:CHAR subdisableonerr:BOOL subconninfo:TEXT
subslotname:NAME subsynccommit:TEXT subpublications:TEXT_ARRAY""", []),
    ("pg_largeobject_metadata", 2995, "oid:OID lomowner:OID lomacl:ACL_ARRAY", []),
    ("pg_aggregate", 2600, """
aggfnoid:REGPROC aggkind:CHAR aggnumdirectargs:INT2 aggtransfn:REGPROC aggfinalfn:REGPROC
aggcombinefn:REGPROC aggserialfn:REGPROC aggdeserialfn:REGPROC aggmtransfn:REGPROC
aggminvtransfn:REGPROC aggmfinalfn:REGPROC aggfinalextra:BOOL aggmfinalextra:BOOL
aggfinalmodify:CHAR aggmfinalmodify:CHAR aggsortop:OID aggtranstype:OID aggtransspace:INT4
aggmtranstype:OID aggmtransspace:INT4 agginitval:TEXT aggminitval:TEXT""", []),
    ("pg_seclabel", 3596, """
objoid:OID classoid:OID objsubid:INT4 provider:TEXT label:TEXT""", []),
    ("pg_shseclabel", 3592, "objoid:OID classoid:OID provider:TEXT label:TEXT", []),
    ("pg_parameter_acl", 6243, "oid:OID parname:TEXT paracl:ACL_ARRAY", []),
)

# -- pg_init_privs: the privileges initdb gave the system catalogs ------------------------------

PG_INIT_PRIVS = ("pg_init_privs", 3394, """
objoid:OID classoid:OID objsubid:INT4 privtype:CHAR initprivs:ACL_ARRAY""")
PRIVTYPE_INITDB = "i"


def _pg_init_privs(ctx: ExecContext) -> list[Row]:
    """One row per catalog relation initdb gave an ACL (roles.catalog_acl: what it is right
    after initdb, whatever GRANT and REVOKE did since), so pg_dump dumps only the changes."""
    from mirrordb.sql import roles
    snapshot = cat.CatalogSnapshot.of(ctx)
    superuser = snapshot.roles.get(SUPERUSER_OID)
    if superuser is None:
        return []
    rows: list[Row] = [
        (entry.oid, boot.PG_CLASS_OID, 0, PRIVTYPE_INITDB,
         T.parse_text(T.TEXT_ARRAY_OID, roles.catalog_acl(superuser.name, entry.name)))
        for entry in sorted(snapshot.classes.values(), key=lambda e: e.oid)
        if entry.acl is not None and entry.oid < boot.FIRST_NORMAL_OBJECT_ID]
    for namespace_oid in (cat.PG_CATALOG_NAMESPACE_OID, cat.PUBLIC_NAMESPACE_OID):
        rows.append((namespace_oid, boot.PG_NAMESPACE_OID, 0, PRIVTYPE_INITDB,
                     sv.initial_namespace_acl(namespace_oid, superuser.name)))
    return rows


# The view over pg_seclabel and pg_shseclabel (both empty, so it is too).
PG_SECLABELS = ("pg_seclabels", 12099, """
objoid:OID classoid:OID objsubid:INT4 objtype:TEXT objnamespace:OID objname:TEXT provider:TEXT
label:TEXT""")


def _register() -> None:
    for name, oid, columns, rows in _CATALOGS:
        sv.register(sv.SystemView(PG_CATALOG, name, oid, "r", sv.column_spec(columns),
                                  sv.constant_rows(rows)))
    name, oid, columns = PG_PROC
    sv.register(sv.SystemView(PG_CATALOG, name, oid, "r", sv.column_spec(columns), _pg_proc))
    name, oid, columns = PG_INIT_PRIVS
    sv.register(sv.SystemView(PG_CATALOG, name, oid, "r", sv.column_spec(columns),
                              _pg_init_privs))
    name, oid, columns = PG_SECLABELS
    sv.register(sv.SystemView(PG_CATALOG, name, oid, "v", sv.column_spec(columns),
                              sv.constant_rows([])))


_register()
