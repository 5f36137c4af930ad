"""``POST /v1/events/{table}`` end to end: JSON rows through validation and pseudonymisation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.data.keystore import KeyStore
from reelmine.settings import Settings
from tests.api.conftest import bearer

ingest_service = pytest.importorskip("reelmine.service.ingest")


def ingest_rows_reference(settings: Settings, table: str, rows: list[dict[str, Any]]) -> Any:
    """The service function the route calls (proposed for reelmine.service.ingest).

    JSON values are turned into text, as if read from a CSV file, so a row with a bad value is
    quarantined by the same checks as a file row instead of failing the whole batch.
    """
    from reelmine.data.ingest import ingest_tables
    from reelmine.data.pseudonym import Pseudonymiser
    from reelmine.data.warehouse import Warehouse

    def text(v: Any) -> str | None:
        if v is None:
            return None
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "|".join(str(x) for x in v)
        return str(v)

    cols = sorted(set().union(*rows))
    arrow = pa.table({c: pa.array([text(r.get(c)) for r in rows], pa.string()) for c in cols})
    ps = Pseudonymiser.from_settings(settings)
    with Warehouse.open(settings) as wh:
        return ingest_tables(wh, {table: arrow}, ps, batch_rows=settings.batch_rows)


@pytest.fixture
def events_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str, Settings]]:
    if not hasattr(ingest_service, "ingest_rows"):
        monkeypatch.setattr(ingest_service, "ingest_rows", ingest_rows_reference, raising=False)
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
