"""A tiny in-memory SQL engine over Arrow tables (DuckDB), for code that is tested off-warehouse.

Mining modules keep their set-based work as portable SQL strings that name contract tables
(``plays``, ``logins``, ``users`` ...). In production the warehouse runs them
(``Warehouse.query``); in tests and notebooks :func:`sql_on_tables` runs the same SQL on Arrow
tables held in memory, so one string serves both. Only this package may import duckdb.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import duckdb
import numpy as np
import pyarrow as pa

from reelmine.errors import DataError, MissingColumnError, NotFoundError

SqlRunner = Callable[[str], pa.Table]
"""Anything that runs one SQL query and returns an Arrow table (``Warehouse.query`` is one)."""


def sql_on_tables(sql: str, threads: int | None = None, **tables: pa.Table) -> pa.Table:
    """Run ``sql`` on Arrow tables registered under the given names; return an Arrow table.

    Parameters
    ----------
    sql : one SELECT (CTEs allowed) naming the tables by their keyword names.
    threads : DuckDB worker threads (default: DuckDB's own choice).
    **tables : name -> Arrow table, e.g. ``plays=plays_table``.

    Raises
    ------
    DataError
        When the query fails (unknown column, type mismatch ...); the engine message is kept.
    """
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        for name, table in tables.items():
            con.register(name, table)
        try:
            return con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise DataError(f"query failed: {exc}") from exc
    finally:
        con.close()


def runner_on_tables(**tables: pa.Table) -> SqlRunner:
    """A :data:`SqlRunner` bound to in-memory tables: ``runner(sql) -> pa.Table``."""

    def run(sql: str) -> pa.Table:
        return sql_on_tables(sql, **tables)

    return run


def sql_literal(value: object) -> str:
    """``value`` as a SQL literal both engines read the same way (DuckDB dialect, portable).

    Strings are single-quoted with quotes doubled; timestamps become UTC instants
    (``TIMESTAMPTZ`` text with its ``+00:00`` offset; naive ones are taken as UTC, as the
    warehouse does), dates ``DATE`` text; booleans,
    integers and finite floats are written out; ``None`` is ``NULL``. Anything else raises,
    so no caller can splice arbitrary text into a query.

    Raises
    ------
    DataError
        For a value of another type, or a non-finite float.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            raise DataError(f"cannot write the non-finite number {value!r} as a SQL literal")
        return repr(float(value))
    if isinstance(value, datetime):
        # An instant with its offset: no engine's session time zone can shift it.
        value = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return f"CAST('{value.isoformat(sep=' ', timespec='microseconds')}' AS TIMESTAMPTZ)"
    if isinstance(value, date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise DataError(f"cannot write a {type(value).__name__} as a SQL literal")


def bind_params(sql: str, params: Sequence[object] | None) -> str:
    """Replace each ``?`` placeholder of ``sql`` (outside quotes) by :func:`sql_literal`.

    For runners that take no bind parameters (Spark): the values are quoted, never spliced.

    Raises
    ------
    DataError
        When the number of placeholders and values differ.
    """
    if not params:
        return sql
    parts = re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", sql)
    values = iter(params)
    used = 0
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 1:  # a quoted string or identifier: kept as is
            out.append(part)
            continue
        pieces = part.split("?")
        for j, piece in enumerate(pieces):
            if j:
                try:
                    out.append(sql_literal(next(values)))
                except StopIteration:
                    raise DataError(
                        f"the query has more ? placeholders than the {len(params)} values given"
                    ) from None
                used += 1
            out.append(piece)
    if used != len(params):
        raise DataError(f"the query has {used} ? placeholders but {len(params)} values were given")
    return "".join(out)


@runtime_checkable
class TableSource(Protocol):
    """What the service layer reads from: the DuckDB :class:`~reelmine.data.warehouse.Warehouse`
    or :class:`RunnerTables` over any :data:`SqlRunner` (Spark)."""

    @property
    def path(self) -> Path | str:
        """Where the data live (for messages)."""
        ...

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run one query (``?`` placeholders bound to ``params``)."""
        ...

    def has_table(self, name: str) -> bool:
        """Whether a table of that name exists."""
        ...

    def count(self, name: str) -> int:
        """Number of rows of a table."""
        ...

    def columns(self, name: str) -> list[str]:
        """Column names of a table, in order."""
        ...

    def table(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        params: Sequence[Any] | None = None,
    ) -> pa.Table:
        """A table (or some of its columns and rows) as Arrow."""
        ...


class RunnerTables:
    """The :class:`TableSource` reading methods of the warehouse, over any :data:`SqlRunner`.

    Parameters
    ----------
    run : the runner (e.g. ``SparkEngine.runner()``); queries are DuckDB-dialect SQL.
    tables : names of the tables the runner sees (e.g. the registered Spark views).
    path : where the data live, for messages.
    """

    def __init__(self, run: SqlRunner, tables: Sequence[str], path: Path | str) -> None:
        self.run = run
        self.tables = list(tables)
        self.path = path

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run one query; ``?`` placeholders get ``params`` as quoted literals."""
        return self.run(bind_params(sql, params))

    def has_table(self, name: str) -> bool:
        """Whether the runner sees a table of that name."""
        return name in self.tables

    def _require(self, name: str) -> None:
        if name not in self.tables:
            raise NotFoundError(f"no table {name!r} in {self.path}")

    def count(self, name: str) -> int:
        """Number of rows of a table."""
        self._require(name)
        return int(self.run(f'SELECT count(*) AS n FROM "{name}"')["n"][0].as_py())

    def columns(self, name: str) -> list[str]:
        """Column names of a table, in order."""
        self._require(name)
        return list(self.run(f'SELECT * FROM "{name}" LIMIT 0').column_names)

    def table(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        params: Sequence[Any] | None = None,
    ) -> pa.Table:
        """A table (or some of its columns and rows) as Arrow, as ``Warehouse.table`` gives it.

        Raises
        ------
        MissingColumnError
            For a column the table lacks.
        """
        self._require(name)
        if columns is not None:
            have = set(self.columns(name))
            missing = [c for c in columns if c not in have]
            if missing:
                raise MissingColumnError(
                    f"table {name!r} has no column(s) {', '.join(missing)}; "
                    f"it has {', '.join(sorted(have))}"
                )
            select = ", ".join(f'"{c}"' for c in columns)
        else:
            select = "*"
        sql = f'SELECT {select} FROM "{name}"'
        if where:
            sql += f" WHERE {where}"
        return self.query(sql, params)
