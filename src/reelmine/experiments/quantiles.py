"""Quantile treatment effects (p50/p90/p99) with percentile-bootstrap intervals.

Streaming-quality metrics (startup time, rebuffer ratio, bitrate) are judged by their tails, so
a mean test is not enough. The effect at quantile ``q`` is ``Q_t(q) - Q_c(q)`` with the
empirical quantile ``x_(k)``, ``k = ceil(q n)`` (NumPy's ``inverted_cdf``).

The bootstrap needs no resampled copies of the data. In a resample of ``n`` values the
``k``-th order statistic is ``<= x_(j)`` exactly when at least ``k`` draws land on
``x_(1..j)``, i.e. ``P(J <= j) = P(Binomial(n, j/n) >= k)``. Drawing the index ``J`` from
that distribution gives the resampled quantile with the same law as the classic
resample-and-sort bootstrap, at ``O(n + B)`` cost instead of ``O(n B)`` time and memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from reelmine.errors import DataError
from reelmine.experiments.stats import as_metric

DEFAULT_QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class QuantileEffect:
    """Difference of one quantile between arms with its bootstrap interval."""

    quantile: float
    control: float
    treatment: float
    effect: float
    relative_lift: float
    ci_low: float
    ci_high: float
    p_value: float


def _order_index(n: int, q: float) -> int:
    """1-based order statistic of the ``inverted_cdf`` quantile."""
    return int(min(max(np.ceil(q * n - 1e-12), 1), n))


def bootstrap_order_statistic(n: int, k: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_boot`` bootstrap replicates of the 0-based index of the ``k``-th order statistic.

    Parameters
    ----------
    n : sample size; k : 1-based order; n_boot : number of replicates.
    """
    # J concentrates within a few binomial standard deviations of k; beyond 12 of them the
    # probability is below 1e-30, so only that window is evaluated.
    width = int(12.0 * np.sqrt(k * (1.0 - k / n) + 1.0)) + 10
    lo, hi = max(1, k - width), min(n, k + width)
    j = np.arange(lo, hi + 1)
    cdf = sps.binom.sf(k - 1, n, j / n)  # P(J <= j)
    cdf[-1] = 1.0
    u = rng.random(n_boot)
    return lo - 1 + np.searchsorted(cdf, u, side="left")


def quantile_effects(
    control: object,
    treatment: object,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_boot: int = 2000,
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> list[QuantileEffect]:
    """Quantile treatment effects with percentile-bootstrap intervals and p-values.

    Parameters
    ----------
    control, treatment : per-member values, shape ``(n_c,)`` and ``(n_t,)``.
    quantiles : levels in (0, 1); tail levels need enough members (``n (1 - q)`` of at least
        ~20) for the interval to be trustworthy.
    n_boot : bootstrap replicates per arm.
    alpha : two-sided level.
    random_state : seed or generator.

    Returns
    -------
    One :class:`QuantileEffect` per quantile. ``p_value`` is the two-sided bootstrap p-value
    ``2 min(P*(effect <= 0), P*(effect >= 0))`` (capped at 1).
    """
    c = np.sort(as_metric(control, "control", min_size=1))
    t = np.sort(as_metric(treatment, "treatment", min_size=1))
    if c.ndim != 1 or t.ndim != 1:
        raise DataError("quantile_effects takes one experiment: 1-d arrays per arm")
    if n_boot < 100:
        raise DataError(f"n_boot must be at least 100, got {n_boot}")
    rng = np.random.default_rng(random_state)
    out = []
    for q in quantiles:
        if not 0.0 < q < 1.0:
            raise DataError(f"quantile levels must be in (0, 1), got {q}")
        kc, kt = _order_index(c.size, q), _order_index(t.size, q)
        qc, qt = float(c[kc - 1]), float(t[kt - 1])
        boot = (
            t[bootstrap_order_statistic(t.size, kt, n_boot, rng)]
            - c[bootstrap_order_statistic(c.size, kc, n_boot, rng)]
        )
        lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
        p = min(1.0, 2.0 * min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0))))
        out.append(
            QuantileEffect(
                quantile=float(q),
                control=qc,
                treatment=qt,
                effect=qt - qc,
                relative_lift=(qt / qc - 1.0) if qc != 0 else float("nan"),
                ci_low=float(lo),
                ci_high=float(hi),
                p_value=p,
            )
        )
    return out
