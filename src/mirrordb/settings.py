"""Server settings: the table of every setting mirrordb supports, value parsing and display, and
configuration file reading.

Settings keep PostgreSQL's names, units, defaults, contexts and categories, so ``SHOW``,
``pg_settings`` and ``postgresql.conf`` read as they do on PostgreSQL 15. Who uses this module:

* ``Engine.open`` builds a ``Settings`` from the data directory's files and ``-c`` overrides;
* the postmaster (``server/postmaster.py``) builds one at start and a new one at each SIGHUP
  (``server/config.py`` compares them and logs what changed);
* each session's ``server/config.SessionSettings`` layers SET/RESET on top of the server's values.

Values are stored in a base unit, whatever unit the text used: bytes for ``size`` settings,
milliseconds for ``time`` settings, ``bool``/``int``/``float``/``str`` for the others.
``unit_bytes``/``unit_ms`` is PostgreSQL's unit for the setting (what a bare number means and
what ``pg_settings.setting`` counts in); ``min_value``/``max_value`` are in that unit too.

Contexts (who may change a setting, and when), PostgreSQL's:

=====================  ==========================================================================
``internal``           fixed (server_version, block_size...); nobody can set it
``postmaster``         read at server start; a changed file value waits for a restart
``sighup``             configuration files only; a reload (SIGHUP) applies it
``superuser-backend``  files, or a superuser's connection start-up packet
``backend``            files, or the connection start-up packet
``superuser``          SET by superusers only
``user``               SET by anyone
=====================  ==========================================================================

Configuration files: ``postgresql.conf`` is read first, then ``postgresql.auto.conf`` (written by
ALTER SYSTEM), then explicit overrides (``-c name=value``); a later value wins. Each line is
``name = value`` or ``name value``; ``#`` starts a comment outside quotes; a quoted value doubles
(or backslash-escapes) its quotes. Names are case-insensitive; a name with a dot
(``myapp.option``) is a custom placeholder and is kept as a string.
"""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo, UTC
from functools import lru_cache

from mirrordb.common.errors import (ConfigFileError, InvalidParameterValue, MirrordbError,
                                    invariant)

# -- the table ---------------------------------------------------------------------------------

CONTEXTS = ("internal", "postmaster", "sighup", "superuser-backend", "backend", "superuser",
            "user")
KINDS = ("bool", "int", "real", "enum", "string", "size", "time")
PG_INT_MAX = 2_147_483_647
PG_INT_MIN = -2_147_483_648
KB = 1024
MB = 1024 * 1024
SECOND_MS = 1000
MINUTE_MS = 60_000


class GucFlag(enum.Flag):
    """PostgreSQL's GUC flags that change behaviour here."""

    NONE = 0
    REPORT = enum.auto()          # sent to the client as ParameterStatus when it changes
    LIST_INPUT = enum.auto()      # SET accepts a list: a, b, c
    LIST_QUOTE = enum.auto()      # list elements are identifiers, double-quoted when needed
    NO_SHOW_ALL = enum.auto()     # hidden from SHOW ALL and pg_settings
    NO_RESET_ALL = enum.auto()    # RESET ALL leaves it alone
    NOT_IN_SAMPLE = enum.auto()   # left out of the postgresql.conf initdb writes
    DISALLOW_IN_FILE = enum.auto()  # may not appear in configuration files
    OCTAL = enum.auto()           # shown in octal (file modes)


@dataclass(frozen=True)
class Setting:
    """One setting's definition (PostgreSQL's config_generic and friends)."""

    name: str
    default: str
    kind: str          # bool | int | real | enum | string | size | time
    description: str
    unit_bytes: int = 1     # for size: the unit a bare number means (PostgreSQL's GUC_UNIT)
    unit_ms: int = 1        # for time
    choices: tuple[str, ...] = ()
    context: str = "user"
    category: str = "Ungrouped"
    min_value: float | None = None    # in the setting's unit; int, size, time and real only
    max_value: float | None = None
    flags: GucFlag = GucFlag.NONE
    aliases: tuple[tuple[str, str], ...] = ()   # enum: hidden spellings -> choice

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.context not in CONTEXTS:
            raise ValueError(f"setting {self.name}: bad kind {self.kind} or context {self.context}")

    @property
    def unit(self) -> int:
        """Bytes or milliseconds per unit of the setting (1 for unit-less kinds)."""
        return self.unit_bytes if self.kind == "size" else self.unit_ms if self.kind == "time" \
            else 1

    @property
    def vartype(self) -> str:
        """pg_settings.vartype."""
        return {"int": "integer", "size": "integer", "time": "integer"}.get(self.kind, self.kind)

    @property
    def unit_name(self) -> str | None:
        """pg_settings.unit: "8kB", "kB", "MB", "B", "ms", "s", "min", or None."""
        if self.kind == "size":
            return _SIZE_UNIT_NAMES.get(self.unit_bytes, f"{self.unit_bytes}B")
        if self.kind == "time":
            return _TIME_UNIT_NAMES[self.unit_ms]
        return None


_SIZE_UNIT_NAMES = {1: "B", KB: "kB", 8 * KB: "8kB", MB: "MB", 16 * MB: "16MB"}
_TIME_UNIT_NAMES = {1: "ms", SECOND_MS: "s", MINUTE_MS: "min"}

_MEMORY = "Resource Usage / Memory"
_CONNECTIONS = "Connections and Authentication / Connection Settings"
_AUTHENTICATION = "Connections and Authentication / Authentication"
_SSL = "Connections and Authentication / SSL"
_WAL = "Write-Ahead Log / Settings"
_CHECKPOINTS = "Write-Ahead Log / Checkpoints"
_ARCHIVING = "Write-Ahead Log / Archiving"
_ARCHIVE_RECOVERY = "Write-Ahead Log / Archive Recovery"
_RECOVERY_TARGET = "Write-Ahead Log / Recovery Target"
_SENDING = "Replication / Sending Servers"
_PRIMARY = "Replication / Primary Server"
_STANDBY = "Replication / Standby Servers"
_STATEMENT = "Client Connection Defaults / Statement Behavior"
_LOCALE = "Client Connection Defaults / Locale and Formatting"
_PRESET = "Preset Options"
_FILES = "File Locations"
_WHAT_TO_LOG = "Reporting and Logging / What to Log"
_WHEN_TO_LOG = "Reporting and Logging / When to Log"
_PLANNER = "Query Tuning / Planner Method Configuration"
_COMPATIBILITY = "Version and Platform Compatibility / Previous PostgreSQL Versions"
_LOCKS = "Lock Management"
_AUTOVACUUM = "Autovacuum"
_DEVELOPER = "Developer Options"
_STATISTICS = "Statistics / Cumulative Query and Index Statistics"

_REPORT = GucFlag.REPORT
_FIXED = GucFlag.NOT_IN_SAMPLE | GucFlag.DISALLOW_IN_FILE
_PER_TRANSACTION = GucFlag.NO_RESET_ALL | GucFlag.NOT_IN_SAMPLE | GucFlag.DISALLOW_IN_FILE
_SESSION_IDENTITY = (GucFlag.NO_SHOW_ALL | GucFlag.NO_RESET_ALL | GucFlag.NOT_IN_SAMPLE
                     | GucFlag.DISALLOW_IN_FILE)
