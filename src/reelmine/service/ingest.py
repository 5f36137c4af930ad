"""Use cases of the data side: create the warehouse, ingest a folder, report status, export,
and look up pseudonyms. The CLI, the API and the dashboard call these; none of them touches
the warehouse file on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from reelmine.data.ingest import (
    IngestSummary,
    Progress,
    ingest_folder,
    ingest_tables,
    parse_rating_scale,
)
from reelmine.data.pseudonym import Pseudonymiser, load_key
from reelmine.data.readers import read_id_file
from reelmine.data.schema import TABLES
from reelmine.data.warehouse import INGEST_LOG, QUARANTINE, Warehouse
from reelmine.errors import DataError
from reelmine.settings import Settings


@dataclass(frozen=True)
class InitResult:
    """What ``reelmine init`` set up."""

    db: Path
    key_source: str  # "REELMINE_SECRET" or the key file path
    tables: list[str]


@dataclass
class WarehouseStatus:
    """Everything ``reelmine status`` shows."""

    db: Path
    size_bytes: int
    rows: dict[str, int]
    quarantined: dict[str, dict[str, int]]  # table -> reason -> rows
    time_ranges: dict[str, tuple[datetime, datetime]]
    derived_tables: list[str] = field(default_factory=list)
    ingests: int = 0
    rating_scale: str | None = None

    @property
    def time_range(self) -> tuple[datetime, datetime] | None:
        """Earliest and latest timestamp over all tables."""
        if not self.time_ranges:
            return None
        lo = min(r[0] for r in self.time_ranges.values())
        hi = max(r[1] for r in self.time_ranges.values())
        return lo, hi


def init_warehouse(settings: Settings) -> InitResult:
    """Create the warehouse file with every contract table, and the pseudonymisation key."""
    load_key(settings, create=True)
    with Warehouse.open(settings) as wh:
        tables = wh.tables()
    source = "REELMINE_SECRET" if settings.secret else str(settings.key_file)
    return InitResult(Path(settings.db), source, tables)


def ingest(
    settings: Settings,
    folder: Path,
    *,
    fmt: str = "contract",
    rating_scale: str | tuple[float, float] | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest a dataset folder into the warehouse of ``settings``.

    Parameters
    ----------
    settings : gives the warehouse path, the key and the batch size.
    folder : the dataset folder.
    fmt : ``contract`` (default), ``movielens`` or ``netflix-prize``.
    rating_scale : ``"MIN:MAX"`` or ``(min, max)``; enforced on contract ratings.
    progress : optional callback for progress bars.
    """
    scale = parse_rating_scale(rating_scale) if isinstance(rating_scale, str) else rating_scale
    if not Path(folder).exists():
        raise DataError("no such folder", source=str(folder))
    ps = Pseudonymiser.from_settings(settings)
    with Warehouse.open(settings) as wh:
        return ingest_folder(
            wh,
            Path(folder),
            ps,
            fmt=fmt,
            rating_scale=scale,
            batch_rows=settings.batch_rows,
            progress=progress,
        )


def status(settings: Settings) -> WarehouseStatus:
    """Row counts, quarantine counts per reason and time range of the warehouse."""
    with Warehouse.open(settings, read_only=True) as wh:
        names = wh.tables()
        rows = {t: wh.count(t) for t in TABLES if t in names}
        quarantined: dict[str, dict[str, int]] = {}
        if QUARANTINE in names:
            q = wh.query(
                f"SELECT table_name, reason, count(*) AS n FROM {QUARANTINE} "
                "GROUP BY 1, 2 ORDER BY 1, 3 DESC"
            )
            for r in q.to_pylist():
                quarantined.setdefault(r["table_name"], {})[r["reason"]] = int(r["n"])
        ingests = 0
        if INGEST_LOG in names:
            ingests = int(wh.execute(f"SELECT count(DISTINCT ingest_id) FROM {INGEST_LOG}")[0][0])
        derived = [
            t
            for t in names
            if t not in TABLES and t not in ("quarantine", "ingest_log", "dataset_meta")
        ]
        return WarehouseStatus(
            db=Path(settings.db),
            size_bytes=wh.size_bytes(),
            rows=rows,
            quarantined=quarantined,
            time_ranges=wh.time_ranges(),
            derived_tables=derived,
            ingests=ingests,
            rating_scale=wh.get_meta("rating_scale"),
        )


