"""Multidimensional arrays: their shape, the nested text form, subscripts and the dimension
functions (array_dims, array_ndims, array_length/upper/lower, cardinality).

Who calls it: sql/types.py (array_in/array_out/array_recv/array_send of arrays with more than
one dimension, casts and B-tree order of their elements), sql/expressions.py (ARRAY[[...]]
constructors and ``a[i][j]`` subscripts and slices), sql/functions.py and set_returning.py
(the dimension functions, unnest); storage/array_format.py stores them with the same shape rules.

A value with N > 1 dimensions is a Python list of N-1-dimensional lists, every sub-list of a
level the same length (rectangular, as PostgreSQL requires); elements are never lists, so a
list whose first item is a list is a multidimensional array. Lower bounds are always 1. At
most ``MAX_DIMENSIONS`` dimensions (PostgreSQL's MAXDIM); no dimension of length 0 (an empty
array has no dimensions at all).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.storage.array_format import (MAX_DIMENSIONS, array_shape, flat_elements,
                                           nest_elements)

_WHITESPACE = " \t\n\r\v\f"
_MATCHING = "Multidimensional arrays must have sub-arrays with matching dimensions."


def is_nested(values: list[Any]) -> bool:
    return bool(values) and isinstance(values[0], list)


def dimensions(values: list[Any]) -> list[int]:
    """The length of each dimension ([] for the empty array), read along the first items."""
    lengths: list[int] = []
    level: Any = values
    while isinstance(level, list) and level:
        lengths.append(len(level))
        level = level[0]
    return lengths


def map_elements(values: list[Any], function: Callable[[Any], Any]) -> list[Any]:
    """``function`` applied to every non-NULL element, the shape kept."""
    if is_nested(values):
        return [map_elements(sub, function) for sub in values]
    return [None if value is None else function(value) for value in values]


def is_rectangular(values: list[Any]) -> bool:
    """Whether a value's sub-lists all have the same shape, at most MAX_DIMENSIONS deep."""
    return array_shape(values) is not None


def too_many_dimensions(count: int) -> MirrordbError:
    return MirrordbError(f"number of array dimensions ({count}) exceeds the maximum allowed "
                         f"({MAX_DIMENSIONS})", sqlstate="54000")


# -- the text form --------------------------------------------------------------------------------

ReadElement = Callable[[str, str, int], tuple[str | None, int]]
Malformed = Callable[[str, str], MirrordbError]


def _skip_blanks(body: str, position: int) -> int:
    while position < len(body) and body[position] in _WHITESPACE:
        position += 1
    return position


def parse_literal(text: str, body: str, read_element: ReadElement,
                  malformed: Malformed) -> tuple[list[Any], int]:
    """An array literal's braces (``body`` starts with its outer '{'): the (nested) lists of
    element texts (None for NULL) and the position after the outer '}'. Raises PostgreSQL's
    22P02 errors for the shapes array_in refuses."""
    result, position = _parse_level(text, body, 0, 1, read_element, malformed, {})
    if is_nested(result) and not is_rectangular(result):
        if len(dimensions(result)) > MAX_DIMENSIONS:
            raise too_many_dimensions(len(dimensions(result)))
        raise malformed(text, _MATCHING)
    return result, position


def _parse_level(text: str, body: str, position: int, depth: int, read_element: ReadElement,
                 malformed: Malformed, lengths: dict[int, int]) -> tuple[list[Any], int]:
    """One '{...}' from ``body[position]`` (a '{'): sub-arrays or elements, not both; only
    the outermost may be empty. ``lengths`` holds the item count each depth closed with
    first: a sub-array closing with another count is refused at once, as array_in's scan."""
    if depth > MAX_DIMENSIONS:
        raise too_many_dimensions(depth)
    position = _skip_blanks(body, position + 1)
    of_arrays = body[position:position + 1] == "{"
    items: list[Any] = []
    expecting_item = True
    while True:
        position = _skip_blanks(body, position)
        if position >= len(body):
            raise malformed(text, "Unexpected end of input.")
        character = body[position]
        if character == "}":
            if not expecting_item or (not items and depth == 1):
                if lengths.setdefault(depth, len(items)) != len(items):
                    raise malformed(text, _MATCHING)
                return items, position + 1
            raise malformed(text, 'Unexpected "}" character.')
        if not expecting_item:
            if character != ",":
                raise malformed(text, 'Unexpected "{" character.' if character == "{"
                                else "Unexpected array element.")
            position += 1
            expecting_item = True
            continue
        if character == ",":
            raise malformed(text, 'Unexpected "," character.')
        if character == "{":
            if not of_arrays:
                raise malformed(text, 'Unexpected "{" character.')
            item, position = _parse_level(text, body, position, depth + 1, read_element,
                                          malformed, lengths)
        elif of_arrays:
            raise malformed(text, "Unexpected array element.")
        else:
            item, position = read_element(text, body, position)
        items.append(item)
        expecting_item = False


def format_nested(values: list[Any], format_element: Callable[[Any], str]) -> str:
    """array_out's braces around each level; ``format_element`` writes a (NULL) element."""
    if is_nested(values):
        return "{" + ",".join(format_nested(sub, format_element) for sub in values) + "}"
    return "{" + ",".join(format_element(value) for value in values) + "}"


# -- constructors, subscripts, dimension functions ------------------------------------------------