_MESSAGE_LEVELS = ("debug5", "debug4", "debug3", "debug2", "debug1", "info", "notice", "warning",
                   "error", "log", "fatal", "panic")
_CLIENT_MESSAGE_LEVELS = ("debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice",
                          "warning", "error")
_ISOLATION_LEVELS = ("serializable", "repeatable read", "read committed", "read uncommitted")
_BOOL_ALIASES = (("true", "on"), ("false", "off"), ("yes", "on"), ("no", "off"), ("1", "on"),
                 ("0", "off"))

SERVER_VERSION = "15.0 (mirrordb 0.1.0)"
SERVER_VERSION_NUM = 150000

SETTINGS: tuple[Setting, ...] = (
    # -- resource usage
    Setting("shared_buffers", "128MB", "size", "Memory for the buffer pool.", unit_bytes=8192,
            context="postmaster", category=_MEMORY, min_value=16, max_value=1073741823),
    Setting("work_mem", "4MB", "size", "Memory for each sort or hash before it spills.",
            unit_bytes=KB, category=_MEMORY, min_value=64, max_value=PG_INT_MAX),
    Setting("maintenance_work_mem", "64MB", "size", "Memory for VACUUM and index builds.",
            unit_bytes=KB, category=_MEMORY, min_value=1024, max_value=PG_INT_MAX),
    Setting("max_prepared_transactions", "0", "int", "Prepared (two-phase) transactions allowed.",
            context="postmaster", category=_MEMORY, min_value=0, max_value=262143),
    # -- write-ahead log
    Setting("wal_level", "replica", "enum", "How much information is written to the WAL.",
            choices=("minimal", "replica", "logical"), context="postmaster", category=_WAL,
            aliases=(("archive", "replica"), ("hot_standby", "replica"))),
    Setting("fsync", "on", "bool", "Force writes to disk.", context="sighup", category=_WAL),
    Setting("synchronous_commit", "on", "enum", "What a commit waits for: the local WAL "
            "flush, and the synchronous standbys' write, flush or replay.",
            choices=("local", "remote_write", "remote_apply", "on", "off"), category=_WAL,
            aliases=_BOOL_ALIASES),
    Setting("wal_sync_method", "fdatasync", "enum", "How WAL writes are forced to disk.",
            choices=("fsync", "fdatasync", "open_sync", "open_datasync"), context="sighup",
            category=_WAL),
    Setting("full_page_writes", "on", "bool", "Write full pages to WAL when first modified "
            "after a checkpoint.", context="sighup", category=_WAL),
    Setting("track_wal_io_timing", "off", "bool", "Collects timing statistics for WAL I/O "
            "activity (pg_stat_wal; the WAL writer is shared, so the server's value counts).",
            context="superuser", category=_STATISTICS),
    Setting("wal_log_hints", "off", "bool", "Log full pages for hint-bit changes too.",
            context="postmaster", category=_WAL),
    Setting("wal_consistency_checking", "", "string",
            "Check each replayed page against the full-page image the writer attached "
            "(on, off, all, or a list of resource managers).", context="superuser",
            category=_DEVELOPER, flags=GucFlag.LIST_INPUT),
    Setting("wal_buffers", "4MB", "size", "WAL kept in memory before it must be written.",
            unit_bytes=8192, context="postmaster", category=_WAL, min_value=-1,
            max_value=262143),
    # PostgreSQL's maximum is 10 s; longer lets tests hold asynchronous commits unflushed.
    Setting("wal_writer_delay", "200ms", "time", "Interval between WAL writer flushes.",
            context="sighup", category=_WAL, min_value=1, max_value=PG_INT_MAX),
    Setting("wal_skip_threshold", "2MB", "size",
            "Size from which a relation created under wal_level=minimal is fsynced at commit "
            "instead of WAL-logged.", unit_bytes=1024, category=_WAL, min_value=0,
            max_value=2147483647),
    # PostgreSQL's minimum is 30 s; 1 s lets tests drive timed checkpoints quickly.
    Setting("checkpoint_timeout", "5min", "time", "Maximum time between automatic checkpoints.",
            unit_ms=SECOND_MS, context="sighup", category=_CHECKPOINTS, min_value=1,
            max_value=86400),
    Setting("max_wal_size", "1GB", "size", "WAL size that triggers a checkpoint.",
            unit_bytes=MB, context="sighup", category=_CHECKPOINTS, min_value=2,
            max_value=PG_INT_MAX),
    Setting("min_wal_size", "80MB", "size", "WAL kept for recycling below this size.",
            unit_bytes=MB, context="sighup", category=_CHECKPOINTS, min_value=2,
            max_value=PG_INT_MAX),
    Setting("checkpoint_completion_target", "0.9", "real",
            "Fraction of the checkpoint interval to spread a checkpoint over.",
            context="sighup", category=_CHECKPOINTS, min_value=0, max_value=1),
    # -- autovacuum (access/autovacuum.py)
    Setting("autovacuum", "on", "bool", "Start the autovacuum launcher, which vacuums tables "
            "with many dead row versions.", context="sighup", category=_AUTOVACUUM),
    Setting("autovacuum_naptime", "1min", "time", "Time between the autovacuum launcher's "
            "checks of every table.", unit_ms=SECOND_MS, context="sighup",
            category=_AUTOVACUUM, min_value=1, max_value=2147483),
    Setting("autovacuum_vacuum_threshold", "50", "int", "Dead row versions a table needs "
            "before it is vacuumed, besides the scale factor's share.", context="sighup",
            category=_AUTOVACUUM, min_value=0, max_value=PG_INT_MAX),
    Setting("autovacuum_vacuum_scale_factor", "0.2", "real", "Fraction of a table's live "
            "rows added to the threshold.", context="sighup", category=_AUTOVACUUM,
            min_value=0, max_value=100),
    Setting("archive_mode", "off", "enum", "Archive completed WAL segments.",
            choices=("always", "on", "off"), context="postmaster", category=_ARCHIVING,
            aliases=_BOOL_ALIASES),
    Setting("archive_command", "", "string", "Shell command that archives one WAL segment.",
            context="sighup", category=_ARCHIVING),
    Setting("archive_timeout", "0", "time", "Switch to a new WAL segment after this long.",
            unit_ms=SECOND_MS, context="sighup", category=_ARCHIVING, min_value=0,
            max_value=1073741823),
    Setting("restore_command", "", "string", "Shell command that fetches an archived segment.",
            context="sighup", category=_ARCHIVE_RECOVERY),
    Setting("archive_cleanup_command", "", "string", "Shell command run at every restartpoint "
            "with the oldest segment still needed.", context="sighup",
            category=_ARCHIVE_RECOVERY),
    Setting("recovery_end_command", "", "string", "Shell command run once at the end of "
            "recovery.", context="sighup", category=_ARCHIVE_RECOVERY),
    Setting("recovery_target_timeline", "latest", "string", "Timeline to recover into.",
            context="postmaster", category=_RECOVERY_TARGET),
    # point-in-time recovery (recovery/target.py): at most one of the five targets is set
    Setting("recovery_target", "", "string", "Set to \"immediate\" to end recovery as soon "
            "as a consistent state is reached.", context="postmaster",
            category=_RECOVERY_TARGET),
    Setting("recovery_target_lsn", "", "string", "WAL location up to which recovery goes.",
            context="postmaster", category=_RECOVERY_TARGET),
    Setting("recovery_target_name", "", "string", "Restore point up to which recovery goes.",
            context="postmaster", category=_RECOVERY_TARGET),
    Setting("recovery_target_time", "", "string", "Time stamp up to which recovery goes.",
            context="postmaster", category=_RECOVERY_TARGET),
    Setting("recovery_target_xid", "", "string", "Transaction ID up to which recovery goes.",
            context="postmaster", category=_RECOVERY_TARGET),
    Setting("recovery_target_inclusive", "on", "bool", "Stop just after the recovery target "
            "(on) or just before it (off).", context="postmaster", category=_RECOVERY_TARGET),
    Setting("recovery_target_action", "pause", "enum", "What the server does once the "
            "recovery target is reached.", choices=("pause", "promote", "shutdown"),
            context="postmaster", category=_RECOVERY_TARGET),
    Setting("track_commit_timestamp", "off", "bool", "Record each transaction's commit time.",
            context="postmaster", category=_SENDING),
    # -- replication
    Setting("max_wal_senders", "10", "int", "Maximum number of WAL sender processes.",
            context="postmaster", category=_SENDING, min_value=0, max_value=262143),
    Setting("max_replication_slots", "10", "int", "Maximum number of replication slots.",
            context="postmaster", category=_SENDING, min_value=0, max_value=262143),
    Setting("wal_keep_size", "0", "size", "WAL kept for standbys beyond what checkpoints need.",
            unit_bytes=MB, context="sighup", category=_SENDING, min_value=0,
            max_value=PG_INT_MAX),
    Setting("max_slot_wal_keep_size", "-1", "size", "Most WAL a replication slot may hold back.",
            unit_bytes=MB, context="sighup", category=_SENDING, min_value=-1,
            max_value=PG_INT_MAX),
    Setting("wal_sender_timeout", "60s", "time", "Drop a silent replication connection after "
            "this long.", category=_SENDING, min_value=0, max_value=PG_INT_MAX),
    Setting("synchronous_standby_names", "", "string",
            "Standbys whose confirmation a synchronous commit waits for.", context="sighup",
            category=_PRIMARY),
    Setting("hot_standby", "on", "bool", "Allow queries during recovery.",
            context="postmaster", category=_STANDBY),
    Setting("primary_conninfo", "", "string", "Connection string a standby streams from.",
            context="sighup", category=_STANDBY),
    Setting("primary_slot_name", "", "string", "Replication slot a standby streams from.",
            context="sighup", category=_STANDBY),
    Setting("promote_trigger_file", "", "string", "File whose appearance promotes a standby.",
            context="sighup", category=_STANDBY),
    Setting("hot_standby_feedback", "off", "bool", "Tell the primary which rows standby "
            "queries still need.", context="sighup", category=_STANDBY),
    Setting("max_standby_streaming_delay", "30s", "time", "How long replay of streamed WAL "
            "waits for conflicting queries.", context="sighup", category=_STANDBY,
            min_value=-1, max_value=PG_INT_MAX),
    Setting("max_standby_archive_delay", "30s", "time", "How long replay of archived WAL "
            "waits for conflicting queries.", context="sighup", category=_STANDBY,
            min_value=-1, max_value=PG_INT_MAX),
    Setting("recovery_min_apply_delay", "0", "time", "Delay applying commits on a standby.",
            context="sighup", category=_STANDBY, min_value=0, max_value=PG_INT_MAX),
    Setting("wal_receiver_status_interval", "10s", "time", "Longest gap between standby "
            "status reports.", unit_ms=SECOND_MS, context="sighup", category=_STANDBY,
            min_value=0, max_value=2147483),
    Setting("wal_receiver_timeout", "60s", "time", "Drop a silent primary after this long.",
            context="sighup", category=_STANDBY, min_value=0, max_value=PG_INT_MAX),
    Setting("wal_retrieve_retry_interval", "5s", "time", "Wait before retrying to fetch WAL.",
            context="sighup", category=_STANDBY, min_value=1, max_value=PG_INT_MAX),
    # -- connections and authentication
    Setting("max_connections", "100", "int", "Maximum number of concurrent connections.",
            context="postmaster", category=_CONNECTIONS, min_value=1, max_value=262143),
    Setting("superuser_reserved_connections", "3", "int",
            "Connection slots kept for superusers.", context="postmaster",
            category=_CONNECTIONS, min_value=0, max_value=262143),
    Setting("port", "5432", "int", "TCP port the server listens on.", context="postmaster",
            category=_CONNECTIONS, min_value=1, max_value=65535),
    Setting("listen_addresses", "localhost", "string", "Addresses to listen on.",
            context="postmaster", category=_CONNECTIONS, flags=GucFlag.LIST_INPUT),
    Setting("unix_socket_directories", "/tmp", "string",
            "Directories for the Unix-domain sockets.", context="postmaster",
            category=_CONNECTIONS, flags=GucFlag.LIST_INPUT | GucFlag.LIST_QUOTE),
    Setting("unix_socket_group", "", "string", "Group owning the Unix-domain sockets.",
            context="postmaster", category=_CONNECTIONS),
    Setting("unix_socket_permissions", "0777", "int", "Mode of the Unix-domain sockets.",
            context="postmaster", category=_CONNECTIONS, min_value=0, max_value=0o777,
            flags=GucFlag.OCTAL),
    Setting("authentication_timeout", "1min", "time", "Longest time client authentication "
            "may take.", unit_ms=SECOND_MS, context="sighup", category=_AUTHENTICATION,
            min_value=1, max_value=600),
    Setting("password_encryption", "scram-sha-256", "enum", "How new passwords are stored.",
            choices=("md5", "scram-sha-256"), category=_AUTHENTICATION),
    Setting("ssl", "off", "bool", "Accept SSL connections.", context="sighup", category=_SSL),
    Setting("ssl_cert_file", "server.crt", "string", "The server's certificate file.",
            context="sighup", category=_SSL),
    Setting("ssl_key_file", "server.key", "string", "The server's private key file.",
            context="sighup", category=_SSL),
    Setting("ssl_ca_file", "", "string", "Certificate authorities for client certificates.",
            context="sighup", category=_SSL),
    Setting("ssl_min_protocol_version", "TLSv1.2", "enum", "Oldest TLS version accepted.",
            choices=("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"), context="sighup",
            category=_SSL),
    # -- statement behaviour
    Setting("search_path", '"$user", public', "string",
            "Schemas searched for names without a schema.", category=_STATEMENT,
            flags=GucFlag.LIST_INPUT | GucFlag.LIST_QUOTE),
    Setting("default_table_access_method", "heap", "string", "Access method of new tables "
            "(mirrordb has one: heap).", category=_STATEMENT),
    Setting("default_tablespace", "", "string", "Tablespace for new tables and indexes.",
            category=_STATEMENT),
    Setting("default_transaction_isolation", "read committed", "enum",
            "Isolation level of new transactions.", choices=_ISOLATION_LEVELS,
            category=_STATEMENT),
    Setting("default_transaction_read_only", "off", "bool", "Start transactions read-only.",
            category=_STATEMENT, flags=_REPORT),
    Setting("default_transaction_deferrable", "off", "bool",
            "Start serializable read-only transactions deferrable.", category=_STATEMENT),
    Setting("transaction_isolation", "read committed", "enum",
            "The current transaction's isolation level.", choices=_ISOLATION_LEVELS,
            category=_STATEMENT, flags=_PER_TRANSACTION),
    Setting("transaction_read_only", "off", "bool", "Whether the current transaction is "
            "read-only.", category=_STATEMENT, flags=_PER_TRANSACTION),
    Setting("transaction_deferrable", "off", "bool", "Whether the current transaction is "
            "deferrable.", category=_STATEMENT, flags=_PER_TRANSACTION),
    Setting("statement_timeout", "0", "time", "Cancel a statement running longer than this "
            "(0: never).", category=_STATEMENT, min_value=0, max_value=PG_INT_MAX),
    Setting("lock_timeout", "0", "time", "Cancel a statement waiting for a lock longer than "
            "this (0: never).", category=_STATEMENT, min_value=0, max_value=PG_INT_MAX),
    Setting("idle_in_transaction_session_timeout", "0", "time", "End a session idle inside a "
            "transaction longer than this (0: never).", category=_STATEMENT, min_value=0,
            max_value=PG_INT_MAX),
    Setting("idle_session_timeout", "0", "time", "End a session idle outside a transaction "
            "longer than this (0: never).", category=_STATEMENT, min_value=0,
            max_value=PG_INT_MAX),
    Setting("bytea_output", "hex", "enum", "Output format of bytea values.",
            choices=("escape", "hex"), category=_STATEMENT),
    Setting("xmloption", "content", "enum", "Whether XML values are documents or content.",
            choices=("content", "document"), category=_STATEMENT),
    Setting("check_function_bodies", "on", "bool", "Validate function bodies at creation.",
            category=_STATEMENT),
    Setting("row_security", "on", "bool", "Apply row security policies.",
            category=_STATEMENT),
    Setting("client_min_messages", "notice", "enum", "Lowest message level sent to the "
            "client.", choices=_CLIENT_MESSAGE_LEVELS, category=_STATEMENT,
            aliases=(("info", "notice"),)),
    # -- locale and formatting
    Setting("client_encoding", "UTF8", "string", "The client's character set.",
            category=_LOCALE, flags=_REPORT | GucFlag.NOT_IN_SAMPLE),
    Setting("DateStyle", "ISO, MDY", "string", "Display format of dates and times.",
            category=_LOCALE, flags=_REPORT | GucFlag.LIST_INPUT),
    Setting("IntervalStyle", "postgres", "enum", "Display format of intervals.",
            choices=("postgres", "postgres_verbose", "sql_standard", "iso_8601"),
            category=_LOCALE, flags=_REPORT),
    Setting("TimeZone", "Etc/UTC", "string", "Time zone for displaying and reading times.",
            category=_LOCALE, flags=_REPORT),
    Setting("timezone_abbreviations", "Default", "string", "Time zone abbreviations accepted "
            "in input.", category=_LOCALE),
    Setting("extra_float_digits", "1", "int", "Extra digits shown for floating-point values.",
            category=_LOCALE, min_value=-15, max_value=3),
    Setting("lc_messages", "C", "string", "Language of messages.", context="superuser",
            category=_LOCALE),
    Setting("lc_monetary", "C", "string", "Locale for money amounts.", category=_LOCALE),
    Setting("lc_numeric", "C", "string", "Locale for numbers.", category=_LOCALE),
    Setting("lc_time", "C", "string", "Locale for dates and times.", category=_LOCALE),
    Setting("default_text_search_config", "pg_catalog.simple", "string",
            "Default text search configuration.", category=_LOCALE),
    # -- compatibility
    Setting("standard_conforming_strings", "on", "bool", "Backslashes in '...' strings are "
            "literal.", category=_COMPATIBILITY, flags=_REPORT),
    Setting("escape_string_warning", "on", "bool", "Warn about backslashes in '...' strings.",
            category=_COMPATIBILITY),
    Setting("array_nulls", "on", "bool", "Read NULL in array input as a null element.",
            category=_COMPATIBILITY),
    Setting("quote_all_identifiers", "off", "bool", "Quote every identifier in generated SQL.",
            category=_COMPATIBILITY),
    # -- planner switches (accepted so scripts that set them work)
    Setting("enable_seqscan", "on", "bool", "Allow sequential scans.", category=_PLANNER),
    Setting("enable_indexscan", "on", "bool", "Allow index scans.", category=_PLANNER),
    Setting("enable_bitmapscan", "on", "bool", "Allow bitmap scans.", category=_PLANNER),
    Setting("enable_sort", "on", "bool", "Allow explicit sorts.", category=_PLANNER),
    Setting("default_statistics_target", "100", "int", "Sets the default statistics target "
            "(ANALYZE, sql/analyze.py).", category="Query Tuning / Other Planner Options",
            min_value=1, max_value=10000),
    # -- locks
    Setting("synchronize_seqscans", "on", "bool", "Let a sequential scan start where another "
            "is reading (mirrordb's scans always start at the first block, as PostgreSQL's do "
            "for tables under a quarter of shared_buffers).", category="Version and Platform "
            "Compatibility / Previous PostgreSQL Versions"),
    Setting("deadlock_timeout", "1s", "time", "Wait this long for a lock before checking for "
            "a deadlock.", context="superuser", category=_LOCKS, min_value=1,
            max_value=PG_INT_MAX),
    Setting("max_locks_per_transaction", "64", "int", "Lock table slots per transaction.",
            context="postmaster", category=_LOCKS, min_value=10, max_value=PG_INT_MAX),
    # -- logging
    Setting("log_min_messages", "warning", "enum", "Lowest message level written to the "
            "server log.", choices=_MESSAGE_LEVELS, context="superuser",
            category=_WHEN_TO_LOG),
    Setting("log_min_duration_statement", "-1", "time", "Log statements running at least "
            "this long (-1: none).", context="superuser", category=_WHEN_TO_LOG,
            min_value=-1, max_value=PG_INT_MAX),
    Setting("log_statement", "none", "enum", "Which statements are logged.",
            choices=("none", "ddl", "mod", "all"), context="superuser", category=_WHAT_TO_LOG),
    Setting("log_connections", "off", "bool", "Log each successful connection.",
            context="superuser-backend", category=_WHAT_TO_LOG),
    Setting("log_disconnections", "off", "bool", "Log the end of each session.",
            context="superuser-backend", category=_WHAT_TO_LOG),
    Setting("log_timezone", "Etc/UTC", "string", "Time zone of server log timestamps.",
            context="sighup", category=_WHAT_TO_LOG),
    Setting("application_name", "", "string", "Name the client application reports.",
            category=_WHAT_TO_LOG, flags=_REPORT),
    Setting("cluster_name", "", "string", "Name of this cluster, shown to standbys.",
            context="postmaster", category="Reporting and Logging / Process Title"),
    # -- file locations (set by the server, shown for compatibility)
    Setting("data_directory", "", "string", "The data directory.", context="postmaster",
            category=_FILES, flags=_FIXED),
    Setting("config_file", "", "string", "The main configuration file.", context="postmaster",
            category=_FILES, flags=_FIXED),
    Setting("hba_file", "", "string", "The host-based authentication file.",
            context="postmaster", category=_FILES, flags=GucFlag.NOT_IN_SAMPLE),
    Setting("ident_file", "", "string", "The user name map file.", context="postmaster",
            category=_FILES, flags=GucFlag.NOT_IN_SAMPLE),
    # -- preset (internal) options
    Setting("server_version", SERVER_VERSION, "string", "The server's version.",
            context="internal", category=_PRESET, flags=_REPORT | _FIXED),
    Setting("server_version_num", str(SERVER_VERSION_NUM), "int",
            "The server's version as a number.", context="internal", category=_PRESET,
            min_value=SERVER_VERSION_NUM, max_value=SERVER_VERSION_NUM, flags=_FIXED),
    Setting("server_encoding", "UTF8", "string", "The database's character set.",
            context="internal", category=_PRESET, flags=_REPORT | _FIXED),
    Setting("integer_datetimes", "on", "bool", "Datetimes are 64-bit integers.",
            context="internal", category=_PRESET, flags=_REPORT | _FIXED),
    Setting("in_hot_standby", "off", "bool", "Whether the server is a hot standby now.",
            context="internal", category=_PRESET, flags=_REPORT | _FIXED),
    Setting("lc_collate", "C", "string", "Collation of the database.", context="internal",
            category=_PRESET, flags=_FIXED),
    Setting("lc_ctype", "C", "string", "Character classification of the database.",
            context="internal", category=_PRESET, flags=_FIXED),
    Setting("block_size", "8192", "int", "Size of a data page.", context="internal",
            category=_PRESET, min_value=8192, max_value=8192, flags=_FIXED),
    Setting("wal_block_size", "8192", "int", "Size of a WAL page.", context="internal",
            category=_PRESET, min_value=8192, max_value=8192, flags=_FIXED),
    Setting("wal_segment_size", "16MB", "size", "Size of a WAL segment file.",
            context="internal", category=_PRESET, min_value=MB, max_value=1024 * MB,
            flags=_FIXED),
    Setting("segment_size", "1GB", "size", "Pages per relation segment file.", unit_bytes=8192,
            context="internal", category=_PRESET, min_value=131072, max_value=131072,
            flags=_FIXED),
    Setting("max_identifier_length", "63", "int", "Longest identifier.", context="internal",
            category=_PRESET, min_value=63, max_value=63, flags=_FIXED),
    Setting("max_function_args", "100", "int", "Most arguments of a function.",
            context="internal", category=_PRESET, min_value=100, max_value=100, flags=_FIXED),
    Setting("max_index_keys", "32", "int", "Most columns of an index.", context="internal",
            category=_PRESET, min_value=32, max_value=32, flags=_FIXED),
    Setting("data_checksums", "off", "bool", "Whether data pages carry checksums.",
            context="internal", category=_PRESET, flags=_FIXED),
    Setting("data_directory_mode", "0700", "int", "Mode of the data directory.",
            context="internal", category=_PRESET, min_value=0, max_value=0o777,
            flags=_FIXED | GucFlag.OCTAL),
    Setting("debug_assertions", "off", "bool", "Whether assertion checks are compiled in.",
            context="internal", category=_PRESET, flags=_FIXED),
    # -- session identity (set by the server when a session logs in)
    Setting("is_superuser", "off", "bool", "Whether the session's user is a superuser.",
            context="internal", category=_PRESET, flags=_REPORT | _SESSION_IDENTITY),
    Setting("session_authorization", "", "string", "The session's user name.",
            category=_STATEMENT, flags=_REPORT | _SESSION_IDENTITY),
    Setting("role", "none", "string", "The current role (SET ROLE).", category=_STATEMENT,
            flags=_SESSION_IDENTITY),
)


