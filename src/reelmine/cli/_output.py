"""What every CLI command shares on the way out: the release gate, the member-level opt-in,
and one printer for Arrow tables.

* :func:`gated` sends an aggregate through :func:`reelmine.service.privacy.release_table`,
  the same gate the API uses (minimum group size ``Settings.min_group_size`` with
  complementary suppression, an audit entry), as the local operator or the key in
  ``REELMINE_API_KEY``.
* :func:`row_level` lets member-level rows out only on ``--row-level`` and for role
  ``admin``, and writes the audit log (:func:`reelmine.service.privacy.release_rows`).
* :func:`emit` prints a table (Rich), CSV, JSON or Parquet. Suppressed cells read
  ``suppressed`` in the Rich table and in CSV; JSON and Parquet keep them null with the
  ``suppressed``/``suppression`` columns. Never zero, never blank.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.errors import ConfigError
from reelmine.privacy.gate import REASON, SUPPRESSED
from reelmine.service import privacy as svc

console = Console()
FORMATS = ("table", "csv", "json", "parquet")
SUPPRESSED_TEXT = "suppressed"

FormatOpt = typer.Option("table", "--format", "-f", help="table, csv, json or parquet.")
OutOpt = typer.Option(None, "--out", "-o", help="Write to this file instead of the terminal.")
LimitOpt = typer.Option(50, "--limit", "-n", help="Rows to show in a table (0 = all).")
RowLevelOpt = typer.Option(
    False,
    "--row-level",
    help="Confirm member-level output (admin only; written to the audit log).",
)


def by_list(by: str | None) -> list[str]:
    """A comma-separated ``--by`` option as a list of column names."""
    return [b.strip() for b in by.split(",") if b.strip()] if by else []


def actor(api_key: str | None = None) -> svc.Actor:
    """Who runs the command: ``api_key`` or ``REELMINE_API_KEY``, else the local operator."""
    key = api_key or os.environ.get("REELMINE_API_KEY")
    return svc.actor_from_key(context.settings(), key) if key else svc.local_actor()


def gated(
    table: pa.Table,
    *,
    what: str,
    group_by: Sequence[str],
    members: str | Sequence[str] = "members",
    totals: bool = True,
    labels: Sequence[str] = (),
    hide: Sequence[str] = (),
) -> pa.Table:
    """``table`` through the release gate (see :func:`reelmine.service.privacy.release_table`).

    ``what`` names the command in the audit log (e.g. ``"reelmine content scorecard"``).
    """
    return svc.release_table(
        context.settings(),
        table,
        group_by=[c for c in group_by if c in table.column_names],
        actor=actor(),
        what=what,
        members=members,
        totals=totals,
        labels=labels,
        hide=hide,
    )


def gated_records(
    records: Sequence[dict[str, Any]],
    *,
    what: str,
    group_by: Sequence[str],
    members: str = "members",
    totals: bool = True,
    labels: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Records (e.g. a report's ``to_dict()`` rows) through the gate.

    Only the group-by and count columns go to the gate (records may hold nested values); a
    suppressed record keeps its group-by values and ``labels`` and every other value becomes
    null, with ``suppressed`` and ``suppression`` added to every record.
    """
    if not records:
        return []
    keys = [*group_by, members]
    t = pa.table(
        {
            k: pa.array([r[k] for r in records], type=None if k != members else pa.int64())
            for k in keys
        }
    )
    g = gated(t, what=what, group_by=group_by, members=members, totals=totals)
    keep = {*group_by, *labels}
    out = []
    for r, hidden, reason in zip(
        records, g[SUPPRESSED].to_pylist(), g[REASON].to_pylist(), strict=True
    ):
        row = {k: (v if not hidden or k in keep else None) for k, v in r.items()}
        row[SUPPRESSED], row[REASON] = bool(hidden), reason
        out.append(row)
    return out


def row_level(table: pa.Table, *, what: str, opt_in: bool, flag: str = "--row-level") -> pa.Table:
    """Member-level rows, released only on the explicit opt-in of an admin (audited)."""
    return svc.release_rows(
        context.settings(), table, what=what, opt_in=opt_in, actor=actor(), flag=flag
    )


def serving(what: str, n_members: int) -> None:
    """Check and audit per-member serving output (role ``service`` or ``admin``)."""
    svc.serve_members(context.settings(), n_members, what=what, actor=actor())


def is_hidden(table: pa.Table) -> list[bool]:
    """Per row: suppressed by the gate (all ``False`` for an ungated table)."""
    if SUPPRESSED not in table.column_names:
        return [False] * table.num_rows
    return [bool(v) for v in table[SUPPRESSED].to_pylist()]


def n_hidden(table: pa.Table) -> int:
    """Suppressed rows of a gated table."""
    return sum(is_hidden(table))


def cell(v: Any) -> Any:
    """A JSON-safe value: times as ISO text, NaN as null, Decimals as floats."""
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, list):
        return [cell(x) for x in v]
    if isinstance(v, dict):
        return {k: cell(x) for k, x in v.items()}
    if hasattr(v, "is_finite"):  # Decimal
        return float(v)
    return v


