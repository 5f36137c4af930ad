"""mSPRT: known answer, and calibration under 30 daily peeks against naive peeking."""

from __future__ import annotations

import numpy as np
import pytest

from reelmine.errors import DataError
from reelmine.experiments.sequential import cumulative_moments, msprt_from_moments, sequential_test
from reelmine.experiments.stats import welch_from_moments

N_EXP, DAYS, PER_DAY = 1000, 30, 40


def _daily_moments(lift: float, seed: int) -> tuple[np.ndarray, ...]:
    """1,000 experiments, members arriving over 30 days; cumulative moments per day."""
    r = np.random.default_rng(seed)
    c = r.lognormal(0.0, 0.8, (N_EXP, DAYS * PER_DAY))
    t = r.lognormal(0.0, 0.8, (N_EXP, DAYS * PER_DAY)) * (1 + lift)
    ends = np.arange(1, DAYS + 1) * PER_DAY
    return (*cumulative_moments(c, ends), *cumulative_moments(t, ends))


def test_msprt_hand_computed() -> None:
    # d = 2, V = 1, tau^2 = 1: Lambda = sqrt(1/2) exp(4 / 4), p = 1/Lambda = sqrt(2)/e.
    res = msprt_from_moments(0.0, 50.0, 100.0, 2.0, 50.0, 100.0, effect_size=np.sqrt(1 / 50))
    assert float(res.p_value[-1]) == pytest.approx(np.sqrt(2) / np.e)
    half = np.sqrt(2 * (np.log(2) + 2 * np.log(20)))
    assert float(res.ci_high[-1]) == pytest.approx(2 + half)


def test_cumulative_moments(rng: np.random.Generator) -> None:
    x = rng.normal(size=30)
    m, v, n = cumulative_moments(x, np.array([10, 30]))
    assert m[0] == pytest.approx(x[:10].mean())
    assert v[1] == pytest.approx(x.var(ddof=1))
    assert list(n) == [10, 30]


def test_peeking_daily_sequential_stays_valid_naive_does_not() -> None:
    mc, vc, nc, mt, vt, nt = _daily_moments(0.0, seed=21)
    seq = msprt_from_moments(mc, vc, nc, mt, vt, nt, effect_size=0.1)
    seq_fpr = float(seq.rejected[:, -1].mean())  # rejected at any of the 30 looks
    naive = welch_from_moments(mc, vc, nc, mt, vt, nt)
    naive_fpr = float((np.asarray(naive.p_value) < 0.05).any(axis=1).mean())
    final_only = float((np.asarray(naive.p_value)[:, -1] < 0.05).mean())
    assert seq_fpr <= 0.055, seq_fpr
    assert naive_fpr > 0.10, naive_fpr  # peeking 30 times roughly triples the error rate
    assert 0.035 <= final_only <= 0.065
    # The confidence sequence covers the true zero at every look in the same share of runs.
    covered_always = ((seq.ci_low <= 0) & (seq.ci_high >= 0)).all(axis=1).mean()
    assert covered_always >= 0.945


def test_sequential_detects_a_real_lift() -> None:
    mc, vc, nc, mt, vt, nt = _daily_moments(0.2, seed=22)
    seq = msprt_from_moments(mc, vc, nc, mt, vt, nt, effect_size=0.1)
    fixed = welch_from_moments(mc[:, -1], vc[:, -1], nc[-1], mt[:, -1], vt[:, -1], nt[-1])
    power, fixed_power = seq.rejected[:, -1].mean(), (np.asarray(fixed.p_value) < 0.05).mean()
    # Validity under peeking costs some power against a single fixed-horizon look.
    assert 0.8 < power < fixed_power, (power, fixed_power)
    # p-values only go down and intervals only shrink over looks.
    assert (np.diff(seq.p_value, axis=1) <= 0).all()
    assert (np.diff(seq.ci_high - seq.ci_low, axis=1) <= 1e-12).all()


def test_sequential_test_from_arrays(rng: np.random.Generator) -> None:
    c, t = rng.normal(0, 1, 3000), rng.normal(0.3, 1, 3000)
    res = sequential_test(c, t, n_looks=10)
    assert res.p_value.shape == (10,)
    assert res.rejected[-1]
    assert res.ci_low[-1] <= 0.3 <= res.ci_high[-1]
    single = sequential_test(c, t)
    assert single.effect[-1] == pytest.approx(t.mean() - c.mean())
    with pytest.raises(DataError):
        sequential_test(c, t, n_looks=0)
