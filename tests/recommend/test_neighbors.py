from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from reelmine.recommend.neighbors import ItemKNN, UserKNN

from .conformance import RecommenderConformance


class TestItemKNNConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> ItemKNN:
        return ItemKNN(**{"k": 20, **overrides})


class TestUserKNNConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> UserKNN:
        return UserKNN(**{"k": 10, **overrides})


def test_item_similarity_known_values() -> None:
    # Items 0 and 1 always watched together; item 2 by one of those users only.
    X = sp.csr_matrix(np.array([[1, 1, 1], [1, 1, 0], [1, 1, 0], [0, 0, 1]], np.float32))
    m = ItemKNN(shrinkage=0.0).fit(X)
    S = m.similarity_.toarray()
    np.testing.assert_allclose(S[0, 1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(S[0, 2], 1 / np.sqrt(3 * 2), rtol=1e-6)
    assert S[0, 0] == 0.0
    shrunk = ItemKNN(shrinkage=3.0).fit(X).similarity_.toarray()
    np.testing.assert_allclose(shrunk[0, 1], 3 / (3 + 3), rtol=1e-6)
    assert m.similar_items(0, 1)[0][0] == 1


def test_item_pruning_keeps_k_neighbours() -> None:
    rng = np.random.default_rng(0)
    X = sp.random(50, 30, density=0.3, random_state=rng, format="csr")
    S = ItemKNN(k=4).fit(X).similarity_.tocsc()
    assert (np.diff(S.indptr) <= 4).all()  # each target item keeps at most k neighbours


def test_user_knn_votes_by_neighbours() -> None:
    # User 0 shares items with user 1 only; user 1 also watched item 3 -> recommend 3.
    X = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [1, 1, 0, 1, 0], [0, 0, 1, 0, 1]], np.float32))
    ids, _ = UserKNN(k=1, shrinkage=0.0).fit(X).recommend(0, 1)
    assert ids[0, 0] == 3
