"""Content and market benchmark: every aggregate over a large simulated warehouse, with the
time of each job, plus burst/search quality against the planted truth and the new-title
forecast evaluation (simulator and MovieLens) against genre-mean and catalogue-mean baselines.

Simulation and ingestion are cached in ``--workdir`` and not part of the job times. The jobs
run through the service layer exactly as the CLI runs them (DuckDB warehouse, SQL pushed down,
NumPy after). No peer tool computes these reports, so the baselines are the named ones
(genre mean, catalogue mean) for the forecast.

Usage::

    python benchmarks/content.py --users 185000 --days 30 --out benchmarks/results/content.md
    # same size in minutes instead of an hour of simulation: 3,000 members copied 58 times
    python benchmarks/content.py --users 3000 --days 30 --replicate 58 \
        --out benchmarks/results/content.md
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reelmine.content import forecast as fc
from reelmine.content.trending import match_bursts
from reelmine.data.engine import sql_on_tables
from reelmine.data.schema import TABLES, stored_columns
from reelmine.data.simulator import SimulationConfig, simulate
from reelmine.data.warehouse import Warehouse
from reelmine.service import content as content_service
from reelmine.service import market as market_service
from reelmine.service.ingest import ingest
from reelmine.settings import Settings

SECRET = "content-benchmark-secret-0123456789abcdef"  # noqa: S105 (benchmark-only key)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _prepare(args: argparse.Namespace) -> tuple[Path, Settings, dict[str, float]]:
    work = Path(args.workdir)
    sim = work / f"sim-{args.users}-{args.days}-{args.seed}"
    db = work / f"w-{args.users}-{args.days}-{args.seed}-x{args.replicate}.duckdb"
    settings = Settings(db=db, secret=SECRET, key_file=work / "unused.key", batch_rows=1_000_000)
    times: dict[str, float] = {}
    if not (sim / "manifest.json").exists():
        t0 = time.perf_counter()
        simulate(
            SimulationConfig(
                users=args.users,
                days=args.days,
                seed=args.seed,
                ui_fraction=0.05,
                chunk_users=20_000,
            ),
            sim,
        )
        times["simulate"] = time.perf_counter() - t0
    if not db.exists():
        t0 = time.perf_counter()
        if args.ingest:
            ingest(settings, sim)
            times["ingest"] = time.perf_counter() - t0
        else:
            _load_direct(db, sim, args.replicate)
            times["load (direct, no pseudonyms)"] = time.perf_counter() - t0
    return sim, settings, times


ID_COLUMNS = ("user_id", "play_id", "event_id", "browse_session_id", "profile_id", "device_id")


def _load_direct(db: Path, sim: Path, replicate: int = 1) -> None:
    """Copy the simulator's Parquet files into the contract tables (stored columns only).

    Faster than ingestion and enough for timing aggregates: user_ids stay raw, raw IPs and
    PII columns are simply not copied. With ``replicate`` > 1 the member-side tables are
    copied that many times with suffixed member, play and event ids (the catalogue once): a
    large warehouse with the simulation's distributions, built in seconds.
    """
    with Warehouse(db) as wh:
        for name, table in TABLES.items():
            if name not in ("users", "titles", "plays", "ratings", "ui_events"):
                continue
            f = sim / f"{name}.parquet"
            if not f.exists():
                continue
            have = set(pq.read_schema(f).names)
            cols = [c for c, _ in stored_columns(table) if c in have]
            sel = ", ".join(f'"{c}"' for c in cols)
            copies = 1 if name == "titles" else replicate
            for i in range(copies):
                exprs = ", ".join(
                    f"\"{c}\" || '-r{i}'" if i and c in ID_COLUMNS else f'"{c}"' for c in cols
                )
                wh.execute(f"INSERT INTO {name} ({sel}) SELECT {exprs} FROM read_parquet('{f}')")


def _jobs(s: Settings) -> list[tuple[str, Callable[[], Any]]]:
    cs, ms = content_service, market_service
    return [
        ("title performance (all time, with ratings)", lambda: cs.title_performance(s)),
        (
            "title performance (week x country x age band)",
            lambda: cs.title_performance(s, period="week", by=["country", "age_band"]),
        ),
        ("title scorecard (14 d vs previous 14 d)", lambda: cs.title_scorecard(s, days=14)),
        ("series + season drop-off", lambda: cs.series_report(s).series),
        ("over/under-performers (ridge residuals)", lambda: cs.performers(s)),
        ("renewal candidates", lambda: cs.renewals(s)),
        (
            "genre trends (week x country, Holm)",
            lambda: cs.genre_trends(s, period="week", by=["country"]),
        ),
        ("trending shows (daily bursts)", lambda: cs.trending_titles(s)),
        ("trending genres", lambda: cs.trending_titles(s, level="genre")),
        ("search gaps", lambda: cs.search_demand(s)),
        (
            "members (week x country x age band)",
            lambda: ms.members(s, period="week", by=["country", "age_band"]),
        ),
        ("cohort retention (by country)", lambda: ms.retention(s, by=["country"])),
        ("plan mix", lambda: ms.plan_mix(s)),
        ("demand vs supply", lambda: ms.demand_supply(s)),
        ("opportunities (+ search gaps by country)", lambda: ms.opportunities(s)),
        ("regional taste: genres", lambda: ms.regional_taste(s)),
        ("regional taste: titles", lambda: ms.regional_taste(s, level="title")),
        ("market similarity", lambda: ms.similarity(s)),
    ]


def _rows(out: Any) -> int:
    return out.num_rows if isinstance(out, pa.Table) else 0


def _forecast_sim(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Time-split forecast evaluation on a 100-day simulation (launches need 28-day windows)."""
    out = Path(args.workdir) / "forecast-sim"
    if not (out / "manifest.json").exists():
        simulate(
            SimulationConfig(
                users=2500, days=100, seed=5, titles=700, ui_fraction=0.02, fraud_rate=0.001
            ),
            out,
        )
    t = {n: pq.read_table(out / f"{n}.parquet") for n in ("plays", "users", "titles")}
    shows = content_service.shows(t["titles"])
    first = sql_on_tables(fc.first_views_sql(), **t)
    rows = []
    for cut in ("2026-02-10", "2026-02-20"):
        hist = sql_on_tables(fc.reference_views_sql(until=cut), **t)
        ev = fc.evaluate_forecast(
            shows, first, datetime.fromisoformat(cut).replace(tzinfo=UTC), history=hist
        )
        rows += [{"data": f"simulator, cutoff {cut}", **r} for r in ev.to_pylist()]
    return rows


