"""Differentially private counts, sums, means, quantiles and histograms by group (OpenDP).

Pipeline of every release
-------------------------
1. **Contribution bounding** (vectorised NumPy): each member keeps at most
   ``groups_per_member`` groups (G) and at most ``rows_per_member`` rows (L) in each, chosen
   at random; values are clamped to ``[lo, hi]``.
2. **Noise through OpenDP measurements**, each checked with its privacy map:

   * counts: ``make_laplace_threshold`` over the map of group -> count with input distance
     ``(G, G*L, L)`` (l0, l1, l-inf). Groups come from the data, so which groups exist is
     itself protected by the threshold (approximate DP, ``delta`` default 1e-6); with no
     group-by, or public keys, plain ``make_laplace`` on the vector (pure DP).
   * sums: ``make_laplace`` on the vector of clamped sums, l1 sensitivity ``G*L*max(|lo|,|hi|)``.
   * means: noisy sum / noisy count, epsilon split in halves.
   * quantiles: ``make_private_quantile`` per group (exponential mechanism over a 101-point
     grid of candidates in ``[lo, hi]``), epsilon split evenly over the G groups a member may
     touch (parallel composition).
   * histograms: counts by group and bin (``bins`` edges are public).
3. Every number carries its ``noise_scale`` and ``error95``: the half-width that the noise
   stays within with 95% probability (Laplace: ``scale * ln(20)``, i.e. ``ln(20)/epsilon``
   ≈ 3.0 for a count at epsilon 1 with one row per member; OpenDP's float Laplace samples
   the continuous distribution exactly on a fine grid, so this is the continuous bound).

For sums and quantiles without public keys, half the epsilon buys the thresholded count that
selects the groups (published too, as ``count``); the other half buys the statistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import opendp.prelude as dp
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import ConfigError, PrivacyError

dp.enable_features("contrib")

DEFAULT_DELTA = 1e-6
ALPHA = 0.05  # error bounds are 95%
STATISTICS = ("count", "sum", "mean", "quantile", "histogram")
_KEY_SEP = "\x1f"


@dataclass(frozen=True)
class Bounds:
    """Per-member contribution bounds.

    Parameters
    ----------
    rows_per_member : L, rows a member may contribute to one group.
    groups_per_member : G, groups a member may contribute to.
    """

    rows_per_member: int = 1
    groups_per_member: int = 1

    def __post_init__(self) -> None:
        if self.rows_per_member < 1 or self.groups_per_member < 1:
            raise ConfigError("rows_per_member and groups_per_member must be at least 1")


def _codes(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    enc = pc.dictionary_encode(arr)
    return np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)), enc.dictionary


def _rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """0-based position of each element inside its run of equal (sorted) keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.int64)
    start = np.r_[True, keys[1:] != keys[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    return np.arange(n) - first


def bound_contributions(
    members: np.ndarray, groups: np.ndarray, bounds: Bounds, rng: np.random.Generator
) -> np.ndarray:
    """Boolean mask of the rows kept: at most G random groups per member, L random rows each.

    Parameters
    ----------
    members, groups : int arrays (n,) of member and group codes.
    """
    n = len(members)
    keep = np.zeros(n, bool)
    if n == 0:
        return keep
    pair = members.astype(np.int64) * (int(groups.max()) + 2) + (groups.astype(np.int64) + 1)
    _, pair_code = np.unique(pair, return_inverse=True)
    pair_code = pair_code.ravel()
    # A random priority per (member, group): a member keeps its G highest-priority groups.
    prio = rng.random(int(pair_code.max()) + 1)
    pair_member = np.zeros(len(prio), np.int64)
    pair_member[pair_code] = members
    porder = np.lexsort((prio, pair_member))
    pair_ok = np.zeros(len(prio), bool)
    pair_ok[porder] = _rank_in_runs(pair_member[porder]) < bounds.groups_per_member
    # Inside a kept pair, L random rows.
    order = np.lexsort((rng.random(n), pair_code))
    keep[order] = _rank_in_runs(pair_code[order]) < bounds.rows_per_member
    return keep & pair_ok[pair_code]


def laplace_error95(scale: float) -> float:
    """Half-width of the 95% interval of Laplace noise of ``scale`` (``scale * ln 20``)."""
    return float(dp.laplacian_scale_to_accuracy(scale, ALPHA)) if scale > 0 else 0.0


def _vector_laplace(
    values: np.ndarray, sensitivity: float, epsilon: float
) -> tuple[np.ndarray, float]:
    scale = sensitivity / epsilon
    meas = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float), scale
    )
    if meas.map(float(sensitivity)) > epsilon * (1 + 1e-9):
        raise PrivacyError("internal: Laplace measurement exceeds its epsilon")
    return np.asarray(meas([float(v) for v in values]), float), scale


