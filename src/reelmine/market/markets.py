"""Markets by country and demographic: members, signups, cancellations, active rate, hours per
member, plan mix and cohort retention curves by signup month (definitions in
``docs/market.md``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content._sql import (
    AGE_BAND,
    WATCHED,
    calendar,
    check_dims,
    check_period,
    day_number,
    time_filter,
)
from reelmine.errors import ConfigError, DataError

MEMBER_DIMS = ("country", "age_band", "gender", "plan")


def _member_dims(by: Sequence[str]) -> tuple[str, ...]:
    dims = check_dims(list(by))
    bad = [d for d in dims if d not in MEMBER_DIMS]
    if bad:
        raise ConfigError(f"members can be broken down by {', '.join(MEMBER_DIMS)}, not {bad[0]}")
    return dims


_USERS = f"""mu AS (
  SELECT u.user_id, coalesce(u.country, 'unknown') AS country, {AGE_BAND} AS age_band,
    coalesce(u.gender, 'unknown') AS gender, coalesce(u.plan, 'unknown') AS plan,
    u.signup_at, u.cancelled_at
  FROM users u
)"""


def members_sql(
    *,
    period: str = "month",
    by: Sequence[str] = ("country",),
    since: str | None = None,
    until: str | None = None,
) -> str:
    """SQL of member counts and activity per period and breakdown.

    Periods are those in which plays exist. A member *belongs* to a period when they signed up
    in or before it (unknown signup: always) and did not cancel before it.

    Result: ``period, <by...>, members, signups, cancellations, active_members, active_rate,
    hours, hours_per_member`` where *active_members* played anything in the period,
    *active_rate* = active_members / members and *hours_per_member* = hours / members.
    """
    check_period(period)
    if period == "all":
        raise ConfigError("members need a calendar period (day, week, month, quarter, year)")
    dims = _member_dims(by)
    dsel = "".join(f", mu.{d}" for d in dims)
    dgrp = "".join(f", {d}" for d in dims)
    tr = lambda c: f"CAST(date_trunc('{period}', {c}) AS DATE)"  # noqa: E731
    # Plays reach their period through day numbers and the calendar (cheap per row); members'
    # signup and cancellation periods are computed once per member, not per member and period.
    return f"""WITH {_USERS},
{calendar()},
pd AS (
  SELECT pl.user_id, {day_number("pl.started_at")} AS dn, sum({WATCHED}) AS secs
  FROM plays pl WHERE 1 = 1{time_filter("pl.started_at", since, until)}
  GROUP BY pl.user_id, {day_number("pl.started_at")}
),
pp AS (
  SELECT pd.user_id, {tr("cal.d0")} AS period, sum(pd.secs) / 3600.0 AS hours
  FROM pd JOIN cal ON pd.dn = cal.dn GROUP BY pd.user_id, {tr("cal.d0")}
),
per AS (SELECT DISTINCT period FROM pp),
mp AS (
  SELECT mu.user_id{"".join(f", mu.{d}" for d in dims)},
    CASE WHEN mu.signup_at IS NULL THEN NULL ELSE {tr("mu.signup_at")} END AS sp,
    CASE WHEN mu.cancelled_at IS NULL THEN NULL ELSE {tr("mu.cancelled_at")} END AS cp
  FROM mu
),
m AS (
  SELECT per.period{dsel.replace("mu.", "mp.")}, mp.user_id,
    CASE WHEN mp.sp IS NOT NULL AND mp.sp = per.period THEN 1 ELSE 0 END AS signup,
    CASE WHEN mp.cp IS NOT NULL AND mp.cp = per.period THEN 1 ELSE 0 END AS cancel
  FROM per CROSS JOIN mp
  WHERE (mp.sp IS NULL OR mp.sp <= per.period)
    AND (mp.cp IS NULL OR mp.cp >= per.period)
)
SELECT m.period{dgrp}, count(*) AS members, CAST(sum(m.signup) AS BIGINT) AS signups,
  CAST(sum(m.cancel) AS BIGINT) AS cancellations, count(pp.user_id) AS active_members,
  CAST(count(pp.user_id) AS DOUBLE) / count(*) AS active_rate,
  coalesce(sum(pp.hours), 0.0) AS hours, coalesce(sum(pp.hours), 0.0) / count(*) AS hours_per_member
FROM m LEFT JOIN pp ON m.user_id = pp.user_id AND m.period = pp.period
GROUP BY m.period{dgrp} ORDER BY m.period{dgrp}"""


def plan_mix_sql(*, by: Sequence[str] = ("country",), active_only: bool = True) -> str:
    """SQL of ``<by...>, plan, members, share`` (share of the group's members on each plan).

    With ``active_only`` only members who have not cancelled are counted.
    """
    dims = [d for d in _member_dims(by) if d != "plan"]
    dsel = "".join(f"{d}, " for d in dims)
    part = ", ".join(dims) if dims else "1"
    where = "WHERE cancelled_at IS NULL" if active_only else ""
    grp = ", ".join([*dims, "plan"])
    return f"""WITH {_USERS}
SELECT {dsel}plan, count(*) AS members,
  CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY {part}) AS share
