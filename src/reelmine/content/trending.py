"""Trending detection: bursts of daily views per title (or genre) above the title's baseline.

The expected count of title *k* on day *d* is ``share_k x total_d``: the day's platform volume
(which carries weekly seasonality, growth and churn) times the title's usual share of it. The
share is estimated robustly (mean over days not flagged in a first pass), so a burst does not
inflate its own baseline. A day is *hot* when its count passes a variance-stabilised Poisson
z-score, a minimum ratio and a minimum count; consecutive hot days form one burst with
``start`` (first day, UTC midnight), ``end`` (day after the last, exclusive) and ``strength``
(observed / expected over the burst).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from reelmine.content._sql import calendar, enriched_plays, show_runtime
from reelmine.errors import ConfigError, DataError

DAY_US = 86_400_000_000
TS = pa.timestamp("us", tz="UTC")


def daily_views_sql(
    *, level: str = "show", since: str | None = None, until: str | None = None
) -> str:
    """SQL of daily activity per show (``level='show'``), played title (``'title'``) or genre.

    Result: ``key, day, starts, views, members`` where *starts* counts plays whose video started
    and *views* = hours / runtime (for genres: views split equally over a title's genres).
    """
    if level not in ("show", "title", "genre"):
        raise ConfigError(f"level must be show, title or genre, not {level!r}")
    if level == "genre":
        # Days stay day numbers (ep.dn) until the rows are few (see calendar()). Sums need
        # only (show, day) rows; distinct members come from one pass over plays x genres.
        return f"""WITH {enriched_plays(since, until)},
{show_runtime()},
{calendar()},
g AS (SELECT t.title_id, gg.genre, 1.0 / cardinality(t.genres) AS w
  FROM titles t, UNNEST(t.genres) AS gg(genre)),
sd AS (SELECT ep.show_id, ep.dn, sum(ep.started) AS started, sum(ep.secs) AS secs
  FROM ep GROUP BY ep.show_id, ep.dn),
v AS (SELECT g.genre AS key, sd.dn, sum(sd.started * g.w) AS starts,
  sum(g.w * sd.secs / nullif(sr.runtime_s, 0)) AS views
  FROM sd JOIN g ON sd.show_id = g.title_id LEFT JOIN sr ON sd.show_id = sr.show_id
  GROUP BY g.genre, sd.dn),
mm AS (SELECT g.genre AS key, ep.dn, count(DISTINCT ep.user_id) AS members
  FROM ep JOIN g ON ep.show_id = g.title_id GROUP BY g.genre, ep.dn)
SELECT v.key, CAST(cal.d0 AS DATE) AS day, v.starts, v.views, mm.members
FROM v JOIN mm ON v.key = mm.key AND v.dn = mm.dn JOIN cal ON v.dn = cal.dn"""
    key = "show_id" if level == "show" else "title_id"
    rt = "sr.runtime_s" if level == "show" else "ep.runtime_s"
    return f"""WITH {enriched_plays(since, until)},
{show_runtime()},
{calendar()},
a AS (SELECT ep.{key} AS key, ep.dn,
  CAST(sum(ep.started) AS BIGINT) AS starts,
  sum(ep.secs / nullif({rt}, 0)) AS views, count(DISTINCT ep.user_id) AS members
FROM ep LEFT JOIN sr ON ep.show_id = sr.show_id
GROUP BY ep.{key}, ep.dn)
SELECT a.key, CAST(cal.d0 AS DATE) AS day, a.starts, a.views, a.members
FROM a JOIN cal ON a.dn = cal.dn"""


def _day_index(days: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(days, pa.date32()).cast(pa.int32()).to_numpy(), dtype=np.int64)


def _z(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    # Anscombe-style variance-stabilised Poisson score: ~N(0,1) for x ~ Poisson(e).
    return 2.0 * (np.sqrt(x + 3.0 / 8.0) - np.sqrt(e + 3.0 / 8.0))


def detect_bursts(
    daily: pa.Table,
    *,
    count: str = "members",
    z_threshold: float | None = None,
    alpha: float = 0.05,
    min_ratio: float = 2.0,
    min_count: float = 5.0,
    available_from: pa.Table | None = None,
    launch_days: int = 14,
    max_gap: int = 1,
    max_window: int = 3,
    edge_ratio: float = 1.5,
) -> pa.Table:
    """Detect bursts in daily counts.

    Parameters
    ----------
    daily : ``key, day, <count>, members`` rows (``daily_views_sql``); missing days count 0.
    count : column to test: ``members`` (distinct members per day; robust to binges),
        ``starts`` or ``views`` (rounded).
    z_threshold : variance-stabilised Poisson z a hot window must exceed; default (``None``)
        the Bonferroni bound for ``alpha`` over every (key, window) scanned, so that the chance
        of any pure-noise burst in the whole answer is about ``alpha`` (a fixed z of 4 flags a
        few noise bursts per hundred thousand title-days).
    alpha : family-wise false-alarm rate behind the default ``z_threshold``.
    min_ratio : observed / expected a hot day must reach.
    min_count : observed count a hot day must reach.
    available_from : optional ``key, added_at``: days before ``added_at`` are not in the
        baseline, and the first ``launch_days`` after it are skipped (a launch is not a burst).
    max_gap : quiet days allowed inside one burst.
    max_window : longest window (days) scanned; a window of *w* days is hot when its summed
        count passes the z-score, the ratio and ``w x min_count``.
    edge_ratio : a day inside a hot window stays in the burst only above this ratio.

    Returns
    -------
    ``title_id, start, end, strength, peak_day, observed, expected, members`` sorted by
    strength; *title_id* holds the key (a genre name when the input is per genre).
    """
    for c in ("key", "day", count):
        if c not in daily.column_names:
            raise DataError(f"daily views need a {c!r} column")
    if daily.num_rows == 0:
        return _empty()
    keys, k_idx = np.unique(
        np.asarray(daily["key"].to_pylist(), dtype=object).astype(str), return_inverse=True
    )
    day = _day_index(daily["day"])
    d0 = int(day.min())
    n_d = int(day.max()) - d0 + 1
    C = np.zeros((len(keys), n_d))
    np.add.at(
        C,
        (k_idx, day - d0),
        np.round(np.asarray(pc.fill_null(daily[count], 0).cast(pa.float64()).to_numpy())),
    )
    M = np.zeros((len(keys), n_d))
    if "members" in daily.column_names:
        np.add.at(M, (k_idx, day - d0), np.asarray(daily["members"].cast(pa.float64()).to_numpy()))
    avail = np.ones_like(C, dtype=bool)
    skip = np.zeros_like(C, dtype=bool)
    if available_from is not None and available_from.num_rows:
        pos = {k: i for i, k in enumerate(keys.tolist())}
        ak = np.asarray(available_from["key"].to_pylist(), dtype=object).astype(str)
        at = available_from["added_at"].cast(TS).cast(pa.int64())
        at_day = np.asarray(pc.fill_null(at, np.iinfo(np.int64).min // 2).to_numpy()) // DAY_US
        rows = np.array([pos.get(k, -1) for k in ak.tolist()], dtype=np.int64)  # catalogue-sized
        ok = rows >= 0
        first = np.full(len(keys), -(10**9), dtype=np.int64)
        first[rows[ok]] = at_day[ok] - d0
        grid = np.arange(n_d)[None, :]
        avail = grid >= first[:, None]
        skip = grid < (first[:, None] + launch_days)
    total = C.sum(0)
    total = np.where(total > 0, total, 1.0)
    base = avail & ~skip
    clean = base.copy()
    for _ in range(2):  # share from non-hot days; the second pass drops first-pass bursts
        num = (C * clean).sum(1)
        den = (total[None, :] * clean).sum(1)
        share = np.divide(num, den, out=np.zeros(len(keys)), where=den > 0)
        E = share[:, None] * total[None, :]
        clean = base & ~(_z(C, E) > 3.0)
    E = share[:, None] * total[None, :]
    if z_threshold is None:
        # Bonferroni over the windows tested (one-sided): every key x start day x width.
        n_tests = max(int(base.sum()) * max_window, 1)
        z_threshold = float(stats.norm.isf(alpha / n_tests))
    hot = np.zeros_like(base)
    cb, eb = np.where(base, C, 0.0), np.where(base, E, 0.0)
    for w in range(1, max_window + 1):  # scan windows of w days: sustained bursts add up
        if w > n_d:
            break
        cw = np.cumsum(np.pad(cb, ((0, 0), (1, 0))), axis=1)
        ew = np.cumsum(np.pad(eb, ((0, 0), (1, 0))), axis=1)
        sc, se = cw[:, w:] - cw[:, :-w], ew[:, w:] - ew[:, :-w]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(se > 0, sc / se, np.inf)
        ok = (_z(sc, se) > z_threshold) & (r >= min_ratio) & (sc >= min_count * w)
        for s in range(w):  # mark every day the window covers
            hot[:, s : s + ok.shape[1]] |= ok
    # A window may lend heat to a quiet edge day: keep only days above the baseline.
    with np.errstate(divide="ignore", invalid="ignore"):
        hot &= base & (np.where(E > 0, C / E, np.inf) >= edge_ratio)
    # Close gaps of up to max_gap quiet days between hot days (per row, vectorised).
    if max_gap > 0:
        filled = hot.copy()
        for g in range(1, max_gap + 1):
            for s in range(1, g + 1):
                left = np.zeros_like(hot)
                right = np.zeros_like(hot)
                left[:, s:] = hot[:, :-s]
                right[:, : n_d - (g + 1 - s)] = hot[:, g + 1 - s :]
                filled |= left & right & base
        hot = filled
    padded = np.zeros((len(keys), n_d + 2), dtype=np.int8)
    padded[:, 1:-1] = hot
    diff = np.diff(padded, axis=1)
    r_s, c_s = np.nonzero(diff == 1)
    r_e, c_e = np.nonzero(diff == -1)
    if len(r_s) == 0:
        return _empty()
    cs = np.cumsum(np.pad(C, ((0, 0), (1, 0))), axis=1)
    es = np.cumsum(np.pad(E, ((0, 0), (1, 0))), axis=1)
    obs = cs[r_s, c_e] - cs[r_s, c_s]
    exp_ = es[r_s, c_e] - es[r_s, c_s]
    seg = np.where(hot, C, -1.0)
    peak = np.array(
        [c_s[i] + int(np.argmax(seg[r_s[i], c_s[i] : c_e[i]])) for i in range(len(r_s))]
    )
    mem = np.array([M[r_s[i], c_s[i] : c_e[i]].max() for i in range(len(r_s))])
    start_us = (d0 + c_s).astype(np.int64) * DAY_US
    out = pa.table(
        {
            "title_id": pa.array(keys[r_s].tolist(), pa.string()),
            "start": pa.array(start_us).cast(TS),
            "end": pa.array((d0 + c_e).astype(np.int64) * DAY_US).cast(TS),
            "strength": np.round(obs / np.maximum(exp_, 1e-9), 3),
            "peak_day": pa.array((d0 + peak).astype(np.int64) * DAY_US).cast(TS),
            "observed": obs,
            "expected": np.round(exp_, 3),
            "members": mem.astype(np.int64),
        }
    )
    return out.sort_by([("strength", "descending")])


def _empty() -> pa.Table:
    return pa.table(
        {
            "title_id": pa.array([], pa.string()),
            "start": pa.array([], TS),
            "end": pa.array([], TS),
            "strength": pa.array([], pa.float64()),
            "peak_day": pa.array([], TS),
            "observed": pa.array([], pa.float64()),
            "expected": pa.array([], pa.float64()),
            "members": pa.array([], pa.int64()),
        }
    )


def match_bursts(found: pa.Table, truth: pa.Table) -> tuple[float, float]:
    """Precision and recall of detected bursts against planted ones (same key, overlapping)."""
    fk = np.asarray(found["title_id"].to_pylist(), dtype=object)
    tk = np.asarray(truth["title_id"].to_pylist(), dtype=object)
    fs = np.asarray(found["start"].cast(pa.int64()).to_numpy())
    fe = np.asarray(found["end"].cast(pa.int64()).to_numpy())
    ts = np.asarray(truth["start"].cast(TS).cast(pa.int64()).to_numpy())
    te = np.asarray(truth["end"].cast(TS).cast(pa.int64()).to_numpy())
    hit = (fk[:, None] == tk[None, :]) & (fs[:, None] < te[None, :]) & (ts[None, :] < fe[:, None])
    precision = float(hit.any(1).mean()) if len(fk) else 1.0
    recall = float(hit.any(0).mean()) if len(tk) else 1.0
    return precision, recall
