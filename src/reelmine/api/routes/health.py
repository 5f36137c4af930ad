"""``GET /health`` (no key needed), ``GET /v1/me`` (who am I) and the OpenAPI schema."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Depends, Request

from reelmine import __version__
from reelmine.api import capabilities
from reelmine.api.auth import Principal, require
from reelmine.api.models import Health, Me

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness; needs no key")
async def health() -> Health:
    """The server is up; which capabilities are installed."""
    return Health(version=__version__, capabilities=capabilities.status())


@router.get(
    "/v1/openapi.json",
    summary="The OpenAPI schema of this server",
    dependencies=[Depends(require("service", "analyst"))],
)
async def openapi_schema(request: Request) -> dict[str, Any]:
    """The OpenAPI document (also checked in as ``docs/openapi.json``); needs any key."""
    return cast(dict[str, Any], request.app.openapi())


@router.get("/v1/me", response_model=Me, summary="The calling key's id and role")
async def me(principal: Principal = Depends(require("service", "analyst"))) -> Me:
    """Echo the caller's key id and role; handy to test a key."""
    return Me(key_id=principal.key_id, role=principal.role, via=principal.via)  # type: ignore[arg-type]
