"""Welch, SRM and balance: known answers against SciPy, and A/A calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from reelmine.errors import DataError
from reelmine.experiments.stats import balance_check, srm_test, welch_test


def test_welch_matches_scipy(rng: np.random.Generator) -> None:
    c = rng.exponential(2.0, 300)
    t = rng.exponential(2.4, 250) + 0.1
    res = welch_test(c, t)
    ref = sps.ttest_ind(t, c, equal_var=False)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert res.t == pytest.approx(ref.statistic, rel=1e-10)
    assert res.df == pytest.approx(ref.df, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert res.ci_low == pytest.approx(ci.low, rel=1e-10)
    assert res.ci_high == pytest.approx(ci.high, rel=1e-10)
    assert res.effect == pytest.approx(t.mean() - c.mean())


def test_welch_hand_computed() -> None:
    # means 2 and 5, variances 1 and 1, n = 3 each: se = sqrt(2/3), df = 4.
    res = welch_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert res.effect == pytest.approx(3.0)
    assert res.se == pytest.approx(np.sqrt(2 / 3))
    assert res.df == pytest.approx(4.0)
    assert res.relative_lift == pytest.approx(1.5)
    # Delta method: var = (1/3)/4 + 25 (1/3) / 16.
    se_lift = np.sqrt((1 / 3) / 4 + 25 * (1 / 3) / 16)
    assert res.relative_ci_high - res.relative_lift == pytest.approx(1.959963984540054 * se_lift)


def test_relative_lift_interval_covers_truth(rng: np.random.Generator) -> None:
    # 1,000 experiments with a true +10% lift on a mean of 10: delta-method coverage ~95%.
    c = rng.normal(10.0, 4.0, (1000, 400))
    t = rng.normal(11.0, 4.0, (1000, 400))
    res = welch_test(c, t)
    covered = (res.relative_ci_low <= 0.1) & (res.relative_ci_high >= 0.1)
    assert abs(covered.mean() - 0.95) < 0.02


def test_welch_stacked_equals_one_by_one(rng: np.random.Generator) -> None:
    c = rng.normal(size=(4, 50))
    t = rng.normal(size=(4, 60))
    stacked = welch_test(c, t)
    for i in range(4):
        assert stacked.p_value[i] == pytest.approx(welch_test(c[i], t[i]).p_value)


def test_aa_false_positive_rate_is_nominal() -> None:
    # 1,000 A/A experiments on skewed, hours-viewed-like data.
    r = np.random.default_rng(7)
    c = r.lognormal(0.0, 0.8, (1000, 300))
    t = r.lognormal(0.0, 0.8, (1000, 300))
    fpr = float((welch_test(c, t).p_value < 0.05).mean())
    assert 0.035 <= fpr <= 0.065, fpr
    # And the intervals cover the true zero difference as often.
    res = welch_test(c, t)
    assert abs(((res.ci_low <= 0) & (res.ci_high >= 0)).mean() - (1 - fpr)) < 1e-12


def test_welch_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="control"):
        welch_test([1.0], [1.0, 2.0])
    with pytest.raises(DataError, match="non-finite"):
        welch_test([1.0, np.nan, 3.0], [1.0, 2.0])


def test_welch_constant_arms() -> None:
    assert welch_test([2.0, 2.0], [2.0, 2.0]).p_value == 1.0
    assert welch_test([2.0, 2.0], [3.0, 3.0]).p_value == 0.0


def test_srm_matches_scipy_chisquare() -> None:
    counts = [5000, 5210, 4890]
    res = srm_test(counts)
    ref = sps.chisquare(counts)
    assert res.chi2 == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.flagged is False
    uneven = srm_test([2100, 7900], [0.2, 0.8])
    ref2 = sps.chisquare([2100, 7900], f_exp=[2000, 8000])
    assert uneven.p_value == pytest.approx(ref2.pvalue)


def test_srm_flags_broken_split() -> None:
    # 50/50 design with 51.5% in control over 20,000 members: chi2 = 2 * 300^2 / 10,000 = 18.
    res = srm_test([10300, 9700])
    assert res.chi2 == pytest.approx(18.0)
    assert res.p_value == pytest.approx(2.209e-5, rel=1e-3)
    assert res.flagged
    assert not srm_test([10050, 9950]).flagged


def test_srm_bad_input() -> None:
    with pytest.raises(DataError):
        srm_test([10])
    with pytest.raises(DataError):
        srm_test([10, 20], [1.0, 0.0])


def test_balance_check(rng: np.random.Generator) -> None:
    pre_c = {"hours": rng.normal(10, 3, 5000), "plays": rng.poisson(4, 5000)}
    pre_t = {"hours": rng.normal(10, 3, 5000), "plays": rng.poisson(4, 5000) + 1.0}
    rows = {r.covariate: r for r in balance_check(pre_c, pre_t)}
    assert not rows["hours"].flagged
    assert rows["plays"].flagged
    assert rows["plays"].std_diff == pytest.approx(0.5, abs=0.05)
    with pytest.raises(DataError, match="covariates differ"):
        balance_check({"a": [1, 2]}, {"b": [1, 2]})
