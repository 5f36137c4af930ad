"""``reelmine keys create|list|revoke`` and the serve command's registration."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reelmine.cli import context, serve
from reelmine.data.keystore import KeyStore


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("REELMINE_ARTIFACTS", str(tmp_path))
    context.configure(db=None, config=None, engine=None, debug=False)
    return CliRunner()


def test_create_prints_key_alone_on_last_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(serve.app, ["keys", "create", "--role", "analyst", "--label", "ci"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    rec = KeyStore(tmp_path).verify(key)
    assert rec is not None and rec.role == "analyst" and rec.label == "ci"

    listed = runner.invoke(serve.app, ["keys", "list"])
    assert rec.key_id in listed.output and key not in listed.output

    revoked = runner.invoke(serve.app, ["keys", "revoke", rec.key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert KeyStore(tmp_path).verify(key) is None


def test_create_rejects_unknown_role(runner: CliRunner) -> None:
    result = runner.invoke(serve.app, ["keys", "create", "--role", "root"])
    assert result.exit_code != 0
    assert "unknown role" in str(result.exception)


def test_register_adds_serve_and_keys() -> None:
    main = typer.Typer()
    serve.register(main)
    names = {c.name for c in main.registered_commands} | {g.name for g in main.registered_groups}
    assert names == {"serve", "keys"}
