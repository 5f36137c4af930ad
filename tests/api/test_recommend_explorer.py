"""The Recommendations page: its analytics twins, the admin member explorer and its endpoints.

Known answers: a member's history is their latest-played titles in the raw plays file; the
coverage of a country equals the distinct titles of ``batch_top`` over that country's raw member
IDs; the quality chart is the bundle's evaluation file. Roles: no row-level endpoint answers an
analyst, and the dashboard tells an analyst the explorer needs an admin key.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.data.keystore import KeyStore
from reelmine.service import recommend as service
from reelmine.settings import Settings
from tests.api.conftest import bearer

QUALITY = "/v1/analytics/recommend/quality"
COVERAGE = "/v1/analytics/recommend/coverage"


@pytest.fixture(scope="module")
def served(small_platform, tmp_path_factory: pytest.TempPathFactory):
    """A trained bundle (EASE: fast) over the small platform; keys for every role."""
    settings, dataset = small_platform
    art = tmp_path_factory.mktemp("explorer-art")
    settings = dataclasses.replace(settings, artifacts=art, min_group_size=1)
    service.train(settings, model="ease")
    store = KeyStore(art)
    keys = {role: store.create(role)[0] for role in ("service", "analyst", "admin")}
    plays = pq.read_table(dataset / "plays.parquet", columns=["user_id", "title_id", "started_at"])
    values, counts = np.unique(np.asarray(plays["user_id"].to_pylist()), return_counts=True)
    return settings, keys, str(values[np.argmax(counts)]), dataset, plays


@pytest.fixture
def client(served) -> Iterator[TestClient]:
    with TestClient(create_app(served[0]), follow_redirects=False) as c:
        yield c


def test_history_is_the_members_latest_titles(client: TestClient, served) -> None:
    _, keys, member, _, plays = served
    r = client.get(f"/v1/users/{member}/history?limit=6", headers=bearer(keys["admin"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == member and body["known"] is True
    mine = plays.filter(pc.equal(plays["user_id"], member))
    last: dict[str, object] = {}
    for t, when in zip(mine["title_id"].to_pylist(), mine["started_at"].to_pylist(), strict=True):
        last[t] = max(last.get(t, when), when)  # type: ignore[type-var]
    expected = sorted(last, key=lambda t: last[t], reverse=True)[:6]  # type: ignore[arg-type,return-value]
    assert [i["title_id"] for i in body["items"]] == expected
    times = [i["last_played"] for i in body["items"]]
    assert times == sorted(times, reverse=True)
    assert all(i["strength"] >= 1.0 and i["name"] for i in body["items"])


def test_unknown_member_has_no_history(client: TestClient, served) -> None:
    r = client.get("/v1/users/nobody-at-all/history", headers=bearer(served[1]["admin"]))
    assert r.status_code == 200
    assert r.json() == {"user_id": "nobody-at-all", "known": False, "items": []}


def test_row_level_endpoints_are_admin_only(client: TestClient, served) -> None:
    _, keys, member, _, _ = served
    for role in ("analyst", "service"):
        for url in (f"/v1/users/{member}/history", "/v1/users/sample"):
            assert client.get(url, headers=bearer(keys[role])).status_code == 403, (role, url)
    assert client.get("/v1/users/sample").status_code == 401
    # A pseudonym in the path is for admins only, even on the service role's rows endpoint.
    r = client.get(f"/v1/users/{member}/rows?pseudonymised=true", headers=bearer(keys["service"]))
    assert r.status_code == 403 and "admin" in r.text
    assert (
        client.get(f"/v1/users/{member}/rows", headers=bearer(keys["analyst"])).status_code == 403
    )


def test_sample_members_open_in_the_explorer(client: TestClient, served) -> None:
    settings, keys, member, _, _ = served
    admin = bearer(keys["admin"])
    body = client.get("/v1/users/sample?n=5", headers=admin).json()
    members = body["members"]
    assert body["pseudonymised"] is True and len(members) == 5
    titles = [m["titles"] for m in members]
    assert titles == sorted(titles, reverse=True) and titles[-1] >= 1
    # The most active member first: the raw member with most plays has that pseudonym's history.
    pseudo = service.RecommendationService(settings).pseudonym(member)
    by_raw = client.get(f"/v1/users/{member}/rows?per_row=4", headers=admin).json()
    by_pseudo = client.get(
        f"/v1/users/{pseudo}/rows?per_row=4&pseudonymised=true", headers=admin
    ).json()
    assert by_raw["rows"] == by_pseudo["rows"] and len(by_raw["rows"]) >= 2
    first = members[0]["user_id"]
    hist = client.get(f"/v1/users/{first}/history?pseudonymised=true", headers=admin).json()
    assert hist["known"] is True and len(hist["items"]) == min(20, members[0]["titles"])


@pytest.mark.slow  # evaluates two models on the holdout (about 3-10 s on a shared machine)
def test_quality_chart_is_the_bundle_evaluation(client: TestClient, served) -> None:
    settings, keys, _, _, _ = served
    r = client.get(QUALITY, headers=bearer(keys["analyst"]))
    assert r.status_code == 200, r.text
    chart = r.json()
    assert chart["kind"] == "bar" and chart["x"] == ["ease", "popularity"]
    assert [s["name"] for s in chart["series"]] == ["nDCG@10", "recall@10"]
    saved = json.loads((service.current_bundle(settings) / service.EVALUATION).read_text())
    rows = {row["model"]: row for row in saved["rows"]}
    for s, col in zip(chart["series"], ("ndcg@10", "recall@10"), strict=True):
        assert s["data"] == pytest.approx([rows["ease"][col], rows["popularity"][col]])
        assert all(0.0 < v <= 1.0 for v in s["data"])
    assert chart["members"] == [int(rows["ease"]["n_users"])] * 2
    # A second call reads the saved evaluation: same numbers.
    assert client.get(QUALITY, headers=bearer(keys["analyst"])).json()["series"] == chart["series"]


def test_coverage_matches_batch_recommendations(client: TestClient, served) -> None:
    settings, keys, _, dataset, plays = served
    chart = client.get(COVERAGE, headers=bearer(keys["analyst"])).json()
    assert chart["kind"] == "bar" and chart["series"][0]["name"] == "coverage"
    users = pq.read_table(dataset / "users.parquet", columns=["user_id", "country"])
    active = set(plays["user_id"].to_pylist())
    country = chart["x"][0]
    raw = [
        u
        for u, c in zip(users["user_id"].to_pylist(), users["country"].to_pylist(), strict=True)
        if c == country and u in active
    ]
    assert chart["members"][0] == len(raw)
    n_items = service.RecommendationService(settings).refresh().model.n_items_
    recs = service.batch_top(settings, raw, k=10)
    expected = len(set(recs["title_id"].to_pylist())) / n_items
    assert chart["series"][0]["data"][0] == pytest.approx(expected)
    # The country filter keeps one bar.
    one = client.get(f"{COVERAGE}?country={country}", headers=bearer(keys["analyst"])).json()
    assert one["x"] == [country]


def test_dashboard_page_admin_explorer_and_analyst_note(client: TestClient, served) -> None:
    keys = served[1]
    client.post("/login", content=f"api_key={keys['admin']}")
    html = client.get("/dashboard/recommendations").text
    assert 'id="explorer"' in html and 'id="chart-quality"' in html
    client.post("/logout")
    client.post("/login", content=f"api_key={keys['analyst']}")
    html = client.get("/dashboard/recommendations").text
    assert 'data-explorer="admin-only"' in html and 'id="explorer"' not in html
    assert 'id="chart-coverage"' in html


@pytest.fixture
def untrained(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(artifacts=tmp_path, db=tmp_path / "none.duckdb")
    store = KeyStore(tmp_path)
    keys = {role: store.create(role)[0] for role in ("analyst", "admin")}
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c, keys


def test_without_a_model_the_page_says_what_is_missing(untrained) -> None:
    client, keys = untrained
    for url in (COVERAGE, "/v1/users/sample", "/v1/users/x/history"):
        r = client.get(url, headers=bearer(keys["admin"]))
        assert r.status_code == 503 and "reelmine recommend train" in r.text, url
    client.post("/login", content=f"api_key={keys['admin']}")
    html = client.get("/dashboard/recommendations").text
    assert 'data-missing="true"' in html and "reelmine recommend train" in html
    assert 'class="chart"' not in html and 'id="explorer"' not in html


def test_fast_lane_answers_like_the_route(
    client: TestClient, served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelmine.api.fastlane import RecommendationsFastLane

    _, keys, member, _, _ = served
    answered: list[bytes | None] = []
    original = RecommendationsFastLane._answer

    def spy(self: RecommendationsFastLane, scope: dict, user_id: str) -> bytes | None:
        answered.append(original(self, scope, user_id))
        return answered[-1]

    monkeypatch.setattr(RecommendationsFastLane, "_answer", spy)
    url = f"/v1/users/{member}/recommendations?k=6"
    first = client.get(url, headers=bearer(keys["service"]))  # computes (or warm) and memoises
    again = client.get(url, headers={"X-API-Key": keys["service"]})
    assert first.status_code == again.status_code == 200
    assert answered[-1] is not None and again.content == answered[-1]  # the lane answered
    assert again.json() == first.json() and len(again.json()["items"]) == 6
    for _ in range(2):  # cold start: one memoised answer for every unknown member
        cold = client.get("/v1/users/never-seen/recommendations", headers=bearer(keys["admin"]))
    assert answered[-1] is not None and cold.json()["cold_start"] is True
    # Whatever the route would refuse or treat differently goes through to it.
    log = client.app.state.request_log  # type: ignore[attr-defined]
    n = len(log)
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(keys["analyst"])).status_code == 403
    bad = client.get(f"/v1/users/{member}/recommendations?k=0", headers=bearer(keys["service"]))
    assert bad.status_code == 422
    other = client.get(url + "&country=ZZ", headers=bearer(keys["service"]))
    assert other.status_code == 200 and answered[-1] is None
    assert len(log) == n + 4  # every request still counted for the API & service page
