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
from reelmine.quality.detect import AnomalyWindow
from reelmine.quality.metrics import quality_metrics, session_metrics
from reelmine.quality.pipeline import DETECT_SETTINGS, MEASURES, detect_plays, explain_plays
from reelmine.quality.rootcause import Localization, RootCauseLocalizer
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
# Aggregated metrics the detector watches (columns of quality_metrics), in the order of
# :data:`reelmine.quality.pipeline.DETECT_SETTINGS` (direction and proportion per metric).
DETECTABLE = tuple(DETECT_SETTINGS)


@dataclass(frozen=True)
class Incident:
    """A detected anomaly window with a stable id ``metric@slice@start_epoch`` (the slice as
    ``attr=value``, pairs joined by ``&``)."""

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
    """Anomaly windows of ``metric`` per slice (see :func:`~reelmine.quality.pipeline.detect_plays`:
    each attribute value; for session shares also pairs of values and pooled buckets).

    ``avg_bitrate_kbps`` is watched for drops, every other metric for rises. Slice-buckets
    with fewer than ``min_count`` sessions are not scored.
    """
    if metric not in DETECTABLE:
        raise ConfigError(f"metric must be one of {', '.join(DETECTABLE)}, not {metric!r}")
    with open_reader(settings) as wh:
        plays = _plays(wh, attributes, since, None)
    alarms = detect_plays(
        plays,
        [metric],
        attributes,
        bucket_seconds=bucket_seconds,
        z_threshold=z_threshold,
        min_count=min_count,
    )
    return [
        Incident(_incident_id(metric, a.window), metric, a.window, bucket_seconds) for a in alarms
    ]


def _incident_id(metric: str, window: AnomalyWindow) -> str:
    where = "&".join(f"{attr}={value}" for attr, value in window.slice.items())
    return f"{metric}@{where}@{window.start}"


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
    return explain_plays(
        plays,
        attributes,
        metric,
        start_us=start_us,
        end_us=start_us + len_us,
        periods=periods,
        step_us=step_us,
        localizer=localizer,
    )


def explain_incident(
    settings: Settings, incident_id: str, *, bucket_seconds: int = 3600
) -> Localization:
    """Root causes of an incident given by its id (``metric@slice@start_epoch``)."""
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
