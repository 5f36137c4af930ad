"""Audience & markets endpoints: chart twins of the market service."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelmine.api import capabilities
from reelmine.settings import Settings
from tests.api.conftest import bearer

pytestmark = [
    pytest.mark.skipif(not capabilities.available("market"), reason="no service"),
    pytest.mark.xdist_group("sim_warehouse"),
]
M = "/v1/analytics/market"


def test_by_country_is_the_latest_period(
    sim_client: TestClient, keys: dict[str, str], sim_settings: Settings
) -> None:
    from reelmine.service.market import members

    body = sim_client.get(f"{M}/by-country", headers=bearer(keys["analyst"])).json()
    rows = members(sim_settings, period="month").to_pylist()
    last = max(r["period"] for r in rows)
    want = sorted(
        ((r["country"], r["active_members"]) for r in rows if r["period"] == last),
        key=lambda kv: -kv[1],
    )
    assert body["kind"] == "country" and body["members"] == [v for _, v in want]
    assert sorted(body["x"]) == sorted(c for c, _ in want)
    de = sim_client.get(f"{M}/by-country?country=DE", headers=bearer(keys["analyst"])).json()
    assert de["x"] == ["DE"]


def test_plans_retention_taste(
    sim_client: TestClient, keys: dict[str, str], sim_settings: Settings
) -> None:
    from reelmine.service.market import retention

    h = bearer(keys["analyst"])
    plans = sim_client.get(f"{M}/plans", headers=h).json()
    assert plans["kind"] == "stacked" and {s["name"] for s in plans["series"]} <= {
        "basic", "standard", "premium", "other",
    }  # fmt: skip
    ret = sim_client.get(f"{M}/retention?cohorts=6&max_offset=6", headers=h).json()
    assert ret["kind"] == "heatmap" and len(ret["y"]) == 6
    assert ret["x"] == [str(i) for i in range(len(ret["x"]))]
    assert all(0 <= v <= 1 for _, _, v in ret["cells"])
    want = {
        (str(r["offset"]), r["cohort"].isoformat()): r["retention"]
        for r in retention(sim_settings, max_offset=6).to_pylist()
        if r["retention"] is not None
    }
    got = {(ret["x"][x], ret["y"][y]): v for x, y, v in ret["cells"]}
    assert got == pytest.approx({k: want[k] for k in got}, abs=1e-6)
    taste = sim_client.get(f"{M}/taste", headers=h).json()
    assert taste["kind"] == "heatmap" and taste["cells"]
    opp = sim_client.get(f"{M}/opportunities?top=5", headers=h).json()
    assert opp["kind"] == "table" and len(opp["rows"]) == 5 and "members" in opp["columns"]


def test_growth_lines(sim_client: TestClient, keys: dict[str, str]) -> None:
    g = sim_client.get(f"{M}/growth?top=3", headers=bearer(keys["analyst"])).json()
    assert g["kind"] == "line" and len(g["series"]) == 4 and g["series"][-1]["name"] == "other"
