"""Detection and localisation on an in-memory ``plays`` table (no warehouse).

The service layer reads plays from the warehouse and calls these; the benchmark and tests call
them on simulated plays directly. Everything here picks rows and columns and hands arrays to
:class:`~reelmine.quality.detect.SeasonalDetector` and
:class:`~reelmine.quality.rootcause.RootCauseLocalizer`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from reelmine.errors import ConfigError, MissingColumnError
from reelmine.quality.detect import AnomalyWindow, SeasonalDetector, pivot_series
from reelmine.quality.metrics import (
    RATIO_METRICS,
    column_codes,
    group_rows,
    grouped_percentiles,
    play_delay,
    quality_metrics,
    ratio_terms,
    session_metrics,
)
from reelmine.quality.rootcause import Localization, RootCauseLocalizer, window_forecast

# Measure -> (numerator column of session_metrics, denominator or None for a count).
MEASURES: dict[str, tuple[str, str | None]] = {
    "error_rate": ("error", "sessions"),
    "ebvs_rate": ("exit_before_start", "sessions"),
    "bad_share": ("bad", "sessions"),
    "rebuffer_ratio": ("rebuffer_seconds", "watch_seconds"),
    "error_count": ("error", None),
    "exit_before_start": ("exit_before_start", None),
    "startup_ms": ("startup_ms", "started"),
}


@dataclass(frozen=True)
class Alarm:
    """An anomaly window of one metric in one slice (times in epoch seconds).

    ``evidence_buckets`` is the number of buckets pooled per score (1, or more for the pooled
    windows of session shares, see :func:`detect_plays`); ``window.start`` is the first bucket
    of the first flagged evidence, ``raised_at`` the bucket whose score first crossed the
    threshold, i.e. when a live detector raises the alarm (``window.start`` when ``None``).
    """

    metric: str
    window: AnomalyWindow
    evidence_buckets: int = 1
    raised_at: int | None = None

    @property
    def raised(self) -> int:
        """Epoch seconds of the bucket in which the alarm is raised."""
        return self.window.start if self.raised_at is None else self.raised_at


def _epoch_us(plays: pa.Table, column: str = "started_at") -> np.ndarray:
    if column not in plays.column_names:
        raise MissingColumnError(f"plays has no column {column!r}")
    t = pc.cast(plays.column(column), pa.timestamp("us", tz="UTC"))
    return np.asarray(pc.cast(t, pa.int64()).to_numpy(zero_copy_only=False))


def leaf_window(
    plays: pa.Table,
    attributes: Sequence[str],
    metric: str,
    *,
    start_us: int,
    end_us: int,
    periods: int = 4,
    step_us: int | None = 86_400_000_000,
) -> pa.Table:
    """Per-leaf actual and forecast numerator/denominator of ``metric`` in ``[start, end)``.

    The forecast of each leaf is the mean over ``periods`` earlier windows of the same length,
    ``step_us`` apart (default one day: the same hours on the previous days), or the windows
    just before when ``step_us`` is ``None``.

    Returns
    -------
    pa.Table with the attributes and ``num_sum_real``, ``num_sum_predict``, ``den_sum_real``,
    ``den_sum_predict``, one row per leaf.
    """
    if metric not in MEASURES:
        raise ConfigError(f"metric must be one of {', '.join(MEASURES)}, not {metric!r}")
    len_us = end_us - start_us
    if len_us <= 0:
        raise ConfigError("window end must be after its start")
    step = len_us if step_us is None else step_us
    if step < len_us:
        raise ConfigError("the season step must be at least the window length")
    us = _epoch_us(plays)
    # Period 0 is the window, k = 1..periods the window k steps earlier; other rows drop out.
    k = np.where(us >= start_us, 0, (start_us - us + step - 1) // step)
    inside = (us >= start_us - k * step) & (us < start_us - k * step + len_us)
    keep = inside & (k <= periods)
    sub = plays.filter(pa.array(keep))
    period = k[keep]
    num_col, den_col = MEASURES[metric]
    sm = session_metrics(sub)
    raw = np.asarray(sm.column(num_col).to_numpy(zero_copy_only=False), float)
    num = np.nan_to_num(raw)
    if den_col == "started":  # mean play delay: sum over sessions that have one / their number
        den = np.isfinite(raw).astype(float)
    elif den_col == "sessions":
        den = np.ones(sub.num_rows)
    elif den_col is not None:
        den = np.nan_to_num(np.asarray(sm.column(den_col).to_numpy(zero_copy_only=False), float))
    else:
        den = np.zeros(sub.num_rows)
    leaves = sub.select(list(attributes)).append_column("period", pa.array(-period))
    leaves = leaves.append_column("num", pa.array(num)).append_column("den", pa.array(den))
    sums = leaves.group_by(["period", *attributes]).aggregate([("num", "sum"), ("den", "sum")])
    return window_forecast(
        sums,
        attributes,
        ["num_sum", "den_sum"],
        time_column="period",
        at=0,
        periods=periods,
        step=1,
    )


def explain_plays(
    plays: pa.Table,
    attributes: Sequence[str],
    metric: str,
    *,
    start_us: int,
    end_us: int,
    periods: int = 4,
    step_us: int | None = 86_400_000_000,
    localizer: RootCauseLocalizer | None = None,
) -> Localization:
    """Root causes of ``metric`` in ``[start_us, end_us)`` (see :func:`leaf_window`)."""
    window = leaf_window(
        plays,
        attributes,
        metric,
        start_us=start_us,
        end_us=end_us,
        periods=periods,
        step_us=step_us,
    )
    loc = localizer or RootCauseLocalizer()
    if MEASURES[metric][1] is None:
        return loc.explain(window, attributes, real="num_sum_real", predict="num_sum_predict")
    return loc.explain(
        window,
        attributes,
        real="num_sum_real",
        predict="num_sum_predict",
        real_den="den_sum_real",
        predict_den="den_sum_predict",
    )


# Detectable metric -> (direction, proportion of sessions?).
DETECT_SETTINGS: dict[str, tuple[str, bool]] = {
    "error_rate": ("up", True),
    "ebvs_rate": ("up", True),
    "bad_share": ("up", True),
    "rebuffer_ratio": ("up", False),
    "rebuffers_per_hour": ("up", False),
    "startup_p50": ("up", False),
    "startup_p90": ("up", False),
    "startup_p95": ("up", False),
    "startup_p99": ("up", False),
    "avg_bitrate_kbps": ("down", False),
}


def attribute_buckets(
    plays: pa.Table, attribute: str, bucket_seconds: int
) -> tuple[pa.Table, np.ndarray]:
    """Quality metrics per value of ``attribute`` and time bucket (``bucket`` in epoch
    seconds), and the sessions matrix (values x buckets) a detector weighs them by."""
    agg = quality_metrics(plays, by=[attribute], bucket_seconds=bucket_seconds)
    agg = agg.set_column(
        agg.column_names.index("bucket"),
        "bucket",
        pc.divide(pc.cast(agg.column("bucket"), pa.int64()), 1_000_000),
    )
    counts, _, _ = pivot_series(
        agg, time_column="bucket", value_column="sessions", slice_columns=[attribute]
    )
    return agg, counts


def _slice_cells(
    plays: pa.Table,
    codes: dict[str, tuple[np.ndarray, int]],
    group: Sequence[str],
    bucket: np.ndarray,
    n_buckets: int,
) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Cell id (slice x bucket, row-major) of every row, and the slices that occur."""
    row_slice, first = group_rows([codes[a][0] for a in group], [codes[a][1] for a in group])
    # A slice's labels from its first row, as pivot_series writes them (null is "None").
    slices = [{a: str(plays.column(a)[int(i)].as_py()) for a in group} for i in first]
    return row_slice * n_buckets + bucket, slices


