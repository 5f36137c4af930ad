"""Marketing (roles ``analyst``/``admin``): segments, churn risk, uplift (Qini) and lifetime
value, as aggregates only, from :mod:`reelmine.service.marketing`.

Per-member scores are row-level personal data, so analysts see distributions (members per risk
band, reasons counted) and per-group averages; models are fitted once per warehouse version
(:func:`~reelmine.api.routes._charts.cached`) because a fit takes seconds. Every chart passes
the privacy release gate after the cache (a segment, band, reason, plan or group with fewer than
``min_group_size`` members is a gap); the Qini curve is gated by the members each step adds.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query, Request

from reelmine.api.auth import require
from reelmine.api.errors import Unavailable
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters, Series
from reelmine.api.routes._charts import (
    RESPONSES,
    cached,
    gate_chart,
    gate_table,
    ignored,
    need,
    suppressed_note,
    table_chart,
    warehouse_settings,
)
from reelmine.errors import ConfigError
from reelmine.settings import Settings

if TYPE_CHECKING:
    from reelmine.marketing.uplift import UpliftReport
    from reelmine.service.marketing import LtvResult, SegmentsResult

router = APIRouter(
    prefix="/v1/analytics/marketing",
    tags=["marketing"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)
AsOfQ = Query(None, description="Scoring date (YYYY-MM-DD); default the day after the data.")
CampaignQ = Query(None, max_length=200, description="Campaign; default the service's choice.")
NOTE_AS_OF = "Filters start and country do not apply; end sets the scoring date."


def _as_of(settings: Settings, as_of: date | None, f: Filters) -> str:
    """Scoring date: ``as_of``, else the day after ``end``, else the day after the last play."""
    if as_of is not None:
        return as_of.isoformat()
    if f.end is not None:
        return (f.end + timedelta(days=1)).isoformat()
    from reelmine.service.overview import daily_activity

    days = daily_activity(settings)["day"].to_pylist()
    if not days:
        raise Unavailable("no plays in the warehouse to score")
    return (days[-1] + timedelta(days=1)).isoformat()


def _short_history(exc: ConfigError) -> Unavailable:
    # The models need weeks of history before the scoring date: say so as 503, not 500.
    return Unavailable(f"not enough history for this model: {exc}")


def _segments(settings: Settings, as_of: str) -> SegmentsResult:
    need("marketing")
    from reelmine.service import marketing

    try:
        return cached(settings, ("segments", as_of), lambda: marketing.segments(settings, as_of))
    except ConfigError as exc:
        raise _short_history(exc) from exc


def _churn(settings: Settings, as_of: str, horizon: int) -> pa.Table:
    need("marketing")
    from reelmine.service import marketing

    try:
        return cached(
            settings,
            ("churn", as_of, horizon),
            lambda: marketing.churn_scores(settings, as_of, horizon_days=horizon),
        )
    except ConfigError as exc:
        raise _short_history(exc) from exc


def _uplift(settings: Settings, campaign_id: str | None) -> UpliftReport:
    need("marketing")
    from reelmine.service import marketing

    try:
        return cached(
            settings, ("uplift", campaign_id), lambda: marketing.uplift(settings, campaign_id)
        )
    except ConfigError as exc:
        raise _short_history(exc) from exc


def _ltv(settings: Settings, as_of: str) -> LtvResult:
    need("marketing")
    from reelmine.service import marketing

    try:
        return cached(settings, ("ltv", as_of), lambda: marketing.ltv(settings, as_of))
    except ConfigError as exc:
        raise _short_history(exc) from exc


@router.get("/segments", response_model=ChartData, summary="Segment sizes")
def segments(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    as_of: date | None = AsOfQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Members per behavioural segment (k chosen by silhouette) at ``as_of`` (bars)."""
    s = _segments(settings, _as_of(settings, as_of, filters))
    chart = ChartData(
        kind="bar",
        title=f"Segments on {s.as_of:%Y-%m-%d}",
        x=[p.name for p in s.profiles],
        series=[Series(name="members", data=[float(p.members) for p in s.profiles])],
        members=[p.members for p in s.profiles],
        unit="members",
        note=f"k={s.k}, bootstrap stability (ARI) {s.stability_ari:.2f}. {NOTE_AS_OF}",
    )
    return _gated(request, settings, chart)


