"""The two kinds of failure.

Operating errors (bad input, a damaged file, a full disk, a peer gone, a serialization conflict) are
``MirrordbError`` subclasses carrying a SQLSTATE, a message, and optionally detail, hint and context,
exactly the fields a PostgreSQL ErrorResponse carries. The SQL layer turns them into ErrorResponses
(protocol/messages.py ``error_from_exception``; the context is field W, psql's "CONTEXT:" line).

Programmer errors (a broken invariant) are ``InvariantViolation``, raised by ``invariant()``. They
are never caught to carry on: a broken invariant in a critical section stops the server rather than
letting it write corrupt data.
"""

from __future__ import annotations


class MirrordbError(Exception):
    """An operating error with PostgreSQL's error fields."""

    sqlstate = "XX000"

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None,
                 sqlstate: str | None = None, position: int | None = None,
                 context: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        # PostgreSQL's CONTEXT (ErrorResponse field W): where the error happened, innermost
        # first, one line each ("JSON data, line 1: ...", then "COPY t, line 2, column b: ...").
        self.context = context
        # 1-based character position in the query text (ErrorResponse field P), or None.
        self.position = position
        if sqlstate is not None:
            self.sqlstate = sqlstate

    def add_context(self, line: str) -> None:
        """Append an outer CONTEXT line, as PostgreSQL's error context callbacks stack them."""
        self.context = line if not self.context else f"{self.context}\n{line}"


class DataCorrupted(MirrordbError):
    """A file or record failed a structural or checksum check (XX001). Decoders raise only this."""

    sqlstate = "XX001"


