"""Search-ranker benchmark: reelmine's blended ranker vs plain BM25 (reelmine's and, when
installed, rank_bm25's ``BM25Okapi``) on the simulator's logged search -> play pairs.

The simulator logs home and search sessions; a search that ends in a play gives a pair
``(member, query, played title)``. Queries are exact show names (65%), misspelt names (15%),
names of titles the catalogue does not have (10%: the member then plays something else) and
genre names (10%). Each model ranks the catalogue's shows (movies and series) for every
logged query; the played title's rank gives MRR and recall@10 (ties count against it). Fit
time and the mean latency of one query scored alone are measured in the same run, on the same
machine. Popularity and taste are learned from the ``plays`` table only (not from the pairs).

Usage::

    python benchmarks/search_ranker.py --users 3000 --days 30 \\
        --out benchmarks/results/search_ranker.md
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reelmine.content.search import normalise
from reelmine.data.engine import runner_on_tables
from reelmine.interface import search
from reelmine.interface.ranker import BM25Search, SearchRanker, evaluate_search, field_texts
from reelmine.service.content import shows
from reelmine.service.simulate import run_simulation

KINDS = ("exact name", "other name", "missing title", "genre")


class RankBM25:
    """rank_bm25's ``BM25Okapi`` behind the interface :func:`evaluate_search` needs.

    Its document is the same weighted text reelmine's BM25 indexes (the name three times,
    then description, genres and tags), split into the same words."""

    def __init__(self) -> None:
        self.n_items_ = 0

    def fit(self, titles: pa.Table) -> RankBM25:
        from rank_bm25 import BM25Okapi

        cols = {
            f: normalise(field_texts(titles[f]))
            for f in ("name", "description", "genres", "tags")
            if f in titles.column_names
        }
        docs = []
        for i in range(titles.num_rows):  # one document per title (catalogue-sized)
            words = cols["name"][i].split() * 3
            for f in ("description", "genres", "tags"):
                if f in cols:
                    words += cols[f][i].split()
            docs.append(words)
        self.model_ = BM25Okapi(docs)
        self.title_ids_ = np.asarray(titles["title_id"].to_pylist(), dtype=str)
        self.n_items_ = len(self.title_ids_)
        return self

    def score(self, queries: Sequence[str], users: Sequence[Any] | None = None) -> np.ndarray:
        return np.stack([self.model_.get_scores(q.split()) for q in normalise(list(queries))])


def _kinds(pairs: pa.Table, titles: pa.Table) -> np.ndarray:
    """Kind of each logged query: exact name (of the played title), missing title (the
    simulator's gap queries), genre, or other name (the rest: misspelt names, or a name whose
    search ended in a play of another result)."""
    from reelmine.data.simulator.interface import GAP_QUERIES

    names = dict(
        zip(titles["title_id"].to_pylist(), normalise(titles["name"].to_pylist()), strict=True)
    )
    genres = {g.lower() for gl in titles["genres"].to_pylist() if gl for g in gl}
    q = normalise(pairs["query"].to_pylist())
    t = pairs["title_id"].to_pylist()
    return np.array(
        [
            "exact name"
            if names.get(b) == a
            else "genre"
            if a in genres
            else "missing title"
            if a in GAP_QUERIES
            else "other name"
            for a, b in zip(q, t, strict=True)
        ]
    )


def _latency_ms(model: Any, queries: list[str], users: list[Any], n: int = 200) -> float:
    """Mean milliseconds to score one query alone (the interactive case)."""
    t0 = time.perf_counter()
    for q, u in zip(queries[:n], users[:n], strict=True):  # one request at a time, on purpose
        model.score([q], [u])
    return (time.perf_counter() - t0) * 1000.0 / min(n, len(queries))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_simulation(users=args.users, days=args.days, seed=args.seed, out=Path(tmp))
        sim_s = time.perf_counter() - t0
        tables = {
            t: pq.read_table(Path(tmp) / f"{t}.parquet") for t in ("ui_events", "titles", "plays")
        }
    run = runner_on_tables(**tables)
    pairs = search.search_play_pairs(run(search.search_events_sql()))
    cat = shows(tables["titles"])
    plays = tables["plays"].select(["user_id", "title_id"])
    kinds = _kinds(pairs, cat)
    queries = pairs["query"].to_pylist()
    users = pairs["user_id"].to_pylist()

    models: list[tuple[str, Any, tuple[Any, ...]]] = [
        (
            "reelmine blended (BM25 + 3-gram names + popularity + taste)",
            SearchRanker(),
            (cat, plays),
        ),
        ("reelmine BM25 (plain)", BM25Search(), (cat,)),
    ]
    try:
        import rank_bm25  # noqa: F401

        models.append(("rank_bm25 BM25Okapi 0.2.2 (peer)", RankBM25(), (cat,)))
    except ImportError:
        print("rank_bm25 is not installed: the peer row is skipped")

    rows = []
    for name, model, data in models:
        t0 = time.perf_counter()
        model.fit(*data)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = evaluate_search(model, pairs)
        all_s = time.perf_counter() - t0
        by = {k: evaluate_search(model, pairs.filter(pa.array(kinds == k)))["mrr"] for k in KINDS}
        rows.append((name, m, by, fit_s, _latency_ms(model, queries, users), all_s))

    n_kind = {k: int((kinds == k).sum()) for k in KINDS}
    lines = [
        "# Search ranker benchmark",
        "",
        f"Simulator: {args.users:,} members x {args.days} days (seed {args.seed}, "
        f"{sim_s:.1f} s to simulate); "
        f"{pairs.num_rows:,} logged search -> play pairs over {cat.num_rows:,} shows "
        f"({n_kind['exact name']:,} exact names of the played title, {n_kind['other name']:,} "
        "misspelt names or names whose search ended on another result, "
        f"{n_kind['missing title']:,} titles the catalogue lacks, "
        f"{n_kind['genre']:,} genre queries). One run, same machine: 2 cores shared with other "
        "work, so timings are contended.",
        "",
        "| model | MRR | recall@10 | MRR exact names | MRR other names | MRR missing titles "
        "| MRR genres | fit s | ms / query (alone) | all pairs s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m, by, fit_s, lat, all_s in rows:
        lines.append(
            f"| {name} | {m['mrr']:.3f} | {m['recall_at_k']:.3f} | {by['exact name']:.3f} | "
            f"{by['other name']:.3f} | {by['missing title']:.3f} | {by['genre']:.3f} | "
            f"{fit_s:.2f} | {lat:.2f} | {all_s:.2f} |"
        )
    lines += [
        "",
        "Ranks count ties against the played title (a query sharing no word with any title ranks "
        'it last). "all pairs s" scores every pair in batches of 1,024 queries (reelmine: sparse '
        "products; rank_bm25: one `get_scores` call per query). Load average at the end: "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        "Command: `python benchmarks/search_ranker.py "
        f"--users {args.users} --days {args.days} --seed {args.seed}"
        + (f" --out {args.out}`" if args.out else "`"),
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