def _pooled(x: np.ndarray, buckets: int) -> np.ndarray:
    """Sums over the ``buckets`` buckets ending at each bucket (NaN until that many exist)."""
    if buckets == 1:
        return x
    c = np.cumsum(x, axis=1)
    out = np.full_like(c, np.nan)
    out[:, buckets - 1] = c[:, buckets - 1]
    out[:, buckets:] = c[:, buckets:] - c[:, :-buckets]
    return out


def _combine(alarms: list[Alarm]) -> list[Alarm]:
    """One alarm per metric, slice and episode: time-overlapping windows of the same slice
    (seen with different evidence lengths) merge; a pair-slice alarm goes when an alarm of a
    slice above it (one of its attribute values alone) overlaps it and was raised no later."""
    merged: list[Alarm] = []
    alarms = sorted(
        alarms, key=lambda a: (a.metric, sorted(a.window.slice.items()), a.window.start)
    )
    for a in alarms:  # sorted: overlapping windows of one slice are neighbours
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.metric == a.metric
            and last.window.slice == a.window.slice
            and a.window.start <= last.window.end
        ):
            top = a if a.window.severity > last.window.severity else last
            window = replace(
                top.window,
                start=min(last.window.start, a.window.start),
                end=max(last.window.end, a.window.end),
            )
            raised = min(last.raised, a.raised)
            merged[-1] = Alarm(a.metric, window, top.evidence_buckets, raised)
            continue
        merged.append(a)
    singles: dict[tuple[str, str, str], list[Alarm]] = {}
    for a in merged:
        if len(a.window.slice) == 1:
            ((attr, value),) = a.window.slice.items()
            singles.setdefault((a.metric, attr, value), []).append(a)
    kept = []
    for a in merged:
        w = a.window
        explained = len(w.slice) > 1 and any(
            b.window.start <= w.end and b.window.end >= w.start and b.raised <= a.raised
            for attr, value in w.slice.items()
            for b in singles.get((a.metric, attr, value), [])
        )
        if not explained:
            kept.append(a)
    kept.sort(key=lambda a: -a.window.severity)
    return kept


