"""A domain's CHECK constraints, compiled and run against one value.

Who calls it: sql/user_types.py (``SessionUserTypes.domain_check``), which the type system asks
when a value is converted to a domain (types.py's casts, input functions: a cast, INSERT,
UPDATE, COPY FROM); sql/type_ddl.py to compile a new constraint (its errors) and to test the
existing rows of ALTER DOMAIN ADD CONSTRAINT. The constraints are stored by type_ddl.py as
pg_constraint rows (contypid = the domain, conbin = the CHECK's raw parse tree as JSON).

VALUE in a check is PostgreSQL's CoerceToDomainValue: the parser sees a column reference
``value``, which compiles here to the one column of a one-column row. A domain over a domain
runs its base domain's checks first, as PostgreSQL's domain_check does; NULL passes every check
(NOT NULL is the row check's, user_types.domain_not_null_columns).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (Expr, ExpressionCompiler, Scope, ScopeColumn,
                                      coerce_to_bool, expression_location)

VALUE_COLUMN = "value"


def compile_domain_check(session: Any, base_oid: int, typmod: int, tree: Any) -> Expr:
    """The boolean expression of a domain's CHECK over VALUE (``base_oid`` is the type VALUE
    has); errors as PostgreSQL's parser gives them."""
    from mirrordb.sql.constraints import _refuse_forbidden
    from mirrordb.sql.planner import PlanBuilder
    _refuse_forbidden(tree)
    builder = PlanBuilder(session, [])
    scope = Scope()
    scope.add("", [ScopeColumn(VALUE_COLUMN, base_oid, typmod)], aliased=False)
    expr = ExpressionCompiler(builder, scope).compile(tree)
    return coerce_to_bool(builder, expr, "CHECK", expression_location(tree))


def violation(domain_name: str, constraint_name: str) -> MirrordbError:
    from mirrordb.sql.user_types import PositionlessError
    return PositionlessError(f'value for domain {domain_name} violates check constraint '
                         f'"{constraint_name}"', sqlstate="23514")


def checker(session: Any, source: Any, user_type: Any) -> Callable[[Any], Any] | None:
    """value -> value, raising 23514 when a check of the domain (or of a domain under it)
    fails; None when there is nothing to check."""
    steps: list[tuple[str, str, Expr]] = []
    typmods: list[tuple[int, int]] = []
    current = user_type
    chain = []
    while current is not None and current.typtype == "d":
        chain.append(current)
        current = source.catalog.by_oid.get(current.base_oid)
    for domain in reversed(chain):
        name = source.display_name(domain.oid)
        base = source.base_type(domain.oid)
        if domain.typmod >= 0:
            typmods.append((base, domain.typmod))
        for check in domain.checks:
            steps.append((name, check.name, compile_domain_check(
                session, base, domain.typmod, json.loads(check.expression))))
    if not steps and not typmods:
        return None

    def check_value(value: Any) -> Any:
        if value is None:
            return value
        for base_oid, typmod in typmods:
            value = T.apply_typmod(value, base_oid, typmod)
        if not steps:
            return value
        ctx = session._context([])
        row = (value,)
        for domain_name, constraint_name, expr in steps:
            if expr.fn(row, ctx) is False:
                raise violation(domain_name, constraint_name)
        return value
    return check_value
