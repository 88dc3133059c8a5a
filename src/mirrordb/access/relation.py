"""Relation descriptors: what the access methods need to know about a table, index or sequence.

Built by the catalog layer from the catalog heap relations (pg_class, pg_attribute, pg_index) and
cached by it; the access methods never read the catalogs themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from mirrordb.storage.datum import RowCodec
from mirrordb.storage.relfilenode import RelFileNode

RELKIND_TABLE = "r"
RELKIND_INDEX = "i"
RELKIND_SEQUENCE = "S"
RELKIND_VIEW = "v"          # no storage: its query lives in pg_rewrite
RELKIND_MATVIEW = "m"       # a heap file like a table, its query in pg_rewrite like a view

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


@dataclass
class IndexInfo:
    """An index of a table: which columns (0-based) form the key, and whether it is unique."""

    relation: Relation
    key_columns: tuple[int, ...]
    unique: bool
    primary: bool = False


@dataclass
class Relation:
    oid: int
    name: str
    kind: str
    rnode: RelFileNode
    columns: list[Column]
    namespace_oid: int = 2200
    indexes: list[IndexInfo] = field(default_factory=list)
    persistence: str = RELPERSISTENCE_PERMANENT     # pg_class.relpersistence

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
