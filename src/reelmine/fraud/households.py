"""Password sharing across households: cluster an account's places into households.

Rule
----
1. Plays are reduced in SQL to distinct (account, device, network, 0.1-degree cell, day)
   combinations with their counts. Devices the account used on fewer than
   ``min_device_days`` distinct days (a guest's phone, a hotel TV, one-off devices of an
   over-the-plan evening) are left out: a household is a place its devices come back to.
2. Per account, a graph joins places: a *fixed* device (not in ``portable_types``) links the
   network it used, the cell it was in and itself, so a TV or console ties its home network and
   location together. Portable devices (phones, tablets) add only their cell: they never link
   two places, because they move, and their ever-changing mobile networks are ignored.
   Neighbouring cells of one account are linked (a home on a grid line is one place).
3. Connected components are places; a place is a *household* when used on at least
   ``min_days`` distinct days spread over at least ``min_span_days`` days (a holiday, a hotel
   or one evening at a friend's is not a household).
4. Accounts with more households than their plan allows (``allowed[plan]``, else
   ``default_allowed``) are flagged, the households listed in the evidence.

Score: ``1 - allowed / households``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from reelmine.data.engine import SqlRunner
from reelmine.fraud.config import HouseholdParams
from reelmine.fraud.flags import empty_flags, make_flags, since_clause

TYPE = "household_sharing"
_CELL = 10  # cells per degree (0.1 degree, about 11 km north-south)
_DAY = 86400.0


def places_sql(params: HouseholdParams, since: datetime | None = None) -> str:
    """SQL: distinct (user, device, network, cell, day) combinations of plays with counts.

    Plays are aggregated first and a device's distinct days counted on the aggregate (every
    play maps to exactly one aggregate row of its day), so the large scan is grouped once.
    """
    portable = ", ".join("'" + t.replace("'", "''") + "'" for t in params.portable_types) or "''"
    return f"""
WITH ev AS (
  SELECT user_id, device_id,
         CASE WHEN device_type IN ({portable}) THEN 1 ELSE 0 END AS portable,
         ip_net_hash, latitude, longitude, city,
         EXTRACT(EPOCH FROM started_at) AS t
  FROM plays
  WHERE started_at IS NOT NULL AND {since_clause("started_at", since)}
),
ok AS (
  SELECT user_id, device_id, portable,
         CASE WHEN portable = 1 THEN NULL ELSE ip_net_hash END AS net,
         CASE WHEN latitude IS NULL OR longitude IS NULL
                   OR (latitude = 0 AND longitude = 0) THEN NULL
              ELSE CAST(FLOOR(latitude * {_CELL}) AS BIGINT) END AS cy,
         CASE WHEN latitude IS NULL OR longitude IS NULL
                   OR (latitude = 0 AND longitude = 0) THEN NULL
              ELSE CAST(FLOOR(longitude * {_CELL}) AS BIGINT) END AS cx,
         latitude, longitude, city, t
  FROM ev
),
agg AS (
  SELECT user_id, device_id, portable, net, cy, cx,
         CAST(FLOOR(t / {_DAY}) AS BIGINT) AS day,
         COUNT(*) AS n, SUM(latitude) AS slat, SUM(longitude) AS slon,
         COUNT(latitude) AS nloc, MIN(city) AS city, MIN(t) AS t0, MAX(t) AS t1
  FROM ok
  GROUP BY user_id, device_id, portable, net, cy, cx, CAST(FLOOR(t / {_DAY}) AS BIGINT)
),
dd AS (
  SELECT user_id, device_id, COUNT(DISTINCT day) AS ddays
  FROM agg WHERE device_id IS NOT NULL GROUP BY user_id, device_id
)
SELECT agg.user_id, agg.device_id, agg.portable, agg.net, agg.cy, agg.cx, agg.day,
       agg.n, agg.slat, agg.slon, agg.nloc, agg.city, agg.t0, agg.t1
FROM agg LEFT JOIN dd ON agg.user_id = dd.user_id AND agg.device_id = dd.device_id
WHERE (agg.device_id IS NULL OR dd.ddays >= {int(params.min_device_days)})
  AND (agg.cy IS NOT NULL
       OR (agg.portable = 0 AND (agg.net IS NOT NULL OR agg.device_id IS NOT NULL)))
