"""Evaluate a fitted model on a split: full-catalogue top-N ranking and rating error."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from reelmine.errors import DataError
from reelmine.recommend.base import RatingPredictor, Recommender
from reelmine.recommend.evaluate.metrics import mae, rmse, topn_metrics
from reelmine.recommend.evaluate.splits import Split


def interaction_matrix(
    users: np.ndarray,
    items: np.ndarray,
    shape: tuple[int, int],
    values: np.ndarray | None = None,
) -> sp.csr_matrix:
    """users x items float32 CSR from parallel index arrays (duplicates summed).

    Rows whose user or item index is ``-1`` (unknown to a vocabulary) are dropped.
    """
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    v = np.ones(len(u), np.float32) if values is None else np.asarray(values, np.float32)
    ok = (u >= 0) & (i >= 0) & (u < shape[0]) & (i < shape[1])
    m = sp.csr_matrix((v[ok], (u[ok], i[ok])), shape=shape, dtype=np.float32)
    m.sum_duplicates()
    m.sort_indices()
    return m


def split_matrices(
    users: np.ndarray,
    items: np.ndarray,
    split: Split,
    *,
    values: np.ndarray | None = None,
    drop_unseen_items: bool = True,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Train and test users x items CSR matrices of a split over the same index space.

    With ``drop_unseen_items`` (the default), test interactions with items that have no
    training interaction are dropped: no model can rank them, and the protocol ranks the
    items seen in training. The test matrix keeps the training row space, so row ``u`` is
    user ``u`` in both.
    """
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    shape = (int(u.max()) + 1 if len(u) else 0, int(i.max()) + 1 if len(i) else 0)
    v = None if values is None else np.asarray(values)
    train = interaction_matrix(
        u[split.train], i[split.train], shape, None if v is None else v[split.train]
    )
    te_u, te_i = u[split.test], i[split.test]
    te_v = None if v is None else v[split.test]
    if drop_unseen_items:
        seen = np.asarray(train.getnnz(axis=0)) > 0
        keep = seen[te_i]
        te_u, te_i = te_u[keep], te_i[keep]
        te_v = None if te_v is None else te_v[keep]
    test = interaction_matrix(te_u, te_i, shape, te_v)
    return train, test


def evaluate_topn(
    model: Recommender,
    train: sp.spmatrix,
    test: sp.spmatrix,
    k: tuple[int, ...] | list[int] | int = (10, 20),
    *,
    users: np.ndarray | None = None,
    item_features: Any = None,
    batch_size: int = 4096,
) -> dict[str, float]:
    """Top-N metrics of a fitted ``model`` with full ranking over its catalogue.

    Every user with at least one test item is ranked over all ``model.n_items_`` items with
    their training items excluded (``Recommender.recommend(exclude_seen=True)``, plus the
    items of ``train`` when it differs from the model's own matrix); no sampled negatives.

    Parameters
    ----------
    model : a fitted :class:`Recommender` (fitted on ``train``).
    train, test : users x items CSR matrices over the same index space.
    k : cut-off(s); metrics are reported at each as ``"ndcg@10"`` etc.
    users : optional subset of user rows to evaluate (default: all with a test item).
    item_features : optional (n_items, d) matrix for intra-list diversity.

    Returns
    -------
    dict of metric name -> value, plus ``"n_users"`` (users evaluated).
    """
    ks = (k,) if isinstance(k, int) else tuple(k)
    train = sp.csr_matrix(train)
    test = sp.csr_matrix(test)
    if train.shape != test.shape:
        raise DataError(f"train matrix is {train.shape} but test matrix is {test.shape}")
    n_items = int(getattr(model, "n_items_", train.shape[1]))
    if n_items != train.shape[1]:
        raise DataError(
            f"model knows {n_items} items but the matrices have {train.shape[1]} columns"
        )
    if users is None:
        users = np.flatnonzero(test.getnnz(axis=1) > 0)
    users = np.asarray(users, dtype=np.int64)
    if len(users) == 0:
        raise DataError("no user has a test interaction: nothing to evaluate")
    kmax = max(ks)
    recs = []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        ids, _ = model.recommend(batch, kmax, exclude_seen=True, exclude=train[batch])
        recs.append(ids)
    rec = np.vstack(recs)
    out = topn_metrics(rec, test[users], ks, train=train, item_features=item_features)
    out["n_users"] = float(len(users))
    return out


def evaluate_ratings(
    model: RatingPredictor, users: np.ndarray, items: np.ndarray, ratings: np.ndarray
) -> dict[str, float]:
    """RMSE and MAE of a fitted rating predictor on held-out (user, item, rating) triples."""
    pred = model.predict(np.asarray(users), np.asarray(items))
    return {"rmse": rmse(ratings, pred), "mae": mae(ratings, pred), "n": float(len(pred))}
