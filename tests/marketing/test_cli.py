"""``reelmine marketing ...`` on a warehouse ingested from a small simulation."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli.marketing import app


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reelmine.data.ingest import ingest_folder
    from reelmine.data.pseudonym import Pseudonymiser
    from reelmine.data.simulator import SimulationConfig, simulate
    from reelmine.data.warehouse import Warehouse
    from reelmine.settings import Settings

    tmp = tmp_path_factory.mktemp("mkt")
    simulate(
        SimulationConfig(users=500, days=63, seed=9, ui_fraction=0.02, titles=100), tmp / "sim"
    )
    db = tmp / "w.duckdb"
    settings = Settings.load(environ={}, db=db, key_file=tmp / "k.key")
    with Warehouse(db) as wh:
        ingest_folder(wh, tmp / "sim", Pseudonymiser.from_settings(settings))
    context.configure(db=db, config=None, engine=None, debug=False)
    return db


@pytest.mark.slow
def test_marketing_cli(warehouse: Path) -> None:
    # Gate open (k = 1): this test checks the models' numbers; tests/privacy/test_cli_gate.py
    # checks the gate on these commands.
    runner = CliRunner(
        env={"REELMINE_MIN_GROUP_SIZE": "1", "REELMINE_ARTIFACTS": str(warehouse.parent / "art")}
    )
    res = runner.invoke(app, ["churn", "--as-of", "2026-03-05", "--format", "csv", "--row-level"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert rows and list(rows[0]) == ["user_id", "churn_probability", "top_reasons"]
    probs = [float(r["churn_probability"]) for r in rows]
    assert all(0 <= p <= 1 for p in probs) and probs == sorted(probs, reverse=True)
    # IDs are pseudonyms, never the simulator's raw u000123 identifiers.
    # (a pseudonym is 16 base64url characters and may itself start with "u0").
    assert not any(re.fullmatch(r"u\d{6}", r["user_id"]) for r in rows)
    assert all(len(r["user_id"]) == 16 for r in rows)
    assert len({r["user_id"] for r in rows}) == len(rows)

    seg = runner.invoke(app, ["segments", "--as-of", "2026-03-05", "--k", "3", "--format", "json"])
    assert seg.exit_code == 0, seg.output
    out = json.loads(seg.output)
    assert sum(s["members"] for s in out["segments"]) == len(rows)
    assert all(s["name"] for s in out["segments"])
    assert all(r["members"] >= 1 for r in out["by_country"])
    exported = runner.invoke(
        app, ["segments", "--as-of", "2026-03-05", "--k", "3", "--export", "0", "--row-level"]
    )
    assert exported.exit_code == 0
    assert len(exported.output.split()) == out["segments"][0]["members"]

    up = runner.invoke(app, ["uplift", "--format", "json"])
    assert up.exit_code == 0, up.output
    rep = json.loads(up.output)
    assert rep["members"] > 0 and len(rep["curve"]) > 2

    ltv = runner.invoke(app, ["ltv", "--format", "json"])
    assert ltv.exit_code == 0, ltv.output
    val = json.loads(ltv.output)
    assert 0.5 < val["concordance"] <= 1 and val["mean_remaining_days"] > 0

    bad = runner.invoke(app, ["churn", "--as-of", "not-a-date"])
    assert bad.exit_code != 0
    too_early = runner.invoke(app, ["churn", "--as-of", "2026-01-20"])
    assert too_early.exit_code != 0
