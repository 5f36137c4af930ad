"""Streaming-quality analytics (roles ``analyst``/``admin``): the Streaming quality page.

Metric time series with detected incidents shaded, a slice heatmap, the incident list, the
root causes of an incident and a quantile comparison between two groups, all from
:mod:`reelmine.service.quality`. Aggregates only: no member appears in any answer.

Privacy gate: the quality service counts sessions, not distinct members, so every cell is gated
by its session count (``sessions``, a cause's ``volume``, a group's plays), the closest count
available; a slice needs ``max(min_count, min_group_size)`` sessions per bucket before the
detector scores it, so incidents never describe a smaller group.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, get_args

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import Band, ChartData, Filters, Series
from reelmine.api.routes._charts import (
    RESPONSES,
    cached,
    day_after,
    day_start,
    filter_dates,
    filter_eq,
    gate_table,
    heatmap_chart,
    ignored,
    label,
    need,
    series_chart,
    suppressed_note,
    table_chart,
    warehouse_settings,
)
from reelmine.errors import NotFoundError
from reelmine.settings import Settings

if TYPE_CHECKING:
    from reelmine.service.quality import Incident

router = APIRouter(
    prefix="/v1/analytics/quality",
    tags=["quality"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)

# The detectable metrics of reelmine.service.quality.DETECTABLE (a test keeps them equal).
Metric = Literal[
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
]
# reelmine.service.quality.SLICE_ATTRIBUTES
Attribute = Literal["country", "cdn", "isp", "device_type", "app_version"]
SessionMetric = Literal["startup_ms", "rebuffer_ratio", "avg_bitrate_kbps", "watch_seconds"]
# Root-cause analysis works on sums; each detectable metric maps to the sum it is made of.
EXPLAINABLE: dict[str, str] = {
    "error_rate": "error_rate",
    "ebvs_rate": "ebvs_rate",
    "bad_share": "bad_share",
    "rebuffer_ratio": "rebuffer_ratio",
    "startup_p50": "startup_ms",
    "startup_p90": "startup_ms",
    "startup_p95": "startup_ms",
    "startup_p99": "startup_ms",
}
UNITS = {"rebuffer_ratio": "share", "avg_bitrate_kbps": "kbit/s", "rebuffers_per_hour": "per h"}

MetricQ = Query("startup_p95", description="Aggregated quality metric.")
BucketQ = Query(1, ge=1, le=24 * 7, description="Time bucket, hours.")
ZQ = Query(5.0, gt=0, le=100, description="Robust z-score that makes a bucket anomalous.")
MinQ = Query(30, ge=1, description="Sessions a slice-bucket needs to be scored.")


def _unit(metric: str) -> str:
    return UNITS.get(metric, "ms" if metric.startswith("startup") else "share")


def _incidents(
    settings: Settings, metric: str, hours: int, z: float, min_count: int, filters: Filters
) -> list[Incident]:
    from reelmine.service import quality

    # A slice-bucket smaller than the minimum group size is never scored (privacy gate).
    min_count = max(min_count, settings.min_group_size)
    found = cached(
        settings,
        ("incidents", metric, hours, z, min_count, filters.start),
        lambda: quality.quality_incidents(
            settings,
            metric=metric,
            bucket_seconds=hours * 3600,
            z_threshold=z,
            min_count=min_count,
            since=day_start(filters.start),
        ),
    )
    hi = day_after(filters.end)
    out = []
    for inc in found:
        w = inc.window
        if hi is not None and w.start >= hi.timestamp():
            continue
        if (
            filters.country is not None
            and w.slice.get("country", filters.country) != filters.country
        ):
            continue
        out.append(inc)
    return out


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@router.get("/metrics", response_model=ChartData, summary="Metric per time bucket, incidents")
def metric_series(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    metric: Metric = MetricQ,
    bucket_hours: int = BucketQ,
    z: float = ZQ,
    min_count: int = MinQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """One quality metric per time bucket (line), detected incidents shaded as bands.

    Incidents are anomaly windows of slices (one CDN, one ISP, ..., or for session shares a
    pair such as one CDN on one ISP); each band is labelled with its slice and severity
    (robust z-score).
    """
    need("quality")
    from reelmine.service import quality

    by = ["country"] if filters.country else []
    t = quality.quality_report(
        settings, by=by, since=day_start(filters.start), bucket_seconds=bucket_hours * 3600
    )
    t = filter_dates(filter_eq(t, "country", filters.country), "bucket", filters)
    t = t.sort_by("bucket")  # the service groups without ordering
    t = gate_table(request, settings, t, group_by=["bucket", *by], members="sessions")
    chart = series_chart(
        "line",
        f"{metric} per {bucket_hours} h",
        t,
        "bucket",
        {metric: metric},
        unit=_unit(metric),
        members="sessions",
    )
    incidents = _incidents(settings, metric, bucket_hours, z, min_count, filters)[:10]
    xs = set(chart.x)
    for inc in incidents:
        w = inc.window
        lo, hi = label(_ts(w.start)), label(_ts(w.end))
        if lo in xs or hi in xs:
            slc = ", ".join(f"{k}={v}" for k, v in w.slice.items())
            chart.bands.append(Band(start=lo, end=hi, label=f"{slc} (z={w.severity:.1f})"))
    chart.note = f"{len(incidents)} incident(s) shaded." if incidents else "No incidents detected."
    chart.note += " Member counts are sessions per bucket."
    return suppressed_note(chart, settings.min_group_size)


@router.get("/incidents", response_model=ChartData, summary="Detected incidents (table)")
def incidents(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    metric: Metric = MetricQ,
    bucket_hours: int = BucketQ,
    z: float = ZQ,
    min_count: int = MinQ,
    limit: int = Query(20, ge=1, le=500),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Anomaly windows of ``metric`` per slice, most severe first (table)."""
    need("quality")
    found = _incidents(settings, metric, bucket_hours, z, min_count, filters)
    rows = {
        "incident_id": [i.incident_id for i in found],
        "slice": [", ".join(f"{k}={v}" for k, v in i.window.slice.items()) for i in found],
        "start": [_ts(i.window.start) for i in found],
        "end": [_ts(i.window.end + bucket_hours * 3600) for i in found],
        "severity": [float(i.window.severity) for i in found],
        "value": [float(i.window.value) for i in found],
        "baseline": [float(i.window.baseline) for i in found],
        # The detector only scores slice-buckets with at least this many sessions.
        "members": [max(min_count, settings.min_group_size)] * len(found),
    }
    t = pa.table(
        rows,
        schema=pa.schema(
            [
                ("incident_id", pa.string()),
                ("slice", pa.string()),
                ("start", pa.timestamp("us", tz="UTC")),
                ("end", pa.timestamp("us", tz="UTC")),
                ("severity", pa.float64()),
                ("value", pa.float64()),
                ("baseline", pa.float64()),
                ("members", pa.int64()),
            ]
        ),
    )
    t = gate_table(request, settings, t, group_by=["incident_id", "slice"], totals=False)
    return table_chart(
        f"Incidents in {metric}",
        t,
        limit=limit,
        note="" if found else "No incidents detected with these settings.",
    )