def _index(settings: tuple[Setting, ...]) -> dict[str, Setting]:
    return {setting.name: setting for setting in settings}


SETTINGS_BY_NAME = _index(SETTINGS)
SETTINGS_BY_LOWER_NAME = {setting.name.lower(): setting for setting in SETTINGS}


def find_setting(name: str) -> Setting | None:
    """The setting called ``name`` (case-insensitive), or None."""
    found = SETTINGS_BY_NAME.get(name)
    return found if found is not None else SETTINGS_BY_LOWER_NAME.get(name.lower())


def is_placeholder_name(name: str) -> bool:
    """``prefix.option``: a custom setting PostgreSQL keeps as a string placeholder."""
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+", name) is not None


def placeholder_setting(name: str) -> Setting:
    return Setting(name.lower(), "", "string", "Custom setting.", category="Customized Options",
                   flags=GucFlag.NO_SHOW_ALL | GucFlag.NOT_IN_SAMPLE)


def unrecognized(name: str) -> MirrordbError:
    return MirrordbError(f'unrecognized configuration parameter "{name}"', sqlstate="42704")


# -- parsing text into values --------------------------------------------------------------------

_SIZE_UNITS = {"B": 1, "kB": KB, "MB": MB, "GB": 1024 * MB, "TB": 1024 * 1024 * MB}
_TIME_UNITS = {"us": 0.001, "ms": 1, "s": SECOND_MS, "min": MINUTE_MS, "h": 3_600_000,
               "d": 86_400_000}
