"""Conformance mixin every top-N recommender passes, and the hand-made two-taste catalogue.

The catalogue: 60 members and 40 titles in two disjoint taste groups. Members 0-29 only ever
watch titles 0-19 ("drama"), members 30-59 only titles 20-39 ("comedy"); each watched 8 of
their group's 20 titles. A personalised model must recommend a member's own group first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from reelmine.errors import NotFittedError
from reelmine.recommend.base import Recommender

N_USERS, N_ITEMS, PER_USER = 60, 40, 8


def two_taste_data(seed: int = 7) -> dict[str, Any]:
    """Interactions, times, titles and genres of the two-taste catalogue."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(N_USERS):  # building a 60-row fixture, not model code
        group = 0 if u < N_USERS // 2 else 1
        items = rng.choice(20, PER_USER, replace=False) + 20 * group
        rows += [u] * PER_USER
        cols += items.tolist()
    rows_a, cols_a = np.asarray(rows), np.asarray(cols)
    # A few titles are far more popular inside each group, so rankings are not all ties.
    strength = np.where(cols_a % 20 < 5, 3.0, 1.0).astype(np.float32)
    X = sp.csr_matrix((strength, (rows_a, cols_a)), shape=(N_USERS, N_ITEMS))
    t = 1.7e9 + rng.permutation(len(rows_a)).astype(np.float64) * 3600.0
    T = sp.csr_matrix((t, (rows_a, cols_a)), shape=(N_USERS, N_ITEMS))
    X.sort_indices()
    T.sort_indices()
    genre = ["Drama"] * 20 + ["Comedy"] * 20
    desc = ["a sad story of loss and grief"] * 20 + ["a funny romp full of jokes"] * 20
    titles = pa.table(
        {
            "title_id": [f"t{i}" for i in range(N_ITEMS)],
            "name": [f"Title {i}" for i in range(N_ITEMS)],
            "genres": [[g] for g in genre],
            "description": desc,
            "language": ["en"] * N_ITEMS,
            "release_year": [1990 + i % 30 for i in range(N_ITEMS)],
        }
    )
    genres = np.zeros((N_ITEMS, 2), np.float32)
    genres[:20, 0] = 1.0
    genres[20:, 1] = 1.0
    return {"X": X, "times": T, "titles": titles, "item_genres": genres}


