"""Popularity recommenders: global, recency-weighted (trending) and per country/segment."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from reelmine.errors import DataError
from reelmine.recommend._util import fold_in_rows
from reelmine.recommend.base import Recommender, as_interactions, check_is_fitted, fingerprint


class Popularity(Recommender):
    """Most popular titles, optionally recency-weighted and per user group.

    Parameters
    ----------
    half_life_days : if set, an interaction ``d`` days before the newest one weighs
        ``0.5 ** (d / half_life_days)`` (a "trending" ranking); needs ``times`` in ``fit``.
    count : ``"users"`` counts distinct members per title; ``"strength"`` sums interaction values.
    group_shrinkage : pseudo-count pulling a group's ranking toward the global one, so a small
        country is not ranked by a handful of members.
    random_state : unused (the model is deterministic); kept for the common interface.
    """

    def __init__(
        self,
        *,
        half_life_days: float | None = None,
        count: str = "users",
        group_shrinkage: float = 20.0,
        random_state: int | None = None,
    ) -> None:
        self.half_life_days = half_life_days
        self.count = count
        self.group_shrinkage = group_shrinkage
        self.random_state = random_state

    def fit(
        self,
        interactions: sp.spmatrix | np.ndarray,
        *,
        times: sp.spmatrix | None = None,
        user_groups: np.ndarray | None = None,
        **fit_params: Any,
    ) -> Self:
        """Count popularity.

        Parameters
        ----------
        interactions : (n_users, n_items) interaction strengths.
        times : optional (n_users, n_items) sparse matrix of interaction times in seconds since
            the epoch, same sparsity as ``interactions``; used by ``half_life_days``.
        user_groups : optional int array (n_users,) of group codes (country, age band, ...);
            ``-1`` = unknown. Known users are then ranked by their group's popularity.
        """
        if self.count not in {"users", "strength"}:
            raise DataError(f"count must be 'users' or 'strength', not {self.count!r}")
        X = as_interactions(interactions)
        w = np.ones(X.nnz, np.float64) if self.count == "users" else X.data.astype(np.float64)
        if self.half_life_days is not None:
            if times is None:
                raise DataError("half_life_days needs the interaction times (fit(..., times=...))")
            T = sp.csr_matrix(times)
            T.sort_indices()
            if T.nnz != X.nnz:
                raise DataError("times must have the same sparsity pattern as interactions")
            age_days = (T.data.max() - T.data.astype(np.float64)) / 86400.0
            w = w * 0.5 ** (age_days / float(self.half_life_days))
        W = sp.csr_matrix((w, X.indices, X.indptr), shape=X.shape)
        item_scores = np.asarray(W.sum(axis=0)).ravel()
        self.item_scores_ = (item_scores / max(item_scores.max(initial=0.0), 1e-12)).astype(
            np.float32
        )
        if user_groups is not None:
            g = np.asarray(user_groups, dtype=np.int64)
            if g.shape != (X.shape[0],):
                raise DataError(f"user_groups must have shape ({X.shape[0]},), got {g.shape}")
            n_groups = int(g.max(initial=-1)) + 1
            known = g >= 0
            onehot = sp.csr_matrix(
                (np.ones(known.sum()), (g[known], np.flatnonzero(known))),
                shape=(n_groups, X.shape[0]),
            )
            raw = np.asarray((onehot @ W).todense())
            totals = raw.sum(axis=1, keepdims=True)
            # Shrink each group's share toward the global share by a pseudo-count of interactions.
            global_share = item_scores / max(item_scores.sum(), 1e-12)
            share = (raw + self.group_shrinkage * global_share) / (totals + self.group_shrinkage)
            self.group_scores_ = (
                share / np.maximum(share.max(axis=1, keepdims=True), 1e-12)
            ).astype(np.float32)
            self.user_groups_ = g.astype(np.int32)
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.fingerprint_ = fingerprint(X)
        return self

    def update_history(self, interactions: sp.spmatrix | np.ndarray) -> Self:
        """Recount on the current histories (cheap); keeps the member segments when the
        member count is unchanged. Recency weighting needs times: refit for that."""
        check_is_fitted(self)
        X = as_interactions(interactions)
        groups = getattr(self, "user_groups_", None)
        if groups is not None and len(groups) != X.shape[0]:
            groups = np.concatenate([groups, np.full(X.shape[0] - len(groups), -1, np.int32)])
        if self.half_life_days is not None:
            raise DataError("a recency-weighted popularity needs times: call fit(..., times=...)")
        return self.fit(X, user_groups=groups)

    def fallback_scores(self) -> np.ndarray:
        """Global popularity (recency-weighted when configured)."""
        check_is_fitted(self)
        return self.item_scores_.copy()

    def group_ranking(self, group: int) -> np.ndarray:
        """Scores of every item for one group code (global scores when the group is unknown)."""
        check_is_fitted(self)
        if hasattr(self, "group_scores_") and 0 <= group < self.group_scores_.shape[0]:
            return self.group_scores_[group].copy()
        return self.item_scores_.copy()

    def _score(self, users: np.ndarray) -> np.ndarray:
        out = np.broadcast_to(self.item_scores_, (len(users), self.n_items_)).copy()
        if hasattr(self, "group_scores_"):
            g = self.user_groups_[users]
            has = g >= 0
            out[has] = self.group_scores_[g[has]]
        return out

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Fold-in scores for fresh interaction rows: popularity does not depend on history."""
        check_is_fitted(self)
        m = fold_in_rows(rows, self.n_items_)
        return np.broadcast_to(self.item_scores_, (m.shape[0], self.n_items_)).copy()

    def score_pairs(
        self, rows: sp.spmatrix | np.ndarray, r: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        """``score_history(rows)[r, c]``: the items' popularity."""
        check_is_fitted(self)
        fold_in_rows(rows, self.n_items_)
        return self.item_scores_[np.asarray(c)].copy()
