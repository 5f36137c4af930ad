"""Assemble docs/benchmarks.md from the latest tables in benchmarks/results/.

Each benchmark script writes its own table (``--out benchmarks/results/NAME.md``); this script
only gathers them under one heading each, with the command that produced them, so the page
always shows the latest figures. Run: ``.venv/bin/python benchmarks/collect.py``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DOC = ROOT.parent / "docs" / "benchmarks.md"

# (results file, title, command, issue targets in one line)
SECTIONS = [
    (
        "ingest.md",
        "Ingestion (issue 2)",
        ".venv/bin/python benchmarks/ingest.py --rows 10000000 --out benchmarks/results/ingest.md",
        "target: at least half the bare DuckDB rate; 10M plays in under a minute; bounded memory",
    ),
    (
        "recommend_rating.md",
        "Rating prediction, ml-100k official folds (issue 3, target 1)",
        ".venv/bin/python benchmarks/recommend_rating.py "
        "--out benchmarks/results/recommend_rating.md",
        "target: mean RMSE <= 0.900 with fit+predict for all five folds <= 10 s",
    ),
    (
        "recommend_topn.md",
        "Top-N recommendation and serving (issue 3, targets 2-4)",
        ".venv/bin/python benchmarks/recommend_topn.py --out benchmarks/results/recommend_topn.md",
        "targets: NDCG@10 >= 0.21 on ml-100k; beat EASE and ALS on 50k x 10k and train <= 30 s; "
        "top-10 p99 <= 5 ms; 100k x 20k top-100 batch <= 2 min",
    ),
    (
        "api_load.md",
        "API load (issue 4)",
        ".venv/bin/python benchmarks/api_load.py --out benchmarks/results/api_load.md",
        "target: >= 1,000 requests/s with p99 <= 25 ms on 2 cores",
    ),
    (
        "content.md",
        "Content and market jobs (issue 5)",
        ".venv/bin/python benchmarks/content.py --users 3000 --days 30 --replicate 58 "
        "--out benchmarks/results/content.md",
        "target: all content and market aggregates over 10M plays in <= 60 s",
    ),
    (
        "fraud.md",
        "Fraud scan (issue 6)",
        ".venv/bin/python benchmarks/fraud.py --users 20000 --replicate 9 "
        "--out benchmarks/results/fraud.md",
        "target: full scan over 10M plays and 2M logins in <= 60 s; per-type precision/recall",
    ),
    (
        "rca_rs.md",
        "Root-cause localisation on RCA-RS (issue 7)",
        ".venv/bin/python benchmarks/rca_rs.py --data ../shared/data/rca-rs "
        "--out benchmarks/results/rca_rs.csv --table benchmarks/results/rca_rs.md",
        "target: micro-F1 >= 0.60 at <= 1 s per case (RobustSpot 0.42, Adtributor 0.27)",
    ),
    (
        "quality.md",
        "Streaming-quality detection and localisation on the simulator (issue 7)",
        ".venv/bin/python benchmarks/quality.py --out benchmarks/results/quality.md",
        "targets: >= 90% of planted incidents detected within two buckets, <= 1 false alarm per "
        "simulated week, localisation F1 >= 0.9",
    ),
    (
        "search_ranker.md",
        "Search ranker vs plain BM25 (issue 8)",
        ".venv/bin/python benchmarks/search_ranker.py --out benchmarks/results/search_ranker.md",
        "MRR and Recall@10 on logged search -> play pairs, blended ranker against plain BM25",
    ),
    (
        "experiments.md",
        "Experiment statistics (issue 8)",
        ".venv/bin/python benchmarks/experiments.py --out benchmarks/results/experiments.md",
        "agreement with scipy/statsmodels and speed",
    ),
    (
        "marketing.md",
        "Marketing models, 100k members (issue 9)",
        ".venv/bin/python benchmarks/marketing.py --out benchmarks/results/marketing.md",
        "target: churn AUC >= 0.85 and better than recency; Qini above random",
    ),
    (
        "scale.md",
        "Scale-out: DuckDB vs Spark local (issue 11)",
        ".venv/bin/python benchmarks/scale.py --out benchmarks/results/scale.md",
        "time and peak memory per size for the content, market, quality and fraud jobs",
    ),
]


def main() -> None:
    parts = [
        "# Benchmarks",
        "",
        "Latest figures, one section per benchmark script in `benchmarks/`; each table was",
        "written by the command shown. Every machine here has 2 cores and 24 GiB. Most figures",
        "were measured while other work shared the machine: each table says so where it applies,",
        "and CPU seconds are given beside wall seconds as the steadier number.",
        "Regenerate this page with `.venv/bin/python benchmarks/collect.py`.",
        "",
    ]
    for name, title, command, target in SECTIONS:
        path = RESULTS / name
        parts += [f"## {title}", "", f"Command: `{command}`", "", f"Goal: {target}.", ""]
        if path.is_file():
            body = path.read_text().strip()
            # Demote the results' own headings below this page's section heading.
            body = "\n".join(
                "###" + ln.lstrip("#") if ln.startswith("#") else ln for ln in body.splitlines()
            )
            parts += [body, ""]
        else:
            parts += ["_Not measured yet._", ""]
    DOC.write_text("\n".join(parts).rstrip() + "\n")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
