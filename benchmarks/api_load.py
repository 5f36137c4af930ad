"""API load benchmark: throughput and latency of the reelmine server over loopback.

Starts each server in its own subprocess (uvicorn, one worker), then drives GET requests from a
separate client process with many concurrent keep-alive connections (a minimal asyncio
HTTP/1.1 client, so the load generator costs as little CPU as possible), bounded by a request
count and a time limit per scenario. Reports requests/s and p50/p95/p99 latency measured by
the client (send to last body byte).

Scenarios, all in one run:

* ``peer: bare Starlette /health`` — the same uvicorn serving a one-route Starlette app with no
  middleware: the ceiling this Python stack reaches on the machine, for comparison;
* ``reelmine GET /health`` — full app (metrics and gzip middleware), no auth;
* ``reelmine GET /v1/me`` — an authenticated endpoint (Bearer key, scrypt memoised);
* ``reelmine GET /v1/users/{id}/recommendations`` — authenticated, answers 503 until the
  recommend service is wired (then it measures the real thing).

Goal (issue 4) on 2 cores: >= 1,000 requests/s with p99 <= 25 ms on recommendations.

Usage::

    python benchmarks/api_load.py --connections 32 --requests 20000 --seconds 15 \
        --out benchmarks/results/api_load.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def baseline_app():  # type: ignore[no-untyped-def]
    """The peer: a one-route Starlette app (uvicorn factory)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/health", health)])


# -- load client (runs in its own process) ---------------------------------------------------
async def _worker(host: str, port: int, request: bytes, state: dict, lat: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while state["sent"] < state["limit"] and time.perf_counter() < state["deadline"]:
            state["sent"] += 1
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            status = int(head[9:12])
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            lat.append((time.perf_counter() - t0) * 1000.0)
            state["status"][status] = state["status"].get(status, 0) + 1
    finally:
        writer.close()


async def _drive(
    host: str, port: int, path: str, key: str | None, conns: int, limit: int, seconds: float
) -> dict:
    headers = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
    if key:
        headers += f"Authorization: Bearer {key}\r\n"
    request = (headers + "\r\n").encode()
    lat: list[float] = []
    # Warm-up: a few requests so imports, key derivation and caches are not timed.
    warm = {"sent": 0, "limit": 50, "deadline": time.perf_counter() + 10, "status": {}}
    await _worker(host, port, request, warm, [])
    state = {"sent": 0, "limit": limit, "deadline": time.perf_counter() + seconds, "status": {}}
    t0 = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, request, state, lat) for _ in range(conns)))
    wall = time.perf_counter() - t0
    arr = np.asarray(lat)
    return {
        "requests": len(arr),
        "seconds": wall,
        "rps": len(arr) / wall,
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "p99": float(np.percentile(arr, 99)),
        "status": {str(k): v for k, v in sorted(state["status"].items())},
    }


def client_main(argv: Sequence[str]) -> None:
    """``--client HOST PORT PATH KEY CONNS LIMIT SECONDS``: print one JSON result line."""
    host, port, path, key, conns, limit, seconds = argv
    res = asyncio.run(
        _drive(host, int(port), path, key or None, int(conns), int(limit), float(seconds))
    )
    print(json.dumps(res))


# -- orchestration ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(factory: str, env: dict[str, str], port: int, stack: str) -> subprocess.Popen[bytes]:
    http, loop = stack.split("+")
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--app-dir",
        str(HERE),
        "--http",
        http,
        "--loop",
        loop,
    ]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server {factory} did not start on port {port}")


def _run_client(port: int, path: str, key: str, args: argparse.Namespace) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--client",
            "127.0.0.1",
            str(port),
            path,
            key,
            str(args.connections),
            str(args.requests),
            str(args.seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=args.seconds + 120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> str:
    """Run every scenario and return the Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    ap.add_argument("--requests", type=int, default=20_000, help="request cap per scenario")
    ap.add_argument("--seconds", type=float, default=20.0, help="time cap per scenario")
    ap.add_argument(
        "--stacks",
        default="h11+asyncio,httptools+uvloop",
        help="comma-separated uvicorn HTTP parser + event loop pairs to run each scenario under; "
        "pairs whose packages are missing are skipped",
    )
    ap.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = ap.parse_args(argv)

    from reelmine.data.keystore import KeyStore

    tmp = Path(tempfile.mkdtemp(prefix="reelmine-bench-"))
    key, _ = KeyStore(tmp).create("service", label="benchmark")
    env = {**os.environ, "REELMINE_ARTIFACTS": str(tmp), "REELMINE_DB": str(tmp / "bench.duckdb")}
    scenarios = [
        ("peer: bare Starlette /health", "api_load:baseline_app", "/health", ""),
        ("reelmine GET /health", "reelmine.api.app:app_from_env", "/health", ""),
        ("reelmine GET /v1/me (auth)", "reelmine.api.app:app_from_env", "/v1/me", key),
        (
            "reelmine GET /v1/users/{id}/recommendations",
            "reelmine.api.app:app_from_env",
            "/v1/users/u42/recommendations?k=10",
            key,
        ),
    ]
    import importlib.util

    stacks = [
        st
        for st in args.stacks.split(",")
        if all(importlib.util.find_spec(m) for m in st.split("+") if m not in ("h11", "asyncio"))
    ]
    rows = []
    for stack in stacks:
        for name, factory, path, k in scenarios:
            port = _free_port()
            proc = _start(factory, env, port, stack)
            try:
                res = _run_client(port, path, k, args)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            rows.append((name, stack, res))
            print(
                f"{name} [{stack}]: {res['rps']:.0f} req/s, p99 {res['p99']:.1f} ms, "
                f"{res['status']}",
                file=sys.stderr,
            )

    lines = [
        f"API load, {args.connections} connections, up to {args.requests} requests or "
        f"{args.seconds:.0f} s per scenario; server: uvicorn, 1 worker; "
        "client in a separate process.",
        f"Machine: {os.cpu_count()} CPUs visible.",
        "",
        "| scenario | uvicorn stack | requests | req/s | p50 ms | p95 ms | p99 ms | status codes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, stack, r in rows:
        codes = ", ".join(f"{c}: {n}" for c, n in r["status"].items())
        lines.append(
            f"| {name} | {stack} | {r['requests']} | {r['rps']:.0f} | {r['p50']:.1f} "
            f"| {r['p95']:.1f} | {r['p99']:.1f} | {codes} |"
        )
    table = "\n".join(lines) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
    else:
        print(main())
