"""Demand vs supply per country, ranked growth opportunities, regional taste (lift with a
confidence interval) and market similarity.

*Demand share* of a genre in a country = its share of the country's viewing hours (a title's
hours split equally over its genres). *Supply share* = its share of the catalogue available
there (shows, split equally over genres; a title with an empty ``countries`` list is available
everywhere). The *gap* = demand share - supply share: positive gaps are genres members watch
more than the catalogue offers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from reelmine.content._sql import enriched_plays
from reelmine.content.trends import GENRE_WEIGHTS
from reelmine.errors import ConfigError, DataError


def demand_supply_sql(*, since: str | None = None, until: str | None = None) -> str:
    """SQL of ``country, genre, hours, members, demand_share, titles_available, supply_share,
    gap, ratio, country_hours`` (one row per country and genre with viewing or supply)."""
    return f"""WITH {enriched_plays(since, until)},
{GENRE_WEIGHTS},
c AS (SELECT DISTINCT coalesce(country, 'unknown') AS country FROM users),
sh AS (SELECT title_id, countries FROM titles WHERE coalesce(kind, 'movie') <> 'episode'),
av AS (
  SELECT c.country, sh.title_id FROM c CROSS JOIN sh
  WHERE sh.countries IS NULL OR cardinality(sh.countries) = 0
    OR array_contains(sh.countries, c.country)
),
sup AS (
  SELECT av.country, g.genre, sum(g.w) AS titles_available
  FROM av JOIN g ON av.title_id = g.title_id
  GROUP BY av.country, g.genre
),
dem AS (
  SELECT ep.country, g.genre, sum(ep.secs * g.w) / 3600.0 AS hours,
    count(DISTINCT ep.user_id) AS members
  FROM ep JOIN g ON ep.show_id = g.title_id GROUP BY ep.country, g.genre
),
j AS (
  SELECT coalesce(dem.country, sup.country) AS country, coalesce(dem.genre, sup.genre) AS genre,
    coalesce(dem.hours, 0.0) AS hours, coalesce(dem.members, 0) AS members,
    coalesce(sup.titles_available, 0.0) AS titles_available
  FROM dem FULL OUTER JOIN sup ON dem.country = sup.country AND dem.genre = sup.genre
)
SELECT country, genre, hours, members,
  hours / nullif(sum(hours) OVER (PARTITION BY country), 0) AS demand_share,
  titles_available,
  titles_available / nullif(sum(titles_available) OVER (PARTITION BY country), 0) AS supply_share,
  hours / nullif(sum(hours) OVER (PARTITION BY country), 0)
    - titles_available / nullif(sum(titles_available) OVER (PARTITION BY country), 0) AS gap,
  (hours / nullif(sum(hours) OVER (PARTITION BY country), 0))
    / nullif(titles_available / nullif(sum(titles_available) OVER (PARTITION BY country), 0), 0)
    AS ratio,
  sum(hours) OVER (PARTITION BY country) AS country_hours
FROM j ORDER BY country, gap DESC"""


def _f(t: pa.Table, c: str) -> np.ndarray:
    return np.asarray(pc.fill_null(t[c].cast(pa.float64()), np.nan).to_numpy(), dtype=float)


def opportunities(
    demand_supply: pa.Table, *, search_gaps: pa.Table | None = None, top: int | None = None
) -> pa.Table:
    """Rank (country, genre) growth opportunities.

    *excess_hours* = gap x country hours: hours of viewing the genre attracts beyond its share
    of the catalogue, the score. With ``search_gaps`` (``gaps_by_country`` result) each row
    also carries the country's unmet search demand (``gap_searches``, ``gap_share``).

    Returns
    -------
    Rows with a positive gap, ``country, genre, demand_share, supply_share, gap, ratio,
    hours, members, titles_available, excess_hours[, gap_searches, gap_share]``, best first.
    """
    for c in ("country", "genre", "gap", "country_hours"):
        if c not in demand_supply.column_names:
            raise DataError(f"demand/supply table needs a {c!r} column")
    t = demand_supply.filter(pc.greater(pc.fill_null(demand_supply["gap"], 0.0), 0.0))
    excess = _f(t, "gap") * _f(t, "country_hours")
    cols = [
        "country",
        "genre",
        "demand_share",
        "supply_share",
        "gap",
        "ratio",
        "hours",
        "members",
        "titles_available",
    ]
    out = t.select(cols).append_column("excess_hours", pa.array(excess))
    if search_gaps is not None and search_gaps.num_rows:
        idx = pc.index_in(out["country"], value_set=search_gaps["country"].combine_chunks())
        out = out.append_column(
            "gap_searches", pc.fill_null(search_gaps["gap_searches"].take(idx), 0.0)
        )
        out = out.append_column("gap_share", pc.fill_null(search_gaps["gap_share"].take(idx), 0.0))
    out = out.sort_by([("excess_hours", "descending")])
    return out.slice(0, top) if top is not None else out


def taste_sql(*, level: str = "genre", since: str | None = None, until: str | None = None) -> str:
    """SQL of started plays per country and genre (``level='genre'``) or show (``'title'``):
    ``country, key, starts, members``."""
    if level not in ("genre", "title"):
        raise ConfigError(f"level must be 'genre' or 'title', not {level!r}")
    if level == "genre":
        return f"""WITH {enriched_plays(since, until)},
{GENRE_WEIGHTS}
SELECT ep.country, g.genre AS key, sum(ep.started * g.w) AS starts,
  count(DISTINCT ep.user_id) AS members
