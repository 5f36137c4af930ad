"""The marketing models against the simulator's planted truth (small simulations, seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from reelmine.data.engine import runner_on_tables
from reelmine.data.simulator import SimulationConfig, simulate
from reelmine.service import marketing as service

TABLES = ("users", "plays", "titles", "ratings", "ui_events", "logins", "campaigns")


def _runner(out: Path):  # noqa: ANN202 - a SqlRunner
    return runner_on_tables(**{n: pq.read_table(out / f"{n}.parquet") for n in TABLES})


@pytest.mark.slow
def test_churn_beats_recency_on_planted_hazard(tmp_path: Path) -> None:
    # 100 days: three weekly training dates, a calibration date and an evaluation date whose
    # 30-day labels are complete.
    simulate(SimulationConfig(users=2000, days=100, seed=4, ui_fraction=0.05), tmp_path)
    run = _runner(tmp_path)
    ev = service.churn_evaluation_from_runner(run)
    assert ev.evaluation_date.date().isoformat() == "2026-03-15"
    assert ev.model.churners >= 80
    # The target on 100k members is AUC >= 0.85 (benchmarks/marketing.py); on 2,000 members
    # the evaluation date holds ~120 churners, so the AUC is known to about +-0.02.
    assert ev.model.auc >= 0.80, ev.model
    assert ev.model.auc > ev.recency_baseline.auc + 0.03
    # Calibrated on a later date: predicted and observed churn agree on the evaluation date.
    cal = ev.model.calibration
    pred = np.average([c["mean_predicted"] for c in cal], weights=[c["members"] for c in cal])
    assert abs(pred - ev.model.base_rate) < 0.03
    # Every labelled churner is a planted churner of the truth files.
    truth = pq.read_table(tmp_path / "truth" / "churners.parquet")
    assert ev.model.churners <= truth.num_rows


@pytest.mark.slow
def test_uplift_finds_planted_segments(tmp_path: Path) -> None:
    simulate(SimulationConfig(users=6000, days=21, seed=4, ui_fraction=0.02, titles=200), tmp_path)
    run = _runner(tmp_path)
    truth = {
        r["campaign_id"]: r
        for r in pq.read_table(tmp_path / "truth" / "campaign_uplift.parquet").to_pylist()
    }
    planted = {"upsell-premium": ("age_band", "<25"), "reengage-push": ("plan", "basic")}
    assert set(truth) == set(planted)
    for cid, (col, value) in planted.items():
        report, scores, data = service.uplift_from_runner(run, cid, n_boot=200)
        # The group ranked first lies inside the planted segment.
        first = report.by_group[0]
        assert (first["column"], first["value"]) == (col, value), report.by_group[:3]
        f = data.features
        seg = (
            np.asarray(f["age"]) < 30
            if cid == "upsell-premium"
            else np.asarray(pc.equal(f["plan"], "basic"))
        )
        assert scores[seg].mean() > scores[~seg].mean() + 0.03
        # Beats random targeting: the bootstrap interval of the Qini coefficient is above zero.
        assert report.qini_ci[0] > 0, report.qini_ci
