"""Playback quality per play: a multiplicative effect model by slice, plus planted incidents.

Each attribute value (device type, OS, app version, ISP, CDN, country) has a chronic effect on
log start-up time, on the log rate of rebuffering and on the log odds of an error. Incidents are
time windows in which one to three attribute combinations (depth 1-3) degrade one metric.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from reelmine.data.simulator import world
from reelmine.data.simulator._util import HOUR_US

ATTRS = ("device_type", "os", "app_version", "isp", "cdn", "country")
MOBILE_ISPS = [f"M{i + 1}" for i in range(len(world.COUNTRIES))]
VALUES: dict[str, list[str]] = {
    "device_type": world.DEVICE_TYPES,
    "os": world.OS_LIST,
    "app_version": world.APP_VERSIONS,
    "isp": world.ISPS + MOBILE_ISPS,
    "cdn": world.CDNS,
    "country": world.COUNTRY_CODES,
}
ERROR_CODES = ["E1001", "E2002", "E3003", "E4004"]
ERROR_WEIGHTS = np.array([0.45, 0.25, 0.2, 0.1])
# Incident metrics: the column they degrade and whether the measure is additive (a count) or
# derived (a ratio of two sums), as root-cause localisers distinguish them.
INCIDENT_METRICS = {
    "startup_ms": "derived",
    "rebuffer_ratio": "derived",
    "error_count": "additive",
    "exit_before_start": "additive",
}


# Smallest share of plays (in the traffic profiles) a planted root cause must hold: a slice with
# a handful of plays in a few hours is not an incident any method, or operator, could see.
MIN_SHARE = 0.015


def _mask(combo: dict[str, int], profiles: dict[str, np.ndarray]) -> np.ndarray:
    m = np.ones(len(profiles["country"]), dtype=bool)
    for a, v in combo.items():
        m &= profiles[a] == v
    return m


def _minimal(combo: dict[str, int], profiles: dict[str, np.ndarray]) -> dict[str, int]:
    """The shortest description holding exactly the same plays as ``combo``.

    Attributes implied by the others are dropped (``os=roku`` implies ``device_type=tv``), and
    nested values are folded: a mobile network serves one country's phones only, so
    ``{country=US, device_type=mobile}`` and ``{isp=M1}`` hold the same plays. Data can only
    tell which plays were hit, not which of two equivalent descriptions was meant, so the truth
    states the shortest one (ties: the most of the drawn attributes, then without
    ``device_type``, then ``ATTRS`` order).
    """
    m = _mask(combo, profiles)
    if not m.any():
        return dict(combo)
    # Attributes constant over the slice's plays: the only ones an equivalent description uses.
    const = {
        a: int(profiles[a][m][0]) for a in ATTRS if np.all(profiles[a][m] == profiles[a][m][0])
    }
    for size in range(1, len(combo) + 1):
        subsets = sorted(
            itertools.combinations(const, size),
            key=lambda s: (
                -len(set(s) & set(combo)),
                "device_type" in s,  # an OS implies its device type, as stated before
                [ATTRS.index(a) for a in s],
            ),
        )
        for sub in subsets:
            cand = {a: const[a] for a in sub}
            if np.array_equal(_mask(cand, profiles), m):
                return cand
    return dict(combo)


def _draw_combo(rng: np.random.Generator, profiles: dict[str, np.ndarray]) -> dict[str, int]:
    """One root-cause combination read from a random traffic profile (minimal description)."""
    p = int(rng.integers(len(profiles["country"])))
    depth = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
    # Deeper combinations use broad attributes so their slice keeps enough plays.
    pool = ["cdn", "isp", "country", "device_type", "os", "app_version"]
    attrs = rng.choice(pool, size=depth, replace=False)
    return _minimal({str(a): int(profiles[str(a)][p]) for a in attrs}, profiles)


def _nested(a: dict[str, int], b: dict[str, int], profiles: dict[str, np.ndarray]) -> bool:
    """Whether one combination's plays lie inside the other's (``isp=M1&os=android`` is inside
    ``country=US``: US phones use M1), so that the inner one is not identifiable."""
    ma, mb = _mask(a, profiles), _mask(b, profiles)
    both = ma & mb
    return bool(np.array_equal(both, ma) or np.array_equal(both, mb))


@dataclass
class Incident:
    """One planted incident."""

    incident_id: str
    start_us: int
    end_us: int
    metric: str
    combos: list[dict[str, int]]  # attribute -> value index
    magnitude: float

    def root_cause(self) -> list[str]:
        return ["&".join(f"{a}={VALUES[a][v]}" for a, v in sorted(c.items())) for c in self.combos]


@dataclass
class QualityModel:
    """Chronic per-value effects (log scale) and the planted incidents."""

    startup: dict[str, np.ndarray]
    rebuffer: dict[str, np.ndarray]
    error: dict[str, np.ndarray]
    incidents: list[Incident]

    def badness(self, attrs: dict[str, np.ndarray]) -> np.ndarray:
        """Expected chronic degradation of a slice (sum of start-up and rebuffer effects)."""
        out = np.zeros(len(next(iter(attrs.values()))))
        for a, idx in attrs.items():
            out += self.startup[a][idx] + self.rebuffer[a][idx]
        return out


def make_quality_model(rng: np.random.Generator) -> QualityModel:
    """Draw chronic effects, with a few deliberately bad values (an old app, a weak ISP)."""
    startup = {a: rng.normal(0, 0.10, len(v)) for a, v in VALUES.items()}
    rebuffer = {a: rng.normal(0, 0.15, len(v)) for a, v in VALUES.items()}
    error = {a: rng.normal(0, 0.15, len(v)) for a, v in VALUES.items()}
    dt = VALUES["device_type"]
    startup["device_type"][dt.index("mobile")] += 0.15
    startup["device_type"][dt.index("tv")] -= 0.05
    startup["app_version"][VALUES["app_version"].index("7.0")] += 0.25
    error["app_version"][VALUES["app_version"].index("7.0")] += 0.4
    rebuffer["isp"][len(world.ISPS) :] += 0.5  # mobile networks rebuffer more
    rebuffer["isp"][VALUES["isp"].index("I13")] += 0.6
    rebuffer["country"][VALUES["country"].index("IN")] += 0.3
    return QualityModel(startup, rebuffer, error, [])


def plan_incidents(
    rng: np.random.Generator,
    profiles: dict[str, np.ndarray],
    start_us: int,
    days: int,
) -> list[Incident]:
    """Non-overlapping incidents on distinct days after a warm-up week.

    ``profiles`` are attribute index arrays of typical plays (one row per sampled device); each
    root-cause combination is read from one profile so that its slice really receives traffic.
    """
    warm = min(7, days // 2)
    n = int(max(2, min(12, (days - warm) // 5)))
    n = min(n, days - warm)
    inc_days = np.sort(rng.choice(np.arange(warm, days), size=n, replace=False))
    metrics = list(INCIDENT_METRICS)
    out: list[Incident] = []
    n_prof = len(profiles["country"])
    for i, day in enumerate(inc_days):  # per incident definition
        metric = metrics[i % len(metrics)]
        n_combo = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        combos: list[dict[str, int]] = []
        rejected = 0
        while len(combos) + rejected < n_combo:
            combo = _draw_combo(rng, profiles)
            # A root cause is stated by its minimal description, holds a visible share of the
            # traffic, and is neither inside nor above another root cause of the incident; a
            # draw that is not is dropped (not redrawn, so the random stream, and every other
            # incident, stays as it was).
            if _mask(combo, profiles).mean() < MIN_SHARE or any(
                _nested(combo, c, profiles) for c in combos
            ):
                rejected += 1
            elif combo not in combos:
                combos.append(combo)
        tz = int(world.COUNTRY_TZ[profiles["country"][int(rng.integers(n_prof))]])
        local_start = int(rng.integers(17, 21))
        hour = (local_start - tz) % 24
        dur_h = int(rng.integers(2, 6))
        s = start_us + int(day) * 24 * HOUR_US + hour * HOUR_US
        e = min(s + dur_h * HOUR_US, start_us + days * 24 * HOUR_US)
        mag = {
            "startup_ms": 3.0,
            "rebuffer_ratio": 8.0,
            "error_count": 0.25,
            "exit_before_start": 0.2,
        }[metric]
        if combos:  # every draw above is made either way, so later incidents do not move
            out.append(Incident(f"inc{len(out) + 1:03d}", s, e, metric, combos, mag))
    # Windows near midnight UTC can spill into the next day: keep them apart by an hour.
    for prev, cur in zip(out, out[1:], strict=False):
        if cur.start_us < prev.end_us + HOUR_US:
            dur = cur.end_us - cur.start_us
            cur.start_us = prev.end_us + HOUR_US
            cur.end_us = min(cur.start_us + dur, start_us + days * 24 * HOUR_US)
    return [i for i in out if i.end_us > i.start_us]


def simulate_quality(
    rng: np.random.Generator,
    model: QualityModel,
    attrs: dict[str, np.ndarray],
    started_us: np.ndarray,
    watched_s: np.ndarray,
    force_ok: np.ndarray | None = None,
    patient: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Quality columns for plays with attribute indices ``attrs`` and planned watch time.

    Returns startup_ms, rebuffer_count, rebuffer_ms, avg_bitrate_kbps, error_code index
    (-1 none), exit_before_start and the watched seconds after errors and early exits.
    ``force_ok`` plays (scripted fraud) neither fail nor exit; ``patient`` plays never exit.
    """
    n = len(started_us)
    log_su = np.log(900.0) + rng.normal(0, 0.45, n)
    log_rb = np.log(0.35) + np.zeros(n)  # rebuffers per hour
    logit_err = np.log(0.006 / 0.994) + np.zeros(n)
    for a, idx in attrs.items():
        log_su += model.startup[a][idx]
        log_rb += model.rebuffer[a][idx]
        logit_err += model.error[a][idx]
    add_exit = np.zeros(n)
    rb_len = np.ones(n)
    for inc in model.incidents:  # per incident definition
        in_time = (started_us >= inc.start_us) & (started_us < inc.end_us)
        if not in_time.any():
            continue
        hit = np.zeros(n, dtype=bool)
        for combo in inc.combos:
            m = in_time.copy()
            for a, v in combo.items():
                m &= attrs[a] == v
            hit |= m
        if inc.metric == "startup_ms":
            log_su[hit] += np.log(inc.magnitude)
        elif inc.metric == "rebuffer_ratio":
            log_rb[hit] += np.log(inc.magnitude)
            rb_len[hit] = 1.5
        elif inc.metric == "error_count":
            p = 1 / (1 + np.exp(-logit_err[hit])) + inc.magnitude
            logit_err[hit] = np.log(p / (1 - p))
        else:
            add_exit[hit] += inc.magnitude
    startup_ms = np.exp(log_su)
    p_exit = 1 / (1 + np.exp(-(-5.0 + 1.6 * (log_su - np.log(900.0)) / 0.45))) + add_exit
    exit_before = rng.random(n) < p_exit
    if patient is not None:  # bots never give up on a slow start
        exit_before &= ~patient
    p_err = 1 / (1 + np.exp(-logit_err))
    err = (rng.random(n) < p_err) & ~exit_before
    err_code = np.where(err, rng.choice(len(ERROR_CODES), size=n, p=ERROR_WEIGHTS), -1)
    watched = watched_s.astype(np.float64).copy()
    at_start = err & (rng.random(n) < 0.5)
    watched[at_start | exit_before] = 0.0
    mid = err & ~at_start
    watched[mid] *= rng.uniform(0.05, 0.9, int(mid.sum()))
    if force_ok is not None:  # scripted fraud plays always run to the end
        exit_before &= ~force_ok
        err_code[force_ok] = -1
        watched[force_ok] = watched_s[force_ok]
    hours = watched / 3600.0
    count = rng.poisson(np.exp(log_rb) * hours)
    rb_ms = count * np.exp(rng.normal(np.log(2200.0), 0.5, n)) * rb_len
    # Stalls cannot take longer than the slack the timeline leaves (15% of watch time + 60 s).
    cap = 0.15 * watched * 1000.0 + 60_000.0 - np.minimum(startup_ms, 50_000.0)
    rb_ms = np.minimum(rb_ms, np.maximum(cap, 0.0))
    startup_ms = np.minimum(startup_ms, 50_000.0)
    base_br = np.array([world.DEVICE_BITRATE[d] for d in world.DEVICE_TYPES])[attrs["device_type"]]
    bitrate = base_br * np.exp(rng.normal(0, 0.15, n) - 0.3 * model.rebuffer["isp"][attrs["isp"]])
    bitrate *= np.where(count > 0, 0.85, 1.0)
    bitrate = np.where(watched > 0, bitrate.round(), np.nan)
    return {
        "startup_ms": startup_ms.round(1),
        "rebuffer_count": count.astype(np.int64),
        "rebuffer_ms": rb_ms.round(1),
        "avg_bitrate_kbps": bitrate,
        "error_code": err_code,
        "exit_before_start": exit_before,
        "watched_seconds": watched.round(1),
    }
