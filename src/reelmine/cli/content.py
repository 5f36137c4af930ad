"""``reelmine content``: title performance, scorecards, series, performers, renewals, genre
trends, trending bursts, search gaps and new-title demand forecasts."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.errors import ConfigError
from reelmine.service import content as service

console = Console()
app = typer.Typer(
    help="Content insights: title performance, genre trends, trending titles, search demand "
    "and demand forecasts for new titles.",
    no_args_is_help=True,
)
FORMATS = ("table", "csv", "json", "parquet")

FormatOpt = typer.Option("table", "--format", "-f", help="table, csv, json or parquet.")
OutOpt = typer.Option(None, "--out", "-o", help="Write to this file instead of the terminal.")
LimitOpt = typer.Option(50, "--limit", "-n", help="Rows to show in a table (0 = all).")


def _cell(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, list):
        return [_cell(x) for x in v]
    if hasattr(v, "is_finite"):  # Decimal
        return float(v)
    return v


def _text(v: Any) -> str:
    v = _cell(v)
    if v is None:
        return ""
    if isinstance(v, list):
        return "|".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.0f}"
    return str(v)


def emit(
    table: pa.Table,
    fmt: str,
    out: Path | None,
    title: str,
    columns: list[str] | None = None,
    limit: int = 50,
    table_columns: list[str] | None = None,
) -> None:
    """Print or write ``table`` as a Rich table, CSV, JSON or Parquet (``--out`` required).

    ``columns`` selects the columns of every format; ``table_columns`` only those of the Rich
    table (wide reports keep all their columns in csv, json and parquet).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    if fmt == "parquet":
        if out is None:
            raise ConfigError("--format parquet needs --out FILE")
        import pyarrow.parquet as pq

        pq.write_table(table, out)
        console.print(f"wrote {table.num_rows} rows to {out}")
        return
    rows = [{k: _cell(v) for k, v in r.items()} for r in table.to_pylist()]
    if fmt == "json":
        text = json.dumps(rows, indent=2, default=str) + "\n"
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(table.column_names)
        w.writerows([[_text(r[c]) for c in table.column_names] for r in rows])
        text = buf.getvalue()
    else:
        shown = rows if limit <= 0 else rows[:limit]
        cols = [c for c in (table_columns or table.column_names) if c in table.column_names]
        note = "" if len(cols) == table.num_columns else "; --format csv/json for all columns"
        t = Table(title=f"{title} ({table.num_rows} rows{note})", header_style="bold")
        for c in cols:
            t.add_column(c, overflow="fold")
        for r in shown:
            t.add_row(*(_text(r[c]) for c in cols))
        if out is None:
            console.print(t)
            return
        rec = Console(record=True, width=200, file=io.StringIO())
        rec.print(t)
        text = rec.export_text()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {table.num_rows} rows to {out}")


def _by(by: str | None) -> list[str]:
    return [b.strip() for b in by.split(",") if b.strip()] if by else []


