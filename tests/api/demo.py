"""A demo capability for tests: one router whose chart endpoints return known data of every
chart kind, and a page that draws them. It shows the three steps a capability takes (service
function, router, page) and lets the browser tests check that each chart kind really draws."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters, Series
from reelmine.dashboard.registry import Chart, Page

DAYS = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
BY_COUNTRY = {
    "DE": [10.0, 12.0, 9.0, 14.0],
    "FR": [5.0, 6.0, 7.0, 4.0],
    "US": [20.0, 18.0, 25.0, 30.0],
}


def hours_per_day(filters: Filters) -> ChartData:
    """The 'service function': hours per day, filtered by country and date range."""
    countries = [filters.country] if filters.country else sorted(BY_COUNTRY)
    keep = [
        i
        for i, d in enumerate(DAYS)
        if (filters.start is None or d >= filters.start.isoformat())
        and (filters.end is None or d <= filters.end.isoformat())
    ]
    series = [
        Series(name=c, data=[BY_COUNTRY[c][i] for i in keep]) for c in countries if c in BY_COUNTRY
    ]
    return ChartData(
        kind="line", title="Hours per day", x=[DAYS[i] for i in keep], series=series, unit="h"
    )


router = APIRouter(prefix="/v1/analytics/demo", dependencies=[Depends(require("analyst"))])


@router.get("/line", response_model=ChartData)
def line(filters: Filters = Depends(analytics_filters)) -> ChartData:
    return hours_per_day(filters)


@router.get("/bar", response_model=ChartData)
def bar(filters: Filters = Depends(analytics_filters)) -> ChartData:
    return ChartData(
        kind="bar",
        title="Plays by genre",
        x=["Drama", "Comedy", "Action"],
        series=[Series(name="plays", data=[30.0, 20.0, 10.0])],
    )


@router.get("/stacked", response_model=ChartData)
def stacked(filters: Filters = Depends(analytics_filters)) -> ChartData:
    return ChartData(
        kind="stacked",
        title="Members by plan",
        x=DAYS[:2],
        series=[Series(name="basic", data=[3.0, 4.0]), Series(name="premium", data=[1.0, None])],
    )


@router.get("/hbar", response_model=ChartData)
def hbar(filters: Filters = Depends(analytics_filters)) -> ChartData:
    return ChartData(
        kind="hbar",
        title="Top titles",
        x=["Toy Story", "Heat"],
        series=[Series(name="h", data=[9.0, 4.0])],
    )


@router.get("/heatmap", response_model=ChartData)
def heatmap(filters: Filters = Depends(analytics_filters)) -> ChartData:
    return ChartData(
        kind="heatmap",
        title="Rebuffer by CDN x ISP",
        x=["C1", "C2"],
        y=["I1", "I2"],
        cells=[(0, 0, 0.1), (0, 1, 0.5), (1, 0, 0.2), (1, 1, 0.9)],
        unit="%",
    )


@router.get("/funnel", response_model=ChartData)
def funnel(filters: Filters = Depends(analytics_filters)) -> ChartData:
    return ChartData(
        kind="funnel",
        title="Browse to play",
        x=["impression", "click", "play"],
        series=[
            Series(name="control", data=[100.0, 40.0, 20.0]),
            Series(name="treatment", data=[100.0, 50.0, 30.0]),
        ],
    )


@router.get("/country", response_model=ChartData)
def country(filters: Filters = Depends(analytics_filters)) -> ChartData:
    names = sorted(BY_COUNTRY, key=lambda c: -sum(BY_COUNTRY[c]))
    return ChartData(
        kind="country",
        title="Hours by country",
        x=names,
        series=[Series(name="hours", data=[sum(BY_COUNTRY[c]) for c in names])],
        suppressed=2,
    )


@router.get("/empty", response_model=ChartData)
def empty(filters: Filters = Depends(analytics_filters)) -> ChartData:
    return ChartData(kind="bar", title="Nothing", x=[], series=[])


KINDS = ("line", "bar", "stacked", "hbar", "heatmap", "funnel", "country")
PAGE = Page(
    "demo",
    "Demo",
    "Every chart kind, from known data.",
    tuple(
        Chart(id=k, title=f"Demo {k}", endpoint=f"/v1/analytics/demo/{k}", kind=k) for k in KINDS
    ),  # type: ignore[arg-type]
)
EMPTY_PAGE = Page(
    "demo-empty",
    "Demo empty",
    "A chart with no data.",
    (Chart(id="empty", title="Empty", endpoint="/v1/analytics/demo/empty", kind="bar"),),
)
