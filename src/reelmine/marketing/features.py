"""The member-feature table: one row per member active at ``as_of``, from events strictly before it.

The set-based work is one portable SQL query (:func:`feature_sql`) over the contract tables
``users``, ``plays``, ``titles``, ``ratings``, ``ui_events`` and ``logins``. It uses only
constructs that DuckDB and Spark SQL both accept (``CASE``, ``COALESCE``, ``COUNT(DISTINCT)``,
``LAG`` over a window, ``date_trunc('week', ..)``, ``INTERVAL 'n' DAY``, ``array_contains``,
``CAST(.. AS DATE)``, ``TIMESTAMP '..'`` literals); window boundaries are literals computed here,
and every timestamp difference is taken afterwards in NumPy, so no engine-specific date
functions appear. Timestamps are read in UTC (both engines run with a UTC session zone).

No leakage: a member is *active at* ``as_of`` when ``signup_at < as_of`` and not
``cancelled_at < as_of``; a play counts once it has ended (``coalesce(ended_at, started_at) <
as_of``); ratings, UI events and logins count when their time is ``< as_of``. Nothing at or
after ``as_of`` can change a row (a test adds future events and checks it).

The columns are documented in :data:`FEATURE_DOCS` (and in ``docs/marketing.md``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import ConfigError, DataError

SqlRunner = Callable[[str], pa.Table]
"""Runs one SQL query and returns Arrow (``Warehouse.query``, ``runner_on_tables``)."""

DAY_US = 86_400_000_000
DEVICE_TYPES = ("tv", "mobile", "tablet", "web", "console")
CATEGORICAL = ("plan", "country", "age_band")
AGE_BANDS = ("<25", "25-34", "35-44", "45-54", "55+", "unknown")
BINGE_GAP_MINUTES = 30

FEATURE_DOCS: dict[str, str] = {
    "user_id": "member pseudonym",
    "plan": "plan name at as_of (users.plan)",
    "country": "account country (users.country)",
    "age": "age in years (users.age); NaN when unknown",
    "age_band": "age band: <25, 25-34, 35-44, 45-54, 55+ or unknown",
    "max_streams": "simultaneous streams of the plan; NaN when unknown",
    "tenure_days": "days from signup to as_of",
    "days_since_last_play": "days from the last ended play to as_of; tenure_days if none",
    "days_since_last_login": "days from the last successful login to as_of; tenure_days if none",
    "hours_7d": "hours watched in the 7 days before as_of",
    "hours_14d": "hours watched in the 14 days before as_of",
    "hours_28d": "hours watched in the 28 days before as_of",
    "hours_90d": "hours watched in the 90 days before as_of",
    "plays_7d": "plays in the last 7 days",
    "plays_14d": "plays in the last 14 days",
    "plays_28d": "plays in the last 28 days",
    "plays_90d": "plays in the last 90 days",
    "titles_28d": "distinct titles played in the last 28 days",
    "titles_90d": "distinct titles played in the last 90 days",
    "days_active_7d": "days (UTC) with a play in the last 7 days",
    "days_active_14d": "days (UTC) with a play in the last 14 days",
    "days_active_28d": "days (UTC) with a play in the last 28 days",
    "days_active_90d": "days (UTC) with a play in the last 90 days",
    "hours_prev_28d": "hours watched 29 to 56 days before as_of",
    "trend_7d": "log((hours_7d + 0.5) / (hours_28d / 4 + 0.5)): last week vs the 4-week mean",
    "trend_28d": "log((hours_28d + 1) / (hours_prev_28d + 1)): last 4 weeks vs the 4 before",
    "viewing_span_days": "days from the first play of the 90-day window to as_of (the span the "
    "90-day aggregates cover); min(tenure_days, 90) without plays",
    "trend_14d": "log((hours_14d / 14 + 0.02) / (base + 0.02)): hours per day in the last 2 weeks"
    " vs the member's own earlier daily hours, base = (hours_90d - hours_14d) / "
    "clip(viewing_span_days - 14, 7, 76)",
    "active_days_trend_14d": "share of the last 14 days with a play minus the same share over "
    "the earlier part of the span (the base days of trend_14d)",
    "gap_vs_usual": "days_since_last_play / the member's usual gap between viewing days "
    "(viewing_span_days / days_active_90d): > 1 means a longer silence than usual",
    "weekend_share": "share of 90-day hours started on Saturday or Sunday (UTC)",
    "binge_share": f"share of 90-day plays started within {BINGE_GAP_MINUTES} min of the "
    "previous play's end",
    **{f"device_{d}_share": f"share of 90-day plays on {d} devices" for d in DEVICE_TYPES},
    "rebuffer_ratio": "90-day rebuffering time / (watch time + rebuffering time)",
    "error_rate": "share of 90-day plays with an error code",
    "startup_ms_mean": "mean play delay over 90 days, ms; NaN without plays",
    "exit_before_start_rate": "share of 90-day plays left before the video started",
    "ratings_90d": "ratings given in the last 90 days",
    "mean_rating_90d": "mean of those ratings; NaN when none",
    "searches_28d": "search events in the last 28 days",
    "browse_sessions_28d": "distinct browse sessions in the last 28 days",
    "logins_28d": "successful logins in the last 28 days",
    "failed_logins_28d": "failed logins in the last 28 days",
}
GENRE_DOC = "share of 90-day hours on titles of genre {genre} (a title counts for each genre)"


def genre_column(genre: str) -> str:
    """Feature column name of a genre share, e.g. ``Sci-Fi`` -> ``genre_sci_fi_share``."""
    slug = re.sub(r"[^a-z0-9]+", "_", genre.lower()).strip("_") or "other"
    return f"genre_{slug}_share"


def parse_as_of(value: str | date | datetime) -> datetime:
    """An as-of instant (UTC). A date or ``YYYY-MM-DD`` means midnight UTC of that day.

    Raises
    ------
    ConfigError
        When the text is not an ISO date or date-time.
    """
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        out = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--as-of must be an ISO date such as 2026-03-01, not {value!r}") from exc
    return out.astimezone(UTC) if out.tzinfo else out.replace(tzinfo=UTC)


def _lit(ts: datetime) -> str:
    return f"TIMESTAMP '{ts.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def feature_sql(as_of: datetime, genres: Sequence[str] = ()) -> str:
    """The portable SQL that aggregates every member's events before ``as_of``.

    Parameters
    ----------
    as_of : the cut-off instant (UTC); only events strictly before it count.
    genres : genres whose share of viewing becomes a column (``genre_<name>_share``).

    Returns
    -------
    One ``SELECT`` over ``users``, ``plays``, ``ratings``, ``ui_events``, ``logins`` (and
    ``titles`` when ``genres`` is not empty), one row per member active at ``as_of``, with raw
    aggregates that :func:`member_features` turns into the documented columns.
    """
    t = parse_as_of(as_of)
    T, T7, T14, T28, T56, T90 = (_lit(t - timedelta(days=d)) for d in (0, 7, 14, 28, 56, 90))
    g_join = "LEFT JOIN titles tt ON p.title_id = tt.title_id" if genres else ""
    g_cols = "".join(
        f",\n        CASE WHEN array_contains(tt.genres, {_str(g)}) THEN 1 ELSE 0 END AS g{i}"
        for i, g in enumerate(genres)
    )
    g_aggs = "".join(
        f",\n    SUM(CASE WHEN g{i} = 1 THEN secs ELSE 0 END) AS g{i}_secs"
        for i in range(len(genres))
    )
    g_out = "".join(f", pv.g{i}_secs" for i in range(len(genres)))
    dev_aggs = "".join(
        f",\n    SUM(CASE WHEN device_type = {_str(d)} THEN 1 ELSE 0 END) AS dev_{d}"
        for d in DEVICE_TYPES
    )
    dev_out = "".join(f", pv.dev_{d}" for d in DEVICE_TYPES)
    return f"""
