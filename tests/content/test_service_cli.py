"""Service functions and the ``content`` / ``market`` CLI over a warehouse file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli.content import app as content_app
from reelmine.cli.market import app as market_app
from reelmine.errors import NotFoundError
from reelmine.service import content as content_service
from reelmine.service import market as market_service
from reelmine.settings import Settings
from tests.content import _data


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    db = _data.load_warehouse(tmp_path_factory.mktemp("wh") / "w.duckdb", _data.all_tables())
    return Settings.load(environ={}, db=db)


def test_service_performance_with_ratings(settings):
    t = {r["title_id"]: r for r in content_service.title_performance(settings).to_pylist()}
    assert t["m1"]["views"] == pytest.approx(2.4)
    assert t["m1"]["ratings"] == 2 and t["m1"]["mean_rating"] == pytest.approx(3.0)
    assert t["m2"]["ratings"] == 0


def test_service_series_and_market(settings):
    rep = content_service.series_report(settings)
    assert rep.series.to_pylist()[0]["binge_rate"] == pytest.approx(0.5)
    m = market_service.members(settings)
    assert "members" in m.column_names and m.num_rows == 4
    curves = market_service.retention(settings)
    assert curves.num_rows > 0
    assert market_service.opportunities(settings, top=2).num_rows == 2
    taste = market_service.regional_taste(settings, min_members=1, country="US")
    assert set(taste["country"].to_pylist()) == {"US"}


def test_empty_warehouse_is_a_clean_error(tmp_path):
    s = Settings.load(environ={}, db=_data.load_warehouse(tmp_path / "e.duckdb", {}))
    with pytest.raises(NotFoundError):
        content_service.title_performance(s)
    with pytest.raises(NotFoundError):
        market_service.demand_supply(s)


def test_cli_formats(settings, tmp_path: Path):
    context.configure(db=settings.db, config=None, engine=None, debug=False)
    # Tiny data: at the default k = 10 every title is suppressed (shown as such, not zero).
    art = {"REELMINE_ARTIFACTS": str(tmp_path / "art")}  # the CLI's audit log
    res = CliRunner(env=art).invoke(content_app, ["performance", "--format", "json"])
    assert res.exit_code == 0, res.output
    m1 = next(r for r in json.loads(res.output) if r["title_id"] == "m1")
    assert m1["suppressed"] and m1["views"] is None
    # Gate open (k = 1) for the numbers below; tests/privacy/test_cli_gate.py tests the gate.
    context.configure(db=settings.db, config=None, engine=None, debug=False)
    cli = CliRunner(env={"REELMINE_MIN_GROUP_SIZE": "1", **art})
    res = cli.invoke(content_app, ["trending", "--format", "csv"])
    assert res.exit_code == 0, res.output
    # Every aggregate passes the release gate, which adds its two columns.
    assert res.output.splitlines()[0] == "title_id,start,end,strength,suppressed,suppression"
    res = cli.invoke(content_app, ["performance", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["title_id"]: r for r in json.loads(res.output)}
    assert rows["m1"]["views"] == pytest.approx(2.4)
    res = cli.invoke(content_app, ["series", "--seasons", "--format", "csv"])
    got = list(csv.DictReader(io.StringIO(res.output)))
    assert [r["members"] for r in got] == ["2", "1"]
    out = tmp_path / "m.parquet"
    res = cli.invoke(market_app, ["members", "--format", "parquet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pq.read_table(out).num_rows == 4
    res = cli.invoke(market_app, ["retention"])
    assert res.exit_code == 0 and "cohort retention" in res.output
    res = cli.invoke(content_app, ["performance", "--format", "xml"])
    assert res.exit_code != 0
