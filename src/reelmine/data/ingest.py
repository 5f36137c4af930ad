"""Ingestion: contract files (or MovieLens / Netflix Prize releases) into the warehouse.

Pipeline, per file, in batches of ``Settings.batch_rows`` rows (memory stays bounded):

1. **Check the header** of every file first: unknown table names, unknown columns or missing
   required columns stop the whole ingest with :class:`DataError` before anything is written.
2. **Stream** the file: CSV through DuckDB's parallel reader (all columns as text), Parquet
   through pyarrow, JSONL through DuckDB; each batch carries the 1-based line number of each
   row (CSV: header = line 1; Parquet/JSONL: row 1 = line 1).
3. **Pseudonymise**: the distinct values of identifier and IP columns of the batch are hashed
   once (:class:`Pseudonymiser`) and joined back in SQL. PII columns are never read into SQL.
4. **Validate in SQL**: types, required values, ranges, country codes, ``ended_at >=
   started_at``; the first failing check of a row names its column and reason.
5. **De-duplicate by natural key**: the first valid row of a key is loaded; later rows with the
   same key in the same file go to quarantine; rows whose key was already in the warehouse
   before this file are *skipped* (that is what makes re-ingesting idempotent).
6. **Write** valid rows to the table and failed rows to ``quarantine`` (raw row as JSON,
   identifiers pseudonymised). A failed row identical to one already quarantined is skipped too.

Everything runs in one transaction: a file that cannot be parsed rolls the whole ingest back.
Invariant, per file: ``rows_read == rows_loaded + rows_quarantined + rows_skipped``.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.readers import Source, arrow_source, discover, open_contract_file, sql_str
from reelmine.data.schema import IP_HASH_SUFFIX, IP_NET_SUFFIX, TABLES, Column, stored_columns
from reelmine.data.warehouse import INGEST_LOG, QUARANTINE, Warehouse, quote_ident, run_sql
from reelmine.errors import DataError

FORMATS = ("contract", "movielens", "netflix-prize")
# ISO 3166-1 alpha-2, officially assigned codes (249), plus XK (Kosovo, user-assigned but
# universally used by analytics and CDN geo databases).
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW XK"""
ISO_ALPHA2 = frozenset(_COUNTRY_CODES.split())
# Columns that must not be negative.
NON_NEGATIVE = {
    "watched_seconds",
    "runtime_minutes",
    "startup_ms",
    "rebuffer_count",
    "rebuffer_ms",
    "avg_bitrate_kbps",
    "max_streams",
    "cost",
    "row_position",
    "column_position",
}
# Closed ranges (inclusive).
RANGES: dict[str, tuple[float, float]] = {
    "latitude": (-90.0, 90.0),
    "longitude": (-180.0, 180.0),
    "propensity": (0.0, 1.0),
    "age": (0.0, 130.0),
    "release_year": (1870.0, 2200.0),
}
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")

