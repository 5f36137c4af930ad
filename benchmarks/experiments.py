"""Experiment statistics benchmark: reelmine next to SciPy and statsmodels on identical inputs.

Each row runs the same computation with reelmine and a peer in one process and reports the
median wall time of ``--repeat`` runs plus the largest difference between their answers
(where both compute the same number).

* Welch's t-test over 1,000 stacked A/A experiments (300 members per arm):
  ``reelmine.experiments.stats.welch_test`` vs ``scipy.stats.ttest_ind(equal_var=False, axis=-1)``.
* Bootstrap interval of a p90 difference (20,000 members per arm, B = 2,000):
  reelmine's order-statistic bootstrap vs ``scipy.stats.bootstrap`` (percentile) vs plain NumPy
  resample-and-quantile. Intervals differ by Monte Carlo noise, so the column shows the gap
  between interval endpoints relative to the interval width.
* Holm and Benjamini-Hochberg on 100,000 p-values: vs ``statsmodels.stats.multitest``.

Usage::

    python benchmarks/experiments.py --out benchmarks/results/experiments.md
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from reelmine.experiments.multiple import benjamini_hochberg, holm
from reelmine.experiments.quantiles import quantile_effects
from reelmine.experiments.stats import welch_test


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def run(repeat: int) -> list[tuple[str, str, float, str]]:
    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, float, str]] = []

    c = rng.lognormal(0, 0.8, (1000, 300))
    t = rng.lognormal(0, 0.8, (1000, 300))
    t_ours, ours = _time(lambda: welch_test(c, t), repeat)
    t_sp, ref = _time(lambda: sps.ttest_ind(t, c, equal_var=False, axis=-1), repeat)
    diff = float(np.max(np.abs(np.asarray(ours.p_value) - ref.pvalue)))
    rows.append(
        ("Welch, 1,000 experiments x 2 x 300", "reelmine", t_ours, f"max p-value diff {diff:.1e}")
    )
    rows.append(("Welch, 1,000 experiments x 2 x 300", "scipy ttest_ind", t_sp, "reference"))

    xc = rng.lognormal(0, 1, 20000)
    xt = 1.05 * rng.lognormal(0, 1, 20000)
    b = 2000

    def ours_q() -> tuple[float, float]:
        (e,) = quantile_effects(xc, xt, quantiles=(0.9,), n_boot=b, random_state=1)
        return e.ci_low, e.ci_high

    def scipy_q() -> tuple[float, float]:
        def stat(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
            return np.quantile(y, 0.9, axis=axis) - np.quantile(x, 0.9, axis=axis)

        res = sps.bootstrap(
            (xc, xt), stat, n_resamples=b, method="percentile", random_state=2, vectorized=True,
            batch=100,
        )  # fmt: skip
        return res.confidence_interval.low, res.confidence_interval.high

    def numpy_q() -> tuple[float, float]:
        r = np.random.default_rng(3)
        out = np.empty(b)
        for lo in range(0, b, 100):  # batches bound memory to 100 x n
            ic = r.integers(0, xc.size, (100, xc.size))
            it = r.integers(0, xt.size, (100, xt.size))
            out[lo : lo + 100] = np.quantile(xt[it], 0.9, axis=1) - np.quantile(xc[ic], 0.9, axis=1)
        lo_, hi_ = np.quantile(out, [0.025, 0.975])
        return float(lo_), float(hi_)

    t_ours, q_ours = _time(ours_q, repeat)
    t_sp, q_sp = _time(scipy_q, max(1, repeat // 2))
    t_np, q_np = _time(numpy_q, max(1, repeat // 2))
    width = q_sp[1] - q_sp[0]
    gap = max(abs(q_ours[0] - q_sp[0]), abs(q_ours[1] - q_sp[1])) / width
    gap_np = max(abs(q_np[0] - q_sp[0]), abs(q_np[1] - q_sp[1])) / width
    name = "p90 bootstrap CI, 2 x 20,000, B=2,000"
    rows.append((name, "reelmine (order-statistic)", t_ours, f"endpoint gap {gap:.1%} of width"))
    rows.append((name, "scipy.stats.bootstrap", t_sp, "reference"))
    rows.append((name, "numpy resample + quantile", t_np, f"endpoint gap {gap_np:.1%} of width"))

    p = rng.uniform(0, 1, 100_000) ** 3
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError:  # statsmodels is optional: report reelmine alone
        multipletests = None
    methods = (("Holm", holm, "holm"), ("Benjamini-Hochberg", benjamini_hochberg, "fdr_bh"))
    for label, ours_fn, method in methods:
        t_ours, adj = _time(lambda f=ours_fn: f(p), repeat)
        note = "statsmodels not installed"
        if multipletests is not None:
            t_sm, ref = _time(lambda m=method: multipletests(p, method=m)[1], repeat)
            note = f"max adjusted-p diff {float(np.max(np.abs(adj - ref))):.1e}"
        rows.append((f"{label}, 100,000 p-values", "reelmine", t_ours, note))
        if multipletests is not None:
            rows.append(
                (f"{label}, 100,000 p-values", "statsmodels multipletests", t_sm, "reference")
            )
    return rows


def table(rows: list[tuple[str, str, float, str]]) -> str:
    lines = ["| task | implementation | median time (ms) | agreement |", "|---|---|---:|---|"]
    lines += [f"| {task} | {impl} | {sec * 1000:.1f} | {note} |" for task, impl, sec, note in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()
    md = table(run(args.repeat))
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md)


if __name__ == "__main__":
    main()
