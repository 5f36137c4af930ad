"""Recommendation endpoints over a trained bundle: pseudonymised lookups, cold start, 404s."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.data.keystore import KeyStore
from reelmine.service import recommend as service
from tests.api.conftest import bearer


@pytest.fixture(scope="module")
def served(small_platform, tmp_path_factory: pytest.TempPathFactory):
    settings, dataset = small_platform
    art = tmp_path_factory.mktemp("rec-art")
    settings = dataclasses.replace(settings, artifacts=art)
    service.train(settings, model="ease")
    key = KeyStore(art).create("service")[0]
    analyst = KeyStore(art).create("analyst")[0]
    plays = pq.read_table(dataset / "plays.parquet", columns=["user_id"]).column("user_id")
    values, counts = np.unique(np.asarray(plays.to_pylist()), return_counts=True)
    return settings, key, analyst, str(values[np.argmax(counts)])


@pytest.fixture
def rec_client(served) -> Iterator[TestClient]:
    settings = served[0]
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def test_recommendations_for_a_known_member(rec_client: TestClient, served) -> None:
    _, key, _, member = served
    r = rec_client.get(f"/v1/users/{member}/recommendations?k=7", headers=bearer(key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == member and body["k"] == 7 and body["cold_start"] is False
    assert len(body["items"]) == 7
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(i["reason"] and i["name"] for i in body["items"])


def test_unknown_member_is_cold_start(rec_client: TestClient, served) -> None:
    key = served[1]
    r = rec_client.get("/v1/users/brand-new-member/recommendations?k=3", headers=bearer(key))
    assert r.status_code == 200
    assert r.json()["cold_start"] is True and len(r.json()["items"]) == 3


def test_rows_and_similar(rec_client: TestClient, served) -> None:
    _, key, _, member = served
    rows = rec_client.get(f"/v1/users/{member}/rows?per_row=4", headers=bearer(key)).json()
    assert rows["rows"][0]["name"] == "Top picks for you"
    assert all(1 <= len(row["items"]) <= 4 for row in rows["rows"])
    title = rows["rows"][0]["items"][0]["title_id"]
    sim = rec_client.get(f"/v1/titles/{title}/similar?k=5", headers=bearer(key))
    assert sim.status_code == 200 and len(sim.json()["items"]) == 5


def test_unknown_title_is_404_with_body(rec_client: TestClient, served) -> None:
    r = rec_client.get("/v1/titles/no-such-title/similar", headers=bearer(served[1]))
    assert r.status_code == 404
    assert "unknown title" in r.text


def test_roles_and_validation(rec_client: TestClient, served) -> None:
    _, key, analyst, member = served
    url = f"/v1/users/{member}/recommendations"
    assert rec_client.get(url).status_code == 401
    assert rec_client.get(url, headers=bearer(analyst)).status_code == 403
    bad = rec_client.get(url + "?k=0", headers=bearer(key))
    assert bad.status_code == 422


def test_no_model_is_503(tmp_path: Path, small_platform) -> None:
    settings = dataclasses.replace(small_platform[0], artifacts=tmp_path)
    key = KeyStore(tmp_path).create("service")[0]
    with TestClient(create_app(settings)) as c:
        r = c.get("/v1/users/x/recommendations", headers=bearer(key))
    assert r.status_code == 503 and "recommend train" in r.text


def test_erasure_removes_member_from_served_models(small_platform, tmp_path: Path) -> None:
    """DELETE /v1/users/{id} (admin) erases the member from the warehouse and the trained
    bundle; the member is then a stranger (cold start) and other members are still served."""
    import shutil

    from reelmine.data.privacy_store import find_in_files

    base, dataset = small_platform
    db = tmp_path / "w.duckdb"
    shutil.copy(base.db, db)
    settings = dataclasses.replace(base, db=db, artifacts=tmp_path / "art")
    service.train(settings, model="ease")
    admin = KeyStore(settings.artifacts).create("admin")[0]
    plays = pq.read_table(dataset / "plays.parquet", columns=["user_id"]).column("user_id")
    members = sorted(set(plays.to_pylist()))
    victim, other = members[0], members[1]
    pseudonym = service.RecommendationService(settings).pseudonym(victim)
    with TestClient(create_app(settings)) as c:
        before = c.get(f"/v1/users/{other}/recommendations?k=5", headers=bearer(admin)).json()
        r = c.delete(f"/v1/users/{victim}", headers=bearer(admin))
        assert r.status_code == 200, r.text
        assert r.json()["rows_deleted"].get("plays", 0) > 0
        gone = c.get(f"/v1/users/{victim}/recommendations?k=5", headers=bearer(admin)).json()
        after = c.get(f"/v1/users/{other}/recommendations?k=5", headers=bearer(admin)).json()
    assert gone["cold_start"] is True
    assert after["cold_start"] is False and len(after["items"]) == 5
    assert [i["title_id"] for i in before["items"]]  # the other member was served before too
    files = [p for p in settings.artifacts.rglob("*") if p.is_file() and "privacy" not in p.parts]
    assert not find_in_files(files, [pseudonym, victim])
