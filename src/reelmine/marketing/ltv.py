"""Lifetime value: survival of memberships from an as-of date, Kaplan-Meier and a Cox model.

The cohort is every member active at ``as_of``; a member's *remaining tenure* runs from
``as_of`` to ``cancelled_at`` (an event) or to the end of the data (censored). Kaplan-Meier
curves describe each segment; a Cox proportional-hazards model (Breslow ties, ridge penalty,
partial likelihood maximised with L-BFGS) links the hazard to the member features. Expected
remaining tenure is the area under each member's survival curve up to ``cap_days``; beyond the
last observed day the baseline hazard is extrapolated as constant (its mean over the observed
period), which is the model's main assumption. Value = expected remaining months x monthly
price of the member's plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator

from reelmine.errors import ConfigError, DataError, NotFittedError
from reelmine.marketing.design import FeatureEncoder
from reelmine.marketing.features import DAY_US, parse_as_of

DEFAULT_PRICES: dict[str, float] = {"basic": 7.99, "standard": 13.99, "premium": 19.99}
DAYS_PER_MONTH = 30.4375


def remaining_tenure(
    cancellations: pa.Table,
    user_ids: pa.Array | pa.ChunkedArray,
    as_of: object,
    end: object,
) -> tuple[np.ndarray, np.ndarray]:
    """Days from ``as_of`` to cancellation (event) or ``end`` (censored) per member.

    Returns
    -------
    (durations in days, event flags); a cancellation at or after ``end`` counts as censored.
    """
    t0 = int(parse_as_of(as_of).timestamp() * 1_000_000)  # type: ignore[arg-type]
    t1 = int(parse_as_of(end).timestamp() * 1_000_000)  # type: ignore[arg-type]
    if t1 <= t0:
        raise ConfigError("the end of follow-up must come after as_of")
    idx = pc.index_in(user_ids, value_set=cancellations["user_id"].combine_chunks())
    pos = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    c = pc.cast(cancellations["cancelled_at"], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    c_us = np.append(np.asarray(pc.fill_null(c, -1).to_numpy(zero_copy_only=False)), -1)[pos]
    event = (c_us >= t0) & (c_us < t1)
    stop = np.where(event, c_us, t1)
    return (stop - t0) / DAY_US, event


def kaplan_meier(durations: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate: distinct event times and the survival just after each."""
    d = np.asarray(durations, dtype=np.float64)
    e = np.asarray(events, dtype=bool)
    times = np.unique(d[e])
    if len(times) == 0:
        return np.zeros(0), np.zeros(0)
    at_risk = len(d) - np.searchsorted(np.sort(d), times, side="left")
    deaths = np.bincount(np.searchsorted(times, d[e]), minlength=len(times))
    return times, np.cumprod(1.0 - deaths / at_risk)


def km_at(times: np.ndarray, surv: np.ndarray, t: float) -> float:
    """Kaplan-Meier survival at time ``t`` (step function, 1 before the first event)."""
    i = np.searchsorted(times, t, side="right")
    return 1.0 if i == 0 else float(surv[i - 1])


