"""Fixed-horizon tests: Welch's t-test with lift intervals, sample-ratio mismatch, balance.

Every test here works on per-member metric arrays. The Welch functions also accept stacked
arrays (``shape (..., n)``) and test every leading index at once, which is how the calibration
tests run a thousand simulated experiments in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from reelmine.errors import DataError

SRM_THRESHOLD = 0.001  # an SRM this unlikely means the assignment is broken, not unlucky


def as_metric(values: object, name: str = "values", *, min_size: int = 2) -> np.ndarray:
    """Validate per-member values: float, finite, at least ``min_size`` along the last axis."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        raise DataError("expected an array of per-member values, got a scalar", column=name)
    if arr.shape[-1] < min_size:
        raise DataError(
            f"need at least {min_size} members per arm, got {arr.shape[-1]}", column=name
        )
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
        raise DataError(f"non-finite value at flat position {bad}", column=name)
    return arr


@dataclass(frozen=True)
class WelchResult:
    """Difference in means ``treatment - control`` with Welch's t-test.

    Fields are floats for one experiment, or arrays with the leading shape of stacked input.
    ``relative_lift`` is ``treatment_mean / control_mean - 1`` and its interval uses the delta
    method (normal approximation); it is NaN when the control mean is zero.
    """

    control_mean: np.ndarray | float
    treatment_mean: np.ndarray | float
    effect: np.ndarray | float
    se: np.ndarray | float
    df: np.ndarray | float
    t: np.ndarray | float
    p_value: np.ndarray | float
    ci_low: np.ndarray | float
    ci_high: np.ndarray | float
    relative_lift: np.ndarray | float
    relative_ci_low: np.ndarray | float
    relative_ci_high: np.ndarray | float
    n_control: np.ndarray | float
    n_treatment: np.ndarray | float


def _scalarise(x: np.ndarray) -> np.ndarray | float:
    return float(x) if np.ndim(x) == 0 else x


def welch_from_moments(
    mean_c: np.ndarray | float,
    var_c: np.ndarray | float,
    n_c: np.ndarray | float,
    mean_t: np.ndarray | float,
    var_t: np.ndarray | float,
    n_t: np.ndarray | float,
    *,
    alpha: float = 0.05,
) -> WelchResult:
    """Welch's test from per-arm means, unbiased variances (``ddof=1``) and counts.

    All arguments broadcast, so one call tests many experiments (or many looks of one).

    Parameters
    ----------
    mean_c, var_c, n_c : control mean, sample variance and member count.
    mean_t, var_t, n_t : the same for treatment.
    alpha : two-sided level of the confidence intervals.
    """
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must be in (0, 1), got {alpha}")
    mc, vc, nc = (np.asarray(a, dtype=np.float64) for a in (mean_c, var_c, n_c))
    mt, vt, nt = (np.asarray(a, dtype=np.float64) for a in (mean_t, var_t, n_t))
    sc2, st2 = vc / nc, vt / nt
    var = sc2 + st2
    se = np.sqrt(var)
    effect = mt - mc
    with np.errstate(divide="ignore", invalid="ignore"):
        # Welch-Satterthwaite degrees of freedom.
        df = var**2 / (sc2**2 / (nc - 1) + st2**2 / (nt - 1))
        t = effect / se
        p = 2.0 * sps.t.sf(np.abs(t), df)
        half = sps.t.ppf(1.0 - alpha / 2.0, df) * se
        # Delta method for the ratio of means: Var(mt/mc) ~ st2/mc^2 + mt^2 sc2/mc^4.
        lift = mt / mc - 1.0
        lift_se = np.sqrt(st2 / mc**2 + mt**2 * sc2 / mc**4)
    z = sps.norm.ppf(1.0 - alpha / 2.0)
    # Identical constant arms: no evidence either way.
    degenerate = var == 0
    p = np.where(degenerate, np.where(effect == 0, 1.0, 0.0), p)
    half = np.where(degenerate, 0.0, half)
    df = np.where(degenerate, nc + nt - 2, df)
    lift = np.where(mc == 0, np.nan, lift)
    return WelchResult(
        control_mean=_scalarise(mc),
        treatment_mean=_scalarise(mt),
        effect=_scalarise(effect),
        se=_scalarise(se),
        df=_scalarise(df),
        t=_scalarise(t),
        p_value=_scalarise(p),
        ci_low=_scalarise(effect - half),
        ci_high=_scalarise(effect + half),
        relative_lift=_scalarise(lift),
        relative_ci_low=_scalarise(lift - z * lift_se),
        relative_ci_high=_scalarise(lift + z * lift_se),
        n_control=_scalarise(nc),
        n_treatment=_scalarise(nt),
    )


