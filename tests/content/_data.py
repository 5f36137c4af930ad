"""A hand-made platform whose metrics are worked out by hand in the tests.

Titles: movie m1 (Drama, 100 min, cost 1000), movie m2 (Comedy|Drama, 50 min, DE only),
series s1 (Drama) with episodes e1 (S1E1), e2 (S1E2), e3 (S2E1) of 30 min each.
Members: u1 (US, 20, basic, Jan-10 .. cancelled Mar-05), u2 (DE, 40, standard, Jan-20),
u3 (US, 60, premium, Feb-02 .. cancelled Feb-20), u4 (DE, 30, basic, 2025-Dec-01).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from reelmine.data.schema import TABLES, stored_schema
from reelmine.data.warehouse import Warehouse


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows -> Arrow table with the warehouse schema (missing columns are null)."""
    return pa.Table.from_pylist(rows, schema=stored_schema(TABLES[name]))


def titles() -> pa.Table:
    base = {"language": "en", "added_at": ts("2025-01-01T00:00:00"), "countries": []}
    ep = {
        **base,
        "kind": "episode",
        "genres": ["Drama"],
        "release_year": 2022,
        "runtime_minutes": 30.0,
        "series_id": "s1",
    }
    return table(
        "titles",
        [
            {
                **base,
                "title_id": "m1",
                "name": "Alpha (2020)",
                "kind": "movie",
                "genres": ["Drama"],
                "release_year": 2020,
                "runtime_minutes": 100.0,
                "cost": 1000.0,
            },
            {
                **base,
                "title_id": "m2",
                "name": "Beta",
                "kind": "movie",
                "genres": ["Comedy", "Drama"],
                "release_year": 2021,
                "runtime_minutes": 50.0,
                "countries": ["DE"],
            },
            {
                **base,
                "title_id": "s1",
                "name": "Show",
                "kind": "series",
                "genres": ["Drama"],
                "release_year": 2022,
            },
            {**ep, "title_id": "e1", "name": "Show S1E1"},
            {**ep, "title_id": "e2", "name": "Show S1E2"},
            {**ep, "title_id": "e3", "name": "Show S2E1"},
        ],
    )


def users() -> pa.Table:
    return table(
        "users",
        [
            {
                "user_id": "u1",
                "signup_at": ts("2026-01-10T00:00:00"),
                "country": "US",
                "age": 20,
                "plan": "basic",
                "cancelled_at": ts("2026-03-05T00:00:00"),
            },
            {
                "user_id": "u2",
                "signup_at": ts("2026-01-20T00:00:00"),
                "country": "DE",
                "age": 40,
                "plan": "standard",
            },
            {
                "user_id": "u3",
                "signup_at": ts("2026-02-02T00:00:00"),
                "country": "US",
                "age": 60,
                "plan": "premium",
                "cancelled_at": ts("2026-02-20T00:00:00"),
            },
            {
                "user_id": "u4",
                "signup_at": ts("2025-12-01T00:00:00"),
                "country": "DE",
                "age": 30,
                "plan": "basic",
            },
        ],
    )


def plays() -> pa.Table:
    rows = [
        ("u1", "m1", "2026-02-01T20:00:00", 6000.0, False),  # 100%: complete
        ("u2", "m1", "2026-02-01T21:00:00", 3000.0, False),  # 50%
        ("u3", "m1", "2026-02-02T20:00:00", 5400.0, False),  # exactly 90%: complete
        ("u1", "m2", "2026-02-03T20:00:00", 3000.0, False),  # 100% of 50 min
        ("u2", "e1", "2026-02-03T10:00:00", 1800.0, False),  # u2 binges 3 episodes
        ("u2", "e2", "2026-02-03T11:00:00", 1800.0, False),
        ("u2", "e3", "2026-02-03T12:00:00", 1800.0, False),
        ("u1", "e1", "2026-02-04T20:00:00", 900.0, False),
        ("u4", "m2", "2026-03-01T20:00:00", 1500.0, False),
        ("u4", "m1", "2026-03-02T20:00:00", 0.0, True),  # left before the video started
    ]
    return table(
        "plays",
        [
            {
                "play_id": f"p{i}",
                "user_id": u,
                "title_id": t,
                "started_at": ts(s),
                "watched_seconds": w,
                "exit_before_start": x,
                "country": "XX",
            }
            for i, (u, t, s, w, x) in enumerate(rows)
        ],
    )


def ratings() -> pa.Table:
    return table(
        "ratings",
        [
            {
                "user_id": "u1",
                "title_id": "m1",
                "rating": 4.0,
                "rated_at": ts("2026-02-02T00:00:00"),
            },
            {
                "user_id": "u2",
                "title_id": "m1",
                "rating": 2.0,
                "rated_at": ts("2026-02-02T00:00:00"),
            },
        ],
    )


def ui_events() -> pa.Table:
    rows = []
    queries = (
        ["Toy Story"] * 4
        + ["toy stroy"] * 3
        + ["The  Midnight Heist"] * 5
        + ["drama"] * 4
        + ["ocean of stars"] * 2
    )
    for i, q in enumerate(queries):
        rows.append(
            {
                "event_id": f"e{i}",
                "user_id": f"u{1 + i % 4}",
                "at": ts("2026-02-05T10:00:00"),
                "event_type": "search",
                "query": q,
            }
        )
    rows.append(
        {
            "event_id": "c1",
            "user_id": "u1",
            "at": ts("2026-02-05T10:00:00"),
            "event_type": "click",
            "title_id": "m1",
        }
    )
    return table("ui_events", rows)


def all_tables() -> dict[str, pa.Table]:
    return {
        "titles": titles(),
        "users": users(),
        "plays": plays(),
        "ratings": ratings(),
        "ui_events": ui_events(),
    }


def search_titles() -> pa.Table:
    return table(
        "titles",
        [
            {"title_id": "t1", "name": "Toy Story (1995)", "genres": ["Animation", "Drama"]},
            {"title_id": "t2", "name": "Heat (1995)", "genres": ["Action"]},
        ],
    )


def load_warehouse(path: Path, tables: dict[str, pa.Table]) -> Path:
    """A warehouse file holding ``tables`` (inserted as ingestion would store them)."""
    with Warehouse(path) as wh:
        con = wh.connection
        for name, t in tables.items():
            con.register("_src", t)
            wh.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _src")
            con.unregister("_src")
    return path
