"""Audience & markets (roles ``analyst``/``admin``): the Audience & markets page.

Active members by country, growth per period, plan mix, cohort retention, regional taste and
content opportunities, all from :mod:`reelmine.service.market`, keeping its ``members`` counts;
every table passes the privacy release gate before it becomes a chart.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query, Request

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters
from reelmine.api.routes._charts import (
    RESPONSES,
    filter_dates,
    filter_eq,
    gate_table,
    heatmap_chart,
    ignored,
    need,
    pivot_chart,
    series_chart,
    suppressed_note,
    table_chart,
    warehouse_settings,
)
from reelmine.settings import Settings

router = APIRouter(
    prefix="/v1/analytics/market",
    tags=["market"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)
Period = Literal["day", "week", "month"]


def _members(request: Request, settings: Settings, period: str, filters: Filters) -> pa.Table:
    need("market")
    from reelmine.service import market

    t = market.members(settings, period=period, by=("country",))
    t = filter_dates(filter_eq(t, "country", filters.country), "period", filters)
    # Gated by active members, the smaller count (every released number describes them or
    # the members, a superset).
    m = pc.min_element_wise(t["members"], t["active_members"])
    t = t.append_column("gate_members", m)
    t = gate_table(request, settings, t, group_by=["period", "country"], members="gate_members")
    return t.drop_columns(["gate_members"])


@router.get("/by-country", response_model=ChartData, summary="Active members by country")
def by_country(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    period: Period = Query("month", description="Time grain; the latest period is shown."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Active members per country in the latest ``period`` of the range (country bars)."""
    t = _members(request, settings, period, filters)
    if t.num_rows:
        last = pc.max(t["period"])
        t = t.filter(pc.equal(t["period"], last))
    t = t.sort_by([("active_members", "descending")])
    chart = series_chart(
        "country",
        "Active members by country",
        t,
        "country",
        {"active members": "active_members"},
        unit="members",
        members="active_members",
    )
    if t.num_rows:
        chart.note = f"{period} starting {t['period'][0].as_py():%Y-%m-%d}"
    return suppressed_note(chart, settings.min_group_size)


@router.get("/growth", response_model=ChartData, summary="Members per period by country")
def growth(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    period: Period = Query("week", description="Time grain."),
    top: int = Query(8, ge=1, le=50, description="Countries shown; the rest sum to 'other'."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Members per period and country (line)."""
    t = _members(request, settings, period, filters)
    chart = pivot_chart(
        "line", f"Members per {period}", t, "period", "country", "members", unit="members", top=top
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/plans", response_model=ChartData, summary="Plan mix by country")
def plans(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Current members on each plan, per country (stacked bars)."""
    need("market")
    from reelmine.service import market

    t = filter_eq(market.plan_mix(settings, by=("country",)), "country", filters.country)
    t = gate_table(request, settings, t, group_by=["country", "plan"])
    chart = pivot_chart("stacked", "Members by plan and country", t, "country", "plan", "members")
    chart.unit = "members"
    chart.note = ignored(filters, "start", "end")
    return suppressed_note(chart, settings.min_group_size)


@router.get("/retention", response_model=ChartData, summary="Cohort retention heatmap")
def retention(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    cohorts: int = Query(12, ge=1, le=120, description="Latest signup-month cohorts shown."),
    max_offset: int = Query(12, ge=1, le=60, description="Months after signup."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Share of each signup-month cohort still a member k months later (heatmap)."""
    need("market")
    from reelmine.service import market

    t = filter_dates(market.retention(settings, max_offset=max_offset), "cohort", filters)
    keep = sorted(set(t["cohort"].to_pylist()))[-cohorts:]
    t = t.filter(pc.is_in(t["cohort"], value_set=pa.array(keep, t["cohort"].type)))
    t = t.append_column("months", pc.cast(t["offset"], pa.string()))
    # A cell is a cohort at an offset; ``members`` is the cohort's size.
    t = gate_table(request, settings, t, group_by=["cohort", "offset"], labels=["months"])
    chart = heatmap_chart("Cohort retention", t, "months", "cohort", "retention", unit="share")
    # Month offsets sort as numbers, not text.
    order = sorted(chart.x, key=int)
    pos = {v: i for i, v in enumerate(order)}
    chart.cells = [(pos[chart.x[x]], y, v) for x, y, v in chart.cells]
    chart.x = order
    chart.note = ignored(filters, "country")
    return suppressed_note(chart, settings.min_group_size)


@router.get("/taste", response_model=ChartData, summary="Regional taste lift")
def taste(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    min_members: int = Query(10, ge=1, description="Members a country-genre cell needs."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """How much each country over- or under-indexes on each genre vs the world (heatmap of
    lift; 1 = the global share)."""
    need("market")
    from reelmine.service import market

    t = market.regional_taste(settings, country=filters.country, min_members=min_members)
    t = gate_table(request, settings, t, group_by=["country", "key"])
    chart = heatmap_chart("Genre lift by country", t, "key", "country", "lift", unit="lift")
    chart.note = ignored(filters, "start", "end")
    return suppressed_note(chart, settings.min_group_size)


@router.get("/opportunities", response_model=ChartData, summary="Content opportunities")
def opportunities(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    top: int = Query(20, ge=1, le=500),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """(country, genre) pairs where viewing demand outruns the catalogue, best first (table)."""
    need("market")
    from reelmine.service import market

    t = filter_eq(market.opportunities(settings, top=None), "country", filters.country)
    t = gate_table(request, settings, t, group_by=["country", "genre"])
    cols = ["country", "genre", "demand_share", "supply_share", "gap", "excess_hours", "members"]
    return table_chart(
        "Content opportunities",
        t,
        [*cols, "gap_searches"],
        limit=top,
        note=ignored(filters, "start", "end"),
    )
