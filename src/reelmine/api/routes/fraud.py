"""Fraud & security: aggregates for analysts, per-account flags for admins only.

Flags name pseudonymised accounts and carry evidence (places, times): row-level personal
data. So ``analyst`` keys get counts by type and day (with the number of distinct accounts),
and only ``admin`` keys may list flags or an account's households. All from
:mod:`reelmine.service.fraud`; flags come from the last ``reelmine fraud scan``. The aggregates
pass the privacy release gate, counted in distinct flagged accounts; the admin-only row-level
lists are deliberate member lists and are not gated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from reelmine.api.auth import require
from reelmine.api.filters import analytics_filters
from reelmine.api.models import ChartData, Filters, Series
from reelmine.api.routes._charts import (
    RESPONSES,
    cell,
    filter_dates,
    gate_chart,
    gate_table,
    ignored,
    need,
    suppressed_note,
    table_chart,
    warehouse_settings,
)
from reelmine.settings import Settings

analytics = APIRouter(
    prefix="/v1/analytics/fraud",
    tags=["fraud"],
    dependencies=[Depends(require("analyst"))],
    responses=RESPONSES,
)
admin = APIRouter(
    prefix="/v1/fraud",
    tags=["fraud"],
    dependencies=[Depends(require("admin"))],
    responses=RESPONSES,
)


class Flag(BaseModel):
    """One fraud flag on a pseudonymised account."""

    user_id: str = Field(description="Pseudonymised account id.")
    type: str
    score: float
    window_start: datetime | None
    window_end: datetime | None
    evidence: str


class Household(BaseModel):
    """One place an account is used from (a household when ``is_household``)."""

    household: int
    latitude: float | None
    longitude: float | None
    city: str | None
    days: int
    plays: int
    devices: int
    is_household: bool


def _flags(settings: Settings, filters: Filters, type_: str | None = None) -> pa.Table:
    need("fraud")
    from reelmine.service.fraud import list_flags

    return filter_dates(list_flags(settings, type=type_), "window_start", filters)


def _types() -> list[str]:
    from reelmine.fraud.flags import FLAG_TYPES

    return list(FLAG_TYPES)


@analytics.get("/signals", response_model=ChartData, summary="Flags per day by type")
def signals(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Flags per UTC day (of the flagged window's start), stacked by type. ``members`` counts
    the distinct flagged accounts per day."""
    f = _flags(settings, filters)
    # Flags are few (a handful per day), so counting them in Python is fine.
    days = [cell(d.date()) for d in f["window_start"].to_pylist()]
    types = f["type"].to_pylist()
    users = f["user_id"].to_pylist()
    xs = sorted({str(d) for d in days})
    count: Counter[tuple[str, str]] = Counter(zip(map(str, days), types, strict=True))
    accounts: dict[str, set[str]] = defaultdict(set)
    cell_accounts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for d, t, u in zip(days, types, users, strict=True):
        accounts[str(d)].add(u)
        cell_accounts[(str(d), t)].add(u)
    present = [t for t in _types() if any(count[(x, t)] for x in xs)]
    # Cells (day, type) with their distinct accounts, and each day's total row (type null):
    # complementary suppression keeps a hidden cell from the day's total.
    keys = [(x, t) for x in xs for t in present if count[(x, t)]] + [(x, None) for x in xs]
    g = gate_table(
        request,
        settings,
        pa.table(
            {
                "day": pa.array([k[0] for k in keys], pa.string()),
                "type": pa.array([k[1] for k in keys], pa.string()),
                "members": pa.array(
                    [
                        len(accounts[x]) if t is None else len(cell_accounts[(x, t)])
                        for x, t in keys
                    ],
                    pa.int64(),
                ),
            }
        ),
        group_by=["day", "type"],
    )
    hidden = {
        (d, t)
        for d, t, h in zip(
            g["day"].to_pylist(), g["type"].to_pylist(), g["suppressed"].to_pylist(), strict=True
        )
        if h
    }
    chart = ChartData(
        kind="stacked",
        title="Flags per day by type",
        x=xs,
        series=[
            Series(
                name=t,
                data=[None if {(x, t), (x, None)} & hidden else float(count[(x, t)]) for x in xs],
            )
            for t in present
        ],
        members=[None if (x, None) in hidden else len(accounts[x]) for x in xs],
        unit="flags",
        note=ignored(filters, "country"),
        suppressed=len(hidden),
    )
    return suppressed_note(chart, settings.min_group_size)


@analytics.get("/types", response_model=ChartData, summary="Flags and accounts per type")
def types(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Per flag type: number of flags and of distinct accounts (bars)."""
    need("fraud")
    from reelmine.service.fraud import summarize

    s = summarize(_flags(settings, filters))
    chart = ChartData(
        kind="bar",
        title="Flags and accounts by type",
        x=[str(t) for t in s["type"].to_pylist()],
        series=[
            Series(name="flags", data=[float(v) for v in s["flags"].to_pylist()]),
            Series(name="accounts", data=[float(v) for v in s["accounts"].to_pylist()]),
        ],
        members=[int(v) for v in s["accounts"].to_pylist()],
        note=ignored(filters, "country"),
    )
    return suppressed_note(gate_chart(request, settings, chart), settings.min_group_size)


@analytics.get("/scores", response_model=ChartData, summary="Score statistics per type")
def scores(
    request: Request,
    filters: Filters = Depends(analytics_filters),
    settings: Settings = Depends(warehouse_settings),
) -> ChartData:
    """Per flag type: flags, accounts, mean and max score (table; no account ids)."""
    need("fraud")
    from reelmine.service.fraud import summarize

    t = gate_table(
        request,
        settings,
        summarize(_flags(settings, filters)),
        group_by=["type"],
        members="accounts",
    )
    return table_chart("Flag summary by type", t, note=ignored(filters, "country"))


# -- admin only: row-level --------------------------------------------------------------------
@admin.get("/flags", response_model=list[Flag], summary="Flagged accounts with evidence (admin)")
def flags(
    filters: Filters = Depends(analytics_filters),
    type: str | None = Query(None, max_length=50, description="One flag type."),
    limit: int = Query(100, ge=1, le=10_000),
    settings: Settings = Depends(warehouse_settings),
) -> list[Flag]:
    """Stored flags, most severe first: pseudonymised account, type, score, window, evidence."""
    need("fraud")
    if type is not None and type not in _types():
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "type"),
                    "msg": f"unknown flag type {type!r}; known: {', '.join(_types())}",
                    "type": "value_error.flag_type",
                    "input": type,
                }
            ]
        )
    f = _flags(settings, filters, type).slice(0, limit)
    return [Flag.model_validate(r) for r in f.to_pylist()]


@admin.get(
    "/accounts/{user_id}/households",
    response_model=list[Household],
    summary="An account's households (admin)",
)
def account_households(
    user_id: str = Path(min_length=1, max_length=200, description="Pseudonymised account id."),
    settings: Settings = Depends(warehouse_settings),
) -> list[Household]:
    """The places a pseudonymised account is used from (for the households map)."""
    need("fraud")
    from reelmine.service.fraud import account_households as households

    rows: list[dict[str, Any]] = households(settings, user_id).to_pylist()
    return [Household.model_validate(r) for r in rows]
