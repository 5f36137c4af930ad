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

Q = f"{A}/quality"
X = f"{A}/experiments"
UI = f"{A}/interface"

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
            _c("warehouse", "Warehouse tables", f"{A}/overview/warehouse", "table"),
        ),
        requires=("overview",),
        missing="Needs the warehouse aggregates (reelmine.service.overview) and ingested plays.",
    ),
    Page(
        "recommendations",
        "Recommendations",
        "The model's offline quality and catalogue coverage; admins can explore one "
        "member's home-page rows with reasons and their viewing history.",
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
        missing="No recommendation model is trained yet: run `reelmine recommend train` "
        "(or `reelmine demo`), then reload this page.",
        filters=False,
    ),
    Page(
        "content",
        "Content",
        "Which titles earn their cost: genre trends, scorecard, completion, trending, search gaps.",
        (
            _c("genre-trend", "Hours by genre per week", f"{A}/content/genre-trend", "stacked"),
            _c("completion", "Completion rate by title", f"{A}/content/completion", "hbar"),
            _c("value", "Cost per view (lowest first)", f"{A}/content/value", "hbar"),
            _c("scorecard", "Title scorecard", f"{A}/content/scorecard", "table"),
            _c("performers", "Over- and under-performers", f"{A}/content/performers", "table"),
            _c("trending", "Trending shows", f"{A}/content/trending", "table"),
            _c("search-gaps", "Search gaps", f"{A}/content/search-gaps", "table"),
        ),
        requires=("content",),
        missing="Needs the content-insights capability (reelmine.service.content).",
    ),
    Page(
        "audience",
        "Audience & markets",
        "Members by country and plan, growth, cohort retention, regional taste, opportunities.",
        (
            _c("by-country", "Active members by country", f"{A}/market/by-country", "country"),
            _c("growth", "Members per week by country", f"{A}/market/growth", "line"),
            _c("plans", "Members by plan and country", f"{A}/market/plans", "stacked"),
            _c("retention", "Cohort retention", f"{A}/market/retention", "heatmap"),
            _c("taste", "Genre lift by country", f"{A}/market/taste", "heatmap"),
            _c("opportunities", "Content opportunities", f"{A}/market/opportunities", "table"),
        ),
        requires=("market",),
        missing="Needs the audience & markets capability (reelmine.service.market).",
    ),
    Page(
        "quality",
        "Streaming quality",
        "Play delay, rebuffering and errors with detected incidents, their root causes, "
        "and quantile comparisons between app versions.",
        (
            _c(
                "rebuffer-series",
                "Rebuffer ratio per hour (incidents shaded)",
                f"{Q}/metrics?metric=rebuffer_ratio",
                "line",
            ),
            _c("startup", "Play delay p95 per hour (incidents shaded)", f"{Q}/metrics", "line"),
            _c("rebuffer", "Rebuffer ratio by CDN and ISP", f"{Q}/heatmap", "heatmap"),
            _c("incidents", "Rebuffer incidents", f"{Q}/incidents?metric=rebuffer_ratio", "table"),
            _c(
                "root-cause",
                "Root causes of the most severe rebuffer incident",
                f"{Q}/root-cause?metric=rebuffer_ratio",
                "table",
            ),
            _c("compare", "Play delay: app version B minus A", f"{Q}/compare", "interval"),
        ),
        requires=("quality",),
        missing="Needs the streaming-quality capability (reelmine.service.quality).",
    ),
    Page(
        "fraud",
        "Fraud & security",
        "Account sharing, credential stuffing and impossible travel, as aggregates "
        "(per-account flags are admin-only, through the API).",
        (
            _c("signals", "Flags per day by type", f"{A}/fraud/signals", "stacked"),
            _c("types", "Flags and accounts by type", f"{A}/fraud/types", "bar"),
            _c("scores", "Flag summary by type", f"{A}/fraud/scores", "table"),
        ),
        requires=("fraud",),
        missing="Needs the fraud capability (reelmine.service.fraud) and `reelmine fraud scan`.",
    ),
    Page(
        "experiments",
        "Experiments",
        "A/B test readouts: lifts with confidence intervals, sample-ratio checks, decisions.",
        (
            _c("effects", "Hours viewed: lift vs control", f"{X}/intervals", "interval"),
            _c("srm", "Sample-ratio check and primary decision", f"{X}/srm", "table"),
            _c("variants", "Members per variant", f"{X}/variants", "stacked"),
        ),
        requires=("experiments",),
        missing="Needs the experiments service (reelmine.service.experiments).",
    ),
    Page(
        "interface",
        "Interface",
        "How members navigate: browse-to-play funnel, click-through by row and position with "
        "position bias removed, search conversion, search gaps and what search missed.",
        (
            _c("funnel", "Browse-to-play funnel", f"{UI}/funnel", "funnel"),
            _c("positions", "Click-through by row and column", f"{UI}/positions", "heatmap"),
            _c("rows", "Rows: raw vs position-debiased", f"{UI}/rows", "hbar"),
            _c("search-conversion", "Search conversion", f"{UI}/search-conversion", "table"),
            _c("search-gaps", "Search gaps and zero results", f"{UI}/search-gaps", "table"),
            _c("missed-titles", "What search should have found", f"{UI}/missed-titles", "table"),
        ),
        requires=("interface",),
        missing="Needs the interface-insights capability (reelmine.service.interface) and "
        "ui_events.",
    ),
    Page(
        "marketing",
        "Marketing",
        "Segments, churn risk and its reasons, campaign uplift (Qini) and customer value.",
        (
            _c("segments", "Segment sizes", f"{A}/marketing/segments", "bar"),
            _c("profiles", "Segment profiles", f"{A}/marketing/segment-profiles", "table"),
            _c("churn", "Churn risk distribution", f"{A}/marketing/churn", "bar"),
            _c("reasons", "Why members are at risk", f"{A}/marketing/churn-reasons", "hbar"),
            _c("qini", "Qini curve", f"{A}/marketing/qini", "line"),
            _c("uplift", "Uplift by group", f"{A}/marketing/uplift", "bar"),
            _c("ltv", "Expected value by plan", f"{A}/marketing/ltv", "bar"),
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
