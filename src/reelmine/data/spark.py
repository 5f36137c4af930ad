"""Apache Spark engine: the same portable SQL, run on a Spark cluster (or ``local[*]``).

Mining modules keep their set-based work as SQL strings in DuckDB's dialect over the contract
tables (see :mod:`reelmine.data.engine`). :class:`SparkEngine` registers those tables as Spark
temporary views (from Parquet files or folders, or from Arrow tables in tests) and its
:meth:`SparkEngine.runner` is a :data:`~reelmine.data.engine.SqlRunner`: each string is
transpiled from DuckDB to Spark SQL with sqlglot (:func:`to_spark_sql`), run on the cluster and
its (aggregated, small) result returned as Arrow. So one definition of every analytic serves
both engines.

Also here, because only ``reelmine.data`` may import pyspark: :func:`spark_als_fit` and
:func:`spark_als_recommend`, thin wrappers of ``pyspark.ml.recommendation.ALS`` used by
:class:`reelmine.recommend.spark_als.SparkALS`.

PySpark is an optional dependency (``pip install reelmine[spark]``, and Java 17+); it is
imported lazily, and a missing install raises :class:`~reelmine.errors.ConfigError`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from reelmine.data.engine import SqlRunner
from reelmine.data.schema import TABLES
from reelmine.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame, SparkSession
    from sqlglot import exp

# Settings every reelmine session gets: UTC like the warehouse (timestamps are UTC instants),
# Arrow transfers, and non-ANSI arithmetic so x / 0 is NULL as in DuckDB instead of an error.
BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.ui.showConsoleProgress": "false",
}

_LOCK = threading.Lock()
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DECIMAL = re.compile(r"^[0-9]*\.[0-9]+$|^[0-9]+\.$")


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError(
            "the Spark engine needs PySpark: pip install 'reelmine[spark]' (and Java 17+)"
        ) from exc
    return pyspark


def _micros(node: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    # The cast lets DATE arguments through (midnight UTC, the session time zone).
    ts = exp.Cast(this=node.copy(), to=exp.DataType.build("timestamp"))
    return exp.Anonymous(this="UNIX_MICROS", expressions=[ts])


def _seconds(node: exp.Expression) -> exp.Expression:
    """Seconds since the epoch as DOUBLE, fraction kept (DuckDB's ``epoch``)."""
    from sqlglot import exp

    return exp.Div(
        this=exp.Cast(this=_micros(node), to=exp.DataType.build("double")),
        expression=exp.Literal.number(1_000_000),
    )


# Length of each unit in microseconds, for DuckDB's boundary-counting date_diff.
_UNIT_MICROS = {
    "MICROSECOND": 1,
    "MILLISECOND": 1_000,
    "SECOND": 1_000_000,
    "MINUTE": 60_000_000,
    "HOUR": 3_600_000_000,
    "DAY": 86_400_000_000,
}


def _boundaries(node: exp.Expression, size: int) -> exp.Expression:
    from sqlglot import exp

    # floor division keeps instants before 1970 on the right side of a boundary.
    return exp.Floor(this=exp.Div(this=_micros(node), expression=exp.Literal.number(size)))


def _month_index(node: exp.Expression) -> exp.Expression:
    """Months since year 0, less one: ``year * 12 + month - 1``."""
    from sqlglot import exp

    year = exp.Anonymous(this="YEAR", expressions=[node.copy()])
    month = exp.Anonymous(this="MONTH", expressions=[node.copy()])
    index = exp.Add(this=exp.Mul(this=year, expression=exp.Literal.number(12)), expression=month)
    return exp.Paren(this=exp.Sub(this=index, expression=exp.Literal.number(1)))


def _date_diff(node: exp.DateDiff) -> exp.Expression:
    """DuckDB's ``date_diff(unit, a, b)`` counts unit boundaries crossed (UTC); Spark's
    ``DATEDIFF(unit, a, b)`` counts whole units elapsed. Rewrite to boundary counts."""
    from sqlglot import exp

    unit = node.args.get("unit")
    name = (unit.name if unit is not None else "DAY").upper().rstrip("S")
    start, end = node.expression, node.this
    diff: exp.Expression
    if name in _UNIT_MICROS:
        size = _UNIT_MICROS[name]
        diff = exp.Sub(this=_boundaries(end, size), expression=_boundaries(start, size))
    elif name in {"MONTH", "QUARTER", "YEAR"}:
        per = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[name]
        diff = exp.Sub(
            this=exp.Floor(
                this=exp.Div(this=_month_index(end), expression=exp.Literal.number(per))
            ),
            expression=exp.Floor(
                this=exp.Div(this=_month_index(start), expression=exp.Literal.number(per))
            ),
        )
    else:
        return node
    return exp.Cast(this=exp.Paren(this=diff), to=exp.DataType.build("bigint"))


def _nonzero_literal(node: exp.Expression) -> bool:
    from sqlglot import exp

    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.name) != 0.0
        except ValueError:
            return False
    return False


