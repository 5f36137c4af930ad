"""``reelmine marketing segments|churn|churn-eval|uplift|target|ltv``: marketing models.

Segment sizes, evaluation metrics, uplift by group and survival curves are aggregates and pass
the release gate; per-member output (churn scores, campaign targets, member values, a
segment's ID list) needs ``--row-level`` (admin only, audited)."""

from __future__ import annotations

from typing import Any, cast

import typer
from rich.table import Table

from reelmine.cli import context
from reelmine.cli._output import (
    RowLevelOpt,
    console,
    echo_json,
    emit,
    gated_records,
    print_table,
    row_level,
    text,
)
from reelmine.errors import ConfigError
from reelmine.service import marketing as service

app = typer.Typer(
    help="Marketing: member segments, churn risk, campaign uplift, lifetime value.",
    no_args_is_help=True,
)

FORMATS = ("table", "csv", "json")
WHAT = "reelmine marketing"


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


def _json(obj: object) -> None:
    echo_json(obj)


def _pct(v: Any) -> str:
    return f"{float(v):.1%}"


@app.command("segments")
def segments_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="Date (UTC); default: after the data."),
    k: int | None = typer.Option(None, "--k", min=2, help="Segments; default: best silhouette."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    export: int | None = typer.Option(
        None,
        "--export",
        help="Print the pseudonymised IDs of this segment, one per line (with --row-level).",
    ),
    row_level_: bool = RowLevelOpt,
) -> None:
    """Cluster members into named segments with sizes, stability and country mix."""
    _fmt(fmt)
    settings = context.settings()
    res = service.segments(settings, as_of, k=k)
    if export is not None:
        import pyarrow as pa

        from reelmine.marketing.segments import export_segment

        ids = export_segment(
            res.user_ids, res.labels, export, min_group_size=settings.min_group_size
        )
        what = f"{WHAT} segments --export {export}"
        row_level(pa.table({"user_id": ids}), what=what, opt_in=row_level_)
        typer.echo("\n".join(ids))
        return
    d: dict[str, Any] = res.to_dict()
    d["segments"] = gated_records(
        d["segments"], what=f"{WHAT} segments", group_by=["segment"], labels=["name"]
    )
    # The country mix is a second breakdown of the same members: (country, segment) cells.
    d["by_country"] = gated_records(
        d["by_country"], what=f"{WHAT} segments", group_by=["group", "segment"]
    )
    if fmt == "json":
        _json(d)
        return
    console.print(
        f"[bold]{res.k} segments[/] as of {res.as_of:%Y-%m-%d} (k by silhouette), "
        f"bootstrap stability ARI {res.stability_ari:.2f}"
    )
    table = Table()
    for col in ("segment", "name", "members", "share", "distinguishing features"):
        table.add_column(col)
    for p in d["segments"]:
        h = p["suppressed"]
        dist = (
            None
            if p["distinguishing"] is None
            else ", ".join(f"{x['feature']} {float(x['z']):+.1f}σ" for x in p["distinguishing"])
        )
        table.add_row(
            str(p["segment"]),
            str(p["name"]),
            text(p["members"], h, lambda v: f"{v:,}"),
            text(p["share"], h, _pct),
            text(dist, h),
        )
    console.print(table)
    n = sum(p["suppressed"] for p in d["segments"])
    if n:
        k = settings.min_group_size
        console.print(f"{n} segment(s) suppressed: fewer than {k} members (or complementary)")


@app.command("churn")
def churn_cmd(
    as_of: str = typer.Option(..., "--as-of", help="Score members active at this date (UTC)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    horizon: int = typer.Option(30, "--horizon-days", min=1, help="Churn window, days."),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows shown with --format table."),
    row_level_: bool = RowLevelOpt,
) -> None:
    """Churn probability and top reasons of every member active at --as-of (--row-level)."""
    _fmt(fmt)
    out = service.churn_scores(context.settings(), as_of, horizon_days=horizon)
    out = row_level(out, what=f"{WHAT} churn", opt_in=row_level_)
    emit(out, fmt, None, f"churn risk, next {horizon} days", limit=limit, formats=FORMATS)


