"""Multiple-testing corrections across metrics, and non-inferiority tests for guardrails.

Decision metrics (the ones a launch depends on) are corrected together: Holm controls the
family-wise error rate, Benjamini-Hochberg the false-discovery rate. Guardrail metrics ask a
different question ("is treatment not worse by more than a margin?"), so they are tested
one-sided against their margin and kept out of the correction: adding them would dilute the
power of the decision metrics, and a failed guardrail blocks a launch on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from reelmine.errors import DataError
from reelmine.experiments.stats import as_metric, welch_test

CORRECTIONS = ("holm", "bh", "none")


def _as_pvalues(p_values: object) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise DataError(f"p-values must be a 1-d array, got shape {p.shape}")
    if ((p < 0) | (p > 1) | ~np.isfinite(p)).any():
        raise DataError("p-values must lie in [0, 1]")
    return p


def holm(p_values: object) -> np.ndarray:
    """Holm step-down adjusted p-values (reject where adjusted ``<= alpha``).

    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` over the p-values sorted ascending.
    """
    p = _as_pvalues(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.empty(m)
    adj[order] = np.maximum.accumulate(scaled)
    return adj


def benjamini_hochberg(p_values: object) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values; reject where ``<= alpha``).

    ``adj_(i) = min_{j >= i} min(1, m p_(j) / j)`` over the p-values sorted ascending.
    """
    p = _as_pvalues(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adj = np.empty(m)
    adj[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return adj


def adjust_p_values(p_values: object, method: str = "holm") -> np.ndarray:
    """Adjust with ``holm``, ``bh`` (Benjamini-Hochberg) or ``none``."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return _as_pvalues(p_values).copy()
    raise DataError(f"unknown correction {method!r}; use one of {', '.join(CORRECTIONS)}")


@dataclass(frozen=True)
class NonInferiorityResult:
    """One-sided test of ``H0: effect <= -margin`` (or ``>= +margin`` when lower is better)."""

    effect: float
    margin: float
    ci_low: float
    ci_high: float
    p_value: float
    passed: bool


def non_inferiority_test(
    control: object,
    treatment: object,
    *,
    margin: float,
    relative: bool = True,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Guardrail check: treatment is not worse than control by more than ``margin``.

    Parameters
    ----------
    control, treatment : per-member values of the guardrail metric.
    margin : tolerated degradation, positive; a fraction of the control mean when
        ``relative`` (0.01 = 1%), else in metric units.
    higher_is_better : direction of "worse" (False for e.g. rebuffer ratio).
    alpha : one-sided level; ``ci_low``/``ci_high`` form the matching ``1 - 2 alpha`` interval.
    """
    if margin <= 0:
        raise DataError(f"non-inferiority margin must be positive, got {margin}")
    c = as_metric(control, "control")
    t = as_metric(treatment, "treatment")
    w = welch_test(c, t, alpha=2 * alpha)
    delta = margin * abs(float(w.control_mean)) if relative else margin
    effect, se, df = float(w.effect), float(w.se), float(w.df)
    # Shift so "worse than the margin" is the null on the lower side in both directions.
    signed = (effect + delta) if higher_is_better else (delta - effect)
    # With no spread at all the answer is certain either way.
    p = float(sps.t.sf(signed / se, df)) if se > 0 else (0.0 if signed > 0 else 1.0)
    return NonInferiorityResult(
        effect=effect,
        margin=delta,
        ci_low=float(w.ci_low),
        ci_high=float(w.ci_high),
        p_value=p,
        passed=p < alpha,
    )
