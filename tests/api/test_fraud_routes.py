"""Fraud endpoints: analysts get aggregates only; per-account flags are admin-only."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient

from reelmine.api import capabilities
from reelmine.settings import Settings
from tests.api.conftest import bearer

pytestmark = [
    pytest.mark.skipif(not capabilities.available("fraud"), reason="no fraud service"),
    pytest.mark.xdist_group("sim_warehouse"),
]
F = "/v1/analytics/fraud"


@pytest.fixture(scope="module")
def flags(sim_settings: Settings) -> list[dict[str, object]]:
    from reelmine.service.fraud import list_flags

    return list_flags(sim_settings).to_pylist()


def test_signals_count_flags_per_day_and_type(
    sim_client: TestClient, keys: dict[str, str], flags: list[dict[str, object]]
) -> None:
    body = sim_client.get(f"{F}/signals", headers=bearer(keys["analyst"])).json()
    assert body["kind"] == "stacked" and flags
    want = Counter((f["window_start"].date().isoformat(), f["type"]) for f in flags)  # type: ignore[attr-defined]
    got = {
        (x, s["name"]): s["data"][i]
        for s in body["series"]
        for i, x in enumerate(body["x"])
        if s["data"][i]
    }
    assert got == {k: float(v) for k, v in want.items()}
    accounts: dict[str, set[object]] = {}
    for f in flags:
        accounts.setdefault(f["window_start"].date().isoformat(), set()).add(f["user_id"])  # type: ignore[attr-defined]
    assert body["members"] == [len(accounts[x]) for x in body["x"]]


def test_analyst_answers_carry_no_account_ids(
    sim_client: TestClient, keys: dict[str, str], flags: list[dict[str, object]]
) -> None:
    h = bearer(keys["analyst"])
    ids = {str(f["user_id"]) for f in flags}
    for path in ("signals", "types", "scores"):
        r = sim_client.get(f"{F}/{path}", headers=h)
        assert r.status_code == 200
        assert not any(i in r.text for i in ids), path
    types = sim_client.get(f"{F}/types", headers=h).json()
    n = dict(zip(types["x"], types["series"][0]["data"], strict=True))
    assert n == {t: float(sum(f["type"] == t for f in flags)) for t in types["x"]}


def test_flag_list_and_households_are_admin_only(
    sim_client: TestClient, keys: dict[str, str], flags: list[dict[str, object]]
) -> None:
    assert sim_client.get("/v1/fraud/flags", headers=bearer(keys["analyst"])).status_code == 403
    assert sim_client.get("/v1/fraud/flags").status_code == 401
    h = bearer(keys["admin"])
    r = sim_client.get("/v1/fraud/flags?limit=5", headers=h)
    assert r.status_code == 200 and len(r.json()) == min(5, len(flags))
    scores = [f["score"] for f in r.json()]
    assert scores == sorted(scores, reverse=True)
    r = sim_client.get("/v1/fraud/flags?type=credential_stuffing", headers=h)
    assert r.json() and {f["type"] for f in r.json()} == {"credential_stuffing"}
    r = sim_client.get("/v1/fraud/flags?type=nope", headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "type"]
    user = str(flags[0]["user_id"])
    path = f"/v1/fraud/accounts/{user}/households"
    assert sim_client.get(path, headers=bearer(keys["analyst"])).status_code == 403
    hh = sim_client.get(path, headers=h)
    assert hh.status_code == 200 and all(x["plays"] > 0 for x in hh.json())
