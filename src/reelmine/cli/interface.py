"""``reelmine interface``: browse funnels, row/position click-through with position bias,
search behaviour and the search ranker's offline evaluation (thin over the service layer)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import typer

from reelmine.cli import context
from reelmine.cli._output import FormatOpt, LimitOpt, OutOpt, by_list, console, emit, gated
from reelmine.errors import ConfigError
from reelmine.service import interface as service

app = typer.Typer(
    help="Interface insights: browse funnels, row and position click-through with position "
    "bias, search behaviour and search-ranker evaluation.",
    no_args_is_help=True,
)
WHAT = "reelmine interface"
SinceOpt = typer.Option(None, help="First day (YYYY-MM-DD).")
UntilOpt = typer.Option(None, help="Day after the last (YYYY-MM-DD).")


@app.command("funnel")
def funnel_cmd(
    by: str = typer.Option(None, help="Breakdown: entry, device_type, country, variant."),
    experiment: str = typer.Option(None, "--experiment", help="Experiment id (for variant)."),
    steps: bool = typer.Option(False, "--steps", help="One row per step with drop-off."),
    since: str = SinceOpt,
    until: str = UntilOpt,
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Browse -> title page -> play: conversion, sessions without a play, time to first play."""
    dims = by_list(by)
    if experiment is not None and "variant" not in dims:
        dims = [*dims, "variant"]
    r = service.funnel(
        context.settings(), by=dims, experiment_id=experiment, since=since, until=until
    )
    if steps:
        t = gated(r.steps, what=f"{WHAT} funnel", group_by=[*r.by, "step"])
        emit(t, fmt, out, "browse funnel steps", limit=limit)
    else:
        t = gated(r.summary, what=f"{WHAT} funnel", group_by=list(r.by))
        emit(t, fmt, out, "browse funnel", limit=limit)


VIEWS = ("rows", "cells", "debiased", "examination", "columns")


@app.command("positions")
def positions_cmd(
    view: str = typer.Option(
        "debiased", help="rows, cells, debiased (rows without position bias), examination."
    ),
    page: str = typer.Option("home", help="Page whose grid is analysed (home or search)."),
    unit: str = typer.Option("member_title", help="Click-model item: member_title or title."),
    method: str = typer.Option("poisson", help="Click-model fit: poisson or em."),
    since: str = SinceOpt,
    until: str = UntilOpt,
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Click- and play-through by row and (row, column), and the estimated position bias."""
    if view not in VIEWS:
        raise ConfigError(f"--view must be one of {', '.join(VIEWS)}, not {view!r}")
    r = service.position_report(
        context.settings(), page=page, unit=unit, method=method, since=since, until=until
    )
    if view == "examination":
        # Model parameters only (no counts): examination per cell and its factors.
        ex = r.bias.examination.select(["row_position", "column_position", "examination"])
        emit(ex, fmt, out, "examination by cell (top-left = 1)", limit=limit)
        if fmt == "table":
            fr = ", ".join(f"{v:.3f}" for v in r.bias.row_factor)
            fc = ", ".join(f"{v:.3f}" for v in r.bias.column_factor)
            console.print(f"row factors: {fr}\ncolumn factors: {fc}")
        return
    if view == "columns":
        emit(r.columns_randomised, fmt, out, "column examination (randomised)", limit=limit)
        return
    t = {"rows": r.rows, "cells": r.cells, "debiased": r.debiased}[view]
    group = ["page", "row_name"] + (["row_position", "column_position"] if view == "cells" else [])
    emit(
        gated(t, what=f"{WHAT} positions", group_by=group),
        fmt,
        out,
        f"positions ({view})",
        limit=limit,
    )


SEARCH_VIEWS = ("summary", "top", "zero-result", "reformulations", "chains", "missed", "gaps")


@app.command("search")
def search_cmd(
    view: str = typer.Option(
        "top", help="summary, top, zero-result, reformulations, chains, missed or gaps."
    ),
    min_members: int = typer.Option(3, help="Distinct members a gap query needs."),
    since: str = SinceOpt,
    until: str = UntilOpt,
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    limit: int = LimitOpt,
) -> None:
    """Search behaviour: top queries, zero results, conversion, reformulations, missed titles."""
    if view not in SEARCH_VIEWS:
        raise ConfigError(f"--view must be one of {', '.join(SEARCH_VIEWS)}, not {view!r}")
    r = service.search_report(
        context.settings(), limit=limit or 10**9, min_members=min_members, since=since, until=until
    )
    tables: dict[str, tuple[pa.Table, list[str]]] = {
        "summary": (r.summary, []),
        "top": (r.top, ["query"]),
        "zero-result": (r.zero_result, ["query"]),
        "reformulations": (r.reformulations, ["query", "next_query"]),
        "chains": (r.chains, ["chain"]),
        "missed": (r.missed, ["query", "title_id"]),
        "gaps": (r.gaps, ["query"]),
    }
    t, group = tables[view]
    # Free-text queries of a suppressed row are hidden too (they may name a member).
    hide = [c for c in group if c in ("query", "next_query", "chain")]
    t = gated(t, what=f"{WHAT} search", group_by=group, labels=["name"], hide=hide)
    emit(t, fmt, out, f"search ({view})", limit=limit)


@app.command("ranker-eval")
def ranker_eval_cmd(
    k: int = typer.Option(10, "--k", help="Cut-off of recall@k."),
    since: str = SinceOpt,
    until: str = UntilOpt,
    fmt: str = FormatOpt,
    out: Path = OutOpt,
) -> None:
    """Blended search ranker vs plain BM25 on logged search -> play pairs (MRR, recall@k)."""
    t = service.evaluate_rankers(context.settings(), k=k, since=since, until=until)
    emit(t, fmt, out, f"search ranker evaluation (recall@{k})", limit=0)


@app.command("search-titles")
def search_titles_cmd(
    query: str = typer.Argument(..., help="What a member typed."),
    user: str = typer.Option(None, "--user", help="Member id (personalises by taste)."),
    k: int = typer.Option(10, "--k", help="Results to return."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
) -> None:
    """Search the catalogue with the blended ranker (typo-tolerant, popularity and taste)."""
    t = service.search_titles(context.settings(), query, user_id=user, k=k)
    emit(t, fmt, out, f"search: {query}", limit=0)


def register(parent: typer.Typer) -> None:
    """Attach ``reelmine interface`` to the main app."""
    parent.add_typer(app, name="interface")
