"""Relation descriptors: what the access methods need to know about a table, index or sequence.

Built by the catalog layer from the catalog heap relations (pg_class, pg_attribute, pg_index) and
cached by it; the access methods never read the catalogs themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from mirrordb.common.errors import invariant

from mirrordb.storage.datum import RowCodec
from mirrordb.storage.relfilenode import RelFileNode

RELKIND_TABLE = "r"
RELKIND_INDEX = "i"
RELKIND_SEQUENCE = "S"
RELKIND_VIEW = "v"          # no storage: its query lives in pg_rewrite
RELKIND_MATVIEW = "m"       # a heap file like a table, its query in pg_rewrite like a view
RELKIND_PARTITIONED_TABLE = "p"   # no storage: its rows are its partitions' (sql/partitioning.py)
RELKIND_PARTITIONED_INDEX = "I"   # no storage: its partitions' indexes hold the entries

RELPERSISTENCE_PERMANENT = "p"
RELPERSISTENCE_UNLOGGED = "u"   # no WAL for its pages; reset from its init fork after a crash
RELPERSISTENCE_TEMP = "t"       # one session's, in its pg_temp_N schema
TEMP_NAMESPACE_PREFIX = "pg_temp_"          # + the owning session's backend ID
TEMP_TOAST_NAMESPACE_PREFIX = "pg_toast_temp_"


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    not_null: bool = False
    typmod: int = -1
    identity: str = ""    # pg_attribute.attidentity: '' or 'a' (ALWAYS) or 'd' (BY DEFAULT)
    generated: str = ""   # pg_attribute.attgenerated: '' or 's' (STORED)


EXPRESSION_COLUMN = -1
"""``IndexInfo.key_columns`` entry of a key column computed by an expression (indkey 0)."""


class IndexEvaluator(Protocol):
    """The compiled expressions and predicate of an expression or partial index (made by
    sql/index_expressions.py, which installs the factory below)."""

    columns_used: frozenset[int]     # table columns (0-based) the key and predicate read

    def qualifies(self, values: Sequence[object]) -> bool:
        """Whether a row version satisfies the predicate (has an entry)."""

    def key(self, values: Sequence[object]) -> tuple[object, ...]:
        """The entry's key computed from a row version."""

    def labels(self) -> list[str]:
        """How error messages name each key column ("lower(name)")."""


_EVALUATOR_FACTORY: list[Callable[[IndexInfo], IndexEvaluator]] = []


def install_index_evaluator_factory(factory: Callable[[IndexInfo], IndexEvaluator]) -> None:
    """Called once by the SQL layer, which compiles expressions (the access layer cannot)."""
    _EVALUATOR_FACTORY[:] = [factory]


@dataclass
class IndexInfo:
    """An index of a table: which columns (0-based) form the key, and whether it is unique.
    An expression key column is ``EXPRESSION_COLUMN``; ``expressions`` (pg_index.indexprs,
    a JSON list of parse trees, one per such column) and ``predicate`` (indpred, a JSON
    parse tree: a partial index) are evaluated through the SQL layer's evaluator."""

    relation: Relation
    key_columns: tuple[int, ...]
    unique: bool
    primary: bool = False
    expressions: str | None = None
    predicate: str | None = None
    table: Relation | None = field(default=None, repr=False, compare=False)
    include_columns: tuple[int, ...] = ()    # INCLUDE: in the catalog, not in the entries
    # pg_index.indoption per key column (1 DESC, 2 NULLS FIRST); the entries are ascending
    # whatever it says, and the planner reads an index in order only where both agree
    options: tuple[int, ...] = ()
    _evaluator: IndexEvaluator | None = field(default=None, init=False, repr=False,
                                              compare=False)

    @property
    def plain(self) -> bool:
        """Neither expression columns nor a predicate: the key is the columns' values."""
        return self.expressions is None and self.predicate is None

    def evaluator(self) -> IndexEvaluator:
        if self._evaluator is None:
            invariant(bool(_EVALUATOR_FACTORY) and self.table is not None,
                      "index expressions without the SQL layer's evaluator")
            self._evaluator = _EVALUATOR_FACTORY[0](self)
        return self._evaluator

    def key_of(self, values: Sequence[object]) -> tuple[object, ...] | None:
        """The key of row version ``values``'s entry; None when a partial index's predicate
        leaves the version out (it gets no entry)."""
        if self.plain:
            return tuple([values[i] for i in self.key_columns])
        evaluator = self.evaluator()
        if self.predicate is not None and not evaluator.qualifies(values):
            return None
        return evaluator.key(values)

    def columns_used(self) -> frozenset[int] | tuple[int, ...]:
        """The table columns whose change may change the entry (HOT's test; DROP COLUMN's)."""
        used = self.key_columns if self.plain else self.evaluator().columns_used
        return (*used, *self.include_columns) if self.include_columns else used

    def key_labels(self, table: Relation) -> list[str]:
        """The key columns as error DETAILs name them."""
        if self.plain:
            return [table.columns[i].name for i in self.key_columns]
        return self.evaluator().labels()


@dataclass
class Relation:
    oid: int
    name: str
    kind: str
    rnode: RelFileNode
    columns: list[Column]
    namespace_oid: int = 2200
    indexes: list[IndexInfo] = field(default_factory=list)
    # an index's key columns: the first ``key_count`` of ``columns`` (the rest are INCLUDE
    # columns, which its entries do not hold); -1: all of them
    key_count: int = -1
    persistence: str = RELPERSISTENCE_PERMANENT     # pg_class.relpersistence

    @property
    def key_column_types(self) -> tuple[int, ...]:
        """The types of an index's entry keys."""
        keys = self.columns if self.key_count < 0 else self.columns[:self.key_count]
        return tuple(column.type_oid for column in keys)

    @cached_property
    def codec(self) -> RowCodec:
        return RowCodec([column.type_oid for column in self.columns])

    @property
    def natts(self) -> int:
        return len(self.columns)

    def column_index(self, name: str) -> int:
        for index, column in enumerate(self.columns):
            if column.name == name:
                return index
        raise KeyError(name)
