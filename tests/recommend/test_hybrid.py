from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from reelmine.errors import ConfigError
from reelmine.recommend.hybrid import HybridRanker

from .conformance import N_ITEMS, N_USERS, RecommenderConformance, two_taste_data

SMALL = {
    "generators": ("ease", "popularity"),
    "generator_params": {"ease": {"l2": 10.0}},
    "n_candidates": 15,
    "n_estimators": 10,
    "min_child_samples": 5,
    "validation_fraction": 0.25,
}


class TestHybridConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> HybridRanker:
        return HybridRanker(**{**SMALL, **overrides})

    def fit_kwargs(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"times": data["times"], "item_genres": data["item_genres"]}


def test_features_and_importance() -> None:
    data = two_taste_data()
    m = HybridRanker(**SMALL, random_state=0).fit(
        data["X"], times=data["times"], item_genres=data["item_genres"]
    )
    names = list(m.feature_names_)
    assert {
        "ease_score",
        "ease_rank",
        "genre_affinity",
        "pop_near_last_visit",
        "ease_recent",
    } <= set(names)
    imp = m.feature_importance()
    assert abs(sum(imp.values()) - 1.0) < 1e-6
    # Non-candidates rank after every candidate.
    scores = m.score_users(np.arange(N_USERS))
    assert (scores.max(axis=1) > -100).all() and (scores.min(axis=1) < -100).all()


def test_without_times_or_genres() -> None:
    data = two_taste_data()
    m = HybridRanker(**SMALL, random_state=0).fit(data["X"])
    assert "pop_near_last_visit" not in set(m.feature_names_)
    ids, _ = m.recommend(np.arange(N_USERS), 3)
    assert ((ids >= 20) == (np.arange(N_USERS) >= 30)[:, None]).mean() > 0.9


def test_rejects_self_as_generator() -> None:
    with pytest.raises(ConfigError):
        HybridRanker(generators=("hybrid",)).fit(two_taste_data()["X"])


def test_fast_recommend_matches_dense_path() -> None:
    """The candidate-only serving path returns what top-k over ``score_users`` returns."""
    from reelmine.recommend.base import Recommender

    data = two_taste_data()
    m = HybridRanker(**SMALL, random_state=0).fit(
        data["X"], times=data["times"], item_genres=data["item_genres"]
    )
    users = np.array([0, 5, 31, 59, -1, N_USERS + 3])
    fast_ids, fast_sc = m.recommend(users, 10)
    slow_ids, slow_sc = Recommender.recommend(m, users, 10)
    np.testing.assert_array_equal(fast_ids, slow_ids)
    np.testing.assert_allclose(fast_sc, slow_sc, rtol=1e-5, atol=1e-6)
    # More titles than candidates: the rest follow by popularity, seen titles still excluded.
    ids, sc = m.recommend(np.array([3, 40]), 30)
    assert (ids >= 0).all() and not data["X"][3, ids[0]].toarray().any()
    slow_ids, slow_sc = Recommender.recommend(m, np.array([3, 40]), 30)
    np.testing.assert_allclose(sc, slow_sc, rtol=1e-5)
    # Same titles, except which of several equal-scored titles fill the last slots (the dense
    # path's partial sort picks among ties arbitrarily; this path takes the lowest index).
    not_tied = sc > sc.min(axis=1, keepdims=True)
    np.testing.assert_array_equal(ids[not_tied], slow_ids[not_tied])
    # Extra exclusions and business rules act before candidates are picked.
    allowed = np.ones(N_ITEMS, bool)
    allowed[20:25] = False
    ex = sp.csr_matrix((np.ones(2, np.float32), ([0, 0], [26, 27])), shape=(1, N_ITEMS))
    ids, _ = m.recommend(np.array([40]), 12, exclude=ex, allowed_items=allowed)
    assert not set(ids[0].tolist()) & {20, 21, 22, 23, 24, 26, 27}
    assert (ids[0] >= 0).all() and not data["X"][40, ids[0]].toarray().any()


def test_popularity_candidates_skip_seen_titles() -> None:
    data = two_taste_data()
    m = HybridRanker(
        **{**SMALL, "generators": ("popularity",), "n_candidates": 5}, random_state=0
    ).fit(data["X"], times=data["times"])
    r, c, f = m._pairs(m._generators(), np.arange(4), m.user_items_[:4], None)
    assert not data["X"][r, c].any()
    assert (np.bincount(r, minlength=4) == 5).all()  # exactly n_candidates unseen per member
    ranks = f[:, list(m.feature_names_).index("popularity_rank")]
    assert sorted(ranks[r == 0].tolist()) == [0, 1, 2, 3, 4]


def test_similar_items_without_itemknn_stay_in_taste_group() -> None:
    data = two_taste_data()
    m = HybridRanker(**SMALL, random_state=0).fit(data["X"], times=data["times"])
    ids, sims = m.similar_items(25, 5)
    assert (ids >= 20).all() and 25 not in ids.tolist()
    assert (np.diff(sims) <= 1e-6).all() and (sims > 0).all()
