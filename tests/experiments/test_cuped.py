"""CUPED: known theta, unbiased in A/A, variance reduction with a correlated covariate."""

from __future__ import annotations

import numpy as np
import pytest

from reelmine.errors import DataError
from reelmine.experiments.cuped import cuped_test, cuped_theta
from reelmine.experiments.stats import welch_test


def test_theta_is_the_regression_slope() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert cuped_theta(3.0 * x + 1.0, x) == pytest.approx(3.0)
    assert cuped_theta(x, np.ones(4)) == 0.0


def test_no_correlation_equals_welch(rng: np.random.Generator) -> None:
    yc, yt = rng.normal(size=200), rng.normal(size=200)
    res = cuped_test(yc, np.ones(200), yt, np.ones(200))
    plain = welch_test(yc, yt)
    assert res.adjusted.p_value == pytest.approx(plain.p_value)
    assert res.variance_reduction == pytest.approx(0.0)


def _aa(n_exp: int, n: int, rho: float, lift: float, seed: int) -> tuple[np.ndarray, ...]:
    r = np.random.default_rng(seed)
    xc, xt = r.normal(10, 2, (n_exp, n)), r.normal(10, 2, (n_exp, n))
    noise = np.sqrt(1 - rho**2) * 2
    yc = 10 + rho * (xc - 10) + r.normal(0, noise, (n_exp, n))
    yt = 10 + lift + rho * (xt - 10) + r.normal(0, noise, (n_exp, n))
    return yc, xc, yt, xt


def test_cuped_unbiased_in_aa_and_calibrated() -> None:
    yc, xc, yt, xt = _aa(1000, 300, rho=0.8, lift=0.0, seed=11)
    res = cuped_test(yc, xc, yt, xt)
    effects = np.asarray(res.adjusted.effect)
    se = np.asarray(res.adjusted.se)
    # Mean effect over 1,000 A/A experiments is zero within 4 standard errors of that mean.
    assert abs(effects.mean()) < 4 * effects.std() / np.sqrt(effects.size)
    fpr = float((np.asarray(res.adjusted.p_value) < 0.05).mean())
    assert 0.035 <= fpr <= 0.065
    # Reported SE matches the spread of the estimates across experiments.
    assert se.mean() == pytest.approx(effects.std(), rel=0.08)


def test_cuped_reduces_variance_by_rho_squared() -> None:
    yc, xc, yt, xt = _aa(200, 2000, rho=0.8, lift=0.2, seed=12)
    res = cuped_test(yc, xc, yt, xt)
    vr = np.asarray(res.variance_reduction)
    assert vr.mean() == pytest.approx(0.64, abs=0.02)
    assert np.asarray(res.theta).mean() == pytest.approx(0.8, abs=0.02)
    # Adjusted estimates are centred on the true lift and spread less than raw ones.
    adj, raw = np.asarray(res.adjusted.effect), np.asarray(res.raw.effect)
    assert adj.mean() == pytest.approx(0.2, abs=0.01)
    assert adj.std() < 0.7 * raw.std()


def test_cuped_shape_mismatch() -> None:
    with pytest.raises(DataError, match="shapes differ"):
        cuped_test([1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0])
