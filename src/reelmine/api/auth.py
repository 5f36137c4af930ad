"""Access control: API keys with roles, and the dashboard's signed session cookie.

Clients send ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The dashboard exchanges a
key of role ``analyst`` or ``admin`` for a session cookie (HttpOnly, SameSite=Strict, signed
with HMAC-SHA256); the cookie is honoured for ``GET``/``HEAD`` only, so a cookie alone can never
change state. Missing or invalid credentials give 401, a valid key of the wrong role 403.

``admin`` may call every endpoint; ``service`` and ``analyst`` only the ones that name them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from reelmine.data.keystore import KeyRecord, KeyStore

SESSION_COOKIE = "reelmine_session"
SESSION_SECONDS = 8 * 3600
DASHBOARD_ROLES = ("analyst", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's public id, its role and how it was presented."""

    key_id: str
    role: str
    via: Literal["header", "cookie"]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": "Bearer"},
    )


def key_from_headers(request: Request) -> str | None:
    """The API key a request carries in ``Authorization: Bearer`` or ``X-API-Key``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


# -- session cookie ----------------------------------------------------------------------
def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def make_session(secret: bytes, record: KeyRecord, *, now: float | None = None) -> str:
    """Signed cookie value naming the key and role, valid for :data:`SESSION_SECONDS`."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    payload = f"v1.{record.key_id}.{record.role}.{expires}"
    return f"{payload}.{_sign(secret, payload)}"


def read_session(
    secret: bytes, value: str, store: KeyStore, *, now: float | None = None
) -> Principal | None:
    """The principal of a session cookie, or ``None`` if forged, expired or its key revoked."""
    payload, _, sig = value.rpartition(".")
    if not payload or not hmac.compare_digest(sig, _sign(secret, payload)):
        return None
    try:
        version, key_id, role, expires = payload.split(".")
        expired = int(expires) < (time.time() if now is None else now)
    except ValueError:
        return None
    if version != "v1" or expired:
        return None
    rec = store.is_active(key_id)
    if rec is None or rec.role != role:
        return None
    return Principal(key_id=key_id, role=role, via="cookie")


async def authenticate(request: Request) -> Principal:
    """The caller's principal from a key header or (GET/HEAD only) a session cookie; else 401.

    A key seen before is answered from memory on the event loop; a new one is checked with
    scrypt in the thread pool, so key derivation never blocks other requests.
    """
    state = request.app.state
    key = key_from_headers(request)
    if key is not None:
        rec = state.keys.cached(key)
        if rec is None:
            rec = await run_in_threadpool(state.keys.verify, key)
        if rec is None:
            raise _unauthorized("invalid or revoked API key")
        return Principal(key_id=rec.key_id, role=rec.role, via="header")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.method in ("GET", "HEAD"):
        principal = read_session(state.session_secret, cookie, state.keys)
        if principal is not None:
            return principal
        raise _unauthorized("session expired or invalid; log in again")
    raise _unauthorized("missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")


def require(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency admitting callers whose role is in ``roles`` (``admin`` always passes)."""
    allowed = frozenset(roles) | {"admin"}
    needs = ", ".join(sorted(allowed))

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.role not in allowed:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=(
                    f"role {principal.role!r} may not use this endpoint; it needs one of: {needs}"
                ),
            )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return dependency
