"""Engine-neutral reading for the service layer: literals, placeholders, RunnerTables (no Spark)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from reelmine.data.engine import (
    RunnerTables,
    TableSource,
    bind_params,
    runner_on_tables,
    sql_literal,
    sql_on_tables,
)
from reelmine.data.warehouse import Warehouse
from reelmine.errors import DataError, MissingColumnError, NotFoundError
from reelmine.settings import Settings

UTC = dt.UTC


def test_sql_literal_known_answers() -> None:
    assert sql_literal(None) == "NULL"
    assert sql_literal(True) == "TRUE"
    assert sql_literal(7) == "7"
    assert sql_literal(0.25) == "0.25"
    assert sql_literal("o'k") == "'o''k'"
    assert sql_literal(dt.date(2024, 2, 29)) == "CAST('2024-02-29' AS DATE)"
    berlin = dt.timezone(dt.timedelta(hours=1))
    assert sql_literal(dt.datetime(2024, 1, 2, 1, 0, tzinfo=berlin)) == (
        "CAST('2024-01-02 00:00:00.000000+00:00' AS TIMESTAMPTZ)"
    )
    # Naive instants are UTC, as the warehouse stores them.
    assert sql_literal(dt.datetime(2024, 1, 2)) == (
        "CAST('2024-01-02 00:00:00.000000+00:00' AS TIMESTAMPTZ)"
    )
    for bad in (float("nan"), object(), [1]):
        with pytest.raises(DataError):
            sql_literal(bad)


def test_literals_compare_as_values_even_when_hostile() -> None:
    t = pa.table(
        {
            "s": ["x' OR '1'='1", "plain", "a?b"],
            "ts": pa.array(
                [dt.datetime(2024, 1, 1, 23, 59, 59, 999999, tzinfo=UTC)] * 2
                + [dt.datetime(2024, 1, 2, tzinfo=UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    hostile = sql_literal("x' OR '1'='1")
    assert sql_on_tables(f"SELECT s FROM t WHERE s = {hostile}", t=t)["s"].to_pylist() == [
        "x' OR '1'='1"
    ]
    day = sql_literal(dt.datetime(2024, 1, 2, tzinfo=UTC))
    assert sql_on_tables(f"SELECT count(*) AS n FROM t WHERE ts >= {day}", t=t)["n"][0].as_py() == 1


def test_bind_params_skips_quoted_question_marks() -> None:
    sql = "SELECT '?' AS q, \"a?\" FROM t WHERE s = ? AND n < ?"
    assert bind_params(sql, ["it's", 3]) == (
        "SELECT '?' AS q, \"a?\" FROM t WHERE s = 'it''s' AND n < 3"
    )
    assert bind_params("SELECT 1", None) == "SELECT 1"
    with pytest.raises(DataError, match="more"):
        bind_params("SELECT ? + ?", [1])
    with pytest.raises(DataError, match="1 \\? placeholders but 2"):
        bind_params("SELECT ?", [1, 2])


def _tables() -> dict[str, pa.Table]:
    # Derived-table names: the warehouse lets only ingestion write contract tables.
    return {
        "views": pa.table({"user_id": ["u1", "u2", "u1"], "title_id": ["a", "b", "b"]}),
        "people": pa.table({"user_id": ["u1", "u2"], "country": ["DE", "FR"]}),
    }


def test_runner_tables_reads_like_the_warehouse(tmp_path: Path) -> None:
    tables = _tables()
    source = RunnerTables(runner_on_tables(**tables), list(tables), "memory")
    assert isinstance(source, TableSource)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        for name, t in tables.items():
            wh.write_table(name, t)
    with Warehouse(tmp_path / "w.duckdb", read_only=True) as wh:
        assert isinstance(wh, TableSource)
        for reader in (wh, source):
            assert reader.has_table("views") and not reader.has_table("nothing")
            assert reader.count("views") == 3
            assert reader.columns("people") == ["user_id", "country"]
            got = reader.table("views", ["title_id"], where="user_id = ?", params=["u1"])
            assert sorted(got["title_id"].to_pylist()) == ["a", "b"]
            q = reader.query("SELECT count(*) AS n FROM people WHERE country = ?", ["FR"])
            assert q["n"][0].as_py() == 1
            with pytest.raises(MissingColumnError, match="age"):
                reader.table("people", ["user_id", "age"])
    with pytest.raises(NotFoundError, match="nothing"):
        source.count("nothing")


def _settings(tmp_path: Path) -> Settings:
    return Settings(artifacts=tmp_path / "art", db=tmp_path / "w.duckdb")


def test_open_reader_and_write_derived_on_duckdb(tmp_path: Path) -> None:
    from reelmine.service.engine import open_reader, open_runner, write_derived

    settings = _settings(tmp_path)
    flags = pa.table({"user_id": ["u1"], "score": [0.5]})
    assert write_derived(settings, "fraud_flags", flags) == str(settings.db)
    with open_reader(settings) as wh:
        assert isinstance(wh, Warehouse) and wh.read_only
        assert wh.table("fraud_flags").to_pylist() == [{"user_id": "u1", "score": 0.5}]
    with open_runner(settings) as run:
        assert run("SELECT sum(score) AS s FROM fraud_flags")["s"][0].as_py() == 0.5


def test_overview_filters_are_quoted_literals(tmp_path: Path) -> None:
    from reelmine.service import overview

    settings = _settings(tmp_path)
    with Warehouse(settings.db) as wh:  # contract tables: filled with SQL, as ingestion does
        wh.execute("INSERT INTO users (user_id, country) VALUES ('u1', 'DE'), ('u2', 'O''Land')")
        wh.execute(
            "INSERT INTO plays (user_id, title_id, started_at, watched_seconds) VALUES "
            "('u1', 'a', TIMESTAMPTZ '2024-03-01 12:00:00+00', 3600), "
            "('u2', 'a', TIMESTAMPTZ '2024-03-01 12:00:00+00', 1800), "
            "('u2', 'b', TIMESTAMPTZ '2024-03-02 12:00:00+00', 7200)"
        )
    day = overview.daily_activity(settings, country="O'Land")
    assert day.to_pylist() == [
        {"day": dt.date(2024, 3, 1), "members": 1, "plays": 1, "hours": 0.5},
        {"day": dt.date(2024, 3, 2), "members": 1, "plays": 1, "hours": 2.0},
    ]
    one = overview.daily_activity(settings, start=dt.date(2024, 3, 2), end=dt.date(2024, 3, 2))
    assert one["plays"].to_pylist() == [1]
    top = overview.top_titles(settings, limit=1)
    assert top.select(["title_id", "hours", "plays"]).to_pylist() == [
        {"title_id": "b", "hours": 2.0, "plays": 1}
    ]
    with pytest.raises(DataError, match="after"):
        overview.daily_activity(settings, start=dt.date(2024, 3, 2), end=dt.date(2024, 3, 1))
