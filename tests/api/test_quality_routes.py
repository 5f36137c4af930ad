"""Streaming-quality endpoints on the simulated warehouse, checked against its planted truth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.api.routes import quality as routes
from reelmine.service import quality as service
from reelmine.settings import Settings
from tests.api.conftest import SIM_SECRET, bearer

# One worker builds the simulated warehouse once for every test that uses it.
pytestmark = pytest.mark.xdist_group("sim_warehouse")

Q = "/v1/analytics/quality"
# Small-scale detection settings (the defaults are sized for production traffic).
SMALL = "z=4&min_count=10"


def test_literals_match_the_service() -> None:
    assert get_args(routes.Metric) == service.DETECTABLE
    assert get_args(routes.Attribute) == service.SLICE_ATTRIBUTES


# -- planted truth: a platform big enough that its planted incidents stand out ---------------
# The shared 150-member warehouse is too small for that (an incident holds a handful of plays),
# so these tests simulate their own: 1,500 members over 28 days (a few seconds), whose planted
# rebuffering incident has two root causes. Expectations are read from the simulator's truth.
QUALITY_SIM = {"users": 1500, "days": 28, "seed": 4}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The planted rebuffering incident: ``start`` (UTC) and its root ``causes``."""
    from reelmine.service.ingest import ingest
    from reelmine.service.simulate import run_simulation

    root = tmp_path_factory.mktemp("quality-sim")
    run_simulation(**QUALITY_SIM, out=root / "data")
    truth = pq.read_table(root / "data" / "truth" / "incidents.parquet").to_pylist()
    rebuffer = [t for t in truth if t["metric"] == "rebuffer_ratio"]
    assert len(rebuffer) == 1, f"the simulation should plant one rebuffering incident: {truth}"
    db = root / "wh.duckdb"
    ingest(Settings(artifacts=root / "art", db=db, secret=SIM_SECRET), root / "data")
    return {"db": db, "start": rebuffer[0]["start"], "causes": rebuffer[0]["root_cause"]}


@pytest.fixture(scope="module")
def planted_client(
    planted: dict[str, Any], artifacts: Path, keys: dict[str, str]
) -> Iterator[TestClient]:
    """An app over the planted platform (keys of ``artifacts``; no minimum group size)."""
    s = Settings(artifacts=artifacts, db=planted["db"], secret=SIM_SECRET, min_group_size=1)
    with TestClient(create_app(s), follow_redirects=False) as c:
        yield c


def test_incidents_find_the_planted_rebuffer_incident(
    planted_client: TestClient, planted: dict[str, Any], keys: dict[str, str]
) -> None:
    h = bearer(keys["analyst"])
    r = planted_client.get(f"{Q}/incidents?metric=rebuffer_ratio&{SMALL}", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "table" and body["columns"][:2] == ["incident_id", "slice"]
    severity = [row[4] for row in body["rows"]]
    assert severity == sorted(severity, reverse=True)
    # The most severe incident is one of the planted causes, starting when it was planted.
    top = dict(zip(body["columns"], body["rows"][0], strict=True))
    assert top["slice"] in planted["causes"], (top, planted)
    assert top["start"] == planted["start"].isoformat() and top["value"] > 5 * top["baseline"]


def test_root_cause_names_the_planted_causes(
    planted_client: TestClient, planted: dict[str, Any], keys: dict[str, str]
) -> None:
    h = bearer(keys["analyst"])
    body = planted_client.get(f"{Q}/root-cause?metric=rebuffer_ratio&{SMALL}", headers=h).json()
    rows = [dict(zip(body["columns"], r, strict=True)) for r in body["rows"]]
    assert {r["cause"] for r in rows} == set(planted["causes"]), (rows, planted)
    assert sum(r["explained"] for r in rows) > 0.8
    top = planted_client.get(f"{Q}/incidents?metric=rebuffer_ratio&{SMALL}", headers=h).json()
    iid = top["rows"][0][0]
    same = planted_client.get(f"{Q}/root-cause?incident_id={iid}&{SMALL}", headers=h).json()
    assert same["rows"] == body["rows"]
    r = planted_client.get(f"{Q}/root-cause?incident_id=rebuffer_ratio@cdn=X@1&{SMALL}", headers=h)
    assert r.status_code == 404 and "no incident" in r.json()["detail"]


def test_metric_series_shades_incidents(
    planted_client: TestClient,
    planted: dict[str, Any],
    sim_client: TestClient,
    keys: dict[str, str],
) -> None:
    h = bearer(keys["analyst"])
    body = planted_client.get(f"{Q}/metrics?metric=rebuffer_ratio&{SMALL}", headers=h).json()
    assert body["kind"] == "line" and len(body["x"]) > 24 * 20
    assert body["x"] == sorted(body["x"])
    assert body["bands"], body["note"]
    for band in body["bands"]:
        assert band["start"] in body["x"] or band["end"] in body["x"]
    assert any(b["start"] == planted["start"].strftime("%Y-%m-%d %H:%M") for b in body["bands"])
    # Country filter: only that country's sessions, fewer or equal buckets.
    de = sim_client.get(f"{Q}/metrics?metric=rebuffer_ratio&country=DE", headers=h).json()
    full = sim_client.get(f"{Q}/metrics?metric=rebuffer_ratio", headers=h).json()
    assert 0 < len(de["x"]) < len(full["x"])
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
