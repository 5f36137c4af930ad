from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from reelmine.recommend.mf_implicit import ALS, BPR

from .conformance import RecommenderConformance


class TestALSConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> ALS:
        return ALS(**{"factors": 8, "iterations": 10, **overrides})


class TestBPRConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> BPR:
        return BPR(**{"factors": 8, "iterations": 200, "learning_rate": 0.05, **overrides})


def test_als_fold_in_recovers_trained_user_factors() -> None:
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random((80, 40)) < 0.15).astype(np.float32))
    m = ALS(
        factors=6,
        iterations=30,
        regularization=0.01,
        alpha=1.0,
        confidence="binary",
        random_state=0,
    ).fit(X)
    folded = m.user_vectors(X[:20])
    # After convergence the user step is a fixed point: folding in a training row gives its factors.
    np.testing.assert_allclose(folded, m.user_factors_[:20], atol=0.05)
    assert np.all(m.user_vectors(sp.csr_matrix((2, 40))) == 0.0)
