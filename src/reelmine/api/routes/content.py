"""Content insights (roles ``analyst``/``admin``): the Content page and its API twins.

Genre share over time, a title scorecard, completion and value per title, over/under
performers, trending bursts and search gaps, all from :mod:`reelmine.service.content`. Every
row keeps the service's ``members`` count (distinct members behind it) and passes the privacy
release gate: titles are cells (their name and genre stay visible when suppressed), a search
query of a suppressed row is itself hidden (free text may name a member).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query, Request

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters
from reelmine.api.routes._charts import (
    RESPONSES,
    cached,
    filter_dates,
    filter_eq,
    gate_table,
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
    prefix="/v1/analytics/content",
    tags=["content"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)
Period = Literal["day", "week", "month"]
LimitQ = Query(15, ge=1, le=500, description="Rows to return.")


def _since_until(f: Filters) -> tuple[str | None, str | None]:
    """The service's ``since`` (inclusive) and ``until`` (exclusive) ISO dates."""
    since = None if f.start is None else f.start.isoformat()
    until = None if f.end is None else (f.end + timedelta(days=1)).isoformat()
    return since, until


def _scorecard(request: Request, settings: Settings, f: Filters) -> pa.Table:
    """The gated service scorecard over the filter's range (default: the last 28 days)."""
    need("content")
    from reelmine.service import content

    _, until = _since_until(f)
    days = 28 if f.start is None or f.end is None else (f.end - f.start).days + 1
    t = cached(
        settings,
        ("scorecard", days, until),
        lambda: content.title_scorecard(settings, days=days, until=until),
    )
    # Gated after the cache, on every request: the cache never holds a released answer.
    return gate_table(request, settings, t, group_by=["title_id"], labels=["name", "genre"])


@router.get("/genre-trend", response_model=ChartData, summary="Hours by genre over time")
def genre_trend(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    period: Period = Query("week", description="Time grain."),
    top: int = Query(8, ge=1, le=50, description="Genres shown; the rest sum to 'other'."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Hours viewed per genre and period (stacked); a title counts in each of its genres."""
    need("content")
    from reelmine.service import content

    by = ("country",) if filters.country else ()
    t = content.genre_shares(settings, period=period, by=by)
    t = filter_dates(filter_eq(t, "country", filters.country), "period", filters)
    t = gate_table(request, settings, t, group_by=["period", "genre", *by])
    chart = pivot_chart(
        "stacked", f"Hours by genre per {period}", t, "period", "genre", "hours", unit="h", top=top
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/scorecard", response_model=ChartData, summary="Title scorecard (table)")
def scorecard(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Top titles by views over the range, with rank in genre, trend and cost per view."""
    t = _scorecard(request, settings, filters)
    cols = ["name", "genre", "views", "hours", "members", "completion_rate", "trend"]
    return table_chart(
        "Title scorecard",
        t,
        [*cols, "rank_in_genre", "cost_per_view"],
        limit=limit,
        note=ignored(filters, "country"),
    )


@router.get("/completion", response_model=ChartData, summary="Completion rate by title")
def completion(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Completion rate of the most viewed titles (horizontal bars, share of starts)."""
    t = _scorecard(request, settings, filters).slice(0, limit)
    chart = series_chart(
        "hbar",
        "Completion rate of the most viewed titles",
        t,
        "name",
        {"completion rate": "completion_rate"},
        unit="share",
        members="members",
        note=ignored(filters, "country"),
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/value", response_model=ChartData, summary="Cost per view by title")
def value(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Titles with a known cost, cheapest per view first (horizontal bars)."""
    t = _scorecard(request, settings, filters)
    # Suppressed titles (cost null) stay listed, after the released ones, as gaps.
    t = t.filter(pc.or_(pc.is_valid(t["cost_per_view"]), t["suppressed"]))
    t = t.sort_by("cost_per_view").slice(0, limit)
    chart = series_chart(
        "hbar",
        "Cost per view (lowest first)",
        t,
        "name",
        {"cost per view": "cost_per_view"},
        unit="cost / view",
        members="members",
        note=ignored(filters, "country"),
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/performers", response_model=ChartData, summary="Over- and under-performers")
def performers(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    z: float = Query(2.0, gt=0, le=10, description="|z| that labels a title over/under."),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Titles whose views differ most from what their genre, age and kind predict (table)."""
    need("content")
    from reelmine.service import content

    t = cached(settings, ("performers", z), lambda: content.performers(settings, z_threshold=z))
    t = t.filter(pc.not_equal(t["label"], "as expected")) if "label" in t.column_names else t
    t = gate_table(request, settings, t, group_by=["title_id"], labels=["name"])
    return table_chart(
        "Over- and under-performing titles",
        t,
        ["name", "label", "views", "expected_views", "z", "members", "drivers"],
        limit=limit,
        note=ignored(filters, "start", "end", "country"),
    )


@router.get("/trending", response_model=ChartData, summary="Trending bursts (table)")
def trending(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Shows whose daily views burst above their own baseline, strongest first (table)."""
    need("content")
    from reelmine.service import content

    since, until = _since_until(filters)
    t = content.trending_titles(settings, since=since, until=until)
    t = gate_table(request, settings, t, group_by=["title_id", "start"])
    return table_chart(
        "Trending shows",
        t,
        limit=limit,
        note=("" if t.num_rows else "No bursts in this range. ") + ignored(filters, "country"),
    )


@router.get("/search-gaps", response_model=ChartData, summary="Searches that find nothing")
def search_gaps(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    min_members: int = Query(3, ge=1, description="Members who must have searched a query."),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Frequent search queries with no good match in the catalogue (table)."""
    need("content")
    from reelmine.service import content

    since, until = _since_until(filters)
    t = content.search_demand(settings, since=since, until=until, min_members=min_members)
    t = gate_table(request, settings, t, group_by=["query"], hide=["query"])
    return table_chart("Search gaps", t, limit=limit, note=ignored(filters, "country"))
