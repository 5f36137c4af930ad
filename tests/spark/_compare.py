"""Order-insensitive comparison of two query answers: exact for counts and keys, 1e-9 relative
for floats (DuckDB and Spark add floating-point numbers in different orders)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pyarrow as pa

REL = 1e-9


def _norm(value: Any) -> Any:
    """A comparable, sortable plain value (numbers as float, instants as UTC micros)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        # Lists built by aggregation (collect_list) have no defined order on either engine.
        return tuple(sorted((_norm(v) for v in value), key=repr))
    return value


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # Sort key: floats rounded, so a last-digit difference cannot swap two rows.
    out = []
    for v in row:
        if isinstance(v, float):
            out.append((0, "nan") if math.isnan(v) else (1, float(f"{v:.6g}")))
        else:
            out.append((2, repr(v)) if v is not None else (3, ""))
    return tuple(out)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if a == b:
            return True
        return abs(a - b) <= REL * max(abs(a), abs(b))
    return bool(a == b)


def assert_same_answer(duck: pa.Table, spark: pa.Table, name: str = "") -> None:
    """Fail with the first differing row and column unless the two tables hold the same rows."""
    assert duck.column_names == spark.column_names, (
        f"{name}: columns differ\n duckdb {duck.column_names}\n spark  {spark.column_names}"
    )
    assert duck.num_rows == spark.num_rows, (
        f"{name}: {duck.num_rows} rows on DuckDB, {spark.num_rows} on Spark"
    )
    rows_d = sorted((tuple(_norm(v) for v in r.values()) for r in duck.to_pylist()), key=_key)
    rows_s = sorted((tuple(_norm(v) for v in r.values()) for r in spark.to_pylist()), key=_key)
    for i, (rd, rs) in enumerate(zip(rows_d, rows_s, strict=True)):
        for col, vd, vs in zip(duck.column_names, rd, rs, strict=True):
            assert _same(vd, vs), f"{name}: row {i} column {col!r}: DuckDB {vd!r}, Spark {vs!r}"
