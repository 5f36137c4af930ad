"""Typed CSV fast path: DuckDB's typed reader must give exactly what the text path gives.

Every file here is ingested twice, with ``fast_csv`` on and off, into separate warehouses;
tables and quarantine must be identical, and the summary says which path loaded the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmine.data.ingest import IngestSummary, ingest_folder
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.schema import TABLES
from reelmine.data.warehouse import Warehouse, keyed_hash_columns

KEY = b"test-key-0123456789abcdef"
HEADER = (
    "play_id,user_id,title_id,started_at,ended_at,watched_seconds,ip,country,"
    "rebuffer_count,startup_ms,exit_before_start,latitude\n"
)
# Values DuckDB's typed reader accepts, in the forms real exports use.
CLEAN = [
    "p1,u1,t1,2025-01-01T10:00:00Z,2025-01-01T11:00:00Z,3600,10.0.0.1,DE,0,850,false,52.5",
    "p2,u1,t2,2025-01-01 10:00:00,2025-01-01 10:30:00.5,+1800,10.0.0.2,de,3.0,1e3,T,-33.9",
    "p3,u2,t1,2025-01-01T10:00:00+02:00,2025-01-01T09:00:00Z,.5,10.0.1.1,US,2,5.,yes,",
    "p4,u2,t3,2025-01-01,,1E2,,FR,,0.25,0,0",
    "p5,u3,t1,2025-01-01 10:00:00 UTC,2025-01-01T10:00,0,10.0.2.1,GB,1,12,n,90",
]
# Rows that fail checks on both paths (the typed reader parses them; the checks refuse them).
FAILING = [
    "p6,u3,t2,2025-01-02T00:00:00Z,2025-01-01T00:00:00Z,10,10.0.2.1,GB,0,1,f,0",  # ended first
    "p7,u3,t2,2025-01-02T00:00:00Z,,inf,10.0.2.1,GB,0,1,f,0",  # not finite
    "p8,u3,t2,2025-01-02T00:00:00Z,,10,10.0.2.1,GB,1.5,1,f,0",  # not an integer
    "p9,u3,t2,2025-01-02T00:00:00Z,,10,10.0.2.1,XX,1,1,f,0",  # unknown country
    "p10,u3,t2,2025-01-02T00:00:00Z,,-1,10.0.2.1,GB,1,1,f,0",  # negative
    "p11,u3,t2,2025-01-02T00:00:00Z,,10,10.0.2.1,GB,1,1,f,91",  # latitude out of range
    "p12,u3,t2,2025-01-02T00:00:00Z,,10,999.1.1.1,GB,1,1,f,0",  # not an IP
]
# Values only the text path takes: epoch seconds, padded booleans and timestamps, blanks.
TEXT_ONLY = [
    "p20,u4,t1,1735725600,,60,10.0.3.1,DE,0,1,false,0",
    'p21,u4,t1,2025-01-01T00:00:00Z,,60,10.0.3.1,DE,0,1," true ",0',
    'p22,u4,t1," 2025-01-01T00:00:00Z ",,60,10.0.3.1,DE,0," ",false,0',
    "p23,u4,t1,not-a-time,,60,10.0.3.1,DE,0,1,false,0",
    "p24,u4,t1,2025-01-01T00:00:00Z,,60,10.0.3.1,DE,0,1,maybe,0",
]


def _write(folder: Path, rows: list[str], table: str = "plays") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{table}.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return folder


def _snapshot(wh: Warehouse) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    plays = wh.query(
        "SELECT * EXCLUDE (started_at, ended_at), epoch_us(started_at) AS s, "
        "epoch_us(ended_at) AS e FROM plays ORDER BY play_id"
    ).to_pylist()
    quarantine = wh.query(
        "SELECT table_name, line, column_name, reason, raw_row FROM quarantine ORDER BY line"
    ).to_pylist()
    return plays, quarantine


def _both(
    tmp_path: Path, folder: Path
) -> tuple[IngestSummary, IngestSummary, tuple[object, object], tuple[object, object]]:
    ps = Pseudonymiser(KEY)
    out = []
    for fast in (True, False):
        with Warehouse(tmp_path / f"w_{fast}.duckdb") as wh:
            s = ingest_folder(wh, folder, ps, fast_csv=fast)
            for f in s.files:
                assert f.rows_read == f.rows_loaded + f.rows_quarantined + f.rows_skipped
            out.append((s, _snapshot(wh)))
    (s_fast, snap_fast), (s_text, snap_text) = out
    return s_fast, s_text, snap_fast, snap_text


def test_clean_file_takes_the_typed_reader_and_matches_the_text_path(tmp_path: Path) -> None:
    s_fast, s_text, snap_fast, snap_text = _both(tmp_path, _write(tmp_path / "d", CLEAN))
    assert [f.fast for f in s_fast.files] == [True]
    assert [f.fast for f in s_text.files] == [False]
    assert s_fast.loaded == s_text.loaded == {"plays": 5}
    assert snap_fast == snap_text
    plays, _ = snap_fast
    by_id = {r["play_id"]: r for r in plays}
    # Known answers: parsed values, not just equality of the two paths.
    assert by_id["p2"]["country"] == "DE" and by_id["p2"]["rebuffer_count"] == 3
    assert by_id["p2"]["exit_before_start"] is True and by_id["p2"]["startup_ms"] == 1000.0
    assert by_id["p3"]["s"] == 1735718400 * 10**6  # +02:00 offset applied
    assert by_id["p4"]["e"] is None and by_id["p4"]["ip_hash"] is None
    assert by_id["p4"]["watched_seconds"] == 100.0 and by_id["p4"]["rebuffer_count"] is None


def test_rows_failing_checks_are_quarantined_alike(tmp_path: Path) -> None:
    s_fast, s_text, snap_fast, snap_text = _both(tmp_path, _write(tmp_path / "d", CLEAN + FAILING))
    assert [f.fast for f in s_fast.files] == [True]
    assert s_fast.loaded == s_text.loaded == {"plays": 5}
    assert s_fast.quarantined == {"plays": len(FAILING)}
    assert snap_fast == snap_text
    _, quarantine = snap_fast
    assert [(q["line"], q["column_name"], q["reason"]) for q in quarantine] == [
        (7, "ended_at", "ended before it started"),
        (8, "watched_seconds", "not a finite number"),
        (9, "rebuffer_count", "not an integer"),
        (10, "country", "not an ISO 3166-1 alpha-2 country code"),
        (11, "watched_seconds", "negative value"),
        (12, "latitude", "outside the range [-90, 90]"),
        (13, "ip", "not a valid IP address"),
    ]
    # Raw text kept in the quarantined row (the text path writes it).
    assert '"rebuffer_count":"1.5"' in quarantine[2]["raw_row"]


def test_value_the_typed_reader_refuses_falls_back_to_the_text_path(tmp_path: Path) -> None:
    ps = Pseudonymiser(KEY)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        for i, row in enumerate(TEXT_ONLY):
            s = ingest_folder(wh, _write(tmp_path / f"d{i}", CLEAN + [row]), ps)
            # Each form alone sends its file down the text path; nothing is lost.
            assert [f.fast for f in s.files] == [False], row
            f = s.files[0]
            assert f.rows_read == 6 == f.rows_loaded + f.rows_quarantined + f.rows_skipped
    # Known answers for the text-only forms.
    d = _write(tmp_path / "all", CLEAN + TEXT_ONLY)
    s_fast, _, (plays, quarantine), snap_text = _both(tmp_path / "wall", d)
    assert (plays, quarantine) == snap_text
    assert s_fast.loaded == {"plays": 8} and s_fast.quarantined == {"plays": 2}
    by_id = {r["play_id"]: r for r in plays}
    assert by_id["p20"]["s"] == 1735725600 * 10**6  # epoch seconds
    assert by_id["p21"]["exit_before_start"] is True
    assert by_id["p22"]["startup_ms"] is None  # blank is missing, not invalid
    assert [(q["column_name"], q["line"]) for q in quarantine] == [
        ("started_at", 10),
        ("exit_before_start", 11),
    ]


def test_fallback_in_a_later_file_loads_earlier_files_once(tmp_path: Path) -> None:
    d = _write(tmp_path / "d", CLEAN)
    (d / "logins.csv").write_text(
        "login_id,user_id,at,success\nl1,u1,2025-01-01T00:00:00Z,true\nl2,u1,1735725600,no\n"
    )
    ps = Pseudonymiser(KEY)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        s = ingest_folder(wh, d, ps)
        fast = {f.table: f.fast for f in s.files}
        assert fast == {"logins": False, "plays": True}
        assert s.loaded == {"logins": 2, "plays": 5}
        assert wh.count("plays") == 5 and wh.count("logins") == 2
        assert wh.query("SELECT count(*) AS n FROM ingest_log").column(0).to_pylist() == [2]
        # The setting the failed typed load switched off is back on.
        assert wh.execute("SELECT current_setting('preserve_insertion_order')") == [(True,)]
        again = ingest_folder(wh, d, ps)
        assert again.loaded == {"logins": 0, "plays": 0}
        assert again.skipped == {"logins": 2, "plays": 5}


@pytest.mark.parametrize("reingest", [False, True])
def test_fast_path_skips_rows_already_loaded(tmp_path: Path, reingest: bool) -> None:
    d = _write(tmp_path / "d", CLEAN[:3])
    ps = Pseudonymiser(KEY)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest_folder(wh, d, ps, fast_csv=not reingest)
        _write(d, CLEAN)
        s = ingest_folder(wh, d, ps)
        assert [f.fast for f in s.files] == [True]
        assert (s.loaded, s.skipped) == ({"plays": 2}, {"plays": 3})
        assert wh.count("plays") == 5


def test_keyed_hash_columns_are_stored_uncompressed(tmp_path: Path) -> None:
    assert keyed_hash_columns(TABLES["plays"]) == {
        "user_id",
        "profile_id",
        "device_id",
        "ip_hash",
        "ip_net_hash",
    }
    assert keyed_hash_columns(TABLES["users"]) == {"user_id"}  # email is PII: dropped
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest_folder(wh, _write(tmp_path / "d", CLEAN), Pseudonymiser(KEY))
        wh.execute("CHECKPOINT")
        rows = wh.query(
            "SELECT DISTINCT column_name, compression FROM pragma_storage_info('plays') "
            "WHERE segment_type = 'VARCHAR' AND column_name IN ('user_id', 'ip_hash', 'play_id')"
        ).to_pylist()
    comp = {r["column_name"]: r["compression"] for r in rows}
    assert comp["user_id"] == comp["ip_hash"] == "Uncompressed"
    assert comp["play_id"] != "Uncompressed"
