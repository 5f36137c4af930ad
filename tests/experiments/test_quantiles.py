"""Quantile treatment effects: known quantiles, bootstrap law, interval coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from reelmine.errors import DataError
from reelmine.experiments.quantiles import bootstrap_order_statistic, quantile_effects


def test_point_estimates_are_inverted_cdf_quantiles(rng: np.random.Generator) -> None:
    c, t = rng.normal(size=101), rng.normal(size=57) + 1
    for e in quantile_effects(c, t, n_boot=200, random_state=0):
        qc = np.quantile(c, e.quantile, method="inverted_cdf")
        qt = np.quantile(t, e.quantile, method="inverted_cdf")
        assert e.control == qc and e.treatment == qt
        assert e.effect == pytest.approx(qt - qc)


def test_known_answer_on_integers() -> None:
    c = np.arange(1.0, 101.0)  # p50 = 50, p90 = 90, p99 = 99
    res = quantile_effects(c, c + 5.0, n_boot=500, random_state=1)
    assert [e.control for e in res] == [50.0, 90.0, 99.0]
    assert all(e.effect == 5.0 for e in res)
    assert res[0].relative_lift == pytest.approx(0.1)


def test_order_statistic_law_matches_resampling() -> None:
    # The binomial shortcut has the same distribution as resample-and-sort.
    r = np.random.default_rng(5)
    n, k, b = 40, 36, 20000
    fast = bootstrap_order_statistic(n, k, b, r)
    slow = np.sort(r.integers(0, n, (b, n)), axis=1)[:, k - 1]
    fast_freq = np.bincount(fast, minlength=n) / b
    slow_freq = np.bincount(slow, minlength=n) / b
    exact = np.diff(np.concatenate([[0.0], sps.binom.sf(k - 1, n, np.arange(1, n + 1) / n)]))
    assert np.abs(fast_freq - exact).max() < 0.012
    assert np.abs(slow_freq - exact).max() < 0.012


@pytest.mark.slow  # ~1.5 s alone, several seconds on a busy machine
def test_bootstrap_intervals_cover_truth() -> None:
    # 1,000 experiments: lognormal(0, 1) vs 1.1 x lognormal(0, 1), 2,000 members per arm.
    r = np.random.default_rng(3)
    qs = (0.5, 0.9, 0.99)
    truth = 0.1 * np.exp(sps.norm.ppf(qs))
    covered = np.zeros(3)
    reps = 1000
    for _ in range(reps):
        c, t = r.lognormal(0, 1, 2000), 1.1 * r.lognormal(0, 1, 2000)
        res = quantile_effects(c, t, quantiles=qs, n_boot=1000, random_state=r)
        covered += [e.ci_low <= tr <= e.ci_high for e, tr in zip(res, truth, strict=True)]
    coverage = covered / reps
    assert np.all(np.abs(coverage - 0.95) <= 0.02), coverage


def test_detects_tail_only_change(rng: np.random.Generator) -> None:
    # Treatment adds long stalls to 5% of sessions: the median barely moves, p99 does.
    c = rng.exponential(1.0, 5000)
    t = rng.exponential(1.0, 5000)
    t[rng.random(5000) < 0.05] += 10.0
    p50, _, p99 = quantile_effects(c, t, n_boot=1000, random_state=2)
    assert p50.p_value > 0.01
    assert p99.p_value < 0.01 and p99.ci_low > 3.0


def test_bad_input() -> None:
    with pytest.raises(DataError):
        quantile_effects([1.0, 2.0], [1.0, 2.0], quantiles=(1.0,))
    with pytest.raises(DataError):
        quantile_effects([1.0, 2.0], [1.0, 2.0], n_boot=10)
