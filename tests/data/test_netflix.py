"""Netflix Prize reader: a hand-made sample in the published layout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reelmine.data.ingest import ingest_folder
from reelmine.data.netflix import iter_ratings, read_netflix, read_titles
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.warehouse import Warehouse
from reelmine.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "netflix"


def test_read_netflix() -> None:
    t = read_netflix(FIX)
    r = t["ratings"].to_pylist()
    assert len(r) == 5
    assert r[0] == {
        "user_id": "1488844",
        "title_id": "1",
        "rating": 3.0,
        "rated_at": datetime(2005, 9, 6, tzinfo=UTC),
    }
    assert [x["title_id"] for x in r] == ["1", "1", "2", "2", "3"]  # carried across files
    assert sorted(t["users"].column("user_id").to_pylist()) == ["1488844", "30878", "822109"]
    titles = t["titles"].to_pylist()
    assert titles[1]["release_year"] is None  # "NULL"
    assert titles[2]["name"] == "Character, Part 2: The Return"  # commas kept


def test_line_numbers_and_movie_carried_across_blocks(tmp_path: Path) -> None:
    f = tmp_path / "combined_data_1.txt"
    lines = (
        ["7:"]
        + [f"{u},{1 + u % 5},2005-01-0{1 + u % 9}" for u in range(3000)]
        + ["8:", "5,5,2005-02-02"]
    )
    f.write_text("\n".join(lines) + "\n")
    batches = list(iter_ratings(f, batch_rows=1000))
    assert len(batches) > 1
    lines_seen = [n for b in batches for n in b.column("_line").to_pylist()]
    titles = [t for b in batches for t in b.column("title_id").to_pylist()]
    assert lines_seen == list(range(2, 3002)) + [3003]
    assert set(titles[:3000]) == {"7"} and titles[-1] == "8"


def test_ingest_netflix_quarantines_bad_lines(tmp_path: Path) -> None:
    folder = tmp_path / "nf"
    folder.mkdir()
    (folder / "combined_data_1.txt").write_text(
        "9,3,2005-01-01\n1:\n5,3,2005-01-01\n6,9,2005-01-01\n7,x\n"
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_folder(wh, folder, Pseudonymiser(b"k" * 16), fmt="netflix-prize")
        f = s.files[0]
        assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (4, 1, 3)
        q = wh.query("SELECT line, column_name, reason FROM quarantine ORDER BY line").to_pylist()
        assert [(r["line"], r["column_name"]) for r in q] == [
            (1, "title_id"),
            (4, "rating"),
            (5, "user_id"),
        ]
        assert q[1]["reason"] == "outside the rating scale [1, 5]"
        assert s.derived == {"users": 1} and wh.count("users") == 1


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a Netflix Prize folder"):
        read_netflix(tmp_path)
    bad = tmp_path / "movie_titles.csv"
    bad.write_text("1,2003\n")
    with pytest.raises(DataError, match="line 1"):
        read_titles(bad)
