"""Detection and localisation on in-memory plays, scoring helpers, and a simulated platform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelmine.errors import ConfigError
from reelmine.quality.detect import AnomalyWindow
from reelmine.quality.pipeline import (
    Alarm,
    detect_plays,
    explain_plays,
    leaf_window,
    score_detection,
    score_localization,
)

H = 3600
DAY = 86400
START = 1_767_571_200  # 2026-01-05 00:00 UTC, a Monday


def _alarm(metric: str, start: int, end: int) -> Alarm:
    return Alarm(metric, AnomalyWindow({"cdn": "C1"}, start, end, 9.0, start, 0.5, 0.1))


def test_score_detection_counts_hits_and_false_alarm_events() -> None:
    incidents = [("error_rate", 10 * H, 13 * H), ("ebvs_rate", 50 * H, 52 * H)]
    alarms = [
        _alarm("error_rate", 12 * H, 13 * H),  # within two buckets of the start: a hit
        _alarm("startup_p90", 10 * H, 11 * H),  # another metric, inside the window: no alarm
        _alarm("ebvs_rate", 53 * H, 53 * H),  # three buckets late: a miss, but near it
        _alarm("error_rate", 30 * H, 31 * H),  # false: one event seen in two slices
        _alarm("bad_share", 31 * H, 31 * H),
        _alarm("error_rate", 80 * H, 80 * H),  # a second false event
    ]
    detected, false = score_detection(alarms, incidents)
    assert detected == [True, False]
    assert false == 2
    assert score_detection([], incidents) == ([False, False], 0)


def test_score_localization_micro_counts_ignore_pair_order() -> None:
    pred = [["isp=I5&cdn=C2"], ["app_version=7.1", "cdn=C9"], []]
    true = [["cdn=C2&isp=I5"], ["app_version=7.1"], ["os=roku"]]
    assert score_localization(pred, true) == (2, 1, 1)


def _plays(rng: np.random.Generator) -> pa.Table:
    """Eight days of hourly plays over (cdn x isp x device); on day 7, 20-23 h, cdn=C2 & isp=I1
    fails 40% of its plays and app 7.0 is chronically slower throughout."""
    hours = 8 * 24
    per_hour = rng.poisson(300, hours)
    t = np.repeat(START + H * np.arange(hours), per_hour) + rng.integers(0, H, per_hour.sum())
    n = len(t)
    cdn = rng.choice(["C1", "C2", "C3"], n)
    isp = rng.choice(["I1", "I2", "I3", "I4"], n)
    device = rng.choice(["tv", "mobile", "web"], n)
    app = rng.choice(["7.0", "8.0"], n)
    inc = (cdn == "C2") & (isp == "I1") & (t >= START + 7 * DAY + 20 * H)
    inc &= t < START + 7 * DAY + 23 * H
    error = rng.random(n) < np.where(inc, 0.4, 0.01)
    startup = rng.lognormal(6.8, 0.4, n) * np.where(app == "7.0", 1.3, 1.0)
    return pa.table(
        {
            "started_at": pa.array(t * 1_000_000, type=pa.timestamp("us", tz="UTC")),
            "watched_seconds": rng.uniform(60, 3600, n),
            "cdn": cdn,
            "isp": isp,
            "device_type": device,
            "app_version": app,
            "startup_ms": startup,
            "rebuffer_count": rng.poisson(0.3, n),
            "rebuffer_ms": rng.exponential(800, n),
            "avg_bitrate_kbps": rng.uniform(2000, 6000, n),
            "error_code": np.where(error, "E1", ""),
            "exit_before_start": np.zeros(n, dtype=bool),
        }
    )


def test_explain_plays_finds_the_planted_pair_on_counts_and_rates(
    rng: np.random.Generator,
) -> None:
    plays = _plays(rng)
    attrs = ["cdn", "isp", "device_type", "app_version"]
    s, e = (START + 7 * DAY + 20 * H) * 10**6, (START + 7 * DAY + 23 * H) * 10**6
    for metric in ("error_count", "error_rate"):
        res = explain_plays(plays, attrs, metric, start_us=s, end_us=e)
        assert [c.label for c in res.causes] == ["cdn=C2&isp=I1"], metric
        assert res.causes[0].explained == pytest.approx(1.0, abs=0.25)
    # The chronically slow app is not an incident: play delay has no root cause there.
    assert explain_plays(plays, attrs, "startup_ms", start_us=s, end_us=e).causes == []
    window = leaf_window(plays, attrs, "error_rate", start_us=s, end_us=e)
    assert {"num_sum_real", "num_sum_predict", "den_sum_real", "den_sum_predict"} <= set(
        window.column_names
    )
    with pytest.raises(ConfigError, match="metric"):
        leaf_window(plays, attrs, "nope", start_us=s, end_us=e)


def test_detect_plays_flags_the_window_in_the_right_slices(rng: np.random.Generator) -> None:
    plays = _plays(rng)
    alarms = detect_plays(plays, ["error_rate"], ["cdn", "isp"], min_count=10)
    assert alarms
    inc = START + 7 * DAY + 20 * H
    for a in alarms:  # the values of the planted pair, or the pair itself
        assert a.window.slice in ({"cdn": "C2"}, {"isp": "I1"}, {"cdn": "C2", "isp": "I1"})
        assert inc <= a.window.start <= a.raised <= inc + 2 * H
    detected, false = score_detection(alarms, [("error_rate", inc, inc + 3 * H)])
    assert detected == [True] and false == 0


@pytest.mark.slow
def test_simulated_platform_detection_and_localisation(tmp_path: Path) -> None:
    """A small simulated platform (5,000 members, 6 weeks): planted incidents are detected and
    localised. The issue's targets (>= 90% detected, F1 >= 0.9) are measured at 10,000 members
    over several seeds by benchmarks/quality.py; with half the traffic and four incidents one
    of which (an error burst on one app version in one country) is too small for the per-slice
    detector here, these floors hold."""
    from reelmine.data.simulator import SimulationConfig, simulate

    simulate(SimulationConfig(users=5000, days=42, seed=11, ui_fraction=0.01), tmp_path)
    plays = pq.read_table(tmp_path / "plays.parquet")
    truth = pq.read_table(tmp_path / "truth" / "incidents.parquet").to_pylist()
    assert len(truth) >= 3
    det_metric = {
        "startup_ms": "startup_p90",
        "rebuffer_ratio": "rebuffer_ratio",
        "error_count": "error_rate",
        "exit_before_start": "ebvs_rate",
    }
    attrs = ["device_type", "os", "app_version", "isp", "cdn", "country"]
    alarms = detect_plays(plays, sorted(set(det_metric.values())), attrs)
    incidents = [
        (det_metric[r["metric"]], int(r["start"].timestamp()), int(r["end"].timestamp()))
        for r in truth
    ]
    detected, false = score_detection(alarms, incidents)
    assert np.mean(detected) >= 0.75
    assert false / 6 <= 1.0  # false-alarm events per simulated week
    pred = [
        [
            c.label
            for c in explain_plays(
                plays,
                attrs,
                r["metric"],
                start_us=int(r["start"].timestamp() * 1e6),
                end_us=int(r["end"].timestamp() * 1e6),
            ).causes
        ]
        for r in truth
    ]
    tp, fp, fn = score_localization(pred, [r["root_cause"] for r in truth])
    assert tp / max(tp + fp, 1) >= 0.75
    assert 2 * tp / (2 * tp + fp + fn) >= 0.8


def _small_slice_plays(rng: np.random.Generator) -> pa.Table:
    """Eight days of ~150 plays an hour over cdn x isp; on day 7 from 20 h, the small pair
    cdn=C2 & isp=I1 (~12 plays an hour) fails 30% of its plays for four hours."""
    hours = 8 * 24
    per_hour = rng.poisson(150, hours)
    t = np.repeat(START + H * np.arange(hours), per_hour) + rng.integers(0, H, per_hour.sum())
    n = len(t)
    cdn = rng.choice(["C1", "C2", "C3"], n)
    isp = rng.choice(["I1", "I2", "I3", "I4"], n)
    inc = (cdn == "C2") & (isp == "I1") & (t >= START + 7 * DAY + 20 * H)
    inc &= t < START + 7 * DAY + 24 * H
    error = rng.random(n) < np.where(inc, 0.3, 0.01)
    return pa.table(
        {
            "started_at": pa.array(t * 1_000_000, type=pa.timestamp("us", tz="UTC")),
            "watched_seconds": rng.uniform(60, 3600, n),
            "cdn": cdn,
            "isp": isp,
            "error_code": np.where(error, "E1", ""),
            "exit_before_start": np.zeros(n, dtype=bool),
        }
    )


def test_pooled_buckets_and_pairs_catch_a_small_slice_in_time(rng: np.random.Generator) -> None:
    plays = _small_slice_plays(rng)
    inc = START + 7 * DAY + 20 * H
    truth = [("error_rate", inc, inc + 4 * H)]
    # One bucket of one attribute value at a time: the pair's 12 plays an hour are too few.
    single = detect_plays(plays, ["error_rate"], ["cdn", "isp"], depth=1, pooled_buckets=())
    assert score_detection(single, truth)[0] == [False]
    alarms = detect_plays(plays, ["error_rate"], ["cdn", "isp"])
    detected, false = score_detection(alarms, truth)
    assert detected == [True] and false == 0
    pair = [a for a in alarms if a.window.slice == {"cdn": "C2", "isp": "I1"}]
    assert pair, [a.window.slice for a in alarms]
    first = min(pair, key=lambda a: a.raised)
    assert first.evidence_buckets > 1  # pooled buckets raised it
    assert inc <= first.raised <= inc + 2 * H
    assert inc <= first.window.start <= first.raised  # the episode starts at the incident
    with pytest.raises(ConfigError, match="depth"):
        detect_plays(plays, ["error_rate"], ["cdn"], depth=3)
    with pytest.raises(ConfigError, match="pooled"):
        detect_plays(plays, ["error_rate"], ["cdn"], pooled_buckets=(1,))