WITH members AS (
    SELECT user_id, signup_at, country, age, plan, max_streams
    FROM users
    WHERE (signup_at IS NULL OR signup_at < {T})
      AND (cancelled_at IS NULL OR cancelled_at >= {T})
),
ended AS (
    SELECT user_id, title_id, started_at,
        COALESCE(ended_at, started_at) AS ended_at,
        COALESCE(watched_seconds, 0.0) AS secs,
        device_type, rebuffer_ms, error_code, startup_ms, exit_before_start
    FROM plays
    WHERE started_at < {T} AND COALESCE(ended_at, started_at) < {T}
),
last_play AS (
    SELECT user_id, MAX(started_at) AS last_play_at FROM ended GROUP BY user_id
),
p90 AS (
    SELECT p.*,
        LAG(p.ended_at) OVER (PARTITION BY p.user_id ORDER BY p.started_at) AS prev_end,
        CASE WHEN p.started_at >= date_trunc('week', p.started_at) + INTERVAL '5' DAY
             THEN 1 ELSE 0 END AS weekend{g_cols}
    FROM ended p {g_join}
    WHERE p.started_at >= {T90}
),
pv AS (
    SELECT user_id,
    SUM(CASE WHEN started_at >= {T7} THEN secs ELSE 0 END) AS secs_7d,
    SUM(CASE WHEN started_at >= {T14} THEN secs ELSE 0 END) AS secs_14d,
    SUM(CASE WHEN started_at >= {T28} THEN secs ELSE 0 END) AS secs_28d,
    SUM(secs) AS secs_90d,
    SUM(CASE WHEN started_at >= {T56} AND started_at < {T28} THEN secs ELSE 0 END)
        AS secs_prev_28d,
    SUM(CASE WHEN started_at >= {T7} THEN 1 ELSE 0 END) AS plays_7d,
    SUM(CASE WHEN started_at >= {T14} THEN 1 ELSE 0 END) AS plays_14d,
    SUM(CASE WHEN started_at >= {T28} THEN 1 ELSE 0 END) AS plays_28d,
    COUNT(*) AS plays_90d,
    COUNT(DISTINCT CASE WHEN started_at >= {T28} THEN title_id END) AS titles_28d,
    COUNT(DISTINCT title_id) AS titles_90d,
    COUNT(DISTINCT CASE WHEN started_at >= {T7} THEN CAST(started_at AS DATE) END)
        AS days_active_7d,
    COUNT(DISTINCT CASE WHEN started_at >= {T14} THEN CAST(started_at AS DATE) END)
        AS days_active_14d,
    COUNT(DISTINCT CASE WHEN started_at >= {T28} THEN CAST(started_at AS DATE) END)
        AS days_active_28d,
    COUNT(DISTINCT CAST(started_at AS DATE)) AS days_active_90d,
    MIN(started_at) AS first_play_90d,
    SUM(CASE WHEN weekend = 1 THEN secs ELSE 0 END) AS weekend_secs,
    SUM(CASE WHEN prev_end IS NOT NULL
             AND started_at <= prev_end + INTERVAL '{BINGE_GAP_MINUTES}' MINUTE
             THEN 1 ELSE 0 END) AS binge_plays,
    SUM(COALESCE(rebuffer_ms, 0.0)) AS rebuffer_ms,
    SUM(CASE WHEN error_code IS NOT NULL AND error_code <> '' THEN 1 ELSE 0 END) AS errors,
    AVG(startup_ms) AS startup_ms_mean,
    SUM(CASE WHEN exit_before_start THEN 1 ELSE 0 END) AS exits{dev_aggs}{g_aggs}
    FROM p90 GROUP BY user_id
),
rt AS (
    SELECT user_id, COUNT(*) AS ratings_90d, AVG(rating) AS mean_rating_90d
    FROM ratings WHERE rated_at < {T} AND rated_at >= {T90} GROUP BY user_id
),
ui AS (
    SELECT user_id,
        SUM(CASE WHEN event_type = 'search' THEN 1 ELSE 0 END) AS searches_28d,
        COUNT(DISTINCT browse_session_id) AS browse_sessions_28d
    FROM ui_events e WHERE e.at < {T} AND e.at >= {T28} GROUP BY user_id
),
lg AS (
    SELECT user_id,
        SUM(CASE WHEN success AND l.at >= {T28} THEN 1 ELSE 0 END) AS logins_28d,
        SUM(CASE WHEN NOT success AND l.at >= {T28} THEN 1 ELSE 0 END) AS failed_logins_28d,
        MAX(CASE WHEN success THEN l.at END) AS last_login_at
    FROM logins l WHERE l.at < {T} GROUP BY user_id
)
SELECT m.user_id, m.plan, m.country, m.age, m.max_streams, m.signup_at,
    lp.last_play_at, lg.last_login_at,
    pv.secs_7d, pv.secs_14d, pv.secs_28d, pv.secs_90d, pv.secs_prev_28d,
    pv.plays_7d, pv.plays_14d, pv.plays_28d, pv.plays_90d, pv.titles_28d, pv.titles_90d,
    pv.days_active_7d, pv.days_active_14d, pv.days_active_28d, pv.days_active_90d,
    pv.first_play_90d,
    pv.weekend_secs, pv.binge_plays, pv.rebuffer_ms, pv.errors, pv.startup_ms_mean,
    pv.exits{dev_out}{g_out},
    rt.ratings_90d, rt.mean_rating_90d, ui.searches_28d, ui.browse_sessions_28d,
    lg.logins_28d, lg.failed_logins_28d
