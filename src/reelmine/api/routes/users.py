"""Member endpoints: recommendations, home-page rows (role ``service``), erasure, viewing
history and a sample of members for the dashboard's member explorer (``admin``).

Raw member IDs in paths are pseudonymised with the ingestion key before lookup; unknown
members get the cold-start ranking. Until a model is trained these answer 503 with what to do;
erasure answers 503 until the privacy capability (``reelmine.service.privacy``) lands.
The explorer endpoints return row-level personal data, so they are ``admin`` only (an analyst
gets 403); with ``pseudonymised=true`` (admin only) the path holds a warehouse pseudonym, as
listed by ``GET /v1/users/sample``, instead of a raw ID.
"""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from reelmine.api.auth import require
from reelmine.api.errors import Unavailable
from reelmine.api.models import Erased, ErrorBody, Recommendation, Recommendations, Row, Rows
from reelmine.api.routes._charts import GATE
from reelmine.errors import NotFoundError
from reelmine.service.recommend import LoadedBundle, RecommendationService
from reelmine.service.recommend import Recommendation as Rec

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


Pseudonymised = Query(
    False,
    description="The path holds a warehouse pseudonym (from GET /v1/users/sample), not a raw "
    "ID. Admin only.",
)


class HistoryItem(BaseModel):
    """One title in a member's viewing history, as the model in service learned it."""

    title_id: str
    name: str
    last_played: datetime = Field(description="Latest play start of the title (UTC).")
    strength: float = Field(description="Interaction strength: 1 + ln(1 + minutes watched).")


class MemberHistory(BaseModel):
    """A member's recent titles (latest first); empty for an unknown member."""

    user_id: str
    known: bool
    items: list[HistoryItem]


class SampleMember(BaseModel):
    """A member the explorer can open: the warehouse pseudonym, never the raw ID."""

    user_id: str = Field(description="Pseudonym; pass it with pseudonymised=true.")
    country: str | None
    titles: int = Field(description="Titles in the member's history.")


class MemberSample(BaseModel):
    """Members spread over activity levels (most to least active)."""

    pseudonymised: bool = True
    members: list[SampleMember]


def _member(request: Request, service: RecommendationService, user_id: str, given: bool) -> str:
    """The pseudonym of the path's member; a given pseudonym is accepted from admins only."""
    if not given:
        return service.pseudonym(user_id)
    if request.state.principal.role != "admin":
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="pseudonymised=true needs an admin key",
        )
    return user_id


def recommender(request: Request) -> tuple[RecommendationService, LoadedBundle]:
    """The app's recommendation service (one per app) and the bundle it serves now; a newly
    trained bundle is swapped in here, between requests. No bundle yet: 503 saying what to run."""
    state = request.app.state
    if getattr(state, "recommender", None) is None:
        # warm: the most active members' default lists are computed in the background
        state.recommender = RecommendationService(state.settings, warm=True)
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
async def recommendations(
    request: Request,
    user_id: str = UserId,
    k: int = Query(10, ge=1, le=100, description="Number of titles."),
    country: str | None = Query(None, min_length=2, max_length=2, description="Override country."),
) -> Response:
    """Top ``k`` titles; unknown members get the cold-start ranking, not an error.

    The hot path of the service, so it is shaped for speed: answered on the event loop when the
    bundle already holds the member's list (the common case once warmed), with the JSON written
    directly (same shape as :class:`Recommendations`, no model validation); loading a bundle or
    running the model goes to the thread pool so it never blocks other requests.
    """
    loaded: RecommendationService | None = getattr(request.app.state, "recommender", None)
    ready = None if loaded is None else loaded.loaded()
    if loaded is None or ready is None:
        service, bundle = await run_in_threadpool(recommender, request)
    else:
        service, bundle = loaded, ready
    pseudonym = service.pseudonym(user_id)
    user = bundle.user_index(pseudonym)
    recs = bundle.memoised(user, k, country)
    if recs is None:
        recs = await run_in_threadpool(lambda: bundle.top(pseudonym, k, country=country))
    return Response(_recommendations_json(user_id, k, user < 0, recs), media_type=JSON)


JSON = "application/json"


def _recommendations_json(user_id: str, k: int, cold: bool, recs: list[Rec]) -> bytes:
    """A :class:`Recommendations` body as JSON bytes."""
    items = [
        {"title_id": r.title_id, "name": r.name, "score": r.score, "reason": r.reason} for r in recs
    ]
    body = {"user_id": user_id, "k": k, "cold_start": cold, "items": items}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


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
    pseudonymised: bool = Pseudonymised,
) -> Rows:
    """Rows for the member's home page, each title with the reason it is shown."""
    service, bundle = recommender(request)
    page = bundle.rows(_member(request, service, user_id, pseudonymised), country=country)
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


@router.get(
    "/sample",
    response_model=MemberSample,
    dependencies=[Depends(require("admin"))],
    summary="A few members to explore (admin)",
)
def sample(request: Request, n: int = Query(8, ge=1, le=50)) -> MemberSample:
    """``n`` members of the model in service, from most to least active (pseudonyms)."""
    t = recommender(request)[1].sample_members(n).to_pylist()
    return MemberSample(members=[SampleMember(**m) for m in t])


@router.get(
    "/{user_id}/history",
    response_model=MemberHistory,
    dependencies=[Depends(require("admin"))],
    summary="A member's recent viewing history (admin)",
)
def history(
    request: Request,
    user_id: str = UserId,
    limit: int = Query(20, ge=1, le=200, description="Titles, latest first."),
    pseudonymised: bool = Pseudonymised,
) -> MemberHistory:
    """The titles the member played, latest first, as the model in service learned them (the
    warehouse at training time)."""
    service, bundle = recommender(request)
    user = bundle.user_index(_member(request, service, user_id, pseudonymised))
    t = bundle.history(user, limit).to_pylist()
    return MemberHistory(user_id=user_id, known=user >= 0, items=[HistoryItem(**h) for h in t])


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
    old: RecommendationService | None = getattr(request.app.state, "recommender", None)
    request.app.state.recommender = None
    if old is not None:
        old.close()
    return Erased(user_id=user_id, rows_deleted=report.rows_deleted)
