"""Matrix factorisation at cluster scale: Spark MLlib ALS behind the common recommender interface.

:class:`SparkALS` fits ``pyspark.ml.recommendation.ALS`` (implicit or explicit feedback) on a
Spark cluster (``local[*]`` by default) and pulls the factors back into NumPy, so scoring,
``recommend``, evaluation and ``save``/``load`` work exactly as for the other models and need no
Spark afterwards. :meth:`SparkALS.recommend_all` scores every member on Spark and writes the
top-N lists as Parquet, for the API to serve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from reelmine.errors import ConfigError
from reelmine.recommend.base import Recommender, as_interactions, check_is_fitted, fingerprint


class SparkALS(Recommender):
    """Alternating least squares of Spark MLlib (Hu, Koren & Volinsky 2008 for implicit data).

    Parameters
    ----------
    factors : latent dimensions (MLlib ``rank``).
    regularization : L2 penalty (MLlib ``regParam``; MLlib scales it by each user's and item's
        number of interactions, ALS-WR, so good values are smaller than ``implicit``'s).
    alpha : implicit confidence scale, ``c = 1 + alpha * strength``.
    iterations : ALS sweeps (MLlib ``maxIter``).
    implicit : implicit feedback (``True``) or explicit ratings; with explicit ratings
        :meth:`predict` gives rating estimates.
    nonnegative : constrain factors to be non-negative.
    master : Spark master URL used when no engine is passed to :meth:`fit`.
    num_blocks : MLlib user/item blocks (default: Spark's parallelism).
    random_state : seed of MLlib's initialisation.
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        implicit: bool = True,
        nonnegative: bool = False,
        master: str = "local[*]",
        num_blocks: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.implicit = implicit
        self.nonnegative = nonnegative
        self.master = master
        self.num_blocks = num_blocks
        self.random_state = random_state

    def _engine(self, engine: Any) -> Any:
        from reelmine.data.spark import SparkEngine

        return engine if engine is not None else SparkEngine(self.master)

    def fit(
        self, interactions: sp.spmatrix | np.ndarray, *, engine: Any = None, **fit_params: Any
    ) -> Self:
        """Fit on a users x items matrix of strengths (implicit) or ratings (explicit).

        Parameters
        ----------
        interactions : (n_users, n_items) sparse matrix; stored entries are the observations.
        engine : a :class:`reelmine.data.spark.SparkEngine` (default: one on ``master``).
        """
        from reelmine.data.spark import spark_als_fit

        if self.factors < 1 or self.iterations < 1:
            raise ConfigError("factors and iterations must be at least 1")
        X = as_interactions(interactions)
        coo = X.tocoo()
        result = spark_als_fit(
            self._engine(engine),
            coo.row,
            coo.col,
            coo.data,
            shape=X.shape,
            rank=self.factors,
            reg_param=self.regularization,
            alpha=self.alpha,
            max_iter=self.iterations,
            implicit=self.implicit,
            nonnegative=self.nonnegative,
            seed=0 if self.random_state is None else int(self.random_state),
            num_blocks=self.num_blocks,
        )
        self.user_factors_ = result.user_factors
        self.item_factors_ = result.item_factors
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.global_mean_ = float(X.data.mean()) if X.nnz else 0.0
        self.fingerprint_ = fingerprint(X)
        return self

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_factors_[users] @ self.item_factors_.T, dtype=np.float32)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Estimated strengths (ratings, for ``implicit=False``) of user-item pairs.

        Pairs with a user or item unknown to training (index out of range, or without any
        training interaction, whose MLlib factor does not exist) get the training mean.
        """
        check_is_fitted(self)
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        known = (u >= 0) & (u < self.n_users_) & (i >= 0) & (i < self.n_items_)
        out = np.full(len(u), self.global_mean_, dtype=np.float64)
        ku, ki = u[known], i[known]
        has = np.zeros(len(ku), dtype=bool)
        if len(ku):
            active_u = np.asarray(self.user_items_.getnnz(axis=1) > 0)
            active_i = np.asarray(self.user_items_.getnnz(axis=0) > 0)
            has = active_u[ku] & active_i[ki]
        est = np.einsum("ij,ij->i", self.user_factors_[ku[has]], self.item_factors_[ki[has]])
        idx = np.flatnonzero(known)[has]
        out[idx] = est
        return out

    def recommend_all(
        self, k: int = 10, *, out: str | Path | None = None, engine: Any = None
    ) -> pa.Table | str:
        """Top ``k`` of every known user, training items excluded, scored on Spark.

        Parameters
        ----------
        k : items per user.
        out : Parquet folder to write (``user, rank, item, score``); its path is returned.
        engine : a :class:`reelmine.data.spark.SparkEngine` (default: one on ``master``).

        Returns
        -------
        Arrow table ``user, rank, item, score`` (dense indices; map them with the
        vocabularies), or the Parquet path when ``out`` is given.
        """
        from reelmine.data.spark import spark_als_recommend

        check_is_fitted(self)
        seen = self.user_items_.tocoo()
        return spark_als_recommend(
            self._engine(engine),
            self.user_factors_,
            self.item_factors_,
            k,
            seen_users=seen.row,
            seen_items=seen.col,
            out=out,
        )
