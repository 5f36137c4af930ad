"""Live checks: the streaming rules agree with the batch ones and stay fast."""

from __future__ import annotations

import time

import numpy as np

from reelmine.fraud import LiveChecker
from tests.fraud._data import BERLIN, MUNICH, NEW_YORK, PARIS, TOKYO, at


def test_third_stream_on_two_stream_plan_raises_one_flag() -> None:
    lc = LiveChecker(max_streams={"u1": 2})
    assert (
        lc.check_play(
            {
                "user_id": "u1",
                "started_at": at(0, 20),
                "ended_at": at(0, 22),
                "device_id": "a",
                **BERLIN,
            }
        )
        == []
    )
    assert (
        lc.check_play(
            {
                "user_id": "u1",
                "started_at": at(0, 21),
                "ended_at": at(0, 23),
                "device_id": "b",
                **PARIS,
            }
        )
        == []
    )
    flags = lc.check_play(
        {
            "user_id": "u1",
            "started_at": at(0, 21, 10),
            "ended_at": at(0, 22, 30),
            "device_id": "c",
            **MUNICH,
        }
    )
    # Paris -> Munich in 10 minutes is also impossible travel; look at the concurrency flag.
    flags = [f for f in flags if f.type == "concurrent_streams"]
    assert len(flags) == 1
    assert flags[0].evidence.startswith("3 simultaneous streams on 2026-03-04 21:10 from 3 cities")
    assert flags[0].window_end == at(0, 22)
    # A fourth stream in the same evening does not repeat the flag.
    assert (
        lc.check_play(
            {"user_id": "u1", "started_at": at(0, 21, 20), "ended_at": at(0, 22), "device_id": "d"}
        )
        == []
    )


def test_resumed_and_duplicated_stream_is_not_a_second_stream() -> None:
    lc = LiveChecker(max_streams={"u1": 1})
    e = {"user_id": "u1", "started_at": at(0, 20), "ended_at": at(0, 21), "device_id": "tv"}
    assert lc.check_play(e) == [] and lc.check_play(e) == []
    assert lc.check_play({**e, "started_at": at(0, 20, 30), "ended_at": at(0, 22)}) == []


def test_travel_out_of_order_and_plane() -> None:
    lc = LiveChecker()
    assert lc.check_play({"user_id": "u1", "started_at": at(0, 8), **BERLIN}) == []
    assert lc.check_play({"user_id": "u1", "started_at": at(0, 17), **NEW_YORK}) == []  # flight
    # A late event: Tokyo at 08:30, between Berlin 08:00 and New York 17:00.
    flags = lc.check_play({"user_id": "u1", "started_at": at(0, 8, 30), **TOKYO})
    assert len(flags) == 1 and flags[0].type == "impossible_travel"
    assert flags[0].window_start == at(0, 8) and flags[0].window_end == at(0, 8, 30)
    assert (
        lc.check_play(
            {"user_id": "u2", "started_at": at(0, 8), "latitude": None, "longitude": None}
        )
        == []
    )


def test_stuffing_burst_then_takeover() -> None:
    lc = LiveChecker()
    lc.set_account("v00", country="DE")
    out = []
    for i in range(8):
        out += lc.check_login(
            {
                "user_id": f"v{i:02d}",
                "at": at(0, 3, i),
                "success": False,
                "ip_net_hash": "net-x",
                "device_id": "bot",
            }
        )
    users = {f.user_id for f in out if f.type == "credential_stuffing"}
    assert users == {f"v{i:02d}" for i in range(8)}
    # v00 is then logged into successfully from the burst, and a new device in JP plays.
    lc.check_login(
        {
            "user_id": "v00",
            "at": at(0, 3, 9),
            "success": True,
            "ip_net_hash": "net-x",
            "device_id": "bot",
        }
    )
    flags = lc.check_play(
        {"user_id": "v00", "started_at": at(0, 4), "device_id": "new", "country": "JP"}
    )
    assert [f.score for f in flags] == [1.0] and "account takeover" in flags[0].evidence


def test_typo_is_not_stuffing() -> None:
    lc = LiveChecker()
    assert (
        lc.check_login(
            {
                "user_id": "u1",
                "at": at(0, 20),
                "success": False,
                "ip_net_hash": "n",
                "device_id": "tv",
            }
        )
        == []
    )
    assert (
        lc.check_login(
            {
                "user_id": "u1",
                "at": at(0, 20, 1),
                "success": True,
                "ip_net_hash": "n",
                "device_id": "tv",
                **BERLIN,
            }
        )
        == []
    )


def test_p99_latency_per_event_is_far_below_5_ms(rng: np.random.Generator) -> None:
    lc = LiveChecker()
    n = 5000
    users = rng.integers(0, 500, n)
    lat = rng.uniform(35, 55, n)
    lon = rng.uniform(-10, 30, n)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        lc.check_play(
            {
                "user_id": f"u{users[i]}",
                "started_at": 1.7e9 + 60.0 * i,
                "watched_seconds": 1800.0,
                "device_id": f"d{i % 700}",
                "latitude": lat[i],
                "longitude": lon[i],
            }
        )
        lc.check_login(
            {
                "user_id": f"u{users[i]}",
                "at": 1.7e9 + 60.0 * i,
                "success": bool(i % 9),
                "ip_net_hash": f"n{i % 50}",
                "device_id": f"d{i % 700}",
            }
        )
        times.append((time.perf_counter() - t0) / 2)
    # Contended CI machines: the 5 ms budget is checked with the p99, not the mean.
    assert float(np.percentile(times, 99)) < 0.005
