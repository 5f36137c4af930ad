"""``reelmine experiments list|readout|artwork``: A/B readouts from the warehouse.

Variant sizes pass the release gate (a variant is a cell, the experiment its total): a hidden
variant's effects print as suppressed, and a hidden control hides every effect, the SRM test
and the balance check, as in the API."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.cli._output import gated, gated_records, print_table, text
from reelmine.errors import ConfigError
from reelmine.service.experiments import (
    experiment_readout,
    list_experiments,
    warehouse_artwork_report,
)

console = Console()
WHAT = "reelmine experiments"

app = typer.Typer(help="Experiment readouts: SRM check, effects, intervals.", no_args_is_help=True)


def _ratios(values: list[str]) -> dict[str, float] | None:
    if not values:
        return None
    out: dict[str, float] = {}
    for item in values:
        name, _, weight = item.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = 0.0
        if not name or not value > 0:
            raise ConfigError(
                f"--ratio expects VARIANT=WEIGHT with a positive weight, not {item!r}"
            )
        out[name] = value
    return out


@app.command("list")
def list_cmd() -> None:
    """List experiments with their variants and member counts."""
    table = Table(title="experiments")
    for col in ("experiment", "variant", "members"):
        table.add_column(col, justify="right" if col == "members" else "left")
    rows = gated_records(
        [dict(r) for r in list_experiments(context.settings())],
        what=f"{WHAT} list",
        group_by=["experiment_id", "variant"],
    )
    for row in rows:
        table.add_row(
            str(row["experiment_id"]), str(row["variant"]), text(row["members"], row["suppressed"])
        )
    console.print(table)


@app.command("readout")
def readout_cmd(
    experiment_id: str = typer.Argument(..., help="Experiment to read out."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    control: str = typer.Option("control", "--control", help="Name of the control variant."),
    ratio: list[str] = typer.Option(
        [], "--ratio", help="Designed allocation VARIANT=WEIGHT (repeat); equal split if absent."
    ),
    correction: str = typer.Option("holm", "--correction", help="holm, bh or none."),
    alpha: float = typer.Option(0.05, "--alpha", min=0.0001, max=0.5, help="Significance level."),
    pre_days: int = typer.Option(14, "--pre-days", min=1, help="Pre-period for CUPED, days."),
    window_days: int | None = typer.Option(
        None, "--window-days", min=1, help="Experiment period per member, days (default: all)."
    ),
) -> None:
    """Read out one experiment: SRM first (blocks when p < 0.001), then every metric."""
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    result = experiment_readout(
        context.settings(),
        experiment_id,
        control=control,
        expected_ratios=_ratios(ratio),
        correction=correction,
        alpha=alpha,
        pre_days=pre_days,
        window_days=window_days,
    )
    d = result.to_dict()
    d["variants"] = gated_records(
        d["variants"], what=f"{WHAT} readout {experiment_id}", group_by=["variant"]
    )
    hidden = {v["variant"] for v in d["variants"] if v["suppressed"]}
    all_hidden = result.control in hidden
    # As in the API: a hidden variant nulls its effects, a hidden control nulls all; the SRM
    # p-value and the balance means are functions of the hidden counts, so they go too.
    keep = ("metric", "variant", "method", "role")
    for m in d["metrics"]:
        m["suppressed"] = all_hidden or m["variant"] in hidden
        if m["suppressed"]:
            m.update({k: None for k in m if k not in (*keep, "suppressed")})
            m["decision"] = "suppressed"
    if hidden:
        d["srm"]["p_value"] = None
        for b in d["balance"]:
            b.update(control_mean=None, treatment_mean=None, std_diff=None, p_value=None)
    if fmt == "json":
        typer.echo(json.dumps(d, indent=2, allow_nan=False))
        return
    members = ", ".join(
        f"{v['variant']} {text(v['members'], v['suppressed'], lambda x: f'{x:,}')}"
        for v in d["variants"]
    )
    console.print(f"[bold]{experiment_id}[/]  members: {members}")
    if all_hidden:
        console.print(
            "[yellow]control suppressed:[/] fewer than the minimum group size; every effect, "
            "the sample-ratio check and the balance check are suppressed"
        )
        return
    status = "[red]FLAGGED[/]" if result.srm.flagged else "[green]ok[/]"
    p_srm = text(d["srm"]["p_value"], bool(hidden), lambda v: f"{v:.3g}")
    console.print(f"sample-ratio check: p = {p_srm}  {status}")
    if result.blocked:
        console.print(
            "[red]readout blocked:[/] the assignment ratio is broken, so every comparison is "
            "suspect. Fix the assignment or logging before reading metrics."
        )
        return
    table = Table(title=f"{experiment_id} vs {result.control} ({result.correction} correction)")
    for col in ("metric", "variant", "control", "effect", "lift", "interval", "p", "adj. p"):
        table.add_column(col, no_wrap=col in ("metric", "interval"))
    table.add_column("method")
    table.add_column("decision")
    for m in result.metrics:
        if m.variant in hidden:
            table.add_row(m.metric, m.variant, *(["suppressed"] * 6), m.method, "suppressed")
            continue
        colour = {"significant": "green", "passed": "green", "failed": "red"}.get(m.decision, "")
        table.add_row(
            m.metric,
            m.variant,
            f"{m.control:.4g}",
            f"{m.effect:+.4g}",
            f"{m.relative_lift:+.2%}" if m.relative_lift == m.relative_lift else "-",
            f"[{m.ci_low:.4g}, {m.ci_high:.4g}]",
            f"{m.p_value:.3g}",
            "-" if m.p_value_adjusted is None else f"{m.p_value_adjusted:.3g}",
            m.method,
            f"[{colour}]{m.decision}[/]" if colour else m.decision,
        )
    console.print(table)
    flagged = [b.covariate for b in result.balance if b.flagged]
    if flagged:
        console.print(f"[yellow]pre-period imbalance:[/] {', '.join(flagged)}")


@app.command("artwork")
def artwork_cmd(
    fmt: str = typer.Option("table", "--format", help="table or json."),
    epsilon: float = typer.Option(0.1, "--epsilon", min=0.0, max=1.0, help="Exploration share."),
    holdout: float = typer.Option(0.5, "--holdout", min=0.05, max=0.95, help="Sessions held out."),
    top: int = typer.Option(10, "--top", min=0, help="Best-artwork rows to print (table)."),
) -> None:
    """Learn artwork per title and age segment from logged impressions; evaluate off-policy."""
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    rep = warehouse_artwork_report(context.settings(), epsilon=epsilon, holdout=holdout)
    # A (title, segment) cell is gated by its impressions, the closest count the log gives.
    best = gated(
        rep.best,
        what=f"{WHAT} artwork",
        group_by=["title_id", "segment"],
        members="impressions",
        labels=["artwork_id"],
    )
    if fmt == "json":
        d = rep.to_dict()
        if "best" in d:
            d["best"] = [
                {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                for r in best.to_pylist()
            ]
        typer.echo(json.dumps(d, indent=2))
        return
    table = Table(title=f"click-through on {rep.test_rounds:,} held-out impressions")
    for col in ("policy", "estimator", "CTR", "95% interval"):
        table.add_column(col)
    for policy, est in rep.estimates.items():
        for name, e in est.items():
            table.add_row(policy, name, f"{e.value:.4f}", f"[{e.ci_low:.4f}, {e.ci_high:.4f}]")
    console.print(table)
    # Released cells first (most shown), then the suppressed ones.
    order = best.append_column("_n", pc.fill_null(best["impressions"], -1))
    best = order.sort_by([("_n", "descending")]).drop_columns(["_n"]).slice(0, top)
    if best.num_rows:
        print_table(
            best,
            "best artwork (most shown cells)",
            formats={c: (lambda v: f"{v:.3f}") for c in ("click_rate",)},
        )


def register(main: typer.Typer) -> None:
    """Attach the ``experiments`` group to the top-level ``reelmine`` command."""
    main.add_typer(app, name="experiments")
