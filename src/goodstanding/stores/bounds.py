"""Values every backend accepts, bounded by the column definitions.

SQLite takes almost anything (a 300-character ``VARCHAR(8)``, a NUL byte), PostgreSQL refuses a
value longer than its column, a NUL in text, an integer past its column's range and a lone
surrogate; either may refuse a value the other took. ``bounder(table)`` builds, once, one rule
per column from its type, length and nullability, so a record is made acceptable to both in the
same way, and a column added later gets its rule (or stops the import, for a type with none):

- text: NUL and lone surrogates become U+FFFD; longer than the column: cut, ending in ``…``
- integer: clamped to the column's range (``Integer`` is 32-bit in PostgreSQL); not a number: null
- float: not finite (NaN, ±inf): null; boolean: ``bool``
- JSON: the same for every string and number inside, strings of at most ``JSON_STRING``
  characters, at most ``JSON_NODES`` values in all and ``JSON_DEPTH`` levels of nesting

A null (given, or made from a value with none of the column's type) in a column that takes
none becomes the column's default, else its type's zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from itertools import islice
from typing import Any

import sqlalchemy as sa

Rule = Callable[[Any], Any]

JSON_STRING = 256
JSON_NODES = 256
JSON_DEPTH = 4
_FLAT = 64
CUT = "…"
_INT_RANGES = ((sa.SmallInteger, 15), (sa.BigInteger, 63), (sa.Integer, 31))
_INT64 = (-(2**63), 2**63 - 1)


def text(value: str, limit: int | None) -> str:
    """``value`` without NUL or lone surrogates, at most ``limit`` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # lone surrogates: no database can store them
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + CUT
    return value


def integer(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    return min(max(int(value), low), high)


def real(value: Any) -> float | None:
    if not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:  # an int past float range
        return None
    return value + 0.0 if math.isfinite(value) else None  # -0.0 + 0.0 is 0.0: see _real_rule


def json_value(value: Any) -> Any:
    """A JSON document both backends store alike, bounded in size (see the module doc)."""
    flat = _flat(value)
    return flat if flat is not None else _json(value, [JSON_NODES], JSON_DEPTH)


def _flat(value: Any) -> Any:
    """A copy of a short list of plain strings, or of a short dict of plain strings to finite
    floats (an audit record's reasons and scores); None for anything else."""
    kind = type(value)
    if kind is list and len(value) <= _FLAT:
        for item in value:
            if not (type(item) is str and len(item) <= JSON_STRING and item.isascii()
                    and "\x00" not in item):
                return None
        return list(value)
    if kind is dict and len(value) <= _FLAT:
        for key, item in value.items():
            if not (type(key) is str and len(key) <= JSON_STRING and key.isascii()
                    and "\x00" not in key and type(item) is float and item - item == 0.0):
                return None  # (x - x is NaN for NaN and ±inf)
        return {key: item + 0.0 for key, item in value.items()}  # no -0.0 (see _real_rule)
    return None


def _json(value: Any, budget: list[int], depth: int) -> Any:
    if budget[0] <= 0:
        return None
    budget[0] -= 1
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return text(value, JSON_STRING)
    if isinstance(value, int):
        return integer(value, *_INT64)
    if isinstance(value, float):
        return real(value)
    if depth <= 0:
        return None
    if isinstance(value, Mapping):
        pairs = islice(value.items(), budget[0])
        return {text(str(k), JSON_STRING): _json(v, budget, depth - 1) for k, v in pairs}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json(v, budget, depth - 1) for v in islice(value, budget[0])]
    return text(str(value), JSON_STRING)


def _text_rule(kind: sa.String, fallback: Callable[[], Any]) -> Rule:
    limit = kind.length

    def bound_text(value: Any) -> Any:
        if type(value) is str:
            if (limit is None or len(value) <= limit) and value.isascii() and "\x00" not in value:
                return value  # the common case: two scans, no copy
            return text(value, limit)
        if value is None:
            value = fallback()
        return value if value is None else text(str(value), limit)

    return bound_text


def _integer_rule(kind: sa.Integer, fallback: Callable[[], Any]) -> Rule:
    bits = next(b for t, b in _INT_RANGES if isinstance(kind, t))
    low, high = -(2**bits), 2**bits - 1

    def bound_integer(value: Any) -> Any:
        if type(value) is int and low <= value <= high:
            return value
        value = None if value is None else integer(value, low, high)
        return fallback() if value is None else value

    return bound_integer


def _real_rule(kind: sa.Float, fallback: Callable[[], Any]) -> Rule:
    def bound_real(value: Any) -> Any:
        if type(value) is float and value - value == 0.0:  # finite
            # -0.0 becomes 0.0: PostgreSQL's JSON numbers have no negative zero, so a record
            # would read back differently from the two backends
            return value + 0.0
        value = None if value is None else real(value)
        return fallback() if value is None else value

    return bound_real


def _boolean_rule(kind: sa.Boolean, fallback: Callable[[], Any]) -> Rule:
    return lambda value: fallback() if value is None else bool(value)


def _json_rule(kind: sa.JSON, fallback: Callable[[], Any]) -> Rule:
    def bound_json(value: Any) -> Any:
        value = None if value is None else json_value(value)
        return fallback() if value is None else value

    return bound_json


_RULES: tuple[tuple[type, Callable[[Any, Callable[[], Any]], Rule]], ...] = (
    (sa.String, _text_rule),  # also Text
    (sa.Integer, _integer_rule),  # also BigInteger, SmallInteger
    (sa.Float, _real_rule),
    (sa.Boolean, _boolean_rule),
    (sa.JSON, _json_rule),
)
_ZEROS = ((sa.String, ""), (sa.Integer, 0), (sa.Float, 0.0), (sa.Boolean, False))


def _rule(column: sa.Column[Any]) -> Rule:
    for kind, make in _RULES:
        if isinstance(column.type, kind):
            return make(column.type, _fallback(column))
    raise TypeError(f"{column.table.name}.{column.name}: no bounding rule for {column.type!r}")


def _fallback(column: sa.Column[Any]) -> Callable[[], Any]:
    """What a null becomes: null where the column takes it, else the column's default (a
    fresh one each time, for ``default=list``), else its type's zero."""
    default: Any = column.default
    if column.nullable:
        return partial(_same, None)
    if default is not None and default.is_callable:
        return partial(default.arg, None)  # SQLAlchemy's wrapper takes an execution context
    if default is not None:
        return partial(_same, default.arg)
    return partial(_same, next((zero for t, zero in _ZEROS if isinstance(column.type, t)), {}))


def _same(value: Any) -> Any:
    return value


def bounder(table: sa.Table, fields: tuple[str, ...]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function that turns a mapping into ``{field: bounded value}`` for these columns."""
    # plain str keys: column names are a str subclass, which orjson refuses as keys
    rules = tuple((str(name), _rule(table.c[name])) for name in fields)

    def bound(values: Mapping[str, Any]) -> dict[str, Any]:
        get = values.get
        return {name: rule(get(name)) for name, rule in rules}

    return bound