def _gated(request: Request, settings: Settings, chart: ChartData) -> ChartData:
    """A chart whose categories partition (or count) members, through the gate."""
    return suppressed_note(gate_chart(request, settings, chart), settings.min_group_size)


@router.get("/segment-profiles", response_model=ChartData, summary="Segment profiles")
def segment_profiles(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    as_of: date | None = AsOfQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Each segment's size and the features that set it apart (z = standardised gap)."""
    s = _segments(settings, _as_of(settings, as_of, filters))
    t = pa.table(
        {
            "segment": [p.name for p in s.profiles],
            "members": [p.members for p in s.profiles],
            "share": [float(p.share) for p in s.profiles],
            "distinguishing": [
                ", ".join(f"{d['feature']} z={float(d['z']):+.2f}" for d in p.distinguishing[:4])
                for p in s.profiles
            ],
        }
    )
    # The shares sum to one, a published total: complementary suppression covers it.
    t = gate_table(request, settings, t, group_by=["segment"])
    chart = table_chart("Segment profiles", t, note=NOTE_AS_OF)
    return suppressed_note(chart, settings.min_group_size)


@router.get("/churn", response_model=ChartData, summary="Churn risk distribution")
def churn(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    as_of: date | None = AsOfQ,
    horizon_days: int = Query(30, ge=7, le=180, description="Churn within this many days."),
    bins: int = Query(10, ge=2, le=50),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Members per band of predicted churn probability (bars; ``members`` per band)."""
    t = _churn(settings, _as_of(settings, as_of, filters), horizon_days)
    p = np.asarray(t["churn_probability"].to_numpy(zero_copy_only=False), dtype=float)
    counts, edges = np.histogram(p, bins=bins, range=(0.0, 1.0))
    labels = [f"{edges[i]:.0%}-{edges[i + 1]:.0%}" for i in range(bins)]
    chart = ChartData(
        kind="bar",
        title=f"Churn risk within {horizon_days} days",
        x=labels,
        series=[Series(name="members", data=[float(c) for c in counts])],
        members=[int(c) for c in counts],
        unit="members",
        note=f"{len(p)} active members scored; mean risk {p.mean():.1%}. {NOTE_AS_OF}"
        if len(p)
        else NOTE_AS_OF,
    )
    return _gated(request, settings, chart)


@router.get("/churn-reasons", response_model=ChartData, summary="Why members are at risk")
def churn_reasons(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    as_of: date | None = AsOfQ,
    horizon_days: int = Query(30, ge=7, le=180),
    min_risk: float | None = Query(
        None,
        ge=0,
        le=1,
        description="Members at least this risky; default the riskiest tenth of members.",
    ),
    limit: int = Query(10, ge=1, le=100),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """How often each reason appears among the members at risk (horizontal bars)."""
    t = _churn(settings, _as_of(settings, as_of, filters), horizon_days)
    # A fixed default threshold leaves the chart empty whenever calibrated risks are low (a
    # healthy base, or a small one); the riskiest tenth always describes someone.
    if min_risk is None:
        p = t["churn_probability"].to_numpy(zero_copy_only=False)
        threshold = float(np.quantile(p, 0.9)) if len(p) else 1.0
        who = "the riskiest 10% of members"
    else:
        threshold = min_risk
        who = f"members at risk >= {min_risk:.0%}"
    risky = t.filter(pc.greater_equal(t["churn_probability"], threshold))
    # A reason reads "high days_since_last_play (4.09)": count the direction and feature.
    counter: Counter[str] = Counter(
        r.split(" (")[0].strip()
        for why in risky["top_reasons"].to_pylist()
        for r in (why or "").split(";")
        if r.strip()
    )
    top = counter.most_common(limit)
    chart = ChartData(
        kind="hbar",
        title=f"Reasons among {risky.num_rows} of {who}",
        x=[k for k, _ in top],
        series=[Series(name="members", data=[float(v) for _, v in top])],
        members=[v for _, v in top],
        unit="members",
        note=NOTE_AS_OF,
    )
    return _gated(request, settings, chart)


@router.get("/qini", response_model=ChartData, summary="Qini curve of a campaign")
def qini(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    campaign_id: str | None = CampaignQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Incremental conversions when targeting the top share by predicted uplift, against
    random targeting (line; cross-fitted, out of fold)."""
    r = _uplift(settings, campaign_id)
    # Each point adds the next share of members ranked by uplift: differencing two points
    # describes that step, so a step is a cell with the members it adds.
    reached = [int(round(float(c["share_targeted"]) * r.members)) for c in r.curve]
    steps = [b - a for a, b in zip([0, *reached[:-1]], reached, strict=True)]
    # The 0% point is zero by definition; it stands for the campaign's whole population.
    steps = [r.members if n == 0 else st for n, st in zip(reached, steps, strict=True)]
    chart = ChartData(
        kind="line",
        title=f"Qini curve: {r.campaign_id}",
        x=[f"{c['share_targeted']:.0%}" for c in r.curve],
        series=[
            Series(name="model", data=[float(c["incremental"]) for c in r.curve]),
            Series(name="random", data=[float(c["random"]) for c in r.curve]),
        ],
        members=list[int | None](steps),
        unit="incremental conversions",
        note=(
            f"Qini {r.qini:.4f} (95% CI {r.qini_ci[0]:.4f} to {r.qini_ci[1]:.4f}); "
            f"{r.members} members, {r.treated} treated. "
            + ignored(filters, "start", "end", "country")
        ).strip(),
    )
    return _gated(request, settings, chart)


@router.get("/uplift", response_model=ChartData, summary="Uplift by member group")
def uplift(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    campaign_id: str | None = CampaignQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Predicted and observed uplift per age band and plan (bars; ``members`` per group)."""
    r = _uplift(settings, campaign_id)
    groups = r.by_group
    # Groups are cells of their column (age band, plan), gated within it.
    g = gate_table(
        request,
        settings,
        pa.table(
            {
                "column": pa.array([str(x["column"]) for x in groups], pa.string()),
                "value": pa.array([str(x["value"]) for x in groups], pa.string()),
                "members": pa.array([int(_num(x["members"]) or 0) for x in groups], pa.int64()),
            }
        ),
        group_by=["column", "value"],
    )
    hidden = g["suppressed"].to_pylist()
    pred = [None if h else _num(x["predicted_uplift"]) for h, x in zip(hidden, groups, strict=True)]
    obs = [None if h else _num(x["observed_uplift"]) for h, x in zip(hidden, groups, strict=True)]
    chart = ChartData(
        kind="bar",
        title=f"Uplift by group: {r.campaign_id}",
        x=[f"{g['column']}={g['value']}" for g in groups],
        series=[Series(name="predicted", data=pred), Series(name="observed", data=obs)],
        members=g["members"].to_pylist(),
        unit="conversion rate",
        note=ignored(filters, "start", "end", "country"),
        suppressed=sum(hidden),
    )
    return suppressed_note(chart, settings.min_group_size)


def _num(v: object) -> float | None:
    """A finite float, else ``None`` (observed uplift is NaN for a group without controls)."""
    f = float(v) if isinstance(v, int | float | np.number) else float("nan")
    return f if np.isfinite(f) else None


@router.get("/ltv", response_model=ChartData, summary="Expected value by plan")
def ltv(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    as_of: date | None = AsOfQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Mean expected remaining value per member, by plan (bars; ``members`` per plan)."""
    r = _ltv(settings, _as_of(settings, as_of, filters))
    g = r.members.group_by("plan").aggregate(
        [("expected_value", "mean"), ("expected_remaining_days", "mean"), ("user_id", "count")]
    )
    g = g.sort_by([("expected_value_mean", "descending")])
    chart = ChartData(
        kind="bar",
        title="Expected remaining value per member by plan",
        x=[str(v) for v in g["plan"].to_pylist()],
        series=[
            Series(name="value", data=[float(v) for v in g["expected_value_mean"].to_pylist()])
        ],
        members=[int(v) for v in g["user_id_count"].to_pylist()],
        unit="value",
        note=f"Survival fit concordance {r.concordance:.2f}. {NOTE_AS_OF}",
    )
    return _gated(request, settings, chart)
