"""``POST /v1/events/{table}``: JSON batch ingestion (role ``service``).

Rows go through the same validation and pseudonymisation as files, via
``reelmine.service.ingest.ingest_rows(settings, table, rows)`` (returning an
``IngestSummary``); the answer counts accepted and quarantined rows. Plays and logins also go
through the live fraud checks (``reelmine.fraud.live``: concurrency over the plan, impossible
travel, credential stuffing), whose per-account state lives with the app; any flag raised is in
the answer, with the member's raw ID as sent. The endpoint is a plain
``def``: FastAPI runs it in the thread pool, so the DuckDB write never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from fastapi import APIRouter, Depends, Path, Request

from reelmine.api import capabilities
from reelmine.api.auth import require
from reelmine.api.errors import Unavailable
from reelmine.api.models import ErrorBody, EventBatch, IngestResult, LiveFlag
from reelmine.api.routes._charts import GATE
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
    settings = request.app.state.settings
    # DuckDB refuses a read-write connection beside read-only ones in one process: the write
    # holds the warehouse gate alone, analytics requests hold it shared.
    with GATE.exclusive():
        summary = fn(settings, table, body.rows)
    flags = live_flags(request, table, body.rows) if table in ("plays", "logins") else []
    return IngestResult(
        table=table,
        accepted=int(summary.loaded.get(table, 0)),
        quarantined=int(summary.quarantined.get(table, 0)),
        reasons={str(k): int(v) for k, v in summary.reasons.items()},
        flags=flags,
    )


def live_flags(request: Request, table: str, rows: list[dict[str, Any]]) -> list[LiveFlag]:
    """Run the streaming fraud checks on each event of the batch (after pseudonymisation:
    the checker's state is keyed like the warehouse)."""
    if not capabilities.available("fraud"):
        return []
    from reelmine.service.fraud import live_checker
    from reelmine.service.ingest import pseudonymise_events

    state = request.app.state
    if getattr(state, "live_checker", None) is None:
        state.live_checker = live_checker(state.settings)
    checker = state.live_checker
    stored = pseudonymise_events(state.settings, table, rows)
    check = checker.check_play if table == "plays" else checker.check_login
    out: list[LiveFlag] = []
    for raw, event in zip(rows, stored, strict=True):  # each event is checked as it arrives
        try:
            raised = check(event)
        except DataError:
            continue  # a malformed event is quarantined by ingestion; nothing to check
        out += [
            LiveFlag(
                user_id=str(raw.get("user_id")),
                type=f.type,
                score=float(f.score),
                window_start=f.window_start.isoformat(),
                window_end=f.window_end.isoformat(),
                evidence=f.evidence,
            )
            for f in raised
        ]
    return out


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
