"""``reelmine simulate`` and the service behind it; CSV output; a MovieLens catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from reelmine.cli.simulate import register
from reelmine.data.schema import TABLES
from reelmine.errors import ConfigError
from reelmine.service.simulate import run_simulation


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps "simulate" a named sub-command
        """test root"""

    return app


def test_cli_writes_dataset_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        _app(), ["simulate", "--users", "120", "--days", "8", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "plays" in result.output and "truth/fraud" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["config"]["users"] == 120
    for name in TABLES:
        assert pq.read_table(out / f"{name}.parquet").num_rows == manifest["rows"][name]
    for name in (
        "user_tastes",
        "churners",
        "incidents",
        "fraud",
        "experiments",
        "campaign_uplift",
        "trending",
        "search_gaps",
        "new_titles",
    ):
        assert (out / "truth" / f"{name}.parquet").is_file(), name


def test_cli_rejects_bad_format(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["simulate", "--users", "100", "--days", "8", "--out", str(tmp_path), "--format", "xml"],
    )
    assert isinstance(result.exception, ConfigError)
    assert result.exception.exit_code == 2


def test_csv_output_reads_back(tmp_path: Path) -> None:
    summary = run_simulation(users=60, days=7, seed=5, out=tmp_path, fmt="csv")
    titles = pacsv.read_csv(tmp_path / "titles.csv")
    assert titles.num_rows == summary.rows["titles"]
    assert set(titles.column_names) <= set(TABLES["titles"].column_names)
    genres = titles["genres"].to_pylist()
    assert any("|" in g for g in genres if g)
    plays = pacsv.read_csv(tmp_path / "plays.csv")
    assert plays.num_rows == summary.rows["plays"]
    started = plays["started_at"]
    assert str(started.type).startswith("timestamp") and "UTC" in str(started.type)
    assert not (tmp_path / "plays.parquet").exists()
    # Rerunning in Parquet replaces the CSV tables instead of leaving them behind.
    run_simulation(users=60, days=7, seed=5, out=tmp_path)
    assert (tmp_path / "plays.parquet").exists() and not (tmp_path / "plays.csv").exists()


@pytest.mark.realdata
def test_movielens_catalogue(tmp_path: Path, ml_latest_small_dir: Path) -> None:
    summary = run_simulation(users=150, days=8, seed=2, out=tmp_path, catalog=ml_latest_small_dir)
    titles = pq.read_table(tmp_path / "titles.parquet")
    assert summary.rows["titles"] == 9742
    assert "Toy Story (1995)" in titles["name"].to_pylist()
    played = set(pq.read_table(tmp_path / "plays.parquet")["title_id"].to_pylist())
    assert played <= set(titles["title_id"].to_pylist())
    assert len(played) > 50
    assert np.isfinite(summary.seconds)
