"""Which types a table column may have: the check CREATE TABLE and ALTER TABLE ADD COLUMN run.

Who calls it: ``ddl.py``, for each column definition, after resolving the column's type name
and before anything is written. The other half is the storage row codec (storage/datum.py),
which stores exactly ``datum.SUPPORTED_TYPE_OIDS``: a column of any other type would be accepted
and then break the first INSERT, so it is refused here instead.

* A pseudo-type (cstring, record, anyarray, void, unknown...) is refused as PostgreSQL's
  CheckAttributeType refuses it: 42P16 'column "c" has pseudo-type record'.
* A real type the row codec cannot store (int2vector, oidvector, arrays of those) is refused
  with 0A000 naming the type.
"""

from __future__ import annotations

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.storage import datum


def check_column_type(column_name: str, type_oid: int) -> None:
    """Raise the error PostgreSQL (or mirrordb's storage) gives for a column of ``type_oid``."""
    info = T.TYPES.get(type_oid)
    if info is not None and info.type_type == "p":
        raise MirrordbError(f'column "{column_name}" has pseudo-type {T.format_type(type_oid)}',
                            sqlstate="42P16")
    if not datum.is_storable(type_oid):
        raise MirrordbError(f"columns of type {T.format_type(type_oid)} are not supported",
                            sqlstate="0A000")
