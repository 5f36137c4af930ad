"""Concurrent streams beyond the plan: peak simultaneous plays per account.

Rule
----
1. Each play is an interval ``[started_at, end)`` with ``end`` = ``ended_at``, else
   ``started_at + watched_seconds``, else ``started_at + default_play_seconds``.
2. Plays overlapping no other play of the account (by more than the skew) are set aside
   first: they cannot be part of a period over the plan. Plays of one *device* that overlap
   are then merged (gaps and islands): a device resuming
   its own stream, or a duplicated event, is one stream, never two. A play without a device
   counts as its own device.
3. Each merged interval's end is pulled in by ``skew_seconds`` so client clocks that disagree
   by a little never create a phantom overlap.
4. A sweep over +1/-1 events per account (ends sort before starts at equal times) gives the
   number of simultaneous streams; periods above ``users.max_streams`` separated by less than
   ``merge_gap_seconds`` form one episode, kept when over the plan for ``min_overlap_seconds``.
5. Evidence lists the peak, its time, the devices and cities streaming at that moment.

Score: ``1 - max_streams / peak`` (3 streams on a 2-stream plan: 0.33; 4 on 1: 0.75).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.engine import SqlRunner
from reelmine.fraud.config import ConcurrencyParams
from reelmine.fraud.flags import empty_flags, fmt_time, make_flags, since_clause

TYPE = "concurrent_streams"


def intervals_sql(params: ConcurrencyParams, since: datetime | None = None) -> str:
    """CTEs ``p``..``iv``: per-device merged play intervals (epoch seconds), skew applied.

    Only plays overlapping another play of the account by more than the skew go on to the
    merge and the sweep (``cand``): an account can only exceed a plan of at least one stream
    where two plays overlap, so this cheap filter changes no answer and skips most rows.
    Identical intervals of one device (a duplicated event) count once.
    """
    skew = float(params.skew_seconds)
    return f"""
