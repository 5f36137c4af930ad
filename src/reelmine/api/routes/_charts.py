"""Helpers the analytics routers share: the warehouse dependency, filter conversion, the
privacy release gate, and turning Arrow tables from the service layer into
:class:`~reelmine.api.models.ChartData`.

Only shape conversion and gating live here; every number comes from a :mod:`reelmine.service`
function. Every aggregate an analytics route answers passes :func:`gate_table` (a service
table) or :func:`gate_chart` (a chart built from per-category counts): cells describing fewer
than ``settings.min_group_size`` distinct members are suppressed, with complementary
suppression, and the caller's key is written to the audit log. Admins get the same gated
answers: the gate protects data leaving the system, whoever asks. The gating logic itself is
:func:`reelmine.service.privacy.release_table`, shared with the CLI and ``reelmine export``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import Request

from reelmine.api import capabilities
from reelmine.api.errors import Unavailable
from reelmine.api.models import Cell, ChartData, ChartKind, ErrorBody, Filters, Series
from reelmine.errors import PrivacyError
from reelmine.privacy.gate import MEMBERS, REASON, SUPPRESSED
from reelmine.service import privacy
from reelmine.settings import Settings

# Error answers every analytics router documents.
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid key"},
    403: {"model": ErrorBody, "description": "the key's role may not use this endpoint"},
    503: {"model": ErrorBody, "description": "no warehouse yet, or capability not installed"},
}


class _SharedExclusive:
    """A shared/exclusive gate around warehouse use within this process.

    DuckDB refuses a read-write connection to a file while a read-only one is open in the same
    process (and the reverse). Analytics (read-only) share the gate; the writers in this app,
    event ingestion and erasure, take it alone. Counter-based, so it may
    be released from another thread than the one that took it (FastAPI dependencies do that).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


GATE = _SharedExclusive()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    if not Path(settings.db).is_file():
        raise Unavailable(
            f"no warehouse at {settings.db}: run `reelmine ingest FOLDER` (or `reelmine demo`)"
        )
    return settings


def warehouse_settings(request: Request) -> Iterator[Settings]:
    """Dependency: the app's settings while holding the warehouse gate shared (read-only
    service functions); 503 when no warehouse has been ingested yet."""
    settings = _settings(request)
    with GATE.shared():
        yield settings


def need(capability: str) -> None:
    """Raise 503 when ``capability``'s service module is not installed."""
    if not capabilities.available(capability):
        module = capabilities.CAPABILITIES.get(capability, capability)
        raise Unavailable(f"capability '{capability}' is not installed ({module} is missing)")


def day_start(d: date | None) -> datetime | None:
    """Midnight UTC at the start of ``d``."""
    return None if d is None else datetime.combine(d, time(0), tzinfo=UTC)


def day_after(d: date | None) -> datetime | None:
    """Midnight UTC at the end of ``d`` (exclusive upper bound of an inclusive day)."""
    return None if d is None else datetime.combine(d + timedelta(days=1), time(0), tzinfo=UTC)


def actor(request: Request) -> privacy.Actor:
    """The caller as a privacy :class:`~reelmine.service.privacy.Actor` (from the auth
    dependency's ``request.state.principal``); refuses when no key was checked."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # fail closed: an aggregate never leaves without a known caller
        raise PrivacyError(f"refused: {request.url.path} answered without an authenticated key")
    return privacy.Actor(principal.key_id, principal.role)


def gate_table(
    request: Request,
    settings: Settings,
    table: pa.Table,
    *,
    group_by: Sequence[str],
    members: str | Sequence[str] = MEMBERS,
    totals: bool = True,
    labels: Sequence[str] = (),
    hide: Sequence[str] = (),
) -> pa.Table:
    """Release a service table through the privacy gate for this request.

    The face-independent :func:`reelmine.service.privacy.release_table` with the request's
    key as the actor and its path as the audit entry's ``what``; see it for the parameters.

    Returns
    -------
    The gated table with ``suppressed`` (bool) and ``suppression`` (reason) columns.
    """
    return privacy.release_table(
        settings,
        table,
        group_by=group_by,
        actor=actor(request),
        what=request.url.path,
        members=members,
        totals=totals,
        labels=labels,
        hide=hide,
    )


def n_suppressed(table: pa.Table) -> int:
    """Suppressed cells of a gated table (0 for an ungated one)."""
    if SUPPRESSED not in table.column_names:
        return 0
    return int(pc.sum(pc.cast(table[SUPPRESSED], pa.int64())).as_py() or 0)


def gate_chart(
    request: Request, settings: Settings, chart: ChartData, *, totals: bool = True
) -> ChartData:
    """Gate a chart whose ``x`` categories are the cells and ``members`` their counts.

    Suppressed categories keep their label; their series values and member count become
    ``None`` (a gap, never zero) and ``chart.suppressed`` counts them.

    Raises
    ------
    PrivacyError
        When the chart has no member count per category (fail closed).
    """
    if len(chart.members) != len(chart.x):
        raise PrivacyError(
            f"refused: chart {chart.title!r} has {len(chart.members)} member counts for "
            f"{len(chart.x)} categories; every released category needs one"
        )
    t = pa.table(
        {
            "x": pa.array(chart.x, pa.string()),
            MEMBERS: pa.array([-1 if m is None else m for m in chart.members], pa.int64()),
        }
    )
    # A category already without a count (None) was suppressed upstream; -1 keeps it so.
    out = gate_table(request, settings, t, group_by=["x"], totals=totals)
    mask = out[SUPPRESSED].to_pylist()
    chart.members = [None if m else v for m, v in zip(mask, chart.members, strict=True)]
    for s in chart.series:
        s.data = [None if m else v for m, v in zip(mask, s.data, strict=True)]
    chart.suppressed += sum(mask)
    return chart


def suppressed_note(chart: ChartData, k: int) -> ChartData:
    """Append a sentence on suppressed groups to the chart's note (when any)."""
    if chart.suppressed:
        msg = f"{chart.suppressed} group(s) with fewer than {k} members suppressed (shown as gaps)."
        chart.note = f"{chart.note} {msg}".strip()
    return chart


