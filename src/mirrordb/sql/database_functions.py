"""What the SQL functions about databases compute: pg_database_size's directory sum,
and has_database_privilege's answer from a database's privileges.

A database's privileges are its datacl (sql/database_privileges.py reads and changes them).

sql/catalog_functions.py registers the functions and resolves their arguments (names, OIDs,
roles) against the catalog snapshot, then calls these. The database directory is
``base/<oid>/`` (storage/relfilenode.py names the files in it).
"""

from __future__ import annotations

import os
from typing import Any

from mirrordb.sql.database_privileges import CHECK_WORDS, holds_database_rights
from mirrordb.sql.roles import Role
from mirrordb.storage.page import BLCKSZ
from mirrordb.storage.relfilenode import DEFAULT_TABLESPACE_OID, RelFileNode


def database_size_bytes(engine: Any, database_oid: int) -> int:
    """pg_database_size: the size of every file in the database's directory, as PostgreSQL's
    db_dir_size adds them up; a main fork the buffer pool has extended past its file counts at
    its logical length (PostgreSQL writes an extension to the file at once, mirrordb may not
    yet have)."""
    directory = os.path.join(engine.datadir, "base", str(database_oid))
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    total = 0
    main_fork_bytes: dict[int, int] = {}
    for name in names:
        try:
            status = os.stat(os.path.join(directory, name))
        except FileNotFoundError:
            continue                    # removed while we looked, as db_dir_size allows
        if not os.path.isfile(os.path.join(directory, name)):
            continue
        total += status.st_size
        relfilenode = name.split(".")[0]
        if relfilenode.isdigit():
            main_fork_bytes[int(relfilenode)] = (main_fork_bytes.get(int(relfilenode), 0)
                                                 + status.st_size)
    for relfilenode, on_disk in main_fork_bytes.items():
        node = RelFileNode(DEFAULT_TABLESPACE_OID, database_oid, relfilenode)
        try:
            logical = int(engine.pool.nblocks(node)) * BLCKSZ
        except OSError:
            continue
        total += max(0, logical - on_disk)
    return total


def holds_database_privilege(role: Any, acl: str | None, owner_name: str,
                             privileges: list[tuple[str, bool]]) -> bool:
    """Whether ``role`` holds any of ``privileges`` ((name, with grant option)) on a database
    whose datacl is ``acl`` and whose owner is ``owner_name``."""
    if role is None:
        return False
    asking = Role(oid=role.oid, name=role.name, superuser=role.superuser)
    return any(holds_database_rights(asking, acl, owner_name, CHECK_WORDS[word], with_option)
               for word, with_option in privileges)
