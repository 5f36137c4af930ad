"""Interface insights (roles ``analyst``/``admin``): the Interface page and its API twins.

The browse-to-play funnel (overall or one funnel per experiment variant), click-through by row
and column, rows compared with position bias removed, search conversion, search gaps (zero
results or no catalogue match) and the titles search missed, all from
:mod:`reelmine.service.interface`. Every answer passes the privacy release gate: funnel steps,
rows and grid cells are cells with their distinct-member counts; a search query of a
suppressed row is itself hidden (free text may name a member).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query, Request

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters, Series
from reelmine.api.routes._charts import (
    RESPONSES,
    cached,
    filter_eq,
    gate_table,
    heatmap_chart,
    ignored,
    n_suppressed,
    need,
    series_chart,
    suppressed_note,
    table_chart,
    warehouse_settings,
)
from reelmine.privacy.gate import SUPPRESSED
from reelmine.settings import Settings

if TYPE_CHECKING:
    from reelmine.service.interface import SearchReport

router = APIRouter(
    prefix="/v1/analytics/interface",
    tags=["interface"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)
LimitQ = Query(15, ge=1, le=500, description="Rows to return.")
Metric = Literal["ctr", "play_rate", "play_through"]


def _released_first(t: pa.Table) -> pa.Table:
    """Released rows first (their order kept): suppressed ones stay listed after, as gaps."""
    return t.take(pc.sort_indices(t, sort_keys=[(SUPPRESSED, "ascending")]))


def _since_until(f: Filters) -> tuple[str | None, str | None]:
    """The service's ``since`` (inclusive) and ``until`` (exclusive) ISO dates."""
    since = None if f.start is None else f.start.isoformat()
    until = None if f.end is None else (f.end + timedelta(days=1)).isoformat()
    return since, until