def export(settings: Settings, out_dir: Path, tables: list[str] | None = None) -> dict[str, Path]:
    """Write every table (or the named ones) of the warehouse to ``out_dir/<table>.parquet``."""
    with Warehouse.open(settings, read_only=True) as wh:
        return wh.export_parquet(out_dir, tables)


def pseudonyms(
    settings: Settings, raw_ids: list[str], *, id_file: Path | None = None, domain: str = "user_id"
) -> list[tuple[str, str]]:
    """``(raw_id, pseudonym)`` pairs under the current key, for support and data-subject requests.

    Parameters
    ----------
    raw_ids : raw identifiers given on the command line.
    id_file : optional file with one raw ID per line (a ``raw_id`` header line is allowed).
    domain : identifier kind; ``user_id`` (default), ``device_id`` or ``profile_id``.
    """
    kinds = [c.name for t in TABLES.values() for c in t.columns if c.pseudonymise]
    if domain not in kinds:
        raise DataError(
            f"unknown identifier kind {domain!r}; choose one of {', '.join(sorted(set(kinds)))}"
        )
    ids = list(raw_ids)
    if id_file is not None:
        ids += read_id_file(id_file)
    if not ids:
        raise DataError("give at least one raw ID (arguments or --file)")
    ps = Pseudonymiser.from_settings(settings)
    return list(zip(ids, ps.pseudonymise_ids(ids, domain), strict=True))


def ingest_rows(settings: Settings, table: str, rows: list[dict[str, Any]]) -> IngestSummary:
    """Ingest a JSON batch of rows for one contract table (``POST /v1/events/{table}``).

    Values are turned into text, as if read from a CSV file, so a row with a bad value is
    quarantined by the same checks as a file row instead of failing the whole batch; lists
    (genres) are joined with ``|`` like CSV cells.
    """
    if table not in TABLES:
        raise DataError(f"unknown table {table!r}; known: {', '.join(TABLES)}")

    def text(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "|".join(str(x) for x in value)
        return str(value)

    columns = sorted(set().union(*rows)) if rows else []
    arrow = pa.table({c: pa.array([text(r.get(c)) for r in rows], pa.string()) for c in columns})
    ps = Pseudonymiser.from_settings(settings)
    with Warehouse.open(settings) as wh:
        return ingest_tables(wh, {table: arrow}, ps, batch_rows=settings.batch_rows)


def pseudonymise_events(
    settings: Settings, table: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rows as the warehouse would store their identifiers: member and device pseudonyms,
    keyed IP hashes (``ip_hash``, ``ip_net_hash``) in place of raw addresses; for live checks."""
    ps = Pseudonymiser.from_settings(settings)
    spec = TABLES[table]
    out = [dict(r) for r in rows]
    for col in spec.columns:
        if col.pseudonymise:
            values = [None if r.get(col.name) is None else str(r[col.name]) for r in rows]
            mapped = ps.pseudonymise(pa.array(values, pa.string()), col.name).to_pylist()
            for r, v in zip(out, mapped, strict=True):
                r[col.name] = v
        elif col.ip:
            values = [None if r.get(col.name) is None else str(r[col.name]) for r in rows]
            m = ps.ip_mapping(pa.array(values, pa.string()), col.name)
            pairs = zip(m["hash"].to_pylist(), m["net_hash"].to_pylist(), strict=True)
            lookup = dict(zip(m["raw"].to_pylist(), pairs, strict=True))
            for r, v in zip(out, values, strict=True):
                h, n = lookup.get(v, (None, None))
                r.pop(col.name, None)
                r[col.name + "_hash"], r[col.name + "_net_hash"] = h, n
        elif col.pii:
            for r in out:
                r.pop(col.name, None)
    return out
