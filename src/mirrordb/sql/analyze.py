"""ANALYZE: per-column statistics in pg_statistic, pg_class's relpages/reltuples, pg_stats.

Who calls it: sql/ddl.py ``vacuum`` (ANALYZE [VERBOSE] [table [(columns)]], VACUUM ANALYZE);
sysviews.py's pg_stats view calls ``pg_stats_rows``. The other halves: catalog/relstats.py
overwrites the pg_class row in place, access/pgstat.py keeps last_analyze and analyze_count.

As PostgreSQL's analyze.c: the table is locked ShareUpdateExclusive; up to 300 times the
statistics target (default_statistics_target) live rows are sampled (every
row of a smaller table, so the figures are then exact, and a random sample in physical order
of a larger one); each column's statistics are computed as compute_scalar_stats computes them
for a type with an ordering (null fraction, average stored width, n_distinct by the
Haas-Stokes estimator, the most common values kept by analyze_mcv_list's test, an equi-depth
histogram of the rest, the physical-order correlation), and for a type without one only the
first three. The rows of pg_statistic are replaced transactionally (PostgreSQL updates them);
relpages and reltuples of the table and its indexes are overwritten in place.

pg_statistic's stanumbersN (float4[]) and stavaluesN (anyarray in PostgreSQL) are stored as
their text forms; pg_stats shows stavalues as anyarray text, as PostgreSQL prints it.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import (EXPRESSION_COLUMN, RELKIND_TABLE, RELPERSISTENCE_TEMP,
                                      IndexInfo, Relation)
from mirrordb.catalog import bootstrap as boot
from mirrordb.catalog import relstats
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import partitioning
from mirrordb.sql import types as T
from mirrordb.storage import datum
from mirrordb.storage.numeric_format import encode_numeric

WIDTH_THRESHOLD = 1024             # wider values are left out of the sort, as PostgreSQL's
STATISTIC_KIND_MCV = 1
STATISTIC_KIND_HISTOGRAM = 2
STATISTIC_KIND_CORRELATION = 3
DEFAULT_COLLATION_OID = 100
RELKIND_MATVIEW = "m"
_COLLATABLE = {T.TEXT_OID, T.VARCHAR_OID, T.BPCHAR_OID, T.NAME_OID}

# (=, <) operator OIDs of the common types (pg_statistic.staopN), PostgreSQL 15's.
_OPERATORS: dict[int, tuple[int, int]] = {
    T.BOOL_OID: (91, 58), T.INT2_OID: (94, 95), T.INT4_OID: (96, 97), T.INT8_OID: (410, 412),
    T.TEXT_OID: (98, 664), T.FLOAT4_OID: (620, 622), T.FLOAT8_OID: (670, 672),
    T.NUMERIC_OID: (1752, 1754), T.DATE_OID: (1093, 1095), T.BPCHAR_OID: (1054, 1058),
    T.VARCHAR_OID: (98, 664), T.TIMESTAMP_OID: (2060, 2062),
    T.TIMESTAMPTZ_OID: (1320, 1322), T.OID_OID: (607, 609), T.NAME_OID: (93, 660),
}


@dataclass
class Slot:
    kind: int
    operator: int
    collation: int
    numbers: list[float] | None = None
    values: list[Any] | None = None


@dataclass
class ColumnStats:
    attnum: int
    null_frac: float
    width: int
    n_distinct: float
    slots: list[Slot] = field(default_factory=list)


# -- the statement -------------------------------------------------------------------------------


def analyze_targets(session: Any, node: dict[str, Any]) -> list[tuple[Relation, list[str]]]:
    """The tables ANALYZE names (with their column lists), or every table of the database."""
    txn = session._ensure_transaction()
    targets = []
    for item in node.get("rels", []):
        rel = item["VacuumRelation"]
        ref = rel["relation"]
        relation = session.lookup_relation(ref["relname"], ref.get("schemaname"),
                                           LockMode.SHARE_UPDATE_EXCLUSIVE)
        if relation is None:
            raise MirrordbError(f'relation "{ref["relname"]}" does not exist',
                                sqlstate="42P01")
        columns = [c["String"]["sval"] for c in rel.get("va_cols", [])]
        targets.append((relation, columns))
    if not node.get("rels"):
        for oid in session.engine.table_oids():
            relation = txn.engine.relcache.lookup_oid(oid, txn.transaction)
            if relation is not None and relation.oid >= boot.FIRST_NORMAL_OBJECT_ID \
                    and not another_sessions_temp(session, relation):
                txn.lock_relation(relation.oid, LockMode.SHARE_UPDATE_EXCLUSIVE)
                targets.append((relation, []))
    return targets


def another_sessions_temp(session: Any, relation: Relation) -> bool:
    """A temporary table of another session: ANALYZE, CLUSTER and VACUUM FULL of the whole
    database pass over it, as PostgreSQL's do (its pages are that session's alone)."""
    from mirrordb.sql import temp_tables
    return relation.persistence == RELPERSISTENCE_TEMP and \
        relation.namespace_oid != temp_tables.namespace_oid(session)


def analyze(session: Any, node: dict[str, Any], verbose: bool) -> list[tuple[str, str]]:
    """ANALYZE the tables ``node`` (a VacuumStmt) names; returns its notices."""
    notices: list[tuple[str, str]] = []
    for relation, columns in analyze_targets(session, node):
        if not _may_analyze(session, relation):
            notices.append(("WARNING", f'skipping "{relation.name}" --- only table or '
                                       "database owner can analyze it"))
            continue
        if partitioning.is_partitioned(relation):
            # its leaf partitions when named (the whole database reaches them by themselves);
            # PostgreSQL also keeps statistics of the tree as a whole, which mirrordb does not
            if node.get("rels"):
                txn = session._ensure_transaction()
                for leaf in partitioning.tree(txn, relation).leaves():
                    notices += analyze_relation(session, leaf, columns, verbose)
            continue
        if relation.kind not in (RELKIND_TABLE, RELKIND_MATVIEW):
            notices.append(("WARNING", f'skipping "{relation.name}" --- cannot analyze '
                                       "non-tables or special system tables"))
            continue
        notices += analyze_relation(session, relation, columns, verbose)
    return notices


def _may_analyze(session: Any, relation: Relation) -> bool:
    """The table's owner (or a superuser) may analyze it; PostgreSQL also lets the database's
    owner, which mirrordb does not check."""
    from mirrordb.sql import roles
    try:
        roles.check_table_ownership(session, relation)
    except MirrordbError:
        return False
    return True


def _attnums(relation: Relation, columns: Sequence[str]) -> list[int]:
    if not columns:
        return list(range(1, len(relation.columns) + 1))
    names = [c.name for c in relation.columns]
    attnums = []
    for name in columns:
        if name not in names:
            raise MirrordbError(f'column "{name}" of relation "{relation.name}" does not exist',
                                sqlstate="42703")
        if names.index(name) + 1 in attnums:
            raise MirrordbError(f'column "{name}" of relation "{relation.name}" appears more '
                                "than once", sqlstate="42701")
        attnums.append(names.index(name) + 1)
    return attnums


def analyze_relation(session: Any, relation: Relation, columns: Sequence[str],
                     verbose: bool) -> list[tuple[str, str]]:
    """Sample ``relation``, store its columns' statistics, update its pg_class rows."""
    attnums = _attnums(relation, columns)
    txn = session._ensure_transaction()
    engine = txn.engine
    target = int(session.settings.get("default_statistics_target"))
    rows = [values for _, values in txn.scan(relation)]
    live = len(rows)
    sample = _sample(rows, 300 * target)
    stats = [compute_stats(relation, attnum, [row[attnum - 1] for row in sample], live,
                           target=target)
             for attnum in attnums]
    with maintenance_writes(txn):
        store_statistics(txn, relation.oid, stats)
        if not columns:
            for info in relation.indexes:
                _analyze_expressions(txn, info, sample, live, target)
    pages = relstats.nblocks(engine, relation)
    relstats.update_class_stats(engine, relation.oid, txn.transaction, pages=pages,
                                tuples=live, allvisible=_all_visible(engine, relation, txn))
    _update_index_stats(txn, relation, sample, live)
    dead = relstats.dead_versions(engine, relation)
    table_stats = getattr(engine, "table_stats", None)
    if table_stats is not None:
        table_stats.report_analyze(relation.oid, live, dead,
                                   datetime.datetime.now(datetime.UTC))
    if not verbose:
        return []
    return [("INFO", f'analyzing "{_schema_name(session, relation)}.{relation.name}"'),
            ("INFO", f'"{relation.name}": scanned {pages} of {pages} pages, containing '
                     f"{live} live rows and {dead} dead rows; {len(sample)} rows in sample, "
                     f"{live} estimated total rows")]


