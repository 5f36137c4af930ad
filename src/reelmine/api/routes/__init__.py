"""One router module per API area; :data:`ROUTERS` is the single list the app mounts.

To add a capability: write its service function in ``reelmine.service``, a module here with an
``router = APIRouter(...)`` (one JSON endpoint per dashboard chart, answering ``ChartData``),
append it below, and describe its page in :mod:`reelmine.dashboard.registry`.
"""

from __future__ import annotations

from fastapi import APIRouter

from reelmine.api.routes import (
    content,
    events,
    experiments,
    fraud,
    health,
    interface,
    keys,
    market,
    marketing,
    overview,
    quality,
    recommend_analytics,
    service,
    titles,
    users,
)

ROUTERS: list[APIRouter] = [
    health.router,
    keys.router,
    users.router,
    titles.router,
    events.router,
    service.router,
    overview.router,
    quality.router,
    experiments.router,
    content.router,
    market.router,
    fraud.analytics,
    fraud.admin,
    marketing.router,
    interface.router,
    recommend_analytics.router,
]
