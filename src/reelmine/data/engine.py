"""A tiny in-memory SQL engine over Arrow tables (DuckDB), for code that is tested off-warehouse.

Mining modules keep their set-based work as portable SQL strings that name contract tables
(``plays``, ``logins``, ``users`` ...). In production the warehouse runs them
(``Warehouse.query``); in tests and notebooks :func:`sql_on_tables` runs the same SQL on Arrow
tables held in memory, so one string serves both. Only this package may import duckdb.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa

from reelmine.errors import DataError

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
