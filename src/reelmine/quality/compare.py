"""Quantile comparisons of two groups with bootstrap confidence intervals and a rank test.

Large services read playback experiments across the whole distribution of a metric (play delay
p10 ... p99), not just the mean. :func:`compare_quantiles` reports, per quantile, the difference
``q_b - q_a`` with a percentile-bootstrap interval, and a Mann-Whitney U test on the whole
distribution.

Two bootstrap engines, both vectorised:

``order`` (default)
    The exact bootstrap distribution of a sample quantile. The sample quantile (the
    ``inverted_cdf`` definition: the k-th order statistic, k = ceil(q n)) of a resample is
    ``x_(j)`` with probability ``P(Bin(n, (j-1)/n) < k) - P(Bin(n, j/n) < k)``; drawing from that
    distribution is resampling with infinitely many replicates of each group at O(n) cost.
``resample``
    Classic resampling with replacement, ``n_boot`` replicates drawn as one index matrix
    (in chunks bounded by ``max_cells``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import stats

from reelmine.errors import DataError

DEFAULT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class QuantileComparison:
    """Result of :func:`compare_quantiles`.

    ``table`` has one row per quantile: ``quantile``, ``a``, ``b``, ``diff`` (b - a), ``low``,
    ``high`` (the interval for diff). ``u_statistic``/``p_value`` are Mann-Whitney's (two-sided)
    and ``prob_b_greater`` is the common-language effect size P(B > A) + P(B = A) / 2.
    """

    table: pa.Table
    u_statistic: float
    p_value: float
    prob_b_greater: float
    n_a: int
    n_b: int


def _clean(x: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size < 2:
        raise DataError(f"group {name} needs at least 2 finite values, has {arr.size}")
    return np.sort(arr)


def sample_quantiles(sorted_x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The ``inverted_cdf`` sample quantile (k-th order statistic, k = ceil(q n))."""
    n = sorted_x.shape[-1]
    k = np.clip(np.ceil(q * n).astype(np.int64), 1, n)
    return np.take(sorted_x, k - 1, axis=-1)


def _order_draws(
    sorted_x: np.ndarray, q: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """(len(q), n_boot) draws from the exact bootstrap distribution of each quantile."""
    n = sorted_x.size
    k = np.clip(np.ceil(q * n), 1, n)
    # Only order statistics within ~12 binomial standard deviations of k carry probability
    # above 1e-30; evaluating the CDF on that band keeps the cost O(sqrt(n)) per quantile.
    half = np.ceil(12 * np.sqrt(n * q * (1 - q)) + 12).astype(np.int64)
    u = rng.random((q.size, n_boot))
    idx = np.empty((q.size, n_boot), dtype=np.int64)
    for i in range(q.size):  # a handful of quantiles, each fully vectorised
        lo = max(0, int(k[i]) - int(half[i]))
        hi = min(n, int(k[i]) + int(half[i]))
        j = np.arange(lo, hi + 1)
        # P(resample k-th order statistic <= x_(j)) = P(Bin(n, j/n) >= k).
        cdf = stats.binom.sf(k[i] - 1, n, j / n)
        cdf[-1] = 1.0
        idx[i] = lo + np.searchsorted(cdf, u[i], side="left")
    idx = np.clip(idx, 1, n)
    return sorted_x[idx - 1]


def _resample_draws(
    sorted_x: np.ndarray,
    q: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    max_cells: int,
) -> np.ndarray:
    n = sorted_x.size
    out = np.empty((q.size, n_boot))
    chunk = max(1, max_cells // n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        # Sorting indices sorts the resample because sorted_x is sorted.
        idx = np.sort(rng.integers(0, n, size=(stop - start, n)), axis=1)
        out[:, start:stop] = sample_quantiles(sorted_x[idx], q).T
    return out


def compare_quantiles(
    a: np.ndarray | Sequence[float],
    b: np.ndarray | Sequence[float],
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_boot: int = 2000,
    confidence: float = 0.95,
    method: str = "order",
    random_state: int | np.random.Generator | None = None,
    max_cells: int = 20_000_000,
) -> QuantileComparison:
    """Compare two groups across quantiles with bootstrap intervals and a Mann-Whitney test.

    Parameters
    ----------
    a, b : 1-d samples (e.g. play delay in ms of two app versions); NaNs are dropped.
    quantiles : probabilities in (0, 1).
    n_boot : bootstrap replicates.
    confidence : two-sided interval level.
    method : ``order`` (exact bootstrap distribution of the order statistic) or ``resample``.
    random_state : seed or generator.
    max_cells : bound on the resample matrix size (``resample`` only).

    Returns
    -------
    QuantileComparison
    """
    if method not in ("order", "resample"):
        raise DataError(f"method must be 'order' or 'resample', not {method!r}")
    if not 0 < confidence < 1:
        raise DataError(f"confidence must be in (0, 1), not {confidence}")
    q = np.asarray(quantiles, dtype=np.float64)
    if q.size == 0 or np.any((q <= 0) | (q >= 1)):
        raise DataError(f"quantiles must be in (0, 1), got {list(quantiles)}")
    xa, xb = _clean(a, "a"), _clean(b, "b")
    rng = np.random.default_rng(random_state)
    if method == "order":
        da, db = _order_draws(xa, q, n_boot, rng), _order_draws(xb, q, n_boot, rng)
    else:
        da = _resample_draws(xa, q, n_boot, rng, max_cells)
        db = _resample_draws(xb, q, n_boot, rng, max_cells)
    diff = db - da
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diff, [alpha, 1 - alpha], axis=1)
    qa, qb = sample_quantiles(xa, q), sample_quantiles(xb, q)
    u, p = stats.mannwhitneyu(xb, xa, alternative="two-sided")
    table = pa.table(
        {
            "quantile": q,
            "a": qa,
            "b": qb,
            "diff": qb - qa,
            "low": low,
            "high": high,
        }
    )
    return QuantileComparison(
        table=table,
        u_statistic=float(u),
        p_value=float(p),
        prob_b_greater=float(u) / (xa.size * xb.size),
        n_a=int(xa.size),
        n_b=int(xb.size),
    )
