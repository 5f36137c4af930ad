"""``POST /v1/events/{table}``: JSON batch ingestion (role ``service``).

Rows go through the same validation and pseudonymisation as files, via
``reelmine.service.ingest.ingest_rows(settings, table, rows)`` (returning an
``IngestSummary``); the answer counts accepted and quarantined rows. The endpoint is a plain
``def``: FastAPI runs it in the thread pool, so the DuckDB write never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from fastapi import APIRouter, Depends, Path, Request

from reelmine.api import capabilities
from reelmine.api.auth import require
from reelmine.api.errors import Unavailable
from reelmine.api.models import ErrorBody, EventBatch, IngestResult
from reelmine.data.schema import TABLES
from reelmine.errors import DataError, NotFoundError

router = APIRouter(
    prefix="/v1/events",
    tags=["events"],
    responses={
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody, "description": "unknown table"},
        422: {"model": ErrorBody, "description": "field errors"},
        503: {"model": ErrorBody, "description": "ingestion service not installed"},
    },
)


def check_columns(table: str, rows: list[dict[str, object]]) -> None:
    """Reject unknown tables (404) and columns the contract does not know (422, names them)."""
    spec = TABLES.get(table)
    if spec is None:
        raise NotFoundError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    seen: set[str] = set().union(*rows)
    unknown = sorted(seen - set(spec.column_names))
    if unknown:
        raise DataError(
            f"unknown column {unknown[0]!r} for table {table!r}; "
            f"known: {', '.join(spec.column_names)}",
            source="rows",
            column=unknown[0],
        )


@router.post(
    "/{table}",
    response_model=IngestResult,
    dependencies=[Depends(require("service"))],
    summary="Ingest a batch of event rows",
)
def ingest_events(
    body: EventBatch,
    request: Request,
    table: str = Path(description="Table of the data contract: " + ", ".join(TABLES)),
) -> IngestResult:
    """Validate, pseudonymise and store ``rows``; invalid rows are quarantined, not dropped."""
    check_columns(table, body.rows)
    fn = _ingest_function()
    summary = fn(request.app.state.settings, table, body.rows)
    return IngestResult(
        table=table,
        accepted=int(summary.loaded.get(table, 0)),
        quarantined=int(summary.quarantined.get(table, 0)),
        reasons={str(k): int(v) for k, v in summary.reasons.items()},
    )


def _ingest_function() -> Callable[..., Any]:
    """``reelmine.service.ingest.ingest_rows``, or a 503 saying what is missing."""
    if not capabilities.available("ingest"):
        raise Unavailable(
            "event ingestion is not available yet: the ingestion service (reelmine.service.ingest) "
            "is not installed in this build"
        )
    from reelmine.service import ingest as service

    fn = getattr(service, "ingest_rows", None)
    if fn is None:
        raise Unavailable(
            "event ingestion is not wired yet: reelmine.service.ingest has no "
            "ingest_rows(settings, table, rows) function"
        )
    return cast(Callable[..., Any], fn)
