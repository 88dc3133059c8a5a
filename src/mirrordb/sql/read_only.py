"""Which statements a read-only transaction or a hot standby refuses, with PostgreSQL 15's words.

``Session.run`` calls ``check_statement`` before it executes a parsed statement. PostgreSQL's
rules (utility.c ClassifyUtilityCommandAsReadOnly, PreventCommandIfReadOnly,
PreventCommandDuringRecovery; execMain.c ExecCheckXactReadOnly) sort every statement into:

* read-only: runs anywhere (SELECT, SHOW, SET, EXPLAIN, cursors, PREPARE/EXECUTE, transaction
  control, ALTER SYSTEM and CHECKPOINT, which a standby turns into a restartpoint request);
* allowed in a read-only transaction but not during recovery, since they write WAL or need an
  xid: VACUUM, ANALYZE, CLUSTER, REINDEX, COPY FROM, NOTIFY, LISTEN, LOCK in a mode stronger than
  ROW EXCLUSIVE, PREPARE TRANSACTION: 25006 "cannot execute VACUUM during recovery";
* not read-only (all DDL, TRUNCATE, GRANT/REVOKE, roles, SELECT INTO, SELECT FOR UPDATE/SHARE, a
  data-modifying WITH): 25006 "cannot execute CREATE TABLE in a read-only transaction".

INSERT/UPDATE/DELETE are refused by the session after planning (PostgreSQL's executor check);
nextval(), setval() and pg_current_xact_id() by their functions (sql/session_functions.py).
The words were checked against a real PostgreSQL 15 standby (tests/integration/
test_hot_standby_statements.py lists them).
"""

from __future__ import annotations

from typing import Any

from mirrordb.common.errors import MirrordbError, ReadOnlyTransaction

Node = dict[str, Any]

ROW_EXCLUSIVE_LOCK = 3      # PostgreSQL's lock mode numbers: LOCK t IN ... MODE
NOT_IN_RECOVERY_TAGS = {"ClusterStmt": "CLUSTER", "ReindexStmt": "REINDEX",
                        "NotifyStmt": "NOTIFY", "ListenStmt": "LISTEN"}
# Statements that change nothing persistent and run on a standby as anywhere else.
READ_ONLY_STATEMENTS = frozenset({
    "SelectStmt", "ExplainStmt", "VariableShowStmt", "VariableSetStmt", "TransactionStmt",
    "AlterSystemStmt", "CallStmt", "DoStmt", "CheckPointStmt", "ClosePortalStmt",
    "ConstraintsSetStmt", "DeallocateStmt", "DeclareCursorStmt", "DiscardStmt", "ExecuteStmt",
    "FetchStmt", "LoadStmt", "PrepareStmt", "UnlistenStmt", "CopyStmt", "LockStmt",
    "VacuumStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", *NOT_IN_RECOVERY_TAGS,
})
# DDL node -> command tag, where the tag is not spelled out from the node name.
DDL_TAGS = {
    "CreateStmt": "CREATE TABLE", "IndexStmt": "CREATE INDEX", "ViewStmt": "CREATE VIEW",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
    "CreateSeqStmt": "CREATE SEQUENCE", "AlterSeqStmt": "ALTER SEQUENCE",
    "AlterTableStmt": "ALTER TABLE", "CreateRoleStmt": "CREATE ROLE",
    "AlterRoleStmt": "ALTER ROLE", "AlterRoleSetStmt": "ALTER ROLE", "DropRoleStmt": "DROP ROLE",
    "AlterDatabaseSetStmt": "ALTER DATABASE", "AlterDatabaseStmt": "ALTER DATABASE",
    "TruncateStmt": "TRUNCATE TABLE", "CommentStmt": "COMMENT", "CreateSchemaStmt":
    "CREATE SCHEMA", "CreatedbStmt": "CREATE DATABASE", "DropdbStmt": "DROP DATABASE",
    "CreateFunctionStmt": "CREATE FUNCTION", "CreateTrigStmt": "CREATE TRIGGER",
    "CreateExtensionStmt": "CREATE EXTENSION", "CreateDomainStmt": "CREATE DOMAIN",
    "CompositeTypeStmt": "CREATE TYPE", "CreateEnumStmt": "CREATE TYPE",
    "AlterEnumStmt": "ALTER TYPE",
    "CreateTableSpaceStmt": "CREATE TABLESPACE", "DropTableSpaceStmt": "DROP TABLESPACE",
    "RuleStmt": "CREATE RULE", "DropOwnedStmt": "DROP OWNED",
    "ReassignOwnedStmt": "REASSIGN OWNED", "AlterOwnerStmt": "ALTER TABLE",
    "AlterDefaultPrivilegesStmt": "ALTER DEFAULT PRIVILEGES",
    "CreatePolicyStmt": "CREATE POLICY", "SecLabelStmt": "SECURITY LABEL",
}
OBJECT_WORDS = {  # ObjectType -> the word of its command tags (DROP INDEX, ALTER SEQUENCE ...)
    "OBJECT_TABLE": "TABLE", "OBJECT_INDEX": "INDEX", "OBJECT_SEQUENCE": "SEQUENCE",
    "OBJECT_VIEW": "VIEW", "OBJECT_MATVIEW": "MATERIALIZED VIEW", "OBJECT_SCHEMA": "SCHEMA",
    "OBJECT_ROLE": "ROLE", "OBJECT_FUNCTION": "FUNCTION",
    "OBJECT_PROCEDURE": "PROCEDURE", "OBJECT_ROUTINE": "ROUTINE", "OBJECT_TYPE": "TYPE",
    "OBJECT_DOMAIN": "DOMAIN", "OBJECT_EXTENSION": "EXTENSION", "OBJECT_TRIGGER": "TRIGGER",
    "OBJECT_DATABASE": "DATABASE", "OBJECT_TABLESPACE": "TABLESPACE",
    "OBJECT_COLUMN": "TABLE", "OBJECT_TABCONSTRAINT": "TABLE", "OBJECT_POLICY": "POLICY",
    "OBJECT_RULE": "RULE", "OBJECT_FOREIGN_TABLE": "FOREIGN TABLE",
}
LOCKING_TAGS = {"LCS_FORUPDATE": "SELECT FOR UPDATE", "LCS_FORNOKEYUPDATE":
                "SELECT FOR NO KEY UPDATE", "LCS_FORSHARE": "SELECT FOR SHARE",
                "LCS_FORKEYSHARE": "SELECT FOR KEY SHARE"}