def _threshold_counts(
    counts: dict[str, float], bounds: Bounds, epsilon: float, delta: float
) -> tuple[dict[str, float], float, float]:
    """Laplace-threshold release of a map of counts: noisy counts of the groups that pass."""
    G, L = bounds.groups_per_member, bounds.rows_per_member
    d_in = (G, float(G * L), float(L))
    dom = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=float, nan=False))
    met = dp.l01inf_distance(dp.absolute_distance(T=float))

    def make(scale: float, threshold: float) -> dp.Measurement:
        return dp.m.make_laplace_threshold(dom, met, scale=scale, threshold=threshold)

    scale = G * L / epsilon
    # Smallest threshold (to 1%) whose delta fits; eps part is fixed by the scale.
    lo, hi = float(L), float(L) + scale * 100
    for _ in range(40):
        mid = (lo + hi) / 2
        if make(scale, mid).map(d_in)[1] <= delta:
            hi = mid
        else:
            lo = mid
    eps_used, delta_used = make(scale, hi).map(d_in)
    if eps_used > epsilon * (1 + 1e-6) or delta_used > delta:
        raise PrivacyError("internal: threshold measurement exceeds its budget")
    released = make(scale, hi)(counts)
    return {str(k): float(v) for k, v in released.items()}, scale, hi


@dataclass(frozen=True)
class _Prepared:
    keys: pa.Table  # distinct group keys (one row per group)
    group: np.ndarray  # group code of each kept row
    member: np.ndarray
    value: np.ndarray | None


def _prepare(
    table: pa.Table,
    member: str,
    group_by: Sequence[str],
    value: str | None,
    bounds: Bounds,
    rng: np.random.Generator,
) -> _Prepared:
    missing = [
        c for c in [member, *group_by, *([value] if value else [])] if c not in table.column_names
    ]
    if missing:
        raise ConfigError(f"DP release: no column(s) {', '.join(missing)} in the input")
    m_codes, _ = _codes(table[member])
    if group_by:
        parts = [pc.cast(table[c], pa.string()).fill_null("\x00null") for c in group_by]
        joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _KEY_SEP)
        g_codes, g_dict = _codes(joined)
    else:
        g_codes, g_dict = np.zeros(table.num_rows, np.int64), pa.array([""])
    keep = bound_contributions(m_codes, g_codes, bounds, rng) & (m_codes >= 0)
    vals = None
    if value is not None:
        v = pc.cast(table[value], pa.float64()).to_numpy(zero_copy_only=False)
        vals = np.asarray(v, float)
        keep &= np.isfinite(vals)
        vals = vals[keep]
    keys = {"_key": g_dict}
    return _Prepared(pa.table(keys), g_codes[keep], m_codes[keep], vals)


def _key_table(keys: list[str], group_by: Sequence[str]) -> dict[str, list[str | None]]:
    cols: dict[str, list[str | None]] = {c: [] for c in group_by}
    for k in keys:
        parts = k.split(_KEY_SEP) if len(group_by) > 1 else [k]
        for c, p in zip(group_by, parts, strict=True):
            cols[c].append(None if p == "\x00null" else p)
    return cols


