"""Hand-checked examples for every evaluation metric (numbers worked out in the comments)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from reelmine.errors import DataError
from reelmine.recommend.base import Recommender
from reelmine.recommend.evaluate import (
    average_popularity,
    catalog_coverage,
    evaluate_topn,
    hit_matrix,
    hit_rate_at_k,
    intra_list_diversity,
    item_popularity,
    mae,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    rmse,
    topn_metrics,
)

# Three users, ten items. User 2 has no relevant item, so every accuracy metric skips it.
RECS = np.array([[0, 1, 2, 3], [4, 5, -1, -1], [1, 2, 3, 4]])
RELEVANT = sp.csr_matrix(
    (np.ones(4), ([0, 0, 0, 1], [1, 3, 9, 4])), shape=(3, 10)
)  # user 0: {1, 3, 9}; user 1: {4}
L2, L3, L5 = np.log2(2), np.log2(3), np.log2(5)


def test_rmse_mae_by_hand() -> None:
    # errors 0, 2, 1: RMSE = sqrt((0 + 4 + 1) / 3) = sqrt(5/3); MAE = (0 + 2 + 1) / 3 = 1
    assert rmse([1, 2, 3], [1, 4, 2]) == pytest.approx(np.sqrt(5 / 3))
    assert mae([1, 2, 3], [1, 4, 2]) == pytest.approx(1.0)
    with pytest.raises(DataError):
        rmse([1, 2], [1])


def test_hit_matrix() -> None:
    # user 0 hits at ranks 2 and 4; user 1 at rank 1; -1 padding is never a hit
    expected = [[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(hit_matrix(RECS, RELEVANT), np.array(expected, bool))


def test_precision_recall_at_4() -> None:
    # precision: user 0 2/4, user 1 1/4 -> 0.375; recall: user 0 2/3, user 1 1/1 -> 5/6
    assert precision_at_k(RECS, RELEVANT, 4) == pytest.approx(0.375)
    assert recall_at_k(RECS, RELEVANT, 4) == pytest.approx(5 / 6)


def test_ndcg_at_4_and_2() -> None:
    # K=4, user 0: DCG = 1/log2(3) + 1/log2(5); ideal over min(3, 4) = 3 hits:
    # 1 + 1/log2(3) + 1/log2(4). user 1: hit at rank 1 with 1 relevant -> 1.
    u0 = (1 / L3 + 1 / L5) / (1 + 1 / L3 + 0.5)
    assert u0 == pytest.approx(0.498189, abs=1e-6)
    assert ndcg_at_k(RECS, RELEVANT, 4) == pytest.approx((u0 + 1) / 2)
    # K=2, user 0: DCG = 1/log2(3), ideal over min(3, 2) = 2: 1 + 1/log2(3)
    u0k2 = (1 / L3) / (1 + 1 / L3)
    assert ndcg_at_k(RECS, RELEVANT, 2) == pytest.approx((u0k2 + 1) / 2)
    assert ndcg_at_k(RECS, RELEVANT, 2) == pytest.approx(0.693426, abs=1e-6)


def test_map_at_k() -> None:
    # K=4, user 0: precision at the hits, P@2 = 1/2 and P@4 = 2/4, summed = 1, divided by
    # min(3, 4) = 3 -> 1/3; user 1: P@1 = 1 -> 1. Mean 2/3.
    assert map_at_k(RECS, RELEVANT, 4) == pytest.approx(2 / 3)
    # K=2, user 0: P@2 = 1/2 over min(3, 2) = 2 -> 1/4; user 1: 1. Mean 0.625.
    assert map_at_k(RECS, RELEVANT, 2) == pytest.approx(0.625)


def test_hit_rate_and_mrr() -> None:
    # both evaluated users hit within 4; first hits at ranks 2 and 1 -> MRR (1/2 + 1) / 2
    assert hit_rate_at_k(RECS, RELEVANT, 4) == pytest.approx(1.0)
    assert mrr_at_k(RECS, RELEVANT, 4) == pytest.approx(0.75)
    # K=1: only user 1 hits -> hit rate 1/2, MRR 1/2
    assert hit_rate_at_k(RECS, RELEVANT, 1) == pytest.approx(0.5)
    assert mrr_at_k(RECS, RELEVANT, 1) == pytest.approx(0.5)


def test_k_beyond_list_length_counts_empty_slots() -> None:
    # K=6 with 4-wide lists: user 0 precision 2/6, user 1 1/6 -> 0.25
    assert precision_at_k(RECS, RELEVANT, 6) == pytest.approx(0.25)


def test_no_relevant_users_is_an_error() -> None:
    with pytest.raises(DataError):
        ndcg_at_k(RECS, sp.csr_matrix((3, 10)), 4)
    with pytest.raises(DataError):
        precision_at_k(RECS, RELEVANT[:2], 4)  # row counts differ


def test_coverage() -> None:
    # K=4 shows items {0,1,2,3,4,5} of 10 -> 0.6; K=1 shows {0, 4, 1} -> 0.3
    assert catalog_coverage(RECS, 10, 4) == pytest.approx(0.6)
    assert catalog_coverage(RECS, 10, 1) == pytest.approx(0.3)


def test_novelty_and_popularity_bias() -> None:
    # 4 training users; item 0 seen by all 4, item 1 by 2 (users 0, 1), item 2 by 1 (user 3)
    train = sp.csr_matrix(
        (np.ones(7), ([0, 1, 2, 3, 0, 1, 3], [0, 0, 0, 0, 1, 1, 2])), shape=(4, 3)
    )
    pop = item_popularity(train)
    np.testing.assert_array_equal(pop, [4, 2, 1])
    recs = np.array([[0, 1], [2, -1]])
    # self-information -log2(pop/4): item 0 -> 0, item 1 -> 1, item 2 -> 2
    # user 0: (0 + 1) / 2 = 0.5; user 1: 2 -> mean 1.25
    assert novelty(recs, pop, 4) == pytest.approx(1.25)
    # ARP: user 0 (4 + 2) / 2 = 3; user 1: 1 -> mean 2
    assert average_popularity(recs, pop) == pytest.approx(2.0)


@pytest.mark.parametrize("sparse", [False, True])
def test_intra_list_diversity(sparse: bool) -> None:
    # item vectors (1,0), (0,1), (1,1): cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/sqrt(2)
    feats = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    recs = np.array([[0, 1, 2], [0, 2, -1], [1, -1, -1]])
    d = 1 - 1 / np.sqrt(2)
    # list 1: (1 + d + d) / 3; list 2: d; list 3 has one item and is skipped
    expected = ((1 + 2 * d) / 3 + d) / 2
    assert expected == pytest.approx(0.410744, abs=1e-6)
    f = sp.csr_matrix(feats) if sparse else feats
    assert intra_list_diversity(recs, f) == pytest.approx(expected)
    assert intra_list_diversity(recs, f, batch_size=1) == pytest.approx(expected)


def test_topn_metrics_dict() -> None:
    train = sp.csr_matrix((np.ones(3), ([0, 1, 2], [6, 7, 8])), shape=(3, 10))
    out = topn_metrics(RECS, RELEVANT, (2, 4), train=train, item_features=np.eye(10))
    assert out["ndcg@4"] == pytest.approx(ndcg_at_k(RECS, RELEVANT, 4))
    assert out["recall@2"] == pytest.approx(1 / 3 / 2 + 0.5)
    assert out["coverage@4"] == pytest.approx(0.6)
    assert out["diversity@4"] == pytest.approx(1.0)  # orthogonal one-hot items
    assert {"novelty@2", "arp@4", "map@4", "mrr@2", "hit_rate@4"} <= set(out)


class _FixedScores(Recommender):
    """Scores every item by a fixed vector: rank is known in advance."""

    def __init__(self, *, scores: list[float] | None = None) -> None:
        self.scores = scores

    def fit(self, interactions, **fit_params):  # type: ignore[no-untyped-def]
        self.user_items_ = sp.csr_matrix(interactions, dtype=np.float32)
        self.n_users_, self.n_items_ = self.user_items_.shape
        return self

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(np.asarray(self.scores, np.float32), (len(users), 1))


def test_evaluate_topn_full_ranking_excludes_training_items() -> None:
    # 5 items ranked 4 > 3 > 2 > 1 > 0. User 0 trained on item 4, so gets [3, 2]; its test
    # item 2 is at rank 2 -> NDCG@2 = (1/log2 3) / 1. User 1 trained on nothing, gets [4, 3];
    # test item 0 -> miss. User 2 has no test item and is not evaluated.
    train = sp.csr_matrix((np.ones(2), ([0, 2], [4, 1])), shape=(3, 5))
    test = sp.csr_matrix((np.ones(2), ([0, 1], [2, 0])), shape=(3, 5))
    model = _FixedScores(scores=[0, 1, 2, 3, 4]).fit(train)
    out = evaluate_topn(model, train, test, k=(1, 2), batch_size=1)
    assert out["n_users"] == 2
    assert out["ndcg@2"] == pytest.approx((1 / L3) / 2)
    assert out["hit_rate@1"] == 0.0 and out["hit_rate@2"] == 0.5
    assert out["recall@2"] == pytest.approx(0.5)
    assert out["coverage@2"] == pytest.approx(3 / 5)  # items 2, 3, 4 shown
    with pytest.raises(DataError):
        evaluate_topn(model, train, test[:2], k=2)
