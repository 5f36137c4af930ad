"""``ingest --format movielens``: counts, invariant and idempotence on MovieLens releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmine.data.ingest import ingest_folder
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.warehouse import Warehouse

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "movielens"
PS = Pseudonymiser(b"movielens-test-key")


def _ingest(tmp_path: Path, folder: Path) -> tuple[Warehouse, dict[str, int]]:
    wh = Warehouse(tmp_path / "w.duckdb")
    s = ingest_folder(wh, folder, PS, fmt="movielens")
    for f in s.files:
        assert f.rows_read == f.rows_loaded + f.rows_quarantined + f.rows_skipped
    return wh, s.loaded


@pytest.mark.parametrize(
    ("layout", "counts"),
    [
        ("ml-100k", {"titles": 3, "users": 3, "ratings": 4}),
        ("ml-1m", {"titles": 2, "users": 2, "ratings": 3}),
        ("ml-latest", {"titles": 4, "users": 4, "ratings": 3}),
    ],
)
def test_fixture_layouts(tmp_path: Path, layout: str, counts: dict[str, int]) -> None:
    wh, loaded = _ingest(tmp_path, FIX / layout)
    with wh:
        assert loaded == counts
        assert "zip_code" not in wh.columns("users")  # PII dropped
        assert wh.get_meta("rating_scale") in ("1,5", "0.5,5")


@pytest.mark.realdata
def test_ml100k(tmp_path: Path, ml100k_dir: Path) -> None:
    wh, loaded = _ingest(tmp_path, ml100k_dir)
    with wh:
        assert loaded == {"titles": 1682, "users": 943, "ratings": 100000}
        assert wh.count("quarantine") == 0
        again = ingest_folder(wh, ml100k_dir, PS, fmt="movielens")
        assert sum(again.loaded.values()) == 0 and again.skipped["ratings"] == 100000
        assert wh.count("ratings") == 100000


@pytest.mark.realdata
def test_ml_latest_small(tmp_path: Path, ml_latest_small_dir: Path) -> None:
    wh, loaded = _ingest(tmp_path, ml_latest_small_dir)
    with wh:
        assert loaded == {"titles": 9742, "users": 610, "ratings": 100836}
        assert wh.get_meta("rating_scale") == "0.5,5"
        toy = wh.table("titles", where="title_id = '1'").to_pylist()[0]
        assert "pixar" in toy["tags"] and toy["genres"][0] == "Adventure"
