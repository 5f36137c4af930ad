"""Genre trends: share of hours by genre over time, by country or demographic, with growth and
a test of whether a change is real.

A title's hours are split equally over its genres, so genre shares within a period and group
sum to 1. The change between consecutive periods is tested as a two-proportion z-test on the
genre's share of *starts* (plays are the countable unit; hours are not counts), and the
p-values of all rows are adjusted with Holm's step-down method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from reelmine.content._sql import check_dims, enriched_plays, period_expr
from reelmine.errors import DataError

GENRE_WEIGHTS = """g AS (SELECT t.title_id, gg.genre, 1.0 / cardinality(t.genres) AS w
  FROM titles t, UNNEST(t.genres) AS gg(genre))"""


def genre_share_sql(
    *,
    period: str = "month",
    by: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
) -> str:
    """SQL of genre shares per period (and breakdown).

    Result: ``period, <by...>, genre, hours, starts, members, share, total_hours,
    total_starts`` where *share* = genre hours / all hours of the period and group.
    """
    dims = check_dims(list(by))
    dsel = "".join(f", ep.{d}" for d in dims)
    ssel = "".join(f", s.{d}" for d in dims)
    dgrp = "".join(f", {d}" for d in dims)
    part = ", ".join(["period"] + list(dims))
    per = period_expr(period, "ep.started_at")
    # Aggregate to (period, group, show, member) first: far fewer rows to expand by genre.
    return f"""WITH {enriched_plays(since, until)},
{GENRE_WEIGHTS},
s AS (
  SELECT {per} AS period{dsel}, ep.show_id, ep.user_id, sum(ep.secs) AS secs,
    sum(ep.started) AS started
  FROM ep GROUP BY {per}{dsel}, ep.show_id, ep.user_id
),
a AS (
  SELECT s.period{ssel}, g.genre, sum(s.secs * g.w) / 3600.0 AS hours,
    sum(s.started * g.w) AS starts, count(DISTINCT s.user_id) AS members
  FROM s JOIN g ON s.show_id = g.title_id
  GROUP BY s.period{ssel}, g.genre
)
SELECT period{dgrp}, genre, hours, starts, members,
  hours / nullif(sum(hours) OVER (PARTITION BY {part}), 0) AS share,
  sum(hours) OVER (PARTITION BY {part}) AS total_hours,
  sum(starts) OVER (PARTITION BY {part}) AS total_starts
FROM a ORDER BY period{dgrp}, share DESC"""


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as ``p``)."""
    p = np.asarray(p, dtype=float)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    adj = np.maximum.accumulate((n - np.arange(n)) * p[order])
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def two_proportion_p(x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """Two-sided p-values of the pooled two-proportion z-test (1.0 where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        pool = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
        z = (p2 - p1) / se
    p = 2 * stats.norm.sf(np.abs(z))
    return np.where(np.isfinite(p), p, 1.0)


def genre_trends(shares: pa.Table, *, alpha: float = 0.05) -> pa.Table:
    """Growth of each genre's share between consecutive periods, with a Holm-adjusted test.

    Parameters
    ----------
    shares : ``genre_share_sql`` result.
    alpha : family-wise error rate for the ``significant`` flag.

    Returns
    -------
    The input rows that have a previous period, plus ``previous_period, share_previous,
    share_change`` (points), ``growth`` (relative), ``p_value``, ``p_holm``, ``significant``.
    """
    need = ("period", "genre", "share", "starts", "total_starts")
    for c in need:
        if c not in shares.column_names:
            raise DataError(f"genre shares need a {c!r} column")
    dims = [
        c
        for c in shares.column_names
        if c
        not in (
            "period",
            "genre",
            "hours",
            "starts",
            "members",
            "share",
            "total_hours",
            "total_starts",
        )
    ]
    n = shares.num_rows
    if n == 0:
        return shares
    key_cols = [*dims, "genre"]
    key = np.asarray(
        pc.binary_join_element_wise(
            *[pc.cast(shares[c], pa.string()) for c in key_cols], "\x1f"
        ).to_pylist()
        if len(key_cols) > 1
        else shares["genre"].to_pylist(),
        dtype=object,
    )
    per = np.asarray(pc.cast(shares["period"], pa.string()).to_pylist(), dtype=object)
    _, kk = np.unique(key.astype(str), return_inverse=True)
    _, pp = np.unique(per.astype(str), return_inverse=True)
    order = np.lexsort((pp, kk))
    same = np.r_[False, kk[order][1:] == kk[order][:-1]]
    cur, prev = order[same], order[np.flatnonzero(same) - 1]
    f = lambda c: np.asarray(pc.fill_null(shares[c], 0).cast(pa.float64()).to_numpy())  # noqa: E731
    share, starts, tot = f("share"), f("starts"), f("total_starts")
    p = two_proportion_p(starts[prev], tot[prev], starts[cur], tot[cur])
    adj = holm(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(share[prev] > 0, share[cur] / share[prev] - 1.0, np.nan)
    out = shares.take(pa.array(cur))
    out = out.append_column("previous_period", shares["period"].take(pa.array(prev)))
    out = out.append_column("share_previous", pa.array(share[prev]))
    out = out.append_column("share_change", pa.array(share[cur] - share[prev]))
    out = out.append_column("growth", pa.array(growth, from_pandas=True))
    out = out.append_column("p_value", pa.array(p))
    out = out.append_column("p_holm", pa.array(adj))
    out = out.append_column("significant", pa.array(adj < alpha))
    return out.sort_by([("p_holm", "ascending")])
