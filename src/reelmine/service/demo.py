"""The demo: simulate a platform, build a warehouse, run every mining job, get ready to serve.

``make demo`` calls ``reelmine demo``, which runs :func:`build_demo` and then serves the API and
dashboard. Each job is an ordinary service call; a job that fails is reported with its error
and the others still run, so one broken capability never hides the rest.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelmine.settings import Settings

MOVIELENS_CANDIDATES = ("../shared/data/ml-100k", "shared/data/ml-100k")


@dataclass
class JobResult:
    """Outcome of one demo step."""

    name: str
    ok: bool
    seconds: float
    summary: str
    error: str = ""


@dataclass
class DemoResult:
    """Everything the demo built."""

    settings: Settings
    dataset: Path
    movielens: Path | None
    jobs: list[JobResult] = field(default_factory=list)

    @property
    def failed(self) -> list[JobResult]:
        return [j for j in self.jobs if not j.ok]


def find_movielens(start: Path | None = None) -> Path | None:
    """The bundled MovieLens 100k copy (``../shared/data/ml-100k``), if present."""
    base = Path.cwd() if start is None else start
    for candidate in MOVIELENS_CANDIDATES:
        path = (base / candidate).resolve()
        if (path / "u.data").is_file():
            return path
    return None


def demo_settings(out: Path, base: Settings) -> Settings:
    """Settings whose warehouse, key file and artifacts all live inside ``out``."""
    import dataclasses

    out = out.resolve()
    return dataclasses.replace(
        base,
        db=out / "reelmine.duckdb",
        artifacts=out / "artifacts",
        key_file=out / "secrets" / "pseudonym.key",
    )


def _jobs(
    settings: Settings, dataset: Path, movielens: Path | None
) -> list[tuple[str, Callable[[], str]]]:
    """The demo's steps, in order: each returns a one-line summary."""

    def simulate_summary() -> str:
        from reelmine.service.ingest import ingest

        summary = ingest(settings, dataset)
        loaded, held = sum(summary.loaded.values()), sum(summary.quarantined.values())
        return f"{loaded:,} rows loaded, {held:,} quarantined (planted duplicates)"

    def movielens_summary() -> str:
        from reelmine.service.ingest import ingest

        assert movielens is not None
        summary = ingest(settings, movielens, fmt="movielens")
        return f"MovieLens {movielens.name}: {sum(summary.loaded.values()):,} rows loaded"

    def recommend_summary() -> str:
        from reelmine.service.recommend import train

        r = train(settings)
        return (
            f"{r.model} + {r.rating_model or 'no rating model'} on {r.interactions:,} interactions"
        )

    def quality_summary() -> str:
        from reelmine.service.quality import quality_incidents

        found = {
            metric: len(quality_incidents(settings, metric=metric))
            for metric in ("error_rate", "rebuffer_ratio", "startup_p95")
        }
        return "incidents: " + ", ".join(f"{n} in {m}" for m, n in found.items())

    def fraud_summary() -> str:
        from reelmine.service.fraud import scan_warehouse

        scan = scan_warehouse(settings)
        accounts = len(set(scan.flags.column("user_id").to_pylist()))
        return f"{scan.flags.num_rows} account-security flags on {accounts} accounts"

    def content_summary() -> str:
        from reelmine.service.content import title_scorecard, trending_titles

        return (
            f"{_rows(title_scorecard(settings))} title scorecards, "
            f"{_rows(trending_titles(settings))} trending bursts"
        )

    def market_summary() -> str:
        from reelmine.service.market import members, opportunities

        found = _rows(opportunities(settings))
        return f"{_rows(members(settings))} market rows, {found} opportunities"

    def experiments_summary() -> str:
        from reelmine.service.experiments import experiment_readout, list_experiments

        ids = sorted({str(row["experiment_id"]) for row in list_experiments(settings)})
        flagged = [i for i in ids if experiment_readout(settings, i).to_dict()["srm"]["flagged"]]
        srm = ", ".join(flagged) or "none"
        return f"{len(ids)} experiments read out; sample-ratio mismatch: {srm}"

    def interface_summary() -> str:
        from reelmine.service.interface import funnel, position_report, search_report

        steps = funnel(settings).steps
        rows = position_report(settings).debiased
        search = search_report(settings)
        return (
            f"funnel of {steps.num_rows} steps, {rows.num_rows} rows compared without position "
            f"bias, {search.gaps.num_rows} search gaps"
        )

    def marketing_summary() -> str:
        from reelmine.service.marketing import segments

        result = segments(settings)
        return f"{_describe(result)}"

    jobs: list[tuple[str, Callable[[], str]]] = [("ingest simulated platform", simulate_summary)]
    if movielens is not None:
        jobs.append(("ingest MovieLens", movielens_summary))
    jobs += [
        ("recommendations", recommend_summary),
        ("streaming quality", quality_summary),
        ("fraud scan", fraud_summary),
        ("content insights", content_summary),
        ("market insights", market_summary),
        ("experiments", experiments_summary),
        ("interface insights", interface_summary),
        ("marketing segments", marketing_summary),
    ]
    return jobs


def _rows(result: Any) -> int:
    if hasattr(result, "num_rows"):
        return int(result.num_rows)
    try:
        return len(result)
    except TypeError:
        return 0


def _describe(result: Any) -> str:
    for attr in ("profiles", "table", "segments"):
        value = getattr(result, attr, None)
        if value is not None:
            return f"{_rows(value)} member segments"
    return type(result).__name__


def build_demo(
    out: Path,
    *,
    users: int,
    days: int,
    seed: int,
    base: Settings,
    movielens: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Simulate a platform into ``out/dataset``, then run every mining job over it.

    The simulated catalogue is MovieLens 100k's when ``movielens`` is given (its ratings are
    ingested too, as extra members who only rate), a generated one otherwise.
    """
    from reelmine.service.simulate import run_simulation

    settings = demo_settings(out, base)
    dataset = out.resolve() / "dataset"
    say = progress or (lambda _msg: None)
    result = DemoResult(settings, dataset, movielens)
    started = time.perf_counter()
    say(f"simulating {users:,} members over {days} days")
    try:
        sim = run_simulation(users=users, days=days, seed=seed, out=dataset, catalog=movielens)
        result.jobs.append(
            JobResult(
                "simulate", True, time.perf_counter() - started, f"{sum(sim.rows.values()):,} rows"
            )
        )
    except Exception as exc:  # the demo reports every failure instead of stopping at the first
        result.jobs.append(
            JobResult("simulate", False, time.perf_counter() - started, "", repr(exc))
        )
        return result
    if settings.db.exists():
        settings.db.unlink()  # a fresh warehouse each run keeps the demo reproducible
    for name, job in _jobs(settings, dataset, movielens):
        say(name)
        t0 = time.perf_counter()
        try:
            summary = job()
            result.jobs.append(JobResult(name, True, time.perf_counter() - t0, summary))
        except Exception as exc:
            result.jobs.append(
                JobResult(name, False, time.perf_counter() - t0, "", _short_error(exc))
            )
    return result


def _short_error(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"
