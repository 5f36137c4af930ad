"""Search behaviour: top queries, zero-result queries, query -> play conversion, reformulation
chains and the titles search should have found.

:func:`search_events_sql` turns ``ui_events`` into one row per search: the session, member and
time, the query (lower case, trimmed), the next query of the same browse session (a
*reformulation*), how many results were shown before the next search (``impression`` events on
page ``search``; none = a *zero-result* search) and the first title played before the next
search (the search *converted*). Everything else is Arrow group-bys on that table. Query text
is normalised (punctuation, a trailing year) and names are matched with the helpers of
:mod:`reelmine.content.search`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content._sql import time_filter
from reelmine.content.search import levenshtein, normalise
from reelmine.errors import DataError

EVENT_COLUMNS = (
    "browse_session_id",
    "user_id",
    "at",
    "search_no",
    "query",
    "next_query",
    "results",
    "played_title_id",
    "seconds_to_play",
)


def search_events_sql(*, since: str | None = None, until: str | None = None) -> str:
    """SQL of one row per search event: ``browse_session_id, user_id, at, search_no, query,
    next_query, results, played_title_id, seconds_to_play`` (see the module docstring)."""
    return f"""WITH ev AS (
  SELECT e.browse_session_id AS sid, e.user_id, e.at AS ts, e.event_type, e.page, e.title_id,
    lower(trim(e.query)) AS query
  FROM ui_events e
  WHERE e.browse_session_id IS NOT NULL{time_filter("e.at", since, until)}
),
q AS (
  SELECT sid, user_id, ts, query,
    row_number() OVER (PARTITION BY sid ORDER BY ts, query) AS qn,
    lead(query) OVER (PARTITION BY sid ORDER BY ts, query) AS next_query,
    lead(ts) OVER (PARTITION BY sid ORDER BY ts, query) AS next_ts
  FROM ev WHERE event_type = 'search' AND query IS NOT NULL AND query <> ''
),
r AS (
  SELECT q.sid, q.qn, count(ev.sid) AS results
  FROM q LEFT JOIN ev ON ev.sid = q.sid AND ev.event_type = 'impression'
    AND ev.page = 'search' AND ev.ts >= q.ts AND (q.next_ts IS NULL OR ev.ts < q.next_ts)
  GROUP BY q.sid, q.qn
),
p AS (
  SELECT q.sid, q.qn, ev.title_id,
    CAST(date_diff('second', q.ts, ev.ts) AS DOUBLE) AS secs,
    row_number() OVER (PARTITION BY q.sid, q.qn ORDER BY ev.ts, ev.title_id) AS rk
  FROM q JOIN ev ON ev.sid = q.sid AND ev.event_type = 'play' AND ev.title_id IS NOT NULL
    AND ev.ts >= q.ts AND (q.next_ts IS NULL OR ev.ts < q.next_ts)
)
SELECT q.sid AS browse_session_id, q.user_id, q.ts AS at, q.qn AS search_no, q.query,
  q.next_query, coalesce(r.results, 0) AS results, p.title_id AS played_title_id,
  p.secs AS seconds_to_play
FROM q
LEFT JOIN r ON r.sid = q.sid AND r.qn = q.qn
LEFT JOIN p ON p.sid = q.sid AND p.qn = q.qn AND p.rk = 1"""


def _check(events: pa.Table) -> None:
    for c in EVENT_COLUMNS:
        if c not in events.column_names:
            raise DataError(f"search events need a {c!r} column (see search_events_sql)")


def _norm(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Normalised text of a string column, computed once per distinct value."""
    d = pc.dictionary_encode(pc.cast(col, pa.string()))
    if isinstance(d, pa.ChunkedArray):
        d = d.combine_chunks()
    vals = d.dictionary.to_pylist()
    norm = pa.array(normalise([v or "" for v in vals]), pa.string())
    out = norm.take(d.indices)
    return pc.if_else(pc.is_null(col), pa.scalar(None, pa.string()), out)


