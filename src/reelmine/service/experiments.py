"""Experiment readouts from the warehouse: per-member metrics, then the statistics core.

Per member of an experiment, from ``plays``:

* experiment period (from the assignment time to ``window_days`` later, or the end of the
  data): ``hours_viewed``, ``plays``, ``active_days`` (days with at least one play, counted
  from the assignment time) and ``startup_ms`` (mean play delay; NaN when no play);
* pre-period (the ``pre_days`` before assignment): the same viewing metrics, used as CUPED
  covariates and for the balance check.

The readout analyses ``hours_viewed`` (primary, CUPED), ``plays`` and ``active_days``
(secondary, CUPED), ``startup_ms`` p90 (secondary, bootstrap quantile) and mean ``startup_ms``
as a guardrail (not more than 5% slower), Holm-corrected across the decision metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import DataError, NotFoundError
from reelmine.experiments.bandits import CellBandit
from reelmine.experiments.ope import OPEEstimate, evaluate_logged
from reelmine.experiments.readout import MetricSpec, Readout, readout
from reelmine.settings import Settings

DAY_US = 86_400_000_000
VIEWING = ("hours_viewed", "plays", "active_days")
AGE_SEGMENTS = ("age<30", "30<=age<50", "age>=50", "age unknown")


@dataclass(frozen=True)
class MemberMetrics:
    """Per-member arrays of one experiment, aligned with ``user_ids``."""

    experiment_id: str
    user_ids: np.ndarray
    variants: np.ndarray
    metrics: dict[str, np.ndarray]
    covariates: dict[str, np.ndarray]


def _us(col: pa.ChunkedArray | pa.Array, name: str) -> np.ndarray:
    if not pa.types.is_timestamp(col.type) and not pa.types.is_integer(col.type):
        raise DataError(f"expected a timestamp column, got {col.type}", column=name)
    if col.null_count:
        raise DataError(f"{col.null_count} missing values", column=name)
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)


def _viewing(
    member: np.ndarray,
    offset_us: np.ndarray,
    seconds: np.ndarray,
    keep: np.ndarray,
    n: int,
) -> dict[str, np.ndarray]:
    m, off, s = member[keep], offset_us[keep], seconds[keep]
    day = np.floor_divide(off, DAY_US)
    span = int(day.max() - day.min() + 1) if day.size else 1
    # One key per (member, day) so distinct active days are a unique() away.
    key = np.unique(m * span + (day - (day.min() if day.size else 0)))
    return {
        "hours_viewed": np.bincount(m, weights=s / 3600.0, minlength=n),
        "plays": np.bincount(m, minlength=n).astype(np.float64),
        "active_days": np.bincount(key // span, minlength=n).astype(np.float64),
    }


def member_metrics(
    experiments: pa.Table,
    plays: pa.Table,
    experiment_id: str,
    *,
    pre_days: int = 14,
    window_days: int | None = None,
) -> MemberMetrics:
    """Per-member metrics of one experiment from contract ``experiments`` and ``plays`` tables.

    Parameters
    ----------
    experiments : assignments (``experiment_id``, ``user_id``, ``variant``, ``assigned_at``);
        other experiments' rows are ignored.
    plays : plays with ``user_id``, ``started_at`` and optionally ``watched_seconds`` and
        ``startup_ms``; plays of non-members are ignored.
    experiment_id : the experiment to read out.
    pre_days : length of the pre-period (CUPED covariates), days.
    window_days : length of each member's experiment period; ``None`` = until the last play.
    """
    for col in ("experiment_id", "user_id", "variant", "assigned_at"):
        if col not in experiments.column_names:
            raise DataError("experiments table lacks a column", source="experiments", column=col)
    for col in ("user_id", "started_at"):
        if col not in plays.column_names:
            raise DataError("plays table lacks a column", source="plays", column=col)
    exp = experiments.filter(pc.equal(experiments["experiment_id"], experiment_id))
    if exp.num_rows == 0:
        raise NotFoundError(f"no members assigned to experiment {experiment_id!r}")
    users = exp["user_id"].combine_chunks()
    if pc.count_distinct(users).as_py() != exp.num_rows:
        raise DataError(
            f"experiment {experiment_id!r}: a member is assigned more than once",
            source="experiments",
            column="user_id",
        )
    n = exp.num_rows
    assigned = _us(exp["assigned_at"], "assigned_at")
    idx = pc.index_in(plays["user_id"], value_set=users)
    member_mask = np.asarray(pc.is_valid(idx).to_numpy(zero_copy_only=False), dtype=bool)
    member = np.asarray(pc.fill_null(idx, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    started = _us(plays["started_at"], "started_at")
    if "watched_seconds" in plays.column_names:
        seconds = np.asarray(
            pc.fill_null(plays["watched_seconds"], 0.0).to_numpy(zero_copy_only=False), float
        )
    else:
        seconds = np.zeros(plays.num_rows)
    offset = started - assigned[member]
    inside = member_mask & (offset >= 0)
    if window_days is not None:
        inside &= offset < window_days * DAY_US
    before = member_mask & (offset < 0) & (offset >= -pre_days * DAY_US)
    metrics = _viewing(member, offset, seconds, inside, n)
    covariates = {f"pre_{k}": v for k, v in _viewing(member, offset, seconds, before, n).items()}
    if "startup_ms" in plays.column_names:
        su = plays["startup_ms"]
        valid = np.asarray(pc.is_valid(su).to_numpy(zero_copy_only=False), dtype=bool)
        vals = np.asarray(pc.fill_null(su, 0.0).to_numpy(zero_copy_only=False), float)
        keep = inside & valid
        total = np.bincount(member[keep], weights=vals[keep], minlength=n)
        count = np.bincount(member[keep], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            metrics["startup_ms"] = np.where(count > 0, total / count, np.nan)
    return MemberMetrics(
        experiment_id=experiment_id,
        user_ids=np.asarray(users.to_pylist(), dtype=object),
        variants=np.asarray(exp["variant"].to_pylist(), dtype=str),
        metrics=metrics,
        covariates=covariates,
    )


def default_specs(mm: MemberMetrics) -> list[MetricSpec]:
    """The standard analysis plan for viewing experiments (see module docstring)."""
    specs = [
        MetricSpec("hours_viewed", method="cuped", covariate="pre_hours_viewed"),
        MetricSpec("plays", method="cuped", covariate="pre_plays", role="secondary"),
        MetricSpec("active_days", method="cuped", covariate="pre_active_days", role="secondary"),
    ]
    su = mm.metrics.get("startup_ms")
    if su is not None and np.isfinite(su).sum() >= 40:
        specs += [
            MetricSpec("startup_ms", method="quantile", quantile=0.9, role="secondary"),
            MetricSpec(
                "startup_ms",
                role="guardrail",
                margin=0.05,
                higher_is_better=False,
                label="startup_ms_mean",
            ),
        ]
    return specs


def readout_from_tables(
    experiments: pa.Table,
    plays: pa.Table,
    experiment_id: str,
    *,
    control: str = "control",
    expected_ratios: Mapping[str, float] | None = None,
    correction: str = "holm",
    alpha: float = 0.05,
    pre_days: int = 14,
    window_days: int | None = None,
) -> Readout:
    """Readout of one experiment from Arrow tables (see :func:`member_metrics`)."""
    mm = member_metrics(
        experiments, plays, experiment_id, pre_days=pre_days, window_days=window_days
    )
    return readout(
        experiment_id,
        mm.variants,
        mm.metrics,
        specs=default_specs(mm),
        covariates=mm.covariates,
        control=control,
        expected_ratios=expected_ratios,
        correction=correction,
        alpha=alpha,
    )


def _warehouse_tables(settings: Settings, experiment_id: str) -> tuple[pa.Table, pa.Table]:
    from reelmine.service.engine import open_reader  # DuckDB warehouse or Spark, per settings

    with open_reader(settings) as wh:
        exp = wh.table("experiments", where="experiment_id = ?", params=[experiment_id])
        cols = [c for c in ("watched_seconds", "startup_ms") if c in wh.columns("plays")]
        select = ", ".join(["p.user_id", "p.started_at"] + [f"p.{c}" for c in cols])
        plays = wh.query(
            f"SELECT {select} FROM plays p JOIN experiments e ON p.user_id = e.user_id "
            "WHERE e.experiment_id = ?",
            [experiment_id],
        )
    return exp, plays


def experiment_readout(
    settings: Settings,
    experiment_id: str,
    *,
    control: str = "control",
    expected_ratios: Mapping[str, float] | None = None,
    correction: str = "holm",
    alpha: float = 0.05,
    pre_days: int = 14,
    window_days: int | None = None,
) -> Readout:
    """Readout of one experiment stored in the warehouse named by ``settings.db``."""
    exp, plays = _warehouse_tables(settings, experiment_id)
    return readout_from_tables(
        exp,
        plays,
        experiment_id,
        control=control,
        expected_ratios=expected_ratios,
        correction=correction,
        alpha=alpha,
        pre_days=pre_days,
        window_days=window_days,
    )


def list_experiments(settings: Settings) -> list[dict[str, object]]:
    """Experiments in the warehouse with their variants and member counts."""
    from reelmine.service.engine import open_reader

    with open_reader(settings) as wh:
        t = wh.query(
            "SELECT experiment_id, variant, count(*) AS members FROM experiments "
            "GROUP BY experiment_id, variant ORDER BY experiment_id, variant"
        )
    return t.to_pylist()


@dataclass(frozen=True)
class ArtworkReport:
    """Artwork personalisation learned from logged impressions, judged off-policy.

    ``estimates`` maps a policy (``logging``, ``greedy``, ``epsilon_greedy``) to its estimated
    click-through rate on the held-out sessions (``on_policy`` for the logging policy itself).
    ``best`` lists the chosen artwork per (title, segment) fitted on all rounds.
    """

    train_rounds: int
    test_rounds: int
    estimates: dict[str, dict[str, OPEEstimate]]
    best: pa.Table

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (``best`` as a list of rows)."""
        return {
            "train_rounds": self.train_rounds,
            "test_rounds": self.test_rounds,
            "estimates": {
                policy: {name: vars(e) for name, e in est.items()}
                for policy, est in self.estimates.items()
            },
            "best": self.best.to_pylist(),
        }


