"""One block of members end to end: viewing, scripted fraud, places, networks, quality,
ratings and logins, as contract-shaped Arrow tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from reelmine.data.schema import LOGINS, PLAYS, RATINGS, Table, arrow_type
from reelmine.data.simulator import world
from reelmine.data.simulator._util import MINUTE_US, int_str, ipv4, join_strings, make_ids, take
from reelmine.data.simulator.fraud import FraudPlan
from reelmine.data.simulator.quality import ERROR_CODES, VALUES, QualityModel, simulate_quality
from reelmine.data.simulator.viewing import BlockContext, simulate_viewing

# Share of human plays preceded by a successful login besides each device's first (re-auth).
LOGIN_SHARE = 0.18

_UA = [
    world.USER_AGENTS[t].format(v=v, os=o)
    for t in world.DEVICE_TYPES
    for o in world.OS_LIST
    for v in world.APP_VERSIONS
]


def _user_agent(dev_type: np.ndarray, os_: np.ndarray, app: np.ndarray) -> pa.Array:
    n_o, n_a = len(world.OS_LIST), len(world.APP_VERSIONS)
    return take(_UA, (dev_type * n_o + os_) * n_a + app)


def _ts(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), mask=mask, type=pa.int64()).cast(
        arrow_type("timestamp")
    )


def _cast(table: Table, cols: dict[str, pa.Array | np.ndarray]) -> pa.Table:
    fields, arrays = [], []
    for name, values in cols.items():
        typ = arrow_type(table.column(name).type)
        arr = values if isinstance(values, pa.Array) else pa.array(values, from_pandas=True)
        fields.append(pa.field(name, typ))
        arrays.append(arr.cast(typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _select(d: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in d.items()}


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _disorder(rng: np.random.Generator, n: int, dup: float, swap: float) -> np.ndarray:
    """Row order with a few duplicated rows and a few rows moved out of time order."""
    order = np.arange(n)
    if n < 4:
        return order
    extra = rng.choice(n, size=int(rng.binomial(n, dup)), replace=False)
    order = np.sort(np.concatenate([order, extra]), kind="stable")
    # Late arrivals: swap a few rows with their successor (usually the same member's next event).
    # Pairs (2j, 2j+1) never overlap, so every row survives the swaps.
    pairs = len(order) // 2
    k = int(rng.binomial(pairs, 2 * swap))
    i = 2 * rng.choice(pairs, size=k, replace=False)
    order[i], order[i + 1] = order[i + 1], order[i].copy()
    return order


def simulate_block(
    rng: np.random.Generator,
    ctx: BlockContext,
    quality: QualityModel,
    fraud: FraudPlan,
    lo: int,
    hi: int,
    play_offset: int,
    login_offset: int,
) -> tuple[dict[str, pa.Table], int, int]:
    """Plays, ratings and logins of members ``lo..hi-1``; IDs continue from the offsets.

    Returns the tables and the numbers of distinct plays and logins (before duplicates).
    """
    m, cat = ctx.members, ctx.cat
    base = simulate_viewing(rng, ctx, lo, hi)
    # Remove base activity inside scripted windows (trips, takeovers, planted evenings).
    sc = fraud.scripted
    keep = np.ones(len(base["user"]), dtype=bool)
    end_base = base["started_us"] + (base["watched_s"] * 1.2 + 120) * 1e6
    for u, s, e in zip(sc.excl_user, sc.excl_start, sc.excl_end, strict=True):
        if lo <= u < hi:
            keep &= ~((base["user"] == u) & (base["started_us"] < e) & (end_base > s))
    base = _select(base, keep)
    n = len(base["user"])
    hh, dev = base["hh"], base["dev"]
    mobile = m.dev_type[dev] == world.DEVICE_TYPES.index("mobile")
    country = m.country[m.hh_user[hh]]
    net = m.hh_net[hh].copy()
    # Phones on mobile data change address often (carrier pool per country).
    net[mobile, 0] = 100 + country[mobile]
    net[mobile, 1:] = rng.integers(1, 255, (int(mobile.sum()), 3))
    rec = {
        "user": base["user"],
        "profile": base["profile"],
        "show": base["show"],
        "playable": base["playable"],
        "started_us": base["started_us"],
        "watched_s": base["watched_s"],
        "fit": base["fit"],
        "scripted": np.zeros(n, dtype=bool),
        "bot": base["bot"],
        "dev_num": dev,
        "dev_type": m.dev_type[dev],
        "os": m.dev_os[dev],
        "app": m.dev_app[dev],
        "isp": base["isp"],
        "city": m.hh_city[hh],
        "lat": m.hh_lat[hh] + rng.normal(0, 0.01, n),
        "lon": m.hh_lon[hh] + rng.normal(0, 0.01, n),
        "ip_a": net[:, 0],
        "ip_b": net[:, 1],
        "ip_c": net[:, 2],
        "ip_d": net[:, 3],
    }
    human = ~base["bot"]
    if sc.plays:
        extra = sc.table("play")
        rec = _concat(rec, _select(extra, (extra["user"] >= lo) & (extra["user"] < hi)))
        human = np.concatenate([human, np.zeros(len(rec["user"]) - n, bool)])
    n = len(rec["user"])
    order = np.lexsort((rec["started_us"], rec["user"]))
    rec = _select(rec, order)
    human = human[order]
    country = world.CITY_COUNTRY[rec["city"]]
    cdn_cum = np.cumsum(world.CDN_WEIGHTS, axis=1)[country]
    cdn = (rng.random(n)[:, None] > cdn_cum).sum(1)
    attrs = {
        "device_type": rec["dev_type"],
        "os": rec["os"],
        "app_version": rec["app"],
        "isp": rec["isp"],
        "cdn": np.minimum(cdn, len(world.CDNS) - 1),
        "country": country,
    }
    q = simulate_quality(
        rng, quality, attrs, rec["started_us"], rec["watched_s"], rec["scripted"], rec["bot"]
    )
    # Stalls and start-up delay extend the session beyond the content watched.
    ended = rec["started_us"] + (
        (q["watched_seconds"] + (q["startup_ms"] + q["rebuffer_ms"]) / 1000.0) * 1e6
    ).astype(np.int64)
    title_ids = cat.titles.column("title_id").combine_chunks()
    play_ids = make_ids("p", play_offset + np.arange(n), 9)
    user_ids = m.user_ids.take(pa.array(rec["user"]))
    dev_ids = make_ids("d", rec["dev_num"], 8)
    ips = ipv4(rec["ip_a"], rec["ip_b"], rec["ip_c"], rec["ip_d"])
    city = take(world.CITY_NAMES, rec["city"])
    country_s = take(world.COUNTRY_CODES, country)
    dis = _disorder(rng, n, 0.002, 0.003)
    plays = _cast(
        PLAYS,
        {
            "play_id": play_ids,
            "user_id": user_ids,
            "title_id": title_ids.take(pa.array(cat.play_title_idx[rec["playable"]])),
            "started_at": _ts(rec["started_us"]),
            "ended_at": _ts(ended),
            "watched_seconds": q["watched_seconds"],
            "profile_id": join_strings(user_ids, int_str(rec["profile"] + 1), sep="-"),
            "device_id": dev_ids,
            "device_type": take(VALUES["device_type"], rec["dev_type"]),
            "os": take(VALUES["os"], rec["os"]),
            "app_version": take(VALUES["app_version"], rec["app"]),
            "ip": ips,
            "country": country_s,
            "city": city,
            "latitude": rec["lat"].round(4),
            "longitude": rec["lon"].round(4),
            "isp": take(VALUES["isp"], rec["isp"]),
            "cdn": take(VALUES["cdn"], attrs["cdn"]),
            "startup_ms": q["startup_ms"],
            "rebuffer_count": q["rebuffer_count"],
            "rebuffer_ms": q["rebuffer_ms"],
            "avg_bitrate_kbps": q["avg_bitrate_kbps"],
            "error_code": _error_codes(q["error_code"]),
            "exit_before_start": q["exit_before_start"],
        },
    ).take(pa.array(dis))

    # Ratings: a fraction of finished human plays, on the show, correlated with fit.
    watched_frac = q["watched_seconds"] / np.maximum(cat.play_runtime_s[rec["playable"]], 1.0)
    p_rate = np.where(human & (q["watched_seconds"] > 0), 0.04 + 0.12 * (watched_frac > 0.9), 0.0)
    r_sel = np.flatnonzero(rng.random(n) < p_rate)
    key = rec["user"][r_sel] * (cat.n_shows + 1) + rec["show"][r_sel]
    _, first = np.unique(key, return_index=True)
    r_sel = r_sel[np.sort(first)]
    score = (
        3.2
        + 0.9 * rec["fit"][r_sel]
        + 0.6 * (watched_frac[r_sel] - 0.7)
        + rng.normal(0, 0.6, len(r_sel))
    )
    rating = np.clip(np.round(score * 2) / 2, 1.0, 5.0)
    ratings = _cast(
        RATINGS,
        {
            "user_id": user_ids.take(pa.array(r_sel)),
            "title_id": title_ids.take(pa.array(cat.show_title_idx[rec["show"][r_sel]])),
            "rating": rating,
            "rated_at": _ts(ended[r_sel] + rng.integers(1, 30, len(r_sel)) * MINUTE_US),
        },
    )

    # Logins: the first play of each device in the block, plus others (apps re-authenticate on
    # restarts and token refreshes: about one play in five, ~0.4 logins per member per day,
    # two logins per ten plays overall), a few after a typo.
    dkey = rec["user"] * 100_000_000 + rec["dev_num"]
    _, first_dev = np.unique(dkey, return_index=True)
    lmask = rng.random(n) < LOGIN_SHARE
    lmask[first_dev] = True
    lmask &= human  # scripted plays come with their own logins
    li = np.flatnonzero(lmask)
    at = rec["started_us"][li] - rng.integers(1, 10, len(li)) * MINUTE_US
    typo = rng.random(len(li)) < 0.04
    ti = li[typo]
    at_all = np.concatenate([at, at[typo] - rng.integers(20, 90, len(ti)) * 1_000_000])
    src = np.concatenate([li, ti])
    succ = np.concatenate([np.ones(len(li), bool), np.zeros(len(ti), bool)])
    lrec = {
        "user": rec["user"][src],
        "at_us": at_all,
        "success": succ,
        "dev_num": rec["dev_num"][src],
        "dev_type": rec["dev_type"][src],
        "os": rec["os"][src],
        "app": rec["app"][src],
        "city": rec["city"][src],
        "lat": rec["lat"][src],
        "lon": rec["lon"][src],
        "ip_a": rec["ip_a"][src],
        "ip_b": rec["ip_b"][src],
        "ip_c": rec["ip_c"][src],
        "ip_d": rec["ip_d"][src],
    }
    if sc.logins:
        extra_l = sc.table("login")
        lrec = _concat(lrec, _select(extra_l, (extra_l["user"] >= lo) & (extra_l["user"] < hi)))
    order = np.lexsort((lrec["at_us"], lrec["user"]))
    lrec = _select(lrec, order)
    nl = len(order)
    dis_l = _disorder(rng, nl, 0.002, 0.003)
    logins = _cast(
        LOGINS,
        {
            "login_id": make_ids("l", login_offset + np.arange(nl), 9),
            "user_id": m.user_ids.take(pa.array(lrec["user"])),
            "at": _ts(lrec["at_us"]),
            "success": lrec["success"],
            "ip": ipv4(lrec["ip_a"], lrec["ip_b"], lrec["ip_c"], lrec["ip_d"]),
            "country": take(world.COUNTRY_CODES, world.CITY_COUNTRY[lrec["city"]]),
            "city": take(world.CITY_NAMES, lrec["city"]),
            "latitude": lrec["lat"].round(4),
            "longitude": lrec["lon"].round(4),
            "device_id": make_ids("d", lrec["dev_num"], 8),
            "user_agent": _user_agent(lrec["dev_type"], lrec["os"], lrec["app"]),
        },
    ).take(pa.array(dis_l))
    return {"plays": plays, "ratings": ratings, "logins": logins}, n, nl


def _error_codes(code: np.ndarray) -> pa.Array:
    """Error code strings, null where the play had no error."""
    arr = take(ERROR_CODES, np.maximum(code, 0))
    return pa.compute.if_else(pa.array(code < 0), pa.scalar(None, pa.string()), arr)
