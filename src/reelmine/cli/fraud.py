"""``reelmine fraud``: scan for account abuse, list flags, check accounts for support staff.

The scan summary is an aggregate (gated, counted in distinct flagged accounts); ``flags`` and
``check`` list accounts, so they need ``--row-level`` (admin only, audited), like the API's
admin-only ``/v1/fraud/flags``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import typer

from reelmine.cli import context
from reelmine.cli._output import RowLevelOpt, emit, gated, print_table, row_level
from reelmine.errors import ConfigError, DataError
from reelmine.service import fraud as service

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


def _print(flags: pa.Table, fmt: str, title: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    flags = flags.select(list(COLUMNS))
    flags = flags.set_column(2, "score", pc.round(pc.cast(flags["score"], pa.float64()), 4))
    emit(flags, fmt, None, title, limit=0, formats=FORMATS)


@app.command("scan")
def scan_cmd(
    since: str | None = typer.Option(
        None, "--since", help="Scan events at or after this UTC date/time (YYYY-MM-DD)."
    ),
) -> None:
    """Run every detector on the warehouse, store the flags and print a summary."""
    result = service.scan_warehouse(context.settings(), since=_since(since))
    summary = gated(
        result.summary, what="reelmine fraud scan", group_by=["type"], members="accounts"
    )
    two = {"mean_score": lambda v: f"{v:.2f}", "max_score": lambda v: f"{v:.2f}"}
    print_table(
        summary,
        f"fraud scan ({result.seconds:.1f} s)",
        ["type", "flags", "accounts", "mean_score", "max_score"],
        formats=two,
    )


@app.command("flags")
def flags_cmd(
    type_: str | None = typer.Option(None, "--type", help="Only flags of this type."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many flags."),
    row_level_: bool = RowLevelOpt,
) -> None:
    """List stored flags, most severe first (user_id is the pseudonym; --row-level, admin)."""
    flags = service.list_flags(context.settings(), type=type_, limit=limit)
    _print(row_level(flags, what="reelmine fraud flags", opt_in=row_level_), fmt, "fraud flags")


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
    row_level_: bool = RowLevelOpt,
) -> None:
    """Flags of the raw account IDs listed in FILE (user_id shows the raw ID as given;
    --row-level, admin)."""
    if fmt not in ("csv", "json"):
        raise ConfigError(f"--format must be csv or json, not {fmt!r}")
    flags = service.check_users(context.settings(), read_ids(users))
    _print(row_level(flags, what="reelmine fraud check", opt_in=row_level_), fmt, "flags")


def register(parent: typer.Typer) -> None:
    """Attach ``reelmine fraud`` to the main command."""
    parent.add_typer(app, name="fraud")
