"""Impossible travel: known jumps are flagged; planes, missing/coarse places and blips are not."""

from __future__ import annotations

import pyarrow as pa

from reelmine.fraud import StuffingParams, TravelParams, tables_runner, travel_flags
from tests.fraud._data import BERLIN, NEW_YORK, PARIS, TOKYO, at, logins, plays


def test_berlin_then_tokyo_fifty_minutes_later_is_flagged() -> None:
    t = plays({"started_at": at(0, 20), **BERLIN}, {"started_at": at(0, 20, 50), **TOKYO})
    flags = travel_flags(tables_runner(plays=t)).to_pylist()
    assert len(flags) == 1
    f = flags[0]
    assert f["window_start"] == at(0, 20) and f["window_end"] == at(0, 20, 50)
    # Berlin-Tokyo is about 8,920 km: 10,700 km/h over 50 minutes.
    assert "8,9" in f["evidence"] and "Tokyo (JP)" in f["evidence"]
    assert 1 - 900 / 10_000 < f["score"] < 1 - 900 / 11_500


def test_login_and_play_combine() -> None:
    p = plays({"started_at": at(0, 20), **BERLIN})
    lg = logins({"at": at(0, 21), **NEW_YORK})
    assert travel_flags(tables_runner(plays=p, logins=lg)).num_rows == 1
    assert travel_flags(tables_runner(plays=p, logins=lg), use_logins=False).num_rows == 0


def test_plane_trip_far_but_slow_enough_is_not_flagged() -> None:
    # Berlin -> New York (6,400 km) in 9 hours: 710 km/h.
    t = plays({"started_at": at(0, 8), **BERLIN}, {"started_at": at(0, 17), **NEW_YORK})
    assert travel_flags(tables_runner(plays=t)).num_rows == 0


def test_short_hop_is_below_distance_floor() -> None:
    # Berlin -> Paris is 880 km: fast in 30 minutes, but ignored with a 1,000 km floor.
    t = plays({"started_at": at(0, 20), **BERLIN}, {"started_at": at(0, 20, 30), **PARIS})
    run = tables_runner(plays=t)
    assert travel_flags(run).num_rows == 1
    assert travel_flags(run, params=TravelParams(min_distance_km=1000)).num_rows == 0


def test_missing_zero_and_coarse_coordinates_are_ignored() -> None:
    t = plays(
        {"started_at": at(0, 20), **BERLIN},
        {"started_at": at(0, 20, 10), "latitude": None, "longitude": None, "city": "?"},
        {"started_at": at(0, 20, 20), "latitude": 0.0, "longitude": 0.0},
        {"started_at": at(0, 20, 30), "latitude": 36.0, "longitude": 138.0},  # country centroid
        {"started_at": at(0, 20, 40), **BERLIN},
    )
    assert travel_flags(tables_runner(plays=t)).num_rows == 0


def test_out_of_order_and_duplicated_events_are_not_flagged() -> None:
    rows = [{"started_at": at(d, 20), **BERLIN} for d in range(3)]
    rows += [{"started_at": at(5, 20), **NEW_YORK}]  # five days later: a flight
    t = plays(*rows)
    shuffled = pa.concat_tables([t, t]).take(pa.array([3, 7, 0, 5, 1, 2, 6, 4]))
    assert travel_flags(tables_runner(plays=shuffled)).num_rows == 0


def test_known_vpn_network_is_skipped_by_stated_rule() -> None:
    t = plays(
        {"started_at": at(0, 20), "ip": "10.0.0.5", **BERLIN},
        {"started_at": at(0, 20, 30), "ip": "203.0.113.9", **TOKYO},
    )
    run = tables_runner(plays=t)
    assert travel_flags(run).num_rows == 1
    # The test runner's ip_net_hash is the first three octets.
    params = TravelParams(ignore_networks=("203.0.113",))
    assert travel_flags(run, params=params).num_rows == 0


def test_blip_there_and_back_is_one_flag() -> None:
    t = plays(
        {"started_at": at(0, 20), **BERLIN},
        {"started_at": at(0, 20, 30), **TOKYO},
        {"started_at": at(0, 21), **BERLIN},
    )
    flags = travel_flags(tables_runner(plays=t)).to_pylist()
    assert len(flags) == 1 and "2 impossible jumps" in flags[0]["evidence"]


def test_stuffing_burst_source_is_not_a_location() -> None:
    # An attacker network fails on 10 accounts, then succeeds on u1 from Tokyo.
    rows = [
        {"user_id": f"v{i}", "at": at(0, 3, i), "success": False, "ip": "185.1.1.9", **TOKYO}
        for i in range(10)
    ]
    rows.append({"user_id": "u1", "at": at(0, 3, 20), "success": True, "ip": "185.1.1.9", **TOKYO})
    lg = logins(*rows)
    p = plays({"user_id": "u1", "started_at": at(0, 3), **BERLIN})
    run = tables_runner(plays=p, logins=lg)
    assert travel_flags(run).num_rows == 1
    assert travel_flags(run, bursts=StuffingParams()).num_rows == 0
