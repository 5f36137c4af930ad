"""ID vocabularies: external string IDs <-> dense int32 indices, built once at the boundary."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Vocabulary:
    """An ordered, duplicate-free list of external IDs with O(1) lookups both ways.

    Unknown IDs map to ``-1`` so callers decide their fallback (cold start) explicitly.
    """

    def __init__(self, ids: Iterable[str] | pa.Array | np.ndarray) -> None:
        arr = ids if isinstance(ids, pa.Array) else pa.array(list(ids), type=pa.string())
        arr = arr.cast(pa.string())
        if arr.null_count:
            raise ValueError("a vocabulary cannot hold null IDs")
        if len(pc.unique(arr)) != len(arr):
            raise ValueError("a vocabulary cannot hold duplicate IDs")
        self._ids = arr

    @classmethod
    def from_values(
        cls, values: pa.Array | pa.ChunkedArray | np.ndarray | Iterable[str]
    ) -> Vocabulary:
        """Vocabulary of the distinct values, in sorted order (so it is reproducible)."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        arr = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
        arr = pc.drop_null(arr.cast(pa.string()))
        uniq = pc.unique(arr)
        return cls(pc.take(uniq, pc.sort_indices(uniq)))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> pa.Array:
        """External IDs, position = integer index."""
        return self._ids

    def index(self, values: pa.Array | pa.ChunkedArray | Iterable[str]) -> np.ndarray:
        """int32 indices of ``values``; ``-1`` where a value is unknown or null."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        arr = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
        idx = pc.index_in(arr.cast(pa.string()), value_set=self._ids)
        return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int32)

    def lookup(self, indices: np.ndarray) -> list[str]:
        """External IDs of integer indices (all must be valid)."""
        return pc.take(self._ids, pa.array(np.asarray(indices, dtype=np.int64))).to_pylist()

    def to_list(self) -> list[str]:
        return self._ids.to_pylist()
