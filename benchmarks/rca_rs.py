"""RCA-RS benchmark: root-cause localisation on the 135 real video-streaming cases.

Runs reelmine's ``RootCauseLocalizer`` and, as a peer baseline in the same run, Adtributor
(Bhagwan et al., NSDI 2014: explanatory power and Jensen-Shannon surprise per attribute, one
attribute chosen; implemented here on the derived measure's numerator as in its paper).

Forecast: each combination's value and count are the mean of the previous 4 minutes (the
RiskLoc convention); the quality ratio is ``(cnt - value) / cnt``; scoring is micro-F1 over
exactly matched root-cause elements (2TP / (2TP + FP + FN)).

Tuning half: cases sorted by name, even indices (0, 2, ...); the odd half is held out.

Usage::

    python benchmarks/rca_rs.py --data ../shared/data/rca-rs --out benchmarks/results/rca_rs.csv \
        --table benchmarks/results/rca_rs.md
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from reelmine.data.rca_rs import (
    RcaCase,
    element_to_string,
    rca_rs_attributes,
    read_rca_rs_case,
    read_rca_rs_labels,
)
from reelmine.quality.rootcause import RootCauseLocalizer, _encode, window_forecast


def adtributor(
    table: pa.Table,
    attributes: Sequence[str],
    *,
    t_eep: float = 0.1,
    t_ep: float = 0.67,
    k: int = 3,
) -> list[str]:
    """Adtributor on the additive numerator ``value`` (actual vs forecast per leaf)."""
    codes, values = _encode(table, attributes)
    real = np.asarray(table.column("value_real").to_numpy(), dtype=float)
    pred = np.asarray(table.column("value_predict").to_numpy(), dtype=float)
    a_tot, f_tot = real.sum(), pred.sum()
    dev = a_tot - f_tot
    if dev == 0 or a_tot <= 0 or f_tot <= 0:
        return []
    best: tuple[float, list[str]] = (-1.0, [])
    for j, name in enumerate(attributes):
        m = len(values[j])
        a = np.bincount(codes[:, j], weights=real, minlength=m)
        f = np.bincount(codes[:, j], weights=pred, minlength=m)
        ep = (a - f) / dev
        p, q = f / f_tot, a / a_tot
        with np.errstate(divide="ignore", invalid="ignore"):
            mid = (p + q) / 2
            sp = np.where(p > 0, 0.5 * p * np.log(p / mid), 0.0)
            sq = np.where(q > 0, 0.5 * q * np.log(q / mid), 0.0)
        surprise = np.nan_to_num(sp) + np.nan_to_num(sq)
        chosen: list[str] = []
        total_ep = total_s = 0.0
        for e in np.argsort(-surprise):
            if ep[e] > t_eep:
                chosen.append(f"{name}={values[j][e]}")
                total_ep += ep[e]
                total_s += surprise[e]
            if total_ep > t_ep or len(chosen) >= k:
                break
        if total_ep > t_ep and total_s > best[0]:
            best = (total_s, chosen)
    return best[1]


def _reelmine(localizer: RootCauseLocalizer) -> Callable[[pa.Table, list[str]], list[str]]:
    def run(window: pa.Table, attributes: list[str]) -> list[str]:
        res = localizer.explain(
            window,
            attributes,
            real="value_real",
            predict="value_predict",
            real_den="cnt_real",
            predict_den="cnt_predict",
        )
        return [c.label for c in res.causes]

    return run


def evaluate(
    data: Path, cases: list[RcaCase], method: Callable[[pa.Table, list[str]], list[str]]
) -> list[tuple[str, list[str], float, set[str]]]:
    """Run a method on cases: (case, predicted labels, seconds incl. reading, true labels)."""
    rows = []
    for case in cases:
        t0 = time.perf_counter()
        table = read_rca_rs_case(data, case.name)
        attributes = rca_rs_attributes(table)
        window = window_forecast(
            table, attributes, ["value", "cnt"], time_column="min", at=case.timestamp
        )
        pred = method(window, attributes)
        seconds = time.perf_counter() - t0
        pred = ["&".join(sorted(p.split("&"))) for p in pred]
        rows.append((case.name, pred, seconds, {element_to_string(e) for e in case.cause}))
    return rows


def score(rows: list[tuple[str, list[str], float, set[str]]]) -> tuple[float, float, float, float]:
    """Micro F1, precision, recall and mean seconds per case."""
    tp = fp = fn = 0
    for _, pred, _, true in rows:
        hit = len(set(pred) & true)
        tp += hit
        fp += len(set(pred)) - hit
        fn += len(true) - hit
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return f1, tp / max(tp + fp, 1), tp / max(tp + fn, 1), float(np.mean([r[2] for r in rows]))


def main(argv: Sequence[str] | None = None) -> str:
    """Run the benchmark; print and return the Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/rca-rs"))
    ap.add_argument(
        "--out", type=Path, help="CSV of reelmine's predictions: case,root_cause,seconds"
    )
    ap.add_argument("--table", type=Path, help="write the Markdown table here too")
    args = ap.parse_args(argv)

    cases = sorted(read_rca_rs_labels(args.data), key=lambda c: c.name)
    halves = {"tune (even)": cases[0::2], "held-out (odd)": cases[1::2], "all": cases}
    methods = {
        "reelmine RootCauseLocalizer": _reelmine(RootCauseLocalizer()),
        "Adtributor (peer, this script)": adtributor,
    }
    lines = [
        f"RCA-RS, {len(cases)} cases; micro-F1 over exactly matched elements; seconds per case "
        "include reading the CSV and the forecast.",
        "",
        "| method | cases | F1 | precision | recall | mean s/case |",
        "|---|---|---|---|---|---|",
    ]
    for mname, method in methods.items():
        rows_all = evaluate(args.data, cases, method)
        by_name = {r[0]: r for r in rows_all}
        if args.out and mname.startswith("reelmine"):
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["case", "root_cause", "seconds"])
                for name, pred, sec, _ in rows_all:
                    w.writerow([name, ";".join(pred), f"{sec:.4f}"])
        for hname, hcases in halves.items():
            f1, p, r, s = score([by_name[c.name] for c in hcases])
            lines.append(
                f"| {mname} | {hname} ({len(hcases)}) | {f1:.3f} | {p:.3f} | {r:.3f} | {s:.3f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    main()
