"""Experiment readouts (roles ``analyst``/``admin``): the Experiments page and its API.

``GET /v1/experiments`` lists experiments, ``GET /v1/experiments/{id}/readout`` answers the
readout JSON of issue 8 (SRM check, per-metric effects with intervals), and the chart
endpoints under ``/v1/analytics/experiments`` draw interval plots and the SRM status. All from
:mod:`reelmine.service.experiments`; readouts are cached per warehouse file version.

Privacy gate: a variant is a cell of its experiment (``members`` assigned), the experiment's
total a total row. A suppressed variant shows ``members = null`` and ``suppressed = true``;
every effect that involves it (its own, or all of them when the control is hidden) is nulled,
and so are the SRM p-value and the balance table, which are functions of the hidden counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import Field

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import (
    BalanceItem,
    ChartData,
    ExperimentInfo,
    ExperimentReadout,
    Filters,
    ReadoutMetric,
    Series,
    VariantMembers,
)
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
from reelmine.settings import Settings

if TYPE_CHECKING:
    from reelmine.experiments.readout import Readout

router = APIRouter(
    tags=["experiments"],
    dependencies=[Depends(require("analyst"))],
    responses={**RESPONSES, 404: {"model": dict, "description": "unknown experiment"}},
)
E = "/v1/analytics/experiments"


class GatedVariant(VariantMembers):
    """Members assigned to one variant; ``null`` with ``suppressed`` when fewer than
    ``min_group_size`` (or hidden so that a total cannot give a small variant back)."""

    members: int | None  # type: ignore[assignment]
    suppressed: bool = False


class GatedExperiment(ExperimentInfo):
    """One experiment with its variants, through the privacy gate."""

    members: int | None  # type: ignore[assignment]
    variants: list[GatedVariant]  # type: ignore[assignment]
    suppressed: bool = False


class GatedMetric(ReadoutMetric):
    """One readout row; all numbers null with ``suppressed`` when a variant it compares is."""

    n_control: int | None = 0  # type: ignore[assignment]
    n_treatment: int | None = 0  # type: ignore[assignment]
    suppressed: bool = False


class GatedReadout(ExperimentReadout):
    """An experiment readout through the privacy gate (see the module docstring)."""

    variants: list[GatedVariant]  # type: ignore[assignment]
    metrics: list[GatedMetric]  # type: ignore[assignment]
    suppressed: int = Field(default=0, description="Variants hidden by the privacy gate.")


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


def _gated(request: Request, settings: Settings) -> list[GatedExperiment]:
    """Every experiment, variants as cells and the experiment's members as their total row."""
    exps = _experiments(settings)
    ids = [e.experiment_id for e in exps for _ in range(len(e.variants) + 1)]
    names = [n for e in exps for n in [*(v.variant for v in e.variants), None]]
    counts = [m for e in exps for m in [*(v.members for v in e.variants), e.members]]
    t = pa.table(
        {
            "experiment_id": pa.array(ids, pa.string()),
            "variant": pa.array(names, pa.string()),
            "members": pa.array(counts, pa.int64()),
        }
    )
    g = gate_table(request, settings, t, group_by=["experiment_id", "variant"]).to_pylist()
    out, i = [], 0
    for e in exps:
        rows = g[i : i + len(e.variants) + 1]
        i += len(rows)
        out.append(
            GatedExperiment(
                experiment_id=e.experiment_id,
                members=rows[-1]["members"],
                suppressed=rows[-1]["suppressed"],
                variants=[
                    GatedVariant(
                        variant=v.variant, members=r["members"], suppressed=r["suppressed"]
                    )
                    for v, r in zip(e.variants, rows[:-1], strict=True)
                ],
            )
        )
    return out


@router.get(
    "/v1/experiments", response_model=list[GatedExperiment], summary="Experiments and variants"
)
def experiments(
    request: Request, settings: Settings = Depends(warehouse_settings)
) -> list[GatedExperiment]:
    """Every experiment in the warehouse with its variants and member counts (gated)."""
    return _gated(request, settings)


def _hidden(request: Request, settings: Settings, experiment_id: str) -> dict[str, bool]:
    """Which variants of an experiment the gate hides (unknown experiment: none)."""
    for e in _gated(request, settings):
        if e.experiment_id == experiment_id:
            return {v.variant: v.suppressed for v in e.variants}
    return {}


