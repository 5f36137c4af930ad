"""Hand-made ``ui_events`` logs whose statistics are worked out by hand in the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from reelmine.data.schema import TABLES, stored_schema

T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)


def table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows -> Arrow table with the warehouse schema (missing columns are null)."""
    return pa.Table.from_pylist(rows, schema=stored_schema(TABLES[name]))


class Log:
    """Builds ``ui_events`` rows: ``add(session, user, seconds, type, **columns)``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, session: str, user: str, secs: float, kind: str, **cols: Any) -> Log:
        self.rows.append(
            {
                "event_id": f"e{len(self.rows)}",
                "user_id": user,
                "at": T0 + timedelta(seconds=secs),
                "browse_session_id": session,
                "event_type": kind,
                **cols,
            }
        )
        return self

    def table(self) -> pa.Table:
        return table("ui_events", self.rows)


def funnel_log() -> Log:
    """Five sessions of three members.

    s1 u1 home: impression, click, play at +30 s      -> title page, play, ttfp 30
    s2 u1 home: impression only                        -> no play
    s3 u2 search: search, impression, click, play +90  -> title page, play, ttfp 90
    s4 u3 home: impression, click                      -> title page, no play
    s5 u3 home: impression, play at +60 from home (autoplay) -> no title page; ttfp 60
    """
    log = Log()
    log.add("s1", "u1", 0, "impression", page="home", title_id="t1", row_position=0)
    log.add("s1", "u1", 10, "click", page="home", title_id="t1", row_position=0)
    log.add("s1", "u1", 30, "play", page="title", title_id="t1")
    log.add("s2", "u1", 100, "impression", page="home", title_id="t2")
    log.add("s3", "u2", 200, "search", page="search", query="Toy")
    log.add("s3", "u2", 202, "impression", page="search", title_id="t1")
    log.add("s3", "u2", 250, "click", page="search", title_id="t1")
    log.add("s3", "u2", 290, "play", page="title", title_id="t1")
    log.add("s4", "u3", 400, "impression", page="home", title_id="t2")
    log.add("s4", "u3", 420, "click", page="home", title_id="t2")
    log.add("s5", "u3", 500, "impression", page="home", title_id="t3")
    log.add("s5", "u3", 560, "play", page="home", title_id="t3")
    return log


def funnel_plays() -> pa.Table:
    """u1 plays on tv twice and mobile once (primary: tv); u2 on mobile; u3 never."""
    rows = [
        {"play_id": f"p{i}", "user_id": u, "title_id": "t1", "started_at": T0, "device_type": d}
        for i, (u, d) in enumerate([("u1", "tv"), ("u1", "tv"), ("u1", "mobile"), ("u2", "mobile")])
    ]
    for r in rows:
        r["watched_seconds"] = 60.0
    return table("plays", rows)


def users() -> pa.Table:
    return table(
        "users",
        [
            {"user_id": "u1", "country": "US"},
            {"user_id": "u2", "country": "DE"},
            {"user_id": "u3", "country": "US"},
        ],
    )


def experiments() -> pa.Table:
    return table(
        "experiments",
        [
            {"experiment_id": "x", "user_id": "u1", "variant": "control", "assigned_at": T0},
            {"experiment_id": "x", "user_id": "u2", "variant": "treatment", "assigned_at": T0},
            {"experiment_id": "y", "user_id": "u3", "variant": "treatment", "assigned_at": T0},
        ],
    )


def titles() -> pa.Table:
    """A small catalogue for search and ranking."""
    rows = [
        ("t1", "Stranger Things", ["Sci-Fi", "Horror"], "kids fight monsters in a small town"),
        ("t2", "Funny Business", ["Comedy"], "a stand-up comedian runs a bakery"),
        ("t3", "Laugh Track", ["Comedy"], "a sitcom about a sitcom"),
        ("t4", "The Crown", ["Drama"], "the reign of a queen"),
        ("t5", "Dark", ["Sci-Fi", "Drama"], "time travel in a german town"),
        ("t6", "Ozark", ["Crime", "Drama"], "a family launders money"),
    ]
    return table(
        "titles",
        [
            {"title_id": t, "name": n, "kind": "movie", "genres": g, "description": d}
            for t, n, g, d in rows
        ],
    )
