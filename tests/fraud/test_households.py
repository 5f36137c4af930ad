"""Household sharing: places clustered into households; devices, phones and trips are fine."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from reelmine.fraud import HouseholdParams, household_flags, households, tables_runner
from tests.fraud._data import at, plays

HOME = {"latitude": 52.52, "longitude": 13.40, "city": "Berlin", "ip": "80.1.2.3"}
FRIEND = {"latitude": 53.55, "longitude": 10.00, "city": "Hamburg", "ip": "81.9.9.9"}


def _days(
    n: int, place: dict[str, Any], device: str, dtype: str = "tv", start: int = 0, step: int = 2
) -> list[dict[str, Any]]:
    return [
        {"started_at": at(start + step * d, 20), "device_id": device, "device_type": dtype, **place}
        for d in range(n)
    ]


def test_two_households_on_one_account_flagged_with_list() -> None:
    t = plays(*_days(10, HOME, "tv1"), *_days(6, FRIEND, "tv2", start=1))
    run = tables_runner(plays=t)
    hh = households(run)
    assert hh.filter(hh["is_household"]).num_rows == 2
    flags = household_flags(run).to_pylist()
    assert len(flags) == 1
    f = flags[0]
    assert f["score"] == 0.5
    assert f["evidence"].startswith("2 households over 2026-03-04..2026-03-22; plan allows 1")
    assert "Berlin" in f["evidence"] and "Hamburg" in f["evidence"]


def test_plan_allowing_two_households() -> None:
    t = plays(*_days(10, HOME, "tv1"), *_days(6, FRIEND, "tv2", start=1))
    u = pa.table({"user_id": ["u1"], "plan": ["family"]})
    run = tables_runner(plays=t, users=u)
    assert household_flags(run, params=HouseholdParams(allowed={"family": 2})).num_rows == 0


def test_household_with_several_devices_and_phones_on_mobile_data_is_one() -> None:
    rows = _days(10, HOME, "tv") + _days(8, HOME, "console", "console", start=1)
    rows += _days(8, HOME, "laptop", "web", start=1)
    # The phone's mobile address changes every time, geolocated near home.
    rows += [
        {
            "started_at": at(d, 8),
            "device_id": "phone",
            "device_type": "mobile",
            "latitude": 52.52 + 0.01 * (d % 3),
            "longitude": 13.41,
            "ip": f"100.{d}.{d}.7",
        }
        for d in range(20)
    ]
    run = tables_runner(plays=plays(*rows))
    hh = households(run)
    assert hh.filter(hh["is_household"]).num_rows == 1
    assert household_flags(run).num_rows == 0


def test_holiday_trip_and_one_evening_away_are_not_households() -> None:
    rows = _days(12, HOME, "tv")
    # Five days in Lisbon on the phone, every day: a stay, not a household (span < 7 days).
    lisbon = {"latitude": 38.72, "longitude": -9.14, "city": "Lisbon", "ip": "90.1.1.1"}
    rows += _days(5, lisbon, "phone", "mobile", start=3, step=1)
    # One evening at a friend's on their TV.
    rows += _days(1, FRIEND, "friend-tv", start=9)
    run = tables_runner(plays=plays(*rows))
    assert household_flags(run).num_rows == 0


def test_missing_coordinates_still_cluster_by_network_and_device() -> None:
    home = {"ip": "80.1.2.3"}
    away = {"ip": "81.9.9.9"}
    t = plays(*_days(10, home, "tv1"), *_days(6, away, "tv2", start=1))
    assert household_flags(tables_runner(plays=t)).num_rows == 1
    # The same TV seen on both networks (a router change) joins them into one household.
    t2 = plays(*_days(10, home, "tv1"), *_days(6, away, "tv1", start=1))
    assert household_flags(tables_runner(plays=t2)).num_rows == 0
