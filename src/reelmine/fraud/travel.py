"""Impossible travel: consecutive located events of one account too far apart to travel.

Rule
----
1. Events are play starts and *successful* logins with coordinates (failed logins belong to
   the stuffing detector). Ignored: missing coordinates, ``(0, 0)``, out-of-range values,
   *coarse* positions (both coordinates whole degrees, the signature of a country-level
   geolocation fallback) and events from networks listed in ``ignore_networks`` (known
   VPN/proxy exits, supplied by the operator) and, in :func:`~reelmine.fraud.flags.scan`,
   events from credential-stuffing burst sources (attacker proxies, reported as stuffing).
2. Events of an account are ordered by time (so arrival order and duplicates do not matter);
   each consecutive pair gives a great-circle (haversine) distance and a time gap floored at
   ``min_seconds``.
3. A pair is a jump when distance > ``min_distance_km`` and speed > ``max_speed_kmh``. A member
   flying (far but slower than an airliner) is never a jump.
4. Jumps of an account closer than ``merge_gap_seconds`` form one flag (an A -> B -> A blip
   is one flag, not two).

Score: ``1 - max_speed_kmh / speed`` of the fastest jump of the flag.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.engine import SqlRunner
from reelmine.fraud.config import StuffingParams, TravelParams
from reelmine.fraud.flags import empty_flags, fmt_time, make_flags, since_clause
from reelmine.fraud.stuffing import bursts_cte

TYPE = "impossible_travel"

# An upper bound of the great-circle distance in km: along the meridian, then along the
# parallel (a path no shorter than the great circle; 111.2 km per degree, 0.2% slack for
# rounding). Pairs whose bound is already slow or short, nearly all of them (consecutive
# events at home), skip the trigonometry: the answer is the same.
_UPPER_KM = "(111.4 * (ABS(lat - lat0) + LEAST(ABS(lon - lon0), 360.0 - ABS(lon - lon0))))"


def _located(lat: str, lon: str, net: str, params: TravelParams) -> str:
    nets = ", ".join("'" + n.replace("'", "''") + "'" for n in params.ignore_networks)
    ignore = f" AND ({net} IS NULL OR {net} NOT IN ({nets}))" if nets else ""
    return (
        f"{lat} IS NOT NULL AND {lon} IS NOT NULL AND {lat} BETWEEN -90 AND 90"
        f" AND {lon} BETWEEN -180 AND 180 AND NOT ({lat} = 0 AND {lon} = 0)"
        f" AND NOT ({lat} = FLOOR({lat}) AND {lon} = FLOOR({lon})){ignore}"
    )


def travel_sql(
    params: TravelParams,
    since: datetime | None = None,
    *,
    use_logins: bool = True,
    bursts: StuffingParams | None = None,
) -> str:
    """SQL returning every impossible jump: ``user_id, t0, t, km, kmh`` and both places.

    With ``bursts``, events from credential-stuffing burst sources (networks or devices, as
    :mod:`reelmine.fraud.stuffing` finds them) are left out: their location is the attacker's
    proxy, and the stuffing detector reports them.
    """
    prefix, skip = "WITH ", ""
    if bursts is not None and use_logins:
        prefix = f"WITH {bursts_cte(bursts, since)},\n"
        skip = (
            "\n    AND (ip_net_hash IS NULL OR ip_net_hash NOT IN"
            " (SELECT source FROM sf_bursts WHERE kind = 'network'))"
            "\n    AND (device_id IS NULL OR device_id NOT IN"
            " (SELECT source FROM sf_bursts WHERE kind = 'device'))"
        )
    logins = (
        f"""
  UNION ALL
  SELECT user_id, EXTRACT(EPOCH FROM "at") AS t, latitude AS lat, longitude AS lon,
         city, country, 'login' AS kind
  FROM logins
  WHERE success AND "at" IS NOT NULL AND {since_clause('"at"', since)}
    AND {_located("latitude", "longitude", "ip_net_hash", params)}{skip}"""
        if use_logins
        else ""
    )
    return f"""
{prefix}ev AS (
  SELECT user_id, EXTRACT(EPOCH FROM started_at) AS t, latitude AS lat, longitude AS lon,
         city, country, 'play' AS kind
  FROM plays
  WHERE started_at IS NOT NULL AND {since_clause("started_at", since)}
    AND {_located("latitude", "longitude", "ip_net_hash", params)}{skip}{logins}
),
seq AS (
  SELECT user_id, t, lat, lon, city, country, kind,
         LAG(t) OVER (PARTITION BY user_id ORDER BY t, lat, lon) AS t0,
         LAG(lat) OVER (PARTITION BY user_id ORDER BY t, lat, lon) AS lat0,
         LAG(lon) OVER (PARTITION BY user_id ORDER BY t, lat, lon) AS lon0,
         LAG(city) OVER (PARTITION BY user_id ORDER BY t, lat, lon) AS city0,
         LAG(country) OVER (PARTITION BY user_id ORDER BY t, lat, lon) AS country0,
         LAG(kind) OVER (PARTITION BY user_id ORDER BY t, lat, lon) AS kind0
  FROM ev
),
near AS (
  SELECT * FROM seq
  WHERE t0 IS NOT NULL
    AND {_UPPER_KM} > {float(params.min_distance_km)}
    AND {_UPPER_KM} / (GREATEST(t - t0, {float(params.min_seconds)}) / 3600.0)
        > {float(params.max_speed_kmh)}
),
dist AS (
  SELECT user_id, t0, t, city0, country0, kind0, city, country, kind,
         2 * 6371.0 * ASIN(SQRT(LEAST(1.0,
           POWER(SIN(RADIANS(lat - lat0) / 2), 2)
           + COS(RADIANS(lat0)) * COS(RADIANS(lat)) * POWER(SIN(RADIANS(lon - lon0) / 2), 2)
         ))) AS km
  FROM near
)
SELECT user_id, t0, t, km, km / (GREATEST(t - t0, {float(params.min_seconds)}) / 3600.0) AS kmh,
       city0, country0, kind0, city, country, kind
