# ruff: noqa: NPY002
# (numba-compiled samplers draw from numba's own legacy np.random state, seeded per call)
"""Explicit rating prediction: bias baseline, biased MF (SGD) and Bayesian MF (Gibbs sampling).

All three are :class:`~reelmine.recommend.base.RatingPredictor` models over dense integer user
and item indices, with the same conventions:

* ``predict`` clips to the rating scale seen in training (``rating_min_``..``rating_max_``).
* **Unknown users or items** (index ``-1``, out of range, or without a training rating) fall
  back to the baseline: global mean plus whichever of the user and item bias is known; the
  factor term is used only when both are known.
* ``save``/``load`` round-trip exactly (learned arrays are stored as they are).

:class:`BayesianMF` is the default (:data:`DEFAULT_RATING_MODEL`): a factorisation machine over
user, item and, optionally, SVD++-style implicit feedback (the items each user rated in
*training*), learned by element-wise Gibbs sampling as in libFM's MCMC (Rendle 2012) with
Normal-Gamma hyperpriors per parameter group (Salakhutdinov & Mnih 2008). Predictions average
the posterior samples after burn-in; kept samples are stacked into wide factor matrices so
``predict`` is one dot product per pair.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numba import njit

from reelmine.errors import ConfigError, DataError
from reelmine.recommend.base import RatingPredictor, check_is_fitted, fingerprint

# --------------------------------------------------------------------------------------------
# shared helpers


def _validate(users: Any, items: Any, ratings: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = np.asarray(users)
    i = np.asarray(items)
    r = np.asarray(ratings, dtype=np.float64)
    if not (u.ndim == i.ndim == r.ndim == 1) or not (len(u) == len(i) == len(r)):
        raise DataError(
            f"users, items and ratings must be 1-D and of equal length, got {u.shape}, {i.shape}, "
            f"{r.shape}"
        )
    if len(r) == 0:
        raise DataError("cannot fit a rating model on zero ratings")
    if not (np.issubdtype(u.dtype, np.integer) and np.issubdtype(i.dtype, np.integer)):
        raise DataError("users and items must be integer indices (map IDs with a Vocabulary)")
    if (u < 0).any() or (i < 0).any():
        raise DataError("training users and items must be known indices (>= 0)")
    if not np.isfinite(r).all():
        raise DataError("ratings must be finite")
    return u.astype(np.int64), i.astype(np.int64), r


def _by_group(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR-style pointer (n + 1) and the stable order that groups rows by ``keys``."""
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, order