@router.get("/funnel", response_model=ChartData, summary="Browse-to-play funnel")
def funnel(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    experiment_id: str | None = Query(
        None, description="One funnel per variant of this experiment (default: all sessions)."
    ),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Browse sessions, those reaching a title page and those playing (one funnel per series).

    ``members`` counts the distinct members at each step (the smallest over variants); a step
    hidden for any variant is hidden for all, so no variant's value is released next to a gap.
    """
    need("interface")
    from reelmine.service import interface

    since, until = _since_until(filters)
    by: list[str] = []
    if filters.country:
        by.append("country")
    if experiment_id is not None:
        by.append("variant")
    r = cached(
        settings,
        ("interface-funnel", tuple(by), experiment_id, since, until),
        lambda: interface.funnel(
            settings, by=by, experiment_id=experiment_id, since=since, until=until
        ),
    )
    t = filter_eq(r.steps, "country", filters.country)
    t = gate_table(request, settings, t, group_by=[*by, "step"])
    steps = ["browse", "title page", "play"]
    groups = sorted(set(t["variant"].to_pylist())) if "variant" in by else ["sessions"]
    hidden = [False] * len(steps)
    members: list[int | None] = [None] * len(steps)
    data = {g: [None] * len(steps) for g in groups}  # type: dict[str, list[float | None]]
    for row in t.to_pylist():  # at most 3 steps x variants rows
        i = steps.index(row["step"])
        g = row["variant"] if "variant" in by else "sessions"
        if row[SUPPRESSED]:
            hidden[i] = True
            continue
        data[g][i] = None if row["sessions"] is None else float(row["sessions"])
        m = row["members"]
        members[i] = m if members[i] is None else min(int(members[i] or 0), int(m))
    for i, h in enumerate(hidden):
        if h:
            members[i] = None
            for g in groups:
                data[g][i] = None
    chart = ChartData(
        kind="funnel",
        title="Browse-to-play funnel" + (f": {experiment_id}" if experiment_id else ""),
        x=steps,
        series=[Series(name=g, data=data[g]) for g in groups],
        members=members,
        unit="sessions",
        note="A session reaches a title page on a click; it plays when it then starts a title.",
        suppressed=n_suppressed(t),
    )
    return suppressed_note(chart, settings.min_group_size)


def _positions(settings: Settings, f: Filters) -> object:
    need("interface")
    from reelmine.service import interface

    since, until = _since_until(f)
    return cached(
        settings,
        ("interface-positions", since, until),
        lambda: interface.position_report(settings, since=since, until=until),
    )


@router.get("/positions", response_model=ChartData, summary="Click-through by row and column")
def positions(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    metric: Metric = Query("ctr", description="ctr, play_rate or play_through."),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Heatmap of the home grid: one cell per row (y) and column position (x)."""
    from reelmine.service.interface import PositionReport

    r = _positions(settings, filters)
    assert isinstance(r, PositionReport)
    t = gate_table(
        request,
        settings,
        r.cells,
        group_by=["row_name", "row_position", "column_position"],
        labels=["page"],
    )
    # "<row position>: <row name>" sorts the rows top to bottom.
    row = pc.binary_join_element_wise(pc.cast(t["row_position"], pa.string()), t["row_name"], ": ")
    t = t.append_column("row", row)
    chart = heatmap_chart(
        {
            "ctr": "Click-through",
            "play_rate": "Plays per impression",
            "play_through": "Plays per click",
        }[metric]
        + " by row and column",
        t,
        "column_position",
        "row",
        metric,
        unit="share",
        note="x: column position (0 = left). " + ignored(filters, "country"),
    )
    return suppressed_note(chart, settings.min_group_size)


@router.get("/rows", response_model=ChartData, summary="Rows with position bias removed")
def rows(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Raw click-through and debiased attractiveness per row (horizontal bars).

    Attractiveness = clicks / expected examinations under the fitted position-based click
    model: what the row's click-through would be at the top-left tile."""
    from reelmine.service.interface import PositionReport

    r = _positions(settings, filters)
    assert isinstance(r, PositionReport)
    t = gate_table(request, settings, r.debiased, group_by=["row_name"], labels=["page"])
    t = _released_first(t).slice(0, limit)
    fr = ", ".join(f"{v:.2f}" for v in r.bias.row_factor)
    fc = ", ".join(f"{v:.2f}" for v in r.bias.column_factor)
    chart = series_chart(
        "hbar",
        "Rows: raw click-through vs position-debiased attractiveness",
        t,
        "row_name",
        {"click-through": "ctr", "debiased attractiveness": "attractiveness"},
        unit="share",
        members="members",
        note=f"Examination by row: {fr}; by column: {fc} (top-left = 1). "
        + ignored(filters, "country"),
    )
    return suppressed_note(chart, settings.min_group_size)


def _search(settings: Settings, f: Filters) -> SearchReport:
    need("interface")
    from reelmine.service import interface

    since, until = _since_until(f)
    return cached(
        settings,
        ("interface-search", since, until),
        lambda: interface.search_report(
            settings, limit=500, min_members=1, since=since, until=until
        ),
    )


@router.get("/search-conversion", response_model=ChartData, summary="Search conversion (table)")
def search_conversion(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Top queries: searches, members, share leading to a play, zero results, reformulated."""
    r = _search(settings, filters)
    t = gate_table(request, settings, r.top, group_by=["query"], hide=["query"])
    s = r.summary.to_pylist()[0]
    note = (
        f"{s['searches']} searches; {s['conversion']:.1%} led to a play. " if s["searches"] else ""
    )
    return table_chart(
        "Search conversion by query",
        t,
        ["query", "searches", "members", "conversion", "zero_result_share", "reformulation_share"],
        limit=limit,
        note=note + ignored(filters, "country"),
    )


@router.get("/search-gaps", response_model=ChartData, summary="Search gaps (table)")
def search_gaps(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Queries that returned no results, or that match no title in the catalogue."""
    r = _search(settings, filters)
    z, g = r.zero_result, r.gaps
    t = pa.table(
        {
            "query": pa.concat_arrays(
                [
                    z["query"].combine_chunks().cast(pa.string()),
                    g["query"].combine_chunks().cast(pa.string()),
                ]
            ),
            "reason": pa.array(["zero results"] * z.num_rows + ["no catalogue match"] * g.num_rows),
            "searches": np.concatenate(
                [values_np(z, "zero_result_searches"), values_np(g, "searches")]
            ),
            "members": np.concatenate([values_np(z, "members"), values_np(g, "members")]).astype(
                np.int64
            ),
            "best_match": pa.array([None] * z.num_rows + g["best_match"].to_pylist(), pa.string()),
        }
    ).sort_by([("searches", "descending"), ("query", "ascending")])
    t = gate_table(
        request, settings, t, group_by=["query", "reason"], labels=["best_match"], hide=["query"]
    )
    t = _released_first(t)
    return table_chart("Search gaps", t, limit=limit, note=ignored(filters, "country"))


def values_np(t: pa.Table, name: str) -> np.ndarray:
    """A numeric column as a float array (nulls as 0)."""
    return np.asarray(pc.fill_null(t[name], 0).to_numpy(zero_copy_only=False), dtype=float)


@router.get("/missed-titles", response_model=ChartData, summary="Titles search missed (table)")
def missed_titles(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    limit: int = LimitQ,
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Searches that ended in a play of a title whose name the query does not match."""
    r = _search(settings, filters)
    t = gate_table(
        request, settings, r.missed, group_by=["query", "title_id"], labels=["name"], hide=["query"]
    )
    t = _released_first(t)
    return table_chart(
        "What search should have found",
        t,
        ["query", "name", "searches", "members", "share_of_query"],
        limit=limit,
        note=ignored(filters, "country"),
    )
