"""Neighbourhood recommenders: item-item and user-user cosine kNN with shrinkage."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from reelmine.errors import DataError
from reelmine.recommend._util import fold_in_rows, lookup, prune_top_k
from reelmine.recommend.base import (
    HistoryScorer,
    Recommender,
    as_interactions,
    check_is_fitted,
    fingerprint,
    top_k,
)

_BLOCK_CELLS = 16_000_000  # target x candidate similarities held densely at once


def _prepare(X: sp.csr_matrix, feedback: str) -> sp.csr_matrix:
    if feedback == "binary":
        B = X.copy()
        B.data[:] = 1.0
        return B
    if feedback == "log":
        B = X.copy()
        B.data = np.log1p(B.data)
        return B
    if feedback == "raw":
        return X
    raise DataError(f"feedback must be 'binary', 'log' or 'raw', not {feedback!r}")


class ItemKNN(HistoryScorer):
    """Item-item cosine neighbourhood model.

    ``sim(i, j) = <x_i, x_j> / (|x_i| |x_j| + shrinkage)`` over the item columns; each target
    item keeps its ``k`` most similar items. A user's score for item ``j`` is the sum of the
    similarities between ``j`` and the items in the user's history (weighted by strength).

    Parameters
    ----------
    k : neighbours kept per target item.
    shrinkage : added to the cosine denominator: damps similarities resting on few co-watchers.
    feedback : ``"binary"`` (default), ``"log"`` (log1p of strength) or ``"raw"``.
    random_state : unused (deterministic); kept for the common interface.
    """

    def __init__(
        self,
        *,
        k: int = 100,
        shrinkage: float = 10.0,
        feedback: str = "binary",
        random_state: int | None = None,
    ) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.feedback = feedback
        self.random_state = random_state

    def fit(self, interactions: sp.spmatrix | np.ndarray, **fit_params: Any) -> Self:
        """Compute the pruned item-item similarity matrix."""
        X = as_interactions(interactions)
        B = _prepare(X, self.feedback)
        Bc = sp.csc_matrix(B)
        norms = np.sqrt(np.asarray(Bc.multiply(Bc).sum(axis=0)).ravel())
        n_items = X.shape[1]
        blocks = []
        BT = sp.csr_matrix(Bc.T)
        block = max(1, min(n_items, _BLOCK_CELLS // max(n_items, 1)))
        k = min(self.k, max(n_items - 1, 0))
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            # Rows = target items of this block, columns = candidate neighbours (dense block:
            # argpartition beats sorting a sparse product with millions of entries).
            co = np.asarray((BT[start:stop] @ B).todense(), dtype=np.float32)
            co /= norms[start:stop, None] * norms[None, :] + self.shrinkage + 1e-12
            co[np.arange(stop - start), np.arange(start, stop)] = 0.0  # not its own neighbour
            if k <= 0:
                blocks.append(sp.csr_matrix((stop - start, n_items), dtype=np.float32))
                continue
            idx = np.argpartition(-co, k - 1, axis=1)[:, :k]
            vals = np.take_along_axis(co, idx, axis=1)
            rows = np.repeat(np.arange(stop - start), k)
            keep = vals.ravel() > 0
            blk = sp.csr_matrix(
                (vals.ravel()[keep], (rows[keep], idx.ravel()[keep])), shape=(stop - start, n_items)
            )
            blk.sort_indices()
            blocks.append(blk)
        W = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, 0), dtype=np.float32)
        # similarity_[i, j]: contribution of history item i to target item j.
        self.similarity_ = sp.csr_matrix(W.T, dtype=np.float32)
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.fingerprint_ = fingerprint(X)
        return self

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores for fresh interaction rows (fold-in without retraining), shape (n, n_items)."""
        check_is_fitted(self)
        m = _prepare(fold_in_rows(rows, self.n_items_), self.feedback)
        return np.asarray((m @ self.similarity_).todense(), dtype=np.float32)

    def score_pairs(
        self, rows: sp.spmatrix | np.ndarray, r: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        """``score_history(rows)[r, c]`` for the pairs only: the product stays sparse."""
        check_is_fitted(self)
        m = _prepare(fold_in_rows(rows, self.n_items_), self.feedback)
        return lookup(sp.csr_matrix(m @ self.similarity_), r, c).astype(np.float32)

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The item's learned neighbours, most similar first."""
        check_is_fitted(self)
        if not 0 <= item < self.n_items_:
            raise IndexError(f"item index {item} outside 0..{self.n_items_ - 1}")
        col = np.asarray(self.similarity_[:, item].todense(), dtype=np.float32).ravel()
        col[item] = -np.inf
        col[col <= 0] = -np.inf
        ids, vals = top_k(col[None, :], k)
        return ids[0], vals[0]


class UserKNN(Recommender):
    """User-user cosine neighbourhood model.

    A user's ``k`` most similar members (cosine with shrinkage) vote for the items they watched,
    each vote weighted by the similarity. History is read at scoring time, so new interactions
    count immediately (fold-in is free).

    Parameters
    ----------
    k : neighbours per user.
    shrinkage : added to the cosine denominator.
    feedback : ``"binary"`` (default), ``"log"`` or ``"raw"``.
    random_state : unused (deterministic).
    """

    _BATCH = 256  # users per similarity block: the block is batch x n_users sparse

    def __init__(
        self,
        *,
        k: int = 50,
        shrinkage: float = 10.0,
        feedback: str = "binary",
        random_state: int | None = None,
    ) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.feedback = feedback
        self.random_state = random_state

    def fit(self, interactions: sp.spmatrix | np.ndarray, **fit_params: Any) -> Self:
        """Store the (weighted) interaction matrix and user norms."""
        X = as_interactions(interactions)
        B = _prepare(X, self.feedback)
        self.user_weighted_ = sp.csr_matrix(B, dtype=np.float32)
        self.user_norms_ = np.sqrt(np.asarray(B.multiply(B).sum(axis=1)).ravel()).astype(np.float32)
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.fingerprint_ = fingerprint(X)
        return self

    def update_history(self, interactions: sp.spmatrix | np.ndarray) -> Self:
        """Fold in every member's current history: the model is the history, so refit."""
        return self.fit(interactions)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._vote(self.user_weighted_[users], users)

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores for fresh interaction rows (fold-in), shape (n, n_items)."""
        check_is_fitted(self)
        m = _prepare(fold_in_rows(rows, self.n_items_), self.feedback)
        return self._vote(m, None)

    def _vote(self, rows: sp.csr_matrix, users: np.ndarray | None) -> np.ndarray:
        out = np.empty((rows.shape[0], self.n_items_), dtype=np.float32)
        WT = sp.csr_matrix(self.user_weighted_.T)
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        for start in range(0, rows.shape[0], self._BATCH):
            part = rows[start : start + self._BATCH]
            sims = sp.csr_matrix(part @ WT, dtype=np.float32)  # batch x n_users
            r = np.repeat(np.arange(part.shape[0]), np.diff(sims.indptr))
            denom = norms[start + r] * self.user_norms_[sims.indices] + self.shrinkage
            sims.data = (sims.data / np.maximum(denom, 1e-12)).astype(np.float32)
            if users is not None:  # a member is not their own neighbour
                sims.data[sims.indices == users[start + r]] = 0.0
            sims = prune_top_k(sims, self.k)
            out[start : start + part.shape[0]] = np.asarray((sims @ self.user_weighted_).todense())
        return out
