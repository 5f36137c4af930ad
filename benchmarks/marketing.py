"""Marketing benchmark: features, churn, segments, uplift and lifetime value on simulated members.

Runs reelmine's models side by side with simple peers in one process on one simulated dataset:

* churn: calibrated LightGBM vs the recency-only baseline vs scikit-learn logistic regression
  on the same features (same time-based split);
* uplift: two-model and class-transformation LightGBM vs random targeting vs the planted
  segment rule (an oracle that knows the truth);
* lifetime value: Cox (own partial likelihood) vs Kaplan-Meier by plan (plan-level risk).

Usage::

    python benchmarks/marketing.py --users 100000 --days 120 --out benchmarks/results/marketing.md
    python benchmarks/marketing.py --data /path/to/simulated/folder   # reuse a simulation

The tables are read from Parquet by DuckDB views (the same SQL the warehouse runs).
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.marketing.churn import LABEL_SQL, churn_labels, evaluate_scores
from reelmine.marketing.design import FeatureEncoder
from reelmine.marketing.features import member_features
from reelmine.marketing.ltv import CoxModel, concordance_index, remaining_tenure
from reelmine.marketing.segments import MemberSegmenter
from reelmine.marketing.uplift import (
    UpliftModel,
    cross_fit_uplift,
    qini_bootstrap,
    qini_coefficient,
    uplift_at,
)
from reelmine.service import marketing as service

TABLES = ("users", "plays", "titles", "ratings", "ui_events", "logins", "campaigns")


def _runner(folder: Path, threads: int):  # noqa: ANN202
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {threads}")
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{folder / (t + '.parquet')}')")

    cache: dict[str, pa.Table] = {}

    def run(sql: str) -> pa.Table:
        # Identical queries (the same as-of date for churn, its peers and LTV) run once.
        if sql not in cache:
            cache[sql] = con.sql(sql).to_arrow_table()
        return cache[sql]

    return run


def _logreg(train: pa.Table, y: np.ndarray, test: pa.Table) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    enc = FeatureEncoder(one_hot=True).fit(train)
    X = enc.transform(train)
    fill = np.nan_to_num(np.nanmedian(X, 0))
    X = np.where(np.isnan(X), fill, X)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    t0 = time.perf_counter()
    lr = LogisticRegression(max_iter=500).fit((X - mu) / sd, y)
    fit = time.perf_counter() - t0
    Xt = enc.transform(test)
    Xt = np.where(np.isnan(Xt), fill, Xt)
    return lr.predict_proba((Xt - mu) / sd)[:, 1], fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="simulated folder to reuse")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    rows: list[tuple[str, str, str, str, str]] = []
    notes: list[str] = []
    folder = args.data
    if folder is None:
        from reelmine.data.simulator import SimulationConfig, simulate

        folder = Path("/tmp") / f"reelmine-marketing-{args.users}-{args.days}-{args.seed}"
        t0 = time.perf_counter()
        simulate(
            SimulationConfig(users=args.users, days=args.days, seed=args.seed, chunk_users=4000),
            folder,
        )
        notes.append(f"simulation: {time.perf_counter() - t0:.0f} s")
    run = _runner(folder, args.threads)
    users = run("SELECT count(*) AS n FROM users").to_pylist()[0]["n"]

    # -- features -----------------------------------------------------------------------------
    start, end = service.data_window(run)
    te = service._day(end) - timedelta(days=30)
    t0 = time.perf_counter()
    feats = member_features(run, te)
    t_feat = time.perf_counter() - t0
    rows.append(
        (
            "features",
            "SQL (DuckDB) + NumPy",
            "members x columns",
            f"{feats.num_rows:,} x {feats.num_columns}",
            f"{t_feat:.1f}",
        )
    )

    # -- churn ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    ev = service.churn_evaluation_from_runner(run, te)
    t_all = time.perf_counter() - t0 + t_feat
    m, b = ev.model, ev.recency_baseline
    rows.append(
        (
            "churn",
            "LightGBM + isotonic (reelmine)",
            "AUC / log loss",
            f"{m.auc:.3f} / {m.log_loss:.4f}",
            f"{ev.fit_seconds:.1f}",
        )
    )
    rows.append(
        (
            "churn",
            "recency only + isotonic",
            "AUC / log loss",
            f"{b.auc:.3f} / {b.log_loss:.4f}",
            "<0.1",
        )
    )
    notes.append(
        f"churn: trained on {', '.join(f'{d:%Y-%m-%d}' for d in ev.train_dates)} "
        f"({ev.train_rows:,} rows), calibrated {ev.calibration_date:%Y-%m-%d}, evaluated "
        f"{ev.evaluation_date:%Y-%m-%d} ({m.members:,} members, {m.churners:,} churners); "
        f"features for 5 dates {ev.feature_seconds + t_feat:.0f} s, end to end {t_all:.0f} s"
    )
    truth = folder / "truth" / "user_tastes.parquet"
    if truth.is_file():
        # Ceiling: the simulator's true probability of cancelling within 30 days given each
        # member's latent state at the evaluation date (onset rate, and days since the onset of
        # disengagement when it started before that date; later onsets are future, not state).
        import pyarrow.parquet as pq

        from reelmine.data.simulator.members import churn_probability

        tastes = pq.read_table(truth, columns=["user_id", "churn_hazard", "disengaged_at"])
        ids = feats["user_id"]  # the members active at the evaluation date
        pos = np.asarray(pc.index_in(ids, value_set=tastes["user_id"]).to_numpy())
        h = np.asarray(tastes["churn_hazard"].to_numpy())[pos]
        on = pc.cast(tastes["disengaged_at"], pa.timestamp("us", tz="UTC")).cast(pa.int64())
        on_us = np.asarray(pc.fill_null(on, -1).to_numpy(), dtype=np.int64)[pos]
        t_us = int(ev.evaluation_date.timestamp() * 1_000_000)
        since = np.where((on_us >= 0) & (on_us <= t_us), (t_us - on_us) / 86_400e6, np.nan)
        ye_ = churn_labels(run(LABEL_SQL), ids, ev.evaluation_date, 30)
        oracle = evaluate_scores(ye_, churn_probability(h, since, 30.0))
        rows.append(
            (
                "churn",
                "true churn probability (oracle: latent state, no model)",
                "AUC / log loss",
                f"{oracle.auc:.3f} / {oracle.log_loss:.4f}",
                "-",
            )
        )
        rows.append(
            (
                "churn",
                "true onset rate only (static traits, no state)",
                "AUC",
                f"{evaluate_scores(ye_, h).auc:.3f}",
                "-",
            )
        )
    # Peer: logistic regression on the same rows (features recomputed: a second pass).
    genres = service._genres(run)
    Xtr, ytr = service._labelled(run, ev.train_dates, genres, 30)
    Xe, ye = service._labelled(run, [ev.evaluation_date], genres, 30)
    p_lr, t_lr = _logreg(Xtr, ytr, Xe)
    lr = evaluate_scores(ye, p_lr)
    rows.append(
        (
            "churn",
            "scikit-learn logistic regression",
            "AUC / log loss",
            f"{lr.auc:.3f} / {lr.log_loss:.4f}",
            f"{t_lr:.1f}",
        )
    )

    # -- segments -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    seg = MemberSegmenter(random_state=0).fit(feats)
    t_seg = time.perf_counter() - t0
    t0 = time.perf_counter()
    ari = seg.stability(feats, n_boot=5)
    t_stab = time.perf_counter() - t0
    rows.append(
        (
            "segments",
            "k-means, k by silhouette",
            "k / silhouette / bootstrap ARI",
            f"{seg.k_} / {seg.silhouettes_[seg.k_]:.3f} / {ari:.2f}",
            f"{t_seg:.1f}",
        )
    )
    notes.append(
        f"segment stability (5 bootstrap refits): {t_stab:.0f} s; segments: "
        + "; ".join(f"{p.name} ({p.members:,})" for p in seg.profiles_)
    )

    # -- uplift ----------------------------------------------------------------------------------
    camps = run("SELECT DISTINCT campaign_id FROM campaigns ORDER BY 1").to_pylist()
    for c in camps:
        cid = c["campaign_id"]
        data = service.campaign_data(run, cid)
        t, y = data.treated, data.converted
        age = np.asarray(pc.fill_null(data.features["age"], 99.0))
        plan = np.asarray(pc.fill_null(data.features["plan"], "").to_pylist(), dtype=object)
        oracle = (age < 30) if cid == "upsell-premium" else (plan == "basic")
        for method in ("two_model", "class_transformation"):
            t0 = time.perf_counter()
            s = cross_fit_uplift(UpliftModel(method=method), data.features, t, y, folds=5)
            fit = time.perf_counter() - t0
            lo, hi = qini_bootstrap(s, t, y, n_boot=200)
            rows.append(
                (
                    f"uplift {cid}",
                    f"{method} (reelmine, 5-fold)",
                    "Qini [95% CI] / uplift@20%",
                    f"{qini_coefficient(s, t, y):.4f} [{lo:.4f}, {hi:.4f}] / "
                    f"{uplift_at(s, t, y, 0.2):+.3f}",
                    f"{fit:.1f}",
                )
            )
        rng = np.random.default_rng(0)
        r = rng.random(len(t))
        rows.append(
            (
                f"uplift {cid}",
                "random targeting",
                "Qini / uplift@20%",
                f"{qini_coefficient(r, t, y):.4f} / {uplift_at(r, t, y, 0.2):+.3f}",
                "-",
            )
        )
        o = oracle + 1e-6 * r
        rows.append(
            (
                f"uplift {cid}",
                "planted segment rule (oracle)",
                "Qini / uplift@20%",
                f"{qini_coefficient(o, t, y):.4f} / {uplift_at(o, t, y, 0.2):+.3f}",
                "-",
            )
        )
        notes.append(f"{cid}: {len(t):,} members, {int(oracle.sum()):,} in the planted segment")

    # -- lifetime value ---------------------------------------------------------------------------
    t_fit = service._day(end) - timedelta(days=60)
    cohort = member_features(run, t_fit, genres=genres)
    dur, evt = remaining_tenure(run(LABEL_SQL), cohort["user_id"], t_fit, end)
    test = np.random.default_rng(0).random(cohort.num_rows) < 0.3
    t0 = time.perf_counter()
    cox = CoxModel().fit(cohort.filter(pa.array(~test)), dur[~test], evt[~test])
    t_cox = time.perf_counter() - t0
    c_cox = concordance_index(dur[test], evt[test], cox.risk(cohort.filter(pa.array(test))))
    plans = np.asarray(pc.fill_null(cohort["plan"], "").to_pylist(), dtype=object)
    rate = {p: evt[~test & (plans == p)].mean() for p in set(plans)}
    c_plan = concordance_index(dur[test], evt[test], np.array([rate[p] for p in plans[test]]))
    rows.append(
        (
            "lifetime value",
            "Cox, own partial likelihood (reelmine)",
            "concordance",
            f"{c_cox:.3f}",
            f"{t_cox:.1f}",
        )
    )
    rows.append(("lifetime value", "Kaplan-Meier by plan", "concordance", f"{c_plan:.3f}", "<0.1"))
    days = cox.expected_remaining_days(feats)
    notes.append(
        f"LTV: cohort {t_fit:%Y-%m-%d}, {dur.max():.0f} days follow-up, "
        f"mean expected remaining tenure {days.mean():.0f} days (cap 730)"
    )

    lines = [
        f"## Marketing ({users:,} simulated members, {args.days} days)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {args.threads} DuckDB threads, "
        "LightGBM 1 thread. Shared with other jobs while measured: times are contended.",
        "",
        "| task | method | metric | value | train s |",
        "|---|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows],
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
