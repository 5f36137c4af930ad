from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from reelmine.errors import ConfigError
from reelmine.recommend.coldstart import (
    SOURCES,
    age_band,
    cold_start_scores,
    recommend_history,
    segment_codes,
)
from reelmine.recommend.content import ContentModel
from reelmine.recommend.ease import EASE
from reelmine.recommend.popularity import Popularity

from .conformance import N_ITEMS, N_USERS, two_taste_data


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    data = two_taste_data()
    X = data["X"]
    # Segment 0 = the drama half of the members, segment 1 = the comedy half.
    groups = (np.arange(N_USERS) >= N_USERS // 2).astype(np.int32)
    return {
        "pop": Popularity(group_shrinkage=1.0).fit(X, user_groups=groups),
        "content": ContentModel(n_components=4, random_state=0).fit(X, titles=data["titles"]),
        "ease": EASE(l2=10.0).fit(X),
    }


def _rows(*histories: list[int]) -> sp.csr_matrix:
    rows = [r for r, h in enumerate(histories) for _ in h]
    cols = [i for h in histories for i in h]
    return sp.csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols)), shape=(len(histories), N_ITEMS)
    )


def test_policy_by_history_length(models: dict[str, object]) -> None:
    hist = _rows([], [], [22], [1, 2, 3, 4, 5, 6])
    scores, source = cold_start_scores(
        hist,
        popularity=models["pop"],  # type: ignore[arg-type]
        segments=np.array([0, 1, 0, -1]),
        content=models["content"],  # type: ignore[arg-type]
        model=models["ease"],  # type: ignore[arg-type]
        min_history=5,
    )
    assert [SOURCES[s] for s in source] == ["popular", "popular", "content", "personal"]
    assert scores.shape == (4, N_ITEMS) and scores.max() <= 1.0 + 1e-6
    assert scores[0].argmax() < 20 and scores[1].argmax() >= 20  # popular in their segment
    # One comedy play already pulls comedies up for a member from the drama segment.
    assert scores[2, 20:].mean() > scores[0, 20:].mean()
    assert scores[3, 20:].max() < scores[3, :20].max()


def test_recommend_history_folds_in(models: dict[str, object]) -> None:
    ids, _ = recommend_history(models["ease"], _rows([21, 22, 23]), 5)  # type: ignore[arg-type]
    assert (ids >= 20).all() and not set(ids[0].tolist()) & {21, 22, 23}
    allowed = np.zeros(N_ITEMS, bool)
    allowed[[30, 31]] = True
    ids, _ = recommend_history(models["ease"], _rows([21]), 3, allowed_items=allowed)  # type: ignore[arg-type]
    assert ids[0].tolist()[:2] in ([30, 31], [31, 30]) and ids[0, 2] == -1
    with pytest.raises(ConfigError):
        cold_start_scores(_rows([]), popularity=models["pop"], min_history=0)  # type: ignore[arg-type]


def test_segment_helpers() -> None:
    codes, labels = segment_codes(["DE", None, "FR", "DE"])
    assert labels == ["DE", "FR"] and codes.tolist() == [0, -1, 1, 0]
    assert age_band(np.array([10, 18, 30, 70, np.nan])).tolist() == [0, 1, 2, 6, -1]