class WalCorrupted(DataCorrupted):
    """A WAL page or record is invalid; ``lsn`` is where the reader found the problem."""

    def __init__(self, message: str, lsn: int = 0, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.lsn = lsn


class SerializationFailure(MirrordbError):
    """Concurrent update under REPEATABLE READ (40001)."""

    sqlstate = "40001"


class DeadlockDetected(MirrordbError):
    sqlstate = "40P01"


class UniqueViolation(MirrordbError):
    sqlstate = "23505"


class UndefinedObject(MirrordbError):
    """A relation, index or other object does not exist (42P01 for tables)."""

    sqlstate = "42P01"


class DuplicateObject(MirrordbError):
    sqlstate = "42P07"


class InvalidTransactionState(MirrordbError):
    sqlstate = "25000"


class ReadOnlyTransaction(MirrordbError):
    sqlstate = "25006"


class DiskFull(MirrordbError):
    sqlstate = "53100"


class IoError(MirrordbError):
    sqlstate = "58030"


class ObjectNotInPrerequisiteState(MirrordbError):
    sqlstate = "55000"


class QueryCanceled(MirrordbError):
    sqlstate = "57014"


class AdminShutdown(MirrordbError):
    sqlstate = "57P01"


class InvalidParameterValue(MirrordbError):
    sqlstate = "22023"


class ProgramLimitExceeded(MirrordbError):
    sqlstate = "54000"


class InvariantViolation(AssertionError):
    """A programmer error: the code broke one of its own rules. Never caught to continue."""


def invariant(condition: object, message: str) -> None:
    """Check an invariant; unlike ``assert`` it survives ``python -O``."""
    if not condition:
        raise InvariantViolation(message)


class HbaError(MirrordbError):
    """pg_hba.conf cannot be used (F0000 config_file_error), with PostgreSQL's wording.

    ``context`` is PostgreSQL's CONTEXT line, ``line 5 of configuration file "/x/pg_hba.conf"``,
    or None for whole-file problems (unreadable, no entries). PostgreSQL logs every bad line, not
    only the first: ``all_errors`` holds one HbaError per bad line, this one first.
    """

    sqlstate = "F0000"

    def __init__(self, message: str, *, file_name: str, line_number: int | None = None,
                 hint: str | None = None, sqlstate: str | None = None) -> None:
        super().__init__(message, hint=hint, sqlstate=sqlstate)
        self.file_name = file_name
        self.line_number = line_number
        self.context = (None if line_number is None
                        else f'line {line_number} of configuration file "{file_name}"')
        self.all_errors: tuple[HbaError, ...] = (self,)

    def __str__(self) -> str:
        return self.message if self.context is None else f"{self.message} ({self.context})"


class AuthenticationFailed(MirrordbError):
    """Client authentication failed (28P01 invalid_password unless another SQLSTATE is given).

    PostgreSQL tells the client only ``message``; ``log_detail`` is for the server log alone (the
    reason a role could not log in must not reach an unauthenticated peer). Malformed SASL
    messages use this class with SQLSTATE 08P01 and PostgreSQL's "malformed SCRAM message" plus a
    detail, so one ``except AuthenticationFailed`` ends every failed exchange.
    """

    sqlstate = "28P01"

    def __init__(self, message: str, *, detail: str | None = None, sqlstate: str | None = None,
                 log_detail: str | None = None) -> None:
        super().__init__(message, detail=detail, sqlstate=sqlstate)
        self.log_detail = log_detail


class ProtocolViolation(MirrordbError):
    """The peer broke the frontend/backend protocol (08P01), with PostgreSQL's (or libpq's) wording.

    ``fatal`` says whether the byte stream can still be trusted. True (framing lost, a message in
    the wrong phase, a bad startup packet, a failure during authentication): the connection must
    end, as PostgreSQL ends it. False: one well-framed message had a malformed body; PostgreSQL
    reports an ERROR and reads on (skipping to the next Sync inside an extended-query exchange).
    ``message_type`` is the offending message's type byte, None for an untyped startup packet.
    A few violations carry PostgreSQL's own other SQLSTATE (0A000 for an unsupported protocol
    version, 22021 for text that is not valid UTF-8).
    """

    sqlstate = "08P01"

    def __init__(self, message: str, *, fatal: bool = True, message_type: int | None = None,
                 detail: str | None = None, sqlstate: str | None = None) -> None:
        super().__init__(message, detail=detail, sqlstate=sqlstate)
        self.fatal = fatal
        self.message_type = message_type


class ConfigFileError(MirrordbError):
    """A configuration file (postgresql.conf, postgresql.auto.conf) cannot be used (F0000).

    ``file_name`` is the file at fault, when one is.
    """

    sqlstate = "F0000"

    def __init__(self, message: str, *, file_name: str | None = None, detail: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, detail=detail, hint=hint)
        self.file_name = file_name


class LockFileExists(MirrordbError):
    """Another live server owns the data directory or socket (F0001 lock_file_exists)."""

    sqlstate = "F0001"


class CannotConnectNow(MirrordbError):
    """The server is starting up or shutting down and refuses the connection (57P03)."""

    sqlstate = "57P03"


class TooManyConnections(MirrordbError):
    """max_connections (or max_wal_senders) reached (53300 too_many_connections)."""

    sqlstate = "53300"


class CantChangeRuntimeParam(MirrordbError):
    """SET of a setting that cannot change now (55P02 cant_change_runtime_param)."""

    sqlstate = "55P02"


class LockNotAvailable(MirrordbError):
    """lock_timeout expired while waiting for a lock (55P03)."""

    sqlstate = "55P03"


class IdleInTransactionSessionTimeout(AdminShutdown):
    """idle_in_transaction_session_timeout ended the session (25P03, FATAL).

    A subclass of AdminShutdown so one ``except AdminShutdown`` ends the session for every
    terminate request (administrator, shutdown, idle timeouts).
    """

    sqlstate = "25P03"


class IdleSessionTimeout(AdminShutdown):
    """idle_session_timeout ended the session (57P05, FATAL)."""

    sqlstate = "57P05"


class RecoveryConflict(MirrordbError):
    """Replay on a hot standby cancelled the statement (40001 "canceling statement due to
    conflict with recovery"; 57P04 when the conflict is a dropped database)."""

    sqlstate = "40001"


class RecoveryConflictTermination(AdminShutdown):
    """Replay on a hot standby ended the session (FATAL "terminating connection due to conflict
    with recovery", 40001; 57P04 for a dropped database). A subclass of AdminShutdown: it ends
    the session like every terminate request."""

    sqlstate = "40001"


class CommitNotAcknowledged(AdminShutdown):
    """A terminate request (pg_terminate_backend, fast shutdown) ended a commit's wait for
    synchronous replication: the transaction committed locally, the session ends, and the client
    is never told that its statement succeeded (the backend drops the output not yet sent, as
    PostgreSQL stops all output to the client then)."""
