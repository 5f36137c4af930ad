"""Typed settings in one place: defaults, then an optional TOML file, then ``REELMINE_*``.

Settings are built once at the edge (CLI, API) and passed down explicitly; library code never
reads the environment on its own.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from reelmine.errors import ConfigError

ENV_PREFIX = "REELMINE_"


@dataclass(frozen=True)
class Settings:
    """Runtime settings.

    Attributes
    ----------
    db : path of the DuckDB warehouse file.
    secret : HMAC key for pseudonyms; when ``None`` a key file is used (see ``key_file``).
    key_file : where the generated pseudonymisation key lives (outside the database, mode 0600).
    engine : ``duckdb`` (default) or ``spark``.
    spark_master : Spark master URL when ``engine == "spark"``.
    artifacts : folder for trained models, caches and exports.
    min_group_size : smallest number of distinct members an aggregate may describe.
    batch_rows : rows per batch when streaming files into the warehouse.
    """

    db: Path = Path("reelmine.duckdb")
    secret: str | None = field(default=None, repr=False)
    key_file: Path = Path.home() / ".config" / "reelmine" / "pseudonym.key"
    engine: str = "duckdb"
    spark_master: str = "local[*]"
    artifacts: Path = Path("reelmine-artifacts")
    min_group_size: int = 10
    batch_rows: int = 1_000_000

    @classmethod
    def load(
        cls,
        *,
        config_file: Path | None = None,
        environ: dict[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from defaults, a TOML file, the environment and explicit overrides."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        path = config_file or (
            Path(env[ENV_PREFIX + "CONFIG"]) if ENV_PREFIX + "CONFIG" in env else None
        )
        if path is not None:
            try:
                with open(path, "rb") as fh:
                    values.update(tomllib.load(fh).get("reelmine", {}))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
        for f in fields(cls):
            key = ENV_PREFIX + f.name.upper()
            if key in env:
                values[f.name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls()._with(values)

    def _with(self, values: dict[str, Any]) -> Settings:
        known = {f.name: f for f in fields(self)}
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in known:
                raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
            default = getattr(self, name)
            try:
                if isinstance(default, Path) or name in {"db", "key_file", "artifacts"}:
                    converted[name] = Path(raw).expanduser()
                elif isinstance(default, bool):
                    converted[name] = str(raw).lower() in {"1", "true", "yes", "on"}
                elif isinstance(default, int):
                    converted[name] = int(raw)
                else:
                    converted[name] = None if raw is None else str(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"setting {name!r}: cannot use {raw!r} ({exc})") from exc
        out = replace(self, **converted)
        if out.engine not in {"duckdb", "spark"}:
            raise ConfigError(f"engine must be 'duckdb' or 'spark', not {out.engine!r}")
        if out.min_group_size < 1:
            raise ConfigError("min_group_size must be at least 1")
        return out