Progress = Callable[["ProgressEvent"], None]


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives: rows done so far in one file."""

    table: str
    source: str
    rows_done: int
    rows_total: int | None
    finished: bool = False


@dataclass
class FileSummary:
    """Outcome of ingesting one source file."""

    table: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class IngestSummary:
    """Outcome of one ingest: per-file summaries plus totals."""

    ingest_id: int
    format: str
    files: list[FileSummary] = field(default_factory=list)
    derived: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def _total(self, attr: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.table] = out.get(f.table, 0) + int(getattr(f, attr))
        return out

    @property
    def loaded(self) -> dict[str, int]:
        """Rows loaded per table (including rows derived, e.g. users from ratings)."""
        out = self._total("rows_loaded")
        for t, n in self.derived.items():
            out[t] = out.get(t, 0) + n
        return out

    @property
    def quarantined(self) -> dict[str, int]:
        """Rows quarantined per table."""
        return self._total("rows_quarantined")

    @property
    def skipped(self) -> dict[str, int]:
        """Rows skipped (already loaded or already quarantined) per table."""
        return self._total("rows_skipped")

    @property
    def reasons(self) -> dict[str, int]:
        """Quarantined rows per reason, over all files."""
        out: dict[str, int] = {}
        for f in self.files:
            for r, n in f.reasons.items():
                out[r] = out.get(r, 0) + n
        return out

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)


# -- SQL building ---------------------------------------------------------------------------

_INT_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


def _is_numeric(t: str) -> bool:
    return t in _INT_TYPES or t in _FLOAT_TYPES or t.startswith("DECIMAL")


def _typed(col: Column, src: str, src_type: str) -> tuple[str, str | None]:
    """SQL for the typed value of ``col`` and the reason used when parsing fails."""
    t = col.type
    x = f"s.{src}"
    if t == "string":
        expr = x if src_type == "VARCHAR" else f"CAST({x} AS VARCHAR)"
        if col.name.endswith("_id") or col.pseudonymise:
            expr = f"NULLIF(trim({expr}), '')"
        if col.name == "country":
            expr = f"upper(trim({expr}))"
        return expr, None
    if t == "int":
        if src_type in _INT_TYPES:
            return f"CAST({x} AS BIGINT)", None
        if _is_numeric(src_type):
            return f"CASE WHEN {x} = trunc({x}) THEN TRY_CAST({x} AS BIGINT) END", "not an integer"
        # Via DOUBLE so "3.0" is accepted but "1.5" is rejected (a BIGINT cast would round).
        d = f"TRY_CAST(trim(CAST({x} AS VARCHAR)) AS DOUBLE)"
        return (
            f"CASE WHEN {d} = trunc({d}) AND abs({d}) < 9.0e15 THEN CAST({d} AS BIGINT) END",
            "not an integer",
        )
    if t == "float":
        if _is_numeric(src_type):
            return f"CAST({x} AS DOUBLE)", "not a finite number"
        return f"TRY_CAST(trim(CAST({x} AS VARCHAR)) AS DOUBLE)", "not a finite number"
    if t == "bool":
        if src_type == "BOOLEAN":
            return x, None
        if _is_numeric(src_type):
            return f"CASE WHEN {x} = 1 THEN true WHEN {x} = 0 THEN false END", "not a boolean"
        v = f"lower(trim(CAST({x} AS VARCHAR)))"
        true_set = ", ".join(sql_str(s) for s in _TRUE)
        false_set = ", ".join(sql_str(s) for s in _FALSE)
        return (
            f"CASE WHEN {v} IN ({true_set}) THEN true WHEN {v} IN ({false_set}) THEN false END",
            "not a boolean (true/false, 1/0, yes/no)",
        )
    if t == "timestamp":
        reason = "not a timestamp (ISO-8601 or epoch seconds)"
        if src_type.startswith("TIMESTAMP WITH TIME ZONE"):
            return x, None
        if src_type.startswith("TIMESTAMP") or src_type == "DATE":
            return f"CAST({x} AS TIMESTAMPTZ)", None  # naive = UTC (session zone)
        if _is_numeric(src_type):
            return f"TRY(to_timestamp(CAST({x} AS DOUBLE)))", reason
        v = f"trim(CAST({x} AS VARCHAR))"
        # ISO first (the common case); only text that is not ISO is tried as epoch seconds.
        return (
            f"COALESCE(TRY_CAST({v} AS TIMESTAMPTZ), CASE WHEN regexp_full_match({v}, "
            f"'-?[0-9]+(\\.[0-9]+)?') THEN TRY(to_timestamp(TRY_CAST({v} AS DOUBLE))) END)",
            reason,
        )
    # list<string>
    if src_type.endswith("[]"):
        return f"CAST({x} AS VARCHAR[])", None
    v = f"trim(CAST({x} AS VARCHAR))"
    return (
        f"CASE WHEN starts_with({v}, '[') THEN TRY_CAST(TRY_CAST({v} AS JSON) AS VARCHAR[]) "
        f"ELSE list_filter(list_transform(string_split({v}, '|'), lambda e: trim(e)), "
        "lambda e: e <> '') END",
        "not a list ('a|b' or a JSON array)",
    )


_CACHE_ROWS = 5_000_000  # distinct identifiers remembered across batches, per column

# Status codes of a row beyond its check failures (which are numbered from 1).
_DUP = -1  # key seen earlier in this file: quarantined
_SKIP = -2  # key loaded before this file: skipped


@dataclass
class _Plan:
    """SQL of one source, built once from its column types.

    ``select`` types, pseudonymises and checks one batch in a single pass: an inner query
    computes every typed value once, the outer one evaluates the checks on those values and
    keeps only the number (``_code``) of the first failing check; ``codes`` maps it to the
    column and reason. ``raw_select`` rebuilds the raw row as JSON, only for failed rows.
    """

    select: str
    raw_json: str
    stored: list[str]
    key: list[str]
    pseudo_cols: list[str]
    ip_cols: list[str]
    codes: dict[int, tuple[str, str]]


def _plan(
    source: Source, src_types: dict[str, str], rating_scale: tuple[float, float] | None
) -> _Plan:
    contract = TABLES[source.table]
    present = [c for c in contract.columns if c.name in source.columns and not c.pii]
    inner: dict[str, str] = {}  # output name -> SQL over the batch (s) and the maps
    checks: list[tuple[str, str, str]] = []  # (condition that FAILS, column, reason)
    joins: list[str] = []
    pseudo_cols: list[str] = []
    ip_cols: list[str] = []
    raw_json: list[str] = []
    for i, c in enumerate(present):
        src = quote_ident(c.name)
        q = quote_ident(c.name)
        expr, parse_reason = _typed(c, src, src_types[c.name])
        if c.ip:
            alias = f"ip_{len(ip_cols)}"
            joins.append(f"LEFT JOIN _ip_{c.name} {alias} ON {alias}.raw = s.{src}")
            hash_col, net_col = c.name + IP_HASH_SUFFIX, c.name + IP_NET_SUFFIX
            inner[hash_col] = f"{alias}.hash"
            inner[net_col] = f"{alias}.net_hash"
            inner[f"_bad{i}"] = f"s.{src} IS NOT NULL AND NOT coalesce({alias}.valid, false)"
            checks.append((f"_bad{i}", c.name, "not a valid IP address"))
            raw_json += [
                f"'{hash_col}', w.{quote_ident(hash_col)}",
                f"'{net_col}', w.{quote_ident(net_col)}",
            ]
            ip_cols.append(c.name)
            continue
        if c.pseudonymise:
            alias = f"p_{len(pseudo_cols)}"
            joins.append(f"LEFT JOIN _ps_{c.name} {alias} ON {alias}.raw = {expr}")
            inner[c.name] = f"{alias}.pseudonym"
            pseudo_cols.append(c.name)
            raw_json.append(f"'{c.name}', w.{q}")
        else:
            inner[c.name] = expr
            raw_json.append(f"'{c.name}', CAST(s.{src} AS VARCHAR)")
        if parse_reason is not None:
            # The source value was present but did not parse: flag it in the inner query.
            present_src = f"s.{src} IS NOT NULL"
            if src_types[c.name] == "VARCHAR" and c.type != "list<string>":
                present_src = f"trim(s.{src}) <> ''"
            inner[f"_has{i}"] = present_src
            bad = f"_has{i} AND {q} IS NULL"
            if c.type == "float":
                bad = f"({bad}) OR NOT isfinite({q})"
            checks.append((bad, c.name, parse_reason))
        if c.required:
            checks.append((f"{q} IS NULL", c.name, "missing required value"))
        if c.name in NON_NEGATIVE:
            checks.append((f"{q} < 0", c.name, "negative value"))
        if c.name in RANGES:
            lo, hi = RANGES[c.name]
            checks.append(
                (f"{q} NOT BETWEEN {lo} AND {hi}", c.name, f"outside the range [{lo:g}, {hi:g}]")
            )
        if c.name == "country":
            country_list = ", ".join(sql_str(x) for x in sorted(ISO_ALPHA2))
            checks.append(
                (f"{q} NOT IN ({country_list})", c.name, "not an ISO 3166-1 alpha-2 country code")
            )
        if c.name == "rating" and rating_scale is not None:
            lo, hi = rating_scale
            checks.append(
                (
                    f"{q} NOT BETWEEN {lo!r} AND {hi!r}",
                    c.name,
                    f"outside the rating scale [{lo:g}, {hi:g}]",
                )
            )
    for group in contract.one_of:
        have = [g for g in group if g in inner]
        cond = " AND ".join(f"{quote_ident(g)} IS NULL" for g in have)
        checks.append((cond, have[0], f"needs one of {', '.join(group)}"))
    if "started_at" in inner and "ended_at" in inner:
        checks.append(("ended_at < started_at", "ended_at", "ended before it started"))
    stored = [n for n, _ in stored_columns(contract) if n in inner]
    inner_sql = ", ".join(f"{e} AS {quote_ident(n)}" for n, e in inner.items())
    code_case = " ".join(f"WHEN {cond} THEN {k + 1}" for k, (cond, _, _) in enumerate(checks))
    code = f"CASE {code_case} END" if checks else "NULL"
    outer = ", ".join(quote_ident(n) for n in stored)
    select = (
        f"SELECT {outer}, _row, _line, CAST({code} AS INTEGER) AS _code FROM "
        f"(SELECT s._row AS _row, s._line AS _line, {inner_sql} FROM _batch s {' '.join(joins)})"
    )
    codes = {k + 1: (col, reason) for k, (_, col, reason) in enumerate(checks)}
    key_desc = ", ".join(contract.key)
    codes[_DUP] = (contract.key[0], f"duplicate key ({key_desc}) within the file")
    return _Plan(
        select, ", ".join(raw_json), stored, list(contract.key), pseudo_cols, ip_cols, codes
    )


# -- the ingest run ---------------------------------------------------------------------------


class Ingestor:
    """Loads sources into a warehouse inside one transaction.

    Parameters
    ----------
    warehouse : an open, writable :class:`Warehouse`.
    pseudonymiser : keyed pseudonyms for identifier and IP columns.
    batch_rows : rows per batch (bounds memory).
    progress : optional callback receiving :class:`ProgressEvent` after every batch.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        pseudonymiser: Pseudonymiser,
        *,
        batch_rows: int = 1_000_000,
        progress: Progress | None = None,
        fmt: str = "contract",
    ) -> None:
        self.wh = warehouse
        self.con = warehouse.connection
        self.ps = pseudonymiser
        self.batch_rows = int(batch_rows)
        self.progress = progress
        self.format = fmt
        self._caches: dict[str, pa.Table] = {}

    def run(
        self,
        sources: Sequence[Source],
        *,
        rating_scale: tuple[float, float] | None = None,
        derive_users: bool = False,
    ) -> IngestSummary:
        """Ingest every source in one transaction; returns the summary.

        Raises
        ------
        DataError
            When a source cannot be parsed; nothing is written then.
        """
        t0 = time.perf_counter()
        con = self.con
        ingest_id = int(
            run_sql(con, f"SELECT coalesce(max(ingest_id), 0) + 1 FROM {INGEST_LOG}")[0][0]
        )  # type: ignore[index]
        summary = IngestSummary(ingest_id, self.format)
        if rating_scale is None:
            stored = self.wh.get_meta("rating_scale")
            if stored:
                lo, hi = (float(v) for v in stored.split(","))
                rating_scale = (lo, hi)
        run_sql(con, "BEGIN TRANSACTION")
        try:
            for source in sources:
                scale = source.rating_scale or rating_scale
                summary.files.append(self._ingest_source(source, ingest_id, scale))
                if source.table == "ratings" and scale is not None:
                    self.wh.set_meta("rating_scale", f"{scale[0]:g},{scale[1]:g}")
            if derive_users:
                summary.derived["users"] = self._derive_users()
            run_sql(con, "COMMIT")
        except BaseException:
            run_sql(con, "ROLLBACK")
            raise
        finally:
            for view in ("_batch", "_codes"):
                with contextlib.suppress(duckdb.Error):
                    con.unregister(view)
        with contextlib.suppress(duckdb.Error):
            run_sql(con, "CHECKPOINT")
        summary.seconds = time.perf_counter() - t0
        return summary

    def _derive_users(self) -> int:
        """Members seen in ratings but absent from users (releases without a user file)."""
        before = self.wh.count("users")
        run_sql(
            self.con,
            "INSERT INTO users (user_id) SELECT DISTINCT r.user_id FROM ratings r "
            "ANTI JOIN users u ON u.user_id = r.user_id",
        )
        return self.wh.count("users") - before

    def _ingest_source(
        self, source: Source, ingest_id: int, rating_scale: tuple[float, float] | None
    ) -> FileSummary:
        t0 = time.perf_counter()
        con = self.con
        summary = FileSummary(source.table, source.name)
        target = quote_ident(source.table)
        # Rows are only ever appended to contract tables, so row ids below this are the rows
        # that existed before this file: their keys are "already loaded" (skipped), keys at or
        # above it were loaded from this very file (later copies are duplicates: quarantined).
        start_rowid = int(run_sql(con, f"SELECT count(*) FROM {target}")[0][0])  # type: ignore[index]
        started = time.time()
        plan: _Plan | None = None
        offset = 0
        for batch in source.batches():
            n = batch.num_rows
            if n == 0:
                continue
            batch = batch.append_column(
                "_row", pa.array(np.arange(offset, offset + n, dtype=np.int64))
            )
            if "_line" not in batch.schema.names:
                if source.first_line is None:
                    lines = pa.nulls(n, pa.int64())
                else:
                    lines = pa.array(
                        np.arange(offset, offset + n, dtype=np.int64) + source.first_line
                    )
                batch = batch.append_column("_line", lines)
            offset += n
            con.register("_batch", batch)
            if plan is None:
                types = {r[0]: r[1] for r in run_sql(con, "DESCRIBE _batch")}
                plan = _plan(source, types, rating_scale)
            views = self._register_maps(plan, batch)
            try:
                self._process_batch(plan, source, ingest_id, start_rowid, summary)
            finally:
                # Unregister explicitly: a replaced registration can keep the previous Arrow
                # batch alive, and memory would then grow with the file.
                for view in ("_batch", *views):
                    con.unregister(view)
            summary.rows_read += n
            if self.progress is not None:
                self.progress(
                    ProgressEvent(source.table, source.name, summary.rows_read, source.total_rows)
                )
        run_sql(
            con,
            f"INSERT INTO {INGEST_LOG} VALUES (?, ?, ?, ?, to_timestamp(?), now(), ?, ?, ?, ?)",
            [
                ingest_id,
                source.table,
                source.name,
                self.format,
                started,
                summary.rows_read,
                summary.rows_loaded,
                summary.rows_quarantined,
                summary.rows_skipped,
            ],
        )
        summary.seconds = time.perf_counter() - t0
        if self.progress is not None:
            self.progress(
                ProgressEvent(source.table, source.name, summary.rows_read, source.total_rows, True)
            )
        return summary

    def _register_maps(self, plan: _Plan, batch: pa.RecordBatch) -> list[str]:
        for name in plan.pseudo_cols:
            col = batch.column(batch.schema.get_field_index(name))
            vals = pc.utf8_trim_whitespace(col.cast(pa.string()))
            m = self._cached(name, vals, functools.partial(self.ps.mapping, domain=name))
            self.con.register(f"_ps_{name}", m)
        for name in plan.ip_cols:
            col = batch.column(batch.schema.get_field_index(name)).cast(pa.string())
            m = self._cached("ip:" + name, col, functools.partial(self.ps.ip_mapping, column=name))
            self.con.register(f"_ip_{name}", m)
        return [f"_ps_{n}" for n in plan.pseudo_cols] + [f"_ip_{n}" for n in plan.ip_cols]

    def _cached(
        self, kind: str, values: pa.Array, compute: Callable[[pa.Array], pa.Table]
    ) -> pa.Table:
        """The mapping rows of the distinct ``values`` of a batch, hashing only values not seen
        in earlier batches (members and devices recur in every batch)."""
        uniq = pc.unique(pc.drop_null(values))
        cache = self._caches.get(kind)
        new = (
            uniq
            if cache is None
            else pc.filter(uniq, pc.invert(pc.is_in(uniq, value_set=cache["raw"])))
        )
        if len(new):
            fresh = compute(new)
            cache = fresh if cache is None else pa.concat_tables([cache, fresh]).combine_chunks()
            if cache.num_rows > _CACHE_ROWS:  # bound memory: keep only this batch's values
                cache = (
                    fresh
                    if len(new) == len(uniq)
                    else cache.take(pc.index_in(uniq, value_set=cache["raw"]))
                )
            self._caches[kind] = cache
        assert cache is not None
        return cache.take(pc.index_in(uniq, value_set=cache["raw"]))

    def _process_batch(
        self, plan: _Plan, source: Source, ingest_id: int, start_rowid: int, summary: FileSummary
    ) -> None:
        con = self.con
        target = quote_ident(source.table)
        # The typed batch comes back as Arrow, not as a temporary table: temporary tables
        # replaced inside the ingest transaction would keep every batch's version alive until
        # commit, so memory would grow with the file instead of staying at one batch.
        v = con.sql(plan.select).to_arrow_table()
        n = v.num_rows
        rows = np.asarray(v.column("_row").to_numpy(), dtype=np.int64)
        base = int(rows.min())
        where = np.empty(n, dtype=np.int64)
        where[rows - base] = np.arange(n)  # batch row -> position in v (join order is free)
        code = np.array(v.column("_code").fill_null(0).to_numpy(), dtype=np.int32)  # writable
        con.register("_v", v)
        keys = [quote_ident(k) for k in plan.key]
        key_cols = ", ".join(keys)
        on_d = " AND ".join(f"v.{k} = d.{k}" for k in keys)
        # Duplicates within the batch: every valid row after the first of its key.
        dup = con.sql(
            f"""SELECT v._row FROM _v v JOIN (
                SELECT {key_cols}, min(_row) AS _first FROM _v WHERE _code IS NULL
                GROUP BY {key_cols} HAVING count(*) > 1) d ON {on_d}
            WHERE v._row > d._first AND v._code IS NULL"""
        ).to_arrow_table()
        code[where[np.asarray(dup.column(0).to_numpy(), dtype=np.int64) - base]] = _DUP
        # Keys already in the table: loaded before this file (skip) or from an earlier batch
        # of this file (duplicate). Rows are only appended, so row ids tell which.
        on_t = " AND ".join(f"t.{k} = v.{k}" for k in keys)
        hits = con.sql(
            f"""SELECT v._row, min(t.rowid) AS _rid FROM _v v JOIN {target} t ON {on_t}
            WHERE v._code IS NULL GROUP BY v._row"""
        ).to_arrow_table()
        if hits.num_rows:
            pos = where[np.asarray(hits.column(0).to_numpy(), dtype=np.int64) - base]
            rid = np.asarray(hits.column(1).to_numpy(), dtype=np.int64)
            fresh = code[pos] == 0
            code[pos[fresh]] = np.where(rid[fresh] < start_rowid, _SKIP, _DUP)
        con.unregister("_v")
        load = code == 0
        cols = ", ".join(quote_ident(c) for c in plan.stored)
        con.register("_load", v.filter(pa.array(load)).select(plan.stored))
        try:
            run_sql(con, f"INSERT INTO {target} ({cols}) SELECT {cols} FROM _load")
        finally:
            con.unregister("_load")
        summary.rows_loaded += int(load.sum())
        summary.rows_skipped += int((code == _SKIP).sum())
        failed = (code != 0) & (code != _SKIP)
        n_failed = int(failed.sum())
        if n_failed == 0:
            return
        bad = v.filter(pa.array(failed)).select([*plan.stored, "_row", "_line"])
        bad = bad.append_column("_code", pa.array(code[failed], pa.int32()))
        codes = pa.table(
            {
                "_code": pa.array(list(plan.codes), pa.int32()),
                "column_name": [c for c, _ in plan.codes.values()],
                "reason": [r for _, r in plan.codes.values()],
            }
        )
        con.register("_codes", codes)
        con.register("_vb", bad)  # _codes is small and unregistered at the end of the run
        # Failed rows only: rebuild the raw row (identifiers pseudonymised, IPs hashed) by
        # joining back to the batch. A failed row identical to one already quarantined (a
        # re-ingest of the same file) is skipped, so re-ingesting adds nothing anywhere.
        try:
            new_q = con.sql(
                f"""WITH q AS (
                    SELECT {sql_str(source.table)} AS table_name, w._line AS line, c.column_name,
                           c.reason, CAST(json_object({plan.raw_json}) AS VARCHAR) AS raw_row
                    FROM _vb w JOIN _batch s ON s._row = w._row JOIN _codes c ON c._code = w._code)
                SELECT q.* FROM q ANTI JOIN {QUARANTINE} x
                ON x.table_name = q.table_name AND x.line IS NOT DISTINCT FROM q.line
                AND x.reason = q.reason AND x.raw_row = q.raw_row"""
            ).to_arrow_table()
        finally:
            con.unregister("_vb")
        con.register("_qn", new_q)
        try:
            run_sql(
                con,
                f"INSERT INTO {QUARANTINE} SELECT ?, table_name, ?, line, column_name, reason, "
                "raw_row, now() FROM _qn",
                [ingest_id, source.name],
            )
        finally:
            con.unregister("_qn")
        reasons = new_q.column("reason").to_pylist()
        for reason in reasons:
            summary.reasons[reason] = summary.reasons.get(reason, 0) + 1
        summary.rows_quarantined += len(reasons)
        summary.rows_skipped += n_failed - len(reasons)


