"""The data commands through Typer: init, ingest, status, export, pseudonym."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli.data import app, register
from reelmine.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "cli-test-secret-123456"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("REELMINE_SECRET", SECRET)
    monkeypatch.setenv("REELMINE_ARTIFACTS", str(tmp_path / "art"))  # the CLI's audit log
    db = tmp_path / "w.duckdb"
    context.configure(db=db, config=None, engine=None, debug=False)
    yield db
    context.configure(db=None, config=None, engine=None, debug=False)  # leave no state behind


def test_register_adds_top_level_commands() -> None:
    top = typer.Typer()
    register(top)
    names = {c.callback.__name__ for c in top.registered_commands if c.callback}
    assert names == {"init", "ingest", "status", "export", "pseudonym"}


def test_init_ingest_status_export(env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["init"])
    assert res.exit_code == 0 and env.is_file()
    res = runner.invoke(app, ["ingest", str(FIX / "contract-bad"), "--rating-scale", "0.5:5"])
    assert res.exit_code == 0, res.output
    assert "quarantined by reason" in res.output and "ended before it started" in res.output
    res = runner.invoke(app, ["status"])
    assert res.exit_code == 0
    assert "plays" in res.output and "2025-01-03" in res.output and "rating scale" in res.output
    # Member-level tables leave only on the admin's explicit --raw (the local operator is admin).
    res = runner.invoke(app, ["export", str(tmp_path / "out"), "--table", "plays", "--raw"])
    assert res.exit_code == 0 and (tmp_path / "out" / "plays.parquet").is_file()
    res = runner.invoke(app, ["export", str(tmp_path / "agg"), "--table", "plays"])
    assert res.exit_code == 0 and (tmp_path / "agg" / "plays_daily.parquet").is_file()
    assert not (tmp_path / "agg" / "plays.parquet").exists()


def test_ingest_bad_input_raises_data_error(env: Path) -> None:
    res = CliRunner().invoke(app, ["ingest", str(FIX / "contract-broken")])
    assert isinstance(res.exception, DataError) and res.exception.exit_code == 2
    assert "plays.csv" in str(res.exception)


def test_pseudonym_rows(env: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("raw_id\nu7\n\n")
    res = CliRunner().invoke(app, ["pseudonym", "alice", "a,b", "--file", str(ids)])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()

    def ref(raw: str) -> str:
        mac = hmac.digest(SECRET.encode(), b"user_id\x00" + raw.encode(), "sha256")
        return base64.urlsafe_b64encode(mac[:12]).decode()

    assert lines == [
        "raw_id,pseudonym",
        f"alice,{ref('alice')}",
        f'"a,b",{ref("a,b")}',
        f"u7,{ref('u7')}",
    ]
