"""Split invariants: sizes, no temporal leakage, stable ties, seeds, validation carving."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import ConfigError, DataError
from reelmine.recommend.evaluate import (
    Split,
    interaction_matrix,
    movielens_fold,
    random_split,
    split_matrices,
    take_rows,
    temporal_split,
    user_holdout_split,
    validation_split,
)


def _log(rng: np.random.Generator, n_users: int = 40, n: int = 1000) -> tuple[np.ndarray, ...]:
    users = rng.integers(0, n_users, n)
    items = rng.integers(0, 50, n)
    ts = rng.integers(0, 100, n)  # few distinct values: many ties
    return users, items, ts


def test_user_holdout_sizes_and_no_leakage(rng: np.random.Generator) -> None:
    users, _, ts = _log(rng)
    sp = user_holdout_split(users, ts, test_fraction=0.2)
    assert len(np.intersect1d(sp.train, sp.test)) == 0
    assert len(sp.train) + len(sp.test) == len(users)
    for u in np.unique(users):
        n_u = int((users == u).sum())
        te = sp.test[users[sp.test] == u]
        tr = sp.train[users[sp.train] == u]
        assert len(te) == min(int(np.ceil(0.2 * n_u)), n_u - 1)
        assert ts[te].min() >= ts[tr].max()  # every test event no earlier than any training one


def test_user_holdout_hand_example_ties_stable() -> None:
    # user 0: 10 events -> ceil(2.0) = 2 test; user 1: 3 events -> ceil(0.6) = 1 test;
    # user 2: 1 event stays in training. User 1's last two events tie at t=5: the later row
    # (row 12) is the test one.
    users = np.array([0] * 10 + [1, 1, 1, 2])
    ts = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 5, 5, 3])
    sp = user_holdout_split(users, ts, test_fraction=0.2)
    np.testing.assert_array_equal(sp.test, [0, 1, 12])
    sp_k = user_holdout_split(users, ts, test_fraction=None, last_k=2)
    np.testing.assert_array_equal(sp_k.test, [0, 1, 11, 12])
    with pytest.raises(ConfigError):
        user_holdout_split(users, ts, test_fraction=0.2, last_k=2)
    with pytest.raises(DataError):
        user_holdout_split(users[:3], ts, test_fraction=0.2)


def test_temporal_split() -> None:
    ts = np.array([5, 1, 3, 2, 4, 6, 7, 8, 9, 10])
    sp = temporal_split(ts, test_fraction=0.2)  # the latest 2 of 10: t >= 9
    np.testing.assert_array_equal(sp.test, [8, 9])
    sp = temporal_split(ts, cut=5)
    np.testing.assert_array_equal(np.sort(ts[sp.test]), [5, 6, 7, 8, 9, 10])
    dt = np.array(["2025-01-02", "2025-01-01", "2025-01-03"], dtype="datetime64[us]")
    sp = temporal_split(dt, cut=np.datetime64("2025-01-02"))
    np.testing.assert_array_equal(sp.test, [0, 2])


def test_random_split_seeded() -> None:
    a = random_split(100, test_fraction=0.25, random_state=7)
    b = random_split(100, test_fraction=0.25, random_state=7)
    c = random_split(100, test_fraction=0.25, random_state=8)
    assert len(a.test) == 25 and len(a.train) == 75
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)
    with pytest.raises(ConfigError):
        random_split(10, test_fraction=1.5)


def test_validation_carved_from_training(rng: np.random.Generator) -> None:
    users, _, ts = _log(rng)
    outer = user_holdout_split(users, ts, test_fraction=0.2)
    inner = user_holdout_split(users[outer.train], ts[outer.train], test_fraction=0.2)
    val = validation_split(outer, inner)
    assert len(np.intersect1d(val.test, outer.test)) == 0
    assert len(np.intersect1d(val.train, outer.test)) == 0
    assert len(val.train) + len(val.test) == len(outer.train)
    with pytest.raises(DataError):
        validation_split(outer, Split(np.arange(3), np.arange(3, 5)))


def test_apply_to_arrow_and_matrices() -> None:
    table = pa.table({"user": [0, 0, 1, 1], "item": [0, 1, 1, 2]})
    sp = Split(train=np.array([0, 2, 3]), test=np.array([1]))
    tr, te = sp.apply(table)
    assert tr["item"].to_pylist() == [0, 1, 2] and te["item"].to_pylist() == [1]
    np.testing.assert_array_equal(take_rows(np.array([5, 6, 7, 8]), np.array([3])), [8])
    # test item 3 never appears in training -> dropped from the test matrix by default
    users, items = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 2, 3])
    train, test = split_matrices(users, items, Split(np.array([0, 2, 3]), np.array([1, 4])))
    assert train.shape == test.shape == (2, 4)
    assert test.nnz == 1 and test[0, 1] == 1
    m = interaction_matrix(np.array([0, 0, -1]), np.array([1, 1, 0]), (1, 2))
    assert m[0, 1] == 2 and m.nnz == 1  # duplicates summed, unknown (-1) rows dropped


@pytest.mark.realdata
def test_movielens_fold(ml100k_dir) -> None:
    train, test = movielens_fold(ml100k_dir, 1)
    assert (train.num_rows, test.num_rows) == (80000, 20000)
    assert {"user_id", "title_id", "rating", "rated_at"} <= set(train.column_names)


def test_splits_accept_arrow_columns() -> None:
    # user a: 3 events -> ceil(1.5) = 2 test (rows 2, 3); user b: 2 -> 1 test (row 4)
    ts = pa.array([1, 2, 3, 4, 5], pa.int64()).cast(pa.timestamp("us"))
    table = pa.table({"user_id": ["a", "b", "a", "a", "b"], "rated_at": ts})
    sp = user_holdout_split(table["user_id"], table["rated_at"], test_fraction=0.5)
    np.testing.assert_array_equal(sp.test, [2, 3, 4])
    np.testing.assert_array_equal(temporal_split(table["rated_at"], test_fraction=0.4).test, [3, 4])