def _update_index_stats(txn: Any, relation: Relation, sample: list[tuple[object, ...]],
                        live: int) -> None:
    """Each index's relpages and reltuples: the table's rows, a partial index's share of
    them as the sample shows it (do_analyze_rel's tupleFract)."""
    engine = txn.engine
    for info in relation.indexes:
        fraction = (sum(1 for row in sample if info.key_of(row) is not None) / len(sample)
                    if sample and info.predicate is not None else 1.0)
        relstats.update_class_stats(engine, info.relation.oid, txn.transaction,
                                    pages=relstats.nblocks(engine, info.relation),
                                    tuples=math.ceil(fraction * live))


@contextlib.contextmanager
def maintenance_writes(txn: Any) -> Iterator[None]:
    """Let ANALYZE and CLUSTER write in a read-only transaction, as PostgreSQL does (they
    change no row a query sees; REINDEX does the same, engine.py ``_reindex``)."""
    transaction = txn.transaction
    read_only, transaction.read_only = transaction.read_only, False
    try:
        yield
    finally:
        transaction.read_only = read_only


def _analyze_expressions(txn: Any, info: IndexInfo, sample: list[tuple[object, ...]],
                         live: int, target: int) -> None:
    """An expression index's expression columns get statistics of their own, under the
    index's OID and column numbers (PostgreSQL's compute_index_stats: the sampled rows its
    predicate admits, the table's count scaled by their share)."""
    positions = [pos for pos, column in enumerate(info.key_columns)
                 if column == EXPRESSION_COLUMN]
    if not positions or not sample:
        return
    keys = [key for key in map(info.key_of, sample) if key is not None]
    total = math.ceil(len(keys) / len(sample) * live)
    stats = [compute_stats(info.relation, pos + 1, [key[pos] for key in keys], total, True,
                           target) for pos in positions]
    store_statistics(txn, info.relation.oid, stats)


