"""A fast lane for the service's hottest request: ``GET /v1/users/{user_id}/recommendations``.

Pure ASGI, outermost in the app: when a request is the plain case (a known ``service``/``admin``
key in a header, ``k`` alone or nothing in the query, the member's answer already in the loaded
bundle's memo) it writes the same JSON as the route, logs the request for the metrics, and
returns, skipping FastAPI's middleware stack, routing and dependency solving (most of a
request's cost once the answer is memoised). Anything else (no or unknown key, a cookie, another
role, other query parameters, no bundle yet, a memo miss) goes to the app unchanged, which
answers it with full validation and errors. The lane decides nothing the route would decide
differently: it only answers what the route would answer 200 with the same body.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from reelmine.api.metrics import RequestLog

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX, SUFFIX = "/v1/users/", "/recommendations"
ROUTE = "/v1/users/{user_id}/recommendations"
ROLES = frozenset({"service", "admin"})
HEADERS = [(b"content-type", b"application/json")]


def _key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key of ``Authorization: Bearer`` or ``X-API-Key`` (as :mod:`reelmine.api.auth`)."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                bearer = rest.strip()
        elif name == b"x-api-key":
            api_key = value.decode("latin-1").strip() or None
    return bearer or api_key


def _k(query: bytes) -> int | None:
    """``k`` of a query that holds ``k`` alone (or nothing: 10); ``None`` for anything else."""
    if not query:
        return 10
    name, eq, value = query.partition(b"=")
    if name != b"k" or not eq or not value.isdigit() or len(value) > 3:
        return None
    k = int(value)
    return k if 1 <= k <= 100 else None


class RecommendationsFastLane:
    """ASGI middleware answering memoised recommendation requests (see the module doc)."""

    def __init__(self, app: ASGIApp, *, state: Any, log: RequestLog) -> None:
        self.app = app
        self.state = state
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX) and path.endswith(SUFFIX):
                started = time.perf_counter()
                body = self._answer(scope, path[len(PREFIX) : -len(SUFFIX)])
                if body is not None:
                    headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    ms = (time.perf_counter() - started) * 1000.0
                    self.log.record(time.time(), ROUTE, 200, ms)
                    return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope, user_id: str) -> bytes | None:
        from reelmine.api.routes.users import _recommendations_json

        if not 1 <= len(user_id) <= 200 or "/" in user_id:
            return None
        k = _k(scope.get("query_string", b""))
        service = getattr(self.state, "recommender", None)
        key = _key(scope["headers"])
        if k is None or service is None or key is None:
            return None
        rec = self.state.keys.cached(key)
        if rec is None or rec.role not in ROLES:
            return None  # unknown (scrypt check) or wrong role: the app answers 401/403
        bundle = service.loaded()
        if bundle is None:
            return None
        user = bundle.user_index(service.pseudonym(user_id))
        recs = bundle.memoised(user, k, None)
        if recs is None:
            return None
        return _recommendations_json(user_id, k, user < 0, recs)
