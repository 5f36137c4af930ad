"""The default recommender: candidate generators re-ranked by a LightGBM LambdaRank model.

Training (``fit``):

1. carve a validation split out of the training data: each member's most recent
   ``validation_fraction`` of interactions (by time when ``times`` is given);
2. fit every candidate generator on the rest;
3. for members with validation interactions, take the union of each generator's top
   ``n_candidates`` unseen titles and describe every (member, title) pair with features:
   each generator's score, rank and gap to the member's best score; title popularity, trend
   and age; the member's activity, mainstreamness and genre affinity for the title; the
   title's popularity around the member's latest activity (watch context in time);
4. fit LambdaRank with label = "the member watched it in the validation part";
5. serve with every generator reading the members' full histories (``update_history``), or
   refit them on all training data (``refit_generators=True``).

Serving scores a batch of members: each generator scores the catalogue once (a dense
``(batch, n_items)`` float32 array; popularity needs none) and proposes its top titles; features
are gathered for the candidate pairs only (the recent-history scores through each generator's
``score_pairs``), and the ranker scores just those pairs. ``recommend`` takes the top ``k`` among
the candidates without densifying the ranker's scores; titles outside the candidate set rank
after every candidate (by popularity), as in ``score_users``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from reelmine.errors import ConfigError, DataError
from reelmine.recommend._util import (
    fold_in_rows,
    holdout_last,
    l2_normalize_rows,
    lookup,
    rank_in_row,
    row_ids,
)
from reelmine.recommend.base import (
    Recommender,
    as_interactions,
    check_is_fitted,
    fingerprint,
    top_k,
)

NON_CANDIDATE = -1.0e4  # offset of titles the generators did not propose
_PAIR_BUDGET = 8_000_000  # batch x n_items cells scored at once: bounds serving memory


def _is_global_popularity(g: Recommender) -> bool:
    """A popularity generator whose scores do not depend on the member (no segments)."""
    return type(g).__name__ == "Popularity" and not hasattr(g, "group_scores_")


def _make_generator(name: str, params: dict[str, Any], random_state: int | None) -> Recommender:
    from reelmine.recommend.registry import make_recommender

    if name == "hybrid":
        raise ConfigError("the hybrid ranker cannot use itself as a candidate generator")
    return make_recommender(name, random_state=random_state, **params)


class HybridRanker(Recommender):
    """Candidate generation + learned re-ranking (LightGBM LambdaRank). The default model.

    Parameters
    ----------
    generators : names (see :mod:`reelmine.recommend.registry`) of the candidate generators.
    generator_params : optional ``{name: {param: value}}`` passed to each generator.
    n_candidates : titles each generator proposes per member.
    validation_fraction : share of each member's latest interactions the ranker learns from.
    max_train_users : cap on members used to train the ranker (sampled with ``random_state``).
    n_estimators, learning_rate, num_leaves, min_child_samples, max_bin : LightGBM settings.
    time_bins : resolution of the time axis for the "popular around your last visit" feature.
    context_window : bins (ending at the member's latest bin) counted by that feature.
    recent_items : each generator also scores the member's ``recent_items`` latest titles
        alone (a session-aware signal: tastes drift); 0 turns it off. Needs ``times``.
    refit_generators : refit the generators on all training data after the ranker is trained;
        by default (False) their learned weights are kept and only the member histories are
        updated (``update_history``): half the training time, and the ranker then sees
        generator scores distributed as in training.
    num_threads : LightGBM threads.
    random_state : seed of the split, sampling, generators and LightGBM.
    """

    def __init__(
        self,
        *,
        generators: tuple[str, ...] = ("ease", "als", "popularity"),
        generator_params: dict[str, dict[str, Any]] | None = None,
        n_candidates: int = 50,
        validation_fraction: float = 0.2,
        max_train_users: int = 10_000,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        max_bin: int = 63,
        time_bins: int = 64,
        context_window: int = 4,
        recent_items: int = 10,
        refit_generators: bool = False,
        num_threads: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.generators = generators
        self.generator_params = generator_params
        self.n_candidates = n_candidates
        self.validation_fraction = validation_fraction
        self.max_train_users = max_train_users
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_bin = max_bin
        self.time_bins = time_bins
        self.context_window = context_window
        self.recent_items = recent_items
        self.refit_generators = refit_generators
        self.num_threads = num_threads
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        interactions: sp.spmatrix | np.ndarray,
        *,
        times: sp.spmatrix | None = None,
        item_genres: sp.spmatrix | np.ndarray | None = None,
        titles: Any = None,
        **fit_params: Any,
    ) -> Self:
        """Train generators and the ranker.

        Parameters
        ----------
        interactions : (n_users, n_items) interaction strengths.
        times : optional (n_users, n_items) interaction times (seconds since the epoch), same
            sparsity as ``interactions``: gives a temporal validation split and time features.
        item_genres : optional (n_items, n_genres) 0/1 matrix for the genre-affinity feature.
        titles : titles table (row ``i`` = item ``i``) when ``"content"`` is a generator.
        """
        import lightgbm as lgb

        X = as_interactions(interactions)
        if not self.generators:
            raise ConfigError("the hybrid ranker needs at least one candidate generator")
        T = None
        if times is not None:
            T = sp.csr_matrix(times, dtype=np.float64)
            T.sort_indices()
            if T.shape != X.shape or T.nnz != X.nnz:
                raise DataError("times must have the same shape and sparsity as interactions")
        self.n_users_, self.n_items_ = X.shape
        genres = None
        if item_genres is not None:
            genres = np.asarray(
                sp.csr_matrix(item_genres).toarray() if sp.issparse(item_genres) else item_genres,
                dtype=np.float32,
            )
            if genres.ndim != 2 or genres.shape[0] != X.shape[1]:
                raise DataError(f"item_genres must have {X.shape[1]} rows (one per item)")
            self.item_genres_ = genres
        gen_fit = {"titles": titles} if titles is not None else {}

        train_in, valid = holdout_last(
            X, T, self.validation_fraction, random_state=self.random_state
        )
        T_in = None
        if T is not None:
            # train_in keeps a subset of X's entries: pick their times by position.
            keep = sp.csr_matrix(
                (np.arange(1, X.nnz + 1, dtype=np.float64), X.indices, X.indptr), shape=X.shape
            )
            pos = keep.multiply(train_in > 0).tocsr()
            pos.sort_indices()
            T_in = sp.csr_matrix(
                (T.data[pos.data.astype(np.int64) - 1], pos.indices, pos.indptr), shape=X.shape
            )
        self._set_context(train_in, T_in)
        gens = self._fit_generators(train_in, gen_fit)

        users = np.flatnonzero(valid.getnnz(axis=1) > 0)
        rng = np.random.default_rng(self.random_state)
        if len(users) > self.max_train_users:
            users = np.sort(rng.choice(users, self.max_train_users, replace=False))
        feats, groups, labels = [], [], []
        for start in range(0, len(users), self._batch_size()):
            batch = users[start : start + self._batch_size()]
            r, c, f = self._pairs(gens, batch, train_in[batch], None)
            y = lookup(valid[batch], r, c) > 0
            has_pos = np.bincount(r, weights=y, minlength=len(batch)) > 0
            keep = has_pos[r]  # members whose validation titles were all missed teach nothing
            feats.append(f[keep])
            labels.append(y[keep].astype(np.int32))
            groups.append(np.bincount(r[keep], minlength=len(batch))[has_pos])
        F = np.vstack(feats)
        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "lambdarank_truncation_level": 20,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "max_bin": self.max_bin,
            "feature_fraction": 0.9,
            "num_threads": self.num_threads,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        ds = lgb.Dataset(F, label=np.concatenate(labels), group=np.concatenate(groups))
        booster = lgb.train(params, ds, num_boost_round=self.n_estimators)
        self.ranker_ = np.frombuffer(booster.model_to_string().encode(), dtype=np.uint8).copy()
        self._boosters = {threading.get_ident(): booster}
        self.feature_names_ = np.asarray(self._feature_names(), dtype=str)
        self.n_train_pairs_ = int(F.shape[0])

        self._set_context(X, T)
        if self.refit_generators:
            gens = self._fit_generators(X, gen_fit)
        else:
            # Keep the weights learned without the validation part; serve from full histories.
            gens = [g.update_history(X) for g in gens]  # type: ignore[attr-defined]
        for name, g in zip(self.generators, gens, strict=True):
            setattr(self, f"gen_{name}_", g)
        self.user_items_ = X
        self.fingerprint_ = fingerprint(X)
        return self

    def _fit_generators(self, X: sp.csr_matrix, fit_kw: dict[str, Any]) -> list[Recommender]:
        params = self.generator_params or {}
        out = []
        for name in self.generators:
            g = _make_generator(name, dict(params.get(name, {})), self.random_state)
            kw = dict(fit_kw) if name == "content" else {}
            out.append(g.fit(X, **kw))
        return out

    def _set_context(self, X: sp.csr_matrix, T: sp.csr_matrix | None) -> None:
        """Item and member statistics the features read (from the generators' training data)."""
        B = X.copy()
        B.data[:] = 1.0
        count = np.asarray(B.sum(axis=0)).ravel()
        self.item_logpop_ = np.log((count + 1.0) / (B.shape[0] + 1.0)).astype(np.float32)
        n_u = np.asarray(B.sum(axis=1)).ravel()
        self.user_activity_ = np.log1p(n_u).astype(np.float32)
        mean_pop = np.asarray(B @ self.item_logpop_).ravel() / np.maximum(n_u, 1.0)
        self.user_mainstream_ = mean_pop.astype(np.float32)
        if hasattr(self, "item_genres_"):
            self.user_genres_ = l2_normalize_rows(
                np.asarray(B @ self.item_genres_, dtype=np.float32)
            )
        self.has_time_ = T is not None and T.nnz > 0
        if T is not None and T.nnz > 0:
            lo, hi = float(T.data.min()), float(T.data.max())
            width = max((hi - lo) / self.time_bins, 1.0)
            bins = np.minimum(((T.data - lo) / width).astype(np.int64), self.time_bins - 1)
            per_item = np.zeros((self.n_items_, self.time_bins + 1), np.float64)
            np.add.at(per_item, (T.indices, bins + 1), 1.0)
            cum = np.cumsum(per_item, axis=1)
            per_bin = np.cumsum(np.bincount(bins + 1, minlength=self.time_bins + 1))
            self.item_bin_cum_ = cum.astype(np.float32)
            self.bin_cum_ = per_bin.astype(np.float64)
            first = np.full(self.n_items_, self.time_bins, np.int64)
            np.minimum.at(first, T.indices, bins)
            self.item_first_bin_ = first.astype(np.float32)
            last = np.zeros(self.n_users_, np.int64)
            np.maximum.at(last, row_ids(T), bins)
            self.user_last_bin_ = last.astype(np.int32)
            if self.recent_items > 0:
                recent = rank_in_row(T, T.data, descending=True) < self.recent_items
                self.user_recent_ = sp.csr_matrix(
                    (np.ones(recent.sum(), np.float32), (row_ids(T)[recent], T.indices[recent])),
                    shape=X.shape,
                )

    # ------------------------------------------------------------------ features
    def _feature_names(self) -> list[str]:
        names = []
        for g in self.generators:
            names += [f"{g}_score", f"{g}_rank", f"{g}_gap"]
            if self._use_recent() and g != "popularity":
                names += [f"{g}_recent"]
        names += ["item_logpop", "user_activity", "user_mainstream", "pop_minus_mainstream"]
        if hasattr(self, "item_genres_"):
            names += ["genre_affinity"]
        if self.has_time_:
            names += ["pop_near_last_visit", "item_age_at_last_visit", "item_first_bin"]
        return names

    def _use_recent(self) -> bool:
        return bool(self.has_time_ and self.recent_items > 0)

    def _batch_size(self) -> int:
        return int(max(16, min(1024, _PAIR_BUDGET // max(self.n_items_ * len(self.generators), 1))))

    def _pairs(
        self,
        gens: list[Recommender],
        users: np.ndarray,
        hist: sp.csr_matrix,
        scorer: Callable[[Recommender], np.ndarray] | None,
        last_bin: np.ndarray | None = None,
        recent: sp.csr_matrix | None = None,
        banned: sp.csr_matrix | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate pairs ``(row, item)`` of a batch (sorted by row, then item) and features.

        ``banned`` (n_b, n_items) and ``allowed`` (n_items,) remove titles before the
        generators pick their candidates (business rules, extra exclusions).
        """
        n_b, n_items = hist.shape[0], self.n_items_
        n_items64 = np.int64(n_items)
        seen_r, seen_c = row_ids(hist), hist.indices
        n = min(self.n_candidates, n_items)
        blocked = hist if banned is None else (hist + banned).tocsr()
        blocked_r, blocked_c = row_ids(blocked), blocked.indices
        per_gen: list[tuple[Any, ...]] = []
        keys = []
        for g in gens:
            if _is_global_popularity(g):
                # Member-independent scores: candidates come from the global order, no dense
                # (batch, n_items) array and no per-member partial sort.
                pop = g.item_scores_  # type: ignore[attr-defined]
                order = np.argsort(-pop, kind="stable")
                grank = np.empty(n_items, np.int64)
                grank[order] = np.arange(n_items)
                seen_sorted = np.sort(seen_r * n_items64 + grank[seen_c])
                m_top = min(n_items, n + int(np.diff(hist.indptr).max(initial=0)))
                rr = np.repeat(np.arange(n_b, dtype=np.int64), m_top)
                cc = np.tile(order[:m_top], n_b)
                urank = self._unseen_rank(seen_sorted, hist.indptr, grank, rr, cc)
                ok = (urank < n) & (lookup(blocked, rr, cc) == 0)
                if allowed is not None:
                    ok &= allowed[cc]
                keys.append(rr[ok] * n_items64 + cc[ok])
                best = np.zeros(n_b, np.float64)
                np.maximum.at(best, rr[ok], pop[cc[ok]])
                per_gen.append(("pop", g, pop, grank, seen_sorted, best))
                continue
            s = g.score_users(users) if scorer is None else scorer(g)
            s[blocked_r, blocked_c] = -np.inf
            if allowed is not None:
                s[:, ~allowed] = -np.inf
            ids, vals = top_k(s, n)
            ok = ids >= 0
            rr = np.broadcast_to(np.arange(n_b, dtype=np.int64)[:, None], ids.shape)[ok]
            gkeys = rr * n_items64 + ids[ok]
            keys.append(gkeys)
            pos_in_top = np.broadcast_to(np.arange(n, dtype=np.float32), ids.shape)[ok]
            best = np.where(np.isfinite(vals[:, 0]), vals[:, 0], 0.0) if n else np.zeros(n_b)
            per_gen.append(("dense", g, s, gkeys, pos_in_top, best))
        all_keys = np.unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
        r, c = all_keys // n_items64, all_keys % n_items64
        cols = []
        use_recent = self._use_recent()
        if use_recent and recent is None:
            known_b = (users >= 0) & (users < self.n_users_)
            recent = sp.csr_matrix(
                self.user_recent_[np.where(known_b, users, 0)].multiply(known_b[:, None])
            )
        for kind, g, *rest in per_gen:
            if kind == "pop":
                pop, grank, seen_sorted, best = rest
                v = pop[c].astype(np.float64)
                rank = np.minimum(
                    self._unseen_rank(seen_sorted, hist.indptr, grank, r, c), n
                ).astype(np.float32)
            else:
                s, gkeys, pos_in_top, best = rest
                v = s[r, c]
                v = np.where(np.isfinite(v), v, 0.0)
                rank = np.full(len(r), n, dtype=np.float32)
                rank[np.searchsorted(all_keys, gkeys)] = pos_in_top
            cols += [v, rank, v - best[r]]
            if use_recent and type(g).__name__ != "Popularity":
                assert recent is not None
                cols.append(self._recent_scores(g, recent, r, c))
        u = users[r]
        known = (u >= 0) & (u < self.n_users_)
        uk = np.where(known, u, 0)
        ipop = self.item_logpop_[c]
        act = np.asarray(np.diff(hist.indptr), np.float32)
        cols += [ipop, np.log1p(act)[r]]
        hb = hist.copy()
        hb.data[:] = 1.0
        mainstream = np.asarray(hb @ self.item_logpop_).ravel() / np.maximum(act, 1.0)
        cols += [mainstream[r], ipop - mainstream[r]]
        if hasattr(self, "item_genres_"):
            prof = l2_normalize_rows(np.asarray(hb @ self.item_genres_, dtype=np.float32))
            cols.append(np.einsum("ij,ij->i", prof[r], self.item_genres_[c]))
        if self.has_time_:
            lb = self.user_last_bin_[uk] if last_bin is None else last_bin[r]
            lb = np.where(known, lb, self.time_bins - 1) if last_bin is None else lb
            lb = lb.astype(np.int64) + 1
            lo = np.maximum(lb - self.context_window, 0)
            near = self.item_bin_cum_[c, lb] - self.item_bin_cum_[c, lo]
            total = np.maximum(self.bin_cum_[lb] - self.bin_cum_[lo], 1.0)
            cols += [
                np.log((near + 1.0) / total),
                (lb - 1 - self.item_first_bin_[c]),
                self.item_first_bin_[c],
            ]
        F = np.column_stack(cols).astype(np.float32) if len(r) else np.empty((0, len(cols)))
        return r, c, F.astype(np.float32, copy=False)

    @staticmethod
    def _unseen_rank(
        seen_sorted: np.ndarray,
        indptr: np.ndarray,
        grank: np.ndarray,
        r: np.ndarray,
        c: np.ndarray,
    ) -> np.ndarray:
        """Rank of item ``c`` in the global order once member ``r``'s seen titles are removed."""
        n_items = np.int64(len(grank))
        before = np.searchsorted(seen_sorted, r * n_items + grank[c]) - indptr[r]
        return grank[c] - before

    @staticmethod
    def _recent_scores(
        g: Recommender, recent: sp.csr_matrix, r: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        """Generator ``g``'s score of pairs ``(r, c)`` from the members' recent titles alone."""
        item_factors = getattr(g, "item_factors_", None)
        if item_factors is not None:
            # Factor models: the centroid of the recent titles' factors (no per-member solve).
            n = np.maximum(np.asarray(recent.sum(axis=1)).ravel(), 1.0)
            centroid = np.asarray(recent @ item_factors) / n[:, None]
            return np.einsum("ij,ij->i", centroid[r], item_factors[c])
        if hasattr(g, "score_pairs"):
            # Linear in the history: only the candidate pairs, from a handful of recent rows.
            return np.asarray(g.score_pairs(recent, r, c), dtype=np.float32)
        return np.asarray(g.score_history(recent))[r, c]  # type: ignore[attr-defined]

    def update_history(
        self, interactions: sp.spmatrix | np.ndarray, times: sp.spmatrix | None = None
    ) -> Self:
        """Fold in every member's current history (and times) without retraining anything."""
        check_is_fitted(self)
        X = as_interactions(interactions)
        T = None if times is None else sp.csr_matrix(times, dtype=np.float64)
        n_old = self.n_users_
        self.n_users_ = X.shape[0]
        if T is not None or not self.has_time_:
            self._set_context(X, T if self.has_time_ else None)
        else:
            # No new times: keep the time axis; members new to the model count as active now
            # and their whole (short) history as their recent titles.
            had_time = self.has_time_
            saved = {k: getattr(self, k) for k in ("item_bin_cum_", "bin_cum_", "item_first_bin_")}
            last, recent = self.user_last_bin_, getattr(self, "user_recent_", None)
            self._set_context(X, None)
            self.has_time_ = had_time
            for k, v in saved.items():
                setattr(self, k, v)
            extra = max(self.n_users_ - n_old, 0)
            self.user_last_bin_ = np.concatenate(
                [last[: self.n_users_], np.full(extra, self.time_bins - 1, np.int32)]
            )
            if recent is not None:
                new_rows = sp.csr_matrix(X[n_old:]) if extra else sp.csr_matrix((0, X.shape[1]))
                self.user_recent_ = sp.vstack([recent[: self.n_users_], new_rows]).tocsr()
        for g in self._generators():
            g.update_history(X)  # type: ignore[attr-defined]
        self.user_items_ = X
        return self

    # ------------------------------------------------------------------ serving
    def _generators(self) -> list[Recommender]:
        return [getattr(self, f"gen_{name}_") for name in self.generators]

    def _get_booster(self) -> Any:
        # One booster per thread: LightGBM serialises predictions on a shared booster (and its
        # predictor set-up is not thread-safe), while batches and API requests run on threads.
        boosters = self.__dict__.setdefault("_boosters", {})
        me = threading.get_ident()
        if me not in boosters:
            import lightgbm as lgb

            boosters[me] = lgb.Booster(model_str=self.ranker_.tobytes().decode())
        return boosters[me]

    def _rank(
        self, users: np.ndarray, hist: sp.csr_matrix, scorer: Any, last_bin: Any = None
    ) -> np.ndarray:
        gens = self._generators()
        out = np.empty((hist.shape[0], self.n_items_), dtype=np.float32)
        pop = np.exp(self.item_logpop_)
        fill = NON_CANDIDATE + pop / max(pop.max(), 1e-12)
        bs = self._batch_size()
        for start in range(0, hist.shape[0], bs):
            sl = slice(start, start + bs)
            sub_scorer = None if scorer is None else (lambda g, sl=sl: scorer(g)[sl])
            h = hist[sl]
            lb = None if last_bin is None else last_bin[sl]
            rec = h if scorer is not None else None  # fold-in: the fresh rows are the recent titles
            r, c, f = self._pairs(gens, users[sl], h, sub_scorer, lb, rec)
            block = np.broadcast_to(fill, (h.shape[0], self.n_items_)).astype(np.float32)
            if len(r):
                block[r, c] = self._predict(f)
            out[sl] = block
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._rank(users, self.user_items_[users], None)

    def _predict(self, f: np.ndarray) -> np.ndarray:
        # Threads only pay off on big batches: a single member's ~100 pairs run faster on one.
        threads = self.num_threads if len(f) >= 20_000 else 1
        return np.asarray(self._get_booster().predict(f, num_threads=threads), np.float32)

    def recommend(
        self,
        users: np.ndarray | int,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: sp.spmatrix | None = None,
        allowed_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` titles per member, best first (see :meth:`Recommender.recommend`).

        Serving path: the ranker scores the candidate pairs only and the top ``k`` is taken
        among them; titles outside the candidate set (ordered by popularity, as in
        :meth:`score_users`) are only looked at for members with fewer than ``k`` candidates.
        Business rules and ``exclude`` act before candidate generation. Unknown members get the
        popularity fallback.
        """
        check_is_fitted(self)
        if not exclude_seen:
            return super().recommend(
                users, k, exclude_seen=False, exclude=exclude, allowed_items=allowed_items
            )
        users = np.atleast_1d(np.asarray(users, dtype=np.int64))
        k = min(k, self.n_items_)
        allowed = None if allowed_items is None else np.asarray(allowed_items, dtype=bool)
        ex_all = None if exclude is None else sp.csr_matrix(exclude)
        gens = self._generators()
        ids_out = np.full((len(users), k), -1, np.int32)
        vals_out = np.full((len(users), k), -np.inf, np.float32)
        bs = self._batch_size()
        for start in range(0, len(users), bs):
            batch = users[start : start + bs]
            known = (batch >= 0) & (batch < self.n_users_)
            hist = self.user_items_[np.where(known, batch, 0)]
            if not known.all():
                hist = sp.csr_matrix(hist.multiply(known[:, None].astype(np.float32)))
            ex = None if ex_all is None else ex_all[start : start + len(batch)]
            kb = np.flatnonzero(known)
            r, c, f = self._pairs(
                gens,
                batch[kb],
                hist[kb],
                None,
                banned=None if ex is None else ex[kb],
                allowed=allowed,
            )
            pred = self._predict(f) if len(r) else np.empty(0, np.float32)
            order = np.lexsort((c, -pred, r))
            r, c, pred = r[order], c[order], pred[order]
            first = np.searchsorted(r, np.arange(len(kb)))
            pos = np.arange(len(r)) - first[r]
            top = pos < k
            rows = kb[r[top]] + start
            ids_out[rows, pos[top]] = c[top]
            vals_out[rows, pos[top]] = pred[top]
            n_cand = np.bincount(r, minlength=len(kb))
            short = np.flatnonzero(n_cand < k)
            if len(short):
                # Too few candidates for k (k=100 batches): the rest follow by popularity,
                # exactly as in score_users, without scoring the catalogue densely.
                blocked = [hist[kb[short]]]
                if ex is not None:
                    blocked.append(sp.csr_matrix(ex[kb[short]], dtype=np.float32))
                cand = np.isin(r, short)
                sr = np.searchsorted(short, r[cand])
                blocked.append(
                    sp.csr_matrix(
                        (np.ones(int(cand.sum()), np.float32), (sr, c[cand])),
                        shape=(len(short), self.n_items_),
                    )
                )
                self._fill_by_popularity(
                    sum(blocked[1:], blocked[0]).tocsr(),
                    n_cand[short],
                    kb[short] + start,
                    allowed,
                    ids_out,
                    vals_out,
                )
            unknown = np.flatnonzero(~known)
            if len(unknown):
                sub_ex = None if ex is None else ex[unknown]
                sub_ids, sub_vals = super().recommend(
                    batch[unknown], k, exclude=sub_ex, allowed_items=allowed_items
                )
                ids_out[start + unknown] = sub_ids
                vals_out[start + unknown] = sub_vals
        return ids_out, vals_out

    def _fill_by_popularity(
        self,
        blocked: sp.csr_matrix,
        have: np.ndarray,
        out_rows: np.ndarray,
        allowed: np.ndarray | None,
        ids_out: np.ndarray,
        vals_out: np.ndarray,
    ) -> None:
        """Append non-candidate titles by popularity after each row's ``have`` candidates."""
        k = ids_out.shape[1]
        pop = np.exp(self.item_logpop_)
        fill = (NON_CANDIDATE + pop / max(pop.max(), 1e-12)).astype(np.float32)
        order = np.lexsort((np.arange(self.n_items_), -fill))
        if allowed is not None:
            order = order[allowed[order]]
        m_top = min(len(order), k + int(np.diff(blocked.indptr).max(initial=0)))
        rr = np.repeat(np.arange(blocked.shape[0]), m_top)
        cc = np.tile(order[:m_top], blocked.shape[0])
        ok = lookup(blocked, rr, cc) == 0
        rr, cc = rr[ok], cc[ok]
        pos = np.arange(len(rr)) - np.searchsorted(rr, rr) + have[rr]
        keep = pos < k
        ids_out[out_rows[rr[keep]], pos[keep]] = cc[keep]
        vals_out[out_rows[rr[keep]], pos[keep]] = fill[cc[keep]]

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores for fresh interaction rows (fold-in through every generator), (n, n_items)."""
        check_is_fitted(self)
        m = fold_in_rows(rows, self.n_items_)
        cache: dict[int, np.ndarray] = {}

        def scorer(g: Recommender) -> np.ndarray:
            if id(g) not in cache:
                cache[id(g)] = g.score_history(m)  # type: ignore[attr-defined]
            return cache[id(g)].copy()

        last = np.full(m.shape[0], self.time_bins - 1, np.int64) if self.has_time_ else None
        return self._rank(np.full(m.shape[0], -1, np.int64), m, scorer, last)

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Similar titles from the item-kNN generator when there is one, else binary column cosine
        (titles sharing no member are never returned)."""
        check_is_fitted(self)
        for g in self._generators():
            if type(g).__name__ == "ItemKNN":
                return g.similar_items(item, k)
        if not 0 <= item < self.n_items_:
            raise IndexError(f"item index {item} outside 0..{self.n_items_ - 1}")
        cache = getattr(self, "_cosine_cache", None)
        if cache is None or cache[0] is not self.user_items_:
            # Column cosine over the histories; the transposed copy and norms are kept between
            # calls (a home page asks once per recent title).
            B = sp.csr_matrix(self.user_items_.T, dtype=np.float32)
            B.data[:] = 1.0
            norms = np.sqrt(np.asarray(B.sum(axis=1)).ravel())
            cache = (self.user_items_, B, norms)
            self._cosine_cache = cache
        _, B, norms = cache
        sims = np.asarray((B @ B[item].T).todense()).ravel() / np.maximum(
            norms * norms[item], 1e-12
        )
        sims[item] = -np.inf
        sims[sims <= 0] = -np.inf
        ids, vals = top_k(sims[None, :].astype(np.float32), k)
        return ids[0], vals[0]

    def feature_importance(self) -> dict[str, float]:
        """LightGBM gain importance of each feature, summing to 1."""
        check_is_fitted(self)
        gain = self._get_booster().feature_importance(importance_type="gain")
        total = max(float(gain.sum()), 1e-12)
        return {str(n): float(v) / total for n, v in zip(self.feature_names_, gain, strict=True)}