def cell(v: Any) -> Cell:
    """One JSON-safe table cell: NaN/inf become ``None``, times ISO strings, lists joined."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float | np.floating):
        f = float(v)
        return round(f, 6) if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return ", ".join(str(cell(x)) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={cell(x)}" for k, x in v.items())
    return str(v)


def label(v: Any) -> str:
    """A category label: dates as ``YYYY-MM-DD`` (or full ISO time when not midnight)."""
    if isinstance(v, datetime):
        if v.time() == time(0):
            return v.date().isoformat()
        return v.strftime("%Y-%m-%d %H:%M")
    if v is None:
        return "(none)"
    return str(cell(v))


def values(table: pa.Table, name: str) -> list[float | None]:
    """A numeric column as floats, with nulls and NaN as ``None``."""
    col = pc.cast(table.column(name), pa.float64()).to_pylist()
    return [None if v is None or not math.isfinite(v) else float(v) for v in col]


def counts(table: pa.Table, name: str | None) -> list[int | None]:
    """An integer column (member counts), or ``[]`` when the service gives none."""
    if name is None or name not in table.column_names:
        return []
    return [None if v is None else int(v) for v in table.column(name).to_pylist()]


def table_chart(
    title: str,
    table: pa.Table,
    columns: Sequence[str] | None = None,
    *,
    limit: int | None = None,
    note: str = "",
    suppressed: int = 0,
) -> ChartData:
    """A ``table`` chart of some columns of ``table`` (all by default), first ``limit`` rows."""
    cols = [c for c in (columns or table.column_names) if c in table.column_names]
    if SUPPRESSED in table.column_names:  # a gated table: always show which rows are hidden
        cols += [c for c in (SUPPRESSED, REASON) if c not in cols]
        suppressed = n_suppressed(table)
    t = table.select(cols)
    if limit is not None:
        t = t.slice(0, limit)
    data = t.to_pydict()
    rows = [[cell(data[c][i]) for c in cols] for i in range(t.num_rows)]
    return ChartData(
        kind="table", title=title, columns=cols, rows=rows, note=note, suppressed=suppressed
    )


def series_chart(
    kind: ChartKind,
    title: str,
    table: pa.Table,
    x: str,
    ys: dict[str, str],
    *,
    unit: str = "",
    note: str = "",
    members: str | None = None,
) -> ChartData:
    """One series per entry of ``ys`` (series name -> column), categories from column ``x``."""
    chart = ChartData(
        kind=kind,
        title=title,
        x=[label(v) for v in table.column(x).to_pylist()],
        series=[Series(name=name, data=values(table, col)) for name, col in ys.items()],
        unit=unit,
        note=note,
        members=counts(table, members),
        suppressed=n_suppressed(table),
    )
    if SUPPRESSED in table.column_names:  # gated: every category's count, None if hidden
        hidden = table[SUPPRESSED].to_pylist()
        chart.members = [None if h else m for h, m in zip(hidden, chart.members, strict=False)]
    return chart


def pivot_chart(
    kind: ChartKind,
    title: str,
    table: pa.Table,
    x: str,
    group: str,
    value: str,
    *,
    unit: str = "",
    note: str = "",
    top: int | None = None,
) -> ChartData:
    """One series per value of ``group`` (the ``top`` largest by total, rest summed as other)."""
    xs = sorted({v for v in table.column(x).to_pylist() if v is not None})
    gs = [label(v) for v in table.column(group).to_pylist()]
    xv = table.column(x).to_pylist()
    vals = values(table, value)
    xi = {v: i for i, v in enumerate(xs)}
    totals: dict[str, float] = {}
    for g, v in zip(gs, vals, strict=True):
        totals[g] = totals.get(g, 0.0) + (v or 0.0)
    order = sorted(totals, key=lambda g: -totals[g])
    keep = set(order if top is None else order[:top])
    names = [g for g in order if g in keep] + (["other"] if len(keep) < len(order) else [])
    grid = np.full((len(names), len(xs)), np.nan)
    gi = {g: i for i, g in enumerate(names)}
    for g, xx, v in zip(gs, xv, vals, strict=True):  # one row per (group, x) aggregate
        if xx is None or v is None:
            continue
        r = gi[g] if g in keep else gi["other"]
        c = xi[xx]
        grid[r, c] = v if math.isnan(grid[r, c]) else grid[r, c] + v
    return ChartData(
        kind=kind,
        title=title,
        x=[label(v) for v in xs],
        series=[
            Series(name=n, data=[None if math.isnan(v) else float(v) for v in grid[i]])
            for i, n in enumerate(names)
        ],
        unit=unit,
        note=note,
        suppressed=n_suppressed(table),
    )


def heatmap_chart(
    title: str,
    table: pa.Table,
    x: str,
    y: str,
    value: str,
    *,
    unit: str = "",
    note: str = "",
) -> ChartData:
    """A heatmap with one cell per row of ``table`` (``x``, ``y`` categories, ``value``)."""
    xl = [label(v) for v in table.column(x).to_pylist()]
    yl = [label(v) for v in table.column(y).to_pylist()]
    xs, ys = sorted(set(xl)), sorted(set(yl))
    xi, yi = {v: i for i, v in enumerate(xs)}, {v: i for i, v in enumerate(ys)}
    cells = [
        (xi[a], yi[b], round(v, 6))
        for a, b, v in zip(xl, yl, values(table, value), strict=True)
        if v is not None
    ]
    return ChartData(
        kind="heatmap",
        title=title,
        x=xs,
        y=ys,
        cells=cells,
        unit=unit,
        note=note,
        suppressed=n_suppressed(table),
    )


def filter_eq(table: pa.Table, column: str, value: str | None) -> pa.Table:
    """Rows of ``table`` whose ``column`` equals ``value`` (all rows when ``value`` is None)."""
    if value is None or column not in table.column_names:
        return table
    return table.filter(pc.equal(pc.cast(table.column(column), pa.string()), value))


def filter_dates(table: pa.Table, column: str, filters: Filters) -> pa.Table:
    """Rows of ``table`` whose ``column`` (date or timestamp) lies in the filter's date range."""
    if column not in table.column_names or (filters.start is None and filters.end is None):
        return table
    col = table.column(column)
    lo: date | None
    hi: date | None
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("us", tz="UTC"))
        lo, hi = day_start(filters.start), day_after(filters.end)
    else:
        col = pc.cast(col, pa.date32())
        lo = filters.start
        hi = None if filters.end is None else filters.end + timedelta(days=1)
    mask = pc.is_valid(col)
    if lo is not None:
        mask = pc.and_(mask, pc.greater_equal(col, pa.scalar(lo, col.type)))
    if hi is not None:
        mask = pc.and_(mask, pc.less(col, pa.scalar(hi, col.type)))
    return table.filter(mask)


def ignored(filters: Filters, *names: str) -> str:
    """A note naming the filters an endpoint cannot apply, when the caller set them."""
    given = [n for n in names if getattr(filters, n) is not None]
    return f"Filter(s) {', '.join(given)} do not apply to this chart." if given else ""


_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()
T = TypeVar("T")


def cached(settings: Settings, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()`` once per warehouse file version and ``key`` (models fitted per request
    would cost seconds: segments, churn, uplift, readouts). A new ingest changes the file's
    modification time, so answers never outlive the data they came from."""
    p = Path(settings.db)
    full = (str(p.resolve()), p.stat().st_mtime_ns, *key)
    with _CACHE_LOCK:
        if full in _CACHE:
            return cast(T, _CACHE[full])
    value = compute()
    with _CACHE_LOCK:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[full] = value
    return value
