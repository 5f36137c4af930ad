"""SparkEngine: transpilation with known answers, registration from Parquet, errors."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelmine.errors import DataError
from tests.spark._compare import assert_same_answer

# One xdist worker runs the whole Spark suite: one SparkSession, started once.
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]
pytest.importorskip("sqlglot")

UTC = dt.UTC


def test_transpile_rewrites_functions_whose_spark_namesake_differs() -> None:
    from reelmine.data.spark import to_spark_sql

    out = to_spark_sql(
        "SELECT extract(epoch FROM a) AS e, date_diff('second', a, b) AS s, "
        "quantile_cont(x, 0.5) AS q, 0.9 * x AS y FROM t"
    )
    assert "EXTRACT" not in out and "UNIX_MICROS" in out
    assert "DATEDIFF" not in out  # boundary counting, not Spark's elapsed units
    assert "PERCENTILE(x, CAST(0.5 AS DOUBLE))" in out
    assert "CAST(0.9 AS DOUBLE) * x" in out


def test_transpile_refuses_two_statements() -> None:
    from reelmine.data.spark import to_spark_sql

    with pytest.raises(DataError, match="one SQL statement"):
        to_spark_sql("SELECT 1; SELECT 2")


# Instants chosen to straddle boundaries: 0.2 s apart but across a second, a day, a month and
# a year boundary; DuckDB counts boundaries crossed, so each difference below is 1.
EDGE = pa.table(
    {
        "a": pa.array(
            [dt.datetime(2025, 12, 31, 23, 59, 59, 900000, tzinfo=UTC)], pa.timestamp("us", "UTC")
        ),
        "b": pa.array(
            [dt.datetime(2026, 1, 1, 0, 0, 0, 100000, tzinfo=UTC)], pa.timestamp("us", "UTC")
        ),
        "x": pa.array([1.0]),
    }
)
VALUES = pa.table(
    {
        "x": pa.array([1.0, 2.0, 3.0, 4.0, 10.0]),
        "g": ["a", "a", "b", "b", "b"],
        "l": pa.array([["a", "b"], None, [], ["c"], None], pa.list_(pa.string())),
    }
)

KNOWN: list[tuple[str, str, dict[str, object]]] = [
    (
        "boundaries",
        "SELECT date_diff('second', a, b) AS s, date_diff('minute', a, b) AS mi, "
        "date_diff('day', a, b) AS d, date_diff('month', a, b) AS mo, "
        "date_diff('year', a, b) AS y, date_diff('second', b, a) AS neg FROM edge",
        {"s": 1, "mi": 1, "d": 1, "mo": 1, "y": 1, "neg": -1},
    ),
    (
        "epoch",
        "SELECT extract(epoch FROM a) AS e, epoch(b) - epoch(a) AS gap FROM edge",
        {"e": 1767225599.9, "gap": 0.2},
    ),
    (
        "arithmetic",
        "SELECT 7 / 2 AS half, x / 0 AS by_zero, -x / (x - 1) AS neg, "
        "CAST(date_trunc('month', b) AS DATE) AS m, CAST(date_trunc('week', b) AS DATE) AS w "
        "FROM edge",
        # DuckDB divides as IEEE (inf, not NULL); 2026-01-01 is a Thursday: week from Monday.
        {
            "half": 3.5,
            "by_zero": math.inf,
            "neg": -math.inf,
            "m": dt.date(2026, 1, 1),
            "w": dt.date(2025, 12, 29),
        },
    ),
    (
        "aggregates",
        "SELECT quantile_cont(x, 0.25) AS q1, median(x) AS med, count(*) AS n, "
        "count(DISTINCT g) AS groups, sum(x) AS total, "
        "sum(len(coalesce(l, []))) AS items FROM vals",
        {"q1": 2.0, "med": 3.0, "n": 5, "groups": 2, "total": 20.0, "items": 3},
    ),
]


@pytest.mark.parametrize(("name", "sql", "want"), KNOWN, ids=[k[0] for k in KNOWN])
def test_known_answers_on_both_engines(
    name: str, sql: str, want: dict[str, object], spark_engine: object
) -> None:
    from reelmine.data.engine import sql_on_tables
    from reelmine.data.spark import SparkEngine

    assert isinstance(spark_engine, SparkEngine)
    spark_engine.register_tables(edge=EDGE, vals=VALUES)
    duck = sql_on_tables(sql, edge=EDGE, vals=VALUES)
    spark = spark_engine.query(sql)
    for answer in (duck, spark):
        got = answer.to_pylist()[0]
        for col, value in want.items():
            if isinstance(value, float):
                # abs: epoch seconds near 1.8e9 keep about 7 decimals in a double
                assert got[col] == pytest.approx(value, rel=1e-9, abs=1e-6), (name, col, got[col])
            else:
                assert got[col] == value, (name, col, got[col])
    assert_same_answer(duck, spark, name)


def test_register_folder_reads_files_and_partitioned_folders(
    spark_engine: object, tmp_path: Path
) -> None:
    from reelmine.data.spark import SparkEngine

    assert isinstance(spark_engine, SparkEngine)
    users = pa.table({"user_id": ["u1", "u2", "u3"], "country": ["DE", "FR", "DE"]})
    plays = pa.table({"user_id": ["u1", "u1", "u2", "u3"], "country": ["DE", "DE", "FR", "DE"]})
    pq.write_table(users, tmp_path / "users.parquet")  # one file, as the simulator writes
    spark_engine.write_parquet(plays, tmp_path / "plays.parquet", partition_by=["country"])
    found = spark_engine.register_folder(tmp_path)
    assert found == ["users", "plays"]
    out = spark_engine.query(
        "SELECT country, count(*) AS n FROM plays GROUP BY country ORDER BY country"
    )
    assert out.to_pylist() == [{"country": "DE", "n": 3}, {"country": "FR", "n": 1}]
    with pytest.raises(DataError, match="no Parquet for table 'ratings'"):
        spark_engine.register_folder(tmp_path, tables=["ratings"])


def test_failed_query_is_a_data_error_with_the_spark_sql(spark_engine: object) -> None:
    from reelmine.data.spark import SparkEngine

    assert isinstance(spark_engine, SparkEngine)
    spark_engine.register_arrow("vals", VALUES)
    with pytest.raises(DataError, match="no_such_column") as info:
        spark_engine.query("SELECT no_such_column FROM vals")
    assert "-- Spark SQL:" in str(info.value)


def test_service_runner_uses_the_spark_engine(
    spark_engine: object, tmp_path: Path, duck_run: Callable[[str], pa.Table]
) -> None:
    """``engine = "spark"`` settings give a runner over the Parquet folder, same answers."""
    from reelmine.service.engine import sql_runner
    from reelmine.settings import Settings

    folder = tmp_path / "export"
    folder.mkdir()
    sql = "SELECT title_id, count(*) AS plays FROM plays GROUP BY title_id"
    plays = duck_run("SELECT * FROM plays")
    pq.write_table(plays, folder / "plays.parquet")
    settings = Settings.load(environ={}, engine="spark", spark_master="local[2]", db=tmp_path / "x")
    run = sql_runner(settings, data=folder)
    assert_same_answer(duck_run(sql), run(sql), "service.sql_runner")
