"""Content insights: title performance, genre trends, trending bursts, search demand and
new-title demand forecasts.

Heavy aggregates are portable SQL strings (query builders) over the contract tables, run by the
warehouse (``Warehouse.query``) or :func:`reelmine.data.engine.sql_on_tables`; everything after
(bursts, models, tests of significance) is NumPy/SciPy on the Arrow results.
"""

from reelmine.content.forecast import (
    DemandForecaster,
    evaluate_forecast,
    first_ratings_sql,
    first_views_sql,
    forecast_metrics,
    reference_views_sql,
)
from reelmine.content.performance import (
    audience_sql,
    performance_residuals,
    ratings_sql,
    renewal_candidates,
    renewal_sql,
    scorecard,
    season_dropoff_sql,
    series_metrics_sql,
    title_metrics_sql,
)
from reelmine.content.search import gaps_by_country, search_gaps, search_queries_sql
from reelmine.content.trending import daily_views_sql, detect_bursts, match_bursts
from reelmine.content.trends import genre_share_sql, genre_trends

__all__ = [
    "DemandForecaster",
    "audience_sql",
    "daily_views_sql",
    "detect_bursts",
    "evaluate_forecast",
    "first_ratings_sql",
    "first_views_sql",
    "forecast_metrics",
    "gaps_by_country",
    "genre_share_sql",
    "genre_trends",
    "match_bursts",
    "performance_residuals",
    "ratings_sql",
    "reference_views_sql",
    "renewal_candidates",
    "renewal_sql",
    "scorecard",
    "search_gaps",
    "search_queries_sql",
    "season_dropoff_sql",
    "series_metrics_sql",
    "title_metrics_sql",
]