def detect_plays(
    plays: pa.Table,
    metrics: Sequence[str],
    attributes: Sequence[str],
    *,
    bucket_seconds: int = 3600,
    z_threshold: float = 5.0,
    min_count: int = 30,
    share_min_count: int = 20,
    detector: SeasonalDetector | None = None,
    depth: int = 2,
    pooled_buckets: Sequence[int] = (2, 3),
) -> list[Alarm]:
    """Anomaly windows of each metric per slice: each value of each attribute and, for the
    session shares, each pair of values.

    Every series is one slice's metric per time bucket, scored by
    :class:`~reelmine.quality.detect.SeasonalDetector` (``z_threshold``; buckets with fewer than
    ``min_count`` sessions are not scored). Session shares (error, exit-before-start and
    bad-session rates) are capped by their exact binomial tail, which stays calibrated on thin
    buckets, so they are scored from ``min(min_count, share_min_count)`` sessions; they are also
    watched

    * over the last 2 and 3 buckets pooled (``pooled_buckets``): a small slice's incident that
      is not significant in one bucket is within two or three, so it is still raised within
      two buckets of its start;
    * on pairs of attribute values (``depth=2``; e.g. ``cdn=C2&os=webos``), with the threshold
      raised so that the pairs' many more series expect no more chance alarms than the single
      values' (a Bonferroni-style correction on the number of scored slices).

    The per-session terms are computed once and summed per slice and bucket with ``bincount``;
    alarms of one slice seen at several evidence lengths merge, and a pair alarm already
    explained by an alarm of one of its values (same metric, overlapping, raised no later) is
    dropped.

    Returns
    -------
    list of Alarm (window times in epoch seconds), most severe first.
    """
    for m in metrics:
        if m not in DETECT_SETTINGS:
            raise ConfigError(f"metric must be one of {', '.join(DETECT_SETTINGS)}, not {m!r}")
    if depth not in (1, 2):
        raise ConfigError(f"depth must be 1 (single attribute values) or 2 (pairs), not {depth}")
    if any(b < 2 for b in pooled_buckets):
        raise ConfigError("pooled_buckets are window lengths of at least 2 buckets")
    if plays.num_rows == 0:
        return []
    period = max(1, 7 * 86400 // bucket_seconds)
    step = bucket_seconds * 1_000_000
    absolute = _epoch_us(plays) // step
    first = int(absolute.min())
    bucket = absolute - first
    n_buckets = int(bucket.max()) + 1
    times = (first + np.arange(n_buckets, dtype=np.int64)) * bucket_seconds
    sm = session_metrics(plays)
    terms = ratio_terms(sm)
    delay = play_delay(sm) if any(m.startswith("startup_p") for m in metrics) else None
    delay_order = None if delay is None else np.argsort(delay, kind="stable")  # sorted once
    for attr in attributes:
        if attr not in plays.column_names:
            raise MissingColumnError(f"plays has no column {attr!r} to slice by")
    codes = {attr: column_codes(plays.column(attr)) for attr in attributes}  # once per attribute
    shares = [m for m in metrics if DETECT_SETTINGS[m][1]]
    groups: list[tuple[str, ...]] = [(a,) for a in attributes]
    if depth == 2 and shares:
        groups += list(combinations(attributes, 2))

    # series[(group, metric)][evidence buckets] = (values, sessions); slices per group
    series: dict[tuple[tuple[str, ...], str], dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    slices_of: dict[tuple[str, ...], list[dict[str, str]]] = {}
    scored = {1: 0, 2: 0}  # slices with at least one scorable bucket, per depth
    floor = min(min_count, share_min_count) if shares else min_count
    for group in groups:
        cells, slices = _slice_cells(plays, codes, group, bucket, n_buckets)
        slices_of[group] = slices
        shape = (len(slices), n_buckets)

        def cell_sum(
            term: str, cells: np.ndarray = cells, shape: tuple[int, int] = shape
        ) -> np.ndarray:
            return np.bincount(cells, weights=terms[term], minlength=shape[0] * shape[1]).reshape(
                shape
            )

        sessions = cell_sum("sessions")
        longest = _pooled(sessions, max([1, *pooled_buckets]))  # NaN compares False
        scored[len(group)] += int((longest >= floor).any(axis=1).sum())
        for metric in metrics if len(group) == 1 else shares:
            if metric.startswith("startup_p"):
                assert delay is not None
                pct = float(metric.removeprefix("startup_p"))
                values = grouped_percentiles(
                    delay, cells, shape[0] * shape[1], [pct], value_order=delay_order
                )
                series[(group, metric)] = {1: (values.reshape(shape), sessions)}
                continue
            num, den, scale = RATIO_METRICS[metric]
            top, bottom = cell_sum(num), sessions if den == "sessions" else cell_sum(den)
            lengths = [1, *pooled_buckets] if DETECT_SETTINGS[metric][1] else [1]
            series[(group, metric)] = {}
            for length in lengths:
                pooled_n = _pooled(sessions, length)
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = _pooled(top, length) * scale / _pooled(bottom, length)
                series[(group, metric)][length] = (values, pooled_n)

    # Pairs: as many expected chance alarms as the single values (normal tail, per slice).
    z_single = z_threshold if detector is None else detector.z_threshold
    z_pair = z_single
    if scored[2] > scored[1] > 0:
        z_pair = float(stats.norm.isf(stats.norm.sf(z_single) * scored[1] / scored[2]))
    out: list[Alarm] = []
    for (group, metric), by_length in series.items():
        direction, proportion = DETECT_SETTINGS[metric]
        if detector is not None:
            det = copy.copy(detector)
        else:
            det = SeasonalDetector(
                period=period,
                fallback_period=max(1, 86400 // bucket_seconds),
                direction=direction,
                min_count=min(min_count, share_min_count) if proportion else min_count,
                proportion=proportion,
            )
        det.z_threshold = z_single if len(group) == 1 else z_pair
        scores = {n: det.score(v, counts=c) for n, (v, c) in by_length.items()}
        sign = {"up": 1.0, "down": -1.0}.get(det.direction)
        crossed = {  # buckets beyond the threshold, per evidence length (NaN: not scored)
            n: (z * sign if sign else np.abs(z)) > det.z_threshold for n, (_, z) in scores.items()
        }
        row_of = {tuple(d.items()): i for i, d in enumerate(slices_of[group])}
        for length, (values, sessions) in by_length.items():
            found = det.detect(
                values, slices=slices_of[group], times=times, counts=sessions, scores=scores[length]
            )
            for w in found:
                # The raising bucket closes `length` pooled buckets; the episode starts with the
                # shortest pool ending there that is anomalous on its own.
                r, j = row_of[tuple(w.slice.items())], (w.start - int(times[0])) // bucket_seconds
                shortest = min(n for n in crossed if n <= length and crossed[n][r, j])
                start = w.start - (shortest - 1) * bucket_seconds
                out.append(Alarm(metric, replace(w, start=start), length, w.start))
    return _combine(out)


def score_detection(
    alarms: Sequence[Alarm],
    incidents: Sequence[tuple[str, int, int]],
    *,
    bucket_seconds: int = 3600,
    within: int = 2,
) -> tuple[list[bool], int]:
    """Score alarms against planted incidents ``(metric, start_s, end_s)``.

    An incident is detected when an alarm of its metric is raised (:attr:`Alarm.raised`) no
    earlier than its start and at most ``within`` buckets after it. A false alarm is an alarm
    outside every incident window (widened by ``within`` buckets on both sides);
    time-overlapping false alarms (one event seen in several slices or metrics) count once.

    Returns
    -------
    (detected flag per incident, number of false-alarm events)
    """
    pad = within * bucket_seconds
    raised = np.array([a.raised for a in alarms], dtype=np.int64)
    starts = np.array([a.window.start for a in alarms], dtype=np.int64)
    ends = np.array([a.window.end for a in alarms], dtype=np.int64) + bucket_seconds
    metrics = np.array([a.metric for a in alarms], dtype=object)
    detected = []
    near = np.zeros(len(alarms), dtype=bool)
    for metric, s, e in incidents:  # a handful of incidents, vectorised over alarms
        detected.append(bool(np.any((metrics == metric) & (raised >= s) & (raised <= s + pad))))
        near |= (starts <= e + pad) & (ends >= s - pad)
    order = np.argsort(starts[~near], kind="stable")
    fs, fe = starts[~near][order], ends[~near][order]
    # A new event starts where an alarm begins after every earlier one has ended.
    reach = np.maximum.accumulate(fe) if fe.size else fe
    events = int(fs.size and 1 + np.sum(fs[1:] >= reach[:-1]))
    return detected, events


def score_localization(
    predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]
) -> tuple[int, int, int]:
    """Micro counts (TP, FP, FN) over exactly matched root-cause elements.

    Elements are ``attr=value`` pairs joined by ``&``; pair order does not matter.
    """

    def norm(labels: Sequence[str]) -> set[str]:
        return {"&".join(sorted(x.split("&"))) for x in labels}

    tp = fp = fn = 0
    for p, t in zip(predicted, truth, strict=True):
        ps, ts = norm(p), norm(t)
        tp += len(ps & ts)
        fp += len(ps - ts)
        fn += len(ts - ps)
    return tp, fp, fn
