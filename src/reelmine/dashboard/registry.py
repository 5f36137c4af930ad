"""The dashboard's pages and their charts, in one registry.

A page is a title, a summary and a list of charts; a chart is a JSON endpoint (answering
:class:`reelmine.api.models.ChartData`) plus how to draw it. A chart is *ready* when every
capability its page (and the chart itself) ``requires`` is installed and its endpoint is routed
by the app. Ready charts are drawn; the others are listed with what they are waiting for, and a
page with no ready chart shows ``missing`` instead: never empty charts. Pages grow chart by chart
as a capability lands.

To add a capability's page: add its charts' endpoints to a router, then edit its entry here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reelmine.api import capabilities
from reelmine.api.models import ChartKind


@dataclass(frozen=True)
class Chart:
    """One chart: ``endpoint`` is an API path (filters are appended as query parameters)."""

    id: str
    title: str
    endpoint: str
    kind: ChartKind
    description: str = ""
    requires: tuple[str, ...] = ()  # capabilities this chart needs beyond its page's


@dataclass(frozen=True)
class Page:
    """One dashboard page."""

    slug: str
    title: str
    summary: str
    charts: tuple[Chart, ...] = ()
    requires: tuple[str, ...] = ()
    missing: str = ""
    filters: bool = True

    def chart_missing(self, chart: Chart, routes: Iterable[str]) -> list[str]:
        """What keeps ``chart`` from drawing: missing capabilities, then an unrouted endpoint."""
        out = [
            f"capability '{c}' ({capabilities.CAPABILITIES.get(c, c)})"
            for c in (*self.requires, *chart.requires)
            if not capabilities.available(c)
        ]
        if chart.endpoint.split("?")[0] not in set(routes):
            out.append(f"endpoint {chart.endpoint}")
        return out

    def ready_charts(self, routes: Iterable[str]) -> list[Chart]:
        """The charts that can be drawn now."""
        have = frozenset(routes)
        return [c for c in self.charts if not self.chart_missing(c, have)]

    def missing_parts(self, routes: Iterable[str]) -> list[str]:
        """Everything still missing for the whole page, without repeats (empty = complete)."""
        have = frozenset(routes)
        out: list[str] = []
        for c in self.charts:
            out += [m for m in self.chart_missing(c, have) if m not in out]
        if not self.charts:
            out = [
                f"capability '{c}' ({capabilities.CAPABILITIES.get(c, c)})"
                for c in self.requires
                if not capabilities.available(c)
            ]
        return out


def _c(id_: str, title: str, endpoint: str, kind: ChartKind, description: str = "") -> Chart:
    return Chart(id=id_, title=title, endpoint=endpoint, kind=kind, description=description)


A = "/v1/analytics"

PAGES: list[Page] = [
    Page(
        "overview",
        "Overview",
        "Active members, hours viewed, top titles and genres, and their trends.",
        (
            _c("active", "Active members per day", f"{A}/overview/active-members", "line"),
            _c("hours", "Hours viewed per day", f"{A}/overview/hours", "line"),
            _c("top-titles", "Top titles by hours viewed", f"{A}/overview/top-titles", "hbar"),
            _c("top-genres", "Top genres by hours viewed", f"{A}/overview/top-genres", "bar"),
        ),
        requires=("overview",),
        missing="Needs the warehouse aggregates (reelmine.service.overview) and ingested plays.",
    ),
    Page(
        "recommendations",
        "Recommendations",
        "Explore a member's home-page rows with reasons, and the model's offline quality.",
        (
            _c(
                "quality",
                "Offline quality by model (nDCG@10, recall@10)",
                f"{A}/recommend/quality",
                "bar",
            ),
            _c(
                "coverage",
                "Catalogue coverage of recommendations",
                f"{A}/recommend/coverage",
                "bar",
            ),
        ),
        requires=("recommend",),
        missing="No recommender is wired yet: run `reelmine recommend train` once issue 2 lands.",
        filters=False,
    ),
    Page(
        "content",
        "Content",
        "Which titles earn their cost: completion, hours per title, genre trends.",
        (
            _c("completion", "Completion rate by title", f"{A}/content/completion", "hbar"),
            _c("genre-trend", "Hours by genre over time", f"{A}/content/genre-trend", "stacked"),
            _c("value", "Hours per unit of cost", f"{A}/content/value", "hbar"),
        ),
        requires=("content",),
        missing="Needs the content-insights capability (reelmine.service.content).",
    ),
    Page(
        "audience",
        "Audience & markets",
        "Members and viewing by country, plan and device; growth and churn by market.",
        (
            _c("by-country", "Active members by country", f"{A}/market/by-country", "country"),
            _c("plans", "Members by plan over time", f"{A}/market/plans", "stacked"),
            _c("devices", "Hours by device type and hour of day", f"{A}/market/devices", "heatmap"),
        ),
        requires=("market",),
        missing="Needs the audience & markets capability (reelmine.service.market).",
    ),
    Page(
        "quality",
        "Streaming quality",
        "Startup delay, rebuffering and errors by CDN, ISP and device; incident root causes.",
        (
            _c("startup", "Startup delay p50/p95 per day", f"{A}/quality/startup", "line"),
            _c("rebuffer", "Rebuffer ratio by CDN and ISP", f"{A}/quality/rebuffer", "heatmap"),
            _c("errors", "Playback errors by code", f"{A}/quality/errors", "bar"),
        ),
        requires=("quality",),
        missing="Needs the streaming-quality capability (reelmine.service.quality).",
    ),
    Page(
        "fraud",
        "Fraud & security",
        "Account sharing, credential stuffing and impossible travel, as aggregates.",
        (
            _c("signals", "Flagged accounts per day by signal", f"{A}/fraud/signals", "stacked"),
            _c("countries", "Failed logins by country", f"{A}/fraud/countries", "country"),
        ),
        requires=("fraud",),
        missing="Needs the fraud capability (reelmine.service.fraud).",
    ),
    Page(
        "experiments",
        "Experiments",
        "A/B test readouts: effect sizes with confidence intervals, sequential monitoring.",
        (
            _c("effects", "Effect by experiment and metric", f"{A}/experiments/effects", "bar"),
            _c("funnel", "Browse-to-play funnel by variant", f"{A}/experiments/funnel", "funnel"),
        ),
        requires=("experiments",),
        missing="Needs the experiments service (reelmine.service.experiments).",
    ),
    Page(
        "marketing",
        "Marketing",
        "Campaign uplift, churn risk and customer value.",
        (
            _c("uplift", "Uplift by campaign", f"{A}/marketing/uplift", "bar"),
            _c("churn", "Churn risk distribution", f"{A}/marketing/churn", "bar"),
        ),
        requires=("marketing",),
        missing="Needs the marketing capability (reelmine.service.marketing).",
    ),
    Page(
        "service",
        "API & service",
        "This server's own traffic: requests per minute, latency and status codes per route.",
        (
            _c("traffic", "Requests per minute", "/v1/service/traffic", "line"),
            _c("latency", "Latency by route (ms)", "/v1/service/latency", "bar"),
            _c("status", "Status codes by route", "/v1/service/status", "heatmap"),
        ),
        filters=False,
    ),
]


def get_page(slug: str, pages: list[Page] | None = None) -> Page | None:
    """The page called ``slug``, or ``None``."""
    return next((p for p in (PAGES if pages is None else pages) if p.slug == slug), None)
