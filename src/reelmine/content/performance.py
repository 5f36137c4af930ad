"""Title performance: metrics per title and period, scorecards, series metrics, over- and
under-performers and renewal candidates.

Definitions (see ``docs/content.md``): *hours* = watched seconds / 3600; *views* = hours viewed /
runtime (a series: the runtime of all its episodes); *completion rate* = share of plays that
reach 90% of the runtime; *members* = distinct members (kept on every aggregate so a privacy gate
can suppress small cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content._sql import (
    calendar,
    check_dims,
    enriched_plays,
    period_expr,
    period_key,
    show_runtime,
    time_filter,
)
from reelmine.errors import ConfigError, DataError

LEVELS = ("title", "show")


def title_metrics_sql(
    *,
    period: str = "all",
    by: Sequence[str] = (),
    level: str = "show",
    since: str | None = None,
    until: str | None = None,
) -> str:
    """SQL of per-title metrics per period and breakdown.

    Parameters
    ----------
    period : ``day``, ``week``, ``month``, ``quarter``, ``year`` or ``all``.
    by : breakdown dimensions among ``country``, ``age_band``, ``gender``, ``plan``,
        ``device_type`` (the member's country, else the session's).
    level : ``show`` (episodes roll up to their series) or ``title`` (each played title_id).
    since, until : optional ISO dates bounding ``started_at`` to ``[since, until)``.

    Returns
    -------
    SQL whose result has ``title_id, period, <by...>, hours, views, members, starts,
    completion_rate, avg_watch_fraction, plays``.
    """
    if level not in LEVELS:
        raise ConfigError(f"level must be 'title' or 'show', not {level!r}")
    dims = check_dims(list(by))
    key = "show_id" if level == "show" else "title_id"
    dim_sel = "".join(f", ep.{d}" for d in dims)
    dim_out = "".join(f", m.{d}" for d in dims)
    group = ", ".join(["ep." + key, "pk"] + [f"ep.{d}" for d in dims])
    runtime = "max(sr.runtime_s)" if level == "show" else "max(ep.runtime_s)"
    join = "LEFT JOIN sr ON ep.show_id = sr.show_id" if level == "show" else ""
    pk, via_cal = period_key(period)
    cal = f",\n{calendar()}" if via_cal else ""
    per = period_expr(period, "cal.d0") if via_cal else "m.pk"
    cal_join = "JOIN cal ON m.dn0 = cal.dn" if via_cal else ""
    return f"""WITH {enriched_plays(since, until)},
{show_runtime()}{cal},
m AS (
SELECT ep.{key} AS title_id, {pk} AS pk, min(ep.dn) AS dn0{dim_sel},
  sum(ep.secs) / 3600.0 AS hours,
  sum(ep.secs) / nullif({runtime}, 0) AS views,
  count(DISTINCT ep.user_id) AS members,
  CAST(sum(ep.started) AS BIGINT) AS starts,
  avg(CAST(ep.completed AS DOUBLE)) AS completion_rate,
  avg(CASE WHEN ep.runtime_s > 0 THEN least(ep.secs / ep.runtime_s, 1.0) END)
    AS avg_watch_fraction,
  count(*) AS plays
FROM ep {join}
GROUP BY {group}
)
SELECT m.title_id, {per} AS period{dim_out}, m.hours, m.views, m.members, m.starts,
  m.completion_rate, m.avg_watch_fraction, m.plays
