"""docs/openapi.json is generated from the app; this fails when it is out of date."""

from __future__ import annotations

import json
from pathlib import Path

from reelmine.api.openapi import render, schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = ".venv/bin/python -m reelmine.api.openapi > docs/openapi.json"


def test_openapi_json_is_current() -> None:
    assert DOC.is_file(), f"docs/openapi.json is missing; run: {REGENERATE}"
    assert DOC.read_text() == render(), f"docs/openapi.json is out of date; run: {REGENERATE}"


def test_every_route_is_documented_in_api_md() -> None:
    api_md = (DOC.parent / "api.md").read_text()
    for path, ops in schema()["paths"].items():
        for method in ops:
            assert f"{method.upper()} {path}" in api_md, (
                f"{method.upper()} {path} not in docs/api.md"
            )


def test_schema_has_typed_models() -> None:
    doc = json.loads(render())
    names = set(doc["components"]["schemas"])
    assert {"ChartData", "Recommendations", "IngestResult", "KeyCreated", "ErrorBody"} <= names
