"""Seasonal anomaly detection on quality time series, one series per slice.

Baseline: for each bucket, the median of the same bucket one, two, ... ``seasons`` periods ago
(``period`` buckets, e.g. 168 hourly buckets = one week); while fewer than ``min_seasons``
past periods exist, the daily period (``fallback_period``) stands in. Scale: the MAD of the same
seasonal history (``1.4826 * MAD``), floored by the series' overall residual MAD and by
``min_scale`` so a flat history does not turn noise into alarms. Score: the robust z-score
``(value - baseline) / scale``. Buckets scoring beyond ``z_threshold`` in the chosen direction
form windows (consecutive buckets, gaps up to ``max_gap`` merged); each window reports start,
end, peak z (severity) and its slice.

Everything is vectorised over slices and buckets: the series are a dense (slices x buckets)
matrix and the seasonal history a stack of shifted copies of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from reelmine.errors import DataError, MissingColumnError

MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.2533  # sqrt(pi / 2): mean absolute deviation -> sd for a normal


@dataclass(frozen=True)
class AnomalyWindow:
    """A run of anomalous buckets in one slice.

    ``start``/``end`` are bucket indices (inclusive) or bucket start times when the detector was
    given times; ``severity`` is the largest absolute robust z-score in the window.
    """

    slice: dict[str, str]
    start: int
    end: int
    severity: float
    peak: int
    value: float
    baseline: float


def nanmedian_first_axis(x: np.ndarray) -> np.ndarray:
    """Median over the first (short) axis ignoring NaN; NaN where all are NaN.

    Equals ``np.nanmedian(x, axis=0)`` for the few seasons a baseline looks back on, by one
    sort of the stack (NaN sorts last) instead of NumPy's masked-array path for short axes.
    """
    srt = np.sort(x, axis=0)
    n = np.sum(np.isfinite(x), axis=0)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[None], axis=0)[0]
    hi = np.take_along_axis(srt, (n // 2).clip(max=x.shape[0] - 1)[None], axis=0)[0]
    return np.where(n > 0, (lo + hi) / 2.0, np.nan)


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x shifted right by k buckets along the last axis (NaN where no history)."""
    out = np.full_like(x, np.nan)
    if k < x.shape[-1]:
        out[..., k:] = x[..., : x.shape[-1] - k]
    return out