def _all_visible(engine: Any, relation: Relation, txn: Any) -> int:
    """relallvisible as ANALYZE reads it from the visibility map, which mirrordb lacks: the
    pages the last VACUUM left all-visible (the stored count) that still are."""
    stored = relstats.class_stats(engine, relation.oid, txn.transaction)
    if stored is None or stored[2] == 0:
        return 0
    horizon = engine.xacts.oldest_xmin()
    return min(stored[2], relstats.all_visible_pages(engine, relation, horizon))


def _schema_name(session: Any, relation: Relation) -> str:
    from mirrordb.sql import schemas
    return str(schemas.namespace_name(session, relation.namespace_oid))


def _sample(rows: list[tuple[object, ...]], target: int) -> list[tuple[object, ...]]:
    """Every row when there are at most ``target``, else ``target`` of them at random, kept
    in physical order (the correlation is measured in that order)."""
    if len(rows) <= target:
        return rows
    chosen = sorted(random.sample(range(len(rows)), target))
    return [rows[i] for i in chosen]


# -- per-column statistics (analyze.c's compute_scalar_stats) ------------------------------------


def compute_stats(relation: Relation, attnum: int, values: list[object], total_rows: int,
                  computed: bool = False, target: int = 100) -> ColumnStats:
    """One column's statistics; ``computed``: the values are an index expression's results,
    whose varlena datums have 4-byte headers (stored ones are packed); ``target``: the
    statistics target (most common values and histogram bounds kept)."""
    column = relation.columns[attnum - 1]
    storage_oid = relation.codec.type_oids[attnum - 1]
    codec = datum.RowCodec((storage_oid,))
    sample_rows = len(values)
    nonnull = [v for v in values if v is not None]
    null_cnt = sample_rows - len(nonnull)
    typlen = T.TYPES[storage_oid].length if storage_oid in T.TYPES else -1
    varwidth = typlen < 0
    widths = [_stored_width(codec, storage_oid, v) for v in nonnull]
    if computed and varwidth:
        widths = [width + 3 if width <= 127 else width for width in widths]
    if not sample_rows:
        return ColumnStats(attnum, 0.0, 0, 0.0)
    null_frac = null_cnt / sample_rows
    if not nonnull:
        return ColumnStats(attnum, 1.0, 0 if varwidth else typlen, 0.0)
    width = int(sum(widths) / len(nonnull)) if varwidth else widths[0]
    kept = [(v, i) for i, (v, w) in enumerate(zip(nonnull, widths)) if w <= WIDTH_THRESHOLD]
    toowide = len(nonnull) - len(kept)
    if column.type_oid == T.JSON_OID:       # no equality, no ordering: compute_trivial_stats
        return ColumnStats(attnum, null_frac, width, 0.0)
    try:
        ordered = sorted(kept, key=lambda pair: (_sort_key(pair[0]), pair[1]))
    except TypeError:                       # no ordering mirrordb knows: as trivial stats
        return ColumnStats(attnum, null_frac, width, 0.0)
    if not ordered:
        return ColumnStats(attnum, null_frac, width, -1.0 * (1.0 - null_frac))
    return _scalar_stats(column.type_oid, attnum, ordered, null_frac, width, toowide,
                         sample_rows, total_rows, target)