def dp_release(
    table: pa.Table,
    *,
    statistic: str,
    epsilon: float,
    member: str = "user_id",
    group_by: Sequence[str] = (),
    value: str | None = None,
    bounds: Bounds | None = None,
    clamp: tuple[float, float] | None = None,
    quantile: float = 0.5,
    bins: Sequence[float] | None = None,
    delta: float = DEFAULT_DELTA,
    public_keys: bool = False,
    random_state: int | np.random.Generator | None = None,
) -> pa.Table:
    """A differentially private statistic by group.

    Parameters
    ----------
    table : row-level input: a member column, the group-by columns and (except for counts) the
        value column.
    statistic : ``count``, ``sum``, ``mean``, ``quantile`` or ``histogram``.
    epsilon : privacy loss of the whole release (> 0).
    member : column naming the member (pseudonym) for contribution bounding.
    group_by : group columns.
    value : numeric column for sum, mean, quantile and histogram.
    bounds : rows per member and groups per member (default 1 and 1).
    clamp : ``(lo, hi)`` value bounds, required for sum, mean and quantile.
    quantile : which quantile (0..1) for ``quantile``.
    bins : bin edges for ``histogram`` (public); values outside fall in the end bins.
    delta : approximate-DP delta spent to hide which groups exist (data-dependent keys).
    public_keys : the groups present in ``table`` are public knowledge (e.g. a fixed list of
        device types): no threshold, pure DP.
    random_state : seeds only the contribution sampling; noise comes from OpenDP's secure RNG.

    Returns
    -------
    Arrow table: the group-by columns (and ``bin`` for histograms), ``value``,
    ``noise_scale``, ``error95``, plus ``count`` / ``count_error95`` when a count was
    released alongside.
    """
    if statistic not in STATISTICS:
        raise ConfigError(f"unknown statistic {statistic!r}; choose one of {', '.join(STATISTICS)}")
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise PrivacyError(f"epsilon must be a positive number, got {epsilon}")
    bounds = bounds or Bounds()
    rng = (
        random_state
        if isinstance(random_state, np.random.Generator)
        else np.random.default_rng(random_state)
    )
    group_by = list(group_by)
    if statistic == "histogram":
        if value is None or not bins or len(bins) < 2:
            raise ConfigError("histogram needs a value column and at least two bin edges")
        edges = np.asarray(sorted(float(b) for b in bins))
        v = np.asarray(pc.cast(table[value], pa.float64()).to_numpy(zero_copy_only=False), float)
        idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
        labels = np.asarray([f"[{edges[i]:g}, {edges[i + 1]:g})" for i in range(len(edges) - 1)])
        table = table.append_column("bin", pa.array(labels[idx]))
        return dp_release(
            table,
            statistic="count",
            epsilon=epsilon,
            member=member,
            group_by=[*group_by, "bin"],
            bounds=bounds,
            delta=delta,
            public_keys=public_keys or not group_by,
            random_state=rng,
        )
    if statistic in ("sum", "mean", "quantile"):
        if value is None:
            raise ConfigError(f"{statistic} needs a value column")
        if clamp is None:
            raise ConfigError(f"{statistic} of {value} needs value bounds (clamp LO..HI)")
        lo, hi = float(clamp[0]), float(clamp[1])
        if not lo < hi:
            raise ConfigError(f"clamp bounds must satisfy lo < hi, got {lo}..{hi}")
    prep = _prepare(table, member, group_by, value if statistic != "count" else None, bounds, rng)
    n_groups = len(prep.keys)
    raw_counts = np.bincount(prep.group, minlength=n_groups).astype(float)
    key_strings = [str(k) for k in prep.keys["_key"].to_pylist()]
    pure = public_keys or not group_by
    eps_count = epsilon if statistic == "count" else epsilon / 2
    G, L = bounds.groups_per_member, bounds.rows_per_member
    if pure:
        noisy, c_scale = _vector_laplace(raw_counts, G * L, eps_count)
        selected = list(range(n_groups))
        counts = dict(zip(key_strings, noisy.tolist(), strict=True))
    else:
        counts_in = {k: c for k, c in zip(key_strings, raw_counts.tolist(), strict=True) if c > 0}
        counts, c_scale, _ = _threshold_counts(counts_in, bounds, eps_count, delta)
        selected = [i for i, k in enumerate(key_strings) if k in counts]
    sel_keys = [key_strings[i] for i in selected]
    out: dict[str, object] = {}
    if group_by:
        out.update(_key_table(sel_keys, group_by))
    c_vals = np.asarray([counts[k] for k in sel_keys], float)
    c_err = laplace_error95(c_scale)
    if statistic == "count":
        out.update(
            value=c_vals,
            noise_scale=np.full(len(sel_keys), c_scale),
            error95=np.full(len(sel_keys), c_err),
        )
        return pa.table(out)
    assert prep.value is not None
    vals = np.clip(prep.value, lo, hi)
    eps_stat = epsilon / 2
    sel = np.asarray(selected, np.int64)
    if statistic in ("sum", "mean"):
        sums = np.bincount(prep.group, weights=vals, minlength=n_groups)[sel]
        sens = G * L * max(abs(lo), abs(hi))
        noisy_sum, s_scale = _vector_laplace(sums, sens, eps_stat)
        s_err = laplace_error95(s_scale)
        if statistic == "sum":
            out.update(
                value=noisy_sum,
                noise_scale=np.full(len(sel), s_scale),
                error95=np.full(len(sel), s_err),
            )
        else:
            # 97.5% bounds on both parts give a 95% bound on the ratio (union bound).
            a_s = float(dp.laplacian_scale_to_accuracy(s_scale, ALPHA / 2))
            a_c = float(dp.laplacian_scale_to_accuracy(c_scale, ALPHA / 2))
            denom = np.maximum(c_vals, 1.0)
            mean = np.clip(noisy_sum / denom, lo, hi)
            err = (a_s + np.abs(mean) * a_c) / np.maximum(c_vals - a_c, 1.0)
            out.update(
                value=mean,
                noise_scale=np.full(len(sel), s_scale),
                error95=np.minimum(err, hi - lo),
            )
        out.update(count=c_vals, count_error95=np.full(len(sel), c_err))
        return pa.table(out)
    # quantile: one exponential mechanism per selected group, epsilon split over G groups.
    candidates = np.linspace(lo, hi, 101).tolist()
    eps_group = eps_stat / G
    dom = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    order = np.argsort(prep.group, kind="stable")
    starts = np.searchsorted(prep.group[order], np.arange(n_groups + 1))

    def make(scale: float) -> dp.Measurement:
        return dp.m.make_private_quantile(
            dom, dp.symmetric_distance(), dp.max_divergence(), candidates, quantile, scale
        )

    scale = dp.binary_search_param(make, d_in=L, d_out=eps_group, T=float)
    meas = make(scale)
    qs = []
    for g in sel.tolist():  # one mechanism per group: loops over groups, not rows
        qs.append(float(meas(vals[order[starts[g] : starts[g + 1]]].tolist())))
    rank_err = scale * (math.log(len(candidates)) + math.log(1 / ALPHA))
    out.update(
        value=np.asarray(qs, float),
        noise_scale=np.full(len(sel), scale),
        error95=np.full(len(sel), rank_err),
        count=c_vals,
        count_error95=np.full(len(sel), c_err),
    )
    return pa.table(out)
