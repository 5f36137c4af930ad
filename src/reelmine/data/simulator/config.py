"""Typed configuration of a simulation run; round-trips to a plain dict (JSON/TOML)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from reelmine.errors import ConfigError

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that shapes a simulated platform; the same config and seed give the same bytes.

    Parameters
    ----------
    users : number of member accounts.
    days : length of the observation window in days.
    seed : seed of every random choice.
    start : first day of the window (UTC midnight), ISO date.
    titles : number of shows (movies + series) to generate; ``None`` picks a size from ``users``.
    catalog : a MovieLens folder to take the catalogue from instead of generating one.
    format : ``parquet`` (default) or ``csv``.
    sessions_per_day : mean viewing sessions per active member per day.
    ui_fraction : share of viewing sessions that also log a browse session in ``ui_events``.
    fraud_rate : share of accounts given each planted fraud pattern (at least one per type).
    chunk_users : members simulated (and written) per block; bounds memory.
    """

    users: int = 1000
    days: int = 30
    seed: int = 0
    start: str = "2026-01-05"
    titles: int | None = None
    catalog: str | None = None
    format: str = "parquet"
    sessions_per_day: float = 1.4
    ui_fraction: float = 0.12
    fraud_rate: float = 0.004
    chunk_users: int = 2000

    def __post_init__(self) -> None:
        if self.users < 20:
            raise ConfigError(f"users must be at least 20, not {self.users}")
        if self.days < 7:
            raise ConfigError(f"days must be at least 7, not {self.days}")
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.titles is not None and self.titles < 30:
            raise ConfigError(f"titles must be at least 30, not {self.titles}")
        if not 0 <= self.ui_fraction <= 1:
            raise ConfigError("ui_fraction must lie in [0, 1]")
        if not 0 <= self.fraud_rate <= 0.05:
            raise ConfigError("fraud_rate must lie in [0, 0.05]")
        if self.sessions_per_day <= 0:
            raise ConfigError("sessions_per_day must be positive")
        if self.chunk_users < 100:
            raise ConfigError("chunk_users must be at least 100")
        try:
            date.fromisoformat(self.start)
        except ValueError as exc:
            raise ConfigError(f"start must be an ISO date, not {self.start!r}") from exc
        if self.catalog is not None and not Path(self.catalog).is_dir():
            raise ConfigError(f"catalog folder {self.catalog} does not exist")

    @property
    def n_shows(self) -> int:
        """Number of generated shows (movies + series)."""
        if self.titles is not None:
            return self.titles
        return int(min(5000, max(150, self.users // 4)))

    @property
    def start_us(self) -> int:
        """Window start in microseconds since the epoch (UTC)."""
        d = date.fromisoformat(self.start)
        return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 1_000_000

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/TOML friendly)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SimulationConfig:
        """Build from a dict, rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown simulation settings: {', '.join(sorted(unknown))}")
        return cls(**values)
