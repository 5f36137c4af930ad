"""Feature table -> model matrix: numeric columns as floats, categoricals as learned codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import MissingColumnError, NotFittedError
from reelmine.marketing.features import CATEGORICAL


class FeatureEncoder:
    """Encode a member-feature table as a float matrix (NaN = missing).

    Numeric columns pass through; categorical columns (:data:`CATEGORICAL`) become integer codes
    from the vocabulary seen in ``fit`` (unseen values become NaN), or one-hot indicator columns
    with ``one_hot=True`` (for linear models and clustering).

    Parameters
    ----------
    columns : feature columns to use; ``None`` = every column but ``user_id``.
    one_hot : one indicator column per category instead of a code column.
    """

    def __init__(self, *, columns: Sequence[str] | None = None, one_hot: bool = False) -> None:
        self.columns = columns
        self.one_hot = one_hot

    def fit(self, table: pa.Table) -> FeatureEncoder:
        """Learn the columns and the category vocabularies; returns ``self``."""
        cols = list(self.columns) if self.columns is not None else table.column_names
        cols = [c for c in cols if c != "user_id"]
        missing = [c for c in cols if c not in table.column_names]
        if missing:
            raise MissingColumnError(f"feature table lacks column(s) {', '.join(missing)}")
        self.columns_ = cols
        self.categories_: dict[str, list[str]] = {}
        for c in cols:
            if c in CATEGORICAL or pa.types.is_string(table[c].type):
                values = pc.unique(pc.fill_null(table[c], "unknown")).to_pylist()
                self.categories_[c] = sorted(str(v) for v in values)
        names: list[str] = []
        for c in cols:
            if c in self.categories_ and self.one_hot:
                names.extend(f"{c}={v}" for v in self.categories_[c])
            else:
                names.append(c)
        self.feature_names_ = names
        return self

    @property
    def categorical_indices_(self) -> list[int]:
        """Positions of code-encoded categorical columns (for LightGBM)."""
        if self.one_hot:
            return []
        return [i for i, c in enumerate(self.feature_names_) if c in self.categories_]

    def transform(self, table: pa.Table) -> np.ndarray:
        """The (n_members, n_features) float matrix of ``table``."""
        if not hasattr(self, "columns_"):
            raise NotFittedError("FeatureEncoder.transform called before fit")
        parts: list[np.ndarray] = []
        for c in self.columns_:
            if c not in table.column_names:
                raise MissingColumnError(f"feature table lacks column {c!r}")
            if c in self.categories_:
                vocab = pa.array(self.categories_[c])
                idx = pc.index_in(pc.fill_null(table[c], "unknown"), value_set=vocab)
                codes = np.asarray(
                    pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64
                )
                if self.one_hot:
                    hot = codes[:, None] == np.arange(len(vocab))[None, :]
                    parts.append(hot.astype(np.float64))
                else:
                    parts.append(np.where(codes < 0, np.nan, codes).astype(np.float64)[:, None])
            else:
                arr = pc.cast(table[c], pa.float64()).to_numpy(zero_copy_only=False)
                parts.append(np.asarray(arr, dtype=np.float64)[:, None])
        if not parts:
            return np.zeros((table.num_rows, 0))
        return np.hstack(parts)

    def fit_transform(self, table: pa.Table) -> np.ndarray:
        """``fit`` then ``transform``."""
        return self.fit(table).transform(table)


def user_ids(table: pa.Table) -> np.ndarray:
    """The ``user_id`` column as a NumPy object array."""
    if "user_id" not in table.column_names:
        raise MissingColumnError("feature table lacks column 'user_id'")
    return np.asarray(table["user_id"].to_pylist(), dtype=object)