def refuse_in_read_only(command: str) -> ReadOnlyTransaction:
    """PostgreSQL's PreventCommandIfReadOnly error."""
    return ReadOnlyTransaction(f"cannot execute {command} in a read-only transaction")


def refuse_during_recovery(command: str) -> ReadOnlyTransaction:
    """PostgreSQL's PreventCommandDuringRecovery error."""
    return ReadOnlyTransaction(f"cannot execute {command} during recovery")


def read_write_during_recovery() -> MirrordbError:
    """BEGIN READ WRITE, SET TRANSACTION READ WRITE, SET transaction_read_only = off."""
    return MirrordbError("cannot set transaction read-write mode during recovery",
                         sqlstate="0A000")


def serializable_in_hot_standby() -> MirrordbError:
    return MirrordbError("cannot use serializable mode in a hot standby", sqlstate="0A000",
                         hint="You can use REPEATABLE READ instead.")


def check_statement(node_type: str, node: Node, *, read_only: bool, in_recovery: bool) -> None:
    """Raise PostgreSQL's error if the statement may not run in this transaction."""
    if not read_only and not in_recovery:
        return
    if node_type in READ_ONLY_STATEMENTS:
        if node_type == "SelectStmt":
            _check_select(node, read_only)
            return
        command = _not_in_recovery_command(node_type, node)
        if command is not None and in_recovery:
            raise refuse_during_recovery(command)
        return
    if read_only:
        raise refuse_in_read_only(command_tag(node_type, node))


def _check_select(node: Node, read_only: bool) -> None:
    if not read_only:
        return
    if node.get("intoClause"):
        raise refuse_in_read_only("SELECT INTO")
    locking = node.get("lockingClause")
    if locking:
        strength = locking[0].get("LockingClause", {}).get("strength", "LCS_FORUPDATE")
        raise refuse_in_read_only(LOCKING_TAGS.get(strength, "SELECT FOR UPDATE"))
    if _has_modifying_cte(node):
        raise refuse_in_read_only("SELECT")


def _has_modifying_cte(node: Node) -> bool:
    for cte in (node.get("withClause") or {}).get("ctes", []):
        query = cte.get("CommonTableExpr", {}).get("ctequery", {})
        if any(kind in query for kind in ("InsertStmt", "UpdateStmt", "DeleteStmt",
                                          "MergeStmt")):
            return True
    return False


def _not_in_recovery_command(node_type: str, node: Node) -> str | None:
    """The command tag of a statement that a read-only transaction allows but recovery does
    not, or None."""
    if node_type in NOT_IN_RECOVERY_TAGS:
        return NOT_IN_RECOVERY_TAGS[node_type]
    if node_type == "VacuumStmt":
        return "VACUUM" if node.get("is_vacuumcmd") else "ANALYZE"
    if node_type == "CopyStmt" and node.get("is_from"):
        return "COPY"
    if node_type == "LockStmt" and int(node.get("mode", 8)) > ROW_EXCLUSIVE_LOCK:
        return "LOCK TABLE"
    if node_type == "TransactionStmt" and node.get("kind") in (
            "TRANS_STMT_PREPARE", "TRANS_STMT_COMMIT_PREPARED", "TRANS_STMT_ROLLBACK_PREPARED"):
        return {"TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
                "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
                "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED"}[node["kind"]]
    return None


def command_tag(node_type: str, node: Node) -> str:
    """PostgreSQL's command tag of a statement that is not read-only (CreateCommandTag)."""
    if node_type == "CreateFunctionStmt" and node.get("is_procedure"):
        return "CREATE PROCEDURE"
    if node_type in DDL_TAGS:
        return DDL_TAGS[node_type]
    if node_type == "DropStmt":
        return "DROP " + OBJECT_WORDS.get(str(node.get("removeType")), "TABLE")
    if node_type == "RenameStmt":
        kind = str(node.get("renameType"))
        if kind in ("OBJECT_COLUMN", "OBJECT_TABCONSTRAINT"):
            kind = str(node.get("relationType", "OBJECT_TABLE"))
        return "ALTER " + OBJECT_WORDS.get(kind, "TABLE")
    if node_type == "GrantStmt":
        return "GRANT" if node.get("is_grant") else "REVOKE"
    if node_type == "GrantRoleStmt":
        return "GRANT ROLE" if node.get("is_grant") else "REVOKE ROLE"
    if node_type == "CreateTableAsStmt":
        if node.get("is_select_into"):
            return "SELECT INTO"
        return "CREATE MATERIALIZED VIEW" if node.get("objtype") == "OBJECT_MATVIEW" \
            else "CREATE TABLE AS"
    return _words_of(node_type)


def _words_of(node_type: str) -> str:
    """A fallback tag from the node name: AlterDomainStmt -> ALTER DOMAIN."""
    name = node_type.removesuffix("Stmt")
    words, current = [], ""
    for char in name:
        if char.isupper() and current:
            words.append(current)
            current = ""
        current += char
    words.append(current)
    return " ".join(word.upper() for word in words if word)