def array_of_arrays(parts: list[list[Any] | None]) -> list[Any]:
    """ARRAY[a, b, ...] where each item is an array: one more dimension (empty items alone
    make an empty array); 2202E when their dimensions differ, NULL items included."""
    if all(part == [] for part in parts if part is not None) and None not in parts:
        return []
    shapes = {None if part is None else tuple(dimensions(part)) for part in parts}
    if len(shapes) != 1 or None in shapes or () in shapes:
        raise MirrordbError("multidimensional arrays must have array expressions with matching "
                            "dimensions", sqlstate="2202E")
    if len(next(iter(shapes))) + 1 > MAX_DIMENSIONS:
        raise too_many_dimensions(len(next(iter(shapes))) + 1)
    return [part for part in parts if part is not None]


def subscript(values: list[Any], positions: list[int]) -> Any:
    """``a[i][j]...``: the element, or NULL when the subscripts are not exactly one per
    dimension or fall outside the bounds."""
    if len(positions) != max(1, len(dimensions(values))):
        return None
    level: Any = values
    lower = getattr(values, "lower_bound", 1)       # TG_ARGV's subscripts start at 0
    for position in positions:
        if not isinstance(level, list) or not lower <= position < lower + len(level):
            return None
        level = level[position - lower]
        lower = 1
    return level


def slice_array(values: list[Any], bounds: list[tuple[int | None, int | None]]) -> list[Any]:
    """``a[l:u][l:u]...`` (a missing bound means the dimension's own): the sub-array, with
    lower bounds 1 (PostgreSQL keeps 1 too: a slice's bounds restart at 1); bounds past the
    array are cut; an empty result is the empty array; dimensions not sliced are kept."""
    lengths = dimensions(values)
    if not lengths or len(bounds) > len(lengths):
        return []
    ranges = []
    for index, length in enumerate(lengths):
        lower, upper = bounds[index] if index < len(bounds) else (None, None)
        low = max(1, 1 if lower is None else lower)
        high = min(length, length if upper is None else upper)
        if low > high:
            return []
        ranges.append((low, high))
    return _cut(values, ranges)


def _cut(values: list[Any], ranges: list[tuple[int, int]]) -> list[Any]:
    low, high = ranges[0]
    chosen = values[low - 1:high]
    if len(ranges) == 1:
        return chosen
    return [_cut(sub, ranges[1:]) for sub in chosen]


def array_dims(values: list[Any]) -> str | None:
    lengths = dimensions(values)
    return "".join(f"[1:{length}]" for length in lengths) if lengths else None


def array_ndims(values: list[Any]) -> int | None:
    return len(dimensions(values)) or None


def array_length(values: list[Any], dimension: int) -> int | None:
    lengths = dimensions(values)
    return lengths[dimension - 1] if 1 <= dimension <= len(lengths) else None


def array_lower(values: list[Any], dimension: int) -> int | None:
    return 1 if 1 <= dimension <= len(dimensions(values)) else None


def cardinality(values: list[Any]) -> int:
    return len(flat_elements(values))


flatten = flat_elements          # the names types.py and expressions.py use
reshape = nest_elements


# -- array functions over more than one dimension --------------------------------------------------


def concatenate(left: list[Any], right: list[Any]) -> list[Any]:
    """array_cat: arrays of the same dimensions joined along the first; an array of one
    dimension fewer added as one more item of the first dimension; 2202E otherwise."""
    if not left or not right:
        return list(left) + list(right)
    left_lengths, right_lengths = dimensions(left), dimensions(right)
    if len(left_lengths) == len(right_lengths):
        if left_lengths[1:] != right_lengths[1:]:
            raise _incompatible("Arrays with differing element dimensions are not compatible "
                                "for concatenation.")
        return list(left) + list(right)
    if len(left_lengths) == len(right_lengths) + 1:
        if left_lengths[1:] != right_lengths:
            raise _incompatible("Arrays with differing dimensions are not compatible for "
                                "concatenation.")
        return list(left) + [list(right)]
    if len(left_lengths) + 1 == len(right_lengths):
        if right_lengths[1:] != left_lengths:
            raise _incompatible("Arrays with differing dimensions are not compatible for "
                                "concatenation.")
        return [list(left)] + list(right)
    raise _incompatible(f"Arrays of {len(left_lengths)} and {len(right_lengths)} dimensions "
                        "are not compatible for concatenation.")


def _incompatible(detail: str) -> MirrordbError:
    return MirrordbError("cannot concatenate incompatible arrays", sqlstate="2202E",
                         detail=detail)


def check_one_dimension(values: list[Any] | None) -> None:
    """array_append/array_prepend take only an empty or one-dimensional array."""
    if values and is_nested(values):
        raise MirrordbError("argument must be empty or one-dimensional array",
                            sqlstate="22000")


def refuse_multidimensional(values: list[Any], action: str) -> None:
    """array_position ("searching for elements in") and array_remove ("removing elements
    from")."""
    if is_nested(values):
        raise MirrordbError(f"{action} multidimensional arrays is not supported",
                            sqlstate="0A000")


def accumulate(parts: list[list[Any] | None]) -> list[Any]:
    """array_agg(anyarray) and ARRAY(subquery of arrays): the arrays as the items of one more
    dimension (accumArrayResultArr's 22004 for a NULL, 2202E for differing shapes)."""
    if not parts:
        return []
    if any(part is None for part in parts):
        raise MirrordbError("cannot accumulate null arrays", sqlstate="22004")
    shapes = {tuple(dimensions(part)) for part in parts if part is not None}
    if len(shapes) != 1 or () in shapes:
        raise MirrordbError("cannot accumulate arrays of different dimensionality",
                            sqlstate="2202E")
    if len(next(iter(shapes))) + 1 > MAX_DIMENSIONS:
        raise too_many_dimensions(len(next(iter(shapes))) + 1)
    return [part for part in parts if part is not None]
