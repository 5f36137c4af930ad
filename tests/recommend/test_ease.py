from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from reelmine.recommend.ease import EASE

from .conformance import RecommenderConformance


class TestEASEDenseConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> EASE:
        return EASE(**{"l2": 10.0, **overrides})


class TestEASELowRankConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> EASE:
        return EASE(**{"l2": 10.0, "solver": "lowrank", "rank": 8, **overrides})


def test_dense_matches_closed_form() -> None:
    rng = np.random.default_rng(1)
    X = (rng.random((30, 8)) < 0.4).astype(np.float32)
    m = EASE(l2=5.0, solver="dense").fit(X)
    P = np.linalg.inv(X.T @ X + 5.0 * np.eye(8))
    B = np.eye(8) - P / np.diag(P)
    np.testing.assert_allclose(m.weights_, B, atol=1e-5)
    assert np.allclose(np.diag(m.weights_), 0.0)


def test_lowrank_is_exact_at_full_rank_and_close_below() -> None:
    rng = np.random.default_rng(2)
    # Low-rank structure plus noise: 200 users, 60 items, 3 tastes.
    taste = rng.integers(0, 3, 200)
    prob = np.where(np.arange(60)[None, :] // 20 == taste[:, None], 0.5, 0.03)
    X = sp.csr_matrix((rng.random((200, 60)) < prob).astype(np.float32))
    dense = EASE(l2=20.0, solver="dense").fit(X)
    exact = EASE(l2=20.0, solver="lowrank", rank=60, random_state=0).fit(X)
    users = np.arange(200)
    np.testing.assert_allclose(exact.score_users(users), dense.score_users(users), atol=1e-3)
    approx = EASE(l2=20.0, solver="lowrank", rank=10, random_state=0).fit(X)
    top_d = dense.recommend(users, 10)[0]
    top_a = approx.recommend(users, 10)[0]
    overlap = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(top_a.tolist(), top_d.tolist(), strict=True)]
    )
    assert overlap > 0.7
    assert approx.solver_ == "lowrank" and not hasattr(approx, "weights_")
