"""``reelmine quality``: report, incidents, explain, compare (thin over the service layer)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import typer

from reelmine.cli import context
from reelmine.cli._output import console, gated, is_hidden, print_table
from reelmine.errors import ConfigError
from reelmine.service import quality as svc

app = typer.Typer(
    help="Streaming quality: metrics, incidents, root causes, quantile comparisons.",
    no_args_is_help=True,
)
WHAT = "reelmine quality"


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
    # The quality service counts sessions, not members: the closest count the gate can use.
    res = gated(res, what=f"{WHAT} report", group_by=["bucket", *attrs], members="sessions")
    print_table(res, "playback quality", formats={c: _fmt for c in res.column_names})


@app.command()
def incidents(
    metric: str = typer.Option("error_rate", "--metric", help="error_rate, ebvs_rate, ..."),
    bucket: int = typer.Option(3600, "--bucket", help="Time bucket in seconds."),
    z: float = typer.Option(5.0, "--z", help="Robust z-score threshold."),
) -> None:
    """Anomaly windows per slice: each country, CDN, ISP, device type and app version, and for
    session shares (error, exit-before-start, bad-session rates) each pair of them."""
    settings = context.settings()
    # The detector never scores a slice-bucket under k sessions (the gate at the source), so
    # every incident describes at least that many; the gate then confirms it.
    floor = max(30, settings.min_group_size)
    found = svc.quality_incidents(
        settings, metric=metric, bucket_seconds=bucket, z_threshold=z, min_count=floor
    )
    t = pa.table(
        {
            "id": pa.array([i.incident_id for i in found], pa.string()),
            "slice": pa.array(
                [",".join(f"{k}={v}" for k, v in i.window.slice.items()) for i in found],
                pa.string(),
            ),
            "start": pa.array(
                [datetime.fromtimestamp(i.window.start, tz=UTC).isoformat() for i in found],
                pa.string(),
            ),
            "end": pa.array(
                [
                    datetime.fromtimestamp(i.window.end + i.bucket_seconds, tz=UTC).isoformat()
                    for i in found
                ],
                pa.string(),
            ),
            "severity": pa.array([float(i.window.severity) for i in found], pa.float64()),
            "value": pa.array([float(i.window.value) for i in found], pa.float64()),
            "baseline": pa.array([float(i.window.baseline) for i in found], pa.float64()),
            "sessions": pa.array([floor] * len(found), pa.int64()),
        }
    )
    t = gated(
        t, what=f"{WHAT} incidents", group_by=["id", "slice"], members="sessions", totals=False
    )
    cols = ["id", "slice", "start", "end", "severity", "value", "baseline"]
    print_table(t, f"incidents ({metric})", cols, formats={"severity": lambda v: f"{v:.1f}"})


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
    t = pa.table(
        {
            "rank": pa.array(range(1, len(res.causes) + 1), pa.int64()),
            "root cause": pa.array([c.label for c in res.causes], pa.string()),
            "explained": pa.array([float(c.explained) for c in res.causes], pa.float64()),
            "expected": pa.array([float(c.expected) for c in res.causes], pa.float64()),
            "actual": pa.array([float(c.actual) for c in res.causes], pa.float64()),
            "sessions": pa.array([int(c.count) for c in res.causes], pa.int64()),
        }
    )
    # Causes overlap (nested slices) and sum to the window's total: complementary suppression.
    t = gated(t, what=f"{WHAT} explain", group_by=["root cause"], members="sessions")
    print_table(
        t,
        f"root causes (deviation {res.deviation:.4g})",
        ["rank", "root cause", "explained", "expected", "actual", "sessions"],
        formats={"explained": lambda v: f"{v:.0%}", "expected": _fmt, "actual": _fmt},
    )


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
    # Every quantile row describes both groups: gated by the smaller one, since B - A would
    # give away a hidden group.
    t = res.table.select(["quantile", "a", "b", "diff", "low", "high"])
    t = t.append_column("plays", pa.array([min(res.n_a, res.n_b)] * t.num_rows, pa.int64()))
    t = gated(t, what=f"{WHAT} compare", group_by=["quantile"], members="plays", totals=False)
    hidden = any(is_hidden(t))
    t = t.drop_columns(["plays"])
    t = t.rename_columns(
        ["quantile", "A", "B", "B - A", "95% low", "95% high", *t.column_names[6:]]
    )
    n = "n suppressed" if hidden else f"n={res.n_b} vs {res.n_a}"
    print_table(
        t,
        f"{metric}: {by}={b} minus {by}={a} ({n})",
        formats={"quantile": lambda v: f"p{v * 100:g}", **{c: _fmt for c in t.column_names[1:]}},
    )
    if hidden:
        console.print("Mann-Whitney test suppressed: a group has too few plays")
    else:
        console.print(
            f"Mann-Whitney U = {res.u_statistic:.0f}, p = {res.p_value:.3g}, "
            f"P(B > A) = {res.prob_b_greater:.3f}"
        )


def register(parent: typer.Typer) -> None:
    """Attach ``reelmine quality`` to the main app."""
    parent.add_typer(app, name="quality")
