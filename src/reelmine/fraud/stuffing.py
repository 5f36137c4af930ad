"""Credential stuffing and account takeover from the ``logins`` table.

Rules
-----
*Burst*: one source (an ``ip_net_hash`` network or a ``device_id``) whose failed logins touch at
least ``min_accounts`` distinct accounts within ``window_seconds``, with at least
``min_fail_share`` of the source's attempts in that window failing. Windows are counted on two
grids offset by half a window, so a burst that straddles a grid line is still seen whole.
Every account with an attempt from a burst source inside the burst window is flagged.

*Takeover*: a success after ``takeover_min_failures`` failures on the account within
``window_seconds`` (from any source), followed within ``after_hours`` by *changed behaviour*:
a device the account had never used and a country other than the account's own
(``users.country``). Successes inside a burst are checked for the same change, which raises
their score and is stated in the evidence.

Scores: targeted only 0.5; a success from the burst source 0.8; a success followed by a new
device in another country 1.0 (takeover rule: 0.9).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from reelmine.data.engine import SqlRunner
from reelmine.fraud.config import StuffingParams
from reelmine.fraud.flags import empty_flags, fmt_time, make_flags, since_clause

TYPE = "credential_stuffing"


def bursts_cte(params: StuffingParams, since: datetime | None = None) -> str:
    """CTEs ``sf_f`` .. ``sf_bursts`` (no leading WITH): burst sources and their windows.

    ``sf_bursts`` has ``kind`` ('network' or 'device'), ``source``, ``w0``, ``w1`` (epoch s),
    ``accounts``, ``failures``, ``attempts``.
    """
    w = float(params.window_seconds)
    # sf_cand: a window can only reach min_accounts failing accounts if its source does over
    # the whole period, so other sources are dropped before the (4x) windowing: same answer.
    return f"""
sf_f AS (
  SELECT user_id, EXTRACT(EPOCH FROM "at") AS t, success, ip_net_hash, device_id, country
  FROM logins WHERE "at" IS NOT NULL AND success IS NOT NULL AND {since_clause('"at"', since)}
),
sf_src0 AS (
  SELECT 'network' AS kind, ip_net_hash AS source, user_id, t, success
  FROM sf_f WHERE ip_net_hash IS NOT NULL
  UNION ALL
  SELECT 'device' AS kind, device_id AS source, user_id, t, success
  FROM sf_f WHERE device_id IS NOT NULL
),
sf_cand AS (
  SELECT kind, source FROM sf_src0 WHERE NOT success GROUP BY kind, source
  HAVING COUNT(DISTINCT user_id) >= {int(params.min_accounts)}
),
sf_src AS (
  SELECT s.kind, s.source, s.user_id, s.t, s.success
  FROM sf_src0 s JOIN sf_cand c ON s.kind = c.kind AND s.source = c.source
),
sf_grid AS (
  SELECT kind, source, user_id, t, success, 0 AS g, FLOOR(t / {w}) AS b FROM sf_src
  UNION ALL
  SELECT kind, source, user_id, t, success, 1 AS g, FLOOR((t + {w / 2}) / {w}) AS b FROM sf_src
),
sf_win AS (
  SELECT kind, source, g, b, MIN(t) AS w0, MAX(t) AS w1,
         COUNT(DISTINCT CASE WHEN NOT success THEN user_id END) AS accounts,
         SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failures,
         COUNT(*) AS attempts
  FROM sf_grid GROUP BY kind, source, g, b
  HAVING COUNT(DISTINCT CASE WHEN NOT success THEN user_id END) >= {int(params.min_accounts)}
     AND SUM(CASE WHEN success THEN 0 ELSE 1 END) >= {float(params.min_fail_share)} * COUNT(*)
),
sf_bursts AS (
  SELECT kind, source, MIN(w0) AS w0, MAX(w1) AS w1, MAX(accounts) AS accounts,
         MAX(failures) AS failures, MAX(attempts) AS attempts
  FROM sf_win GROUP BY kind, source
)"""


def stuffing_sql(params: StuffingParams, since: datetime | None = None) -> str:
    """SQL returning one row per flagged account (rule ``burst`` or ``takeover``)."""
    w = float(params.window_seconds)
    after = float(params.after_hours) * 3600.0
    # Behaviour after a success is looked up for candidate accounts only (cu), not all plays.
    return f"""
