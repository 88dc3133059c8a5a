"""A client session: transaction state, prepared statements, portals, and statement execution.

Who calls it: the server backend (server/backend.py), one ``Session`` per connection, from that
connection's thread only. The backend turns protocol messages into calls here (``simple_query``,
``parse``/``bind``/``execute``/``sync``) and results into protocol messages; this module never
sees bytes on the wire except parameter values in Bind.

Transactions follow PostgreSQL's rules. Outside an explicit block, a simple Query message's
statements share one implicit transaction that commits at the end of the message (or at the first
error, aborts); in the extended protocol the implicit transaction lasts until Sync. BEGIN opens an
explicit block; an error inside it leaves the block failed (status 'E'): every statement but
COMMIT/ROLLBACK/ROLLBACK TO SAVEPOINT gets 25P02, and COMMIT of a failed block rolls back. The
error undoes the innermost savepoint's subtransaction (the failed statement's partial work and
locks with it) or, outside any savepoint, the whole transaction; ROLLBACK TO SAVEPOINT then
reopens the block (``on_error``). ``transaction_status`` is the ReadyForQuery byte.

Statements are dispatched by parse-node type to ``_exec_<NodeType>`` methods; queries and DML go
through the planner (sql/planner.py), DDL straight to the engine's ``Txn``.

Snapshots (access/xact.py): a statement reads with the snapshot ``Transaction.new_statement``
takes (READ COMMITTED: one per statement). When a Query message or a Sync ends inside a
transaction block, the statement is over and ``release_statement_snapshot`` lets the proc's xmin
go (REPEATABLE READ keeps its one), so a session idle in its transaction holds back neither
VACUUM nor, on a standby, replay. A cursor (DECLARE) and a portal suspended by Execute's row
limit keep the snapshot and the command id they started with: registered with the transaction
until they are closed, and swapped in whenever their rows are pulled, as PostgreSQL's portals
do, so the transaction's later changes stay invisible to them. A portal created inside a
savepoint is closed when the savepoint is rolled back (after RELEASE it belongs to the parent).

Relation locks (access/lmgr.py): every relation a statement names is locked before its catalog
entry is read (``lookup_relation``: AccessShareLock for reads, RowExclusiveLock for a DML
target, RowShareLock under FOR UPDATE/SHARE, stronger for DDL); the (OID, mode) pairs taken
while planning are kept with the plan (``PreparedStatement.locks``), and a cached plan takes
them again before it runs, then is re-planned if a DDL commit changed the catalogs meanwhile
(PostgreSQL's AcquireExecutorLocks and plan revalidation). Locks last until the transaction
ends. Lock waits see cancel, statement_timeout and lock_timeout (``SessionLockWaitHooks``).
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mirrordb.access.advisory import AdvisoryLocks
from mirrordb.access.heapam import TmResult
from mirrordb.access.lmgr import NO_LOCK, LockMode, LockWaitHooks
from mirrordb.access.relation import (RELKIND_INDEX, RELKIND_SEQUENCE, RELKIND_TABLE,
                                      RELKIND_VIEW, Column,
                                      Relation)
from mirrordb.access.sequence import SequenceParams
from mirrordb.common.errors import MirrordbError, UniqueViolation, invariant
from mirrordb.sql import catalog_functions
from mirrordb.sql import read_only as read_only_rules
from mirrordb.sql import persistence, schemas, temp_tables
from mirrordb.sql import type_ddl, user_types
from mirrordb.sql import executor as ex
from mirrordb.sql import functions as funcs
from mirrordb.sql import notify as notifylib
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (INT8, TEXT, UNKNOWN, ExecContext, Expr,
                                      ExpressionCompiler, Row, Scope, ScopeColumn, coerce,
                                      coerce_to_bool, const, error_at, feature_not_supported)
from mirrordb.sql.parser import Node, ParsedStatement, one, parse, strings
from mirrordb.sql.planner import OutputColumn, PlanBuilder, QueryPlan

log = logging.getLogger("mirrordb")

MAX_PREPARED_STATEMENTS = 10_000
# parameter types whose text input never depends on the session's TimeZone
ZONE_FREE_INPUT_TYPES = frozenset({T.INT2_OID, T.INT4_OID, T.INT8_OID, T.OID_OID, T.TEXT_OID,
                                   T.VARCHAR_OID, T.BPCHAR_OID, T.NAME_OID, T.BOOL_OID,
                                   T.NUMERIC_OID, T.FLOAT4_OID, T.FLOAT8_OID, UNKNOWN, 0})
MAX_LOCK_RECHECKS = 1000
# Statements that read nothing: they take no snapshot (nor fix a REPEATABLE READ transaction's)
ROUTINE_OBJECTS = frozenset({"OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"})
SNAPSHOT_FREE_STATEMENTS = frozenset({"TransactionStmt", "VariableSetStmt", "VariableShowStmt"})
SERVER_VERSION = "15.0"


class InFailedTransaction(MirrordbError):
    sqlstate = "25P02"


@dataclass(eq=False)
class StatementResult:
    """One statement's outcome: columns (None for commands without rows), rows, and tag.

    ``rows`` may be a lazy iterator (a SELECT streams); ``tag`` is then completed by the caller
    with the number of rows it sent (``command`` + count)."""

    command: str
    columns: list[OutputColumn] | None = None
    rows: Iterator[Row] | list[Row] = field(default_factory=list)
    count: int | None = None
    # str (NOTICE), (severity, text), (severity, text, DETAIL), or a MirrordbError (WARNING)
    notices: list[Any] = field(default_factory=list)
    copy_in: Any = None         # sql.copy.CopyIn: the backend feeds it CopyData
    copy_out: Any = None        # iterator of CopyData payloads for COPY TO STDOUT
    copy_columns: int = 0

    def tag(self, sent: int) -> str:
        count = self.count if self.count is not None else sent
        if self.command in ("SELECT", "FETCH", "MOVE", "UPDATE", "DELETE", "COPY", "MERGE"):
            return f"{self.command} {count}"
        if self.command == "INSERT":
            return f"INSERT 0 {count}"
        return self.command


@dataclass(eq=False)
class PreparedStatement:
    name: str
    statement: ParsedStatement | None        # None for an empty query string
    param_types: list[int]
    plan: QueryPlan | None = None             # cached plan of a SELECT
    columns: list[OutputColumn] | None = None
    generation: int = -1
    user: str = ""     # the current user the plan's privilege checks were made for
    search_path: str = ""   # the search_path the plan's names were resolved under
    locks: tuple[tuple[tuple[int, int], int], ...] = ()  # (relation tag, mode) the plan needs


@dataclass(eq=False)
class Portal:
    name: str
    prepared: PreparedStatement
    params: list[Any]
    result_formats: list[int]
    rows: Iterator[Row] | None = None
    result: StatementResult | None = None
    sent: int = 0
    done: bool = False
    hold: bool = False
    snapshot: Any = None        # (Transaction, Snapshot) it registered and reads with
    # the (sub)transaction it was created in: rolling that back closes the portal (None: no
    # transaction block was open)
    created_in: Any = None


class SessionLockWaitHooks(LockWaitHooks):
    """A session's lock waits: its interrupts, its deadlock_timeout, and lock_timeout armed on
    its interrupt state for the length of each wait (server/interrupts.py raises 55P03)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def check_for_interrupts(self) -> None:
        self._session.check_for_interrupts()

    def deadlock_timeout_ms(self) -> int:
        return int(self._session.settings.get("deadlock_timeout"))

    def wait_started(self) -> None:
        interrupts = self._session.interrupts
        timeout_ms = int(self._session.settings.get("lock_timeout"))
        if interrupts is not None and timeout_ms > 0:
            interrupts.arm_lock_timeout(timeout_ms)

    def wait_ended(self) -> None:
        interrupts = self._session.interrupts
        if interrupts is not None:
            interrupts.disarm_lock_timeout()


