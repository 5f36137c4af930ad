"""Browse funnels on a hand-made log whose counts are worked out in tests/interface/_events.py."""

from __future__ import annotations

import pytest

from reelmine.data.engine import runner_on_tables
from reelmine.errors import ConfigError, DataError
from reelmine.interface import funnels
from tests.interface import _events


@pytest.fixture(scope="module")
def run():
    return runner_on_tables(
        ui_events=_events.funnel_log().table(),
        plays=_events.funnel_plays(),
        users=_events.users(),
        experiments=_events.experiments(),
    )


def test_overall_funnel_counts(run):
    c = run(funnels.funnel_sql()).to_pylist()[0]
    assert c["sessions"] == 5
    assert c["title_sessions"] == 3  # s1, s3, s4
    assert c["play_sessions"] == 2  # s1, s3 (s5 played without a title page)
    assert c["no_play_sessions"] == 2  # s2, s4
    assert (c["members"], c["title_members"], c["play_members"]) == (3, 3, 2)
    # time to first play over sessions with a play: 30, 90, 60
    assert c["ttfp_mean_s"] == pytest.approx(60.0)
    assert c["ttfp_median_s"] == pytest.approx(60.0)


def test_steps_conversion_and_drop_off(run):
    steps = funnels.funnel_steps(run(funnels.funnel_sql())).to_pylist()
    assert [s["step"] for s in steps] == ["browse", "title page", "play"]
    assert [s["sessions"] for s in steps] == [5, 3, 2]
    assert [s["conversion"] for s in steps] == pytest.approx([1.0, 3 / 5, 2 / 3])
    assert [s["drop_off"] for s in steps] == pytest.approx([0.0, 2 / 5, 1 / 3])
    assert [s["share_of_start"] for s in steps] == pytest.approx([1.0, 0.6, 0.4])


def test_by_entry_and_device(run):
    by = ("entry", "device_type")
    s = {
        (r["entry"], r["device_type"]): r
        for r in funnels.funnel_summary(run(funnels.funnel_sql(by=by)), by).to_pylist()
    }
    # u1 (tv: 2 of 3 plays) has s1, s2; u2 (mobile) has s3 via search; u3 (no plays) s4, s5
    assert set(s) == {("home", "tv"), ("search", "mobile"), ("home", "unknown")}
    assert s["home", "tv"]["sessions"] == 2 and s["home", "tv"]["play_rate"] == 0.5
    assert s["home", "tv"]["no_play_share"] == 0.5
    assert s["search", "mobile"]["ttfp_mean_s"] == pytest.approx(90.0)
    assert s["home", "unknown"]["title_rate"] == 0.5 and s["home", "unknown"]["play_rate"] == 0


def test_by_country(run):
    rows = funnels.funnel_summary(run(funnels.funnel_sql(by=["country"])), ["country"])
    s = {r["country"]: r for r in rows.to_pylist()}
    assert s["US"]["sessions"] == 4 and s["US"]["members"] == 2
    assert s["DE"]["sessions"] == 1 and s["DE"]["play_rate"] == 1.0
    assert rows["country"].to_pylist()[0] == "US"  # most sessions first


def test_by_variant_keeps_only_assigned_members(run):
    c = run(funnels.funnel_sql(by=["variant"], experiment_id="x"))
    steps = funnels.funnel_steps(c, ["variant"]).to_pylist()
    by = {(s["variant"], s["step"]): s["sessions"] for s in steps}
    # u3 is in experiment y only: its sessions are left out
    assert by == {
        ("control", "browse"): 2,
        ("control", "title page"): 1,
        ("control", "play"): 1,
        ("treatment", "browse"): 1,
        ("treatment", "title page"): 1,
        ("treatment", "play"): 1,
    }


def test_time_window_filters_events(run):
    c = run(funnels.funnel_sql(since="2026-01-06")).to_pylist()[0]
    assert c["sessions"] == 0


def test_bad_arguments():
    with pytest.raises(ConfigError, match="unknown breakdown"):
        funnels.funnel_sql(by=["os"])
    with pytest.raises(ConfigError, match="experiment"):
        funnels.funnel_sql(by=["variant"])
    with pytest.raises(ConfigError, match="repeated"):
        funnels.funnel_sql(by=["entry", "entry"])
    with pytest.raises(DataError, match="sessions"):
        import pyarrow as pa

        funnels.funnel_steps(pa.table({"x": [1]}))


def test_experiment_id_is_quoted():
    sql = funnels.funnel_sql(by=["variant"], experiment_id="a'b")
    assert "'a''b'" in sql
