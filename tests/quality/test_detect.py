"""Seasonal anomaly detection: planted incidents in seasonal series, windows, pivoting."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import DataError
from reelmine.quality.detect import SeasonalDetector, pivot_series

HOURS = 24 * 7 * 6  # six weeks of hourly buckets
SLICES = 8


def _series(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Error rate per slice and hour with daily/weekly seasonality and planted incidents."""
    h = np.arange(HOURS)
    daily = 1 + 0.6 * np.sin(2 * np.pi * (h % 24) / 24)
    weekly = 1 + 0.3 * ((h // 24) % 7 >= 5)
    sessions = rng.poisson(3000 * daily * weekly * rng.uniform(0.3, 1.5, size=(SLICES, 1)))
    # Quality is also seasonal: evening peaks raise the baseline error rate.
    rate = 0.02 * (1 + 0.5 * np.sin(2 * np.pi * (h % 24) / 24 + 1)) * np.ones((SLICES, 1))
    incidents = []
    for s in range(SLICES):
        # Two incidents per slice in weeks 3-6 (the detector needs two weeks of history).
        for start in rng.choice(np.arange(24 * 14, HOURS - 10, 30), size=2, replace=False):
            length = int(rng.integers(2, 7))
            rate[s, start : start + length] += rng.uniform(0.02, 0.05)
            incidents.append((s, int(start), length))
    errors = rng.binomial(sessions, np.clip(rate, 0, 1))
    return errors / np.maximum(sessions, 1), incidents


def test_planted_incidents_detected_with_few_false_alarms(rng: np.random.Generator) -> None:
    y, incidents = _series(rng)
    det = SeasonalDetector(period=168, seasons=3, fallback_period=24, z_threshold=5.0)
    windows = det.detect(y, slices=[{"cdn": f"C{s}"} for s in range(SLICES)])
    detected = 0
    for s, start, _length in incidents:
        hit = [
            w
            for w in windows
            if w.slice == {"cdn": f"C{s}"}
            and w.start <= start + 2
            and w.end >= start
            and w.start >= start - 2
        ]
        detected += bool(hit)
    assert detected / len(incidents) >= 0.9
    # False alarms: windows overlapping no incident, counted over the weeks scored.
    false = [
        w
        for w in windows
        if not any(
            w.slice == {"cdn": f"C{s}"} and w.start <= start + length and w.end >= start
            for s, start, length in incidents
        )
    ]
    weeks = (HOURS - 24) / 168  # buckets with at least a day of history
    assert len(false) / weeks <= 1.0, false


def test_window_bounds_severity_and_gap_bridging() -> None:
    y = np.tile([10.0, 12.0, 11.0, 13.0], 12)  # period 4, tiny noise
    y[30] = y[31] = 40.0  # two anomalous buckets
    y[33] = 40.0  # one normal bucket (32) then anomalous again: bridged
    det = SeasonalDetector(period=4, seasons=3, fallback_period=4, z_threshold=5.0, min_scale=0.5)
    (w,) = det.detect(y)
    assert (w.start, w.end) == (30, 33)
    assert w.peak in (30, 31, 33)
    assert w.baseline in (10.0, 12.0, 11.0, 13.0)
    _, z = det.score(y)
    assert w.severity == pytest.approx(np.nanmax(np.abs(z)))
    assert w.severity > 5.0
    strict = SeasonalDetector(period=4, seasons=3, max_gap=0, z_threshold=5.0, min_scale=0.5)
    assert [(v.start, v.end) for v in sorted(strict.detect(y), key=lambda v: v.start)] == [
        (30, 31),
        (33, 33),
    ]
    down = SeasonalDetector(period=4, direction="down", min_scale=0.5)
    assert down.detect(y) == []
    with pytest.raises(DataError, match="direction"):
        SeasonalDetector(direction="sideways").detect(y)


def test_pivot_series_fills_missing_buckets() -> None:
    table = pa.table(
        {
            "t": [0, 3600, 7200, 0, 7200],
            "cdn": ["C1", "C1", "C1", "C2", "C2"],
            "rate": [0.1, 0.2, 0.3, 0.5, 0.7],
        }
    )
    mat, times, slices = pivot_series(
        table, time_column="t", value_column="rate", slice_columns=["cdn"]
    )
    assert times.tolist() == [0, 3600, 7200]
    assert slices == [{"cdn": "C1"}, {"cdn": "C2"}]
    np.testing.assert_array_equal(mat[0], [0.1, 0.2, 0.3])
    assert np.isnan(mat[1, 1]) and mat[1, 2] == 0.7


def test_counts_and_binomial_cap_tame_sparse_slices(rng: np.random.Generator) -> None:
    """A slice with ~30 sessions an hour and a 1% error rate: its seasonal MAD is 0, so robust
    scores alone alarm on stray errors; counts plus the binomial cap keep only the real jump."""
    n = rng.poisson(30, size=(1, HOURS)).astype(float)
    errors = rng.binomial(n.astype(int), 0.01)
    errors[0, 900] = 12  # 40% of one hour's sessions fail
    y = errors / np.maximum(n, 1)
    plain = SeasonalDetector(period=168, seasons=3, z_threshold=5.0)
    assert len(plain.detect(y)) > 1  # false alarms besides the jump
    det = SeasonalDetector(period=168, seasons=3, z_threshold=5.0, proportion=True, min_count=10)
    windows = det.detect(y, counts=n)
    assert [(w.start, w.end) for w in windows] == [(900, 900)]