_SIZE_UNITS_HINT = 'Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".'
_TIME_UNITS_HINT = ('Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".')
_TRUE_WORDS = ("true", "yes", "on")
_FALSE_WORDS = ("false", "no", "off")
_NUMBER = re.compile(r"\s*([-+]?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+"
                     r"(?:[eE][-+]?\d+)?))\s*(.*?)\s*$")


def invalid_value(name: str, text: str, hint: str | None = None,
                  detail: str | None = None) -> InvalidParameterValue:
    return InvalidParameterValue(f'invalid value for parameter "{name}": "{text}"',
                                 hint=hint, detail=detail)


def parse_value(setting: Setting, text: str, current: object = None,
                name: str | None = None) -> object:
    """Convert ``text`` to the setting's value (bytes, ms, bool, int, float or str).

    ``current`` is the value being replaced (DateStyle keeps the half a new value leaves out);
    ``name`` is the spelling to use in error messages (PostgreSQL echoes the user's).
    """
    shown = name if name is not None else setting.name
    match setting.kind:
        case "bool":
            return parse_bool(shown, text)
        case "int" | "size" | "time":
            return _parse_integer(setting, shown, text)
        case "real":
            return _parse_real(setting, shown, text)
        case "enum":
            return _parse_enum(setting, shown, text)
    check = STRING_CHECKS.get(setting.name)
    return check(text, current) if check is not None else text