@router.get("/heatmap", response_model=ChartData, summary="Metric by two slice attributes")
def heatmap(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    metric: Metric = Query("rebuffer_ratio", description="Aggregated quality metric."),
    x: Attribute = Query("cdn", description="Attribute on the x axis."),
    y: Attribute = Query("isp", description="Attribute on the y axis."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """``metric`` for every (x, y) slice over the period (heatmap)."""
    need("quality")
    from reelmine.service import quality

    by = list(dict.fromkeys([x, y, *(["country"] if filters.country else [])]))
    t = filter_eq(
        quality.quality_report(settings, by=by, since=day_start(filters.start)),
        "country",
        filters.country,
    )
    t = gate_table(request, settings, t, group_by=by, members="sessions")
    chart = heatmap_chart(f"{metric} by {x} and {y}", t, x, y, metric, unit=_unit(metric))
    chart.note = ignored(filters, "end")
    return suppressed_note(chart, settings.min_group_size)


@router.get("/root-cause", response_model=ChartData, summary="Root causes of an incident")
def root_cause(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    metric: Metric = MetricQ,
    incident_id: str | None = Query(
        None, max_length=300, description="An id from /incidents; default the most severe."
    ),
    bucket_hours: int = BucketQ,
    z: float = ZQ,
    min_count: int = MinQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """The attribute combinations that explain an incident, best first (table).

    ``explained`` is the share of the deviation the cause accounts for; ``expected`` and
    ``actual`` are the metric's forecast and observed value in the cause's slice; ``volume``
    is the cause's denominator (sessions for rates and play delay, watch seconds for the
    rebuffer ratio).
    """
    need("quality")
    from reelmine.service import quality

    if incident_id is not None:
        metric = incident_id.split("@", 1)[0]  # type: ignore[assignment]
        if metric not in get_args(Metric):
            raise NotFoundError(f"no incident {incident_id!r}")
    found = _incidents(settings, metric, bucket_hours, z, min_count, filters)
    if incident_id is not None:
        found = [i for i in found if i.incident_id == incident_id]
        if not found:
            raise NotFoundError(f"no incident {incident_id!r} with these detection settings")
    cols = ["cause", "explained", "expected", "actual", "volume", "score"]
    empty = pa.table({c: pa.array([], pa.string()) for c in cols})
    empty = empty.append_column("members", pa.array([], pa.int64()))
    empty = gate_table(request, settings, empty, group_by=["cause"])
    if not found:
        return table_chart(f"Root causes ({metric})", empty, note="No incident to explain.")
    inc = found[0]
    if metric not in EXPLAINABLE:
        return table_chart(
            f"Root causes ({metric})",
            empty,
            note=f"Root-cause analysis does not support {metric}; pick a rate or startup metric.",
        )
    w = inc.window
    loc = quality.explain_window(
        settings,
        start=_ts(w.start),
        end=_ts(w.end) + timedelta(hours=bucket_hours),
        metric=EXPLAINABLE[metric],
    )
    t = pa.table(
        {
            "cause": [c.label for c in loc.causes],
            "explained": [float(c.explained) for c in loc.causes],
            "expected": [float(c.expected) for c in loc.causes],
            "actual": [float(c.actual) for c in loc.causes],
            "volume": [float(c.count) for c in loc.causes],
            "score": [float(c.score) for c in loc.causes],
            "members": pa.array([int(c.count) for c in loc.causes], pa.int64()),
        }
    )
    # Causes overlap (nested slices) and sum to the window's total: complementary suppression.
    t = gate_table(request, settings, t, group_by=["cause"], members="members")
    return table_chart(
        f"Root causes of {inc.incident_id}",
        t,
        note=f"{_ts(w.start):%Y-%m-%d %H:%M} to "
        f"{_ts(w.end) + timedelta(hours=bucket_hours):%Y-%m-%d %H:%M} UTC, "
        f"{EXPLAINABLE[metric]}: expected {loc.expected:.4g}, actual {loc.actual:.4g}.",
    )


@router.get("/compare", response_model=ChartData, summary="Quantile comparison of two groups")
def compare(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    metric: SessionMetric = Query("startup_ms", description="Per-session metric."),
    by: Attribute = Query("app_version", description="Attribute that defines the groups."),
    a: str | None = Query(None, max_length=100, description="Group A; default the 2nd largest."),
    b: str | None = Query(None, max_length=100, description="Group B; default the largest."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Difference B - A at each quantile with its bootstrap interval (interval plot)."""
    need("quality")
    from reelmine.service import quality

    if a is None or b is None:
        sizes = quality.quality_report(settings, by=[by], since=day_start(filters.start))
        order = sizes.sort_by([("sessions", "descending")])[by].to_pylist()
        if len(order) < 2:
            raise NotFoundError(f"fewer than two values of {by} to compare")
        b = b or str(order[0])
        a = a or str(next(v for v in order if str(v) != b))
    res = quality.compare_groups(
        settings, metric=metric, by=by, a=a, b=b, since=day_start(filters.start)
    )
    # Both groups' plays gate the whole comparison: B - A would give away a hidden group.
    g = gate_table(
        request,
        settings,
        pa.table({"group": [a, b], "members": pa.array([res.n_a, res.n_b], pa.int64())}),
        group_by=["group"],
    )
    hidden = any(g["suppressed"].to_pylist())
    t = res.table
    q = [f"p{100 * v:g}" for v in t["quantile"].to_pylist()]

    def col(name: str) -> list[float | None]:
        return [None if hidden else float(v) for v in t[name].to_pylist()]

    chart = ChartData(
        kind="interval",
        title=f"{metric}: {by} {b} minus {a}",
        x=q,
        series=[
            Series(name="estimate", data=col("diff")),
            Series(name="low", data=col("low")),
            Series(name="high", data=col("high")),
            Series(name=f"{by}={a}", data=col("a")),
            Series(name=f"{by}={b}", data=col("b")),
        ],
        members=[None] * len(q) if hidden else [min(res.n_a, res.n_b)] * len(q),
        suppressed=len(q) if hidden else 0,
        unit="ms" if metric == "startup_ms" else "",
        note=(
            f"n={res.n_a} vs {res.n_b} plays; Mann-Whitney p={res.p_value:.3g}; "
            f"P(B>A)={res.prob_b_greater:.2f}. " + ignored(filters, "end", "country")
        ).strip(),
    )
    if hidden:
        chart.note = (
            f"Suppressed: a group has fewer than {settings.min_group_size} plays. "
            + ignored(filters, "end", "country")
        ).strip()
    return chart
