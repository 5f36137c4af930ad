"""Interface insights: browse funnels, row and position click-through with position bias,
search behaviour and a search ranker over the catalogue.

Heavy aggregates are portable SQL strings (query builders) over ``ui_events``, ``plays``,
``users``, ``experiments`` and ``titles``; the click model, search statistics and rankers are
NumPy/SciPy/Arrow on their results. The warehouse-facing use cases live in
:mod:`reelmine.service.interface`; see ``docs/interface.md``.
"""

from reelmine.interface.funnels import funnel_sql, funnel_steps, funnel_summary
from reelmine.interface.positions import (
    PositionBias,
    add_rates,
    cell_stats_sql,
    column_exam_randomised,
    debiased_rows,
    fit_position_bias,
    item_cell_counts_sql,
    row_stats,
)
from reelmine.interface.ranker import BM25Search, SearchRanker, evaluate_search
from reelmine.interface.search import (
    conversion_summary,
    missed_titles,
    prepare,
    reformulation_chains,
    reformulations,
    search_events_sql,
    search_play_pairs,
    top_queries,
    zero_result_queries,
)

__all__ = [
    "BM25Search",
    "PositionBias",
    "SearchRanker",
    "add_rates",
    "cell_stats_sql",
    "column_exam_randomised",
    "conversion_summary",
    "debiased_rows",
    "evaluate_search",
    "fit_position_bias",
    "funnel_sql",
    "funnel_steps",
    "funnel_summary",
    "item_cell_counts_sql",
    "missed_titles",
    "prepare",
    "reformulation_chains",
    "reformulations",
    "row_stats",
    "search_events_sql",
    "search_play_pairs",
    "top_queries",
    "zero_result_queries",
]
