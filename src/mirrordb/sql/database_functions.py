"""What the SQL functions about databases compute: pg_database_size's directory sum,
has_database_privilege's answer from a database's privileges, and the datacl pg_database shows.

mirrordb has no GRANT ... ON DATABASE, so a database's privileges are PostgreSQL's defaults:
datacl NULL (the owner holds everything, PUBLIC CONNECT and TEMPORARY), except template1 and
template0, whose PUBLIC CREATE and TEMPORARY PostgreSQL's initdb revokes.

sql/catalog_functions.py registers the functions and resolves their arguments (names, OIDs,
roles) against the catalog snapshot, then calls these. The database directory is
``base/<oid>/`` (storage/relfilenode.py names the files in it).
"""

from __future__ import annotations

import os
from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.storage.page import BLCKSZ
from mirrordb.storage.relfilenode import DEFAULT_TABLESPACE_OID, RelFileNode

PUBLIC_DATABASE_PRIVILEGES = ("CONNECT", "TEMPORARY", "TEMP")
PUBLIC_TEMPLATE_PRIVILEGES = ("CONNECT",)
INITDB_TEMPLATES = (boot.TEMPLATE1_DATABASE_OID, boot.TEMPLATE0_DATABASE_OID)


def database_acl(database_oid: int, owner_name: str) -> list[str] | None:
    """datacl as aclitem texts: initdb's for template1 and template0, NULL for the others."""
    if database_oid not in INITDB_TEMPLATES:
        return None
    return [f"=c/{owner_name}", f"{owner_name}=CTc/{owner_name}"]


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


def holds_database_privilege(role: Any, database_oid: int, owner_oid: int,
                             privileges: list[tuple[str, bool]]) -> bool:
    """Whether ``role`` holds any of ``privileges`` ((name, with grant option)) on database
    ``database_oid`` owned by ``owner_oid``: the owner holds them all with grant option, PUBLIC
    the ones ``database_acl`` leaves it."""
    if role is not None and (role.superuser or role.oid == owner_oid):
        return True
    public = PUBLIC_TEMPLATE_PRIVILEGES if database_oid in INITDB_TEMPLATES \
        else PUBLIC_DATABASE_PRIVILEGES
    return any(word in public and not with_option for word, with_option in privileges)
