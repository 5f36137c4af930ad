"""Market insights: members, signups, cancellations, activity and cohort retention by country
and demographic; demand-vs-supply gaps, regional taste and market similarity.

Aggregates are portable SQL strings run by the warehouse or
:func:`reelmine.data.engine.sql_on_tables`; the rest is NumPy on the Arrow results.
"""

from reelmine.market.markets import cohort_sql, members_sql, plan_mix_sql, retention_curves
from reelmine.market.opportunity import (
    demand_supply_sql,
    market_similarity,
    opportunities,
    taste_lift,
    taste_sql,
)

__all__ = [
    "cohort_sql",
    "demand_supply_sql",
    "market_similarity",
    "members_sql",
    "opportunities",
    "plan_mix_sql",
    "retention_curves",
    "taste_lift",
    "taste_sql",
]
