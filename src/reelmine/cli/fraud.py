"""``reelmine fraud``: scan for account abuse, list flags, check accounts for support staff."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.errors import ConfigError, DataError
from reelmine.service import fraud as service

console = Console()
app = typer.Typer(
    help="Fraud and account security: concurrent streams, impossible travel, credential "
    "stuffing, household sharing, anomalous accounts.",
    no_args_is_help=True,
)
COLUMNS = ("user_id", "type", "score", "window_start", "window_end", "evidence")
FORMATS = ("table", "csv", "json")


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since must be a date like 2026-01-31, not {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _rows(flags: pa.Table) -> list[dict[str, object]]:
    out = []
    for r in flags.select(list(COLUMNS)).to_pylist():
        r["score"] = round(float(r["score"]), 4)
        r["window_start"] = r["window_start"].isoformat()
        r["window_end"] = r["window_end"].isoformat()
        out.append(r)
    return out


def _print(flags: pa.Table, fmt: str, title: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    rows = _rows(flags)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(buf.getvalue(), nl=False)
    else:
        table = Table(title=title, header_style="bold")
        for c in COLUMNS:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*(str(r[c]) for c in COLUMNS))
        console.print(table)


@app.command("scan")
def scan_cmd(
    since: str | None = typer.Option(
        None, "--since", help="Scan events at or after this UTC date/time (YYYY-MM-DD)."
    ),
) -> None:
    """Run every detector on the warehouse, store the flags and print a summary."""
    result = service.scan_warehouse(context.settings(), since=_since(since))
    table = Table(title=f"fraud scan ({result.seconds:.1f} s)", header_style="bold")
    for c in ("type", "flags", "accounts", "mean score", "max score"):
        table.add_column(c, justify="left" if c == "type" else "right")
    for r in result.summary.to_pylist():
        table.add_row(
            r["type"],
            str(r["flags"]),
            str(r["accounts"]),
            f"{r['mean_score']:.2f}",
            f"{r['max_score']:.2f}",
        )
    console.print(table)


@app.command("flags")
def flags_cmd(
    type_: str | None = typer.Option(None, "--type", help="Only flags of this type."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many flags."),
) -> None:
    """List stored flags, most severe first (user_id is the pseudonym)."""
    flags = service.list_flags(context.settings(), type=type_, limit=limit)
    _print(flags, fmt, "fraud flags")


def read_ids(path: Path) -> list[str]:
    """Raw account IDs from a text file: one per line; blank lines, '#' comments and a
    ``user_id`` header are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read the ID list: {exc}", source=str(path)) from exc
    ids = [ln.split(",")[0].strip() for ln in lines]
    ids = [i for i in ids if i and not i.startswith("#")]
    if ids and ids[0].lower() == "user_id":
        ids = ids[1:]
    return ids


@app.command("check")
def check_cmd(
    users: Path = typer.Option(..., "--users", help="File of raw account IDs, one per line."),
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
) -> None:
    """Flags of the raw account IDs listed in FILE (user_id shows the raw ID as given)."""
    if fmt not in ("csv", "json"):
        raise ConfigError(f"--format must be csv or json, not {fmt!r}")
    flags = service.check_users(context.settings(), read_ids(users))
    _print(flags, fmt, "flags")


def register(parent: typer.Typer) -> None:
    """Attach ``reelmine fraud`` to the main command."""
    parent.add_typer(app, name="fraud")
