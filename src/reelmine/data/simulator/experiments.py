"""Planted A/B experiments (true effects on viewing, one A/A, one broken sample ratio) and
marketing campaigns (treated vs control, uplift in one segment only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from reelmine.data.schema import CAMPAIGNS, EXPERIMENTS, arrow_type
from reelmine.data.simulator._util import DAY_US, HOUR_US
from reelmine.data.simulator.members import Members

TS = arrow_type("timestamp")


@dataclass
class Experiment:
    """One experiment: arms, intended weights, true relative effect on viewing per arm."""

    experiment_id: str
    variants: list[str]
    weights: list[float]
    effects: list[float]  # relative change of sessions (hence plays and hours viewed)
    start_day: int
    share: float  # share of eligible members enrolled
    lost_share: float  # share of the last arm missing from the assignment log (SRM bug)
    user: np.ndarray | None = None  # enrolled members
    variant: np.ndarray | None = None
    assigned_us: np.ndarray | None = None
    logged: np.ndarray | None = None


def plan_experiments(
    rng: np.random.Generator, m: Members, start_us: int, days: int
) -> list[Experiment]:
    """Assign members to four experiments; effects start on the assignment day."""
    exps = [
        Experiment("exp-aa", ["control", "treatment"], [0.5, 0.5], [0.0, 0.0], 0, 1.0, 0.0),
        Experiment(
            "exp-row-order", ["control", "treatment"], [0.5, 0.5], [0.0, 0.08], days // 4, 1.0, 0.0
        ),
        Experiment(
            "exp-artwork",
            ["control", "v1", "v2"],
            [0.34, 0.33, 0.33],
            [0.0, 0.05, -0.04],
            days // 3,
            0.7,
            0.0,
        ),
        Experiment(
            "exp-srm", ["control", "treatment"], [0.5, 0.5], [0.0, 0.03], days // 4, 0.8, 0.2
        ),
    ]
    end_us = start_us + days * DAY_US
    for e in exps:  # per experiment definition
        t0 = start_us + e.start_day * DAY_US
        alive = (m.cancel_us < 0) | (m.cancel_us > t0)
        eligible = np.flatnonzero(alive & (m.active_from_us < end_us - 3 * DAY_US))
        users = eligible[rng.random(len(eligible)) < e.share]
        var = rng.choice(len(e.variants), size=len(users), p=e.weights)
        at = np.maximum(m.active_from_us[users], t0) + rng.integers(0, 6, len(users)) * HOUR_US
        logged = ~((var == len(e.variants) - 1) & (rng.random(len(users)) < e.lost_share))
        e.user, e.variant, e.assigned_us, e.logged = users, var, at, logged
    return exps


class RateMultiplier:
    """Multiplier of each member's session rate per day from the experiments they are in."""

    def __init__(self, exps: list[Experiment], n_users: int) -> None:
        self.exps = []
        for e in exps:
            mult = np.ones(n_users)
            since = np.full(n_users, np.iinfo(np.int64).max)
            assert e.user is not None and e.variant is not None and e.assigned_us is not None
            mult[e.user] = 1.0 + np.asarray(e.effects)[e.variant]
            since[e.user] = e.assigned_us - e.assigned_us % DAY_US
            self.exps.append((mult, since))

    def __call__(self, users: np.ndarray, day_start: np.ndarray) -> np.ndarray:
        out = np.ones((len(users), len(day_start)))
        for mult, since in self.exps:
            on = day_start[None, :] >= since[users][:, None]
            out *= np.where(on, mult[users][:, None], 1.0)
        return out


def experiments_table(m: Members, exps: list[Experiment]) -> pa.Table:
    """The contract ``experiments`` table (what was logged; the SRM arm lost some rows)."""
    parts = []
    for e in exps:
        assert e.user is not None and e.logged is not None and e.variant is not None
        lg = e.logged
        assert e.assigned_us is not None
        parts.append(
            pa.table(
                {
                    "experiment_id": pa.array([e.experiment_id] * int(lg.sum())),
                    "user_id": m.user_ids.take(pa.array(e.user[lg])),
                    "variant": pa.array(e.variants).take(pa.array(e.variant[lg])),
                    "assigned_at": pa.array(e.assigned_us[lg], type=pa.int64()).cast(TS),
                }
            )
        )
    t = pa.concat_tables(parts)
    return t.cast(pa.schema([pa.field(c.name, arrow_type(c.type)) for c in EXPERIMENTS.columns]))


