"""Key management (admin only): create, list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status

from reelmine.api.auth import require
from reelmine.api.models import ErrorBody, KeyCreate, KeyCreated, KeyInfo
from reelmine.data.keystore import KeyRecord

router = APIRouter(
    prefix="/v1/keys",
    tags=["keys"],
    dependencies=[Depends(require("admin"))],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)


def _info(rec: KeyRecord) -> KeyInfo:
    return KeyInfo(
        key_id=rec.key_id,
        role=rec.role,  # type: ignore[arg-type]
        label=rec.label,
        created_at=rec.created_at,
        revoked_at=rec.revoked_at,
    )


@router.get("", response_model=list[KeyInfo], summary="List keys (never their secrets)")
def list_keys(request: Request) -> list[KeyInfo]:
    """Every stored key, revoked ones included, oldest first."""
    return [_info(r) for r in request.app.state.keys.list()]


@router.post(
    "", response_model=KeyCreated, status_code=status.HTTP_201_CREATED, summary="Create a key"
)
def create_key(body: KeyCreate, request: Request) -> KeyCreated:
    """Create a key of ``role``; the answer is the only time the key is shown."""
    key, rec = request.app.state.keys.create(body.role, label=body.label)
    return KeyCreated(key=key, **_info(rec).model_dump())


@router.delete(
    "/{key_id}",
    response_model=KeyInfo,
    summary="Revoke a key",
    responses={404: {"model": ErrorBody}},
)
def revoke_key(key_id: str, request: Request) -> KeyInfo:
    """Revoke ``key_id``; it stops working on the next request, sessions included."""
    return _info(request.app.state.keys.revoke(key_id))
