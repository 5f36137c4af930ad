"""Viewing: who plays what and when, for one block of members at a time.

A member's choice of show is a softmax over ``appeal + genre affinity + latent factors +
language match``; trending bursts and new-title novelty are time multipliers applied by
rejection sampling, so the static part stays one vectorised draw per session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelmine.data.simulator import world
from reelmine.data.simulator._util import DAY_US, HOUR_US, MINUTE_US, sequential_starts
from reelmine.data.simulator.catalog import Catalog
from reelmine.data.simulator.members import Members, device_isp, engagement_multiplier

# Local-hour viewing profile (weekday, weekend): evenings peak, nights are quiet.
_WEEKDAY = np.array(
    [
        1.2,
        0.6,
        0.3,
        0.2,
        0.2,
        0.3,
        0.6,
        1.0,
        1.2,
        1.2,
        1.3,
        1.5,
        1.9,
        1.9,
        1.8,
        1.9,
        2.3,
        3.0,
        4.2,
        5.8,
        6.9,
        6.7,
        5.0,
        2.6,
    ]
)
_WEEKEND = np.array(
    [
        2.0,
        1.2,
        0.7,
        0.4,
        0.3,
        0.3,
        0.5,
        0.9,
        1.5,
        2.2,
        2.8,
        3.2,
        3.4,
        3.4,
        3.4,
        3.5,
        3.8,
        4.2,
        4.9,
        5.8,
        6.3,
        6.0,
        4.9,
        3.3,
    ]
)
HOURLY = {False: _WEEKDAY / _WEEKDAY.sum(), True: _WEEKEND / _WEEKEND.sum()}
WEEKDAY_RATE = np.array([0.9, 0.88, 0.9, 0.95, 1.1, 1.3, 1.25])  # Monday..Sunday
NOVELTY = 2.0  # extra demand multiplier of a new title on its first day, decaying in 10 days
NOVELTY_DAYS = 10.0
LANG_BONUS = 0.8
TASTE_SCALE = 1.3  # weight of personal taste against general appeal in choices


@dataclass
class Bursts:
    """Planted trending bursts (one row per burst)."""

    show: np.ndarray
    start_us: np.ndarray
    end_us: np.ndarray
    strength: np.ndarray


def plan_bursts(rng: np.random.Generator, cat: Catalog, start_us: int, days: int) -> Bursts:
    """Bursts for moderately popular catalogue titles (not new ones), a few days long."""
    n = int(np.clip(days // 10, 2, 10))
    # Movies only, so that a burst shows on one title_id (series spread over episodes).
    old = np.flatnonzero((cat.show_added_us < start_us) & (cat.show_kind == 0))
    order = old[np.argsort(-cat.show_logpop[old])]
    pool = order[10 : min(len(order), 150)]
    show = rng.choice(pool, size=n, replace=False)
    first = min(3, days - 5)
    day = rng.integers(first, days - 4, n)
    dur = rng.integers(2, 6, n)
    s = start_us + day * DAY_US
    return Bursts(
        show,
        s,
        np.minimum(s + dur * DAY_US, start_us + days * DAY_US),
        rng.uniform(3.0, 6.0, n).round(2),
    )


def time_multiplier(
    cat: Catalog, bursts: Bursts, start_us: int, show: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Demand multiplier of ``show`` at time ``t``: availability, novelty and bursts."""
    added = cat.show_added_us[show]
    late = added >= start_us
    age_days = (t - added) / DAY_US
    m = np.where(t >= added, 1.0, 0.0)
    m *= np.where(late, 1.0 + NOVELTY * np.exp(-np.maximum(age_days, 0) / NOVELTY_DAYS), 1.0)
    for b in range(len(bursts.show)):  # per planted burst
        hit = (show == bursts.show[b]) & (t >= bursts.start_us[b]) & (t < bursts.end_us[b])
        m[hit] *= bursts.strength[b]
    return m


def max_multiplier(cat: Catalog, bursts: Bursts, start_us: int) -> np.ndarray:
    """Upper bound of :func:`time_multiplier` per show (the rejection envelope)."""
    mm = np.where(cat.show_added_us >= start_us, 1.0 + NOVELTY, 1.0)
    for b in range(len(bursts.show)):
        mm[bursts.show[b]] *= bursts.strength[b]
    return mm