FROM ep JOIN g ON ep.show_id = g.title_id GROUP BY ep.country, g.genre"""
    return f"""WITH {enriched_plays(since, until)}
SELECT country, show_id AS key, CAST(sum(started) AS DOUBLE) AS starts,
  count(DISTINCT user_id) AS members
FROM ep GROUP BY country, show_id"""


def taste_lift(taste: pa.Table, *, confidence: float = 0.95, min_members: int = 0) -> pa.Table:
    """Over- and under-indexing per country against the global mix.

    *lift* = (key's share of the country's starts) / (key's share of all starts). The interval
    is the delta-method interval of log lift, with the shares treated as binomial
    proportions of starts (country vs the rest of the world, so they are independent).

    Returns
    -------
    ``country, key, starts, members, share, global_share, lift, lift_low, lift_high,
    over_index`` (true when ``lift_low > 1``), sorted by ``lift_low``.
    """
    for c in ("country", "key", "starts"):
        if c not in taste.column_names:
            raise DataError(f"taste table needs a {c!r} column")
    if min_members and "members" in taste.column_names:
        taste = taste.filter(pc.greater_equal(taste["members"], min_members))
    x = _f(taste, "starts")
    country = np.asarray(taste["country"].to_pylist(), dtype=object).astype(str)
    key = np.asarray(taste["key"].to_pylist(), dtype=object).astype(str)
    _, ci = np.unique(country, return_inverse=True)
    _, ki = np.unique(key, return_inverse=True)
    n_c = np.bincount(ci, weights=x)
    n_k = np.bincount(ki, weights=x)
    total = x.sum()
    # Rest of world: everything outside the country.
    x_r = n_k[ki] - x
    n_r = total - n_c[ci]
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = x / n_c[ci]
        p0 = x_r / n_r
        lift = p1 / (n_k[ki] / total)
        lift_vs_rest = p1 / p0
        se = np.sqrt((1 - p1) / x + (1 - p0) / x_r)
    z = stats.norm.ppf(0.5 + confidence / 2)
    # Interval of the lift vs the rest, carried over to the lift vs the global mix; undefined
    # (null) where the key is seen only in this country or not at all.
    ok = (x > 0) & (x_r > 0) & (n_r > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(ok, lift / lift_vs_rest, np.nan)
        log_r = np.where(ok, np.log(np.where(ok, lift_vs_rest, 1.0)), np.nan)
        low = np.exp(log_r - z * se) * scale
        high = np.exp(log_r + z * se) * scale
    out = pa.table(
        {
            "country": taste["country"],
            "key": taste["key"],
            "starts": x,
            "members": taste["members"]
            if "members" in taste.column_names
            else pa.nulls(taste.num_rows, pa.int64()),
            "share": p1,
            "global_share": n_k[ki] / total,
            "lift": lift,
            "lift_low": pa.array(low, from_pandas=True),
            "lift_high": pa.array(high, from_pandas=True),
            "over_index": pa.array(np.nan_to_num(low, nan=0.0) > 1.0),
        }
    )
    return out.sort_by([("lift_low", "descending")])


def market_similarity(taste: pa.Table) -> pa.Table:
    """Cosine similarity between countries' genre (or title) mixes.

    Returns ``country_a, country_b, similarity, members, members_a, members_b`` (``members`` =
    the smaller market's largest cell) for every ordered pair of distinct countries.
    """
    x = _f(taste, "starts")
    country = np.asarray(taste["country"].to_pylist(), dtype=object).astype(str)
    key = np.asarray(taste["key"].to_pylist(), dtype=object).astype(str)
    uc, ci = np.unique(country, return_inverse=True)
    _, ki = np.unique(key, return_inverse=True)
    M = np.zeros((len(uc), ki.max() + 1 if len(ki) else 0))
    np.add.at(M, (ci, ki), x)
    mem = np.zeros(len(uc))
    if "members" in taste.column_names:
        np.maximum.at(mem, ci, _f(taste, "members"))
    norm = np.linalg.norm(M, axis=1, keepdims=True)
    U = np.divide(M, norm, out=np.zeros_like(M), where=norm > 0)
    S = U @ U.T
    a, b = np.nonzero(~np.eye(len(uc), dtype=bool))
    out = pa.table(
        {
            "country_a": uc[a].tolist(),
            "country_b": uc[b].tolist(),
            "similarity": S[a, b],
            "members": np.minimum(mem[a], mem[b]).astype(np.int64),
            "members_a": mem[a].astype(np.int64),
            "members_b": mem[b].astype(np.int64),
        }
    )
    return out.sort_by([("similarity", "descending")])
