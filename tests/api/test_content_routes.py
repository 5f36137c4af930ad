"""Content endpoints: chart twins of the content service, with members on every row."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelmine.api import capabilities
from reelmine.settings import Settings
from tests.api.conftest import bearer

pytestmark = [
    pytest.mark.skipif(not capabilities.available("content"), reason="no service"),
    pytest.mark.xdist_group("sim_warehouse"),
]
C = "/v1/analytics/content"


def test_genre_trend_sums_the_service_hours(
    sim_client: TestClient, keys: dict[str, str], sim_settings: Settings
) -> None:
    from reelmine.service.content import genre_shares

    body = sim_client.get(f"{C}/genre-trend?period=week&top=50", headers=bearer(keys["analyst"]))
    assert body.status_code == 200
    chart = body.json()
    want = genre_shares(sim_settings, period="week").to_pylist()
    assert chart["kind"] == "stacked" and len(chart["x"]) == len({r["period"] for r in want})
    total = sum(v or 0 for s in chart["series"] for v in s["data"])
    assert total == pytest.approx(sum(r["hours"] for r in want))
    top3 = sim_client.get(f"{C}/genre-trend?top=3", headers=bearer(keys["analyst"])).json()
    assert [s["name"] for s in top3["series"]][-1] == "other" and len(top3["series"]) == 4


def test_tables_keep_members(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    for path in ("scorecard", "performers", "search-gaps"):
        t = sim_client.get(f"{C}/{path}?limit=5", headers=h).json()
        assert t["kind"] == "table" and "members" in t["columns"], path
        assert 0 < len(t["rows"]) <= 5, path
    sc = sim_client.get(f"{C}/scorecard", headers=h).json()
    views = [r[sc["columns"].index("views")] for r in sc["rows"]]
    assert views == sorted(views, reverse=True)
    gaps = sim_client.get(f"{C}/search-gaps", headers=h).json()
    # The simulator plants unmet searches; each listed query was searched by >= 3 members.
    assert all(r[gaps["columns"].index("members")] >= 3 for r in gaps["rows"])


def test_bars_and_trending(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    comp = sim_client.get(f"{C}/completion?limit=7", headers=h).json()
    assert comp["kind"] == "hbar" and len(comp["x"]) == 7 == len(comp["members"])
    assert all(0 <= v <= 1 for v in comp["series"][0]["data"])
    val = sim_client.get(f"{C}/value", headers=h).json()
    cpv = val["series"][0]["data"]
    assert cpv == sorted(cpv)
    tr = sim_client.get(f"{C}/trending?start=2026-01-01&end=2026-03-31", headers=h).json()
    assert tr["kind"] == "table" and "members" in tr["columns"]
