"""One shared Spark session (``local[2]``) and one small simulated platform for the Spark suite.

Spark costs 10-60 s to start on a busy two-core machine, so the whole suite shares one session
(session-scoped fixture) and each query's answer is memoised per engine: a test that runs an
analytic end to end reuses the answers the query-level parity tests already computed.
The suite is skipped, with the reason, when PySpark or Java is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TABLE_NAMES = ("users", "titles", "plays", "ratings", "logins", "ui_events", "campaigns")


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install 'reelmine[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs Java 17+)"
    return None


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[object]:
    """The suite's SparkEngine on ``local[2]``: few shuffle partitions, no UI."""
    reason = _spark_missing()
    if reason:
        pytest.skip(reason)
    from reelmine.data.spark import SparkEngine

    engine = SparkEngine(
        "local[2]",
        app_name="reelmine-tests",
        conf={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            # The suite keeps every registered Arrow table in the driver; ALS adds its own blocks.
            # 1g ran out late in a full run (the JVM died and every later test lost it).
            "spark.driver.memory": "3g",
            "spark.driver.extraJavaOptions": "-Xss16m",
            "spark.sql.adaptive.enabled": "true",
            # Tiny inputs: interpreting beats compiling generated code for every query.
            "spark.sql.codegen.wholeStage": "false",
        },
    )
    engine.session  # start it once, here  # noqa: B018
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def platform_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny simulated platform (120 members, 21 days) written as Parquet."""
    from reelmine.data.simulator import SimulationConfig, simulate

    out = tmp_path_factory.mktemp("spark-platform")
    simulate(SimulationConfig(users=120, days=21, seed=11), out)
    return out


@pytest.fixture(scope="session")
def platform_tables(platform_dir: Path) -> dict[str, pa.Table]:
    """The simulated tables with the warehouse's stored columns (IPs hashed as fraud expects)."""
    from reelmine.fraud import conform

    return {n: conform(pq.read_table(platform_dir / f"{n}.parquet"), n) for n in TABLE_NAMES}


def _memo(run: Callable[[str], pa.Table]) -> Callable[[str], pa.Table]:
    answers: dict[str, pa.Table] = {}

    def memo(sql: str) -> pa.Table:
        if sql not in answers:
            answers[sql] = run(sql)
        return answers[sql]

    return memo


@pytest.fixture(scope="session")
def duck_run(platform_tables: dict[str, pa.Table]) -> Callable[[str], pa.Table]:
    """DuckDB runner over the platform tables (memoised)."""
    from reelmine.data.engine import runner_on_tables

    return _memo(runner_on_tables(**platform_tables))


@pytest.fixture(scope="session")
def spark_run(
    spark_engine: object, platform_tables: dict[str, pa.Table]
) -> Callable[[str], pa.Table]:
    """Spark runner over the same tables, registered from Arrow (memoised).

    Its views live in a session of their own (same SparkContext), so tests that register other
    tables under contract names cannot replace them.
    """
    from reelmine.data.spark import SparkEngine

    assert isinstance(spark_engine, SparkEngine)
    engine = SparkEngine(session=spark_engine.session.newSession())
    for name, table in platform_tables.items():
        engine.register_arrow(name, table)
    return _memo(engine.runner())


# -- the service layer on both engines ---------------------------------------------------------
# 150 members over 60 days, ingested into a DuckDB warehouse: enough history for the content,
# market, quality, experiment and marketing use cases. The Spark settings read the same
# warehouse, exported once to Parquet (<artifacts>/spark-data) on first use.
SERVICE_SECRET = "spark-service-tests-" + "s" * 24


@pytest.fixture(scope="session")
def service_settings(
    spark_engine: object, tmp_path_factory: pytest.TempPathFactory
) -> tuple[object, object]:
    """``(duckdb_settings, spark_settings)`` over one ingested simulated platform."""
    from reelmine.service.ingest import ingest
    from reelmine.service.simulate import run_simulation
    from reelmine.settings import Settings

    root = tmp_path_factory.mktemp("spark-service")
    run_simulation(users=150, days=60, seed=3, out=root / "data")
    duck = Settings(
        artifacts=root / "art", db=root / "wh.duckdb", secret=SERVICE_SECRET, min_group_size=1
    )
    ingest(duck, root / "data")
    spark = Settings(
        artifacts=root / "art",
        db=root / "wh.duckdb",
        secret=SERVICE_SECRET,
        min_group_size=1,
        engine="spark",
        spark_master="local[2]",
    )
    return duck, spark