FROM dist
WHERE km > {float(params.min_distance_km)}
  AND km / (GREATEST(t - t0, {float(params.min_seconds)}) / 3600.0) > {float(params.max_speed_kmh)}
ORDER BY user_id, t0
"""


def _place(city: str | None, country: str | None) -> str:
    if city and country:
        return f"{city} ({country})"
    return city or country or "unknown place"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def travel_flags(
    run: SqlRunner,
    *,
    since: datetime | None = None,
    params: TravelParams | None = None,
    use_logins: bool = True,
    bursts: StuffingParams | None = None,
) -> pa.Table:
    """Flags of type ``impossible_travel`` (see the module docstring for the rule).

    ``bursts``: leave out events from credential-stuffing burst sources (see
    :func:`travel_sql`); :func:`reelmine.fraud.flags.scan` passes its stuffing parameters.
    """
    params = params or TravelParams()
    jumps = run(travel_sql(params, since, use_logins=use_logins, bursts=bursts))
    if jumps.num_rows == 0:
        return empty_flags()
    user = np.asarray(jumps["user_id"].to_numpy(zero_copy_only=False), dtype=object)
    t0 = jumps["t0"].to_numpy()
    t = jumps["t"].to_numpy()
    kmh = jumps["kmh"].to_numpy()
    # Rows come sorted by (user, t0): a new flag starts at a new user or after a quiet gap.
    prev_t = np.concatenate([[-np.inf], t[:-1]])
    new = np.concatenate([[True], user[1:] != user[:-1]]) | (t0 - prev_t > params.merge_gap_seconds)
    starts = np.flatnonzero(new)
    ep = np.cumsum(new) - 1
    # Fastest jump of each episode: sort by (episode, -speed) and take the first row.
    order = np.lexsort((-kmh, ep))
    best = order[np.searchsorted(ep[order], np.arange(len(starts)))]
    n_jumps = np.diff(np.append(starts, len(user)))
    w1 = np.maximum.reduceat(t, starts)
    rows = jumps.take(pa.array(best)).to_pylist()
    evidence = []
    for r, k in zip(rows, n_jumps, strict=True):  # one sentence per flag (flags are few)
        more = f"; {k} impossible jumps in this period" if k > 1 else ""
        evidence.append(
            f"{r['kind']} in {_place(r['city'], r['country'])} at {fmt_time(r['t'])} after "
            f"{r['kind0']} in {_place(r['city0'], r['country0'])} at {fmt_time(r['t0'])}: "
            f"{r['km']:,.0f} km in {_duration(r['t'] - r['t0'])} ({r['kmh']:,.0f} km/h; "
            f"travel allows {params.max_speed_kmh:,.0f} km/h){more}"
        )
    return make_flags(
        pc.take(jumps["user_id"], pa.array(starts)),
        TYPE,
        1.0 - params.max_speed_kmh / kmh[best],
        t0[starts],
        w1,
        evidence,
    )