def prepare(events: pa.Table) -> pa.Table:
    """``events`` with ``query``/``next_query`` normalised and ``converted`` (bool),
    ``zero_result`` (bool) and ``reformulated`` (bool: a different next query) added."""
    _check(events)
    q = _norm(events["query"])
    nq = _norm(events["next_query"])
    t = events.set_column(events.column_names.index("query"), "query", q)
    t = t.set_column(t.column_names.index("next_query"), "next_query", nq)
    t = t.filter(pc.greater(pc.utf8_length(t["query"]), 0))
    converted = pc.is_valid(t["played_title_id"])
    zero = pc.equal(pc.fill_null(t["results"], 0), 0)
    ref = pc.fill_null(pc.not_equal(t["next_query"], t["query"]), False)
    return (
        t.append_column("converted", converted)
        .append_column("zero_result", zero)
        .append_column("reformulated", ref)
    )


def _arr(x: pa.ChunkedArray | pa.Array) -> pa.Array:
    return x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x


def _i(b: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.cast(b, pa.int64())


def top_queries(events: pa.Table, *, limit: int | None = None) -> pa.Table:
    """Most searched queries with their outcome.

    Parameters
    ----------
    events : :func:`search_events_sql` result (raw or :func:`prepare`-d).
    limit : rows to keep (all by default).

    Returns
    -------
    ``query, searches, members, conversion, zero_result_share, reformulation_share,
    median_seconds_to_play``: shares are of the query's searches; most searched first.
    """
    t = events if "converted" in events.column_names else prepare(events)
    t = t.append_column("_c", _i(t["converted"]))
    t = t.append_column("_z", _i(t["zero_result"])).append_column("_r", _i(t["reformulated"]))
    g = t.group_by("query").aggregate(
        [
            ("query", "count"),
            ("user_id", "count_distinct"),
            ("_c", "sum"),
            ("_z", "sum"),
            ("_r", "sum"),
            ("seconds_to_play", "approximate_median"),
        ]
    )
    n = np.asarray(g["query_count"].to_numpy(), dtype=float)
    out = pa.table(
        {
            "query": g["query"],
            "searches": g["query_count"],
            "members": g["user_id_count_distinct"],
            "conversion": np.asarray(g["_c_sum"].to_numpy(), dtype=float) / n,
            "zero_result_share": np.asarray(g["_z_sum"].to_numpy(), dtype=float) / n,
            "reformulation_share": np.asarray(g["_r_sum"].to_numpy(), dtype=float) / n,
            "median_seconds_to_play": pc.cast(
                g["seconds_to_play_approximate_median"], pa.float64()
            ),
        }
    ).sort_by([("searches", "descending"), ("members", "descending"), ("query", "ascending")])
    return out if limit is None else out.slice(0, limit)


def zero_result_queries(events: pa.Table, *, limit: int | None = None) -> pa.Table:
    """Queries that returned no results at least once: ``query, searches, members,
    zero_result_searches, zero_result_share, conversion``, most zero-result searches first."""
    top = top_queries(events)
    zero = np.round(top["zero_result_share"].to_numpy() * top["searches"].to_numpy())
    out = top.append_column("zero_result_searches", pa.array(zero.astype(np.int64)))
    out = out.filter(pc.greater(out["zero_result_searches"], 0)).select(
        ["query", "searches", "members", "zero_result_searches", "zero_result_share", "conversion"]
    )
    out = out.sort_by(
        [("zero_result_searches", "descending"), ("members", "descending"), ("query", "ascending")]
    )
    return out if limit is None else out.slice(0, limit)


def conversion_summary(events: pa.Table) -> pa.Table:
    """One row: ``searches, members, conversion, zero_result_share, reformulation_share,
    median_seconds_to_play`` over all searches."""
    t = events if "converted" in events.column_names else prepare(events)
    n = t.num_rows
    secs = t["seconds_to_play"].drop_null().to_numpy()
    return pa.table(
        {
            "searches": [n],
            "members": [len(pc.unique(t["user_id"]))],
            "conversion": [pc.sum(_i(t["converted"])).as_py() / n if n else float("nan")],
            "zero_result_share": [pc.sum(_i(t["zero_result"])).as_py() / n if n else float("nan")],
            "reformulation_share": [
                pc.sum(_i(t["reformulated"])).as_py() / n if n else float("nan")
            ],
            "median_seconds_to_play": [float(np.median(secs)) if len(secs) else float("nan")],
        }
    )


def reformulations(events: pa.Table, *, limit: int | None = None) -> pa.Table:
    """Query pairs where a search was followed by a different one in the same session.

    Returns
    -------
    ``query, next_query, times, members, edits, next_converted``: ``edits`` is the edit
    distance between the two (small = a spelling fix, large = a new idea), ``next_converted``
    the share of the follow-up searches that led to a play. Most frequent first.
    """
    t = events if "converted" in events.column_names else prepare(events)
    # The follow-up search is the row with the same session and the next search number.
    key = pc.binary_join_element_wise(
        t["browse_session_id"], pc.cast(t["search_no"], pa.string()), "#"
    )
    nxt = pc.binary_join_element_wise(
        t["browse_session_id"], pc.cast(pc.add(t["search_no"], 1), pa.string()), "#"
    )
    idx = pc.index_in(nxt, value_set=_arr(key))
    t = t.append_column("_next_conv", pc.fill_null(pc.take(_arr(_i(t["converted"])), idx), 0))
    t = t.filter(t["reformulated"])
    if t.num_rows == 0:
        return _empty_reform()
    g = t.group_by(["query", "next_query"]).aggregate(
        [("query", "count"), ("user_id", "count_distinct"), ("_next_conv", "sum")]
    )
    # Edit distance once per distinct pair (not per event).
    edits = [
        levenshtein(a, b)
        for a, b in zip(g["query"].to_pylist(), g["next_query"].to_pylist(), strict=True)
    ]
    n = np.asarray(g["query_count"].to_numpy(), dtype=float)
    out = pa.table(
        {
            "query": g["query"],
            "next_query": g["next_query"],
            "times": g["query_count"],
            "members": g["user_id_count_distinct"],
            "edits": pa.array(edits, pa.int64()),
            "next_converted": np.asarray(g["_next_conv_sum"].to_numpy(), dtype=float) / n,
        }
    ).sort_by([("times", "descending"), ("query", "ascending"), ("next_query", "ascending")])
    return out if limit is None else out.slice(0, limit)


def _empty_reform() -> pa.Table:
    return pa.table(
        {
            "query": pa.array([], pa.string()),
            "next_query": pa.array([], pa.string()),
            "times": pa.array([], pa.int64()),
            "members": pa.array([], pa.int64()),
            "edits": pa.array([], pa.int64()),
            "next_converted": pa.array([], pa.float64()),
        }
    )


def reformulation_chains(events: pa.Table, *, limit: int | None = None) -> pa.Table:
    """Whole chains of searches within a session (two or more), e.g. ``stranger -> strangr
    things -> stranger things``: ``chain, length, sessions, members, converted`` (share of the
    chains whose last search led to a play), most frequent first."""
    t = events if "converted" in events.column_names else prepare(events)
    t = t.sort_by([("browse_session_id", "ascending"), ("search_no", "ascending")])
    # Ordered aggregation (no threads): the list keeps search order, "last" is the last search.
    g = t.group_by("browse_session_id", use_threads=False).aggregate(
        [("query", "list"), ("user_id", "min"), ("converted", "last")]
    )
    length = pc.list_value_length(g["query_list"])
    g = g.filter(pc.greater_equal(length, 2))
    if g.num_rows == 0:
        return pa.table(
            {
                "chain": pa.array([], pa.string()),
                "length": pa.array([], pa.int32()),
                "sessions": pa.array([], pa.int64()),
                "members": pa.array([], pa.int64()),
                "converted": pa.array([], pa.float64()),
            }
        )
    chain = pc.binary_join(g["query_list"], " -> ")
    last = g["converted_last"]
    c = pa.table(
        {
            "chain": chain,
            "length": pc.list_value_length(g["query_list"]),
            "user_id": g["user_id_min"],
            "_conv": _i(last),
        }
    )
    a = c.group_by(["chain", "length"]).aggregate(
        [("chain", "count"), ("user_id", "count_distinct"), ("_conv", "sum")]
    )
    n = np.asarray(a["chain_count"].to_numpy(), dtype=float)
    out = pa.table(
        {
            "chain": a["chain"],
            "length": a["length"],
            "sessions": a["chain_count"],
            "members": a["user_id_count_distinct"],
            "converted": np.asarray(a["_conv_sum"].to_numpy(), dtype=float) / n,
        }
    ).sort_by([("sessions", "descending"), ("chain", "ascending")])
    return out if limit is None else out.slice(0, limit)


def name_matches(query: str, name: str, *, max_edits: int = 2) -> bool:
    """Whether a normalised query finds a normalised title name: one contains the other, or
    they are within ``max_edits`` edits (or 10% of the query's length, whichever is larger)."""
    if not query or not name:
        return False
    if query in name or name in query:
        return True
    return levenshtein(query, name) <= max(max_edits, int(0.1 * len(query)))


def missed_titles(
    events: pa.Table, titles: pa.Table, *, max_edits: int = 2, limit: int | None = None
) -> pa.Table:
    """Searches that ended in a play of a title whose name the query does not match: the
    title search should have found for that query.

    Parameters
    ----------
    events : :func:`search_events_sql` result.
    titles : the titles table (``title_id``, ``name``).
    max_edits : see :func:`name_matches`.

    Returns
    -------
    ``query, title_id, name, searches, members, share_of_query`` (share of the query's
    converted searches that played this title), most searches first.
    """
    for c in ("title_id", "name"):
        if c not in titles.column_names:
            raise DataError(f"titles need a {c!r} column")
    t = events if "converted" in events.column_names else prepare(events)
    t = t.filter(t["converted"])
    if t.num_rows == 0:
        return _empty_missed()
    g = t.group_by(["query", "played_title_id"]).aggregate(
        [("query", "count"), ("user_id", "count_distinct")]
    )
    per_q = g.group_by("query").aggregate([("query_count", "sum")])
    idx = pc.index_in(g["played_title_id"], value_set=titles["title_id"].combine_chunks())
    names = titles["name"].combine_chunks().take(idx)
    n_names = _norm(names)
    qs, ns = g["query"].to_pylist(), n_names.to_pylist()
    # One comparison per distinct (query, title) pair.
    miss = np.array(
        [not name_matches(q, n or "", max_edits=max_edits) for q, n in zip(qs, ns, strict=True)],
        dtype=bool,
    )
    tot = pc.index_in(g["query"], value_set=per_q["query"].combine_chunks())
    q_tot = np.asarray(per_q["query_count_sum"].combine_chunks().take(tot).to_numpy(), float)
    out = pa.table(
        {
            "query": g["query"],
            "title_id": g["played_title_id"],
            "name": names,
            "searches": g["query_count"],
            "members": g["user_id_count_distinct"],
            "share_of_query": np.asarray(g["query_count"].to_numpy(), dtype=float) / q_tot,
        }
    ).filter(pa.array(miss))
    out = out.sort_by(
        [("searches", "descending"), ("members", "descending"), ("query", "ascending")]
    )
    return out if limit is None else out.slice(0, limit)


def _empty_missed() -> pa.Table:
    return pa.table(
        {
            "query": pa.array([], pa.string()),
            "title_id": pa.array([], pa.string()),
            "name": pa.array([], pa.string()),
            "searches": pa.array([], pa.int64()),
            "members": pa.array([], pa.int64()),
            "share_of_query": pa.array([], pa.float64()),
        }
    )


def search_play_pairs(events: pa.Table) -> pa.Table:
    """Logged ``(user_id, query, title_id)`` of converted searches: the ground truth a search
    ranker is evaluated on (raw query text, as the member typed it, lower case)."""
    _check(events)
    t = events.filter(pc.is_valid(events["played_title_id"]))
    return pa.table(
        {"user_id": t["user_id"], "query": t["query"], "title_id": t["played_title_id"]}
    )
