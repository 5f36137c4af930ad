"""``reelmine market``: members, cohort retention, plan mix, demand vs supply, opportunities,
regional taste and market similarity."""

from __future__ import annotations

from pathlib import Path

import typer

from reelmine.cli import context
from reelmine.cli._output import FormatOpt, LimitOpt, OutOpt, by_list, emit, gated
from reelmine.service import market as service

app = typer.Typer(
    help="Market insights: members and activity by country and demographic, cohort retention, "
    "demand vs supply gaps, regional taste.",
    no_args_is_help=True,
)
WHAT = "reelmine market"


@app.command("members")
def members_cmd(
    period: str = typer.Option("month", help="day, week, month, quarter or year."),
    by: str = typer.Option("country", help="country, age_band, gender, plan (comma list)."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Members, signups, cancellations, active rate and hours per member."""
    # Gated by the smaller of members and active members: every number describes one of them.
    emit(
        gated(
            service.members(context.settings(), period=period, by=by_list(by)),
            what=f"{WHAT} members",
            group_by=["period", *by_list(by)],
            members=("members", "active_members"),
        ),
        fmt,
        out,
        "members",
        limit=limit,
    )


@app.command("retention")
def retention_cmd(
    by: str = typer.Option(None, help="Breakdown, e.g. country."),
    max_offset: int = typer.Option(24, help="Months after signup."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Cohort retention curves by signup month."""
    # A cell is a cohort (within a breakdown) at a month offset; members = the cohort's size.
    emit(
        gated(
            service.retention(context.settings(), by=by_list(by), max_offset=max_offset),
            what=f"{WHAT} retention",
            group_by=["cohort", "offset", *by_list(by)],
        ),
        fmt,
        out,
        "cohort retention",
        limit=limit,
    )


@app.command("plans")
def plans_cmd(
    by: str = typer.Option("country", help="Breakdown (comma list)."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Plan mix of current members."""
    t = gated(
        service.plan_mix(context.settings(), by=by_list(by)),
        what=f"{WHAT} plans",
        group_by=[*by_list(by), "plan"],
    )
    emit(t, fmt, out, "plan mix", limit=limit)


@app.command("supply")
def supply_cmd(fmt: str = FormatOpt, out: Path = OutOpt, limit: int = LimitOpt) -> None:
    """Per country and genre: share of viewing vs share of the available catalogue."""
    t = gated(
        service.demand_supply(context.settings()),
        what=f"{WHAT} supply",
        group_by=["country", "genre"],
    )
    emit(t, fmt, out, "demand vs supply", limit=limit)


@app.command("opportunities")
def opportunities_cmd(
    top: int = typer.Option(20, help="Opportunities to list."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
) -> None:
    """Ranked growth opportunities (genre demand beyond supply, unmet searches)."""
    emit(
        gated(
            service.opportunities(context.settings(), top=top),
            what=f"{WHAT} opportunities",
            group_by=["country", "genre"],
        ),
        fmt,
        out,
        "opportunities",
        limit=0,
        table_columns=[
            "country",
            "genre",
            "demand_share",
            "supply_share",
            "gap",
            "excess_hours",
            "members",
            "gap_share",
        ],
    )


@app.command("taste")
def taste_cmd(
    level: str = typer.Option("genre", help="genre or title."),
    country: str = typer.Option(None, help="Only this country."),
    min_members: int = typer.Option(10, help="Cells with fewer members are dropped."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Genres or titles over-indexing in a country vs the global mix (lift with 95% CI)."""
    emit(
        gated(
            service.regional_taste(
                context.settings(), level=level, country=country, min_members=min_members
            ),
            what=f"{WHAT} taste",
            group_by=["country", "key"],
        ),
        fmt,
        out,
        "regional taste",
        limit=limit,
        table_columns=[
            "country",
            "key",
            "members",
            "share",
            "lift",
            "lift_low",
            "lift_high",
            "over_index",
        ],
    )


@app.command("similarity")
def similarity_cmd(fmt: str = FormatOpt, out: Path = OutOpt, limit: int = LimitOpt) -> None:
    """Similarity between markets (cosine of genre mixes)."""
    # A pair describes the members of both markets; cosines do not add up, so no totals.
    t = gated(
        service.similarity(context.settings()),
        what=f"{WHAT} similarity",
        group_by=["country_a", "country_b"],
        members=("members_a", "members_b"),
        totals=False,
    )
    emit(t, fmt, out, "market similarity", limit=limit)


def register(parent: typer.Typer) -> None:
    """Add ``market`` to the main CLI."""
    parent.add_typer(app, name="market")
