"""SQL text to parse trees, through PostgreSQL's own parser (pglast / libpg_query).

Who calls it: the session (sql/session.py) for every simple Query and every Parse message. The
trees are plain dicts and lists decoded from libpg_query's JSON output (DESIGN.md decision 7: the
JSON route is several times faster than building pglast's node objects). A node is a one-key dict
``{"NodeType": {field: value, ...}}``; fields at their default value (0, false, empty) are absent,
so readers use ``.get`` with a default.

A syntax error becomes SQLSTATE 42601 (42P20 for a malformed window frame, as PostgreSQL's grammar
reports it) with the 1-based character position PostgreSQL reports.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pglast.parser import ParseError, parse_sql_json

from mirrordb.common.errors import MirrordbError

Node = dict[str, Any]

PARSE_CACHE_ENTRIES = 512


@dataclass(frozen=True)
class ParsedStatement:
    """One statement of a query string: its node type, its fields, and its own source text."""

    node_type: str
    node: Node
    text: str


_cache: OrderedDict[str, tuple[ParsedStatement, ...]] = OrderedDict()


def parse(sql: str) -> tuple[ParsedStatement, ...]:
    """Every statement in ``sql``; an empty or comment-only string gives an empty tuple."""
    cached = _cache.get(sql)
    if cached is not None:
        _cache.move_to_end(sql)
        return cached
    statements = _parse_uncached(sql)
    _cache[sql] = statements
    if len(_cache) > PARSE_CACHE_ENTRIES:
        _cache.popitem(last=False)
    return statements


def _parse_uncached(sql: str) -> tuple[ParsedStatement, ...]:
    try:
        tree = json.loads(parse_sql_json(sql))
    except ParseError as exc:
        message = exc.args[0] if exc.args else "syntax error"
        location = exc.args[1] if len(exc.args) > 1 else None
        error = MirrordbError(str(message), sqlstate=_grammar_sqlstate(str(message)))
        if str(message).endswith("at end of input"):
            error.position = len(sql) + 1       # PostgreSQL points just past the last character
        elif isinstance(location, int):
            error.position = len(sql.encode()[:location].decode(errors="ignore")) + 1
        raise error from None
    encoded = sql.encode()
    statements = []
    for raw in tree.get("stmts", []):
        (node_type, node), = raw["stmt"].items()
        start = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0)
        piece = encoded[start:start + length] if length else encoded[start:]
        if node_type == "MergeStmt":
            _refuse_merge_syntax_after_15(sql, len(encoded[:start].decode()), node)
        statements.append(ParsedStatement(node_type, node, piece.decode().strip()))
    return tuple(statements)


# MERGE's syntax PostgreSQL 17's grammar (pglast's) added, which PostgreSQL 15's refuses at
# the word it stops at: RETURNING, and the BY of WHEN NOT MATCHED BY SOURCE/TARGET
_MERGE_RETURNING = re.compile(r"\breturning\b", re.IGNORECASE)
_MERGE_NOT_MATCHED_BY = re.compile(r"\bnot\s+matched\s+(by)\b", re.IGNORECASE)


def _refuse_merge_syntax_after_15(sql: str, start: int, node: Node) -> None:
    found = None
    if node.get("returningList") or node.get("returningClause"):
        found = _MERGE_RETURNING.search(sql, start)
    by = _MERGE_NOT_MATCHED_BY.search(sql, start)
    if by is not None and (found is None or by.start(1) < found.start()):
        found = by
    if found is not None:
        word = found.group(found.lastindex or 0)
        error = MirrordbError(f'syntax error at or near "{word}"', sqlstate="42601")
        error.position = found.start(found.lastindex or 0) + 1
        raise error


def _grammar_sqlstate(message: str) -> str:
    """The SQLSTATE of an error PostgreSQL's grammar raises: a malformed window frame (its
    "frame start cannot be UNBOUNDED FOLLOWING" family) is a windowing error, 42P20; the rest
    are syntax errors."""
    return "42P20" if message.startswith("frame ") else "42601"


def strings(nodes: list[Node] | None) -> list[str]:
    """The names in a list of String nodes (qualified names, operator names)."""
    return [n["String"]["sval"] for n in nodes or () if "String" in n]


def one(node: Node) -> tuple[str, Node]:
    """The (type, fields) of a one-key node dict."""
    (node_type, fields), = node.items()
    return node_type, fields
