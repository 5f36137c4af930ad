"""Streaming checks: concurrency, impossible travel and stuffing on each event as it arrives.

:class:`LiveChecker` keeps a small state per account (open streams, recent located events,
recent failures, devices seen) and per login source (recent attempts), applies the same rules
and parameters as the batch detectors, and answers each event with the flags it raises. Work
per event is bounded by the state of one account and one source (no scans), so the added
latency stays far below a millisecond; ``benchmarks/fraud.py`` measures its p99.

Events are mappings with the contract's column names (``user_id``, ``started_at`` ...);
times may be ``datetime``, ISO strings or epoch seconds. Out-of-order and duplicated events are
handled: a duplicated play of one device is the same stream, and a late located event is
compared with its neighbours in time, not with the latest one.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reelmine.errors import DataError
from reelmine.fraud.config import ConcurrencyParams, StuffingParams, TravelParams
from reelmine.fraud.flags import Flag, fmt_time

_KEEP_LOCATED = 32  # recent located events kept per account (out-of-order tolerance)


def _seconds(value: Any, field_name: str) -> float:
    if value is None:
        raise DataError("event has no time", column=field_name)
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        return v.timestamp()
    if isinstance(value, int | float):
        return float(value)
    try:
        v = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise DataError(f"cannot read time {value!r}", column=field_name) from exc
    return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


@dataclass
class _Account:
    streams: dict[str, tuple[float, float, str | None]] = field(default_factory=dict)
    located: list[tuple[float, float, float, str, str]] = field(default_factory=list)
    failures: deque[float] = field(default_factory=deque)
    devices: set[str] = field(default_factory=set)
    watch_until: float = -math.inf  # after a suspicious success: watch for changed behaviour
    last_flag: dict[str, float] = field(default_factory=dict)


@dataclass
class _Source:
    attempts: deque[tuple[float, str, bool]] = field(default_factory=deque)
    flagged: set[str] = field(default_factory=set)


class LiveChecker:
    """Per-account state and the streaming form of three detectors.

    Parameters
    ----------
    concurrency, travel, stuffing : the same parameters as the batch detectors.
    max_streams : plan limit per (pseudonymised) account; missing accounts use
        ``concurrency.default_max_streams``. Update with :meth:`set_account`.
    """

    def __init__(
        self,
        *,
        concurrency: ConcurrencyParams | None = None,
        travel: TravelParams | None = None,
        stuffing: StuffingParams | None = None,
        max_streams: Mapping[str, int] | None = None,
    ) -> None:
        self.concurrency = concurrency or ConcurrencyParams()
        self.travel = travel or TravelParams()
        self.stuffing = stuffing or StuffingParams()
        self._limits: dict[str, int] = dict(max_streams or {})
        self._country: dict[str, str] = {}
        self._accounts: dict[str, _Account] = {}
        self._sources: dict[tuple[str, str], _Source] = {}
        self._ignore = set(self.travel.ignore_networks)
        self._lock = threading.Lock()

    def set_account(
        self, user_id: str, *, max_streams: int | None = None, country: str | None = None
    ) -> None:
        """Record an account's plan limit and home country."""
        if max_streams is not None:
            self._limits[user_id] = int(max_streams)
        if country is not None:
            self._country[user_id] = country

    def _acct(self, user: str) -> _Account:
        a = self._accounts.get(user)
        if a is None:
            a = self._accounts[user] = _Account()
        return a

    def _emit(self, a: _Account, user: str, kind: str, t: float, gap: float) -> bool:
        """Whether a new flag of ``kind`` may be raised (one per episode, not one per event)."""
        last = a.last_flag.get(kind, -math.inf)
        if abs(t - last) <= gap:
            return False
        a.last_flag[kind] = t
        return True

    # -- plays --------------------------------------------------------------------------
    def check_play(self, event: Mapping[str, Any]) -> list[Flag]:
        """Flags raised by one play event (concurrency and travel)."""
        user = str(event["user_id"])
        s = _seconds(event.get("started_at"), "started_at")
        if event.get("ended_at") is not None:
            e = _seconds(event["ended_at"], "ended_at")
        elif event.get("watched_seconds") is not None:
            e = s + float(event["watched_seconds"])
        else:
            e = s + self.concurrency.default_play_seconds
        device = str(event.get("device_id") or event.get("play_id") or f"play@{s}")
        with self._lock:
            a = self._acct(user)
            out = self._concurrency(a, user, device, s, e, event.get("city"))
            out += self._travel(a, user, s, event, "play")
            out += self._changed(a, user, s, event)
            if event.get("device_id") is not None:
                a.devices.add(str(event["device_id"]))
        return out

    def _concurrency(
        self, a: _Account, user: str, device: str, s: float, e: float, city: str | None
    ) -> list[Flag]:
        p = self.concurrency
        old = a.streams.get(device)
        # A device resuming (or re-sending) its own stream extends it; it never adds one.
        if old is not None and s <= old[1] and e >= old[0]:
            s, e = min(s, old[0]), max(e, old[1])
        a.streams[device] = (s, e, city)
        # Drop streams that ended long before this one (state stays small).
        horizon = s - 6 * 3600.0
        for d in [d for d, iv in a.streams.items() if iv[1] < horizon]:
            del a.streams[d]
        t = s
        active = [
            (d, iv)
            for d, iv in a.streams.items()
            if iv[0] <= t + p.skew_seconds and iv[1] - p.skew_seconds > t
        ]
        limit = self._limits.get(user, p.default_max_streams)
        if len(active) <= limit or not self._emit(
            a, user, "concurrent_streams", t, p.merge_gap_seconds
        ):
            return []
        cities = sorted({iv[2] for _, iv in active if iv[2]})
        end = min(iv[1] for _, iv in active)
        places = f"from {len(cities)} cities ({', '.join(cities)})" if cities else ""
        return [
            Flag(
                user,
                "concurrent_streams",
                1.0 - limit / len(active),
                _ts(t),
                _ts(end),
                f"{len(active)} simultaneous streams on {fmt_time(t)} {places}; "
                f"plan allows {limit}".replace("  ", " "),
            )
        ]

    # -- travel -------------------------------------------------------------------------
    def _travel(
        self, a: _Account, user: str, t: float, event: Mapping[str, Any], kind: str
    ) -> list[Flag]:
        p = self.travel
        lat, lon = event.get("latitude"), event.get("longitude")
        if lat is None or lon is None:
            return []
        lat, lon = float(lat), float(lon)
        if (
            not (-90 <= lat <= 90 and -180 <= lon <= 180)
            or (lat == 0 and lon == 0)
            or (lat == math.floor(lat) and lon == math.floor(lon))
            or event.get("ip_net_hash") in self._ignore
        ):
            return []
        place = str(event.get("city") or event.get("country") or "unknown place")
        row = (t, lat, lon, place, kind)
        i = bisect.bisect_left(a.located, row)
        worst: tuple[float, float, tuple] | None = None
        for j in (i - 1, i):  # neighbours in time: the event before and the one after
            if 0 <= j < len(a.located):
                o = a.located[j]
                km = _haversine_km(o[1], o[2], lat, lon)
                kmh = km / (max(abs(t - o[0]), p.min_seconds) / 3600.0)
                impossible = km > p.min_distance_km and kmh > p.max_speed_kmh
                if impossible and (worst is None or kmh > worst[1]):
                    worst = (km, kmh, o)
        a.located.insert(i, row)
        if len(a.located) > _KEEP_LOCATED:
            del a.located[0]
        if worst is None or not self._emit(a, user, "impossible_travel", t, p.merge_gap_seconds):
            return []
        km, kmh, o = worst
        first, second = (o, row) if o[0] <= t else (row, o)
        return [
            Flag(
                user,
                "impossible_travel",
                1.0 - p.max_speed_kmh / kmh,
                _ts(first[0]),
                _ts(second[0]),
                f"{second[4]} in {second[3]} at {fmt_time(second[0])} after {first[4]} in "
                f"{first[3]} at {fmt_time(first[0])}: {km:,.0f} km ({kmh:,.0f} km/h; travel "
                f"allows {p.max_speed_kmh:,.0f} km/h)",
            )
        ]

    # -- logins -------------------------------------------------------------------------
    def check_login(self, event: Mapping[str, Any]) -> list[Flag]:
        """Flags raised by one login attempt (stuffing, takeover, travel on success)."""
        user = str(event["user_id"])
        t = _seconds(event.get("at"), "at")
        success = bool(event.get("success"))
        out: list[Flag] = []
        with self._lock:
            a = self._acct(user)
            p = self.stuffing
            burst_hit = False
            for kind, key in (("network", "ip_net_hash"), ("device", "device_id")):
                src = event.get(key)
                if src is not None:
                    flags, hit = self._source(kind, str(src), user, t, success)
                    out += flags
                    burst_hit |= hit
            while a.failures and a.failures[0] < t - p.window_seconds:
                a.failures.popleft()
            if not success:
                a.failures.append(t)
            elif len(a.failures) >= p.takeover_min_failures or burst_hit:
                a.watch_until = t + p.after_hours * 3600.0
            if success:
                if not burst_hit:  # attacker proxies are not the member's location
                    out += self._travel(a, user, t, event, "login")
                out += self._changed(a, user, t, event)
                if event.get("device_id") is not None:
                    a.devices.add(str(event["device_id"]))
        return out

    def _source(
        self, kind: str, src: str, user: str, t: float, success: bool
    ) -> tuple[list[Flag], bool]:
        p = self.stuffing
        s = self._sources.get((kind, src))
        if s is None:
            s = self._sources[(kind, src)] = _Source()
        s.attempts.append((t, user, success))
        while s.attempts and s.attempts[0][0] < t - p.window_seconds:
            s.attempts.popleft()
        failed = {u for _, u, ok in s.attempts if not ok}
        n_fail = sum(1 for _, _, ok in s.attempts if not ok)
        if len(failed) < p.min_accounts or n_fail < p.min_fail_share * len(s.attempts):
            return [], False
        out = []
        # The burst is on: flag every account it touched that was not flagged yet.
        for u in sorted({u for _, u, _ in s.attempts} - s.flagged):
            s.flagged.add(u)
            mine = [x for x in s.attempts if x[1] == u]
            n_ok = sum(1 for x in mine if x[2])
            out.append(
                Flag(
                    u,
                    "credential_stuffing",
                    0.8 if n_ok else 0.5,
                    _ts(mine[0][0]),
                    _ts(mine[-1][0]),
                    f"{len(mine) - n_ok} failed and {n_ok} successful logins from a {kind} "
                    f"that failed on {len(failed)} accounts within "
                    f"{p.window_seconds / 60:.0f} min",
                )
            )
        return out, True

    def _changed(self, a: _Account, user: str, t: float, event: Mapping[str, Any]) -> list[Flag]:
        """After a suspicious success: a never-seen device in another country is a takeover."""
        if t > a.watch_until:
            return []
        device, country = event.get("device_id"), event.get("country")
        home = self._country.get(user)
        if device is None or str(device) in a.devices or not country or country == home:
            return []
        a.watch_until = -math.inf
        return [
            Flag(
                user,
                "credential_stuffing",
                1.0,
                _ts(t),
                _ts(t),
                f"new device in {country} on {fmt_time(t)} right after a login that followed "
                f"failed attempts (account takeover)",
            )
        ]
