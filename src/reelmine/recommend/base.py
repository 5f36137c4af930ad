"""Shared base classes of every recommender: the scikit-learn-style contract.

Two families:

* :class:`Recommender` (top-N): ``fit(interactions)`` on a users x items CSR matrix of
  interaction strengths; ``recommend(users, k)`` returns ``(items, scores)`` arrays of shape
  ``(len(users), k)``, best first, with each user's training items excluded by default.
* :class:`RatingPredictor`: ``fit(users, items, ratings)`` on integer index arrays;
  ``predict(users, items)`` returns a float array.

Models only ever see dense integer indices; :class:`reelmine.data.vocab.Vocabulary` maps
external IDs at the boundary. Users or items outside the training range are *unknown*: a
recommender scores unknown users with its documented fallback (``fallback_scores``) and a
rating predictor falls back to its baseline (global mean plus whatever bias is known).

Persistence: ``save(path)`` writes ``manifest.json`` (class, reelmine version, params, data
fingerprint, learned scalar attributes) and ``arrays.npz`` (learned arrays and sparse matrices);
``load(path)`` restores an equal model.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from reelmine.errors import ConfigError, DataError, NotFittedError
from reelmine.recommend._util import top_k_rows

MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"
SCORE_BATCH = 1024  # users scored at once: bounds memory to batch x n_items floats


def check_is_fitted(model: Any, attribute: str = "n_items_") -> None:
    """Raise :class:`NotFittedError` unless ``model`` has the learned ``attribute``."""
    if not hasattr(model, attribute):
        raise NotFittedError(f"{type(model).__name__} is not fitted yet; call fit() first")


def fingerprint(*arrays: np.ndarray | sp.spmatrix) -> str:
    """Short stable hash of the training data, stored in the manifest."""
    h = hashlib.sha256()
    for a in arrays:
        if sp.issparse(a):
            a = sp.csr_matrix(a)
            for part in (a.indptr, a.indices, a.data):
                h.update(np.ascontiguousarray(part).tobytes())
            h.update(str(a.shape).encode())
        else:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def as_interactions(X: Any) -> sp.csr_matrix:
    """Validate and convert a users x items matrix to float32 CSR with sorted indices."""
    if not sp.issparse(X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"interactions must be a 2-D users x items matrix, got shape {X.shape}")
    X = sp.csr_matrix(X, dtype=np.float32)
    if X.nnz and (not np.isfinite(X.data).all() or (X.data < 0).any()):
        raise DataError("interaction strengths must be finite and non-negative")
    X.sum_duplicates()
    X.sort_indices()
    return X


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries of each row, best first.

    Ties break on the lower item index, so results are deterministic. ``-inf`` entries
    (excluded items) are never returned: rows with fewer than ``k`` other entries are padded
    with index ``-1`` (score ``-inf``), so a caller never receives an excluded item.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise DataError(f"scores must be 2-D (rows x items), got shape {scores.shape}")
    n_rows, n_cols = scores.shape
    k = max(min(k, n_cols), 0)
    ids = np.empty((n_rows, k), np.int32)
    vals = np.empty((n_rows, k), np.float32)
    if k and n_rows:
        if scores.dtype not in (np.float32, np.float64):
            scores = scores.astype(np.float64)
        top_k_rows(np.ascontiguousarray(scores), k, ids, vals)
    return ids, vals


class _Persistable:
    """save/load of constructor params and learned ``*_`` attributes."""

    def get_params(self) -> dict[str, Any]:
        return {
            k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")
        }

    def _learned(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def save(self, path: str | Path) -> Path:
        """Write the model to folder ``path`` (created if needed); returns the folder."""
        from reelmine import __version__

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, Any] = {}
        for name, value in self._learned().items():
            if sp.issparse(value):
                m = sp.csr_matrix(value)
                arrays[f"{name}__csr_data"] = m.data
                arrays[f"{name}__csr_indices"] = m.indices
                arrays[f"{name}__csr_indptr"] = m.indptr
                arrays[f"{name}__csr_shape"] = np.asarray(m.shape, dtype=np.int64)
            elif isinstance(value, np.ndarray):
                arrays[name] = value
            elif isinstance(value, _Persistable):
                value.save(folder / name)
                scalars[name] = {"__model__": name}
            else:
                scalars[name] = value
        manifest = {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "reelmine_version": __version__,
            "params": self.get_params(),
            "learned": scalars,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        np.savez(folder / ARRAYS, **arrays)  # type: ignore[arg-type]
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by :meth:`save`."""
        folder = Path(path)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"not a saved reelmine model ({exc})", source=str(folder)) from exc
        module, _, name = manifest["class"].rpartition(".")
        klass = getattr(importlib.import_module(module), name)
        if not issubclass(klass, cls):
            raise DataError(
                f"model is a {manifest['class']}, not a {cls.__name__}", source=str(folder)
            )
        model = klass(**manifest["params"])
        for key, value in manifest["learned"].items():
            if isinstance(value, dict) and "__model__" in value:
                value = _Persistable.load(folder / value["__model__"])
            setattr(model, key, value)
        with np.load(folder / ARRAYS, allow_pickle=False) as npz:
            csr_parts: dict[str, dict[str, np.ndarray]] = {}
            for key in npz.files:
                if "__csr_" in key:
                    base, _, part = key.partition("__csr_")
                    csr_parts.setdefault(base, {})[part] = npz[key]
                else:
                    setattr(model, key, npz[key])
            for base, parts in csr_parts.items():
                shape = tuple(int(s) for s in parts["shape"])
                setattr(
                    model,
                    base,
                    sp.csr_matrix((parts["data"], parts["indices"], parts["indptr"]), shape=shape),
                )
        return model