def _ieee_div(node: exp.Div) -> exp.Expression:
    """``a / b`` as in DuckDB: IEEE division, so ``x / 0`` is +-inf (NaN for 0 / 0) where
    Spark returns NULL."""
    from sqlglot import exp

    a, b = node.this, node.expression
    inf = exp.Cast(this=exp.Literal.string("Infinity"), to=exp.DataType.build("double"))
    by_zero = exp.Mul(
        this=exp.Cast(this=exp.Paren(this=a.copy()), to=exp.DataType.build("double")),
        expression=inf,
    )
    zero = exp.EQ(this=exp.Paren(this=b.copy()), expression=exp.Literal.number(0))
    return exp.Case(ifs=[exp.If(this=zero, true=by_zero)], default=node.copy())


def _rewrite(tree: Any) -> Any:
    """Apply :func:`_portable` to every node, children before parents."""
    for node in reversed(list(tree.dfs())):
        new = _portable(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _portable(node: Any) -> Any:
    """Rewrite DuckDB constructs whose Spark translation by sqlglot changes the answer."""
    from sqlglot import exp

    if isinstance(node, exp.Extract) and node.this.name.upper() == "EPOCH":
        return _seconds(node.expression)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "date_part":
        args = node.expressions
        if len(args) == 2 and isinstance(args[0], exp.Literal) and args[0].name.lower() == "epoch":
            return _seconds(args[1])
    if isinstance(node, exp.TimeToUnix):  # duckdb epoch(ts): DOUBLE seconds, not Spark's BIGINT
        return _seconds(node.this)
    if isinstance(node, exp.DateDiff):
        return _date_diff(node)
    if isinstance(node, exp.Length) and node.this.find(exp.Array) is not None:
        # len(coalesce(list, [])): a list's length (Spark's LENGTH is for strings only).
        return exp.ArraySize(this=node.this.copy())
    if isinstance(node, exp.Literal) and not node.is_string and _DECIMAL.match(node.name):
        # DuckDB computes with such literals in DOUBLE as soon as a double is involved; Spark
        # keeps DECIMAL, whose fixed scale after a division can lose digits. Use DOUBLE.
        return exp.Cast(this=node.copy(), to=exp.DataType.build("double"))
    if isinstance(node, exp.Div) and not _nonzero_literal(node.expression):
        return _ieee_div(node)
    if isinstance(node, exp.PercentileCont):  # quantile_cont(x, q): Spark's exact percentile
        return exp.Anonymous(
            this="PERCENTILE", expressions=[node.this.copy(), node.expression.copy()]
        )
    return node


def to_spark_sql(sql: str) -> str:
    """Transpile one query from DuckDB's dialect to Spark SQL (sqlglot, plus fixes).

    sqlglot translates syntax; a few DuckDB functions mean something else under the same
    Spark name, so they are rewritten first: ``extract(epoch ...)``/``epoch(ts)`` (DOUBLE
    seconds with fraction), ``date_diff(unit, a, b)`` (boundaries crossed, not whole units
    elapsed), ``quantile_cont`` (exact ``percentile``), ``a / b`` (IEEE: ``x / 0`` is inf, not
    NULL), decimal literals (DOUBLE, as DuckDB computes with them) and ``len`` of an expression
    holding a list literal (``SIZE``).

    Raises
    ------
    DataError
        When sqlglot cannot parse or translate the query (the message keeps its reason).
    """
    try:
        import sqlglot
        from sqlglot.errors import ErrorLevel, SqlglotError
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("the Spark engine needs sqlglot: pip install 'reelmine[spark]'") from exc

    try:
        trees = sqlglot.parse(sql, read="duckdb")
        if len(trees) != 1 or trees[0] is None:
            raise DataError(f"expected one SQL statement, got {len(trees)}")
        tree = _rewrite(trees[0])
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise DataError(f"query is not portable to Spark SQL: {exc}") from exc


def _session(master: str | None, app_name: str, conf: Mapping[str, str]) -> SparkSession:
    _pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is not None:  # None: keep what spark-submit or spark-defaults.conf set
        builder = builder.master(master)
    for key, value in {**BASE_CONF, **conf}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing, bad master URL ...: say so without a JVM trace
        raise ConfigError(f"cannot start Spark (master {master!r}): {exc}") from exc
    # getOrCreate returns a running session unchanged: apply the SQL settings we rely on.
    for key, value in BASE_CONF.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, value)
    # Failed queries come back as DataError with Spark's message; the JVM log repeats them.
    session.sparkContext.setLogLevel(str(conf.get("spark.log.level", "FATAL")))
    return session


