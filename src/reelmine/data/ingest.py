"""Ingestion: contract files (or MovieLens / Netflix Prize releases) into the warehouse.

Set-based, inside DuckDB (rows never travel through Python); see :class:`Ingestor`:

1. **Check the header** of every file first: unknown table names, unknown columns or missing
   required columns stop the whole ingest with :class:`DataError` before anything is written.
2. **First pass** over every file (still before any write, so an unparseable file writes
   nothing): one ``GROUPING SETS`` scan returns the distinct identifiers and IPs, the natural
   keys seen more than once, and the row count. Python hashes only those distinct values.
3. **Load**: one ``INSERT ... SELECT`` per file types, pseudonymises (joins to the small
   mapping tables), validates (the first failing check of a row names column and reason) and
   keeps valid rows whose key is new; the first valid copy of a repeated key wins. A CSV file
   is read by DuckDB's typed parser here (*fast path*); a value that parser refuses aborts the
   transaction, which is then run again with that file read as text (the path that decides
   row by row).
4. **Rare paths**: later copies of repeated keys and rows failing a check go to
   ``quarantine`` (raw row as JSON, identifiers pseudonymised) only when there are any; rows
   whose key was already loaded are *skipped* (that is what makes re-ingesting idempotent).

All writes happen in one transaction. Invariant, per file:
``rows_read == rows_loaded + rows_quarantined + rows_skipped``.
"""

from __future__ import annotations

import contextlib
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
from reelmine.data.readers import (
    Source,
    _duck_error,
    arrow_source,
    discover,
    open_contract_file,
    sql_str,
)
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
    # Loaded through DuckDB's typed CSV reader (a clean CSV) rather than the text path.
    fast: bool = False


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
            # The same bound as text below, so a typed reader and the text path agree.
            return (
                f"CASE WHEN {x} = trunc({x}) AND abs({x}) < 9.0e15 THEN CAST({x} AS BIGINT) END",
                "not an integer",
            )
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


# What DuckDB's CSV reader parses each logical type as on the typed fast path. Integers are
# read as DOUBLE so that "1.5" fails its check ("not an integer") instead of being rounded.
_FAST_CSV_TYPES = {
    "int": "DOUBLE",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
}


def _csv_spec(columns: Sequence[str], types: dict[str, str]) -> str:
    return "{" + ", ".join(f"{sql_str(c)}: '{types.get(c, 'VARCHAR')}'" for c in columns) + "}"


def _fast_csv(source: Source) -> str | None:
    """The source's CSV read with DuckDB's typed parser, or None when no column needs typing
    or the source is not a CSV opened by :func:`open_contract_file`.

    The reader's conversions were checked value by value against the text path's
    ``TRY_CAST(trim(...))`` (tests/data/test_ingest_fastpath.py): whatever it accepts it
    parses to the same value; what it rejects (epoch seconds, padded booleans, blanks) makes
    the whole load fall back to the text path, which decides row by row.
    """
    if source.sql is None or not source.name.endswith((".csv", ".csv.gz")):
        return None
    contract = TABLES[source.table]
    types = {
        c.name: _FAST_CSV_TYPES[c.type]
        for c in contract.columns
        if c.name in source.columns and c.type in _FAST_CSV_TYPES and not c.pii
    }
    text_spec = f"columns = {_csv_spec(source.columns, {})})"
    if not types or not source.sql.endswith(text_spec):
        return None
    return source.sql[: -len(text_spec)] + f"columns = {_csv_spec(source.columns, types)})"


