"""Streaming-quality endpoints on the simulated warehouse, checked against its planted truth."""

from __future__ import annotations

from typing import get_args

import pytest
from fastapi.testclient import TestClient

from reelmine.api.routes import quality as routes
from reelmine.service import quality as service
from tests.api.conftest import bearer

# One worker builds the simulated warehouse once for every test that uses it.
pytestmark = pytest.mark.xdist_group("sim_warehouse")

Q = "/v1/analytics/quality"
# Small-scale detection settings (the defaults are sized for production traffic).
SMALL = "z=4&min_count=10"


def test_literals_match_the_service() -> None:
    assert get_args(routes.Metric) == service.DETECTABLE
    assert get_args(routes.Attribute) == service.SLICE_ATTRIBUTES


def test_incidents_find_the_planted_rebuffer_incident(
    sim_client: TestClient, keys: dict[str, str]
) -> None:
    h = bearer(keys["analyst"])
    r = sim_client.get(f"{Q}/incidents?metric=rebuffer_ratio&{SMALL}", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "table" and body["columns"][:2] == ["incident_id", "slice"]
    severity = [row[4] for row in body["rows"]]
    assert severity == sorted(severity, reverse=True)
    # The simulator planted a rebuffering incident on app_version 7.1, 2026-03-06 18:00-22:00.
    top = dict(zip(body["columns"], body["rows"][0], strict=True))
    assert top["slice"] == "app_version=7.1"
    assert top["start"].startswith("2026-03-06T18") and top["value"] > 5 * top["baseline"]


def test_root_cause_names_the_planted_version(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    body = sim_client.get(f"{Q}/root-cause?metric=rebuffer_ratio&{SMALL}", headers=h).json()
    first = dict(zip(body["columns"], body["rows"][0], strict=True))
    assert first["cause"] == "app_version=7.1" and first["explained"] > 0.8
    iid = "rebuffer_ratio@app_version=7.1@1772820000"
    same = sim_client.get(f"{Q}/root-cause?incident_id={iid}&{SMALL}", headers=h).json()
    assert same["rows"] == body["rows"]
    r = sim_client.get(f"{Q}/root-cause?incident_id=rebuffer_ratio@cdn=X@1&{SMALL}", headers=h)
    assert r.status_code == 404 and "no incident" in r.json()["detail"]


def test_metric_series_shades_incidents(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    body = sim_client.get(f"{Q}/metrics?metric=rebuffer_ratio&{SMALL}", headers=h).json()
    assert body["kind"] == "line" and len(body["x"]) > 24 * 60
    assert body["x"] == sorted(body["x"])
    assert body["bands"], body["note"]
    for band in body["bands"]:
        assert band["start"] in body["x"] or band["end"] in body["x"]
    assert any(b["start"] == "2026-03-06 18:00" for b in body["bands"])
    # Country filter: only that country's sessions, fewer or equal buckets.
    de = sim_client.get(f"{Q}/metrics?metric=rebuffer_ratio&country=DE", headers=h).json()
    assert 0 < len(de["x"]) < len(body["x"])
    # Date filter keeps only buckets of those days.
    day = sim_client.get(f"{Q}/metrics?start=2026-02-01&end=2026-02-01", headers=h).json()
    assert day["x"] and all(x.startswith("2026-02-01") for x in day["x"])


def test_heatmap_and_compare(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    hm = sim_client.get(f"{Q}/heatmap?x=cdn&y=device_type", headers=h).json()
    assert hm["kind"] == "heatmap" and hm["x"] == ["C1", "C2", "C3", "C4"]
    assert all(0 <= v < 1 for _, _, v in hm["cells"]) and len(hm["cells"]) >= 4 * 3
    cmp = sim_client.get(f"{Q}/compare?by=app_version&a=7.0&b=7.1", headers=h).json()
    assert cmp["kind"] == "interval" and cmp["x"][2] == "p50"
    est, lo, hi = (s["data"] for s in cmp["series"][:3])
    assert all(a <= e <= b for a, e, b in zip(lo, est, hi, strict=True))
    qa, qb = cmp["series"][3]["data"], cmp["series"][4]["data"]
    assert all(abs(e - (b - a)) < 1e-6 for e, a, b in zip(est, qa, qb, strict=True))
    default = sim_client.get(f"{Q}/compare", headers=h).json()
    assert "minus" in default["title"]


def test_bad_parameters_are_field_errors(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    r = sim_client.get(f"{Q}/metrics?metric=nope", headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "metric"]
    r = sim_client.get(f"{Q}/heatmap?x=colour", headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "x"]
    r = sim_client.get(f"{Q}/compare?by=app_version&a=7.0&b=99", headers=h)
    assert r.status_code == 404 and "99" in r.json()["detail"]
