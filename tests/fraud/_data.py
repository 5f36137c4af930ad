"""Hand-made event tables for the fraud tests (contract column names, raw IPs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from reelmine.data.schema import LOGINS, PLAYS, USERS, arrow_type

DAY0 = datetime(2026, 3, 4, tzinfo=UTC)


def at(day: int = 0, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A UTC time on day ``day`` after 2026-03-04."""
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def _table(spec: Any, rows: list[dict[str, Any]], defaults: dict[str, Any]) -> pa.Table:
    names: list[str] = []
    for r in [defaults, *rows]:
        names += [k for k in r if k not in names]
    cols = {}
    for n in names:
        typ = arrow_type(spec.column(n).type)
        cols[n] = pa.array([r.get(n, defaults.get(n)) for r in rows], typ)
    return pa.table(cols)


def plays(*rows: dict[str, Any]) -> pa.Table:
    """A plays table; ``play_id`` defaults to p0, p1, ..."""
    full = [{"play_id": f"p{i}", "title_id": "t1", **r} for i, r in enumerate(rows)]
    return _table(PLAYS, full, {"user_id": "u1"})


def logins(*rows: dict[str, Any]) -> pa.Table:
    """A logins table; ``login_id`` defaults to l0, l1, ..."""
    full = [{"login_id": f"l{i}", "success": True, **r} for i, r in enumerate(rows)]
    return _table(LOGINS, full, {"user_id": "u1"})


def users(**max_streams: int) -> pa.Table:
    """A users table with the given plan limits, e.g. ``users(u1=2)``."""
    ids = list(max_streams)
    return pa.table(
        {
            "user_id": pa.array(ids, pa.string()),
            "country": pa.array(["DE"] * len(ids), pa.string()),
            "max_streams": pa.array(
                [max_streams[i] for i in ids], arrow_type(USERS.column("max_streams").type)
            ),
        }
    )


BERLIN = {"latitude": 52.52, "longitude": 13.40, "city": "Berlin", "country": "DE"}
MUNICH = {"latitude": 48.14, "longitude": 11.58, "city": "Munich", "country": "DE"}
PARIS = {"latitude": 48.86, "longitude": 2.35, "city": "Paris", "country": "FR"}
TOKYO = {"latitude": 35.68, "longitude": 139.69, "city": "Tokyo", "country": "JP"}
NEW_YORK = {"latitude": 40.71, "longitude": -74.01, "city": "New York", "country": "US"}
