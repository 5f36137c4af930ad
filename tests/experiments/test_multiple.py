"""Holm, Benjamini-Hochberg and non-inferiority: hand-computed answers and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest

from reelmine.errors import DataError
from reelmine.experiments.multiple import (
    adjust_p_values,
    benjamini_hochberg,
    holm,
    non_inferiority_test,
)

P = np.array([0.01, 0.04, 0.03, 0.005])


def test_holm_hand_computed() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max so far 0.06.
    np.testing.assert_allclose(holm(P), [0.03, 0.06, 0.06, 0.02])


def test_bh_hand_computed() -> None:
    # sorted: 0.005*4/1 = 0.02, 0.01*4/2 = 0.02, 0.03*4/3 = 0.04, 0.04*4/4 = 0.04.
    np.testing.assert_allclose(benjamini_hochberg(P), [0.02, 0.04, 0.04, 0.02])


def test_against_statsmodels(rng: np.random.Generator) -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = rng.uniform(0, 0.2, 25)
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        expected = multitest.multipletests(p, method=theirs)[1]
        np.testing.assert_allclose(adjust_p_values(p, ours), expected, rtol=1e-12)


def test_adjust_validation() -> None:
    np.testing.assert_array_equal(adjust_p_values(P, "none"), P)
    with pytest.raises(DataError, match="unknown correction"):
        adjust_p_values(P, "bonferroni-ish")
    with pytest.raises(DataError):
        holm([0.5, 1.5])


def test_non_inferiority(rng: np.random.Generator) -> None:
    c = rng.normal(100.0, 10.0, 4000)
    same = rng.normal(100.0, 10.0, 4000)
    worse = rng.normal(97.0, 10.0, 4000)
    # 1% margin: equal arms pass, a 3% drop fails.
    assert non_inferiority_test(c, same, margin=0.01).passed
    bad = non_inferiority_test(c, worse, margin=0.01)
    assert not bad.passed and bad.p_value > 0.5
    assert bad.margin == pytest.approx(0.01 * c.mean())
    # Lower is better (e.g. rebuffer ratio): a rise beyond the margin fails.
    assert not non_inferiority_test(
        c, c + 2.0, margin=1.0, relative=False, higher_is_better=False
    ).passed
    assert non_inferiority_test(
        c, c - 2.0, margin=1.0, relative=False, higher_is_better=False
    ).passed


def test_non_inferiority_known_p() -> None:
    # effect 0, se = sqrt(2/3), df = 4, margin 1: p = P(T_4 > 1 / sqrt(2/3)).
    from scipy import stats as sps

    res = non_inferiority_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=1.0, relative=False)
    assert res.p_value == pytest.approx(sps.t.sf(1 / np.sqrt(2 / 3), 4))
    with pytest.raises(DataError):
        non_inferiority_test([1.0, 2.0], [1.0, 2.0], margin=0.0)
