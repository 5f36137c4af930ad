from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import ConfigError
from reelmine.recommend.content import ContentModel
from reelmine.recommend.ease import EASE
from reelmine.recommend.neighbors import ItemKNN
from reelmine.recommend.popularity import Popularity
from reelmine.recommend.rows import BusinessRules, HomePage, RowsConfig, mmr

from .conformance import N_ITEMS, N_USERS, two_taste_data


@pytest.fixture(scope="module")
def page() -> HomePage:
    data = two_taste_data()
    X, T = data["X"], data["times"]
    content = ContentModel(n_components=4, random_state=0).fit(X, titles=data["titles"])
    trending = Popularity(half_life_days=30).fit(X, times=T, user_groups=np.arange(N_USERS) % 2)
    return HomePage(
        EASE(l2=10.0).fit(X),
        item_names=[f"Title {i}" for i in range(N_ITEMS)],
        item_vectors=content.item_vectors_,
        similar=ItemKNN(k=20).fit(X),
        item_genres=data["item_genres"],
        genre_names=["Drama", "Comedy"],
        trending=trending.group_scores_,
        segment_names=["DE", "FR"],
        newness=np.arange(N_ITEMS, dtype=float),
        config=RowsConfig(row_size=2, n_because=2, n_genre_rows=2, new_fraction=0.25),
    )


def test_page_rows_dedup_and_reasons(page: HomePage) -> None:
    user = 40  # a comedy fan
    recent = page.model.user_items_[user].indices[:2]
    rows = page.rows(user, recent=recent, segment=1)
    kinds = [r.kind for r in rows]
    assert kinds[0] == "top_picks" and kinds.count("because_you_watched") == 2
    assert "trending" in kinds and "new_releases" in kinds and "genre:Comedy" in kinds
    assert rows[1].name == f"Because you watched Title {recent[0]}"
    assert any(r.name == "Trending in FR" for r in rows)
    shown = [it.item for r in rows for it in r.items]
    assert len(shown) == len(set(shown)), "a title appears twice on the page"
    seen = set(page.model.user_items_[user].indices.tolist())
    assert not seen & set(shown)
    assert all(it.reason for r in rows for it in r.items)
    assert all(it.item >= 20 for it in rows[0].items)  # top picks match the taste
    new = next(r for r in rows if r.kind == "new_releases")
    assert all(it.item >= 30 for it in new.items)  # the newest 25% of titles


def test_business_rules_and_unknown_member(page: HomePage) -> None:
    titles = pa.table(
        {
            "countries": [["FR"] if i % 2 else [] for i in range(N_ITEMS)],
            "maturity": ["R" if i in (20, 21, 22) else "PG" for i in range(N_ITEMS)],
        }
    )
    rules = BusinessRules.from_titles(
        titles, country="DE", max_maturity="PG-13", boost=[24], bury=[26]
    )
    rules.boost_weight = 1.0
    rows = page.rows(-1, rules=rules)
    shown = [it.item for r in rows for it in r.items]
    assert shown and all(i % 2 == 0 and i not in (20, 22) for i in shown)
    top = [it.item for it in rows[0].items]
    assert 24 in top and 26 not in top  # boosted up, buried down (still allowed further down)
    assert rows[0].items[0].reason == "Popular with members like you"
    s = rules.apply(np.linspace(0, 1, N_ITEMS))
    assert s[24] == pytest.approx(24 / 39 + 1.0) and s[26] < 0 and s[1] == -np.inf
    with pytest.raises(ConfigError):
        BusinessRules.from_titles(titles, max_maturity="XXX")


def test_mmr_diversifies() -> None:
    rel = np.array([1.0, 0.99, 0.5, -np.inf])
    vecs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert mmr(rel, vecs, 2, 0.5).tolist() == [0, 2]  # the near-duplicate of 0 is skipped
    assert mmr(rel, None, 3, 0.5).tolist() == [0, 1, 2]
    assert mmr(rel, vecs, 10, 0.9).tolist() == [0, 1, 2]  # relevance wins; only finite items
