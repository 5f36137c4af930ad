"""``reelmine privacy``: DP releases, erasure, key rotation, budgets, audit log."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import _output, context
from reelmine.service import privacy as svc

app = typer.Typer(
    help="Privacy: DP releases with a budget, erasure, key rotation, audit log.",
    no_args_is_help=True,
)
console = Console()

_KEY_HELP = "Act as this API key (env REELMINE_API_KEY); default: the local operator (admin)."


def _actor(api_key: str | None) -> svc.Actor:
    return _output.actor(api_key)


@app.command()
def release(
    query: str = typer.Argument(..., help="e.g. 'mean watched_seconds of plays by device_type'."),
    epsilon: float = typer.Option(..., "--epsilon", "-e", help="Privacy loss to spend (> 0)."),
    rows: int = typer.Option(1, "--rows", help="Rows per member per group (L)."),
    groups: int = typer.Option(1, "--groups", help="Groups per member (G)."),
    api_key: str | None = typer.Option(None, "--api-key", help=_KEY_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Also write the release to this Parquet file (audited)."
    ),
) -> None:
    """Differentially private count/sum/mean/quantile/histogram by group."""
    settings, actor = context.settings(), _actor(api_key)
    res = svc.release(
        settings,
        query,
        epsilon=epsilon,
        actor=actor,
        rows_per_member=rows,
        groups_per_member=groups,
    )
    _output.print_table(res.table, f"{query}  (epsilon {epsilon:g}, delta {res.delta:g})")
    if out is not None:
        # A DP release is safe to publish as is: its noise, not the gate, protects members.
        _output.write_parquet(res.table, out)
        svc.record_export(settings, out, actor=actor, what=f"DP release: {query}")
        console.print(f"wrote {res.table.num_rows} rows to {out}")
    console.print(
        f"budget of {res.budget.key_id}: spent {res.budget.spent:g} of {res.budget.limit:g}; "
        f"error95 = 95% bound of the noise; bounds L={res.bounds.rows_per_member}, "
        f"G={res.bounds.groups_per_member}"
    )


@app.command()
def erase(
    user_id: str = typer.Argument(..., help="The member's raw ID (or a pseudonym, --pseudonym)."),
    pseudonym: bool = typer.Option(False, "--pseudonym", help="USER_ID is already a pseudonym."),
    api_key: str | None = typer.Option(None, "--api-key", help=_KEY_HELP),
) -> None:
    """Erase a member from every table, model and export (right to erasure)."""
    rep = svc.erase_user(context.settings(), user_id, actor=_actor(api_key), is_pseudonym=pseudonym)
    console.print(f"erased pseudonym {rep.pseudonym}: {rep.total_rows} rows")
    for table, n in sorted(rep.rows_deleted.items()):
        console.print(f"  {table}: {n}")
    for ch in rep.files:
        console.print(f"  {ch.action}: {ch.path} {ch.detail}")


@app.command("rotate-key")
def rotate_key(api_key: str | None = typer.Option(None, "--api-key", help=_KEY_HELP)) -> None:
    """Rotate the pseudonymisation key and re-pseudonymise the warehouse in place."""
    rep = svc.rotate_key(context.settings(), actor=_actor(api_key))
    console.print(f"key version {rep.version} active")
    t = Table("table", "rows before", "rows after")
    for name in sorted(rep.rows_before):
        t.add_row(name, str(rep.rows_before[name]), str(rep.rows_after.get(name)))
    console.print(t)
    console.print(f"{len(rep.files)} Parquet files re-keyed")


@app.command()
def budget(
    set_key: str | None = typer.Option(None, "--set", help="Key id whose limit to set (admin)."),
    limit: float | None = typer.Option(None, "--limit", help="New total epsilon for --set."),
    api_key: str | None = typer.Option(None, "--api-key", help=_KEY_HELP),
) -> None:
    """Show privacy budgets (admin: every key), or set a key's limit."""
    settings, actor = context.settings(), _actor(api_key)
    if set_key is not None:
        if limit is None:
            from reelmine.errors import ConfigError

            raise ConfigError("--set needs --limit")
        svc.set_budget(settings, set_key, limit, actor=actor)
    t = Table("key", "limit", "spent", "left", "releases")
    for st in svc.budget_status(settings, actor=actor):
        t.add_row(st.key_id, f"{st.limit:g}", f"{st.spent:g}", f"{st.left:g}", str(st.releases))
    console.print(t)


@app.command()
def audit(
    last: int = typer.Option(50, "--last", help="Show the last N entries."),
    api_key: str | None = typer.Option(None, "--api-key", help=_KEY_HELP),
) -> None:
    """Show the audit log (admin only)."""
    entries = svc.audit_log(context.settings(), actor=_actor(api_key), limit=last)
    t = Table("at", "actor", "role", "action", "what")
    for e in entries:
        t.add_row(*(str(e.get(c, "")) for c in ("at", "actor", "role", "action", "what")))
    console.print(t)


def register(parent: typer.Typer) -> None:
    """Add ``reelmine privacy`` to the main CLI."""
    parent.add_typer(app, name="privacy")
