"""Map :mod:`reelmine.errors` to HTTP status codes with one JSON body shape.

=================  ======  ===============================================================
exception          status  body
=================  ======  ===============================================================
DataError          422     ``detail``: list of ``{loc, msg, type}``; ``loc`` names the field
NotFoundError      404     ``detail``: the message
PrivacyError       403     ``detail``: the message
NotFittedError     503     ``detail``: the message (a model must be trained first)
Unavailable        503     ``detail``: what is missing and how to get it
ConfigError        500     ``detail``: the message (a server setting is wrong)
ReelmineError      400     ``detail``: the message
=================  ======  ===============================================================
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reelmine.errors import (
    ConfigError,
    DataError,
    NotFittedError,
    NotFoundError,
    PrivacyError,
    ReelmineError,
)


class Unavailable(ReelmineError):
    """A capability the endpoint needs is not installed or has nothing to serve yet (503)."""


_STATUS: tuple[tuple[type[ReelmineError], int], ...] = (
    (DataError, 422),
    (NotFoundError, 404),
    (PrivacyError, 403),
    (NotFittedError, 503),
    (Unavailable, 503),
    (ConfigError, 500),
    (ReelmineError, 400),
)


def status_for(exc: ReelmineError) -> int:
    """HTTP status of a reelmine error (most specific class wins)."""
    for klass, code in _STATUS:
        if isinstance(exc, klass):
            return code
    return 400


def body_for(exc: ReelmineError) -> dict[str, object]:
    """JSON body of a reelmine error; a DataError becomes a FastAPI-style field error list."""
    if isinstance(exc, DataError):
        loc: list[str | int] = ["body"]
        if exc.line is not None:
            loc.append(exc.line)
        if exc.column is not None:
            loc.append(exc.column)
        return {"detail": [{"loc": loc, "msg": str(exc), "type": type(exc).__name__}]}
    return {"detail": str(exc)}


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ReelmineError)
    return JSONResponse(body_for(exc), status_code=status_for(exc))


def install(app: FastAPI) -> None:
    """Register the handler that turns every ReelmineError into its HTTP answer."""
    app.add_exception_handler(ReelmineError, _handle)
