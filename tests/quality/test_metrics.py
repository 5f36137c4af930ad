"""Quality metrics on a hand-made plays table with known answers."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import DataError, MissingColumnError
from reelmine.quality.metrics import (
    BadSessionThresholds,
    grouped_percentiles,
    quality_metrics,
    session_metrics,
)


def _t(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, 5, hour, minute, tzinfo=UTC)


def _plays() -> pa.Table:
    # C1: three sessions in hour 10; C2: two in hour 10 and one in hour 11.
    return pa.table(
        {
            "play_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
            "cdn": ["C1", "C1", "C1", "C2", "C2", "C2"],
            "started_at": pa.array(
                [_t(10, 1), _t(10, 5), _t(10, 59), _t(10, 30), _t(10, 31), _t(11, 2)],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "watched_seconds": [1000.0, 3000.0, 0.0, 3600.0, 1800.0, 1800.0],
            "startup_ms": [1000.0, 2000.0, None, 500.0, 9000.0, 1500.0],
            "rebuffer_count": [1, 3, 0, 0, 2, 0],
            "rebuffer_ms": [10_000.0, 30_000.0, 0.0, 0.0, 60_000.0, 0.0],
            "avg_bitrate_kbps": [3000.0, 5000.0, None, 4000.0, 600.0, 4000.0],
            "error_code": ["", None, "E42", "", "", ""],
            "exit_before_start": [False, False, True, False, False, False],
        }
    )


def test_session_metrics() -> None:
    sm = session_metrics(_plays()).to_pydict()
    assert sm["rebuffer_ratio"][:2] == pytest.approx([0.01, 0.01])
    assert np.isnan(sm["rebuffer_ratio"][2])  # nothing watched
    assert sm["error"] == [False, False, True, False, False, False]
    # p3: error + exit before start; p5: startup 9 s, rebuffer 3.3%, bitrate 600 kbit/s.
    assert sm["bad"] == [False, False, True, False, True, False]
    loose = BadSessionThresholds(startup_ms=10_000, rebuffer_ratio=0.05, min_bitrate_kbps=100)
    assert session_metrics(_plays(), loose).column("bad").to_pylist()[4] is False


def test_overall_metrics() -> None:
    m = quality_metrics(_plays()).to_pylist()
    assert len(m) == 1
    row = m[0]
    assert row["sessions"] == 6
    # Startup over the 5 started sessions: 500, 1000, 1500, 2000, 9000.
    assert row["startup_p50"] == pytest.approx(1500.0)
    assert row["startup_p90"] == pytest.approx(2000 + 0.6 * 7000)
    watch = 1000 + 3000 + 3600 + 1800 + 1800
    assert row["rebuffer_ratio"] == pytest.approx(100.0 / watch)
    assert row["rebuffers_per_hour"] == pytest.approx(6 / (watch / 3600))
    bitrate = (3000 * 1000 + 5000 * 3000 + 4000 * 3600 + 600 * 1800 + 4000 * 1800) / watch
    assert row["avg_bitrate_kbps"] == pytest.approx(bitrate)
    assert row["error_rate"] == pytest.approx(1 / 6)
    assert row["ebvs_rate"] == pytest.approx(1 / 6)
    assert row["bad_share"] == pytest.approx(2 / 6)


def test_grouped_by_cdn_and_hour() -> None:
    m = quality_metrics(_plays(), by=["cdn"], bucket_seconds=3600)
    rows = {(r["cdn"], r["bucket"].hour): r for r in m.to_pylist()}
    assert set(rows) == {("C1", 10), ("C2", 10), ("C2", 11)}
    c1 = rows[("C1", 10)]
    assert c1["sessions"] == 3
    assert c1["startup_p50"] == pytest.approx(1500.0)
    assert c1["rebuffer_ratio"] == pytest.approx(40 / 4000)
    assert c1["error_rate"] == pytest.approx(1 / 3)
    c2 = rows[("C2", 10)]
    assert c2["startup_p99"] == pytest.approx(500 + 0.99 * 8500)
    assert c2["bad_share"] == pytest.approx(0.5)
    assert rows[("C2", 11)]["rebuffer_ratio"] == 0.0
    # Aggregates conserve totals.
    assert sum(r["sessions"] for r in rows.values()) == 6


def test_grouped_percentiles_match_numpy(rng: np.random.Generator) -> None:
    values = rng.lognormal(7, 1, size=5000)
    values[rng.random(5000) < 0.05] = np.nan
    groups = rng.integers(0, 37, size=5000)
    got = grouped_percentiles(values, groups, 38, [10, 50, 99])
    for g in range(37):
        v = values[(groups == g) & np.isfinite(values)]
        np.testing.assert_allclose(got[g], np.percentile(v, [10, 50, 99]))
    assert np.isnan(got[37]).all()  # empty group


def test_errors() -> None:
    with pytest.raises(MissingColumnError, match="isp"):
        quality_metrics(_plays(), by=["isp"])
    with pytest.raises(DataError, match="bucket_seconds"):
        quality_metrics(_plays(), bucket_seconds=0)
