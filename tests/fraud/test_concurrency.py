"""Concurrent streams: hand-made accounts with known peaks and windows."""

from __future__ import annotations

import pyarrow as pa

from reelmine.fraud import ConcurrencyParams, concurrency_episodes, concurrency_flags, tables_runner
from tests.fraud._data import BERLIN, MUNICH, PARIS, at, plays, users


def _three_on_two() -> pa.Table:
    return plays(
        {"started_at": at(0, 20), "ended_at": at(0, 22), "device_id": "d1", **BERLIN},
        {"started_at": at(0, 21, 10), "ended_at": at(0, 22, 30), "device_id": "d2", **MUNICH},
        {"started_at": at(0, 21), "ended_at": at(0, 23), "device_id": "d3", **PARIS},
    )


def test_three_overlapping_plays_on_two_stream_plan_peak_three_exact_window() -> None:
    run = tables_runner(plays=_three_on_two(), users=users(u1=2))
    eps = concurrency_episodes(run)
    assert eps.num_rows == 1
    e = eps.to_pylist()[0]
    assert e["peak"] == 3 and e["lim"] == 2 and e["devices"] == 3
    assert sorted(e["cities"]) == ["Berlin", "Munich", "Paris"]
    flags = concurrency_flags(run).to_pylist()
    assert len(flags) == 1
    f = flags[0]
    # Over the plan from the third stream's start (21:10) to the first stream's end (22:00).
    assert f["window_start"] == at(0, 21, 10) and f["window_end"] == at(0, 22)
    assert abs(f["score"] - (1 - 2 / 3)) < 1e-9
    assert f["evidence"].startswith("3 simultaneous streams on 2026-03-04 21:10 from 3 cities")
    assert f["evidence"].endswith("plan allows 2")


def test_within_plan_is_not_flagged() -> None:
    run = tables_runner(plays=_three_on_two(), users=users(u1=3))
    assert concurrency_flags(run).num_rows == 0


def test_four_streams_peak_and_default_limit() -> None:
    t = plays(
        *[
            {"started_at": at(0, 20, i), "ended_at": at(0, 22), "device_id": f"d{i}"}
            for i in range(4)
        ]
    )
    # No users row: the default plan limit (1) applies.
    eps = concurrency_episodes(tables_runner(plays=t))
    assert eps["peak"].to_pylist() == [4] and eps["lim"].to_pylist() == [1]


def test_clock_skew_and_back_to_back_plays_are_not_overlap() -> None:
    # d2 starts 90 s before d1 ends (clock skew below the 120 s tolerance).
    t = plays(
        {"started_at": at(0, 20), "ended_at": at(0, 21), "device_id": "d1"},
        {"started_at": at(0, 20, 58, 30), "ended_at": at(0, 22), "device_id": "d2"},
    )
    assert concurrency_flags(tables_runner(plays=t, users=users(u1=1))).num_rows == 0


def test_device_resuming_its_own_stream_and_duplicates_are_one_stream() -> None:
    t = plays(
        {"started_at": at(0, 20), "ended_at": at(0, 21), "device_id": "tv"},
        {"started_at": at(0, 20, 30), "ended_at": at(0, 21, 30), "device_id": "tv"},  # resume
        {"started_at": at(0, 20), "ended_at": at(0, 21), "device_id": "tv"},  # duplicate
        {"started_at": at(0, 20, 10), "ended_at": at(0, 21), "device_id": "phone"},
    )
    run = tables_runner(plays=t, users=users(u1=2))
    assert concurrency_flags(run).num_rows == 0
    eps = concurrency_episodes(tables_runner(plays=t, users=users(u1=1)))
    assert eps["peak"].to_pylist() == [2]


def test_out_of_order_rows_give_the_same_answer() -> None:
    t = _three_on_two()
    rev = t.take(pa.array([2, 0, 1]))
    a = concurrency_flags(tables_runner(plays=t, users=users(u1=2)))
    b = concurrency_flags(tables_runner(plays=rev, users=users(u1=2)))
    assert a.equals(b)


def test_short_overlap_below_minimum_is_ignored_and_watched_seconds_used() -> None:
    t = plays(
        {"started_at": at(0, 20), "watched_seconds": 3600.0, "device_id": "d1"},
        {"started_at": at(0, 20, 55), "watched_seconds": 3600.0, "device_id": "d2"},
    )
    run = tables_runner(plays=t, users=users(u1=1))
    assert concurrency_flags(run, params=ConcurrencyParams(min_overlap_seconds=300)).num_rows == 0
    assert concurrency_flags(run, params=ConcurrencyParams(min_overlap_seconds=60)).num_rows == 1


def test_two_evenings_are_two_flags() -> None:
    t = plays(
        *[
            {"started_at": at(d, 20, i), "ended_at": at(d, 22), "device_id": f"d{i}"}
            for d in (0, 3)
            for i in range(2)
        ]
    )
    flags = concurrency_flags(tables_runner(plays=t, users=users(u1=1)))
    assert flags["window_start"].to_pylist() == [at(0, 20, 1), at(3, 20, 1)]


def test_a_play_logged_twice_is_one_stream() -> None:
    # The same play event twice (a client retry), after an earlier play of the same device:
    # one stream, never "two streams on one device"; a second device makes it two.
    once = {"started_at": at(0, 20), "ended_at": at(0, 22), "device_id": "d1", **BERLIN}
    t = plays(
        {"started_at": at(0, 18), "ended_at": at(0, 19), "device_id": "d1", **BERLIN},
        once,
        dict(once),
        {"started_at": at(0, 20, 30), "ended_at": at(0, 21), "device_id": "d2", **PARIS},
    )
    eps = concurrency_episodes(tables_runner(plays=t, users=users(u1=1))).to_pylist()
    assert len(eps) == 1 and eps[0]["peak"] == 2 and eps[0]["devices"] == 2
    alone = plays(once, dict(once))
    assert concurrency_flags(tables_runner(plays=alone, users=users(u1=1))).num_rows == 0
