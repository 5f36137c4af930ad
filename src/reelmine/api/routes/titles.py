"""Title endpoints: similar titles (role ``service``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from reelmine.api.auth import require
from reelmine.api.models import ErrorBody, Recommendation, SimilarTitles
from reelmine.api.routes.users import recommender

router = APIRouter(
    prefix="/v1/titles",
    tags=["titles"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)


@router.get(
    "/{title_id}/similar",
    response_model=SimilarTitles,
    dependencies=[Depends(require("service"))],
    summary="Titles similar to a title",
)
def similar(
    request: Request,
    title_id: str = Path(min_length=1, max_length=200),
    k: int = Query(10, ge=1, le=100),
) -> SimilarTitles:
    """Titles most similar to ``title_id``; an unknown title is a 404 with a clear body."""
    recs = recommender(request)[1].similar(title_id, k)
    return SimilarTitles(
        title_id=title_id,
        k=k,
        items=[
            Recommendation(title_id=r.title_id, name=r.name, score=r.score, reason=r.reason)
            for r in recs
        ],
    )
