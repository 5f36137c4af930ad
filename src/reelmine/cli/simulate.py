"""``reelmine simulate``: write a simulated platform dataset with its ground truth."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from reelmine.service.simulate import run_simulation

console = Console()


def simulate(
    users: int = typer.Option(1000, "--users", help="Member accounts to simulate."),
    days: int = typer.Option(30, "--days", help="Days in the observation window."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same files)."),
    out: Path = typer.Option(..., "--out", help="Output folder for tables, truth/ and manifest."),
    catalog: Path | None = typer.Option(
        None, "--catalog", help="MovieLens folder to take the catalogue from."
    ),
    format: str = typer.Option("parquet", "--format", help="parquet (default) or csv."),
    titles: int | None = typer.Option(
        None, "--titles", help="Generated shows (movies + series); default scales with --users."
    ),
) -> None:
    """Simulate a streaming platform with planted ground truth (see docs/simulator.md)."""
    summary = run_simulation(
        users=users, days=days, seed=seed, out=out, catalog=catalog, fmt=format, titles=titles
    )
    table = Table(title=f"simulated platform in {summary.out}", header_style="bold")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}")
    for name, rows in summary.truth.items():
        table.add_row(f"truth/{name}", f"{rows:,}")
    console.print(table)
    console.print(f"done in {summary.seconds:.1f} s (seed {seed})")


def register(app: typer.Typer) -> None:
    """Add ``reelmine simulate`` to the main application."""
    app.command("simulate")(simulate)
