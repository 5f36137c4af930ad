"""Scale benchmark: the content, market, quality and fraud jobs on DuckDB and on Spark local,
at growing numbers of plays, with wall time and peak memory (RSS of the process tree) per job.

Data: one simulated platform (``--base-users`` members, ``--days`` days) whose members are
copied under new IDs until each size's play count is reached (simulating 50M plays directly
takes hours; copies keep every distribution, and each copy is a distinct member to the jobs).
Tables are written once per size, with the warehouse's stored columns, as one Parquet file per
table (``<dir>/<table>.parquet``); both engines read the same files: DuckDB through Arrow
datasets (no load step), Spark as temporary views.

Jobs (identical SQL on both engines, transpiled for Spark by ``reelmine.data.spark``):

* content: title metrics by week and country, genre shares by month, daily views;
* market: members by month and country, taste by country and genre, cohorts;
* quality: the ``plays`` quality columns read through the engine, then
  ``reelmine.quality.quality_metrics`` by CDN and hour (NumPy);
* fraud: every detector (``reelmine.fraud.scan``).

Each (engine, size) runs in its own process so peak memory is that job's alone; Spark's figure
includes its JVM. Spark's start-up is reported apart from the jobs.

Usage::

    python benchmarks/scale.py --sizes 1000000 --out benchmarks/results/scale.md
    # the issue's full grid (hours on two cores; ~25 GB of disk at 50M):
    python benchmarks/scale.py --sizes 1000000 10000000 50000000 --spark-memory 16g \
        --out benchmarks/results/scale.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

TABLES = ("users", "titles", "plays", "ratings", "logins", "ui_events")
PER_MEMBER = ("users", "plays", "ratings", "logins", "ui_events")
ID_COLUMNS = ("user_id", "device_id", "profile_id", "browse_session_id", "session_id")
JOBS = ("content", "market", "quality", "fraud")


# -- data ------------------------------------------------------------------------------------
def _base(work: Path, users: int, days: int, seed: int) -> Path:
    from reelmine.data.simulator import SimulationConfig, simulate

    out = work / f"base-{users}-{days}-{seed}"
    if not (out / "manifest.json").exists():
        simulate(SimulationConfig(users=users, days=days, seed=seed, ui_fraction=0.05), out)
    return out


def _copy(table: pa.Table, r: int) -> pa.Table:
    """Copy ``r`` of a per-member table: member-scoped IDs get a ``~r`` suffix."""
    if r == 0:
        return table
    cols = []
    for name in table.column_names:
        col = table.column(name)
        if name in ID_COLUMNS and pa.types.is_string(col.type):
            col = pc.binary_join_element_wise(col, pa.scalar(f"~{r}"), "")
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def prepare(work: Path, base: Path, target_plays: int) -> tuple[Path, int]:
    """Write the stored tables for ``target_plays`` (copies of the base); returns folder, plays."""
    from reelmine.fraud import conform

    base_plays = pq.ParquetFile(base / "plays.parquet").metadata.num_rows
    copies = max(1, math.ceil(target_plays / base_plays))
    out = work / f"{base.name}-x{copies}"
    done = out / "done.json"
    if done.exists():
        return out, json.loads(done.read_text())["plays"]
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        table = conform(pq.read_table(base / f"{name}.parquet"), name)
        with pq.ParquetWriter(out / f"{name}.parquet", table.schema, compression="zstd") as w:
            for r in range(copies if name in PER_MEMBER else 1):
                w.write_table(_copy(table, r), row_group_size=1_000_000)
    plays = pq.ParquetFile(out / "plays.parquet").metadata.num_rows
    done.write_text(json.dumps({"plays": plays, "copies": copies}))
    return out, plays


# -- jobs ------------------------------------------------------------------------------------
def jobs(run: Callable[[str], pa.Table]) -> dict[str, Callable[[], int]]:
    """Each job returns the number of result rows (so both engines can be checked)."""
    from reelmine.content import performance, trending, trends
    from reelmine.fraud import scan
    from reelmine.market import markets, opportunity
    from reelmine.quality.metrics import quality_metrics

    def content() -> int:
        a = run(performance.title_metrics_sql(period="week", by=("country",)))
        b = run(trends.genre_share_sql(period="month"))
        c = run(trending.daily_views_sql())
        return a.num_rows + b.num_rows + c.num_rows

    def market() -> int:
        a = run(markets.members_sql(period="month", by=("country",)))
        b = run(opportunity.taste_sql())
        c = run(markets.cohort_sql(by=("country",)))
        return a.num_rows + b.num_rows + c.num_rows

    def quality() -> int:
        plays = run(
            "SELECT started_at, ended_at, watched_seconds, startup_ms, rebuffer_count, "
            "rebuffer_ms, avg_bitrate_kbps, error_code, exit_before_start, cdn FROM plays"
        )
        return quality_metrics(plays, by=["cdn"], bucket_seconds=3600).num_rows

    def fraud() -> int:
        return scan(run).num_rows

    return {"content": content, "market": market, "quality": quality, "fraud": fraud}


class PeakRss:
    """Samples the RSS of this process and its children (Spark's JVM) every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _rss(self) -> int:
        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def worker(
    engine: str, folder: Path, spark_memory: str, only: Sequence[str] = JOBS
) -> dict[str, Any]:
    """Run the jobs (all by default) on one engine over one folder; times in s, RSS in MiB."""
    result: dict[str, Any] = {"engine": engine}
    t0 = time.perf_counter()
    if engine == "duckdb":
        from reelmine.data.engine import runner_on_tables

        # Arrow datasets: DuckDB scans the Parquet files lazily (projection pushed down).
        views = {n: ds.dataset(folder / f"{n}.parquet") for n in TABLES}
        run = runner_on_tables(**views)  # type: ignore[arg-type]
    else:
        from reelmine.data.spark import SparkEngine

        eng = SparkEngine(
            "local[2]",
            app_name="reelmine-scale",
            conf={
                "spark.ui.enabled": "false",
                "spark.driver.memory": spark_memory,
                # The quality and fraud jobs collect whole columns of plays to the driver as
                # Arrow (several GB at 50M plays); Spark's default cap on results is 1g.
                "spark.driver.maxResultSize": "0",
                "spark.sql.shuffle.partitions": "8",
                "spark.sql.adaptive.enabled": "true",
            },
        )
        eng.register_folder(folder, TABLES)
        run = eng.runner()
    result["startup_s"] = time.perf_counter() - t0
    for name, job in jobs(run).items():
        if name not in only:
            continue
        with PeakRss() as mem:
            t = time.perf_counter()
            try:
                rows = job()
                result[name] = {
                    "s": time.perf_counter() - t,
                    "rows": rows,
                    "peak_mib": mem.peak / 2**20,
                }
            except Exception as exc:  # a job that fails (e.g. out of memory) is reported
                result[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        result[name]["peak_mib"] = max(result[name].get("peak_mib", 0.0), mem.peak / 2**20)
        # One line per finished job: a worker killed later (out of memory) keeps these.
        line = {"job": name, "startup_s": result["startup_s"], **result[name]}
        print(json.dumps(line), flush=True)
    return result


def _cell(r: dict[str, Any], job: str) -> str:
    j = r.get(job, {})
    if "error" in j:
        return f"failed: {j['error'][:70]}"
    return f"{j['s']:.1f} s / {j['peak_mib']:,.0f} MiB"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| plays | engine | start-up | " + " | ".join(JOBS) + " | results agree |",
        "|---:|---|---:|" + "---:|" * len(JOBS) + "---|",
    ]
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_size.setdefault(r["plays"], {})[r["engine"]] = r
    for plays, engines in sorted(by_size.items()):
        d, s = engines.get("duckdb"), engines.get("spark")
        agree = "-"
        complete = d and s and all("rows" in r.get(j, {}) for r in (d, s) for j in JOBS)
        if complete and d and s:
            same = all(
                d.get(j, {}).get("rows") == s.get(j, {}).get("rows") and "rows" in d.get(j, {})
                for j in JOBS
            )
            agree = "yes (row counts)" if same else "NO"
        for name, r in engines.items():
            cells = " | ".join(_cell(r, j) for j in JOBS)
            up = r["startup_s"]
            up_cell = f"{up:.1f} s" if up == up else "-"  # NaN: the worker died
            lines.append(f"| {plays:,} | {name} | {up_cell} | {cells} | {agree} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="plays per size")
    p.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    p.add_argument("--base-users", type=int, default=4000)
    p.add_argument("--days", type=int, default=28)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--workdir", default=os.environ.get("REELMINE_BENCH_DIR", "/tmp/reelmine-scale"))
    p.add_argument("--spark-memory", default="6g", help="spark.driver.memory (local mode)")
    p.add_argument("--out", help="also write the Markdown table to this file")
    p.add_argument("--fresh", action="store_true", help="rerun sizes already measured in --workdir")
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds per (engine, size) worker; none: wait"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: tabulate what --workdir holds (failed and timed-out runs included)",
    )
    p.add_argument(
        "--jobs",
        nargs="+",
        choices=JOBS,
        default=list(JOBS),
        help="rerun only these jobs of an incomplete (engine, size); the others are kept",
    )
    p.add_argument("--worker", nargs=2, metavar=("ENGINE", "FOLDER"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        res = worker(args.worker[0], Path(args.worker[1]), args.spark_memory, args.jobs)
        print(json.dumps(res))
        return

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base = _base(work, args.base_users, args.days, args.seed)
    rows: list[dict[str, Any]] = []
    # Measurements are kept per (data, engine) so a later, bigger size reuses the small ones.
    cache = work / "results.jsonl"
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if cache.exists() and not args.fresh:
        for line in cache.read_text().splitlines():
            r = json.loads(line)
            done[(r["folder"], r["engine"])] = r
    for size in args.sizes:
        folder, plays = prepare(work, base, size)
        for engine in args.engines:
            known = done.get((folder.name, engine))
            if known is not None and (known.get("complete", True) or args.report_only):
                rows.append(known)
                continue
            if args.report_only:
                continue
            cmd = [sys.executable, __file__, "--worker", engine, str(folder)]
            cmd += ["--spark-memory", args.spark_memory, "--jobs", *args.jobs]
            try:
                proc = subprocess.run(
                    cmd, capture_output=True, text=True, check=False, timeout=args.timeout
                )
            except subprocess.TimeoutExpired as exc:  # failed cells; finished jobs are kept
                out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
                proc = subprocess.CompletedProcess(cmd, 124, out, "timed out")
            if proc.returncode != 0:
                why = {-9: "killed (out of memory?)", 124: "timed out"}.get(proc.returncode, "")
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
                r = {"engine": engine, "startup_s": float("nan")}
                r.update({j: {"error": f"exit {proc.returncode}: {why or tail[0]}"} for j in JOBS})
                for line in (proc.stdout or "").splitlines():  # jobs finished before it died
                    if line.startswith('{"job"'):
                        done_job = json.loads(line)
                        r["startup_s"] = done_job.pop("startup_s")
                        r[done_job.pop("job")] = done_job
            else:
                r = json.loads(proc.stdout.strip().splitlines()[-1])
            if known is not None and set(args.jobs) != set(JOBS):
                # A partial rerun: the jobs not rerun keep their earlier figures.
                r = {**known, **{k: v for k, v in r.items() if k in args.jobs}}
            r["plays"] = plays
            r["folder"] = folder.name
            rows.append(r)
            print(json.dumps(r), file=sys.stderr)
            # Failed runs are kept too (for --report-only) but rerun unless complete.
            r["complete"] = "startup_s" in r and all("s" in r.get(j, {}) for j in JOBS)
            with cache.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
    cpu = f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    text = (
        "## Scale: DuckDB vs Spark local\n\n"
        f"Machine: {platform.machine()}, {cpu} (shared with other work while measured: timings "
        "are contended). Cells: wall time / peak RSS of the process tree (Spark: with its JVM). "
        f"Base platform {args.base_users:,} members x {args.days} days, copied to each size. "
        f"Spark `local[2]`, driver memory {args.spark_memory}. Total run "
        f"{(time.perf_counter() - t0) / 60:.1f} min.\n\n" + table(rows) + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
