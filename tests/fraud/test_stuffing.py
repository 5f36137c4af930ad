"""Credential stuffing: bursts across accounts and takeovers; typos and busy networks are fine."""

from __future__ import annotations

import pyarrow.compute as pc

from reelmine.fraud import StuffingParams, stuffing_flags, tables_runner
from tests.fraud._data import BERLIN, TOKYO, at, logins, plays, users


def _burst(n_accounts: int, *, success_for: tuple[str, ...] = ()) -> list[dict]:
    rows = []
    for i in range(n_accounts):
        u = f"v{i:02d}"
        rows += [
            {
                "user_id": u,
                "at": at(1, 3, i, k),
                "success": False,
                "ip": f"185.7.7.{i + 1}",
                "device_id": "bot",
                **TOKYO,
            }
            for k in range(2)
        ]
        if u in success_for:
            rows.append(
                {
                    "user_id": u,
                    "at": at(1, 3, i, 30),
                    "success": True,
                    "ip": f"185.7.7.{i + 1}",
                    "device_id": "bot",
                    **TOKYO,
                }
            )
    return rows


def test_burst_flags_every_targeted_account_with_scores() -> None:
    lg = logins(*_burst(12, success_for=("v03",)))
    flags = stuffing_flags(tables_runner(logins=lg))
    got = dict(zip(flags["user_id"].to_pylist(), flags["score"].to_pylist(), strict=True))
    assert set(got) == {f"v{i:02d}" for i in range(12)}
    assert got["v03"] == 0.8 and got["v00"] == 0.5
    ev = flags.filter(pc.equal(flags["user_id"], "v00"))["evidence"][0].as_py()
    assert "2 failed and 0 successful" in ev and "12 accounts" in ev


def test_small_burst_below_account_threshold_is_not_flagged() -> None:
    lg = logins(*_burst(5))
    assert stuffing_flags(tables_runner(logins=lg)).num_rows == 0


def test_burst_straddling_a_grid_line_is_seen_whole() -> None:
    # 10 accounts from 03:40 to 04:20 (crosses the 04:00 line of the hourly grid).
    rows = [
        {
            "user_id": f"v{i}",
            "at": at(1, 3, 40, 0) + (at(0, 0, 4 * i) - at(0)),
            "success": False,
            "ip": "185.7.7.1",
        }
        for i in range(10)
    ]
    assert stuffing_flags(tables_runner(logins=logins(*rows))).num_rows == 10


def test_busy_shared_network_with_mostly_successes_is_not_flagged() -> None:
    # A university NAT: 30 members log in within an hour, 4 of them mistype once.
    rows = [
        {"user_id": f"s{i}", "at": at(0, 9, i), "success": True, "ip": "131.1.1.1"}
        for i in range(30)
    ]
    rows += [
        {"user_id": f"s{i}", "at": at(0, 9, i), "success": False, "ip": "131.1.1.1"}
        for i in range(4)
    ]
    assert stuffing_flags(tables_runner(logins=logins(*rows))).num_rows == 0


def test_typo_then_success_is_not_a_takeover() -> None:
    lg = logins(
        {"at": at(0, 20), "success": False, "device_id": "tv", **BERLIN},
        {"at": at(0, 20, 1), "success": True, "device_id": "tv", **BERLIN},
    )
    p = plays({"started_at": at(0, 20, 5), "device_id": "tv", **BERLIN})
    assert stuffing_flags(tables_runner(logins=lg, plays=p, users=users(u1=1))).num_rows == 0


def test_takeover_many_failures_then_new_device_abroad() -> None:
    rows = [
        {"at": at(0, 2, i), "success": False, "device_id": f"x{i}", "ip": f"9.9.{i}.1"}
        for i in range(6)
    ]
    rows.append({"at": at(0, 2, 10), "success": True, "device_id": "x9", "ip": "9.9.9.1"})
    p = plays(
        {"started_at": at(-3, 20), "device_id": "tv", **BERLIN},
        {"started_at": at(0, 4), "device_id": "evil", **TOKYO},
    )
    run = tables_runner(logins=logins(*rows), plays=p, users=users(u1=1))
    flags = stuffing_flags(run).to_pylist()
    assert len(flags) == 1 and flags[0]["score"] == 0.9
    assert "after 6 failures" in flags[0]["evidence"] and "in JP" in flags[0]["evidence"]
    # Without the change of behaviour (the new device stays home), no takeover.
    p2 = plays(
        {"started_at": at(-3, 20), "device_id": "tv", **BERLIN},
        {"started_at": at(0, 4), "device_id": "evil", **BERLIN},
    )
    run2 = tables_runner(logins=logins(*rows), plays=p2, users=users(u1=1))
    assert stuffing_flags(run2).num_rows == 0
    assert stuffing_flags(run, params=StuffingParams(takeover_min_failures=7)).num_rows == 0


def test_mobile_network_changing_ip_with_typos_is_not_flagged() -> None:
    # One member on a phone: a new address (and /24) every login, a typo now and then.
    rows = []
    for d in range(10):
        ip = f"101.{d}.{d * 7 % 255}.{d + 1}"
        rows.append({"at": at(d, 8), "success": d % 3 != 0, "ip": ip, "device_id": "phone"})
        rows.append({"at": at(d, 8, 1), "success": True, "ip": ip, "device_id": "phone"})
    assert stuffing_flags(tables_runner(logins=logins(*rows))).num_rows == 0