def parse_bool(name: str, text: str) -> bool:
    """PostgreSQL's boolean spellings: any prefix of true/false/yes/no, on/off, 1/0."""
    lowered = text.strip().lower()
    if lowered in ("1", "0"):
        return lowered == "1"
    if lowered in ("on", "off", "of"):
        return lowered == "on"
    if lowered:
        if any(word.startswith(lowered) for word in ("true", "yes")):
            return True
        if any(word.startswith(lowered) for word in ("false", "no")):
            return False
    raise InvalidParameterValue(f'parameter "{name}" requires a Boolean value')


def _parse_number(text: str) -> tuple[float, str] | None:
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    number_text, unit = match.group(1), match.group(2)
    digits = number_text.lstrip("+-")
    sign = -1 if number_text.startswith("-") else 1
    if digits[:2].lower() == "0x":
        return sign * int(digits, 16), unit
    if re.fullmatch(r"0[0-7]+", digits):
        return sign * int(digits, 8), unit
    return float(number_text), unit


def _parse_integer(setting: Setting, name: str, text: str) -> int:
    parsed = _parse_number(text)
    if parsed is None:
        raise invalid_value(name, text)
    number, unit = parsed
    base = setting.unit
    if unit:
        units = _SIZE_UNITS if setting.kind == "size" else _TIME_UNITS \
            if setting.kind == "time" else None
        if units is None:
            raise invalid_value(name, text)
        if unit not in units:
            raise invalid_value(name, text, hint=_SIZE_UNITS_HINT if setting.kind == "size"
                                else _TIME_UNITS_HINT)
        number = number * units[unit] / base
    in_unit = _round_half_even(number)
    if in_unit > PG_INT_MAX or in_unit < PG_INT_MIN:
        raise invalid_value(name, text, hint="Value exceeds integer range.")
    _check_range(setting, name, in_unit)
    return in_unit * base


