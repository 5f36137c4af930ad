"""CUPED: variance reduction with a pre-experiment covariate (Deng, Xu, Kohavi & Walker, 2013).

Each member's metric ``y`` is replaced by ``y - theta * (x - mean(x))`` where ``x`` is the
same member's pre-period value. ``theta = cov(x, y) / var(x)`` is pooled across both arms, so
the adjustment is the same function for everyone and, because ``x`` was fixed before
randomisation, the adjusted difference in means stays unbiased. Its variance shrinks by the
factor ``1 - corr(x, y)^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelmine.errors import DataError
from reelmine.experiments.stats import WelchResult, as_metric, welch_from_moments


@dataclass(frozen=True)
class CupedResult:
    """A CUPED-adjusted Welch test next to the unadjusted one.

    ``variance_reduction`` is ``1 - Var(adjusted effect) / Var(raw effect)``: 0.4 means the
    same precision as an experiment with 1 / (1 - 0.4) = 1.67 times the members.
    """

    adjusted: WelchResult
    raw: WelchResult
    theta: np.ndarray | float
    variance_reduction: np.ndarray | float


def cuped_theta(y: object, x: object) -> np.ndarray | float:
    """Regression slope ``cov(x, y) / var(x)`` along the last axis (0 when ``x`` is constant)."""
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    xc = xa - xa.mean(axis=-1, keepdims=True)
    yc = ya - ya.mean(axis=-1, keepdims=True)
    sxx = (xc * xc).sum(axis=-1)
    sxy = (xc * yc).sum(axis=-1)
    theta = np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 0)
    return float(theta) if theta.ndim == 0 else theta


def cuped_test(
    y_control: object,
    x_control: object,
    y_treatment: object,
    x_treatment: object,
    *,
    alpha: float = 0.05,
) -> CupedResult:
    """Welch's test on CUPED-adjusted metrics.

    Parameters
    ----------
    y_control, y_treatment : per-member metric in the experiment period, shape ``(..., n_arm)``.
    x_control, x_treatment : the same members' pre-period covariate, same shapes.
    alpha : two-sided level of the intervals.
    """
    yc, xc = as_metric(y_control, "y_control"), as_metric(x_control, "x_control")
    yt, xt = as_metric(y_treatment, "y_treatment"), as_metric(x_treatment, "x_treatment")
    if yc.shape != xc.shape or yt.shape != xt.shape:
        raise DataError(
            f"metric and covariate shapes differ: control {yc.shape} vs {xc.shape}, "
            f"treatment {yt.shape} vs {xt.shape}"
        )
    y = np.concatenate([yc, yt], axis=-1)
    x = np.concatenate([xc, xt], axis=-1)
    theta = np.asarray(cuped_theta(y, x))
    x_mean = x.mean(axis=-1, keepdims=True)
    th = theta[..., None]
    adj_c = yc - th * (xc - x_mean)
    adj_t = yt - th * (xt - x_mean)
    nc, nt = yc.shape[-1], yt.shape[-1]
    adjusted = welch_from_moments(
        adj_c.mean(axis=-1),
        adj_c.var(axis=-1, ddof=1),
        nc,
        adj_t.mean(axis=-1),
        adj_t.var(axis=-1, ddof=1),
        nt,
        alpha=alpha,
    )
    raw = welch_from_moments(
        yc.mean(axis=-1),
        yc.var(axis=-1, ddof=1),
        nc,
        yt.mean(axis=-1),
        yt.var(axis=-1, ddof=1),
        nt,
        alpha=alpha,
    )
    raw_var = np.asarray(raw.se) ** 2
    adj_var = np.asarray(adjusted.se) ** 2
    reduction = np.divide(raw_var - adj_var, raw_var, out=np.zeros_like(raw_var), where=raw_var > 0)
    return CupedResult(
        adjusted=adjusted,
        raw=raw,
        theta=float(theta) if theta.ndim == 0 else theta,
        variance_reduction=float(reduction) if reduction.ndim == 0 else reduction,
    )
