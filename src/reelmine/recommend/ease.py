"""EASE: closed-form linear item-item autoencoder (Steck, 2019), dense and low-rank solvers."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from reelmine.errors import DataError
from reelmine.recommend._util import fold_in_rows, lookup, row_ids, rows_times_columns
from reelmine.recommend.base import (
    HistoryScorer,
    as_interactions,
    check_is_fitted,
    fingerprint,
)


class EASE(HistoryScorer):
    """Embarrassingly shallow autoencoder: ``B = I - P diag(1/diag(P))``, ``P = (X'X + l2 I)^-1``.

    Two solvers:

    * ``"dense"``: the exact inverse of the ``n_items x n_items`` Gram matrix (O(n^3) time,
      O(n^2) memory): right for catalogues up to a few thousand titles.
    * ``"lowrank"``: the Gram matrix approximated as rank-``rank`` part plus its exact diagonal,
      ``G ~ V S^2 V' + diag(r)`` (top eigenpairs of ``G`` by randomized subspace iteration on
      the items side), then inverted with the Woodbury identity. Nothing of size
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
    n_iter : subspace iterations of the randomized eigensolver (low-rank solver).
    random_state : seed of the randomized eigensolver (low-rank solver).
    """

    def __init__(
        self,
        *,
        l2: float = 500.0,
        solver: str = "auto",
        rank: int = 256,
        dense_max_items: int = 6000,
        n_iter: int = 4,
        random_state: int | None = None,
    ) -> None:
        self.l2 = l2
        self.solver = solver
        self.rank = rank
        self.dense_max_items = dense_max_items
        self.n_iter = n_iter
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
            V, s2 = _top_eigen_gram(B, self.rank, self.n_iter, self.random_state)
            diag_g = np.asarray(B.sum(axis=0)).ravel()  # binary: diag(X'X) = column counts
            resid = np.maximum(diag_g - (V**2) @ s2, 0.0)
            d0 = resid + self.l2
            A = V / d0[:, None]
            core = np.diag(1.0 / np.maximum(s2, 1e-9)) + V.T @ A
            M = np.linalg.inv(core)
            diag_p = 1.0 / d0 - np.einsum("ir,rs,is->i", A, M, A)
            inv_diag_p = 1.0 / diag_p
            # x B = x - (x P) / diag(P) with x P = x / d0 - (x A) M A', folded so that serving
            # is one GEMM: x B = ((x A) M) (A / diag(P))' + x * (1 - 1 / (d0 diag(P))).
            self.factors_ = np.ascontiguousarray(A, dtype=np.float32)
            self.core_ = np.ascontiguousarray(M, dtype=np.float32)
            self.right_ = np.ascontiguousarray(A * inv_diag_p[:, None], dtype=np.float32)
            self.self_weight_ = (1.0 - inv_diag_p / d0).astype(np.float32)
        self.solver_ = solver
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.fingerprint_ = fingerprint(X)
        return self

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores for fresh interaction rows (fold-in without retraining), shape (n, n_items)."""
        check_is_fitted(self)
        m = fold_in_rows(rows, self.n_items_)
        m.data[:] = 1.0
        if self.solver_ == "dense":
            return np.asarray(m @ self.weights_, dtype=np.float32)
        out = np.asarray(m @ self.factors_, dtype=np.float32) @ self.core_ @ self.right_.T
        r = row_ids(m)
        out[r, m.indices] += self.self_weight_[m.indices]
        return out

    def score_pairs(
        self, rows: sp.spmatrix | np.ndarray, r: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        """``score_history(rows)[r, c]`` computed for the pairs only (no dense scores)."""
        check_is_fitted(self)
        m = fold_in_rows(rows, self.n_items_)
        m.data[:] = 1.0
        if self.solver_ == "dense":
            return rows_times_columns(m, self.weights_, r, c)
        left = np.asarray(m @ self.factors_, dtype=np.float32) @ self.core_
        v = np.einsum("ij,ij->i", left[r], self.right_[c])
        return (v + lookup(m, r, c) * self.self_weight_[c]).astype(np.float32)


def _top_eigen_gram(
    B: sp.csr_matrix, rank: int, n_iter: int, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``rank`` eigenpairs of the Gram matrix ``G = B'B`` by randomized subspace iteration.

    Iterates on the items side (``G Q = B'(B Q)``) so every orthogonalisation is on an
    ``n_items x (rank + 16)`` matrix, never on one with a row per member; ``G`` itself is never
    built. Returns ``V`` (n_items, rank) and the eigenvalues (squared singular values of ``B``).
    """
    n_items = B.shape[1]
    p = min(rank + 16, n_items)
    Bf = sp.csr_matrix(B, dtype=np.float32)
    Bt = sp.csr_matrix(Bf.T)
    rng = np.random.default_rng(random_state)
    Q = rng.standard_normal((n_items, p)).astype(np.float32)
    # Thin QRs are memory-bound and tiny: a threaded BLAS only adds synchronisation (4-10x
    # slower on a busy 2-core box), so they run on one thread.
    with threadpool_limits(1, "blas"):
        for _ in range(max(n_iter, 1)):
            Q, _ = scipy.linalg.qr(Bt @ (Bf @ Q), mode="economic", check_finite=False)
        Y = np.asarray(Bf @ Q, dtype=np.float64)
        evals, evecs = np.linalg.eigh(Y.T @ Y)
    top = np.argsort(evals)[::-1][:rank]
    V = np.asarray(Q, dtype=np.float64) @ evecs[:, top]
    return V, np.maximum(evals[top], 0.0)
