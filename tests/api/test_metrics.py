"""Request metrics: known-answer aggregates and the service chart endpoints."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from reelmine.api import metrics
from tests.api.conftest import bearer


def test_traffic_per_minute_counts_by_class() -> None:
    now = 3600.0 * 10 + 30  # 10:00:30 UTC
    at = np.array([now - 5, now - 10, now - 65, now - 65, now - 4000])
    status = np.array([200, 404, 200, 503, 200])
    labels, series = metrics.traffic_per_minute(at, status, now=now, minutes=3)
    assert labels == ["09:58", "09:59", "10:00"]
    assert series["2xx"] == [0.0, 1.0, 1.0]
    assert series["4xx"] == [0.0, 0.0, 1.0]
    assert series["5xx"] == [0.0, 1.0, 0.0]
    assert series["3xx"] == [0.0, 0.0, 0.0]  # the request 4000 s ago is outside the window


def test_latency_quantiles_per_route() -> None:
    route = np.array(["/a"] * 5 + ["/b"] * 2, dtype=object)
    lat = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 20.0])
    names, q = metrics.latency_by_route(route, lat, quantiles=(0.5, 1.0))
    assert names == ["/a", "/b"]  # busiest first
    assert q["p50"] == [3.0, 10.0]
    assert q["p100"] == [5.0, 20.0]


def test_status_matrix() -> None:
    xs, ys, cells = metrics.status_matrix(
        np.array(["/a", "/a", "/b"], dtype=object), np.array([200, 404, 200])
    )
    assert xs == ["200", "404"] and ys == ["/a", "/b"]
    assert sorted(cells) == [(0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0)]


def test_log_records_route_templates_not_ids(client: TestClient, keys: dict[str, str]) -> None:
    for uid in ("alice", "bob", "carol"):
        client.get(f"/v1/users/{uid}/rows", headers=bearer(keys["service"]))
    client.get("/health")
    client.get("/no/such/path")
    r = client.get("/v1/service/status", headers=bearer(keys["analyst"]))
    body = r.json()
    assert body["kind"] == "heatmap"
    assert not any("alice" in y for y in body["y"])
    cells = {(body["x"][x], body["y"][y]): v for x, y, v in body["cells"]}
    assert cells[("503", "/v1/users/{user_id}/rows")] == 3
    assert cells[("200", "/health")] == 1
    assert cells[("404", metrics.UNMATCHED)] == 1


def test_traffic_and_latency_endpoints(client: TestClient, keys: dict[str, str]) -> None:
    for _ in range(4):
        client.get("/health")
    h = bearer(keys["analyst"])
    traffic = client.get("/v1/service/traffic?minutes=5", headers=h).json()
    assert traffic["kind"] == "line" and len(traffic["x"]) == 5
    assert sum(next(s for s in traffic["series"] if s["name"] == "2xx")["data"]) >= 4
    lat = client.get("/v1/service/latency", headers=h).json()
    assert "/health" in lat["x"]
    i = lat["x"].index("/health")
    p50, p95 = lat["series"][0]["data"][i], lat["series"][1]["data"][i]
    assert 0 < p50 <= p95
    assert client.get("/v1/service/traffic?minutes=0", headers=h).status_code == 422
