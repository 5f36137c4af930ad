"""Accuracy and beyond-accuracy metrics, vectorised over users.

Top-N metrics take the recommended items as an int matrix ``recs`` of shape (n_users, K),
best first, padded with ``-1``, and the held-out relevant items as a CSR matrix ``relevant``
of shape (n_users, n_items) (row ``u`` of ``relevant`` belongs to row ``u`` of ``recs``).
Relevance is binary (any stored entry counts). Users with no relevant item are skipped by the
accuracy metrics (they have no defined recall or NDCG); each function returns the mean over
the remaining users. A ``-1`` slot is never a hit but still counts as a slot (precision
divides by K).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from reelmine.errors import DataError


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise DataError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size == 0:
        raise DataError("cannot score an empty set of predictions")
    return t, p


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error, ``sqrt(mean((y - yhat)^2))``."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error, ``mean(|y - yhat|)``."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def _check(recs: np.ndarray, relevant: sp.spmatrix) -> tuple[np.ndarray, sp.csr_matrix]:
    recs = np.asarray(recs)
    if recs.ndim != 2:
        raise DataError(f"recs must be (n_users, K), got shape {recs.shape}")
    rel = sp.csr_matrix(relevant)
    if rel.shape[0] != recs.shape[0]:
        raise DataError(f"recs has {recs.shape[0]} users but relevant has {rel.shape[0]} rows")
    if recs.size and recs.max() >= rel.shape[1]:
        raise DataError(f"recommended item {recs.max()} outside the {rel.shape[1]}-item catalogue")
    return recs.astype(np.int64, copy=False), rel


def hit_matrix(recs: np.ndarray, relevant: sp.spmatrix) -> np.ndarray:
    """Bool (n_users, K): whether each recommended item is relevant to its user.

    Vectorised membership test: every (user, item) pair is encoded as one integer key and
    looked up in the sorted keys of ``relevant`` with a binary search.
    """
    recs, rel = _check(recs, relevant)
    n_items = rel.shape[1]
    rel_rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    keys = np.sort(rel_rows * n_items + rel.indices.astype(np.int64))
    q = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_items + recs
    pos = np.searchsorted(keys, q)
    found = (
        keys[np.minimum(pos, max(len(keys) - 1, 0))] == q if len(keys) else np.zeros(q.shape, bool)
    )
    return found & (recs >= 0)


def _prepare(
    recs: np.ndarray, relevant: sp.spmatrix, k: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    recs, rel = _check(recs, relevant)
    k = recs.shape[1] if k is None else int(k)
    if k < 1:
        raise DataError(f"K must be >= 1, got {k}")
    recs = recs[:, :k]
    if recs.shape[1] < k:  # fewer slots than K: pad so every slot counts
        pad = np.full((recs.shape[0], k - recs.shape[1]), -1, dtype=recs.dtype)
        recs = np.hstack([recs, pad])
    n_rel = np.diff(rel.indptr)
    keep = n_rel > 0
    if not keep.any():
        raise DataError("no user has a relevant item: nothing to evaluate")
    hits = hit_matrix(recs[keep], rel[keep])
    return hits, n_rel[keep].astype(np.float64), k


def precision_at_k(recs: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean over users of (relevant items in the top K) / K."""
    hits, _, k = _prepare(recs, relevant, k)
    return float(np.mean(hits.sum(axis=1) / k))


