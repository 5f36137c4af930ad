"""The release gate: minimum group size with complementary suppression.

Every aggregate that leaves reelmine (CLI, API, dashboard, exports) passes :func:`release`.

Rules
-----
1. **Primary suppression**: a cell describing fewer than ``k`` distinct members (the
   ``members`` column) is suppressed.
2. **Complementary suppression**: totals along any group-by dimension may be published (in
   this table as total rows, or by another breakdown released alongside, e.g. "plays by
   country" next to "plays by country and device"). A *line* is the set of cells that share
   every group-by value but one, plus that line's total row when the table carries one (a
   total row holds null in the summed-over column, as SQL ``ROLLUP``/``CUBE`` produce). If a
   line holds exactly one suppressed entry, total minus the others would give it back, so the
   gate also suppresses the line's smallest remaining entry (fewest members; cells before
   total rows). It repeats over all dimensions until every line holds zero or at least two
   suppressed entries; hierarchical totals are lines like any other.
3. Suppressed cells keep their group-by values but every other column becomes null, with
   ``suppressed = True`` and ``suppression`` = ``"small"`` or ``"complementary"``: they are
   shown as suppressed, never as zero.

Limits: the rule defeats differencing of one total; it is the classical line rule of
statistical disclosure control, not a full linear-programming audit, so a determined analyst
combining many overlapping releases may still bound (not recover exactly) a suppressed value.
Differential privacy (:mod:`reelmine.privacy.dp`) is the answer for such workloads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import DataError, MissingColumnError, PrivacyError
from reelmine.settings import Settings

MEMBERS = "members"
SUPPRESSED = "suppressed"
REASON = "suppression"


def _codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Dense integer codes of a column; null (a total row) gets its own code ``-1``."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    enc = pc.dictionary_encode(arr.cast(pa.string()) if pa.types.is_dictionary(arr.type) else arr)
    idx = enc.indices.fill_null(-1) if enc.null_count else enc.indices
    return np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)


def suppression_mask(
    members: np.ndarray, codes: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Primary and complementary suppression on integer-coded cells.

    Parameters
    ----------
    members : int array (n,), distinct members behind each cell.
    codes : int array (n, d), one code per group-by column; ``-1`` marks a total over it.
    k : minimum group size.

    Returns
    -------
    primary, complementary : bool arrays (n,).
    """
    n = len(members)
    primary = members < k
    supp = primary.copy()
    if n == 0 or codes.shape[1] == 0:
        return primary, np.zeros(n, bool)
    d = codes.shape[1]
    is_total: np.ndarray = np.asarray((codes < 0).any(axis=1), dtype=bool)
    # Lines along dimension j: rows sharing every other code. Keys computed once per dimension.
    lines = []
    for j in range(d):
        others = np.delete(codes, j, axis=1)
        _, line = np.unique(others, axis=0, return_inverse=True)
        lines.append(line.ravel())
    # Candidate order inside a line: cells before totals, then fewest members, then row index.
    changed = True
    while changed:
        changed = False
        for j in range(d):
            line = lines[j]
            n_lines = int(line.max()) + 1
            n_supp = np.bincount(line, weights=supp, minlength=n_lines)
            n_all = np.bincount(line, minlength=n_lines)
            need: np.ndarray = np.asarray((n_supp == 1) & (n_all >= 2), dtype=bool)
            if not need.any():
                continue
            rows = np.flatnonzero(need[line] & ~supp)
            order = np.lexsort((rows, members[rows], is_total[rows], line[rows]))
            rows = rows[order]
            first = np.ones(len(rows), bool)
            first[1:] = line[rows[1:]] != line[rows[:-1]]
            supp[rows[first]] = True
            changed = True
    return primary, supp & ~primary


def release(
    table: pa.Table,
    *,
    group_by: Sequence[str],
    k: int | None = None,
    totals: bool = True,
    members: str = MEMBERS,
    settings: Settings | None = None,
    drop_members: bool = False,
) -> pa.Table:
    """Suppress small cells of an aggregate table, with complementary suppression.

    Parameters
    ----------
    table : one row per cell: the ``group_by`` columns, a distinct-members count column
        (``members``) and any value columns. Total rows carry null in the columns they sum over.
    group_by : the columns that identify a cell.
    k : minimum group size; default ``settings.min_group_size`` (10).
    totals : apply complementary suppression (default). ``False`` only for a table whose
        cells have no totals anywhere (each member in exactly one cell and no marginal ever
        published); it is the caller's promise.
    members : name of the distinct-members column.
    settings : source of the default ``k``.
    drop_members : also drop the members column from the output.

    Returns
    -------
    The same rows in the same order; in suppressed rows every non-group column is null, plus
    ``suppressed`` (bool) and ``suppression`` (``"small"``, ``"complementary"`` or null).

    Raises
    ------
    MissingColumnError
        When ``members`` or a group-by column is missing.
    PrivacyError
        When ``k`` is below 1.
    """
    if k is None:
        k = (settings or Settings()).min_group_size
    if k < 1:
        raise PrivacyError(f"minimum group size k must be at least 1, got {k}")
    missing = [c for c in [*group_by, members] if c not in table.column_names]
    if missing:
        raise MissingColumnError(
            f"release gate: aggregate has no column(s) {', '.join(missing)}; it has "
            f"{', '.join(table.column_names)} (every aggregate needs a {members!r} count)"
        )
    if SUPPRESSED in table.column_names:
        raise DataError(f"release gate: table already has a {SUPPRESSED!r} column")
    m = table[members].combine_chunks()
    if m.null_count:
        raise DataError(f"release gate: column {members!r} has nulls; it must count members")
    member_np = np.asarray(m.to_numpy(zero_copy_only=False), dtype=np.int64)
    codes = (
        np.column_stack([_codes(table[c]) for c in group_by])
        if group_by and totals
        else np.zeros((table.num_rows, 0), np.int64)
    )
    primary, comp = suppression_mask(member_np, codes, int(k))
    supp = primary | comp
    mask = pa.array(supp)
    out = {}
    for name in table.column_names:
        col = table[name]
        if name in group_by:
            out[name] = col
        else:
            out[name] = pc.if_else(mask, pa.scalar(None, col.type), col)
    reason = [
        ("small" if p else "complementary" if c else None)
        for p, c in zip(primary.tolist(), comp.tolist(), strict=True)
    ]
    out[SUPPRESSED] = mask
    out[REASON] = pa.array(reason, pa.string())
    result = pa.table(out)
    if drop_members:
        result = result.drop_columns([members])
    return result
