"""Quantile comparisons: known answers, engine agreement and interval calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reelmine.errors import DataError
from reelmine.quality.compare import compare_quantiles, sample_quantiles


def test_known_quantiles_and_rank_test() -> None:
    a = np.arange(1, 101, dtype=float)  # 1..100
    b = a + 50
    res = compare_quantiles(a, b, quantiles=[0.1, 0.5, 0.99], n_boot=500, random_state=0)
    t = res.table.to_pydict()
    assert t["a"] == [10.0, 50.0, 99.0]  # k-th order statistic, k = ceil(q n)
    assert t["diff"] == [50.0, 50.0, 50.0]
    assert all(lo <= 50.0 <= hi for lo, hi in zip(t["low"], t["high"], strict=True))
    assert res.p_value < 1e-10
    # P(B > A) + P(B = A) / 2: (3725 + 5000 + 50 / 2) / 10000 pairs.
    assert res.prob_b_greater == pytest.approx(0.875)
    same = compare_quantiles(a, a[::-1], n_boot=200, random_state=0)
    assert same.p_value == pytest.approx(1.0)
    assert same.prob_b_greater == pytest.approx(0.5)


def test_order_engine_matches_resampling(rng: np.random.Generator) -> None:
    a, b = rng.lognormal(6.5, 0.6, 400), rng.lognormal(6.6, 0.6, 400)
    kw = {"quantiles": [0.5, 0.9], "n_boot": 4000}
    order = compare_quantiles(a, b, method="order", random_state=1, **kw).table
    resample = compare_quantiles(a, b, method="resample", random_state=2, **kw).table
    for col in ("low", "high"):
        np.testing.assert_allclose(order[col].to_numpy(), resample[col].to_numpy(), rtol=0.08)


def test_sample_quantiles_inverted_cdf(rng: np.random.Generator) -> None:
    x = np.sort(rng.normal(size=101))
    q = np.array([0.01, 0.3, 0.5, 0.97])
    np.testing.assert_array_equal(sample_quantiles(x, q), np.quantile(x, q, method="inverted_cdf"))


@pytest.mark.slow
def test_interval_coverage_on_lognormal_play_delay() -> None:
    """95% intervals for the quantile difference cover the truth 95% +- 2% at p50/p90/p99."""
    rng = np.random.default_rng(7)
    q = np.array([0.5, 0.9, 0.99])
    truth = stats.lognorm.ppf(q, 0.7, scale=np.exp(6.7)) - stats.lognorm.ppf(
        q, 0.6, scale=np.exp(6.5)
    )
    reps = 1000
    covered = np.zeros(3)
    for _ in range(reps):
        a, b = rng.lognormal(6.5, 0.6, 1000), rng.lognormal(6.7, 0.7, 1000)
        t = compare_quantiles(a, b, quantiles=q, n_boot=1000, random_state=rng).table
        covered += (t["low"].to_numpy() <= truth) & (truth <= t["high"].to_numpy())
    coverage = covered / reps
    assert np.all(np.abs(coverage - 0.95) <= 0.02), coverage


def test_errors() -> None:
    with pytest.raises(DataError, match="group a"):
        compare_quantiles([1.0], [1.0, 2.0])
    with pytest.raises(DataError, match="quantiles"):
        compare_quantiles([1.0, 2.0], [1.0, 2.0], quantiles=[1.0])
    with pytest.raises(DataError, match="method"):
        compare_quantiles([1.0, 2.0], [1.0, 2.0], method="jackknife")
