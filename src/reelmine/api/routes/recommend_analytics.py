"""Recommendation analytics (roles ``analyst``/``admin``): the Recommendations page's charts.

Aggregates over the model in service, never a member's own data:

* ``/quality``: offline quality (nDCG@10, recall@10) of the bundle's model next to the
  popularity baseline, from :func:`reelmine.service.recommend.bundle_evaluation` (computed on
  first use, then kept in the bundle); one cell per model, its ``members`` the members
  evaluated;
* ``/coverage``: share of the catalogue that appears in some member's top 10, per member
  country (:meth:`~reelmine.service.recommend.LoadedBundle.coverage`); one cell per country.

Both pass the privacy release gate like every analytics route. Until a model is trained they
answer 503 saying what to run.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query, Request

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters
from reelmine.api.routes._charts import (
    RESPONSES,
    gate_table,
    ignored,
    series_chart,
    suppressed_note,
    warehouse_settings,
)
from reelmine.api.routes.users import recommender
from reelmine.settings import Settings

router = APIRouter(
    prefix="/v1/analytics/recommend",
    tags=["recommend"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)


@router.get("/quality", response_model=ChartData, summary="Offline quality by model")
def quality(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """nDCG@10 and recall@10 of the model in service and the popularity baseline (bars), on a
    per-member temporal holdout of the warehouse (``docs/recommend-evaluation.md``)."""
    from reelmine.service.recommend import bundle_evaluation

    _, bundle = recommender(request)  # 503 until a model is trained
    t = bundle_evaluation(settings)
    t = t.select(["model", "ndcg@10", "recall@10", "coverage@10", "n_users"])
    t = t.set_column(4, "members", pc.cast(t["n_users"], pa.int64()))
    t = gate_table(request, settings, t, group_by=["model"])
    serving = bundle.meta.get("model", "")
    chart = series_chart(
        "bar",
        "Offline quality by model",
        t,
        "model",
        {"nDCG@10": "ndcg@10", "recall@10": "recall@10"},
        unit="score (0-1)",
        members="members",
        note=" ".join(
            s
            for s in (
                f"Model in service: {serving}. Latest 20% of each member's history held out.",
                ignored(filters, "start", "end", "country"),
            )
            if s
        ),
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/coverage", response_model=ChartData, summary="Catalogue coverage by country")
def coverage(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    k: int = Query(10, ge=1, le=100, description="Length of each member's list."),
) -> ChartData:
    """Share of the catalogue recommended to at least one member in each country (bars)."""
    _, bundle = recommender(request)  # 503 until a model is trained
    settings: Settings = request.app.state.settings
    t = bundle.coverage(k)
    if filters.country is not None:
        t = t.filter(pc.equal(t["country"], filters.country))
    t = gate_table(request, settings, t, group_by=["country"])
    n_items = bundle.model.n_items_
    chart = series_chart(
        "bar",
        f"Catalogue coverage of top-{k} lists",
        t,
        "country",
        {"coverage": "coverage"},
        unit="share of catalogue",
        members="members",
        note=" ".join(
            s
            for s in (
                f"Catalogue: {n_items} titles; each country's members' top-{k} lists together.",
                ignored(filters, "start", "end"),
            )
            if s
        ),
    )
    return suppressed_note(chart, settings.min_group_size)