FROM mu {where}
GROUP BY {grp} ORDER BY {grp}"""


def cohort_sql(*, by: Sequence[str] = ()) -> str:
    """SQL of cohort sizes by signup month and cancellation offset (months after signup).

    Result: ``cohort`` (first day of the signup month), ``<by...>``, ``cancel_offset`` (null if
    not cancelled), ``members``, ``last_offset`` (the last month offset the data observe for the
    cohort, from the latest play). :func:`retention_curves` turns it into curves.
    """
    dims = _member_dims(by)
    dsel = "".join(f", {d}" for d in dims)
    return f"""WITH {_USERS},
e AS (SELECT year(max(started_at)) * 12 + month(max(started_at)) - 1 AS last_m FROM plays),
c AS (
  SELECT CAST(date_trunc('month', signup_at) AS DATE) AS cohort{dsel},
    year(signup_at) * 12 + month(signup_at) - 1 AS s,
    CASE WHEN cancelled_at IS NULL THEN NULL
      ELSE year(cancelled_at) * 12 + month(cancelled_at) - 1 END AS cm
  FROM mu WHERE signup_at IS NOT NULL
)
SELECT c.cohort{dsel}, c.cm - c.s AS cancel_offset, count(*) AS members,
  max(e.last_m) - max(c.s) AS last_offset
FROM c CROSS JOIN e
GROUP BY c.cohort{dsel}, c.cm - c.s ORDER BY c.cohort{dsel}"""


def retention_curves(cohorts: pa.Table, *, max_offset: int = 24) -> pa.Table:
    """Cohort retention curves from :func:`cohort_sql`.

    *retention* at offset *k* = share of the cohort whose membership was not cancelled by the
    end of the *k*-th month after the signup month (k = 0: the signup month itself). Offsets
    the data do not reach yet are left out.

    Returns
    -------
    ``cohort, <by...>, offset, members, retained, retention``.
    """
    for c in ("cohort", "cancel_offset", "members", "last_offset"):
        if c not in cohorts.column_names:
            raise DataError(f"cohort table needs a {c!r} column")
    dims = [
        c
        for c in cohorts.column_names
        if c not in ("cohort", "cancel_offset", "members", "last_offset")
    ]
    if cohorts.num_rows == 0:
        return pa.table(
            {
                "cohort": pa.array([], pa.date32()),
                "offset": pa.array([], pa.int64()),
                "members": pa.array([], pa.int64()),
                "retained": pa.array([], pa.int64()),
                "retention": pa.array([], pa.float64()),
            }
        )
    keys = [pc.cast(cohorts[c], pa.string()) for c in ["cohort", *dims]]
    key = np.asarray(
        (pc.binary_join_element_wise(*keys, "\x1f") if len(keys) > 1 else keys[0]).to_pylist(),
        dtype=object,
    ).astype(str)
    uk, g = np.unique(key, return_inverse=True)
    first_row = np.zeros(len(uk), dtype=np.int64)
    first_row[g[::-1]] = np.arange(len(g))[::-1]
    n = np.asarray(cohorts["members"].to_numpy(), dtype=np.int64)
    off = np.asarray(pc.fill_null(cohorts["cancel_offset"], 10**6).to_numpy(), dtype=np.int64)
    last = np.asarray(cohorts["last_offset"].to_numpy(), dtype=np.int64)
    size = np.bincount(g, weights=n, minlength=len(uk))
    last_g = np.full(len(uk), -1, dtype=np.int64)
    np.maximum.at(last_g, g, last)
    K = int(min(max_offset, max(last_g.max(), 0)))
    ks = np.arange(K + 1)
    # cancelled by end of month k: cancel_offset <= k
    lost = np.zeros((len(uk), K + 1))
    hit = off[:, None] <= ks[None, :]
    np.add.at(lost, g, hit * n[:, None])
    gi, kk = np.nonzero(ks[None, :] <= last_g[:, None])
    retained = size[gi] - lost[gi, kk]
    src = first_row[gi]
    out = {"cohort": cohorts["cohort"].take(pa.array(src))}
    for d in dims:
        out[d] = cohorts[d].take(pa.array(src))
    out["offset"] = pa.array(kk.astype(np.int64))
    out["members"] = pa.array(size[gi].astype(np.int64))
    out["retained"] = pa.array(retained.astype(np.int64))
    out["retention"] = pa.array(retained / np.maximum(size[gi], 1))
    return pa.table(out)
