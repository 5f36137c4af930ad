"""``reelmine init | ingest | status | export | pseudonym``: the data commands.

Thin: parse options, call :mod:`reelmine.service.ingest`, print with Rich.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelmine.cli import _output, context
from reelmine.data.ingest import IngestSummary, ProgressEvent
from reelmine.service import ingest as svc
from reelmine.service import privacy

console = Console()
app = typer.Typer(help="Warehouse and ingestion commands.", no_args_is_help=True)


def init() -> None:
    """Create the warehouse (every contract table) and the pseudonymisation key."""
    result = svc.init_warehouse(context.settings())
    console.print(f"warehouse [bold]{result.db}[/] ready with {len(result.tables)} tables")
    console.print(f"pseudonymisation key: {result.key_source}")


def _summary_table(summary: IngestSummary) -> Table:
    table = Table(
        title=f"ingest #{summary.ingest_id} ({summary.format}) in {summary.seconds:.1f} s"
    )
    for col in ("table", "read", "loaded", "quarantined", "skipped"):
        table.add_column(col, justify="left" if col == "table" else "right")
    read: dict[str, int] = {}
    for f in summary.files:
        read[f.table] = read.get(f.table, 0) + f.rows_read
    loaded, quarantined, skipped = summary.loaded, summary.quarantined, summary.skipped
    names = list(dict.fromkeys([f.table for f in summary.files] + list(summary.derived)))
    for name in names:
        table.add_row(
            name,
            f"{read.get(name, 0):,}",
            f"{loaded.get(name, 0):,}",
            f"{quarantined.get(name, 0):,}",
            f"{skipped.get(name, 0):,}",
        )
    return table


def ingest(
    folder: Path = typer.Argument(
        ..., help="Dataset folder: <table>.csv/.csv.gz/.parquet/.jsonl files."
    ),
    fmt: str = typer.Option(
        "contract", "--format", "-f", help="contract (default), movielens or netflix-prize."
    ),
    rating_scale: str | None = typer.Option(
        None,
        "--rating-scale",
        help="MIN:MAX of ratings, e.g. 0.5:5; ratings outside are quarantined.",
    ),
) -> None:
    """Validate, pseudonymise and load a dataset folder into the warehouse."""
    settings = context.settings()
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:

        def on_progress(ev: ProgressEvent) -> None:
            if ev.source not in tasks:
                tasks[ev.source] = bars.add_task(
                    f"{ev.table} ← {Path(ev.source).name}", total=ev.rows_total
                )
            bars.update(tasks[ev.source], completed=ev.rows_done)

        summary = svc.ingest(
            settings, folder, fmt=fmt, rating_scale=rating_scale, progress=on_progress
        )
    console.print(_summary_table(summary))
    if summary.derived:
        console.print(
            "derived: " + ", ".join(f"{n:,} {t} (from ratings)" for t, n in summary.derived.items())
        )
    reasons = summary.reasons
    if reasons:
        q = Table(title="quarantined by reason")
        q.add_column("reason")
        q.add_column("rows", justify="right")
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            q.add_row(reason, f"{n:,}")
        console.print(q)
        console.print("details: SELECT * FROM quarantine (or `reelmine export`)")


def status() -> None:
    """Show table row counts, quarantine counts and the data time range."""
    st = svc.status(context.settings())
    table = Table(title=f"{st.db} ({st.size_bytes / 1e6:,.1f} MB, {st.ingests} ingests)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("quarantined", justify="right")
    table.add_column("from")
    table.add_column("to")
    for name, n in st.rows.items():
        q = sum(st.quarantined.get(name, {}).values())
        lo, hi = st.time_ranges.get(name, (None, None))
        table.add_row(
            name,
            f"{n:,}",
            f"{q:,}",
            lo.strftime("%Y-%m-%d %H:%M") if lo else "",
            hi.strftime("%Y-%m-%d %H:%M") if hi else "",
        )
    console.print(table)
    rng = st.time_range
    if rng:
        console.print(f"data time range: {rng[0]:%Y-%m-%d %H:%M} to {rng[1]:%Y-%m-%d %H:%M} UTC")
    if st.rating_scale:
        console.print(f"rating scale: {st.rating_scale.replace(',', ' to ')}")
    for tname, reasons in st.quarantined.items():
        for reason, n in reasons.items():
            console.print(f"  quarantine {tname}: {n:,} × {reason}")
    if st.derived_tables:
        console.print("derived tables: " + ", ".join(st.derived_tables))


def export(
    out: Path = typer.Argument(..., help="Folder to write <table>.parquet files into."),
    tables: list[str] | None = typer.Option(
        None, "--table", "-t", help="Only these tables (repeatable)."
    ),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="Export the stored member-level tables (pseudonymised; admin only, audited).",
    ),
) -> None:
    """Export what the privacy policy allows to Parquet (one file per table).

    By default: the catalogue tables as stored and, for each table about members, a daily
    aggregate (day, rows, members) through the release gate. ``--raw``: every stored table
    (pseudonymised, never raw IDs), audited and recorded so erasure rewrites the files.
    """
    settings = context.settings()
    who = _output.actor()
    if raw:
        written = privacy.export_raw(settings, out, tables or None, opt_in=True, actor=who)
        for name, path in written.items():
            console.print(f"{name} → {path}")
        return
    plan = privacy.export_tables(settings, tables or None, actor=who)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in plan.tables.items():
        path = out / f"{name}.parquet"
        _output.write_parquet(table, path)
        privacy.record_export(settings, path, actor=who, what=f"export {name}")
        note = f" ({_output.n_hidden(table)} suppressed)" if _output.n_hidden(table) else ""
        console.print(f"{name} → {path}{note}")
    for name, why in plan.skipped.items():
        console.print(f"[yellow]{name} not exported:[/] {why}")


def pseudonym(
    raw_ids: list[str] | None = typer.Argument(None, help="Raw IDs to pseudonymise."),
    file: Path | None = typer.Option(None, "--file", help="File with one raw ID per line."),
    kind: str = typer.Option(
        "user_id", "--kind", help="Identifier kind: user_id, device_id, profile_id."
    ),
) -> None:
    """Print raw_id,pseudonym rows under the current key (support, data-subject requests;
    admin only, audited: the pairs link members to their rows)."""
    rows = svc.pseudonyms(context.settings(), list(raw_ids or []), id_file=file, domain=kind)
    _output.row_level(
        pa.table({"raw_id": [r[0] for r in rows]}),
        what=f"reelmine pseudonym ({kind})",
        opt_in=True,
    )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["raw_id", "pseudonym"])
    writer.writerows(rows)
    typer.echo(buf.getvalue(), nl=False)


_COMMANDS = (init, ingest, status, export, pseudonym)
for _fn in _COMMANDS:
    app.command()(_fn)


def register(target: typer.Typer) -> None:
    """Attach the data commands at the top level of ``target``."""
    for fn in _COMMANDS:
        target.command()(fn)
