"""Periods from day numbers: weeks, days and months land where ``date_trunc`` puts them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from reelmine.content.performance import title_metrics_sql
from reelmine.content.trending import daily_views_sql
from reelmine.content.trends import genre_share_sql
from reelmine.data.engine import sql_on_tables
from reelmine.market.markets import members_sql

TS = pa.timestamp("us", tz="UTC")


def _tables() -> dict[str, pa.Table]:
    # Sunday 23:59, Monday 00:00 (ISO week boundary), a month boundary, and 1969 (negative
    # day numbers must floor, not truncate towards zero).
    starts = [
        datetime(2026, 1, 4, 23, 59, tzinfo=UTC),
        datetime(2026, 1, 5, 0, 0, tzinfo=UTC),
        datetime(2026, 1, 31, 23, 0, tzinfo=UTC),
        datetime(2026, 2, 1, 1, 0, tzinfo=UTC),
        datetime(1969, 12, 31, 12, 0, tzinfo=UTC),
    ]
    n = len(starts)
    plays = pa.table(
        {
            "play_id": [f"p{i}" for i in range(n)],
            "user_id": ["u1", "u2", "u1", "u1", "u2"],
            "title_id": ["m1"] * n,
            "started_at": pa.array(starts, TS),
            "ended_at": pa.array(starts, TS),
            "watched_seconds": [3600.0] * n,
            "exit_before_start": [False] * n,
            "country": ["US"] * n,
            "device_type": ["tv"] * n,
        }
    )
    users = pa.table(
        {
            "user_id": ["u1", "u2"],
            "country": ["US", "GB"],
            "age": [30, 50],
            "gender": ["f", "m"],
            "plan": ["basic", "basic"],
            "signup_at": pa.array([datetime(1969, 1, 1, tzinfo=UTC)] * 2, TS),
            "cancelled_at": pa.array([None, None], TS),
        }
    )
    titles = pa.table(
        {
            "title_id": ["m1"],
            "kind": ["movie"],
            "series_id": pa.array([None], pa.string()),
            "runtime_minutes": [60.0],
            "genres": [["Drama"]],
            "name": ["M1"],
        }
    )
    return {"plays": plays, "users": users, "titles": titles}


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (
            "week",
            {
                date(1969, 12, 29): 1,
                date(2025, 12, 29): 1,
                date(2026, 1, 5): 1,
                date(2026, 1, 26): 2,
            },
        ),
        (
            "day",
            {
                date(1969, 12, 31): 1,
                date(2026, 1, 4): 1,
                date(2026, 1, 5): 1,
                date(2026, 1, 31): 1,
                date(2026, 2, 1): 1,
            },
        ),
        ("month", {date(1969, 12, 1): 1, date(2026, 1, 1): 3, date(2026, 2, 1): 1}),
    ],
)
def test_title_metrics_periods(period: str, expected: dict[date, int]) -> None:
    t = sql_on_tables(title_metrics_sql(period=period), **_tables())
    got = dict(zip(t["period"].to_pylist(), t["plays"].to_pylist(), strict=True))
    assert got == expected


def test_genre_shares_and_members_by_week() -> None:
    t = sql_on_tables(genre_share_sql(period="week", by=["country"]), **_tables())
    rows = {(r["period"], r["country"]): r["members"] for r in t.to_pylist()}
    # Week of 2026-01-26 holds u1's two plays (Jan 31 and Feb 1): one member.
    assert rows == {
        (date(1969, 12, 29), "GB"): 1,
        (date(2025, 12, 29), "US"): 1,
        (date(2026, 1, 5), "GB"): 1,
        (date(2026, 1, 26), "US"): 1,
    }
    m = sql_on_tables(members_sql(period="week", by=[]), **_tables())
    active = dict(zip(m["period"].to_pylist(), m["active_members"].to_pylist(), strict=True))
    assert active == {
        date(1969, 12, 29): 1,
        date(2025, 12, 29): 1,
        date(2026, 1, 5): 1,
        date(2026, 1, 26): 1,
    }


def test_daily_views_days() -> None:
    for level in ("show", "genre"):
        t = sql_on_tables(daily_views_sql(level=level), **_tables())
        days = sorted(t["day"].to_pylist())
        assert days == [
            date(1969, 12, 31),
            date(2026, 1, 4),
            date(2026, 1, 5),
            date(2026, 1, 31),
            date(2026, 2, 1),
        ], level