def text(v: Any, hidden: bool = False, fmt: Callable[[Any], str] | None = None) -> str:
    """One printed cell: ``suppressed`` for a hidden value, else ``fmt(v)`` or a short form."""
    if v is None and hidden:
        return SUPPRESSED_TEXT
    if fmt is not None and v is not None:
        return fmt(v)
    v = cell(v)
    if v is None:
        return ""
    if isinstance(v, list):
        return "|".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.0f}"
    return str(v)


def csv_text(v: Any, hidden: bool = False) -> str:
    """One CSV cell: ``suppressed`` for a hidden value, lists joined by ``|``, full precision."""
    if v is None and hidden:
        return SUPPRESSED_TEXT
    v = cell(v)
    if v is None:
        return ""
    if isinstance(v, list):
        return "|".join(str(x) for x in v)
    return str(v)


def suppressed_note(table: pa.Table) -> str:
    """A sentence on suppressed rows (empty when none)."""
    n = n_hidden(table)
    if not n:
        return ""
    k = context.settings().min_group_size
    return (
        f"{n} row(s) suppressed: fewer than {k} members, or hiding another such cell from "
        "totals (complementary)"
    )


def rich_table(
    table: pa.Table,
    title: str,
    columns: Sequence[str] | None = None,
    *,
    limit: int = 0,
    formats: dict[str, Callable[[Any], str]] | None = None,
) -> Table:
    """A Rich table of (a gated) ``table``: suppressed values read ``suppressed``."""
    cols = [c for c in (columns or table.column_names) if c in table.column_names]
    cols = [c for c in cols if c not in (SUPPRESSED, REASON)]
    hidden = is_hidden(table)
    rows = table.to_pylist()
    shown = rows if limit <= 0 else rows[:limit]
    out = Table(title=title, header_style="bold")
    for c in cols:
        out.add_column(c, overflow="fold")
    fmts = formats or {}
    for r, h in zip(shown, hidden, strict=False):
        out.add_row(*(text(r[c], h, fmts.get(c)) for c in cols))
    return out


def print_table(
    table: pa.Table,
    title: str,
    columns: Sequence[str] | None = None,
    *,
    limit: int = 0,
    formats: dict[str, Callable[[Any], str]] | None = None,
) -> None:
    """Print :func:`rich_table` and the suppression note."""
    console.print(rich_table(table, title, columns, limit=limit, formats=formats))
    note = suppressed_note(table)
    if note:
        console.print(note)


def emit(
    table: pa.Table,
    fmt: str,
    out: Path | None,
    title: str,
    columns: list[str] | None = None,
    limit: int = 50,
    table_columns: list[str] | None = None,
    formats: Sequence[str] = FORMATS,
) -> None:
    """Print or write ``table`` as a Rich table, CSV, JSON or Parquet (``--out`` required).

    ``columns`` selects the columns of every format (the gate's ``suppressed`` and
    ``suppression`` columns always stay); ``table_columns`` only those of the Rich table.
    """
    if fmt not in formats:
        raise ConfigError(f"--format must be one of {', '.join(formats)}, not {fmt!r}")
    if columns is not None:
        keep = [*columns, SUPPRESSED, REASON]
        table = table.select([c for c in keep if c in table.column_names])
    if fmt == "parquet":
        if out is None:
            raise ConfigError("--format parquet needs --out FILE")
        write_parquet(table, out)
        console.print(f"wrote {table.num_rows} rows to {out}")
        return
    hidden = is_hidden(table)
    if fmt == "json":
        rows = [{k: cell(v) for k, v in r.items()} for r in table.to_pylist()]
        body = json.dumps(rows, indent=2, default=str) + "\n"
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(table.column_names)
        w.writerows(
            [csv_text(r[c], h) for c in table.column_names]
            for r, h in zip(table.to_pylist(), hidden, strict=True)
        )
        body = buf.getvalue()
    else:
        cols = [c for c in (table_columns or table.column_names) if c in table.column_names]
        visible = [c for c in table.column_names if c not in (SUPPRESSED, REASON)]
        note = "" if len(cols) >= len(visible) else "; --format csv/json for all columns"
        t = rich_table(table, f"{title} ({table.num_rows} rows{note})", cols, limit=limit)
        sup = suppressed_note(table)
        if out is None:
            console.print(t)
            if sup:
                console.print(sup)
            return
        rec = Console(record=True, width=200, file=io.StringIO())
        rec.print(t)
        if sup:
            rec.print(sup)
        body = rec.export_text()
    if out is None:
        typer.echo(body, nl=False)
    else:
        out.write_text(body, encoding="utf-8")
        console.print(f"wrote {table.num_rows} rows to {out}")


def echo_json(obj: object) -> None:
    """Print ``obj`` as indented JSON (times and other objects as text)."""
    typer.echo(json.dumps(cell(obj), indent=2, default=str))


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` as Parquet (zstd)."""
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")