def personal_score(m: Members, cat: Catalog, user: np.ndarray, show: np.ndarray) -> np.ndarray:
    """Taste fit of (user, show) pairs, without the show's general appeal."""
    lang_match = cat.show_lang[show] == _user_lang(m, user)
    return (
        (m.genre_aff[user] * cat.show_genres[show]).sum(1)
        + (m.factors[user] * cat.show_factors[show]).sum(1)
        + LANG_BONUS * lang_match
    )


def _user_lang(m: Members, user: np.ndarray) -> np.ndarray:
    lang_of_country = np.array([world.LANGUAGES.index(c) for c in world.COUNTRY_LANG])
    return lang_of_country[m.country[user]]


def member_logits(m: Members, cat: Catalog, users: np.ndarray, mmax: np.ndarray) -> np.ndarray:
    """(U, S) log choice weights of shows for ``users``; unavailable shows get ``-inf``."""
    logits = (
        cat.show_logpop[None, :]
        + np.log(mmax)[None, :]
        + TASTE_SCALE
        * (
            m.genre_aff[users] @ cat.show_genres.T
            + m.factors[users] @ cat.show_factors.T
            + LANG_BONUS * (cat.show_lang[None, :] == _user_lang(m, users)[:, None])
        )
    )
    logits[~cat.show_avail[m.country[users]]] = -np.inf
    return logits


