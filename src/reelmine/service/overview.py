"""Overview use cases: warehouse size and time range, daily activity, top titles and genres.

The dashboard's Overview page and its API twins call these. Every function takes the same
filters: ``start``/``end`` (inclusive UTC days) and ``country``. A play's country is the
session's ``plays.country``, or the member's ``users.country`` when the session has none.
Every aggregate row carries ``members`` (distinct members behind it) for privacy gates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa

from reelmine.data.engine import sql_literal
from reelmine.errors import DataError
from reelmine.service.engine import open_runner
from reelmine.service.ingest import status
from reelmine.settings import Settings

# Seconds watched: the measured value, else the session length, else nothing.
WATCHED = "coalesce(p.watched_seconds, epoch(p.ended_at) - epoch(p.started_at), 0)"


@dataclass(frozen=True)
class Summary:
    """Row counts per table and the time range of the warehouse."""

    rows: dict[str, int]
    first: datetime | None
    last: datetime | None
    size_bytes: int


def summary(settings: Settings) -> Summary:
    """Row counts of every contract table and the earliest/latest timestamp in the warehouse."""
    st = status(settings)
    rng = st.time_range
    return Summary(
        rows=dict(st.rows),
        first=None if rng is None else rng[0],
        last=None if rng is None else rng[1],
        size_bytes=st.size_bytes,
    )


def _where(start: date | None, end: date | None, country: str | None) -> str:
    # Values are inlined as quoted literals (sql_literal), not bound: Spark takes no parameters.
    if start is not None and end is not None and start > end:
        raise DataError(f"start {start} is after end {end}", column="start")
    clauses: list[str] = ["TRUE"]
    if start is not None:
        lo = datetime.combine(start, time(0), tzinfo=UTC)
        clauses.append(f"p.started_at >= {sql_literal(lo)}")
    if end is not None:
        hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
        clauses.append(f"p.started_at < {sql_literal(hi)}")
    if country is not None:
        clauses.append(f"coalesce(p.country, u.country) = {sql_literal(str(country))}")
    return " AND ".join(clauses)


def _run(settings: Settings, sql: str) -> pa.Table:
    # The settings' engine: the DuckDB warehouse (read-only), or Spark with --engine spark.
    with open_runner(settings) as run:
        return run(sql)


def daily_activity(
    settings: Settings,
    *,
    start: date | None = None,
    end: date | None = None,
    country: str | None = None,
) -> pa.Table:
    """Per UTC day with plays: ``day``, ``members`` (distinct active), ``plays``, ``hours``."""
    where = _where(start, end, country)
    sql = f"""
        SELECT CAST(p.started_at AS DATE) AS day,
               count(DISTINCT p.user_id) AS members,
               count(*) AS plays,
               sum({WATCHED}) / 3600.0 AS hours
        FROM plays p LEFT JOIN users u ON p.user_id = u.user_id
        WHERE {where}
        GROUP BY 1 ORDER BY 1
    """
    return _run(settings, sql)


def top_titles(
    settings: Settings,
    *,
    start: date | None = None,
    end: date | None = None,
    country: str | None = None,
    limit: int = 10,
) -> pa.Table:
    """Titles by hours viewed: ``title_id``, ``name``, ``hours``, ``plays``, ``members``."""
    where = _where(start, end, country)
    sql = f"""
        SELECT p.title_id, coalesce(any_value(t.name), p.title_id) AS name,
               sum({WATCHED}) / 3600.0 AS hours, count(*) AS plays,
               count(DISTINCT p.user_id) AS members
        FROM plays p LEFT JOIN users u ON p.user_id = u.user_id
             LEFT JOIN titles t ON p.title_id = t.title_id
        WHERE {where}
        GROUP BY p.title_id ORDER BY hours DESC, p.title_id LIMIT {int(limit)}
    """
    return _run(settings, sql)


def top_genres(
    settings: Settings,
    *,
    start: date | None = None,
    end: date | None = None,
    country: str | None = None,
    limit: int = 12,
) -> pa.Table:
    """Genres by hours viewed: ``genre``, ``hours``, ``plays``, ``members``.

    A title with several genres counts in each of them, so genre hours sum to more than the
    total; titles without genres are ``(none)``.
    """
    where = _where(start, end, country)
    sql = f"""
        WITH g AS (
            SELECT p.user_id, {WATCHED} AS s,
                   unnest(CASE WHEN len(coalesce(t.genres, [])) = 0 THEN ['(none)']
                               ELSE t.genres END) AS genre
            FROM plays p LEFT JOIN users u ON p.user_id = u.user_id
                 LEFT JOIN titles t ON p.title_id = t.title_id
            WHERE {where}
        )
        SELECT genre, sum(s) / 3600.0 AS hours, count(*) AS plays,
               count(DISTINCT user_id) AS members
        FROM g GROUP BY genre ORDER BY hours DESC, genre LIMIT {int(limit)}
    """
    return _run(settings, sql)
