"""``reelmine export``: by default only what the policy allows; ``--raw`` is admin, audited."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from reelmine.cli import context
from reelmine.cli import data as cli
from reelmine.data.keystore import KeyStore
from reelmine.errors import PrivacyError
from reelmine.privacy import audit
from reelmine.settings import Settings
from tests.privacy._data import CANARY, N_MEMBERS, ingested


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[typer.Typer, Settings]:
    settings, _ = ingested(tmp_path)
    for name in ("db", "secret", "key_file", "artifacts"):
        monkeypatch.setenv(f"REELMINE_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.delenv("REELMINE_API_KEY", raising=False)
    context.configure(db=None, config=None, engine=None, debug=False)
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Root."""

    cli.register(root)
    return root, settings


def _strings(path: Path) -> set[str]:
    t = pq.read_table(path)
    out: set[str] = set()
    for f in t.schema:
        if str(f.type) == "string":
            out |= {v for v in t[f.name].to_pylist() if v is not None}
    return out


def test_default_export_writes_nothing_member_level(
    setup: tuple[typer.Typer, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, settings = setup
    # 31 members play on days 1-3 (one each): 31 per day, >= k = 20, so days are released;
    # day 5 holds only the canary's quarantined row, which is never exported.
    monkeypatch.setenv("REELMINE_MIN_GROUP_SIZE", "20")
    context.configure(db=None, config=None, engine=None, debug=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["export", str(out)])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in out.iterdir())
    assert "titles.parquet" in files and "plays_daily.parquet" in files
    assert "plays.parquet" not in files and "quarantine.parquet" not in files
    for p in out.iterdir():
        cols = pq.read_schema(p).names
        assert "user_id" not in cols and "device_id" not in cols and "ip_hash" not in cols
    daily = pq.read_table(out / "plays_daily.parquet").to_pylist()
    assert [(str(r["day"]), r["members"], r["rows"]) for r in daily] == [
        ("2025-01-01", N_MEMBERS + 1, N_MEMBERS + 1),
        ("2025-01-02", N_MEMBERS + 1, N_MEMBERS + 1),
        ("2025-01-03", N_MEMBERS + 1, N_MEMBERS + 1),
    ]
    # At k above the daily count every day is suppressed: shown as suppressed, not as zero.
    monkeypatch.setenv("REELMINE_MIN_GROUP_SIZE", str(N_MEMBERS + 2))
    context.configure(db=None, config=None, engine=None, debug=False)
    res = CliRunner().invoke(app, ["export", str(tmp_path / "out2"), "--table", "plays"])
    assert res.exit_code == 0, res.output
    daily = pq.read_table(tmp_path / "out2" / "plays_daily.parquet").to_pylist()
    assert all(r["suppressed"] and r["members"] is None and r["rows"] is None for r in daily)
    assert "3 suppressed" in res.output


def test_raw_export_is_admin_audited_and_holds_no_raw_ids(
    setup: tuple[typer.Typer, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, settings = setup
    out = tmp_path / "raw"
    res = CliRunner().invoke(app, ["export", str(out), "--raw"])
    assert res.exit_code == 0, res.output
    assert (out / "plays.parquet").exists() and (out / "quarantine.parquet").exists()
    raw_ids = {f"m{i:03d}" for i in range(N_MEMBERS)} | {CANARY}
    for p in out.iterdir():
        assert not (_strings(p) & raw_ids), p  # only pseudonyms were ever stored
    entries = audit.read(settings, role="admin")
    assert any(e["action"] == "row-level" and "--raw" in e["what"] for e in entries)
    assert sum(e["action"] == "export" for e in entries) >= 2
    key, _ = KeyStore(settings.artifacts).create("analyst", label="ana")
    monkeypatch.setenv("REELMINE_API_KEY", key)
    res = CliRunner().invoke(app, ["export", str(tmp_path / "raw2"), "--raw"])
    assert isinstance(res.exception, PrivacyError) and "admin" in str(res.exception)
    assert not (tmp_path / "raw2").exists()