class _FastPathFailed(Exception):
    """The typed reader refused a value of source ``index``: load it by the text path."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


# Status code of a row beyond its check failures (which are numbered from 1).
_DUP = -1  # key seen earlier in this file: quarantined


@dataclass
class _Plan:
    """SQL pieces of one source, built once from its column types.

    ``inner`` types and pseudonymises the raw row ``s`` (joined to the small mapping tables by
    ``joins``); ``code`` is evaluated on those typed values and gives the number of the first
    failing check (``codes`` maps it to column and reason), NULL when the row is valid.
    ``raw`` copies the raw text of the columns kept as text in a quarantined row, and
    ``raw_json`` rebuilds that row as JSON (identifiers pseudonymised, IPs hashed).
    """

    inner: list[tuple[str, str]]
    raw: list[tuple[str, str]]
    joins: list[str]
    code: str
    raw_json: str
    stored: list[str]
    key: list[str]
    key_exprs: list[str]
    pseudo: list[tuple[str, str]]
    ip_cols: list[str]
    codes: dict[int, tuple[str, str]]

    def typed(self, relation: str, *, rows: bool, line: str, raw: bool = False) -> str:
        """``SELECT`` of typed, pseudonymised values plus ``_code`` over ``relation``."""
        items = list(self.inner)
        if rows:
            items += [("_row", "s._row"), ("_line", line)]
        if raw:
            items += self.raw
        inner_sql = ", ".join(f"{e} AS {quote_ident(n)}" for n, e in items)
        typed = (
            f"SELECT *, CAST({self.code} AS INTEGER) AS _code FROM "
            f"(SELECT {inner_sql} FROM ({relation}) s {' '.join(self.joins)})"
        )
        # ``_ok`` is what the load filters on. random() is volatile, so DuckDB does not push
        # that filter below this projection: pushed down, every check would re-evaluate the
        # typed expressions (a timestamp parse several times per row; measured 3x slower).
        return f"SELECT *, _code IS NULL AND random() >= 0 AS _ok FROM ({typed})"


def _plan(
    source: Source, src_types: dict[str, str], rating_scale: tuple[float, float] | None
) -> _Plan:
    contract = TABLES[source.table]
    present = [c for c in contract.columns if c.name in source.columns and not c.pii]
    inner: dict[str, str] = {}  # output name -> SQL over the raw row (s) and the maps
    raw: list[tuple[str, str]] = []
    checks: list[tuple[str, str, str]] = []  # (condition that FAILS, column, reason)
    joins: list[str] = []
    pseudo: list[tuple[str, str]] = []  # (column, SQL of the value that is hashed)
    ip_cols: list[str] = []
    raw_json: list[str] = []
    typed_expr: dict[str, str] = {}
    for i, c in enumerate(present):
        src = quote_ident(c.name)
        q = quote_ident(c.name)
        expr, parse_reason = _typed(c, src, src_types[c.name])
        typed_expr[c.name] = expr
        if c.ip:
            alias = f"ip_{len(ip_cols)}"
            joins.append(f"LEFT JOIN _ip_{c.name} {alias} ON {alias}.raw = s.{src}")
            hash_col, net_col = c.name + IP_HASH_SUFFIX, c.name + IP_NET_SUFFIX
            inner[hash_col] = f"{alias}.hash"
            inner[net_col] = f"{alias}.net_hash"
            inner[f"_bad{i}"] = f"s.{src} IS NOT NULL AND NOT coalesce({alias}.valid, false)"
            checks.append((f"_bad{i}", c.name, "not a valid IP address"))
            raw_json += [
                f"'{hash_col}', {quote_ident(hash_col)}",
                f"'{net_col}', {quote_ident(net_col)}",
            ]
            ip_cols.append(c.name)
            continue
        if c.pseudonymise:
            alias = f"p_{len(pseudo)}"
            # Text columns join on the raw value (the map trims it before hashing): a probe
            # on trim(...) per row measured ~0.3 s per million rows and column.
            on = f"s.{src}" if src_types[c.name] == "VARCHAR" else expr
            joins.append(f"LEFT JOIN _ps_{c.name} {alias} ON {alias}.raw = {on}")
            inner[c.name] = f"{alias}.pseudonym"
            pseudo.append((c.name, on))
            raw_json.append(f"'{c.name}', {q}")
        else:
            inner[c.name] = expr
            raw.append((f"_r{i}", f"CAST(s.{src} AS VARCHAR)"))
            raw_json.append(f"'{c.name}', _r{i}")
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
    code_case = " ".join(f"WHEN {cond} THEN {k + 1}" for k, (cond, _, _) in enumerate(checks))
    code = f"CASE {code_case} END" if checks else "NULL"
    codes = {k + 1: (col, reason) for k, (_, col, reason) in enumerate(checks)}
    key_desc = ", ".join(contract.key)
    codes[_DUP] = (contract.key[0], f"duplicate key ({key_desc}) within the file")
    return _Plan(
        inner=list(inner.items()),
        raw=raw,
        joins=joins,
        code=code,
        raw_json=", ".join(raw_json),
        stored=stored,
        key=list(contract.key),
        key_exprs=[typed_expr[k] for k in contract.key],
        pseudo=pseudo,
        ip_cols=ip_cols,
        codes=codes,
    )


# -- the ingest run ---------------------------------------------------------------------------


@dataclass
class _Prepared:
    """A source after its first pass: relation SQL, plan, mapping tables, row count."""

    source: Source
    relation: str
    relation_rows: str
    line: str
    plan: _Plan
    maps: dict[str, pa.Table]
    rows: int
    dup_keys: bool
    staged: str | None = None
    # Typed fast path (CSV only): DuckDB's typed reader and the plan over its typed columns.
    fast: tuple[str, _Plan] | None = None


class Ingestor:
    """Loads sources into a warehouse; all writes happen inside one transaction.

    Each source is read by DuckDB itself (CSV, Parquet and JSONL files directly; Arrow
    batches after staging them into a temporary table) and loaded set-based:

    1. **First pass** (before anything is written, so a file that cannot be parsed writes
       nothing): one scan with ``GROUPING SETS`` returns the distinct identifiers and IPs,
       the natural keys that occur more than once, and the row count. Only those distinct
       values leave DuckDB: Python hashes them (HMAC) into small mapping tables.
    2. **Load**: one ``INSERT ... SELECT`` types, pseudonymises (joins to the mapping tables)
       and validates every row, and keeps the valid rows whose key is not in the table yet.
       CSV files without repeated keys are read by DuckDB's typed CSV parser (``fast_csv``);
       when it refuses a value the transaction restarts with that file read as text.
    3. **Rare paths**: only when the file has repeated keys, a window marks the later copies;
       only when fewer rows were loaded than read, a second scan writes the failed rows to
       ``quarantine``. Rows neither loaded nor quarantined were already loaded (skipped).

    Parameters
    ----------
    warehouse : an open, writable :class:`Warehouse`.
    pseudonymiser : keyed pseudonyms for identifier and IP columns.
    batch_rows : rows per batch when staging Arrow sources.
    progress : optional callback receiving :class:`ProgressEvent` after every step.
    fmt : format name written to ``ingest_log``.
    fast_csv : load clean CSV files through DuckDB's typed reader (see :func:`ingest_folder`).
    """

    def __init__(
        self,
        warehouse: Warehouse,
        pseudonymiser: Pseudonymiser,
        *,
        batch_rows: int = 1_000_000,
        progress: Progress | None = None,
        fmt: str = "contract",
        fast_csv: bool = True,
    ) -> None:
        self.wh = warehouse
        self.con = warehouse.connection
        self.ps = pseudonymiser
        self.batch_rows = int(batch_rows)
        self.progress = progress
        self.format = fmt
        self.fast_csv = fast_csv
        self._registered: list[str] = []
        self._staged: list[str] = []

    def run(
        self,
        sources: Sequence[Source],
        *,
        rating_scale: tuple[float, float] | None = None,
        derive_users: bool = False,
    ) -> IngestSummary:
        """Ingest every source (all writes in one transaction); returns the summary.

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
        # The mapping tables are tiny and the file's row count unknown to the optimizer, which
        # then builds hash tables on the file side (all columns as payload): measured 2x
        # slower. Joins keep the file on the probe side while ingesting.
        disabled = str(run_sql(con, "SELECT current_setting('disabled_optimizers')")[0][0])
        wanted = ",".join(x for x in (disabled, "build_side_probe_side") if x)
        run_sql(con, f"SET disabled_optimizers = {sql_str(wanted)}")
        # _load switches insertion order off for its main INSERT; a load that fails leaves the
        # transaction aborted, when DuckDB refuses SET, so it is restored here after ROLLBACK.
        order = bool(run_sql(con, "SELECT current_setting('preserve_insertion_order')")[0][0])
        try:
            # Every source is read once before the transaction starts: parse errors surface
            # here, while nothing has been written.
            prepared = [
                self._prepare(source, i, source.rating_scale or rating_scale)
                for i, source in enumerate(sources)
            ]
            while True:
                run_sql(con, "BEGIN TRANSACTION")
                summary.files, summary.derived = [], {}
                try:
                    for i, prep in enumerate(prepared):
                        summary.files.append(self._load(prep, i, ingest_id))
                        scale = prep.source.rating_scale or rating_scale
                        if prep.source.table == "ratings" and scale is not None:
                            self.wh.set_meta("rating_scale", f"{scale[0]:g},{scale[1]:g}")
                    if derive_users:
                        summary.derived["users"] = self._derive_users()
                    run_sql(con, "COMMIT")
                    break
                except _FastPathFailed as failed:
                    # DuckDB aborts a transaction on any error: start it again, this file by
                    # the text path (at most once per file, so the loop ends).
                    run_sql(con, "ROLLBACK")
                    run_sql(con, f"SET preserve_insertion_order = {order}")
                    prepared[failed.index].fast = None
                except BaseException:
                    run_sql(con, "ROLLBACK")
                    raise
        finally:
            for view in self._registered:
                with contextlib.suppress(duckdb.Error):
                    con.unregister(view)
            for table in self._staged:
                with contextlib.suppress(duckdb.Error):
                    run_sql(con, f"DROP TABLE IF EXISTS {table}")
            self._registered, self._staged = [], []
            run_sql(con, f"SET disabled_optimizers = {sql_str(disabled)}")
            run_sql(con, f"SET preserve_insertion_order = {order}")
        with contextlib.suppress(duckdb.Error):
            run_sql(con, "CHECKPOINT")
        summary.seconds = time.perf_counter() - t0
        return summary

    def _register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)
        self._registered.append(name)

    def _derive_users(self) -> int:
        """Members seen in ratings but absent from users (releases without a user file)."""
        before = self.wh.count("users")
        run_sql(
            self.con,
            "INSERT INTO users (user_id) SELECT DISTINCT r.user_id FROM ratings r "
            "ANTI JOIN users u ON u.user_id = r.user_id",
        )
        return self.wh.count("users") - before

    def _stage(self, source: Source, index: int) -> tuple[str, str]:
        """Arrow batches into a temporary table with ``_row`` (and ``_line`` if given)."""
        con = self.con
        name = f"_reelmine_stage_{index}"
        run_sql(con, f"DROP TABLE IF EXISTS {name}")
        self._staged.append(name)
        offset = 0
        created = False
        has_line = False
        for batch in source.batches():
            n = batch.num_rows
            if n == 0 and created:
                continue
            batch = batch.append_column(
                "_row", pa.array(np.arange(offset, offset + n, dtype=np.int64))
            )
            offset += n
            con.register("_reelmine_batch", batch)
            try:
                if not created:
                    has_line = "_line" in batch.schema.names
                    run_sql(con, f"CREATE TEMP TABLE {name} AS SELECT * FROM _reelmine_batch")
                    created = True
                else:
                    run_sql(con, f"INSERT INTO {name} BY NAME SELECT * FROM _reelmine_batch")
            finally:
                con.unregister("_reelmine_batch")
        if not created:
            cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {quote_ident(c)}" for c in source.columns)
            run_sql(
                con,
                f"CREATE TEMP TABLE {name} AS SELECT {cols}, CAST(NULL AS BIGINT) AS _row LIMIT 0",
            )
        if has_line:
            line = "s._line"
        elif source.first_line is None:
            line = "CAST(NULL AS BIGINT)"
        else:
            line = f"s._row + {int(source.first_line)}"
        return name, line

    def _prepare(
        self, source: Source, index: int, rating_scale: tuple[float, float] | None
    ) -> _Prepared:
        """First pass over one source: types, distinct identifiers, repeated keys, row count."""
        con = self.con
        staged: str | None = None
        if source.sql is not None and source.sql_rows is not None:
            relation, relation_rows = source.sql, source.sql_rows
            line = f"s._row + {int(source.first_line or 1)}"
        else:
            staged, line = self._stage(source, index)
            relation = relation_rows = f"SELECT * FROM {staged}"
        try:
            desc = run_sql(con, f"DESCRIBE SELECT * FROM ({relation})")
            src_types = {r[0]: r[1] for r in desc}
            plan = _plan(source, src_types, rating_scale)
            # One scan: distinct values of every hashed column, keys seen twice, row count.
            cols: list[tuple[str, str]] = [(f"_p{i}", e) for i, (_, e) in enumerate(plan.pseudo)]
            cols += [(f"_i{i}", f"s.{quote_ident(c)}") for i, c in enumerate(plan.ip_cols)]
            # Repeated keys are found through a 64-bit hash of the key: grouping 10 million
            # distinct strings measured several times slower. A collision only sends the file
            # down the exact (window) path for repeated keys, so the result stays exact.
            keys = [("_k", f"hash({', '.join(plan.key_exprs)})")]
            proj = ", ".join(f"{e} AS {a}" for a, e in cols + keys)
            key_set = "(_k)"
            sets = [f"({a})" for a, _ in cols] + [key_set, "()"]
            key_g = "GROUPING(_k)"
            set_id = " + ".join(
                [f"GROUPING({a}) * {1 << k}" for k, (a, _) in enumerate(cols)] or ["0"]
            )
            sql = (
                f"SELECT {', '.join(a for a, _ in cols) + ', ' if cols else ''}"
                f"{key_g} AS _kg, {set_id} AS _sid, count(*) AS _n "
                f"FROM (SELECT {proj} FROM ({relation}) s) "
                f"GROUP BY GROUPING SETS ({', '.join(sets)}) "
                f"HAVING {key_g} <> 0 OR count(*) > 1"
            )
            first = con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise _duck_error(exc, Path(source.name)) from exc
        all_set = (1 << len(cols)) - 1
        kg = np.asarray(first.column("_kg").to_numpy(zero_copy_only=False))
        sid = np.asarray(first.column("_sid").to_numpy(zero_copy_only=False))
        n = np.asarray(first.column("_n").to_numpy(zero_copy_only=False))
        total_mask = (kg != 0) & (sid == all_set)
        rows = int(n[total_mask][0]) if total_mask.any() else 0
        dup_keys = bool(((kg == 0) & (sid == all_set)).any())
        maps: dict[str, pa.Table] = {}
        for k, (alias, _) in enumerate(cols):
            only = (kg != 0) & (sid == all_set & ~(1 << k))
            values = first.column(alias).filter(pa.array(only)).cast(pa.string())
            if alias.startswith("_p"):
                name = plan.pseudo[k][0]
                maps[f"_ps_{name}"] = self._pseudonyms(values, name)
            else:
                name = plan.ip_cols[k - len(plan.pseudo)]
                maps[f"_ip_{name}"] = self.ps.ip_mapping(values, column=name)
        fast = None
        fast_sql = _fast_csv(source) if self.fast_csv and not dup_keys else None
        if fast_sql is not None:
            try:
                fast_types = {r[0]: r[1] for r in run_sql(con, f"DESCRIBE {fast_sql}")}
            except duckdb.Error:
                fast_types = {}
            if fast_types:
                fast = (fast_sql, _plan(source, fast_types, rating_scale))
        if self.progress is not None:
            self.progress(ProgressEvent(source.table, source.name, 0, rows))
        return _Prepared(
            source, relation, relation_rows, line, plan, maps, rows, dup_keys, staged, fast
        )

    def _pseudonyms(self, raw: pa.Array, domain: str) -> pa.Table:
        """``(raw, pseudonym)`` for distinct raw values: the pseudonym of the trimmed value,
        null for blank ones (so a blank required ID fails its check)."""
        raw = pc.unique(pc.drop_null(raw))
        trimmed = pc.utf8_trim_whitespace(raw)
        m = self.ps.mapping(pc.filter(trimmed, pc.not_equal(trimmed, "")), domain=domain)
        pseudonym = pc.take(
            m["pseudonym"], pc.index_in(trimmed, value_set=m["raw"].combine_chunks())
        )
        return pa.table({"raw": raw, "pseudonym": pseudonym})

    def _load(self, prep: _Prepared, index: int, ingest_id: int) -> FileSummary:
        """Second pass: insert the valid new rows; quarantine the failed ones (rare path)."""
        t0 = time.perf_counter()
        started = time.time()
        con = self.con
        source, plan = prep.source, prep.plan
        summary = FileSummary(source.table, source.name, rows_read=prep.rows)
        target = quote_ident(source.table)
        for name, table in prep.maps.items():
            self._register(name, table)
        cols = ", ".join(quote_ident(c) for c in plan.stored)
        keys = [quote_ident(k) for k in plan.key]
        dup_view = f"_reelmine_dups_{index}"
        try:
            if prep.dup_keys:
                # Later copies of a key among the valid rows (the first copy is loaded).
                part = ", ".join(f"v.{k}" for k in keys)
                dups = con.sql(
                    f"SELECT _row FROM (SELECT v._row, row_number() OVER (PARTITION BY {part} "
                    f"ORDER BY v._row) AS _rn FROM "
                    f"({plan.typed(prep.relation_rows, rows=True, line=prep.line)}) v "
                    "WHERE v._code IS NULL) WHERE _rn > 1"
                ).to_arrow_table()
                self._register(dup_view, dups)
            has_rows = run_sql(con, f"SELECT EXISTS (SELECT 1 FROM {target})")[0][0]
            conds = ["v._ok"]
            if prep.dup_keys:
                conds.append(f"v._row NOT IN (SELECT _row FROM {dup_view})")
            if has_rows:
                on = " AND ".join(f"t.{k} = v.{k}" for k in keys)
                conds.append(f"NOT EXISTS (SELECT 1 FROM {target} t WHERE {on})")
            if prep.dup_keys:
                typed = plan.typed(prep.relation_rows, rows=True, line=prep.line)
            elif prep.fast is not None:
                # Clean CSV: DuckDB's typed reader does the parsing (no text materialised and
                # cast again). A value it refuses aborts the load; see _FastPathFailed.
                typed = prep.fast[1].typed(prep.fast[0], rows=False, line=prep.line)
            else:
                typed = plan.typed(prep.relation, rows=False, line=prep.line)
            insert = (
                f"INSERT INTO {target} ({cols}) SELECT {cols} FROM ({typed}) v "
                f"WHERE {' AND '.join(conds)}"
            )
            if prep.dup_keys:
                # Row numbers must follow the file here, which needs insertion order.
                loaded = run_sql(con, insert)
            else:
                # Without insertion order DuckDB writes row groups as threads finish them:
                # measured 2.5x faster for 10 million plays (the ordered insert buffers
                # and merges them). Row order in a table carries no meaning here.
                order = run_sql(con, "SELECT current_setting('preserve_insertion_order')")
                run_sql(con, "SET preserve_insertion_order = false")
                failed: duckdb.Error | None = None
                try:
                    loaded = run_sql(con, insert)
                except duckdb.Error as exc:
                    if prep.fast is None:
                        raise
                    failed = exc
                if failed is not None:
                    # The transaction is aborted (DuckDB refuses even SET until ROLLBACK);
                    # run() rolls back, restores the setting and loads again.
                    raise _FastPathFailed(index) from failed
                run_sql(con, f"SET preserve_insertion_order = {bool(order[0][0])}")
            summary.rows_loaded = int(loaded[0][0]) if loaded else 0
            summary.fast = prep.fast is not None and not prep.dup_keys
            if summary.rows_loaded < prep.rows:
                self._quarantine(prep, summary, ingest_id, dup_view if prep.dup_keys else None)
            summary.rows_skipped = prep.rows - summary.rows_loaded - summary.rows_quarantined
        except duckdb.Error as exc:
            raise _duck_error(exc, Path(source.name)) from exc
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
                ProgressEvent(source.table, source.name, summary.rows_read, prep.rows, True)
            )
        return summary

    def _quarantine(
        self, prep: _Prepared, summary: FileSummary, ingest_id: int, dup_view: str | None
    ) -> None:
        """Failed rows (checks or repeated key) into ``quarantine``; an identical row already
        quarantined (a re-ingest of the same file) is skipped, so re-ingesting adds nothing."""
        con = self.con
        source, plan = prep.source, prep.plan
        codes = pa.table(
            {
                "_code": pa.array(list(plan.codes), pa.int32()),
                "column_name": [c for c, _ in plan.codes.values()],
                "reason": [r for _, r in plan.codes.values()],
            }
        )
        codes_view = "_reelmine_codes"
        con.register(codes_view, codes)
        typed = plan.typed(prep.relation_rows, rows=True, line=prep.line, raw=True)
        failed = "v._code IS NOT NULL"
        fcode = "v._code"
        if dup_view is not None:
            failed += f" OR v._row IN (SELECT _row FROM {dup_view})"
            fcode = f"coalesce(v._code, {_DUP})"
        try:
            new_q = con.sql(
                f"""WITH f AS (SELECT *, {fcode} AS _fcode FROM ({typed}) v WHERE {failed}),
                q AS (
                    SELECT {sql_str(source.table)} AS table_name, f._line AS line, c.column_name,
                           c.reason, CAST(json_object({plan.raw_json}) AS VARCHAR) AS raw_row
                    FROM f JOIN {codes_view} c ON c._code = f._fcode)
                SELECT q.* FROM q ANTI JOIN {QUARANTINE} x
                ON x.table_name = q.table_name AND x.line IS NOT DISTINCT FROM q.line
                AND x.reason = q.reason AND x.raw_row = q.raw_row"""
            ).to_arrow_table()
        finally:
            con.unregister(codes_view)
        con.register("_reelmine_qn", new_q)
        try:
            run_sql(
                con,
                f"INSERT INTO {QUARANTINE} SELECT ?, table_name, ?, line, column_name, reason, "
                "raw_row, now() FROM _reelmine_qn",
                [ingest_id, source.name],
            )
        finally:
            con.unregister("_reelmine_qn")
        for reason in new_q.column("reason").to_pylist():
            summary.reasons[reason] = summary.reasons.get(reason, 0) + 1
        summary.rows_quarantined += new_q.num_rows


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
    fast_csv: bool = True,
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
    fast_csv : parse clean CSV files with DuckDB's typed reader (same results, faster); a
        file with a value that reader refuses is loaded by the text path. False: always the
        text path.

    Raises
    ------
    DataError
        When a file name, header or content is unusable; nothing is written then.
    """
    folder = Path(folder)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    ingestor = Ingestor(
        warehouse,
        pseudonymiser,
        batch_rows=batch_rows,
        progress=progress,
        fmt=fmt,
        fast_csv=fast_csv,
    )
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
