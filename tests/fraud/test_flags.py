"""Flag records, scan(), configuration and the evaluation matching rule."""

from __future__ import annotations

import pyarrow as pa
import pytest

from reelmine.errors import ConfigError
from reelmine.fraud import (
    FLAG_SCHEMA,
    FraudConfig,
    TravelParams,
    flags_from_table,
    quality_by_type,
    scan,
    tables_runner,
)
from reelmine.fraud.flags import flags_to_table, make_flags
from tests.fraud._data import BERLIN, TOKYO, at, plays, users


def _run() -> object:
    t = plays(
        {"started_at": at(0, 20), "ended_at": at(0, 22), "device_id": "a", **BERLIN},
        {"started_at": at(0, 20, 5), "ended_at": at(0, 22), "device_id": "b", **BERLIN},
        {"user_id": "u2", "started_at": at(2, 20), **BERLIN},
        {"user_id": "u2", "started_at": at(2, 20, 40), **TOKYO},
    )
    return tables_runner(plays=t, users=users(u1=1, u2=1))


def test_scan_runs_every_detector_and_sorts_by_score() -> None:
    flags = scan(_run())
    assert flags.schema == FLAG_SCHEMA
    assert sorted(flags["type"].to_pylist()) == ["concurrent_streams", "impossible_travel"]
    assert flags["score"].to_pylist() == sorted(flags["score"].to_pylist(), reverse=True)
    only = scan(_run(), detectors=["concurrent_streams"])
    assert only["type"].to_pylist() == ["concurrent_streams"]


def test_scan_since_leaves_out_earlier_events() -> None:
    flags = scan(_run(), since=at(1))
    assert flags["type"].to_pylist() == ["impossible_travel"]


def test_scan_rejects_unknown_detector() -> None:
    with pytest.raises(ConfigError, match="unknown detector"):
        scan(_run(), detectors=["telepathy"])


def test_config_round_trips_and_rejects_unknown_keys() -> None:
    cfg = FraudConfig(travel=TravelParams(max_speed_kmh=1000, ignore_networks=("n1",)))
    back = FraudConfig.from_dict(cfg.to_dict())
    assert back == cfg
    with pytest.raises(ConfigError, match="unknown parameter"):
        FraudConfig.from_dict({"travel": {"warp": 9}})
    with pytest.raises(ConfigError, match="unknown fraud section"):
        FraudConfig.from_dict({"teleport": {}})


def test_flag_objects_round_trip() -> None:
    t = make_flags(["u1"], "anomaly", [1.7], [0.0], [60.0], ["why"])
    assert t["score"].to_pylist() == [1.0]  # scores are clipped to [0, 1]
    objs = flags_from_table(t)
    assert objs[0].to_dict()["window_end"] == "1970-01-01T00:01:00+00:00"
    assert flags_to_table(objs).equals(t)


def test_matching_rule_needs_type_account_and_window_overlap() -> None:
    day = 86400.0
    flags = make_flags(
        ["a", "b", "c"],
        "impossible_travel",
        [0.9] * 3,
        [0.0, 0.0, 10 * day],
        [60.0, 60.0, 10 * day],
        ["", "", ""],
    )
    ts = pa.timestamp("us", tz="UTC")
    truth = pa.table(
        {
            "user_id": ["a", "c", "d"],
            "type": ["impossible_travel"] * 3,
            "window_start": pa.array([0, 0, 0], pa.int64()).cast(ts),
            "window_end": pa.array([10**6, 10**6, 10**6], pa.int64()).cast(ts),
        }
    )
    q = quality_by_type(flags, truth)["impossible_travel"]
    # a matches; b is not planted; c is planted but its flag is 10 days off; d is missed.
    assert (q.predicted, q.planted, q.true_positives) == (3, 3, 1)
    assert q.precision == pytest.approx(1 / 3) and q.recall == pytest.approx(1 / 3)
    assert (
        quality_by_type(flags, truth, slack_seconds=11 * day)["impossible_travel"].true_positives
        == 2
    )