def recall_at_k(recs: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean over users of (relevant items in the top K) / (number of relevant items)."""
    hits, n_rel, _ = _prepare(recs, relevant, k)
    return float(np.mean(hits.sum(axis=1) / n_rel))


def ndcg_at_k(recs: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean NDCG@K with binary gains: ``DCG = sum_r hit_r / log2(r + 1)`` (rank r from 1),
    divided by the ideal DCG of ``min(|relevant|, K)`` hits at the top."""
    hits, n_rel, k = _prepare(recs, relevant, k)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ disc
    ideal = np.cumsum(disc)[np.minimum(n_rel, k).astype(np.int64) - 1]
    return float(np.mean(dcg / ideal))


def map_at_k(recs: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean average precision: ``sum_r P@r * hit_r / min(|relevant|, K)``, averaged over users."""
    hits, n_rel, k = _prepare(recs, relevant, k)
    prec_at_r = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return float(np.mean((prec_at_r * hits).sum(axis=1) / np.minimum(n_rel, k)))


def hit_rate_at_k(recs: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Share of users with at least one relevant item in their top K."""
    hits, _, _ = _prepare(recs, relevant, k)
    return float(np.mean(hits.any(axis=1)))


def mrr_at_k(recs: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean reciprocal rank of the first relevant item in the top K (0 when there is none)."""
    hits, _, _ = _prepare(recs, relevant, k)
    first = np.argmax(hits, axis=1)
    return float(np.mean(np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)))


def catalog_coverage(recs: np.ndarray, n_items: int, k: int | None = None) -> float:
    """Share of the ``n_items`` catalogue that appears in at least one user's top K."""
    recs = np.asarray(recs)[:, :k] if k is not None else np.asarray(recs)
    shown = np.unique(recs[recs >= 0])
    return float(len(shown) / n_items) if n_items else 0.0


def item_popularity(train: sp.spmatrix) -> np.ndarray:
    """Number of distinct users who interacted with each item in ``train`` (float64)."""
    m = sp.csr_matrix(train)
    return np.asarray(m.getnnz(axis=0), dtype=np.float64)


def _valid_values(recs: np.ndarray, values: np.ndarray, k: int | None) -> np.ndarray:
    """Per-slot ``values[item]`` with NaN at ``-1`` padding."""
    recs = np.asarray(recs, dtype=np.int64)
    if k is not None:
        recs = recs[:, :k]
    out = values[np.maximum(recs, 0)].astype(np.float64)
    out[recs < 0] = np.nan
    return out


def _mean_of_user_means(per_slot: np.ndarray) -> float:
    valid = ~np.isnan(per_slot)
    counts = valid.sum(axis=1)
    sums = np.where(valid, per_slot, 0.0).sum(axis=1)
    has = counts > 0
    return float(np.mean(sums[has] / counts[has])) if has.any() else 0.0


def novelty(recs: np.ndarray, popularity: np.ndarray, n_users: int, k: int | None = None) -> float:
    """Mean self-information ``-log2(pop_i / n_users)`` of recommended items, averaged per user.

    ``popularity`` is the training user count per item (:func:`item_popularity`); items never
    seen in training are treated as seen once so the value stays finite.
    """
    p = np.maximum(np.asarray(popularity, dtype=np.float64), 1.0) / float(n_users)
    return _mean_of_user_means(_valid_values(recs, -np.log2(p), k))


def average_popularity(recs: np.ndarray, popularity: np.ndarray, k: int | None = None) -> float:
    """Popularity bias (ARP): mean training popularity of recommended items, averaged per user."""
    return _mean_of_user_means(_valid_values(recs, np.asarray(popularity, np.float64), k))


def intra_list_diversity(
    recs: np.ndarray, item_features: Any, k: int | None = None, batch_size: int = 1024
) -> float:
    """Mean pairwise cosine distance ``1 - cos(f_i, f_j)`` within each list, averaged per user.

    ``item_features`` is a dense or sparse (n_items, d) matrix. Lists with fewer than two valid
    items are skipped; items with an all-zero feature vector have cosine 0 to everything.
    """
    recs = np.asarray(recs, dtype=np.int64)
    if k is not None:
        recs = recs[:, :k]
    F: Any
    if sp.issparse(item_features):
        F = sp.csr_matrix(item_features, dtype=np.float64)
        norms = np.sqrt(np.asarray(F.multiply(F).sum(axis=1)).ravel())
    else:
        F = np.asarray(item_features, dtype=np.float64)
        norms = np.linalg.norm(F, axis=1)
    inv = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    total, n_lists = 0.0, 0
    kk = recs.shape[1]
    off_diag = ~np.eye(kk, dtype=bool)
    for start in range(0, len(recs), batch_size):  # batches bound memory to batch x K x d
        r = recs[start : start + batch_size]
        valid = r >= 0
        idx = np.maximum(r, 0).ravel()
        V = F[idx].toarray() if sp.issparse(F) else F[idx]
        V = (V * inv[idx, None]).reshape(len(r), kk, -1)
        cos = np.einsum("nkd,nld->nkl", V, V)
        pair_ok = valid[:, :, None] & valid[:, None, :] & off_diag
        n_pairs = pair_ok.sum(axis=(1, 2))
        dist = np.where(pair_ok, 1.0 - cos, 0.0).sum(axis=(1, 2))
        has = n_pairs > 0
        total += float((dist[has] / n_pairs[has]).sum())
        n_lists += int(has.sum())
    return total / n_lists if n_lists else 0.0


def topn_metrics(
    recs: np.ndarray,
    relevant: sp.spmatrix,
    ks: tuple[int, ...] | list[int] = (10, 20),
    *,
    train: sp.spmatrix | None = None,
    item_features: Any = None,
) -> dict[str, float]:
    """All top-N metrics at each K in ``ks`` as a flat dict (``"ndcg@10"`` ...).

    With ``train`` (users x items, for popularity), adds coverage, novelty and ARP; with
    ``item_features``, adds intra-list diversity. ``recs`` must have at least ``max(ks)``
    columns (pad with -1).
    """
    rel = sp.csr_matrix(relevant)
    out: dict[str, float] = {}
    pop = item_popularity(train) if train is not None else None
    for k in ks:
        out[f"precision@{k}"] = precision_at_k(recs, rel, k)
        out[f"recall@{k}"] = recall_at_k(recs, rel, k)
        out[f"ndcg@{k}"] = ndcg_at_k(recs, rel, k)
        out[f"map@{k}"] = map_at_k(recs, rel, k)
        out[f"hit_rate@{k}"] = hit_rate_at_k(recs, rel, k)
        out[f"mrr@{k}"] = mrr_at_k(recs, rel, k)
        out[f"coverage@{k}"] = catalog_coverage(recs, rel.shape[1], k)
        if pop is not None and train is not None:
            out[f"novelty@{k}"] = novelty(recs, pop, train.shape[0], k)
            out[f"arp@{k}"] = average_popularity(recs, pop, k)
        if item_features is not None:
            out[f"diversity@{k}"] = intra_list_diversity(recs, item_features, k)
    return out