"""


def _codes(col: pa.ChunkedArray) -> np.ndarray:
    """Dictionary codes of a string column (-1 for null)."""
    enc = pc.dictionary_encode(col).combine_chunks()
    return np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.float64)


def _place_components(rows: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Component label, user code, device code and network code of every row (codes index
    the columns' distinct values; NaN for a null device or network)."""
    user = np.nan_to_num(_codes(rows["user_id"]), nan=-1).astype(np.int64)
    dev = _codes(rows["device_id"])
    net = _codes(rows["net"])
    portable = rows["portable"].to_numpy(zero_copy_only=False).astype(bool)
    cy = np.asarray(rows["cy"].to_numpy(zero_copy_only=False), dtype=np.float64)
    cx = np.asarray(rows["cx"].to_numpy(zero_copy_only=False), dtype=np.float64)
    has_cell = ~np.isnan(cy)
    cell = np.where(has_cell, (np.nan_to_num(cy) + 1000) * 4000 + (np.nan_to_num(cx) + 2000), 0)
    has_net = ~np.isnan(net) & ~portable
    has_dev = ~np.isnan(dev) & ~portable
    # Node keys: (user, kind, value) packed into one int64; kind 0 cell, 1 network, 2 device.
    base = user * 4 * (1 << 28)

    def key(kind: int, value: np.ndarray) -> np.ndarray:
        return base + kind * (1 << 28) + np.nan_to_num(value).astype(np.int64)

    k_cell, k_net, k_dev = key(0, cell % (1 << 28)), key(1, net), key(2, dev)
    present = [has_cell, has_net, has_dev]
    keys = [k_cell, k_net, k_dev]
    nodes = np.unique(np.concatenate([k[m] for k, m in zip(keys, present, strict=True)]))
    # Every row links its present nodes to one anchor node (its first present one).
    anchor = np.where(has_cell, k_cell, np.where(has_net, k_net, k_dev))
    src, dst = [], []
    for k, m in zip(keys, present, strict=True):
        src.append(np.searchsorted(nodes, anchor[m]))
        dst.append(np.searchsorted(nodes, k[m]))
    # Neighbouring cells of the same account are one place (homes on grid lines).
    cells = nodes[(nodes // (1 << 28)) % 4 == 0]
    cval = cells % (1 << 28)
    cu = cells - cval
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        nb = cu + cval + dy * 4000 + dx
        pos = np.searchsorted(nodes, nb)
        hit = pos < len(nodes)
        hit[hit] = nodes[pos[hit]] == nb[hit]
        src.append(np.searchsorted(nodes, cells[hit]))
        dst.append(pos[hit])
    s, d = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(s), np.int8), (s, d)), shape=(len(nodes), len(nodes)))
    _, label = connected_components(graph, directed=False)
    return label[np.searchsorted(nodes, anchor)], user, dev, net


