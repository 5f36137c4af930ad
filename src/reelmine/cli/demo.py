"""``reelmine demo``: build a demo warehouse from simulated (and MovieLens) data, run every
mining job, then serve the API and dashboard."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.service.demo import build_demo, find_movielens

console = Console()


def demo(
    out: Path = typer.Option(
        Path("demo"), "--out", help="Folder for the dataset, warehouse and models."
    ),
    users: int = typer.Option(2000, "--users", min=50, help="Simulated members."),
    days: int = typer.Option(60, "--days", min=7, help="Simulated days."),
    seed: int = typer.Option(1, "--seed", help="Simulation seed."),
    movielens: Path | None = typer.Option(
        None,
        "--movielens",
        help="MovieLens 100k folder (default: ../shared/data/ml-100k when present).",
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Start the API and dashboard at the end."
    ),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Simulate a platform, build a warehouse, run every mining job and serve the dashboard."""
    ml = movielens or find_movielens()
    with console.status("building the demo") as status:
        result = build_demo(
            out,
            users=users,
            days=days,
            seed=seed,
            base=context.settings(),
            movielens=ml,
            progress=lambda m: status.update(m),
        )
    table = Table(title=f"reelmine demo in {out}")
    for col in ("step", "status", "seconds", "result"):
        table.add_column(col)
    for job in result.jobs:
        status_text = "[green]ok[/]" if job.ok else "[red]failed[/]"
        table.add_row(job.name, status_text, f"{job.seconds:.1f}", job.summary or job.error)
    console.print(table)
    if ml is None:
        console.print("MovieLens 100k not found next to the project: the catalogue was generated.")
    if not serve:
        if result.failed:
            raise typer.Exit(1)
        return
    import uvicorn

    from reelmine.api.app import create_app
    from reelmine.data.keystore import KeyStore

    key = KeyStore(result.settings.artifacts).create("admin", label="demo")[0]
    console.print(
        f"dashboard: http://{host}:{port}/dashboard/  (log in with the admin key below)",
        soft_wrap=True,
    )
    console.print(
        f"API example: curl -H 'Authorization: Bearer {key}' http://{host}:{port}/v1/users/u000001/rows"
    )
    env = (
        f"REELMINE_DB={result.settings.db} REELMINE_ARTIFACTS={result.settings.artifacts} "
        f"REELMINE_KEY_FILE={result.settings.key_file}"
    )
    console.print(f"env for other commands: {env}", soft_wrap=True)
    console.print(f"admin key:\n{key}")
    uvicorn.run(create_app(result.settings), host=host, port=port, log_level="warning")


def register(parent: typer.Typer) -> None:
    parent.command()(demo)
