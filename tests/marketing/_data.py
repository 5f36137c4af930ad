"""A hand-made dataset whose member features are worked out by hand (see test_features.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from reelmine.data.engine import runner_on_tables
from reelmine.data.schema import TABLES, stored_schema

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday


def ts(text: str) -> datetime:
    """UTC datetime from ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as a warehouse-shaped table (missing columns null)."""
    return pa.Table.from_pylist(rows, schema=stored_schema(TABLES[name]))


def base_rows() -> dict[str, list[dict[str, Any]]]:
    """The dataset as rows, before any future event is added."""
    users = [
        dict(
            user_id="u1",
            signup_at=ts("2025-12-01 00:00"),
            country="DE",
            age=30,
            plan="basic",
            max_streams=1,
        ),
        dict(
            user_id="u2",
            signup_at=ts("2026-02-20 00:00"),
            country="US",
            age=60,
            plan="premium",
            max_streams=4,
            cancelled_at=ts("2026-03-10 12:00"),
        ),
        dict(
            user_id="u3",
            signup_at=ts("2026-01-01 00:00"),
            country="US",
            age=40,
            plan="basic",
            cancelled_at=ts("2026-02-15 00:00"),
        ),
        dict(user_id="u4", signup_at=ts("2026-03-05 00:00"), country="US", age=22, plan="basic"),
        dict(user_id="u5", signup_at=ts("2026-01-01 00:00"), country="FR", plan="standard"),
    ]
    titles = [
        dict(title_id="t1", name="One", genres=["Drama"]),
        dict(title_id="t2", name="Two", genres=["Comedy"]),
        dict(title_id="t3", name="Three", genres=["Drama", "Comedy"]),
    ]

    def play(
        pid: str, user: str, title: str, start: str, end: str, secs: float, dev: str, **kw: Any
    ) -> dict[str, Any]:
        return dict(
            play_id=pid,
            user_id=user,
            title_id=title,
            started_at=ts(start),
            ended_at=ts(end),
            watched_seconds=secs,
            device_type=dev,
            **kw,
        )

    plays = [
        play(
            "p1",
            "u1",
            "t1",
            "2026-02-28 20:00",
            "2026-02-28 21:00",
            3600,
            "tv",
            rebuffer_ms=36000.0,
            startup_ms=1000.0,
        ),
        play(
            "p2",
            "u1",
            "t2",
            "2026-02-28 21:10",
            "2026-02-28 21:40",
            1800,
            "tv",
            error_code="E1",
            startup_ms=3000.0,
        ),
        play("p3", "u1", "t1", "2026-02-10 12:00", "2026-02-10 14:00", 7200, "mobile"),
        play(
            "p4",
            "u1",
            "t3",
            "2026-01-20 12:00",
            "2026-01-20 13:00",
            3600,
            "mobile",
            exit_before_start=False,
        ),
        # Started before as_of but ended after it: not yet a finished play at as_of.
        play("p5", "u1", "t2", "2026-02-28 23:30", "2026-03-01 00:30", 3600, "tv"),
        play(
            "p6",
            "u2",
            "t2",
            "2026-02-25 10:00",
            "2026-02-25 10:10",
            600,
            "web",
            exit_before_start=True,
        ),
        play("p7", "u3", "t1", "2026-02-01 10:00", "2026-02-01 11:00", 3600, "tv"),
    ]
    ratings = [
        dict(user_id="u1", title_id="t1", rating=4.0, rated_at=ts("2026-02-27 10:00")),
    ]
    ui_events = [
        dict(
            event_id="e1",
            user_id="u1",
            at=ts("2026-02-20 10:00"),
            browse_session_id="s1",
            event_type="search",
            query="drama",
        ),
        dict(
            event_id="e2",
            user_id="u1",
            at=ts("2026-02-20 10:01"),
            browse_session_id="s1",
            event_type="click",
            title_id="t1",
        ),
        dict(
            event_id="e3",
            user_id="u1",
            at=ts("2026-01-01 10:01"),
            browse_session_id="s0",
            event_type="search",
            query="old",
        ),
    ]
    logins = [
        dict(login_id="l1", user_id="u1", at=ts("2026-02-28 19:54"), success=False),
        dict(login_id="l2", user_id="u1", at=ts("2026-02-28 19:55"), success=True),
        dict(login_id="l3", user_id="u2", at=ts("2026-02-20 09:00"), success=True),
    ]
    return dict(
        users=users, titles=titles, plays=plays, ratings=ratings, ui_events=ui_events, logins=logins
    )


def future_rows() -> dict[str, list[dict[str, Any]]]:
    """Events at or after AS_OF: none of them may change the features."""
    return dict(
        users=[
            dict(user_id="u9", signup_at=ts("2026-03-01 00:00"), country="US", age=20, plan="basic")
        ],
        plays=[
            dict(
                play_id="f1",
                user_id="u1",
                title_id="t1",
                started_at=ts("2026-03-01 00:00"),
                ended_at=ts("2026-03-01 02:00"),
                watched_seconds=7200.0,
                device_type="tv",
                rebuffer_ms=99999.0,
                error_code="E9",
            ),
            dict(
                play_id="f2",
                user_id="u5",
                title_id="t2",
                started_at=ts("2026-03-02 00:00"),
                ended_at=ts("2026-03-02 02:00"),
                watched_seconds=7200.0,
                device_type="mobile",
            ),
        ],
        ratings=[dict(user_id="u1", title_id="t2", rating=1.0, rated_at=ts("2026-03-02 00:00"))],
        ui_events=[
            dict(
                event_id="f3",
                user_id="u1",
                at=ts("2026-03-01 00:00"),
                browse_session_id="s9",
                event_type="search",
                query="x",
            )
        ],
        logins=[dict(login_id="f4", user_id="u5", at=ts("2026-03-01 00:00"), success=True)],
    )


def tables(with_future: bool = False) -> dict[str, pa.Table]:
    """The dataset as contract tables, optionally with the future events added."""
    rows = base_rows()
    if with_future:
        for name, extra in future_rows().items():
            rows[name] = rows[name] + extra
    return {name: table(name, r) for name, r in rows.items()}


def runner(with_future: bool = False):  # noqa: ANN201 - a SqlRunner
    """A SQL runner over the hand-made tables."""
    return runner_on_tables(**tables(with_future))