FROM members m
LEFT JOIN last_play lp ON m.user_id = lp.user_id
LEFT JOIN pv ON m.user_id = pv.user_id
LEFT JOIN rt ON m.user_id = rt.user_id
LEFT JOIN ui ON m.user_id = ui.user_id
LEFT JOIN lg ON m.user_id = lg.user_id
ORDER BY m.user_id
"""


GENRES_SQL = "SELECT genres FROM titles"
"""Query whose result :func:`top_genres` reads to pick the genre-mix columns."""


def top_genres(titles: pa.Table, k: int = 8) -> list[str]:
    """The ``k`` genres carried by most titles (ties by name), from a ``genres`` list column."""
    if "genres" not in titles.column_names or titles.num_rows == 0:
        return []
    flat = pc.list_flatten(titles["genres"].combine_chunks())
    if len(flat) == 0:
        return []
    vc = pc.value_counts(flat)
    names = np.asarray(vc.field("values").to_pylist(), dtype=object)
    counts = np.asarray(vc.field("counts").to_numpy())
    keep = np.array([n is not None and n != "" for n in names], dtype=bool)
    names, counts = names[keep], counts[keep]
    order = np.lexsort((names.astype(str), -counts))
    return [str(n) for n in names[order][:k]]


def _num(t: pa.Table, name: str, fill: float = 0.0) -> np.ndarray:
    col = t[name]
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int64())
    arr = pc.fill_null(pc.cast(col, pa.float64()), fill) if not math.isnan(fill) else col
    return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _days_before(t: pa.Table, name: str, as_of_us: int) -> np.ndarray:
    col = pc.cast(t[name], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    us = np.asarray(pc.fill_null(col, as_of_us + 1).to_numpy(zero_copy_only=False), np.int64)
    days = (as_of_us - us) / DAY_US
    return np.where(us > as_of_us, np.nan, days)


def age_bands(age: np.ndarray) -> pa.Array:
    """Age band labels (:data:`AGE_BANDS`) for ages in years (NaN = unknown)."""
    edges = np.array([25, 35, 45, 55])
    idx = np.searchsorted(edges, np.nan_to_num(age, nan=-1.0), side="right")
    idx = np.where(np.isnan(age), len(AGE_BANDS) - 1, idx)
    return pa.array(AGE_BANDS).take(pa.array(idx))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def features_from_raw(raw: pa.Table, as_of: datetime, genres: Sequence[str] = ()) -> pa.Table:
    """Turn the result of :func:`feature_sql` into the documented feature table."""
    need = ("user_id", "signup_at", "secs_90d", "last_play_at", "last_login_at")
    for name in need:
        if name not in raw.column_names:
            raise DataError("feature query result lacks a column", column=name)
    t_us = int(parse_as_of(as_of).timestamp() * 1_000_000)
    tenure = _days_before(raw, "signup_at", t_us)
    since_play = _days_before(raw, "last_play_at", t_us)
    since_login = _days_before(raw, "last_login_at", t_us)
    h7, h14, h28, h90 = (_num(raw, f"secs_{w}") / 3600.0 for w in ("7d", "14d", "28d", "90d"))
    hprev = _num(raw, "secs_prev_28d") / 3600.0
    plays90 = _num(raw, "plays_90d")
    age = _num(raw, "age", fill=math.nan)
    cols: dict[str, pa.Array | np.ndarray] = {
        "user_id": raw["user_id"].combine_chunks(),
        "plan": pc.fill_null(raw["plan"].combine_chunks(), "unknown"),
        "country": pc.fill_null(raw["country"].combine_chunks(), "unknown"),
        "age": age,
        "age_band": age_bands(age),
        "max_streams": _num(raw, "max_streams", fill=math.nan),
        "tenure_days": tenure,
        "days_since_last_play": np.where(np.isnan(since_play), tenure, since_play),
        "days_since_last_login": np.where(np.isnan(since_login), tenure, since_login),
        "hours_7d": h7,
        "hours_14d": h14,
        "hours_28d": h28,
        "hours_90d": h90,
    }
    for name in (
        "plays_7d",
        "plays_14d",
        "plays_28d",
        "plays_90d",
        "titles_28d",
        "titles_90d",
        "days_active_7d",
        "days_active_14d",
        "days_active_28d",
        "days_active_90d",
    ):
        cols[name] = _num(raw, name)
    cols["hours_prev_28d"] = hprev
    cols["trend_7d"] = np.log((h7 + 0.5) / (h28 / 4.0 + 0.5))
    cols["trend_28d"] = np.log((h28 + 1.0) / (hprev + 1.0))
    # Precursors of churn relative to the member's own habit: a light viewer's quiet week is
    # normal, a daily viewer's is not.
    first = (
        _days_before(raw, "first_play_90d", t_us) if "first_play_90d" in raw.column_names else None
    )
    fallback = np.minimum(np.nan_to_num(tenure, nan=90.0), 90.0)
    span = fallback if first is None else np.where(np.isnan(first), fallback, first)
    base_days = np.clip(span - 14.0, 7.0, 76.0)
    d14, d90 = cols["days_active_14d"], cols["days_active_90d"]
    cols["viewing_span_days"] = span
    cols["trend_14d"] = np.log((h14 / 14.0 + 0.02) / ((h90 - h14) / base_days + 0.02))
    cols["active_days_trend_14d"] = d14 / 14.0 - (d90 - d14) / base_days
    usual_gap = span / np.maximum(d90, 1.0)
    cols["gap_vs_usual"] = cols["days_since_last_play"] / np.maximum(usual_gap, 1.0)
    cols["weekend_share"] = _ratio(_num(raw, "weekend_secs"), h90 * 3600.0)
    cols["binge_share"] = _ratio(_num(raw, "binge_plays"), plays90)
    for d in DEVICE_TYPES:
        cols[f"device_{d}_share"] = _ratio(_num(raw, f"dev_{d}"), plays90)
    for i, g in enumerate(genres):
        cols[genre_column(g)] = _ratio(_num(raw, f"g{i}_secs"), h90 * 3600.0)
    reb = _num(raw, "rebuffer_ms") / 1000.0
    cols["rebuffer_ratio"] = _ratio(reb, h90 * 3600.0 + reb)
    cols["error_rate"] = _ratio(_num(raw, "errors"), plays90)
    cols["startup_ms_mean"] = _num(raw, "startup_ms_mean", fill=math.nan)
    cols["exit_before_start_rate"] = _ratio(_num(raw, "exits"), plays90)
    cols["ratings_90d"] = _num(raw, "ratings_90d")
    cols["mean_rating_90d"] = _num(raw, "mean_rating_90d", fill=math.nan)
    for name in ("searches_28d", "browse_sessions_28d", "logins_28d", "failed_logins_28d"):
        cols[name] = _num(raw, name)
    arrays = {
        k: (pa.array(v, type=pa.float64(), from_pandas=True) if isinstance(v, np.ndarray) else v)
        for k, v in cols.items()
    }
    return pa.table(arrays)


def member_features(
    runner: SqlRunner,
    as_of: str | date | datetime,
    *,
    genres: Sequence[str] | None = None,
    n_genres: int = 8,
) -> pa.Table:
    """The member-feature table as of ``as_of``: one row per member active then.

    Parameters
    ----------
    runner : a SQL runner ``runner(sql) -> pa.Table`` over the contract tables
        (``Warehouse.query`` or :func:`reelmine.data.engine.runner_on_tables`).
    as_of : cut-off (UTC); only events strictly before it are used.
    genres : genres for the genre-mix columns; ``None`` takes the ``n_genres`` most common.
    n_genres : how many genres when ``genres`` is ``None``.

    Returns
    -------
    Arrow table with the columns of :data:`FEATURE_DOCS` plus ``genre_<g>_share`` columns,
    sorted by ``user_id``.
    """
    if not callable(runner):
        raise ConfigError("runner must be callable: runner(sql) -> pyarrow.Table")
    t = parse_as_of(as_of)
    if genres is None:
        genres = top_genres(runner(GENRES_SQL), n_genres)
    raw = runner(feature_sql(t, genres))
    return features_from_raw(raw, t, genres)


def feature_docs(table: pa.Table) -> dict[str, str]:
    """Description of every column of a feature table (genre columns included)."""
    out: dict[str, str] = {}
    for name in table.column_names:
        if name in FEATURE_DOCS:
            out[name] = FEATURE_DOCS[name]
        elif name.startswith("genre_") and name.endswith("_share"):
            out[name] = GENRE_DOC.format(genre=name[6:-6])
        else:
            out[name] = ""
    return out


def numeric_columns(table: pa.Table) -> list[str]:
    """Model-ready numeric feature columns (everything but ``user_id`` and categoricals)."""
    return [c for c in table.column_names if c != "user_id" and c not in CATEGORICAL]
