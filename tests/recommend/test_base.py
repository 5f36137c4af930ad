from __future__ import annotations

import numpy as np
import pytest

from reelmine.errors import ConfigError, DataError
from reelmine.recommend.base import recommend_in_batches, top_k
from reelmine.recommend.hybrid import HybridRanker

from .conformance import two_taste_data
from .test_hybrid import SMALL


def _top_k_by_full_sort(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: sort every row completely by (-score, column)."""
    cols = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    order = np.lexsort((cols, -scores), axis=1)[:, : min(k, scores.shape[1])]
    vals = np.take_along_axis(scores, order, axis=1).astype(np.float32)
    ids = order.astype(np.int32)
    ids[np.isneginf(vals)] = -1
    return ids, vals


def test_top_k_hand_made() -> None:
    scores = np.array(
        [
            [0.1, 0.9, -np.inf, 0.5],
            [2.0, 2.0, 1.0, 2.0],  # ties: lower column first
            [-np.inf, 3.0, -np.inf, -np.inf],  # one eligible item: padded with -1
        ],
        np.float32,
    )
    ids, vals = top_k(scores, 3)
    np.testing.assert_array_equal(ids, [[1, 3, 0], [0, 1, 3], [1, -1, -1]])
    np.testing.assert_array_equal(vals[0], np.float32([0.9, 0.5, 0.1]))
    assert vals[2, 0] == 3.0 and np.isneginf(vals[2, 1:]).all()
    # k beyond the catalogue and k = 0
    assert top_k(scores, 10)[0].shape == (3, 4)
    assert top_k(scores, 0)[0].shape == (3, 0)
    with pytest.raises(DataError, match="2-D"):
        top_k(np.zeros(4), 2)


def test_top_k_matches_full_sort_with_ties_and_exclusions(rng: np.random.Generator) -> None:
    for trial in range(200):
        n, m, k = rng.integers(1, 20), rng.integers(1, 50), int(rng.integers(1, 60))
        dtype = np.float32 if trial % 2 else np.float64
        s = rng.integers(0, 4, (n, m)).astype(dtype)  # few distinct values: many ties
        s[rng.random((n, m)) < 0.3] = -np.inf
        s[rng.random((n, m)) < 0.05] = np.inf
        got, want = top_k(s, k), _top_k_by_full_sort(s, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_top_k_never_returns_nan() -> None:
    ids, vals = top_k(np.array([[np.nan, 1.0, np.nan]]), 3)
    np.testing.assert_array_equal(ids, [[1, -1, -1]])


def test_batches_on_threads_equal_one_call() -> None:
    data = two_taste_data()
    model = HybridRanker(**SMALL, random_state=0).fit(
        data["X"], times=data["times"], item_genres=data["item_genres"]
    )
    users = np.arange(-1, model.n_users_ + 1)  # an unknown member at each end
    want_ids, want_vals = model.recommend(users, 5)
    for jobs in (1, 2):
        got = list(recommend_in_batches(model, users, 5, batch_size=7, n_jobs=jobs))
        assert [len(b) for b, _, _ in got] == [
            min(7, len(users) - s) for s in range(0, len(users), 7)
        ]
        np.testing.assert_array_equal(np.concatenate([b for b, _, _ in got]), users)
        np.testing.assert_array_equal(np.vstack([i for _, i, _ in got]), want_ids)
        np.testing.assert_array_equal(np.vstack([v for _, _, v in got]), want_vals)
    with pytest.raises(ConfigError, match="batch_size"):
        next(recommend_in_batches(model, users, 5, batch_size=0))