def households(
    run: SqlRunner, *, since: datetime | None = None, params: HouseholdParams | None = None
) -> pa.Table:
    """Every place cluster of every account, with the household rule applied.

    Returns
    -------
    pa.Table
        ``user_id, household`` (0 = most active), ``latitude, longitude`` (mean), ``city``,
        ``days`` (distinct days used), ``first_seen, last_seen`` (epoch s), ``devices``,
        ``networks``, ``plays``, ``is_household`` (passes ``min_days``/``min_span_days``).
    """
    params = params or HouseholdParams()
    rows = run(places_sql(params, since))
    if rows.num_rows == 0:
        return pa.table(
            {
                "user_id": pa.array([], pa.string()),
                "household": pa.array([], pa.int64()),
                "latitude": pa.array([], pa.float64()),
                "longitude": pa.array([], pa.float64()),
                "city": pa.array([], pa.string()),
                "days": pa.array([], pa.int64()),
                "first_seen": pa.array([], pa.float64()),
                "last_seen": pa.array([], pa.float64()),
                "devices": pa.array([], pa.int64()),
                "networks": pa.array([], pa.int64()),
                "plays": pa.array([], pa.int64()),
                "is_household": pa.array([], pa.bool_()),
            }
        )
    comp, user, dev, net = _place_components(rows)
    # Integer codes instead of the pseudonym strings: the same distinct counts, far cheaper.
    t = rows.select(["day", "t0", "t1", "n", "slat", "slon", "nloc", "city"])
    t = t.append_column("comp", pa.array(comp)).append_column("user", pa.array(user, mask=user < 0))
    t = t.append_column("dev", pa.array(np.nan_to_num(dev).astype(np.int64), mask=np.isnan(dev)))
    t = t.append_column("netc", pa.array(np.nan_to_num(net).astype(np.int64), mask=np.isnan(net)))
    g = t.group_by(["comp"]).aggregate(
        [
            ("user", "min"),
            ("day", "count_distinct"),
            ("t0", "min"),
            ("t1", "max"),
            ("dev", "count_distinct"),
            ("netc", "count_distinct"),
            ("n", "sum"),
            ("slat", "sum"),
            ("slon", "sum"),
            ("nloc", "sum"),
            ("city", "min"),
        ]
    )
    users = pc.dictionary_encode(rows["user_id"]).combine_chunks().dictionary
    nloc = g["nloc_sum"].to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = g["slat_sum"].to_numpy(zero_copy_only=False) / nloc
        lon = g["slon_sum"].to_numpy(zero_copy_only=False) / nloc
    days = g["day_count_distinct"].to_numpy().astype(np.int64)
    t0 = g["t0_min"].to_numpy(zero_copy_only=False)
    t1 = g["t1_max"].to_numpy(zero_copy_only=False)
    plays = g["n_sum"].to_numpy().astype(np.int64)
    ok = (days >= params.min_days) & ((t1 - t0) / _DAY >= params.min_span_days)
    out = pa.table(
        {
            "user_id": users.take(g["user_min"]),
            "latitude": pa.array(lat),
            "longitude": pa.array(lon),
            "city": g["city_min"],
            "days": pa.array(days),
            "first_seen": pa.array(t0, pa.float64()),
            "last_seen": pa.array(t1, pa.float64()),
            "devices": g["dev_count_distinct"].cast(pa.int64()),
            "networks": g["netc_count_distinct"].cast(pa.int64()),
            "plays": pa.array(plays),
            "is_household": pa.array(ok),
        }
    )
    # Order: per account, households first, then by activity; number them 0, 1, ...
    out = out.take(
        pc.sort_indices(
            out,
            [
                ("user_id", "ascending"),
                ("is_household", "descending"),
                ("days", "descending"),
                ("plays", "descending"),
            ],
        )
    )
    u = np.asarray(out["user_id"].to_numpy(zero_copy_only=False), dtype=object)
    first = np.concatenate([[True], u[1:] != u[:-1]]) if len(u) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    idx = np.arange(len(u)) - np.repeat(starts, np.diff(np.append(starts, len(u))))
    return out.add_column(1, "household", pa.array(idx, pa.int64()))


def _plans(run: SqlRunner) -> dict[str, str]:
    t = run("SELECT user_id, MAX(plan) AS plan FROM users WHERE plan IS NOT NULL GROUP BY user_id")
    return dict(zip(t["user_id"].to_pylist(), t["plan"].to_pylist(), strict=True))


def household_flags(
    run: SqlRunner, *, since: datetime | None = None, params: HouseholdParams | None = None
) -> pa.Table:
    """Flags of type ``household_sharing`` (see the module docstring for the rule)."""
    params = params or HouseholdParams()
    hh = households(run, since=since, params=params)
    hh = hh.filter(hh["is_household"])
    if hh.num_rows == 0:
        return empty_flags()
    counts = hh.group_by("user_id").aggregate([("household", "count")])
    many = counts.filter(pc.greater(counts["household_count"], 1))
    if many.num_rows == 0:
        return empty_flags()
    plans = _plans(run) if params.allowed else {}
    hh = hh.filter(pc.is_in(hh["user_id"], value_set=many["user_id"]))
    by_user: dict[str, list[dict]] = {}
    for r in hh.to_pylist():  # flagged accounts only (few)
        by_user.setdefault(r["user_id"], []).append(r)
    users, score, w0, w1, evidence = [], [], [], [], []
    for user, rows in by_user.items():
        allowed = params.allowed.get(plans.get(user, ""), params.default_allowed)
        if len(rows) <= allowed:
            continue
        lo = min(r["first_seen"] for r in rows)
        hi = max(r["last_seen"] for r in rows)
        listed = "; ".join(
            f"#{i + 1} {r['city'] or 'unknown city'} ({r['latitude']:.2f}, {r['longitude']:.2f}) "
            f"{r['devices']} device(s), {r['networks']} network(s), {r['days']} days"
            for i, r in enumerate(rows)
        )
        span = f"{_date(lo)}..{_date(hi)}"
        evidence.append(f"{len(rows)} households over {span}; plan allows {allowed}: {listed}")
        users.append(user)
        score.append(1.0 - allowed / len(rows))
        w0.append(lo)
        w1.append(hi)
    if not users:
        return empty_flags()
    return make_flags(users, TYPE, np.array(score), np.array(w0), np.array(w1), evidence)


def _date(seconds: float) -> str:
    return np.datetime_as_string(np.datetime64(int(seconds), "s"), unit="D")