def _stored_width(codec: datum.RowCodec, storage_oid: int, value: object) -> int:
    """The bytes PostgreSQL would store for ``value`` (VARSIZE_ANY, or typlen): mirrordb's own
    bytes, except numeric's, which mirrordb keeps as text and PostgreSQL in base 10000."""
    if storage_oid == T.NUMERIC_OID:
        length = len(encode_numeric(value))    # type: ignore[arg-type]
        return length + (1 if length + 1 <= 127 else 4)
    return len(codec.encode([value])[0])


def _sort_key(value: object) -> object:
    """The value as the type's btree ordering compares it: NaN above every number, intervals
    by their span (a month is 30 days, so '1 mon' equals '30 days')."""
    if isinstance(value, (float, decimal.Decimal)):
        return (1, 0) if value != value else (0, value)
    if isinstance(value, datum.Interval):
        return value.span_microseconds()
    return value


def _scalar_stats(type_oid: int, attnum: int, ordered: list[tuple[object, int]],
                  null_frac: float, width: int, toowide: int, sample_rows: int,
                  total_rows: int, target: int) -> ColumnStats:
    groups = _groups(ordered)                  # (value, count) in sort order
    ndistinct = len(groups)
    nmultiple = sum(1 for _, count in groups if count > 1)
    n_distinct = _n_distinct(ndistinct, nmultiple, toowide, null_frac, ordered, sample_rows,
                             total_rows)
    stats = ColumnStats(attnum, null_frac, width, n_distinct)
    equal, less = _OPERATORS.get(type_oid, (0, 0))
    collation = DEFAULT_COLLATION_OID if type_oid in _COLLATABLE else 0
    track = _track(groups, target)
    num_mcv = target
    if len(track) == ndistinct and toowide == 0 and n_distinct > 0 and len(track) <= num_mcv:
        num_mcv = len(track)
    else:
        num_mcv = min(num_mcv, len(track))
        if num_mcv > 0:
            num_mcv = analyze_mcv_list([count for _, count in track], num_mcv, n_distinct,
                                       null_frac, sample_rows, total_rows)
    mcv = track[:num_mcv]
    if mcv:
        stats.slots.append(Slot(STATISTIC_KIND_MCV, equal, collation,
                                [count / sample_rows for _, count in mcv],
                                [value for value, _ in mcv]))
    histogram = _histogram(ordered, mcv, ndistinct - num_mcv, target)
    if histogram:
        stats.slots.append(Slot(STATISTIC_KIND_HISTOGRAM, less, collation, None, histogram))
    if len(ordered) > 1:
        stats.slots.append(Slot(STATISTIC_KIND_CORRELATION, less, collation,
                                [_correlation(ordered)], None))
    return stats


