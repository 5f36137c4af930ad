"""Members, activity, plan mix and cohort retention on the hand-made platform."""

from __future__ import annotations

import pytest

from reelmine.data.engine import sql_on_tables
from reelmine.errors import ConfigError
from reelmine.market import markets
from tests.content import _data


@pytest.fixture(scope="module")
def tables():
    return _data.all_tables()


def test_members_signups_cancellations_activity(tables):
    t = sql_on_tables(markets.members_sql(period="month", by=["country"]), **tables)
    r = {(str(x["period"]), x["country"]): x for x in t.to_pylist()}
    us_feb = r[("2026-02-01", "US")]  # u1, u3 (signed up and cancelled in Feb)
    assert (us_feb["members"], us_feb["signups"], us_feb["cancellations"]) == (2, 1, 1)
    assert us_feb["active_members"] == 2
    assert us_feb["hours"] == pytest.approx((6000 + 3000 + 900 + 5400) / 3600)
    assert us_feb["hours_per_member"] == pytest.approx(15300 / 3600 / 2)
    de_feb = r[("2026-02-01", "DE")]  # u2 active, u4 idle
    assert (de_feb["members"], de_feb["active_members"]) == (2, 1)
    assert de_feb["active_rate"] == pytest.approx(0.5)
    us_mar = r[("2026-03-01", "US")]  # u3 gone; u1 cancels in March
    assert (us_mar["members"], us_mar["cancellations"], us_mar["active_members"]) == (1, 1, 0)
    de_mar = r[("2026-03-01", "DE")]
    assert de_mar["active_members"] == 1
    assert de_mar["hours"] == pytest.approx(1500 / 3600)


def test_plan_mix_counts_current_members(tables):
    t = sql_on_tables(markets.plan_mix_sql(), **tables).to_pylist()
    assert {(r["country"], r["plan"]): r["share"] for r in t} == {
        ("DE", "basic"): 0.5,
        ("DE", "standard"): 0.5,
    }  # both US members cancelled
    every = sql_on_tables(markets.plan_mix_sql(by=[], active_only=False), **tables).to_pylist()
    assert {r["plan"]: r["members"] for r in every} == {"basic": 2, "standard": 1, "premium": 1}


def test_cohort_retention_by_hand(tables):
    curves = markets.retention_curves(sql_on_tables(markets.cohort_sql(), **tables))
    c = {(str(r["cohort"]), r["offset"]): r for r in curves.to_pylist()}
    # Jan cohort: u1 (cancels in March = offset 2) and u2; data end in March -> offsets 0..2.
    assert [c[("2026-01-01", k)]["retention"] for k in range(3)] == [1.0, 1.0, 0.5]
    assert ("2026-01-01", 3) not in c
    # Feb cohort: u3 cancelled in the signup month.
    assert c[("2026-02-01", 0)]["retention"] == 0.0
    assert c[("2026-02-01", 1)]["retained"] == 0
    # Dec cohort: u4 stays; observed for 4 months.
    assert [c[("2025-12-01", k)]["retention"] for k in range(4)] == [1.0] * 4
    assert c[("2025-12-01", 0)]["members"] == 1


def test_cohorts_by_country(tables):
    curves = markets.retention_curves(sql_on_tables(markets.cohort_sql(by=["country"]), **tables))
    jan = {
        r["country"]: r
        for r in curves.to_pylist()
        if str(r["cohort"]) == "2026-01-01" and r["offset"] == 2
    }
    assert jan["US"]["retention"] == 0.0 and jan["DE"]["retention"] == 1.0


def test_bad_breakdowns():
    with pytest.raises(ConfigError):
        markets.members_sql(by=["device_type"])
    with pytest.raises(ConfigError):
        markets.members_sql(period="all")
