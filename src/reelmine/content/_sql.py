"""SQL fragments shared by the content and market query builders.

One portable dialect: plain SELECTs, CTEs, window functions, ``date_trunc``, ``date_diff``,
``coalesce``, ``CASE`` and ``UNNEST`` in FROM (DuckDB runs it as is; sqlglot transpiles it to
Spark SQL). Identifiers interpolated into the strings come only from the whitelists below.
"""

from __future__ import annotations

from reelmine.errors import ConfigError

PERIODS = ("day", "week", "month", "quarter", "year", "all")
DIMENSIONS = ("country", "age_band", "gender", "plan", "device_type")

AGE_BAND = (
    "CASE WHEN u.age IS NULL THEN 'unknown' WHEN u.age < 25 THEN '<25' "
    "WHEN u.age < 35 THEN '25-34' WHEN u.age < 45 THEN '35-44' "
    "WHEN u.age < 55 THEN '45-54' ELSE '55+' END"
)

# Seconds watched: the stored value, else the session length.
WATCHED = (
    "coalesce(pl.watched_seconds, CAST(date_diff('second', pl.started_at, pl.ended_at) AS DOUBLE))"
)


def check_period(period: str) -> str:
    """Validate a period name (``day``, ``week``, ``month``, ``quarter``, ``year``, ``all``)."""
    if period not in PERIODS:
        raise ConfigError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    return period


def check_dims(by: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate breakdown dimensions against :data:`DIMENSIONS`."""
    bad = [d for d in by if d not in DIMENSIONS]
    if bad:
        raise ConfigError(f"unknown breakdown {bad[0]!r}; choose from {', '.join(DIMENSIONS)}")
    return tuple(by)


def period_expr(period: str, column: str) -> str:
    """Start of the period holding ``column`` (a constant label for ``all``)."""
    check_period(period)
    if period == "all":
        return "'all'"
    return f"CAST(date_trunc('{period}', {column}) AS DATE)"


def time_filter(column: str, since: str | None, until: str | None) -> str:
    """``AND`` clauses restricting ``column`` to ``[since, until)`` (ISO dates, validated)."""
    from datetime import date

    out = ""
    for bound, op in ((since, ">="), (until, "<")):
        if bound is None:
            continue
        try:
            day = date.fromisoformat(str(bound)[:10])
        except ValueError:
            raise ConfigError(f"expected an ISO date like 2026-01-31, not {bound!r}") from None
        out += f" AND {column} {op} TIMESTAMP '{day.isoformat()} 00:00:00'"
    return out


def day_number(column: str) -> str:
    """UTC day number (days since 1970-01-01) of a timestamp column.

    Integer arithmetic on the epoch: per-row time-zone-aware casts and ``date_trunc`` on
    ``TIMESTAMPTZ`` go through the engine's calendar library and cost about ten times more, so
    per-play SQL groups by this number and maps it to dates through :func:`calendar`.
    """
    return f"CAST(floor(EXTRACT(EPOCH FROM {column}) / 86400) AS BIGINT)"


def calendar(*, table: str = "plays", column: str = "started_at") -> str:
    """CTE ``cal``: ``dn`` (UTC day number, :func:`day_number`) and ``d0`` (the first timestamp
    of that day in ``table``) for every day on which ``table`` has rows.

    Per-row SQL groups by integer keys (:func:`period_key`) and turns them into dates through
    this small table once the rows are aggregated: the calendar conversion then runs once per
    group instead of once per row.
    """
    return f"""cal AS (
  SELECT {day_number(column)} AS dn, min({column}) AS d0 FROM {table}
  GROUP BY {day_number(column)}
)"""


def period_key(period: str, alias: str = "ep") -> tuple[str, bool]:
    """Per-row grouping key of ``period`` for rows of ``alias`` (which carry ``dn``).

    Returns ``(expression, via_calendar)``. Days and weeks are integer arithmetic on the day
    number (ISO weeks start on Monday; day 0, 1970-01-01, was a Thursday) and ``via_calendar``
    is true: the caller keeps ``min(<alias>.dn)`` per group and gets the date by joining
    :func:`calendar` (``period_expr(period, "cal.d0")``). Months, quarters and years use
    :func:`period_expr` per row; ``all`` is a constant.
    """
    check_period(period)
    if period == "day":
        return f"{alias}.dn", True
    if period == "week":
        return f"CAST(floor(({alias}.dn + 3) / 7) AS BIGINT)", True
    return period_expr(period, f"{alias}.started_at"), False


def enriched_plays(since: str | None = None, until: str | None = None) -> str:
    """CTE ``ep``: plays with the member's market, demographics and the title's show.

    Columns: user_id, title_id, show_id (series for episodes), started_at, dn (UTC day number,
    :func:`day_number`), secs (watched seconds),
    runtime_s, completed (past 90% of runtime), started (left after video started), country
    (member's country, else the session's), age_band, gender, plan, device_type.
    """
    return f"""ep AS (
  SELECT pl.user_id, pl.title_id, coalesce(t.series_id, pl.title_id) AS show_id,
    pl.started_at, {day_number("pl.started_at")} AS dn, {WATCHED} AS secs,
    t.runtime_minutes * 60.0 AS runtime_s,
    CASE WHEN t.runtime_minutes > 0 AND {WATCHED} >= 0.9 * t.runtime_minutes * 60.0
      THEN 1 ELSE 0 END AS completed,
    CASE WHEN coalesce(pl.exit_before_start, FALSE) THEN 0 ELSE 1 END AS started,
    coalesce(u.country, pl.country, 'unknown') AS country,
    {AGE_BAND} AS age_band, coalesce(u.gender, 'unknown') AS gender,
    coalesce(u.plan, 'unknown') AS plan, coalesce(pl.device_type, 'unknown') AS device_type
  FROM plays pl
  LEFT JOIN users u ON pl.user_id = u.user_id
  LEFT JOIN titles t ON pl.title_id = t.title_id
  WHERE 1 = 1{time_filter("pl.started_at", since, until)}
)"""


def show_runtime() -> str:
    """CTE ``sr``: running time of each show in seconds (a series: all its episodes)."""
    return """sr AS (
  SELECT coalesce(series_id, title_id) AS show_id, sum(runtime_minutes) * 60.0 AS runtime_s
  FROM titles WHERE coalesce(kind, 'movie') <> 'series'
  GROUP BY coalesce(series_id, title_id)
)"""
