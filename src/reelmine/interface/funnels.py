"""Browse-session funnels: browse -> title page -> play, with drop-off per step.

A browse session (``ui_events.browse_session_id``) *enters* on the home page, or through search
when it holds a search event. It *reaches a title page* when it holds a click or any event on
page ``title``, and *plays* when it reaches a title page and holds a ``play`` event. The steps are
nested, so each one's share of the previous is the step's conversion and one minus it the
drop-off. Time to first play is measured from the session's first event.

Breakdowns: ``entry`` (home/search), ``device_type`` (the member's most used device type in
``plays``: ``ui_events`` carries no device), ``country`` (the member's country, else
``unknown``) and ``variant`` (the arm of an experiment, with ``experiment_id``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content._sql import time_filter
from reelmine.errors import ConfigError, DataError

FUNNEL_DIMS = ("entry", "device_type", "country", "variant")
STEPS = ("browse", "title page", "play")


def check_funnel_dims(by: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate funnel breakdowns against :data:`FUNNEL_DIMS`."""
    bad = [d for d in by if d not in FUNNEL_DIMS]
    if bad:
        raise ConfigError(f"unknown breakdown {bad[0]!r}; choose from {', '.join(FUNNEL_DIMS)}")
    if len(set(by)) != len(by):
        raise ConfigError("a breakdown is repeated")
    return tuple(by)


