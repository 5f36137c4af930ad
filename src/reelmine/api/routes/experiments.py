"""Experiment readouts (roles ``analyst``/``admin``): the Experiments page and its API.

``GET /v1/experiments`` lists experiments, ``GET /v1/experiments/{id}/readout`` answers the
readout JSON of issue 8 (SRM check, per-metric effects with intervals), and the chart
endpoints under ``/v1/analytics/experiments`` draw interval plots and the SRM status. All from
:mod:`reelmine.service.experiments`; readouts are cached per warehouse file version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import (
    ChartData,
    ExperimentInfo,
    ExperimentReadout,
    Filters,
    Series,
    VariantMembers,
)
from reelmine.api.routes._charts import (
    RESPONSES,
    cached,
    ignored,
    need,
    table_chart,
    warehouse_settings,
)
from reelmine.settings import Settings

if TYPE_CHECKING:
    from reelmine.experiments.readout import Readout

router = APIRouter(
    tags=["experiments"],
    dependencies=[Depends(require("analyst"))],
    responses={**RESPONSES, 404: {"model": dict, "description": "unknown experiment"}},
)
E = "/v1/analytics/experiments"

ExperimentId = PathParam(min_length=1, max_length=200, description="The experiment's id.")
Correction = Literal["holm", "bh", "none"]


def readout_for(
    settings: Settings,
    experiment_id: str,
    *,
    control: str = "control",
    alpha: float = 0.05,
    correction: str = "holm",
) -> Readout:
    """The service readout, computed once per warehouse version and parameters."""
    need("experiments")
    from reelmine.service.experiments import experiment_readout

    return cached(
        settings,
        ("readout", experiment_id, control, alpha, correction),
        lambda: experiment_readout(
            settings, experiment_id, control=control, alpha=alpha, correction=correction
        ),
    )


def _experiments(settings: Settings) -> list[ExperimentInfo]:
    need("experiments")
    from reelmine.service.experiments import list_experiments

    by: dict[str, list[VariantMembers]] = {}
    for r in list_experiments(settings):
        by.setdefault(str(r["experiment_id"]), []).append(
            VariantMembers(variant=str(r["variant"]), members=int(r["members"]))  # type: ignore[call-overload]
        )
    return [
        ExperimentInfo(experiment_id=k, members=sum(v.members for v in vs), variants=vs)
        for k, vs in sorted(by.items())
    ]


@router.get(
    "/v1/experiments", response_model=list[ExperimentInfo], summary="Experiments and variants"
)
def experiments(settings: Settings = Depends(warehouse_settings)) -> list[ExperimentInfo]:
    """Every experiment in the warehouse with its variants and member counts."""
    return _experiments(settings)


@router.get(
    "/v1/experiments/{experiment_id}/readout",
    response_model=ExperimentReadout,
    summary="Readout of one experiment",
)
def readout(
    experiment_id: str = ExperimentId,
    control: str = Query("control", max_length=200, description="The control variant."),
    alpha: float = Query(0.05, gt=0, lt=0.5, description="Significance level."),
    correction: Correction = Query("holm", description="Multiple-testing correction."),
    settings: Settings = Depends(warehouse_settings),
) -> ExperimentReadout:
    """SRM check, pre-period balance and per-metric effects with confidence intervals.

    ``blocked`` is true when the sample ratio is off (p < 0.001): the effects are then not
    trustworthy. Non-finite numbers are ``null``. Unknown experiments answer 404.
    """
    r = readout_for(settings, experiment_id, control=control, alpha=alpha, correction=correction)
    return ExperimentReadout.model_validate(r.to_dict())


def _interval_rows(r: Readout, metrics: list[str] | None) -> list[tuple[str, float, float, float]]:
    """``(label, lift %, low %, high %)`` of each metric row, intervals relative to control."""
    out = []
    d = r.to_dict()
    for m in d["metrics"]:
        if metrics is not None and m["metric"] not in metrics:
            continue
        c, lo, hi, lift = m["control"], m["ci_low"], m["ci_high"], m["relative_lift"]
        if not c or lo is None or hi is None or lift is None:
            continue
        name = m["metric"] if metrics is None else r.experiment_id
        out.append((f"{name} · {m['variant']}", 100 * lift, 100 * lo / c, 100 * hi / c))
    return out


@router.get(f"{E}/intervals", response_model=ChartData, summary="Effects with intervals")
def intervals(
    filters: Filters = Depends(analytics_filters),
    experiment_id: str | None = Query(
        None, max_length=200, description="One experiment (all its metrics); default: all."
    ),
    metric: str = Query(
        "hours_viewed", max_length=100, description="Metric shown across experiments."
    ),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Relative lift vs control with its confidence interval (interval plot, percent).

    Without ``experiment_id``: ``metric`` for every experiment and treatment variant; with it:
    every metric of that experiment. Intervals are the absolute interval divided by the
    control value.
    """
    if experiment_id is not None:
        rows = _interval_rows(readout_for(settings, experiment_id), None)
        title = f"{experiment_id}: lift vs control"
    else:
        rows = []
        for e in _experiments(settings):
            rows += _interval_rows(readout_for(settings, e.experiment_id), [metric])
        title = f"{metric}: lift vs control by experiment"
    return ChartData(
        kind="interval",
        title=title,
        x=[r[0] for r in rows],
        series=[
            Series(name="estimate", data=[r[1] for r in rows]),
            Series(name="low", data=[r[2] for r in rows]),
            Series(name="high", data=[r[3] for r in rows]),
        ],
        unit="% vs control",
        note=(
            "95% intervals unless alpha is changed. " + ignored(filters, "start", "end", "country")
        ).strip(),
    )


