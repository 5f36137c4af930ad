"""Service functions, CLI and API routes of the interface capability over a warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli.interface import app as interface_app
from reelmine.data.simulator.interface import COL_EXAM, ROW_EXAM
from reelmine.errors import ConfigError, NotFoundError
from reelmine.service import interface as svc
from reelmine.settings import Settings
from tests.content import _data

pytestmark = pytest.mark.slow  # one simulated warehouse (~5 s) shared by the module


def test_empty_warehouse_is_a_clean_error(tmp_path: Path):
    s = Settings.load(environ={}, db=_data.load_warehouse(tmp_path / "e.duckdb", {}))
    with pytest.raises(NotFoundError, match="ui_events"):
        svc.funnel(s)
    with pytest.raises(NotFoundError, match="ui_events"):
        svc.search_report(s)
    with pytest.raises(ConfigError, match="breakdown"):
        svc.funnel(s, by=["os"])


def test_service_funnel_positions_search(sim_settings: Settings):
    f = svc.funnel(sim_settings, by=["entry"])
    s = {r["entry"]: r for r in f.summary.to_pylist()}
    assert set(s) == {"home", "search"}
    assert 0 < s["home"]["play_rate"] < s["home"]["title_rate"] < 1
    assert s["home"]["no_play_share"] == pytest.approx(1 - s["home"]["play_rate"], abs=0.02)
    v = svc.funnel(sim_settings, experiment_id="exp-row-order", by=["variant"])
    assert set(v.steps["variant"].to_pylist()) == {"control", "treatment"}
    with pytest.raises(NotFoundError, match="no experiment"):
        svc.funnel(sim_settings, experiment_id="nope", by=["variant"])

    p = svc.position_report(sim_settings)
    assert p.bias.row_factor == pytest.approx(ROW_EXAM, abs=0.07)
    assert p.bias.column_factor == pytest.approx(COL_EXAM, abs=0.07)
    assert p.cells.num_rows > 20 and "ctr" in p.cells.column_names

    r = svc.search_report(sim_settings, limit=20, min_members=3)
    assert r.summary["searches"][0].as_py() > 100
    # The simulator's planted gap queries are found (no title is called that).
    assert "haunted lighthouse" in r.gaps["query"].to_pylist() + r.top["query"].to_pylist()
    assert r.top.num_rows == 20 and r.missed.num_rows > 0


def test_service_ranker_evaluation(sim_settings: Settings):
    t = {r["model"]: r for r in svc.evaluate_rankers(sim_settings).to_pylist()}
    assert t["blended"]["mrr"] > t["bm25"]["mrr"]
    assert t["blended"]["pairs"] == t["bm25"]["pairs"] > 300
    hits = svc.search_titles(sim_settings, "haunted lighthouse", k=3)
    assert hits.num_rows == 3 and hits["rank"].to_pylist() == [1, 2, 3]


def _cli(settings: Settings, *args: str) -> list[dict[str, object]]:
    context.configure(db=settings.db, config=None, engine=None, debug=False)
    res = CliRunner().invoke(interface_app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_cli_commands(sim_settings: Settings):
    rows = _cli(sim_settings, "funnel", "--by", "device_type")
    assert {"device_type", "sessions", "play_rate", "suppressed"} <= set(rows[0])
    steps = _cli(sim_settings, "funnel", "--steps", "--experiment", "exp-row-order")
    assert {r["step"] for r in steps} == {"browse", "title page", "play"}
    ex = _cli(sim_settings, "positions", "--view", "examination")
    assert len(ex) == len(ROW_EXAM) * len(COL_EXAM) and ex[0]["examination"] == 1.0
    deb = _cli(sim_settings, "positions")
    assert "attractiveness" in deb[0]
    top = _cli(sim_settings, "search", "--view", "top", "--limit", "5")
    assert len(top) == 5 and "conversion" in top[0]
    ev = _cli(sim_settings, "ranker-eval")
    assert [r["model"] for r in ev] == ["bm25", "blended"]
    hits = _cli(sim_settings, "search-titles", "haunted lighthouse", "--k", "2")
    assert len(hits) == 2
    context.configure(db=sim_settings.db, config=None, engine=None, debug=False)
    bad = CliRunner().invoke(interface_app, ["positions", "--view", "bogus"])
    assert bad.exit_code != 0


def test_api_routes(sim_settings: Settings, tmp_path: Path):
    from reelmine.api.app import create_app
    from reelmine.data.keystore import KeyStore

    s = Settings(
        artifacts=tmp_path, db=sim_settings.db, secret=sim_settings.secret, min_group_size=5
    )
    key = KeyStore(tmp_path).create("analyst", label="t")[0]
    h = {"Authorization": f"Bearer {key}"}
    base = "/v1/analytics/interface"
    with TestClient(create_app(s)) as c:
        f = c.get(f"{base}/funnel", headers=h).json()
        assert f["kind"] == "funnel" and f["x"] == ["browse", "title page", "play"]
        d = f["series"][0]["data"]
        assert d[0] > d[1] > d[2] > 0 and len(f["members"]) == 3
        v = c.get(f"{base}/funnel", params={"experiment_id": "exp-row-order"}, headers=h).json()
        assert [x["name"] for x in v["series"]] == ["control", "treatment"]
        hm = c.get(f"{base}/positions", headers=h).json()
        assert hm["kind"] == "heatmap" and hm["x"] == ["0", "1", "2", "3", "4"]
        assert hm["y"][0] == "0: Top picks for you" and hm["cells"]
        rows = c.get(f"{base}/rows", headers=h).json()
        assert rows["kind"] == "hbar" and "Examination by row" in rows["note"]
        for p in ("search-conversion", "search-gaps", "missed-titles"):
            t = c.get(f"{base}/{p}", headers=h).json()
            assert t["kind"] == "table" and "suppressed" in t["columns"], p
        assert c.get(f"{base}/funnel").status_code == 401
        assert c.post("/login", data={"api_key": key}).status_code in (200, 303)
        page = c.get("/dashboard/interface")
        assert page.status_code == 200 and "Browse-to-play funnel" in page.text
        assert "positions" in page.text and "missing" not in page.text.lower()
