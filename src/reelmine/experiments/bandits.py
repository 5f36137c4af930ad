"""Contextual bandits for artwork choice, fitted from logged impressions.

Each artwork of a title is an arm; the context is a feature vector of the (member, title)
pair (taste, device, hour, ...). Both policies keep one ridge regression per arm,
``A_k = l2 I + sum x x^T`` and ``b_k = sum r x`` over the rounds where arm ``k`` was shown:

* :class:`EpsilonGreedy` shows the arm with the highest predicted reward with probability
  ``1 - epsilon`` and a uniformly random available arm otherwise;
* :class:`LinUCB` (Li, Chu, Langford & Schapire, 2010) shows the arm maximising
  ``theta_k^T x + alpha sqrt(x^T A_k^{-1} x)``: optimism where data are thin.

Logged data come from another (logging) policy, so arms it favoured dominate the fit. With
``importance_weighting=True`` every round is weighted by ``1 / propensity`` so the regression
targets the reward under uniform exposure. ``action_probabilities`` returns the policy as a
distribution, ready for :func:`reelmine.experiments.ope.evaluate_policy`.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from reelmine.errors import DataError, NotFittedError


class _LinearBandit:
    """Per-arm ridge regressions shared by the policies."""

    def __init__(
        self,
        *,
        n_arms: int | None = None,
        l2: float = 1.0,
        importance_weighting: bool = False,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_arms = n_arms
        self.l2 = l2
        self.importance_weighting = importance_weighting
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------------------
    def _design(self, contexts: object) -> np.ndarray:
        x = np.asarray(contexts, dtype=np.float64)
        if x.ndim != 2:
            raise DataError(f"contexts must be (n_rounds, n_features), got shape {x.shape}")
        if hasattr(self, "n_features_") and x.shape[1] != self.n_features_:
            raise DataError(f"contexts have {x.shape[1]} features, fitted on {self.n_features_}")
        return np.hstack([np.ones((x.shape[0], 1)), x])  # intercept

    def _stats(
        self, X: np.ndarray, actions: object, rewards: object, propensities: object | None, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        a = np.asarray(actions)
        r = np.asarray(rewards, dtype=np.float64)
        n = X.shape[0]
        if a.shape != (n,) or r.shape != (n,):
            raise DataError(f"actions {a.shape} and rewards {r.shape} must have {n} rounds")
        if not np.issubdtype(a.dtype, np.integer) or (a < 0).any() or (a >= k).any():
            raise DataError(f"actions must be integer arm codes in [0, {k})", column="action")
        w = np.ones(n)
        if self.importance_weighting:
            if propensities is None:
                raise DataError("importance_weighting needs the logging propensities")
            p = np.asarray(propensities, dtype=np.float64)
            if p.shape != (n,) or (p <= 0).any() or (p > 1).any():
                raise DataError("propensities must be in (0, 1]", column="propensity")
            w = 1.0 / p
        d = X.shape[1]
        gram = np.zeros((k, d, d))
        b = np.zeros((k, d))
        # One BLAS product per arm (arms are few: the artworks of a title), none per round.
        order = np.argsort(a, kind="stable")
        bounds = np.searchsorted(a[order], np.arange(k + 1))
        for arm in range(k):
            rows = order[bounds[arm] : bounds[arm + 1]]
            if rows.size:
                xw = X[rows] * w[rows, None]
                gram[arm] = xw.T @ X[rows]
                b[arm] = xw.T @ r[rows]
        return gram, b

    def _refresh(self) -> None:
        d = self.A_.shape[1]
        self.A_inv_ = np.linalg.inv(self.A_ + self.l2 * np.eye(d)[None])
        self.theta_ = np.einsum("kij,kj->ki", self.A_inv_, self.b_)

    def fit(
        self,
        contexts: object,
        actions: object,
        rewards: object,
        propensities: object | None = None,
    ) -> Self:
        """Fit from logged rounds.

        Parameters
        ----------
        contexts : ``(n_rounds, n_features)`` features of each (member, title) impression.
        actions : arm (artwork code) shown, ``(n_rounds,)`` ints.
        rewards : observed reward (click, play, minutes) ``(n_rounds,)``.
        propensities : logging policy's probability of the shown arm; needed when
            ``importance_weighting`` is on.
        """
        for attr in ("A_", "b_", "A_inv_", "theta_", "n_features_", "n_arms_", "rng_"):
            self.__dict__.pop(attr, None)
        X = self._design(contexts)
        a = np.asarray(actions)
        k = self.n_arms if self.n_arms is not None else int(a.max()) + 1 if a.size else 0
        if k < 1:
            raise DataError("need at least one arm")
        self.A_, self.b_ = self._stats(X, a, rewards, propensities, k)
        self.n_features_ = X.shape[1] - 1
        self.n_arms_ = k
        self.rng_ = np.random.default_rng(self.random_state)
        self._refresh()
        return self

    def partial_fit(
        self,
        contexts: object,
        actions: object,
        rewards: object,
        propensities: object | None = None,
    ) -> Self:
        """Add more logged rounds to a fitted policy (same arms and features)."""
        if not hasattr(self, "A_"):
            return self.fit(contexts, actions, rewards, propensities)
        X = self._design(contexts)
        gram, b = self._stats(X, actions, rewards, propensities, self.n_arms_)
        self.A_ = self.A_ + gram
        self.b_ = self.b_ + b
        self._refresh()
        return self

    # -- prediction --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit() first")

    def _available(self, available: object | None, n: int) -> np.ndarray:
        if available is None:
            return np.ones((n, self.n_arms_), dtype=bool)
        m = np.asarray(available, dtype=bool)
        if m.shape != (n, self.n_arms_):
            raise DataError(f"available must be (n_rounds, {self.n_arms_}), got {m.shape}")
        if not m.any(axis=1).all():
            raise DataError("every round needs at least one available arm", column="available")
        return m

    def expected_reward(self, contexts: object) -> np.ndarray:
        """Predicted reward of every arm, ``(n_rounds, n_arms)``."""
        self._check_fitted()
        return self._design(contexts) @ self.theta_.T

    def scores(self, contexts: object) -> np.ndarray:
        """Values the policy maximises, ``(n_rounds, n_arms)``."""
        return self.expected_reward(contexts)

    def _greedy(self, contexts: object, available: object | None) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores(contexts)
        m = self._available(available, s.shape[0])
        return np.where(m, s, -np.inf).argmax(axis=1), m

    def action_probabilities(self, contexts: object, available: object | None = None) -> np.ndarray:
        """The policy as a distribution over arms, ``(n_rounds, n_arms)``, rows sum to 1."""
        best, m = self._greedy(contexts, available)
        probs = np.zeros(m.shape)
        probs[np.arange(best.size), best] = 1.0
        return probs

    def choose(self, contexts: object, available: object | None = None) -> np.ndarray:
        """Draw one arm per round from :meth:`action_probabilities`, ``(n_rounds,)`` ints."""
        probs = self.action_probabilities(contexts, available)
        u = np.asarray(self.rng_.random(size=probs.shape[0]))[:, None]
        return np.minimum((u > np.cumsum(probs, axis=1)).sum(axis=1), probs.shape[1] - 1)


class EpsilonGreedy(_LinearBandit):
    """Greedy on per-arm ridge predictions, exploring uniformly with probability ``epsilon``."""

    def __init__(
        self,
        *,
        epsilon: float = 0.1,
        n_arms: int | None = None,
        l2: float = 1.0,
        importance_weighting: bool = False,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            n_arms=n_arms,
            l2=l2,
            importance_weighting=importance_weighting,
            random_state=random_state,
        )
        self.epsilon = epsilon

    def action_probabilities(self, contexts: object, available: object | None = None) -> np.ndarray:
        """``epsilon / n_available`` on every available arm plus ``1 - epsilon`` on the best."""
        if not 0.0 <= self.epsilon <= 1.0:
            raise DataError(f"epsilon must be in [0, 1], got {self.epsilon}")
        best, m = self._greedy(contexts, available)
        probs = self.epsilon * m / m.sum(axis=1, keepdims=True)
        probs[np.arange(best.size), best] += 1.0 - self.epsilon
        return probs


class LinUCB(_LinearBandit):
    """Upper-confidence-bound policy on per-arm ridge regressions (deterministic)."""

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        n_arms: int | None = None,
        l2: float = 1.0,
        importance_weighting: bool = False,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            n_arms=n_arms,
            l2=l2,
            importance_weighting=importance_weighting,
            random_state=random_state,
        )
        self.alpha = alpha

    def scores(self, contexts: object) -> np.ndarray:
        """``theta_k^T x + alpha sqrt(x^T A_k^-1 x)`` for every arm."""
        self._check_fitted()
        X = self._design(contexts)
        width = np.sqrt(np.maximum(np.einsum("ni,kij,nj->nk", X, self.A_inv_, X), 0.0))
        return X @ self.theta_.T + self.alpha * width


class CellBandit:
    """Tabular epsilon-greedy policy: one smoothed reward estimate per (context cell, arm).

    For artwork, a cell is a (title, member segment) pair and the arms are that title's
    artworks, so a catalogue has many small arm sets; statistics are grouped with one
    ``np.unique`` over ``cell x arm`` keys rather than one regression per arm. Estimates are
    shrunk towards the global rate, ``(sum w r + m k) / (sum w + k)`` with prior strength
    ``k``, and with ``importance_weighting`` each round is weighted ``w = 1 / propensity``.

    Parameters
    ----------
    epsilon : exploration share, spread evenly over the cell's arms.
    prior_strength : pseudo-rounds of the global rate added to every (cell, arm).
    importance_weighting : weight rounds by inverse logging propensity.
    """

    def __init__(
        self,
        *,
        epsilon: float = 0.1,
        prior_strength: float = 10.0,
        importance_weighting: bool = True,
    ) -> None:
        self.epsilon = epsilon
        self.prior_strength = prior_strength
        self.importance_weighting = importance_weighting

    def fit(
        self,
        cells: object,
        actions: object,
        rewards: object,
        propensities: object | None = None,
    ) -> Self:
        """Fit from logged rounds: non-negative int ``cells`` and ``actions``, ``rewards``."""
        c = np.asarray(cells)
        a = np.asarray(actions)
        r = np.asarray(rewards, dtype=np.float64)
        n = c.shape[0] if c.ndim == 1 else -1
        if n < 1 or a.shape != (n,) or r.shape != (n,):
            raise DataError("cells, actions and rewards must be 1-d arrays of the same length")
        for name, v in (("cell", c), ("action", a)):
            if not np.issubdtype(v.dtype, np.integer) or (v < 0).any():
                raise DataError(f"{name} codes must be non-negative integers", column=name)
        w = np.ones(n)
        if self.importance_weighting and propensities is not None:
            p = np.asarray(propensities, dtype=np.float64)
            if p.shape != (n,) or (p <= 0).any() or (p > 1).any():
                raise DataError("propensities must be in (0, 1]", column="propensity")
            w = 1.0 / p
        k = int(a.max()) + 1
        pairs, inv = np.unique(c.astype(np.int64) * k + a, return_inverse=True)
        weight = np.bincount(inv, weights=w)
        gain = np.bincount(inv, weights=w * r)
        self.global_rate_ = float((w * r).sum() / w.sum())
        rate = (gain + self.prior_strength * self.global_rate_) / (weight + self.prior_strength)
        pair_cell, pair_action = pairs // k, pairs % k
        # Best arm per cell: sort by cell, then by descending rate; keep each cell's first.
        order = np.lexsort((-rate, pair_cell))
        first = order[np.r_[True, pair_cell[order][1:] != pair_cell[order][:-1]]]
        self.cells_ = pair_cell[first]
        self.best_ = pair_action[first]
        self.best_rate_ = rate[first]
        self.pair_cell_, self.pair_action_, self.pair_rate_ = pair_cell, pair_action, rate
        self.pair_rounds_ = np.bincount(inv).astype(np.int64)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "best_"):
            raise NotFittedError("CellBandit is not fitted yet; call fit() first")

    def best_action(self, cells: object) -> np.ndarray:
        """Greedy arm per cell; ``-1`` for cells never seen in training."""
        self._check_fitted()
        c = np.asarray(cells, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.cells_, c), 0, self.cells_.size - 1)
        return np.where(self.cells_[pos] == c, self.best_[pos], -1)

    def action_probability(self, cells: object, actions: object, n_available: object) -> np.ndarray:
        """``pi(a | cell)`` of the given arms: what off-policy evaluation needs per round.

        Parameters
        ----------
        cells, actions : the logged rounds.
        n_available : number of arms of each round's cell (e.g. artworks of the title); an
            unseen cell is played uniformly.
        """
        if not 0.0 <= self.epsilon <= 1.0:
            raise DataError(f"epsilon must be in [0, 1], got {self.epsilon}")
        best = self.best_action(cells)
        m = np.asarray(n_available, dtype=np.float64)
        if (m < 1).any():
            raise DataError("every cell needs at least one available arm", column="n_available")
        a = np.asarray(actions)
        greedy = self.epsilon / m + (1.0 - self.epsilon) * (a == best)
        return np.where(best < 0, 1.0 / m, greedy)
