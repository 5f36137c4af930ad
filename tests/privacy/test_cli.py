"""``reelmine privacy`` commands, driven through Typer's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli import privacy as cli
from reelmine.data.keystore import KeyStore
from reelmine.errors import PrivacyError
from tests.privacy._data import CANARY, ingested


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    settings, _ = ingested(tmp_path)
    for name in ("db", "secret", "key_file", "artifacts"):
        monkeypatch.setenv(f"REELMINE_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.delenv("REELMINE_API_KEY", raising=False)
    context.configure(db=None, config=None, engine=None, debug=False)
    parent = typer.Typer()

    @parent.callback()
    def _root() -> None:
        """Root."""

    cli.register(parent)
    return parent


def test_release_budget_audit_erase_rotate(app: typer.Typer) -> None:
    run = CliRunner().invoke
    res = run(app, ["privacy", "release", "count plays by device_type", "--epsilon", "0.5"])
    assert res.exit_code == 0, res.output
    assert "error95" in res.output and "spent 0.5 of 10" in res.output
    res = run(app, ["privacy", "budget"])
    assert res.exit_code == 0 and "local:" in res.output
    res = run(app, ["privacy", "erase", CANARY])
    assert res.exit_code == 0, res.output
    assert "erased pseudonym" in res.output and "plays: 3" in res.output
    res = run(app, ["privacy", "rotate-key"])
    assert res.exit_code == 0, res.output
    assert "key version 2 active" in res.output
    res = run(app, ["privacy", "audit"])
    assert res.exit_code == 0
    for action in ("release", "erase", "rotate-key"):
        assert action in res.output


def test_analyst_key_is_refused_the_audit_log(app: typer.Typer) -> None:
    key, _ = KeyStore(context.settings().artifacts).create("analyst", label="ana")
    res = CliRunner().invoke(app, ["privacy", "audit", "--api-key", key])
    assert isinstance(res.exception, PrivacyError)
    assert "needs role 'admin'" in str(res.exception)
    res = CliRunner().invoke(
        app, ["privacy", "release", "count plays by user_id", "-e", "0.1", "--api-key", key]
    )
    assert isinstance(res.exception, PrivacyError)


def test_release_out_writes_parquet_and_records_the_export(
    app: typer.Typer, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    from reelmine.privacy import audit

    out = tmp_path / "release.parquet"
    res = CliRunner().invoke(
        app, ["privacy", "release", "count plays", "--epsilon", "1", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    t = pq.read_table(out)
    assert t.num_rows == 1 and {"value", "noise_scale", "error95"} <= set(t.column_names)
    assert t["error95"][0].as_py() == pytest.approx(2.9957, abs=1e-3)  # ln(20) / epsilon
    entries = audit.read(context.settings(), role="admin")
    assert any(e["action"] == "export" and e["path"] == str(out.resolve()) for e in entries)
