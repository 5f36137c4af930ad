import pytest

from reelmine.cli.main import main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "doctor" in capsys.readouterr().out


def test_unknown_command_is_usage_error() -> None:
    assert main(["no-such-command"]) == 2


def test_doctor_reports_versions(capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REELMINE_DB", str(tmp_path / "w.duckdb"))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("reelmine", "python", "duckdb", "numpy", "warehouse"):
        assert name in out


def test_config_error_is_clean_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("REELMINE_ENGINE", "oracle")
    assert main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert "engine must be" in err
    assert "Traceback" not in err


def test_doctor_flags_open_key_file(
    capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch
) -> None:
    key = tmp_path / "k.key"
    key.write_text("x")
    key.chmod(0o644)
    monkeypatch.setenv("REELMINE_KEY_FILE", str(key))
    assert main(["doctor"]) == 1
    assert "chmod 600" in capsys.readouterr().out
