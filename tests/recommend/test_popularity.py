from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from reelmine.errors import DataError
from reelmine.recommend.popularity import Popularity

from .conformance import RecommenderConformance


class TestPopularityConformance(RecommenderConformance):
    personalised = False

    def make(self, **overrides: Any) -> Popularity:
        return Popularity(**overrides)


def test_counts_distinct_members() -> None:
    X = sp.csr_matrix(np.array([[1, 5, 0], [1, 0, 0], [1, 0, 1]], np.float32))
    m = Popularity().fit(X)
    np.testing.assert_allclose(m.item_scores_, [1.0, 1 / 3, 1 / 3])
    assert Popularity(count="strength").fit(X).item_scores_.argmax() == 1


def test_trending_prefers_recent_plays() -> None:
    # Item 0: 3 old plays (100 days ago); item 1: 2 plays today. Half-life 10 days.
    X = sp.csr_matrix(np.array([[1, 0], [1, 1], [1, 1]], np.float32))
    day = 86400.0
    T = sp.csr_matrix(np.array([[day, 0], [day, 101 * day], [day, 101 * day]]))
    assert Popularity().fit(X).item_scores_.argmax() == 0
    trending = Popularity(half_life_days=10).fit(X, times=T)
    assert trending.item_scores_.argmax() == 1
    np.testing.assert_allclose(trending.item_scores_[0], 3 * 0.5**10 / 2, rtol=1e-5)
    with pytest.raises(DataError):
        Popularity(half_life_days=10).fit(X)


def test_per_country_ranking() -> None:
    # Users 0-2 in country 0 watch item 0; users 3-5 in country 1 watch item 1; user 6 unknown.
    X = sp.csr_matrix(
        ([1.0] * 7, ([0, 1, 2, 3, 4, 5, 6], [0, 0, 0, 1, 1, 1, 2])), shape=(7, 3), dtype=np.float32
    )
    m = Popularity(group_shrinkage=0.5).fit(X, user_groups=np.array([0, 0, 0, 1, 1, 1, -1]))
    ids, _ = m.recommend(np.array([6, 3]), 1, exclude_seen=False)
    assert ids[1, 0] == 1  # country 1 member gets country 1's favourite
    assert m.group_ranking(0).argmax() == 0 and m.group_ranking(9).argmax() in (0, 1)
