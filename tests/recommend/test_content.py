from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from reelmine.errors import DataError
from reelmine.recommend.content import ContentModel, title_tokens

from .conformance import N_ITEMS, N_USERS, RecommenderConformance, two_taste_data


class TestContentConformance(RecommenderConformance):
    def make(self, **overrides: Any) -> ContentModel:
        return ContentModel(**{"n_components": 4, **overrides})

    def fit_kwargs(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"titles": data["titles"]}


def test_tokens() -> None:
    t = pa.table(
        {
            "genres": [["Sci-Fi"]],
            "description": ["The robots are coming"],
            "language": ["EN"],
            "release_year": [1987],
        }
    )
    assert title_tokens(t) == [["genre:sci-fi", "robots", "coming", "lang:en", "decade:1980"]]


def test_new_title_recommendable_from_metadata() -> None:
    data = two_taste_data()
    m = ContentModel(n_components=4, random_state=0).fit(data["X"], titles=data["titles"])
    new = pa.table({"genres": [["Comedy"]], "description": ["jokes and a funny romp"]})
    m.add_titles(new)
    assert m.n_items_ == N_ITEMS + 1
    scores = m.score_users(np.array([N_USERS - 1, 0]))
    # The comedy fan scores the brand-new comedy near the top of the comedies, the drama fan low.
    assert scores[0, N_ITEMS] > np.median(scores[0, 20:N_ITEMS]) - 0.1
    assert scores[1, N_ITEMS] < scores[1, :20].min()
    ids, _ = m.similar_items(N_ITEMS, 5)
    assert (ids >= 20).all()


def test_needs_titles() -> None:
    with pytest.raises(DataError):
        ContentModel().fit(sp.csr_matrix((2, 2)))
    with pytest.raises(DataError):
        ContentModel().fit(sp.csr_matrix((2, 3)), titles=pa.table({"genres": [["a"]]}))
