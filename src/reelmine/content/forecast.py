"""Demand forecast for a new title: first-28-day views per country from metadata and the
performance of its most similar existing titles.

Titles are embedded with the content model of :mod:`reelmine.recommend.content` (TF-IDF of
genres, description words, language and decade, compressed by SVD). For a title, the *neighbour
signal* is the similarity-weighted mean log views of its ``n_neighbors`` most similar existing
titles. A ridge model of ``log(1 + views)`` on that signal and on metadata (genres, release year,
log runtime, kind, language, and ``is_launch``) learns from two kinds of rows: launches whose
first window is complete (``is_launch = 1``) and, when given, existing titles' views over a
recent reference window (``is_launch = 0``), so a few launches suffice to learn the launch lift.
The interval comes from the empirical quantiles of training residuals (log scale); country
forecasts split the total by the neighbours' country mix, restricted to where the title is
available.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content._sql import enriched_plays, show_runtime
from reelmine.errors import DataError, NotFittedError

TS = pa.timestamp("us", tz="UTC")
DAY_US = 86_400_000_000


def first_views_sql(*, horizon_days: int = 28) -> str:
    """SQL of views in each show's first ``horizon_days`` after ``added_at``, per country.

    Result: ``title_id, country, added_at, views, members, complete`` where *complete* is true
    when the data cover the whole window (``added_at`` to ``added_at + horizon_days``).
    Shows never played in the window are absent (callers treat them as zero).
    """
    h = int(horizon_days)
    return f"""WITH {enriched_plays()},
{show_runtime()},
a AS (SELECT coalesce(series_id, title_id) AS show_id, min(added_at) AS added_at FROM titles
  WHERE added_at IS NOT NULL GROUP BY coalesce(series_id, title_id)),
lp AS (SELECT min(started_at) AS first_play, max(started_at) AS last_play FROM plays)
SELECT ep.show_id AS title_id, ep.country, max(a.added_at) AS added_at,
  sum(ep.secs) / nullif(max(sr.runtime_s), 0) AS views, count(DISTINCT ep.user_id) AS members,
  max(CASE WHEN a.added_at >= lp.first_play AND a.added_at + INTERVAL '{h}' DAY <= lp.last_play
    THEN 1 ELSE 0 END) = 1 AS complete
FROM ep JOIN a ON ep.show_id = a.show_id CROSS JOIN lp
LEFT JOIN sr ON ep.show_id = sr.show_id
WHERE ep.started_at >= a.added_at AND ep.started_at < a.added_at + INTERVAL '{h}' DAY
GROUP BY ep.show_id, ep.country"""


def reference_views_sql(*, until: str, days: int = 28, settle_days: int = 14) -> str:
    """SQL of existing titles' views per country over ``[until - days, until)``.

    Only shows added at least ``settle_days`` before the window are kept (their launch lift
    has faded). Result: ``title_id, country, views, members``.
    """
    from datetime import date, timedelta

    from reelmine.content._sql import time_filter

    end = date.fromisoformat(str(until)[:10])
    start = end - timedelta(days=int(days))
    settled = start - timedelta(days=int(settle_days))
    return f"""WITH {enriched_plays(start.isoformat(), end.isoformat())},
{show_runtime()},
a AS (SELECT coalesce(series_id, title_id) AS show_id, min(added_at) AS added_at FROM titles
  GROUP BY coalesce(series_id, title_id))
SELECT ep.show_id AS title_id, ep.country,
  sum(ep.secs) / nullif(max(sr.runtime_s), 0) AS views, count(DISTINCT ep.user_id) AS members
FROM ep JOIN a ON ep.show_id = a.show_id LEFT JOIN sr ON ep.show_id = sr.show_id
WHERE (a.added_at IS NULL{
        time_filter("a.added_at", None, settled.isoformat()).replace(" AND ", " OR ", 1)
    })
GROUP BY ep.show_id, ep.country"""


def first_ratings_sql(*, horizon_days: int = 365) -> str:
    """SQL of ratings in each title's first ``horizon_days`` after its first rating (MovieLens
    demand proxy): ``title_id, country, added_at, views, members, complete``."""
    h = int(horizon_days)
    return f"""WITH f AS (
  SELECT title_id, min(rated_at) AS added_at FROM ratings GROUP BY title_id),
