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

or, when it also needs whole tables, row counts or column lists, :func:`open_reader`, which
gives the warehouse's reading methods (``query``, ``table``, ``columns``, ``count``,
``has_table``) on either engine::

    with open_reader(settings) as wh:
        titles = wh.table("titles", columns=["title_id", "name"])

Derived tables the service layer writes (``fraud_flags``) go to the DuckDB warehouse with the
``duckdb`` engine and to ``<folder>/<table>.parquet`` next to the Spark data with ``spark``
(:func:`write_derived`); both engines read them back from there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from reelmine.data.engine import RunnerTables, SqlRunner, TableSource
from reelmine.data.schema import TABLES
from reelmine.data.warehouse import Warehouse
from reelmine.errors import ConfigError, DataError, NotFoundError
from reelmine.settings import Settings

SPARK_DATA = "spark-data"
# Tables the service layer derives and stores (besides the contract tables): the Spark engine
# registers them too when the folder holds them.
DERIVED_TABLES = ("fraud_flags",)


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
    with open_reader(settings, data=data) as source:
        yield source.query


@contextmanager
def open_reader(settings: Settings, *, data: Path | str | None = None) -> Iterator[TableSource]:
    """The data of ``settings.engine`` as a :class:`~reelmine.data.engine.TableSource`.

    With ``duckdb`` it is the warehouse itself, opened read-only (closed when the block ends);
    with ``spark`` a :class:`~reelmine.data.engine.RunnerTables` over the tables registered
    from the Parquet folder (see :func:`open_runner` for ``data``). Either way the caller
    reads with ``query`` / ``table`` / ``columns`` / ``count`` / ``has_table``.
    """
    if settings.engine == "duckdb":
        with Warehouse(settings.db, read_only=True) as wh:
            yield wh
    elif settings.engine == "spark":
        yield _spark_tables(settings, data)
    else:  # Settings validates this; kept for objects built by hand
        raise ConfigError(f"engine must be 'duckdb' or 'spark', not {settings.engine!r}")


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What the folder's table sources look like now (name, mtime, size), to reuse views."""
    out = []
    for name in (*TABLES, *DERIVED_TABLES):
        for path in (folder / f"{name}.parquet", folder / name):
            if path.exists():
                st = path.stat()
                out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


# Local folder -> (fingerprint, its tables): registering re-reads every Parquet footer, which
# costs more than many small queries; reused while the folder's files stay unchanged.
_SPARK_FOLDERS: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], RunnerTables]] = {}
_SPARK_LOCK = threading.Lock()


def _spark_tables(settings: Settings, data: Path | str | None) -> RunnerTables:
    from reelmine.data.spark import SparkEngine

    folder = _spark_folder(settings, data)
    base = SparkEngine.from_settings(settings)
    if not isinstance(folder, Path):  # a URI (hdfs://, s3a://): register what Spark finds there
        for name in (*TABLES, *DERIVED_TABLES):
            try:
                base.register_parquet(name, f"{folder.rstrip('/')}/{name}.parquet")
            except DataError:
                continue  # absent table: queries naming it fail with Spark's message
        return RunnerTables(base.runner(), list(base.views), folder)
    key = (str(folder.resolve()), str(settings.spark_master))
    with _SPARK_LOCK:
        seen = _fingerprint(folder)
        cached = _SPARK_FOLDERS.get(key)
        if cached is not None and cached[0] == seen:
            return cached[1]
        # A session of its own per folder (same SparkContext): nobody else's temporary views
        # can replace these under the same names.
        engine = SparkEngine(session=base.session.newSession())
        engine.register_folder(folder)
        for name in DERIVED_TABLES:
            if (folder / f"{name}.parquet").exists() or (folder / name).is_dir():
                engine.register_folder(folder, [name])
        tables = RunnerTables(engine.runner(), list(engine.views), folder)
        _SPARK_FOLDERS[key] = (seen, tables)
        return tables


def write_derived(
    settings: Settings, name: str, table: pa.Table, *, data: Path | str | None = None
) -> str:
    """Store a derived table (e.g. ``fraud_flags``) where ``settings.engine`` reads it back.

    ``duckdb``: table ``name`` of the warehouse (replaced). ``spark``: Parquet
    ``<folder>/<name>.parquet`` next to the Spark data (a folder of parts, replaced).

    Returns
    -------
    Where it went: the warehouse path or the Parquet location.
    """
    if settings.engine == "spark":
        from reelmine.data.spark import SparkEngine

        folder = _spark_folder(settings, data)
        target = f"{str(folder).rstrip('/')}/{name}.parquet"
        written = SparkEngine.from_settings(settings).write_parquet(table, target)
        with _SPARK_LOCK:  # the next reader registers the new files
            if isinstance(folder, Path):
                _SPARK_FOLDERS.pop((str(folder.resolve()), str(settings.spark_master)), None)
        return written
    with Warehouse(settings.db) as wh:
        wh.write_table(name, table, mode="replace")
    return str(settings.db)


def sql_runner(settings: Settings, *, data: Path | str | None = None) -> SqlRunner:
    """A standalone :data:`SqlRunner` for ``settings.engine``.

    With ``duckdb`` each call opens the warehouse read-only for that one query (safe to keep
    around, as other processes may write in between); with ``spark`` the tables in the Parquet
    folder are registered once in the process's shared SparkSession.
    """
    if settings.engine == "spark":
        return _spark_tables(settings, data).query
    if settings.engine != "duckdb":
        raise ConfigError(f"engine must be 'duckdb' or 'spark', not {settings.engine!r}")

    def run(sql: str) -> pa.Table:
        with Warehouse(settings.db, read_only=True) as wh:
            return wh.query(sql)

    return run
