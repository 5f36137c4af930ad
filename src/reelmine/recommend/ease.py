"""EASE: closed-form linear item-item autoencoder (Steck, 2019), dense and low-rank solvers."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from reelmine.errors import DataError
from reelmine.recommend._util import fold_in_rows
from reelmine.recommend.base import Recommender, as_interactions, check_is_fitted, fingerprint


class EASE(Recommender):
    """Embarrassingly shallow autoencoder: ``B = I - P diag(1/diag(P))``, ``P = (X'X + l2 I)^-1``.

    Two solvers:

    * ``"dense"``: the exact inverse of the ``n_items x n_items`` Gram matrix (O(n^3) time,
      O(n^2) memory): right for catalogues up to a few thousand titles.
    * ``"lowrank"``: the Gram matrix approximated as rank-``rank`` part plus its exact diagonal,
      ``G ~ V S^2 V' + diag(r)``, then inverted with the Woodbury identity. Nothing of size
      ``n_items^2`` is ever built: time O(nnz * rank + n_items * rank^2), memory
      O(n_items * rank), so it stays tractable for 50k+ titles. Keeping the exact diagonal keeps
      each item's self-weight (its popularity) right, which the EASE normalisation divides by.

    ``"auto"`` picks dense up to ``dense_max_items`` items, else low-rank.

    Parameters
    ----------
    l2 : ridge penalty lambda (about 200-1000 for MovieLens-sized data).
    solver : ``"auto"``, ``"dense"`` or ``"lowrank"``.
    rank : rank of the low-rank solver.
    dense_max_items : largest catalogue the ``"auto"`` solver inverts densely.
    random_state : seed of the randomized SVD (low-rank solver).
    """

    def __init__(
        self,
        *,
        l2: float = 500.0,
        solver: str = "auto",
        rank: int = 256,
        dense_max_items: int = 6000,
        random_state: int | None = None,
    ) -> None:
        self.l2 = l2
        self.solver = solver
        self.rank = rank
        self.dense_max_items = dense_max_items
        self.random_state = random_state

    def fit(self, interactions: sp.spmatrix | np.ndarray, **fit_params: Any) -> Self:
        """Solve for the item-item weights on binarised interactions."""
        if self.solver not in {"auto", "dense", "lowrank"}:
            raise DataError(f"solver must be 'auto', 'dense' or 'lowrank', not {self.solver!r}")
        X = as_interactions(interactions)
        B = X.copy()
        B.data[:] = 1.0
        n_items = X.shape[1]
        solver = self.solver
        if solver == "auto":
            solver = "dense" if n_items <= self.dense_max_items else "lowrank"
        if solver == "lowrank" and min(B.shape) <= self.rank:
            solver = "dense"  # the "approximation" would be exact anyway
        if solver == "dense":
            G = np.asarray((B.T @ B).todense(), dtype=np.float64)
            G[np.diag_indices(n_items)] += self.l2
            P = scipy.linalg.inv(G, overwrite_a=True, check_finite=False)
            W = -P / np.diag(P)[None, :]
            W[np.diag_indices(n_items)] = 0.0
            # C order: scipy's sparse @ dense would otherwise copy the whole matrix on every call.
            self.weights_ = np.ascontiguousarray(W, dtype=np.float32)
        else:
            _, s, vt = randomized_svd(
                B.astype(np.float64), self.rank, n_iter=4, random_state=self.random_state
            )
            V = vt.T
            diag_g = np.asarray(B.sum(axis=0)).ravel()  # binary: diag(X'X) = column counts
            resid = np.maximum(diag_g - (V**2) @ (s**2), 0.0)
            d0 = resid + self.l2
            A = V / d0[:, None]
            core = np.diag(1.0 / np.maximum(s**2, 1e-9)) + V.T @ A
            M = np.linalg.inv(core)
            diag_p = 1.0 / d0 - np.einsum("ir,rs,is->i", A, M, A)
            self.factors_ = np.ascontiguousarray(A, dtype=np.float32)
            self.core_ = np.ascontiguousarray(M, dtype=np.float32)
            self.inv_d0_ = (1.0 / d0).astype(np.float32)
            self.inv_diag_p_ = (1.0 / diag_p).astype(np.float32)
        self.solver_ = solver
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.fingerprint_ = fingerprint(X)
        return self

    def update_history(self, interactions: sp.spmatrix | np.ndarray) -> Self:
        """Fold in every member's current history (new rows = new members) without retraining:
        scores are computed from the history at request time, so only it is replaced."""
        check_is_fitted(self)
        X = as_interactions(interactions)
        if X.shape[1] != self.n_items_:
            raise DataError(f"history has {X.shape[1]} items, the model knows {self.n_items_}")
        self.user_items_ = X
        self.n_users_ = X.shape[0]
        return self

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.score_history(self.user_items_[users])

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores for fresh interaction rows (fold-in without retraining), shape (n, n_items)."""
        check_is_fitted(self)
        m = fold_in_rows(rows, self.n_items_)
        m.data[:] = 1.0
        if self.solver_ == "dense":
            return np.asarray(m @ self.weights_, dtype=np.float32)
        # x B = x - (x P) / diag(P), with x P = x / d0 - (x A) M A'.
        xa = np.asarray(m @ self.factors_)
        xp = (
            np.asarray(m.multiply(self.inv_d0_[None, :]).todense())
            - (xa @ self.core_) @ self.factors_.T
        )
        dense_x = np.asarray(m.todense())
        return (dense_x - xp * self.inv_diag_p_[None, :]).astype(np.float32)
