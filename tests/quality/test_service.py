"""Service and CLI faces of streaming quality, on a small warehouse with a planted incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli.quality import app
from reelmine.data.ingest import ingest_tables
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.warehouse import Warehouse
from reelmine.errors import ConfigError
from reelmine.service import quality as svc
from reelmine.settings import Settings

START = datetime(2026, 1, 5, tzinfo=UTC)
INCIDENT = (START + timedelta(days=5, hours=20), START + timedelta(days=5, hours=22))


def _plays(rng: np.random.Generator) -> pa.Table:
    """Six days, 40 plays an hour per (cdn, isp); cdn=C2 & isp=I1 fails half its plays 20-22h
    on the last day and app 7.1 starts 30% slower than 7.0 throughout."""
    n_hours, per = 6 * 24, 40
    cdn = np.tile(np.repeat(["C1", "C2", "C3"], 2 * per), n_hours)
    isp = np.tile(np.repeat(np.tile(["I1", "I2"], 3), per), n_hours)
    hour = np.repeat(np.arange(n_hours), 6 * per)
    n = len(cdn)
    started = [
        START + timedelta(hours=int(h), seconds=int(s))
        for h, s in zip(hour, rng.integers(0, 3600, n), strict=True)
    ]
    t = np.array([int(x.timestamp()) for x in started])
    bad = (
        (cdn == "C2")
        & (isp == "I1")
        & (t >= INCIDENT[0].timestamp())
        & (t < INCIDENT[1].timestamp())
    )
    error = rng.random(n) < np.where(bad, 0.5, 0.02)
    app_version = np.where(rng.random(n) < 0.5, "7.0", "7.1")
    startup = rng.lognormal(7.0, 0.5, n) * np.where(app_version == "7.1", 1.3, 1.0)
    return pa.table(
        {
            "play_id": [f"p{i}" for i in range(n)],
            "user_id": [f"u{i % 500}" for i in range(n)],
            "title_id": ["t1"] * n,
            "started_at": pa.array(started, type=pa.timestamp("us", tz="UTC")),
            "watched_seconds": rng.uniform(60, 3600, n),
            "cdn": cdn,
            "isp": isp,
            "country": ["DE"] * n,
            "device_type": ["tv"] * n,
            "app_version": app_version,
            "startup_ms": startup,
            "rebuffer_count": rng.poisson(0.5, n),
            "rebuffer_ms": rng.exponential(1000, n),
            "avg_bitrate_kbps": rng.uniform(2000, 6000, n),
            "error_code": np.where(error, "E1", ""),
            "exit_before_start": np.zeros(n, dtype=bool),
        }
    )


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("quality")
    st = Settings(db=folder / "w.duckdb", secret="s" * 32, artifacts=folder)
    with Warehouse(st.db) as wh:
        ingest_tables(
            wh, {"plays": _plays(np.random.default_rng(5))}, Pseudonymiser.from_settings(st)
        )
    return st


def test_report_by_cdn(settings: Settings) -> None:
    rows = {r["cdn"]: r for r in svc.quality_report(settings, by=["cdn"]).to_pylist()}
    assert set(rows) == {"C1", "C2", "C3"}
    assert rows["C1"]["sessions"] == 6 * 24 * 80
    assert rows["C2"]["error_rate"] > rows["C1"]["error_rate"]


def test_explain_window_finds_planted_combination(settings: Settings) -> None:
    res = svc.explain_window(
        settings, start=INCIDENT[0], end=INCIDENT[1], attributes=["cdn", "isp", "app_version"]
    )
    assert [c.label for c in res.causes] == ["cdn=C2&isp=I1"]
    cause = res.causes[0]
    assert cause.actual == pytest.approx(0.5, abs=0.08)
    assert cause.expected == pytest.approx(0.02, abs=0.02)
    assert cause.count == pytest.approx(80, abs=1)


def test_incidents_detect_the_window(settings: Settings) -> None:
    found = svc.quality_incidents(settings, attributes=["cdn", "isp"], z_threshold=5.0)
    assert found, "the planted incident was not detected"
    top = found[0]
    assert top.window.slice in ({"cdn": "C2"}, {"isp": "I1"})
    assert INCIDENT[0].timestamp() <= top.window.start < INCIDENT[1].timestamp()
    res = svc.explain_incident(settings, top.incident_id)
    assert "cdn=C2&isp=I1" in {c.label for c in res.causes}


def test_compare_app_versions(settings: Settings) -> None:
    res = svc.compare_groups(settings, by="app_version", a="7.0", b="7.1", n_boot=500)
    t = res.table.to_pydict()
    median = t["quantile"].index(0.5)
    ratio = t["b"][median] / t["a"][median]
    assert ratio == pytest.approx(1.3, abs=0.05)
    assert t["low"][median] > 0
    assert res.p_value < 1e-6
    with pytest.raises(ConfigError, match="metric"):
        svc.compare_groups(settings, metric="nope", by="app_version", a="7.0", b="7.1")


def test_cli_commands(settings: Settings, tmp_path: Path) -> None:
    context.configure(db=settings.db, config=None, engine=None, debug=False)
    runner = CliRunner()
    # The CLI audits every aggregate it prints: keep the audit log in the test's folder.
    env = {"REELMINE_SECRET": "s" * 32, "REELMINE_ARTIFACTS": str(settings.artifacts)}
    out = runner.invoke(app, ["report", "--by", "cdn"], env=env)
    assert out.exit_code == 0, out.output
    assert "C2" in out.output
    start, end = (d.isoformat() for d in INCIDENT)
    out = runner.invoke(app, ["explain", "--window", start, end, "--metric", "error_rate"], env=env)
    assert out.exit_code == 0, out.output
    assert "cdn=C2&isp=I1" in out.output
    out = runner.invoke(
        app, ["compare", "--by", "app_version", "--a", "7.0", "--b", "7.1"], env=env
    )
    assert out.exit_code == 0, out.output
    assert "Mann-Whitney" in out.output
