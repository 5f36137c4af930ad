"""Campaign uplift: who converts *because* they were contacted.

Models (LightGBM underneath):

* ``two_model``: one conversion model on treated members, one on controls; uplift is the
  difference of their probabilities;
* ``class_transformation``: the transformed outcome ``Z = Y*T/e + ... `` of Athey & Imbens with
  the treated share ``e``; a regressor on Z estimates uplift directly.

Evaluation is out-of-fold (cross-fitted) so each member is scored by a model that never saw
them: the Qini curve, its coefficient (area between the curve and random targeting, per
member), uplift at the top k%, and a bootstrap interval of the coefficient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
from sklearn.base import BaseEstimator, clone

from reelmine.errors import ConfigError, DataError, NotFittedError
from reelmine.marketing.design import FeatureEncoder

METHODS = ("two_model", "class_transformation")
UPLIFT_COLUMNS = ("age", "plan", "country", "max_streams")
"""Default uplift features: who the member is (age, plan, country, streams). Uplift is a
difference of two noisy estimates, and on campaign-sized samples (a few thousand members) every
extra behavioural column adds variance that outweighs its signal (measured on the simulator:
see docs/marketing.md). Pass ``columns=None`` to use every feature on large campaigns."""


class UpliftModel(BaseEstimator):
    """Uplift (treated minus control conversion probability) per member.

    Parameters
    ----------
    method : ``two_model`` (default) or ``class_transformation``.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM settings (kept small:
        campaign samples are small and uplift is a difference of noisy estimates).
    columns : feature columns; default :data:`UPLIFT_COLUMNS` (``None`` = all but ``user_id``).
    random_state : seed.
    """

    def __init__(
        self,
        *,
        method: str = "two_model",
        n_estimators: int = 120,
        learning_rate: float = 0.05,
        num_leaves: int = 4,
        min_child_samples: int = 40,
        columns: Sequence[str] | None = UPLIFT_COLUMNS,
        random_state: int | None = 0,
    ) -> None:
        self.method = method
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.columns = columns
        self.random_state = random_state

    def _params(self, objective: str) -> dict[str, object]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "lambda_l2": 5.0,
            "feature_fraction": 0.8,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "deterministic": True,
            "num_threads": 1,
            "verbose": -1,
        }

    def fit(self, table: pa.Table, treated: np.ndarray, converted: np.ndarray) -> UpliftModel:
        """Fit on campaign members' features, treatment flags and conversions."""
        import lightgbm as lgb

        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        t = np.asarray(treated, dtype=bool)
        y = np.asarray(converted, dtype=np.float64)
        if len(t) != table.num_rows or len(y) != table.num_rows:
            raise DataError("treated/converted must have one value per feature row")
        if t.all() or not t.any():
            raise DataError("uplift needs both treated and control members")
        self.encoder_ = FeatureEncoder(columns=self.columns).fit(table)
        X = self.encoder_.transform(table)
        cat: list[int] | Literal["auto"] = self.encoder_.categorical_indices_ or "auto"
        self.treated_share_ = float(t.mean())

        def train(Xs: np.ndarray, ys: np.ndarray, objective: str) -> lgb.Booster:
            ds = lgb.Dataset(Xs, label=ys, categorical_feature=cat, free_raw_data=False)
            return lgb.train(self._params(objective), ds, num_boost_round=self.n_estimators)

        self.models_: tuple[lgb.Booster, ...]
        if self.method == "two_model":
            self.models_ = (train(X[t], y[t], "binary"), train(X[~t], y[~t], "binary"))
        else:
            e = self.treated_share_
            z = y * (t / e - (1 - t) / (1 - e))
            self.models_ = (train(X, z, "regression"),)
        return self

    def predict(self, table: pa.Table) -> np.ndarray:
        """Predicted uplift (difference of conversion probabilities) per row."""
        if not hasattr(self, "models_"):
            raise NotFittedError("UpliftModel used before fit")
        X = self.encoder_.transform(table)
        if self.method == "two_model":
            p1 = np.asarray(self.models_[0].predict(X), dtype=np.float64)
            return p1 - np.asarray(self.models_[1].predict(X), dtype=np.float64)
        return np.asarray(self.models_[0].predict(X), dtype=np.float64)


def cross_fit_uplift(
    model: UpliftModel,
    table: pa.Table,
    treated: np.ndarray,
    converted: np.ndarray,
    *,
    folds: int = 5,
    random_state: int | None = 0,
) -> np.ndarray:
    """Out-of-fold uplift predictions (each row scored by a model fitted without it)."""
    n = table.num_rows
    if folds < 2:
        raise ConfigError("folds must be at least 2")
    rng = np.random.default_rng(random_state)
    fold = rng.permutation(n) % folds
    out = np.zeros(n)
    t = np.asarray(treated, dtype=bool)
    y = np.asarray(converted, dtype=bool)
    for f in range(folds):  # per fold (5)
        test = fold == f
        m = clone(model).fit(table.filter(pa.array(~test)), t[~test], y[~test])
        out[test] = m.predict(table.filter(pa.array(test)))
    return out


