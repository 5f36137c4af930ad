"""Interface-insight use cases: browse funnels, row and position click-through with position
bias, search behaviour and the offline evaluation of the search ranker.

Each function opens the data of ``settings.engine`` (the DuckDB warehouse, or Spark over the
Parquet tables) with :func:`reelmine.service.engine.open_reader`, runs the portable SQL of
:mod:`reelmine.interface` there and post-processes the Arrow results. Every table a face
releases keeps a ``members`` column (distinct members behind the row) for the privacy gate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content import search as content_search
from reelmine.data.engine import TableSource
from reelmine.errors import NotFoundError
from reelmine.interface import funnels, positions, ranker
from reelmine.interface import search as isearch
from reelmine.service.engine import open_reader
from reelmine.settings import Settings


def _require(src: TableSource, table: str = "ui_events") -> None:
    if not src.has_table(table) or src.count(table) == 0:
        raise NotFoundError(
            f"no {table} in the data: interface insights need {table} "
            "(run `reelmine ingest` on a folder that has it, or `reelmine demo`)"
        )


@dataclass(frozen=True)
class FunnelReport:
    """``steps``: one row per group and step (:func:`reelmine.interface.funnels.funnel_steps`);
    ``summary``: one row per group (:func:`~reelmine.interface.funnels.funnel_summary`)."""

    by: tuple[str, ...]
    steps: pa.Table
    summary: pa.Table


def funnel(
    settings: Settings,
    *,
    by: Sequence[str] = (),
    experiment_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> FunnelReport:
    """Browse -> title page -> play funnel of browse sessions, by ``entry``, ``device_type``,
    ``country`` and/or ``variant`` (of ``experiment_id``)."""
    dims = funnels.check_funnel_dims(tuple(by))
    with open_reader(settings) as src:
        _require(src)
        if experiment_id is not None:
            _require(src, "experiments")
            n = src.query(
                "SELECT count(*) AS n FROM experiments WHERE experiment_id = "
                + funnels.sql_quote(experiment_id)
            )["n"][0].as_py()
            if not n:
                raise NotFoundError(f"no experiment {experiment_id!r} in the data")
        counts = src.query(
            funnels.funnel_sql(by=dims, experiment_id=experiment_id, since=since, until=until)
        )
    return FunnelReport(
        dims, funnels.funnel_steps(counts, dims), funnels.funnel_summary(counts, dims)
    )


@dataclass(frozen=True)
class PositionReport:
    """Click-through by row and cell, and the position-bias model.

    ``cells``: one row per row name and cell with ``ctr``/``play_rate``/``play_through``;
    ``rows``: per row (raw); ``debiased``: per row with position bias removed; ``bias``: the
    fitted :class:`~reelmine.interface.positions.PositionBias`; ``columns_randomised``: column
    examination from within-row randomisation (a model-free check of the column factors).
    """

    cells: pa.Table
    rows: pa.Table
    debiased: pa.Table
    bias: positions.PositionBias
    columns_randomised: pa.Table


def position_report(
    settings: Settings,
    *,
    page: str | None = "home",
    unit: str = "member_title",
    method: str = "poisson",
    since: str | None = None,
    until: str | None = None,
) -> PositionReport:
    """Impressions, click- and play-through by row and grid cell on ``page``, with position
    bias estimated by the position-based click model (see :mod:`reelmine.interface.positions`)."""
    with open_reader(settings) as src:
        _require(src)
        cells = src.query(positions.cell_stats_sql(page=page, since=since, until=until))
        counts = src.query(
            positions.item_cell_counts_sql(unit=unit, page=page, since=since, until=until)
        )
    if cells.num_rows == 0:
        raise NotFoundError(f"no impressions with a row and column position on page {page!r}")
    cells = cells.sort_by(
        [("row_position", "ascending"), ("column_position", "ascending"), ("row_name", "ascending")]
    )
    bias = positions.fit_position_bias(counts, method=method)
    return PositionReport(
        positions.add_rates(cells),
        positions.row_stats(cells),
        positions.debiased_rows(cells, bias),
        bias,
        positions.column_exam_randomised(cells),
    )


@dataclass(frozen=True)
class SearchReport:
    """Search behaviour: one-row ``summary`` and the tables of :mod:`reelmine.interface.search`
    plus ``gaps`` (frequent queries matching nothing in the catalogue, from
    :func:`reelmine.content.search.search_gaps`)."""

    summary: pa.Table
    top: pa.Table
    zero_result: pa.Table
    reformulations: pa.Table
    chains: pa.Table
    missed: pa.Table
    gaps: pa.Table


def _search_events(src: TableSource, since: str | None, until: str | None) -> pa.Table:
    ev = src.query(isearch.search_events_sql(since=since, until=until))
    if ev.num_rows == 0:
        raise NotFoundError("no search events in ui_events (event_type = 'search')")
    return ev


def search_report(
    settings: Settings,
    *,
    limit: int = 50,
    min_members: int = 3,
    since: str | None = None,
    until: str | None = None,
) -> SearchReport:
    """Top queries, zero-result queries, conversion, reformulations, missed titles and gaps
    (each table cut to ``limit`` rows; gaps need ``min_members`` distinct searchers)."""
    with open_reader(settings) as src:
        _require(src)
        ev = isearch.prepare(_search_events(src, since, until))
        titles = src.table("titles")
        queries = src.query(content_search.search_queries_sql(since=since, until=until))
    return SearchReport(
        summary=isearch.conversion_summary(ev),
        top=isearch.top_queries(ev, limit=limit),
        zero_result=isearch.zero_result_queries(ev, limit=limit),
        reformulations=isearch.reformulations(ev, limit=limit),
        chains=isearch.reformulation_chains(ev, limit=limit),
        missed=isearch.missed_titles(ev, titles, limit=limit),
        gaps=content_search.search_gaps(queries, titles, min_members=min_members).slice(0, limit),
    )


def _catalogue(src: TableSource) -> tuple[pa.Table, pa.Table]:
    from reelmine.service.content import shows

    titles = shows(src.table("titles"))
    if titles.num_rows == 0:
        raise NotFoundError("no titles to search")
    plays = src.query("SELECT user_id, title_id FROM plays")
    return titles, plays


def evaluate_rankers(
    settings: Settings,
    *,
    k: int = 10,
    since: str | None = None,
    until: str | None = None,
    params: dict[str, Any] | None = None,
) -> pa.Table:
    """Plain BM25 and the blended :class:`~reelmine.interface.ranker.SearchRanker` (with
    ``params``) on the logged search -> play pairs, in the same run.

    Returns
    -------
    ``model, pairs, mrr, recall_at_k, k, fit_s, query_ms`` (``query_ms``: mean milliseconds per
    query, scored in batches), one row per model.
    """
    with open_reader(settings) as src:
        _require(src)
        pairs = isearch.search_play_pairs(_search_events(src, since, until))
        titles, plays = _catalogue(src)
    if pairs.num_rows == 0:
        raise NotFoundError("no search led to a play: nothing to evaluate a ranker on")
    rows: list[dict[str, object]] = []
    models: list[tuple[str, ranker.BM25Search, tuple[pa.Table, ...]]] = [
        ("bm25", ranker.BM25Search(), (titles,)),
        ("blended", ranker.SearchRanker(**(params or {})), (titles, plays)),
    ]
    for name, model, data in models:
        t0 = time.perf_counter()
        model.fit(*data)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = ranker.evaluate_search(model, pairs, k=k)
        q_ms = (time.perf_counter() - t0) * 1000.0 / max(pairs.num_rows, 1)
        rows.append(
            {
                "model": name,
                "pairs": int(m["pairs"]),
                "mrr": m["mrr"],
                "recall_at_k": m["recall_at_k"],
                "k": k,
                "fit_s": fit_s,
                "query_ms": q_ms,
            }
        )
    return pa.Table.from_pylist(rows)


def search_titles(
    settings: Settings, query: str, *, user_id: str | None = None, k: int = 10
) -> pa.Table:
    """Search the catalogue with the blended ranker: ``rank, title_id, name, score``."""
    with open_reader(settings) as src:
        titles, plays = _catalogue(src)
    model = ranker.SearchRanker().fit(titles, plays)
    ids, scores = model.search([query], users=[user_id], k=k)
    idx = pa.array(range(len(ids[0])))
    names = titles["name"].combine_chunks()
    pos = pc.index_in(pa.array(ids[0].tolist()), value_set=titles["title_id"].combine_chunks())
    return pa.table(
        {
            "rank": pc.add(idx, 1),
            "title_id": pa.array(ids[0].tolist(), pa.string()),
            "name": names.take(pos),
            "score": pa.array(scores[0].tolist(), pa.float64()),
        }
    )
