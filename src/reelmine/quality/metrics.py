"""Playback-quality metrics per session and aggregated by any attributes and time bucket.

Input is an Arrow table with the quality columns of ``plays`` (see ``reelmine.data.schema``):
``startup_ms``, ``rebuffer_count``, ``rebuffer_ms``, ``avg_bitrate_kbps``, ``error_code``,
``exit_before_start``, ``watched_seconds`` (or ``started_at``/``ended_at``). Missing optional
columns count as absent values, never as zeros in a rate's denominator.

Aggregates (per group):

- ``sessions``: number of plays.
- ``startup_p50``, ``startup_p90``, ``startup_p95``, ``startup_p99``: exact percentiles (linear
  interpolation, NumPy's default) of play delay over sessions with a ``startup_ms`` that did not
  exit before start.
- ``rebuffer_ratio``: total rebuffer time / total watch time (both in seconds).
- ``rebuffers_per_hour``: total rebuffer events / total watch hours.
- ``avg_bitrate_kbps``: watch-time-weighted mean of per-session average bitrate.
- ``error_rate``: share of sessions with a non-empty ``error_code``.
- ``ebvs_rate``: exit-before-video-start share.
- ``bad_share``: share of bad sessions (see :class:`BadSessionThresholds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import DataError, MissingColumnError

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class BadSessionThresholds:
    """A session is bad when any of these holds (defaults follow common industry practice).

    - it failed with an error, or the member left before video started;
    - play delay above ``startup_ms`` (default 5,000 ms);
    - rebuffer ratio above ``rebuffer_ratio`` (default 2% of watch time);
    - average bitrate below ``min_bitrate_kbps`` (default 700 kbit/s, below SD).
    """

    startup_ms: float = 5000.0
    rebuffer_ratio: float = 0.02
    min_bitrate_kbps: float = 700.0


def _num(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = pc.cast(table.column(name), pa.float64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def _watch_seconds(table: pa.Table) -> np.ndarray:
    watched = _num(table, "watched_seconds")
    if "started_at" in table.column_names and "ended_at" in table.column_names:
        dur = pc.divide(
            pc.cast(pc.subtract(table.column("ended_at"), table.column("started_at")), pa.int64()),
            1_000_000,
        )
        span = np.asarray(pc.cast(dur, pa.float64()).to_numpy(zero_copy_only=False))
        watched = np.where(np.isnan(watched), span, watched)
    return watched


def session_metrics(plays: pa.Table, thresholds: BadSessionThresholds | None = None) -> pa.Table:
    """Per-session quality columns.

    Returns
    -------
    pa.Table with ``watch_seconds``, ``startup_ms``, ``rebuffer_seconds``, ``rebuffer_count``,
    ``rebuffer_ratio`` (NaN when nothing was watched), ``avg_bitrate_kbps``, ``error`` (bool),
    ``exit_before_start`` (bool) and ``bad`` (bool), one row per input row.
    """
    th = thresholds or BadSessionThresholds()
    n = plays.num_rows
    watch = _watch_seconds(plays)
    startup = _num(plays, "startup_ms")
    reb_s = _num(plays, "rebuffer_ms") / 1000.0
    reb_n = _num(plays, "rebuffer_count")
    bitrate = _num(plays, "avg_bitrate_kbps")
    if "error_code" in plays.column_names:
        code = pc.fill_null(pc.cast(plays.column("error_code"), pa.string()), "")
        error = np.asarray(pc.not_equal(pc.utf8_trim_whitespace(code), "").to_numpy(False))
    else:
        error = np.zeros(n, dtype=bool)
    if "exit_before_start" in plays.column_names:
        ebvs = np.asarray(pc.fill_null(plays.column("exit_before_start"), False).to_numpy(False))
    else:
        ebvs = np.zeros(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(watch > 0, np.nan_to_num(reb_s) / watch, np.nan)
    bad = (
        error
        | ebvs
        | (np.nan_to_num(startup) > th.startup_ms)
        | (np.nan_to_num(ratio) > th.rebuffer_ratio)
        | (bitrate < th.min_bitrate_kbps)
    )
    return pa.table(
        {
            "watch_seconds": watch,
            "startup_ms": startup,
            "rebuffer_seconds": reb_s,
            "rebuffer_count": reb_n,
            "rebuffer_ratio": ratio,
            "avg_bitrate_kbps": bitrate,
            "error": error.astype(bool),
            "exit_before_start": ebvs.astype(bool),
            "bad": bad.astype(bool),
        }
    )


def column_codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, int]:
    """Dictionary code of every row and the number of codes; nulls get their own code (0, the
    values then count from 1) so they form a group rather than vanish."""
    enc = pc.dictionary_encode(column)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    idx = enc.indices.to_numpy(zero_copy_only=False)
    if enc.null_count:
        return np.where(np.isnan(idx.astype(float)), 0, idx + 1).astype(np.int64), len(
            enc.dictionary
        ) + 1
    return np.asarray(idx, dtype=np.int64), len(enc.dictionary)


def group_rows(codes: Sequence[np.ndarray], cards: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Dense group id per row and the first row of each group (groups in key order) for rows
    keyed by several code columns (``column_codes``), ``cards`` codes each."""
    n = len(codes[0]) if codes else 0
    if not codes:
        return np.zeros(n, dtype=np.int64), np.zeros(0, dtype=np.int64)
    size = float(np.prod(np.asarray(cards, dtype=np.float64)))
    if size > 4 * n + 1e6:  # sparse key space: sort the code rows
        _, first, inv = np.unique(
            np.stack(codes, axis=1), axis=0, return_index=True, return_inverse=True
        )
        return inv.ravel(), first
    # One mixed-radix key per row (same order as the code rows), compacted by counting.
    key = np.zeros(n, dtype=np.int64)
    for code, card in zip(codes, cards, strict=True):
        key = key * card + code
    first_of = np.full(int(size), n, dtype=np.int64)
    np.minimum.at(first_of, key, np.arange(n, dtype=np.int64))
    present = first_of < n
    return (np.cumsum(present) - 1)[key], first_of[present]


