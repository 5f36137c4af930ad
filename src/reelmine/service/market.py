"""Market use cases over the warehouse: members and activity by country and demographic,
cohort retention, plan mix, demand-vs-supply gaps, opportunities, regional taste and market
similarity. Every table keeps a ``members`` column for the privacy gate."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content import search
from reelmine.data.engine import TableSource
from reelmine.errors import NotFoundError
from reelmine.market import markets, opportunity
from reelmine.service.engine import open_reader
from reelmine.settings import Settings


def _open(settings: Settings) -> AbstractContextManager[TableSource]:
    # The engine of the settings: the DuckDB warehouse, or Spark over the Parquet data.
    return open_reader(settings)


def _require(wh: TableSource, table: str = "plays") -> None:
    if not wh.has_table(table) or wh.count(table) == 0:
        raise NotFoundError(
            f"the warehouse {wh.path} holds no {table}; run `reelmine ingest` first"
        )


def members(
    settings: Settings, *, period: str = "month", by: Sequence[str] = ("country",)
) -> pa.Table:
    """Members, signups, cancellations, active rate and hours per member per period."""
    with _open(settings) as wh:
        _require(wh, "users")
        _require(wh)
        return wh.query(markets.members_sql(period=period, by=by))


def retention(settings: Settings, *, by: Sequence[str] = (), max_offset: int = 24) -> pa.Table:
    """Cohort retention curves by signup month."""
    with _open(settings) as wh:
        _require(wh, "users")
        _require(wh)
        return markets.retention_curves(wh.query(markets.cohort_sql(by=by)), max_offset=max_offset)


def plan_mix(settings: Settings, *, by: Sequence[str] = ("country",)) -> pa.Table:
    """Share of current members on each plan."""
    with _open(settings) as wh:
        _require(wh, "users")
        return wh.query(markets.plan_mix_sql(by=by))


def demand_supply(settings: Settings) -> pa.Table:
    """Per country and genre: share of viewing vs share of the available catalogue."""
    with _open(settings) as wh:
        _require(wh)
        return wh.query(opportunity.demand_supply_sql())


def opportunities(settings: Settings, *, top: int | None = 20) -> pa.Table:
    """Ranked (country, genre) opportunities with the country's unmet search demand."""
    with _open(settings) as wh:
        _require(wh)
        ds = wh.query(opportunity.demand_supply_sql())
        gaps_c = None
        if wh.has_table("ui_events") and wh.count("ui_events") > 0:
            q = wh.query(search.search_queries_sql())
            titles = wh.table("titles", columns=["title_id", "name", "genres"])
            gaps_c = search.gaps_by_country(q, search.search_gaps(q, titles))
    return opportunity.opportunities(ds, search_gaps=gaps_c, top=top)


def regional_taste(
    settings: Settings,
    *,
    level: str = "genre",
    country: str | None = None,
    min_members: int = 10,
    confidence: float = 0.95,
) -> pa.Table:
    """Genres (or titles) over- and under-indexing per country against the global mix."""
    with _open(settings) as wh:
        _require(wh)
        t = opportunity.taste_lift(
            wh.query(opportunity.taste_sql(level=level)),
            confidence=confidence,
            min_members=min_members,
        )
    if country is not None:
        t = t.filter(pc.equal(t["country"], country))
    return t


def similarity(settings: Settings) -> pa.Table:
    """Cosine similarity between countries' genre mixes."""
    with _open(settings) as wh:
        _require(wh)
        return opportunity.market_similarity(wh.query(opportunity.taste_sql()))