@app.command("churn-eval")
def churn_eval_cmd(
    date: str | None = typer.Option(None, "--date", help="Evaluation date; default: latest."),
    horizon: int = typer.Option(30, "--horizon-days", min=1, help="Churn window, days."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Time-based evaluation: AUC, log loss, calibration, vs a recency-only baseline."""
    _fmt(fmt)
    ev = service.churn_evaluation(context.settings(), date, horizon_days=horizon)
    # Both rows describe the same evaluation members: one cell, gated by their number.
    gate = gated_records(
        [{"population": "evaluation", "members": ev.model.members}],
        what=f"{WHAT} churn-eval",
        group_by=["population"],
        totals=False,
    )
    if gate[0]["suppressed"]:
        raise_small("churn-eval", ev.model.members)
    if fmt == "json":
        _json(ev.to_dict())
        return
    console.print(
        f"trained on {', '.join(f'{d:%Y-%m-%d}' for d in ev.train_dates)}, calibrated on "
        f"{ev.calibration_date:%Y-%m-%d}, evaluated on {ev.evaluation_date:%Y-%m-%d}"
    )
    table = Table()
    for col in ("model", "AUC", "log loss", "Brier", "members", "churners"):
        table.add_column(col)
    for name, m in (("LightGBM (calibrated)", ev.model), ("recency only", ev.recency_baseline)):
        table.add_row(
            name,
            f"{m.auc:.3f}",
            f"{m.log_loss:.4f}",
            f"{m.brier:.4f}",
            f"{m.members:,}",
            f"{m.churners:,}",
        )
    console.print(table)


@app.command("uplift")
def uplift_cmd(
    campaign: str | None = typer.Option(None, "--campaign", help="Campaign; default: largest."),
    method: str = typer.Option("two_model", "--method", help="two_model or class_transformation."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Cross-fitted uplift of a campaign: Qini coefficient with interval, uplift@k, by group."""
    _fmt(fmt)
    rep = service.uplift(context.settings(), campaign, method=method)
    total = gated_records(
        [{"campaign": rep.campaign_id, "members": rep.members}],
        what=f"{WHAT} uplift",
        group_by=["campaign"],
        totals=False,
    )
    if total[0]["suppressed"]:
        raise_small("uplift", rep.members)
    by_group = gated_records(
        list(rep.by_group), what=f"{WHAT} uplift", group_by=["column", "value"]
    )
    if fmt == "json":
        d: dict[str, Any] = rep.to_dict()
        curve = cast(list[dict[str, Any]], d["curve"])
        d["by_group"] = by_group
        # Each curve point adds the next share of members: two points differenced describe
        # that step, so a step is a cell gated by the members it adds (the 0% point stands for
        # the whole campaign), as in the API's Qini chart.
        reached = [int(round(float(c["share_targeted"]) * rep.members)) for c in curve]
        steps = [b - a for a, b in zip([0, *reached[:-1]], reached, strict=True)]
        d["curve"] = gated_records(
            [
                {**c, "members": rep.members if n == 0 else st}
                for c, n, st in zip(curve, reached, steps, strict=True)
            ],
            what=f"{WHAT} uplift",
            group_by=["share_targeted"],
        )
        _json(d)
        return
    lo, hi = rep.qini_ci
    verdict = "[green]beats random[/]" if lo > 0 else "[yellow]not better than random[/]"
    console.print(
        f"[bold]{rep.campaign_id}[/] ({rep.method}): {rep.members:,} members, conversion "
        f"{rep.conversion_treated:.2%} treated vs {rep.conversion_control:.2%} control"
    )
    console.print(f"Qini coefficient {rep.qini:.4g} [{lo:.4g}, {hi:.4g}] {verdict}")
    console.print("uplift@k: " + ", ".join(f"{k} {v:+.2%}" for k, v in rep.uplift_at.items()))
    table = Table(title="predicted vs observed uplift by group")
    for col in ("column", "value", "members", "predicted", "observed"):
        table.add_column(col)
    for r in by_group:
        h = r["suppressed"]
        table.add_row(
            str(r["column"]),
            str(r["value"]),
            text(r["members"], h, lambda v: f"{v:,}"),
            text(r["predicted_uplift"], h, lambda v: f"{float(str(v)):+.2%}"),
            text(r["observed_uplift"], h, lambda v: f"{float(str(v)):+.2%}"),
        )
    console.print(table)


@app.command("target")
def target_cmd(
    campaign: str | None = typer.Option(None, "--campaign", help="Campaign; default: largest."),
    budget: int | None = typer.Option(None, "--budget", min=0, help="Most members to contact."),
    cost: float = typer.Option(0.0, "--cost", help="Cost of one contact."),
    value: float = typer.Option(1.0, "--value", help="Value of one conversion."),
    as_of: str | None = typer.Option(None, "--as-of", help="Score members active then."),
    fmt: str = typer.Option("csv", "--format", help="table, csv or json."),
    row_level_: bool = RowLevelOpt,
) -> None:
    """Members to contact for a budget, highest predicted uplift first (--row-level)."""
    _fmt(fmt)
    out = service.uplift_targets(
        context.settings(),
        campaign,
        as_of=as_of,
        budget=budget,
        cost_per_contact=cost,
        value_per_conversion=value,
    )
    out = row_level(out, what=f"{WHAT} target", opt_in=row_level_)
    emit(out, fmt, None, "campaign targets", limit=20, formats=FORMATS)


@app.command("ltv")
def ltv_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="Value members active then."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    cap_days: float = typer.Option(730.0, "--cap-days", min=1, help="Horizon of the value, days."),
    row_level_: bool = RowLevelOpt,
) -> None:
    """Kaplan-Meier by segment (gated) and, with --row-level, expected remaining tenure and
    value per member (Cox model); --format csv is the per-member list."""
    _fmt(fmt)
    res = service.ltv(context.settings(), as_of, cap_days=cap_days)
    members = None
    if row_level_ or fmt == "csv":
        members = row_level(res.members, what=f"{WHAT} ltv", opt_in=row_level_)
    if fmt == "csv":
        assert members is not None  # row_level refused otherwise
        emit(members, fmt, None, "lifetime value", formats=FORMATS)
        return
    curves = gated_records(
        [
            {
                "group": c.group,
                "members": c.members,
                "events": c.events,
                "survival_30d": c.survival_30d,
                "survival_90d": c.survival_90d,
            }
            for c in res.curves
        ],
        what=f"{WHAT} ltv",
        group_by=["group"],
    )
    if fmt == "json":
        d = cast(dict[str, Any], res.to_dict(top=20))
        hidden = {c["group"] for c in curves if c["suppressed"]}
        d["curves"] = [
            {**c, **dict.fromkeys([k for k in c if k not in ("group",)], None), "suppressed": True}
            if c["group"] in hidden
            else {**c, "suppressed": False}
            for c in d["curves"]
        ]
        if members is None:
            d.pop("top_members", None)
        _json(d)
        return
    console.print(
        f"Cox model fitted on the cohort of {res.fit_as_of:%Y-%m-%d} "
        f"({res.follow_up_days:.0f} days of follow-up), concordance {res.concordance:.3f}"
    )
    table = Table(title="Kaplan-Meier by segment of the fitted cohort")
    for col in ("segment", "members", "cancellations", "S(30 d)", "S(90 d)"):
        table.add_column(col)
    for c in curves:
        h = c["suppressed"]
        table.add_row(
            str(c["group"]),
            text(c["members"], h, lambda v: f"{v:,}"),
            text(c["events"], h, lambda v: f"{v:,}"),
            text(c["survival_30d"], h, lambda v: f"{v:.3f}"),
            "suppressed" if h else "-" if c["survival_90d"] is None else f"{c['survival_90d']:.3f}",
        )
    console.print(table)
    if members is not None:
        print_table(members, "expected remaining tenure and value", limit=20)
    else:
        console.print("per-member values: add --row-level (admin only, audited)")


def raise_small(command: str, n: int) -> None:
    """Refuse a report whose whole population is under the minimum group size."""
    from reelmine.errors import PrivacyError

    k = context.settings().min_group_size
    raise PrivacyError(
        f"refused: {WHAT} {command} describes {n} members, fewer than the minimum group size "
        f"{k}; its numbers are suppressed"
    )


def register(parent: typer.Typer) -> None:
    """Add ``marketing`` to the main CLI."""
    parent.add_typer(app, name="marketing")
