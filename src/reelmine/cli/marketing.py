"""``reelmine marketing segments|churn|churn-eval|uplift|target|ltv``: marketing models."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.errors import ConfigError
from reelmine.service import marketing as service

console = Console()

app = typer.Typer(
    help="Marketing: member segments, churn risk, campaign uplift, lifetime value.",
    no_args_is_help=True,
)

FORMATS = ("table", "csv", "json")


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


def _emit(table: pa.Table, fmt: str, title: str, limit: int | None = None) -> None:
    rows = table.to_pylist()
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, default=str, allow_nan=False))
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=table.column_names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(buf.getvalue(), nl=False)
        return
    shown = rows if limit is None else rows[:limit]
    out = Table(title=f"{title} ({len(shown)} of {len(rows)} rows)")
    for col in table.column_names:
        out.add_column(col)
    for r in shown:
        out.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()])
    console.print(out)


def _json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command("segments")
def segments_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="Date (UTC); default: after the data."),
    k: int | None = typer.Option(None, "--k", min=2, help="Segments; default: best silhouette."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    export: int | None = typer.Option(
        None, "--export", help="Print the pseudonymised IDs of this segment, one per line."
    ),
) -> None:
    """Cluster members into named segments with sizes, stability and country mix."""
    _fmt(fmt)
    settings = context.settings()
    res = service.segments(settings, as_of, k=k)
    if export is not None:
        from reelmine.marketing.segments import export_segment

        ids = export_segment(
            res.user_ids, res.labels, export, min_group_size=settings.min_group_size
        )
        typer.echo("\n".join(ids))
        return
    if fmt == "json":
        _json(res.to_dict())
        return
    console.print(
        f"[bold]{res.k} segments[/] as of {res.as_of:%Y-%m-%d} (k by silhouette), "
        f"bootstrap stability ARI {res.stability_ari:.2f}"
    )
    table = Table()
    for col in ("segment", "name", "members", "share", "distinguishing features"):
        table.add_column(col)
    for p in res.profiles:
        dist = ", ".join(f"{d['feature']} {float(d['z']):+.1f}σ" for d in p.distinguishing)
        table.add_row(str(p.segment), p.name, f"{p.members:,}", f"{p.share:.1%}", dist)
    console.print(table)


@app.command("churn")
def churn_cmd(
    as_of: str = typer.Option(..., "--as-of", help="Score members active at this date (UTC)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    horizon: int = typer.Option(30, "--horizon-days", min=1, help="Churn window, days."),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows shown with --format table."),
) -> None:
    """Churn probability and top reasons of every member active at --as-of."""
    _fmt(fmt)
    out = service.churn_scores(context.settings(), as_of, horizon_days=horizon)
    _emit(out, fmt, f"churn risk, next {horizon} days", limit=limit)


@app.command("churn-eval")
def churn_eval_cmd(
    date: str | None = typer.Option(None, "--date", help="Evaluation date; default: latest."),
    horizon: int = typer.Option(30, "--horizon-days", min=1, help="Churn window, days."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Time-based evaluation: AUC, log loss, calibration, vs a recency-only baseline."""
    _fmt(fmt)
    ev = service.churn_evaluation(context.settings(), date, horizon_days=horizon)
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
    if fmt == "json":
        _json(rep.to_dict())
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
    for r in rep.by_group:
        table.add_row(
            str(r["column"]),
            str(r["value"]),
            f"{r['members']:,}",
            f"{float(str(r['predicted_uplift'])):+.2%}",
            f"{float(str(r['observed_uplift'])):+.2%}",
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
) -> None:
    """Members to contact for a budget, highest predicted uplift first."""
    _fmt(fmt)
    out = service.uplift_targets(
        context.settings(),
        campaign,
        as_of=as_of,
        budget=budget,
        cost_per_contact=cost,
        value_per_conversion=value,
    )
    _emit(out, fmt, "campaign targets", limit=20)


@app.command("ltv")
def ltv_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="Value members active then."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    cap_days: float = typer.Option(730.0, "--cap-days", min=1, help="Horizon of the value, days."),
) -> None:
    """Expected remaining tenure and value per member (Cox model), Kaplan-Meier by segment."""
    _fmt(fmt)
    res = service.ltv(context.settings(), as_of, cap_days=cap_days)
    if fmt == "json":
        _json(res.to_dict(top=20))
        return
    if fmt == "csv":
        _emit(res.members, fmt, "lifetime value")
        return
    console.print(
        f"Cox model fitted on the cohort of {res.fit_as_of:%Y-%m-%d} "
        f"({res.follow_up_days:.0f} days of follow-up), concordance {res.concordance:.3f}"
    )
    table = Table(title="Kaplan-Meier by segment of the fitted cohort")
    for col in ("segment", "members", "cancellations", "S(30 d)", "S(90 d)"):
        table.add_column(col)
    for c in res.curves:
        table.add_row(
            c.group,
            f"{c.members:,}",
            f"{c.events:,}",
            f"{c.survival_30d:.3f}",
            "-" if c.survival_90d is None else f"{c.survival_90d:.3f}",
        )
    console.print(table)
    _emit(res.members, "table", "expected remaining tenure and value", limit=20)


def register(parent: typer.Typer) -> None:
    """Add ``marketing`` to the main CLI."""
    parent.add_typer(app, name="marketing")