def experiments_truth(exps: list[Experiment]) -> list[dict]:
    """One row per experiment arm and metric with its true effect."""
    rows = []
    for e in exps:
        assert e.variant is not None and e.logged is not None
        for i, v in enumerate(e.variants):
            for metric in ("plays_per_member", "hours_viewed_per_member"):
                rows.append(
                    {
                        "experiment_id": e.experiment_id,
                        "variant": v,
                        "metric": metric,
                        "true_relative_effect": float(e.effects[i]),
                        "intended_weight": float(e.weights[i]),
                        "assigned": int((e.variant == i).sum()),
                        "logged": int(((e.variant == i) & e.logged).sum()),
                        "is_aa": e.experiment_id == "exp-aa",
                        "broken_sample_ratio": e.lost_share > 0,
                        "start_day": e.start_day,
                    }
                )
    return rows


@dataclass
class Campaign:
    """One campaign with its planted uplift segment."""

    campaign_id: str
    channel: str
    day: int
    base_rate: float
    uplift: float
    segment: str  # human-readable definition over users columns


def simulate_campaigns(
    rng: np.random.Generator, m: Members, start_us: int, days: int
) -> tuple[pa.Table, list[dict]]:
    """Campaign membership and outcomes, and the truth rows (true uplift per segment)."""
    camps = [
        Campaign("upsell-premium", "email", days // 2, 0.04, 0.10, "age < 30"),
        Campaign("reengage-push", "push", (2 * days) // 3, 0.08, 0.07, "plan = basic"),
    ]
    parts, truth = [], []
    end_us = start_us + days * DAY_US
    for c in camps:  # per campaign definition
        t0 = start_us + c.day * DAY_US
        alive = ((m.cancel_us < 0) | (m.cancel_us > t0)) & (m.active_from_us < t0)
        if c.campaign_id == "upsell-premium":
            alive &= m.plan < 2
            in_seg = m.age < 30
        else:
            in_seg = m.plan == 0
        users = np.flatnonzero(alive & (rng.random(m.n) < 0.6))
        treated = rng.random(len(users)) < 0.5
        # Older members convert a little more often anyway: baseline differs by segment, the
        # uplift does not exist outside the planted segment.
        p = c.base_rate * np.where(m.age[users] >= 50, 1.3, 1.0)
        p = p + np.where(treated & in_seg[users], c.uplift, 0.0)
        conv = rng.random(len(users)) < p
        sent = t0 + rng.integers(8, 20, len(users)) * HOUR_US
        delay = (rng.exponential(3.0, len(users)) * DAY_US).astype(np.int64)
        conv_at = np.minimum(sent + delay, end_us - 1)
        conv &= conv_at > sent
        parts.append(
            pa.table(
                {
                    "campaign_id": pa.array([c.campaign_id] * len(users)),
                    "user_id": m.user_ids.take(pa.array(users)),
                    "sent_at": pa.array(sent, type=pa.int64()).cast(TS),
                    "channel": pa.array([c.channel] * len(users)),
                    "treated": pa.array(treated),
                    "converted_at": pa.array(conv_at, mask=~conv, type=pa.int64()).cast(TS),
                }
            )
        )
        truth.append(
            {
                "campaign_id": c.campaign_id,
                "segment": c.segment,
                "true_uplift": c.uplift,
                "uplift_outside_segment": 0.0,
                "base_rate": c.base_rate,
                "members": int(len(users)),
                "segment_members": int(in_seg[users].sum()),
            }
        )
    t = pa.concat_tables(parts)
    schema = pa.schema([pa.field(c.name, arrow_type(c.type)) for c in CAMPAIGNS.columns])
    return t.cast(schema), truth
