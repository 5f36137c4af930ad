"""Environment diagnostics behind ``reelmine doctor`` (and the API's health details)."""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
from dataclasses import dataclass
from importlib import metadata
from typing import Literal

from reelmine import __version__
from reelmine.settings import Settings

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor report."""

    name: str
    value: str
    status: Status = "ok"


def _version(dist: str) -> Check:
    try:
        return Check(dist, metadata.version(dist))
    except metadata.PackageNotFoundError:
        return Check(dist, "not installed", "warn")


def _blas() -> list[Check]:
    from threadpoolctl import threadpool_info

    checks = []
    for pool in threadpool_info():
        checks.append(
            Check(
                f"threads: {pool.get('internal_api')}",
                f"{pool.get('num_threads')} threads ({pool.get('architecture', '?')}, "
                f"{os.path.basename(str(pool.get('filepath', '')))})",
            )
        )
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE"):
        if var in os.environ:
            checks.append(Check(f"env {var}", os.environ[var]))
    return checks


def _java() -> Check:
    java = shutil.which("java")
    if java is None:
        return Check("java", "not found (needed for --engine spark)", "warn")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
        first = (out.stderr or out.stdout).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return Check("java", f"{java}: {exc}", "warn")
    return Check("java", first)


def _key_file(settings: Settings) -> Check:
    if settings.secret:
        return Check("pseudonym key", "from REELMINE_SECRET")
    path = settings.key_file
    if not path.exists():
        return Check("pseudonym key", f"{path} (created on first ingest)", "ok")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check("pseudonym key", f"{path} has mode {mode:o}; run chmod 600", "fail")
    return Check("pseudonym key", f"{path} (mode {mode:o})")


def _warehouse(settings: Settings) -> Check:
    path = settings.db
    if not path.exists():
        return Check("warehouse", f"{path} (not created yet)", "warn")
    return Check("warehouse", f"{path.resolve()} ({path.stat().st_size / 1e6:.1f} MB)")


def diagnose(settings: Settings) -> list[Check]:
    """Every check, in display order."""
    checks = [
        Check("reelmine", __version__),
        Check(
            "python", f"{platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs)"
        ),
    ]
    checks += [_version(d) for d in ("duckdb", "pyarrow", "numpy", "scipy", "scikit-learn")]
    checks += [_version(d) for d in ("implicit", "lightgbm", "numba", "fastapi", "pyspark")]
    checks += _blas()
    checks.append(_java())
    checks.append(Check("engine", settings.engine))
    checks.append(_key_file(settings))
    checks.append(_warehouse(settings))
    return checks
