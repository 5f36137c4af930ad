"""``reelmine serve`` (API + dashboard) and ``reelmine keys create|list|revoke``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.data.keystore import ROLES, KeyStore

console = Console()

app = typer.Typer(help="Serve the REST API and dashboard; manage API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the REST API and the web dashboard until interrupted."""
    import uvicorn

    from reelmine.api.app import create_app

    settings = context.settings()
    # soft_wrap: URLs stay on one line whatever the terminal width (scripts grep them).
    console.print(
        f"reelmine API   http://{host}:{port}/v1/  (schema: /v1/openapi.json, needs a key)",
        soft_wrap=True,
    )
    console.print(
        f"dashboard      http://{host}:{port}/dashboard/  (log in with an analyst or admin key)",
        soft_wrap=True,
    )
    if not KeyStore(settings.artifacts).list(include_revoked=False):
        console.print("[yellow]no API keys yet:[/] run `reelmine keys create --role admin`")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
    else:
        # Several workers need an import string; each builds the app from the same settings.
        import os

        os.environ["REELMINE_ARTIFACTS"] = str(settings.artifacts)
        os.environ["REELMINE_DB"] = str(settings.db)
        os.environ["REELMINE_ENGINE"] = settings.engine
        uvicorn.run(
            "reelmine.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )


@keys_app.command("create")
def create(
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
    label: str = typer.Option("", "--label", help="Free text to recognise the key later."),
) -> None:
    """Create a key; it is printed once, alone on the last line, and stored only as a hash."""
    key, rec = KeyStore(context.settings().artifacts).create(role, label=label)
    console.print(
        f"created key {rec.key_id} (role {rec.role}); store it now, it is not shown again:"
    )
    # Plain print so the key is not wrapped or styled: scripts read the last line.
    print(key)


@keys_app.command("list")
def list_keys(
    all_: bool = typer.Option(False, "--all", help="Include revoked keys."),
) -> None:
    """List keys (ids and roles, never secrets)."""
    recs = KeyStore(context.settings().artifacts).list(include_revoked=all_)
    table = Table(show_header=True, header_style="bold")
    for col in ("key id", "role", "label", "created", "revoked"):
        table.add_column(col)
    for r in recs:
        table.add_row(r.key_id, r.role, r.label, r.created_at, r.revoked_at or "")
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key id shown by `keys list`.")) -> None:
    """Revoke a key; it stops working on the next request."""
    rec = KeyStore(context.settings().artifacts).revoke(key_id)
    console.print(f"revoked {rec.key_id} ({rec.role}) at {rec.revoked_at}")


app.command("serve")(serve)
app.add_typer(keys_app, name="keys")


def register(main: typer.Typer) -> None:
    """Attach ``serve`` and the ``keys`` group to the top-level ``reelmine`` command."""
    main.command("serve")(serve)
    main.add_typer(keys_app, name="keys")
