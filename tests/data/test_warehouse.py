"""The warehouse: contract tables, Arrow in and out, derived tables, export, facts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelmine.data.schema import TABLES, stored_schema
from reelmine.data.warehouse import Warehouse
from reelmine.errors import ConfigError, DataError, MissingColumnError, NotFoundError
from reelmine.settings import Settings


def test_creates_contract_tables_with_stored_schema(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        names = wh.tables()
        for t in TABLES:
            assert t in names
            assert wh.count(t) == 0
            assert wh.table(t).schema.equals(stored_schema(TABLES[t])), t
        assert {"quarantine", "ingest_log", "dataset_meta"} <= set(names)
        # Raw IPs and PII never get a column.
        assert "ip" not in wh.columns("plays") and "ip_hash" in wh.columns("plays")
        assert "email" not in wh.columns("users")
        assert wh.time_range() is None


def test_open_from_settings_and_read_only(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "sub" / "w.duckdb")
    with pytest.raises(NotFoundError, match="no warehouse"):
        Warehouse.open(settings, read_only=True)
    with Warehouse.open(settings) as wh:
        wh.write_table("scores", pa.table({"x": [1, 2]}))
    with Warehouse.open(settings, read_only=True) as ro:
        assert ro.count("scores") == 2
        with pytest.raises(ConfigError, match="read-only"):
            ro.write_table("scores", pa.table({"x": [3]}))
    assert settings.db.is_file()


def test_write_table_replace_append_and_reserved(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        assert wh.write_table("flags", pa.table({"user_id": ["a", "b"], "score": [0.5, 0.9]})) == 2
        wh.write_table("flags", pa.table({"user_id": ["c"], "score": [0.1]}), mode="append")
        assert wh.count("flags") == 3
        wh.write_table("flags", pa.table({"user_id": ["z"], "score": [1.0]}))
        assert wh.table("flags").to_pylist() == [{"user_id": "z", "score": 1.0}]
        got = wh.table("flags", columns=["score"], where="user_id = ?", params=["z"])
        assert got.to_pylist() == [{"score": 1.0}]
        with pytest.raises(MissingColumnError, match="no column"):
            wh.table("flags", columns=["nope"])
        with pytest.raises(NotFoundError):
            wh.table("nope")
        for reserved in ("ratings", "quarantine"):
            with pytest.raises(DataError, match="only ingestion"):
                wh.write_table(reserved, pa.table({"x": [1]}))
        with pytest.raises(DataError, match="valid table"):
            wh.write_table("bad name; drop", pa.table({"x": [1]}))
        with pytest.raises(DataError, match="query failed"):
            wh.query("SELECT * FROM missing_table")
        wh.drop_table("flags")
        assert not wh.has_table("flags")


def test_query_export_time_range_and_meta(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        wh.execute(
            "INSERT INTO ratings VALUES ('u', 't1', 4.0, TIMESTAMPTZ '2025-01-02 00:00:00+00'),"
            " ('u', 't2', 2.0, TIMESTAMPTZ '2025-03-04 05:06:07+00')"
        )
        res = wh.query("SELECT title_id, rating FROM ratings WHERE rating > ? ORDER BY 1", [3])
        assert res.to_pylist() == [{"title_id": "t1", "rating": 4.0}]
        lo, hi = wh.time_range()  # type: ignore[misc]
        assert lo == datetime(2025, 1, 2, tzinfo=UTC) and hi == datetime(
            2025, 3, 4, 5, 6, 7, tzinfo=UTC
        )
        written = wh.export_parquet(tmp_path / "out")
        assert set(written) == set(wh.tables())
        back = pq.read_table(written["ratings"])
        assert back.num_rows == 2 and back.schema.field("rated_at").type == pa.timestamp(
            "us", tz="UTC"
        )
        wh.set_meta("rating_scale", "1,5")
        wh.set_meta("rating_scale", "0.5,5")
        assert wh.get_meta("rating_scale") == "0.5,5" and wh.get_meta("nope") is None
        assert wh.size_bytes() > 0