p AS (
  SELECT user_id,
         COALESCE(device_id, play_id) AS dev,
         city,
         EXTRACT(EPOCH FROM started_at) AS s,
         COALESCE(EXTRACT(EPOCH FROM ended_at),
                  EXTRACT(EPOCH FROM started_at) + watched_seconds,
                  EXTRACT(EPOCH FROM started_at) + {float(params.default_play_seconds)}) AS e
  FROM plays
  WHERE started_at IS NOT NULL AND {since_clause("started_at", since)}
),
p1 AS (
  SELECT user_id, dev, city, s, e,
         MAX(e) OVER (PARTITION BY user_id ORDER BY s, e
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_any_e,
         LEAD(s) OVER (PARTITION BY user_id ORDER BY s, e) AS next_s
  FROM p WHERE e > s
),
cand AS (
  -- One row per (account, device, interval): a play logged twice is one stream, and a unique
  -- (s, e) per device makes the two window passes below order ties the same way on any engine.
  SELECT user_id, dev, MIN(city) AS city, s, e FROM p1
  WHERE prev_any_e - {skew} > s OR next_s < e - {skew}
  GROUP BY user_id, dev, s, e
),
p2 AS (
  SELECT user_id, dev, city, s, e,
         MAX(e) OVER (PARTITION BY user_id, dev ORDER BY s, e
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e
  FROM cand
),
p3 AS (
  SELECT user_id, dev, city, s, e,
         SUM(CASE WHEN prev_e IS NULL OR s > prev_e THEN 1 ELSE 0 END)
           OVER (PARTITION BY user_id, dev ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS isl
  FROM p2
),
iv AS (
  SELECT user_id, dev, isl, MIN(s) AS s, MAX(e) - {float(params.skew_seconds)} AS e,
         MIN(city) AS city
  FROM p3 GROUP BY user_id, dev, isl
)"""


def concurrency_sql(params: ConcurrencyParams, since: datetime | None = None) -> str:
    """SQL returning one row per (episode, device streaming at the episode's peak).

    Columns: ``user_id, ep, w0, w1, peak, lim, dur, tp, dev, city`` (times in epoch seconds).
    """
    return f"""
WITH {intervals_sql(params, since)},
ev AS (
  SELECT user_id, s AS t, 1 AS d FROM iv WHERE e > s
  UNION ALL
  SELECT user_id, e AS t, -1 AS d FROM iv WHERE e > s
),
run AS (
  SELECT user_id, t,
         SUM(d) OVER (PARTITION BY user_id ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS n,
         LEAD(t) OVER (PARTITION BY user_id ORDER BY t, d) AS t_next
  FROM ev
),
lim AS (
  SELECT user_id, MAX(max_streams) AS lim FROM users GROUP BY user_id
),
over AS (
  SELECT r.user_id, r.t, r.t_next, r.n,
         COALESCE(l.lim, {int(params.default_max_streams)}) AS lim
  FROM run r LEFT JOIN lim l ON r.user_id = l.user_id
  WHERE r.t_next > r.t AND r.n > COALESCE(l.lim, {int(params.default_max_streams)})
),
o2 AS (
  SELECT user_id, t, t_next, n, lim,
         LAG(t_next) OVER (PARTITION BY user_id ORDER BY t) AS prev_end
  FROM over
),
o3 AS (
  SELECT user_id, t, t_next, n, lim,
         SUM(CASE WHEN prev_end IS NULL OR t - prev_end > {float(params.merge_gap_seconds)}
                  THEN 1 ELSE 0 END)
           OVER (PARTITION BY user_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS ep
  FROM o2
),
eps AS (
  SELECT user_id, ep, MIN(t) AS w0, MAX(t_next) + {float(params.skew_seconds)} AS w1,
         MAX(n) AS peak, MAX(lim) AS lim,
         SUM(t_next - t) AS dur
  FROM o3 GROUP BY user_id, ep
  HAVING SUM(t_next - t) >= {float(params.min_overlap_seconds)}
),
pk AS (
  SELECT o3.user_id, o3.ep, MIN(o3.t) AS tp
  FROM o3 JOIN eps ON o3.user_id = eps.user_id AND o3.ep = eps.ep AND o3.n = eps.peak
  GROUP BY o3.user_id, o3.ep
)
SELECT eps.user_id, eps.ep, eps.w0, eps.w1, CAST(eps.peak AS BIGINT) AS peak,
       CAST(eps.lim AS BIGINT) AS lim, eps.dur, pk.tp, iv.dev, iv.city
FROM eps
JOIN pk ON eps.user_id = pk.user_id AND eps.ep = pk.ep
JOIN iv ON iv.user_id = eps.user_id AND iv.s <= pk.tp AND iv.e > pk.tp
"""


def concurrency_episodes(
    run: SqlRunner, *, since: datetime | None = None, params: ConcurrencyParams | None = None
) -> pa.Table:
    """Over-the-plan episodes, one row each.

    Returns columns ``user_id, w0, w1, peak, lim, dur, tp`` (epoch seconds), ``devices``
    (count at the peak) and ``cities`` (distinct city names at the peak, list).
    """
    params = params or ConcurrencyParams()
    rows = run(concurrency_sql(params, since))
    if rows.num_rows == 0:
        return pa.table(
            {
                k: pa.array([], t)
                for k, t in [
                    ("user_id", pa.string()),
                    ("w0", pa.float64()),
                    ("w1", pa.float64()),
                    ("peak", pa.int64()),
                    ("lim", pa.int64()),
                    ("dur", pa.float64()),
                    ("tp", pa.float64()),
                    ("devices", pa.int64()),
                    ("cities", pa.list_(pa.string())),
                ]
            }
        )
    keys = ["user_id", "ep", "w0", "w1", "peak", "lim", "dur", "tp"]
    agg = rows.group_by(keys).aggregate([("dev", "count_distinct"), ("city", "distinct")])
    agg = agg.rename_columns([*keys, "devices", "cities"])
    agg = agg.take(pc.sort_indices(agg, [("user_id", "ascending"), ("w0", "ascending")]))
    return agg.drop_columns(["ep"])


def concurrency_flags(
    run: SqlRunner, *, since: datetime | None = None, params: ConcurrencyParams | None = None
) -> pa.Table:
    """Flags of type ``concurrent_streams`` (see the module docstring for the rule)."""
    eps = concurrency_episodes(run, since=since, params=params)
    if eps.num_rows == 0:
        return empty_flags()
    peak = eps["peak"].to_numpy().astype(np.float64)
    lim = eps["lim"].to_numpy().astype(np.float64)
    evidence = []
    # One sentence per flag; flags are few (not per event), so a loop is fine here.
    for r in eps.select(["peak", "lim", "tp", "dur", "devices", "cities"]).to_pylist():
        cities = sorted(c for c in r["cities"] if c)
        places = (
            f"from {len(cities)} {'city' if len(cities) == 1 else 'cities'} ({', '.join(cities)})"
            if cities
            else "from unknown places"
        )
        evidence.append(
            f"{r['peak']} simultaneous streams on {fmt_time(r['tp'])} {places} on "
            f"{r['devices']} devices, {r['dur'] / 60:.0f} min over the plan; "
            f"plan allows {r['lim']}"
        )
    return make_flags(
        eps["user_id"],
        TYPE,
        1.0 - lim / np.maximum(peak, 1.0),
        eps["w0"].to_numpy(),
        eps["w1"].to_numpy(),
        evidence,
    )
