"""Fraud and account security: concurrent streams, impossible travel, credential stuffing,
household sharing and anomalous accounts, each a documented rule or model over ``plays``,
``logins`` and ``users`` (see ``docs/fraud.md``).

Every detector takes a SQL runner (``Warehouse.query``, or :func:`tables_runner` over Arrow
tables) and returns flags with :data:`FLAG_SCHEMA`; :func:`scan` runs them all and
:class:`LiveChecker` applies three of them to events as they arrive.
"""

from reelmine.fraud._tables import conform, tables_runner
from reelmine.fraud.anomaly import anomaly_flags, anomaly_scores
from reelmine.fraud.concurrency import concurrency_episodes, concurrency_flags
from reelmine.fraud.config import (
    AnomalyParams,
    ConcurrencyParams,
    FraudConfig,
    HouseholdParams,
    StuffingParams,
    TravelParams,
)
from reelmine.fraud.evaluate import anomaly_auc, benign_flagged, quality_by_type
from reelmine.fraud.flags import FLAG_SCHEMA, FLAG_TYPES, Flag, flags_from_table, scan
from reelmine.fraud.households import household_flags, households
from reelmine.fraud.live import LiveChecker
from reelmine.fraud.stuffing import stuffing_flags
from reelmine.fraud.travel import travel_flags

__all__ = [
    "FLAG_SCHEMA",
    "FLAG_TYPES",
    "AnomalyParams",
    "ConcurrencyParams",
    "Flag",
    "FraudConfig",
    "HouseholdParams",
    "LiveChecker",
    "StuffingParams",
    "TravelParams",
    "anomaly_auc",
    "anomaly_flags",
    "anomaly_scores",
    "benign_flagged",
    "concurrency_episodes",
    "concurrency_flags",
    "conform",
    "flags_from_table",
    "household_flags",
    "households",
    "quality_by_type",
    "scan",
    "stuffing_flags",
    "tables_runner",
    "travel_flags",
]
