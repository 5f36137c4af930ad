"""Readout: planted effects recovered within their intervals, SRM blocks, JSON shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelmine.errors import DataError
from reelmine.experiments.readout import MetricSpec, VariantCount, readout

REQUIRED_METRIC_KEYS = {
    "metric", "variant", "control", "effect", "relative_lift",
    "ci_low", "ci_high", "p_value", "method",
}  # fmt: skip


def _planted(n: int = 6000, seed: int = 4, control_share: float = 0.5) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    arm = np.where(r.random(n) < control_share, "control", "bigger-art")
    treated = arm == "bigger-art"
    pre = r.gamma(2.0, 5.0, n)  # pre-period hours
    hours = 0.8 * pre + r.normal(2.0, 3.0, n) + 1.0 * treated  # planted +1 hour
    plays = r.poisson(5.0, n).astype(float)  # no effect
    startup = r.exponential(1.0, n) + 0.5 * treated  # +0.5 s everywhere, so at every quantile
    crashes = r.binomial(1, 0.02, n).astype(float)  # guardrail, unchanged
    return {"arm": arm, "pre": pre, "hours": hours, "plays": plays, "startup": startup,
            "crashes": crashes}  # fmt: skip


SPECS = [
    MetricSpec("hours", method="cuped", covariate="pre_hours"),
    MetricSpec("plays", role="secondary"),
    MetricSpec("startup", method="quantile", quantile=0.9, role="secondary"),
    MetricSpec("hours", method="sequential", label="hours_seq"),
    MetricSpec("crashes", role="guardrail", margin=0.01, relative_margin=False,
               higher_is_better=False),
]  # fmt: skip


def _run(d: dict[str, np.ndarray], **kw: object) -> object:
    return readout(
        "exp-art",
        d["arm"],
        {k: d[k] for k in ("hours", "plays", "startup", "crashes")},
        specs=SPECS,
        covariates={"pre_hours": d["pre"]},
        **kw,  # type: ignore[arg-type]
    )


def test_planted_effects_recovered() -> None:
    d = _planted()
    out = _run(d)
    assert not out.blocked and not out.srm.flagged
    rows = {r.metric: r for r in out.metrics}
    hours = rows["hours"]
    assert hours.method == "cuped" and hours.ci_low <= 1.0 <= hours.ci_high
    assert hours.decision == "significant" and hours.variance_reduction > 0.5
    assert rows["startup_p90"].method == "bootstrap_quantile"
    assert rows["startup_p90"].decision == "significant"
    crashes = rows["crashes"]
    assert crashes.method == "non_inferiority" and crashes.decision == "passed"
    assert crashes.p_value_adjusted is None  # guardrails stay out of the correction
    # Holm over the four decision rows: the smallest p-value is multiplied by four.
    decision = [r for r in out.metrics if r.role != "guardrail"]
    assert len(decision) == 4
    smallest = min(decision, key=lambda r: r.p_value)
    assert smallest.p_value_adjusted == pytest.approx(min(1.0, 4 * smallest.p_value))


def test_intervals_cover_planted_truth_across_experiments() -> None:
    # Each interval is a 95% interval, so any one seed may miss; over 40 planted experiments
    # every metric's interval must cover its true effect at least 34 times (P(fail) ~ 1%).
    truth = {"hours": 1.0, "hours_seq": 1.0, "plays": 0.0, "startup_p90": 0.5, "crashes": 0.0}
    hits = dict.fromkeys(truth, 0)
    for seed in range(40):
        for r in _run(_planted(n=3000, seed=100 + seed), n_boot=500).metrics:
            hits[r.metric] += r.ci_low <= truth[r.metric] <= r.ci_high
    assert all(h >= 34 for h in hits.values()), hits


def test_json_shape() -> None:
    out = _run(_planted()).to_dict()
    doc = json.loads(json.dumps(out, allow_nan=False))
    assert doc["experiment_id"] == "exp-art"
    assert set(doc["srm"]) == {"p_value", "flagged"}
    assert [v["variant"] for v in doc["variants"]] == ["control", "bigger-art"]
    assert sum(v["members"] for v in doc["variants"]) == 6000
    assert all(set(m) >= REQUIRED_METRIC_KEYS for m in doc["metrics"])
    assert {m["variant"] for m in doc["metrics"]} == {"bigger-art"}


def test_srm_blocks_readout() -> None:
    d = _planted(n=20000, control_share=0.53)
    out = _run(d)
    assert out.srm.flagged and out.blocked
    assert out.metrics == []
    assert out.to_dict()["srm"]["flagged"] is True


def test_expected_ratios_and_several_variants() -> None:
    r = np.random.default_rng(9)
    arm = r.choice(np.array(["control", "a", "b"]), size=9000, p=[0.5, 0.25, 0.25])
    y = r.normal(0, 1, 9000) + 0.2 * (arm == "b")
    ok = readout("e", arm, {"y": y}, expected_ratios={"control": 2, "a": 1, "b": 1})
    assert not ok.blocked
    assert [(m.variant, m.decision) for m in ok.metrics] == [
        ("a", "not significant"),
        ("b", "significant"),
    ]
    # The same split judged against an equal design is a sample-ratio mismatch.
    assert readout("e", arm, {"y": y}).blocked
    # A designed arm that lost every member is reported with 0 members and blocks.
    lost = readout("e", arm, {"y": y}, expected_ratios={"control": 2, "a": 1, "b": 1, "c": 1})
    assert lost.blocked and lost.variants[-1] == VariantCount("c", 0)


def test_bad_inputs() -> None:
    arm = np.array(["control", "t"] * 10)
    with pytest.raises(DataError, match="control variant"):
        readout("e", arm, {"y": np.zeros(20)}, control="ctl")
    with pytest.raises(DataError, match="values"):
        readout("e", arm, {"y": np.zeros(19)})
    with pytest.raises(DataError, match="CUPED needs"):
        readout("e", arm, {"y": np.zeros(20)}, specs=[MetricSpec("y", method="cuped")])
    with pytest.raises(DataError, match="no per-member values"):
        readout("e", arm, {"y": np.zeros(20)}, specs=[MetricSpec("z")])


def test_missing_values_left_out_of_that_metric_only(rng: np.random.Generator) -> None:
    arm = np.array(["control", "t"] * 500)
    startup = rng.exponential(1.0, 1000)
    startup[:100] = np.nan  # 100 members never played
    out = readout("e", arm, {"startup": startup, "hours": rng.normal(size=1000)})
    rows = {r.metric: r for r in out.metrics}
    assert (rows["startup"].n_control, rows["startup"].n_treatment) == (450, 450)
    assert (rows["hours"].n_control, rows["hours"].n_treatment) == (500, 500)
    assert rows["startup"].control == pytest.approx(np.nanmean(startup[::2]))


def test_balance_reported(rng: np.random.Generator) -> None:
    arm = np.array(["control", "t"] * 2000)
    pre = rng.normal(0, 1, 4000) + 1.0 * (arm == "t")  # broken randomisation on the covariate
    out = readout("e", arm, {"y": rng.normal(size=4000)}, covariates={"pre": pre})
    assert [b.flagged for b in out.balance] == [True]
    assert out.to_dict()["balance"][0]["covariate"] == "pre (t)"
