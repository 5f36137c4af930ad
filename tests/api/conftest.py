"""Fixtures for API tests: an app on a temporary artifacts folder and one key per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.data.keystore import KeyStore
from reelmine.settings import Settings


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="module")
def keys(artifacts: Path) -> dict[str, str]:
    """One key per role (scrypt makes creation ~0.1 s each, so once per module)."""
    store = KeyStore(artifacts)
    return {
        role: store.create(role, label=f"test {role}")[0]
        for role in ("service", "analyst", "admin")
    }


@pytest.fixture(scope="module")
def app_settings(artifacts: Path) -> Settings:
    return Settings(artifacts=artifacts, db=artifacts / "test.duckdb")


@pytest.fixture
def client(app_settings: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings), follow_redirects=False) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- a small simulated warehouse, built once per test session --------------------------------
# 150 members over 75 days: enough history for the churn and lifetime-value models (they need
# weeks before the scoring date), small enough to build in a few seconds.
SIM_USERS, SIM_DAYS, SIM_SEED = 150, 75, 1
SIM_SECRET = "api-tests-secret-" + "x" * 24


def build_sim_warehouse(root: Path) -> Settings:
    """Simulate, ingest into ``root/wh.duckdb`` and (when installed) run the fraud scan."""
    from reelmine.api import capabilities
    from reelmine.service.ingest import ingest
    from reelmine.service.simulate import run_simulation

    run_simulation(users=SIM_USERS, days=SIM_DAYS, seed=SIM_SEED, out=root / "data")
    settings = Settings(artifacts=root / "art", db=root / "wh.duckdb", secret=SIM_SECRET)
    ingest(settings, root / "data")
    if capabilities.available("fraud"):
        from reelmine.service.fraud import scan_warehouse

        scan_warehouse(settings)
    return settings


@pytest.fixture(scope="session")
def sim_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB warehouse of a simulated service, fraud-scanned (built once per session)."""
    return Path(build_sim_warehouse(tmp_path_factory.mktemp("simwh")).db)


@pytest.fixture(scope="module")
def sim_settings(artifacts: Path, sim_warehouse: Path) -> Settings:
    """Settings of an app serving the simulated warehouse (keys live in ``artifacts``).

    ``min_group_size=1``: these tests check the services' numbers through the API; the release
    gate at the production k is tested on its own in ``test_release_gate.py``."""
    return Settings(artifacts=artifacts, db=sim_warehouse, secret=SIM_SECRET, min_group_size=1)


@pytest.fixture(scope="module")
def sim_client(sim_settings: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    """An in-process client of an app over the simulated warehouse (one per test module)."""
    with TestClient(create_app(sim_settings), follow_redirects=False) as c:
        yield c
