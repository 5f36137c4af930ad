"""Ingest speed: reelmine (validation + pseudonymisation) vs a bare DuckDB load, same files.

Generates N synthetic ``plays`` rows (contract columns including ip, device_id and the quality
columns) as CSV and as Parquet in a temporary folder, then measures, each in its own
subprocess so peak RSS is per run:

* bare DuckDB: ``CREATE TABLE plays AS SELECT * FROM read_csv(...)`` / ``read_parquet(...)``;
* reelmine: ``ingest_folder`` (type checks, ranges, country codes, key de-duplication,
  HMAC pseudonyms of user/device/profile IDs, keyed IP and /24 hashes, quarantine); a clean
  CSV takes the typed fast path (DuckDB's typed CSV parser); ``--text-path`` also measures
  the CSV read as text (``fast_csv=False``), the path a file with unparseable values takes.

Usage::

    python benchmarks/ingest.py --rows 10000000 --out benchmarks/results/ingest.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

COUNTRIES = np.array(["DE", "FR", "US", "GB", "JP", "BR", "IN", "ES", "IT", "NL"])
DEVICE_TYPES = np.array(["tv", "mobile", "tablet", "web", "console"])
OSES = np.array(["android", "ios", "tizen", "webos", "windows", "macos"])
CDNS = np.array(["C1", "C2", "C3"])
ISPS = np.array([f"I{i}" for i in range(12)])
ERRORS = np.array(["", "", "", "", "", "", "", "", "", "E1001"])


def _prefixed(prefix: str, ints: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), pc.cast(pa.array(ints), pa.string()), "")


def generate(n: int, seed: int = 7, chunk: int = 1_000_000) -> list[pa.Table]:
    """``n`` plays in chunks, vectorised (no Python loop over rows)."""
    rng = np.random.default_rng(seed)
    n_users = max(10, n // 100)
    out = []
    t0 = 1_735_689_600  # 2025-01-01
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        user = rng.integers(0, n_users, m)
        started = t0 + rng.integers(0, 90 * 86400, m)
        watched = rng.gamma(2.0, 1200.0, m).round(1)
        ended = started + np.ceil(watched).astype(np.int64) + rng.integers(0, 120, m)
        # ~3 addresses per member, all inside one /24 per member and country.
        a, b, c = (user >> 16) % 223 + 1, (user >> 8) % 256, user % 256
        d = (user * 7 + rng.integers(0, 3, m)) % 254 + 1
        ip = pc.binary_join_element_wise(
            *(pc.cast(pa.array(x), pa.string()) for x in (a, b, c, d)), "."
        )
        ts = pa.array(started * 1_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        te = pa.array(ended * 1_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        startup = rng.lognormal(6.7, 0.5, m).round(0)
        rebuf = rng.poisson(0.3, m)
        table = pa.table(
            {
                "play_id": _prefixed("p", np.arange(start, start + m)),
                "user_id": _prefixed("u", user),
                "title_id": _prefixed("t", rng.zipf(1.3, m) % 20_000),
                "started_at": ts,
                "ended_at": te,
                "watched_seconds": watched,
                "profile_id": _prefixed("pr", user * 4 + rng.integers(0, 3, m)),
                "device_id": _prefixed("d", user * 3 + rng.integers(0, 2, m)),
                "device_type": DEVICE_TYPES[user % 5],
                "os": OSES[(user // 5) % 6],
                "app_version": pc.binary_join_element_wise(
                    pa.scalar("7."), pc.cast(pa.array(rng.integers(0, 9, m)), pa.string()), ""
                ),
                "ip": ip,
                "country": COUNTRIES[user % 10],
                "latitude": rng.uniform(-60, 70, m).round(4),
                "longitude": rng.uniform(-180, 180, m).round(4),
                "isp": ISPS[user % 12],
                "cdn": CDNS[rng.integers(0, 3, m)],
                "startup_ms": startup,
                "rebuffer_count": rebuf,
                "rebuffer_ms": (rebuf * rng.gamma(2.0, 800.0, m)).round(0),
                "avg_bitrate_kbps": rng.normal(4300, 900, m).clip(300, 16000).round(0),
                "error_code": ERRORS[rng.integers(0, 10, m)],
                "exit_before_start": rng.random(m) < 0.02,
            }
        )
        out.append(table)
    return out


def write_files(chunks: list[pa.Table], folder: Path) -> tuple[Path, Path]:
    """``csv/plays.csv`` and ``parquet/plays.parquet`` from the chunks."""
    (folder / "csv").mkdir(parents=True)
    (folder / "parquet").mkdir(parents=True)
    csv_path, pq_path = folder / "csv" / "plays.csv", folder / "parquet" / "plays.parquet"
    schema = chunks[0].schema
    with pacsv.CSVWriter(csv_path, schema) as w_csv, pq.ParquetWriter(pq_path, schema) as w_pq:
        for t in chunks:
            w_csv.write_table(t)
            w_pq.write_table(t, row_group_size=1_000_000)
    return csv_path, pq_path


def _run_one(kind: str, path: Path, db: Path, batch_rows: int, threads: int) -> dict[str, float]:
    """Inside the child process: one measurement."""
    t = time.perf_counter()
    phases: dict[str, float] = {}
    fast = 0.0
    if kind.startswith("duckdb"):
        import duckdb

        con = duckdb.connect(str(db), config={"threads": threads})
        con.execute("SET enable_progress_bar = false").fetchall()
        fn = "read_csv" if kind == "duckdb-csv" else "read_parquet"
        con.execute(f"CREATE TABLE plays AS SELECT * FROM {fn}('{path}')").fetchall()
        rows = con.execute("SELECT count(*) FROM plays").fetchall()[0][0]
        con.execute("CHECKPOINT").fetchall()
        con.close()
        loaded = rows
    else:
        from reelmine.data import ingest
        from reelmine.data.pseudonym import Pseudonymiser
        from reelmine.data.warehouse import Warehouse

        # Time the two passes (first pass: distinct IDs + HMAC; load: the INSERT ... SELECT).
        for name in ("_prepare", "_load"):
            original = getattr(ingest.Ingestor, name)

            def timed(*a: object, _f: object = original, _n: str = name) -> object:
                t0 = time.perf_counter()
                try:
                    return _f(*a)  # type: ignore[operator]
                finally:
                    phases[_n] = phases.get(_n, 0.0) + time.perf_counter() - t0

            setattr(ingest.Ingestor, name, timed)
        with Warehouse(db, threads=threads) as wh:
            # fast_csv only when asked, so the script also measures older reelmine versions.
            text = {"fast_csv": False} if kind == "reelmine-text-csv" else {}
            s = ingest.ingest_folder(
                wh,
                path.parent,
                Pseudonymiser(b"benchmark-key-0123456789"),
                batch_rows=batch_rows,
                **text,  # type: ignore[arg-type]
            )
        rows, loaded = s.rows_read, sum(s.loaded.values())
        fast = float(all(getattr(f, "fast", False) for f in s.files))
    seconds = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = _peak_rss_mb(usage)
    cpu = usage.ru_utime + usage.ru_stime  # all threads; steadier than wall time on a busy machine
    return {
        "rows": rows,
        "loaded": loaded,
        "seconds": seconds,
        "cpu_s": cpu,
        "rss_mb": rss,
        "first_pass_s": phases.get("_prepare", 0.0),
        "load_s": phases.get("_load", 0.0),
        "fast": fast,
    }


def _peak_rss_mb(usage: resource.struct_rusage) -> float:
    """Peak RSS of this process in MiB.

    ``VmHWM`` of /proc/self/status, not ``ru_maxrss``: on Linux ``ru_maxrss`` survives
    fork + exec, so a child would report the parent's peak (the generator holds ~2 GB).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return usage.ru_maxrss / 1024  # KiB -> MiB on Linux


