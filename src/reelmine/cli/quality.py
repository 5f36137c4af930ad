"""``reelmine quality``: report, incidents, explain, compare (thin over the service layer)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.errors import ConfigError
from reelmine.service import quality as svc

app = typer.Typer(
    help="Streaming quality: metrics, incidents, root causes, quantile comparisons.",
    no_args_is_help=True,
)
console = Console()


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not an ISO date or time") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


@app.command()
def report(
    by: str = typer.Option("", "--by", help="Comma-separated attributes, e.g. cdn,isp."),
    since: str | None = typer.Option(None, "--since", help="ISO date/time: only plays since."),
    bucket: int | None = typer.Option(None, "--bucket", help="Time bucket in seconds."),
) -> None:
    """Quality metrics (startup percentiles, rebuffering, bitrate, errors, bad sessions)."""
    attrs = [a.strip() for a in by.split(",") if a.strip()]
    res = svc.quality_report(
        context.settings(), by=attrs, since=_when(since, "--since"), bucket_seconds=bucket
    )
    table = Table(title="playback quality")
    for name in res.column_names:
        table.add_column(name)
    for row in res.to_pylist():
        table.add_row(*(_fmt(v) for v in row.values()))
    console.print(table)


@app.command()
def incidents(
    metric: str = typer.Option("error_rate", "--metric", help="error_rate, ebvs_rate, ..."),
    bucket: int = typer.Option(3600, "--bucket", help="Time bucket in seconds."),
    z: float = typer.Option(5.0, "--z", help="Robust z-score threshold."),
) -> None:
    """Anomaly windows per top-level slice (country, CDN, ISP, device type, app version)."""
    found = svc.quality_incidents(
        context.settings(), metric=metric, bucket_seconds=bucket, z_threshold=z
    )
    table = Table(title=f"incidents ({metric})")
    for col in ("id", "slice", "start", "end", "severity", "value", "baseline"):
        table.add_column(col)
    for inc in found:
        w = inc.window
        table.add_row(
            inc.incident_id,
            ",".join(f"{k}={v}" for k, v in w.slice.items()),
            datetime.fromtimestamp(w.start, tz=UTC).isoformat(),
            datetime.fromtimestamp(w.end + inc.bucket_seconds, tz=UTC).isoformat(),
            f"{w.severity:.1f}",
            _fmt(w.value),
            _fmt(w.baseline),
        )
    console.print(table)


@app.command()
def explain(
    incident_id: str | None = typer.Argument(None, help="Incident id from `quality incidents`."),
    window: tuple[str, str] | None = typer.Option(None, "--window", help="START END (ISO)."),
    metric: str = typer.Option("error_rate", "--metric", help="Metric to explain."),
) -> None:
    """Root causes of an incident or of a window: ranked attribute combinations."""
    settings = context.settings()
    if incident_id is not None:
        res = svc.explain_incident(settings, incident_id)
    elif window is not None:
        start, end = _when(window[0], "--window"), _when(window[1], "--window")
        assert start is not None and end is not None
        res = svc.explain_window(settings, start=start, end=end, metric=metric)
    else:
        raise ConfigError("give an INCIDENT_ID or --window START END")
    table = Table(title=f"root causes (deviation {res.deviation:.4g})")
    for col in ("rank", "root cause", "explained", "expected", "actual", "sessions"):
        table.add_column(col)
    for i, c in enumerate(res.causes, start=1):
        table.add_row(
            str(i), c.label, f"{c.explained:.0%}", _fmt(c.expected), _fmt(c.actual), _fmt(c.count)
        )
    console.print(table)


@app.command()
def compare(
    metric: str = typer.Option("startup_ms", "--metric", help="Per-session metric."),
    by: str = typer.Option("app_version", "--by", help="Attribute defining the groups."),
    a: str = typer.Option(..., "--a", help="Value of group A."),
    b: str = typer.Option(..., "--b", help="Value of group B."),
    since: str | None = typer.Option(None, "--since", help="ISO date/time: only plays since."),
) -> None:
    """Quantile differences B - A (p10..p99) with 95% bootstrap intervals, and Mann-Whitney."""
    res = svc.compare_groups(
        context.settings(), metric=metric, by=by, a=a, b=b, since=_when(since, "--since")
    )
    table = Table(title=f"{metric}: {by}={b} minus {by}={a} (n={res.n_b} vs {res.n_a})")
    for col in ("quantile", "A", "B", "B - A", "95% low", "95% high"):
        table.add_column(col)
    for row in res.table.to_pylist():
        table.add_row(
            f"p{row['quantile'] * 100:g}",
            *(_fmt(row[k]) for k in ("a", "b", "diff", "low", "high")),
        )
    console.print(table)
    console.print(
        f"Mann-Whitney U = {res.u_statistic:.0f}, p = {res.p_value:.3g}, "
        f"P(B > A) = {res.prob_b_greater:.3f}"
    )


def register(parent: typer.Typer) -> None:
    """Attach ``reelmine quality`` to the main app."""
    parent.add_typer(app, name="quality")
