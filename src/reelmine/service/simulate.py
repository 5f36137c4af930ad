"""Use case: simulate a streaming platform with ground truth (behind ``reelmine simulate``)."""

from __future__ import annotations

from pathlib import Path

from reelmine.data.simulator import SimulationConfig, SimulationSummary, simulate


def run_simulation(
    *,
    users: int,
    days: int,
    seed: int,
    out: Path,
    catalog: Path | None = None,
    fmt: str = "parquet",
    titles: int | None = None,
) -> SimulationSummary:
    """Simulate ``users`` members over ``days`` days and write the dataset and truth to ``out``.

    Parameters
    ----------
    users, days, seed : size, length and seed of the simulation.
    out : output folder (tables, ``truth/`` and ``manifest.json``).
    catalog : a MovieLens folder whose titles become the catalogue (optional).
    fmt : ``parquet`` or ``csv``.
    titles : number of generated shows (ignored with ``catalog``); default scales with users.

    Raises
    ------
    ConfigError : an option is out of range or the catalogue folder is missing.
    """
    config = SimulationConfig(
        users=users,
        days=days,
        seed=seed,
        titles=titles,
        catalog=None if catalog is None else str(catalog),
        format=fmt,
    )
    return simulate(config, Path(out))
