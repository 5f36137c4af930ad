"""Implicit-feedback matrix factorisation (ALS and BPR) through the ``implicit`` library.

Interaction strengths (plays, watched seconds, ...) become confidences
``c = 1 + alpha * f(strength)`` (Hu, Koren & Volinsky, 2008). The CPU backend is always used
and its thread count set explicitly, so results do not depend on the machine's GPU.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from reelmine.errors import DataError
from reelmine.recommend._util import fold_in_rows
from reelmine.recommend.base import Recommender, as_interactions, check_is_fitted, fingerprint


def _confidence(X: sp.csr_matrix, kind: str) -> sp.csr_matrix:
    C = sp.csr_matrix(X, dtype=np.float32, copy=True)
    if kind == "binary":
        C.data[:] = 1.0
    elif kind == "log":
        C.data = np.log1p(C.data).astype(np.float32)
    elif kind != "linear":
        raise DataError(f"confidence must be 'binary', 'log' or 'linear', not {kind!r}")
    return C


class _FactorModel(Recommender):
    """Shared scoring and fold-in of user x item factor models."""

    alpha: float
    regularization: float
    confidence: str

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_factors_[users] @ self.item_factors_.T, dtype=np.float32)

    def user_vectors(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Fold-in: least-squares user factors for fresh interaction rows, shape (n, factors).

        Solves the ALS user step ``(Y'C_uY + reg I) x = Y'C_u p`` against the fixed item
        factors (implicit's native Cholesky solver, all rows at once), so a member's new plays
        count without retraining.
        """
        from implicit.cpu import _als

        check_is_fitted(self)
        m = _confidence(fold_in_rows(rows, self.n_items_), self.confidence)
        m.data = (1.0 + self.alpha * m.data).astype(np.float32)
        Y = np.ascontiguousarray(self.item_factors_, dtype=np.float32)
        out = np.zeros((m.shape[0], Y.shape[1]), dtype=np.float32)
        limits = threadpool_limits(1, "blas")
        try:
            _als._least_squares(
                Y.T @ Y,
                m.indptr,
                m.indices,
                m.data,
                out,
                Y,
                float(self.regularization),
                num_threads=int(getattr(self, "num_threads", 1)),
            )
        finally:
            limits.restore_original_limits()
        return out

    def update_history(self, interactions: sp.spmatrix | np.ndarray) -> Self:
        """Fold in every member's current history (new rows = new members) without retraining
        the item factors: user factors are re-solved against the fixed item factors."""
        check_is_fitted(self)
        X = as_interactions(interactions)
        self.user_factors_ = self.user_vectors(X)
        self.user_items_ = X
        self.n_users_ = X.shape[0]
        return self

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores for fresh interaction rows (fold-in without retraining), shape (n, n_items)."""
        return np.asarray(self.user_vectors(rows) @ self.item_factors_.T, dtype=np.float32)

    def score_pairs(
        self, rows: sp.spmatrix | np.ndarray, r: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        """``score_history(rows)[r, c]`` for the pairs only (one dot product per pair)."""
        u = self.user_vectors(rows)
        return np.einsum("ij,ij->i", u[np.asarray(r)], self.item_factors_[np.asarray(c)])

    def _finish(self, X: sp.csr_matrix, model: Any) -> None:
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.fingerprint_ = fingerprint(X)


class ALS(_FactorModel):
    """Weighted alternating least squares for implicit feedback (``implicit`` CPU backend).

    Parameters
    ----------
    factors : latent dimensions.
    regularization : L2 penalty.
    alpha : confidence scale, ``c = 1 + alpha * f(strength)``.
    confidence : ``f``: ``"binary"``, ``"log"`` (log1p, good for watch seconds) or ``"linear"``.
    iterations : ALS sweeps.
    num_threads : CPU threads of the solver (set explicitly: 0 would take every core).
    random_state : seed of the factor initialisation.
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        confidence: str = "log",
        iterations: int = 15,
        num_threads: int = 2,
        random_state: int | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.confidence = confidence
        self.iterations = iterations
        self.num_threads = num_threads
        self.random_state = random_state

    def fit(self, interactions: sp.spmatrix | np.ndarray, **fit_params: Any) -> Self:
        """Factorise the confidence-weighted interaction matrix."""
        from implicit.cpu.als import AlternatingLeastSquares

        X = as_interactions(interactions)
        # implicit's own threads do the work; a threaded BLAS underneath only oversubscribes.
        limits = threadpool_limits(1, "blas")
        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=1.0,  # implicit reads the matrix as confidences: we pass 1 + alpha * f(x)
            iterations=self.iterations,
            num_threads=self.num_threads,
            random_state=self.random_state,
            calculate_training_loss=False,
        )
        try:
            C = _confidence(X, self.confidence)
            C.data = (1.0 + self.alpha * C.data).astype(np.float32)
            model.fit(C, show_progress=False)
        finally:
            limits.restore_original_limits()
        self._finish(X, model)
        return self


class BPR(_FactorModel):
    """Bayesian personalised ranking (``implicit`` CPU backend).

    Parameters
    ----------
    factors : latent dimensions.
    learning_rate, regularization : SGD step and L2 penalty.
    iterations : epochs.
    num_threads : SGD threads; 1 (default) keeps results reproducible with ``random_state``.
    random_state : seed of initialisation and sampling.
    alpha, confidence : kept for the common factor-model interface (unused by BPR).
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        num_threads: int = 1,
        alpha: float = 1.0,
        confidence: str = "binary",
        random_state: int | None = None,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.num_threads = num_threads
        self.alpha = alpha
        self.confidence = confidence
        self.random_state = random_state

    def user_vectors(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Fold-in: mean factor of the titles in each fresh row (bias coordinate kept at 1).

        implicit's BPR stores an item bias as the last factor and a constant 1 for users; a
        least-squares refit would break that, so a new member is the centroid of what they
        watched (an empty row scores by item bias alone, i.e. popularity).
        """
        check_is_fitted(self)
        m = fold_in_rows(rows, self.n_items_)
        m.data[:] = 1.0
        n = np.maximum(np.asarray(m.sum(axis=1)).ravel(), 1.0)
        out = np.asarray(m @ self.item_factors_[:, :-1]) / n[:, None]
        return np.hstack([out, np.ones((m.shape[0], 1))]).astype(np.float32)

    def fit(self, interactions: sp.spmatrix | np.ndarray, **fit_params: Any) -> Self:
        """Learn factors by SGD on sampled (watched, not watched) pairs."""
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        X = as_interactions(interactions)
        limits = threadpool_limits(1, "blas")
        model = BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=self.num_threads,
            random_state=self.random_state,
        )
        B = X.copy()
        B.data[:] = 1.0
        try:
            model.fit(B, show_progress=False)
        finally:
            limits.restore_original_limits()
        self._finish(X, model)
        return self