@app.command("performance")
def performance_cmd(
    period: str = typer.Option("all", help="day, week, month, quarter, year or all."),
    by: str = typer.Option(None, help="Breakdown, e.g. country,age_band."),
    level: str = typer.Option("show", help="show (episodes roll up) or title."),
    since: str = typer.Option(None, help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(None, help="Day after the last (YYYY-MM-DD)."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Hours, views (hours / runtime), members, starts and completion per title."""
    t = service.title_performance(
        context.settings(), period=period, by=_by(by), level=level, since=since, until=until
    )
    emit(t, fmt, out, "title performance", limit=limit)


@app.command("scorecard")
def scorecard_cmd(
    days: int = typer.Option(28, help="Length of the period and of the previous one."),
    until: str = typer.Option(None, help="Day after the period (default: end of data)."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Scorecard: rank within genre and release year, trend, cost per view."""
    emit(
        service.title_scorecard(context.settings(), days=days, until=until),
        fmt,
        out,
        "title scorecard",
        limit=limit,
        table_columns=[
            "title_id",
            "name",
            "genre",
            "views",
            "members",
            "rank_in_genre",
            "rank_in_year",
            "trend",
            "cost_per_view",
        ],
    )


@app.command("series")
def series_cmd(
    seasons: bool = typer.Option(False, "--seasons", help="Show season drop-off instead."),
    binge_episodes: int = typer.Option(3, help="Episodes in a day that count as a binge."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Series: episodes per viewer, binge rate (or season drop-off with --seasons)."""
    r = service.series_report(context.settings(), binge_episodes=binge_episodes)
    emit(
        r.seasons if seasons else r.series,
        fmt,
        out,
        "season drop-off" if seasons else "series",
        limit=limit,
    )


@app.command("performers")
def performers_cmd(
    z: float = typer.Option(2.0, "--z", help="|z| above which a title is labelled."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Titles that over- or under-perform what their genre, age and audience predict."""
    emit(
        service.performers(context.settings(), z_threshold=z),
        fmt,
        out,
        "performers",
        limit=limit,
        table_columns=["title_id", "name", "views", "expected_views", "z", "label", "drivers"],
    )


@app.command("renewals")
def renewals_cmd(
    kind: str = typer.Option("series", help="series, movie or all."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Renewal candidates ranked by engagement and retention of their viewers."""
    emit(
        service.renewals(context.settings(), kind=None if kind == "all" else kind),
        fmt,
        out,
        "renewal candidates",
        limit=limit,
    )


@app.command("trends")
def trends_cmd(
    period: str = typer.Option("month", help="day, week, month, quarter or year."),
    by: str = typer.Option(None, help="Breakdown, e.g. country or age_band."),
    shares: bool = typer.Option(False, "--shares", help="Print the shares, not the changes."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Genre share of hours over time, with growth and a Holm-adjusted test of each change."""
    s = context.settings()
    t = (
        service.genre_shares(s, period=period, by=_by(by))
        if shares
        else service.genre_trends(s, period=period, by=_by(by))
    )
    emit(t, fmt, out, "genre shares" if shares else "genre trends", limit=limit)


@app.command("trending")
def trending_cmd(
    level: str = typer.Option("show", help="show, title or genre."),
    since: str = typer.Option(None, help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(None, help="Day after the last (YYYY-MM-DD)."),
    z: float = typer.Option(4.0, "--z", help="Poisson z-score a burst must pass."),
    min_ratio: float = typer.Option(2.0, help="Observed / expected a burst must reach."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
    details: bool = typer.Option(False, "--details", help="Also print observed/expected."),
) -> None:
    """Titles (or genres) whose daily views burst above baseline: title_id,start,end,strength."""
    t = service.trending_titles(
        context.settings(),
        level=level,
        since=since,
        until=until,
        z_threshold=z,
        min_ratio=min_ratio,
    )
    cols = None if details else ["title_id", "start", "end", "strength"]
    emit(t, fmt, out, "trending", columns=cols, limit=limit)


@app.command("search-gaps")
def search_gaps_cmd(
    min_members: int = typer.Option(3, help="Distinct members a gap query needs."),
    since: str = typer.Option(None, help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(None, help="Day after the last (YYYY-MM-DD)."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Frequent searches that match nothing in the catalogue (titles members want)."""
    emit(
        service.search_demand(
            context.settings(), since=since, until=until, min_members=min_members
        ),
        fmt,
        out,
        "search gaps",
        limit=limit,
    )


@app.command("forecast")
def forecast_cmd(
    title_ids: list[str] = typer.Argument(..., help="Catalogue title_ids of shows to forecast."),
    countries: bool = typer.Option(False, "--countries", help="Print the country split."),
    horizon: int = typer.Option(28, help="Days after launch."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """First-28-day views of new titles: forecast, interval and the similar titles behind it."""
    f = service.forecast_titles(context.settings(), title_ids, horizon_days=horizon)
    emit(f.countries if countries else f.totals, fmt, out, "demand forecast", limit=limit)


@app.command("forecast-eval")
def forecast_eval_cmd(
    cutoff: str = typer.Option(None, help="Split date (default: 45% into the data)."),
    horizon: int = typer.Option(28, help="Days after launch."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
) -> None:
    """Time-split evaluation of the forecast vs genre-mean and catalogue-mean baselines."""
    emit(
        service.forecast_evaluation(context.settings(), cutoff=cutoff, horizon_days=horizon),
        fmt,
        out,
        "forecast evaluation",
    )


def register(parent: typer.Typer) -> None:
    """Add ``content`` to the main CLI."""
    parent.add_typer(app, name="content")
