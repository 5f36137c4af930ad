"""In-process request metrics: a bounded log of (time, route, status, latency).

The ASGI middleware appends one tuple per request to a ring buffer (O(1), no locks needed
under the GIL); the aggregate charts of the "API & service" page are computed on demand with
NumPy over a snapshot. Routes are recorded by their template (``/v1/users/{user_id}/rows``),
never by the raw path, so member IDs do not end up in metrics and cardinality stays bounded.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import numpy as np

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "(unmatched)"


class RequestLog:
    """Ring buffer of the last ``capacity`` requests."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._items: deque[tuple[float, str, int, float]] = deque(maxlen=capacity)

    def record(self, at: float, route: str, status: int, latency_ms: float) -> None:
        self._items.append((at, route, status, latency_ms))

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Arrays ``(at, route, status, latency_ms)`` of the logged requests."""
        items = list(self._items)
        if not items:
            return (
                np.empty(0),
                np.empty(0, dtype=object),
                np.empty(0, dtype=np.int64),
                np.empty(0),
            )
        at, route, status, lat = zip(*items, strict=True)
        return (
            np.asarray(at, dtype=np.float64),
            np.asarray(route, dtype=object),
            np.asarray(status, dtype=np.int64),
            np.asarray(lat, dtype=np.float64),
        )


def traffic_per_minute(
    at: np.ndarray, status: np.ndarray, *, now: float, minutes: int = 30
) -> tuple[list[str], dict[str, list[float | None]]]:
    """Requests per minute over the last ``minutes``, split by status class (2xx/3xx/4xx/5xx).

    Returns the minute labels (``HH:MM`` UTC, oldest first) and one count list per class.
    """
    end = np.floor(now / 60.0) * 60.0 + 60.0
    start = end - minutes * 60.0
    keep = (at >= start) & (at < end)
    bins = ((at[keep] - start) // 60).astype(np.int64)
    cls = np.clip(status[keep] // 100, 2, 5) - 2
    counts = np.zeros((4, minutes), dtype=np.int64)
    np.add.at(counts, (cls, bins), 1)
    labels = [time.strftime("%H:%M", time.gmtime(start + 60 * i)) for i in range(minutes)]
    return labels, {f"{c}xx": counts[c - 2].astype(float).tolist() for c in (2, 3, 4, 5)}


def latency_by_route(
    route: np.ndarray, latency_ms: np.ndarray, *, quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> tuple[list[str], dict[str, list[float | None]]]:
    """Latency quantiles (milliseconds) per route template, busiest route first."""
    if len(route) == 0:
        return [], {f"p{round(q * 100)}": [] for q in quantiles}
    names, inverse, counts = np.unique(route.astype(str), return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    # One sort by (route, latency) then quantiles by position: no Python loop over requests.
    by = np.lexsort((latency_ms, inverse))
    sorted_lat = latency_ms[by]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out: dict[str, list[float | None]] = {}
    for q in quantiles:
        pos = offsets[:-1] + np.floor(q * (counts - 1)).astype(np.int64)
        out[f"p{round(q * 100)}"] = np.round(sorted_lat[pos][order], 3).tolist()
    return names[order].tolist(), out


def status_matrix(
    route: np.ndarray, status: np.ndarray
) -> tuple[list[str], list[str], list[tuple[int, int, float]]]:
    """Request counts per (status code, route): x = status codes, y = routes, cells = counts."""
    if len(route) == 0:
        return [], [], []
    r_names, r_idx = np.unique(route.astype(str), return_inverse=True)
    s_names, s_idx = np.unique(status, return_inverse=True)
    counts = np.zeros((len(s_names), len(r_names)), dtype=np.int64)
    np.add.at(counts, (s_idx, r_idx), 1)
    xs, ys = np.nonzero(counts)
    cells = [(int(x), int(y), float(counts[x, y])) for x, y in zip(xs, ys, strict=True)]
    return [str(s) for s in s_names], r_names.tolist(), cells


class MetricsMiddleware:
    """Pure-ASGI middleware that logs every HTTP request into a :class:`RequestLog`."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or UNMATCHED
            self.log.record(time.time(), name, code, (time.perf_counter() - started) * 1000.0)
