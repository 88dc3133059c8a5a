"""Pure parts of sql/catalog_functions.py: pg_size_pretty's arithmetic, SQL name parsing, the
catalog facts tables, and the precedence rule pg_get_expr uses in pretty mode."""

from __future__ import annotations

import decimal

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import catalog_functions as cat
from mirrordb.sql import types as T


@pytest.mark.parametrize("size,text", [
    (0, "0 bytes"), (1, "1 bytes"), (-1, "-1 bytes"), (10239, "10239 bytes"), (10240, "10 kB"),
    (-10240, "-10 kB"), (20970496, "20 MB"), (20971519, "20 MB"), (20971520, "20 MB"),
    (3377699720527872, "3072 TB"), (3458764513820540928, "3072 PB"),
    (9223372036854775807, "8192 PB"),
    (decimal.Decimal("12345.67"), "12 kB"), (decimal.Decimal("-123456789.5"), "-118 MB"),
    (decimal.Decimal("10239.5"), "10239.5 bytes"), (decimal.Decimal(1024) ** 6 * 20000,
                                                     "20480000 PB"),
])
def test_size_pretty_matches_postgresql(size, text):
    """Values and answers from PostgreSQL 15's pg_size_pretty."""
    assert cat.size_pretty(size) == text


@pytest.mark.parametrize("text,parts", [
    ("t", ["t"]), ("T", ["t"]), ('"T"', ["T"]), ("public.t", ["public", "t"]),
    (' public . "Mixed ""Case""" ', ["public", 'Mixed "Case"']),
    ("db.public.t", ["db", "public", "t"]),
])
def test_parse_qualified_name(text, parts):
    assert cat.parse_qualified_name(text) == parts


@pytest.mark.parametrize("text", ["", ".", "a.", ".a", '"open', "a b", "a.b.c.d", '""'])
def test_parse_qualified_name_rejects(text):
    with pytest.raises(MirrordbError) as caught:
        cat.parse_qualified_name(text)
    assert caught.value.sqlstate == "42602"


@pytest.mark.parametrize("child,parent,is_left,simple", [
    ("*", "+", True, True), ("*", "+", False, True), ("+", "*", True, False),
    ("-", "-", True, True), ("-", "-", False, False), ("||", "||", True, False),
    ("+", "<", True, False),
])
def test_pretty_parentheses_rule(child, parent, is_left, simple):
    assert cat._binds_without_parentheses(child, parent, is_left) is simple


def test_type_facts_cover_the_type_table():
    assert set(cat.TYPE_FACTS) == set(T.TYPES)
    for info in T.TYPES.values():
        for name in (info.input_name, info.output_name):
            assert name in cat.PROCEDURE_OIDS, (info.name, name)
    assert cat.type_collation(T.TEXT_OID) == cat.DEFAULT_COLLATION_OID
    assert cat.type_collation(T.NAME_OID) == cat.C_COLLATION_OID


def test_catalog_functions_do_not_shadow_the_type_systems():
    from mirrordb.sql import functions
    shadowed = [name for name in cat.CATALOG_FUNCTIONS if functions.function_exists(name)]
    assert shadowed == []
