"""Settings for one CLI invocation, built once from the global options and passed down."""

from __future__ import annotations

from pathlib import Path

from reelmine.settings import Settings

_state: dict[str, object] = {"settings": None, "debug": False, "overrides": {}}


def configure(*, db: Path | None, config: Path | None, engine: str | None, debug: bool) -> None:
    """Remember the global options; settings are resolved lazily so errors surface cleanly."""
    _state["overrides"] = {"db": db, "engine": engine, "config_file": config}
    _state["debug"] = debug
    _state["settings"] = None


def settings() -> Settings:
    """The settings of this invocation (defaults < TOML < REELMINE_* env < command line)."""
    if _state["settings"] is None:
        overrides = dict(_state["overrides"])  # type: ignore[call-overload]
        config_file = overrides.pop("config_file", None)
        _state["settings"] = Settings.load(config_file=config_file, **overrides)
    return _state["settings"]  # type: ignore[return-value]


def debug_enabled() -> bool:
    return bool(_state["debug"])
