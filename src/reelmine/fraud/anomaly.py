"""Anomalous accounts: an Isolation Forest over account-level viewing features.

Features (one row per account with at least ``min_plays`` plays), computed in SQL:

* ``plays_per_day``: plays per day on which the account played at all;
* ``hours_per_day``: hours watched per active day;
* ``devices`` and ``countries``: distinct devices and session countries;
* ``night_share``: share of plays starting between 00:00 and 06:00 *local solar time*
  (UTC hour + longitude / 15; UTC when the longitude is unknown);
* ``full_per_hour``: titles played to at least 90% of their runtime per hour watched;
* ``gap_minutes``: mean minutes between the end of a play and the start of the next (each
  gap capped at a day, so one holiday does not dominate).

Features are log-scaled where they are counts or rates, then the forest scores every account.
The score is the forest's anomaly score ``s(x) = 2^(-E[h(x)] / c(n))`` in (0, 1] (0.5 is
ordinary, near 1 is very isolated). The top ``contamination`` share of accounts is flagged.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
from sklearn.ensemble import IsolationForest

from reelmine.data.engine import SqlRunner
from reelmine.fraud.config import AnomalyParams
from reelmine.fraud.flags import empty_flags, make_flags, since_clause

TYPE = "anomaly"
FEATURES = (
    "plays_per_day",
    "hours_per_day",
    "devices",
    "countries",
    "night_share",
    "full_per_hour",
    "gap_minutes",
)
_LOG = {"plays_per_day", "hours_per_day", "devices", "countries", "full_per_hour", "gap_minutes"}


def features_sql(
    params: AnomalyParams, since: datetime | None = None, *, use_titles: bool = True
) -> str:
    """SQL: one row of account features (see the module docstring)."""
    runtime = (
        "LEFT JOIN (SELECT title_id, MAX(runtime_minutes) AS rt FROM titles GROUP BY title_id) ti"
        " ON ti.title_id = p.title_id"
        if use_titles
        else "LEFT JOIN (SELECT CAST(NULL AS VARCHAR) AS title_id, CAST(NULL AS DOUBLE) AS rt) ti"
        " ON ti.title_id = p.title_id"
    )
    return f"""
WITH p AS (
  SELECT p.user_id, p.device_id, p.country, p.title_id,
         EXTRACT(EPOCH FROM p.started_at) AS s,
         COALESCE(p.watched_seconds,
                  EXTRACT(EPOCH FROM p.ended_at) - EXTRACT(EPOCH FROM p.started_at), 0) AS w,
         COALESCE(p.longitude, 0) AS lon, ti.rt
  FROM plays p {runtime}
  WHERE p.started_at IS NOT NULL AND {since_clause("p.started_at", since)}
),
q AS (
  SELECT user_id, device_id, country, s, w,
         CASE WHEN rt IS NOT NULL AND rt > 0 AND w >= 0.9 * rt * 60 THEN 1 ELSE 0 END AS is_full,
         CASE WHEN MOD(CAST(FLOOR(MOD(s, 86400) / 3600 + lon / 15 + 48) AS BIGINT), 24) < 6
              THEN 1 ELSE 0 END AS night,
         CAST(FLOOR(s / 86400) AS BIGINT) AS day,
         s - LAG(s + w) OVER (PARTITION BY user_id ORDER BY s) AS gap
  FROM p
)
SELECT user_id,
       CAST(COUNT(*) AS DOUBLE) / COUNT(DISTINCT day) AS plays_per_day,
       SUM(w) / 3600.0 / COUNT(DISTINCT day) AS hours_per_day,
       CAST(COUNT(DISTINCT device_id) AS DOUBLE) AS devices,
       CAST(COUNT(DISTINCT country) AS DOUBLE) AS countries,
       AVG(CAST(night AS DOUBLE)) AS night_share,
       SUM(is_full) / GREATEST(SUM(w) / 3600.0, 0.1) AS full_per_hour,
       COALESCE(AVG(LEAST(GREATEST(gap, 0), 86400)), 86400) / 60.0 AS gap_minutes,
       COUNT(*) AS plays, MIN(s) AS first_s, MAX(s + w) AS last_s
FROM q
GROUP BY user_id
HAVING COUNT(*) >= {int(params.min_plays)}
ORDER BY user_id
"""


def feature_matrix(features: pa.Table) -> np.ndarray:
    """Model inputs (n_accounts, n_features): log1p of counts and rates, shares as they are."""
    cols = []
    for name in FEATURES:
        x = np.nan_to_num(
            np.asarray(features[name].to_numpy(zero_copy_only=False), dtype=np.float64)
        )
        cols.append(np.log1p(np.maximum(x, 0)) if name in _LOG else x)
    return np.column_stack(cols) if cols else np.zeros((features.num_rows, 0))


def anomaly_scores(
    run: SqlRunner,
    *,
    since: datetime | None = None,
    params: AnomalyParams | None = None,
    use_titles: bool = True,
) -> pa.Table:
    """Account features and their anomaly score (``score`` column, higher = more anomalous)."""
    params = params or AnomalyParams()
    feats = run(features_sql(params, since, use_titles=use_titles))
    if feats.num_rows < 2:
        return feats.append_column("score", pa.array(np.zeros(feats.num_rows)))
    x = feature_matrix(feats)
    forest = IsolationForest(
        n_estimators=params.n_estimators,
        max_samples=min(256, len(x)),
        random_state=params.random_state,
    ).fit(x)
    score = -forest.score_samples(x)  # the paper's s(x) in (0, 1]
    return feats.append_column("score", pa.array(score))


def anomaly_flags(
    run: SqlRunner,
    *,
    since: datetime | None = None,
    params: AnomalyParams | None = None,
    use_titles: bool = True,
) -> pa.Table:
    """Flags of type ``anomaly``: the top ``contamination`` share of account scores."""
    params = params or AnomalyParams()
    scored = anomaly_scores(run, since=since, params=params, use_titles=use_titles)
    if scored.num_rows < 2 or params.contamination <= 0:
        return empty_flags()
    score = scored["score"].to_numpy()
    k = max(1, int(round(params.contamination * len(score))))
    top = np.argsort(-score, kind="stable")[:k]
    rows = scored.take(pa.array(top))
    evidence = [
        f"{r['plays_per_day']:.1f} plays and {r['hours_per_day']:.1f} h per active day, "
        f"{r['night_share']:.0%} started at night, {r['full_per_hour']:.2f} full plays per hour "
        f"watched, {r['devices']:.0f} device(s), {r['countries']:.0f} country(ies); "
        f"anomaly score {r['score']:.2f} (top {params.contamination:.1%} of "
        f"{len(score)} accounts)"
        for r in rows.to_pylist()  # flagged accounts only (few)
    ]
    return make_flags(
        rows["user_id"],
        TYPE,
        score[top],
        rows["first_s"].to_numpy(),
        rows["last_s"].to_numpy(),
        evidence,
    )