class SeasonalDetector:
    """Robust seasonal baseline with MAD-based z-scores (see module docstring).

    Parameters
    ----------
    period : buckets per season (168 for hourly buckets and weekly seasonality).
    seasons : past seasons whose same bucket forms the baseline.
    fallback_period : shorter season used when fewer than ``min_seasons`` exist (24 = daily).
    min_seasons : past seasons needed before ``period`` is used.
    z_threshold : robust z-score beyond which a bucket is anomalous.
    direction : ``up``, ``down`` or ``both``.
    max_gap : normal buckets allowed inside one window.
    min_scale : absolute floor of the scale (in the metric's units).
    min_count : buckets with fewer sessions than this are not scored (needs ``counts``).
    proportion : the metric is a share of sessions (error rate); with ``counts`` the z-score
        is capped by the exact binomial tail z-score (see :meth:`_binomial_cap`).
    """

    def __init__(
        self,
        *,
        period: int = 168,
        seasons: int = 4,
        fallback_period: int = 24,
        min_seasons: int = 2,
        z_threshold: float = 5.0,
        direction: str = "up",
        max_gap: int = 1,
        min_scale: float = 1e-9,
        min_count: float = 0.0,
        proportion: bool = False,
    ) -> None:
        self.period = period
        self.seasons = seasons
        self.fallback_period = fallback_period
        self.min_seasons = min_seasons
        self.z_threshold = z_threshold
        self.direction = direction
        self.max_gap = max_gap
        self.min_scale = min_scale
        self.min_count = min_count
        self.proportion = proportion

    def _history(self, y: np.ndarray, period: int) -> np.ndarray:
        return np.stack([_shift(y, k * period) for k in range(1, self.seasons + 1)])

    def score(
        self, y: np.ndarray, counts: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Baseline and robust z-scores of series ``y`` (slices x buckets, NaN = missing).

        With ``counts`` (sessions behind each value, same shape) the series-level noise scale
        is estimated on ``residual * sqrt(count)`` and divided by ``sqrt(count)`` per bucket,
        so thin buckets need larger deviations; buckets under ``min_count`` are not scored.
        """
        if self.direction not in ("up", "down", "both"):
            raise DataError(f"direction must be up, down or both, not {self.direction!r}")
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        hist = self._history(y, self.period)
        short = self._history(y, self.fallback_period)
        enough = np.sum(np.isfinite(hist), axis=0) >= self.min_seasons
        hist = np.where(enough[None], hist, short)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            base = nanmedian_first_axis(hist)
            mad = MAD_SCALE * nanmedian_first_axis(np.abs(hist - base[None]))
            resid = y - base
            if counts is not None:
                n = np.atleast_2d(np.asarray(counts, dtype=np.float64))
                w = np.sqrt(np.where(n > 0, n, np.nan))
            else:
                n = None
                w = np.ones_like(y)
            rw = resid * w
            dev = np.abs(rw - np.nanmedian(rw, axis=1, keepdims=True))
            # MAD is zero for sparse series (mostly-zero error counts); the mean absolute
            # deviation (scaled to a normal's sd) stands in as a floor there.
            series_mad = (
                np.fmax(
                    MAD_SCALE * np.nanmedian(dev, axis=1, keepdims=True),
                    MEAN_AD_SCALE * np.nanmean(dev, axis=1, keepdims=True),
                )
                / w
            )
        scale = np.fmax(np.fmax(mad, np.nan_to_num(series_mad)), self.min_scale)
        z = resid / scale
        if self.proportion and n is not None:
            z = self._binomial_cap(y, base, n, z)
        if n is not None:
            z = np.where(np.nan_to_num(n) >= self.min_count, z, np.nan)
        return base, z

    @staticmethod
    def _binomial_cap(y: np.ndarray, base: np.ndarray, n: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Cap robust z-scores of a proportion by its exact binomial tail z-score.

        A seasonal median of 0 (a slice that rarely errs) makes any error look infinitely
        surprising to a MAD; the binomial tail of ``k`` events in ``n`` sessions at the
        baseline rate (floored by the series' pooled rate) says how surprising it really is.
        """
        nn = np.nan_to_num(n)
        k = np.rint(np.nan_to_num(y) * nn)
        with np.errstate(all="ignore"):
            pooled = np.nansum(y * nn, axis=1, keepdims=True) / np.maximum(
                np.nansum(np.where(np.isfinite(y), nn, 0), axis=1, keepdims=True), 1
            )
        p0 = np.clip(np.fmax(np.nan_to_num(base), pooled), 1e-9, 1 - 1e-9)
        up = stats.norm.isf(np.clip(stats.binom.sf(k - 1, nn, p0), 1e-300, 1.0))
        down = -stats.norm.isf(np.clip(stats.binom.cdf(k, nn, p0), 1e-300, 1.0))
        zb = np.where(k >= nn * p0, np.maximum(up, 0.0), np.minimum(down, 0.0))
        return np.where(np.abs(zb) < np.abs(z), zb, z)

    def detect(
        self,
        y: np.ndarray,
        *,
        slices: Sequence[dict[str, str]] | None = None,
        times: np.ndarray | None = None,
        counts: np.ndarray | None = None,
        scores: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[AnomalyWindow]:
        """Anomalous windows of each series.

        Parameters
        ----------
        y : (n_buckets,) or (n_slices, n_buckets) values, NaN where missing.
        slices : one description per series (defaults to ``{"slice": str(i)}``).
        times : optional bucket start times (n_buckets,); windows then report times.
        counts : optional sessions behind each value (same shape as ``y``), see :meth:`score`.
        scores : ``score(y, counts)`` when the caller already has it.

        Returns
        -------
        list of AnomalyWindow, sorted by severity (largest first).
        """
        y2 = np.atleast_2d(np.asarray(y, dtype=np.float64))
        base, z = self.score(y2, counts) if scores is None else scores
        zz = np.nan_to_num(z, nan=0.0)
        if self.direction == "up":
            flag = zz > self.z_threshold
        elif self.direction == "down":
            flag = zz < -self.z_threshold
        else:
            flag = np.abs(zz) > self.z_threshold
        # Bridge runs of up to max_gap normal buckets between flagged ones: a bucket is bridged
        # when the flags before and after it are at most max_gap + 1 buckets apart.
        nb = flag.shape[1]
        idx = np.broadcast_to(np.arange(nb), flag.shape)
        prev = np.maximum.accumulate(np.where(flag, idx, -(10**9)), axis=1)
        nxt = np.flip(
            np.minimum.accumulate(np.flip(np.where(flag, idx, 10**9), axis=1), axis=1), axis=1
        )
        bridged = flag | ((nxt - prev - 1) <= self.max_gap)
        pad = np.zeros((bridged.shape[0], 1), dtype=np.int8)
        edges = np.diff(np.concatenate([pad, bridged.astype(np.int8), pad], axis=1), axis=1)
        srow, scol = np.nonzero(edges == 1)
        erow, ecol = np.nonzero(edges == -1)
        windows: list[AnomalyWindow] = []
        absz = np.where(flag, np.abs(zz), 0.0)
        for r, s, e in zip(srow, scol, ecol, strict=True):  # one iteration per window
            seg = absz[r, s:e]
            peak = s + int(np.argmax(seg))
            desc = dict(slices[int(r)]) if slices is not None else {"slice": str(r)}
            start, end, pk = (int(s), int(e - 1), int(peak))
            if times is not None:
                start, end, pk = int(times[s]), int(times[e - 1]), int(times[peak])
            windows.append(
                AnomalyWindow(
                    desc, start, end, float(seg.max()), pk, float(y2[r, peak]), float(base[r, peak])
                )
            )
        windows.sort(key=lambda w: -w.severity)
        return windows


def pivot_series(
    table: pa.Table,
    *,
    time_column: str,
    value_column: str,
    slice_columns: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """Dense (slices x buckets) matrix from a long table of (time, slice..., value).

    Time values must be integers (bucket indices or epoch seconds on a regular grid); missing
    buckets between the first and last are NaN.

    Returns
    -------
    (matrix, bucket times, slice descriptions)
    """
    for name in (time_column, value_column, *slice_columns):
        if name not in table.column_names:
            raise MissingColumnError(f"column {name!r} not in {table.column_names}")
    tcol = table.column(time_column)
    if pa.types.is_timestamp(tcol.type):
        tcol = pc.divide(
            pc.cast(pc.cast(tcol, pa.timestamp("us", tz="UTC")), pa.int64()), 1_000_000
        )
    t = np.asarray(pc.cast(tcol, pa.int64()).to_numpy(zero_copy_only=False))
    times = np.unique(t)
    step = int(np.min(np.diff(times))) if times.size > 1 else 1
    grid = np.arange(times.min(), times.max() + step, step) if times.size else times
    tpos = ((t - grid[0]) // step).astype(np.int64) if times.size else t
    if slice_columns:
        codes = np.stack(
            [
                pc.dictionary_encode(table.column(c)).combine_chunks().indices.to_numpy(False)
                for c in slice_columns
            ],
            axis=1,
        )
        _, first, inv = np.unique(codes, axis=0, return_index=True, return_inverse=True)
        inv = inv.ravel()
    else:
        first, inv = np.zeros(1, dtype=np.int64), np.zeros(table.num_rows, dtype=np.int64)
    vals = np.asarray(pc.cast(table.column(value_column), pa.float64()).to_numpy(False))
    mat = np.full((len(first), len(grid)), np.nan)
    mat[inv, tpos] = vals
    slices = [{c: str(table.column(c)[int(i)].as_py()) for c in slice_columns} for i in first]
    return mat, grid, slices
