"""DuckDB vs Spark parity: every portable analytic gives the same answer on both engines."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest

from tests.spark._cases import builder_cases, fraud_cases
from tests.spark._compare import assert_same_answer

# One xdist worker runs the whole Spark suite: one SparkSession, started once.
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

Run = Callable[[str], pa.Table]
CASES = builder_cases()


@pytest.mark.parametrize(("name", "sql"), CASES, ids=[c[0] for c in CASES])
def test_builder_query_parity(name: str, sql: str, duck_run: Run, spark_run: Run) -> None:
    duck = duck_run(sql)
    assert duck.num_rows > 0, f"{name}: the test data give an empty answer; parity would be vacuous"
    assert_same_answer(duck, spark_run(sql), name)


@pytest.mark.slow
def test_fraud_query_parity(duck_run: Run, spark_run: Run) -> None:
    cases = fraud_cases(duck_run)
    assert len(cases) >= 5  # one query per detector at least
    for name, sql in cases:
        assert_same_answer(duck_run(sql), spark_run(sql), name)


def test_fraud_scan_same_flags(duck_run: Run, spark_run: Run) -> None:
    from reelmine.fraud import scan

    duck, spark = scan(duck_run), scan(spark_run)
    assert duck.num_rows > 0  # the simulator plants fraud in every platform
    assert_same_answer(duck, spark, "fraud.scan")
