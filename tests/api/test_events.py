"""``POST /v1/events/{table}`` end to end: JSON rows through validation and pseudonymisation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.data.keystore import KeyStore
from reelmine.settings import Settings
from tests.api.conftest import bearer

ingest_service = pytest.importorskip("reelmine.service.ingest")


@pytest.fixture
def events_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str, Settings]]:
    settings = Settings(artifacts=tmp_path, db=tmp_path / "w.duckdb", secret="s" * 32)
    key, _ = KeyStore(tmp_path).create("service")
    with TestClient(create_app(settings)) as c:
        yield c, key, settings


def test_batch_counts_accepted_and_quarantined(
    events_client: tuple[TestClient, str, Settings],
) -> None:
    client, key, settings = events_client
    rows = [
        {"user_id": "u1", "title_id": "t1", "rating": 4.5, "rated_at": "2025-01-03T10:00:00Z"},
        {"user_id": "u2", "title_id": "t1", "rating": "abc", "rated_at": "2025-01-03T10:00:00Z"},
        {"user_id": "u3", "title_id": "t2", "rating": 3, "rated_at": "not a date"},
    ]
    r = client.post("/v1/events/ratings", json={"rows": rows}, headers=bearer(key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["table"] == "ratings" and body["accepted"] == 1 and body["quarantined"] == 2
    assert sum(body["reasons"].values()) == 2

    from reelmine.data.warehouse import Warehouse

    with Warehouse.open(settings, read_only=True) as wh:
        stored = wh.query("SELECT user_id, rating FROM ratings").to_pylist()
    assert len(stored) == 1 and stored[0]["rating"] == 4.5
    assert stored[0]["user_id"] != "u1"  # pseudonymised, like file ingestion
