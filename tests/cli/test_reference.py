from pathlib import Path

from reelmine.cli.reference import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_current() -> None:
    assert DOC.read_text() == reference(), (
        "docs/cli.md is out of date: run `python -m reelmine.cli.reference > docs/cli.md`"
    )


def test_every_command_is_documented() -> None:
    text = reference()
    for command in ("doctor", "simulate", "recommend top", "serve", "keys create", "demo"):
        assert f"`reelmine {command}`" in text
