"""Burst detection: planted spikes in synthetic daily counts, and the simulator's truth."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest

from reelmine.content.trending import detect_bursts, match_bursts


def _daily(rng, n_titles=40, days=60, bursts=(), weekly=True):
    rate = rng.uniform(5, 40, n_titles)
    day0 = date(2026, 1, 5)
    dow = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.4, 1.3])
    mult = np.ones((n_titles, days))
    if weekly:
        mult *= dow[np.arange(days) % 7][None, :]
    for k, start, length, strength in bursts:
        mult[k, start : start + length] *= strength
    counts = rng.poisson(rate[:, None] * mult)
    k, d = np.nonzero(np.ones_like(counts, dtype=bool))
    return pa.table(
        {
            "key": [f"t{i:02d}" for i in k],
            "day": pa.array([day0 + timedelta(days=int(x)) for x in d], pa.date32()),
            "members": counts[k, d],
        }
    )


def test_planted_bursts_are_found_with_their_days(rng):
    daily = _daily(rng, bursts=[(3, 20, 3, 4.0), (17, 41, 5, 3.0)])
    found = detect_bursts(daily)
    got = {r["title_id"]: r for r in found.to_pylist()}
    assert set(got) == {"t03", "t17"}
    assert got["t03"]["start"].date() == date(2026, 1, 25)
    assert got["t03"]["end"].date() == date(2026, 1, 28)
    assert got["t03"]["strength"] == pytest.approx(4.0, rel=0.25)
    assert got["t17"]["start"].date() == date(2026, 2, 15)
    assert got["t17"]["end"].date() == date(2026, 2, 20)


def test_no_bursts_in_pure_noise(rng):
    assert detect_bursts(_daily(rng, n_titles=80)).num_rows == 0


def test_launch_window_is_not_a_burst(rng):
    daily = _daily(rng, bursts=[(5, 0, 6, 3.0)])  # a title whose first week is hot
    assert "t05" in detect_bursts(daily)["title_id"].to_pylist()
    added = pa.table(
        {
            "key": ["t05"],
            "added_at": pa.array([np.datetime64("2026-01-05", "us")]).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
    )
    assert "t05" not in detect_bursts(daily, available_from=added)["title_id"].to_pylist()


def test_match_bursts_precision_recall():
    ts = pa.timestamp("us", tz="UTC")

    def t(ids, s, e):
        return pa.table(
            {
                "title_id": ids,
                "start": pa.array(np.array(s, "datetime64[D]").astype("datetime64[us]")).cast(ts),
                "end": pa.array(np.array(e, "datetime64[D]").astype("datetime64[us]")).cast(ts),
            }
        )

    truth = t(["a", "b"], ["2026-01-10", "2026-01-20"], ["2026-01-13", "2026-01-22"])
    found = t(
        ["a", "b", "c"],
        ["2026-01-11", "2026-01-25", "2026-01-01"],
        ["2026-01-12", "2026-01-26", "2026-01-02"],
    )
    p, r = match_bursts(found, truth)
    assert p == pytest.approx(1 / 3) and r == pytest.approx(0.5)
