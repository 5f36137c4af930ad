"""reelmine.service.engine: the runner each engine setting gives (DuckDB part needs no Spark)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelmine.errors import NotFoundError

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def _settings(tmp_path: Path, engine: str):  # type: ignore[no-untyped-def]
    from reelmine.settings import Settings

    return Settings.load(
        environ={},
        db=tmp_path / "w.duckdb",
        artifacts=tmp_path / "artifacts",
        engine=engine,
        spark_master="local[2]",
    )


def _warehouse(tmp_path: Path) -> None:
    from reelmine.data.warehouse import Warehouse

    with Warehouse(tmp_path / "w.duckdb") as wh:
        wh.write_table("scores", pa.table({"k": ["a", "b", "a"], "v": [1.0, 2.0, 4.0]}))


def test_duckdb_runner_reads_the_warehouse(tmp_path: Path) -> None:
    from reelmine.service.engine import open_runner, sql_runner

    _warehouse(tmp_path)
    settings = _settings(tmp_path, "duckdb")
    sql = "SELECT k, sum(v) AS v FROM scores GROUP BY k ORDER BY k"
    with open_runner(settings) as run:
        assert run(sql).to_pylist() == [{"k": "a", "v": 5.0}, {"k": "b", "v": 2.0}]
    assert sql_runner(settings)(sql).to_pylist() == [{"k": "a", "v": 5.0}, {"k": "b", "v": 2.0}]


def test_export_for_spark_writes_one_parquet_file_per_table(tmp_path: Path) -> None:
    from reelmine.service.engine import export_for_spark, spark_data_dir

    _warehouse(tmp_path)
    settings = _settings(tmp_path, "spark")
    folder = export_for_spark(settings)
    assert folder == spark_data_dir(settings) == tmp_path / "artifacts" / "spark-data"
    assert pq.read_table(folder / "scores.parquet").num_rows == 3


def test_spark_without_data_or_warehouse_says_what_to_do(tmp_path: Path) -> None:
    from reelmine.service.engine import sql_runner

    with pytest.raises(NotFoundError, match="reelmine ingest"):
        sql_runner(_settings(tmp_path, "spark"))
