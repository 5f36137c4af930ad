"""``reelmine content``: title performance, scorecards, series, performers, renewals, genre
trends, trending bursts, search gaps and new-title demand forecasts."""

from __future__ import annotations

from pathlib import Path

import typer

from reelmine.cli import context
from reelmine.cli._output import FormatOpt, LimitOpt, OutOpt, by_list, emit, gated
from reelmine.service import content as service

app = typer.Typer(
    help="Content insights: title performance, genre trends, trending titles, search demand "
    "and demand forecasts for new titles.",
    no_args_is_help=True,
)
WHAT = "reelmine content"


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
        context.settings(), period=period, by=by_list(by), level=level, since=since, until=until
    )
    t = gated(t, what=f"{WHAT} performance", group_by=["title_id", "period", *by_list(by)])
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
        gated(
            service.title_scorecard(context.settings(), days=days, until=until),
            what=f"{WHAT} scorecard",
            group_by=["title_id"],
            labels=["name", "genre", "release_year"],
        ),
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
    t = gated(
        r.seasons if seasons else r.series,
        what=f"{WHAT} series",
        group_by=["title_id", "season"] if seasons else ["title_id"],
    )
    emit(
        t,
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
        gated(
            service.performers(context.settings(), z_threshold=z),
            what=f"{WHAT} performers",
            group_by=["title_id"],
            labels=["name"],
        ),
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
        gated(
            service.renewals(context.settings(), kind=None if kind == "all" else kind),
            what=f"{WHAT} renewals",
            group_by=["title_id"],
            labels=["kind"],
        ),
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
        service.genre_shares(s, period=period, by=by_list(by))
        if shares
        else service.genre_trends(s, period=period, by=by_list(by))
    )
    t = gated(t, what=f"{WHAT} trends", group_by=["period", "genre", *by_list(by)])
    emit(t, fmt, out, "genre shares" if shares else "genre trends", limit=limit)


@app.command("trending")
def trending_cmd(
    level: str = typer.Option("show", help="show, title or genre."),
    since: str = typer.Option(None, help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(None, help="Day after the last (YYYY-MM-DD)."),
    z: float = typer.Option(
        None, "--z", help="Poisson z-score a burst must pass (default: 5% family-wise)."
    ),
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
    t = gated(t, what=f"{WHAT} trending", group_by=["title_id", "start"])
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
        gated(
            service.search_demand(
                context.settings(), since=since, until=until, min_members=min_members
            ),
            what=f"{WHAT} search-gaps",
            group_by=["query"],
            hide=["query"],
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