WITH {bursts_cte(params, since)},
hit_rows AS (
  SELECT f.user_id, f.t, f.success, MAX(b.accounts) AS accounts, MAX(b.failures) AS failures,
         MAX(b.attempts) AS attempts, MIN(b.kind) AS kind
  FROM sf_f f JOIN sf_bursts b
    ON ((b.kind = 'network' AND f.ip_net_hash = b.source)
        OR (b.kind = 'device' AND f.device_id = b.source))
   AND f.t BETWEEN b.w0 AND b.w1
  GROUP BY f.user_id, f.t, f.success, f.ip_net_hash, f.device_id
),
hits AS (
  SELECT user_id, MIN(t) AS t0, MAX(t) AS t1,
         SUM(CASE WHEN success THEN 0 ELSE 1 END) AS fails,
         SUM(CASE WHEN success THEN 1 ELSE 0 END) AS succ,
         MAX(CASE WHEN success THEN t END) AS t_succ,
         MAX(accounts) AS burst_accounts, MAX(failures) AS burst_failures,
         MAX(attempts) AS burst_attempts, MIN(kind) AS kind
  FROM hit_rows GROUP BY user_id
),
seq AS (
  SELECT user_id, t, success,
         SUM(CASE WHEN success THEN 0 ELSE 1 END) OVER (
           PARTITION BY user_id ORDER BY t RANGE BETWEEN {w} PRECEDING AND CURRENT ROW
         ) AS recent_fail
  FROM sf_f
),
lone AS (
  SELECT user_id, MIN(t) AS t_succ, MAX(recent_fail) AS fails
  FROM seq WHERE success AND recent_fail >= {int(params.takeover_min_failures)}
  GROUP BY user_id
),
cand AS (
  SELECT user_id, t_succ FROM hits WHERE t_succ IS NOT NULL
  UNION
  SELECT user_id, t_succ FROM lone
),
cu AS (SELECT DISTINCT user_id FROM cand),
ev AS (
  SELECT p.user_id, EXTRACT(EPOCH FROM p.started_at) AS t, p.device_id, p.country
  FROM plays p JOIN cu ON p.user_id = cu.user_id
  WHERE p.started_at IS NOT NULL AND {since_clause("p.started_at", since)}
  UNION ALL
  SELECT f.user_id, f.t, f.device_id, f.country FROM sf_f f JOIN cu ON f.user_id = cu.user_id
  WHERE f.success
),
first_dev AS (
  SELECT user_id, device_id, MIN(t) AS first_t FROM ev
  WHERE device_id IS NOT NULL GROUP BY user_id, device_id
),
home AS (SELECT user_id, MAX(country) AS country FROM users GROUP BY user_id),
chg AS (
  SELECT c.user_id, c.t_succ,
         COUNT(DISTINCT CASE WHEN d.first_t >= c.t_succ - {w} AND e.country <> h.country
                             THEN e.device_id END) AS new_devices,
         MIN(CASE WHEN d.first_t >= c.t_succ - {w} AND e.country <> h.country
                  THEN e.country END) AS new_country,
         MAX(CASE WHEN d.first_t >= c.t_succ - {w} AND e.country <> h.country
                  THEN e.t END) AS t_last
  FROM cand c
  JOIN ev e ON e.user_id = c.user_id AND e.t > c.t_succ AND e.t <= c.t_succ + {after}
  LEFT JOIN first_dev d ON d.user_id = e.user_id AND d.device_id = e.device_id
  LEFT JOIN home h ON h.user_id = c.user_id
  GROUP BY c.user_id, c.t_succ
)
SELECT h.user_id, 'burst' AS rule, h.t0, GREATEST(h.t1, COALESCE(c.t_last, h.t1)) AS t1,
       CAST(h.fails AS BIGINT) AS fails, CAST(h.succ AS BIGINT) AS succ, h.kind,
       CAST(h.burst_accounts AS BIGINT) AS burst_accounts,
       CAST(h.burst_failures AS BIGINT) AS burst_failures,
       CAST(h.burst_attempts AS BIGINT) AS burst_attempts,
       CAST(COALESCE(c.new_devices, 0) AS BIGINT) AS new_devices, c.new_country, h.t_succ
FROM hits h LEFT JOIN chg c ON c.user_id = h.user_id AND c.t_succ = h.t_succ
UNION ALL
SELECT l.user_id, 'takeover' AS rule, l.t_succ - {w} AS t0, c.t_last AS t1,
       CAST(l.fails AS BIGINT) AS fails, CAST(1 AS BIGINT) AS succ,
       CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS BIGINT) AS burst_accounts,
       CAST(NULL AS BIGINT) AS burst_failures, CAST(NULL AS BIGINT) AS burst_attempts,
       CAST(c.new_devices AS BIGINT) AS new_devices, c.new_country, l.t_succ
FROM lone l JOIN chg c ON c.user_id = l.user_id AND c.t_succ = l.t_succ
WHERE c.new_devices > 0 AND l.user_id NOT IN (SELECT user_id FROM hits)
ORDER BY user_id
"""


def stuffing_flags(
    run: SqlRunner, *, since: datetime | None = None, params: StuffingParams | None = None
) -> pa.Table:
    """Flags of type ``credential_stuffing`` (see the module docstring for the rules)."""
    params = params or StuffingParams()
    rows = run(stuffing_sql(params, since))
    if rows.num_rows == 0:
        return empty_flags()
    evidence, score = [], []
    for r in rows.to_pylist():  # one sentence per flagged account (flags are few)
        if r["rule"] == "burst":
            share = r["burst_failures"] / max(r["burst_attempts"], 1)
            text = (
                f"{r['fails']} failed and {r['succ']} successful logins on "
                f"{fmt_time(r['t0'])} from a {r['kind']} that failed on "
                f"{r['burst_accounts']} accounts within {params.window_seconds / 60:.0f} min "
                f"({share:.0%} of its {r['burst_attempts']} attempts failed)"
            )
            s = 0.8 if r["succ"] else 0.5
        else:
            text = (
                f"login succeeded on {fmt_time(r['t_succ'])} after {r['fails']} failures "
                f"within {params.window_seconds / 60:.0f} min"
            )
            s = 0.9
        if r["new_devices"]:
            text += (
                f"; then {r['new_devices']} new device(s) in {r['new_country']} within "
                f"{params.after_hours:.0f} h"
            )
            s = 1.0 if r["rule"] == "burst" else s
        evidence.append(text)
        score.append(s)
    t0 = rows["t0"].to_numpy(zero_copy_only=False)
    t1 = np.asarray(rows["t1"].to_numpy(zero_copy_only=False), dtype=np.float64)
    t1 = np.where(np.isnan(t1), t0, t1)
    return make_flags(rows["user_id"], TYPE, np.array(score), t0, t1, evidence)