@router.get(f"{E}/srm", response_model=ChartData, summary="SRM status of every experiment")
def srm(
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Per experiment: members per variant, the SRM p-value, whether the readout is blocked,
    and the primary metric's decision (table)."""
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("experiment", "members", "variants", "srm_p_value", "srm", "primary", "decision")
    }
    for e in _experiments(settings):
        r = readout_for(settings, e.experiment_id).to_dict()
        prim = [m for m in r["metrics"] if m["role"] == "primary"]
        cols["experiment"].append(e.experiment_id)
        cols["members"].append(e.members)
        cols["variants"].append(", ".join(f"{v.variant} {v.members}" for v in e.variants))
        cols["srm_p_value"].append(r["srm"]["p_value"])
        cols["srm"].append("MISMATCH: readout blocked" if r["srm"]["flagged"] else "ok")
        cols["primary"].append(", ".join(sorted({m["metric"] for m in prim})))
        cols["decision"].append(
            "; ".join(f"{m['variant']}: {m['decision'] or 'n/a'}" for m in prim)
        )
    t = pa.table(
        cols,
        schema=pa.schema(
            [
                ("experiment", pa.string()),
                ("members", pa.int64()),
                ("variants", pa.string()),
                ("srm_p_value", pa.float64()),
                ("srm", pa.string()),
                ("primary", pa.string()),
                ("decision", pa.string()),
            ]
        ),
    )
    return table_chart(
        "Sample-ratio check and primary decision",
        t,
        note=(
            "SRM flags at p < 0.001 and blocks the readout. "
            + ignored(filters, "start", "end", "country")
        ).strip(),
    )


@router.get(f"{E}/variants", response_model=ChartData, summary="Members per variant")
def variants(
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Members assigned to each variant of each experiment (stacked bars)."""
    exps = _experiments(settings)
    names = sorted({v.variant for e in exps for v in e.variants})
    counts = {e.experiment_id: {v.variant: v.members for v in e.variants} for e in exps}
    return ChartData(
        kind="stacked",
        title="Members per variant",
        x=[e.experiment_id for e in exps],
        series=[
            Series(name=n, data=[counts[e.experiment_id].get(n) for e in exps])  # type: ignore[misc]
            for n in names
        ],
        members=[e.members for e in exps],
        unit="members",
        note=ignored(filters, "start", "end", "country"),
    )
