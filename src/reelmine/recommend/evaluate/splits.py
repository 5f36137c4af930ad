"""Train/test splits of interaction logs: random, global temporal, per-user holdout, MovieLens.

Every split works on parallel arrays (one entry per interaction) and returns a :class:`Split`
of row indices, so it applies equally to NumPy arrays and Arrow tables (:func:`take_rows`).
Splits never look at ratings; only user, timestamp and a seed decide who lands where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from reelmine.errors import ConfigError, DataError

T = TypeVar("T", np.ndarray, pa.Table)


@dataclass(frozen=True)
class Split:
    """Row indices of the training and test parts (disjoint, each sorted ascending)."""

    train: np.ndarray
    test: np.ndarray

    def apply(self, data: T) -> tuple[T, T]:
        """``(train, test)`` rows of an array or Arrow table with one row per interaction."""
        return take_rows(data, self.train), take_rows(data, self.test)


def take_rows(data: T, rows: np.ndarray) -> T:
    """Rows ``rows`` of a NumPy array (first axis) or an Arrow table."""
    if isinstance(data, pa.Table):
        return data.take(pa.array(np.asarray(rows, dtype=np.int64)))
    return np.asarray(data)[rows]


def _check_fraction(fraction: float, name: str = "test_fraction") -> None:
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {fraction}")


def _as_1d(values: Any, name: str) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = values.to_numpy(zero_copy_only=False)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _from_mask(test_mask: np.ndarray) -> Split:
    return Split(train=np.flatnonzero(~test_mask), test=np.flatnonzero(test_mask))


def random_split(
    n_rows: int,
    *,
    test_fraction: float = 0.2,
    random_state: int | np.random.Generator | None = None,
) -> Split:
    """Uniformly random split of ``n_rows`` interactions.

    Exactly ``round(test_fraction * n_rows)`` rows go to the test part; the same seed always
    gives the same split.
    """
    _check_fraction(test_fraction)
    rng = np.random.default_rng(random_state)
    n_test = int(round(test_fraction * n_rows))
    mask = np.zeros(n_rows, dtype=bool)
    mask[rng.permutation(n_rows)[:n_test]] = True
    return _from_mask(mask)


def temporal_split(timestamps: Any, *, cut: Any = None, test_fraction: float = 0.2) -> Split:
    """Global temporal cut: interactions at or after ``cut`` are test, earlier ones train.

    Parameters
    ----------
    timestamps : array of shape (n,), any ordered type (datetime64, int seconds ...).
    cut : the first test instant; when omitted, the ``1 - test_fraction`` quantile of the
        timestamps (the latest ``test_fraction`` of interactions, ties kept together).
    """
    ts = _as_1d(timestamps, "timestamps")
    if cut is None:
        _check_fraction(test_fraction)
        order = np.sort(ts, kind="stable")
        cut = order[min(len(ts) - 1, int(np.floor((1.0 - test_fraction) * len(ts))))]
    return _from_mask(ts >= np.asarray(cut, dtype=ts.dtype))


def user_holdout_split(
    users: Any,
    timestamps: Any,
    *,
    test_fraction: float | None = 0.2,
    last_k: int | None = None,
    min_train: int = 1,
) -> Split:
    """Per-user temporal holdout: each user's latest interactions are test.

    Each user's history is ordered by timestamp, ties broken by row order (stable), and the
    last ``ceil(test_fraction * n_u)`` (or the last ``last_k``) interactions go to the test
    part, keeping at least ``min_train`` in training (users with ``n_u <= min_train`` stay
    wholly in training). So for every user every test interaction is no earlier than any of
    their training ones.
    """
    u = _as_1d(users, "users")
    ts = _as_1d(timestamps, "timestamps")
    if len(u) != len(ts):
        raise DataError(f"users has {len(u)} rows but timestamps has {len(ts)}")
    if (test_fraction is None) == (last_k is None):
        raise ConfigError("give exactly one of test_fraction and last_k")
    if test_fraction is not None:
        _check_fraction(test_fraction)
    if last_k is not None and last_k < 1:
        raise ConfigError(f"last_k must be >= 1, got {last_k}")
    n = len(u)
    if n == 0:
        return Split(np.empty(0, np.int64), np.empty(0, np.int64))
    # Sort by (user, timestamp, row): lexsort's last key is primary and it is stable.
    order = np.lexsort((np.arange(n), ts, u))
    us = u[order]
    starts = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
    sizes = np.diff(np.r_[starts, n])
    if last_k is not None:
        n_test = np.full(len(sizes), last_k, dtype=np.int64)
    else:
        # Subtract a hair so 0.2 * 10 = 2.0000000000000004 is not rounded up to 3.
        n_test = np.ceil(test_fraction * sizes - 1e-9).astype(np.int64)
    n_test = np.clip(n_test, 0, np.maximum(sizes - min_train, 0))
    pos = np.arange(n) - np.repeat(starts, sizes)  # rank within the user's history
    is_test_sorted = pos >= np.repeat(sizes - n_test, sizes)
    mask = np.zeros(n, dtype=bool)
    mask[order[is_test_sorted]] = True
    return _from_mask(mask)


def validation_split(split: Split, inner: Split) -> Split:
    """Carve a validation split from the training part of ``split``.

    ``inner`` is a split of the ``len(split.train)`` training rows (e.g. from
    :func:`user_holdout_split` on the training arrays); the result indexes the original
    rows, and its test part is disjoint from ``split.test``, so tuning never sees test data.
    """
    if len(inner.train) + len(inner.test) != len(split.train):
        raise DataError(
            f"inner split covers {len(inner.train) + len(inner.test)} rows, "
            f"training part has {len(split.train)}"
        )
    return Split(train=split.train[inner.train], test=split.train[inner.test])


def movielens_fold(path: str | Path, fold: int | str) -> tuple[pa.Table, pa.Table]:
    """ml-100k predefined fold ``uN.base``/``uN.test`` (``fold`` 1..5, 'a' or 'b') as tables.

    Columns: user_id, title_id, rating, rated_at (see :mod:`reelmine.data.schema`).
    """
    from reelmine.data.movielens import read_movielens_fold

    result: tuple[pa.Table, pa.Table] = read_movielens_fold(Path(path), fold)
    return result
