"""POST /v1/events/plays runs the live fraud checks and answers with the flags raised."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.data.keystore import KeyStore
from reelmine.settings import Settings
from tests.api.conftest import bearer


def _play(n: int, device: str, start: str, end: str, city: str) -> dict[str, object]:
    return {
        "play_id": f"p{n}",
        "user_id": "acct-1",
        "title_id": "t1",
        "started_at": start,
        "ended_at": end,
        "device_id": device,
        "ip": f"198.51.100.{n}",
        "city": city,
        "country": "DE",
    }


def test_third_stream_on_a_two_stream_plan_is_flagged(tmp_path: Path) -> None:
    settings = Settings(artifacts=tmp_path, db=tmp_path / "w.duckdb", secret="k" * 32)
    key = KeyStore(tmp_path).create("service")[0]
    user = {"user_id": "acct-1", "country": "DE", "plan": "standard", "max_streams": 2}
    plays = [
        _play(1, "tv", "2026-03-04T21:00:00Z", "2026-03-04T22:00:00Z", "Berlin"),
        _play(2, "phone", "2026-03-04T21:05:00Z", "2026-03-04T22:00:00Z", "Hamburg"),
        _play(3, "tablet", "2026-03-04T21:10:00Z", "2026-03-04T22:00:00Z", "Munich"),
    ]
    with TestClient(create_app(settings)) as c:
        assert (
            c.post("/v1/events/users", json={"rows": [user]}, headers=bearer(key)).json()[
                "accepted"
            ]
            == 1
        )
        first = c.post("/v1/events/plays", json={"rows": plays[:2]}, headers=bearer(key)).json()
        third = c.post("/v1/events/plays", json={"rows": plays[2:]}, headers=bearer(key)).json()
    assert first["accepted"] == 2 and first["flags"] == []
    assert third["accepted"] == 1
    [flag] = third["flags"]
    assert flag["user_id"] == "acct-1" and flag["type"] == "concurrent_streams"
    assert "3 simultaneous streams" in flag["evidence"] and "plan allows 2" in flag["evidence"]