lr AS (SELECT max(rated_at) AS last_rating FROM ratings)
SELECT r.title_id, 'all' AS country, max(f.added_at) AS added_at,
  CAST(count(*) AS DOUBLE) AS views,
  count(DISTINCT r.user_id) AS members,
  max(CASE WHEN f.added_at + INTERVAL '{h}' DAY <= lr.last_rating THEN 1 ELSE 0 END) = 1
    AS complete
FROM ratings r JOIN f ON r.title_id = f.title_id CROSS JOIN lr
WHERE r.rated_at < f.added_at + INTERVAL '{h}' DAY
GROUP BY r.title_id"""


def _totals(per_country: pa.Table) -> dict[str, float]:
    g = per_country.group_by("title_id").aggregate([("views", "sum")])
    return dict(zip(g["title_id"].to_pylist(), g["views_sum"].to_pylist(), strict=True))


def _country_mix(per_country: pa.Table, ids: list[str], countries: list[str]) -> np.ndarray:
    pos = {t: i for i, t in enumerate(ids)}
    cpos = {c: j for j, c in enumerate(countries)}
    mix = np.zeros((len(ids), len(countries)))
    r = np.array([pos.get(t, -1) for t in per_country["title_id"].to_pylist()])
    c = np.array([cpos.get(x, -1) for x in per_country["country"].to_pylist()])
    v = np.asarray(pc.fill_null(per_country["views"], 0.0).to_numpy(), dtype=float)
    ok = (r >= 0) & (c >= 0)
    np.add.at(mix, (r[ok], c[ok]), v[ok])
    return mix


class DemandForecaster:
    """First-window demand of new titles from metadata and their most similar existing titles.

    Parameters
    ----------
    n_neighbors : similar existing titles per forecast.
    alpha : ridge penalty.
    coverage : central coverage of the interval (e.g. 0.8 -> 10%..90% residual quantiles).
    n_components : dimensions of the content vectors.
    random_state : seed of the content model's SVD.
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 10,
        alpha: float = 3.0,
        coverage: float = 0.8,
        n_components: int = 32,
        random_state: int | None = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.coverage = coverage
        self.n_components = n_components
        self.random_state = random_state

    # -- features ---------------------------------------------------------------------------
    def _meta(self, titles: pa.Table) -> np.ndarray:
        n = titles.num_rows
        cols: list[np.ndarray] = []
        lists = titles["genres"].to_pylist() if "genres" in titles.column_names else [[]] * n
        gm = np.zeros((n, len(self.genres_)))
        pos = {g: i for i, g in enumerate(self.genres_)}
        for i, gl in enumerate(lists):  # title-sized
            for g in gl or []:
                if g in pos:
                    gm[i, pos[g]] = 1.0 / max(len(gl), 1)
        cols.append(gm)

        def num(name: str, fill: float) -> np.ndarray:
            if name not in titles.column_names:
                return np.full(n, fill)
            return np.asarray(pc.fill_null(titles[name].cast(pa.float64()), fill).to_numpy())

        age = np.clip(self.newest_year_ - num("release_year", self.newest_year_), 0, 30)
        cols.append(age[:, None] / 10.0)
        # Reach: share of the audience living where the title is available (empty = all).
        reach = np.ones(n)
        if "countries" in titles.column_names:
            cw = dict(zip(self.countries_, self.country_weight_, strict=True))
            for i, cs in enumerate(titles["countries"].to_pylist()):  # title-sized
                if cs:
                    reach[i] = sum(cw.get(c, 0.0) for c in cs)
        cols.append(np.log(np.maximum(reach, 1e-3))[:, None])
        rt = num("runtime_minutes", np.nan)
        cols.append(np.log(np.where(np.isnan(rt) | (rt <= 0), 100.0, rt))[:, None])
        for name, vocab in (("kind", self.kinds_), ("language", self.languages_)):
            vals = titles[name].to_pylist() if name in titles.column_names else [None] * n
            cols.append(
                np.array([[v == k for k in vocab] for v in vals], dtype=float).reshape(
                    n, len(vocab)
                )
            )
        return np.hstack(cols)

    def _neighbours(
        self, vecs: np.ndarray, exclude: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        sims = vecs @ self.pool_vectors_.T
        if exclude is not None:  # leave-one-out for pool members
            rows = np.flatnonzero(exclude >= 0)
            sims[rows, exclude[rows]] = -np.inf
        k = min(self.n_neighbors, sims.shape[1] - (exclude is not None))
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, idx, 1)
        o = np.argsort(-s, axis=1)
        return np.take_along_axis(idx, o, 1), np.take_along_axis(s, o, 1)

    def _signal(self, idx: np.ndarray, s: np.ndarray) -> np.ndarray:
        w = np.maximum(s, 0) + 1e-6
        return (w * self.pool_logv_[idx]).sum(1) / w.sum(1)

    def _design(
        self, titles: pa.Table, vecs: np.ndarray, launch: np.ndarray, exclude: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx, s = self._neighbours(vecs, exclude)
        X = np.hstack([self._signal(idx, s)[:, None], self._meta(titles), launch[:, None]])
        return X, idx, s

    # -- fit / predict ----------------------------------------------------------------------
    def fit(self, titles: pa.Table, targets: pa.Table, *, history: pa.Table | None = None) -> Self:
        """Learn from launches (``targets``) and optionally existing titles (``history``).

        Parameters
        ----------
        titles : catalogue rows (title_id, genres, description, language, release_year,
            runtime_minutes, kind, countries) covering every title named below.
        targets : ``title_id, country, views`` in each launch's first window.
        history : ``title_id, country, views`` of existing titles over a reference window.
        """
        from sklearn.linear_model import Ridge

        from reelmine.recommend.content import ContentModel

        tgt = _totals(targets)
        hist = _totals(history) if history is not None else {}
        ids = titles["title_id"].to_pylist()
        tpos = {t: i for i, t in enumerate(ids)}
        missing = [t for t in list(tgt) + list(hist) if t not in tpos]
        if missing:
            raise DataError(f"title {missing[0]!r} has views but no row in titles")
        if len(tgt) < 3:
            raise DataError(f"need at least 3 launches with complete windows, got {len(tgt)}")
        self.genres_ = (
            sorted({g for gl in titles["genres"].to_pylist() if gl for g in gl})
            if "genres" in titles.column_names
            else []
        )
        self.kinds_ = (
            sorted({k for k in titles["kind"].to_pylist() if k})
            if ("kind" in titles.column_names)
            else []
        )
        self.languages_ = (
            sorted({k for k in titles["language"].to_pylist() if k})
            if ("language" in titles.column_names)
            else []
        )
        years = titles["release_year"] if "release_year" in titles.column_names else None
        self.newest_year_ = float(pc.max(years).as_py() or 2000) if years is not None else 2000.0
        n = titles.num_rows
        self.content_ = ContentModel(
            n_components=self.n_components, random_state=self.random_state
        ).fit(np.zeros((1, n), dtype=np.float32), titles=titles)
        vec_all = self.content_.item_vectors_
        pool_ids = list(hist) if hist else list(tgt)
        pool_views = hist if hist else tgt
        pool_rows = np.array([tpos[t] for t in pool_ids])
        self.pool_ids_ = pool_ids
        self.pool_vectors_ = vec_all[pool_rows]
        self.pool_logv_ = np.log1p(np.array([pool_views[t] for t in pool_ids], dtype=float))
        countries = sorted(
            set((history if history is not None else targets)["country"].to_pylist())
            | set(targets["country"].to_pylist())
        )
        self.countries_ = countries
        mix = _country_mix(history if history is not None else targets, pool_ids, countries)
        self.pool_mix_ = mix / np.maximum(mix.sum(1, keepdims=True), 1e-12)
        self.country_weight_ = mix.sum(0) / max(mix.sum(), 1e-12)
        pool_pos = {t: i for i, t in enumerate(pool_ids)}
        rows_ids = list(tgt) + (list(hist) if hist else [])
        y = np.log1p(np.array([tgt[t] for t in tgt] + [hist[t] for t in hist], dtype=float))
        launch = np.r_[np.ones(len(tgt)), np.zeros(len(hist))]
        rows = np.array([tpos[t] for t in rows_ids])
        exclude = np.array([pool_pos.get(t, -1) for t in rows_ids])
        X, _, _ = self._design(titles.take(pa.array(rows)), vec_all[rows], launch, exclude)
        self.mu_, self.sd_ = X.mean(0), X.std(0)
        self.sd_[self.sd_ == 0] = 1.0
        self.model_ = Ridge(alpha=self.alpha).fit((X - self.mu_) / self.sd_, y)
        res = (y - self.model_.predict((X - self.mu_) / self.sd_))[launch == 1]
        lo_q = (1 - self.coverage) / 2
        q = np.quantile(res, [lo_q, 1 - lo_q]) if len(res) >= 5 else np.array([-1.0, 1.0])
        self.res_lo_: float = float(q[0])
        self.res_hi_: float = float(q[1])
        self.n_launches_, self.n_history_ = len(tgt), len(hist)
        return self

    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("DemandForecaster is not fitted; call fit first")

    def predict(self, titles: pa.Table) -> pa.Table:
        """Forecast each title's first-window views.

        Returns
        -------
        ``title_id, forecast, lower, upper, similar_titles, similarities`` (views; the similar
        titles are the existing titles whose performance drove the neighbour signal).
        """
        self._check()
        vecs = self.content_.transform_titles(titles)
        X, idx, s = self._design(titles, vecs, np.ones(titles.num_rows), None)
        pred = self.model_.predict((X - self.mu_) / self.sd_)
        pool = np.asarray(self.pool_ids_, dtype=object)
        return pa.table(
            {
                "title_id": titles["title_id"],
                "forecast": np.expm1(pred).clip(0),
                "lower": np.expm1(pred + self.res_lo_).clip(0),
                "upper": np.expm1(pred + self.res_hi_).clip(0),
                "similar_titles": pa.array([pool[r].tolist() for r in idx], pa.list_(pa.string())),
                "similarities": pa.array(
                    [np.round(r, 4).tolist() for r in s], pa.list_(pa.float64())
                ),
            }
        )

    def predict_countries(self, titles: pa.Table) -> pa.Table:
        """Country split of :meth:`predict`: ``title_id, country, forecast, lower, upper``.

        Each title's total is split by its neighbours' (similarity-weighted) country mix,
        zeroed where ``titles.countries`` says the title is unavailable and renormalised.
        """
        self._check()
        tot = self.predict(titles)
        vecs = self.content_.transform_titles(titles)
        idx, s = self._neighbours(vecs, None)
        w = np.maximum(s, 0) + 1e-6
        mix = (w[:, :, None] * self.pool_mix_[idx]).sum(1) / w.sum(1)[:, None]
        if "countries" in titles.column_names:
            avail = titles["countries"].to_pylist()
            for i, cs in enumerate(avail):  # title-sized
                if cs:
                    mix[i, [j for j, c in enumerate(self.countries_) if c not in cs]] = 0.0
        mix /= np.maximum(mix.sum(1, keepdims=True), 1e-12)
        n, c = mix.shape
        rep = np.repeat(np.arange(n), c)
        share = mix.ravel()
        cols: dict[str, Any] = {
            "title_id": tot["title_id"].take(pa.array(rep)),
            "country": pa.array(
                np.tile(np.asarray(self.countries_, dtype=object), n).tolist(), pa.string()
            ),
        }
        for k in ("forecast", "lower", "upper"):
            cols[k] = np.asarray(tot[k].to_numpy())[rep] * share
        return pa.table(cols)


def _to_us(value: Any) -> int:
    """Microseconds since the epoch (UTC) of a datetime, date or ISO string."""
    from datetime import UTC, date, datetime

    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DataError(f"cutoff must be an ISO date or time, not {value!r}") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise DataError(f"cutoff must be a date or datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(round(value.timestamp() * 1_000_000))


def forecast_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, MAPE (over titles with positive demand) and Spearman rank correlation."""
    from scipy.stats import spearmanr

    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    pos = y_true > 0
    constant = len(y_true) < 3 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    rho = np.nan if constant else spearmanr(y_true, y_pred).statistic
    return {
        "mae": float(np.mean(np.abs(y_true - y_pred))),
        "mape": float(np.mean(np.abs(y_true[pos] - y_pred[pos]) / y_true[pos]))
        if pos.any()
        else float("nan"),
        "spearman": float(rho) if np.isfinite(rho) else float("nan"),
    }


def evaluate_forecast(
    titles: pa.Table,
    first: pa.Table,
    cutoff: Any,
    *,
    history: pa.Table | None = None,
    horizon_days: int = 28,
    **params: Any,
) -> pa.Table:
    """Time-split evaluation of :class:`DemandForecaster` against genre-mean and
    catalogue-mean baselines.

    Parameters
    ----------
    titles : catalogue (one row per show).
    first : ``first_views_sql`` (or ``first_ratings_sql``) result.
    cutoff : split time (datetime or ISO string). Training launches: complete windows that end
        before it; test launches: added at or after it with complete windows.
    history : existing titles' views over a reference window ending at ``cutoff``.
    horizon_days : the window length of ``first`` (to decide which training windows closed).

    Returns
    -------
    ``method, mae, mape, spearman, n_train, n_test``: rows ``model``, ``genre_mean``,
    ``catalogue_mean``.
    """
    cut_us = _to_us(cutoff)
    added = np.asarray(first["added_at"].cast(TS).cast(pa.int64()).to_numpy(), dtype=np.int64)
    complete = np.asarray(first["complete"].to_numpy(zero_copy_only=False), dtype=bool)
    train_m = complete & (added + horizon_days * DAY_US <= cut_us)
    test_m = complete & (added >= cut_us)
    train, test = first.filter(pa.array(train_m)), first.filter(pa.array(test_m))
    test_tot = _totals(test)
    train_tot = _totals(train)
    if len(test_tot) < 3:
        raise DataError(
            f"only {len(test_tot)} launches with a complete {horizon_days}-day window were "
            "added at or after the cutoff; move the cutoff earlier (the data must cover "
            "launches on both sides of it, each followed by a whole window)"
        )
    model = DemandForecaster(**params).fit(titles, train, history=history)
    test_ids = list(test_tot)
    idx = pc.index_in(pa.array(test_ids), value_set=titles["title_id"].combine_chunks())
    new_titles = titles.take(idx)
    pred = np.asarray(model.predict(new_titles)["forecast"].to_numpy())
    y = np.array([test_tot[t] for t in test_ids])
    # Baselines over the same training launches.
    tr_ids = list(train_tot)
    tr_y = np.array([train_tot[t] for t in tr_ids])
    pos = {t: i for i, t in enumerate(titles["title_id"].to_pylist())}
    g_all = titles["genres"].to_pylist()

    def first_genre(t: str) -> str:
        gl = g_all[pos[t]]
        return gl[0] if gl else "unknown"

    cat_mean = float(tr_y.mean())
    by_genre: dict[str, list[float]] = {}
    for t, v in zip(tr_ids, tr_y, strict=True):  # training launches (title-sized)
        by_genre.setdefault(first_genre(t), []).append(float(v))
    genre_pred = np.array([np.mean(by_genre.get(first_genre(t), [cat_mean])) for t in test_ids])
    rows = [
        ("model", forecast_metrics(y, pred)),
        ("genre_mean", forecast_metrics(y, genre_pred)),
        ("catalogue_mean", forecast_metrics(y, np.full(len(y), cat_mean))),
    ]
    return pa.table(
        {
            "method": [r[0] for r in rows],
            "mae": [r[1]["mae"] for r in rows],
            "mape": [r[1]["mape"] for r in rows],
            "spearman": [r[1]["spearman"] for r in rows],
            "n_train": [len(tr_ids)] * 3,
            "n_test": [len(test_ids)] * 3,
        }
    )
