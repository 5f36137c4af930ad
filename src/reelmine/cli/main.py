"""The ``reelmine`` command: a thin Typer face over the service layer.

Exit codes: 0 ok, 1 failure, 2 bad usage or bad input. User errors (``ReelmineError``) are
printed as one clear line without a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from reelmine.cli import context
from reelmine.errors import ReelmineError

err_console = Console(stderr=True)

app = typer.Typer(
    name="reelmine",
    help="Data mining for video streaming services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    db: Path | None = typer.Option(None, "--db", help="Warehouse file (env REELMINE_DB)."),
    config: Path | None = typer.Option(
        None, "--config", help="TOML settings file (env REELMINE_CONFIG)."
    ),
    engine: str | None = typer.Option(
        None, "--engine", help="duckdb (default) or spark (env REELMINE_ENGINE)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """Global options, applied before any command."""
    context.configure(db=db, config=config, engine=engine, debug=debug)


def _register() -> None:
    """Attach every face module's commands; each module owns its own options."""
    from reelmine.cli import doctor

    doctor.register(app)
    for module_name in _OPTIONAL_FACES:
        module = __import__(f"reelmine.cli.{module_name}", fromlist=["register"])
        module.register(app)


# Faces registered in this order; each module exposes register(app).
_OPTIONAL_FACES: list[str] = [
    "data",
    "demo",
    "simulate",
    "recommend",
    "serve",
    "experiments",
    "interface",
    "quality",
    "content",
    "market",
    "fraud",
    "marketing",
    "privacy",
]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    _register()
    try:
        # Standalone mode lets Typer report usage errors itself (exit code 2).
        app(args=argv, prog_name="reelmine")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ReelmineError as exc:
        if context.debug_enabled():
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
