"""Ingestion: per-row validation with known answers, idempotence, all-or-nothing failures,
file formats, timestamps and privacy of the stored bytes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelmine.data.ingest import IngestSummary, ingest_folder, ingest_tables, parse_rating_scale
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.warehouse import Warehouse
from reelmine.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures"
KEY = b"test-key-0123456789abcdef"

# plays.csv of contract-bad: line -> (column, reason); header is line 1.
EXPECTED_PLAYS = {
    4: ("user_id", "missing required value"),
    5: ("started_at", "not a timestamp (ISO-8601 or epoch seconds)"),
    6: ("ended_at", "ended before it started"),
    7: ("watched_seconds", "negative value"),
    8: ("country", "not an ISO 3166-1 alpha-2 country code"),
    9: ("ip", "not a valid IP address"),
    10: ("startup_ms", "not a finite number"),
    11: ("exit_before_start", "not a boolean (true/false, 1/0, yes/no)"),
    12: ("play_id", "duplicate key (play_id) within the file"),
    13: ("ended_at", "needs one of ended_at, watched_seconds"),
    14: ("rebuffer_count", "not an integer"),
}
EXPECTED_RATINGS = {
    3: ("rating", "outside the rating scale [0.5, 5]"),
    5: ("user_id", "duplicate key (user_id, title_id, rated_at) within the file"),
    6: ("rating", "not a finite number"),
}


@pytest.fixture
def ps() -> Pseudonymiser:
    return Pseudonymiser(KEY)


def _quarantine(wh: Warehouse, table: str) -> dict[int, tuple[str, str]]:
    rows = wh.query(
        "SELECT line, column_name, reason FROM quarantine WHERE table_name = ? ORDER BY line",
        [table],
    ).to_pylist()
    return {r["line"]: (r["column_name"], r["reason"]) for r in rows}


def _check_invariant(summary: IngestSummary) -> None:
    for f in summary.files:
        assert f.rows_read == f.rows_loaded + f.rows_quarantined + f.rows_skipped, f


def test_bad_rows_quarantined_with_line_column_reason(tmp_path: Path, ps: Pseudonymiser) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_folder(wh, FIX / "contract-bad", ps, rating_scale=(0.5, 5))
        _check_invariant(s)
        assert s.loaded == {"ratings": 2, "plays": 3}
        assert s.quarantined == {"ratings": 3, "plays": 11}
        assert _quarantine(wh, "plays") == EXPECTED_PLAYS
        assert _quarantine(wh, "ratings") == EXPECTED_RATINGS
        assert sorted(wh.table("plays", ["play_id"]).column(0).to_pylist()) == ["p1", "p13", "p2"]
        # The first copy of a duplicated key is the one loaded.
        p1 = wh.table("plays", where="play_id = 'p1'").to_pylist()[0]
        assert p1["title_id"] == "t1" and p1["user_id"] == ps.pseudonymise_ids(["alice"])[0]
        # The quarantined raw row is kept, identifiers pseudonymised, IP hashed.
        raw = json.loads(
            wh.query("SELECT raw_row FROM quarantine WHERE line = 12").column(0)[0].as_py()
        )
        assert raw["user_id"] == ps.pseudonymise_ids(["dave"])[0] and raw["title_id"] == "t9"
        assert "ip" not in raw and raw["ip_hash"] is not None
        assert wh.get_meta("rating_scale") == "0.5,5"
        # The reasons summary counts every quarantined row once.
        assert sum(s.reasons.values()) == 14


def test_reingest_is_idempotent(tmp_path: Path, ps: Pseudonymiser) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest_folder(wh, FIX / "contract-bad", ps, rating_scale=(0.5, 5))
        before = {t: wh.count(t) for t in ("plays", "ratings", "quarantine")}
        again = ingest_folder(wh, FIX / "contract-bad", ps)  # rating scale remembered
        _check_invariant(again)
        assert {t: wh.count(t) for t in before} == before
        assert again.loaded == {"ratings": 0, "plays": 0}
        assert again.skipped == {"ratings": 5, "plays": 14}
        assert wh.count("ingest_log") == 4


def test_duplicates_across_batches(tmp_path: Path, ps: Pseudonymiser) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_folder(wh, FIX / "contract-bad", ps, rating_scale=(0.5, 5), batch_rows=2)
        _check_invariant(s)
        assert _quarantine(wh, "plays") == EXPECTED_PLAYS
        assert _quarantine(wh, "ratings") == EXPECTED_RATINGS


def test_unparseable_file_writes_nothing(tmp_path: Path, ps: Pseudonymiser) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        with pytest.raises(DataError, match=r"plays\.csv.*line 3") as err:
            ingest_folder(wh, FIX / "contract-broken", ps)
        assert err.value.exit_code == 2
        # users.csv was fine and came first, but the ingest is all or nothing.
        assert wh.count("users") == 0 and wh.count("plays") == 0 and wh.count("ingest_log") == 0


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        (
            "plays.csv",
            "play_id,user_id,title_id,started_at,watched_seconds,colour\n",
            "'colour' match no column",
        ),
        (
            "plays.csv",
            "play_id,user_id,title_id,started_at\n",
            "at least one of the columns ended_at",
        ),
        ("ratings.csv", "user_id,title_id,rating\n", "required column.*rated_at"),
        ("movies.csv", "a,b\n", "matches no table"),
        ("users.csv", "", "empty file"),
    ],
)
def test_bad_files_stop_with_data_error(
    tmp_path: Path, ps: Pseudonymiser, name: str, content: str, match: str
) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    shutil.copy(FIX / "contract-good" / "titles.csv", folder / "titles.csv")
    (folder / name).write_text(content)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        with pytest.raises(DataError, match=match):
            ingest_folder(wh, folder, ps)
        assert wh.count("titles") == 0


def test_parquet_and_jsonl_round_trip(tmp_path: Path, ps: Pseudonymiser) -> None:
    with Warehouse(tmp_path / "csv.duckdb") as wh:
        ingest_folder(wh, FIX / "contract-good", ps)
        reference = {
            t: wh.table(t).sort_by(wh.columns(t)[0]) for t in ("users", "titles", "logins")
        }
    # Same data as typed Parquet and as JSONL (lists as JSON arrays, numbers as numbers).
    pq_dir, js_dir = tmp_path / "pq", tmp_path / "js"
    pq_dir.mkdir()
    js_dir.mkdir()
    users = pa.table(
        {
            "user_id": ["u1", "u2", "u3"],
            "signup_at": pa.array([1717200000, 1721039400, 1717200000], pa.int64()).cast(
                pa.timestamp("s", tz="UTC")
            ),
            "country": ["DE", "US", "JP"],
            "age": pa.array([34, None, 51], pa.int32()),
            "plan": ["standard", "premium", "basic"],
            "max_streams": [2, 4, 1],
            "email": ["u1@example.com", None, "u3@example.org"],
        }
    )
    pq.write_table(users, pq_dir / "users.parquet")
    titles = pa.table(
        {
            "title_id": ["t1", "t2"],
            "name": ["Toy Story (1995)", "Heat, The Series"],
            "kind": ["movie", "series"],
            "genres": [["Animation", "Comedy"], ["Crime", "Drama"]],
            "release_year": [1995, 2020],
            "runtime_minutes": [81.0, None],
        }
    )
    pq.write_table(titles, pq_dir / "titles.parquet")
    shutil.copy(FIX / "contract-good" / "logins.csv", pq_dir / "logins.csv")
    with open(js_dir / "titles.jsonl", "w") as fh:
        for row in titles.to_pylist():
            fh.write(json.dumps(row) + "\n")
    with open(js_dir / "users.jsonl", "w") as fh:
        for row in users.to_pylist():
            row["signup_at"] = row["signup_at"].isoformat()
            fh.write(json.dumps(row) + "\n")
    shutil.copy(FIX / "contract-good" / "logins.csv", js_dir / "logins.csv")
    for folder in (pq_dir, js_dir):
        with Warehouse(tmp_path / f"{folder.name}.duckdb") as wh:
            s = ingest_folder(wh, folder, ps)
            assert sum(s.quarantined.values()) == 0
            for t, ref in reference.items():
                got = wh.table(t).sort_by(wh.columns(t)[0])
                assert got.equals(ref), (folder.name, t, got.to_pylist(), ref.to_pylist())


def test_epoch_and_iso_timestamps_agree(tmp_path: Path, ps: Pseudonymiser) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "user_id,title_id,rating,rated_at\n"
        "a,t1,4,2025-01-03T10:00:00Z\n"
        "b,t1,4,1735898400\n"
        "c,t1,4,2025-01-03T11:00:00+01:00\n"
        "d,t1,4,2025-01-03 10:00:00\n"
        "e,t1,4,1735898400.0\n"
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest_folder(wh, folder, ps)
        stamps = set(wh.table("ratings", ["rated_at"]).column(0).to_pylist())
        assert len(stamps) == 1 and wh.count("ratings") == 5


def test_no_raw_ids_or_ips_in_database_file(tmp_path: Path, ps: Pseudonymiser) -> None:
    db = tmp_path / "w.duckdb"
    with Warehouse(db) as wh:
        ingest_folder(wh, FIX / "contract-bad", ps, rating_scale=(0.5, 5))
        ingest_folder(wh, FIX / "contract-good", ps)
        assert wh.count("quarantine") > 0  # the quarantine is checked too
    data = db.read_bytes()
    secrets_ = [
        "alice",
        "carol",
        "dave",
        "erin",
        "203.0.113.7",
        "198.51.100.23",
        "2001:db8::5",
        "u1@example.com",
        "u3@example.org",
        "85711",
    ]
    for raw in secrets_:
        assert raw.encode() not in data, raw
    # Sanity check of the check itself: a non-secret value is found in the file.
    assert b"Toy Story (1995)" in data


def test_arrow_tables_and_parse_scale(tmp_path: Path, ps: Pseudonymiser) -> None:
    ratings = pa.table(
        {
            "user_id": ["1", "1"],
            "title_id": ["9", "8"],
            "rating": [3.0, 9.0],
            "rated_at": pa.array([0, 1], pa.int64()).cast(pa.timestamp("s", tz="UTC")),
        }
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_tables(wh, {"ratings": ratings}, ps, rating_scale=(1, 5))
        assert s.loaded == {"ratings": 1} and s.quarantined == {"ratings": 1}
    assert parse_rating_scale("0.5:5") == (0.5, 5.0) and parse_rating_scale("1,10") == (1.0, 10.0)
    assert parse_rating_scale(None) is None
    with pytest.raises(DataError):
        parse_rating_scale("5:1")
