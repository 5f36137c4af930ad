"""Experiment endpoints: the list, the readout JSON of issue 8, and the chart twins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelmine.data.warehouse import Warehouse
from reelmine.settings import Settings
from tests.api.conftest import bearer

# One worker builds the simulated warehouse once for every test that uses it.
pytestmark = pytest.mark.xdist_group("sim_warehouse")

X = "/v1/analytics/experiments"
READOUT_KEYS = {"experiment_id", "srm", "variants", "metrics"}
METRIC_KEYS = {
    "metric", "variant", "control", "effect", "relative_lift", "ci_low", "ci_high", "p_value",
    "method",
}  # fmt: skip


def test_list_matches_the_assignments(
    sim_client: TestClient, keys: dict[str, str], sim_settings: Settings
) -> None:
    r = sim_client.get("/v1/experiments", headers=bearer(keys["analyst"]))
    assert r.status_code == 200
    with Warehouse(sim_settings.db, read_only=True) as wh:
        rows = wh.query(
            "SELECT experiment_id, variant, count(*) AS n FROM experiments GROUP BY 1, 2"
        ).to_pylist()
    want = {(x["experiment_id"], x["variant"]): x["n"] for x in rows}
    got = {
        (e["experiment_id"], v["variant"]): v["members"] for e in r.json() for v in e["variants"]
    }
    assert got == want
    assert all(e["members"] == sum(v["members"] for v in e["variants"]) for e in r.json())


def test_readout_has_the_documented_shape(sim_client: TestClient, keys: dict[str, str]) -> None:
    r = sim_client.get("/v1/experiments/exp-row-order/readout", headers=bearer(keys["analyst"]))
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= READOUT_KEYS and set(body["srm"]) == {"p_value", "flagged"}
    assert {v["variant"] for v in body["variants"]} == {"control", "treatment"}
    for m in body["metrics"]:
        assert set(m) >= METRIC_KEYS
        assert m["ci_low"] <= m["effect"] <= m["ci_high"]
    hv = next(m for m in body["metrics"] if m["metric"] == "hours_viewed")
    assert hv["method"] == "cuped" and hv["role"] == "primary"
    # The simulator planted +8% on hours viewed: the interval must contain it.
    assert hv["ci_low"] / hv["control"] <= 0.08 <= hv["ci_high"] / hv["control"]


def test_readout_errors(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    r = sim_client.get("/v1/experiments/no-such-exp/readout", headers=h)
    assert r.status_code == 404 and "no-such-exp" in r.json()["detail"]
    r = sim_client.get("/v1/experiments/exp-aa/readout?correction=magic", headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "correction"]
    r = sim_client.get("/v1/experiments/exp-aa/readout?alpha=2", headers=h)
    assert r.status_code == 422


def test_interval_chart_matches_the_readouts(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    chart = sim_client.get(f"{X}/intervals", headers=h).json()
    assert chart["kind"] == "interval" and "exp-row-order · treatment" in chart["x"]
    est, lo, hi = (s["data"] for s in chart["series"])
    i = chart["x"].index("exp-row-order · treatment")
    ro = sim_client.get("/v1/experiments/exp-row-order/readout", headers=h).json()
    hv = next(m for m in ro["metrics"] if m["metric"] == "hours_viewed")
    assert abs(est[i] - 100 * hv["relative_lift"]) < 1e-9
    assert abs(lo[i] - 100 * hv["ci_low"] / hv["control"]) < 1e-9
    assert abs(hi[i] - 100 * hv["ci_high"] / hv["control"]) < 1e-9
    one = sim_client.get(f"{X}/intervals?experiment_id=exp-artwork", headers=h).json()
    assert "hours_viewed · v1" in one["x"] and "hours_viewed · v2" in one["x"]


def test_srm_table_and_variants(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["admin"])
    t = sim_client.get(f"{X}/srm", headers=h).json()
    assert t["kind"] == "table" and t["columns"][0] == "experiment"
    rows = {r[0]: dict(zip(t["columns"], r, strict=True)) for r in t["rows"]}
    assert set(rows) == {"exp-aa", "exp-artwork", "exp-row-order", "exp-srm"}
    for exp_id, row in rows.items():
        ro = sim_client.get(f"/v1/experiments/{exp_id}/readout", headers=h).json()
        assert row["srm"] == ("MISMATCH: readout blocked" if ro["srm"]["flagged"] else "ok")
    v = sim_client.get(f"{X}/variants", headers=h).json()
    assert v["kind"] == "stacked" and v["x"] == sorted(rows)
    totals = [sum(s["data"][i] or 0 for s in v["series"]) for i in range(len(v["x"]))]
    assert totals == v["members"]
