"""The embedded warehouse: one DuckDB file holding the contract tables and derived tables.

Everything outside :mod:`reelmine.data` talks to the warehouse through :class:`Warehouse` and
receives Arrow tables; nothing else opens the database file. Contract tables are created from
:func:`reelmine.data.schema.stored_schema` (PII dropped, IPs replaced by keyed hashes) and are
append-only: only ingestion writes them. Two bookkeeping tables sit beside them:

* ``quarantine``: rows that failed validation (``table_name``, ``source_file``, ``line``,
  ``column_name``, ``reason``, ``raw_row`` as JSON with identifiers pseudonymised,
  ``ingest_id``, ``quarantined_at``);
* ``ingest_log``: one row per file ingested (rows read, loaded, quarantined, skipped).

A third, ``dataset_meta`` (``key``, ``value``), remembers facts about the data such as the
rating scale. Derived tables (features, flags, scores) are written with :meth:`write_table`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import duckdb
import pyarrow as pa

from reelmine.data.schema import IP_HASH_SUFFIX, IP_NET_SUFFIX, TABLES, Table, stored_columns
from reelmine.errors import ConfigError, DataError, NotFoundError
from reelmine.settings import Settings

QUARANTINE = "quarantine"
INGEST_LOG = "ingest_log"
DATASET_META = "dataset_meta"
BOOKKEEPING = (QUARANTINE, INGEST_LOG, DATASET_META)

_DUCK_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "list<string>": "VARCHAR[]",
}
_BOOKKEEPING_DDL = {
    QUARANTINE: """
        ingest_id BIGINT, table_name VARCHAR, source_file VARCHAR, line BIGINT,
        column_name VARCHAR, reason VARCHAR, raw_row VARCHAR, quarantined_at TIMESTAMPTZ""",
    INGEST_LOG: """
        ingest_id BIGINT, table_name VARCHAR, source_file VARCHAR, format VARCHAR,
        started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, rows_read BIGINT, rows_loaded BIGINT,
        rows_quarantined BIGINT, rows_skipped BIGINT""",
    DATASET_META: "key VARCHAR, value VARCHAR",
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def run_sql(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Execute one statement and drain its result (DuckDB refuses new work on a connection
    whose last result is unfinished)."""
    return con.execute(sql, list(params) if params else []).fetchall()


def duck_type(logical: str) -> str:
    """DuckDB column type used to store a logical contract type."""
    return _DUCK_TYPES[logical]


def keyed_hash_columns(table: Table) -> frozenset[str]:
    """Stored columns of ``table`` that hold keyed hashes (pseudonyms, IP and network hashes)."""
    out: set[str] = set()
    for c in table.columns:
        if c.pseudonymise and not c.pii:
            out.add(c.name)
        if c.ip and not c.pii:
            out.update((c.name + IP_HASH_SUFFIX, c.name + IP_NET_SUFFIX))
    return frozenset(out)


def quote_ident(name: str) -> str:
    """Quote an SQL identifier after checking it is a plain name (no injection through names)."""
    if not _IDENT.match(name):
        raise DataError(f"{name!r} is not a valid table or column name (letters, digits, _)")
    return f'"{name}"'


