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
