"""Every portable service use case gives the same answer with ``engine="duckdb"`` and
``engine="spark"`` (Settings only: the service functions pick the engine themselves).

The Spark settings name a warehouse file that does not exist, so a use case that still opened
the DuckDB warehouse would fail here instead of passing silently: passing proves it switched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tests.spark._compare import assert_same_answer

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

Pair = tuple[Any, Any]


@pytest.fixture(scope="module")
def pair(service_settings: Pair, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """``(duckdb, spark)`` settings; Spark reads an export and has no warehouse to fall back on."""
    from reelmine.service.engine import export_for_spark

    duck, spark = service_settings
    art = tmp_path_factory.mktemp("spark-only")
    export_for_spark(duck, art / "spark-data")
    return duck, dataclasses.replace(spark, artifacts=art, db=art / "absent.duckdb")


# -- normalising results to tables -------------------------------------------------------------
_SCALARS = (str, int, float, bool, dt.datetime, dt.date, np.generic, type(None))


def _tables(obj: Any, path: str = "result") -> dict[str, pa.Table]:
    """Every table inside a result (dataclasses, dicts, lists), plus its scalars as one row."""
    if isinstance(obj, pa.Table):
        return {path: obj}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, np.ndarray):
        return {path: pa.table({"i": np.arange(obj.size), "v": obj.ravel()})}
    if isinstance(obj, list | tuple):
        if all(isinstance(v, _SCALARS) for v in obj):
            return {path: pa.table({"v": [_plain(v) for v in obj]})} if obj else {}
        out: dict[str, pa.Table] = {}
        for i, v in enumerate(obj):
            out.update(_tables(v, f"{path}[{i}]"))
        return out
    if isinstance(obj, dict):
        out, scalars = {}, {}
        for k, v in obj.items():
            if isinstance(v, _SCALARS):
                scalars[str(k)] = _plain(v)
            elif isinstance(v, pa.Table | dict | list | tuple | np.ndarray) or (
                dataclasses.is_dataclass(v) and not isinstance(v, type)
            ):
                out.update(_tables(v, f"{path}.{k}"))
            # other objects (fitted models) are not answers: skipped
        if scalars:
            out[path] = pa.table({k: [v] for k, v in scalars.items()})
        return out
    return {path: pa.table({"v": [_plain(obj)]})}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def assert_same_result(duck: Any, spark: Any, name: str) -> None:
    """Same tables (order-insensitive, floats 1e-9 relative) inside both results."""
    td, ts = _tables(duck), _tables(spark)
    assert sorted(td) == sorted(ts), f"{name}: parts differ: {sorted(td)} vs {sorted(ts)}"
    assert any(t.num_rows for t in td.values()), f"{name}: empty answer, parity would be vacuous"
    for key in td:
        assert_same_answer(td[key], ts[key], f"{name} {key}")


# -- the use cases -----------------------------------------------------------------------------
def _content() -> list[tuple[str, Callable[[Any], Any]]]:
    from reelmine.service import content as c

    def forecast(s: Any) -> Any:
        t = c.title_performance(s)
        return c.forecast_titles(s, [str(t["title_id"][0])], horizon_days=14)

    return [
        ("content.title_performance", lambda s: c.title_performance(s)),
        (
            "content.title_performance.week.country",
            lambda s: c.title_performance(s, period="week", by=("country",)),
        ),
        ("content.title_scorecard", lambda s: c.title_scorecard(s, days=14)),
        ("content.series_report", lambda s: c.series_report(s)),
        ("content.performers", lambda s: c.performers(s)),
        ("content.renewals", lambda s: c.renewals(s, kind=None)),
        ("content.genre_shares", lambda s: c.genre_shares(s, period="week")),
        ("content.genre_trends", lambda s: c.genre_trends(s, period="week")),
        ("content.trending_titles", lambda s: c.trending_titles(s, z_threshold=1.0, min_ratio=1.0)),
        ("content.search_demand", lambda s: c.search_demand(s, min_members=1)),
        ("content.forecast_titles", forecast),
        ("content.forecast_evaluation", lambda s: c.forecast_evaluation(s, horizon_days=14)),
    ]


def _market() -> list[tuple[str, Callable[[Any], Any]]]:
    from reelmine.service import market as m

    return [
        ("market.members", lambda s: m.members(s)),
        ("market.retention", lambda s: m.retention(s)),
        ("market.plan_mix", lambda s: m.plan_mix(s)),
        ("market.demand_supply", lambda s: m.demand_supply(s)),
        ("market.opportunities", lambda s: m.opportunities(s, top=None)),
        ("market.regional_taste", lambda s: m.regional_taste(s, min_members=1)),
        ("market.similarity", lambda s: m.similarity(s)),
    ]


def _quality() -> list[tuple[str, Callable[[Any], Any]]]:
    from reelmine.service import quality as q

    def explain(s: Any) -> Any:
        from reelmine.service.content import data_window
        from reelmine.service.engine import open_runner

        with open_runner(s) as run:
            hi = data_window(run)[1]
        start = dt.datetime(hi.year, hi.month, hi.day, 18, tzinfo=dt.UTC)
        return q.explain_window(s, start=start, end=start + dt.timedelta(hours=3), periods=3)

    return [
        ("quality.report", lambda s: q.quality_report(s, by=("cdn",), bucket_seconds=86400)),
        (
            "quality.incidents",
            lambda s: q.quality_incidents(s, bucket_seconds=86400, z_threshold=2.0, min_count=5),
        ),
        ("quality.explain_window", explain),
        (
            "quality.compare_groups",
            lambda s: q.compare_groups(
                s, metric="startup_ms", by="device_type", a="tv", b="mobile", n_boot=50
            ),
        ),
    ]


def _overview() -> list[tuple[str, Callable[[Any], Any]]]:
    from reelmine.service import overview as o

    return [
        ("overview.daily_activity", lambda s: o.daily_activity(s)),
        (
            "overview.daily_activity.filtered",
            lambda s: o.daily_activity(
                s, start=dt.date(2000, 1, 1), end=dt.date(2100, 1, 1), country="US"
            ),
        ),
        ("overview.top_titles", lambda s: o.top_titles(s, limit=5)),
        ("overview.top_genres", lambda s: o.top_genres(s, limit=50)),
    ]


def _experiments() -> list[tuple[str, Callable[[Any], Any]]]:
    from reelmine.service import experiments as e

    def readout(s: Any) -> Any:
        first = e.list_experiments(s)[0]["experiment_id"]
        r = e.experiment_readout(s, str(first))
        return json.loads(json.dumps(dataclasses.asdict(r), default=str))

    return [
        ("experiments.list", lambda s: e.list_experiments(s)),
        ("experiments.readout", readout),
        ("experiments.artwork", lambda s: e.warehouse_artwork_report(s).to_dict()),
    ]


def _marketing() -> list[tuple[str, Callable[[Any], Any]]]:
    from reelmine.service import marketing as mk

    return [
        ("marketing.segments", lambda s: mk.segments(s)),
        ("marketing.uplift", lambda s: mk.uplift(s)),
        ("marketing.ltv", lambda s: mk.ltv(s)),
    ]


CASES = [*_content(), *_market(), *_quality(), *_overview(), *_experiments(), *_marketing()]


@pytest.mark.parametrize(("name", "case"), CASES, ids=[c[0] for c in CASES])
def test_service_parity(name: str, case: Callable[[Any], Any], pair: Pair) -> None:
    duck, spark = pair
    assert_same_result(case(duck), case(spark), name)


@pytest.mark.slow  # every detector, on both engines
def test_fraud_service_parity(pair: Pair) -> None:
    """Scan on each engine: same flags, each stored where its engine reads them back."""
    from reelmine.service import fraud as f

    duck, spark = pair
    a, b = f.scan_warehouse(duck), f.scan_warehouse(spark)
    assert a.flags.num_rows > 0
    assert_same_answer(a.flags, b.flags, "fraud.scan")
    assert_same_answer(a.summary, b.summary, "fraud.summary")
    # Spark wrote Parquet next to its data, not into any warehouse.
    assert (Path(spark.artifacts) / "spark-data" / "fraud_flags.parquet").is_dir()
    assert not Path(spark.db).exists()
    assert_same_answer(f.list_flags(duck), f.list_flags(spark), "fraud.list_flags")
    top = f.list_flags(duck, limit=3)
    assert_same_answer(top, f.list_flags(spark, limit=3), "fraud.list_flags.limit")
    user = str(top["user_id"][0])
    assert_same_answer(
        f.account_households(duck, user), f.account_households(spark, user), "fraud.households"
    )


# One read command per capability: the CLI's --engine reaches the service layer.
CLI_COMMANDS = [
    ["content", "performance", "--format", "csv"],
    ["market", "members", "--format", "csv"],
    ["quality", "report", "--by", "cdn", "--bucket", "86400"],
    ["experiments", "list"],
    ["marketing", "segments"],
]


@pytest.mark.slow  # ten CLI runs, half of them on Spark
def test_cli_engine_option_switches_every_capability(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reelmine.cli.main import main

    duck, spark = pair
    monkeypatch.setenv("REELMINE_SECRET", duck.secret)
    monkeypatch.setenv("REELMINE_MIN_GROUP_SIZE", "1")
    monkeypatch.setenv("REELMINE_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("COLUMNS", "240")

    def cli(settings: Any, engine: str, args: list[str]) -> list[str]:
        monkeypatch.setenv("REELMINE_ARTIFACTS", str(settings.artifacts))
        code = main(["--engine", engine, "--db", str(settings.db), *args])
        out = capsys.readouterr()
        assert code == 0, f"{engine} {args}: exit {code}\n{out.err}"
        return sorted(out.out.splitlines())

    for args in CLI_COMMANDS:
        assert cli(duck, "duckdb", args) == cli(spark, "spark", args), args
    # (fraud: test_fraud_service_parity runs the scan through Settings(engine='spark').)
    # Without Spark's data the DuckDB engine has nothing to read: the switch is real.
    code = main(["--engine", "duckdb", "--db", str(spark.db), *CLI_COMMANDS[0]])
    assert code != 0 and "no warehouse" in capsys.readouterr().err
