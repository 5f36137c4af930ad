"""Detection and localisation on an in-memory ``plays`` table (no warehouse).

The service layer reads plays from the warehouse and calls these; the benchmark and tests call
them on simulated plays directly. Everything here picks rows and columns and hands arrays to
:class:`~reelmine.quality.detect.SeasonalDetector` and
:class:`~reelmine.quality.rootcause.RootCauseLocalizer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import ConfigError, MissingColumnError
from reelmine.quality.detect import AnomalyWindow, SeasonalDetector, pivot_series
from reelmine.quality.metrics import quality_metrics, session_metrics
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
    """An anomaly window of one metric in one slice (times in epoch seconds)."""

    metric: str
    window: AnomalyWindow


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


def detect_plays(
    plays: pa.Table,
    metrics: Sequence[str],
    attributes: Sequence[str],
    *,
    bucket_seconds: int = 3600,
    z_threshold: float = 5.0,
    min_count: int = 30,
    detector: SeasonalDetector | None = None,
) -> list[Alarm]:
    """Anomaly windows of each metric per value of each slice attribute.

    Returns
    -------
    list of Alarm (window times in epoch seconds), most severe first.
    """
    for m in metrics:
        if m not in DETECT_SETTINGS:
            raise ConfigError(f"metric must be one of {', '.join(DETECT_SETTINGS)}, not {m!r}")
    period = max(1, 7 * 86400 // bucket_seconds)
    out: list[Alarm] = []
    for attr in attributes:  # a handful of slice attributes, each vectorised over its slices
        agg, counts = attribute_buckets(plays, attr, bucket_seconds)
        for metric in metrics:
            direction, proportion = DETECT_SETTINGS[metric]
            det = detector or SeasonalDetector(
                period=period,
                fallback_period=max(1, 86400 // bucket_seconds),
                z_threshold=z_threshold,
                direction=direction,
                min_count=min_count,
                proportion=proportion,
            )
            mat, times, slices = pivot_series(
                agg, time_column="bucket", value_column=metric, slice_columns=[attr]
            )
            for w in det.detect(mat, slices=slices, times=times, counts=counts):
                out.append(Alarm(metric, w))
    out.sort(key=lambda a: -a.window.severity)
    return out


def score_detection(
    alarms: Sequence[Alarm],
    incidents: Sequence[tuple[str, int, int]],
    *,
    bucket_seconds: int = 3600,
    within: int = 2,
) -> tuple[list[bool], int]:
    """Score alarms against planted incidents ``(metric, start_s, end_s)``.

    An incident is detected when an alarm of its metric starts no earlier than its start and
    at most ``within`` buckets after it. A false alarm is an alarm outside every incident
    window (widened by ``within`` buckets on both sides); time-overlapping false alarms (one
    event seen in several slices or metrics) count once.

    Returns
    -------
    (detected flag per incident, number of false-alarm events)
    """
    pad = within * bucket_seconds
    starts = np.array([a.window.start for a in alarms], dtype=np.int64)
    ends = np.array([a.window.end for a in alarms], dtype=np.int64) + bucket_seconds
    metrics = np.array([a.metric for a in alarms], dtype=object)
    detected = []
    near = np.zeros(len(alarms), dtype=bool)
    for metric, s, e in incidents:  # a handful of incidents, vectorised over alarms
        detected.append(bool(np.any((metrics == metric) & (starts >= s) & (starts <= s + pad))))
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