class Recommender(_Persistable, ABC):
    """Top-N recommender over integer user and item indices.

    Subclasses implement :meth:`fit` (setting at least ``n_users_``, ``n_items_`` and
    ``user_items_``, the training CSR) and :meth:`_score` (dense scores for known users).
    """

    # Learned by every fit (declared for type checkers; absent until fit runs).
    n_users_: int
    n_items_: int
    user_items_: sp.csr_matrix

    @abstractmethod
    def fit(self, interactions: sp.spmatrix | np.ndarray, **fit_params: Any) -> Self:
        """Learn from a users x items interaction matrix; returns ``self``."""

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for known user indices, shape ``(len(users), n_items_)``."""

    def fallback_scores(self) -> np.ndarray:
        """Scores for an unknown user: item popularity in training (documented cold start)."""
        check_is_fitted(self)
        return np.asarray(self.user_items_.getnnz(axis=0), dtype=np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Dense scores for any user indices; unknown ones (``-1`` or out of range) fall back."""
        check_is_fitted(self)
        users = np.asarray(users, dtype=np.int64)
        known = (users >= 0) & (users < self.n_users_)
        out = np.empty((len(users), self.n_items_), dtype=np.float32)
        if known.any():
            out[known] = self._score(users[known])
        if (~known).any():
            out[~known] = self.fallback_scores()
        return out

    def recommend(
        self,
        users: np.ndarray | int,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: sp.spmatrix | None = None,
        allowed_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items for each user, best first.

        Parameters
        ----------
        users : int or int array of shape (n,)
            User indices; unknown users get the fallback ranking.
        k : number of items per user.
        exclude_seen : drop each known user's training items.
        exclude : optional (n, n_items) sparse matrix of further items to drop per user.
        allowed_items : optional bool mask of shape (n_items,), business rules (availability,
            maturity): items where it is False are never returned.

        Returns
        -------
        items : int32 array (n, k); ``-1`` pads rows with fewer than ``k`` eligible items.
        scores : float32 array (n, k).
        """
        check_is_fitted(self)
        users = np.atleast_1d(np.asarray(users, dtype=np.int64))
        all_ids, all_scores = [], []
        for start in range(0, len(users), SCORE_BATCH):
            batch = users[start : start + SCORE_BATCH]
            scores = self.score_users(batch)
            if allowed_items is not None:
                scores[:, ~np.asarray(allowed_items, dtype=bool)] = -np.inf
            if exclude_seen:
                known = np.flatnonzero((batch >= 0) & (batch < self.n_users_))
                seen = self.user_items_[batch[known]]
                rows = np.repeat(known, np.diff(seen.indptr))
                scores[rows, seen.indices] = -np.inf
            if exclude is not None:
                ex = sp.csr_matrix(exclude)[start : start + len(batch)]
                rows = np.repeat(np.arange(len(batch)), np.diff(ex.indptr))
                scores[rows, ex.indices] = -np.inf
            ids, vals = top_k(scores, k)
            all_ids.append(ids)
            all_scores.append(vals)
        return np.vstack(all_ids), np.vstack(all_scores)

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items most similar to ``item`` (cosine over the training columns by default)."""
        check_is_fitted(self)
        if not 0 <= item < self.n_items_:
            raise IndexError(f"item index {item} outside 0..{self.n_items_ - 1}")
        X = sp.csc_matrix(self.user_items_)
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0))).ravel()
        col = X[:, item]
        sims = np.asarray((X.T @ col).todense()).ravel() / np.maximum(norms * norms[item], 1e-12)
        sims[item] = -np.inf
        ids, vals = top_k(sims[None, :].astype(np.float32), k)
        return ids[0], vals[0]


