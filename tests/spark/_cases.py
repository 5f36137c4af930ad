"""The portable analytics of reelmine, as (name, SQL) cases for the DuckDB-vs-Spark parity suite.

Each case is a query builder called with representative parameters; the fraud detectors'
queries are captured by running :func:`reelmine.fraud.scan` through a recording runner (they
build SQL internally). Add a case here whenever a new capability gains a SQL builder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pyarrow as pa

SqlRunner = Callable[[str], pa.Table]

# A cut-off inside the simulated window (the fixtures simulate from 2026-01-05 for 21 days).
AS_OF = datetime(2026, 1, 19)
SINCE, UNTIL = "2026-01-08", "2026-01-22"

QUALITY_SQL = (
    "SELECT started_at, ended_at, watched_seconds, startup_ms, rebuffer_count, rebuffer_ms, "
    "avg_bitrate_kbps, error_code, exit_before_start, country, cdn, isp, device_type, "
    "app_version FROM plays"
)


def builder_cases() -> list[tuple[str, str]]:
    """Content, market, marketing and quality queries with the parameters each is tested with."""
    from reelmine.content import forecast, performance, search, trending, trends
    from reelmine.interface import funnels, positions
    from reelmine.interface import search as isearch
    from reelmine.market import markets, opportunity
    from reelmine.marketing import features

    cases: list[tuple[str, str]] = [
        ("content.title_metrics", performance.title_metrics_sql()),
        (
            "content.title_metrics.week_by_country_episode",
            performance.title_metrics_sql(period="week", by=("country",), level="title"),
        ),
        (
            "content.title_metrics.month_by_age_device_window",
            performance.title_metrics_sql(
                period="month", by=("age_band", "device_type"), since=SINCE, until=UNTIL
            ),
        ),
        ("content.ratings", performance.ratings_sql()),
        ("content.series_metrics", performance.series_metrics_sql(binge_episodes=2)),
        ("content.season_dropoff", performance.season_dropoff_sql()),
        ("content.renewal", performance.renewal_sql(until=UNTIL)),
        ("content.audience", performance.audience_sql()),
        ("content.genre_share", trends.genre_share_sql()),
        ("content.genre_share.week_by_plan", trends.genre_share_sql(period="week", by=("plan",))),
        ("content.daily_views", trending.daily_views_sql()),
        ("content.daily_views.title", trending.daily_views_sql(level="title", since=SINCE)),
        ("content.search_queries", search.search_queries_sql()),
        ("content.first_views", forecast.first_views_sql(horizon_days=7)),
        ("content.reference_views", forecast.reference_views_sql(until=UNTIL, days=7)),
        ("content.first_ratings", forecast.first_ratings_sql()),
        ("market.members", markets.members_sql()),
        (
            "market.members.week_by_plan_gender",
            markets.members_sql(period="week", by=("plan", "gender")),
        ),
        ("market.plan_mix", markets.plan_mix_sql()),
        (
            "market.plan_mix.all",
            markets.plan_mix_sql(by=("country", "age_band"), active_only=False),
        ),
        ("market.cohorts", markets.cohort_sql()),
        ("market.cohorts.by_country", markets.cohort_sql(by=("country",))),
        ("market.demand_supply", opportunity.demand_supply_sql()),
        ("market.taste.genre", opportunity.taste_sql()),
        ("market.taste.title", opportunity.taste_sql(level="title", since=SINCE)),
        ("marketing.features", features.feature_sql(AS_OF)),
        ("marketing.features.genres", features.feature_sql(AS_OF, ("Drama", "Comedy"))),
        ("marketing.genres", features.GENRES_SQL),
        ("quality.plays", QUALITY_SQL),
        ("interface.funnel", funnels.funnel_sql()),
        (
            "interface.funnel.by_entry_device_country",
            funnels.funnel_sql(by=("entry", "device_type", "country"), since=SINCE, until=UNTIL),
        ),
        ("interface.cells", positions.cell_stats_sql()),
        ("interface.cells.all_pages", positions.cell_stats_sql(page=None, since=SINCE)),
        ("interface.item_counts", positions.item_cell_counts_sql()),
        ("interface.item_counts.title", positions.item_cell_counts_sql(unit="title")),
        ("interface.search_events", isearch.search_events_sql()),
    ]
    return cases


def fraud_cases(run: SqlRunner) -> list[tuple[str, str]]:
    """Every query the fraud detectors send, captured from a full scan through ``run``."""
    from reelmine.fraud import scan

    seen: list[str] = []

    def recording(sql: str) -> pa.Table:
        seen.append(sql)
        return run(sql)

    scan(recording)
    return [(f"fraud.query{i}", sql) for i, sql in enumerate(seen)]