def concordance_index(durations: np.ndarray, events: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C: share of comparable pairs whose higher risk fails first (ties count 1/2).

    A pair is comparable when the shorter duration ends in an event. Computed in chunks of
    events against all members, so memory stays bounded.
    """
    d = np.asarray(durations, dtype=np.float64)
    e = np.asarray(events, dtype=bool)
    r = np.asarray(risk, dtype=np.float64)
    ev = np.flatnonzero(e)
    num = 0.0
    den = 0.0
    step = max(1, 2_000_000 // max(len(d), 1))
    for lo in range(0, len(ev), step):  # per chunk of events
        i = ev[lo : lo + step]
        later = d[None, :] > d[i][:, None]
        num += float(((r[None, :] < r[i][:, None]) & later).sum())
        num += 0.5 * float(((r[None, :] == r[i][:, None]) & later).sum())
        den += float(later.sum())
    if den == 0:
        raise DataError("no comparable pairs: need events followed by longer durations")
    return num / den


class CoxModel(BaseEstimator):
    """Cox proportional hazards on member features (Breslow ties, L2 penalty).

    Parameters
    ----------
    penalty : ridge penalty on the standardised coefficients.
    columns : feature columns; ``None`` = all but ``user_id``.
    max_iter : L-BFGS iterations.

    Attributes
    ----------
    coef_ : coefficients per (standardised) feature; ``feature_names_``; ``baseline_times_``
        and ``baseline_cumhaz_`` : Breslow cumulative baseline hazard at each event time.
    """

    def __init__(
        self, *, penalty: float = 0.1, columns: Sequence[str] | None = None, max_iter: int = 200
    ) -> None:
        self.penalty = penalty
        self.columns = columns
        self.max_iter = max_iter

    def _design(self, table: pa.Table) -> np.ndarray:
        X = self.encoder_.transform(table)
        X = np.where(np.isnan(X), self.fill_, X)
        return (X - self.mean_) / self.sd_

    def fit(self, table: pa.Table, durations: np.ndarray, events: np.ndarray) -> CoxModel:
        """Maximise the penalised partial likelihood; returns ``self``."""
        from scipy.optimize import minimize

        d = np.asarray(durations, dtype=np.float64)
        e = np.asarray(events, dtype=bool)
        if len(d) != table.num_rows or len(e) != table.num_rows:
            raise DataError("durations/events must have one value per feature row")
        if not e.any():
            raise DataError("the Cox model needs at least one cancellation in follow-up")
        self.encoder_ = FeatureEncoder(columns=self.columns, one_hot=True).fit(table)
        X = self.encoder_.transform(table)
        self.fill_ = np.nan_to_num(np.nanmedian(X, axis=0))
        X = np.where(np.isnan(X), self.fill_, X)
        self.mean_ = X.mean(0)
        sd = X.std(0)
        self.sd_ = np.where(sd > 0, sd, 1.0)
        Z = (X - self.mean_) / self.sd_
        order = np.argsort(d, kind="stable")
        Z, d, e = Z[order], d[order], e[order]
        # Risk set of a time = everyone whose duration is >= it: reverse cumulative sums read at
        # the first index of each tied duration.
        first = np.searchsorted(d, d, side="left")
        lam = self.penalty

        def nll(beta: np.ndarray) -> tuple[float, np.ndarray]:
            eta = Z @ beta
            c = eta.max()
            w = np.exp(eta - c)
            s0 = np.cumsum(w[::-1])[::-1][first]
            s1 = np.cumsum((w[:, None] * Z)[::-1], axis=0)[::-1][first]
            ll = float(np.sum(eta[e] - c - np.log(s0[e])))
            grad = np.sum(Z[e] - s1[e] / s0[e][:, None], axis=0)
            n_ev = max(int(e.sum()), 1)
            f = -ll / n_ev + 0.5 * lam * float(beta @ beta)
            return f, -grad / n_ev + lam * beta

        res = minimize(
            nll,
            np.zeros(Z.shape[1]),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter},
        )
        self.coef_ = res.x
        self.feature_names_ = self.encoder_.feature_names_
        eta = Z @ self.coef_
        w = np.exp(eta)
        times = np.unique(d[e])
        s0 = np.cumsum(w[::-1])[::-1][np.searchsorted(d, times, side="left")]
        deaths = np.bincount(np.searchsorted(times, d[e]), minlength=len(times))
        self.baseline_times_ = times
        self.baseline_cumhaz_ = np.cumsum(deaths / s0)
        self.follow_up_ = float(d.max())
        return self

    def risk(self, table: pa.Table) -> np.ndarray:
        """Linear predictor (log relative hazard) per member."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("CoxModel used before fit")
        return self._design(table) @ self.coef_

    def expected_remaining_days(self, table: pa.Table, cap_days: float = 730.0) -> np.ndarray:
        """Expected remaining tenure in days, ``E[min(T, cap_days)]``, per member."""
        eta = self.risk(table)
        hr = np.exp(eta)
        t = self.baseline_times_
        H = self.baseline_cumhaz_
        horizon = min(self.follow_up_, cap_days)
        grid = np.arange(0.0, horizon + 1.0)  # daily grid over the observed follow-up
        H_grid = np.concatenate([[0.0], H])[np.searchsorted(t, grid, side="right")]
        S = np.exp(-np.outer(hr, H_grid))  # (n, days)
        area = S[:, :-1].sum(1) if len(grid) > 1 else np.zeros(len(hr))
        # Beyond the follow-up: constant hazard = mean baseline hazard over the follow-up.
        h0 = (H[-1] / max(self.follow_up_, 1.0)) if len(H) else 0.0
        rest = max(cap_days - (len(grid) - 1), 0.0)
        h = np.maximum(h0 * hr, 1e-12)
        tail = S[:, -1] * (1.0 - np.exp(-h * rest)) / h
        return area + tail

    def summary(self) -> list[dict[str, float | str]]:
        """Coefficients (per standard deviation of the feature) with hazard ratios."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("CoxModel used before fit")
        order = np.argsort(-np.abs(self.coef_), kind="stable")
        return [
            {
                "feature": self.feature_names_[i],
                "coef": float(self.coef_[i]),
                "hazard_ratio": float(np.exp(self.coef_[i])),
            }
            for i in order
        ]


def member_value(
    plans: pa.Array | pa.ChunkedArray,
    expected_days: np.ndarray,
    prices: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Expected remaining value: expected months x monthly price (median price if unknown)."""
    table = dict(DEFAULT_PRICES if prices is None else prices)
    if not table:
        raise ConfigError("plan prices must not be empty")
    names = pa.array(list(table))
    values = np.asarray(list(table.values()), dtype=np.float64)
    idx = pc.index_in(pc.fill_null(plans, ""), value_set=names)
    pos = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    price = np.where(pos >= 0, values[np.maximum(pos, 0)], float(np.median(values)))
    return np.asarray(expected_days, dtype=np.float64) / DAYS_PER_MONTH * price


@dataclass
class SurvivalCurve:
    """Kaplan-Meier curve of one group with its size (for the privacy gate)."""

    group: str
    members: int
    events: int
    survival_30d: float
    survival_90d: float | None  # None when follow-up is shorter than 90 days
    times: list[float]
    survival: list[float]

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON friendly)."""
        return self.__dict__.copy()


def km_by_group(
    durations: np.ndarray, events: np.ndarray, groups: np.ndarray
) -> list[SurvivalCurve]:
    """Kaplan-Meier curve per group (e.g. per segment), largest group first."""
    g = np.asarray(groups).astype(str)
    out = []
    for name in np.unique(g):  # per group (a handful of segments)
        m = g == name
        t, s = kaplan_meier(durations[m], events[m])
        out.append(
            SurvivalCurve(
                group=str(name),
                members=int(m.sum()),
                events=int(events[m].sum()),
                survival_30d=km_at(t, s, 30.0),
                survival_90d=km_at(t, s, 90.0) if durations.max() >= 90 else None,
                times=[float(x) for x in t],
                survival=[float(x) for x in s],
            )
        )
    return sorted(out, key=lambda c: -c.members)
