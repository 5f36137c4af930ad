from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from reelmine.errors import ConfigError
from reelmine.recommend.hybrid import HybridRanker

from .conformance import N_USERS, RecommenderConformance, two_taste_data

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
