"""Search gaps: normalisation, typo-tolerant matching, minimum members."""

from __future__ import annotations

import pytest

from reelmine.content.search import (
    gaps_by_country,
    levenshtein,
    normalise,
    search_gaps,
    search_queries_sql,
)
from reelmine.data.engine import sql_on_tables
from tests.content import _data


def test_normalise_and_edit_distance():
    assert normalise(["  The  Midnight, Heist! ", "Toy Story (1995)"]) == [
        "the midnight heist",
        "toy story",
    ]
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("the lot signal", "the lost signal") == 1
    assert levenshtein("", "ab") == 2


def test_gaps_are_unmatched_frequent_queries():
    tables = {**_data.all_tables(), "titles": _data.search_titles()}
    q = sql_on_tables(search_queries_sql(), **tables)
    gaps = search_gaps(q, tables["titles"], min_members=3)
    # "toy story" matches exactly, "toy stroy" within 2 edits, "drama" is a genre, and
    # "ocean of stars" has only 2 members.
    assert gaps["query"].to_pylist() == ["the midnight heist"]
    row = gaps.to_pylist()[0]
    assert row["searches"] == 5 and row["members"] == 4
    assert row["share_of_searches"] == pytest.approx(5 / 18)
    loose = search_gaps(q, tables["titles"], min_members=1)
    assert set(loose["query"].to_pylist()) == {"the midnight heist", "ocean of stars"}


def test_gaps_by_country():
    tables = {**_data.all_tables(), "titles": _data.search_titles()}
    q = sql_on_tables(search_queries_sql(), **tables)
    by = {r["country"]: r for r in gaps_by_country(q, search_gaps(q, tables["titles"])).to_pylist()}
    assert sum(r["gap_searches"] for r in by.values()) == 5
    assert sum(r["searches"] for r in by.values()) == 18
