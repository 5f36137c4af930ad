"""``reelmine doctor``: what is installed and how the machine is set up."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.service.doctor import diagnose

console = Console()


def doctor() -> None:
    """Print versions, BLAS/thread settings, Java/Spark availability and the warehouse."""
    report = diagnose(context.settings())
    table = Table(title="reelmine doctor", show_header=True, header_style="bold")
    table.add_column("check")
    table.add_column("value")
    table.add_column("status")
    for item in report:
        style = {"ok": "green", "warn": "yellow", "fail": "red"}[item.status]
        table.add_row(item.name, item.value, f"[{style}]{item.status}[/]")
    console.print(table)
    if any(item.status == "fail" for item in report):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
