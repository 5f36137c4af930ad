"""Search demand: frequent queries that match nothing in the catalogue (acquisition signals).

Queries are normalised (lower case, punctuation dropped, spaces collapsed) and compared with
catalogue names (a trailing ``(1995)`` year dropped) and genre names: character 3-gram TF-IDF
shortlists the ``shortlist`` closest names, then the Levenshtein distance decides, which forgives
typos (a dropped, doubled or swapped letter, a missing space). A query more than ``max_edits``
edits (and more than 10% of its length) away from every name is a *gap*.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content._sql import time_filter
from reelmine.errors import DataError

_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
_PUNCT = re.compile(r"[^a-z0-9 ]+")
_SPACE = re.compile(r"\s+")


def search_queries_sql(*, since: str | None = None, until: str | None = None) -> str:
    """SQL of ``query, country, searches, members`` per query (lower case, trimmed) and member
    country; :func:`search_gaps` normalises further (punctuation, spaces) in Python."""
    return f"""SELECT lower(trim(e.query)) AS query,
  coalesce(u.country, 'unknown') AS country, count(*) AS searches,
  count(DISTINCT e.user_id) AS members
FROM ui_events e LEFT JOIN users u ON e.user_id = u.user_id
WHERE e.event_type = 'search' AND e.query IS NOT NULL{time_filter("e.at", since, until)}
GROUP BY lower(trim(e.query)), coalesce(u.country, 'unknown')"""


def normalise(texts: list[str]) -> list[str]:
    """Lower case, punctuation removed, a trailing ``(year)`` dropped, spaces collapsed."""
    out = []
    for t in texts:  # one per distinct query or title (catalogue-sized)
        t = _YEAR.sub("", str(t or "")).lower()
        out.append(_SPACE.sub(" ", _PUNCT.sub(" ", t)).strip())
    return out


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two short strings."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):  # short strings: plain DP is faster than array calls
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def search_gaps(
    queries: pa.Table,
    titles: pa.Table,
    *,
    max_edits: int = 2,
    min_members: int = 3,
    shortlist: int = 5,
    genres: list[str] | None = None,
) -> pa.Table:
    """Frequent queries with no good catalogue match.

    Parameters
    ----------
    queries : ``search_queries_sql`` result (``query, searches, members`` [, ``country``]);
        rows of one query are summed over countries.
    titles : the titles table (``name``, ``genres``).
    max_edits : edit distance up to which a query matches a name (or 10% of its length,
        whichever is larger).
    shortlist : names per query compared by edit distance (picked by 3-gram TF-IDF).
    min_members : a gap must be searched by at least this many distinct members (per row
        before summing, so the count is an upper bound on distinct members over countries).

    Returns
    -------
    ``query, searches, members, best_match, edits, similarity, share_of_searches`` for
    unmatched queries, most searched first; *similarity* = 1 - edits / longer length;
    *share_of_searches* is the query's share of all searches.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    for c in ("query", "searches", "members"):
        if c not in queries.column_names:
            raise DataError(f"search queries need a {c!r} column")
    if queries.num_rows == 0:
        return _empty()
    norm = pa.array(normalise(queries["query"].to_pylist()), pa.string())
    q = (
        pa.table({"query": norm, "searches": queries["searches"], "members": queries["members"]})
        .group_by("query")
        .aggregate([("searches", "sum"), ("members", "sum")])
    )
    all_searches = float(pc.sum(q["searches_sum"]).as_py() or 0.0)
    # Rare queries cannot be gaps: drop them before the (per-query) edit distances.
    q = q.filter(pc.greater_equal(q["members_sum"], min_members))
    if q.num_rows == 0:
        return _empty()
    q_text = normalise(q["query"].to_pylist())
    names = [str(n) for n in titles["name"].to_pylist()]
    if genres is None and "genres" in titles.column_names:
        genres = sorted({g for gl in titles["genres"].to_pylist() if gl for g in gl})
    cands = names + list(genres or [])
    c_text = normalise(cands)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), sublinear_tf=True)
    vec.fit(c_text + q_text)
    sim = vec.transform(q_text) @ vec.transform(c_text).T
    sim = sim.toarray() if hasattr(sim, "toarray") else np.asarray(sim)
    k = min(shortlist, sim.shape[1])
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    dist = np.array(
        [[levenshtein(q_text[i], c_text[j]) for j in top[i]] for i in range(len(q_text))]
    )  # distinct queries x shortlist, not events
    pick = dist.argmin(1)
    best = top[np.arange(len(q_text)), pick]
    best_d = dist[np.arange(len(q_text)), pick]
    qlen = np.array([max(len(t), 1) for t in q_text])
    best_sim = 1.0 - best_d / np.maximum(qlen, [len(c_text[j]) for j in best])
    matched = best_d <= np.maximum(max_edits, np.floor(0.1 * qlen))
    searches = np.asarray(q["searches_sum"].to_numpy(), dtype=float)
    members = np.asarray(q["members_sum"].to_numpy(), dtype=np.int64)
    gap = ~matched & (np.array([len(t) for t in q_text]) > 0)
    idx = np.flatnonzero(gap)
    out = pa.table(
        {
            "query": pa.array([q_text[i] for i in idx], pa.string()),
            "searches": searches[idx],
            "members": members[idx],
            "best_match": pa.array([cands[best[i]] for i in idx], pa.string()),
            "edits": best_d[idx].astype(np.int64),
            "similarity": np.round(best_sim[idx], 3),
            "share_of_searches": searches[idx] / max(all_searches, 1.0),
        }
    )
    # Ties broken by members then query text: the order must not depend on group_by's
    # thread scheduling (the release gate and paging compare answers row by row).
    return out.sort_by(
        [("searches", "descending"), ("members", "descending"), ("query", "ascending")]
    )


def _empty() -> pa.Table:
    return pa.table(
        {
            "query": pa.array([], pa.string()),
            "searches": pa.array([], pa.float64()),
            "members": pa.array([], pa.int64()),
            "best_match": pa.array([], pa.string()),
            "edits": pa.array([], pa.int64()),
            "similarity": pa.array([], pa.float64()),
            "share_of_searches": pa.array([], pa.float64()),
        }
    )


def gaps_by_country(queries: pa.Table, gaps: pa.Table) -> pa.Table:
    """Unmet search demand per country: ``country, gap_searches, searches, members, gap_share``."""
    if "country" not in queries.column_names:
        raise DataError("search queries need a 'country' column for a per-country view")
    norm = pa.array(normalise(queries["query"].to_pylist()), pa.string())
    is_gap = pc.is_in(
        norm,
        value_set=gaps["query"].combine_chunks() if gaps.num_rows else pa.array([], pa.string()),
    )
    t = pa.table(
        {
            "country": queries["country"],
            "searches": queries["searches"],
            "members": queries["members"],
            "gap_searches": pc.if_else(is_gap, queries["searches"], 0),
        }
    )
    g = t.group_by("country").aggregate(
        [("gap_searches", "sum"), ("searches", "sum"), ("members", "sum")]
    )
    gs = np.asarray(g["gap_searches_sum"].to_numpy(), dtype=float)
    s = np.asarray(g["searches_sum"].to_numpy(), dtype=float)
    return pa.table(
        {
            "country": g["country"],
            "gap_searches": gs,
            "searches": s,
            "members": g["members_sum"],
            "gap_share": gs / np.maximum(s, 1),
        }
    ).sort_by([("gap_searches", "descending")])
