"""Print the OpenAPI schema of the app: ``python -m reelmine.api.openapi > docs/openapi.json``."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from reelmine.settings import Settings


def schema() -> dict[str, Any]:
    """The OpenAPI document of the default app (independent of local settings and keys)."""
    from reelmine.api.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(artifacts=Path(tmp), db=Path(tmp) / "x.duckdb"))
        return app.openapi()


def render() -> str:
    """The schema as stable, indented JSON text (what ``docs/openapi.json`` holds)."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