class _RatingBase(RatingPredictor):
    """Fallback logic, clipping and bookkeeping shared by the rating models."""

    user_bias_: np.ndarray
    item_bias_: np.ndarray

    def _setup(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        self.n_users_ = int(u.max()) + 1
        self.n_items_ = int(i.max()) + 1
        self.rating_min_ = float(r.min())
        self.rating_max_ = float(r.max())
        self.global_mean_ = float(r.mean())
        self.user_counts_ = np.bincount(u, minlength=self.n_users_).astype(np.int64)
        self.item_counts_ = np.bincount(i, minlength=self.n_items_).astype(np.int64)
        self.fingerprint_ = fingerprint(u, i, r)

    def _known(
        self, users: Any, items: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        check_is_fitted(self)
        u = np.asarray(users, dtype=np.int64).ravel()
        i = np.asarray(items, dtype=np.int64).ravel()
        if u.shape != i.shape:
            raise DataError(f"users has {u.size} entries but items has {i.size}")
        ku = (u >= 0) & (u < self.n_users_)
        ku[ku] = self.user_counts_[u[ku]] > 0
        ki = (i >= 0) & (i < self.n_items_)
        ki[ki] = self.item_counts_[i[ki]] > 0
        return u, i, ku, ki

    def _baseline(self, u: np.ndarray, i: np.ndarray, ku: np.ndarray, ki: np.ndarray) -> np.ndarray:
        pred = np.full(len(u), self.global_mean_, dtype=np.float64)
        pred[ku] += self.user_bias_[u[ku]]
        pred[ki] += self.item_bias_[i[ki]]
        return pred

    def _clip(self, pred: np.ndarray) -> np.ndarray:
        return np.clip(pred, self.rating_min_, self.rating_max_)


# --------------------------------------------------------------------------------------------
# BiasBaseline: regularised biases by alternating least squares


class BiasBaseline(_RatingBase):
    """``r_ui ~ mu + b_u + b_i`` with L2-regularised biases, fitted by alternating least squares.

    The same model as Surprise's ``BaselineOnly`` with ALS: each pass sets
    ``b_u = sum(r - mu - b_i) / (reg_user + n_u)`` and then the item biases likewise.

    Parameters
    ----------
    n_iter : ALS passes.
    reg_user, reg_item : shrinkage toward zero, in pseudo-ratings.
    """

    def __init__(self, *, n_iter: int = 10, reg_user: float = 15.0, reg_item: float = 10.0) -> None:
        self.n_iter = n_iter
        self.reg_user = reg_user
        self.reg_item = reg_item

    def fit(
        self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, **fit_params: Any
    ) -> Self:
        """Learn the biases from parallel index/rating arrays; returns ``self``."""
        u, i, r = _validate(users, items, ratings)
        if self.n_iter < 1:
            raise ConfigError(f"n_iter must be >= 1, got {self.n_iter}")
        self._setup(u, i, r)
        mu = self.global_mean_
        bu = np.zeros(self.n_users_)
        bi = np.zeros(self.n_items_)
        for _ in range(self.n_iter):  # passes, not rows: each is a vectorised bincount
            bu = np.bincount(u, r - mu - bi[i], self.n_users_) / (self.reg_user + self.user_counts_)
            bi = np.bincount(i, r - mu - bu[u], self.n_items_) / (self.reg_item + self.item_counts_)
        self.user_bias_ = bu
        self.item_bias_ = bi
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Baseline predictions, clipped to the training scale; unknown biases count as 0."""
        u, i, ku, ki = self._known(users, items)
        return self._clip(self._baseline(u, i, ku, ki))


# --------------------------------------------------------------------------------------------
# BiasedMF: Funk-SVD with biases by SGD (numba)


@njit(cache=True, fastmath=True)
def _sgd_epochs(
    u: np.ndarray,
    i: np.ndarray,
    r: np.ndarray,
    mu: float,
    bu: np.ndarray,
    bi: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    n_epochs: int,
    lr_bias: float,
    lr_factor: float,
    reg_bias: float,
    reg_factor: float,
    seed: int,
) -> None:  # pragma: no cover - compiled
    np.random.seed(seed)
    n, k = len(r), P.shape[1]
    for _ in range(n_epochs):
        order = np.random.permutation(n)
        for t in range(n):
            x = order[t]
            uu, ii = u[x], i[x]
            dot = 0.0
            for f in range(k):
                dot += P[uu, f] * Q[ii, f]
            err = r[x] - (mu + bu[uu] + bi[ii] + dot)
            bu[uu] += lr_bias * (err - reg_bias * bu[uu])
            bi[ii] += lr_bias * (err - reg_bias * bi[ii])
            for f in range(k):
                pf = P[uu, f]
                qf = Q[ii, f]
                P[uu, f] += lr_factor * (err * qf - reg_factor * pf)
                Q[ii, f] += lr_factor * (err * pf - reg_factor * qf)


class BiasedMF(_RatingBase):
    """``r_ui ~ mu + b_u + b_i + p_u . q_i`` learned by SGD (Funk SVD / Surprise ``SVD``).

    Parameters
    ----------
    n_factors : rank of ``p_u`` and ``q_i``.
    n_epochs : SGD passes over the shuffled ratings.
    lr_bias, lr_factor : learning rates.
    reg_bias, reg_factor : L2 penalties.
    init_std : standard deviation of the random factor initialisation.
    random_state : seed of the initialisation and shuffling.
    """

    def __init__(
        self,
        *,
        n_factors: int = 50,
        n_epochs: int = 25,
        lr_bias: float = 0.007,
        lr_factor: float = 0.007,
        reg_bias: float = 0.005,
        reg_factor: float = 0.05,
        init_std: float = 0.1,
        random_state: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr_bias = lr_bias
        self.lr_factor = lr_factor
        self.reg_bias = reg_bias
        self.reg_factor = reg_factor
        self.init_std = init_std
        self.random_state = random_state

    def fit(
        self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, **fit_params: Any
    ) -> Self:
        """Learn biases and factors; returns ``self``."""
        u, i, r = _validate(users, items, ratings)
        if self.n_factors < 1 or self.n_epochs < 0:
            raise ConfigError("n_factors must be >= 1 and n_epochs >= 0")
        self._setup(u, i, r)
        rng = np.random.default_rng(self.random_state)
        P = rng.normal(0.0, self.init_std, (self.n_users_, self.n_factors))
        Q = rng.normal(0.0, self.init_std, (self.n_items_, self.n_factors))
        bu = np.zeros(self.n_users_)
        bi = np.zeros(self.n_items_)
        _sgd_epochs(
            u, i, r, self.global_mean_, bu, bi, P, Q, int(self.n_epochs),
            float(self.lr_bias), float(self.lr_factor), float(self.reg_bias),
            float(self.reg_factor), int(rng.integers(2**31 - 1)),
        )  # fmt: skip
        self.user_bias_ = bu
        self.item_bias_ = bi
        self.user_factors_ = P
        self.item_factors_ = Q
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings, clipped; unknown users/items fall back to the baseline."""
        u, i, ku, ki = self._known(users, items)
        pred = self._baseline(u, i, ku, ki)
        both = ku & ki
        pred[both] += np.einsum(
            "nf,nf->n", self.user_factors_[u[both]], self.item_factors_[i[both]]
        )
        return self._clip(pred)


# --------------------------------------------------------------------------------------------
# BayesianMF: element-wise Gibbs sampling (libFM MCMC) with SVD++-style implicit feedback


@njit(cache=True, fastmath=True)
def _sample_hyper(theta: np.ndarray, mu: float) -> tuple[float, float]:  # pragma: no cover
    """Draw (mu, lambda) of a Normal-Gamma prior group given its values (mu0=0, gamma0=1,
    alpha_lambda=beta_lambda=1, as in libFM)."""
    n = theta.shape[0]
    ss = 0.0
    s = 0.0
    for t in range(n):
        d = theta[t] - mu
        ss += d * d
        s += theta[t]
    shape = (1.0 + n + 1.0) / 2.0
    rate = (1.0 + ss + mu * mu) / 2.0
    lam = np.random.gamma(shape, 1.0 / rate)
    mean = s / (n + 1.0)
    mu_new = mean + np.random.standard_normal() / np.sqrt((n + 1.0) * lam)
    return mu_new, lam


@njit(cache=True, fastmath=True)
def _gibbs(
    uptr: np.ndarray,
    items: np.ndarray,
    irows: np.ndarray,
    iptr: np.ndarray,
    users: np.ndarray,
    y: np.ndarray,
    n_users: int,
    n_items: int,
    k: int,
    n_iter: int,
    burn_in: int,
    thin: int,
    use_implicit: bool,
    init_std: float,
    seed: int,
    P_store: np.ndarray,
    Q_store: np.ndarray,
    bu_sum: np.ndarray,
    bi_sum: np.ndarray,
) -> tuple[float, int, float]:  # pragma: no cover - compiled
    """Run the sampler. Rows are sorted by user (``uptr`` delimits each user's rows, ``items``
    their items); ``irows[iptr[j]:iptr[j+1]]`` are the rows of item ``j``. Each kept sample
    writes its user vectors (implicit part included) and item vectors into column block
    ``s * k:(s + 1) * k`` of ``P_store``/``Q_store`` and adds its biases to the sums.
    Returns (sum of global biases, number of samples kept, last noise precision)."""
    np.random.seed(seed)
    n = y.shape[0]
    n_store = P_store.shape[1] // k
    w0 = 0.0
    for r in range(n):
        w0 += y[r]
    w0 /= n
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    P = np.random.standard_normal((k, n_users)) * init_std
    Q = np.random.standard_normal((k, n_items)) * init_std
    Y = np.zeros((k, n_items))
    if use_implicit:
        Y = np.random.standard_normal((k, n_items)) * init_std
    wu = np.zeros(n_users)
    for uu in range(n_users):
        c = uptr[uu + 1] - uptr[uu]
        if c > 0:
            wu[uu] = 1.0 / np.sqrt(c)
    Pe = P.copy()  # effective user vectors p_u + |N(u)|^-1/2 sum_j y_j
    if use_implicit:
        for uu in range(n_users):
            for r in range(uptr[uu], uptr[uu + 1]):
                for f in range(k):
                    Pe[f, uu] += wu[uu] * Y[f, items[r]]
    e = np.empty(n)  # residuals y - prediction, kept current by every update
    for uu in range(n_users):
        for r in range(uptr[uu], uptr[uu + 1]):
            d = 0.0
            for f in range(k):
                d += Pe[f, uu] * Q[f, items[r]]
            e[r] = y[r] - (w0 + bu[uu] + bi[items[r]] + d)
    # users who rated each item, in item order (the implicit feedback's transpose)
    S = np.zeros(n_users)
    T = np.zeros(n_users)
    pe_old = np.zeros(n_users)
    delta = np.zeros(n_users)  # change of p_eff per user from the implicit update, per f
    mu_bu, mu_bi = 0.0, 0.0
    mu_p = np.zeros(k)
    mu_q = np.zeros(k)
    mu_y = np.zeros(k)
    w0_sum = 0.0
    kept = 0
    alpha = 1.0
    for it in range(n_iter):
        # noise precision, Gamma(1 + n/2, 1 + sse/2) posterior
        sse = 0.0
        for r in range(n):
            sse += e[r] * e[r]
        alpha = np.random.gamma((1.0 + n) / 2.0, 2.0 / (1.0 + sse))
        # global bias (flat prior)
        s = 0.0
        for r in range(n):
            s += e[r]
        new = w0 + s / n + np.random.standard_normal() / np.sqrt(alpha * n)
        d = new - w0
        for r in range(n):
            e[r] -= d
        w0 = new
        # user biases
        mu_bu, lam = _sample_hyper(bu, mu_bu)
        for uu in range(n_users):
            a, b = uptr[uu], uptr[uu + 1]
            s = 0.0
            for r in range(a, b):
                s += e[r]
            prec = alpha * (b - a) + lam
            new = (alpha * (s + (b - a) * bu[uu]) + lam * mu_bu) / prec
            new += np.random.standard_normal() / np.sqrt(prec)
            d = new - bu[uu]
            for r in range(a, b):
                e[r] -= d
            bu[uu] = new
        # item biases
        mu_bi, lam = _sample_hyper(bi, mu_bi)
        for j in range(n_items):
            a, b = iptr[j], iptr[j + 1]
            s = 0.0
            for t in range(a, b):
                s += e[irows[t]]
            prec = alpha * (b - a) + lam
            new = (alpha * (s + (b - a) * bi[j]) + lam * mu_bi) / prec
            new += np.random.standard_normal() / np.sqrt(prec)
            d = new - bi[j]
            for t in range(a, b):
                e[irows[t]] -= d
            bi[j] = new
        for f in range(k):
            # user factors p_uf: derivative of the prediction is q_if
            m, lam = _sample_hyper(P[f, :], mu_p[f])
            mu_p[f] = m
            for uu in range(n_users):
                a, b = uptr[uu], uptr[uu + 1]
                shh = 0.0
                seh = 0.0
                for r in range(a, b):
                    h = Q[f, items[r]]
                    shh += h * h
                    seh += e[r] * h
                prec = alpha * shh + lam
                old = P[f, uu]
                new = (alpha * (seh + old * shh) + lam * m) / prec
                new += np.random.standard_normal() / np.sqrt(prec)
                d = new - old
                for r in range(a, b):
                    e[r] -= d * Q[f, items[r]]
                P[f, uu] = new
                Pe[f, uu] += d
                # sufficient statistics of the implicit update below, after this change
                S[uu] = shh
                T[uu] = seh - d * shh
                pe_old[uu] = Pe[f, uu]
            if use_implicit:
                # implicit factors y_jf: derivative w_u q_if on every row of every user who
                # rated j. Per-user statistics (S = sum q^2, T = sum e q, from the p pass) make
                # one update O(users of j); residuals catch up in the q pass (delta below).
                m, lam = _sample_hyper(Y[f, :], mu_y[f])
                mu_y[f] = m
                for j in range(n_items):
                    a, b = iptr[j], iptr[j + 1]
                    shh = 0.0
                    seh = 0.0
                    for t in range(a, b):
                        v = users[t]
                        shh += wu[v] * wu[v] * S[v]
                        seh += wu[v] * T[v]
                    prec = alpha * shh + lam
                    old = Y[f, j]
                    new = (alpha * (seh + old * shh) + lam * m) / prec
                    new += np.random.standard_normal() / np.sqrt(prec)
                    d = new - old
                    for t in range(a, b):
                        v = users[t]
                        T[v] -= d * wu[v] * S[v]
                        Pe[f, v] += d * wu[v]
                    Y[f, j] = new
                for uu in range(n_users):
                    delta[uu] = Pe[f, uu] - pe_old[uu]
            # item factors q_if: derivative is the effective user factor
            m, lam = _sample_hyper(Q[f, :], mu_q[f])
            mu_q[f] = m
            for j in range(n_items):
                a, b = iptr[j], iptr[j + 1]
                shh = 0.0
                seh = 0.0
                qo = Q[f, j]
                for t in range(a, b):
                    r = irows[t]
                    v = users[t]
                    e[r] -= delta[v] * qo  # residual catch-up for the implicit update
                    h = Pe[f, v]
                    shh += h * h
                    seh += e[r] * h
                prec = alpha * shh + lam
                old = Q[f, j]
                new = (alpha * (seh + old * shh) + lam * m) / prec
                new += np.random.standard_normal() / np.sqrt(prec)
                d = new - old
                for t in range(a, b):
                    r = irows[t]
                    e[r] -= d * Pe[f, users[t]]
                Q[f, j] = new
        if it >= burn_in and (it - burn_in) % thin == 0 and kept < n_store:
            w0_sum += w0
            for uu in range(n_users):
                bu_sum[uu] += bu[uu]
                for f in range(k):
                    P_store[uu, kept * k + f] = Pe[f, uu]
            for j in range(n_items):
                bi_sum[j] += bi[j]
                for f in range(k):
                    Q_store[j, kept * k + f] = Q[f, j]
            kept += 1
    return w0_sum, kept, alpha


class BayesianMF(_RatingBase):
    """Bayesian matrix factorisation with biases and implicit feedback, by Gibbs sampling.

    Model: ``r_ui ~ N(w0 + b_u + b_i + (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j) . q_i, 1/alpha)``
    where ``N(u)`` are the items ``u`` rated in training (SVD++ implicit feedback; set
    ``implicit=False`` for plain BPMF). Every parameter group (user biases, item biases, and
    each factor dimension of ``p``, ``q``, ``y``) has a Normal prior with its own mean and
    precision, drawn from a Normal-Gamma hyperprior, and ``alpha`` has a Gamma prior, so there
    is no regularisation to tune. Parameters are sampled one at a time from their Gaussian
    conditionals (libFM's MCMC), which costs ``O(n_ratings * n_factors)`` per sweep.

    Predictions are the posterior mean over the samples kept after ``burn_in`` sweeps (every
    ``thin``-th, at most ``max_samples``): biases are averaged and the kept factor samples are
    stacked side by side, so ``user_factors_ . item_factors_`` is the averaged factor term.

    Parameters
    ----------
    n_factors : rank of each sample.
    n_iter : Gibbs sweeps in total.
    burn_in : sweeps discarded before averaging.
    thin : keep every ``thin``-th sweep after burn-in.
    max_samples : cap on kept samples (memory: ``(n_users + n_items) * max_samples * n_factors``).
    implicit : add SVD++-style implicit feedback from the training pairs.
    init_std : standard deviation of the initial factors.
    random_state : seed of the sampler.
    """

    def __init__(
        self,
        *,
        n_factors: int = 10,
        n_iter: int = 100,
        burn_in: int = 10,
        thin: int = 2,
        max_samples: int = 64,
        implicit: bool = True,
        init_std: float = 0.1,
        random_state: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_iter = n_iter
        self.burn_in = burn_in
        self.thin = thin
        self.max_samples = max_samples
        self.implicit = implicit
        self.init_std = init_std
        self.random_state = random_state

    def fit(
        self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, **fit_params: Any
    ) -> Self:
        """Run the Gibbs sampler on the training ratings; returns ``self``."""
        u, i, r = _validate(users, items, ratings)
        if self.n_factors < 1 or self.thin < 1 or self.max_samples < 1:
            raise ConfigError("n_factors, thin and max_samples must be >= 1")
        if not 0 <= self.burn_in < self.n_iter:
            raise ConfigError(f"need 0 <= burn_in < n_iter, got {self.burn_in} and {self.n_iter}")
        self._setup(u, i, r)
        nu, ni, k = self.n_users_, self.n_items_, int(self.n_factors)
        # rows by (user, item): each user's rows are contiguous and, walking items in order,
        # the item pass touches every user's rows front to back (cache-friendly)
        uorder = np.lexsort((i, u))
        uptr = np.zeros(nu + 1, dtype=np.int64)
        np.cumsum(self.user_counts_, out=uptr[1:])
        items_u = i[uorder]
        y_u = r[uorder]
        iptr, irows = _by_group(items_u, ni)  # rows (in user order) grouped by item
        users_i = u[uorder][irows]
        n_keep = min(int(self.max_samples), (self.n_iter - self.burn_in - 1) // self.thin + 1)
        P_store = np.zeros((nu, n_keep * k))
        Q_store = np.zeros((ni, n_keep * k))
        bu_sum = np.zeros(nu)
        bi_sum = np.zeros(ni)
        seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
        w0_sum, kept, alpha = _gibbs(
            uptr, items_u, irows.astype(np.int64), iptr, users_i, y_u, nu, ni, k,
            int(self.n_iter), int(self.burn_in), int(self.thin), bool(self.implicit),
            float(self.init_std), seed, P_store, Q_store, bu_sum, bi_sum,
        )  # fmt: skip
        scale = 1.0 / np.sqrt(kept)  # split 1/kept between the two stacked factor matrices
        self.global_mean_ = float(w0_sum / kept)
        self.user_bias_ = bu_sum / kept
        self.item_bias_ = bi_sum / kept
        self.user_factors_ = (P_store * scale).astype(np.float32)
        self.item_factors_ = (Q_store * scale).astype(np.float32)
        self.n_samples_ = int(kept)
        self.noise_std_ = float(1.0 / np.sqrt(alpha))
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Posterior-mean ratings, clipped; unknown users/items fall back to the baseline."""
        u, i, ku, ki = self._known(users, items)
        pred = self._baseline(u, i, ku, ki)
        both = np.flatnonzero(ku & ki)
        for start in range(0, len(both), 65536):  # bounds the gathered factor block
            sel = both[start : start + 65536]
            pu = self.user_factors_[u[sel]].astype(np.float64)
            qi = self.item_factors_[i[sel]].astype(np.float64)
            pred[sel] += np.einsum("nf,nf->n", pu, qi)
        return self._clip(pred)


DEFAULT_RATING_MODEL = BayesianMF
"""The rating model ``reelmine recommend train`` fits by default (chosen on validation RMSE)."""

RATING_MODELS: dict[str, type[RatingPredictor]] = {
    "bayesian-mf": BayesianMF,
    "biased-mf": BiasedMF,
    "bias-baseline": BiasBaseline,
}
"""Rating models by CLI name."""
