"""Search statistics on a hand-made log with known answers.

s1 u1: "Strnger Things" (no results) -> "stranger things" (3 results) -> plays t1
s2 u2: "stranger" (2 results) -> plays t1 (the name contains the query: a match)
s3 u2: "comedy" (2 results) -> plays t2 "Funny Business" (no name match: missed)
s4 u3: "comedy" (2 results), nothing played
s5 u3: "strnger things" (no results) -> "stranger things" (1 result), nothing played
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from reelmine.data.engine import runner_on_tables
from reelmine.errors import DataError
from reelmine.interface import search
from tests.interface._events import Log, titles


def _log() -> Log:
    log = Log()

    def results(session: str, user: str, at: float, n: int) -> None:
        for c in range(n):
            log.add(session, user, at + 1, "impression", page="search", title_id=f"t{c + 1}")

    log.add("s1", "u1", 0, "search", page="search", query="Strnger Things")
    log.add("s1", "u1", 20, "search", page="search", query="stranger things")
    results("s1", "u1", 20, 3)
    log.add("s1", "u1", 30, "click", page="search", title_id="t1")
    log.add("s1", "u1", 50, "play", page="title", title_id="t1")
    log.add("s2", "u2", 100, "search", page="search", query="stranger")
    results("s2", "u2", 100, 2)
    log.add("s2", "u2", 140, "play", page="title", title_id="t1")
    log.add("s3", "u2", 200, "search", page="search", query="comedy")
    results("s3", "u2", 200, 2)
    log.add("s3", "u2", 260, "play", page="title", title_id="t2")
    log.add("s4", "u3", 300, "search", page="search", query="Comedy ")
    results("s4", "u3", 300, 2)
    log.add("s5", "u3", 400, "search", page="search", query="strnger things")
    log.add("s5", "u3", 410, "search", page="search", query="stranger things")
    results("s5", "u3", 410, 1)
    return log


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return runner_on_tables(ui_events=_log().table())(search.search_events_sql())


def test_one_row_per_search_with_its_outcome(events):
    t = events.sort_by([("browse_session_id", "ascending"), ("search_no", "ascending")])
    rows = [
        (r["browse_session_id"], r["query"], r["next_query"], r["results"], r["played_title_id"])
        for r in t.to_pylist()
    ]
    assert rows == [
        ("s1", "strnger things", "stranger things", 0, None),
        ("s1", "stranger things", None, 3, "t1"),
        ("s2", "stranger", None, 2, "t1"),
        ("s3", "comedy", None, 2, "t2"),
        ("s4", "comedy", None, 2, None),
        ("s5", "strnger things", "stranger things", 0, None),
        ("s5", "stranger things", None, 1, None),
    ]
    assert t["seconds_to_play"].to_pylist()[1:4] == [30.0, 40.0, 60.0]


def test_top_queries_and_summary(events):
    top = {r["query"]: r for r in search.top_queries(events).to_pylist()}
    assert top["stranger things"]["searches"] == 2 and top["stranger things"]["members"] == 2
    assert top["stranger things"]["conversion"] == 0.5
    assert top["comedy"]["searches"] == 2 and top["comedy"]["conversion"] == 0.5
    assert top["strnger things"]["zero_result_share"] == 1.0
    assert top["strnger things"]["reformulation_share"] == 1.0
    assert search.top_queries(events, limit=2).num_rows == 2
    s = search.conversion_summary(events).to_pylist()[0]
    assert s["searches"] == 7 and s["members"] == 3
    assert s["conversion"] == pytest.approx(3 / 7)
    assert s["zero_result_share"] == pytest.approx(2 / 7)
    assert s["reformulation_share"] == pytest.approx(2 / 7)
    assert s["median_seconds_to_play"] == 40.0


def test_zero_result_queries(events):
    z = search.zero_result_queries(events).to_pylist()
    assert [(r["query"], r["zero_result_searches"], r["members"]) for r in z] == [
        ("strnger things", 2, 2)
    ]


def test_reformulations_and_chains(events):
    r = search.reformulations(events).to_pylist()
    assert len(r) == 1
    assert (r[0]["query"], r[0]["next_query"], r[0]["times"], r[0]["edits"]) == (
        "strnger things",
        "stranger things",
        2,
        1,
    )
    assert r[0]["next_converted"] == 0.5  # s1's follow-up played, s5's did not
    c = search.reformulation_chains(events).to_pylist()
    assert c == [
        {
            "chain": "strnger things -> stranger things",
            "length": 2,
            "sessions": 2,
            "members": 2,
            "converted": 0.5,
        }
    ]


def test_missed_titles_are_plays_the_query_does_not_name(events):
    m = search.missed_titles(events, titles()).to_pylist()
    # "stranger" -> Stranger Things matches (contained); "comedy" -> Funny Business does not
    assert [(r["query"], r["title_id"], r["name"], r["searches"]) for r in m] == [
        ("comedy", "t2", "Funny Business", 1)
    ]
    assert m[0]["share_of_query"] == 1.0


def test_name_matching_rules():
    assert search.name_matches("stranger things", "stranger things")
    assert search.name_matches("strnger thngs", "stranger things")  # 2 edits
    assert search.name_matches("crown", "the crown")  # contained
    assert not search.name_matches("comedy", "funny business")
    assert not search.name_matches("", "dark")


def test_pairs_for_ranker_evaluation(events):
    p = search.search_play_pairs(events).sort_by("query").to_pylist()
    assert p == [
        {"user_id": "u2", "query": "comedy", "title_id": "t2"},
        {"user_id": "u2", "query": "stranger", "title_id": "t1"},
        {"user_id": "u1", "query": "stranger things", "title_id": "t1"},
    ]


def test_empty_and_malformed_inputs(events):
    none = events.slice(0, 0)
    assert search.reformulations(none).num_rows == 0
    assert search.reformulation_chains(none).num_rows == 0
    assert search.missed_titles(none, titles()).num_rows == 0
    with pytest.raises(DataError, match="browse_session_id"):
        search.top_queries(pa.table({"query": ["a"]}))
    with pytest.raises(DataError, match="name"):
        search.missed_titles(events, pa.table({"title_id": ["t1"]}))
