"""Member features on the hand-made dataset of ``_data.py``, every value worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import ConfigError
from reelmine.marketing.features import (
    FEATURE_DOCS,
    age_bands,
    feature_docs,
    feature_sql,
    genre_column,
    member_features,
    parse_as_of,
    top_genres,
)
from tests.marketing import _data


@pytest.fixture(scope="module")
def feats() -> dict[str, dict]:
    t = member_features(_data.runner(), _data.AS_OF)
    return {r["user_id"]: r for r in t.to_pylist()}


def test_only_members_active_at_as_of(feats: dict[str, dict]) -> None:
    # u3 cancelled before as_of, u4 signed up after it; u2 cancels later and is still active.
    assert sorted(feats) == ["u1", "u2", "u5"]


def test_viewing_windows_known_answers(feats: dict[str, dict]) -> None:
    u1 = feats["u1"]
    # p5 started before as_of but ended after it, so it is not counted anywhere.
    assert u1["hours_7d"] == pytest.approx(1.5)
    assert u1["hours_28d"] == pytest.approx(3.5)
    assert u1["hours_90d"] == pytest.approx(4.5)
    assert u1["hours_prev_28d"] == pytest.approx(1.0)
    assert (u1["plays_7d"], u1["plays_28d"], u1["plays_90d"]) == (2, 3, 4)
    assert (u1["titles_28d"], u1["titles_90d"]) == (2, 3)
    assert (u1["days_active_7d"], u1["days_active_28d"], u1["days_active_90d"]) == (1, 2, 3)
    assert u1["tenure_days"] == pytest.approx(90.0)
    # Last finished play started 2026-02-28 21:10, 2 h 50 min before as_of.
    assert u1["days_since_last_play"] == pytest.approx(170 / 1440)
    assert u1["days_since_last_login"] == pytest.approx(245 / 1440)
    assert u1["trend_7d"] == pytest.approx(math.log(2.0 / (3.5 / 4 + 0.5)))
    assert u1["trend_28d"] == pytest.approx(math.log(4.5 / 2.0))


def test_mix_quality_and_engagement_known_answers(feats: dict[str, dict]) -> None:
    u1 = feats["u1"]
    assert u1["weekend_share"] == pytest.approx(1.5 / 4.5)  # p1 + p2 on Saturday
    assert u1["binge_share"] == pytest.approx(0.25)  # p2 starts 10 min after p1 ended
    assert u1["device_tv_share"] == pytest.approx(0.5)
    assert u1["device_mobile_share"] == pytest.approx(0.5)
    assert u1["device_web_share"] == 0.0
    assert u1["genre_drama_share"] == pytest.approx(4.0 / 4.5)  # t1 3 h + t3 1 h
    assert u1["genre_comedy_share"] == pytest.approx(1.5 / 4.5)  # t2 0.5 h + t3 1 h
    assert u1["rebuffer_ratio"] == pytest.approx(36.0 / (4.5 * 3600 + 36.0))
    assert u1["error_rate"] == pytest.approx(0.25)
    assert u1["startup_ms_mean"] == pytest.approx(2000.0)
    assert (u1["ratings_90d"], u1["mean_rating_90d"]) == (1, 4.0)
    assert (u1["searches_28d"], u1["browse_sessions_28d"]) == (1, 1)
    assert (u1["logins_28d"], u1["failed_logins_28d"]) == (1, 1)
    assert (u1["plan"], u1["country"], u1["age_band"]) == ("basic", "DE", "25-34")
    u2 = feats["u2"]
    assert u2["exit_before_start_rate"] == 1.0
    assert u2["device_web_share"] == 1.0
    assert u2["age_band"] == "55+"


def test_member_without_activity(feats: dict[str, dict]) -> None:
    u5 = feats["u5"]
    assert u5["hours_90d"] == 0.0 and u5["plays_90d"] == 0.0
    assert u5["days_since_last_play"] == u5["tenure_days"] == pytest.approx(59.0)
    assert u5["age_band"] == "unknown"
    assert u5["mean_rating_90d"] is None  # NaN/null when no rating


def test_churn_precursors_relative_to_own_habit(feats: dict[str, dict]) -> None:
    u1 = feats["u1"]
    # Last 14 days (from 2026-02-15): p1 and p2 on one day, 1.5 h.
    assert (u1["hours_14d"], u1["plays_14d"], u1["days_active_14d"]) == (1.5, 2, 1)
    # First play of the 90-day window p4 at 2026-01-20 12:00, 39.5 days before as_of; the
    # base of the trend is the 25.5 days before the last 14, with 3 h on 2 days.
    assert u1["viewing_span_days"] == pytest.approx(39.5)
    assert u1["trend_14d"] == pytest.approx(math.log((1.5 / 14 + 0.02) / (3.0 / 25.5 + 0.02)))
    assert u1["active_days_trend_14d"] == pytest.approx(1 / 14 - 2 / 25.5)
    # Usual gap between viewing days 39.5 / 3; the last play was 170 min ago.
    assert u1["gap_vs_usual"] == pytest.approx((170 / 1440) / (39.5 / 3))
    # No plays: the span is the tenure (59 days), the trend neutral, silence as long as usual.
    u5 = feats["u5"]
    assert u5["viewing_span_days"] == pytest.approx(59.0)
    assert u5["trend_14d"] == pytest.approx(0.0)
    assert u5["gap_vs_usual"] == pytest.approx(1.0)


def test_no_future_leakage() -> None:
    """Adding events at or after as_of (plays, ratings, UI, logins, a signup) changes nothing."""
    before = member_features(_data.runner(), _data.AS_OF)
    after = member_features(_data.runner(with_future=True), _data.AS_OF)
    assert after.equals(before)
    # The same future events do count once as_of moves past them.
    later = member_features(_data.runner(with_future=True), "2026-03-03")
    u1 = {r["user_id"]: r for r in later.to_pylist()}["u1"]
    assert u1["plays_7d"] == 4  # p1, p2, p5 and the future f1


def test_every_column_documented() -> None:
    t = member_features(_data.runner(), _data.AS_OF)
    docs = feature_docs(t)
    assert all(docs[c] for c in t.column_names)
    assert set(FEATURE_DOCS) <= set(t.column_names)


def test_sql_is_portable_text() -> None:
    sql = feature_sql(parse_as_of("2026-03-01"), ["Sci-Fi", "Kids' TV"])
    # Constructs DuckDB and Spark SQL both accept; no engine-specific date arithmetic.
    for banned in ("date_diff", "datediff", "epoch(", "unnest", "explode", "::", "dayofweek"):
        assert banned not in sql.lower()
    assert "'Kids'' TV'" in sql  # quotes escaped


def test_helpers() -> None:
    titles = pa.table({"genres": [["Drama"], ["Comedy", "Drama"], ["Action"], []]})
    assert top_genres(titles, 2) == ["Drama", "Action"]
    assert genre_column("Sci-Fi") == "genre_sci_fi_share"
    bands = age_bands(np.array([18.0, 25.0, 34.9, 54.0, 55.0, np.nan])).to_pylist()
    assert bands == ["<25", "25-34", "25-34", "45-54", "55+", "unknown"]
    assert parse_as_of("2026-03-01T12:00:00Z").hour == 12
    with pytest.raises(ConfigError):
        parse_as_of("yesterday")