class Warehouse:
    """An embedded DuckDB warehouse file.

    Parameters
    ----------
    path : the database file; created (with the contract tables) unless ``read_only``.
    read_only : open for reading only (serving); several readers may share the file.
    memory_limit : optional DuckDB memory limit such as ``"2GB"`` (spills to disk beyond it).
    threads : optional number of DuckDB worker threads.

    Examples
    --------
    >>> with Warehouse(tmp / "w.duckdb") as wh:  # doctest: +SKIP
    ...     wh.count("ratings")
    0
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.is_file():
            raise NotFoundError(
                f"no warehouse at {self.path}; run `reelmine init` or `reelmine ingest`"
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = int(threads)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise ConfigError(f"cannot open warehouse {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        # Timestamps are stored as UTC instants; the session zone decides how naive text parses.
        run_sql(self._con, "SET TimeZone = 'UTC'")
        run_sql(self._con, "SET enable_progress_bar = false")  # progress is the CLI's job
        if not read_only:
            self.create_schema()

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False) -> Warehouse:
        """Open the warehouse named by ``settings.db``."""
        return cls(settings.db, read_only=read_only)

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Checkpoint (so the file holds everything) and close."""
        with self._lock:
            if self._con is None:
                return
            if not self.read_only:
                # A failed checkpoint leaves the WAL, which DuckDB replays on open.
                with contextlib.suppress(duckdb.Error):
                    run_sql(self._con, "CHECKPOINT")
            self._con.close()
            self._con = None  # type: ignore[assignment]

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for the data layer only (ingestion)."""
        if self._con is None:
            raise ConfigError(f"warehouse {self.path} is closed")
        return self._con

    def create_schema(self) -> None:
        """Create the contract and bookkeeping tables that do not exist yet."""
        con = self.connection
        for table in TABLES.values():
            keyed = keyed_hash_columns(table)
            cols = ", ".join(
                f"{quote_ident(n)} {duck_type(t)}"
                # Keyed hashes are random text: DuckDB's dictionary/FSST analysis finds little
                # to compress and cost 27% of the write of a plays load (docs/ingest.md).
                + (" USING COMPRESSION uncompressed" if n in keyed else "")
                for n, t in stored_columns(table)
            )
            run_sql(con, f"CREATE TABLE IF NOT EXISTS {quote_ident(table.name)} ({cols})")
        for name, ddl in _BOOKKEEPING_DDL.items():
            run_sql(con, f"CREATE TABLE IF NOT EXISTS {name} ({ddl})")

    # -- reading --------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of all tables, sorted."""
        rows = self._fetchall(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_catalog = current_database() ORDER BY 1"
        )
        return [r[0] for r in rows]

    def has_table(self, name: str) -> bool:
        """Whether a table of that name exists."""
        return name in self.tables()

    def columns(self, name: str) -> list[str]:
        """Column names of a table, in order."""
        self._require(name)
        rows = self._fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_name = ? ORDER BY ordinal_position",
            [name],
        )
        return [r[0] for r in rows]

    def count(self, name: str) -> int:
        """Number of rows of a table."""
        self._require(name)
        return int(self._fetchall(f"SELECT count(*) FROM {quote_ident(name)}")[0][0])

    def table(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        params: Sequence[Any] | None = None,
    ) -> pa.Table:
        """A table (or some of its columns and rows) as Arrow.

        Parameters
        ----------
        name : table name.
        columns : columns to return, default all; unknown names raise ``MissingColumnError``.
        where : optional SQL condition (trusted code only), with ``?`` placeholders for
            ``params``.
        """
        self._require(name)
        if columns is not None:
            from reelmine.errors import MissingColumnError

            have = set(self.columns(name))
            missing = [c for c in columns if c not in have]
            if missing:
                raise MissingColumnError(
                    f"table {name!r} has no column(s) {', '.join(missing)}; "
                    f"it has {', '.join(sorted(have))}"
                )
            select = ", ".join(quote_ident(c) for c in columns)
        else:
            select = "*"
        sql = f"SELECT {select} FROM {quote_ident(name)}"
        if where:
            sql += f" WHERE {where}"
        return self.query(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a SQL query and return its result as an Arrow table.

        Raises
        ------
        DataError
            When the query fails (bad SQL, unknown table or column).
        """
        with self._lock:
            try:
                rel = (
                    self.connection.sql(sql, params=params) if params else self.connection.sql(sql)
                )
                if rel is None:
                    return pa.table({})
                return rel.to_arrow_table()
            except duckdb.Error as exc:
                raise DataError(f"query failed: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement (DDL/DML or a small query) and return its rows as tuples."""
        if self.read_only and not sql.lstrip().upper().startswith(("SELECT", "WITH", "DESCRIBE")):
            raise ConfigError(f"warehouse {self.path} is open read-only")
        with self._lock:
            try:
                return run_sql(self.connection, sql, params)
            except duckdb.Error as exc:
                raise DataError(f"statement failed: {exc}") from exc

    def _fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return run_sql(self.connection, sql, params)

    def _require(self, name: str) -> None:
        if not self.has_table(name):
            raise NotFoundError(f"warehouse {self.path} has no table {name!r}")

    # -- writing --------------------------------------------------------------------------
    def write_table(
        self, name: str, table: pa.Table, mode: Literal["replace", "append"] = "replace"
    ) -> int:
        """Store a derived table (features, flags, scores); returns the rows written.

        Contract and bookkeeping tables cannot be written this way: only ingestion fills them.
        """
        if self.read_only:
            raise ConfigError(f"warehouse {self.path} is open read-only")
        if name in TABLES or name in BOOKKEEPING:
            raise DataError(
                f"{name!r} is a contract or bookkeeping table; only ingestion writes it"
            )
        if mode not in ("replace", "append"):
            raise DataError(f"mode must be 'replace' or 'append', not {mode!r}")
        ident = quote_ident(name)
        with self._lock:
            con = self.connection
            view = "_reelmine_write_src"
            con.register(view, table)
            try:
                if mode == "replace" or not self.has_table(name):
                    run_sql(con, f"CREATE OR REPLACE TABLE {ident} AS SELECT * FROM {view}")
                else:
                    run_sql(con, f"INSERT INTO {ident} BY NAME SELECT * FROM {view}")
            except duckdb.Error as exc:
                raise DataError(f"cannot write table {name!r}: {exc}") from exc
            finally:
                con.unregister(view)
        return table.num_rows

    def drop_table(self, name: str) -> None:
        """Drop a derived table (contract and bookkeeping tables are kept)."""
        if name in TABLES or name in BOOKKEEPING:
            raise DataError(f"{name!r} is a contract or bookkeeping table and cannot be dropped")
        with self._lock:
            run_sql(self.connection, f"DROP TABLE IF EXISTS {quote_ident(name)}")

    def set_meta(self, key: str, value: str) -> None:
        """Remember a fact about the dataset (``dataset_meta``)."""
        with self._lock:
            con = self.connection
            run_sql(con, f"DELETE FROM {DATASET_META} WHERE key = ?", [key])
            run_sql(con, f"INSERT INTO {DATASET_META} VALUES (?, ?)", [key, value])

    def get_meta(self, key: str) -> str | None:
        """A fact stored with :meth:`set_meta`, or ``None``."""
        if not self.has_table(DATASET_META):
            return None
        rows = self._fetchall(f"SELECT value FROM {DATASET_META} WHERE key = ?", [key])
        return rows[0][0] if rows else None

    # -- export and facts -----------------------------------------------------------------
    def export_parquet(
        self, out_dir: str | Path, tables: Sequence[str] | None = None
    ) -> dict[str, Path]:
        """Write every table (or the named ones) to ``out_dir/<table>.parquet``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name in tables if tables is not None else self.tables():
            self._require(name)
            target = out / f"{name}.parquet"
            with self._lock:
                run_sql(
                    self.connection,
                    f"COPY {quote_ident(name)} TO ? (FORMAT parquet, COMPRESSION zstd)",
                    [str(target)],
                )
            written[name] = target
        return written

    def time_ranges(self) -> dict[str, tuple[datetime, datetime]]:
        """Earliest and latest timestamp of each non-empty contract table (all its time columns)."""
        out: dict[str, tuple[datetime, datetime]] = {}
        for table in TABLES.values():
            cols = [n for n, t in stored_columns(table) if t == "timestamp"]
            if not cols or not self.has_table(table.name):
                continue
            parts = " UNION ALL ".join(
                f"SELECT min({quote_ident(c)}) AS lo, max({quote_ident(c)}) AS hi "
                f"FROM {quote_ident(table.name)}"
                for c in cols
            )
            row = self.query(f"SELECT min(lo) AS lo, max(hi) AS hi FROM ({parts})").to_pylist()[0]
            if row["lo"] is not None:
                out[table.name] = (row["lo"], row["hi"])
        return out

    def time_range(self) -> tuple[datetime, datetime] | None:
        """Earliest and latest timestamp over all contract tables, ``None`` when empty."""
        ranges = self.time_ranges().values()
        if not ranges:
            return None
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def size_bytes(self) -> int:
        """Size of the database file plus its write-ahead log, in bytes."""
        total = 0
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            if p.is_file():
                total += p.stat().st_size
        return total