def _codes(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    enc = (
        pc.dictionary_encode(col).combine_chunks()
        if isinstance(col, pa.ChunkedArray)
        else (pc.dictionary_encode(col))
    )
    return np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64), enc.dictionary


def artwork_report(
    ui_events: pa.Table,
    users: pa.Table | None = None,
    *,
    epsilon: float = 0.1,
    holdout: float = 0.5,
    prior_strength: float = 10.0,
    random_state: int = 0,
) -> ArtworkReport:
    """Learn the best artwork per (title, age segment) and evaluate it off-policy.

    Rounds are ``impression`` events with ``artwork_id`` and ``propensity``; the reward is a
    ``click`` on the same title and artwork in the same browse session. Browse sessions are
    split at random: the policy is fitted on ``1 - holdout`` of them and evaluated on the rest
    with IPW / self-normalised IPW (and replay for the greedy policy), so the estimate is not
    flattered by fitting and scoring on the same rounds.

    Parameters
    ----------
    ui_events : contract ``ui_events`` table.
    users : contract ``users`` table with ``age`` for segments; without it one segment.
    epsilon : exploration share of the epsilon-greedy policy.
    holdout : share of browse sessions held out for evaluation.
    prior_strength : smoothing of the per-(cell, artwork) click rates.
    random_state : seed of the session split.
    """
    need = ("user_id", "browse_session_id", "event_type", "title_id", "artwork_id", "propensity")
    for col in need:
        if col not in ui_events.column_names:
            raise DataError("ui_events lacks a column", source="ui_events", column=col)
    if not 0.0 < holdout < 1.0:
        raise DataError(f"holdout must be in (0, 1), got {holdout}")
    logged = pc.and_(pc.is_valid(ui_events["artwork_id"]), pc.is_valid(ui_events["title_id"]))
    ev = ui_events.filter(logged)
    is_imp = pc.equal(ev["event_type"], "impression")
    imp = ev.filter(pc.and_(is_imp, pc.is_valid(ev["propensity"])))
    clk = ev.filter(pc.equal(ev["event_type"], "click"))
    if imp.num_rows == 0:
        raise DataError("no artwork impressions with a propensity", source="ui_events")

    def key(t: pa.Table) -> pa.ChunkedArray:
        sid = pc.fill_null(t["browse_session_id"], "")
        return pc.binary_join_element_wise(sid, t["title_id"], t["artwork_id"], "|")

    reward = np.asarray(pc.is_in(key(imp), value_set=key(clk).combine_chunks()), dtype=np.float64)
    pscore = np.asarray(imp["propensity"].to_numpy(zero_copy_only=False), dtype=np.float64)
    title, titles = _codes(imp["title_id"])
    art, arts = _codes(imp["artwork_id"])
    segment = np.full(imp.num_rows, len(AGE_SEGMENTS) - 1, dtype=np.int64)
    if users is not None and "age" in users.column_names:
        pos = pc.index_in(imp["user_id"], value_set=users["user_id"].combine_chunks())
        age = pc.take(users["age"], pc.fill_null(pos, 0))
        known = np.asarray(pc.is_valid(pos), dtype=bool)
        age_np = np.asarray(pc.fill_null(pc.cast(age, pa.float64()), np.nan), dtype=np.float64)
        age_np = np.where(known, age_np, np.nan)
        band = np.where(age_np < 30, 0, np.where(age_np < 50, 1, 2))
        segment = np.where(np.isnan(age_np), len(AGE_SEGMENTS) - 1, band)
    cell = title * len(AGE_SEGMENTS) + segment
    # Artworks per title, from every artwork ever logged for it.
    title_art = np.unique(title * (int(art.max()) + 1) + art)
    n_art = np.bincount(title_art // (int(art.max()) + 1), minlength=len(titles))[title]
    session, sessions = _codes(pc.fill_null(imp["browse_session_id"], ""))
    rng = np.random.default_rng(random_state)
    test = (rng.random(len(sessions)) < holdout)[session]
    if test.all() or not test.any():
        raise DataError("too few browse sessions to hold some out; lower or raise holdout")
    train = ~test
    estimates: dict[str, dict[str, OPEEstimate]] = {}
    r_test = reward[test]
    estimates["logging"] = {"on_policy": _on_policy(r_test)}
    for name, eps in (("greedy", 0.0), ("epsilon_greedy", epsilon)):
        policy = CellBandit(epsilon=eps, prior_strength=prior_strength).fit(
            cell[train], art[train], reward[train], pscore[train]
        )
        target = policy.action_probability(cell[test], art[test], n_art[test])
        estimates[name] = evaluate_logged(r_test, pscore[test], target)
    final = CellBandit(epsilon=epsilon, prior_strength=prior_strength).fit(
        cell, art, reward, pscore
    )
    cells = final.cells_
    in_cell = np.isin(final.pair_cell_, cells)
    rounds = np.bincount(
        np.searchsorted(cells, final.pair_cell_[in_cell]), weights=final.pair_rounds_[in_cell]
    )
    best = pa.table(
        {
            "title_id": titles.take(pa.array(cells // len(AGE_SEGMENTS))),
            "segment": pa.array(np.asarray(AGE_SEGMENTS)[cells % len(AGE_SEGMENTS)]),
            "artwork_id": arts.take(pa.array(final.best_)),
            "click_rate": pa.array(final.best_rate_),
            "impressions": pa.array(rounds.astype(np.int64)),
        }
    )
    return ArtworkReport(
        train_rounds=int(train.sum()),
        test_rounds=int(test.sum()),
        estimates=estimates,
        best=best,
    )


def warehouse_artwork_report(
    settings: Settings,
    *,
    epsilon: float = 0.1,
    holdout: float = 0.5,
    random_state: int = 0,
) -> ArtworkReport:
    """:func:`artwork_report` on the warehouse named by ``settings.db``."""
    from reelmine.service.engine import open_reader

    cols = ["user_id", "browse_session_id", "event_type", "title_id", "artwork_id", "propensity"]
    with open_reader(settings) as wh:
        ui = wh.table("ui_events", cols, where="artwork_id IS NOT NULL")
        users = wh.table("users", ["user_id", "age"]) if "age" in wh.columns("users") else None
    return artwork_report(ui, users, epsilon=epsilon, holdout=holdout, random_state=random_state)


def _on_policy(r: np.ndarray, alpha: float = 0.05) -> OPEEstimate:
    from scipy import stats as sps

    value = float(r.mean())
    se = float(r.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else float("nan")
    z = float(sps.norm.ppf(1 - alpha / 2))
    return OPEEstimate("on_policy", value, se, value - z * se, value + z * se)