def _forecast_movielens(path: Path) -> list[dict[str, Any]]:
    """First-year ratings as the demand proxy; titles first rated from 2010 on are 'new'."""
    from reelmine.data.movielens import read_movielens

    ml = read_movielens(path)
    first = sql_on_tables(fc.first_ratings_sql(horizon_days=365), ratings=ml["ratings"])
    ev = fc.evaluate_forecast(
        ml["titles"], first, datetime(2010, 1, 1, tzinfo=UTC), horizon_days=365, n_neighbors=20
    )
    return [{"data": f"MovieLens {path.name}, cutoff 2010-01-01", **r} for r in ev.to_pylist()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=185_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/reelmine-content-bench")
    ap.add_argument("--movielens", default=str(SHARED / "ml-latest-small"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--ingest", action="store_true", help="Load through real ingestion.")
    ap.add_argument(
        "--replicate",
        type=int,
        default=1,
        help="Copy the simulated members N times (suffixed ids) to build a large warehouse fast.",
    )
    args = ap.parse_args()

    sim, settings, prep = _prepare(args)
    with Warehouse(settings.db, read_only=True) as wh:
        counts = {t: wh.count(t) for t in ("plays", "users", "titles", "ui_events")}
    lines = [
        "# Content and market insights benchmark",
        "",
        f"Warehouse: {counts['plays']:,} plays, {counts['users']:,} members, "
        f"{counts['titles']:,} titles, {counts['ui_events']:,} UI events "
        f"(simulator, {args.users:,} members x {args.days} days, seed {args.seed}"
        + (
            f", member side replicated {args.replicate}x with distinct ids"
            if args.replicate > 1
            else ""
        )
        + "). "
        f"DuckDB, {os.cpu_count()} cores (the load average below says whether other work "
        "shared them).",
        "",
    ]
    if prep:
        lines += [
            "Preparation (not in the total): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in prep.items()),
            "",
        ]
    lines += ["| job | rows | wall s | CPU s |", "|---|---:|---:|---:|"]
    total = cpu_total = 0.0
    results: dict[str, Any] = {}
    for name, fn in _jobs(settings):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        total += dt
        cpu_total += dc
        results[name] = out
        lines.append(f"| {name} | {_rows(out):,} | {dt:.2f} | {dc:.2f} |")
        print(f"{name}: {dt:.2f} s wall, {dc:.2f} s CPU", flush=True)
    lines += [
        f"| **total** | | **{total:.1f}** | **{cpu_total:.1f}** |",
        "",
        f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. "
        "CPU s is the process's CPU time (all DuckDB threads): on 2 otherwise idle cores the "
        "wall time lies between CPU s / 2 and CPU s."
        + (
            " Copies multiply every daily count by the same factor (not Poisson noise), so the"
            " burst count on the replicated warehouse is not a quality figure; quality is"
            " measured on one copy below."
            if args.replicate > 1
            else ""
        ),
        "",
    ]

    bursts, gaps = results["trending shows (daily bursts)"], results["search gaps"]
    if args.replicate > 1:
        # Copies multiply every count by the same factor, which is not Poisson: judge the
        # detectors on the simulation itself (one copy).
        base = argparse.Namespace(**{**vars(args), "replicate": 1})
        _, bs, _ = _prepare(base)
        bursts = content_service.trending_titles(bs)
        gaps = content_service.search_demand(bs)
    truth = pq.read_table(sim / "truth" / "trending.parquet")
    p, r = match_bursts(bursts, truth)
    planted = set(pq.read_table(sim / "truth" / "search_gaps.parquet")["query"].to_pylist())
    found = set(gaps["query"].to_pylist())
    lines += [
        "| quality vs planted truth (simulation, one copy) | value |",
        "|---|---:|",
        f"| trending bursts: precision | {p:.2f} |",
        f"| trending bursts: recall ({truth.num_rows} planted) | {r:.2f} |",
        f"| search gaps: precision | {len(found & planted) / max(len(found), 1):.2f} |",
        f"| search gaps: recall ({len(planted)} planted) | "
        f"{len(found & planted) / max(len(planted), 1):.2f} |",
        "",
    ]
    fc_rows = _forecast_sim(args)
    ml = Path(args.movielens)
    if ml.is_dir():
        fc_rows += _forecast_movielens(ml)
    lines += [
        "New-title demand forecast, time split (first-28-day views on the simulator; "
        "first-year ratings on MovieLens):",
        "",
        "| data | method | MAE | MAPE | Spearman | train | test |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in fc_rows:
        lines.append(
            f"| {row['data']} | {row['method']} | {row['mae']:.1f} | {row['mape']:.2f} | "
            f"{row['spearman']:.2f} | {row['n_train']} | {row['n_test']} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
