"""Quality against the simulator's planted fraud, in memory and through the warehouse + CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli import fraud as fraud_cli
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.simulator import SimulationConfig, simulate
from reelmine.fraud import (
    anomaly_auc,
    anomaly_scores,
    benign_flagged,
    quality_by_type,
    scan,
    tables_runner,
)
from reelmine.service import fraud as service
from reelmine.service.ingest import ingest
from reelmine.settings import Settings

pytestmark = pytest.mark.slow  # simulation + full scan: about 10 s on a contended machine

TARGET = {
    "concurrent_streams": 0.95,
    "impossible_travel": 0.95,
    "credential_stuffing": 0.95,
    "household_sharing": 0.9,
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fraudsim")
    simulate(SimulationConfig(users=1200, days=28, seed=5, fraud_rate=0.01), out)
    return out


def _read(sim: Path, name: str) -> pa.Table:
    return pq.read_table(sim / f"{name}.parquet")


def test_quality_targets_on_planted_fraud(sim: Path) -> None:
    run = tables_runner(**{t: _read(sim, t) for t in ("plays", "logins", "users", "titles")})
    flags = scan(run)
    truth = pq.read_table(sim / "truth" / "fraud.parquet")
    for ftype, q in quality_by_type(flags, truth).items():
        assert q.planted >= 10, ftype
        assert q.precision >= TARGET[ftype], (ftype, q)
        assert q.recall >= TARGET[ftype], (ftype, q)
    assert anomaly_auc(anomaly_scores(run), truth) >= 0.9
    benign = pq.read_table(sim / "truth" / "benign.parquet")
    assert benign_flagged(flags, benign) == {k: 0 for k in set(benign["type"].to_pylist())}


@pytest.fixture(scope="module")
def warehouse(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("fraudwh")
    settings = Settings(
        db=tmp / "w.duckdb", secret="fraud-test-secret-0123456789", key_file=tmp / "k"
    )
    ingest(settings, sim)
    return settings


def test_service_scan_on_pseudonymised_warehouse(sim: Path, warehouse: Settings) -> None:
    result = service.scan_warehouse(warehouse)
    truth = pq.read_table(sim / "truth" / "fraud.parquet")
    ps = Pseudonymiser.from_settings(warehouse)
    truth = truth.set_column(0, "user_id", ps.pseudonymise(truth["user_id"]))
    for ftype, q in quality_by_type(result.flags, truth).items():
        assert q.precision >= TARGET[ftype] and q.recall >= TARGET[ftype], (ftype, q)
    counts = dict(
        zip(result.summary["type"].to_pylist(), result.summary["accounts"].to_pylist(), strict=True)
    )
    assert counts["credential_stuffing"] == len(
        set(truth.filter(pc.equal(truth["type"], "credential_stuffing"))["user_id"].to_pylist())
    )
    n_flags = dict(
        zip(result.summary["type"].to_pylist(), result.summary["flags"].to_pylist(), strict=True)
    )
    stored = service.list_flags(warehouse, type="impossible_travel")
    assert stored.num_rows == n_flags["impossible_travel"] >= counts["impossible_travel"] and set(
        stored["type"].to_pylist()
    ) == {"impossible_travel"}


def test_check_raw_ids_and_cli(
    sim: Path, warehouse: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.scan_warehouse(warehouse)
    truth = pq.read_table(sim / "truth" / "fraud.parquet")
    raw = truth.filter(pc.equal(truth["type"], "impossible_travel"))["user_id"][0].as_py()
    checked = service.check_users(warehouse, [raw, "no-such-member"])
    assert set(checked["user_id"].to_pylist()) == {raw}
    assert "impossible_travel" in checked["type"].to_pylist()

    ids = tmp_path / "ids.txt"
    ids.write_text(f"user_id\n{raw}\n\n# a comment\n")
    monkeypatch.setenv("REELMINE_SECRET", warehouse.secret or "")
    monkeypatch.setenv("REELMINE_ARTIFACTS", str(tmp_path / "art"))  # the CLI's audit log
    context.configure(db=warehouse.db, config=None, engine=None, debug=False)
    root = typer.Typer()
    root.callback()(lambda: None)
    fraud_cli.register(root)
    cli = CliRunner()
    res = cli.invoke(
        root, ["fraud", "check", "--users", str(ids), "--format", "json", "--row-level"]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert rows and {r["user_id"] for r in rows} == {raw}
    assert set(rows[0]) == {"user_id", "type", "score", "window_start", "window_end", "evidence"}
    res = cli.invoke(
        root, ["fraud", "flags", "--type", "household_sharing", "--format", "csv", "--row-level"]
    )
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "user_id,type,score,window_start,window_end,evidence"
    assert len(lines) > 1 and all(",household_sharing," in ln for ln in lines[1:])
    res = cli.invoke(root, ["fraud", "scan", "--since", "2026-01-10"])
    assert res.exit_code == 0, res.output
    assert "concurrent_streams" in res.output
