"""Marketing endpoints: aggregates of segments, churn, uplift and value; no member ids."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelmine.api import capabilities
from tests.api.conftest import SIM_USERS, bearer

pytestmark = [
    pytest.mark.skipif(not capabilities.available("marketing"), reason="no service"),
    pytest.mark.xdist_group("sim_warehouse"),
    pytest.mark.slow,
]
K = "/v1/analytics/marketing"


def test_segments_partition_the_active_members(
    sim_client: TestClient, keys: dict[str, str]
) -> None:
    h = bearer(keys["analyst"])
    seg = sim_client.get(f"{K}/segments", headers=h).json()
    assert seg["kind"] == "bar" and len(seg["x"]) >= 2
    assert seg["members"] == [int(v) for v in seg["series"][0]["data"]]
    assert 0 < sum(seg["members"]) <= SIM_USERS
    prof = sim_client.get(f"{K}/segment-profiles", headers=h).json()
    shares = [r[prof["columns"].index("share")] for r in prof["rows"]]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)


def test_churn_histogram_and_reasons(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    ch = sim_client.get(f"{K}/churn?bins=5", headers=h).json()
    assert ch["kind"] == "bar" and ch["x"][0] == "0%-20%" and len(ch["x"]) == 5
    seg = sim_client.get(f"{K}/segments", headers=h).json()
    # Every active member is scored once; the release gate hides bins of fewer than k members
    # (empty ones included) and one complementary bin, so released bins sum to at most that.
    released = sum(m or 0 for m in ch["members"])
    assert 0.9 * sum(seg["members"]) <= released <= sum(seg["members"])
    why = sim_client.get(f"{K}/churn-reasons?min_risk=0", headers=h).json()
    assert why["kind"] == "hbar" and why["x"]
    counts = why["series"][0]["data"]
    assert counts == sorted(counts, reverse=True) and counts[0] <= sum(seg["members"])
    # reasons read "high hours_7d", "low trend_14d", "no days_since_last_play", "plan = basic"
    assert all(x.startswith(("high ", "low ", "no ")) or " = " in x for x in why["x"]), why["x"]


def test_qini_uplift_ltv(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    q = sim_client.get(f"{K}/qini", headers=h).json()
    assert q["kind"] == "line" and q["x"][0] == "0%" and q["x"][-1] == "100%"
    model, rand = (s["data"] for s in q["series"])
    assert model[0] == 0 and rand[0] == 0 and model[-1] == pytest.approx(rand[-1])
    up = sim_client.get(f"{K}/uplift", headers=h).json()
    assert up["kind"] == "bar" and all(m > 0 for m in up["members"])
    ltv = sim_client.get(f"{K}/ltv", headers=h).json()
    assert set(ltv["x"]) <= {"basic", "standard", "premium"} and sum(ltv["members"]) > 0
    vals = ltv["series"][0]["data"]
    assert vals == sorted(vals, reverse=True)


def test_no_member_ids_and_short_history(sim_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    r = sim_client.get(f"{K}/churn?as_of=2026-01-10", headers=h)
    assert r.status_code == 503 and "not enough history" in r.json()["detail"]
