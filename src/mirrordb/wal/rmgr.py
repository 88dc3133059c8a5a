"""Resource manager ids, names and the ``xl_info`` codes of the records mirrordb writes or reads.

A WAL record names its resource manager (``xl_rmid``), the subsystem whose redo routine replays it.
Ids 0..21 are PostgreSQL 15's built-in managers; we use them, with PostgreSQL's payload layouts,
wherever our record means what theirs means (checkpoints, commits, running-xacts, relation
creation). Ids 22..127 are invalid. Ids 128..255 are PostgreSQL's custom range: we put our own
heap, B-tree and sequence page operations there, so ``pg_waldump`` still reads every record
(it prints them as ``custom128`` and so on).

``xl_info`` is split in two: the high nibble (``XLR_RMGR_INFO_MASK``) is the manager's record
type, the low nibble (``XLR_INFO_MASK``) holds flags every record may carry.

Pure constants; imported by the record codec, the writer, the reader, redo and the access methods.
"""

from __future__ import annotations

# -- resource manager ids (PostgreSQL 15 rmgrlist.h order) ---------------------------------------

RM_XLOG_ID = 0
RM_XACT_ID = 1
RM_SMGR_ID = 2
RM_CLOG_ID = 3
RM_DBASE_ID = 4
RM_TBLSPC_ID = 5
RM_MULTIXACT_ID = 6
RM_RELMAP_ID = 7
RM_STANDBY_ID = 8
RM_HEAP2_ID = 9
RM_HEAP_ID = 10
RM_BTREE_ID = 11
RM_HASH_ID = 12
RM_GIN_ID = 13
RM_GIST_ID = 14
RM_SEQ_ID = 15
RM_SPGIST_ID = 16
RM_BRIN_ID = 17
RM_COMMIT_TS_ID = 18
RM_REPLORIGIN_ID = 19
RM_GENERIC_ID = 20
RM_LOGICALMSG_ID = 21

RM_MAX_BUILTIN_ID = 21
RM_MIN_CUSTOM_ID = 128
RM_MAX_CUSTOM_ID = 255

# Our own page-level record families, in PostgreSQL's custom range.
RM_MIRRORDB_HEAP_ID = 128
RM_MIRRORDB_BTREE_ID = 129
RM_MIRRORDB_SEQUENCE_ID = 130

RMGR_NAMES: dict[int, str] = {
    RM_XLOG_ID: "XLOG",
    RM_XACT_ID: "Transaction",
    RM_SMGR_ID: "Storage",
    RM_CLOG_ID: "CLOG",
    RM_DBASE_ID: "Database",
    RM_TBLSPC_ID: "Tablespace",
    RM_MULTIXACT_ID: "MultiXact",
    RM_RELMAP_ID: "RelMap",
    RM_STANDBY_ID: "Standby",
    RM_HEAP2_ID: "Heap2",
    RM_HEAP_ID: "Heap",
    RM_BTREE_ID: "Btree",
    RM_HASH_ID: "Hash",
    RM_GIN_ID: "Gin",
    RM_GIST_ID: "Gist",
    RM_SEQ_ID: "Sequence",
    RM_SPGIST_ID: "SPGist",
    RM_BRIN_ID: "BRIN",
    RM_COMMIT_TS_ID: "CommitTs",
    RM_REPLORIGIN_ID: "ReplicationOrigin",
    RM_GENERIC_ID: "Generic",
    RM_LOGICALMSG_ID: "LogicalMessage",
    RM_MIRRORDB_HEAP_ID: "mirrordb_heap",
    RM_MIRRORDB_BTREE_ID: "mirrordb_btree",
    RM_MIRRORDB_SEQUENCE_ID: "mirrordb_sequence",
}
assert all(0 <= rmid <= RM_MAX_BUILTIN_ID or rmid >= RM_MIN_CUSTOM_ID for rmid in RMGR_NAMES)


def is_valid_rmid(rmid: int) -> bool:
    """True for the ids a reader accepts: the built-in 0..21 and the custom 128..255."""
    return 0 <= rmid <= RM_MAX_BUILTIN_ID or RM_MIN_CUSTOM_ID <= rmid <= RM_MAX_CUSTOM_ID


def rmgr_name(rmid: int) -> str:
    """The display name of ``rmid``: PostgreSQL's, ours, or ``custom<N>`` as pg_waldump prints."""
    name = RMGR_NAMES.get(rmid)
    if name is not None:
        return name
    return f"custom{rmid}" if rmid >= RM_MIN_CUSTOM_ID else f"invalid{rmid}"


# -- generic xl_info bits --------------------------------------------------------------------------

XLR_INFO_MASK = 0x0F
XLR_RMGR_INFO_MASK = 0xF0
XLR_SPECIAL_REL_UPDATE = 0x01
XLR_CHECK_CONSISTENCY = 0x02

# -- XLOG (rmid 0) --------------------------------------------------------------------------------

XLOG_CHECKPOINT_SHUTDOWN = 0x00
XLOG_CHECKPOINT_ONLINE = 0x10
XLOG_NOOP = 0x20
XLOG_NEXTOID = 0x30
XLOG_SWITCH = 0x40
XLOG_BACKUP_END = 0x50
XLOG_PARAMETER_CHANGE = 0x60
XLOG_RESTORE_POINT = 0x70
XLOG_FPW_CHANGE = 0x80
XLOG_END_OF_RECOVERY = 0x90
XLOG_FPI_FOR_HINT = 0xA0
XLOG_FPI = 0xB0
XLOG_OVERWRITE_CONTRECORD = 0xD0

# -- Transaction (rmid 1) -------------------------------------------------------------------------

XLOG_XACT_COMMIT = 0x00
XLOG_XACT_PREPARE = 0x10
XLOG_XACT_ABORT = 0x20
XLOG_XACT_COMMIT_PREPARED = 0x30
XLOG_XACT_ABORT_PREPARED = 0x40
XLOG_XACT_ASSIGNMENT = 0x50
XLOG_XACT_INVALIDATIONS = 0x60
XLOG_XACT_OPMASK = 0x70
XLOG_XACT_HAS_INFO = 0x80
# the records that end a transaction (each begins with its xact_time), and the commits among them
XACT_END_OPS = frozenset((XLOG_XACT_COMMIT, XLOG_XACT_ABORT, XLOG_XACT_COMMIT_PREPARED,
                          XLOG_XACT_ABORT_PREPARED))
XACT_COMMIT_OPS = frozenset((XLOG_XACT_COMMIT, XLOG_XACT_COMMIT_PREPARED))

# -- Storage (rmid 2) -----------------------------------------------------------------------------

XLOG_SMGR_CREATE = 0x10
XLOG_SMGR_TRUNCATE = 0x20

# -- Database (rmid 4) ---------------------------------------------------------------------------

XLOG_DBASE_CREATE_FILE_COPY = 0x00
XLOG_DBASE_CREATE_WAL_LOG = 0x10
XLOG_DBASE_DROP = 0x20

# -- CLOG (rmid 3) --------------------------------------------------------------------------------

CLOG_ZEROPAGE = 0x00
CLOG_TRUNCATE = 0x10

# -- Standby (rmid 8) -----------------------------------------------------------------------------

XLOG_STANDBY_LOCK = 0x00
XLOG_RUNNING_XACTS = 0x10
XLOG_INVALIDATIONS = 0x20


def is_xlog_switch(rmid: int, info: int) -> bool:
    """True for an XLOG_SWITCH record, after which the rest of its segment is unused."""
    return rmid == RM_XLOG_ID and info & XLR_RMGR_INFO_MASK == XLOG_SWITCH
