"""Streaming-quality use cases: report, incidents, explain, compare (CLI, API and dashboard).

Each function opens the data of the settings' engine read-only (the DuckDB warehouse, or Spark
with ``--engine spark``: :func:`reelmine.service.engine.open_reader`), reads the ``plays``
columns it needs as Arrow and hands them to :mod:`reelmine.quality`; no logic of its own beyond
choosing rows and columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.engine import TableSource
from reelmine.errors import ConfigError, DataError, NotFoundError
from reelmine.quality.compare import QuantileComparison, compare_quantiles
from reelmine.quality.detect import AnomalyWindow, SeasonalDetector, pivot_series
from reelmine.quality.metrics import quality_metrics, session_metrics
from reelmine.quality.rootcause import Localization, RootCauseLocalizer, window_forecast
from reelmine.service.engine import open_reader
from reelmine.settings import Settings

QUALITY_COLUMNS = (
    "started_at",
    "ended_at",
    "watched_seconds",
    "startup_ms",
    "rebuffer_count",
    "rebuffer_ms",
    "avg_bitrate_kbps",
    "error_code",
    "exit_before_start",
)
SLICE_ATTRIBUTES = ("country", "cdn", "isp", "device_type", "app_version")
# Metric -> (numerator column of session_metrics, denominator or None for a count).
MEASURES: dict[str, tuple[str, str | None]] = {
    "error_rate": ("error", "sessions"),
    "ebvs_rate": ("exit_before_start", "sessions"),
    "bad_share": ("bad", "sessions"),
    "rebuffer_ratio": ("rebuffer_seconds", "watch_seconds"),
    "error_count": ("error", None),
    "exit_before_start": ("exit_before_start", None),
    "startup_ms": ("startup_ms", "started"),
}


# Aggregated metrics the detector watches (columns of quality_metrics).
DETECTABLE = (
    "error_rate",
    "ebvs_rate",
    "bad_share",
    "rebuffer_ratio",
    "rebuffers_per_hour",
    "startup_p50",
    "startup_p90",
    "startup_p95",
    "startup_p99",
    "avg_bitrate_kbps",
)


@dataclass(frozen=True)
class Incident:
    """A detected anomaly window with a stable id ``metric@attr=value@start_epoch``."""

    incident_id: str
    metric: str
    window: AnomalyWindow
    bucket_seconds: int


def _plays(
    wh: TableSource, attributes: Sequence[str], since: datetime | None, until: datetime | None
) -> pa.Table:
    have = set(wh.columns("plays"))
    cols = [c for c in (*QUALITY_COLUMNS, *attributes) if c in have]
    missing = [a for a in attributes if a not in have]
    if missing:
        raise DataError(f"plays has no column(s) {missing}")
    where, params = [], []
    if since is not None:
        where.append("started_at >= ?")
        params.append(since)
    if until is not None:
        where.append("started_at < ?")
        params.append(until)
    return wh.table("plays", list(dict.fromkeys(cols)), " AND ".join(where) or None, params or None)


def quality_report(
    settings: Settings,
    *,
    by: Sequence[str] = (),
    since: datetime | None = None,
    bucket_seconds: int | None = None,
) -> pa.Table:
    """Quality metrics of the plays since ``since``, grouped by ``by`` and time bucket."""
    with open_reader(settings) as wh:
        plays = _plays(wh, by, since, None)
    return quality_metrics(plays, by=by, bucket_seconds=bucket_seconds)


def quality_incidents(
    settings: Settings,
    *,
    metric: str = "error_rate",
    attributes: Sequence[str] = SLICE_ATTRIBUTES,
    bucket_seconds: int = 3600,
    z_threshold: float = 5.0,
    min_count: int = 30,
    since: datetime | None = None,
) -> list[Incident]:
    """Anomaly windows of ``metric`` per top-level slice (one attribute at a time).

    ``avg_bitrate_kbps`` is watched for drops, every other metric for rises. Slice-buckets
    with fewer than ``min_count`` sessions are not scored.
    """
    if metric not in DETECTABLE:
        raise ConfigError(f"metric must be one of {', '.join(DETECTABLE)}, not {metric!r}")
    with open_reader(settings) as wh:
        plays = _plays(wh, attributes, since, None)
    period = max(1, 7 * 86400 // bucket_seconds)
    det = SeasonalDetector(
        period=period,
        fallback_period=max(1, 86400 // bucket_seconds),
        z_threshold=z_threshold,
        direction="down" if metric == "avg_bitrate_kbps" else "up",
        min_count=min_count,
        proportion=metric in ("error_rate", "ebvs_rate", "bad_share"),
    )
    out: list[Incident] = []
    for attr in attributes:  # a handful of slice attributes, each vectorised over its slices
        m = quality_metrics(plays, by=[attr], bucket_seconds=bucket_seconds)
        m = m.set_column(
            m.column_names.index("bucket"),
            "bucket",
            pc.divide(pc.cast(m.column("bucket"), pa.int64()), 1_000_000),
        )
        mat, times, slices = pivot_series(
            m, time_column="bucket", value_column=metric, slice_columns=[attr]
        )
        counts, _, _ = pivot_series(
            m, time_column="bucket", value_column="sessions", slice_columns=[attr]
        )
        for w in det.detect(mat, slices=slices, times=times, counts=counts):
            iid = f"{metric}@{attr}={w.slice[attr]}@{w.start}"
            out.append(Incident(iid, metric, w, bucket_seconds))
    out.sort(key=lambda i: -i.window.severity)
    return out


def _leaf_sums(
    plays: pa.Table, attributes: Sequence[str], period: np.ndarray, metric: str
) -> pa.Table:
    num_col, den_col = MEASURES[metric]
    sm = session_metrics(plays)
    raw = np.asarray(sm.column(num_col).to_numpy(zero_copy_only=False), float)
    num = np.nan_to_num(raw)
    if den_col == "started":  # mean play delay: sum over sessions that have one / their number
        den = np.isfinite(raw).astype(float)
    elif den_col == "sessions":
        den = np.ones(plays.num_rows)
    elif den_col is not None:
        den = np.nan_to_num(np.asarray(sm.column(den_col).to_numpy(zero_copy_only=False), float))
    else:
        den = np.zeros(plays.num_rows)
    leaves = plays.select(list(attributes)).append_column("period", pa.array(-period))
    leaves = leaves.append_column("num", pa.array(num)).append_column("den", pa.array(den))
    return leaves.group_by(["period", *attributes]).aggregate([("num", "sum"), ("den", "sum")])


def explain_window(
    settings: Settings,
    *,
    start: datetime,
    end: datetime,
    metric: str = "error_rate",
    attributes: Sequence[str] = SLICE_ATTRIBUTES,
    periods: int = 4,
    season_seconds: int | None = 86400,
    localizer: RootCauseLocalizer | None = None,
) -> Localization:
    """Root causes of ``metric`` in ``[start, end)``; forecast from earlier windows.

    The forecast of each leaf is the mean of ``periods`` earlier windows of the same length:
    the same hours on the previous days (``season_seconds`` apart, respecting daily
    seasonality, the default) or, with ``season_seconds=None``, the windows just before.
    """
    if metric not in MEASURES:
        raise ConfigError(f"metric must be one of {', '.join(MEASURES)}, not {metric!r}")
    if end <= start:
        raise ConfigError(f"window end {end} must be after its start {start}")
    len_us = int((end - start).total_seconds() * 1e6)
    step_us = len_us if season_seconds is None else int(season_seconds * 1e6)
    if step_us < len_us:
        raise ConfigError("season_seconds must be at least the window length")
    start_us = int(start.timestamp() * 1e6)
    first = datetime.fromtimestamp((start_us - periods * step_us) / 1e6, tz=UTC)
    with open_reader(settings) as wh:
        plays = _plays(wh, attributes, first, end)
    if plays.num_rows == 0:
        raise NotFoundError(f"no plays between {first} and {end}")
    t = pc.cast(plays.column("started_at"), pa.timestamp("us", tz="UTC"))
    us = np.asarray(pc.cast(t, pa.int64()).to_numpy(zero_copy_only=False))
    # Period 0 is the window, k = 1..periods the window k seasons earlier; other rows drop out.
    k = np.where(us >= start_us, 0, (start_us - us + step_us - 1) // step_us)
    inside = (us >= start_us - k * step_us) & (us < start_us - k * step_us + len_us)
    keep = inside & (k <= periods)
    plays = plays.filter(pa.array(keep))
    sums = _leaf_sums(plays, attributes, k[keep], metric)
    window = window_forecast(
        sums,
        attributes,
        ["num_sum", "den_sum"],
        time_column="period",
        at=0,
        periods=periods,
        step=1,
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


def explain_incident(
    settings: Settings, incident_id: str, *, bucket_seconds: int = 3600
) -> Localization:
    """Root causes of an incident given by its id (``metric@attr=value@start_epoch``)."""
    try:
        metric, _, start_s = incident_id.split("@")
        start = datetime.fromtimestamp(int(start_s), tz=UTC)
    except ValueError:
        raise ConfigError(
            f"incident id {incident_id!r} is not of the form metric@attr=value@start_epoch"
        ) from None
    return explain_window(
        settings,
        start=start,
        end=datetime.fromtimestamp(int(start_s) + bucket_seconds, tz=UTC),
        metric=metric,
    )


def compare_groups(
    settings: Settings,
    *,
    metric: str = "startup_ms",
    by: str = "app_version",
    a: str,
    b: str,
    since: datetime | None = None,
    n_boot: int = 2000,
    random_state: int | None = 0,
) -> QuantileComparison:
    """Quantile comparison of a per-session metric between ``by == a`` and ``by == b``."""
    with open_reader(settings) as wh:
        plays = _plays(wh, [by], since, None)
    sm = session_metrics(plays)
    if metric not in sm.column_names:
        raise ConfigError(f"metric must be one of {', '.join(sm.column_names)}, not {metric!r}")
    values = np.asarray(sm.column(metric).to_numpy(zero_copy_only=False), dtype=float)
    key = np.asarray(pc.cast(plays.column(by), pa.string()).to_numpy(zero_copy_only=False))
    xa, xb = values[key == a], values[key == b]
    for name, x in ((a, xa), (b, xb)):
        if np.isfinite(x).sum() < 2:
            raise NotFoundError(f"fewer than 2 plays with {by} = {name!r} and a {metric}")
    return compare_quantiles(xa, xb, n_boot=n_boot, random_state=random_state)
