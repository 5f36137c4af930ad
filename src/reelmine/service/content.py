"""Content use cases over the warehouse: title performance, scorecards, series, over/under
performers, renewals, genre trends, trending bursts, search gaps and new-title forecasts.

Each function opens the data of the settings' engine (:func:`reelmine.service.engine.open_reader`:
the DuckDB warehouse, or Spark with ``--engine spark``), runs the portable SQL of
:mod:`reelmine.content` there and post-processes the Arrow result. Every
returned table keeps a ``members`` column (distinct members behind the row) for the privacy gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content import forecast as fc
from reelmine.content import performance as perf
from reelmine.content import search, trending, trends
from reelmine.data.engine import SqlRunner, TableSource
from reelmine.errors import NotFoundError
from reelmine.service.engine import open_reader
from reelmine.settings import Settings


def _open(settings: Settings) -> AbstractContextManager[TableSource]:
    # The engine of the settings: the DuckDB warehouse, or Spark over the Parquet data.
    return open_reader(settings)


def _require(wh: TableSource, table: str = "plays") -> None:
    if not wh.has_table(table) or wh.count(table) == 0:
        raise NotFoundError(
            f"the warehouse {wh.path} holds no {table}; run `reelmine ingest` first"
        )


def data_window(run: SqlRunner) -> tuple[date, date]:
    """First and last day with plays."""
    t = run(
        "SELECT CAST(min(started_at) AS DATE) AS lo, CAST(max(started_at) AS DATE) AS hi FROM plays"
    )
    lo, hi = t["lo"][0].as_py(), t["hi"][0].as_py()
    if lo is None:
        raise NotFoundError("no plays in the warehouse")
    return lo, hi


def shows(titles: pa.Table) -> pa.Table:
    """Catalogue rows that members choose: movies and series (not episodes)."""
    if "kind" not in titles.column_names:
        return titles
    return titles.filter(pc.invert(pc.equal(pc.fill_null(titles["kind"], "movie"), "episode")))


def title_performance(
    settings: Settings,
    *,
    period: str = "all",
    by: Sequence[str] = (),
    level: str = "show",
    since: str | None = None,
    until: str | None = None,
) -> pa.Table:
    """Per-title hours, views, members, starts, completion and watch fraction (see
    :func:`reelmine.content.performance.title_metrics_sql`), with ratings when available."""
    with _open(settings) as wh:
        _require(wh)
        t = wh.query(
            perf.title_metrics_sql(period=period, by=by, level=level, since=since, until=until)
        )
        if period == "all" and not by and wh.count("ratings") > 0:
            r = wh.query(perf.ratings_sql(since=since, until=until))
            idx = pc.index_in(t["title_id"], value_set=r["title_id"].combine_chunks())
            t = t.append_column("ratings", pc.fill_null(r["ratings"].take(idx), 0))
            t = t.append_column("mean_rating", r["mean_rating"].take(idx))
    return t


def title_scorecard(settings: Settings, *, days: int = 28, until: str | None = None) -> pa.Table:
    """Scorecard over the last ``days`` days (ending ``until`` or at the data's end), with
    the trend against the ``days`` before."""
    with _open(settings) as wh:
        _require(wh)
        end = date.fromisoformat(until[:10]) if until else data_window(wh.query)[1] + timedelta(1)
        start, prev = end - timedelta(days=days), end - timedelta(days=2 * days)
        cur = wh.query(perf.title_metrics_sql(since=start.isoformat(), until=end.isoformat()))
        before = wh.query(perf.title_metrics_sql(since=prev.isoformat(), until=start.isoformat()))
        titles = wh.table("titles")
    return perf.scorecard(cur, titles, before)


@dataclass(frozen=True)
class SeriesReport:
    """Series engagement: one row per series, and season drop-off per series and season."""

    series: pa.Table
    seasons: pa.Table


def series_report(settings: Settings, *, binge_episodes: int = 3) -> SeriesReport:
    """Episodes per viewer, binge rate and season drop-off of every series."""
    with _open(settings) as wh:
        _require(wh)
        return SeriesReport(
            wh.query(perf.series_metrics_sql(binge_episodes=binge_episodes)),
            wh.query(perf.season_dropoff_sql()),
        )


def performers(settings: Settings, *, z_threshold: float = 2.0) -> pa.Table:
    """Over- and under-performing titles (residuals of the performance model)."""
    with _open(settings) as wh:
        _require(wh)
        metrics = wh.query(perf.title_metrics_sql())
        audience = wh.query(perf.audience_sql())
        titles = wh.table("titles")
    return perf.performance_residuals(metrics, titles, audience=audience, z_threshold=z_threshold)


def renewals(settings: Settings, *, kind: str | None = "series") -> pa.Table:
    """Renewal candidates ranked by engagement and viewer retention."""
    with _open(settings) as wh:
        _require(wh)
        return perf.renewal_candidates(wh.query(perf.renewal_sql()), kind=kind)


def genre_shares(settings: Settings, *, period: str = "month", by: Sequence[str] = ()) -> pa.Table:
    """Genre share of hours per period (and breakdown)."""
    with _open(settings) as wh:
        _require(wh)
        return wh.query(trends.genre_share_sql(period=period, by=by))


def genre_trends(
    settings: Settings, *, period: str = "month", by: Sequence[str] = (), alpha: float = 0.05
) -> pa.Table:
    """Genre share changes between consecutive periods with Holm-adjusted tests."""
    return trends.genre_trends(genre_shares(settings, period=period, by=by), alpha=alpha)


def trending_titles(
    settings: Settings,
    *,
    level: str = "show",
    since: str | None = None,
    until: str | None = None,
    z_threshold: float | None = None,
    min_ratio: float = 2.0,
) -> pa.Table:
    """Trending bursts of shows (``level='show'``), played titles or genres (``z_threshold``
    ``None``: the family-wise bound of :func:`reelmine.content.trending.detect_bursts`)."""
    with _open(settings) as wh:
        _require(wh)
        daily = wh.query(trending.daily_views_sql(level=level, since=since, until=until))
        avail = None
        if level != "genre":
            avail = wh.query(
                "SELECT title_id AS key, added_at FROM titles WHERE added_at IS NOT NULL"
            )
    return trending.detect_bursts(
        daily, available_from=avail, z_threshold=z_threshold, min_ratio=min_ratio
    )


def search_demand(
    settings: Settings,
    *,
    since: str | None = None,
    until: str | None = None,
    min_members: int = 3,
) -> pa.Table:
    """Frequent searches that match nothing in the catalogue."""
    with _open(settings) as wh:
        _require(wh, "ui_events")
        q = wh.query(search.search_queries_sql(since=since, until=until))
        titles = wh.table("titles", columns=["title_id", "name", "genres"])
    return search.search_gaps(q, titles, min_members=min_members)


@dataclass(frozen=True)
class Forecast:
    """A new-title forecast: totals with intervals and similar titles, and the country split."""

    totals: pa.Table
    countries: pa.Table


def _forecast_inputs(wh: TableSource, cutoff: date, horizon_days: int) -> tuple[pa.Table, ...]:
    titles = shows(wh.table("titles"))
    first = wh.query(fc.first_views_sql(horizon_days=horizon_days))
    history = wh.query(fc.reference_views_sql(until=cutoff.isoformat(), days=horizon_days))
    return titles, first, history


def forecast_titles(
    settings: Settings, title_ids: Sequence[str], *, horizon_days: int = 28
) -> Forecast:
    """Forecast first-``horizon_days`` views of catalogue titles (e.g. upcoming ones) from
    every complete launch and the latest reference window."""
    with _open(settings) as wh:
        _require(wh)
        end = data_window(wh.query)[1] + timedelta(1)
        titles, first, history = _forecast_inputs(wh, end, horizon_days)
    complete = first.filter(pc.fill_null(first["complete"], False))
    want = titles.filter(pc.is_in(titles["title_id"], value_set=pa.array(list(title_ids))))
    missing = set(title_ids) - set(want["title_id"].to_pylist())
    if missing:
        raise NotFoundError(f"no show with title_id {sorted(missing)[0]!r} in the catalogue")
    model = fc.DemandForecaster().fit(titles, complete, history=history)
    return Forecast(model.predict(want), model.predict_countries(want))


def forecast_evaluation(
    settings: Settings, *, cutoff: str | None = None, horizon_days: int = 28
) -> pa.Table:
    """Time-split evaluation (model vs genre-mean and catalogue-mean baselines).

    Without ``cutoff`` the split falls at 40% of the data window, after the first launches'
    windows have closed.
    """
    with _open(settings) as wh:
        _require(wh)
        lo, hi = data_window(wh.query)
        cut = (
            date.fromisoformat(cutoff[:10])
            if cutoff
            else lo + timedelta(days=int(0.45 * (hi - lo).days))
        )
        titles, first, history = _forecast_inputs(wh, cut, horizon_days)
    when = datetime(cut.year, cut.month, cut.day, tzinfo=UTC)
    return fc.evaluate_forecast(titles, first, when, history=history, horizon_days=horizon_days)