def _round_half_even(number: float) -> int:
    if math.isnan(number) or math.isinf(number):
        return PG_INT_MAX + 1
    return round(number)


def _check_range(setting: Setting, name: str, value: float) -> None:
    low, high = setting.min_value, setting.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        unit = setting.unit_name
        if setting.kind == "real":
            shown, bounds = f"{value:g}", f"{low:g} .. {high:g}"
        else:
            shown, bounds = f"{int(value)}", f"{int(low or 0)} .. {int(high or 0)}"
        raise InvalidParameterValue(
            f"{shown}{' ' + unit if unit else ''} is outside the valid range for parameter "
            f'"{name}" ({bounds})')


def _parse_real(setting: Setting, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise invalid_value(name, text) from None
    if math.isnan(value):
        raise invalid_value(name, text)
    _check_range(setting, name, value)
    return value


def _parse_enum(setting: Setting, name: str, text: str) -> str:
    lowered = text.strip().lower()
    for choice in setting.choices:
        if choice.lower() == lowered:
            return choice
    for alias, choice in setting.aliases:
        if alias == lowered:
            return choice
    raise invalid_value(name, text,
                        hint="Available values: " + ", ".join(setting.choices) + ".")


# -- string settings with PostgreSQL's check hooks --------------------------------------------

# PostgreSQL encoding names and the Python codec that reads/writes them.
ENCODINGS: dict[str, str] = {
    "UTF8": "utf-8", "SQL_ASCII": "latin-1", "LATIN1": "latin-1", "LATIN2": "iso8859-2",
    "LATIN3": "iso8859-3", "LATIN4": "iso8859-4", "LATIN5": "iso8859-9", "LATIN6": "iso8859-10",
    "LATIN7": "iso8859-13", "LATIN8": "iso8859-14", "LATIN9": "iso8859-15",
    "LATIN10": "iso8859-16", "ISO_8859_5": "iso8859-5", "ISO_8859_6": "iso8859-6",
    "ISO_8859_7": "iso8859-7", "ISO_8859_8": "iso8859-8", "WIN1250": "cp1250",
    "WIN1251": "cp1251", "WIN1252": "cp1252", "WIN1253": "cp1253", "WIN1254": "cp1254",
    "WIN1255": "cp1255", "WIN1256": "cp1256", "WIN1257": "cp1257", "WIN1258": "cp1258",
    "WIN866": "cp866", "WIN874": "cp874", "KOI8R": "koi8-r", "KOI8U": "koi8-u",
    "EUC_JP": "euc-jp", "EUC_CN": "gb2312", "EUC_KR": "euc-kr", "EUC_JIS_2004": "euc-jis-2004",
    "SJIS": "shift-jis", "SHIFT_JIS_2004": "shift-jis-2004", "BIG5": "big5", "GBK": "gbk",
    "UHC": "cp949", "GB18030": "gb18030", "JOHAB": "johab",
}
_ENCODING_ALIASES = {
    "unicode": "UTF8", "utf": "UTF8", "iso88591": "LATIN1", "iso88592": "LATIN2",
    "iso88593": "LATIN3", "iso88594": "LATIN4", "iso88599": "LATIN5", "iso885910": "LATIN6",
    "iso885913": "LATIN7", "iso885914": "LATIN8", "iso885915": "LATIN9",
    "iso885916": "LATIN10", "windows1250": "WIN1250", "windows1251": "WIN1251",
    "windows1252": "WIN1252", "windows1253": "WIN1253", "windows1254": "WIN1254",
    "windows1255": "WIN1255", "windows1256": "WIN1256", "windows1257": "WIN1257",
    "windows1258": "WIN1258", "windows866": "WIN866", "windows874": "WIN874", "koi8": "KOI8R",
    "shiftjis": "SJIS", "mskanji": "SJIS", "win": "WIN1251", "alt": "WIN866",
    "tcvn": "WIN1258", "tcvn5712": "WIN1258", "vscii": "WIN1258", "abc": "WIN1258",
    "win932": "SJIS", "win936": "GBK", "win949": "UHC", "win950": "BIG5",
}
_ENCODINGS_BY_KEY = {re.sub(r"[^a-z0-9]", "", name.lower()): name for name in ENCODINGS}


def canonical_encoding(text: str) -> str | None:
    """PostgreSQL's encoding name for ``text`` (case and punctuation ignored), or None."""
    key = re.sub(r"[^a-z0-9]", "", text.lower())
    return _ENCODINGS_BY_KEY.get(key) or _ENCODING_ALIASES.get(key)


def python_codec(encoding: str) -> str:
    """The Python codec for a PostgreSQL encoding name (as ``client_encoding`` shows it)."""
    return ENCODINGS[encoding]


TABLE_ACCESS_METHODS = ("heap",)


def _check_table_access_method(text: str, current: object) -> str:
    if text not in TABLE_ACCESS_METHODS:
        raise invalid_value("default_table_access_method", text,
                            detail=f'Table access method "{text}" does not exist.')
    return text


def _check_client_encoding(text: str, current: object) -> str:
    name = canonical_encoding(text)
    if name is None:
        raise invalid_value("client_encoding", text)
    return name


_DATE_STYLES = {"iso": "ISO", "sql": "SQL", "postgres": "Postgres", "german": "German"}
_DATE_ORDERS = {"ymd": "YMD", "dmy": "DMY", "euro": "DMY", "european": "DMY", "mdy": "MDY",
                "us": "MDY", "noneuro": "MDY", "noneuropean": "MDY"}


def _check_date_style(text: str, current: object) -> str:
    """``ISO, MDY`` from any mix of one output style and one field order keyword."""
    style = order = None
    for word in (part.strip().lower() for part in re.split(r"[,\s]+", text.strip())):
        if not word:
            continue
        if word == "default":
            word_style, word_order = "ISO", "MDY"
            style, order = style or word_style, order or word_order
            continue
        if word in _DATE_STYLES:
            if style is not None and style != _DATE_STYLES[word]:
                raise invalid_value("DateStyle", text,
                                    detail='Conflicting "datestyle" specifications.')
            style = _DATE_STYLES[word]
        elif word in _DATE_ORDERS:
            if order is not None and order != _DATE_ORDERS[word]:
                raise invalid_value("DateStyle", text,
                                    detail='Conflicting "datestyle" specifications.')
            order = _DATE_ORDERS[word]
        else:
            raise invalid_value("DateStyle", text, detail=f'Unrecognized key word: "{word}".')
    current_style, _, current_order = str(current or "ISO, MDY").partition(", ")
    if order is None:
        order = "DMY" if style == "German" else current_order or "MDY"
    return f"{style or current_style or 'ISO'}, {order}"


# Canonical zone names accepted as written, without listing the zone database first.
DEFAULT_ZONE_NAMES = frozenset({"Etc/UTC", "Etc/GMT"})


@lru_cache(maxsize=1)
def _timezones_by_lower_name() -> dict[str, str]:
    import zoneinfo  # (~2.5 ms) only a zone name other than the defaults needs the database
    return {name.lower(): name for name in zoneinfo.available_timezones()}


_POSIX_ZONE = re.compile(r"[A-Za-z]{3,}[-+]?\d{1,2}(:\d{2})?([A-Za-z]{3,})?")


def _check_time_zone(text: str, current: object) -> str:
    value = text.strip()
    if value.lower() in ("utc", "gmt", "z", "zulu"):
        return "UTC" if value.lower() != "gmt" else "GMT"
    if re.fullmatch(r"[-+]?\d+(\.\d+)?", value):
        hours = float(value)
        if abs(hours) > 15:   # PostgreSQL's limit on a numeric time zone offset
            raise invalid_value("TimeZone", text)
        return _offset_zone_name(hours)
    if value in DEFAULT_ZONE_NAMES:     # the defaults: no scan of every zone name (~20 ms)
        return value
    canonical = _timezones_by_lower_name().get(value.lower())
    if canonical is not None:
        return canonical
    if _POSIX_ZONE.fullmatch(value) or re.fullmatch(r"<[-+]\d{2}(:\d{2})?>[-+]\d{1,2}(:\d{2})?",
                                                     value):
        return value
    raise invalid_value("TimeZone", text)


def _offset_zone_name(hours: float) -> str:
    """PostgreSQL's name for a numeric offset: 5 -> ``<+05>-05``, -3.5 -> ``<-03:30>+03:30``."""
    sign = "+" if hours >= 0 else "-"
    minutes = round(abs(hours) * 60)
    text = f"{minutes // 60:02d}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    return f"<{sign}{text}>{'-' if sign == '+' else '+'}{text}"


def tzinfo_for(name: str) -> tzinfo:
    """A tzinfo for a TimeZone value as this module canonicalises it."""
    if name in ("UTC", "GMT"):
        return UTC
    offset = re.fullmatch(r"<([-+])(\d{2})(?::(\d{2}))?>.*", name)
    if offset is not None:
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
        return timezone(delta if offset.group(1) == "+" else -delta, name)
    posix = re.fullmatch(r"[A-Za-z]{3,}([-+]?)(\d{1,2})(?::(\d{2}))?", name)
    if posix is not None:  # POSIX offsets count west of Greenwich: GMT+2 is UTC-2
        delta = timedelta(hours=int(posix.group(2)), minutes=int(posix.group(3) or 0))
        return timezone(delta if posix.group(1) == "-" else -delta, name)
    import zoneinfo  # only a named zone needs the zone database
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def _check_application_name(text: str, current: object) -> str:
    """Non-printable and non-ASCII bytes become ``?``, as PostgreSQL cleans them."""
    return "".join(char if 32 <= ord(char) < 127 else "?" * len(char.encode("utf-8"))
                   for char in text)


def _check_synchronous_standby_names(text: str, current: object) -> str:
    """PostgreSQL's grammar for the setting (replication/syncrep_gram.py, pure)."""
    from mirrordb.replication.syncrep_gram import check_standby_names
    return check_standby_names(text, current)


def _recovery_target_check(name: str) -> Callable[[str, object], str]:
    """The check of one recovery target setting (recovery/target.py, imported when used)."""
    def check(text: str, current: object) -> str:
        from mirrordb.recovery.target import SETTING_CHECKS
        return SETTING_CHECKS[name](text)
    return check


STRING_CHECKS: dict[str, Callable[[str, object], str]] = {
    "client_encoding": _check_client_encoding,
    "default_table_access_method": _check_table_access_method,
    "DateStyle": _check_date_style,
    "TimeZone": _check_time_zone,
    "log_timezone": _check_time_zone,
    "application_name": _check_application_name,
    "synchronous_standby_names": _check_synchronous_standby_names,
    "recovery_target": _recovery_target_check("recovery_target"),
    "recovery_target_lsn": _recovery_target_check("recovery_target_lsn"),
    "recovery_target_name": _recovery_target_check("recovery_target_name"),
    "recovery_target_time": _recovery_target_check("recovery_target_time"),
    "recovery_target_xid": _recovery_target_check("recovery_target_xid"),
}


# -- values back to text -------------------------------------------------------------------------

def format_value(setting: Setting, value: object) -> str:
    """``SHOW``'s text: ``128MB``, ``5min``, ``on``, ``0.9``, ``0777``..."""
    match setting.kind:
        case "bool":
            return "on" if value else "off"
        case "real":
            return f"{as_float(value):g}"
        case "size":
            return _with_best_unit(as_int(value), setting.unit_bytes, _SIZE_UNITS)
        case "time":
            return _with_best_unit(as_int(value), setting.unit_ms, _TIME_UNITS)
        case "int":
            number = as_int(value)
            return f"{number:04o}" if GucFlag.OCTAL in setting.flags else str(number)
    return str(value)


def as_int(value: object) -> int:
    """A stored int/size/time value, typed (bool is not accepted)."""
    invariant(isinstance(value, int) and not isinstance(value, bool),
              f"expected an integer setting value, got {value!r}")
    return value  # type: ignore[return-value]


def as_float(value: object) -> float:
    invariant(isinstance(value, (int, float)) and not isinstance(value, bool),
              f"expected a real setting value, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _with_best_unit(value: int, base: int, units: Mapping[str, float]) -> str:
    """The largest unit that shows ``value`` exactly, never below the setting's own unit."""
    if value <= 0:
        return str(value // base)
    floor = max(size for size in units.values() if size <= base)
    for name, size in sorted(units.items(), key=lambda item: -item[1]):
        if size >= floor and value % size == 0:
            return f"{int(value // size)}{name}"
    return str(value)


def in_setting_unit(setting: Setting, value: object) -> str:
    """pg_settings.setting: the value counted in the setting's unit (``16384`` for 128MB)."""
    if setting.kind in ("size", "time"):
        return str(as_int(value) // setting.unit)
    if setting.kind == "int":
        return str(as_int(value))
    return format_value(setting, value)


def quote_config_value(text: str) -> str:
    """A value as a configuration file line writes it: ``'it''s'``."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


# -- configuration files ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigEntry:
    """One ``name = value`` line of a configuration file."""

    name: str          # as written, lower-cased
    value: str
    file: str
    line: int


@dataclass(frozen=True)
class Source:
    """Where a value came from (pg_settings.source, sourcefile, sourceline)."""

    kind: str = "default"   # default | configuration file | command line | override | ...
    file: str | None = None
    line: int | None = None


_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.$]*)\s*=?\s*(.*?)\s*$")
CONFIG_FILES = ("postgresql.conf", "postgresql.auto.conf")


def parse_config_lines(text: str, file: str = "") -> list[ConfigEntry]:
    """The entries of a postgresql.conf-style file, in order, with their line numbers."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigFileError(f'syntax error in file "{file}" line {number}, near '
                                  f'token "{line.strip()}"', file_name=file)
        entries.append(ConfigEntry(match.group(1).lower(), _unquote(match.group(2)), file,
                                   number))
    return entries


def parse_config_text(text: str) -> dict[str, str]:
    """Name/value pairs of a postgresql.conf-style file (later lines win)."""
    return {entry.name: entry.value for entry in parse_config_lines(text)}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        inner = value[1:-1]
        return re.sub(r"''|\\(.)", lambda m: "'" if m.group(0) == "''" else m.group(1), inner)
    return value


def _strip_comment(line: str) -> str:
    quoted = False
    for index, char in enumerate(line):
        if char == "'":
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


def read_config_files(datadir: str) -> list[ConfigEntry]:
    """Every entry of postgresql.conf then postgresql.auto.conf (missing files are empty)."""
    entries: list[ConfigEntry] = []
    for name in CONFIG_FILES:
        path = os.path.join(datadir, name)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            continue
        entries.extend(parse_config_lines(text, path))
    return entries


# -- effective server values -------------------------------------------------------------------------

_generation_counter = iter(range(1, 2**62))


class Settings:
    """Effective server-wide values: defaults, then files, then overrides (``-c``).

    ``Settings(overrides, datadir)`` raises the first problem as PostgreSQL's start-up would
    (``ConfigFileError`` for a bad file entry, InvalidParameterValue/42704 for a bad override).
    The postmaster builds a new object on each reload (``server/config.reload_settings``);
    ``generation`` grows with each, so sessions notice a reload by comparing it.
    """

    def __init__(self, overrides: dict[str, str] | None = None,
                 datadir: str | None = None) -> None:
        self.values: dict[str, object] = {}
        self.raw: dict[str, str] = {}
        self.sources: dict[str, Source] = {}
        self.pending_restart: set[str] = set()
        self.generation = next(_generation_counter)
        for setting in SETTINGS:
            self.raw[setting.name] = setting.default
            self.values[setting.name] = parse_value(setting, setting.default)
            self.sources[setting.name] = Source()
        if datadir is not None:
            self.set_file_locations(datadir)
            for entry in read_config_files(datadir):
                self.apply(entry.name, entry.value, Source("configuration file", entry.file,
                                                           entry.line), in_file=True)
        for name, value in (overrides or {}).items():
            self.apply(name, str(value), Source("command line"))

    def set_file_locations(self, datadir: str) -> None:
        """data_directory, config_file, hba_file and ident_file for ``datadir``."""
        directory = os.path.abspath(datadir)
        for name, path in (("data_directory", directory),
                           ("config_file", os.path.join(directory, "postgresql.conf")),
                           ("hba_file", os.path.join(directory, "pg_hba.conf")),
                           ("ident_file", os.path.join(directory, "pg_ident.conf"))):
            self.set_internal(name, path)

    def apply(self, name: str, text: str, source: Source, in_file: bool = False) -> None:
        """Set ``name`` from a file line or an override, checking it as start-up does."""
        setting = find_setting(name)
        if setting is None:
            if is_placeholder_name(name):
                setting = placeholder_setting(name)
            elif in_file:
                raise ConfigFileError(f'unrecognized configuration parameter "{name}" in file '
                                      f'"{source.file}" line {source.line}',
                                      file_name=source.file)
            else:
                raise unrecognized(name)
        if setting.context == "internal" or (in_file and
                                             GucFlag.DISALLOW_IN_FILE in setting.flags):
            raise MirrordbError(f'parameter "{setting.name}" cannot be changed',
                                sqlstate="55P02")
        value = parse_value(setting, text, self.values.get(setting.name), name)
        self.raw[setting.name] = text
        self.values[setting.name] = value
        self.sources[setting.name] = source

    def set_internal(self, name: str, text: str) -> None:
        """A value the server itself decides (data_directory, wal_segment_size, ...)."""
        setting = find_setting(name)
        if setting is None:
            raise unrecognized(name)
        self.raw[setting.name] = text
        self.values[setting.name] = parse_value(setting, text, self.values.get(setting.name))
        self.sources[setting.name] = Source("override")

    def get(self, name: str) -> object:
        """The value of ``name`` in its base unit (bytes, ms, bool, int, float or str)."""
        if name in self.values:
            return self.values[name]
        setting = find_setting(name)
        if setting is None or setting.name not in self.values:
            raise KeyError(name)
        return self.values[setting.name]

    def get_int(self, name: str) -> int:
        """An int, size (bytes) or time (ms) setting's value."""
        return as_int(self.get(name))

    def get_str(self, name: str) -> str:
        return str(self.get(name))

    def get_bool(self, name: str) -> bool:
        return bool(self.get(name))

    def show(self, name: str) -> str:
        setting = find_setting(name)
        if setting is None:
            raise unrecognized(name)
        return format_value(setting, self.values[setting.name])


def render_postgresql_conf() -> str:
    """The postgresql.conf initdb writes: every supported setting, commented, with its default."""
    lines = ["# mirrordb configuration file, in PostgreSQL's format.",
             "# Each setting shows its default; uncomment and change it to override.",
             "# Settings marked (change requires restart) are read at server start only.", ""]
    for setting in SETTINGS:
        if setting.context == "internal" or GucFlag.NOT_IN_SAMPLE in setting.flags:
            continue
        restart = " (change requires restart)" if setting.context == "postmaster" else ""
        lines.append(f"#{setting.name} = {quote_config_value(setting.default)}"
                     f"\t\t# {setting.description}{restart}")
    return "\n".join(lines) + "\n"
