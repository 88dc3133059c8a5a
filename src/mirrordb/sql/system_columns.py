"""The system columns of a table read from its tuple headers: xmin, xmax, cmin, cmax.

Who calls it: the expression compiler (sql/expressions.py ``Scope.find`` and
``ExpressionCompiler._column_expr``); ddl.py and create_table_as.py (``check_column_name``). ``ctid`` is a hidden column every table scan appends to
its rows, and ``tableoid`` compiles to a constant (expressions.py); the four columns here take
no place in the row either: a reference reads the row's ctid and then the header of that
version through ``Txn.tuple_header`` (engine.py), so scans stay as narrow as before.

Values are PostgreSQL's heap_getsysattr: xmin and xmax are the header's raw transaction IDs
(type xid), cmin and cmax both the raw command ID field (type cid), as PostgreSQL 15 shows
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T

# name -> (PostgreSQL's attribute number, type OID)
SYSTEM_COLUMNS: dict[str, tuple[int, int]] = {
    "xmin": (-2, T.XID_OID),
    "cmin": (-3, T.CID_OID),
    "xmax": (-4, T.XID_OID),
    "cmax": (-5, T.CID_OID),
}
_HEADER_FIELD = {-2: "xmin", -3: "cid", -4: "xmax", -5: "cid"}


# every system column a table has: no column of a table may take one of these names
ALL_NAMES = frozenset({"ctid", "tableoid", *SYSTEM_COLUMNS})


def check_column_name(name: str) -> None:
    """CREATE TABLE, ADD COLUMN, RENAME COLUMN: 42701 for a system column's name."""
    if name in ALL_NAMES:
        raise MirrordbError(f'column name "{name}" conflicts with a system column name',
                            sqlstate="42701")


@dataclass(eq=False)
class HeaderColumn:
    """What a reference to a header system column needs at run time: the table whose
    versions the row's ctid points at, and which header field it reads."""

    relation: Any
    attnum: int

    def value(self, txn: Any, tid: Any) -> int | None:
        if tid is None:          # the NULL side of an outer join
            return None
        header = txn.tuple_header(self.relation, tid)
        if header is None:
            return None
        return int(getattr(header, _HEADER_FIELD[self.attnum]))
