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

from reelmine.content._sql import (
    calendar,
    check_dims,
    enriched_plays,
    period_expr,
    period_key,
)
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
    dgrp = "".join(f", {d}" for d in dims)
    asel = "".join(f", v.{d}" for d in dims)
    part = ", ".join(["period"] + list(dims))
    pk, via_cal = period_key(period)
    cal = f",\n{calendar()}" if via_cal else ""
    vsel = "".join(f", sd.{d}" for d in dims)
    on = "".join(f" AND v.{d} = mm.{d}" for d in dims)
    # Sums need only (period, group, show) rows, expanded by genre when already few; distinct
    # members come from one pass over plays x genres (cheaper than aggregating to
    # (period, group, show, member) first, which leaves almost as many rows as plays).
    return f"""WITH {enriched_plays(since, until)},
{GENRE_WEIGHTS}{cal},
sd AS (
  SELECT {pk} AS pk, min(ep.dn) AS dn0{dsel}, ep.show_id, sum(ep.secs) AS secs,
    sum(ep.started) AS started
  FROM ep GROUP BY pk{dsel}, ep.show_id
),
v AS (
  SELECT sd.pk, min(sd.dn0) AS dn0{vsel}, g.genre, sum(sd.secs * g.w) / 3600.0 AS hours,
    sum(sd.started * g.w) AS starts
  FROM sd JOIN g ON sd.show_id = g.title_id
  GROUP BY sd.pk{vsel}, g.genre
),
mm AS (
  SELECT {pk} AS pk{dsel}, g.genre, count(DISTINCT ep.user_id) AS members
  FROM ep JOIN g ON ep.show_id = g.title_id
  GROUP BY pk{dsel}, g.genre
),
a AS (
  SELECT {period_expr(period, "cal.d0") if via_cal else "v.pk"} AS period{asel}, v.genre,
    v.hours, v.starts, mm.members
  FROM v JOIN mm ON v.pk = mm.pk AND v.genre = mm.genre{on}
  {"JOIN cal ON v.dn0 = cal.dn" if via_cal else ""}
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