class RecommenderConformance:
    """Mix into a test class and define :meth:`make` (and :meth:`fit_kwargs` if needed)."""

    personalised = True  # popularity is not: it skips the taste-group checks

    def make(self, **overrides: Any) -> Recommender:
        raise NotImplementedError

    def fit_kwargs(self, data: dict[str, Any]) -> dict[str, Any]:
        return {}

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> dict[str, Any]:
        return two_taste_data()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: dict[str, Any]) -> Recommender:
        self = cls()
        return self.make(random_state=3).fit(data["X"], **self.fit_kwargs(data))

    def test_fit_returns_self_and_learns(self, data: dict[str, Any]) -> None:
        model = self.make(random_state=3)
        assert model.fit(data["X"], **self.fit_kwargs(data)) is model
        assert (model.n_users_, model.n_items_) == (N_USERS, N_ITEMS)

    def test_user_indexed_state_is_named_user(self, fitted: Recommender) -> None:
        """Erasure (reelmine.privacy) folds a member out of every saved array whose name starts
        with ``user``: any learned array indexed by member must follow that convention."""

        def walk(model: Any, prefix: str = "") -> list[str]:
            bad = []
            for name, value in model._learned().items():
                rows = getattr(value, "shape", (None,))[0] if getattr(value, "ndim", 0) else None
                if rows == model.n_users_ and not name.startswith("user"):
                    bad.append(prefix + name)
                if hasattr(value, "_learned") and hasattr(value, "n_users_"):
                    bad += walk(value, f"{prefix}{name}.")
            return bad

        assert fitted.n_users_ != fitted.n_items_, "test data must tell users from items"
        assert walk(fitted) == []

    def test_unfitted_raises(self) -> None:
        with pytest.raises(NotFittedError):
            self.make().recommend(np.arange(3), 5)

    def test_shapes_and_order(self, fitted: Recommender) -> None:
        ids, scores = fitted.recommend(np.arange(N_USERS), 10)
        assert ids.shape == scores.shape == (N_USERS, 10)
        assert ids.dtype == np.int32 and scores.dtype == np.float32
        assert (ids >= 0).all()
        assert (np.diff(scores, axis=1) <= 1e-6).all(), "scores must be sorted best first"
        assert all(len(set(row)) == 10 for row in ids.tolist()), "no duplicate items"

    def test_seen_items_excluded(self, fitted: Recommender, data: dict[str, Any]) -> None:
        ids, _ = fitted.recommend(np.arange(N_USERS), 20)
        seen = data["X"][np.arange(N_USERS)[:, None], ids].toarray()
        assert not seen.any()
        ids_all, _ = fitted.recommend(np.arange(N_USERS), N_ITEMS, exclude_seen=False)
        assert (ids_all >= 0).all()  # nothing excluded: every title is ranked

    def test_padding_when_few_items_eligible(
        self, fitted: Recommender, data: dict[str, Any]
    ) -> None:
        allowed = np.zeros(N_ITEMS, bool)
        allowed[[0, 1, 2, 25]] = True
        ids, _ = fitted.recommend(np.arange(N_USERS), 6, allowed_items=allowed)
        X = data["X"]
        for u in (0, 45):
            eligible = {i for i in (0, 1, 2, 25) if X[u, i] == 0}
            got = ids[u][ids[u] >= 0]
            assert set(got.tolist()) == eligible
            assert (ids[u][len(eligible) :] == -1).all()

    def test_unknown_users_get_fallback(self, fitted: Recommender) -> None:
        ids, scores = fitted.recommend(np.array([-1, N_USERS + 5]), 5)
        assert (ids >= 0).all() and np.isfinite(scores).all()
        assert (ids[0] == ids[1]).all()

    def test_save_load_roundtrip(self, fitted: Recommender, tmp_path: Path) -> None:
        fitted.save(tmp_path / "model")
        loaded = type(fitted).load(tmp_path / "model")
        a_ids, a_sc = fitted.recommend(np.arange(N_USERS), 10)
        b_ids, b_sc = loaded.recommend(np.arange(N_USERS), 10)
        np.testing.assert_array_equal(a_ids, b_ids)
        np.testing.assert_allclose(a_sc, b_sc, rtol=1e-5, atol=1e-6)
        assert Recommender.load(tmp_path / "model").__class__ is type(fitted)

    def test_deterministic_with_random_state(
        self, fitted: Recommender, data: dict[str, Any]
    ) -> None:
        again = self.make(random_state=3).fit(data["X"], **self.fit_kwargs(data))
        np.testing.assert_array_equal(
            fitted.recommend(np.arange(N_USERS), 10)[0], again.recommend(np.arange(N_USERS), 10)[0]
        )

    def test_recommends_own_taste_group(self, fitted: Recommender) -> None:
        if not self.personalised:
            pytest.skip("not a personalised model")
        ids, _ = fitted.recommend(np.arange(N_USERS), 5)
        group = (ids >= 20).astype(int)
        expected = (np.arange(N_USERS) >= N_USERS // 2).astype(int)[:, None]
        assert (group == expected).mean() >= 0.95

    def test_fold_in_history(self, fitted: Recommender) -> None:
        if not self.personalised:
            pytest.skip("not a personalised model")
        rows = sp.csr_matrix(
            (np.ones(3, np.float32), ([0, 0, 0], [21, 22, 23])), shape=(1, N_ITEMS)
        )
        scores = fitted.score_history(rows)  # type: ignore[attr-defined]
        assert scores.shape == (1, N_ITEMS)
        scores[0, [21, 22, 23]] = -np.inf
        top = np.argsort(-scores[0], kind="stable")[:5]
        assert (top >= 20).all(), f"a comedy watcher got {top}"

    def test_update_history_folds_in_new_member(self, data: dict[str, Any]) -> None:
        model = self.make(random_state=3).fit(data["X"], **self.fit_kwargs(data))
        new_row = sp.csr_matrix(
            (np.ones(4, np.float32), ([0, 0, 0, 0], [20, 21, 22, 23])), shape=(1, N_ITEMS)
        )
        X2 = sp.vstack([data["X"], new_row]).tocsr()
        assert model.update_history(X2) is model  # type: ignore[attr-defined]
        assert model.n_users_ == N_USERS + 1
        ids, _ = model.recommend(N_USERS, 5)
        assert not set(ids[0].tolist()) & {20, 21, 22, 23}  # the new plays count as seen
        if self.personalised:
            assert (ids[0] >= 20).all()

    def test_score_pairs_match_dense_scores(self, fitted: Recommender) -> None:
        """Models serving pair scores (hybrid features) must agree with their dense scores."""
        if not hasattr(fitted, "score_pairs"):
            pytest.skip("no pair scoring")
        rows = sp.csr_matrix(
            (np.ones(5, np.float32), ([0, 0, 0, 1, 1], [21, 22, 23, 2, 3])), shape=(2, N_ITEMS)
        )
        dense = fitted.score_history(rows)  # type: ignore[attr-defined]
        r = np.repeat([0, 1], N_ITEMS)
        c = np.tile(np.arange(N_ITEMS), 2)
        got = fitted.score_pairs(rows, r, c)
        np.testing.assert_allclose(got, dense[r, c], rtol=1e-4, atol=1e-5)
