"""The demand forecaster on a synthetic catalogue whose demand follows its genre."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.content.forecast import DemandForecaster, _to_us, forecast_metrics
from reelmine.errors import DataError, NotFittedError
from tests.content import _data

GENRE_LEVEL = {"Drama": 200.0, "Comedy": 50.0, "Horror": 10.0}


def _catalogue(rng, n=90):
    genres = rng.choice(list(GENRE_LEVEL), n)
    rows = [
        {
            "title_id": f"t{i}",
            "name": f"T{i}",
            "genres": [g],
            "kind": "movie",
            "description": f"a {g.lower()} story",
            "language": "en",
            "release_year": 2020,
            "runtime_minutes": 100.0,
            "countries": ["DE"] if i % 10 == 0 else [],
        }
        for i, g in enumerate(genres)
    ]
    return _data.table("titles", rows), genres


def _views(ids, genres, rng):
    v = np.array([GENRE_LEVEL[g] for g in genres]) * np.exp(rng.normal(0, 0.1, len(ids)))
    # 70% in US, 30% in DE.
    return pa.table(
        {
            "title_id": list(ids) * 2,
            "country": ["US"] * len(ids) + ["DE"] * len(ids),
            "views": np.r_[0.7 * v, 0.3 * v],
        }
    )


def test_forecast_follows_similar_titles_and_splits_by_country(rng):
    titles, genres = _catalogue(rng)
    ids = titles["title_id"].to_pylist()
    hist = _views(ids[:60], genres[:60], rng)
    launches = _views(ids[60:80], genres[60:80], rng)
    launches = launches.set_column(2, "views", pa.array(launches["views"].to_numpy() * 2.0))
    model = DemandForecaster(n_neighbors=5).fit(titles, launches, history=hist)
    new = titles.slice(80, 10)
    pred = model.predict(new).to_pylist()
    for r, g in zip(pred, genres[80:], strict=True):
        # Launches do twice the steady level of their genre.
        assert r["forecast"] == pytest.approx(2 * GENRE_LEVEL[g], rel=0.3)
        assert r["lower"] <= r["forecast"] <= r["upper"]
        assert len(r["similar_titles"]) == 5
        sim_genres = {genres[int(t[1:])] for t in r["similar_titles"]}
        assert sim_genres == {g}
    split = model.predict_countries(new)
    first = [r for r in split.to_pylist() if r["title_id"] == "t80"]  # DE only
    assert {r["country"]: round(r["forecast"], 6) for r in first}["US"] == 0.0
    t81 = {r["country"]: r["forecast"] for r in split.to_pylist() if r["title_id"] == "t81"}
    assert t81["US"] / (t81["US"] + t81["DE"]) == pytest.approx(0.7, abs=0.02)


def test_forecast_metrics_by_hand():
    m = forecast_metrics(np.array([10.0, 20.0, 0.0]), np.array([12.0, 10.0, 1.0]))
    assert m["mae"] == pytest.approx((2 + 10 + 1) / 3)
    assert m["mape"] == pytest.approx((0.2 + 0.5) / 2)  # zero-demand titles are skipped
    assert m["spearman"] == pytest.approx(0.5)


def test_errors(rng):
    titles, _ = _catalogue(rng, 10)
    with pytest.raises(NotFittedError):
        DemandForecaster().predict(titles)
    with pytest.raises(DataError):
        DemandForecaster().fit(
            titles, pa.table({"title_id": ["t1"], "country": ["US"], "views": [1.0]})
        )
    with pytest.raises(DataError):
        _to_us("not a date")


@pytest.mark.realdata
@pytest.mark.slow
def test_movielens_first_year_ratings_beat_baselines(ml_latest_small_dir):
    from datetime import UTC, datetime

    from reelmine.content.forecast import evaluate_forecast, first_ratings_sql
    from reelmine.data.engine import sql_on_tables
    from reelmine.data.movielens import read_movielens

    ml = read_movielens(ml_latest_small_dir)
    first = sql_on_tables(first_ratings_sql(horizon_days=365), ratings=ml["ratings"])
    ev = {
        r["method"]: r
        for r in evaluate_forecast(
            ml["titles"],
            first,
            datetime(2010, 1, 1, tzinfo=UTC),
            horizon_days=365,
            n_neighbors=20,
        ).to_pylist()
    }
    assert ev["model"]["n_test"] > 1000
    assert ev["model"]["mae"] < 0.85 * ev["genre_mean"]["mae"]
    assert ev["model"]["mae"] < ev["catalogue_mean"]["mae"]
    assert ev["model"]["spearman"] > ev["genre_mean"]["spearman"]