def sql_quote(text: str) -> str:
    """A SQL string literal of ``text`` (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def funnel_sql(
    *,
    by: tuple[str, ...] | list[str] = (),
    experiment_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> str:
    """SQL of the funnel counts per breakdown group.

    Returns columns ``<by...>, sessions, title_sessions, play_sessions, members,
    title_members, play_members, no_play_sessions, ttfp_mean_s, ttfp_median_s`` where
    ``*_members`` count distinct members reaching the step and ``ttfp`` is the time to first
    play (seconds from the session's first event) over sessions that played.
    """
    by = check_funnel_dims(by)
    if "variant" in by and experiment_id is None:
        raise ConfigError("the 'variant' breakdown needs an experiment id")
    dims = {
        "entry": "s.entry",
        "device_type": "coalesce(d.device_type, 'unknown')",
        "country": "coalesce(u.country, 'unknown')",
        "variant": "x.variant",
    }
    sel = "".join(f"{dims[b]} AS {b}, " for b in by)
    group = ("GROUP BY " + ", ".join(dims[b] for b in by)) if by else ""
    joins = ""
    if "device_type" in by:
        joins += " LEFT JOIN dev d ON s.user_id = d.user_id AND d.rk = 1"
    if "country" in by:
        joins += " LEFT JOIN users u ON s.user_id = u.user_id"
    if experiment_id is not None:
        joins += (
            " JOIN experiments x ON s.user_id = x.user_id"
            f" AND x.experiment_id = {sql_quote(experiment_id)}"
        )
    dev = ""
    if "device_type" in by:
        dev = """,
dev AS (
  SELECT user_id, device_type,
    row_number() OVER (PARTITION BY user_id ORDER BY n DESC, device_type) AS rk
  FROM (SELECT user_id, coalesce(device_type, 'unknown') AS device_type, count(*) AS n
        FROM plays GROUP BY user_id, coalesce(device_type, 'unknown')) pc
)"""
    return f"""WITH ev AS (
  SELECT e.browse_session_id, e.user_id, e.at AS ts,
    CASE WHEN e.event_type = 'search' THEN 1 ELSE 0 END AS is_search,
    CASE WHEN e.event_type = 'click' OR e.page = 'title' THEN 1 ELSE 0 END AS is_title,
    CASE WHEN e.event_type = 'play' THEN 1 ELSE 0 END AS is_play
  FROM ui_events e
  WHERE e.browse_session_id IS NOT NULL{time_filter("e.at", since, until)}
),
s AS (
  SELECT browse_session_id, min(user_id) AS user_id, min(ts) AS started_at,
    CASE WHEN max(is_search) = 1 THEN 'search' ELSE 'home' END AS entry,
    max(is_title) AS title_page,
    CASE WHEN max(is_title) = 1 AND max(is_play) = 1 THEN 1 ELSE 0 END AS played,
    max(is_play) AS any_play,
    min(CASE WHEN is_play = 1 THEN ts END) AS first_play_at
  FROM ev GROUP BY browse_session_id
),
t AS (
  SELECT s.*, CASE WHEN s.any_play = 1
    THEN CAST(date_diff('second', s.started_at, s.first_play_at) AS DOUBLE) END AS ttfp
  FROM s
){dev}
SELECT {sel}count(*) AS sessions, sum(s.title_page) AS title_sessions,
  sum(s.played) AS play_sessions, count(DISTINCT s.user_id) AS members,
  count(DISTINCT CASE WHEN s.title_page = 1 THEN s.user_id END) AS title_members,
  count(DISTINCT CASE WHEN s.played = 1 THEN s.user_id END) AS play_members,
  sum(1 - s.any_play) AS no_play_sessions,
  avg(s.ttfp) AS ttfp_mean_s, quantile_cont(s.ttfp, 0.5) AS ttfp_median_s
FROM t s{joins}
{group}"""


def _f(t: pa.Table, c: str) -> np.ndarray:
    return np.asarray(pc.fill_null(t[c], 0).to_numpy(zero_copy_only=False), dtype=float)


_NEED = ("sessions", "title_sessions", "play_sessions", "members", "title_members", "play_members")


def funnel_steps(counts: pa.Table, by: tuple[str, ...] | list[str] = ()) -> pa.Table:
    """The funnel in long form: one row per group and step.

    Parameters
    ----------
    counts : :func:`funnel_sql` result.
    by : its breakdown columns.

    Returns
    -------
    ``<by...>, step_index, step, sessions, members, share_of_start, conversion, drop_off``:
    ``share_of_start`` = sessions / sessions at the first step, ``conversion`` = sessions /
    sessions at the previous step (1 at the first step) and ``drop_off`` = 1 - conversion.
    """
    for c in (*by, *_NEED):
        if c not in counts.column_names:
            raise DataError(f"funnel counts need a {c!r} column")
    g = counts.num_rows
    sess = np.stack([_f(counts, c) for c in _NEED[:3]], axis=1)  # (groups, 3)
    mem = np.stack([_f(counts, c) for c in _NEED[3:]], axis=1)
    prev = np.concatenate([sess[:, :1], sess[:, :-1]], axis=1)
    conv = np.where(prev > 0, sess / np.maximum(prev, 1), np.nan)
    start = np.where(sess[:, :1] > 0, sess / np.maximum(sess[:, :1], 1), np.nan)
    idx = np.repeat(np.arange(g), len(STEPS))
    cols: dict[str, pa.Array | np.ndarray] = {b: counts[b].combine_chunks().take(idx) for b in by}
    cols.update(
        {
            "step_index": np.tile(np.arange(len(STEPS), dtype=np.int64), g),
            "step": pa.array(list(STEPS) * g, pa.string()),
            "sessions": sess.ravel().astype(np.int64),
            "members": mem.ravel().astype(np.int64),
            "share_of_start": start.ravel(),
            "conversion": conv.ravel(),
            "drop_off": 1.0 - conv.ravel(),
        }
    )
    return pa.table(cols).sort_by([(b, "ascending") for b in by] + [("step_index", "ascending")])


def funnel_summary(counts: pa.Table, by: tuple[str, ...] | list[str] = ()) -> pa.Table:
    """One row per group: ``<by...>, sessions, members, title_rate, play_rate,
    no_play_share, ttfp_mean_s, ttfp_median_s`` (rates are shares of sessions), most sessions
    first."""
    for c in (*by, *_NEED, "no_play_sessions", "ttfp_mean_s", "ttfp_median_s"):
        if c not in counts.column_names:
            raise DataError(f"funnel counts need a {c!r} column")
    s = _f(counts, "sessions")
    cols: dict[str, pa.Array | pa.ChunkedArray | np.ndarray] = {b: counts[b] for b in by}
    cols.update(
        {
            "sessions": s.astype(np.int64),
            "members": _f(counts, "members").astype(np.int64),
            "title_rate": _f(counts, "title_sessions") / np.maximum(s, 1),
            "play_rate": _f(counts, "play_sessions") / np.maximum(s, 1),
            "no_play_share": _f(counts, "no_play_sessions") / np.maximum(s, 1),
            "ttfp_mean_s": pc.cast(counts["ttfp_mean_s"], pa.float64()),
            "ttfp_median_s": pc.cast(counts["ttfp_median_s"], pa.float64()),
        }
    )
    keys = [("sessions", "descending")] + [(b, "ascending") for b in by]
    return pa.table(cols).sort_by(keys)
