"""Endpoints: health, field errors (422), unknown IDs (404), unavailable capabilities (503)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from reelmine.api.errors import Unavailable, body_for, status_for
from reelmine.errors import (
    ConfigError,
    DataError,
    MissingColumnError,
    NotFittedError,
    NotFoundError,
    PrivacyError,
    ReelmineError,
)
from tests.api.conftest import bearer


def test_health_needs_no_key(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert {"recommend", "ingest", "privacy"} <= set(body["capabilities"])


def test_k_out_of_range_is_a_field_error(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/users/u1/recommendations?k=0", headers=bearer(keys["service"]))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "k"]
    r = client.get("/v1/users/u1/recommendations?k=abc", headers=bearer(keys["service"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "k"]


def test_recommendations_503_says_what_to_run(client: TestClient, keys: dict[str, str]) -> None:
    for path in ("/v1/users/u1/recommendations?k=5", "/v1/users/u1/rows", "/v1/titles/t1/similar"):
        r = client.get(path, headers=bearer(keys["service"]))
        assert r.status_code == 503
        assert "model trained yet; run `reelmine recommend train`" in r.json()["detail"]


def test_erasure_is_admin_only_and_needs_the_key(
    client: TestClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    assert client.delete("/v1/users/u1", headers=bearer(keys["analyst"])).status_code == 403
    # Without the pseudonymisation key nothing can be looked up: a configuration error that
    # says what to set, not a silent success.
    monkeypatch.setattr(
        client.app.state,
        "settings",
        dataclasses.replace(client.app.state.settings, key_file=tmp_path / "none.key"),
    )
    r = client.delete("/v1/users/u1", headers=bearer(keys["admin"]))
    assert r.status_code == 500 and "REELMINE_SECRET" in r.json()["detail"]


def test_events_field_errors(client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["service"])
    r = client.post(
        "/v1/events/plays", json={"rows": [{"play_id": "p1", "colour": "red"}]}, headers=h
    )
    assert r.status_code == 422
    err = r.json()["detail"][0]
    assert err["loc"] == ["body", "colour"] and "unknown column 'colour'" in err["msg"]
    r = client.post("/v1/events/plays", json={"rows": []}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "rows"]
    r = client.post("/v1/events/plays", json={"rows": [{}], "extra": 1}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "extra"]


def test_events_unknown_table_is_404(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post(
        "/v1/events/watches", json={"rows": [{"a": 1}]}, headers=bearer(keys["service"])
    )
    assert r.status_code == 404
    assert r.json()["detail"].startswith("unknown table 'watches'; tables: users, titles")


def test_events_503_until_the_ingest_service_is_wired(
    client: TestClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        from reelmine.service import ingest
    except ImportError:
        expected = "ingestion service (reelmine.service.ingest) is not installed"
    else:
        monkeypatch.delattr(ingest, "ingest_rows", raising=False)
        expected = "reelmine.service.ingest has no ingest_rows(settings, table, rows)"
    row = {"user_id": "u1", "title_id": "t1", "rating": 4.0}
    r = client.post("/v1/events/ratings", json={"rows": [row]}, headers=bearer(keys["service"]))
    assert r.status_code == 503 and expected in r.json()["detail"]


def test_key_create_validates_role(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1/keys", json={"role": "root"}, headers=bearer(keys["admin"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "role"]


def test_unknown_route_is_404(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/v1/nothing", headers=bearer(keys["admin"])).status_code == 404


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (DataError("bad"), 422),
        (MissingColumnError("gone"), 422),
        (NotFoundError("x"), 404),
        (PrivacyError("x"), 403),
        (NotFittedError("x"), 503),
        (Unavailable("x"), 503),
        (ConfigError("x"), 500),
        (ReelmineError("x"), 400),
    ],
)
def test_error_status_mapping(exc: ReelmineError, code: int) -> None:
    assert status_for(exc) == code


def test_data_error_body_names_the_field() -> None:
    body = body_for(DataError("not a date", source="rows", line=3, column="rated_at"))
    assert body == {
        "detail": [
            {
                "loc": ["body", 3, "rated_at"],
                "msg": "rows, line 3, column 'rated_at': not a date",
                "type": "DataError",
            }
        ]
    }
    assert body_for(NotFoundError("no title t9")) == {"detail": "no title t9"}


def test_schema_needs_a_key_and_swagger_is_not_public(
    client: TestClient, keys: dict[str, str]
) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404
    assert client.get("/v1/openapi.json").status_code == 401
    doc = client.get("/v1/openapi.json", headers=bearer(keys["analyst"])).json()
    assert "/v1/users/{user_id}/recommendations" in doc["paths"]
