"""Streaming table writers: one file per contract table, written block by block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from reelmine.data.schema import TABLES, arrow_type


def contract_schema(table: str, columns: list[str]) -> pa.Schema:
    """Arrow schema of the given contract columns of ``table``."""
    t = TABLES[table]
    return pa.schema([pa.field(c, arrow_type(t.column(c).type)) for c in columns])


def _csv_ready(table: pa.Table) -> pa.Table:
    """Lists become '|'-joined strings, timestamps ISO 8601 with a Z (CSV has no nesting)."""
    cols = []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_list(col.type):
            col = pc.binary_join(col, "|")
        elif pa.types.is_timestamp(col.type):
            col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ")  # UTC, %S has microseconds
        cols.append(col)
    return pa.table(cols, names=table.column_names)


class TableWriter:
    """Appends Arrow batches to ``<out>/<table>.<format>`` with a fixed schema."""

    def __init__(self, out: Path, table: str, schema: pa.Schema, fmt: str) -> None:
        self.path = out / f"{table}.{fmt}"
        self.schema = schema
        self.fmt = fmt
        self.rows = 0
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        if self._writer is None:
            if self.fmt == "parquet":
                self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
            else:
                self._writer = pacsv.CSVWriter(self.path, _csv_ready(table.slice(0, 0)).schema)
        if self.fmt == "parquet":
            self._writer.write_table(table, row_group_size=1_000_000)
        else:
            self._writer.write_table(_csv_ready(table))
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is None:
            self.write(self.schema.empty_table())
        self._writer.close()


def write_table(out: Path, name: str, table: pa.Table, fmt: str) -> int:
    """Write a whole contract table at once; returns its row count."""
    w = TableWriter(out, name, table.schema, fmt)
    w.write(table)
    w.close()
    return w.rows


def write_truth(truth_dir: Path, name: str, rows: list[dict] | pa.Table) -> int:
    """Write one truth table as Parquet (rows of plain values or an Arrow table)."""
    truth_dir.mkdir(parents=True, exist_ok=True)
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    pq.write_table(table, truth_dir / f"{name}.parquet", compression="zstd")
    return table.num_rows


def write_json(path: Path, value: Any) -> None:
    """Pretty, sorted JSON (stable bytes for the same content)."""
    path.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")