class Session:
    """One connection's SQL state (see the module docstring)."""

    def __init__(self, engine: Any, user: str, database: str, settings: Any,
                 server: Any = None, backend_info: Any = None,
                 check_for_interrupts: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.login_user = user      # who authenticated; ``user`` is the current user
        self.database = database
        self.settings = settings
        if hasattr(settings, "current_user_is_superuser"):
            settings.current_user_is_superuser = self._current_user_is_superuser
        self.server = server
        self.backend_info = backend_info
        self.check_for_interrupts = check_for_interrupts or (lambda: None)
        self.interrupts = getattr(backend_info, "interrupts", None)
        self.process_id = getattr(backend_info, "pid", 0)
        self.txn: Any = None
        self.in_block = False
        self.failed = False
        self.implicit = False
        self.prepared: dict[str, PreparedStatement] = {}
        self.portals: dict[str, Portal] = {}
        self.last_sequence_value: int | None = None
        self.pending_warnings: list[Any] = []
        # the owner of the SECURITY DEFINER function running now (sql/user_functions.py)
        self.definer_user: str | None = None
        self.sequence_values: dict[int, int] = {}   # sequence OID -> currval
        self.transaction_started_at: datetime.datetime | None = None
        self.statement_started_at = datetime.datetime.now(datetime.timezone.utc)
        self._defaults_cache: dict[tuple[int, int], dict[int, Expr]] = {}
        self._next_isolation: str | None = None
        self._next_read_only: bool | None = None
        self._settings_in_transaction = False
        self._catalog_lookup = catalog_functions.SessionCatalogLookup(self)
        self._statement_timezone = ""      # TimeZone as the running statement started
        self.lock_wait_hooks = SessionLockWaitHooks(self)
        self.advisory: AdvisoryLocks | None = None   # made by the first advisory lock call
        self.notify: Any = None   # LISTEN/NOTIFY state (sql/notify.py), made at first use
        self.database_oid: int | None = None         # looked up when first needed
        self.backup: Any = None   # pg_backup_start until pg_backup_stop (replication_functions)
        self._plan_locks: list[tuple[tuple[int, int], int]] | None = None  # while planning
        self.temp = temp_tables.attach(self)   # backend ID, pg_temp_N (sql/temp_tables.py)
        self._row_share_names: frozenset[str] | None = None     # FOR UPDATE targets (empty: all)
        if engine.in_recovery() and hasattr(settings, "set_internal"):
            settings.set_internal("in_hot_standby", "on")   # reported at connection start

    # -- who the session is ---------------------------------------------------------------------

    @property
    def session_user(self) -> str:
        """session_user: the authenticated user, or SET SESSION AUTHORIZATION's."""
        get = getattr(self.settings, "get", None)
        chosen = str(get("session_authorization")) if get is not None else ""
        return chosen or self.login_user

    @property
    def user(self) -> str:
        """current_user, whose privileges every check uses: a running SECURITY DEFINER
        function's owner, SET ROLE's role, else the session user."""
        if self.definer_user is not None:
            return self.definer_user
        get = getattr(self.settings, "get", None)
        role = str(get("role")) if get is not None else "none"
        return self.session_user if role == "none" else role

    def _current_user_is_superuser(self) -> bool:
        from mirrordb.sql import roles
        return roles.is_superuser(self)

    def check_identity_setting(self, name: str, value: str) -> None:
        """Before SET ROLE / SET SESSION AUTHORIZATION (or set_config() of them) takes
        effect: PostgreSQL's rules (check_role, check_session_authorization). Roles have no
        members yet, so a non-superuser may only become itself."""
        name = name.lower()
        if name not in ("role", "session_authorization"):
            return
        if name == "role" and value.lower() == "none":
            return
        from mirrordb.sql import roles
        known = roles.roles_by_name(self)
        if name == "session_authorization":
            login = known.get(self.login_user)
            if login is None or not login.superuser:
                if value != self.login_user:
                    raise roles.insufficient_privilege(
                        "permission denied to set session authorization")
        if value not in known:
            raise MirrordbError(f'role "{value}" does not exist', sqlstate="22023")
        if name == "role":
            session_role = known.get(self.session_user)
            if value != self.session_user and (session_role is None or
                                               not session_role.superuser):
                raise roles.insufficient_privilege(f'permission denied to set role "{value}"')

    # -- status ---------------------------------------------------------------------------------

    @property
    def transaction_status(self) -> str:
        if self.failed:
            return "E"
        return "T" if self.in_block else "I"

    @property
    def timezone(self) -> str:
        return self.setting("TimeZone") or "UTC"

    def setting(self, name: str) -> str:
        try:
            return str(self.settings.show(name))
        except MirrordbError:
            return ""

    # -- transactions ---------------------------------------------------------------------------

    def _ensure_transaction(self) -> Any:
        if self.txn is None:
            isolation = self._next_isolation or str(self.settings.get(
                "default_transaction_isolation"))
            read_only = self._next_read_only if self._next_read_only is not None else \
                bool(self.settings.get("default_transaction_read_only"))
            if self.engine.in_recovery():
                read_only = True
            self.txn = self.engine.begin(isolation, read_only, self.check_for_interrupts,
                                         self.lock_wait_hooks, self.process_id)
            self.transaction_started_at = datetime.datetime.now(datetime.timezone.utc)
            self._next_isolation = self._next_read_only = None
            begin = getattr(self.settings, "begin_transaction", None)
            if begin is not None and not self._settings_in_transaction:
                begin()
                self._settings_in_transaction = True
            info = self.backend_info
            if info is not None:
                info.xact_start = self.transaction_started_at
                info.proc = self.txn.transaction.proc   # lock waits show up
            if self.advisory is not None:
                self.advisory.attach(self.txn.transaction.proc)
        return self.txn

    def advisory_locks(self) -> AdvisoryLocks:
        """The session's advisory locks (access/advisory.py), inside its transaction."""
        txn = self._ensure_transaction()
        if self.advisory is None:
            self.advisory = AdvisoryLocks(self.engine.xacts.locks, txn.transaction.proc,
                                          self.lock_wait_hooks)
            for _ in txn.transaction.subtransactions:   # savepoints opened before the first
                self.advisory.savepoint()
        return self.advisory

    def _commit(self) -> None:
        if self.txn is not None and not self.failed:
            temp_tables.pre_commit(self, self.txn)   # ON COMMIT DROP / DELETE ROWS
        txn, self.txn = self.txn, None
        self.in_block = False
        self.failed = False
        self._close_portals_without_hold()
        if txn is not None:
            # a commit that writes is never abandoned half way by a cancel; one that wrote
            # nothing has no WAL to flush and nothing to interrupt
            hold = getattr(self.interrupts, "hold_interrupts", None) if txn.xid else None
            transaction = getattr(txn, "transaction", None)
            if transaction is not None:   # what the commit waits for (access/xact.py)
                transaction.synchronous_commit = str(self.settings.get("synchronous_commit"))
            try:
                if self.notify is not None:   # queue order is commit order (sql/notify.py)
                    self.notify.pre_commit()
                if hold is not None:
                    with hold():     # a commit is never abandoned half way by a cancel
                        txn.commit()
                else:
                    txn.commit()
            except BaseException:
                self._transaction_state_end(False)
                raise
            finally:   # a cancelled or terminated wait for synchronous replication says so
                warning = getattr(transaction, "commit_warning", None)
                if warning is not None:
                    self.pending_warnings.append(warning)
        self._transaction_state_end(True)
        if self.backend_info is not None:
            self.backend_info.xact_start = None

    def _abort(self) -> None:
        txn, self.txn = self.txn, None
        self.in_block = False
        self.failed = False
        self._close_portals_without_hold()
        if txn is not None:
            temp_tables.at_abort(self, txn)
            try:
                txn.abort()
            except MirrordbError:
                log.exception("abort failed")
        self._transaction_state_end(False)
        self._set_activity(xact_start=None)

    def _transaction_state_end(self, committed: bool) -> None:
        """The session's own state that lasts one transaction: transaction-level advisory
        locks are released, SET LOCAL values and SETs of a rolled-back transaction undone."""
        if self.advisory is not None:
            self.advisory.transaction_ended()
        if self.notify is not None:
            self.notify.transaction_ended(committed)
        if not self._settings_in_transaction:
            return
        self._settings_in_transaction = False
        hook = getattr(self.settings, "commit_transaction" if committed else "abort_transaction",
                       None)
        if hook is not None:
            hook()

    def _close_portals_without_hold(self) -> None:
        if not self.portals:
            return
        for name in [n for n, p in self.portals.items() if not p.hold]:
            self._drop_portal(name)

    def _drop_portal(self, name: str) -> Portal | None:
        """Forget a portal, letting go of the snapshot it held."""
        portal = self.portals.pop(name, None)
        if portal is not None:
            _release_portal_snapshot(portal)
        return portal

    def _keep_portal_snapshot(self, portal: Portal) -> None:
        """The portal goes on after this statement (a cursor, a suspended Execute): it holds
        the snapshot its rows started with and reads with it from now on, as of the command it
        started in (PostgreSQL's snapshot curcid): the transaction's later changes stay
        invisible to it, as to any statement they follow."""
        txn = self.txn
        snapshot = txn.transaction.snapshot if txn is not None else None
        if snapshot is None or portal.rows is None:
            return
        txn.transaction.register_snapshot(snapshot)
        portal.snapshot = (txn.transaction, snapshot)
        portal.rows = _rows_read_with(portal.rows, txn.transaction, snapshot,
                                      txn.transaction.own.command_id)

    def _current_subtransaction(self) -> Any:
        """The innermost (sub)transaction of the open transaction block, or None."""
        txn = self.txn
        if txn is None or not self.in_block:
            return None
        return txn.transaction.current_subtransaction

    def _close_portals_of_ended_subtransactions(self, rolled_back: bool) -> None:
        """After RELEASE or ROLLBACK TO SAVEPOINT: a portal created inside a savepoint that was
        rolled back is closed (PostgreSQL closes cursors opened inside a rolled-back savepoint);
        one created inside a released savepoint now belongs to the savepoint's parent, so a
        later rollback of that parent closes it."""
        txn = self.txn
        if txn is None:
            return
        transaction = txn.transaction
        live = {id(transaction.top), *map(id, transaction.subtransactions)}
        for name, portal in list(self.portals.items()):
            if portal.created_in is None or id(portal.created_in) in live:
                continue
            if rolled_back:
                self._drop_portal(name)
            else:
                portal.created_in = transaction.current_subtransaction

    def on_error(self) -> None:
        """After any statement error: fail the explicit block, or abort the implicit one.

        As in PostgreSQL, what failed is undone at once, releasing its locks: the innermost
        savepoint's subtransaction when there is one (the savepoint stays defined, and the block
        keeps its transaction for ROLLBACK TO SAVEPOINT to reopen), else the whole transaction
        (the block then waits for its ROLLBACK or COMMIT, which rolls back). Either way every
        other statement gets 25P02 until then."""
        if not self.in_block:
            self._abort()
            return
        self.failed = True
        txn = self.txn
        if txn is None:
            return
        subtransactions = txn.transaction.subtransactions
        if subtransactions:
            try:
                txn.rollback_to_savepoint(subtransactions[-1].name)
            except MirrordbError:
                log.exception("rollback of the failed subtransaction failed")
            else:
                txn.transaction.mark_failed()
                self._follow_savepoints("rollback_to_savepoint")
                self._close_portals_of_ended_subtransactions(rolled_back=True)
                return
        self.txn = None
        try:
            txn.abort()
        except MirrordbError:
            log.exception("abort failed")
        self._transaction_state_end(False)

    def end_implicit(self) -> None:
        """End of a Query message or Sync: commit the implicit transaction if one is open; in
        a transaction block, the statement's snapshot is no longer held."""
        txn = self.txn
        if txn is None:
            return
        if not self.in_block:
            self._commit()
        else:
            txn.transaction.release_statement_snapshot()

    def terminate(self) -> None:
        """The connection is going away: roll back whatever is open."""
        if self.txn is not None or self.in_block:
            self._abort()
        if self.advisory is not None:
            self.advisory.close()
        if self.notify is not None:
            self.notify.close()
        if self.backup is not None:
            self.backup, backup = None, self.backup
            backup.abort(self.engine)
        temp_tables.detach(self)      # the session's temporary relations go
        T.set_catalog_lookup(None)   # this thread's reg* values show as numbers again

    # -- simple query ---------------------------------------------------------------------------

    def simple_query(self, sql: str) -> Iterator[StatementResult]:
        """Run each statement of a Query message in turn, yielding its result; the caller sends
        the result, then asks for the next. Errors propagate (the caller calls ``on_error``)."""
        statements = parse(sql)
        for statement in statements:
            self._set_activity(query=statement.text or sql, state="active")
            prepared = PreparedStatement("", statement, [])
            yield self.run(prepared, [], max_rows=0)
            if not self.in_block and self.txn is not None and len(statements) == 1:
                pass

    def run(self, prepared: PreparedStatement, params: Sequence[Any],
            max_rows: int = 0) -> StatementResult:
        statement = prepared.statement
        if statement is None:
            return StatementResult("EMPTY")
        node_type = statement.node_type
        if self.failed and not self._allowed_in_failed_block(statement):
            raise InFailedTransaction("current transaction is aborted, commands ignored until "
                                      "end of transaction block")
        self.statement_started_at = datetime.datetime.now(datetime.timezone.utc)
        self._statement_timezone = timezone = self.timezone
        T.set_session_timezone(timezone)
        T.set_catalog_lookup(self._catalog_lookup)
        user_types.install(self)
        in_recovery = self.engine.in_recovery()
        read_only_rules.check_statement(node_type, statement.node,
                                        read_only=self._read_only_now() and (
                                            in_recovery or not persistence.
                                            changes_only_temp_table(self, node_type,
                                                                    statement.node)),
                                        in_recovery=in_recovery)
        method = getattr(self, "_exec_" + node_type, None)
        if type_ddl.handles(node_type, statement.node):
            method = self._exec_user_type_statement
        if method is None:
            raise feature_not_supported(_statement_name(node_type))
        if node_type not in SNAPSHOT_FREE_STATEMENTS and self.txn is not None:
            self.txn.new_statement()
        return method(statement.node, prepared, params)

    def _read_only_now(self) -> bool:
        """Whether the statement about to run is in a read-only transaction (the open one, or
        the implicit one it will start; on a standby every transaction is)."""
        if self.txn is not None:
            return bool(self.txn.transaction.read_only)
        if self.engine.in_recovery():
            return True
        if self._next_read_only is not None:
            return self._next_read_only
        return bool(self.settings.get("default_transaction_read_only"))

    def _allowed_in_failed_block(self, statement: ParsedStatement) -> bool:
        if statement.node_type != "TransactionStmt":
            return False
        kind = statement.node.get("kind")
        return kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_ROLLBACK_TO",
                        "TRANS_STMT_PREPARE", "TRANS_STMT_COMMIT_PREPARED",
                        "TRANS_STMT_ROLLBACK_PREPARED")

    def _context(self, params: Sequence[Any]) -> ExecContext:
        txn = self._ensure_transaction()
        function_context = funcs.FunctionContext(
            timezone=self._statement_timezone or self.timezone,
            transaction_timestamp=self.transaction_started_at or self.statement_started_at,
            statement_timestamp=self.statement_started_at)
        return ExecContext(txn, params, self, function_context, self.check_for_interrupts)

    # -- extended protocol ----------------------------------------------------------------------

    def parse_message(self, name: str, sql: str, param_types: Sequence[int]) -> PreparedStatement:
        if name and name in self.prepared:
            raise MirrordbError(f'prepared statement "{name}" already exists', sqlstate="42P05")
        statements = parse(sql)
        if len(statements) > 1:
            raise MirrordbError("cannot insert multiple commands into a prepared statement",
                                sqlstate="42601")
        prepared = PreparedStatement(name, statements[0] if statements else None,
                                     list(param_types))
        if prepared.statement is not None:
            self._analyze(prepared)
        if name and len(self.prepared) >= MAX_PREPARED_STATEMENTS:
            raise MirrordbError("too many prepared statements", sqlstate="54000")
        self.prepared[name] = prepared
        return prepared

    def _analyze(self, prepared: PreparedStatement) -> None:
        """Plan a query now, so parameter types and result columns are known at Describe."""
        statement = prepared.statement
        assert statement is not None
        if self.failed:
            return
        node_type = statement.node_type
        if (node_type == "SelectStmt" and not statement.node.get("intoClause")) or \
                node_type in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
            self._ensure_transaction().transaction.take_statement_snapshot()
            if node_type != "SelectStmt":
                self._dml_plan(prepared)
                return
            self._ensure_transaction()
            node, types = statement.node, prepared.param_types
            prepared.plan = self._planning(prepared, lambda: self._plan_select(node, types))
            prepared.columns = prepared.plan.columns
            prepared.generation = self._catalog_generation()
            prepared.user = self.user
            prepared.search_path = self.setting("search_path")
        else:
            if node_type == "FetchStmt":
                portal = self.portals.get(statement.node.get("portalname", ""))
                if portal is not None and not statement.node.get("ismove"):
                    prepared.columns = portal.prepared.columns
            for i, t in enumerate(prepared.param_types):
                if not t:
                    prepared.param_types[i] = UNKNOWN

    def _catalog_generation(self) -> int:
        return getattr(self.engine.relcache, "generation", 0)

    def _plan_is_stale(self, prepared: PreparedStatement) -> bool:
        """Plan again: none yet, the catalogs changed (GRANT and REVOKE change them too), the
        current user did (SET ROLE: a plan's privilege checks were made for one user), or
        search_path did (its names may now mean relations of another schema)."""
        return prepared.plan is None or prepared.generation != self._catalog_generation() \
            or prepared.user != self.user \
            or prepared.search_path != self.setting("search_path")

    def describe_statement(self, name: str) -> PreparedStatement:
        prepared = self.prepared.get(name)
        if prepared is None:
            raise MirrordbError(f'prepared statement "{name}" does not exist', sqlstate="26000")
        return prepared

    def bind(self, portal_name: str, statement_name: str, param_formats: Sequence[int],
             raw_params: Sequence[bytes | None], result_formats: Sequence[int]) -> Portal:
        prepared = self.describe_statement(statement_name)
        if self.failed:
            if prepared.statement is None or not self._allowed_in_failed_block(
                    prepared.statement):
                raise InFailedTransaction("current transaction is aborted, commands ignored "
                                          "until end of transaction block")
        if portal_name and portal_name in self.portals:
            raise MirrordbError(f'portal "{portal_name}" already exists', sqlstate="42P03")
        types = prepared.param_types
        if len(raw_params) != len(types) and not (prepared.statement is None and not raw_params):
            raise MirrordbError(
                f"bind message supplies {len(raw_params)} parameters, but prepared statement "
                f'"{statement_name}" requires {len(types)}', sqlstate="08P01")
        if len(param_formats) not in (0, 1, len(raw_params)):
            raise MirrordbError("bind message has wrong number of parameter formats",
                                sqlstate="08P01")
        params = []
        timezone = self.timezone if any(t not in ZONE_FREE_INPUT_TYPES for t in types) else "UTC"
        for i, raw in enumerate(raw_params):
            fmt = param_formats[i] if len(param_formats) > 1 else (param_formats[0]
                                                                   if param_formats else 0)
            type_oid = types[i] if types[i] not in (0, UNKNOWN) else TEXT
            if raw is None:
                params.append(None)
            elif fmt == 1:
                params.append(T.parse_binary(type_oid, raw))
            else:
                try:
                    text = raw.decode()
                except UnicodeDecodeError:
                    raise MirrordbError("invalid byte sequence for encoding \"UTF8\"",
                                        sqlstate="22021") from None
                params.append(T.parse_text(type_oid, text, timezone=timezone))
        portal = Portal(portal_name, prepared, params, list(result_formats),
                        created_in=self._current_subtransaction())
        self._drop_portal(portal_name)
        self.portals[portal_name] = portal
        return portal

    def portal_columns(self, portal: Portal) -> list[OutputColumn] | None:
        """The columns a portal will return (Describe 'P'), planning utility statements that
        return rows (SHOW, EXPLAIN, EXECUTE) only as far as needed to know them."""
        prepared = portal.prepared
        if prepared.columns is not None or prepared.statement is None:
            return prepared.columns
        node_type = prepared.statement.node_type
        if node_type == "VariableShowStmt":
            name = prepared.statement.node["name"]
            if name.lower() == "all":
                return [OutputColumn("name", TEXT), OutputColumn("setting", TEXT),
                        OutputColumn("description", TEXT)]
            return [OutputColumn(name.lower(), TEXT)]
        if node_type == "ExplainStmt":
            return [OutputColumn("QUERY PLAN", TEXT)]
        if node_type == "ExecuteStmt":
            target = self.prepared.get(prepared.statement.node["name"])
            return target.columns if target is not None else None
        if node_type == "FetchStmt" and not prepared.statement.node.get("ismove"):
            cursor = self.portals.get(prepared.statement.node.get("portalname", ""))
            return cursor.prepared.columns if cursor is not None else None
        return None

    def execute_portal(self, name: str, max_rows: int) -> tuple[StatementResult, list[Row], bool]:
        """Run (or continue) a portal: (result, rows of this batch, finished)."""
        portal = self.portals.get(name)
        if portal is None:
            raise MirrordbError(f'portal "{name}" does not exist', sqlstate="34000")
        if portal.result is None:
            self._set_activity(query=portal.prepared.statement.text
                               if portal.prepared.statement else "", state="active")
            portal.result = self.run(portal.prepared, portal.params, max_rows)
            portal.rows = iter(portal.result.rows)
        result = portal.result
        assert portal.rows is not None
        limit = max_rows if max_rows > 0 else None
        if limit is None:
            batch = list(portal.rows)
        else:
            batch = []
            for row in portal.rows:
                batch.append(row)
                if len(batch) >= limit:
                    break
        portal.sent += len(batch)
        finished = limit is None or len(batch) < limit or self._exhausted(portal)
        if finished:
            portal.done = True
            _release_portal_snapshot(portal)
            if not name:
                self.portals.pop(name, None)
        elif portal.snapshot is None:
            self._keep_portal_snapshot(portal)
        return result, batch, finished

    @staticmethod
    def _exhausted(portal: Portal) -> bool:
        assert portal.rows is not None
        try:
            row = next(portal.rows)
        except StopIteration:
            return True
        rows = portal.rows

        def chain() -> Iterator[Row]:
            yield row
            yield from rows
        portal.rows = chain()
        return False

    def close_statement(self, name: str) -> None:
        self.prepared.pop(name, None)

    def close_portal(self, name: str) -> None:
        self._drop_portal(name)

    def sync(self) -> None:
        self._drop_portal("")
        self.end_implicit()

    # -- activity reporting ---------------------------------------------------------------------

    def _set_activity(self, **changes: Any) -> None:
        info = self.backend_info
        if info is None:
            return
        if "query" in changes:
            info.query = changes["query"]
            info.query_start = datetime.datetime.now(datetime.timezone.utc)
        if "state" in changes and getattr(info, "state", None) != changes["state"]:
            info.state = changes["state"]
            info.state_change = datetime.datetime.now(datetime.timezone.utc)
        if "xact_start" in changes:
            info.xact_start = changes["xact_start"]

    # -- relation lookups and views -------------------------------------------------------------

    def lookup_relation(self, name: str, schema: str | None,
                        mode: int = LockMode.ACCESS_SHARE, *,
                        nowait: bool = False) -> Relation | None:
        """The relation ``name``, locked in ``mode`` (``NO_LOCK``: not locked) before its
        catalog entry is read; None if it does not exist (or stopped existing while we waited
        for the lock). A query's table (AccessShare, RowShare, RowExclusive) has its indexes
        locked in the same mode, as PostgreSQL's planner locks them (a REINDEX holds the one
        it rebuilds AccessExclusive). While a plan is made, what was locked is recorded."""
        txn = self._ensure_transaction()
        namespace_oid = schemas.relation_namespace(self, txn, name, schema)
        if namespace_oid is None:
            return None
        if mode == NO_LOCK:
            return txn.find((namespace_oid, name))  # type: ignore[no-any-return]
        row_share = self._row_share_names
        if row_share is not None and mode == LockMode.ACCESS_SHARE and \
                (not row_share or name in row_share):
            mode = LockMode.ROW_SHARE
        shown = f"{schema}.{name}" if schema else name
        lock_indexes = mode <= LockMode.ROW_EXCLUSIVE
        relation: Relation | None = txn.open_relation((namespace_oid, name), mode,
                                                      dont_wait=nowait, shown_name=shown,
                                                      lock_indexes=lock_indexes)
        if relation is not None and self._plan_locks is not None:
            indexes = relation.indexes if lock_indexes else ()
            for oid in [relation.oid, *(info.relation.oid for info in indexes)]:
                tag = txn.relation_tag(oid)
                if tag is not None:
                    self._plan_locks.append((tag, mode))
        return relation

    def _planning(self, prepared: PreparedStatement, plan: Callable[[], Any]) -> Any:
        """Run ``plan()`` recording the relation locks its lookups take into ``prepared``."""
        outer = self._plan_locks
        self._plan_locks = []   # (relation tag, mode): catalogs are never locked (engine.py)
        try:
            result = plan()
            prepared.locks = tuple(dict.fromkeys(self._plan_locks))
        finally:
            self._plan_locks = outer
        return result

    def _lock_cached_plan(self, prepared: PreparedStatement) -> None:
        """Before a cached plan runs: take the locks it was made under again (the caller then
        re-plans if the catalogs changed meanwhile)."""
        locks = prepared.locks
        if locks:
            self.txn.lock_relations(locks)

    def system_view(self, name: str, schema: str | None) -> tuple[list[OutputColumn],
                                                                  Callable[[ExecContext],
                                                                           list[Row]]] | None:
        from mirrordb.sql import sysviews
        return sysviews.lookup(self, name, schema)

    def system_catalog_oid(self, name: str, schema: str | None) -> int | None:
        """The OID of the system catalog ``name`` served by sysviews (its tableoid), or None
        for a system view (views have no system columns)."""
        from mirrordb.sql import sysviews
        return sysviews.catalog_table_oid(name, schema)

    # -- planning -------------------------------------------------------------------------------

    def _plan_select(self, node: Node, param_types: list[int]) -> QueryPlan:
        builder = PlanBuilder(self, param_types)
        self._row_share_names = _locked_names(node)
        try:
            plan = builder.plan_query(node)
        finally:
            self._row_share_names = None
        for i, t in enumerate(param_types):
            if t in (0, UNKNOWN):
                param_types[i] = TEXT
        return plan

    def _cached_select(self, prepared: PreparedStatement) -> QueryPlan:
        assert prepared.statement is not None
        if prepared.plan is not None:
            self._lock_cached_plan(prepared)
        if self._plan_is_stale(prepared):
            node, types = prepared.statement.node, prepared.param_types
            self._replan(prepared, lambda: self._plan_select(node, types))
        assert prepared.plan is not None
        return prepared.plan

    def _replan(self, prepared: PreparedStatement, make: Callable[[], Any]) -> None:
        """(Re)plan ``prepared`` under the current catalogs. A statement whose client was told
        its result columns (a plan existed) may not get different ones: PostgreSQL's "cached
        plan must not change result type" (the old plan stays, so each execution says so)."""
        generation = self._catalog_generation()
        told = prepared.columns if prepared.plan is not None else None
        plan = self._planning(prepared, make)
        if told is not None and _result_shape(told) != _result_shape(plan.columns):
            raise MirrordbError("cached plan must not change result type", sqlstate="0A000")
        prepared.plan = plan
        prepared.columns = plan.columns
        prepared.generation = generation
        prepared.user = self.user
        prepared.search_path = self.setting("search_path")

    # -- SELECT ---------------------------------------------------------------------------------

    def _exec_SelectStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        if node.get("intoClause"):
            from mirrordb.sql import create_table_as
            tag, notices = create_table_as.select_into(self, node, list(params))
            return StatementResult(tag, notices=notices)
        ctx = self._context(params)
        plan = self._cached_select(prepared)
        return StatementResult("SELECT", plan.columns, plan.node.rows(ctx))

    # -- DML ------------------------------------------------------------------------------------

    def _dml_plan(self, prepared: PreparedStatement) -> Any:
        assert prepared.statement is not None
        if prepared.plan is not None:
            self._ensure_transaction()
            self._lock_cached_plan(prepared)
        if self._plan_is_stale(prepared):
            self._ensure_transaction()
            from mirrordb.sql import dml
            builder = PlanBuilder(self, prepared.param_types)
            statement = prepared.statement
            self._replan(prepared, lambda: dml.plan_dml(builder, statement.node_type,
                                                        statement.node))
            for i, t in enumerate(prepared.param_types):
                if t in (0, UNKNOWN):
                    prepared.param_types[i] = TEXT
        return prepared.plan

    def _exec_dml(self, prepared: PreparedStatement, params: Sequence[Any]) -> StatementResult:
        plan = self._dml_plan(prepared)
        ctx = self._context(params)
        transaction = ctx.txn.transaction
        read_only = transaction.read_only
        if read_only:
            statement = prepared.statement
            if not persistence.changes_only_temp_table(self, statement.node_type,
                                                       statement.node):
                raise MirrordbError(f"cannot execute {plan.command} in a read-only "
                                    "transaction", sqlstate="25006")
            transaction.read_only = False   # the session's temporary table: allowed
        try:
            rows, count = plan.run(ctx)
        finally:
            transaction.read_only = read_only
        return StatementResult(plan.command, plan.columns, rows, count)

    def _exec_InsertStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        return self._exec_dml(prepared, params)

    def _exec_UpdateStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        return self._exec_dml(prepared, params)

    def _exec_DeleteStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        return self._exec_dml(prepared, params)

    def _exec_MergeStmt(self, node: Node, prepared: PreparedStatement,
                        params: Sequence[Any]) -> StatementResult:
        return self._exec_dml(prepared, params)

    def column_defaults(self, relation: Relation, builder: PlanBuilder) -> dict[int, Expr]:
        """Compiled DEFAULT expressions by 0-based column index."""
        key = (relation.oid, self._catalog_generation())
        cached = self._defaults_cache.get(key)
        if cached is not None:
            return cached
        own = self.txn.column_defaults(relation)
        stored = {attnum: text for attnum, text in own.items()
                  if not relation.columns[attnum - 1].generated}   # sql/generated.py's
        stored.update(user_types.domain_defaults(relation, own))
        if any(column.identity for column in relation.columns):
            from mirrordb.sql import identity
            stored.update(identity.defaults(self.txn, relation))
        compiler = ExpressionCompiler(builder, Scope())
        result = {}
        for attnum, text in stored.items():
            expr = compiler.compile(json.loads(text))
            column = relation.columns[attnum - 1]
            result[attnum - 1] = coerce(builder, expr, column.type_oid, column.typmod,
                                        "assignment")
        if len(self._defaults_cache) > 256:
            self._defaults_cache.clear()
        self._defaults_cache[key] = result
        return result

    def lock_row_versions(self, ctx: ExecContext, targets: list[tuple[Relation, int, int, int]],
                          row: Row, exclusive: bool, recheck: Expr | None = None) -> Row | None:
        """Lock each target table's version in ``row`` (SELECT ... FOR UPDATE/SHARE). Under READ
        COMMITTED a version updated while we waited is followed to its newest version, which is
        locked instead if it still satisfies WHERE (PostgreSQL's EvalPlanQual); a deleted row is
        skipped, and so is a row another transaction holds under SKIP LOCKED (NOWAIT: 55P03
        from the heap). REPEATABLE READ gets 40001 from the heap."""
        for relation, ctid_index, wait_policy, mode in targets:
            for _ in range(MAX_LOCK_RECHECKS):
                tid = row[ctid_index]
                if tid is None:
                    break
                from mirrordb.sql.partitioning import target as row_target
                result = ctx.txn.lock_row(*row_target(relation, tid), exclusive, wait_policy,
                                          mode)
                if result == TmResult.OK or result == TmResult.SELF_MODIFIED:
                    break
                if result != TmResult.UPDATED:
                    return None
                from mirrordb.sql.partitioning import fetch_latest
                latest = fetch_latest(ctx.txn, relation, tid)
                if latest is None:
                    return None
                new_tid, values = latest
                start = ctid_index - relation.natts
                row = row[:start] + tuple(values) + (new_tid,) + row[ctid_index + 1:]
                if recheck is not None and recheck.fn(row, ctx) is not True:
                    return None
            else:
                raise MirrordbError("too many concurrent updates of one row", sqlstate="40001")
        return row

    # -- transaction statements -----------------------------------------------------------------

    def _exec_TransactionStmt(self, node: Node, prepared: PreparedStatement,
                              params: Sequence[Any]) -> StatementResult:
        kind = node["kind"]
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
            notices = []
            if self.in_block:
                notices.append(("WARNING", "there is already a transaction in progress"))
            else:
                self._check_transaction_options(node.get("options", []))
                self._apply_transaction_options(node.get("options", []))
                self.in_block = True
                starts = self.txn is None
                txn = self._ensure_transaction()
                if starts:     # BEGIN reads nothing: no snapshot until the first query
                    txn.transaction.drop_unused_snapshot()
            return StatementResult("BEGIN" if kind == "TRANS_STMT_BEGIN"
                                   else "START TRANSACTION", notices=notices)
        if kind == "TRANS_STMT_COMMIT":
            if not self.in_block:
                self._commit()
                return StatementResult("COMMIT",
                                       notices=[("WARNING", "there is no transaction in progress")])
            if self.failed:
                self._abort()
                return StatementResult("ROLLBACK")
            self._commit()
            return StatementResult("COMMIT")
        if kind == "TRANS_STMT_ROLLBACK":
            notices = [] if self.in_block else [("WARNING", "there is no transaction in progress")]
            self._abort()
            return StatementResult("ROLLBACK", notices=notices)
        if kind == "TRANS_STMT_SAVEPOINT":
            self._require_block("SAVEPOINT")
            self._ensure_transaction().savepoint(node["savepoint_name"])
            self._follow_savepoints("savepoint")
            return StatementResult("SAVEPOINT")
        if kind == "TRANS_STMT_RELEASE":
            self._require_block("RELEASE SAVEPOINT")
            self._savepoint_call("release_savepoint", node["savepoint_name"])
            self._follow_savepoints("release_savepoint")
            self._close_portals_of_ended_subtransactions(rolled_back=False)
            return StatementResult("RELEASE")
        if kind == "TRANS_STMT_ROLLBACK_TO":
            self._require_block("ROLLBACK TO SAVEPOINT")
            self._savepoint_call("rollback_to_savepoint", node["savepoint_name"])
            self._follow_savepoints("rollback_to_savepoint")
            self.failed = False     # a failed block is open again
            self._close_portals_of_ended_subtransactions(rolled_back=True)
            return StatementResult("ROLLBACK")
        raise feature_not_supported("prepared transactions (two-phase commit)")

    def _follow_savepoints(self, method: str) -> None:
        """Keep SET values and transaction-level advisory locks in step with the savepoint
        stack (levels: 0 the transaction, n its n-th open savepoint), after the transaction's
        own step: a new level at SAVEPOINT, the released one's values and locks handed to its
        parent at RELEASE, the values a savepoint began with restored and the locks taken
        since released when it is rolled back (ROLLBACK TO, or an error inside it), as
        PostgreSQL undoes a subtransaction's SETs and releases its locks."""
        if self.txn is None:
            return
        depth = len(self.txn.transaction.subtransactions)
        settings = self.settings if self._settings_in_transaction else None
        for state in (self.advisory, self.notify, settings):
            hook = getattr(state, method, None)
            if hook is None:
                continue
            if method == "savepoint":
                hook()
            elif method == "release_savepoint":
                hook(depth + 1)       # the level the released savepoint had
            else:
                hook(depth)           # the kept savepoint is the innermost again

    def _savepoint_call(self, method: str, name: str) -> None:
        # a block that failed before its transaction began has no savepoint to go back to
        txn = self.txn if self.failed else self._ensure_transaction()
        if txn is None:
            raise MirrordbError(f'savepoint "{name}" does not exist', sqlstate="3B001")
        try:
            getattr(txn, method)(name)
        except (KeyError, LookupError):
            raise MirrordbError(f'savepoint "{name}" does not exist', sqlstate="3B001") from None

    def _require_block(self, what: str) -> None:
        if not self.in_block:
            raise MirrordbError(f"{what} can only be used in transaction blocks",
                                sqlstate="25005")

    def _apply_transaction_options(self, options: list[Node]) -> None:
        for option in options:
            fields = option["DefElem"]
            name = fields["defname"]
            value = _const_value(fields.get("arg"))
            if name == "transaction_isolation":
                self._next_isolation = str(value)
            elif name == "transaction_read_only":
                self._next_read_only = bool(value)
            elif name == "transaction_deferrable":
                pass

    def _set_open_transaction(self, options: list[Node]) -> None:
        """SET TRANSACTION inside a transaction block: the open transaction changes (its
        isolation level only before its first query, as PostgreSQL's check hooks say)."""
        transaction = self.txn.transaction
        for option in options:
            fields = option["DefElem"]
            value = _const_value(fields.get("arg"))
            if fields["defname"] == "transaction_isolation":
                transaction.set_isolation(str(value))
            elif fields["defname"] == "transaction_read_only":
                transaction.set_read_only(bool(value))

    def _check_transaction_options(self, options: list[Node]) -> None:
        """On a standby: no READ WRITE and no SERIALIZABLE (PostgreSQL's GUC check hooks)."""
        if not self.engine.in_recovery():
            return
        for option in options:
            fields = option["DefElem"]
            value = _const_value(fields.get("arg"))
            if fields["defname"] == "transaction_read_only" and not value:
                raise read_only_rules.read_write_during_recovery()
            if fields["defname"] == "transaction_isolation" and \
                    str(value).lower() == "serializable":
                raise read_only_rules.serializable_in_hot_standby()

    def _check_setting_in_recovery(self, name: str, values: list[str]) -> None:
        value = values[0].lower() if len(values) == 1 else ""
        if name == "transaction_read_only" and value in ("off", "false", "0", "no", "of"):
            raise read_only_rules.read_write_during_recovery()
        if name == "transaction_isolation" and value == "serializable":
            raise read_only_rules.serializable_in_hot_standby()

    # -- settings -------------------------------------------------------------------------------

    def _exec_VariableSetStmt(self, node: Node, prepared: PreparedStatement,
                              params: Sequence[Any]) -> StatementResult:
        kind = node["kind"]
        name = node.get("name", "")
        local = bool(node.get("is_local"))
        if kind == "VAR_SET_MULTI":
            if name == "TRANSACTION" or name == "SESSION CHARACTERISTICS":
                if name == "TRANSACTION":
                    self._check_transaction_options(node.get("args", []))
                if self.txn is not None and name == "TRANSACTION" and self.in_block:
                    self._set_open_transaction(node.get("args", []))
                else:
                    self._apply_transaction_options(node.get("args", []))
                return StatementResult("SET")
            raise feature_not_supported(f"SET {name}")
        if kind == "VAR_RESET_ALL":
            self.settings.reset_all()
            return StatementResult("RESET")
        if kind in ("VAR_RESET", "VAR_SET_DEFAULT"):
            self.settings.reset(name)
            return StatementResult("RESET" if kind == "VAR_RESET" else "SET")
        values = [_setting_text(a) for a in node.get("args", [])]
        if self.engine.in_recovery() and kind == "VAR_SET_VALUE":
            self._check_setting_in_recovery(name.lower(), values)
        if name.lower() == "transaction_isolation":
            self._next_isolation = ", ".join(values)
        if local and self.txn is None and not self.in_block:
            return StatementResult("SET", notices=[
                ("WARNING", "SET LOCAL can only be used in transaction blocks")])
        if len(values) == 1:
            self.check_identity_setting(name, values[0])
        self.settings.set(name, values if len(values) != 1 else values[0], local=local)
        return StatementResult("SET")

    def _exec_VariableShowStmt(self, node: Node, prepared: PreparedStatement,
                               params: Sequence[Any]) -> StatementResult:
        name = node["name"]
        if name.lower() == "all":
            rows = list(self.settings.show_all())
            return StatementResult("SHOW", [OutputColumn("name", TEXT),
                                            OutputColumn("setting", TEXT),
                                            OutputColumn("description", TEXT)], rows)
        value = self._show(name)
        display = name if name.lower() not in ("transaction_isolation",) else name
        return StatementResult("SHOW", [OutputColumn(display.lower(), TEXT)], [(value,)])

    def _show(self, name: str) -> str:
        lowered = name.lower()
        if lowered == "transaction_isolation" or lowered == "transaction isolation level":
            if self.txn is not None:
                return self.txn.transaction.isolation.value
            return self.setting("default_transaction_isolation")
        if lowered == "transaction_read_only":
            if self.txn is not None:
                return "on" if self.txn.transaction.read_only else "off"
            if self.engine.in_recovery():
                return "on"
            return self.setting("default_transaction_read_only")
        return str(self.settings.show(name))

    def _exec_AlterSystemStmt(self, node: Node, prepared: PreparedStatement,
                              params: Sequence[Any]) -> StatementResult:
        from mirrordb.server import config as configlib
        if self.in_block:
            raise MirrordbError("ALTER SYSTEM cannot run inside a transaction block",
                                sqlstate="25001")
        if not getattr(self.settings, "superuser", True):
            raise MirrordbError("must be superuser to execute ALTER SYSTEM command",
                                sqlstate="42501")
        set_node = node["setstmt"]
        kind = set_node["kind"]
        if kind == "VAR_RESET_ALL":
            configlib.alter_system(self.engine.datadir, "all", None)
        elif kind in ("VAR_RESET", "VAR_SET_DEFAULT"):
            configlib.alter_system(self.engine.datadir, set_node["name"], None)
        else:
            values = [_setting_text(a) for a in set_node.get("args", [])]
            configlib.alter_system(self.engine.datadir, set_node["name"], values)
        return StatementResult("ALTER SYSTEM")

    def _exec_DiscardStmt(self, node: Node, prepared: PreparedStatement,
                          params: Sequence[Any]) -> StatementResult:
        target = node.get("target", "DISCARD_ALL")
        if target == "DISCARD_ALL":
            if self.in_block:
                raise MirrordbError("DISCARD ALL cannot run inside a transaction block",
                                    sqlstate="25001")
            self.settings.reset_all()
            self.prepared = {k: v for k, v in self.prepared.items() if not k}
            for portal_name in list(self.portals):
                self._drop_portal(portal_name)
            self.sequence_values.clear()
            self.last_sequence_value = None
            if self.advisory is not None:
                self.advisory.unlock_all_session()
            if self.notify is not None:    # UNLISTEN *, at the implicit commit
                notifylib.execute(self, "UnlistenStmt", {})
            temp_tables.discard(self)
            return StatementResult("DISCARD ALL")
        if target == "DISCARD_PLANS":
            for prepared_statement in self.prepared.values():
                prepared_statement.plan = None
            return StatementResult("DISCARD PLANS")
        if target == "DISCARD_SEQUENCES":
            self.sequence_values.clear()
            self.last_sequence_value = None
            return StatementResult("DISCARD SEQUENCES")
        temp_tables.discard(self)
        return StatementResult("DISCARD TEMP")

    # -- DDL ------------------------------------------------------------------------------------

    def _exec_CreateStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import ddl
        txn = self._ensure_transaction()
        notices = ddl.create_table(self, txn, node)
        return StatementResult("CREATE TABLE", notices=notices)

    def _exec_ViewStmt(self, node: Node, prepared: PreparedStatement,
                       params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import views
        notices = views.create_view(self, self._ensure_transaction(), node)
        return StatementResult("CREATE VIEW", notices=notices)

    def _exec_CreateFunctionStmt(self, node: Node, prepared: PreparedStatement,
                                 params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import user_functions
        text = prepared.statement.text if prepared.statement is not None else ""
        return StatementResult(user_functions.create_routine(self, self._ensure_transaction(),
                                                             node, text))

    def _exec_CreateTrigStmt(self, node: Node, prepared: PreparedStatement,
                             params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import triggers
        return StatementResult(triggers.create_trigger(self, self._ensure_transaction(), node))

    def _exec_DoStmt(self, node: Node, prepared: PreparedStatement,
                     params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import plpgsql
        self._ensure_transaction()
        return StatementResult("DO", notices=plpgsql.do_block(self, node))

    def _exec_AlterFunctionStmt(self, node: Node, prepared: PreparedStatement,
                                params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import user_functions
        return StatementResult(user_functions.alter_routine(self, self._ensure_transaction(),
                                                            node))

    def _exec_AlterObjectSchemaStmt(self, node: Node, prepared: PreparedStatement,
                                    params: Sequence[Any]) -> StatementResult:
        if node.get("objectType") not in ROUTINE_OBJECTS:
            raise feature_not_supported("ALTER ... SET SCHEMA")
        from mirrordb.sql import user_functions
        return StatementResult(user_functions.set_schema(self, self._ensure_transaction(),
                                                         node))

    def _exec_CallStmt(self, node: Node, prepared: PreparedStatement,
                       params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import user_functions
        columns, rows = user_functions.call(self, node, list(params), prepared.param_types)
        return StatementResult("CALL", columns, rows)

    def _exec_CreateTableAsStmt(self, node: Node, prepared: PreparedStatement,
                                params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import create_table_as
        tag, notices = create_table_as.create_table_as(self, node, list(params))
        return StatementResult(tag, notices=notices)

    def _exec_RefreshMatViewStmt(self, node: Node, prepared: PreparedStatement,
                                 params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import create_table_as
        return StatementResult(create_table_as.refresh(self, node))

    def _exec_AlterTableStmt(self, node: Node, prepared: PreparedStatement,
                             params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import ddl, triggers
        if triggers.is_enable_disable(node):
            return StatementResult(triggers.enable_disable(self, self._ensure_transaction(),
                                                           node))
        notices = ddl.alter_table(self, self._ensure_transaction(), node)
        tag = {"OBJECT_VIEW": "ALTER VIEW", "OBJECT_SEQUENCE": "ALTER SEQUENCE",
               "OBJECT_INDEX": "ALTER INDEX"}.get(node.get("objtype", ""), "ALTER TABLE")
        return StatementResult(tag, notices=notices)

    def _exec_RenameStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        if node.get("renameType") in ROUTINE_OBJECTS:
            from mirrordb.sql import user_functions
            return StatementResult(user_functions.rename_routine(
                self, self._ensure_transaction(), node))
        if node.get("renameType") == "OBJECT_TRIGGER":
            from mirrordb.sql import triggers
            return StatementResult(triggers.rename_trigger(self, self._ensure_transaction(),
                                                           node))
        if node.get("renameType") == "OBJECT_DATABASE":
            from mirrordb.sql import alter_database
            return StatementResult(alter_database.rename_database(
                self, self._ensure_transaction(), node))
        from mirrordb.sql import ddl
        tag, notices = ddl.rename(self, self._ensure_transaction(), node)
        return StatementResult(tag, notices=notices)

    def _exec_AlterDatabaseStmt(self, node: Node, prepared: PreparedStatement,
                                params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import alter_database
        return StatementResult(alter_database.alter_database(self, self._ensure_transaction(),
                                                             node))

    def _exec_CreatedbStmt(self, node: Node, prepared: PreparedStatement,
                           params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import databases
        databases.create_database(self, node)
        return StatementResult("CREATE DATABASE")

    def _exec_DropdbStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import databases
        notices = databases.drop_database(self, node)
        return StatementResult("DROP DATABASE", notices=notices)

    def _exec_user_type_statement(self, node: Node, prepared: PreparedStatement,
                                  params: Sequence[Any]) -> StatementResult:
        """CREATE TYPE ... AS ENUM, CREATE/ALTER DOMAIN, ALTER/DROP TYPE (sql/type_ddl.py)."""
        tag, notices = type_ddl.execute(self, self._ensure_transaction(),
                                        prepared.statement.node_type,  # type: ignore[union-attr]
                                        node)
        return StatementResult(tag, notices=notices)

    def _exec_CreateSchemaStmt(self, node: Node, prepared: PreparedStatement,
                               params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import schemas
        notices = schemas.create_schema(self, self._ensure_transaction(), node)
        return StatementResult("CREATE SCHEMA", notices=notices)

    def _exec_AlterOwnerStmt(self, node: Node, prepared: PreparedStatement,
                             params: Sequence[Any]) -> StatementResult:
        if node.get("objectType") in ROUTINE_OBJECTS:
            from mirrordb.sql import user_functions
            return StatementResult(user_functions.alter_owner(
                self, self._ensure_transaction(), node))
        if node.get("objectType") == "OBJECT_DATABASE":
            from mirrordb.sql import alter_database
            return StatementResult(alter_database.alter_database_owner(
                self, self._ensure_transaction(), node))
        from mirrordb.sql import owners
        return StatementResult(owners.alter_owner(self, self._ensure_transaction(), node))

    def _exec_AlterSeqStmt(self, node: Node, prepared: PreparedStatement,
                           params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import sequences
        notices = sequences.alter_sequence(self, self._ensure_transaction(), node)
        return StatementResult("ALTER SEQUENCE", notices=notices)

    def _exec_CommentStmt(self, node: Node, prepared: PreparedStatement,
                          params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import comments
        notices = comments.comment(self, self._ensure_transaction(), node)
        return StatementResult("COMMENT", notices=notices)

    def _exec_IndexStmt(self, node: Node, prepared: PreparedStatement,
                        params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import ddl
        notices = ddl.create_index(self, self._ensure_transaction(), node)
        return StatementResult("CREATE INDEX", notices=notices)

    def _exec_CreateSeqStmt(self, node: Node, prepared: PreparedStatement,
                            params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import ddl
        notices = ddl.create_sequence(self, self._ensure_transaction(), node)
        return StatementResult("CREATE SEQUENCE", notices=notices)

    def _exec_DropStmt(self, node: Node, prepared: PreparedStatement,
                       params: Sequence[Any]) -> StatementResult:
        if node.get("removeType") in ROUTINE_OBJECTS:
            from mirrordb.sql import user_functions
            tag, notices = user_functions.drop_routines(self, self._ensure_transaction(), node)
            return StatementResult(tag, notices=notices)
        if node.get("removeType") == "OBJECT_TRIGGER":
            from mirrordb.sql import triggers
            tag, notices = triggers.drop_triggers(self, self._ensure_transaction(), node)
            return StatementResult(tag, notices=notices)
        from mirrordb.sql import ddl
        tag, notices = ddl.drop(self, self._ensure_transaction(), node)
        return StatementResult(tag, notices=notices)

    def _exec_TruncateStmt(self, node: Node, prepared: PreparedStatement,
                           params: Sequence[Any]) -> StatementResult:
        txn = self._ensure_transaction()
        from mirrordb.sql import foreign_keys, roles, triggers
        context = self._context([])
        truncated_triggers: list[triggers.RelationTriggers | None] = []
        truncated = [found for found in (self.lookup_relation(
            item["RangeVar"]["relname"], item["RangeVar"].get("schemaname"), NO_LOCK)
            for item in node["relations"]) if found is not None]
        notices: list[str] = []
        cascaded: list[int] = []
        if node.get("behavior") == "DROP_CASCADE":
            cascaded, notices = foreign_keys.truncate_cascade(txn, truncated)
        else:
            foreign_keys.refuse_truncate(txn, truncated)
        targets = [(item["RangeVar"]["relname"], self.lookup_relation(
            item["RangeVar"]["relname"], item["RangeVar"].get("schemaname"), NO_LOCK),
            bool(item["RangeVar"].get("inh"))) for item in node["relations"]] + \
            [(str(oid), txn.find(oid), True) for oid in cascaded]
        for name, target, inherited in targets:
            if target is None:
                raise MirrordbError(f'relation "{name}" does not exist', sqlstate="42P01")
            if target.kind in (RELKIND_VIEW, "m"):
                raise MirrordbError(f'"{name}" is not a table', sqlstate="42809")
            roles.check_table_privilege(self, target, "TRUNCATE")
            truncated_triggers.append(triggers.for_relation(self, target))
            triggers.statement_start(context, truncated_triggers[-1], ("TRUNCATE",))
            from mirrordb.sql import partition_ddl
            for leaf in partition_ddl.leaves_to_truncate(txn, target, inherited):
                txn.truncate(leaf.oid)
        for planned in truncated_triggers:
            triggers.statement_end(context, planned, ("TRUNCATE",))
        return StatementResult("TRUNCATE TABLE", notices=notices)

    def _exec_ListenStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        """LISTEN, UNLISTEN and NOTIFY (sql/notify.py)."""
        return StatementResult(notifylib.execute(self, prepared.statement.node_type, node))

    _exec_UnlistenStmt = _exec_NotifyStmt = _exec_ListenStmt

    def take_notifications(self) -> list[Any]:
        """The notifications to send now: the session listens and is idle outside a
        transaction (the backend asks before ReadyForQuery and when woken while idle)."""
        if self.notify is None or self.txn is not None or self.in_block:
            return []
        return self.notify.take_notifications()

    def _exec_LockStmt(self, node: Node, prepared: PreparedStatement,
                       params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import ddl
        ddl.lock_table(self, node)
        return StatementResult("LOCK TABLE")

    def _exec_VacuumStmt(self, node: Node, prepared: PreparedStatement,
                         params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import ddl
        return ddl.vacuum(self, node)

    def _exec_ClusterStmt(self, node: Node, prepared: PreparedStatement,
                          params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import cluster
        return StatementResult("CLUSTER", notices=cluster.cluster(self, node))

    def _exec_ReindexStmt(self, node: Node, prepared: PreparedStatement,
                          params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import reindex
        return StatementResult("REINDEX", notices=reindex.reindex(self, node))

    def _exec_CheckPointStmt(self, node: Node, prepared: PreparedStatement,
                             params: Sequence[Any]) -> StatementResult:
        """A checkpoint, or on a standby a restartpoint (Engine.checkpoint); superusers only
        (PostgreSQL 15 also admits members of pg_checkpoint, a role mirrordb lacks)."""
        from mirrordb.sql import roles
        if not roles.is_superuser(self):
            raise MirrordbError("must be superuser or have privileges of pg_checkpoint to do "
                                "CHECKPOINT", sqlstate="42501")
        self.engine.checkpoint()
        return StatementResult("CHECKPOINT")

    def _exec_ExplainStmt(self, node: Node, prepared: PreparedStatement,
                          params: Sequence[Any]) -> StatementResult:
        inner_type, inner = one(node["query"])
        builder = PlanBuilder(self, list(prepared.param_types))
        self._ensure_transaction()
        if inner_type == "SelectStmt":
            plan_node = builder.plan_query(inner).node
        elif inner_type in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
            from mirrordb.sql import dml
            plan_node = dml.plan_dml(builder, inner_type, inner).explain_node()
        else:
            raise feature_not_supported(f"EXPLAIN of {_statement_name(inner_type)}")
        lines = ex.explain_lines(plan_node)
        return StatementResult("EXPLAIN", [OutputColumn("QUERY PLAN", TEXT)],
                               [(line,) for line in lines])

    # -- roles and privileges (sql/roles.py) -----------------------------------------------------

    def _exec_CreateRoleStmt(self, node: Node, prepared: PreparedStatement,
                             params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import roles
        tag, notices = roles.create_role(self, self._ensure_transaction(), node)
        return StatementResult(tag, notices=notices)

    def _exec_AlterRoleStmt(self, node: Node, prepared: PreparedStatement,
                            params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import roles
        tag, notices = roles.alter_role(self, self._ensure_transaction(), node)
        return StatementResult(tag, notices=notices)

    def _exec_AlterRoleSetStmt(self, node: Node, prepared: PreparedStatement,
                               params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import role_settings
        tag, notices = role_settings.alter_role_set(self, self._ensure_transaction(), node,
                                                    _setting_change(node["setstmt"]))
        return StatementResult(tag, notices=notices)

    def _exec_AlterDatabaseSetStmt(self, node: Node, prepared: PreparedStatement,
                                   params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import role_settings
        tag, notices = role_settings.alter_database_set(self, self._ensure_transaction(), node,
                                                        _setting_change(node["setstmt"]))
        return StatementResult(tag, notices=notices)

    def _exec_DropRoleStmt(self, node: Node, prepared: PreparedStatement,
                           params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import roles
        tag, notices = roles.drop_role(self, self._ensure_transaction(), node)
        return StatementResult(tag, notices=notices)

    def _exec_GrantStmt(self, node: Node, prepared: PreparedStatement,
                        params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import roles
        tag, notices = roles.grant(self, self._ensure_transaction(), node)
        return StatementResult(tag, notices=notices)

    def _exec_GrantRoleStmt(self, node: Node, prepared: PreparedStatement,
                            params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import roles
        tag, notices = roles.grant_role(self, self._ensure_transaction(), node)
        return StatementResult(tag, notices=notices)

    # -- prepared statements in SQL -------------------------------------------------------------

    def _exec_PrepareStmt(self, node: Node, prepared: PreparedStatement,
                          params: Sequence[Any]) -> StatementResult:
        name = node["name"]
        if name in self.prepared:
            raise MirrordbError(f'prepared statement "{name}" already exists', sqlstate="42P05")
        types = [PlanBuilder(self, []).resolve_type(t["TypeName"])[0]
                 for t in node.get("argtypes", [])]
        inner_type, inner = one(node["query"])
        statement = ParsedStatement(inner_type, inner, prepared.statement.text
                                    if prepared.statement else "")
        new = PreparedStatement(name, statement, types)
        self._analyze(new)
        self.prepared[name] = new
        return StatementResult("PREPARE")

    def _exec_ExecuteStmt(self, node: Node, prepared: PreparedStatement,
                          params: Sequence[Any]) -> StatementResult:
        target = self.prepared.get(node["name"])
        if target is None:
            raise MirrordbError(f'prepared statement "{node["name"]}" does not exist',
                                sqlstate="26000")
        builder = PlanBuilder(self, list(prepared.param_types))
        compiler = ExpressionCompiler(builder, Scope())
        ctx = self._context(params)
        values = []
        for i, arg in enumerate(node.get("params", [])):
            expr = compiler.compile(arg)
            wanted = target.param_types[i] if i < len(target.param_types) else TEXT
            expr = coerce(builder, expr, wanted if wanted not in (0, UNKNOWN) else TEXT,
                          context="assignment")
            values.append(expr.fn((), ctx))
        if len(values) != len(target.param_types):
            raise MirrordbError(f"wrong number of parameters for prepared statement "
                                f'"{node["name"]}"', sqlstate="42601",
                                detail=f"Expected {len(target.param_types)} parameters but got "
                                       f"{len(values)}.")
        return self.run(target, values)

    def _exec_DeallocateStmt(self, node: Node, prepared: PreparedStatement,
                             params: Sequence[Any]) -> StatementResult:
        name = node.get("name")
        if name is None:
            self.prepared = {k: v for k, v in self.prepared.items() if not k}
        elif self.prepared.pop(name, None) is None:
            raise MirrordbError(f'prepared statement "{name}" does not exist', sqlstate="26000")
        return StatementResult("DEALLOCATE ALL" if name is None else "DEALLOCATE")

    # -- COPY -----------------------------------------------------------------------------------

    def _exec_CopyStmt(self, node: Node, prepared: PreparedStatement,
                       params: Sequence[Any]) -> StatementResult:
        from mirrordb.sql import copy as copylib
        from mirrordb.sql import generated
        if node.get("filename") is not None or node.get("is_program"):
            raise feature_not_supported("COPY to or from a file or program")
        options = copylib.CopyOptions.from_options(_copy_options(node.get("options", [])))
        ctx = self._context(params)
        builder = PlanBuilder(self, [])
        timezone = self.timezone
        if node.get("is_from"):
            range_var = node["relation"]
            relation = self.lookup_relation(range_var["relname"], range_var.get("schemaname"),
                                            LockMode.ROW_EXCLUSIVE)
            if relation is None:
                raise error_at(f'relation "{range_var["relname"]}" does not exist', "42P01",
                               range_var.get("location", -1))
            from mirrordb.sql import triggers
            if relation.kind == RELKIND_VIEW and \
                    not triggers.has_instead_of(self, relation, "INSERT"):
                raise MirrordbError(f'cannot copy to view "{relation.name}"', sqlstate="42809",
                                    hint="To enable copying to a view, provide an INSTEAD OF "
                                         "INSERT trigger.")
            from mirrordb.sql import partitioning
            partitioned = partitioning.is_partitioned(relation)    # rows go to partitions
            if relation.kind not in (RELKIND_TABLE, RELKIND_VIEW) and not partitioned:
                raise MirrordbError(f'cannot copy to relation "{relation.name}"',
                                    sqlstate="42809")
            if ctx.txn.transaction.read_only:
                raise MirrordbError("cannot execute COPY FROM in a read-only transaction",
                                    sqlstate="25006")
            from mirrordb.sql import roles
            roles.check_table_privilege(self, relation, "INSERT")
            names = strings(node.get("attlist")) or generated.copy_column_names(relation)
            indexes = [self._column_index(relation, n) for n in names]
            generated.refuse_copy(relation, indexes)
            defaults = self.column_defaults(relation, builder)
            parsers = [_text_parser(relation.columns[i].type_oid, relation.columns[i].typmod,
                                    timezone) for i in indexes]
            txn = ctx.txn
            from mirrordb.sql import constraints, foreign_keys
            checks = constraints.checks_for(builder, relation)
            partition = partitioning.partition_check(txn, relation)
            generation = generated.for_relation(builder, relation)
            ri = foreign_keys.for_relation(self, relation)
            fired = triggers.for_relation(self, relation)
            triggers.statement_start(ctx, fired, ("INSERT",))

            def insert(values: list[Any]) -> bool:
                row: list[Any] = [None] * relation.natts
                given = dict(zip(indexes, values))
                for i in range(relation.natts):
                    if i in given:
                        row[i] = given[i]
                    elif i in defaults:
                        row[i] = defaults[i].fn((), ctx)
                if relation.kind == RELKIND_VIEW:      # its INSTEAD OF INSERT triggers
                    return triggers.instead_of_row(ctx, fired, "INSERT", None, row) is not None
                if fired is not None:
                    go, changed = triggers.before_row(ctx, fired, "INSERT", None, row)
                    if not go or changed is None:
                        return False      # a BEFORE trigger skipped the row
                    row = changed
                if generation is not None:
                    generation.compute(row, ctx)
                if checks is not None:
                    checks.verify(row, ctx)
                if partition is not None:
                    partition.verify(row, ctx)
                if partitioned:
                    partitioning.insert(ctx, relation, row)
                else:
                    txn.insert(relation, row)
                if ri is not None:
                    foreign_keys.row_inserted(ctx, ri, row)
                triggers.after_row(ctx, fired, "INSERT", None, row)
                self.check_for_interrupts()
                return True

            def end() -> None:
                foreign_keys.end_of_statement(ctx)
                if fired is not None:
                    triggers.statement_end(ctx, fired, ("INSERT",))
            copy_in = copylib.CopyIn(options, parsers, insert, names, end,
                                     relation_name=relation.name)
            return StatementResult("COPY", copy_in=copy_in, copy_columns=len(names))
        if node.get("query") is not None:
            inner_type, inner = one(node["query"])
            if inner_type != "SelectStmt":
                raise feature_not_supported("COPY of a data-modifying statement")
            plan = builder.plan_query(inner)
            columns, rows = plan.columns, plan.node.rows(ctx)
        else:
            relation = builder.relation(node["relation"])
            if relation.kind in (RELKIND_VIEW, "p"):
                noun = "view" if relation.kind == RELKIND_VIEW else "partitioned table"
                raise MirrordbError(f'cannot copy from {noun} "{relation.name}"',
                                    sqlstate="42809",
                                    hint="Try the COPY (SELECT ...) TO variant.")
            from mirrordb.sql import roles
            roles.check_table_privilege(self, relation, "SELECT")
            names = strings(node.get("attlist")) or generated.copy_column_names(relation)
            indexes = [self._column_index(relation, n) for n in names]
            generated.refuse_copy(relation, indexes)
            columns = [OutputColumn(relation.columns[i].name, relation.columns[i].type_oid)
                       for i in indexes]
            rows = (tuple(values[i] for i in indexes) for _, values in ctx.txn.scan(relation))
        formatters = [_text_formatter(c.type_oid, timezone) for c in columns]
        copy_out = copylib.CopyOut(options, formatters, [c.name for c in columns])
        return _CopyOutResult(copy_out, rows, len(columns))

    @staticmethod
    def _column_index(relation: Relation, name: str) -> int:
        try:
            return relation.column_index(name)
        except KeyError:
            raise MirrordbError(f'column "{name}" of relation "{relation.name}" does not exist',
                                sqlstate="42703") from None

    # -- cursors --------------------------------------------------------------------------------

    def _exec_DeclareCursorStmt(self, node: Node, prepared: PreparedStatement,
                                params: Sequence[Any]) -> StatementResult:
        name = node["portalname"]
        options = node.get("options", 0)
        hold = bool(options & CURSOR_OPT_HOLD)
        if not self.in_block and not hold:
            raise MirrordbError("DECLARE CURSOR can only be used in transaction blocks",
                                sqlstate="25P01")
        if name in self.portals:
            raise MirrordbError(f'cursor "{name}" already exists', sqlstate="42P03")
        if options & CURSOR_OPT_BINARY:
            raise feature_not_supported("binary cursors")
        inner_type, inner = one(node["query"])
        if inner_type != "SelectStmt":
            raise feature_not_supported("cursors over data-modifying statements")
        ctx = self._context(params)
        plan = PlanBuilder(self, list(prepared.param_types)).plan_query(inner)
        statement = ParsedStatement(inner_type, inner, "")
        cursor_statement = PreparedStatement(name, statement, [], plan, plan.columns)
        portal = Portal(name, cursor_statement, list(params), [], hold=hold,
                        created_in=self._current_subtransaction())
        portal.rows = plan.node.rows(ctx)
        portal.result = StatementResult("SELECT", plan.columns)
        if hold:
            portal.rows = iter(list(portal.rows))
        else:
            self._keep_portal_snapshot(portal)
        self.portals[name] = portal
        return StatementResult("DECLARE CURSOR")

    def _exec_FetchStmt(self, node: Node, prepared: PreparedStatement,
                        params: Sequence[Any]) -> StatementResult:
        name = node.get("portalname", "")
        portal = self.portals.get(name)
        if portal is None or portal.rows is None:
            raise MirrordbError(f'cursor "{name}" does not exist', sqlstate="34000")
        direction = node.get("direction", "FETCH_FORWARD")
        how_many = node.get("howMany", 0 if direction == "FETCH_ABSOLUTE" else 1)
        if direction not in ("FETCH_FORWARD",):
            raise feature_not_supported(f"FETCH {direction.removeprefix('FETCH_')}")
        batch: list[Row] = []
        for row in portal.rows:
            batch.append(row)
            if len(batch) >= how_many:
                break
        portal.sent += len(batch)
        if node.get("ismove"):
            return StatementResult("MOVE", count=len(batch))
        assert portal.prepared.columns is not None
        return StatementResult("FETCH", portal.prepared.columns, batch)

    def _exec_ClosePortalStmt(self, node: Node, prepared: PreparedStatement,
                              params: Sequence[Any]) -> StatementResult:
        name = node.get("portalname")
        if name is None:
            for portal_name in [k for k in self.portals if k]:
                self._drop_portal(portal_name)
        elif self._drop_portal(name) is None:
            raise MirrordbError(f'cursor "{name}" does not exist', sqlstate="34000")
        return StatementResult("CLOSE CURSOR" if name is not None else "CLOSE CURSOR ALL")

    # -- functions that need the session --------------------------------------------------------

    def special_function(self, builder: PlanBuilder, name: str, args: list[Expr],
                         location: int) -> Expr | None:
        from mirrordb.sql import session_functions
        return session_functions.compile_special(self, builder, name, args, location)

    def record_function(self, builder: PlanBuilder, name: str, args: list[Expr]
                        ) -> tuple[Callable[[ExecContext], Any], tuple[tuple[str, int], ...]] | None:
        """A function returning one record with named columns, called in FROM (see
        replication_functions.RECORD_FUNCTIONS), or a set of them (monitoring_functions);
        None when ``name`` is neither."""
        from mirrordb.sql import json_set_functions, monitoring_functions, replication_functions
        return replication_functions.record_function_in_from(self, builder, name, args) \
            or monitoring_functions.record_set_in_from(self, builder, name, args) \
            or json_set_functions.rows_in_from(builder, name, args)

    def record_field(self, builder: PlanBuilder, name: str, args: list[Expr], field: str,
                     location: int) -> Expr | None:
        """``(f(...)).field`` of such a function; None when ``name`` is not one."""
        from mirrordb.sql import replication_functions
        return replication_functions.record_field(self, builder, name, args, field, location)

    def sql_value_function(self, builder: PlanBuilder, op: str, typmod: int) -> Expr:
        from mirrordb.sql import session_functions
        return session_functions.sql_value_function(self, builder, op, typmod)


CURSOR_OPT_BINARY = 0x0001
CURSOR_OPT_HOLD = 0x0020


def _rows_read_with(rows: Iterator[Row] | list[Row], transaction: Any, snapshot: Any,
                    command_id: int) -> Iterator[Row]:
    """``rows``, each pulled with ``snapshot`` as the transaction's current snapshot and
    ``command_id`` as its current command, the ones the portal started with (the statement
    running the FETCH or the later Execute has its own)."""
    source = iter(rows)
    own = transaction.own
    while True:
        current_snapshot, current_command_id = transaction.snapshot, own.command_id
        transaction.snapshot, own.command_id = snapshot, command_id
        try:
            row = next(source, None)
        finally:
            pulled_at = own.command_id
            transaction.snapshot, own.command_id = current_snapshot, current_command_id
        if pulled_at != command_id:   # reading rows must not start a command: it would be lost
            invariant(False, f"a portal's read advanced the command id to {pulled_at}")
        if row is None:
            return
        yield row


def _release_portal_snapshot(portal: Portal) -> None:
    held, portal.snapshot = portal.snapshot, None
    if held is not None:
        transaction, snapshot = held
        transaction.unregister_snapshot(snapshot)


class _CopyOutResult(StatementResult):
    """COPY TO STDOUT: the backend streams ``copy_out``; the count is known once it is done."""

    def __init__(self, copy_out: Any, rows: Iterator[Row], width: int) -> None:
        super().__init__("COPY", copy_out=copy_out.lines(rows), copy_columns=width)
        self._formatter = copy_out

    def tag(self, sent: int) -> str:
        return f"COPY {self._formatter.count}"


def _copy_options(options: list[Node]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for option in options:
        fields = option["DefElem"]
        arg = fields.get("arg")
        value: Any = True
        if arg is not None:
            kind, inner = one(arg)
            value = {"String": lambda f: f.get("sval", ""), "Boolean": lambda f: f.get(
                "boolval", False), "Integer": lambda f: f.get("ival", 0)}.get(
                kind, lambda f: True)(inner)
        result[fields["defname"]] = value
    return result


def _text_parser(type_oid: int, typmod: int, timezone: str) -> Callable[[str], Any]:
    parse = T.parse_text
    return lambda text: parse(type_oid, text, typmod, timezone=timezone)


def _text_formatter(type_oid: int, timezone: str) -> Callable[[Any], str]:
    if type_oid == 27:
        return lambda v: f"({v[0]},{v[1]})"
    output = T.format_text
    return lambda v: output(type_oid, v, timezone=timezone)


def _result_shape(columns: list[OutputColumn] | None) -> list[tuple[str, int, int]] | None:
    if columns is None:
        return None
    return [(column.name, column.type_oid, column.typmod) for column in columns]


def _locked_names(node: Node) -> frozenset[str] | None:
    """The relations a SELECT's FOR UPDATE/SHARE clauses lock (RowShareLock instead of
    AccessShareLock): None without such a clause, empty for "every relation"."""
    clauses = node.get("lockingClause")
    if not clauses:
        return None
    names: set[str] = set()
    for clause in clauses:
        targets = clause["LockingClause"].get("lockedRels", [])
        if not targets:
            return frozenset()
        names.update(target["RangeVar"]["relname"] for target in targets)
    return frozenset(names)


def _const_value(node: Node | None) -> Any:
    if node is None:
        return None
    kind, fields = one(node)
    if kind == "A_Const":
        for key in ("ival", "fval", "sval", "boolval"):
            if key in fields:
                inner = fields[key]
                return inner.get(key, 0 if key == "ival" else "" if key != "boolval" else False)
        return None
    if kind == "TypeCast":
        return _const_value(fields["arg"])
    return None


def _setting_text(node: Node) -> str:
    kind, fields = one(node)
    if kind == "A_Const":
        value = _const_value(node)
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value)
    if kind == "TypeCast":
        return _setting_text(fields["arg"])
    raise feature_not_supported("this SET value")


def _setting_change(node: Node) -> Any:
    """The role_settings.SettingChange an ALTER ROLE/DATABASE's VariableSetStmt asks for."""
    from mirrordb.sql.role_settings import SettingChange
    return SettingChange(node["kind"], node.get("name", ""),
                         tuple(_setting_text(argument) for argument in node.get("args", [])))


def _statement_name(node_type: str) -> str:
    return {
        "CreateFunctionStmt": "CREATE FUNCTION", "CreateTrigStmt": "CREATE TRIGGER",
        "ViewStmt": "CREATE VIEW", "CreateSchemaStmt": "CREATE SCHEMA",
        "CreatedbStmt": "CREATE DATABASE", "DropdbStmt": "DROP DATABASE",
        "ListenStmt": "LISTEN", "NotifyStmt": "NOTIFY", "UnlistenStmt": "UNLISTEN",
        "DoStmt": "DO", "CreateTableAsStmt": "CREATE TABLE AS",
        "CommentStmt": "COMMENT", "RuleStmt": "CREATE RULE", "CreateExtensionStmt":
        "CREATE EXTENSION", "ClusterStmt": "CLUSTER", "ReindexStmt": "REINDEX",
        "AlterTableStmt": "ALTER TABLE", "RenameStmt": "ALTER ... RENAME",
        "CopyStmt": "COPY", "DeclareCursorStmt": "DECLARE CURSOR", "FetchStmt": "FETCH",
        "ClosePortalStmt": "CLOSE", "CreateRoleStmt": "CREATE ROLE",
        "AlterRoleStmt": "ALTER ROLE", "DropRoleStmt": "DROP ROLE", "GrantStmt": "GRANT",
        "AlterSystemStmt": "ALTER SYSTEM", "DiscardStmt": "DISCARD",
    }.get(node_type, node_type.removesuffix("Stmt"))


__all__ = ["Session", "StatementResult", "PreparedStatement", "Portal", "SERVER_VERSION",
           "RELKIND_INDEX", "RELKIND_SEQUENCE", "RELKIND_TABLE", "Column", "SequenceParams",
           "UniqueViolation", "INT8", "ScopeColumn", "const", "coerce_to_bool", "error_at",
           "time", "TmResult"]
