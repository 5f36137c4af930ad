"""Rating prediction on ml-100k official folds u1..u5: reelmine vs Surprise, side by side.

    .venv/bin/python benchmarks/recommend_rating.py [--skip-slow-peers] [--out FILE]
    .venv/bin/python benchmarks/recommend_rating.py --select   # model selection on validation

Each model is fitted on uN.base and scored on uN.test; the table shows mean RMSE/MAE over the
folds and total fit+predict wall time (and CPU time of this process). ``--select`` instead
carves a seeded random 10% validation split from each uN.base (never reading uN.test) and
reports validation RMSE of candidate configurations: that is how the default was chosen.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reelmine.data.movielens import read_movielens_fold
from reelmine.data.vocab import Vocabulary
from reelmine.recommend.evaluate import mae, random_split, rmse
from reelmine.recommend.rating import DEFAULT_RATING_MODEL, BayesianMF, BiasBaseline, BiasedMF

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"


def load_fold(path: Path, fold: int) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Index arrays (users, items, ratings) of train and test; test IDs unknown in train -> -1."""
    train, test = read_movielens_fold(path, fold)
    uv = Vocabulary.from_values(train["user_id"])
    iv = Vocabulary.from_values(train["title_id"])

    def arrays(t: Any) -> tuple[np.ndarray, ...]:
        return (
            uv.index(t["user_id"]),
            iv.index(t["title_id"]),
            t["rating"].to_numpy().astype(np.float64),
        )

    return arrays(train), arrays(test)


def warm_numba() -> float:
    """Compile (or load from numba's on-disk cache) the JIT kernels on a tiny problem.

    Returns the seconds it took: several seconds on a fresh install (compilation), well under
    one when the cache written by an earlier run is loaded.
    """
    t0 = time.perf_counter()
    u, i, r = np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0])
    BayesianMF(n_iter=2, burn_in=0).fit(u, i, r)
    BayesianMF(n_iter=2, burn_in=0, implicit=False).fit(u, i, r)
    BiasedMF(n_epochs=1).fit(u, i, r)
    return time.perf_counter() - t0


def run_reelmine(factory: Callable[[], Any], folds: list[Any]) -> dict[str, Any]:
    rm, ma, wall, cpu, first = [], [], 0.0, 0.0, 0.0
    for n, (tr, te) in enumerate(folds):
        t0, c0 = time.perf_counter(), time.process_time()
        model = factory().fit(*tr)
        pred = model.predict(te[0], te[1])
        dt = time.perf_counter() - t0
        wall += dt
        cpu += time.process_time() - c0
        first = dt if n == 0 else first
        rm.append(rmse(te[2], pred))
        ma.append(mae(te[2], pred))
    return {"rmse": np.mean(rm), "mae": np.mean(ma), "wall": wall, "cpu": cpu, "first": first}


def run_surprise(name: str, path: Path, fold_ids: list[int]) -> dict[str, Any]:
    from surprise import SVD, BaselineOnly, Dataset, KNNBaseline, Reader, SVDpp, accuracy

    algos = {
        "BaselineOnly": lambda: BaselineOnly(verbose=False),
        "SVD": lambda: SVD(random_state=0),
        "SVD++": lambda: SVDpp(random_state=0),
        "KNNBaseline": lambda: KNNBaseline(sim_options={"name": "pearson_baseline"}, verbose=False),
    }
    reader = Reader("ml-100k")
    files = [(str(path / f"u{k}.base"), str(path / f"u{k}.test")) for k in fold_ids]
    data = Dataset.load_from_folds(files, reader=reader)
    from surprise.model_selection import PredefinedKFold

    rm, ma, wall, cpu, first = [], [], 0.0, 0.0, 0.0
    for n, (trainset, testset) in enumerate(PredefinedKFold().split(data)):
        t0, c0 = time.perf_counter(), time.process_time()
        algo = algos[name]()
        algo.fit(trainset)
        preds = algo.test(testset)
        dt = time.perf_counter() - t0
        wall += dt
        cpu += time.process_time() - c0
        first = dt if n == 0 else first
        rm.append(accuracy.rmse(preds, verbose=False))
        ma.append(accuracy.mae(preds, verbose=False))
    return {"rmse": np.mean(rm), "mae": np.mean(ma), "wall": wall, "cpu": cpu, "first": first}