def _groups(ordered: list[tuple[object, int]]) -> list[tuple[object, int]]:
    """(first value, count) of each run of equal values (equal by ``_sort_key``)."""
    groups: list[tuple[object, int]] = []
    last: object = None
    for value, _ in ordered:
        key = _sort_key(value)
        if groups and last == key:
            groups[-1] = (groups[-1][0], groups[-1][1] + 1)
        else:
            groups.append((value, 1))
            last = key
    return groups


def _track(groups: list[tuple[object, int]], limit: int) -> list[tuple[object, int]]:
    """The values seen more than once, most frequent first (ties: the lower value first),
    at most ``limit``, as compute_scalar_stats keeps its track array."""
    multiple = [(index, value, count) for index, (value, count) in enumerate(groups)
                if count > 1]
    multiple.sort(key=lambda item: (-item[2], item[0]))
    return [(value, count) for _, value, count in multiple[:limit]]


def _n_distinct(ndistinct: int, nmultiple: int, toowide: int, null_frac: float,
                ordered: list[tuple[object, int]], sample_rows: int, total_rows: int) -> float:
    if nmultiple == 0:
        return -1.0 * (1.0 - null_frac)
    if toowide == 0 and nmultiple == ndistinct:
        estimate = float(ndistinct)
    else:
        f1 = ndistinct - nmultiple
        d = f1 + nmultiple
        n = len(ordered) + toowide
        big_n = total_rows * (1.0 - null_frac)
        estimate = (n * d) / ((n - f1) + f1 * n / big_n) if big_n > 0 else 0.0
        estimate = min(max(estimate, d), big_n)
        estimate = math.floor(estimate + 0.5)
    if estimate > 0.1 * total_rows:
        return -(estimate / total_rows)
    return estimate


def analyze_mcv_list(counts: list[int], num_mcv: int, n_distinct: float, null_frac: float,
                     sample_rows: int, total_rows: int) -> int:
    """How many of the most common values to keep: all when the whole table was sampled,
    else those significantly more common than the rest (analyze.c's test)."""
    if sample_rows == total_rows or total_rows <= 1.0:
        return num_mcv
    n, big_n = float(sample_rows), float(total_rows)
    ndistinct = -n_distinct * big_n if n_distinct < 0 else n_distinct
    sumcount = float(sum(counts[:num_mcv - 1]))
    while num_mcv > 0:
        selec = min(max(1.0 - sumcount / sample_rows - null_frac, 0.0), 1.0)
        other = ndistinct - (num_mcv - 1)
        if other > 1:
            selec /= other
        k = big_n * counts[num_mcv - 1] / n
        variance = n * k * (big_n - k) * (big_n - n) / (big_n * big_n * (big_n - 1))
        if counts[num_mcv - 1] > selec * sample_rows + 2 * math.sqrt(variance) + 0.5:
            break
        num_mcv -= 1
        if num_mcv == 0:
            break
        sumcount -= counts[num_mcv - 1]
    return num_mcv


def _histogram(ordered: list[tuple[object, int]], mcv: list[tuple[object, int]],
               num_hist: int, num_bins: int) -> list[object]:
    if num_hist > num_bins:
        num_hist = num_bins + 1
    if num_hist < 2:
        return []
    common = [_sort_key(value) for value, _ in mcv]
    values = [value for value, _ in ordered if _sort_key(value) not in common]
    nvals = len(values)
    delta, deltafrac = divmod(nvals - 1, num_hist - 1)
    pos = posfrac = 0
    bounds = []
    for _ in range(num_hist):
        bounds.append(values[pos])
        pos += delta
        posfrac += deltafrac
        if posfrac >= num_hist - 1:
            pos += 1
            posfrac -= num_hist - 1
    return bounds


def _correlation(ordered: list[tuple[object, int]]) -> float:
    count = float(len(ordered))
    xysum = sum(float(i) * float(tupno) for i, (_, tupno) in enumerate(ordered))
    xsum = (count - 1) * count / 2.0
    x2sum = (count - 1) * count * (2 * count - 1) / 6.0
    return (count * xysum - xsum * xsum) / (count * x2sum - xsum * xsum)


