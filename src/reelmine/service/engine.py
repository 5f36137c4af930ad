"""Pick the SQL engine for a use case: the embedded DuckDB warehouse or a Spark cluster.

Every portable analytic takes a :data:`~reelmine.data.engine.SqlRunner` (``run(sql) ->
pa.Table``). ``settings.engine`` (``--engine`` on the CLI, ``REELMINE_ENGINE``, or ``engine``
in the TOML file) decides which one a use case gets:

* ``duckdb`` (default): queries run on the warehouse file ``settings.db``, read-only.
* ``spark``: queries are transpiled to Spark SQL and run on ``settings.spark_master``
  (``REELMINE_SPARK_MASTER``; ``local[*]`` by default) over the contract tables in a Parquet
  folder (``<folder>/<table>.parquet``, a file or a folder of parts, or ``<folder>/<table>/``).
  The folder defaults to ``<settings.artifacts>/spark-data``; when it holds no ``plays`` yet and
  the warehouse exists, the warehouse is exported there first (:func:`export_for_spark`).

A service function uses it as::

    with open_runner(settings) as run:
        metrics = run(performance.title_metrics_sql(period="week"))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from reelmine.data.engine import SqlRunner
from reelmine.data.schema import TABLES
from reelmine.data.warehouse import Warehouse
from reelmine.errors import ConfigError, DataError, NotFoundError
from reelmine.settings import Settings

SPARK_DATA = "spark-data"


def spark_data_dir(settings: Settings) -> Path:
    """Where the Spark engine reads the contract tables: ``<artifacts>/spark-data``."""
    return Path(settings.artifacts) / SPARK_DATA


def export_for_spark(settings: Settings, out: Path | None = None) -> Path:
    """Export every warehouse table to ``out`` (default :func:`spark_data_dir`) as Parquet.

    On a real cluster put the folder on storage every executor reads (HDFS, S3, a shared
    mount) and pass that path instead.
    """
    target = Path(out) if out is not None else spark_data_dir(settings)
    with Warehouse(settings.db, read_only=True) as wh:
        wh.export_parquet(target)
    return target


def _spark_folder(settings: Settings, data: Path | str | None) -> Path | str:
    if data is not None:
        return data
    folder = spark_data_dir(settings)
    has_plays = (folder / "plays.parquet").exists() or (folder / "plays").is_dir()
    if not has_plays:
        if not Path(settings.db).is_file():
            raise NotFoundError(
                f"the Spark engine found no Parquet tables in {folder} and no warehouse at "
                f"{settings.db} to export; run `reelmine ingest`, or write the tables there"
            )
        export_for_spark(settings, folder)
    return folder


@contextmanager
def open_runner(settings: Settings, *, data: Path | str | None = None) -> Iterator[SqlRunner]:
    """The SQL runner of ``settings.engine``, closed (DuckDB) when the block ends.

    Parameters
    ----------
    settings : reads ``engine``, ``db``, ``spark_master`` and ``artifacts``.
    data : Spark only: the Parquet folder (local path or a URI such as ``s3a://bucket/x``)
        holding the contract tables; default :func:`spark_data_dir`.
    """
    if settings.engine == "duckdb":
        with Warehouse(settings.db, read_only=True) as wh:
            yield wh.query
    elif settings.engine == "spark":
        yield sql_runner(settings, data=data)
    else:  # Settings validates this; kept for objects built by hand
        raise ConfigError(f"engine must be 'duckdb' or 'spark', not {settings.engine!r}")


def sql_runner(settings: Settings, *, data: Path | str | None = None) -> SqlRunner:
    """A standalone :data:`SqlRunner` for ``settings.engine``.

    With ``duckdb`` each call opens the warehouse read-only for that one query (safe to keep
    around, as other processes may write in between); with ``spark`` the tables in the Parquet
    folder are registered once in the process's shared SparkSession.
    """
    if settings.engine == "spark":
        from reelmine.data.spark import SparkEngine

        folder = _spark_folder(settings, data)
        engine = SparkEngine.from_settings(settings)
        if isinstance(folder, Path):
            engine.register_folder(folder)
        else:  # a URI (hdfs://, s3a://): register the contract tables Spark finds under it
            for name in TABLES:
                try:
                    engine.register_parquet(name, f"{folder.rstrip('/')}/{name}.parquet")
                except DataError:
                    continue  # absent table: queries naming it fail with Spark's message
        return engine.runner()
    if settings.engine != "duckdb":
        raise ConfigError(f"engine must be 'duckdb' or 'spark', not {settings.engine!r}")

    def run(sql: str) -> pa.Table:
        with Warehouse(settings.db, read_only=True) as wh:
            return wh.query(sql)

    return run
