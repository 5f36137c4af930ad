"""Trending, search gaps and the demand forecast against the simulator's planted truth.

One small simulation (2,500 members, 700 shows, 100 days: ten planted bursts, ~85 launches) is
shared by the module; it takes ~10 s, hence the ``slow`` mark. Bursts planted on titles licensed
in one to three countries can have almost no plays at this scale; with this seed every planted
burst has enough volume to be seen (see docs/content.md, limits).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from reelmine.content import forecast as fc
from reelmine.content.search import search_gaps, search_queries_sql
from reelmine.content.trending import daily_views_sql, detect_bursts, match_bursts
from reelmine.data.engine import sql_on_tables
from reelmine.data.simulator import SimulationConfig, simulate
from reelmine.market.opportunity import taste_lift, taste_sql

pytestmark = pytest.mark.slow
TABLES = ("plays", "users", "titles", "ui_events")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pa.Table], Path]:
    out = tmp_path_factory.mktemp("sim")
    simulate(
        SimulationConfig(
            users=2500, days=100, seed=5, titles=700, ui_fraction=0.02, fraud_rate=0.001
        ),
        out,
    )
    return {t: pq.read_table(out / f"{t}.parquet") for t in TABLES}, out / "truth"


def test_trending_recovers_planted_bursts(sim):
    tables, truth = sim
    daily = sql_on_tables(daily_views_sql(), **tables)
    added = tables["titles"].select(["title_id", "added_at"]).rename_columns(["key", "added_at"])
    found = detect_bursts(daily, available_from=added)
    planted = pq.read_table(truth / "trending.parquet")
    assert planted.num_rows == 10
    precision, recall = match_bursts(found, planted)
    assert recall >= 0.9
    assert precision >= 0.9


def test_search_gaps_are_the_planted_ones(sim):
    tables, truth = sim
    gaps = search_gaps(sql_on_tables(search_queries_sql(), **tables), tables["titles"])
    planted = pq.read_table(truth / "search_gaps.parquet")
    found = set(gaps["query"].to_pylist())
    assert found <= set(planted["query"].to_pylist())  # no catalogue title or typo reported
    big = {r["query"] for r in planted.to_pylist() if r["share_of_gap_searches"] >= 0.04}
    assert big <= found


def test_regional_taste_follows_planted_country_tastes(sim):
    tables, truth = sim
    lift = taste_lift(sql_on_tables(taste_sql(), **tables)).to_pylist()
    genres = json.loads((truth.parent / "manifest.json").read_text())["genres"]
    for row in pq.read_table(truth / "country_tastes.parquet").to_pylist():
        pref = dict(zip(genres, row["genre_preference"], strict=True))
        mine = [r for r in lift if r["country"] == row["country"]]
        rho = spearmanr([np.log(r["lift"]) for r in mine], [pref[r["key"]] for r in mine])
        assert rho.statistic >= 0.6, row["country"]


def test_forecast_beats_genre_mean_on_launches(sim):
    tables, _ = sim
    titles = tables["titles"]
    shows = titles.filter(pc.invert(pc.equal(pc.fill_null(titles["kind"], ""), "episode")))
    cutoff = "2026-02-20"
    first = sql_on_tables(fc.first_views_sql(), **tables)
    history = sql_on_tables(fc.reference_views_sql(until=cutoff), **tables)
    ev = {
        r["method"]: r
        for r in fc.evaluate_forecast(
            shows, first, datetime(2026, 2, 20, tzinfo=UTC), history=history
        ).to_pylist()
    }
    assert ev["model"]["n_test"] >= 20
    assert ev["model"]["spearman"] >= 0.6
    assert ev["model"]["mae"] <= 0.75 * ev["genre_mean"]["mae"]
    assert ev["model"]["mae"] < ev["catalogue_mean"]["mae"]
