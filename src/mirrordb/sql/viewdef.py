"""pg_get_viewdef: a view's stored query printed as PostgreSQL's ruleutils prints a view.

Who calls it: catalog_functions (pg_get_viewdef) and sysviews (pg_views.definition,
information_schema.views.view_definition). The input is the stored query of sql/views.py (column
references already qualified, stars expanded, relations by OID); expressions are printed by
catalog_functions' ExpressionDeparser, so constants get the casts PostgreSQL shows.

The layout is ruleutils' with PRETTYFLAG_INDENT: each clause keyword on its own line at the
query's indentation level (a nested query starts 8 columns further in), one select list item
per line, `` AS name`` after an item unless it is a column of that name. ``pretty`` (psql's
``\\d+``) also drops the parentheses operator precedence makes redundant, as pg_get_expr does.

What differs from PostgreSQL for less simple views: set operations, WITH queries and window
clauses are printed on one line each, not with ruleutils' indentation; a constant in ORDER BY
prints as written; a relation renamed after the view was made keeps the old name as its alias
(PostgreSQL prints the new name everywhere).
"""

from __future__ import annotations

from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import functions as funcs
from mirrordb.sql import ordered_set_aggregates as osa
from mirrordb.sql import types as T
from mirrordb.sql.catalog_functions import CatalogSnapshot, ExpressionDeparser, _Printed
from mirrordb.sql.expressions import Scope, ScopeColumn, nodes_at_level
from mirrordb.sql.parser import Node, one, strings

INDENT_STANDARD = 8      # ruleutils' PRETTYINDENT_STD: a nested query, the clause keywords
INDENT_JOIN = 4          # PRETTYINDENT_JOIN: JOIN keywords below FROM
INDENT_VARIABLE = 4      # PRETTYINDENT_VAR: the second and later select list items


