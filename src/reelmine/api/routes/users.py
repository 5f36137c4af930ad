"""Member endpoints: recommendations, home-page rows (role ``service``) and erasure (``admin``).

Until the recommend capability is wired these answer 503 with what to do; erasure answers 503
until the privacy capability (``reelmine.service.privacy``) lands.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from reelmine.api import capabilities
from reelmine.api.auth import require
from reelmine.api.errors import Unavailable
from reelmine.api.models import Erased, ErrorBody, Recommendations, Rows

router = APIRouter(
    prefix="/v1/users",
    tags=["users"],
    responses={
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        503: {"model": ErrorBody, "description": "no model trained yet"},
    },
)

UserId = Path(
    min_length=1, max_length=200, description="The member's raw ID, as your apps know it."
)
NO_MODEL = "no model trained yet; run `reelmine recommend train`"


def _need_model() -> Unavailable:
    if not capabilities.available("recommend"):
        return Unavailable(f"{NO_MODEL} (the recommend service is not installed in this build)")
    return Unavailable(NO_MODEL)


@router.get(
    "/{user_id}/recommendations",
    response_model=Recommendations,
    dependencies=[Depends(require("service"))],
    summary="Top-k titles for a member",
)
async def recommendations(
    user_id: str = UserId,
    k: int = Query(10, ge=1, le=100, description="Number of titles."),
) -> Recommendations:
    """Top ``k`` titles; unknown members get the cold-start ranking, not an error."""
    raise _need_model()


@router.get(
    "/{user_id}/rows",
    response_model=Rows,
    dependencies=[Depends(require("service"))],
    summary="Home-page rows with reasons",
)
async def rows(
    user_id: str = UserId,
    per_row: int = Query(10, ge=1, le=50, description="Titles per row."),
) -> Rows:
    """Rows for the member's home page, each with the reason it is shown."""
    raise _need_model()


@router.delete(
    "/{user_id}",
    response_model=Erased,
    dependencies=[Depends(require("admin"))],
    summary="Erase a member (admin)",
)
async def erase(user_id: str = UserId) -> Erased:
    """Delete every row about the member (right to erasure) and retrain-dependent caches."""
    raise Unavailable(
        "erasure is not available yet: it needs the privacy capability (reelmine.service.privacy)"
    )
