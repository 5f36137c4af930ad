"""Planted account abuse (with its benign look-alikes) and the scripted events behind it.

Types: ``concurrent_streams``, ``impossible_travel``, ``credential_stuffing``,
``household_sharing``, ``automated_playback``. Benign look-alikes: ``plane_trip``,
``mobile_ip``, ``multi_device_household``. Accounts are chosen among members who stay the whole
window; each planted account has exactly one type, so per-type precision is well defined.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from reelmine.data.simulator import world
from reelmine.data.simulator._util import DAY_US, HOUR_US, MINUTE_US, haversine_km
from reelmine.data.simulator.catalog import Catalog
from reelmine.data.simulator.members import (
    Members,
    country_isps,
    household_net,
    new_devices,
)

FRAUD_TYPES = (
    "concurrent_streams",
    "impossible_travel",
    "credential_stuffing",
    "household_sharing",
    "automated_playback",
)
BENIGN_TYPES = ("plane_trip", "mobile_ip", "multi_device_household")
SCRIPTED_DEV_BASE = 50_000_000  # device numbers of scripted devices start here
PLANE_KMH = 650.0  # a trip's implied speed stays below this


@dataclass
class Scripted:
    """Scripted plays and logins for planted patterns (global arrays, filtered per block)."""

    plays: dict[str, list[np.ndarray]] = field(default_factory=dict)
    logins: dict[str, list[np.ndarray]] = field(default_factory=dict)
    excl_user: list[int] = field(default_factory=list)  # base activity removed in windows
    excl_start: list[int] = field(default_factory=list)
    excl_end: list[int] = field(default_factory=list)

    def add(self, kind: str, **cols: np.ndarray | float | int) -> None:
        target = self.plays if kind == "play" else self.logins
        n = max(np.size(v) for v in cols.values())
        for k, v in cols.items():
            arr = np.asarray(v)
            target.setdefault(k, []).append(
                np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr
            )

    def exclude(self, user: int, start: int, end: int) -> None:
        self.excl_user.append(user)
        self.excl_start.append(start)
        self.excl_end.append(end)

    def table(self, kind: str) -> dict[str, np.ndarray]:
        src = self.plays if kind == "play" else self.logins
        return {k: np.concatenate(v) for k, v in src.items()}


@dataclass
class FraudPlan:
    """What was planted: truth rows and the scripted events."""

    rows: list[dict] = field(default_factory=list)
    benign: list[dict] = field(default_factory=list)
    scripted: Scripted = field(default_factory=Scripted)


def _far_city(rng: np.random.Generator, lat: float, lon: float, min_km: float) -> int:
    d = haversine_km(
        np.full(len(world.CITY_LAT), lat),
        np.full(len(world.CITY_LAT), lon),
        world.CITY_LAT,
        world.CITY_LON,
    )
    far = np.flatnonzero(d > min_km)
    return int(rng.choice(far))


def _foreign_net(rng: np.random.Generator, city: int) -> tuple[int, np.ndarray]:
    isp = int(rng.choice(country_isps(int(world.CITY_COUNTRY[city]))))
    return isp, household_net(rng, np.array([isp]))[0]


def _play_cols(
    user: int,
    t: np.ndarray,
    watched: np.ndarray,
    show: np.ndarray,
    cat: Catalog,
    dev_num: int,
    dtype: int,
    os_: int,
    app: int,
    isp: int,
    city: int,
    lat: float,
    lon: float,
    net: np.ndarray,
) -> dict[str, np.ndarray | float | int]:
    n = len(t)
    return dict(
        user=np.full(n, user),
        profile=np.zeros(n, np.int64),
        show=show,
        playable=cat.show_first[show],
        started_us=t,
        watched_s=watched,
        fit=np.zeros(n),
        scripted=np.ones(n, bool),
        bot=np.zeros(n, bool),
        dev_num=np.full(n, dev_num),
        dev_type=np.full(n, dtype),
        os=np.full(n, os_),
        app=np.full(n, app),
        isp=np.full(n, isp),
        city=np.full(n, city),
        lat=np.full(n, lat),
        lon=np.full(n, lon),
        ip_a=np.full(n, net[0]),
        ip_b=np.full(n, net[1]),
        ip_c=np.full(n, net[2]),
        ip_d=np.full(n, net[3]),
    )


def _login_cols(
    user: int | np.ndarray,
    t: np.ndarray,
    success: np.ndarray,
    dev_num: int | np.ndarray,
    dtype: int | np.ndarray,
    os_: int | np.ndarray,
    app: int | np.ndarray,
    city: int | np.ndarray,
    lat: float | np.ndarray,
    lon: float | np.ndarray,
    ip: np.ndarray,
) -> dict[str, np.ndarray | float | int]:
    n = len(t)

    def full(v: int | float | np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(v), (n,)).copy()

    return dict(
        user=full(user),
        at_us=t,
        success=success,
        dev_num=full(dev_num),
        dev_type=full(dtype),
        os=full(os_),
        app=full(app),
        city=full(city),
        lat=full(lat),
        lon=full(lon),
        ip_a=full(ip[..., 0]),
        ip_b=full(ip[..., 1]),
        ip_c=full(ip[..., 2]),
        ip_d=full(ip[..., 3]),
    )


def plan_fraud(
    rng: np.random.Generator,
    m: Members,
    cat: Catalog,
    start_us: int,
    days: int,
    rate: float,
) -> FraudPlan:
    """Choose accounts, add their extra households/viewers to ``m`` and script their events."""
    plan = FraudPlan()
    sc = plan.scripted
    end_us = start_us + days * DAY_US
    n_type = int(max(3, round(rate * m.n)))
    # Clean, active accounts: a disengaged (dormant) member would show too little of the pattern.
    clean = np.flatnonzero((m.signup_us < start_us) & (m.cancel_us < 0) & (m.disengage_us < 0))
    rng.shuffle(clean)
    need = n_type * (len(FRAUD_TYPES) + 1) + 4 * n_type
    if len(clean) < need:
        n_type = max(1, len(clean) // 10)
    chunks = {t: clean[i * n_type : (i + 1) * n_type] for i, t in enumerate(FRAUD_TYPES)}
    chunks["plane_trip"] = clean[5 * n_type : 6 * n_type]
    targets_extra = clean[6 * n_type : 6 * n_type + 3 * n_type]
    pop = np.exp(cat.show_logpop - cat.show_logpop.max())
    pop[cat.show_added_us >= start_us] = 0
    movies = np.flatnonzero((cat.show_kind == 0) & (cat.show_added_us < start_us))
    mprob = pop[movies] / pop[movies].sum()
    next_dev = SCRIPTED_DEV_BASE

    def add_row(kind: str, u: int, ws: int, we: int, **details: object) -> None:
        plan.rows.append(
            {
                "user": int(u),
                "type": kind,
                "window_start": int(ws),
                "window_end": int(we),
                "details": json.dumps(details, sort_keys=True),
            }
        )

    # Household sharing: 1-2 extra households 30-250 km away with their own devices and network.
    for u in chunks["household_sharing"]:  # per planted account
        k = int(rng.integers(1, 3))
        dist = rng.uniform(30, 250, k)
        bearing = rng.uniform(0, 2 * np.pi, k)
        lat = m.hh_lat[u] + dist / 111.0 * np.cos(bearing)
        lon = m.hh_lon[u] + dist / (111.0 * np.cos(np.radians(m.hh_lat[u]))) * np.sin(bearing)
        isps = rng.choice(country_isps(int(m.country[u])), size=k)
        hh0 = len(m.hh_user)
        m.hh_user = np.append(m.hh_user, np.full(k, u))
        m.hh_city = np.append(m.hh_city, np.full(k, m.city[u]))
        m.hh_lat, m.hh_lon = np.append(m.hh_lat, lat), np.append(m.hh_lon, lon)
        m.hh_isp = np.append(m.hh_isp, isps)
        m.hh_net = np.vstack([m.hh_net, household_net(rng, isps)])
        n_home = int((m.v_user == u).sum())
        ndev = 1 + (rng.random(k) < 0.5).astype(np.int64)
        # Each extra household has a TV and maybe one more device on its fixed line.
        fixed = [world.DEVICE_TYPES.index(x) for x in ("tv", "tablet", "web", "console")]
        kinds = rng.choice(fixed, size=int(ndev.sum()))
        kinds[np.cumsum(ndev) - ndev] = world.DEVICE_TYPES.index("tv")
        t, o, a = new_devices(rng, int(ndev.sum()), kinds)
        _append_viewers(
            m,
            np.full(k, u),
            hh0 + np.arange(k),
            (n_home + np.arange(k)) % m.max_streams[u],
            n_home + np.arange(k),
            max(m.rate[u], 0.8) * rng.uniform(0.6, 1.0, k),
            np.zeros(k, bool),
            ndev,
            t,
            o,
            a,
        )
        add_row(
            "household_sharing",
            u,
            int(m.active_from_us[u]),
            end_us,
            extra_households=k,
            households=[
                {"lat": round(float(la), 3), "lon": round(float(lo), 3)}
                for la, lo in zip(lat, lon, strict=True)
            ],
        )

    # Automated bulk playback: the account's people stop; one scripted device plays around the
    # clock, every title to the end.
    for u in chunks["automated_playback"]:
        m.v_rate[m.v_user == u] = 0.0
        t, o, a = new_devices(rng, 1, np.array([world.DEVICE_TYPES.index("web")]))
        _append_viewers(
            m,
            np.array([u]),
            np.array([u]),
            np.array([0]),
            np.array([0]),
            np.array([30.0]),
            np.array([True]),
            np.array([1]),
            t,
            o,
            a,
        )
        add_row("automated_playback", u, start_us, end_us, plays_per_day=30)

    home = m.hh_lat, m.hh_lon
    # Concurrent streams: evenings with max_streams + 1 or + 2 simultaneous long plays.
    for u in chunks["concurrent_streams"]:
        days_ = np.sort(rng.choice(np.arange(1, days - 1), size=min(3, days - 2), replace=False))
        windows = []
        for d in days_:  # per planted evening
            streams = int(m.max_streams[u]) + int(rng.integers(1, 3))
            tz = int(world.COUNTRY_TZ[m.country[u]])
            t0 = start_us + int(d) * DAY_US + (20 - tz) * HOUR_US
            t = t0 + rng.integers(0, 10, streams) * MINUTE_US
            show = rng.choice(movies, size=streams, p=mprob)
            watched = np.maximum(cat.play_runtime_s[cat.show_first[show]] * 0.95, 3600.0)
            for j in range(streams):  # per stream of the evening
                lat = home[0][u] + rng.uniform(-0.8, 0.8)
                lon = home[1][u] + rng.uniform(-0.8, 0.8)
                net = household_net(rng, np.array([m.hh_isp[u]]))[0]
                dt, do, da = (x[0] for x in new_devices(rng, 1))
                sc.add(
                    "play",
                    **_play_cols(
                        u,
                        t[j : j + 1],
                        watched[j : j + 1],
                        show[j : j + 1],
                        cat,
                        next_dev,
                        dt,
                        do,
                        da,
                        int(m.hh_isp[u]),
                        int(m.city[u]),
                        lat,
                        lon,
                        net,
                    ),
                )
                sc.add(
                    "login",
                    **_login_cols(
                        u,
                        t[j : j + 1] - 2 * MINUTE_US,
                        np.array([True]),
                        next_dev,
                        dt,
                        do,
                        da,
                        int(m.city[u]),
                        lat,
                        lon,
                        net,
                    ),
                )
                next_dev += 1
            windows.append((int(t.min()), int((t + watched * 1e6).max()), streams))
            sc.exclude(int(u), int(t.min()) - 4 * HOUR_US, int((t + watched * 1e6).max()) + HOUR_US)
        add_row(
            "concurrent_streams",
            u,
            windows[0][0],
            windows[-1][1],
            max_streams=int(m.max_streams[u]),
            peaks=[w[2] for w in windows],
        )

    # Impossible travel: a play at home, then within 30-120 minutes a login and a play from a
    # city thousands of kilometres away on a new device and network.
    for u in chunks["impossible_travel"]:
        events = []
        for d in np.sort(rng.choice(np.arange(1, days - 1), size=2, replace=False)):
            t0 = start_us + int(d) * DAY_US + int(rng.integers(10, 20)) * HOUR_US
            gap = int(rng.integers(30, 121)) * MINUTE_US
            city = _far_city(rng, home[0][u], home[1][u], 3000.0)
            isp, net = _foreign_net(rng, city)
            show = rng.choice(movies, size=2, p=mprob)
            hdev = int(m.v_dev_first[np.flatnonzero(m.v_user == u)[0]])
            hnet = m.hh_net[u]
            sc.add(
                "play",
                **_play_cols(
                    u,
                    np.array([t0 - 40 * MINUTE_US]),
                    np.array([1800.0]),
                    show[:1],
                    cat,
                    hdev,
                    int(m.dev_type[hdev]),
                    int(m.dev_os[hdev]),
                    int(m.dev_app[hdev]),
                    int(m.hh_isp[u]),
                    int(m.city[u]),
                    home[0][u],
                    home[1][u],
                    hnet,
                ),
            )
            sc.add(
                "login",
                **_login_cols(
                    u,
                    np.array([t0]),
                    np.array([True]),
                    hdev,
                    int(m.dev_type[hdev]),
                    int(m.dev_os[hdev]),
                    int(m.dev_app[hdev]),
                    int(m.city[u]),
                    home[0][u],
                    home[1][u],
                    hnet,
                ),
            )
            dt, do, da = (x[0] for x in new_devices(rng, 1))
            flat, flon = world.CITY_LAT[city], world.CITY_LON[city]
            sc.add(
                "login",
                **_login_cols(
                    u,
                    np.array([t0 + gap]),
                    np.array([True]),
                    next_dev,
                    dt,
                    do,
                    da,
                    city,
                    flat,
                    flon,
                    net,
                ),
            )
            sc.add(
                "play",
                **_play_cols(
                    u,
                    np.array([t0 + gap + 2 * MINUTE_US]),
                    np.array([2400.0]),
                    show[1:],
                    cat,
                    next_dev,
                    dt,
                    do,
                    da,
                    isp,
                    city,
                    flat,
                    flon,
                    net,
                ),
            )
            next_dev += 1
            km = float(
                haversine_km(
                    np.array(home[0][u]), np.array(home[1][u]), np.array(flat), np.array(flon)
                )
            )
            sc.exclude(int(u), t0 - 4 * HOUR_US, t0 + gap + 6 * HOUR_US)
            events.append((t0, t0 + gap, km))
        add_row(
            "impossible_travel",
            u,
            events[0][0],
            events[-1][1],
            distances_km=[round(e[2]) for e in events],
            speeds_kmh=[round(e[2] / ((e[1] - e[0]) / HOUR_US)) for e in events],
        )

    # Credential stuffing: one network tries many accounts within half an hour at night; a few
    # attempts succeed and the attacker then logs in and plays from a new device abroad.
    victims = chunks["credential_stuffing"]
    targets = np.concatenate([victims, targets_extra])
    burst_day = int(rng.integers(1, days - 1))
    t_burst = start_us + burst_day * DAY_US + int(rng.integers(1, 5)) * HOUR_US
    att_city = int(rng.integers(len(world.CITY_LAT)))
    att_net = np.array([185, int(rng.integers(0, 256)), int(rng.integers(0, 256)), 0])
    network = f"{att_net[0]}.{att_net[1]}.{att_net[2]}.0/24"
    for i, u in enumerate(targets):
        n_fail = int(rng.integers(1, 4))
        t = np.sort(t_burst + rng.integers(0, 30 * 60, n_fail + (i < len(victims))) * 1_000_000)
        success = np.zeros(len(t), bool)
        if i < len(victims):
            success[-1] = True
        ips = np.tile(att_net, (len(t), 1))
        ips[:, 3] = rng.integers(1, 255, len(t))
        sc.add(
            "login",
            **_login_cols(
                u,
                t,
                success,
                SCRIPTED_DEV_BASE - 1,
                world.DEVICE_TYPES.index("web"),
                world.OS_LIST.index("windows"),
                0,
                att_city,
                world.CITY_LAT[att_city],
                world.CITY_LON[att_city],
                ips,
            ),
        )
        if i >= len(victims):
            add_row(
                "credential_stuffing",
                u,
                int(t[0]),
                int(t[-1]),
                compromised=False,
                network=network,
                failed_attempts=n_fail,
            )
            continue
        # Takeover: a new device in another country plays a few titles an hour later.
        city = att_city  # the attacker plays from where the attack came from
        isp, net = _foreign_net(rng, city)
        dt, do, da = (x[0] for x in new_devices(rng, 1))
        t1 = int(t[-1]) + int(rng.integers(20, 60)) * MINUTE_US
        flat, flon = world.CITY_LAT[city], world.CITY_LON[city]
        sc.add(
            "login",
            **_login_cols(
                u, np.array([t1]), np.array([True]), next_dev, dt, do, da, city, flat, flon, net
            ),
        )
        n_p = int(rng.integers(2, 5))
        show = rng.choice(movies, size=n_p, p=mprob)
        tp = t1 + 5 * MINUTE_US + np.arange(n_p) * 150 * MINUTE_US
        sc.add(
            "play",
            **_play_cols(
                u,
                tp,
                np.full(n_p, 5400.0),
                show,
                cat,
                next_dev,
                dt,
                do,
                da,
                isp,
                city,
                flat,
                flon,
                net,
            ),
        )
        next_dev += 1
        km = float(
            haversine_km(np.array(home[0][u]), np.array(home[1][u]), np.array(flat), np.array(flon))
        )
        pad = int((km / 800.0 + 3) * HOUR_US)
        sc.exclude(int(u), int(t[0]) - pad, int(tp[-1]) + 2 * HOUR_US + pad)
        add_row(
            "credential_stuffing",
            u,
            int(t[0]),
            int(tp[-1] + 5400 * 1_000_000),
            compromised=True,
            network=network,
            failed_attempts=n_fail,
            takeover_country=world.COUNTRY_CODES[world.CITY_COUNTRY[city]],
        )

    # Benign: plane trips, far away but slow enough; the member plays on a phone abroad.
    for u in chunks["plane_trip"]:
        city = _far_city(rng, home[0][u], home[1][u], 2000.0)
        km = float(
            haversine_km(
                np.array(home[0][u]),
                np.array(home[1][u]),
                np.array(world.CITY_LAT[city]),
                np.array(world.CITY_LON[city]),
            )
        )
        fly = int((km / PLANE_KMH + 3) * HOUR_US)
        d0 = int(rng.integers(1, max(2, days - 8)))
        t_dep = start_us + d0 * DAY_US + int(rng.integers(6, 14)) * HOUR_US
        t_arr = t_dep + fly
        stay = int(rng.integers(3, 7)) * DAY_US
        t_ret = min(t_arr + stay, end_us - fly - HOUR_US)
        if t_ret <= t_arr + 12 * HOUR_US:
            continue
        isp, net = _foreign_net(rng, city)
        dt, do, da = (x[0] for x in new_devices(rng, 1, np.array([1])))
        flat, flon = world.CITY_LAT[city], world.CITY_LON[city]
        tp = np.arange(t_arr + HOUR_US, t_ret - 3 * HOUR_US, 12 * HOUR_US)
        tp = tp + rng.integers(0, 3 * 60, len(tp)) * MINUTE_US
        show = rng.choice(movies, size=len(tp), p=mprob)
        sc.add(
            "login",
            **_login_cols(
                u,
                np.array([t_arr + 30 * MINUTE_US]),
                np.array([True]),
                next_dev,
                dt,
                do,
                da,
                city,
                flat,
                flon,
                net,
            ),
        )
        sc.add(
            "play",
            **_play_cols(
                u,
                tp,
                np.full(len(tp), 3000.0),
                show,
                cat,
                next_dev,
                dt,
                do,
                da,
                isp,
                city,
                flat,
                flon,
                net,
            ),
        )
        next_dev += 1
        sc.exclude(int(u), t_dep - 3 * HOUR_US, t_ret + fly)
        plan.benign.append(
            {
                "user": int(u),
                "type": "plane_trip",
                "window_start": t_dep,
                "window_end": t_ret + fly,
                "details": json.dumps({"distance_km": round(km), "city": world.CITY_NAMES[city]}),
            }
        )

    fraud_users = {r["user"] for r in plan.rows} | {b["user"] for b in plan.benign}
    rest = np.array([u for u in clean if u not in fraud_users], dtype=np.int64)
    dev_owner = np.repeat(m.v_user, m.v_dev_count)
    mobile_users = np.unique(dev_owner[m.dev_type == world.DEVICE_TYPES.index("mobile")])
    n_dev = np.bincount(dev_owner, minlength=m.n)
    for kind, pool in (
        ("mobile_ip", np.intersect1d(rest, mobile_users)),
        ("multi_device_household", rest[n_dev[rest] >= 3]),
    ):
        for u in pool[:50]:
            plan.benign.append(
                {
                    "user": int(u),
                    "type": kind,
                    "window_start": start_us,
                    "window_end": end_us,
                    "details": "{}",
                }
            )
    return plan


def _append_viewers(
    m: Members,
    user: np.ndarray,
    hh: np.ndarray,
    group: np.ndarray,
    profile: np.ndarray,
    rate: np.ndarray,
    bot: np.ndarray,
    ndev: np.ndarray,
    dtype: np.ndarray,
    os_: np.ndarray,
    app: np.ndarray,
) -> None:
    first = len(m.dev_type) + np.cumsum(ndev) - ndev
    m.v_user = np.append(m.v_user, user)
    m.v_hh = np.append(m.v_hh, hh)
    m.v_group = np.append(m.v_group, group)
    m.v_profile = np.append(m.v_profile, profile)
    m.v_rate = np.append(m.v_rate, rate)
    m.v_bot = np.append(m.v_bot, bot)
    m.v_dev_first = np.append(m.v_dev_first, first)
    m.v_dev_count = np.append(m.v_dev_count, ndev)
    m.dev_type = np.append(m.dev_type, dtype)
    m.dev_os = np.append(m.dev_os, os_)
    m.dev_app = np.append(m.dev_app, app)
