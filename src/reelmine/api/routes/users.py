"""Member endpoints: recommendations, home-page rows (role ``service``) and erasure (``admin``).

Raw member IDs in paths are pseudonymised with the ingestion key before lookup; unknown
members get the cold-start ranking. Until a model is trained these answer 503 with what to do;
erasure answers 503 until the privacy capability (``reelmine.service.privacy``) lands.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from reelmine.api.auth import require
from reelmine.api.errors import Unavailable
from reelmine.api.models import Erased, ErrorBody, Recommendation, Recommendations, Row, Rows
from reelmine.api.routes._charts import GATE
from reelmine.errors import NotFoundError
from reelmine.service.recommend import LoadedBundle, RecommendationService

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
ROW_REASONS = {
    "top_picks": "Picked for you by the recommender",
    "because_you_watched": "Similar to a title you watched recently",
    "trending": "Watched most in your country over the last days",
    "new_releases": "Recently added titles that fit your taste",
    "genre": "A genre you watch often",
}


def recommender(request: Request) -> tuple[RecommendationService, LoadedBundle]:
    """The app's recommendation service (one per app) and the bundle it serves now; a newly
    trained bundle is swapped in here, between requests. No bundle yet: 503 saying what to run."""
    state = request.app.state
    if getattr(state, "recommender", None) is None:
        state.recommender = RecommendationService(state.settings)
    service: RecommendationService = state.recommender
    try:
        return service, service.refresh()
    except NotFoundError as exc:
        raise Unavailable(str(exc)) from exc


@router.get(
    "/{user_id}/recommendations",
    response_model=Recommendations,
    dependencies=[Depends(require("service"))],
    summary="Top-k titles for a member",
)
def recommendations(
    request: Request,
    user_id: str = UserId,
    k: int = Query(10, ge=1, le=100, description="Number of titles."),
    country: str | None = Query(None, min_length=2, max_length=2, description="Override country."),
) -> Recommendations:
    """Top ``k`` titles; unknown members get the cold-start ranking, not an error."""
    service, bundle = recommender(request)
    pseudonym = service.pseudonym(user_id)
    recs = bundle.top(pseudonym, k, country=country)
    return Recommendations(
        user_id=user_id,
        k=k,
        cold_start=bundle.user_index(pseudonym) < 0,
        items=[
            Recommendation(title_id=r.title_id, name=r.name, score=r.score, reason=r.reason)
            for r in recs
        ],
    )


@router.get(
    "/{user_id}/rows",
    response_model=Rows,
    dependencies=[Depends(require("service"))],
    summary="Home-page rows with reasons",
)
def rows(
    request: Request,
    user_id: str = UserId,
    per_row: int = Query(10, ge=1, le=50, description="Titles per row."),
    country: str | None = Query(None, min_length=2, max_length=2, description="Override country."),
) -> Rows:
    """Rows for the member's home page, each title with the reason it is shown."""
    service, bundle = recommender(request)
    page = bundle.rows(service.pseudonym(user_id), country=country)
    return Rows(
        user_id=user_id,
        rows=[
            Row(
                name=row.name,
                kind=row.kind,
                reason=ROW_REASONS.get(row.kind.partition(":")[0], row.name),
                items=[
                    Recommendation(
                        title_id=bundle.item_id(i.item),
                        name=bundle.names[i.item],
                        score=i.score,
                        reason=i.reason,
                    )
                    for i in row.items[:per_row]
                ],
            )
            for row in page
        ],
    )


@router.delete(
    "/{user_id}",
    response_model=Erased,
    dependencies=[Depends(require("admin"))],
    summary="Erase a member (admin)",
)
def erase(request: Request, user_id: str = UserId) -> Erased:
    """Delete every row about the member (right to erasure) from the warehouse, quarantine,
    derived tables, saved models (folded out and marked for retraining) and managed exports.
    The recommendation service reloads its bundle on the next request."""
    from reelmine.service import privacy

    principal = request.state.principal
    actor = privacy.Actor(principal.key_id, principal.role)
    with GATE.exclusive():  # erasure rewrites the warehouse file: no reader may hold it
        report = privacy.erase_user(request.app.state.settings, user_id, actor=actor)
    # Models were rewritten on disk: drop the loaded bundle so nothing erased is served.
    request.app.state.recommender = None
    return Erased(user_id=user_id, rows_deleted=report.rows_deleted)
