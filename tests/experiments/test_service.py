"""Experiment readouts from contract tables, the warehouse and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from typer.testing import CliRunner

from reelmine.errors import DataError, NotFoundError
from reelmine.service.experiments import artwork_report, member_metrics, readout_from_tables

DAY = 86_400_000_000
T0 = int(datetime(2026, 1, 10, tzinfo=UTC).timestamp() * 1_000_000)
TS = pa.timestamp("us", tz="UTC")


def _tables(
    n: int = 4000, lift: float = 0.1, seed: int = 0, lose: float = 0.0
) -> tuple[pa.Table, pa.Table]:
    """Members assigned on T0; plays in the 14 days before and after; treatment plays more."""
    r = np.random.default_rng(seed)
    users = np.array([f"u{i}" for i in range(n)])
    arm = r.random(n) < 0.5
    keep = ~(arm & (r.random(n) < lose))  # lost assignment logs on the treatment arm
    rate = r.gamma(2.0, 0.5, n)  # plays per day, member-specific: CUPED has signal
    pre = r.poisson(rate * 14)
    post = r.poisson(rate * 14 * np.where(arm, 1 + lift, 1.0))
    who = np.concatenate([np.repeat(np.arange(n), pre), np.repeat(np.arange(n), post)])
    when = np.concatenate(
        [T0 - r.integers(1, 14 * DAY, pre.sum()), T0 + r.integers(0, 14 * DAY, post.sum())]
    )
    plays = pa.table(
        {
            "user_id": pa.array(users[who]),
            "started_at": pa.array(when, pa.int64()).cast(TS),
            "watched_seconds": pa.array(np.full(who.size, 1800.0)),
            "startup_ms": pa.array(r.lognormal(6.5, 0.4, who.size)),
        }
    )
    exp = pa.table(
        {
            "experiment_id": pa.array(["exp-1"] * int(keep.sum())),
            "user_id": pa.array(users[keep]),
            "variant": pa.array(np.where(arm, "treatment", "control")[keep]),
            "assigned_at": pa.array(np.full(int(keep.sum()), T0), pa.int64()).cast(TS),
        }
    )
    return exp, plays


def test_member_metrics_known_answer() -> None:
    exp = pa.table(
        {
            "experiment_id": ["e", "e", "other"],
            "user_id": ["a", "b", "a"],
            "variant": ["control", "treatment", "control"],
            "assigned_at": pa.array([T0, T0 + DAY, T0], pa.int64()).cast(TS),
        }
    )
    starts = [T0 - DAY, T0 + 1, T0 + 2 * 3600 * 10**6, T0 + 2 * DAY, T0 + DAY - 1, T0 + DAY]
    plays = pa.table(
        {
            "user_id": ["a", "a", "a", "a", "b", "zz"],
            "started_at": pa.array(starts, pa.int64()).cast(TS),
            "watched_seconds": [3600.0, 1800.0, 1800.0, 7200.0, 600.0, 60.0],
            "startup_ms": [100.0, 200.0, None, 400.0, 500.0, 1.0],
        }
    )
    mm = member_metrics(exp, plays, "e")
    assert list(mm.user_ids) == ["a", "b"]
    np.testing.assert_allclose(mm.metrics["hours_viewed"], [3.0, 0.0])
    np.testing.assert_allclose(mm.metrics["plays"], [3.0, 0.0])
    np.testing.assert_allclose(mm.metrics["active_days"], [2.0, 0.0])  # day 0 twice, day 2
    np.testing.assert_allclose(mm.metrics["startup_ms"], [300.0, np.nan])
    # b's only play was one microsecond before assignment: pre-period.
    np.testing.assert_allclose(mm.covariates["pre_hours_viewed"], [1.0, 600 / 3600])
    np.testing.assert_allclose(mm.covariates["pre_active_days"], [1.0, 1.0])
    short = member_metrics(exp, plays, "e", window_days=1)
    np.testing.assert_allclose(short.metrics["plays"], [2.0, 0.0])
    with pytest.raises(NotFoundError):
        member_metrics(exp, plays, "nope")
    with pytest.raises(DataError, match="assigned_at"):
        member_metrics(exp.drop_columns(["assigned_at"]), plays, "e")


def test_readout_recovers_planted_lift() -> None:
    exp, plays = _tables(lift=0.1)
    out = readout_from_tables(exp, plays, "exp-1")
    rows = {r.metric: r for r in out.metrics}
    assert not out.blocked
    plays_row = rows["plays"]
    assert plays_row.ci_low / plays_row.control <= 0.1 <= plays_row.ci_high / plays_row.control
    assert plays_row.decision == "significant" and plays_row.variance_reduction > 0.3
    assert rows["startup_ms_mean"].decision == "passed"
    assert {"startup_ms_p90", "active_days", "hours_viewed"} <= set(rows)


def test_readout_blocks_broken_assignment() -> None:
    exp, plays = _tables(lose=0.2)
    out = readout_from_tables(exp, plays, "exp-1")
    assert out.srm.flagged and out.blocked and out.metrics == []


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from reelmine.data.ingest import ingest_tables
    from reelmine.data.pseudonym import Pseudonymiser
    from reelmine.data.warehouse import Warehouse
    from reelmine.settings import Settings

    db = tmp_path / "w.duckdb"
    settings = Settings.load(environ={}, db=db, key_file=tmp_path / "k.key")
    exp, plays = _tables(n=1500, lift=0.2)
    n = plays.num_rows
    plays = plays.append_column("play_id", pa.array([f"p{i}" for i in range(n)]))
    plays = plays.append_column("title_id", pa.array(["t1"] * n))
    ui, users = _ui(n_sessions=3000)
    ui = ui.append_column("event_id", pa.array([f"e{i}" for i in range(ui.num_rows)]))
    ui = ui.append_column("at", pa.array(np.full(ui.num_rows, T0), pa.int64()).cast(TS))
    tables = {"experiments": exp, "plays": plays, "ui_events": ui, "users": users}
    with Warehouse(db) as wh:
        ingest_tables(wh, tables, Pseudonymiser.from_settings(settings))
    monkeypatch.setenv("REELMINE_DB", str(db))
    monkeypatch.setenv("REELMINE_KEY_FILE", str(tmp_path / "k.key"))
    monkeypatch.setenv("REELMINE_ARTIFACTS", str(tmp_path / "art"))  # the CLI's audit log
    return db


def test_cli_readout_json_and_table(warehouse: Path) -> None:
    from reelmine.cli import context
    from reelmine.cli.experiments import app

    context.configure(db=warehouse, config=None, engine=None, debug=False)
    runner = CliRunner(env={"COLUMNS": "200"})
    res = runner.invoke(app, ["readout", "exp-1", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["experiment_id"] == "exp-1" and doc["srm"]["flagged"] is False
    assert sum(v["members"] for v in doc["variants"]) == 1500
    hours = next(m for m in doc["metrics"] if m["metric"] == "hours_viewed")
    assert hours["ci_low"] > 0 and hours["method"] == "cuped"
    table = runner.invoke(app, ["readout", "exp-1"])
    assert table.exit_code == 0 and "hours_viewed" in table.output
    listing = runner.invoke(app, ["list"])
    assert "exp-1" in listing.output and "treatment" in listing.output
    bad = runner.invoke(app, ["readout", "exp-1", "--ratio", "control"])
    assert bad.exit_code != 0
    art = runner.invoke(app, ["artwork", "--format", "json"])
    assert art.exit_code == 0, art.output
    best = {(r["segment"], r["artwork_id"]) for r in json.loads(art.output)["best"]}
    assert best == {("age<30", "t1-a"), ("age>=50", "t1-b")}
    assert "greedy" in runner.invoke(app, ["artwork"]).output


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reelmine.data.simulator import SimulationConfig, simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(SimulationConfig(users=4000, days=30, seed=1), out)
    return out


@pytest.mark.slow
def test_simulator_planted_experiments(sim_dir: Path) -> None:
    import pyarrow.parquet as pq

    tmp_path = sim_dir
    exp = pq.read_table(tmp_path / "experiments.parquet")
    plays = pq.read_table(tmp_path / "plays.parquet")
    truth = pq.read_table(tmp_path / "truth" / "experiments.parquet").to_pylist()
    names = {"plays_per_member": "plays", "hours_viewed_per_member": "hours_viewed"}
    # Every planted effect must lie in its interval widened for the number of comparisons
    # (Bonferroni over the checks): each 95% interval alone misses 1 time in 20, so with about
    # ten checks one plain miss is expected every few seeds, not a bug.
    checks = sum(1 for t in truth if t["variant"] != "control")
    widen = float(stats.norm.ppf(1 - 0.025 / max(checks, 1)) / stats.norm.ppf(0.975))
    for experiment_id in sorted({t["experiment_id"] for t in truth}):
        rows = [t for t in truth if t["experiment_id"] == experiment_id]
        weights = {t["variant"]: t["intended_weight"] for t in rows}
        out = readout_from_tables(exp, plays, experiment_id, expected_ratios=weights)
        if rows[0]["broken_sample_ratio"]:
            assert out.blocked, experiment_id
            continue
        assert not out.srm.flagged, experiment_id
        got = {(m.metric, m.variant): m for m in out.metrics}
        for t in rows:
            if t["variant"] == "control":
                continue
            m = got[(names[t["metric"]], t["variant"])]
            # The planted effect is relative: compare it with the interval over the control mean.
            lo, hi = m.ci_low / m.control, m.ci_high / m.control
            mid, half = (lo + hi) / 2, (hi - lo) / 2 * widen
            assert abs(t["true_relative_effect"] - mid) <= half, (experiment_id, t, lo, hi, widen)


def _ui(n_sessions: int = 6000, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """One title, three artworks shown uniformly; young members click artwork a, older b."""
    r = np.random.default_rng(seed)
    users = pa.table({"user_id": ["y", "o"], "age": [25, 60]})
    who = r.integers(0, 2, n_sessions)
    art = r.integers(0, 3, n_sessions)
    best = np.where(who == 0, 0, 1)
    click = r.random(n_sessions) < np.where(art == best, 0.5, 0.1)
    sid = np.array([f"s{i}" for i in range(n_sessions)])
    names = np.array(["t1-a", "t1-b", "t1-c"])
    uid = np.array(["y", "o"])[who]
    imp = {"user_id": uid, "browse_session_id": sid, "event_type": ["impression"] * n_sessions,
           "title_id": ["t1"] * n_sessions, "artwork_id": names[art],
           "propensity": np.full(n_sessions, 1 / 3)}  # fmt: skip
    k = int(click.sum())
    clk = {"user_id": uid[click], "browse_session_id": sid[click], "event_type": ["click"] * k,
           "title_id": ["t1"] * k, "artwork_id": names[art][click],
           "propensity": pa.nulls(k, pa.float64())}  # fmt: skip
    ui = pa.concat_tables([pa.table(imp), pa.table(clk)])
    return ui, users


def test_artwork_report_learns_segment_best() -> None:
    ui, users = _ui()
    rep = artwork_report(ui, users, epsilon=0.1)
    best = {(r["segment"], r["artwork_id"]) for r in rep.best.to_pylist()}
    assert best == {("age<30", "t1-a"), ("age>=50", "t1-b")}
    # Logging shows the best artwork 1/3 of the time: CTR ~ (0.5 + 0.1 + 0.1) / 3 = 0.233;
    # the greedy policy always shows it: 0.5; epsilon-greedy 0.9 x 0.5 + 0.1 x 0.233.
    assert rep.estimates["logging"]["on_policy"].value == pytest.approx(0.233, abs=0.02)
    greedy = rep.estimates["greedy"]["snipw"]
    assert greedy.ci_low <= 0.5 <= greedy.ci_high
    eps = rep.estimates["epsilon_greedy"]["ipw"]
    assert eps.ci_low <= 0.9 * 0.5 + 0.1 * 0.7 / 3 <= eps.ci_high
    assert rep.train_rounds + rep.test_rounds == 6000
    doc = json.loads(json.dumps(rep.to_dict()))
    assert set(doc["estimates"]) == {"logging", "greedy", "epsilon_greedy"}
    # Without users every member is one segment: one row.
    assert artwork_report(ui).best.num_rows == 1


@pytest.mark.slow
def test_simulator_artwork(sim_dir: Path) -> None:
    import pyarrow.parquet as pq

    ui = pq.read_table(sim_dir / "ui_events.parquet")
    users = pq.read_table(sim_dir / "users.parquet")
    truth = pq.read_table(sim_dir / "truth" / "artwork.parquet").to_pylist()
    best_true = {(t["title_id"], t["segment"]): t["best_artwork_id"] for t in truth}
    rep = artwork_report(ui, users)
    rows = [r for r in rep.best.to_pylist() if r["impressions"] >= 50]
    hits = [best_true[(r["title_id"], r["segment"])] == r["artwork_id"] for r in rows]
    assert len(hits) > 500 and np.mean(hits) > 0.5  # chance is 1 / 3.5
    learned = rep.estimates["greedy"]["snipw"]
    assert learned.ci_low > rep.estimates["logging"]["on_policy"].ci_high
