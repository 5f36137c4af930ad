"""Which optional capabilities are installed: each is a module of :mod:`reelmine.service`.

Endpoints and dashboard pages of a capability answer 503 / "what is missing" until its service
module exists, so the API can ship before every capability has landed.
"""

from __future__ import annotations

import importlib.util
from functools import cache

# capability name -> service module that provides it
CAPABILITIES: dict[str, str] = {
    "ingest": "reelmine.service.ingest",
    "recommend": "reelmine.service.recommend",
    "privacy": "reelmine.service.privacy",
    "overview": "reelmine.service.overview",
    "content": "reelmine.service.content",
    "market": "reelmine.service.market",
    "quality": "reelmine.service.quality",
    "fraud": "reelmine.service.fraud",
    "experiments": "reelmine.service.experiments",
    "marketing": "reelmine.service.marketing",
    "interface": "reelmine.service.interface",
}


@cache
def available(name: str) -> bool:
    """True when the service module of capability ``name`` can be imported.

    Cached: code does not appear in a running server (``available.cache_clear()`` re-checks).
    """
    module = CAPABILITIES.get(name, name)
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def status() -> dict[str, bool]:
    """Availability of every known capability."""
    return {name: available(name) for name in CAPABILITIES}