def recommend_in_batches(
    model: Recommender,
    users: np.ndarray,
    k: int = 10,
    *,
    batch_size: int = 4096,
    n_jobs: int | None = None,
    **recommend_kw: Any,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Top ``k`` for many members, ``(users, items, scores)`` one batch at a time, in order.

    For all-member batch scoring: batches run on ``n_jobs`` threads (default: every core).
    Threads pay off because the heavy steps release the GIL (BLAS, the top-k kernel, LightGBM);
    BLAS is held to one thread per batch meanwhile so the cores are not oversubscribed. At most
    ``n_jobs + 1`` batches are in memory, so memory is bounded whatever the number of members.
    ``recommend_kw`` goes to ``model.recommend`` (``exclude_seen``, ``allowed_items``; a
    per-member ``exclude`` matrix does not apply here).
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    if "exclude" in recommend_kw:
        raise ConfigError("recommend_in_batches takes no per-member exclude matrix")
    users = np.asarray(users, dtype=np.int64)
    jobs = max(1, n_jobs if n_jobs is not None else (os.cpu_count() or 1))
    starts = range(0, len(users), batch_size)
    if jobs == 1:
        for start in starts:
            batch = users[start : start + batch_size]
            yield (batch, *model.recommend(batch, k, **recommend_kw))
        return
    pending: deque[tuple[np.ndarray, Future[tuple[np.ndarray, np.ndarray]]]] = deque()
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(jobs) as pool:
        for start in starts:
            batch = users[start : start + batch_size]
            pending.append((batch, pool.submit(model.recommend, batch, k, **recommend_kw)))
            if len(pending) > jobs:
                done_batch, fut = pending.popleft()
                yield (done_batch, *fut.result())
        while pending:
            done_batch, fut = pending.popleft()
            yield (done_batch, *fut.result())


class HistoryScorer(Recommender):
    """A recommender whose scores are a function of the member's history alone (EASE,
    item-kNN, content): folding in new interactions only replaces the stored history."""

    @abstractmethod
    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores for fresh interaction rows (fold-in without retraining), (n, n_items)."""

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.score_history(self.user_items_[users])

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


class RatingPredictor(_Persistable, ABC):
    """Explicit rating prediction over integer user and item indices."""

    @abstractmethod
    def fit(
        self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, **fit_params: Any
    ) -> Self:
        """Learn from parallel arrays of user index, item index and rating; returns ``self``."""

    @abstractmethod
    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings for parallel index arrays; unknown indices fall back to baselines."""