# -- pg_statistic ----------------------------------------------------------------------------------


def store_statistics(txn: Any, relid: int, stats: list[ColumnStats]) -> None:
    """Replace the pg_statistic rows of ``relid``'s analyzed columns."""
    attnums = {s.attnum for s in stats}
    txn._delete_catalog_rows(boot.PG_STATISTIC,
                             lambda v: v[0] == relid and v[1] in attnums and not v[2])
    relation = txn.relation(relid)
    for column_stats in stats:
        txn._insert_catalog(boot.PG_STATISTIC, statistic_row(relation, relid, column_stats))


def statistic_row(relation: Relation, relid: int, stats: ColumnStats) -> list[object]:
    slots = stats.slots + [Slot(0, 0, 0)] * (5 - len(stats.slots))
    type_oid = relation.columns[stats.attnum - 1].type_oid
    return [relid, stats.attnum, False, stats.null_frac, stats.width, stats.n_distinct,
            *[s.kind for s in slots], *[s.operator for s in slots],
            *[s.collation for s in slots],
            *[None if s.numbers is None else T.format_text(T.FLOAT4_ARRAY_OID, s.numbers)
              for s in slots],
            *[None if s.values is None else _values_text(type_oid, s.values)
              for s in slots]]


def _values_text(type_oid: int, values: list[Any]) -> str:
    """stavalues as array_out prints it, each element by the column type's output function
    (an array column's values are arrays: their text is quoted as one element)."""
    return "{" + ",".join(T.quote_array_element(T.format_text(type_oid, value))
                          for value in values) + "}"


# -- pg_stats ------------------------------------------------------------------------------------


def readable(session: Any) -> Callable[[int], bool]:
    """Whether the session's role may SELECT from relation ``oid`` (pg_stats shows only
    those; PostgreSQL asks per column, mirrordb per relation)."""
    from mirrordb.sql import roles

    def check(oid: int) -> bool:
        relation = session.engine.relcache.lookup_oid(oid, None)
        if relation is None:
            return False
        try:
            roles.check_table_privilege(session, relation, "SELECT")
        except MirrordbError:
            return False
        return True
    return check


def pg_stats_rows(snapshot: Any, statistic_rows: list[dict[str, Any]],
                  readable: Callable[[int], bool]) -> list[tuple[Any, ...]]:
    """pg_stats: one row per pg_statistic row whose relation and column the catalog snapshot
    shows and the role may read."""
    rows = []
    for record in statistic_rows:
        entry = snapshot.classes.get(int(record["starelid"]))
        if entry is None or not readable(entry.oid):
            continue
        attname = _attname(snapshot, entry.oid, int(record["staattnum"]))
        if attname is None:
            continue
        slots = {int(record[f"stakind{n}"]): n for n in range(5, 0, -1)
                 if record[f"stakind{n}"]}
        mcv, hist, corr = (slots.get(STATISTIC_KIND_MCV), slots.get(STATISTIC_KIND_HISTOGRAM),
                           slots.get(STATISTIC_KIND_CORRELATION))
        rows.append((snapshot.namespace_name(entry.namespace_oid), entry.name, attname,
                     bool(record["stainherit"]), record["stanullfrac"], record["stawidth"],
                     record["stadistinct"],
                     record[f"stavalues{mcv}"] if mcv else None,
                     _numbers(record, mcv), record[f"stavalues{hist}"] if hist else None,
                     (_numbers(record, corr) or [None])[0], None, None, None))
    return rows


def _numbers(record: dict[str, Any], slot: int | None) -> list[float] | None:
    if not slot or record[f"stanumbers{slot}"] is None:
        return None
    numbers: list[float] = T.parse_text(T.FLOAT4_ARRAY_OID, record[f"stanumbers{slot}"])
    return numbers


def _attname(snapshot: Any, relid: int, attnum: int) -> str | None:
    attribute = snapshot.attribute(relid, attnum)
    return None if attribute is None else str(attribute.name)


__all__ = ["ColumnStats", "analyze", "analyze_mcv_list", "analyze_relation", "compute_stats",
           "another_sessions_temp", "pg_stats_rows", "readable", "store_statistics"]
