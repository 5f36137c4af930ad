"""Readers of contract files: ``<table>.csv``, ``.csv.gz``, ``.parquet`` and ``.jsonl``.

A dataset is a folder with one file per table. :func:`discover` lists the files,
:func:`open_contract_file` checks a file's columns against the contract and returns a
:class:`Source`, a stream of Arrow record batches that ingestion validates. Nothing is parsed
into typed values here: CSV and JSONL columns arrive as text (so a bad value becomes a
quarantined row, not a failed file), Parquet columns arrive with their own types.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from reelmine.data.schema import TABLES, Table
from reelmine.errors import DataError

EXTENSIONS = (".csv.gz", ".csv", ".parquet", ".jsonl")


@dataclass
class Source:
    """One stream of rows for one contract table.

    ``batches`` yields Arrow record batches whose columns are contract column names; a batch
    may carry a ``_line`` column (int64), otherwise lines are counted from ``first_line``.
    File sources also give ``sql``, a DuckDB table expression over the raw rows, and
    ``sql_rows``, the same with a 0-based ``_row`` column in file order: ingestion then runs
    set-based inside DuckDB instead of moving batches through Python.
    """

    table: str
    name: str
    columns: list[str]
    batches: Callable[[], Iterator[pa.RecordBatch]]
    first_line: int | None = 1
    total_rows: int | None = None
    rating_scale: tuple[float, float] | None = None
    sql: str | None = None
    sql_rows: str | None = None


# -- discovering and opening contract files ---------------------------------------------------


def _split_name(path: Path) -> tuple[str, str] | None:
    name = path.name
    for ext in EXTENSIONS:
        if name.endswith(ext):
            return name[: -len(ext)], ext
    return None


def discover(folder: Path) -> list[tuple[str, Path]]:
    """Contract files in ``folder`` as ``(table, path)``, in contract table order.

    Raises
    ------
    DataError
        When the folder does not exist, holds no contract file, or holds a data file
        (``.csv``, ``.csv.gz``, ``.parquet``, ``.jsonl``) whose name matches no table.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a folder", source=str(folder))
    found: list[tuple[str, Path]] = []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        parts = _split_name(p)
        if parts is None:
            continue  # README, truth files in other formats, ...: not data files
        table, _ = parts
        if table not in TABLES:
            raise DataError(
                f"file name matches no table; expected <table>{{{','.join(EXTENSIONS)}}} "
                "with table one "
                f"of {', '.join(TABLES)}",
                source=str(p),
            )
        found.append((table, p))
    if not found:
        raise DataError(
            "no contract files (<table>.csv, .csv.gz, .parquet or .jsonl for tables "
            f"{', '.join(TABLES)})",
            source=str(folder),
        )
    order = list(TABLES)
    return sorted(found, key=lambda tp: (order.index(tp[0]), str(tp[1])))


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
            first = fh.readline()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"cannot read the header: {exc}", source=str(path), line=1) from exc
    if not first.strip():
        raise DataError("empty file or empty header line", source=str(path), line=1)
    return [c.strip() for c in next(csv.reader(io.StringIO(first)))]


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duck_error(exc: Exception, path: Path) -> DataError:
    text = str(exc)
    m = re.search(r"[Ll]ine:?\s*(\d+)", text)
    line = int(m.group(1)) if m else None
    # Keep the explanation, drop DuckDB's echo of the raw line and its generic fix-it list.
    lines = [
        s
        for s in text.splitlines()
        if s.strip() and not s.startswith(("Original Line", "Possible fixes", "*", "  file="))
    ]
    msg = "; ".join(lines[:3]) if lines else text
    return DataError(f"cannot parse: {msg}", source=str(path), line=line)


