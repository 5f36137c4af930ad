"""The API's own traffic, as charts (roles ``analyst``/``admin``): the "API & service" page.

Aggregates only: counts and latency quantiles per route template; no key or member IDs.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query, Request

from reelmine.api import metrics
from reelmine.api.auth import require
from reelmine.api.models import ChartData, ErrorBody, Series

router = APIRouter(
    prefix="/v1/service",
    tags=["service"],
    dependencies=[Depends(require("analyst"))],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)


def _log(request: Request) -> metrics.RequestLog:
    return request.app.state.request_log


@router.get("/traffic", response_model=ChartData, summary="Requests per minute by status class")
def traffic(request: Request, minutes: int = Query(30, ge=1, le=1440)) -> ChartData:
    """Requests per minute over the last ``minutes`` (line chart), one series per status class."""
    at, _, status, _ = _log(request).snapshot()
    labels, series = metrics.traffic_per_minute(at, status, now=time.time(), minutes=minutes)
    return ChartData(
        kind="line",
        title="Requests per minute",
        x=labels,
        series=[Series(name=k, data=v) for k, v in series.items() if any(v)],
        unit="requests/min",
        note="minutes in UTC",
    )


@router.get("/latency", response_model=ChartData, summary="Latency quantiles per route")
def latency(request: Request) -> ChartData:
    """p50/p95/p99 server-side latency of each route template (bar chart, milliseconds)."""
    _, route, _, lat = _log(request).snapshot()
    names, series = metrics.latency_by_route(route, lat)
    return ChartData(
        kind="bar",
        title="Latency by route",
        x=names,
        series=[Series(name=k, data=v) for k, v in series.items()],
        unit="ms",
    )


@router.get("/status", response_model=ChartData, summary="Requests per route and status code")
def status_codes(request: Request) -> ChartData:
    """Request counts per (status code, route) since start (heatmap)."""
    _, route, status, _ = _log(request).snapshot()
    xs, ys, cells = metrics.status_matrix(route, status)
    return ChartData(
        kind="heatmap", title="Status codes by route", x=xs, y=ys, cells=cells, unit="requests"
    )
