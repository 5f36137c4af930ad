"""The FastAPI application: API routers, dashboard, access control, error mapping, metrics.

``create_app(settings)`` builds everything from settings alone, so tests, ``reelmine serve``
and the load benchmark run the same app. State lives on ``app.state``: ``settings``, ``keys``
(:class:`~reelmine.data.keystore.KeyStore`), ``session_secret``, ``pages`` (dashboard registry),
``route_paths`` (API route templates) and ``request_log`` (metrics).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from reelmine import __version__
from reelmine.api import errors
from reelmine.api.fastlane import RecommendationsFastLane
from reelmine.api.metrics import MetricsMiddleware, RequestLog
from reelmine.api.routes import ROUTERS
from reelmine.dashboard import views
from reelmine.dashboard.registry import PAGES, Page
from reelmine.data.keystore import KeyStore, session_secret
from reelmine.settings import Settings

DESCRIPTION = """\
Recommendations, event ingestion and aggregated analytics over a reelmine warehouse.

Authenticate with `Authorization: Bearer KEY` or `X-API-Key: KEY`. Roles: `service`
(recommendations, event ingestion), `analyst` (aggregated analytics), `admin` (everything,
including erasure and key management). Create keys with `reelmine keys create --role R`.
"""


def create_app(
    settings: Settings,
    *,
    pages: list[Page] | None = None,
    routers: Iterable[APIRouter] = (),
) -> FastAPI:
    """Build the reelmine web app.

    Parameters
    ----------
    settings : runtime settings; the key store and session secret live in ``settings.artifacts``.
    pages : dashboard pages (default: :data:`reelmine.dashboard.registry.PAGES`).
    routers : extra routers mounted after the built-in ones (capabilities, tests).
    """
    app = FastAPI(
        title="reelmine",
        version=__version__,
        description=DESCRIPTION,
        # No public /docs, /redoc or /openapi.json: Swagger UI loads its assets from a CDN and
        # only /health and the login page may be public. The schema is served to any key below.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        openapi_tags=[
            {"name": "health", "description": "Liveness and the caller's identity."},
            {"name": "users", "description": "Recommendations, home-page rows, erasure."},
            {"name": "titles", "description": "Similar titles."},
            {"name": "events", "description": "JSON batch ingestion."},
            {"name": "keys", "description": "API key management (admin)."},
            {"name": "service", "description": "This server's own traffic (aggregates)."},
        ],
    )
    app.state.settings = settings
    app.state.keys = KeyStore(settings.artifacts)
    app.state.session_secret = session_secret(settings.artifacts)
    app.state.pages = list(PAGES if pages is None else pages)
    app.state.request_log = RequestLog()
    errors.install(app)
    paths: set[str] = set()
    for router in (*ROUTERS, *routers):
        app.include_router(router)
        paths.update(getattr(r, "path", "") for r in router.routes)
    # Route templates the dashboard checks its chart endpoints against.
    app.state.route_paths = frozenset(paths)
    app.include_router(views.router)
    # No GZip middleware: it costs every request, and the one large body (the 1.1 MB charting
    # library) is served pre-compressed by the dashboard's static route.
    app.add_middleware(MetricsMiddleware, log=app.state.request_log)
    # Outermost: memoised recommendation answers skip the stack above (see api/fastlane.py).
    app.add_middleware(RecommendationsFastLane, state=app.state, log=app.state.request_log)
    return app


def app_from_env() -> FastAPI:
    """App factory for multi-worker uvicorn: settings from ``REELMINE_*`` and the TOML file."""
    return create_app(Settings.load())
