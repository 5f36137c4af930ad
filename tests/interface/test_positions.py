"""Row/position statistics and the position-based click model.

Known answers: counts built by hand, a click model fitted on its own expected counts (exact
recovery), and the simulator's planted ROW_EXAM / COL_EXAM (ground truth, within 0.07).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.data.engine import runner_on_tables
from reelmine.data.simulator.interface import COL_EXAM, ROW_EXAM
from reelmine.errors import ConfigError, DataError
from reelmine.interface import positions
from tests.interface._events import Log

THETA = np.array([[1.0, 0.6, 0.3], [0.5, 0.3, 0.15]])  # 2 rows x 3 columns, separable


def _expected_counts(rng: np.random.Generator, n_items: int = 40) -> pa.Table:
    """Expected clicks of a PBM with THETA, every item shown in 3 random cells."""
    alpha = rng.uniform(0.05, 0.6, n_items)
    rows = []
    for i in range(n_items):  # test data: a few dozen items
        for cell in rng.choice(6, size=3, replace=False):
            r, c = divmod(int(cell), 3)
            n = float(rng.integers(50, 500))
            rows.append((f"t{i}", r, c, n, n * THETA[r, c] * alpha[i]))
    t, r, c, n, k = zip(*rows, strict=True)
    return pa.table(
        {
            "title_id": list(t),
            "row_position": list(r),
            "column_position": list(c),
            "impressions": list(n),
            "clicks": list(k),
        }
    )


@pytest.mark.parametrize("method", ["poisson", "em"])
def test_click_model_recovers_its_own_parameters(rng, method):
    fit = positions.fit_position_bias(_expected_counts(rng), method=method, max_iter=5000)
    np.testing.assert_allclose(fit.exam_grid(), THETA, atol=2e-3)
    np.testing.assert_allclose(fit.row_factor, [1.0, 0.5], atol=2e-3)
    np.testing.assert_allclose(fit.column_factor, [1.0, 0.6, 0.3], atol=2e-3)
    assert fit.attractiveness.num_rows == 40
    assert fit.iterations >= 1 and np.isfinite(fit.log_likelihood)


def test_click_model_errors():
    empty = pa.table(
        {
            "title_id": pa.array([], pa.string()),
            "row_position": pa.array([], pa.int64()),
            "column_position": pa.array([], pa.int64()),
            "impressions": pa.array([], pa.int64()),
            "clicks": pa.array([], pa.int64()),
        }
    )
    with pytest.raises(DataError, match="no impressions"):
        positions.fit_position_bias(empty)
    no_clicks = pa.table(
        {
            "title_id": ["a"],
            "row_position": [0],
            "column_position": [0],
            "impressions": [10],
            "clicks": [0],
        }
    )
    with pytest.raises(DataError, match="no clicks"):
        positions.fit_position_bias(no_clicks)
    with pytest.raises(ConfigError, match="method"):
        positions.fit_position_bias(no_clicks, method="mle")
    with pytest.raises(DataError, match="row_position"):
        positions.fit_position_bias(pa.table({"title_id": ["a"]}))
    with pytest.raises(ConfigError, match="page"):
        positions.cell_stats_sql(page="settings")
    with pytest.raises(ConfigError, match="unit"):
        positions.item_cell_counts_sql(unit="row")


def _grid_log() -> Log:
    """Two sessions on a 1 x 2 grid plus a search page.

    s1 u1: t1 at (0,0) clicked and played, t2 at (0,1) not clicked
    s2 u2: t2 at (0,0) clicked (no play), t1 at (0,1) clicked and played
    s3 u2: search page, t1 at (0,0), not clicked
    """
    log = Log()
    row = {"page": "home", "row_name": "Top", "row_position": 0}
    log.add("s1", "u1", 0, "impression", title_id="t1", column_position=0, **row)
    log.add("s1", "u1", 0, "impression", title_id="t2", column_position=1, **row)
    log.add("s1", "u1", 5, "click", title_id="t1", column_position=0, **row)
    log.add("s1", "u1", 60, "play", page="title", title_id="t1")
    log.add("s2", "u2", 100, "impression", title_id="t2", column_position=0, **row)
    log.add("s2", "u2", 100, "impression", title_id="t1", column_position=1, **row)
    log.add("s2", "u2", 105, "click", title_id="t2", column_position=0, **row)
    log.add("s2", "u2", 110, "click", title_id="t1", column_position=1, **row)
    log.add("s2", "u2", 160, "play", page="title", title_id="t1")
    log.add(
        "s3", "u2", 300, "impression", page="search", row_name="Search results",
        row_position=0, column_position=0, title_id="t1",
    )  # fmt: skip
    return log


def test_cell_and_row_stats_by_hand():
    run = runner_on_tables(ui_events=_grid_log().table())
    cells = run(positions.cell_stats_sql()).sort_by("column_position").to_pylist()
    assert [(c["impressions"], c["clicks"], c["plays"], c["members"]) for c in cells] == [
        (2, 2, 1, 2),  # (0,0): t1 clicked+played, t2 clicked
        (2, 1, 1, 2),  # (0,1): t1 clicked+played (s2)
    ]
    rows = positions.row_stats(run(positions.cell_stats_sql())).to_pylist()
    assert len(rows) == 1 and rows[0]["ctr"] == 0.75
    assert rows[0]["play_rate"] == 0.5 and rows[0]["play_through"] == pytest.approx(2 / 3)
    every = run(positions.cell_stats_sql(page=None))
    assert sorted(every["page"].to_pylist()) == ["home", "home", "search"]
    rated = positions.add_rates(run(positions.cell_stats_sql())).sort_by("column_position")
    assert rated["ctr"].to_pylist() == [1.0, 0.5]


def test_item_counts_keep_only_informative_items():
    run = runner_on_tables(ui_events=_grid_log().table())
    t = run(positions.item_cell_counts_sql()).sort_by(
        [("user_id", "ascending"), ("title_id", "ascending")]
    )
    # per (member, title) every item is shown in one home cell only: none is informative
    assert t.num_rows == 0
    t = run(positions.item_cell_counts_sql(unit="title")).sort_by(
        [("title_id", "ascending"), ("column_position", "ascending")]
    )
    # per title: t1 and t2 both in two cells, both clicked
    assert t.select(["title_id", "column_position", "impressions", "clicks"]).to_pylist() == [
        {"title_id": "t1", "column_position": 0, "impressions": 1, "clicks": 1},
        {"title_id": "t1", "column_position": 1, "impressions": 1, "clicks": 1},
        {"title_id": "t2", "column_position": 0, "impressions": 1, "clicks": 1},
        {"title_id": "t2", "column_position": 1, "impressions": 1, "clicks": 0},
    ]


def test_debiased_rows_compare_rows_shown_at_different_positions(rng):
    bias = positions.fit_position_bias(_expected_counts(rng))
    # Two rows with the same appeal 0.2: A on row 0 (exam 1, .6, .3), B on row 1 (half that).
    cells = pa.table(
        {
            "page": ["home"] * 6,
            "row_name": ["A"] * 3 + ["B"] * 3,
            "row_position": [0, 0, 0, 1, 1, 1],
            "column_position": [0, 1, 2] * 2,
            "impressions": [1000] * 6,
            "clicks": [200, 120, 60, 100, 60, 30],
            "members": [50] * 6,
        }
    )
    out = {r["row_name"]: r for r in positions.debiased_rows(cells, bias).to_pylist()}
    assert out["A"]["ctr"] == pytest.approx(2 * out["B"]["ctr"])
    assert out["A"]["attractiveness"] == pytest.approx(0.2, abs=1e-3)
    assert out["B"]["attractiveness"] == pytest.approx(0.2, abs=1e-3)
    assert out["A"]["expected_examinations"] == pytest.approx(1900, rel=1e-3)


def test_column_exam_from_randomised_positions():
    cells = pa.table(
        {
            "row_name": ["A", "A", "B", "B"],
            "column_position": [0, 1, 0, 1],
            "impressions": [100, 100, 400, 400],
            "clicks": [40, 20, 80, 40],  # within each row column 1 gets half the clicks
        }
    )
    out = positions.column_exam_randomised(cells)
    assert out["examination"].to_pylist() == pytest.approx([1.0, 0.5])
    assert out["impressions"].to_pylist() == [500, 500]


@pytest.mark.slow  # simulates 1,000 members (~3 s, once per session)
def test_position_bias_recovers_the_simulators_planted_examination(sim_run):
    fit = positions.fit_position_bias(sim_run(positions.item_cell_counts_sql()))
    # Ground truth: P(click) = ROW_EXAM[row] * COL_EXAM[col] * appeal (simulator).
    np.testing.assert_allclose(fit.row_factor, ROW_EXAM, atol=0.07)
    np.testing.assert_allclose(fit.column_factor, COL_EXAM, atol=0.07)
    np.testing.assert_allclose(fit.exam_grid(), np.outer(ROW_EXAM, COL_EXAM), atol=0.1)
    # The model-free check of the columns (titles are placed at random within a row).
    cells = sim_run(positions.cell_stats_sql())
    cols = positions.column_exam_randomised(cells)["examination"].to_numpy()
    np.testing.assert_allclose(cols, COL_EXAM, atol=0.07)
    # Title-level items confound the personalised top row with its position: far worse.
    naive = positions.fit_position_bias(sim_run(positions.item_cell_counts_sql(unit="title")))
    assert np.abs(naive.row_factor - ROW_EXAM).max() > 0.1
    # Debiased, the personalised row is still the most attractive and the raw gap shrinks.
    d = {r["row_name"]: r for r in positions.debiased_rows(cells, fit).to_pylist()}
    fixed = ["Top picks for you", "Trending now", "New releases"]
    assert sorted(fixed, key=lambda n: -d[n]["attractiveness"]) == fixed
    raw = d["Top picks for you"]["ctr"] / d["New releases"]["ctr"]
    fair = d["Top picks for you"]["attractiveness"] / d["New releases"]["attractiveness"]
    assert fair < raw
