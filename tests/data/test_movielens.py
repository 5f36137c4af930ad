"""MovieLens readers: hand-made copies of each layout with known answers, then the real releases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from reelmine.data.movielens import detect_movielens, read_movielens, read_movielens_fold
from reelmine.data.schema import TABLES, arrow_type
from reelmine.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "movielens"


def _check_contract(tables: dict[str, pa.Table]) -> None:
    for name, table in tables.items():
        contract = TABLES[name]
        for field in table.schema:
            assert field.type == arrow_type(contract.column(field.name).type), (name, field.name)


def test_detect() -> None:
    assert detect_movielens(FIX / "ml-100k") == "ml-100k"
    assert detect_movielens(FIX / "ml-1m") == "ml-1m"
    assert detect_movielens(FIX / "ml-latest") == "ml-latest"
    with pytest.raises(DataError, match="not a MovieLens folder"):
        detect_movielens(FIX)


def test_ml100k_layout() -> None:
    t = read_movielens(FIX / "ml-100k")
    _check_contract(t)
    assert t["ratings"].to_pylist()[0] == {
        "user_id": "1",
        "title_id": "10",
        "rating": 5.0,
        "rated_at": datetime.fromtimestamp(881250949, UTC),
    }
    titles = t["titles"].to_pylist()
    assert titles[0]["name"] == "Café Society (1995)"  # Latin-1 decoded
    assert titles[0]["genres"] == ["Action", "Comedy"]
    assert titles[0]["release_year"] == 1995
    # The "unknown" genre flag means no genre; no year in the name and no date -> null.
    assert titles[1]["genres"] == [] and titles[1]["release_year"] is None
    users = t["users"].to_pylist()
    assert users[1] == {
        "user_id": "2",
        "age": 53,
        "gender": "F",
        "occupation": "other",
        "zip_code": "94043",
    }
    meta = t["ratings"].schema.metadata
    assert meta[b"reelmine.rating_min"] == b"1.0" and meta[b"reelmine.first_line"] == b"1"


def test_ml1m_layout() -> None:
    t = read_movielens(FIX / "ml-1m")
    _check_contract(t)
    assert t["ratings"].num_rows == 3
    titles = t["titles"].to_pylist()
    assert titles[0]["name"] == "Amélie (2001)" and titles[0]["genres"] == ["Comedy", "Romance"]
    assert titles[1]["name"].startswith("Star Wars: Episode IV")  # single colons survive
    assert titles[1]["release_year"] == 1977
    assert t["users"].column("gender").to_pylist() == ["F", "M"]


def test_ml_latest_layout() -> None:
    t = read_movielens(FIX / "ml-latest")
    _check_contract(t)
    titles = {r["title_id"]: r for r in t["titles"].to_pylist()}
    assert titles["2"]["name"] == "American President, The (1995)"  # quoted comma
    assert titles["3"]["genres"] == [] and titles["3"]["release_year"] is None
    assert titles["4"]["release_year"] == 2006  # year range "(2006–2007)"
    assert titles["1"]["tags"] == ["fun", "pixar"]  # distinct, sorted
    assert titles["2"]["tags"] == ["politics, US"]
    assert titles["3"]["tags"] == []
    # Users = everyone who rated or tagged.
    assert sorted(t["users"].column("user_id").to_pylist()) == ["1", "5", "7", "8"]
    assert t["ratings"].column("rating").to_pylist() == [4.0, 0.5, 5.0]
    assert t["ratings"].schema.metadata[b"reelmine.rating_min"] == b"0.5"


def test_fold() -> None:
    train, test = read_movielens_fold(FIX / "ml-100k", 1)
    assert train.num_rows == 3 and test.num_rows == 1
    assert test.column("user_id").to_pylist() == ["3"]
    assert train.column_names == ["user_id", "title_id", "rating", "rated_at"]
    with pytest.raises(DataError, match="unknown ml-100k fold"):
        read_movielens_fold(FIX / "ml-100k", 9)


@pytest.mark.realdata
def test_real_ml100k(ml100k_dir: Path) -> None:
    t = read_movielens(ml100k_dir)
    assert (t["ratings"].num_rows, t["users"].num_rows, t["titles"].num_rows) == (100000, 943, 1682)
    train, test = read_movielens_fold(ml100k_dir, "ua")
    assert train.num_rows + test.num_rows == 100000 and test.num_rows == 9430
    train, test = read_movielens_fold(ml100k_dir, "u3")
    assert (train.num_rows, test.num_rows) == (80000, 20000)


@pytest.mark.realdata
def test_real_ml_latest_small(ml_latest_small_dir: Path) -> None:
    t = read_movielens(ml_latest_small_dir)
    assert (t["ratings"].num_rows, t["users"].num_rows, t["titles"].num_rows) == (100836, 610, 9742)
    toy = t["titles"].slice(0, 1).to_pylist()[0]
    assert toy["name"] == "Toy Story (1995)" and toy["release_year"] == 1995
    assert "pixar" in toy["tags"]