def sample_rows(rng: np.random.Generator, logits: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one column per entry of ``rows`` from the softmax of ``logits[row]``."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    cum = np.cumsum(p, axis=1)
    cum /= cum[:, -1:]
    flat = (cum + np.arange(len(cum))[:, None]).ravel()
    u = rng.random(len(rows)) * (1 - 1e-12)
    pos = np.searchsorted(flat, rows + u, side="right")
    return np.minimum(pos - rows * logits.shape[1], logits.shape[1] - 1)


@dataclass
class BlockContext:
    """Everything a block needs that is fixed for the whole run."""

    cat: Catalog
    members: Members
    bursts: Bursts
    start_us: int
    days: int
    rate_mult: object  # callable(users, day_start_us) -> (U, D) multipliers (experiments)


def simulate_viewing(
    rng: np.random.Generator, ctx: BlockContext, lo: int, hi: int
) -> dict[str, np.ndarray]:
    """Plays of members ``lo..hi-1`` (global indices) before quality and fraud are applied."""
    m, cat = ctx.members, ctx.cat
    start_us, days = ctx.start_us, ctx.days
    end_us = start_us + days * DAY_US
    vsel = np.flatnonzero((m.v_user >= lo) & (m.v_user < hi))
    vu = m.v_user[vsel]
    day_start = start_us + np.arange(days) * DAY_US
    dow = ((day_start // DAY_US) + 3) % 7  # 1970-01-01 was a Thursday
    # Expected sessions per viewer and day.
    active = (day_start[None, :] + DAY_US > m.active_from_us[vu][:, None]) & (
        (m.cancel_us[vu][:, None] < 0) | (day_start[None, :] < m.cancel_us[vu][:, None])
    )
    # Disengaging members watch less and less until they cancel (members.py, churn process).
    onset = m.disengage_us[vu][:, None]
    since = (day_start[None, :] + DAY_US // 2 - onset) / DAY_US
    ramp = np.where(onset >= 0, engagement_multiplier(since), 1.0)
    exp_mult = ctx.rate_mult(vu, day_start)  # type: ignore[operator]
    bot = m.v_bot[vsel]
    weekly = np.where(bot[:, None], 1.0, WEEKDAY_RATE[dow][None, :])
    lam = m.v_rate[vsel][:, None] * weekly * active * np.where(bot[:, None], 1.0, ramp * exp_mult)
    counts = rng.poisson(lam)
    sv_local, sd = np.nonzero(counts)
    reps = counts[sv_local, sd]
    sv_local = np.repeat(sv_local, reps)
    sd = np.repeat(sd, reps)
    n_s = len(sv_local)
    sv = vsel[sv_local]
    su = m.v_user[sv]
    s_bot = m.v_bot[sv]
    # Local start hour from the diurnal profile (bots: any hour).
    weekend = dow[sd] >= 5
    hour = np.where(
        weekend,
        rng.choice(24, size=n_s, p=HOURLY[True]),
        rng.choice(24, size=n_s, p=HOURLY[False]),
    )
    hour = np.where(s_bot, rng.integers(0, 24, n_s), hour)
    tz = world.COUNTRY_TZ[m.country[su]]
    s_start = day_start[sd] + (hour - tz) * HOUR_US + rng.integers(0, 60, n_s) * MINUTE_US

    # Show choice: static softmax per member, then rejection on the time multiplier.
    ub = np.arange(lo, hi)
    mmax = max_multiplier(cat, ctx.bursts, start_us)
    logits = member_logits(m, cat, ub, mmax)
    # Bulk-playback bots loop over short content: every play runs to the end within minutes.
    first_rt = cat.play_runtime_s[cat.show_first]
    short = first_rt <= np.quantile(first_rt, 0.15)
    bot_logits = np.where(short, cat.show_logpop + np.log(mmax), -np.inf)[None, :]
    show = np.full(n_s, -1, dtype=np.int64)
    todo = np.arange(n_s)
    for _ in range(8):  # rejection rounds; leftovers are dropped
        if len(todo) == 0:
            break
        hum = todo[~s_bot[todo]]
        cand = np.empty(len(todo), dtype=np.int64)
        is_h = ~s_bot[todo]
        cand[is_h] = sample_rows(rng, logits, su[hum] - lo)
        if (~is_h).any():
            cand[~is_h] = sample_rows(rng, bot_logits, np.zeros(int((~is_h).sum()), np.int64))
        acc = rng.random(len(todo)) * mmax[cand] < time_multiplier(
            cat, ctx.bursts, start_us, cand, s_start[todo]
        )
        show[todo[acc]] = cand[acc]
        todo = todo[~acc]
    keep = show >= 0
    sv, su, s_bot, s_start, show = sv[keep], su[keep], s_bot[keep], s_start[keep], show[keep]
    n_s = len(show)

    fit = personal_score(m, cat, su, show)
    fit_z = (fit - 0.5) / 1.3
    # Binge sessions for series: consecutive episodes, longer when the series fits.
    count = cat.show_count[show]
    series = cat.show_kind[show] == 1
    p_cont = 0.25 + 0.5 / (1 + np.exp(-fit_z))
    length = np.where(series & ~s_bot, rng.geometric(1 - p_cont), 1)
    first_ep = np.floor(count * rng.beta(0.8, 2.5, n_s)).astype(np.int64)
    length = np.minimum(length, count - first_ep)
    sess = np.repeat(np.arange(n_s), length)
    k = np.arange(len(sess)) - np.repeat(np.cumsum(length) - length, length)
    playable = cat.show_first[show[sess]] + first_ep[sess] + k
    runtime = cat.play_runtime_s[playable]
    last = k == length[sess] - 1
    p_complete = 1 / (1 + np.exp(-(1.1 * fit_z[sess] + 0.6)))
    complete = rng.random(len(sess)) < p_complete
    frac = np.where(
        complete, rng.uniform(0.92, 1.0, len(sess)), 0.9 * rng.beta(1.3, 2.2, len(sess))
    )
    frac = np.where(~last, rng.uniform(0.95, 1.0, len(sess)), frac)
    frac = np.where(s_bot[sess], 1.0, frac)
    watched = (runtime * frac).round()

    # Device per session, from the viewer's own devices.
    dev = m.v_dev_first[sv] + (rng.random(n_s) * m.v_dev_count[sv]).astype(np.int64)
    p_v = sv[sess]
    p_u = su[sess]
    group = p_u * 16 + m.v_group[p_v]
    wanted = s_start[sess] + k
    order = np.lexsort((wanted, group))
    slack = (0.15 * watched + 60.0 + rng.uniform(10, 40, len(sess))) * 1e6
    dur = (watched * 1e6 + slack).astype(np.int64)
    started = np.empty(len(sess), dtype=np.int64)
    started[order] = sequential_starts(group[order], wanted[order], dur[order])
    ok = (started < end_us) & (started >= m.active_from_us[p_u])
    ok &= (m.cancel_us[p_u] < 0) | (started < m.cancel_us[p_u])
    sel = np.flatnonzero(ok)
    hh = m.v_hh[p_v[sel]]
    d = dev[sess[sel]]
    return {
        "user": p_u[sel],
        "viewer": p_v[sel],
        "profile": m.v_profile[p_v[sel]],
        "show": show[sess[sel]],
        "playable": playable[sel],
        "started_us": started[sel],
        "watched_s": watched[sel],
        "fit": fit_z[sess[sel]],
        "bot": s_bot[sess[sel]],
        "dev": d,
        "hh": hh,
        "isp": device_isp(m, d, hh),
    }
