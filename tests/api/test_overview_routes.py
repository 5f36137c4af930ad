"""Overview endpoints over the simulated warehouse: numbers match an independent count."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from reelmine.data.warehouse import Warehouse
from reelmine.settings import Settings
from tests.api.conftest import SIM_USERS, bearer

# One worker builds the simulated warehouse once for every test that uses it.
pytestmark = pytest.mark.xdist_group("sim_warehouse")

OV = "/v1/analytics/overview"


@pytest.fixture(scope="module")
def plays(sim_settings: Settings) -> list[dict[str, object]]:
    with Warehouse(sim_settings.db, read_only=True) as wh:
        return wh.table(
            "plays", ["user_id", "title_id", "started_at", "watched_seconds", "country"]
        ).to_pylist()


def _day(ts: datetime) -> str:
    return ts.astimezone(UTC).date().isoformat()


def test_active_members_match_distinct_count(
    sim_client: TestClient, keys: dict[str, str], plays: list[dict[str, object]]
) -> None:
    r = sim_client.get(f"{OV}/active-members", headers=bearer(keys["analyst"]))
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "line" and body["series"][0]["name"] == "active members"
    members: dict[str, set[object]] = defaultdict(set)
    for p in plays:
        members[_day(p["started_at"])].add(p["user_id"])  # type: ignore[arg-type]
    assert body["x"] == sorted(members)
    assert body["series"][0]["data"] == [float(len(members[d])) for d in sorted(members)]
    assert body["members"] == [len(members[d]) for d in sorted(members)]


def test_hours_and_filters(
    sim_client: TestClient, keys: dict[str, str], plays: list[dict[str, object]]
) -> None:
    h = bearer(keys["analyst"])
    total = sim_client.get(f"{OV}/hours", headers=h).json()
    want = sum(float(p["watched_seconds"] or 0) for p in plays) / 3600  # type: ignore[arg-type]
    assert sum(total["series"][0]["data"]) == pytest.approx(want, rel=1e-9)
    # Country filter: the per-country totals add up to the whole (every play has a country).
    countries = sorted({str(p["country"]) for p in plays})
    assert all(len(c) == 2 for c in countries)
    parts = [
        sum(sim_client.get(f"{OV}/hours?country={c}", headers=h).json()["series"][0]["data"])
        for c in countries
    ]
    assert sum(parts) == pytest.approx(want, rel=1e-9)
    # Date filter keeps exactly the days asked for.
    days = total["x"]
    r = sim_client.get(f"{OV}/hours?start={days[2]}&end={days[4]}", headers=h).json()
    assert r["x"] == days[2:5]
    assert r["series"][0]["data"] == pytest.approx(total["series"][0]["data"][2:5])


def test_top_titles_ranked_with_members(
    sim_client: TestClient, keys: dict[str, str], plays: list[dict[str, object]]
) -> None:
    body = sim_client.get(f"{OV}/top-titles?limit=5", headers=bearer(keys["admin"])).json()
    assert body["kind"] == "hbar" and len(body["x"]) == 5 and len(body["members"]) == 5
    hours = body["series"][0]["data"]
    assert hours == sorted(hours, reverse=True)
    per_title: dict[object, float] = defaultdict(float)
    for p in plays:
        per_title[p["title_id"]] += float(p["watched_seconds"] or 0) / 3600  # type: ignore[arg-type]
    assert hours[0] == pytest.approx(max(per_title.values()))


def test_top_genres_and_summary(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    g = sim_client.get(f"{OV}/top-genres?limit=3", headers=h).json()
    assert g["kind"] == "bar" and len(g["x"]) == 3 and all(m > 0 for m in g["members"])
    s = sim_client.get(f"{OV}/summary", headers=h).json()
    assert s["rows"]["users"] == SIM_USERS and s["rows"]["plays"] > 1000
    assert s["first"] < s["last"]
    w = sim_client.get(f"{OV}/warehouse", headers=h).json()
    assert w["kind"] == "table"
    assert w["columns"] == ["table", "rows", "members", "suppressed", "suppression"]
    assert ["users", SIM_USERS, SIM_USERS, False, None] in w["rows"]


def test_bad_filters_are_field_errors(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    r = sim_client.get(f"{OV}/hours?start=2026-01-10&end=2026-01-01", headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "start"]
    r = sim_client.get(f"{OV}/hours?country=de", headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "country"]
    r = sim_client.get(f"{OV}/top-titles?limit=0", headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]


def test_no_warehouse_is_503(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get(f"{OV}/hours", headers=bearer(keys["analyst"]))
    assert r.status_code == 503 and "reelmine ingest" in r.json()["detail"]
