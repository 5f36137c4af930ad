from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reelmine.recommend._util import lookup, rows_times_columns


def test_lookup_reads_stored_values_and_zeros() -> None:
    m = sp.csr_matrix(np.array([[0, 2.0, 0], [3.0, 0, 4.0]], np.float32))
    got = lookup(m, np.array([0, 0, 1, 1, 1]), np.array([0, 1, 0, 1, 2]))
    np.testing.assert_array_equal(got, [0, 2, 3, 0, 4])
    empty = sp.csr_matrix((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(lookup(empty, np.array([1]), np.array([2])), [0])


def test_rows_times_columns_equals_dense_product(rng: np.random.Generator) -> None:
    m = sp.random(7, 9, density=0.3, format="csr", random_state=1, dtype=np.float32)
    w = rng.standard_normal((9, 5)).astype(np.float32)
    r = rng.integers(0, 7, 40)
    c = rng.integers(0, 5, 40)
    np.testing.assert_allclose(rows_times_columns(m, w, r, c), (m @ w)[r, c], rtol=1e-5, atol=1e-6)
