"""Overview analytics (roles ``analyst``/``admin``): the dashboard's Overview page.

Warehouse size and time range, active members and hours viewed per day, top titles and genres,
all from :mod:`reelmine.service.overview`, filtered by date range and country. Every answer
passes the privacy release gate (:func:`~reelmine.api.routes._charts.gate_table`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters
from reelmine.api.routes._charts import (
    RESPONSES,
    gate_table,
    series_chart,
    suppressed_note,
    table_chart,
    warehouse_settings,
)
from reelmine.service import overview
from reelmine.settings import Settings

router = APIRouter(
    prefix="/v1/analytics/overview",
    tags=["overview"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)


class WarehouseSummary(BaseModel):
    """Row counts per contract table and the warehouse's time range."""

    rows: dict[str, int] = Field(description="Rows per contract table.")
    first: datetime | None = Field(description="Earliest timestamp in any table (UTC).")
    last: datetime | None = Field(description="Latest timestamp in any table (UTC).")
    size_bytes: int


def _kw(f: Filters) -> dict[str, Any]:
    return {"start": f.start, "end": f.end, "country": f.country}


def _whole(request: Request, settings: Settings, t: pa.Table, users: int) -> pa.Table:
    """Gate whole-warehouse totals by the number of members in the warehouse."""
    t = t.append_column("members", pa.array([users] * t.num_rows, pa.int64()))
    return gate_table(request, settings, t, group_by=["table"], totals=False)


@router.get("/summary", response_model=WarehouseSummary, summary="Warehouse rows and time range")
def summary(request: Request, settings: Settings = Depends(warehouse_settings)) -> WarehouseSummary:
    """Row counts of every table and the earliest/latest timestamp (no filters).

    Whole-warehouse totals: released only when the warehouse holds at least
    ``min_group_size`` members (else the rows are empty and the time range null)."""
    s = overview.summary(settings)
    t = _whole(request, settings, pa.table({"table": list(s.rows)}), s.rows.get("users", 0))
    if any(t["suppressed"].to_pylist()):
        return WarehouseSummary(rows={}, first=None, last=None, size_bytes=s.size_bytes)
    return WarehouseSummary(rows=s.rows, first=s.first, last=s.last, size_bytes=s.size_bytes)


@router.get("/warehouse", response_model=ChartData, summary="Warehouse tables (table)")
def warehouse(request: Request, settings: Settings = Depends(warehouse_settings)) -> ChartData:
    """Rows per table as a table chart; the note gives the time range.

    Gated by the warehouse's member count (every row describes all members)."""
    s = overview.summary(settings)
    t = pa.table({"table": list(s.rows), "rows": list(s.rows.values())})
    t = _whole(request, settings, t, s.rows.get("users", 0))
    span = "" if s.first is None or s.last is None else f"{s.first:%Y-%m-%d} to {s.last:%Y-%m-%d}"
    if any(t["suppressed"].to_pylist()):
        span = ""
    chart = table_chart("Warehouse tables", t, note=f"Data from {span} (UTC)." if span else "")
    return suppressed_note(chart, settings.min_group_size)


@router.get("/active-members", response_model=ChartData, summary="Active members per day")
def active_members(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Distinct members with at least one play, per UTC day (line)."""
    t = overview.daily_activity(settings, **_kw(filters))
    t = gate_table(request, settings, t, group_by=["day"])
    chart = series_chart(
        "line",
        "Active members per day",
        t,
        "day",
        {"active members": "members"},
        unit="members",
        members="members",
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/hours", response_model=ChartData, summary="Hours viewed per day")
def hours(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Hours of content watched per UTC day (line)."""
    t = overview.daily_activity(settings, **_kw(filters))
    t = gate_table(request, settings, t, group_by=["day"])
    chart = series_chart(
        "line", "Hours viewed per day", t, "day", {"hours": "hours"}, unit="h", members="members"
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/top-titles", response_model=ChartData, summary="Top titles by hours viewed")
def top_titles(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = Query(10, ge=1, le=100, description="Number of titles."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """The ``limit`` titles with most hours viewed (horizontal bars)."""
    t = overview.top_titles(settings, limit=limit, **_kw(filters))
    t = gate_table(request, settings, t, group_by=["title_id"], labels=["name"])
    chart = series_chart(
        "hbar",
        "Top titles by hours viewed",
        t,
        "name",
        {"hours": "hours"},
        unit="h",
        members="members",
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/top-genres", response_model=ChartData, summary="Top genres by hours viewed")
def top_genres(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = Query(12, ge=1, le=100, description="Number of genres."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Genres by hours viewed (bars); a title counts in each of its genres."""
    t = overview.top_genres(settings, limit=limit, **_kw(filters))
    t = gate_table(request, settings, t, group_by=["genre"])
    chart = series_chart(
        "bar",
        "Top genres by hours viewed",
        t,
        "genre",
        {"hours": "hours"},
        unit="h",
        note="A title with several genres counts in each.",
        members="members",
    )
    return suppressed_note(chart, settings.min_group_size)