def _as_duckdb_types(table: pa.Table) -> pa.Table:
    """Spark DECIMAL results (fixed-point arithmetic on literals) as float64, DuckDB's type."""
    if not any(pa.types.is_decimal(f.type) for f in table.schema):
        return table
    fields = [
        pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _table_source(folder: Path, name: str) -> Path | None:
    """``<folder>/<name>.parquet`` (a file or a folder of parts) or ``<folder>/<name>/``."""
    for candidate in (folder / f"{name}.parquet", folder / name):
        if candidate.is_file() or (
            candidate.is_dir() and any(p.suffix == ".parquet" for p in candidate.rglob("*"))
        ):
            return candidate
    return None


class SparkEngine:
    """Contract tables registered in a Spark session, and a SQL runner over them.

    One SparkSession is shared per process (Spark allows one active context): engines built
    with the same or another master reuse it; the master of the first one wins.

    Parameters
    ----------
    master : Spark master URL: ``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``,
        ``k8s://https://host:443`` ...; ``None`` under ``spark-submit`` (its ``--master``).
    app_name : application name shown by the cluster manager.
    conf : extra Spark settings (``spark.executor.memory`` ...), applied when the session starts.
    session : an existing SparkSession to use instead (``spark-submit`` jobs, notebooks, tests).
    """

    def __init__(
        self,
        master: str | None = "local[*]",
        *,
        app_name: str = "reelmine",
        conf: Mapping[str, str] | None = None,
        session: SparkSession | None = None,
    ) -> None:
        self.master = master
        self.app_name = app_name
        self.conf = dict(conf or {})
        self._session = session
        if session is not None:
            for key, value in BASE_CONF.items():
                if key.startswith("spark.sql."):
                    session.conf.set(key, value)
        self._views: dict[str, str] = {}  # view name -> source (path or "arrow")

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> SparkEngine:
        """An engine on ``settings.spark_master`` (``REELMINE_SPARK_MASTER``)."""
        return cls(str(settings.spark_master), **kwargs)

    @property
    def session(self) -> SparkSession:
        """The process's SparkSession, started on first use."""
        if self._session is None:
            with _LOCK:
                self._session = _session(self.master, self.app_name, self.conf)
        return self._session

    # -- registration ----------------------------------------------------------------------
    def _check_name(self, name: str) -> str:
        if not _NAME.match(name):
            raise ConfigError(f"table name {name!r} is not a plain SQL identifier")
        return name

    def register_dataframe(self, name: str, frame: DataFrame, source: str = "dataframe") -> None:
        """Register a Spark DataFrame as temporary view ``name`` (replacing any before)."""
        frame.createOrReplaceTempView(self._check_name(name))
        self._views[name] = source

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Register an in-memory Arrow table as view ``name`` (tests and small lookups)."""
        self.register_dataframe(name, self.session.createDataFrame(table), "arrow")

    def register_parquet(self, name: str, path: str | Path) -> None:
        """Register Parquet at ``path`` (a file, a folder of parts, Hive-partitioned folders or
        any URI Spark reads: ``hdfs://``, ``s3a://`` ...) as view ``name``."""
        try:
            frame = self.session.read.parquet(str(path))
        except Exception as exc:
            raise DataError(
                f"cannot read Parquet for table {name!r}: {_short(exc)}", source=str(path)
            ) from exc
        self.register_dataframe(name, frame, str(path))

    def register_folder(self, folder: str | Path, tables: Iterable[str] | None = None) -> list[str]:
        """Register every contract table found in a Parquet export folder.

        A table ``t`` is ``<folder>/t.parquet`` (one file, as ``reelmine simulate`` and
        ``Warehouse.export_parquet`` write it, or a folder of part files as Spark writes it) or
        ``<folder>/t/`` (partitioned folders). Named ``tables`` that are absent raise
        :class:`DataError`; otherwise absent contract tables are skipped.

        Returns
        -------
        list of registered table names.
        """
        root = Path(folder)
        if not root.is_dir():
            raise DataError("Parquet folder does not exist", source=str(root))
        wanted = list(tables) if tables is not None else list(TABLES)
        found = []
        for name in wanted:
            src = _table_source(root, name)
            if src is None:
                if tables is not None:
                    raise DataError(
                        f"no Parquet for table {name!r} (expected {name}.parquet or {name}/)",
                        source=str(root),
                    )
                continue
            self.register_parquet(name, src)
            found.append(name)
        return found

    def register_tables(self, **tables: pa.Table | DataFrame | str | Path) -> None:
        """Register several tables at once: Arrow tables, DataFrames or Parquet paths."""
        for name, value in tables.items():
            if isinstance(value, pa.Table):
                self.register_arrow(name, value)
            elif isinstance(value, str | Path):
                self.register_parquet(name, value)
            else:
                self.register_dataframe(name, value)

    @property
    def views(self) -> dict[str, str]:
        """Registered view names and where each came from."""
        return dict(self._views)

    # -- queries ---------------------------------------------------------------------------
    def frame(self, sql: str) -> DataFrame:
        """A lazy Spark DataFrame for a DuckDB-dialect query (nothing runs yet)."""
        spark_sql = to_spark_sql(sql)
        try:
            return self.session.sql(spark_sql)
        except Exception as exc:
            raise DataError(
                f"Spark query failed: {_short(exc)}\n-- Spark SQL:\n{spark_sql}"
            ) from exc

    def query(self, sql: str) -> pa.Table:
        """Run a DuckDB-dialect query on Spark and collect its result as an Arrow table."""
        frame = self.frame(sql)
        try:
            return _as_duckdb_types(frame.toArrow())
        except Exception as exc:
            raise DataError(f"Spark query failed: {_short(exc)}") from exc

    def runner(self) -> SqlRunner:
        """A :data:`~reelmine.data.engine.SqlRunner`: ``run(sql) -> pa.Table`` on this engine."""
        return self.query

    def write_parquet(
        self, data: pa.Table | DataFrame, path: str | Path, *, partition_by: Iterable[str] = ()
    ) -> str:
        """Write Arrow or a DataFrame as a Parquet folder (overwriting); returns the path."""
        frame = self.session.createDataFrame(data) if isinstance(data, pa.Table) else data
        writer = frame.write.mode("overwrite").option("compression", "zstd")
        parts = list(partition_by)
        if parts:
            writer = writer.partitionBy(*parts)
        writer.parquet(str(path))
        return str(path)

    def stop(self) -> None:
        """Stop the shared session (the next use starts a new one)."""
        if self._session is not None:
            self._session.stop()
            self._session = None
        self._views.clear()


def _short(exc: Exception) -> str:
    """The first line of a (possibly Java-laden) Spark error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def runner_on_folder(folder: str | Path, master: str | None = "local[*]") -> SqlRunner:
    """A Spark :data:`SqlRunner` over every contract table found in a Parquet folder."""
    engine = SparkEngine(master)
    engine.register_folder(folder)
    return engine.runner()


# -- ALS (MLlib) ---------------------------------------------------------------------------
@dataclass
class SparkALSResult:
    """Factors of a fitted MLlib ALS, as dense NumPy arrays indexed by user and item index.

    Rows of users or items with no training interaction are zero (MLlib learns no factor for
    them). ``model`` is the live ``ALSModel`` (``None`` after a process restart).
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    model: Any = None


def _dense(factors: pa.Table, n: int, rank: int) -> np.ndarray:
    """``id, features`` rows (features an array of ``rank`` floats) into an (n, rank) array."""
    out = np.zeros((n, rank), dtype=np.float32)
    if factors.num_rows:
        ids = factors.column("id").to_numpy().astype(np.int64)
        flat = pa.chunked_array(factors.column("features")).combine_chunks().flatten()
        out[ids] = flat.to_numpy(zero_copy_only=False).reshape(-1, rank)
    return out


def _ratings_frame(
    engine: SparkEngine, users: np.ndarray, items: np.ndarray, values: np.ndarray
) -> DataFrame:
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if not (len(u) == len(i) == len(v)):
        raise DataError(f"users, items and values differ in length: {len(u)}, {len(i)}, {len(v)}")
    if len(u) and (u.min() < 0 or i.min() < 0 or u.max() >= 2**31 or i.max() >= 2**31):
        raise DataError("ALS needs user and item indices in 0 .. 2**31 - 1")
    table = pa.table({"user": u.astype(np.int32), "item": i.astype(np.int32), "value": v})
    return engine.session.createDataFrame(table)


def spark_als_fit(
    engine: SparkEngine,
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    *,
    shape: tuple[int, int],
    rank: int = 64,
    reg_param: float = 0.05,
    alpha: float = 2.0,
    max_iter: int = 15,
    implicit: bool = True,
    nonnegative: bool = False,
    seed: int = 0,
    num_blocks: int | None = None,
) -> SparkALSResult:
    """Fit MLlib ALS on ``(user, item, value)`` triples and pull the factors back to NumPy.

    Parameters
    ----------
    engine : where to run (its SparkSession).
    users, items : int arrays of dense indices (same length as ``values``).
    values : ratings (explicit) or interaction strengths (implicit: confidence
        ``1 + alpha * value``, Hu, Koren & Volinsky 2008).
    shape : ``(n_users, n_items)`` of the dense index space (factor arrays get these rows).
    rank, reg_param, alpha, max_iter, nonnegative, seed : MLlib ALS parameters (MLlib scales
        ``reg_param`` by each row's interaction count, ALS-WR).
    implicit : implicit-feedback ALS (``True``) or explicit rating ALS.
    num_blocks : user and item blocks (default: Spark's default parallelism).

    Returns
    -------
    SparkALSResult with float32 ``user_factors`` (n_users, rank), ``item_factors``
    (n_items, rank) and the live MLlib model.
    """
    _pyspark()
    from pyspark.ml.recommendation import ALS

    frame = _ratings_frame(engine, users, items, values)
    als = ALS(
        rank=rank,
        maxIter=max_iter,
        regParam=reg_param,
        alpha=alpha,
        implicitPrefs=implicit,
        nonnegative=nonnegative,
        seed=seed,
        userCol="user",
        itemCol="item",
        ratingCol="value",
        coldStartStrategy="drop",
    )
    if num_blocks is not None:
        als = als.setNumUserBlocks(num_blocks).setNumItemBlocks(num_blocks)
    try:
        model = als.fit(frame)
        uf = model.userFactors.toArrow()
        itf = model.itemFactors.toArrow()
    except Exception as exc:
        raise DataError(f"Spark ALS failed: {_short(exc)}") from exc
    return SparkALSResult(_dense(uf, shape[0], rank), _dense(itf, shape[1], rank), model)


def spark_als_recommend(
    engine: SparkEngine,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    k: int = 10,
    *,
    seen_users: np.ndarray | None = None,
    seen_items: np.ndarray | None = None,
    out: str | Path | None = None,
) -> pa.Table | str:
    """Top-``k`` items of every user scored on Spark, training items excluded.

    Scores are dot products of the factor rows (what MLlib's ``recommendForAllUsers`` does);
    the scoring is a Spark job over factor DataFrames, so it scales with the cluster, and the
    result can be written straight to Parquet for the API to serve.

    Parameters
    ----------
    engine : where to run.
    user_factors, item_factors : (n_users, rank) and (n_items, rank) arrays.
    k : items per user.
    seen_users, seen_items : parallel index arrays of training interactions to exclude.
    out : when given, a Parquet folder to write (columns ``user``, ``rank``, ``item``,
        ``score``) and its path is returned instead of the table.

    Returns
    -------
    Arrow table ``user`` (int32), ``rank`` (int32, 1 = best), ``item`` (int32), ``score``
    (float32), ordered by user then rank; or the Parquet path when ``out`` is given.
    """
    _pyspark()
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    uf = np.asarray(user_factors, dtype=np.float32)
    itf = np.asarray(item_factors, dtype=np.float32)
    if uf.ndim != 2 or itf.ndim != 2 or uf.shape[1] != itf.shape[1]:
        raise DataError(f"factor shapes {uf.shape} and {itf.shape} do not match")
    rank = uf.shape[1]
    s = engine.session

    def factors(arr: np.ndarray, id_name: str) -> DataFrame:
        feats = pa.FixedSizeListArray.from_arrays(pa.array(arr.ravel()), rank)
        tab = pa.table(
            {id_name: np.arange(len(arr), dtype=np.int32), "f": feats.cast(pa.list_(pa.float32()))}
        )
        return s.createDataFrame(tab)

    users_df = factors(uf, "user")
    items_df = F.broadcast(factors(itf, "item").withColumnRenamed("f", "g"))
    dot = F.aggregate(
        F.zip_with("f", "g", lambda a, b: a * b), F.lit(0.0).cast("float"), lambda acc, x: acc + x
    )
    scored = users_df.crossJoin(items_df).select("user", "item", dot.alias("score"))
    if seen_users is not None and seen_items is not None and len(seen_users):
        seen = s.createDataFrame(
            pa.table(
                {
                    "user": np.asarray(seen_users, dtype=np.int32),
                    "item": np.asarray(seen_items, dtype=np.int32),
                }
            )
        )
        scored = scored.join(seen, ["user", "item"], "left_anti")
    w = Window.partitionBy("user").orderBy(F.desc("score"), F.asc("item"))
    top = (
        scored.withColumn("rank", F.row_number().over(w))
        .where(F.col("rank") <= k)
        .select(
            "user", F.col("rank").cast("int").alias("rank"), "item", F.col("score").cast("float")
        )
    )
    if out is not None:
        return engine.write_parquet(top, out)
    result = top.orderBy("user", "rank").toArrow()
    return result