REELMINE: dict[str, Callable[[], Any]] = {
    "reelmine BayesianMF (default)": lambda: DEFAULT_RATING_MODEL(),
    "reelmine BayesianMF implicit=False": lambda: BayesianMF(implicit=False),
    "reelmine BiasedMF": lambda: BiasedMF(),
    "reelmine BiasBaseline": lambda: BiasBaseline(),
}

CANDIDATES: dict[str, Callable[[], Any]] = {
    "BiasBaseline": lambda: BiasBaseline(),
    "BiasedMF k=50": lambda: BiasedMF(),
    "BayesianMF k=10 implicit=False 100 sweeps": lambda: BayesianMF(
        implicit=False, n_iter=100, burn_in=10, thin=2
    ),
    "BayesianMF k=6 implicit 100 sweeps": lambda: BayesianMF(
        n_factors=6, n_iter=100, burn_in=10, thin=2
    ),
    "BayesianMF k=10 implicit 60 sweeps": lambda: BayesianMF(n_iter=60, burn_in=10, thin=2),
    "BayesianMF k=10 implicit 100 sweeps": lambda: BayesianMF(n_iter=100, burn_in=10, thin=2),
    "BayesianMF k=16 implicit 100 sweeps": lambda: BayesianMF(
        n_factors=16, n_iter=100, burn_in=10, thin=2
    ),
    "BayesianMF k=10 implicit 200 sweeps": lambda: BayesianMF(n_iter=200, burn_in=20, thin=3),
}


def select(path: Path, fold_ids: list[int]) -> str:
    """Validation RMSE of the candidates on 10% carved from each uN.base (uN.test unread)."""
    folds = []
    for k in fold_ids:
        (u, i, r), _ = load_fold(path, k)
        sp = random_split(len(r), test_fraction=0.1, random_state=k)
        folds.append(
            ((u[sp.train], i[sp.train], r[sp.train]), (u[sp.test], i[sp.test], r[sp.test]))
        )
    lines = [
        f"Validation (10% of u{fold_ids[0]}..u{fold_ids[-1]}.base, seeded), "
        "fit+predict summed over folds",
        "",
        "| candidate | val RMSE | val MAE | wall (s) | CPU (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, factory in CANDIDATES.items():
        res = run_reelmine(factory, folds)
        lines.append(
            f"| {name} | {res['rmse']:.4f} | {res['mae']:.4f} | {res['wall']:.2f} "
            f"| {res['cpu']:.2f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="ml-100k folder")
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument(
        "--skip-slow-peers", action="store_true", help="skip Surprise SVD++ (~3 min)"
    )
    parser.add_argument("--skip-peers", action="store_true", help="reelmine models only")
    parser.add_argument("--select", action="store_true", help="validation model selection instead")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    fold_ids = [int(x) for x in args.folds.split(",")]
    jit_s = warm_numba()
    if args.select:
        text = select(args.data, fold_ids)
    else:
        folds = [load_fold(args.data, k) for k in fold_ids]
        rows = []
        for name, factory in REELMINE.items():
            rows.append((name, run_reelmine(factory, folds)))
            print(name, rows[-1][1], file=sys.stderr, flush=True)
        if not args.skip_peers:
            peers = ["BaselineOnly", "SVD", "KNNBaseline"] + (
                [] if args.skip_slow_peers else ["SVD++"]
            )
            for name in peers:
                rows.append((f"Surprise {name}", run_surprise(name, args.data, fold_ids)))
                print(name, rows[-1][1], file=sys.stderr, flush=True)
        text = (
            "\n".join(
                [
                    f"ml-100k official folds u{fold_ids[0]}..u{fold_ids[-1]} (train uN.base, "
                    "test uN.test); mean over folds, time summed over folds; numba kernels "
                    f"compiled or loaded from cache before timing ({jit_s:.1f} s)",
                    "",
                    "| model | RMSE | MAE | fit+predict wall (s) | CPU (s) | first fold (s) |",
                    "|---|---:|---:|---:|---:|---:|",
                    *(
                        f"| {n} | {r['rmse']:.4f} | {r['mae']:.4f} | {r['wall']:.2f} | "
                        f"{r['cpu']:.2f} | {r['first']:.2f} |"
                        for n, r in rows
                    ),
                ]
            )
            + "\n"
        )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
