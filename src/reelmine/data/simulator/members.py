"""Members: accounts, tastes, households with their devices and networks, viewers and churn."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from reelmine.data.schema import USERS, arrow_type
from reelmine.data.simulator import world
from reelmine.data.simulator._util import DAY_US, make_ids
from reelmine.data.simulator.catalog import N_FACTORS
from reelmine.data.simulator.quality import VALUES, QualityModel

PLANS = ["basic", "standard", "premium"]
PLAN_STREAMS = np.array([1, 2, 4])
GENDERS = ["F", "M", "X"]
N_COUNTRIES = len(world.COUNTRIES)


@dataclass
class Members:
    """Accounts (index = user) with their households, devices and viewers (profiles)."""

    user_ids: pa.Array
    country: np.ndarray
    city: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    plan: np.ndarray
    max_streams: np.ndarray
    signup_us: np.ndarray
    active_from_us: np.ndarray
    cancel_us: np.ndarray  # -1 when the member stays
    hazard: np.ndarray  # daily rate of starting to disengage (the churn precursor)
    rate: np.ndarray  # sessions per active day (account total)
    genre_aff: np.ndarray  # (U, G)
    factors: np.ndarray  # (U, K)
    badness: np.ndarray  # chronic quality degradation experienced
    # households
    hh_user: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hh_city: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hh_lat: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hh_lon: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hh_isp: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hh_net: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    # viewers (profiles), each with a contiguous range of devices
    v_user: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    v_hh: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    v_group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    v_profile: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    v_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    v_bot: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    v_dev_first: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    v_dev_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # devices
    dev_type: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dev_os: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dev_app: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # onset of disengagement before cancelling; -1 when none before the window end
    disengage_us: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n(self) -> int:
        return len(self.country)


def _os_for(rng: np.random.Generator, dtype: np.ndarray) -> np.ndarray:
    out = np.zeros(len(dtype), dtype=np.int64)
    for t, name in enumerate(world.DEVICE_TYPES):  # per device type (5)
        m = dtype == t
        choices = [VALUES["os"].index(o) for o in world.DEVICE_OS[name]]
        out[m] = rng.choice(choices, size=int(m.sum()))
    return out


def new_devices(
    rng: np.random.Generator, n: int, dtype: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device type, OS and app version indices for ``n`` new devices."""
    t = (
        rng.choice(len(world.DEVICE_TYPES), size=n, p=world.DEVICE_WEIGHTS)
        if dtype is None
        else dtype
    )
    return t, _os_for(rng, t), rng.choice(len(world.APP_VERSIONS), size=n, p=world.APP_WEIGHTS)


def household_net(rng: np.random.Generator, isp: np.ndarray) -> np.ndarray:
    """Public IPv4 of a household: the ISP fixes the first octet, the rest is random."""
    n = len(isp)
    return np.stack(
        [
            20 + (isp * 11) % 180,
            rng.integers(0, 256, n),
            rng.integers(0, 256, n),
            rng.integers(1, 255, n),
        ],
        axis=1,
    )


def country_isps(country: int) -> list[int]:
    """ISP value indices available in a country."""
    return [VALUES["isp"].index(i) for i in world.COUNTRIES[country][5]]


