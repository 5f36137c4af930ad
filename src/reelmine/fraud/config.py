"""Parameters of the fraud detectors, one frozen dataclass per detector; round-trip to dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from reelmine.errors import ConfigError


@dataclass(frozen=True)
class ConcurrencyParams:
    """Concurrent streams over the plan.

    Parameters
    ----------
    skew_seconds : clock-skew tolerance; each play's end is pulled in by this much, so plays
        that overlap by less never count as simultaneous.
    min_overlap_seconds : the over-the-plan period must last at least this long.
    merge_gap_seconds : over-the-plan periods of one account closer than this form one flag.
    default_max_streams : plan limit used when ``users.max_streams`` is missing.
    default_play_seconds : play length assumed when both ``ended_at`` and ``watched_seconds``
        are missing.
    """

    skew_seconds: float = 120.0
    min_overlap_seconds: float = 300.0
    merge_gap_seconds: float = 3600.0
    default_max_streams: int = 1
    default_play_seconds: float = 1800.0


@dataclass(frozen=True)
class TravelParams:
    """Impossible travel between consecutive located events of an account.

    Parameters
    ----------
    max_speed_kmh : implied speeds above this are impossible (airliners cruise near 900 km/h).
    min_distance_km : shorter jumps are ignored (city-level geolocation is that coarse).
    min_seconds : time gaps are floored at this, so simultaneous events do not divide by zero.
    merge_gap_seconds : impossible jumps of one account closer than this form one flag.
    ignore_networks : ``ip_net_hash`` values of known VPN/proxy exits; their events are skipped.
    """

    max_speed_kmh: float = 900.0
    min_distance_km: float = 500.0
    min_seconds: float = 60.0
    merge_gap_seconds: float = 6 * 3600.0
    ignore_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class StuffingParams:
    """Credential stuffing and account takeover.

    Parameters
    ----------
    window_seconds : burst window (two grids offset by half a window, so no burst is split).
    min_accounts : distinct accounts with failures from one network or device in a window.
    min_fail_share : share of that source's attempts in the window that failed.
    takeover_min_failures : failures before a success (from a burst source, or on the account
        within ``window_seconds``) that make the success suspicious.
    after_hours : behaviour after a suspicious success is compared over this many hours.
    """

    window_seconds: float = 3600.0
    min_accounts: int = 8
    min_fail_share: float = 0.8
    takeover_min_failures: int = 5
    after_hours: float = 72.0


@dataclass(frozen=True)
class HouseholdParams:
    """Password sharing across households.

    Parameters
    ----------
    min_days : a place cluster counts as a household only when used on this many distinct days.
    min_span_days : ... and when its first and last use are at least this many days apart.
    min_device_days : devices used on fewer distinct days are left out (one-off devices).
    portable_types : device types that move between places (never link places together and
        never found a household on their own).
    allowed : households a plan allows, by plan name; others use ``default_allowed``.
    default_allowed : households allowed when the plan is unknown.
    """

    min_days: int = 3
    min_span_days: float = 7.0
    min_device_days: int = 2
    portable_types: tuple[str, ...] = ("mobile", "tablet")
    allowed: dict[str, int] = field(default_factory=dict)
    default_allowed: int = 1


@dataclass(frozen=True)
class AnomalyParams:
    """Isolation Forest over account features.

    Parameters
    ----------
    contamination : share of accounts flagged (the top anomaly scores).
    n_estimators : trees in the forest.
    min_plays : accounts with fewer plays are not scored (too little evidence).
    random_state : seed of the forest.
    """

    contamination: float = 0.005
    n_estimators: int = 100
    min_plays: int = 5
    random_state: int = 0


@dataclass(frozen=True)
class FraudConfig:
    """All detector parameters."""

    concurrency: ConcurrencyParams = field(default_factory=ConcurrencyParams)
    travel: TravelParams = field(default_factory=TravelParams)
    stuffing: StuffingParams = field(default_factory=StuffingParams)
    households: HouseholdParams = field(default_factory=HouseholdParams)
    anomaly: AnomalyParams = field(default_factory=AnomalyParams)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/TOML friendly)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FraudConfig:
        """Build from a dict such as ``to_dict`` returns; unknown keys are errors."""
        kinds: dict[str, type] = {
            "concurrency": ConcurrencyParams,
            "travel": TravelParams,
            "stuffing": StuffingParams,
            "households": HouseholdParams,
            "anomaly": AnomalyParams,
        }
        out: dict[str, Any] = {}
        for name, sub in values.items():
            if name not in kinds:
                raise ConfigError(f"unknown fraud section {name!r}; known: {', '.join(kinds)}")
            klass = kinds[name]
            known = {f.name for f in fields(klass)}
            bad = set(sub) - known
            if bad:
                raise ConfigError(f"fraud.{name}: unknown parameter(s) {', '.join(sorted(bad))}")
            sub = {k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()}
            out[name] = klass(**sub)
        return cls(**out)