def welch_test(
    control: object,
    treatment: object,
    *,
    alpha: float = 0.05,
) -> WelchResult:
    """Welch's unequal-variance t-test of ``mean(treatment) - mean(control)``.

    Parameters
    ----------
    control, treatment : per-member metric values, shape ``(n_c,)`` and ``(n_t,)``, or stacked
        ``(..., n_c)`` and ``(..., n_t)`` to test many experiments at once.
    alpha : two-sided level; intervals are ``1 - alpha`` confidence intervals.

    Returns
    -------
    WelchResult : effect, its t-interval, p-value, and relative lift with a delta-method interval.
    """
    c = as_metric(control, "control")
    t = as_metric(treatment, "treatment")
    return welch_from_moments(
        c.mean(axis=-1),
        c.var(axis=-1, ddof=1),
        c.shape[-1],
        t.mean(axis=-1),
        t.var(axis=-1, ddof=1),
        t.shape[-1],
        alpha=alpha,
    )


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio mismatch check: Pearson chi-square of observed vs expected arm sizes."""

    chi2: float
    p_value: float
    flagged: bool
    observed: np.ndarray
    expected: np.ndarray


def srm_test(
    counts: object,
    expected_ratios: object | None = None,
    *,
    threshold: float = SRM_THRESHOLD,
) -> SRMResult:
    """Test whether members split across arms in the designed ratio.

    Parameters
    ----------
    counts : members observed per arm, shape ``(k,)``.
    expected_ratios : designed allocation per arm (any positive scale); equal split if ``None``.
    threshold : flag when the p-value is below it (0.001 by default: a trustworthy platform
        blocks the readout rather than explain the imbalance away).
    """
    obs = np.asarray(counts, dtype=np.float64)
    if obs.ndim != 1 or obs.size < 2:
        raise DataError("SRM needs the member count of at least two arms")
    if (obs < 0).any():
        raise DataError("arm member counts must be non-negative")
    ratios = np.ones_like(obs) if expected_ratios is None else np.asarray(expected_ratios, float)
    if ratios.shape != obs.shape or (ratios <= 0).any():
        raise DataError(f"expected_ratios must be {obs.size} positive numbers, got {ratios!r}")
    total = obs.sum()
    if total == 0:
        raise DataError("no members assigned to any arm")
    expected = total * ratios / ratios.sum()
    chi2 = float(((obs - expected) ** 2 / expected).sum())
    p = float(sps.chi2.sf(chi2, obs.size - 1))
    return SRMResult(chi2=chi2, p_value=p, flagged=p < threshold, observed=obs, expected=expected)


@dataclass(frozen=True)
class BalanceRow:
    """Pre-period balance of one covariate between arms."""

    covariate: str
    control_mean: float
    treatment_mean: float
    std_diff: float
    p_value: float
    flagged: bool


def balance_check(
    pre_control: dict[str, object],
    pre_treatment: dict[str, object],
    *,
    max_std_diff: float = 0.1,
    alpha: float = 0.001,
) -> list[BalanceRow]:
    """Compare pre-experiment covariates between arms (randomisation should balance them).

    A covariate is flagged when its standardised mean difference exceeds ``max_std_diff``
    (the usual 0.1 rule of thumb) *and* Welch's test rejects at ``alpha``; requiring both
    stops huge experiments flagging negligible differences and tiny ones flagging noise.

    Parameters
    ----------
    pre_control, pre_treatment : covariate name -> per-member pre-period values.
    """
    if set(pre_control) != set(pre_treatment):
        raise DataError(
            f"covariates differ between arms: {sorted(pre_control)} vs {sorted(pre_treatment)}"
        )
    rows = []
    for name in pre_control:
        c = as_metric(pre_control[name], name)
        t = as_metric(pre_treatment[name], name)
        w = welch_test(c, t)
        pooled_sd = np.sqrt((c.var(ddof=1) + t.var(ddof=1)) / 2.0)
        smd = float((t.mean() - c.mean()) / pooled_sd) if pooled_sd > 0 else 0.0
        p = float(w.p_value)
        rows.append(
            BalanceRow(
                covariate=name,
                control_mean=float(c.mean()),
                treatment_mean=float(t.mean()),
                std_diff=smd,
                p_value=p,
                flagged=abs(smd) > max_std_diff and p < alpha,
            )
        )
    return rows