class QueryPrinter:
    """Prints one stored SELECT (and, through sublinks and FROM subqueries, the ones inside)."""

    def __init__(self, session: Any, snapshot: CatalogSnapshot, pretty: bool,
                 column_names: list[str] | None = None) -> None:
        self.session = session
        self.snapshot = snapshot
        self.pretty = pretty
        self.column_names = column_names      # the view's own column names (top level only)
        self.level = 0
        self.in_exists = False                # the next query printed is an EXISTS subquery

    def view(self, query: Node) -> str:
        return self.query(query, None) + ";"

    # -- the query ------------------------------------------------------------------------------

    def query(self, select: Node, outer: Scope | None) -> str:
        if select.get("op", "SETOP_NONE") != "SETOP_NONE":
            return self._set_operation(select, outer)
        scope = self._scope(select.get("fromClause", []), outer)
        expressions = _Expressions(self, scope)
        names, self.column_names = self.column_names, None
        exists, self.in_exists = self.in_exists, False
        text = self._with(select["withClause"]) if select.get("withClause") else ""
        start = self.level
        self.level += INDENT_STANDARD
        text += " SELECT" + self._distinct(select, expressions)
        text += self._targets(select.get("targetList", []), expressions, names, exists)
        if select.get("fromClause"):
            text += self._keyword(" FROM ", 2)
            text += self._from_items(select["fromClause"], expressions)
        if select.get("whereClause"):
            text += self._keyword(" WHERE ", 1) + expressions.top(select["whereClause"])
        if select.get("groupClause"):
            text += self._keyword(" GROUP BY ", 1) + self._group_by(select, expressions)
        if select.get("havingClause"):
            text += self._keyword(" HAVING ", 0) + expressions.top(select["havingClause"])
        if select.get("sortClause"):
            text += self._keyword(" ORDER BY ", 1) + ", ".join(
                self._sort_item(item["SortBy"], select, expressions)
                for item in select["sortClause"])
        if select.get("limitCount"):
            text += self._keyword(" LIMIT ", 0) + expressions.top(select["limitCount"])
        if select.get("limitOffset"):
            text += self._keyword(" OFFSET ", 0) + expressions.top(select["limitOffset"])
        self.level = start
        return text

    def _with(self, with_clause: Node) -> str:
        """WITH name[(columns)] AS (query), ...: each query on its own lines, 8 further in."""
        self.level += INDENT_STANDARD
        parts = []
        for cte_node in with_clause["ctes"]:
            cte = cte_node["CommonTableExpr"]
            name = funcs.quote_ident(cte["ctename"])
            columns = strings(cte.get("aliascolnames"))
            if columns:
                name += "(" + ", ".join(funcs.quote_ident(c) for c in columns) + ")"
            newline = "\n" + " " * self.level
            inner = self.query(cte["ctequery"]["SelectStmt"], None)
            parts.append(f"{name} AS ({newline}{inner}{newline})")
        self.level -= INDENT_STANDARD
        return " WITH " + ", ".join(parts) + "\n" + " " * self.level

    def _keyword(self, word: str, indent_plus: int) -> str:
        """ruleutils' appendContextKeyword(word, -STD, +STD, indent_plus)."""
        return "\n" + " " * (max(self.level - INDENT_STANDARD, 0) + indent_plus) + word

    def _distinct(self, select: Node, expressions: _Expressions) -> str:
        distinct = select.get("distinctClause")
        if not distinct:
            return ""
        if distinct == [{}]:
            return " DISTINCT"
        return " DISTINCT ON (" + ", ".join(expressions.top(e) for e in distinct) + ")"

    def _targets(self, targets: list[Node], expressions: _Expressions,
                 names: list[str] | None, exists: bool) -> str:
        parts = []
        for number, target_node in enumerate(targets):
            target = target_node["ResTarget"]
            value = target["val"]
            text = expressions.top(value)
            # ruleutils shows AS unless a column keeps its name (or, in EXISTS, never named)
            own_name = strings(value["ColumnRef"]["fields"])[-1] if "ColumnRef" in value \
                else "?column?" if exists else None
            name = names[number] if names and number < len(names) else \
                target.get("name") or _default_name(value)
            if name != own_name:
                text += f" AS {funcs.quote_ident(name)}"
            parts.append(text)
        separator = "," + self._keyword("", INDENT_VARIABLE)
        return " " + separator.join(parts)

    def _output_reference(self, item: Node, select: Node, grouping: bool) -> Node:
        """A select list position or output name in ORDER BY/GROUP BY, as the expression it
        stands for (ruleutils prints the expression)."""
        targets = select.get("targetList", [])
        kind, fields = one(item)
        if kind == "A_Const" and "ival" in fields:
            position = int(fields["ival"].get("ival", 0))
            if 1 <= position <= len(targets):
                return targets[position - 1]["ResTarget"]["val"]  # type: ignore[no-any-return]
        if kind == "ColumnRef" and len(fields["fields"]) == 1 and not grouping:
            name = strings(fields["fields"])[0]
            for target in targets:
                if target["ResTarget"].get("name") == name:
                    return target["ResTarget"]["val"]  # type: ignore[no-any-return]
        return item

    def _group_by(self, select: Node, expressions: _Expressions) -> str:
        """GROUP BY's items as ruleutils prints the analysed clause: a top-level ``()`` beside
        other items is gone; in GROUPING SETS a nested GROUPING SETS is merged into its parent
        and a single expression is parenthesised (get_rule_groupingset)."""
        items = select["groupClause"]
        if len(items) > 1:
            items = [item for item in items
                     if item.get("GroupingSet", {}).get("kind") != "GROUPING_SET_EMPTY"]
        distinct = "DISTINCT " if select.get("groupDistinct") else ""
        return distinct + ", ".join(self._group_item(item, select, expressions, True)
                                    for item in items)

    def _group_item(self, item: Node, select: Node, expressions: _Expressions,
                    omit_parens: bool) -> str:
        kind, fields = one(item)
        if kind == "RowExpr":
            return "(" + ", ".join(self._group_item(arg, select, expressions, True)
                                   for arg in fields.get("args", [])) + ")"
        if kind != "GroupingSet":
            text = self._sort_key(self._output_reference(item, select, grouping=True),
                                  expressions)
            return text if omit_parens else f"({text})"
        grouping = fields["kind"]
        if grouping == "GROUPING_SET_EMPTY":
            return "()"
        content = fields.get("content", [])
        if grouping == "GROUPING_SET_SETS":
            flat = _merged_sets(content)
            return "GROUPING SETS (" + ", ".join(
                self._group_item(child, select, expressions, False) for child in flat) + ")"
        word = "ROLLUP(" if grouping == "GROUPING_SET_ROLLUP" else "CUBE("
        return word + ", ".join(self._group_item(child, select, expressions, True)
                                for child in content) + ")"

    def _sort_key(self, node: Node, expressions: _Expressions) -> str:
        """A sort or group key: a column or constant as it is; another expression in
        parentheses when pretty, a function call always (get_rule_sortgroupclause)."""
        kind = one(node)[0]
        text = expressions.top(node)
        if kind in ("ColumnRef", "A_Const") or not (self.pretty or kind == "FuncCall"):
            return text
        return f"({text})"

    def _sort_item(self, sort: Node, select: Node, expressions: _Expressions) -> str:
        text = self._sort_key(self._output_reference(sort["node"], select, grouping=False),
                              expressions)
        direction = sort.get("sortby_dir", "SORTBY_DEFAULT")
        if direction == "SORTBY_DESC":
            text += " DESC"
        nulls = sort.get("sortby_nulls", "SORTBY_NULLS_DEFAULT")
        if nulls == "SORTBY_NULLS_FIRST" and direction != "SORTBY_DESC":
            text += " NULLS FIRST"
        elif nulls == "SORTBY_NULLS_LAST" and direction == "SORTBY_DESC":
            text += " NULLS LAST"
        return text

    def _set_operation(self, select: Node, outer: Scope | None) -> str:
        word = {"SETOP_UNION": "UNION", "SETOP_INTERSECT": "INTERSECT",
                "SETOP_EXCEPT": "EXCEPT"}[select["op"]]
        if select.get("all"):
            word += " ALL"
        names, self.column_names = self.column_names, None
        left = self.query(select["larg"], outer)
        self.column_names = names if names else None
        right = self.query(select["rarg"], outer)
        return f"{left}\n{word}\n{right}"

    # -- FROM -----------------------------------------------------------------------------------

    def _from_items(self, items: list[Node], expressions: _Expressions) -> str:
        separator = "," + self._keyword("", INDENT_VARIABLE)
        return separator.join(self._from_item(item, expressions) for item in items)

    def _from_item(self, item: Node, expressions: _Expressions) -> str:
        kind, fields = one(item)
        if kind == "RangeVar":
            name = fields["relname"]
            text = self._relation_name(fields)
            alias = fields.get("alias", {})
            alias_name = alias.get("aliasname")
            columns = strings(alias.get("colnames"))
            if alias_name and (alias_name != name or columns):
                text += f" {funcs.quote_ident(alias_name)}"
            if columns:
                text += "(" + ", ".join(funcs.quote_ident(c) for c in columns) + ")"
            return text
        if kind == "RangeSubselect":
            inner = self.query(fields["subquery"]["SelectStmt"], None)
            alias = fields.get("alias", {})
            text = f"({inner}) {funcs.quote_ident(alias.get('aliasname', ''))}"
            if fields.get("lateral"):
                text = "LATERAL " + text
            columns = strings(alias.get("colnames"))
            if columns:
                text += "(" + ", ".join(funcs.quote_ident(c) for c in columns) + ")"
            return text
        if kind == "JoinExpr":
            return self._join(fields, expressions)
        if kind == "RangeFunction" and len(fields["functions"]) == 1:
            return self._function_item(fields, expressions)
        return expressions.top(item)

    def _relation_name(self, fields: Node) -> str:
        """A FROM relation's name, schema-qualified when it is not visible on the search
        path (as PostgreSQL's ruleutils prints it; pg_dump empties the path)."""
        text = funcs.quote_ident(fields["relname"])
        entry = self.snapshot.classes.get(int(fields["relid"])) if "relid" in fields else None
        if entry is None or self.snapshot.relation_is_visible(entry):
            return text
        return f"{funcs.quote_ident(self.snapshot.namespace_name(entry.namespace_oid))}.{text}"

    def _function_item(self, fields: Node, expressions: _Expressions) -> str:
        """A set-returning function in FROM, ``LATERAL`` when it reads an earlier FROM item
        (a stored query's column references are qualified, and a view has no outer query, so
        any column it names is one), with its alias and column name as ruleutils prints them
        (one column: mirrordb's functions in FROM that views can hold return one)."""
        call = fields["functions"][0]["List"]["items"][0]
        name = strings(call["FuncCall"]["funcname"])[-1] if "FuncCall" in call else ""
        alias = fields.get("alias", {})
        alias_name = alias.get("aliasname", name)
        columns = strings(alias.get("colnames")) or [alias_name]
        reads_earlier_items = next(nodes_at_level(call, lambda node: node.get("ColumnRef")),
                                   None) is not None
        text = "LATERAL " if fields.get("lateral") or reads_earlier_items else ""
        return (text + expressions.top(call) + f" {funcs.quote_ident(alias_name)}("
                + ", ".join(funcs.quote_ident(c) for c in columns) + ")")

    def _join(self, join: Node, expressions: _Expressions) -> str:
        parenthesized = not self.pretty or join.get("alias") is not None
        text = "(" if parenthesized else ""
        text += self._from_item(join["larg"], expressions)
        word = {"JOIN_INNER": " JOIN ", "JOIN_LEFT": " LEFT JOIN ",
                "JOIN_RIGHT": " RIGHT JOIN ", "JOIN_FULL": " FULL JOIN "}[join["jointype"]]
        if join["jointype"] == "JOIN_INNER" and not join.get("quals") and \
                not join.get("usingClause"):
            word = " CROSS JOIN "
        text += self._keyword(word, INDENT_JOIN)
        text += self._from_item(join["rarg"], expressions)
        if join.get("usingClause"):
            text += " USING (" + ", ".join(funcs.quote_ident(n)
                                           for n in strings(join["usingClause"])) + ")"
        elif join.get("quals"):
            condition = expressions.top(join["quals"])
            text += f" ON {condition}" if self.pretty else f" ON ({condition})"
        elif join["jointype"] != "JOIN_INNER":
            text += " ON TRUE"
        text += ")" if parenthesized else ""
        alias = join.get("alias")
        if alias is not None:
            text += f" {funcs.quote_ident(alias['aliasname'])}"
            columns = strings(alias.get("colnames"))
            if columns:
                text += "(" + ", ".join(funcs.quote_ident(c) for c in columns) + ")"
        return text

    def _scope(self, items: list[Node], outer: Scope | None) -> Scope:
        """The FROM clause's relations with their column types (for the casts constants get)."""
        scope = Scope(parent=outer)
        pending = list(items)
        while pending:
            kind, fields = one(pending.pop(0))
            if kind == "JoinExpr":
                pending[:0] = [fields["larg"], fields["rarg"]]
            elif kind == "RangeVar" and "relid" in fields:
                oid = int(fields["relid"])
                alias = fields.get("alias", {}).get("aliasname", fields["relname"])
                scope.add(alias, [ScopeColumn(a.name, a.type_oid, a.typmod)
                                  for a in self.snapshot.attributes.get(oid, [])
                                  if not a.dropped])
        return scope


