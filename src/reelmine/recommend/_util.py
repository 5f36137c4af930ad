"""Small vectorised helpers shared by the top-N recommenders (sparse pruning, splits)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from reelmine.errors import DataError


def row_ids(m: sp.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix, shape ``(nnz,)``."""
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def rank_in_row(m: sp.csr_matrix, key: np.ndarray, *, descending: bool = True) -> np.ndarray:
    """Position (0 = first) of each stored entry within its row when sorted by ``key``.

    Ties break on column index so the result is deterministic.
    """
    rows = row_ids(m)
    k = -key if descending else key
    order = np.lexsort((m.indices, k, rows))
    rank = np.empty(m.nnz, dtype=np.int64)
    rank[order] = np.arange(m.nnz) - m.indptr[rows[order]]
    return rank


def prune_top_k(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest stored entries of every row (all of them when a row has fewer)."""
    m = sp.csr_matrix(m)
    m.eliminate_zeros()
    if k <= 0:
        return sp.csr_matrix(m.shape, dtype=m.dtype)
    keep = rank_in_row(m, m.data) < k
    rows = row_ids(m)[keep]
    out = sp.csr_matrix((m.data[keep], (rows, m.indices[keep])), shape=m.shape, dtype=m.dtype)
    out.sort_indices()
    return out


def holdout_last(
    interactions: sp.csr_matrix,
    times: sp.csr_matrix | None,
    fraction: float,
    *,
    random_state: int | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split each user's interactions: the last ``ceil(fraction * n_u)`` (by time) held out.

    ``times`` must have the same sparsity pattern as ``interactions``; without it the order
    within each user is random (seeded). A user always keeps at least one training interaction.
    Returns ``(train, holdout)`` with the shape of ``interactions``.
    """
    X = sp.csr_matrix(interactions)
    X.sort_indices()
    if times is not None:
        T = sp.csr_matrix(times)
        T.sort_indices()
        if T.nnz != X.nnz or not np.array_equal(T.indices, X.indices):
            raise DataError("times must have the same sparsity pattern as interactions")
        key = T.data.astype(np.float64)
    else:
        key = np.random.default_rng(random_state).random(X.nnz)
    n_u = np.diff(X.indptr)
    n_out = np.minimum(np.ceil(fraction * n_u).astype(np.int64), np.maximum(n_u - 1, 0))
    rank_from_end = rank_in_row(X, key, descending=True)  # 0 = most recent
    test = rank_from_end < np.repeat(n_out, n_u)
    rows = row_ids(X)

    def pick(mask: np.ndarray) -> sp.csr_matrix:
        out = sp.csr_matrix(
            (X.data[mask], (rows[mask], X.indices[mask])), shape=X.shape, dtype=X.dtype
        )
        out.sort_indices()
        return out

    return pick(~test), pick(test)


def l2_normalize_rows(a: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (zero rows stay zero)."""
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.maximum(norms, 1e-12)


def fold_in_rows(rows: sp.spmatrix | np.ndarray, n_items: int) -> sp.csr_matrix:
    """Validate fresh interaction rows (n, n_items) used for fold-in scoring."""
    m = sp.csr_matrix(rows, dtype=np.float32)
    if m.shape[1] != n_items:
        raise DataError(f"fold-in rows have {m.shape[1]} columns, the model knows {n_items} items")
    return m


def lookup(m: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Values ``m[r[i], c[i]]`` of a CSR matrix for parallel index arrays (0 where not stored).

    Vectorised: the stored entries' linear keys are sorted (CSR rows, sorted indices), so one
    ``searchsorted`` answers every pair; no dense row is ever built.
    """
    m = sp.csr_matrix(m)
    m.sort_indices()
    n_cols = np.int64(m.shape[1])
    keys = row_ids(m) * n_cols + m.indices
    q = np.asarray(r, dtype=np.int64) * n_cols + np.asarray(c, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, q), max(m.nnz - 1, 0))
    if m.nnz == 0:
        return np.zeros(len(q), dtype=m.dtype)
    hit = keys[pos] == q
    return np.where(hit, m.data[pos], 0).astype(m.dtype, copy=False)


def rows_times_columns(m: sp.csr_matrix, w: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``(m @ w)[r[i], c[i]]`` for a sparse ``m`` and dense ``w`` without the dense product.

    Each pair expands into the stored entries of its row of ``m`` (few: a member's recent
    titles), so the cost is ``sum_i nnz(m[r[i]])`` gathers instead of ``rows x n_cols`` cells.
    """
    m = sp.csr_matrix(m)
    r = np.asarray(r, dtype=np.int64)
    cnt = np.diff(m.indptr)[r]
    total = int(cnt.sum())
    if total == 0:
        return np.zeros(len(r), dtype=np.float32)
    pair = np.repeat(np.arange(len(r)), cnt)
    within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    ent = m.indptr[r][pair] + within
    vals = m.data[ent].astype(np.float32) * w[m.indices[ent], np.asarray(c)[pair]]
    return np.bincount(pair, weights=vals, minlength=len(r)).astype(np.float32)


@njit(cache=True, nogil=True)
def _worse(vals: np.ndarray, idx: np.ndarray, a: int, b: int) -> bool:
    """Heap order of the top-k selection: lower value, or equal value and higher index."""
    return vals[a] < vals[b] or (vals[a] == vals[b] and idx[a] > idx[b])


@njit(cache=True, nogil=True)
def _sift_down(vals: np.ndarray, idx: np.ndarray, pos: int, size: int) -> None:
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _worse(vals, idx, child + 1, child):
            child += 1
        if not _worse(vals, idx, child, pos):
            return
        vals[pos], vals[child] = vals[child], vals[pos]
        idx[pos], idx[child] = idx[child], idx[pos]
        pos = child


@njit(cache=True, nogil=True)
def top_k_rows(scores: np.ndarray, k: int, ids_out: np.ndarray, vals_out: np.ndarray) -> None:
    """Each row's ``k`` largest finite-or-``+inf`` entries into ``ids_out``/``vals_out``
    (``(n_rows, k)``), best first, ties by lower column; ``-inf`` and NaN entries are never
    chosen and short rows are padded with ``-1``/``-inf``.

    One pass per row with a size-``k`` min-heap: most entries cost a single comparison with
    the heap's worst, where ``np.argpartition`` moves the whole row several times. Releases the
    GIL, so batches can run on threads.
    """
    n_rows, n_cols = scores.shape
    heap_v = np.empty(k, np.float64)
    heap_i = np.empty(k, np.int64)
    for r in range(n_rows):
        size = 0
        for j in range(n_cols):
            v = scores[r, j]
            if not v > -np.inf:  # excluded (-inf) or undefined (NaN)
                continue
            if size < k:
                heap_v[size] = v
                heap_i[size] = j
                pos = size
                size += 1
                while pos > 0:  # sift up
                    parent = (pos - 1) // 2
                    if not _worse(heap_v, heap_i, pos, parent):
                        break
                    heap_v[pos], heap_v[parent] = heap_v[parent], heap_v[pos]
                    heap_i[pos], heap_i[parent] = heap_i[parent], heap_i[pos]
                    pos = parent
            elif v > heap_v[0]:
                # Columns come in increasing order, so an equal value never displaces the worst.
                heap_v[0] = v
                heap_i[0] = j
                _sift_down(heap_v, heap_i, 0, size)
        for pos in range(k - 1, size - 1, -1):
            ids_out[r, pos] = -1
            vals_out[r, pos] = -np.inf
        # Pop the worst into the last free slot: the row comes out best first.
        for pos in range(size - 1, -1, -1):
            ids_out[r, pos] = heap_i[0]
            vals_out[r, pos] = heap_v[0]
            heap_v[0] = heap_v[pos]
            heap_i[0] = heap_i[pos]
            _sift_down(heap_v, heap_i, 0, pos)