@router.get(
    "/v1/experiments/{experiment_id}/readout",
    response_model=GatedReadout,
    summary="Readout of one experiment",
)
def readout(
    request: Request,
    experiment_id: str = ExperimentId,
    control: str = Query("control", max_length=200, description="The control variant."),
    alpha: float = Query(0.05, gt=0, lt=0.5, description="Significance level."),
    correction: Correction = Query("holm", description="Multiple-testing correction."),
    settings: Settings = Depends(warehouse_settings),
) -> ExperimentReadout:
    """SRM check, pre-period balance and per-metric effects with confidence intervals.

    ``blocked`` is true when the sample ratio is off (p < 0.001): the effects are then not
    trustworthy. Non-finite numbers are ``null``. Unknown experiments answer 404. Variants
    with fewer than ``min_group_size`` members are suppressed (see the module docstring).
    """
    r = readout_for(settings, experiment_id, control=control, alpha=alpha, correction=correction)
    out = GatedReadout.model_validate(r.to_dict())
    hidden = _hidden(request, settings, experiment_id)
    for v in out.variants:
        if hidden.get(v.variant, False):
            v.members, v.suppressed = None, True
    if not any(hidden.values()):
        return out
    out.suppressed = sum(hidden.values())
    out.srm.p_value = None  # a function of the hidden counts
    out.balance = [
        BalanceItem(
            covariate=b.covariate,
            control_mean=None,
            treatment_mean=None,
            std_diff=None,
            p_value=None,
            flagged=b.flagged,
        )
        for b in out.balance
    ]
    for m in out.metrics:
        if hidden.get(m.variant, False) or hidden.get(out.control, False):
            m.control = m.effect = m.relative_lift = m.ci_low = m.ci_high = None
            m.p_value = m.p_value_adjusted = m.variance_reduction = None
            m.n_control = m.n_treatment = None
            m.decision, m.suppressed = "suppressed", True
    return out


def _interval_rows(
    r: Readout, metrics: list[str] | None, sizes: dict[str, int | None]
) -> list[tuple[str, float, float, float, int | None]]:
    """``(label, lift %, low %, high %, members)`` of each metric row, intervals relative to
    control; ``members`` is the smaller of the variant's and the control's gated counts."""
    out = []
    d = r.to_dict()
    ctl = sizes.get(d["control"])
    for m in d["metrics"]:
        if metrics is not None and m["metric"] not in metrics:
            continue
        c, lo, hi, lift = m["control"], m["ci_low"], m["ci_high"], m["relative_lift"]
        if not c or lo is None or hi is None or lift is None:
            continue
        name = m["metric"] if metrics is None else r.experiment_id
        var = sizes.get(m["variant"])
        n = None if var is None or ctl is None else min(var, ctl)
        out.append((f"{name} · {m['variant']}", 100 * lift, 100 * lo / c, 100 * hi / c, n))
    return out


@router.get(f"{E}/intervals", response_model=ChartData, summary="Effects with intervals")
def intervals(
    request: Request,
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
    gated = {
        e.experiment_id: {v.variant: v.members for v in e.variants}
        for e in _gated(request, settings)
    }
    if experiment_id is not None:
        r0 = readout_for(settings, experiment_id)
        rows = _interval_rows(r0, None, gated.get(experiment_id, {}))
        title = f"{experiment_id}: lift vs control"
    else:
        rows = []
        for eid, sizes in gated.items():
            rows += _interval_rows(readout_for(settings, eid), [metric], sizes)
        title = f"{metric}: lift vs control by experiment"
    chart = ChartData(
        kind="interval",
        title=title,
        x=[r[0] for r in rows],
        series=[
            Series(name="estimate", data=[r[1] for r in rows]),
            Series(name="low", data=[r[2] for r in rows]),
            Series(name="high", data=[r[3] for r in rows]),
        ],
        members=[r[4] for r in rows],
        unit="% vs control",
        note=(
            "95% intervals unless alpha is changed. " + ignored(filters, "start", "end", "country")
        ).strip(),
    )
    # Lifts are not additive, so no totals: a row is hidden when either arm is too small.
    chart = gate_chart(request, settings, chart, totals=False)
    return suppressed_note(chart, settings.min_group_size)


@router.get(f"{E}/srm", response_model=ChartData, summary="SRM status of every experiment")
def srm(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Per experiment: members per variant, the SRM p-value, whether the readout is blocked,
    and the primary metric's decision (table)."""
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("experiment", "members", "variants", "srm_p_value", "srm", "primary", "decision")
    }
    for e in _gated(request, settings):
        r = readout_for(settings, e.experiment_id).to_dict()
        prim = [m for m in r["metrics"] if m["role"] == "primary"]
        hidden = {v.variant for v in e.variants if v.suppressed}
        prim = [m for m in prim if m["variant"] not in hidden and r["control"] not in hidden]
        cols["experiment"].append(e.experiment_id)
        # A row with a hidden variant is hidden whole (its total too): no partial rows.
        cols["members"].append(None if hidden else e.members)
        cols["variants"].append(
            ", ".join(
                f"{v.variant} {'suppressed' if v.suppressed else v.members}" for v in e.variants
            )
        )
        cols["srm_p_value"].append(None if hidden else r["srm"]["p_value"])
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
    flags = [any(v.suppressed for v in e.variants) for e in _gated(request, settings)]
    t = t.append_column("suppressed", pa.array(flags, pa.bool_()))
    t = t.append_column(
        "suppression", pa.array(["variant" if f else None for f in flags], pa.string())
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
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Members assigned to each variant of each experiment (stacked bars; hidden variants and
    experiments are gaps)."""
    exps = _gated(request, settings)
    names = sorted({v.variant for e in exps for v in e.variants})
    counts = {e.experiment_id: {v.variant: v.members for v in e.variants} for e in exps}
    chart = ChartData(
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
        suppressed=sum(v.suppressed for e in exps for v in e.variants),
    )
    return suppressed_note(chart, settings.min_group_size)
