"""Demand vs supply, opportunities, regional taste (lift with CI) and market similarity."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.data.engine import sql_on_tables
from reelmine.market import opportunity as opp
from tests.content import _data


@pytest.fixture(scope="module")
def ds():
    return sql_on_tables(opp.demand_supply_sql(), **_data.all_tables())


def test_demand_vs_supply_by_hand(ds):
    r = {(x["country"], x["genre"]): x for x in ds.to_pylist()}
    # Supply: US sees m1 and s1 (Drama); DE also m2 (half Comedy, half Drama).
    assert r[("US", "Drama")]["supply_share"] == pytest.approx(1.0)
    assert r[("DE", "Comedy")]["supply_share"] == pytest.approx(0.5 / 3)
    # Demand (member's country): US Comedy = half of u1's m2 play, 1500 of 15300 s.
    assert r[("US", "Comedy")]["demand_share"] == pytest.approx(1500 / 15300)
    assert r[("US", "Comedy")]["supply_share"] == 0.0
    assert r[("US", "Comedy")]["gap"] == pytest.approx(1500 / 15300)
    assert r[("DE", "Drama")]["demand_share"] == pytest.approx(9150 / 9900)
    assert r[("DE", "Drama")]["gap"] == pytest.approx(9150 / 9900 - 2.5 / 3)


def test_opportunities_ranked_by_excess_hours(ds):
    top = opp.opportunities(ds)
    assert top["excess_hours"].to_pylist() == sorted(top["excess_hours"].to_pylist(), reverse=True)
    assert all(g > 0 for g in top["gap"].to_pylist())
    first = top.to_pylist()[0]
    assert first["excess_hours"] == pytest.approx(
        first["gap"] * (15300 / 3600 if first["country"] == "US" else 9900 / 3600)
    )
    withs = opp.opportunities(
        ds, search_gaps=pa.table({"country": ["US"], "gap_searches": [7.0], "gap_share": [0.1]})
    )
    us = [r for r in withs.to_pylist() if r["country"] == "US"]
    assert us and all(r["gap_searches"] == 7.0 for r in us)


def test_lift_and_interval():
    taste = pa.table(
        {
            "country": ["A", "A", "B", "B"],
            "key": ["x", "y", "x", "y"],
            "starts": [300.0, 700.0, 100.0, 900.0],
            "members": [50, 50, 50, 50],
        }
    )
    t = {(r["country"], r["key"]): r for r in opp.taste_lift(taste).to_pylist()}
    ax = t[("A", "x")]
    assert ax["lift"] == pytest.approx(0.3 / 0.2)
    # log(0.3/0.1) +- 1.96 * sqrt(0.7/300 + 0.9/100), rescaled to the global mix.
    se = np.sqrt(0.7 / 300 + 0.9 / 100)
    assert ax["lift_low"] == pytest.approx(3 * np.exp(-1.96 * se) * 1.5 / 3, rel=1e-3)
    assert ax["lift_low"] > 1 and ax["over_index"]
    assert not t[("B", "x")]["over_index"] and t[("B", "x")]["lift_high"] < 1
    assert opp.taste_lift(taste, min_members=60).num_rows == 0


def test_market_similarity():
    taste = pa.table(
        {
            "country": ["A", "A", "B", "B", "C", "C"],
            "key": ["x", "y"] * 3,
            "starts": [10.0, 0.0, 20.0, 0.0, 0.0, 5.0],
        }
    )
    s = {
        (r["country_a"], r["country_b"]): r["similarity"]
        for r in opp.market_similarity(taste).to_pylist()
    }
    assert s[("A", "B")] == pytest.approx(1.0) and s[("A", "C")] == pytest.approx(0.0)
    assert len(s) == 6