class _Expressions(ExpressionDeparser):
    """ExpressionDeparser over a query's FROM scope, printing subqueries with the printer."""

    def __init__(self, printer: QueryPrinter, scope: Scope) -> None:
        super().__init__(printer.session, printer.snapshot, None, printer.pretty)
        self.printer = printer
        self.scope = scope
        self.compiler.scope = scope

    def top(self, node: Node) -> str:
        return self.deparse(node)

    def _SubLink(self, f: Node) -> _Printed:
        kind = f.get("subLinkType", "EXPR_SUBLINK")
        outer_exists, self.printer.in_exists = self.printer.in_exists, kind == "EXISTS_SUBLINK"
        try:
            inner = self.printer.query(f["subselect"]["SelectStmt"], self.scope)
        finally:
            self.printer.in_exists = outer_exists
        if kind == "EXISTS_SUBLINK":
            return self._wrap(f"EXISTS ({inner})", "simple")
        if kind == "ARRAY_SUBLINK":
            return _Printed(f"ARRAY({inner})")
        if kind in ("ANY_SUBLINK", "ALL_SUBLINK"):
            operator = strings(f.get("operName")) or ["="]
            left = self._print(f["testexpr"], None).text
            if "RowExpr" in f["testexpr"]:      # a row compared with a subquery: no ROW
                left = left.removeprefix("ROW")
            quantifier = "ANY" if kind == "ANY_SUBLINK" else "ALL"
            return self._wrap(f"{left} {operator[-1]} {quantifier} ({inner})", "simple")
        return _Printed(f"({inner})")

    def _FuncCall(self, f: Node) -> _Printed:
        """A call; an ordered-set aggregate's with its direct arguments cast to the types its
        signature takes and its WITHIN GROUP (ORDER BY ...)."""
        if not f.get("agg_within_group"):
            return super()._FuncCall(f)
        name = strings(f["funcname"])[-1]
        direct = f.get("args", [])
        order = [sort["SortBy"] for sort in f["agg_order"]]
        try:
            _, types = osa.resolve(name.lower(), [self._type_of(a) for a in direct],
                                   [self._type_of(sort["node"]) for sort in order], -1)
        except MirrordbError:
            types = (T.UNKNOWN_OID,) * len(direct)
        texts = [self._print(a, t).text for a, t in zip(direct, types)]
        keys = ", ".join(self.printer._sort_item(sort, {}, self) for sort in order)
        return _Printed(f"{name}({', '.join(texts)}) WITHIN GROUP (ORDER BY {keys})")

    def _GroupingFunc(self, f: Node) -> _Printed:
        return _Printed("GROUPING(" + ", ".join(self._print(arg, None).text
                                                for arg in f.get("args", [])) + ")")


def _merged_sets(content: list[Node]) -> list[Node]:
    """A GROUPING SETS list with the GROUPING SETS nested in it replaced by their items."""
    merged = []
    for child in content:
        nested = child.get("GroupingSet", {})
        if nested.get("kind") == "GROUPING_SET_SETS":
            merged.extend(_merged_sets(nested.get("content", [])))
        else:
            merged.append(child)
    return merged


def _default_name(value: Node) -> str:
    """The name PostgreSQL gives an unnamed item of a nested select list (FigureColname's
    commonest cases: a column, a function call; a view's own columns come from pg_attribute)."""
    kind, fields = one(value)
    names = {"ColumnRef": lambda: strings(fields["fields"])[-1],
             "FuncCall": lambda: strings(fields["funcname"])[-1]}.get(kind)
    return names() if names is not None else "?column?"


def view_definition(session: Any, snapshot: CatalogSnapshot, query: Node, pretty: bool,
                    column_names: list[str]) -> str:
    """The text of pg_get_viewdef for a stored query (relation names already current)."""
    select = query["SelectStmt"] if "SelectStmt" in query else query
    return QueryPrinter(session, snapshot, pretty, column_names).view(select)


__all__ = ["view_definition", "QueryPrinter"]