def _group_ids(table: pa.Table, by: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Dense group id per row and the first row of each group (groups sorted by key)."""
    n = table.num_rows
    if not by:
        return np.zeros(n, dtype=np.int64), np.zeros(min(n, 1), dtype=np.int64)
    encoded = [column_codes(table.column(name)) for name in by]
    return group_rows([c for c, _ in encoded], [k for _, k in encoded])


# Every metric but the play-delay percentiles is a ratio of two per-session sums:
# metric -> (numerator term, denominator term, scale) over the terms of ``ratio_terms``. Sums
# add up over any grouping, so detection can pool several buckets or slices exactly.
RATIO_METRICS: dict[str, tuple[str, str, float]] = {
    "rebuffer_ratio": ("rebuffer_seconds", "watch_seconds", 1.0),
    "rebuffers_per_hour": ("rebuffer_count", "watch_seconds", 3600.0),
    "avg_bitrate_kbps": ("bitrate_x_seconds", "bitrate_seconds", 1.0),
    "error_rate": ("error", "sessions", 1.0),
    "ebvs_rate": ("exit_before_start", "sessions", 1.0),
    "bad_share": ("bad", "sessions", 1.0),
}


def ratio_terms(sessions: pa.Table) -> dict[str, np.ndarray]:
    """Per-session numerator and denominator terms of :data:`RATIO_METRICS` (no NaN).

    ``sessions`` is :func:`session_metrics`' output. Rebuffering counts only where something
    was watched (the watch time is the denominator); bitrate is weighted by watch time over the
    sessions that report one.
    """

    def col(name: str) -> np.ndarray:
        return np.asarray(sessions.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

    watch = col("watch_seconds")
    watched = watch > 0  # False for NaN
    watch_ok = np.where(watched, watch, 0.0)
    bitrate = col("avg_bitrate_kbps")
    has_br = np.isfinite(bitrate) & watched
    return {
        "sessions": np.ones(sessions.num_rows),
        "watch_seconds": watch_ok,
        "rebuffer_seconds": np.where(watched, np.nan_to_num(col("rebuffer_seconds")), 0.0),
        "rebuffer_count": np.where(watched, np.nan_to_num(col("rebuffer_count")), 0.0),
        "bitrate_x_seconds": np.where(has_br, bitrate * watch_ok, 0.0),
        "bitrate_seconds": np.where(has_br, watch_ok, 0.0),
        "error": col("error"),
        "exit_before_start": col("exit_before_start"),
        "bad": col("bad"),
    }


def play_delay(sessions: pa.Table) -> np.ndarray:
    """Play delay (ms) of the sessions whose video started; NaN for the others."""
    ebvs = np.asarray(sessions.column("exit_before_start").to_numpy(zero_copy_only=False))
    delay = np.asarray(sessions.column("startup_ms").to_numpy(zero_copy_only=False), np.float64)
    return np.where(ebvs, np.nan, delay)


def grouped_percentiles(
    values: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    percentiles: Sequence[float],
    *,
    value_order: np.ndarray | None = None,
) -> np.ndarray:
    """Exact per-group percentiles (linear interpolation) without a loop over groups.

    ``value_order`` is ``np.argsort(values)`` when the caller has it: callers grouping the
    same values several ways sort them once.

    Returns an array (n_groups, len(percentiles)); NaN for groups with no finite value.
    """
    order = np.argsort(values) if value_order is None else value_order
    order = order[np.isfinite(values[order])]  # NaN sorts last
    g = groups[order]
    # A stable sort by group keeps each group's values sorted; small group ids sort by radix.
    by_group = np.argsort(g.astype(np.uint16) if n_groups <= 65536 else g, kind="stable")
    v, g = values[order[by_group]], g[by_group]
    counts = np.bincount(g, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full((n_groups, len(percentiles)), np.nan)
    has = counts > 0
    for j, p in enumerate(percentiles):  # a handful of percentiles, vectorised over groups
        pos = (counts[has] - 1) * (p / 100.0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, counts[has] - 1)
        frac = pos - lo
        base = starts[has]
        out[has, j] = v[base + lo] * (1 - frac) + v[base + hi] * frac
    return out


def quality_metrics(
    plays: pa.Table,
    *,
    by: Sequence[str] = (),
    bucket_seconds: int | None = None,
    time_column: str = "started_at",
    thresholds: BadSessionThresholds | None = None,
    percentiles: Sequence[float] = PERCENTILES,
) -> pa.Table:
    """Aggregate quality metrics by attributes and (optionally) time bucket.

    Parameters
    ----------
    plays : rows of the ``plays`` table (any subset of its quality columns).
    by : attribute columns to group by (e.g. ``["cdn", "isp"]``).
    bucket_seconds : time bucket width in seconds (e.g. 3600); ``None`` for no time grouping.
    time_column : timestamp column the buckets are taken from.
    thresholds : bad-session thresholds.
    percentiles : play-delay percentiles to report, in 0..100.

    Returns
    -------
    pa.Table: the ``by`` columns, ``bucket`` (UTC timestamp, when bucketed) and the metrics
    listed in the module docstring, one row per non-empty group.
    """
    for name in by:
        if name not in plays.column_names:
            raise MissingColumnError(f"plays has no column {name!r} to group by")
    sm = session_metrics(plays, thresholds)
    keys = plays.select(list(by))
    if bucket_seconds is not None:
        if bucket_seconds <= 0:
            raise DataError(f"bucket_seconds must be positive, not {bucket_seconds}")
        if time_column not in plays.column_names:
            raise MissingColumnError(f"plays has no column {time_column!r} for time buckets")
        us = pc.cast(pc.cast(plays.column(time_column), pa.timestamp("us", tz="UTC")), pa.int64())
        step = bucket_seconds * 1_000_000
        bucket = pc.multiply(pc.divide(us, step), step)
        keys = keys.append_column("bucket", pc.cast(bucket, pa.timestamp("us", tz="UTC")))
    gid, first = _group_ids(keys, keys.column_names)
    m = len(first)
    terms = ratio_terms(sm)
    sums = {name: np.bincount(gid, weights=x, minlength=m) for name, x in terms.items()}
    pct = grouped_percentiles(play_delay(sm), gid, m, percentiles)
    out: dict[str, object] = {
        name: keys.column(name).take(pa.array(first)) for name in keys.column_names
    }
    out["sessions"] = sums["sessions"].astype(np.int64)
    for j, p in enumerate(percentiles):
        out[f"startup_p{p:g}"] = pct[:, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        for metric, (num, den, scale) in RATIO_METRICS.items():
            out[metric] = sums[num] * scale / sums[den]
    return pa.table(out)  # type: ignore[arg-type]