def pick_isp(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """One fixed-line ISP per household, among its country's providers."""
    out = np.zeros(len(country), dtype=np.int64)
    for c in range(N_COUNTRIES):  # per country (10)
        m = country == c
        out[m] = rng.choice(country_isps(c), size=int(m.sum()), p=None)
    return out


def generate_members(
    rng: np.random.Generator,
    n: int,
    n_genres: int,
    quality: QualityModel,
    start_us: int,
    days: int,
    sessions_per_day: float,
) -> tuple[Members, np.ndarray]:
    """Accounts with tastes, households, devices, viewers and planned churn.

    Returns the members and the per-country genre preference matrix (C, G) used.
    """
    country = rng.choice(N_COUNTRIES, size=n, p=world.COUNTRY_WEIGHTS)
    first_city = np.concatenate([[0], np.cumsum(np.bincount(world.CITY_COUNTRY))[:-1]])
    n_cities = np.bincount(world.CITY_COUNTRY)
    city = first_city[country] + (rng.random(n) * n_cities[country]).astype(np.int64)
    age = np.clip(18 + rng.gamma(2.2, 9.0, n), 18, 85).astype(np.int64)
    gender = rng.choice(3, size=n, p=[0.49, 0.49, 0.02])
    plan = rng.choice(3, size=n, p=[0.3, 0.45, 0.25])
    max_streams = PLAN_STREAMS[plan]
    before = rng.random(n) < 0.75
    signup_us = (
        np.where(
            before,
            start_us - rng.integers(1, 1000, n) * DAY_US,
            start_us + rng.integers(0, max(days - 3, 1), n) * DAY_US,
        )
        + rng.integers(0, 24 * 3600, n) * 1_000_000
    )
    active_from = np.maximum(signup_us, start_us)

    country_pref = rng.normal(0, 0.6, (N_COUNTRIES, n_genres))
    genre_aff = country_pref[country] + rng.normal(0, 0.8, (n, n_genres))
    # Younger members lean to a different part of the catalogue than older ones.
    age_dir = rng.normal(0, 0.4, n_genres)
    genre_aff += ((age - 40) / 20.0)[:, None] * age_dir[None, :]
    factors = rng.normal(0, 1.0, (n, N_FACTORS))
    rate = sessions_per_day * rng.lognormal(-0.18, 0.6, n)

    # Viewers: basic plans have one, others up to their stream limit (mostly fewer).
    n_view = np.minimum(max_streams, 1 + rng.binomial(2, 0.35, n))
    n_view = np.where(plan == 0, 1, n_view)
    v_user = np.repeat(np.arange(n), n_view)
    v_profile = np.arange(len(v_user)) - np.repeat(np.cumsum(n_view) - n_view, n_view)
    v_share = np.where(v_profile == 0, 1.0, 0.5)
    v_rate = rate[v_user] * v_share / np.bincount(v_user, weights=v_share)[v_user]
    v_devs = 1 + (rng.random(len(v_user)) < 0.4).astype(np.int64)
    dev_first = np.cumsum(v_devs) - v_devs
    dev_type, dev_os, dev_app = new_devices(rng, int(v_devs.sum()))

    hh_isp = pick_isp(rng, country)
    hh_lat = world.CITY_LAT[city] + rng.normal(0, 0.05, n)
    hh_lon = world.CITY_LON[city] + rng.normal(0, 0.05, n)

    m = Members(
        user_ids=make_ids("u", np.arange(n), 6),
        country=country,
        city=city,
        age=age,
        gender=gender,
        plan=plan,
        max_streams=max_streams,
        signup_us=signup_us,
        active_from_us=active_from,
        cancel_us=np.full(n, -1, dtype=np.int64),
        hazard=np.zeros(n),
        rate=rate,
        genre_aff=genre_aff,
        factors=factors,
        badness=np.zeros(n),
        hh_user=np.arange(n),
        hh_city=city,
        hh_lat=hh_lat,
        hh_lon=hh_lon,
        hh_isp=hh_isp,
        hh_net=household_net(rng, hh_isp),
        v_user=v_user,
        v_hh=v_user.copy(),
        v_group=v_profile.copy(),
        v_profile=v_profile,
        v_rate=v_rate,
        v_bot=np.zeros(len(v_user), dtype=bool),
        v_dev_first=dev_first,
        v_dev_count=v_devs,
        dev_type=dev_type,
        dev_os=dev_os,
        dev_app=dev_app,
    )
    _plan_churn(rng, m, quality, start_us, days)
    return m, country_pref


def device_isp(m: Members, dev: np.ndarray, hh: np.ndarray) -> np.ndarray:
    """ISP seen by a device: mobile phones use their country's mobile network."""
    mobile = m.dev_type[dev] == world.DEVICE_TYPES.index("mobile")
    country = m.country[m.hh_user[hh]]
    return np.where(mobile, len(world.ISPS) + country, m.hh_isp[hh])


# Churn process (docs/simulator.md, "Churn"). A member first *disengages*: the onset comes at a
# daily rate set by traits the data shows (viewing rate, quality experienced, tenure, plan).
# From the onset their viewing decays as exp(-u / DISENGAGE_TAU_DAYS) and the cancellation
# hazard rises as CANCEL_RATE * (1 - exp(-u / tau)), u = days since onset, so members cancel
# 1-10 weeks (median 27 days) after their viewing starts to fall, mostly after a dormant spell.
# A few cancel abruptly (payment failures, price), at ABRUPT_SHARE x the onset rate, without
# any warning in the data (payments are not in the contract).
ONSET_BASE = 0.0017  # daily onset rate of a typical member
DISENGAGE_TAU_DAYS = 7.0
CANCEL_RATE = 0.035  # daily cancellation hazard once engagement has fully decayed
ABRUPT_SHARE = 0.12
MIN_STAY_DAYS = 2.0
BURN_IN_DAYS = 150  # members who joined earlier start their onset clock this long before the window
PLAN_EFFECT = np.array([0.5, 0.0, -0.5])  # basic, standard, premium (log rate)
_U_GRID = np.linspace(0.0, 400.0, 4001)


def disengaged_cumhazard(u: np.ndarray) -> np.ndarray:
    """Cumulative cancellation hazard ``u`` days after the onset of disengagement."""
    u = np.maximum(np.asarray(u, dtype=np.float64), 0.0)
    tau = DISENGAGE_TAU_DAYS
    return CANCEL_RATE * (u - tau * (1.0 - np.exp(-u / tau)))


def _inverse_cumhazard(e: np.ndarray) -> np.ndarray:
    """Days after onset at which the cumulative hazard reaches ``e`` (inverse of the above)."""
    grid = disengaged_cumhazard(_U_GRID)
    # Beyond the grid the hazard is CANCEL_RATE, so the inverse is linear.
    far = e / CANCEL_RATE + DISENGAGE_TAU_DAYS
    return np.where(e <= grid[-1], np.interp(e, grid, _U_GRID), far)


def engagement_multiplier(days_since_onset: np.ndarray) -> np.ndarray:
    """Viewing-rate multiplier of a disengaging member (1 before the onset, NaN/negative = none)."""
    d = np.asarray(days_since_onset, dtype=np.float64)
    return np.where(d > 0, np.exp(-np.maximum(d, 0.0) / DISENGAGE_TAU_DAYS), 1.0)


def churn_probability(
    onset_rate: np.ndarray, days_disengaged: np.ndarray, horizon_days: float = 30.0
) -> np.ndarray:
    """True probability of cancelling within ``horizon_days``, given the state at the as-of date.

    Parameters
    ----------
    onset_rate : (n,) daily disengagement onset rate (``user_tastes.churn_hazard``).
    days_disengaged : (n,) days since the onset at the as-of date; NaN or negative when the
        member is not disengaging then (an onset after the as-of date is future, not state).
    horizon_days : label window in days.

    Returns
    -------
    (n,) probabilities: the Bayes-optimal churn score the simulator allows (the oracle). The
    two-day minimum stay is ignored (it only matters in a member's first two days).
    """
    p = np.asarray(onset_rate, dtype=np.float64)
    d = np.asarray(days_disengaged, dtype=np.float64)
    h = float(horizon_days)
    engaged = ~(d >= 0)
    d0 = np.where(engaged, 0.0, d)
    s_dis = np.exp(-(disengaged_cumhazard(d0 + h) - disengaged_cumhazard(d0)))
    # Not yet disengaging: no onset in the window, or an onset at s and no cancel by h - s.
    s = np.linspace(0.0, h, 121)
    after = np.exp(-disengaged_cumhazard(h - s))  # (S,)
    dens = p[:, None] * np.exp(-p[:, None] * s[None, :]) * after[None, :]
    s_eng = np.exp(-p * h) + np.trapezoid(dens, s, axis=1)
    surv = np.exp(-ABRUPT_SHARE * p * h) * np.where(engaged, s_eng, s_dis)
    return 1.0 - surv


def _plan_churn(
    rng: np.random.Generator, m: Members, quality: QualityModel, start_us: int, days: int
) -> None:
    """Onset rate of disengagement from observable traits; draw onsets and cancellations."""
    dev_owner = np.repeat(m.v_user, m.v_dev_count)
    dev_hh = np.repeat(m.v_hh, m.v_dev_count)
    dev = np.arange(len(dev_owner))
    bad = quality.badness(
        {
            "device_type": m.dev_type,
            "os": m.dev_os,
            "app_version": m.dev_app,
            "isp": device_isp(m, dev, dev_hh),
            "country": m.country[dev_owner],
        }
    )
    m.badness = np.bincount(dev_owner, weights=bad, minlength=m.n) / np.bincount(
        dev_owner, minlength=m.n
    )
    z_eng = (np.log(m.rate) - np.log(m.rate).mean()) / np.log(m.rate).std()
    z_bad = (m.badness - m.badness.mean()) / max(m.badness.std(), 1e-9)
    new = (m.active_from_us - m.signup_us) < 60 * DAY_US
    m.hazard = ONSET_BASE * np.exp(-0.9 * z_eng + 0.7 * z_bad + 1.0 * new + PLAN_EFFECT[m.plan])

    # Members who joined before the window were alive at its start: draw their history from
    # BURN_IN_DAYS before it (or signup) and redraw those whose disengagement ended before it.
    t_ref = np.maximum(m.signup_us, start_us - BURN_IN_DAYS * DAY_US).astype(np.float64)
    onset = np.empty(m.n)
    cancel = np.empty(m.n)
    todo = np.arange(m.n)
    for _ in range(40):  # rejection rounds (few members need more than a handful)
        onset[todo] = t_ref[todo] + rng.exponential(1.0 / m.hazard[todo]) * DAY_US
        lag = _inverse_cumhazard(rng.exponential(1.0, len(todo)))
        cancel[todo] = onset[todo] + np.maximum(lag, MIN_STAY_DAYS) * DAY_US
        todo = todo[cancel[todo] < m.active_from_us[todo]]
        if len(todo) == 0:
            break
    # Leftovers (vanishingly few) start engaged at the window start.
    onset[todo] = m.active_from_us[todo] + rng.exponential(1.0 / m.hazard[todo]) * DAY_US
    cancel[todo] = onset[todo] + _inverse_cumhazard(rng.exponential(1.0, len(todo))) * DAY_US
    abrupt = (
        m.active_from_us
        + (MIN_STAY_DAYS + rng.exponential(1.0 / (ABRUPT_SHARE * m.hazard))) * DAY_US
    )
    t = np.minimum(cancel, abrupt).astype(np.int64)
    end = start_us + days * DAY_US
    m.cancel_us = np.where(t < end, t, -1)
    on = onset.astype(np.int64)
    # The onset is kept when it happened before both the window end and the cancellation.
    m.disengage_us = np.where((on < end) & ((m.cancel_us < 0) | (on < m.cancel_us)), on, -1)


def users_table(m: Members) -> pa.Table:
    """The contract ``users`` table."""
    ts = arrow_type("timestamp")
    cancel = pa.array(m.cancel_us, mask=m.cancel_us < 0, type=pa.int64()).cast(ts)
    return pa.table(
        {
            "user_id": m.user_ids,
            "signup_at": pa.array(m.signup_us, type=pa.int64()).cast(ts),
            "country": pa.array([world.COUNTRY_CODES[c] for c in range(N_COUNTRIES)]).take(
                pa.array(m.country)
            ),
            "age": pa.array(m.age, type=pa.int64()),
            "gender": pa.array(GENDERS).take(pa.array(m.gender)),
            "plan": pa.array(PLANS).take(pa.array(m.plan)),
            "max_streams": pa.array(m.max_streams, type=pa.int64()),
            "cancelled_at": cancel,
            "email": pa.compute.binary_join_element_wise(m.user_ids, "@example.org", ""),
        },
        schema=pa.schema(
            [
                pa.field(c, arrow_type(USERS.column(c).type))
                for c in (
                    "user_id",
                    "signup_at",
                    "country",
                    "age",
                    "gender",
                    "plan",
                    "max_streams",
                    "cancelled_at",
                    "email",
                )
            ]
        ),
    )
