"""Always-valid inference: the mixture sequential probability ratio test (mSPRT).

Following Johari, Koomen, Pekelis & Walsh ("Always valid inference", Operations Research 2022),
the difference in means ``d`` is approximately normal with variance ``V = s_c^2/n_c + s_t^2/n_t``.
Mixing the likelihood ratio over a normal prior ``N(0, tau^2)`` on the true effect gives

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

which is a martingale under the null, so ``P(sup_n Lambda_n >= 1/alpha) <= alpha`` (Ville's
inequality). The always-valid p-value is the running minimum of ``1 / Lambda`` and the
confidence sequence inverts the same bound:

    d +- sqrt(V (V + tau^2) / tau^2 * (log((V + tau^2) / V) + 2 log(1 / alpha)))

intersected over looks. Either may be read after every look ("peeking") without inflating the
false-positive rate. ``tau`` is set in standard-deviation units (``effect_size``): the test is
most powerful for effects around that size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelmine.errors import DataError
from reelmine.experiments.stats import as_metric


@dataclass(frozen=True)
class SequentialResult:
    """mSPRT over a sequence of looks (last axis = looks, in time order).

    ``p_value``, ``ci_low`` and ``ci_high`` are already the running minimum / intersection,
    so the value at look ``j`` is what an analyst peeking at look ``j`` may report.
    ``rejected`` is ``p_value <= alpha`` at that look (it never switches back).
    """

    effect: np.ndarray
    variance: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rejected: np.ndarray
    alpha: float


def msprt_from_moments(
    mean_c: object,
    var_c: object,
    n_c: object,
    mean_t: object,
    var_t: object,
    n_t: object,
    *,
    effect_size: float = 0.1,
    alpha: float = 0.05,
) -> SequentialResult:
    """Always-valid p-values and confidence sequence from per-look arm moments.

    Parameters
    ----------
    mean_c, var_c, n_c, mean_t, var_t, n_t : cumulative mean, sample variance and count per arm
        at each look; arrays broadcasting to ``(..., n_looks)``.
    effect_size : mixing scale ``tau`` in units of the pooled standard deviation.
    alpha : level of the test and of the confidence sequence.
    """
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must be in (0, 1), got {alpha}")
    if effect_size <= 0:
        raise DataError(f"effect_size must be positive, got {effect_size}")
    # At least one look axis, so a single look works like a sequence of one.
    mc, vc, nc, mt, vt, nt = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(a, dtype=np.float64))
            for a in (mean_c, var_c, n_c, mean_t, var_t, n_t)
        )
    )
    d = mt - mc
    v = vc / nc + vt / nt
    tau2 = effect_size**2 * (vc + vt) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lr = 0.5 * np.log(v / (v + tau2)) + tau2 * d**2 / (2.0 * v * (v + tau2))
        half = np.sqrt(v * (v + tau2) / tau2 * (np.log((v + tau2) / v) + 2.0 * np.log(1 / alpha)))
    # A look with no variance yet (tiny arms) carries no evidence and no bound.
    empty = ~(v > 0) | ~(tau2 > 0)
    log_lr = np.where(empty, 0.0, log_lr)
    half = np.where(empty, np.inf, half)
    p_look = np.minimum(1.0, np.exp(-log_lr))
    p = np.minimum.accumulate(p_look, axis=-1)
    lo = np.maximum.accumulate(np.where(empty, -np.inf, d - half), axis=-1)
    hi = np.minimum.accumulate(np.where(empty, np.inf, d + half), axis=-1)
    return SequentialResult(
        effect=d, variance=v, p_value=p, ci_low=lo, ci_high=hi, rejected=p <= alpha, alpha=alpha
    )


def cumulative_moments(values: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean, sample variance and count of ``values[..., :e]`` for every ``e`` in ``ends``."""
    s1 = np.cumsum(values, axis=-1)
    s2 = np.cumsum(values * values, axis=-1)
    idx = np.asarray(ends) - 1
    n = np.asarray(ends, dtype=np.float64)
    a1, a2 = s1[..., idx], s2[..., idx]
    mean = a1 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.maximum(a2 - n * mean**2, 0.0) / (n - 1)
    return mean, var, n


def sequential_test(
    control: object,
    treatment: object,
    *,
    n_looks: int = 1,
    effect_size: float = 0.1,
    alpha: float = 0.05,
) -> SequentialResult:
    """mSPRT on per-member values listed in arrival order, peeked at ``n_looks`` even steps.

    Parameters
    ----------
    control, treatment : per-member metric in the order members entered the experiment,
        shape ``(..., n_arm)``.
    n_looks : number of equally spaced interim looks (the last look uses every member).
    effect_size, alpha : see :func:`msprt_from_moments`.

    Returns
    -------
    SequentialResult with a last axis of length ``n_looks``; index ``-1`` is the current answer.
    """
    c = as_metric(control, "control")
    t = as_metric(treatment, "treatment")
    if n_looks < 1:
        raise DataError(f"n_looks must be at least 1, got {n_looks}")
    frac = np.arange(1, n_looks + 1) / n_looks
    ends_c = np.maximum(np.ceil(frac * c.shape[-1]).astype(np.int64), 1)
    ends_t = np.maximum(np.ceil(frac * t.shape[-1]).astype(np.int64), 1)
    mc, vc, nc = cumulative_moments(c, ends_c)
    mt, vt, nt = cumulative_moments(t, ends_t)
    return msprt_from_moments(mc, vc, nc, mt, vt, nt, effect_size=effect_size, alpha=alpha)