FROM m {cal_join}
ORDER BY m.hours DESC"""


def ratings_sql(*, since: str | None = None, until: str | None = None) -> str:
    """SQL of ``title_id, ratings, mean_rating, members`` (ratings on the title's own scale)."""
    return f"""SELECT r.title_id, count(*) AS ratings, avg(r.rating) AS mean_rating,
  count(DISTINCT r.user_id) AS members
FROM ratings r WHERE 1 = 1{time_filter("r.rated_at", since, until)}
GROUP BY r.title_id ORDER BY ratings DESC"""


_EPISODES = r"""e AS (
  SELECT title_id, series_id,
    CAST(coalesce(nullif(regexp_extract(name, 'S([0-9]+)E[0-9]+', 1), ''), '1') AS INT) AS season
  FROM titles WHERE series_id IS NOT NULL
),
vp AS (
  SELECT ep.user_id, e.series_id, e.season, ep.title_id, ep.dn AS d
  FROM ep JOIN e ON ep.title_id = e.title_id WHERE ep.started = 1
)"""


def series_metrics_sql(
    *, binge_episodes: int = 3, since: str | None = None, until: str | None = None
) -> str:
    """SQL of per-series metrics: ``title_id, members, episodes_per_viewer, binge_rate, seasons``.

    *episodes per viewer* = mean distinct episodes started per member who started one;
    *binge rate* = share of (member, day) pairs with the series in which the member started at
    least ``binge_episodes`` distinct episodes. Seasons come from ``S<n>E<m>`` in episode names
    (season 1 when absent).
    """
    if binge_episodes < 2:
        raise ConfigError("binge_episodes must be at least 2")
    return f"""WITH {enriched_plays(since, until)},
{_EPISODES},
pv AS (SELECT series_id, user_id, count(DISTINCT title_id) AS eps FROM vp
  GROUP BY series_id, user_id),
dd AS (SELECT series_id, user_id, d, count(DISTINCT title_id) AS n FROM vp
  GROUP BY series_id, user_id, d),
b AS (SELECT series_id,
    avg(CASE WHEN n >= {int(binge_episodes)} THEN 1.0 ELSE 0.0 END) AS binge_rate
  FROM dd GROUP BY series_id),
s AS (SELECT series_id, count(DISTINCT season) AS seasons FROM vp GROUP BY series_id)
SELECT pv.series_id AS title_id, count(*) AS members,
  avg(CAST(pv.eps AS DOUBLE)) AS episodes_per_viewer,
  max(b.binge_rate) AS binge_rate, max(s.seasons) AS seasons
FROM pv JOIN b ON pv.series_id = b.series_id JOIN s ON pv.series_id = s.series_id
GROUP BY pv.series_id ORDER BY members DESC"""


def season_dropoff_sql(*, since: str | None = None, until: str | None = None) -> str:
    """SQL of ``title_id, season, members, share_of_previous`` (season drop-off per series).

    ``share_of_previous`` = members who started season *s* / members who started season *s-1*.
    """
    return f"""WITH {enriched_plays(since, until)},
{_EPISODES},
sv AS (SELECT series_id, season, count(DISTINCT user_id) AS members FROM vp
  GROUP BY series_id, season)
SELECT series_id AS title_id, season, members,
  CAST(members AS DOUBLE) / nullif(lag(members) OVER (PARTITION BY series_id ORDER BY season), 0)
    AS share_of_previous
FROM sv ORDER BY title_id, season"""


def renewal_sql(*, until: str | None = None, since: str | None = None) -> str:
    """SQL of engagement and viewer retention per show.

    Columns: ``title_id, kind, members, hours, views, completion_rate, retained_rate`` where
    *retained_rate* = share of the show's viewers whose membership was not cancelled by
    ``until`` (or at all when ``until`` is None).
    """
    cutoff = "CAST(NULL AS TIMESTAMP)"
    if until is not None:
        time_filter("x", until, None)  # validates
        cutoff = f"TIMESTAMP '{str(until)[:10]} 00:00:00'"
    return f"""WITH {enriched_plays(since, until)},
{show_runtime()},
v AS (SELECT ep.show_id, ep.user_id, sum(ep.secs) AS secs, avg(CAST(ep.completed AS DOUBLE)) AS c
  FROM ep GROUP BY ep.show_id, ep.user_id)
SELECT v.show_id AS title_id, max(t.kind) AS kind, count(*) AS members,
  sum(v.secs) / 3600.0 AS hours, sum(v.secs) / nullif(max(sr.runtime_s), 0) AS views,
  avg(v.c) AS completion_rate,
  avg(CASE WHEN u.cancelled_at IS NULL THEN 1.0
           WHEN {cutoff} IS NOT NULL AND u.cancelled_at >= {cutoff} THEN 1.0 ELSE 0.0 END)
    AS retained_rate
FROM v LEFT JOIN users u ON v.user_id = u.user_id
LEFT JOIN sr ON v.show_id = sr.show_id
LEFT JOIN titles t ON v.show_id = t.title_id
GROUP BY v.show_id ORDER BY views DESC"""


def audience_sql(*, since: str | None = None, until: str | None = None) -> str:
    """SQL of each show's audience mix: ``title_id, age_band, members, hours``."""
    return f"""WITH {enriched_plays(since, until)}
SELECT show_id AS title_id, age_band, count(DISTINCT user_id) AS members,
  sum(secs) / 3600.0 AS hours
FROM ep GROUP BY show_id, age_band"""


# ---------------------------------------------------------------- pure post-processing


def group_rank(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Dense 1-based rank of ``values`` (descending) within each group; NaN ranks last."""
    n = len(values)
    v = np.where(np.isnan(values), -np.inf, values)
    _, g = np.unique(groups.astype(str), return_inverse=True)
    order = np.lexsort((-v, g))
    gs = g[order]
    start = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
    first = np.repeat(start, np.diff(np.r_[start, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first + 1
    return rank


def _col(table: pa.Table, name: str, default: float = np.nan) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default)
    return np.asarray(pc.fill_null(table[name].cast(pa.float64()), default).to_numpy())


def _primary_genre(titles: pa.Table) -> pa.Array:
    if "genres" not in titles.column_names:
        return pa.array(["unknown"] * titles.num_rows)
    first = pc.list_element(
        pc.if_else(
            pc.greater(pc.list_value_length(titles["genres"]), 0),
            titles["genres"],
            pa.scalar(["unknown"], pa.list_(pa.string())),
        ),
        0,
    )
    return pc.fill_null(first, "unknown")


def _join_titles(metrics: pa.Table, titles: pa.Table) -> pa.Table:
    """``metrics`` with the title's metadata columns (left join on title_id, list columns kept)."""
    keep = [
        c
        for c in ("name", "kind", "release_year", "cost", "genres", "language", "runtime_minutes")
        if c in titles.column_names and c not in metrics.column_names
    ]
    idx = pc.index_in(metrics["title_id"], value_set=titles["title_id"].combine_chunks())
    out = metrics
    for c in keep:
        out = out.append_column(c, titles[c].take(idx))
    genre = _primary_genre(titles).take(idx)
    return out.append_column("genre", pc.fill_null(genre, "unknown"))


def scorecard(metrics: pa.Table, titles: pa.Table, previous: pa.Table | None = None) -> pa.Table:
    """Title scorecard: metrics with rank within genre and release year, trend and cost per view.

    Parameters
    ----------
    metrics : one row per title (``title_metrics_sql(period='all')`` over the current period).
    titles : the titles table (name, genres, release_year, cost).
    previous : the same metrics over the previous period, or None.

    Returns
    -------
    ``title_id, name, genre, release_year, views, hours, members, completion_rate,
    rank_in_genre, rank_in_year, views_previous, trend, cost, cost_per_view`` sorted by views;
    *trend* = views / views_previous - 1 (null without a previous value), *cost_per_view* =
    cost / views (null when the cost is unknown).
    """
    if "title_id" not in metrics.column_names or "views" not in metrics.column_names:
        raise DataError("scorecard needs metrics with title_id and views columns")
    m = _join_titles(metrics.select([c for c in metrics.column_names if c != "period"]), titles)
    views = _col(m, "views")
    genre = np.asarray(pc.fill_null(m["genre"], "unknown").to_pylist(), dtype=object)
    year = _col(m, "release_year", -1)
    prev = np.full(m.num_rows, np.nan)
    if previous is not None and previous.num_rows:
        p = previous.select(["title_id", "views"]).rename_columns(["title_id", "views_previous"])
        joined = m.select(["title_id"]).join(p, "title_id", join_type="left outer")
        idx = pc.index_in(m["title_id"], joined["title_id"])
        prev = _col(joined, "views_previous")[np.asarray(idx.to_numpy(zero_copy_only=False))]
    cost = _col(m, "cost")
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = np.where(prev > 0, views / prev - 1.0, np.nan)
        cpv = np.where((views > 0) & ~np.isnan(cost), cost / views, np.nan)
    out = pa.table(
        {
            "title_id": m["title_id"],
            "name": m["name"] if "name" in m.column_names else m["title_id"],
            "genre": pa.array(genre.tolist(), pa.string()),
            "release_year": m["release_year"]
            if "release_year" in m.column_names
            else pa.nulls(m.num_rows, pa.int64()),
            "views": views,
            "hours": _col(m, "hours"),
            "members": m["members"]
            if "members" in m.column_names
            else pa.nulls(m.num_rows, pa.int64()),
            "completion_rate": _col(m, "completion_rate"),
            "rank_in_genre": group_rank(genre, views),
            "rank_in_year": group_rank(year, views),
            "views_previous": pa.array(prev, from_pandas=True),
            "trend": pa.array(trend, from_pandas=True),
            "cost": pa.array(cost, from_pandas=True),
            "cost_per_view": pa.array(cpv, from_pandas=True),
        }
    )
    return out.sort_by([("views", "descending")])


def _design(m: pa.Table, audience: pa.Table | None, ref_year: int) -> tuple[np.ndarray, list[str]]:
    """Feature matrix of the performance model: genres, age, kind, language, audience mix."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    if "genres" in m.column_names:
        lists = m["genres"].to_pylist()
        vocab = sorted({g for gl in lists if gl for g in gl})
        pos = {g: i for i, g in enumerate(vocab)}
        gm = np.zeros((m.num_rows, len(vocab)))
        for i, gl in enumerate(lists):  # title-sized loop, not event-sized
            for g in gl or []:
                gm[i, pos[g]] = 1.0
        cols.append(gm)
        names += [f"genre={g}" for g in vocab]
    age = ref_year - _col(m, "release_year", ref_year)
    cols.append(np.clip(age, 0, 80)[:, None])
    names.append("age_years")
    if "kind" in m.column_names:
        kind = np.asarray(pc.fill_null(m["kind"], "movie").to_pylist(), dtype=object)
        cols.append((kind == "series").astype(float)[:, None])
        names.append("kind=series")
    if "language" in m.column_names:
        lang = np.asarray(pc.fill_null(m["language"], "?").to_pylist(), dtype=object)
        for code in sorted(set(lang.tolist())):
            cols.append((lang == code).astype(float)[:, None])
            names.append(f"language={code}")
    if audience is not None and audience.num_rows:
        bands = sorted(set(audience["age_band"].to_pylist()))
        ids = m["title_id"]
        share = np.zeros((m.num_rows, len(bands)))
        row_i = np.asarray(pc.fill_null(pc.index_in(audience["title_id"], ids), -1).to_numpy())
        ok = row_i >= 0
        band_i = np.searchsorted(bands, np.asarray(audience["age_band"].to_pylist(), dtype=object))
        h = _col(audience, "hours", 0.0)
        np.add.at(share, (row_i[ok], band_i[ok]), h[ok])
        tot = share.sum(1, keepdims=True)
        share = np.divide(share, tot, out=np.zeros_like(share), where=tot > 0)
        cols.append(share)
        names += [f"audience {b}" for b in bands]
    return np.hstack(cols), names


def performance_residuals(
    metrics: pa.Table,
    titles: pa.Table,
    *,
    audience: pa.Table | None = None,
    alpha: float = 1.0,
    z_threshold: float = 2.0,
    ref_year: int | None = None,
) -> pa.Table:
    """Over- and under-performers: residuals of a ridge model of log views.

    The model predicts ``log(1 + views)`` from genres, age since release, kind, language and
    (optionally) the audience's age mix; a title whose actual views are far above (below) what
    titles like it get is an over- (under-) performer.

    Parameters
    ----------
    metrics : one row per title with ``title_id, views`` (and ``members``).
    titles : the titles table.
    audience : ``audience_sql()`` result (``title_id, age_band, hours``) or None.
    alpha : ridge penalty.
    z_threshold : |standardised residual| above which a title is labelled.

    Returns
    -------
    ``title_id, name, views, expected_views, residual, z, label, drivers`` sorted by ``z``
    (descending); *residual* is on the log scale, *drivers* names the three features that
    raise or lower the expectation most.
    """
    from sklearn.linear_model import Ridge

    m = _join_titles(metrics.select([c for c in metrics.column_names if c != "period"]), titles)
    if m.num_rows < 5:
        raise DataError(f"need at least 5 titles to model performance, got {m.num_rows}")
    if ref_year is None:
        ref_year = int(np.nanmax(_col(m, "release_year", 2000)))
    X, names = _design(m, audience, ref_year)
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1.0
    Z = (X - mu) / sd
    y = np.log1p(np.maximum(_col(m, "views", 0.0), 0.0))
    model = Ridge(alpha=alpha).fit(Z, y)
    pred = model.predict(Z)
    res = y - pred
    scale = 1.4826 * np.median(np.abs(res - np.median(res))) or float(res.std()) or 1.0
    z = res / scale
    contrib = Z * model.coef_[None, :]
    top = np.argsort(-np.abs(contrib), axis=1)[:, :3]
    drivers = [
        ", ".join(f"{names[j]} {contrib[i, j]:+.2f}" for j in top[i]) for i in range(m.num_rows)
    ]
    label = np.where(z >= z_threshold, "over", np.where(z <= -z_threshold, "under", "as expected"))
    out = pa.table(
        {
            "title_id": m["title_id"],
            "name": m["name"] if "name" in m.column_names else m["title_id"],
            "members": m["members"]
            if "members" in m.column_names
            else pa.nulls(m.num_rows, pa.int64()),
            "views": np.expm1(y),
            "expected_views": np.expm1(pred),
            "residual": res,
            "z": z,
            "label": label.tolist(),
            "drivers": drivers,
        }
    )
    return out.sort_by([("z", "descending")])


def renewal_candidates(engagement: pa.Table, *, kind: str | None = "series") -> pa.Table:
    """Rank shows for renewal by engagement and by retention of the members who watched them.

    Score = mean of the percentile ranks of views, completion rate and retained rate
    (``renewal_sql`` result); ``kind`` keeps only shows of that kind (None: all).

    Returns
    -------
    The input columns plus ``engagement_pct, retention_pct, score`` sorted by score.
    """
    t = engagement
    if kind is not None and "kind" in t.column_names:
        t = t.filter(pc.equal(pc.fill_null(t["kind"], ""), kind))
    n = t.num_rows
    if n == 0:
        return t.append_column("score", pa.array([], pa.float64()))

    def pct(x: np.ndarray) -> np.ndarray:
        x = np.where(np.isnan(x), -np.inf, x)
        r = np.argsort(np.argsort(x, kind="stable"), kind="stable")
        return (r + 1) / n

    eng = (pct(_col(t, "views")) + pct(_col(t, "completion_rate"))) / 2
    ret = pct(_col(t, "retained_rate"))
    score = (2 * eng + ret) / 3
    t = t.append_column("engagement_pct", pa.array(eng))
    t = t.append_column("retention_pct", pa.array(ret))
    t = t.append_column("score", pa.array(score))
    return t.sort_by([("score", "descending")])