def open_contract_file(
    table: str, path: Path, con: duckdb.DuckDBPyConnection, batch_rows: int
) -> Source:
    """A :class:`Source` over one contract file, after checking its columns against the table."""
    contract = TABLES[table]
    name = path.name
    if name.endswith((".csv", ".csv.gz")):
        columns = _csv_header(path)
        check_columns(contract, columns, path)
        spec = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in columns) + "}"
        sql = (
            f"SELECT * FROM read_csv({sql_str(str(path))}, auto_detect = false, header = true, "
            f"delim = ',', quote = '\"', escape = '\"', strict_mode = true, columns = {spec})"
        )

        def csv_batches() -> Iterator[pa.RecordBatch]:
            cur = con.cursor()
            try:
                yield from cur.sql(sql).to_arrow_reader(batch_rows)
            except duckdb.Error as exc:
                raise _duck_error(exc, path) from exc
            finally:
                cur.close()

        # Row numbers only on the rare paths (duplicates, quarantine): a window over the
        # reader keeps file order, which costs parallelism, so the main load goes without.
        return Source(
            table,
            str(path),
            columns,
            csv_batches,
            first_line=2,
            sql=sql,
            sql_rows=f"SELECT row_number() OVER () - 1 AS _row, * FROM ({sql})",
        )
    if name.endswith(".parquet"):
        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read Parquet: {exc}", source=str(path)) from exc
        columns = list(pf.schema_arrow.names)
        check_columns(contract, columns, path)

        def parquet_batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from pf.iter_batches(batch_size=batch_rows)
            except (OSError, pa.ArrowException) as exc:
                raise DataError(f"cannot read Parquet: {exc}", source=str(path)) from exc

        pq_sql = f"SELECT * FROM read_parquet({sql_str(str(path))})"
        pq_rows = (
            "SELECT file_row_number AS _row, * EXCLUDE (file_row_number) FROM "
            f"read_parquet({sql_str(str(path))}, file_row_number = true)"
        )
        return Source(
            table,
            str(path),
            columns,
            parquet_batches,
            1,
            pf.metadata.num_rows,
            sql=pq_sql,
            sql_rows=pq_rows,
        )
    # JSONL: every key read as text (lists as their JSON text), typed later like CSV.
    try:
        desc = con.sql(
            f"DESCRIBE SELECT * FROM read_json({sql_str(str(path))}, format = 'newline_delimited', "
            "sample_size = -1)"
        ).fetchall()
    except duckdb.Error as exc:
        raise _duck_error(exc, path) from exc
    columns = [r[0] for r in desc]
    check_columns(contract, columns, path)
    spec = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in columns) + "}"
    jsql = (
        f"SELECT * FROM read_json({sql_str(str(path))}, format = 'newline_delimited', "
        f"columns = {spec})"
    )

    def json_batches() -> Iterator[pa.RecordBatch]:
        cur = con.cursor()
        try:
            yield from cur.sql(jsql).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise _duck_error(exc, path) from exc
        finally:
            cur.close()

    return Source(
        table,
        str(path),
        columns,
        json_batches,
        first_line=1,
        sql=jsql,
        sql_rows=f"SELECT row_number() OVER () - 1 AS _row, * FROM ({jsql})",
    )


def check_columns(contract: Table, columns: Sequence[str], path: Path | str) -> None:
    known = set(contract.column_names)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise DataError(
            f"column(s) {', '.join(repr(c) for c in unknown)} match no column of table "
            f"{contract.name!r} (columns: {', '.join(contract.column_names)})",
            source=str(path),
        )
    dupes = sorted({c for c in columns if list(columns).count(c) > 1})
    if dupes:
        raise DataError(f"column(s) {', '.join(dupes)} appear more than once", source=str(path))
    missing = [c for c in contract.required if c not in columns]
    if missing:
        raise DataError(
            f"required column(s) {', '.join(missing)} of table {contract.name!r} missing",
            source=str(path),
        )
    for group in contract.one_of:
        if not any(c in columns for c in group):
            raise DataError(
                f"table {contract.name!r} needs at least one of the columns {', '.join(group)}",
                source=str(path),
            )


def arrow_source(
    table: str,
    data: pa.Table,
    *,
    name: str | None = None,
    first_line: int | None = None,
    batch_rows: int = 1_000_000,
    rating_scale: tuple[float, float] | None = None,
) -> Source:
    """A :class:`Source` over an in-memory Arrow table (MovieLens, Netflix, tests).

    Provenance defaults come from the schema metadata written by the readers
    (``reelmine.source``, ``reelmine.first_line``, ``reelmine.rating_min``/``_max``).
    """
    meta = {k.decode(): v.decode() for k, v in (data.schema.metadata or {}).items()}
    if name is None:
        name = meta.get("reelmine.source", f"<{table}>")
    if first_line is None and "reelmine.first_line" in meta:
        first_line = int(meta["reelmine.first_line"])
    if rating_scale is None and "reelmine.rating_min" in meta:
        rating_scale = (float(meta["reelmine.rating_min"]), float(meta["reelmine.rating_max"]))
    check_columns(TABLES[table], [c for c in data.column_names if c != "_line"], name)
    data = data.replace_schema_metadata(None)
    return Source(
        table,
        name,
        [c for c in data.column_names if c != "_line"],
        lambda: iter(data.to_batches(max_chunksize=batch_rows)),
        first_line,
        data.num_rows,
        rating_scale,
    )


def read_id_file(path: Path) -> list[str]:
    """Raw IDs from a text file, one per line; blank lines and a ``raw_id``/``user_id`` header
    are ignored.

    Raises
    ------
    DataError
        When the file cannot be read.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read ID file: {exc}", source=str(path)) from exc
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if ids and ids[0] in ("raw_id", "user_id", "id"):
        ids = ids[1:]
    return ids
