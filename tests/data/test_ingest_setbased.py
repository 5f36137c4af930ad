"""Set-based ingestion paths: raw-keyed pseudonym maps (padded and blank IDs), repeated keys
whose first copy is invalid, incremental loads (skipped vs loaded) and staged Arrow sources."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from reelmine.data.ingest import IngestSummary, ingest_folder, ingest_tables
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.warehouse import Warehouse

KEY = b"test-key-0123456789abcdef"
HEADER = "play_id,user_id,title_id,started_at,watched_seconds,ip,country\n"


@pytest.fixture
def ps() -> Pseudonymiser:
    return Pseudonymiser(KEY)


def _write(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plays.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return folder


def _invariant(s: IngestSummary) -> None:
    for f in s.files:
        assert f.rows_read == f.rows_loaded + f.rows_quarantined + f.rows_skipped


def test_padded_ids_share_pseudonym_and_blank_id_is_quarantined(
    tmp_path: Path, ps: Pseudonymiser
) -> None:
    d = _write(
        tmp_path / "d",
        [
            "p1,u1,t1,2025-01-01T00:00:00Z,10,10.0.0.1,DE",
            'p2," u1 ",t1,2025-01-01T01:00:00Z,10,10.0.0.2,DE',
            'p3,"   ",t1,2025-01-01T02:00:00Z,10,10.0.0.3,DE',
        ],
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_folder(wh, d, ps)
        _invariant(s)
        assert s.loaded == {"plays": 2} and s.quarantined == {"plays": 1}
        users = wh.query("SELECT DISTINCT user_id FROM plays").column(0).to_pylist()
        assert users == ps.pseudonymise_ids(["u1"])
        q = wh.query("SELECT line, column_name, reason FROM quarantine").to_pylist()
        assert q == [{"line": 4, "column_name": "user_id", "reason": "missing required value"}]


def test_first_valid_copy_of_a_key_wins_and_reingest_adds_nothing(
    tmp_path: Path, ps: Pseudonymiser
) -> None:
    d = _write(
        tmp_path / "d",
        [
            "p1,u1,t1,not-a-time,10,10.0.0.1,DE",  # invalid: quarantined for its timestamp
            "p1,u2,t1,2025-01-01T00:00:00Z,10,10.0.0.1,DE",  # first valid copy: loaded
            "p1,u3,t1,2025-01-01T00:00:00Z,10,10.0.0.1,DE",  # later copy: duplicate
            "p2,u1,t2,2025-01-01T00:00:00Z,10,10.0.0.1,DE",
        ],
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_folder(wh, d, ps)
        _invariant(s)
        assert (s.loaded, s.quarantined, s.skipped) == ({"plays": 2}, {"plays": 2}, {"plays": 0})
        assert s.reasons == {
            "not a timestamp (ISO-8601 or epoch seconds)": 1,
            "duplicate key (play_id) within the file": 1,
        }
        row = wh.query("SELECT user_id FROM plays WHERE play_id = 'p1'").column(0).to_pylist()
        assert row == ps.pseudonymise_ids(["u2"])
        again = ingest_folder(wh, d, ps)
        _invariant(again)
        assert (again.loaded, again.quarantined, again.skipped) == (
            {"plays": 0},
            {"plays": 0},
            {"plays": 4},
        )
        assert wh.count("plays") == 2 and wh.count("quarantine") == 2


def test_incremental_file_loads_only_new_keys(tmp_path: Path, ps: Pseudonymiser) -> None:
    first = _write(
        tmp_path / "a",
        [f"p{i},u{i},t1,2025-01-01T00:00:00Z,10,10.0.0.{i},DE" for i in range(1, 4)],
    )
    second = _write(
        tmp_path / "b",
        [f"p{i},u{i},t1,2025-01-01T00:00:00Z,10,10.0.0.{i},DE" for i in range(2, 6)],
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest_folder(wh, first, ps)
        s = ingest_folder(wh, second, ps)
        _invariant(s)
        assert (s.loaded, s.skipped, s.quarantined) == ({"plays": 2}, {"plays": 2}, {"plays": 0})
        ids = wh.query("SELECT play_id FROM plays ORDER BY play_id").column(0).to_pylist()
        assert ids == ["p1", "p2", "p3", "p4", "p5"]


def test_staged_arrow_batches_keep_lines_and_cross_batch_duplicates(
    tmp_path: Path, ps: Pseudonymiser
) -> None:
    table = pa.table(
        {
            "user_id": ["u1", "u1", "u2", "u1", "u3"],
            "title_id": ["t1", "t2", "t1", "t1", "t1"],
            "rating": ["4", "5", "9", "4", "3"],
            "rated_at": ["2025-01-01T00:00:00Z"] * 5,
        }
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_tables(wh, {"ratings": table}, ps, rating_scale=(1, 5), batch_rows=2)
        _invariant(s)
        assert s.loaded == {"ratings": 3} and s.quarantined == {"ratings": 2}
        q = wh.query("SELECT reason FROM quarantine").to_pylist()
        assert sorted(r["reason"] for r in q) == [
            "duplicate key (user_id, title_id, rated_at) within the file",
            "outside the rating scale [1, 5]",
        ]
