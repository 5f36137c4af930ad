"""``reelmine recommend``: train, top-N for members, rating predictions, rows, similar titles.

Per-member output (top, predict, rows) is the serving path: role ``service`` or ``admin`` as in
the API (an analyst key is refused), and each call is written to the audit log."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.table import Table

from reelmine.cli import context
from reelmine.cli._output import serving
from reelmine.errors import DataError
from reelmine.service import recommend as service

app = typer.Typer(
    help="Recommendations: train models, top-N, rows, similar titles.", no_args_is_help=True
)
console = Console()


def _read_column_file(path: Path, columns: tuple[str, ...]) -> list[list[str]]:
    """Rows of a CSV with a header holding ``columns`` (or a bare one-ID-per-line file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read: {exc}", source=str(path)) from exc
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DataError("the file is empty", source=str(path))
    reader = list(csv.reader(lines))
    header = [h.strip() for h in reader[0]]
    if all(c in header for c in columns):
        pos = [header.index(c) for c in columns]
        body, first = reader[1:], 2
    elif len(columns) == 1 and len(header) == 1:
        pos, body, first = [0], reader, 1  # no header: one ID per line
    else:
        raise DataError(
            f"expected a header with columns {', '.join(columns)}", source=str(path), line=1
        )
    out = []
    for n, row in enumerate(body, start=first):
        if len(row) <= max(pos) or any(not row[p].strip() for p in pos):
            missing = next(
                c for c, p in zip(columns, pos, strict=True) if len(row) <= p or not row[p].strip()
            )
            raise DataError("missing value", source=str(path), line=n, column=missing)
        out.append([row[p].strip() for p in pos])
    return out


def _write(table: pa.Table, out: Path | None) -> None:
    if out is None:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        sys.stdout.write(sink.getvalue().to_pybytes().decode())
    else:
        pacsv.write_csv(table, out)
        console.print(f"wrote {table.num_rows} rows to {out}")


@app.command()
def train(
    model: str | None = typer.Option(
        None, "--model", help="Top-N model; default: the hybrid ranker plus the rating model."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Bundle folder (default: a new one under the artifacts folder, made current).",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Train recommendation models from the warehouse."""
    with console.status("training"):
        result = service.train(context.settings(), model=model, out=out, random_state=seed)
    table = Table(title=f"trained {result.model} in {result.seconds:.1f} s")
    for col in ("bundle", "rating model", "members", "titles", "interactions", "from"):
        table.add_column(col)
    table.add_row(
        str(result.bundle),
        result.rating_model or "-",
        str(result.users),
        str(result.titles),
        str(result.interactions),
        result.source,
    )
    console.print(table)


@app.command()
def top(
    users: Path = typer.Option(
        ..., "--users", help="CSV with a user_id column (raw IDs), or one ID per line."
    ),
    k: int = typer.Option(10, "--k", min=1, max=1000, help="Titles per member."),
    out: Path | None = typer.Option(None, "--out", help="Output CSV (default: standard output)."),
) -> None:
    """Top-k per member: CSV user_id,rank,title_id,score,reason (raw user IDs)."""
    ids = [r[0] for r in _read_column_file(users, ("user_id",))]
    serving("reelmine recommend top", len(set(ids)))
    _write(service.batch_top(context.settings(), ids, k), out)


@app.command()
def predict(
    pairs: Path = typer.Option(
        ..., "--pairs", help="CSV with user_id,title_id columns (raw user IDs)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Output CSV (default: standard output)."),
) -> None:
    """Predicted ratings: CSV user_id,title_id,prediction."""
    rows = _read_column_file(pairs, ("user_id", "title_id"))
    users_, titles = [r[0] for r in rows], [r[1] for r in rows]
    serving("reelmine recommend predict", len(set(users_)))
    pred = service.RecommendationService(context.settings()).predict(users_, titles)
    _write(pa.table({"user_id": users_, "title_id": titles, "prediction": pred}), out)


@app.command()
def rows(
    user_id: str = typer.Argument(..., help="Raw member ID."),
    country: str | None = typer.Option(None, "--country", help="Override the member's country."),
) -> None:
    """Home-page rows for a member, each title with its reason."""
    serving("reelmine recommend rows", 1)
    page = service.RecommendationService(context.settings()).rows(user_id, country=country)
    bundle = service.RecommendationService(context.settings()).refresh()
    for row in page:
        table = Table(title=row.name, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("title")
        table.add_column("reason")
        for n, item in enumerate(row.items, start=1):
            table.add_row(
                str(n), f"{bundle.names[item.item]} ({bundle.item_id(item.item)})", item.reason
            )
        console.print(table)


@app.command()
def similar(
    title_id: str = typer.Argument(..., help="Title ID."),
    k: int = typer.Option(10, "--k", min=1, max=200),
) -> None:
    """Titles similar to a title (for a title page)."""
    recs = service.RecommendationService(context.settings()).similar(title_id, k)
    table = Table(title=f"similar to {title_id}")
    for col in ("#", "title_id", "name", "score"):
        table.add_column(col)
    for r in recs:
        table.add_row(str(r.rank), r.title_id, r.name, f"{r.score:.3f}")
    console.print(table)


@app.command()
def evaluate(
    models: str = typer.Option(
        "hybrid,ease,als,popularity", "--models", help="Comma-separated model names."
    ),
    test_fraction: float = typer.Option(
        0.2, "--test-fraction", help="Latest share of each member's history held out."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the table as CSV."),
) -> None:
    """Offline evaluation on the warehouse (per-member temporal holdout, full ranking)."""
    names = [m.strip() for m in models.split(",") if m.strip()]
    with console.status("evaluating"):
        result = service.evaluate(context.settings(), models=names, test_fraction=test_fraction)
    # One column per model, one row per metric: readable however many metrics there are.
    records = result.to_pylist()
    table = Table(title="offline evaluation (per-member temporal holdout, full ranking)")
    table.add_column("metric")
    for rec in records:
        table.add_column(str(rec["model"]), justify="right")
    for metric in result.column_names[1:]:
        cells = [rec[metric] for rec in records]
        table.add_row(metric, *[f"{v:.4f}" if isinstance(v, float) else str(v) for v in cells])
    console.print(table)
    if out is not None:
        pacsv.write_csv(result, out)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="recommend")
