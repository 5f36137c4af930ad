"""Title metrics on the hand-made platform (answers worked out in tests/content/_data.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.content import performance as perf
from reelmine.data.engine import sql_on_tables
from reelmine.errors import ConfigError
from tests.content import _data


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return _data.all_tables()


def rows(t: pa.Table, key: str = "title_id") -> dict[str, dict]:
    return {r[key]: r for r in t.to_pylist()}


def test_views_are_hours_over_runtime_and_completion_past_90_percent(tables):
    m = rows(sql_on_tables(perf.title_metrics_sql(), **tables))
    # m1: 6000 + 3000 + 5400 + 0 s = 4 h over a 100-min runtime -> 2.4 views.
    assert m["m1"]["hours"] == pytest.approx(4.0)
    assert m["m1"]["views"] == pytest.approx(2.4)
    assert m["m1"]["members"] == 4
    assert m["m1"]["starts"] == 3  # u4 left before the video started
    assert m["m1"]["completion_rate"] == pytest.approx(0.5)  # 6000 and 5400 (= 90%) of 4
    assert m["m1"]["avg_watch_fraction"] == pytest.approx((1 + 0.5 + 0.9 + 0) / 4)
    assert m["m2"]["views"] == pytest.approx(4500 / 3000)
    # Series: 6300 s over the runtime of all three episodes (5400 s).
    assert m["s1"]["views"] == pytest.approx(6300 / 5400)
    assert m["s1"]["hours"] == pytest.approx(1.75)


def test_title_level_keeps_episodes_and_breakdowns_sum_to_total(tables):
    t = rows(sql_on_tables(perf.title_metrics_sql(level="title"), **tables))
    assert t["e1"]["views"] == pytest.approx(2700 / 1800)
    assert "s1" not in t
    by = sql_on_tables(perf.title_metrics_sql(by=["country", "age_band"], period="month"), **tables)
    m1 = by.filter(pa.compute.equal(by["title_id"], "m1")).to_pylist()
    assert sum(r["hours"] for r in m1) == pytest.approx(4.0)
    us_feb = [r for r in m1 if r["country"] == "US" and str(r["period"]) == "2026-02-01"]
    assert {r["age_band"] for r in us_feb} == {"<25", "55+"}


def test_time_window_filters_plays(tables):
    m = rows(sql_on_tables(perf.title_metrics_sql(since="2026-03-01"), **tables))
    assert set(m) == {"m1", "m2"}
    assert m["m2"]["hours"] == pytest.approx(1500 / 3600)


def test_series_metrics_and_season_dropoff(tables):
    s = sql_on_tables(perf.series_metrics_sql(), **tables).to_pylist()[0]
    assert s["title_id"] == "s1"
    assert s["episodes_per_viewer"] == pytest.approx(2.0)  # u2: 3, u1: 1
    assert s["binge_rate"] == pytest.approx(0.5)  # (u2, Feb-03) binged, (u1, Feb-04) not
    assert s["seasons"] == 2
    d = sql_on_tables(perf.season_dropoff_sql(), **tables).to_pylist()
    assert [(r["season"], r["members"]) for r in d] == [(1, 2), (2, 1)]
    assert d[1]["share_of_previous"] == pytest.approx(0.5)


def test_ratings_on_own_scale(tables):
    r = rows(sql_on_tables(perf.ratings_sql(), **tables))
    assert r["m1"]["ratings"] == 2 and r["m1"]["mean_rating"] == pytest.approx(3.0)


def test_scorecard_ranks_trend_and_cost_per_view(tables):
    cur = sql_on_tables(perf.title_metrics_sql(), **tables)
    prev = pa.table({"title_id": ["m1", "m2"], "views": [1.2, 3.0]})
    sc = rows(perf.scorecard(cur, tables["titles"], prev))
    assert sc["m1"]["cost_per_view"] == pytest.approx(1000 / 2.4)
    assert sc["m2"]["cost_per_view"] is None
    assert sc["m1"]["trend"] == pytest.approx(1.0)  # 2.4 vs 1.2
    assert sc["m2"]["trend"] == pytest.approx(-0.5)
    assert sc["s1"]["trend"] is None
    # Drama (first genre): m1 2.4 > s1 1.17; Comedy: m2 alone.
    assert (sc["m1"]["rank_in_genre"], sc["s1"]["rank_in_genre"]) == (1, 2)
    assert sc["m2"]["rank_in_genre"] == 1 and sc["m2"]["genre"] == "Comedy"
    assert all(r["rank_in_year"] == 1 for r in sc.values())  # one title per release year


def test_group_rank():
    r = perf.group_rank(np.array(["a", "b", "a", "a"]), np.array([1.0, 5.0, 3.0, np.nan]))
    assert r.tolist() == [2, 1, 1, 3]


def test_residuals_flag_the_planted_overperformer(rng):
    n = 60
    genres = rng.choice(["Drama", "Comedy", "Action"], n)
    effect = {"Drama": 3.0, "Comedy": 2.0, "Action": 4.0}
    views = np.exp(np.array([effect[g] for g in genres]) + rng.normal(0, 0.1, n))
    views[7] *= 10  # a hit
    views[11] /= 10  # a flop
    ids = [f"t{i}" for i in range(n)]
    titles = _data.table(
        "titles",
        [
            {"title_id": t, "name": t, "genres": [g], "release_year": 2020, "kind": "movie"}
            for t, g in zip(ids, genres, strict=True)
        ],
    )
    res = perf.performance_residuals(
        pa.table({"title_id": ids, "views": views}), titles, z_threshold=4.0
    )
    lab = rows(res)
    assert lab["t7"]["label"] == "over" and lab["t11"]["label"] == "under"
    assert sum(r["label"] != "as expected" for r in lab.values()) == 2
    assert "genre=" in lab["t7"]["drivers"]
    assert lab["t7"]["expected_views"] == pytest.approx(np.exp(effect[genres[7]]), rel=0.3)


def test_renewal_candidates_rank_engagement_and_retention(tables):
    eng = sql_on_tables(perf.renewal_sql(), **tables)
    r = rows(eng)
    # m1 viewers u1, u2, u3, u4: u1 and u3 cancelled.
    assert r["m1"]["retained_rate"] == pytest.approx(0.5)
    assert r["s1"]["retained_rate"] == pytest.approx(0.5)  # u1 cancelled, u2 stayed
    # Up to Mar-01: viewers u1, u2, u3; u1 cancels after the cutoff so counts as retained.
    r2 = rows(sql_on_tables(perf.renewal_sql(until="2026-03-01"), **tables))
    assert r2["m1"]["retained_rate"] == pytest.approx(2 / 3)
    ranked = perf.renewal_candidates(eng, kind=None)
    assert ranked.num_rows == 3
    assert ranked["score"].to_pylist() == sorted(ranked["score"].to_pylist(), reverse=True)
    assert perf.renewal_candidates(eng)["title_id"].to_pylist() == ["s1"]


def test_bad_options_raise():
    with pytest.raises(ConfigError):
        perf.title_metrics_sql(period="fortnight")
    with pytest.raises(ConfigError):
        perf.title_metrics_sql(by=["zip"])
    with pytest.raises(ConfigError):
        perf.title_metrics_sql(since="yesterday")
