"""Shared fixtures: seeded randomness and the reference data sets in ../shared/data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _artifacts_outside_the_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Commands audit to ``settings.artifacts``; a test that does not choose a folder must not
    write ``./reelmine-artifacts`` into the working tree."""
    if "REELMINE_ARTIFACTS" in os.environ:
        yield
        return
    os.environ["REELMINE_ARTIFACTS"] = str(tmp_path_factory.mktemp("artifacts"))
    try:
        yield
    finally:
        os.environ.pop("REELMINE_ARTIFACTS", None)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: tests are reproducible."""
    return np.random.default_rng(20261128)


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"reference data {name} not found at {path} (../shared/data is absent)")
    return path


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """MovieLens 100k as released (u.data, u.item, u.user, u1..u5 folds)."""
    return _shared("ml-100k")


@pytest.fixture(scope="session")
def ml_latest_small_dir() -> Path:
    """MovieLens latest-small as released (CSV, CRLF)."""
    return _shared("ml-latest-small")


@pytest.fixture(scope="session")
def rca_rs_dir() -> Path:
    """RobustSpot video-streaming root-cause cases (one CSV per case + anomaly.yaml)."""
    return _shared("rca-rs")


@pytest.fixture(scope="session")
def small_platform(tmp_path_factory: pytest.TempPathFactory):
    """A small simulated platform ingested into a fresh warehouse: ``(settings, dataset_dir)``.

    300 members over 14 days (a second or two); the key is fixed so raw IDs map to known
    pseudonyms. Tests must not write to this warehouse (copy it if they need to).
    """
    from reelmine.data.simulator import SimulationConfig, simulate
    from reelmine.service.ingest import ingest
    from reelmine.settings import Settings

    root = tmp_path_factory.mktemp("platform")
    simulate(SimulationConfig(users=300, days=14, seed=7), root / "dataset")
    settings = Settings.load(
        environ={},
        db=root / "warehouse.duckdb",
        secret="test-secret-not-for-production",
        artifacts=root / "artifacts",
    )
    ingest(settings, root / "dataset")
    return settings, root / "dataset"
