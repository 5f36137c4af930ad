"""Fixtures of the interface tests: one small simulated service (its planted position bias is
the ground truth), as Arrow tables and as an ingested warehouse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelmine.data.engine import runner_on_tables
from reelmine.settings import Settings

# 1,000 members over 30 days: ~50k impressions, ~600 search -> play pairs, ~3 s to simulate.
SIM_USERS, SIM_DAYS, SIM_SEED = 1000, 30, 1
SIM_TABLES = ("ui_events", "titles", "plays", "users", "experiments")


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated dataset folder (contract Parquet files and the simulator's truth)."""
    from reelmine.service.simulate import run_simulation

    out: Path = tmp_path_factory.mktemp("sim")
    run_simulation(users=SIM_USERS, days=SIM_DAYS, seed=SIM_SEED, out=out)
    return out


@pytest.fixture(scope="session")
def sim_tables(sim_dir: Path) -> dict[str, pa.Table]:
    """The simulator's contract tables (its ROW_EXAM / COL_EXAM are the ground truth)."""
    return {t: pq.read_table(sim_dir / f"{t}.parquet") for t in SIM_TABLES}


@pytest.fixture(scope="session")
def sim_run(sim_tables: dict[str, pa.Table]) -> Callable[[str], pa.Table]:
    """A SQL runner over the simulated tables."""
    return runner_on_tables(**sim_tables)


@pytest.fixture(scope="session")
def sim_settings(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a warehouse holding the simulated dataset (ingested once per session)."""
    from reelmine.service.ingest import ingest

    root = tmp_path_factory.mktemp("simwh")
    settings = Settings(
        artifacts=root / "art", db=root / "wh.duckdb", secret="interface-tests-" + "x" * 24
    )
    ingest(settings, sim_dir)
    return settings