def qini_curve(
    scores: np.ndarray, treated: np.ndarray, converted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: targeted count ``k`` (0..n) and incremental conversions among the top ``k``.

    ``Q(k) = Y_T(k) - Y_C(k) * N_T(k) / N_C(k)`` with members sorted by descending score
    (ties in random-free stable order), ``Q(0) = 0``.
    """
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    y = np.asarray(converted, dtype=bool)[order]
    nt = np.cumsum(t)
    nc = np.cumsum(~t)
    yt = np.cumsum(y & t)
    yc = np.cumsum(y & ~t)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(nc > 0, yt - yc * nt / np.maximum(nc, 1), yt)
    k = np.arange(len(s) + 1)
    return k, np.concatenate([[0.0], q.astype(np.float64)])


def qini_coefficient(scores: np.ndarray, treated: np.ndarray, converted: np.ndarray) -> float:
    """Area between the Qini curve and random targeting, divided by ``n**2``.

    Zero for random targeting on average; positive when high scores mark members who convert
    because of the contact. Dividing by ``n**2`` makes it the mean gap per targeted member as a
    share of the population.
    """
    k, q = qini_curve(scores, treated, converted)
    n = len(k) - 1
    if n == 0:
        return 0.0
    random = q[-1] * k / n
    gap = q - random
    area = float(np.sum((gap[1:] + gap[:-1]) / 2.0))
    return area / (n * n)


def uplift_at(
    scores: np.ndarray, treated: np.ndarray, converted: np.ndarray, fraction: float
) -> float:
    """Observed uplift (treated minus control conversion rate) in the top ``fraction``."""
    if not 0 < fraction <= 1:
        raise ConfigError("fraction must lie in (0, 1]")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    top = order[: max(1, int(round(fraction * len(order))))]
    t = np.asarray(treated, dtype=bool)[top]
    y = np.asarray(converted, dtype=bool)[top]
    if t.all() or not t.any():
        return float("nan")
    return float(y[t].mean() - y[~t].mean())


def qini_bootstrap(
    scores: np.ndarray,
    treated: np.ndarray,
    converted: np.ndarray,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    random_state: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the Qini coefficient (scores held fixed)."""
    rng = np.random.default_rng(random_state)
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(treated, dtype=bool)
    y = np.asarray(converted, dtype=bool)
    n = len(s)
    vals = np.empty(n_boot)
    for b in range(n_boot):  # per resample; each is vectorised over members
        idx = rng.integers(0, n, n)
        vals[b] = qini_coefficient(s[idx], t[idx], y[idx])
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


@dataclass
class UpliftReport:
    """Out-of-fold quality of an uplift model on one campaign."""

    campaign_id: str
    method: str
    members: int
    treated: int
    conversion_treated: float
    conversion_control: float
    qini: float
    qini_ci: tuple[float, float]
    uplift_at: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    by_group: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON friendly)."""
        return {
            "campaign_id": self.campaign_id,
            "method": self.method,
            "members": self.members,
            "treated": self.treated,
            "conversion_treated": self.conversion_treated,
            "conversion_control": self.conversion_control,
            "average_uplift": self.conversion_treated - self.conversion_control,
            "qini": self.qini,
            "qini_ci": list(self.qini_ci),
            "qini_beats_random": self.qini_ci[0] > 0,
            "uplift_at": self.uplift_at,
            "curve": self.curve,
            "by_group": self.by_group,
        }


def curve_points(
    scores: np.ndarray, treated: np.ndarray, converted: np.ndarray, points: int = 21
) -> list[dict[str, float]]:
    """The Qini curve at ``points`` evenly spaced targeted shares (for plots)."""
    k, q = qini_curve(scores, treated, converted)
    n = len(k) - 1
    at = np.unique(np.round(np.linspace(0, n, points)).astype(np.int64))
    return [
        {
            "share_targeted": float(i / max(n, 1)),
            "incremental": float(q[i]),
            "random": float(q[-1] * i / max(n, 1)),
        }
        for i in at
    ]


def target_budget(
    user_ids: Sequence[str] | np.ndarray,
    uplift: np.ndarray,
    *,
    budget: int | None = None,
    cost_per_contact: float = 0.0,
    value_per_conversion: float = 1.0,
) -> tuple[np.ndarray, float]:
    """Whom to contact: highest predicted uplift first, only where it pays, up to ``budget``.

    Returns
    -------
    (selected user IDs in order, expected incremental conversions among them).
    """
    u = np.asarray(uplift, dtype=np.float64)
    order = np.argsort(-u, kind="stable")
    pays = u[order] * value_per_conversion > cost_per_contact
    order = order[pays]
    if budget is not None:
        if budget < 0:
            raise ConfigError("budget must not be negative")
        order = order[:budget]
    ids = np.asarray(user_ids, dtype=object)[order]
    return ids, float(u[order].sum())