def _duckdb_version() -> str:
    import duckdb

    return str(duckdb.__version__)


def measure(
    kind: str, path: Path, workdir: Path, batch_rows: int, threads: int
) -> dict[str, float]:
    db = workdir / f"{kind}.duckdb"
    if db.exists():
        db.unlink()
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--path",
        str(path),
        "--db",
        str(db),
        "--batch-rows",
        str(batch_rows),
        "--threads",
        str(threads),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{res.stderr}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    db.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--batch-rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    ap.add_argument("--formats", default="csv,parquet", help="sources to measure: csv,parquet")
    ap.add_argument(
        "--keep", type=Path, default=None, help="work in this folder and keep the files"
    )
    ap.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="DuckDB threads for both loaders"
    )
    ap.add_argument(
        "--text-path",
        action="store_true",
        help="also measure reelmine reading the CSV as text (fast_csv=False)",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_run_one(args.child, args.path, args.db, args.batch_rows, args.threads)))
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="reelmine-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        csv_path, pq_path = work / "csv" / "plays.csv", work / "parquet" / "plays.parquet"
        reuse = args.keep is not None and csv_path.is_file() and pq_path.is_file()
        if reuse and pq.ParquetFile(pq_path).metadata.num_rows == args.rows:
            print(f"reusing the files in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work / "csv", ignore_errors=True)
            shutil.rmtree(work / "parquet", ignore_errors=True)
            csv_path, pq_path = write_files(generate(args.rows), work)
        gen_s = time.perf_counter() - t
        csv_mb = csv_path.stat().st_size / 1e6
        results = {}
        fmts = [f.strip() for f in args.formats.split(",") if f.strip()]
        for kind, path in (
            ("duckdb-csv", csv_path),
            ("reelmine-csv", csv_path),
            ("reelmine-text-csv", csv_path),
            ("duckdb-parquet", pq_path),
            ("reelmine-parquet", pq_path),
        ):
            if kind.split("-")[-1] not in fmts or (
                kind == "reelmine-text-csv" and not args.text_path
            ):
                continue
            results[kind] = measure(kind, path, work, args.batch_rows, args.threads)
            print(f"{kind}: {results[kind]}", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    lines = [
        f"Ingest of {args.rows:,} `plays` rows ({csv_mb:,.0f} MB CSV), "
        f"{os.cpu_count()} cores visible, DuckDB threads {args.threads}, "
        f"Python {platform.python_version()}, "
        f"DuckDB {_duckdb_version()}, files generated in {gen_s:.1f} s.",
        "",
        "| source | loader | wall s | rows/s | vs bare (wall) | CPU s | vs bare (CPU) "
        "| peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "duckdb": "bare DuckDB `CREATE TABLE AS`",
        "reelmine": "reelmine ingest (validate + pseudonymise)",
        "reelmine-text": "reelmine ingest, CSV read as text (`fast_csv=False`)",
    }
    for fmt in fmts:
        bare = results[f"duckdb-{fmt}"]
        for loader, label in labels.items():
            if f"{loader}-{fmt}" not in results:
                continue
            r = results[f"{loader}-{fmt}"]
            lines.append(
                f"| {fmt} | {label} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                f"{bare['seconds'] / r['seconds']:.2f}x | {r['cpu_s']:.1f} | "
                f"{bare['cpu_s'] / r['cpu_s']:.2f}x | {r['rss_mb']:,.0f} |"
            )
    lines.append("")
    for kind, r in results.items():
        if kind.startswith("duckdb"):
            continue
        path = " (typed CSV fast path)" if r.get("fast") and "csv" in kind else ""
        lines.append(
            f"{kind}{path}: first pass (distinct IDs/IPs, repeated keys, HMAC) "
            f"{r['first_pass_s']:.1f} s, load (one INSERT ... SELECT: parse, type, validate, "
            f"join pseudonyms, write) {r['load_s']:.1f} s; {r['loaded']:,} rows loaded."
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