# -- entry points ---------------------------------------------------------------------------


def ingest_folder(
    warehouse: Warehouse,
    folder: Path,
    pseudonymiser: Pseudonymiser,
    *,
    fmt: str = "contract",
    rating_scale: tuple[float, float] | None = None,
    batch_rows: int = 1_000_000,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest a dataset folder into ``warehouse``.

    Parameters
    ----------
    warehouse : open, writable warehouse.
    folder : dataset folder (contract files, a MovieLens release or Netflix Prize files).
    pseudonymiser : keyed pseudonyms (see :func:`reelmine.data.pseudonym.load_key`).
    fmt : ``contract`` (default), ``movielens`` or ``netflix-prize``.
    rating_scale : ``(min, max)`` of ratings; MovieLens/Netflix know theirs; for contract data
        the scale given here (or remembered from an earlier ingest) is enforced.
    batch_rows : rows per batch.
    progress : optional callback (called after each batch).

    Raises
    ------
    DataError
        When a file name, header or content is unusable; nothing is written then.
    """
    folder = Path(folder)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    ingestor = Ingestor(warehouse, pseudonymiser, batch_rows=batch_rows, progress=progress, fmt=fmt)
    if fmt == "movielens":
        from reelmine.data.movielens import read_movielens

        tables = read_movielens(folder)
        order = ("titles", "users", "ratings")
        sources = [arrow_source(t, tables[t], batch_rows=batch_rows) for t in order if t in tables]
        return ingestor.run(sources, rating_scale=rating_scale)
    if fmt == "netflix-prize":
        from reelmine.data.netflix import netflix_sources

        return ingestor.run(netflix_sources(folder, batch_rows), derive_users=True)
    files = discover(folder)
    # Open (and so check the header of) every file before writing anything.
    sources = [open_contract_file(t, p, warehouse.connection, batch_rows) for t, p in files]
    return ingestor.run(sources, rating_scale=rating_scale)


def ingest_tables(
    warehouse: Warehouse,
    tables: dict[str, pa.Table],
    pseudonymiser: Pseudonymiser,
    *,
    rating_scale: tuple[float, float] | None = None,
    batch_rows: int = 1_000_000,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest raw contract-shaped Arrow tables (e.g. from :func:`read_movielens`)."""
    order = list(TABLES)
    sources = [
        arrow_source(t, tables[t], batch_rows=batch_rows) for t in sorted(tables, key=order.index)
    ]
    ingestor = Ingestor(
        warehouse, pseudonymiser, batch_rows=batch_rows, progress=progress, fmt="arrow"
    )
    return ingestor.run(sources, rating_scale=rating_scale)


def parse_rating_scale(text: str | None) -> tuple[float, float] | None:
    """``"0.5:5"`` or ``"1,5"`` -> ``(0.5, 5.0)``; ``None`` passes through."""
    if text is None or not str(text).strip():
        return None
    parts = re.split(r"[:,]", str(text))
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise DataError(f"rating scale {text!r} must look like MIN:MAX, e.g. 0.5:5") from None
    if not lo < hi:
        raise DataError(f"rating scale {text!r}: MIN must be below MAX")
    return lo, hi


__all__: list[Any] = [
    "FileSummary",
    "IngestSummary",
    "Ingestor",
    "ProgressEvent",
    "Source",
    "arrow_source",
    "discover",
    "ingest_folder",
    "ingest_tables",
    "open_contract_file",
    "parse_rating_scale",
]
