"""The common flag record every detector emits, and :func:`scan`, which runs them all.

A flag says *which* (pseudonymised) account, *what* pattern, *how severe* (score in [0, 1]),
*when* (window) and *why* (human-readable evidence). Detectors return flags as an Arrow table
with :data:`FLAG_SCHEMA`; :class:`Flag` is the same record as a Python object for the live
checks and the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.engine import SqlRunner
from reelmine.errors import ConfigError
from reelmine.fraud.config import FraudConfig

FLAG_TYPES = (
    "concurrent_streams",
    "impossible_travel",
    "credential_stuffing",
    "household_sharing",
    "anomaly",
)
"""Flag types; ``anomaly`` is the unsupervised score (planted as ``automated_playback``)."""

_TS = pa.timestamp("us", tz="UTC")
FLAG_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("type", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("window_start", _TS),
        pa.field("window_end", _TS),
        pa.field("evidence", pa.string()),
    ]
)
"""Columns of every flag table (and of the warehouse table ``fraud_flags``)."""


@dataclass(frozen=True)
class Flag:
    """One flag: a pseudonymised account, the pattern, its severity and the evidence.

    Attributes
    ----------
    user_id : pseudonymised account.
    type : one of :data:`FLAG_TYPES`.
    score : severity in [0, 1]; each detector documents how it is computed.
    window_start, window_end : UTC time window the evidence covers.
    evidence : one human-readable sentence, e.g. "4 simultaneous streams on ...; plan allows 2".
    """

    user_id: str
    type: str
    score: float
    window_start: datetime
    window_end: datetime
    evidence: str

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly dict (times as ISO strings)."""
        return {
            "user_id": self.user_id,
            "type": self.type,
            "score": round(float(self.score), 4),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "evidence": self.evidence,
        }


def empty_flags() -> pa.Table:
    """A flag table with no rows."""
    return FLAG_SCHEMA.empty_table()


def seconds_to_ts(seconds: np.ndarray | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Epoch seconds (float) -> UTC microsecond timestamps."""
    s = np.asarray(
        seconds.to_numpy(zero_copy_only=False)
        if isinstance(seconds, pa.Array | pa.ChunkedArray)
        else seconds,
        dtype=np.float64,
    )
    return pa.array(np.round(s * 1e6).astype(np.int64), type=pa.int64()).cast(_TS)


def fmt_time(seconds: float) -> str:
    """``YYYY-MM-DD HH:MM`` (UTC) of epoch seconds, as used in evidence."""
    return datetime.fromtimestamp(float(seconds), tz=UTC).strftime("%Y-%m-%d %H:%M")


def make_flags(
    user_id: pa.Array | pa.ChunkedArray | Sequence[str],
    type_: str,
    score: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    evidence: Sequence[str],
) -> pa.Table:
    """Assemble a flag table from columns (times in epoch seconds)."""
    n = len(score)
    return pa.table(
        {
            "user_id": pa.array(user_id, pa.string())
            if not isinstance(user_id, pa.Array | pa.ChunkedArray)
            else user_id.cast(pa.string()),
            "type": pa.array([type_] * n, pa.string()),
            "score": pa.array(np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)),
            "window_start": seconds_to_ts(start_s),
            "window_end": seconds_to_ts(end_s),
            "evidence": pa.array(list(evidence), pa.string()),
        },
        schema=FLAG_SCHEMA,
    )


def flags_from_table(table: pa.Table) -> list[Flag]:
    """Flag objects from a flag table (for the API and live answers; flags are few)."""
    return [
        Flag(
            user_id=r["user_id"],
            type=r["type"],
            score=float(r["score"]),
            window_start=r["window_start"],
            window_end=r["window_end"],
            evidence=r["evidence"],
        )
        for r in table.to_pylist()
    ]


def flags_to_table(flags: Sequence[Flag]) -> pa.Table:
    """Flag table from Flag objects."""
    if not flags:
        return empty_flags()
    return pa.Table.from_pylist([f.__dict__ for f in flags], schema=FLAG_SCHEMA)


def since_clause(column: str, since: datetime | None) -> str:
    """``WHERE``-ready predicate keeping rows at or after ``since`` (``TRUE`` when None)."""
    if since is None:
        return "TRUE"
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    text = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{column} >= CAST('{text}' AS TIMESTAMP)"


def scan(
    run: SqlRunner,
    *,
    since: datetime | None = None,
    have_logins: bool = True,
    have_titles: bool = True,
    config: FraudConfig | None = None,
    detectors: Sequence[str] | None = None,
) -> pa.Table:
    """Run every detector through ``run`` and return all flags, most severe first.

    Parameters
    ----------
    run : executes SQL naming the contract tables ``plays``, ``logins``, ``users``, ``titles``
        (``Warehouse.query`` or :func:`reelmine.data.engine.runner_on_tables`).
    since : only events at or after this UTC time are scanned.
    have_logins, have_titles : whether those tables exist (detectors needing them are skipped).
    config : a :class:`reelmine.fraud.config.FraudConfig`; defaults when None.
    detectors : subset of :data:`FLAG_TYPES` to run (default all).
    """
    from reelmine.fraud.anomaly import anomaly_flags
    from reelmine.fraud.concurrency import concurrency_flags
    from reelmine.fraud.households import household_flags
    from reelmine.fraud.stuffing import stuffing_flags
    from reelmine.fraud.travel import travel_flags

    cfg = config or FraudConfig()
    wanted = tuple(detectors) if detectors is not None else FLAG_TYPES
    unknown = set(wanted) - set(FLAG_TYPES)
    if unknown:
        raise ConfigError(f"unknown detector(s) {sorted(unknown)}; known: {', '.join(FLAG_TYPES)}")
    parts = []
    if "concurrent_streams" in wanted:
        parts.append(concurrency_flags(run, since=since, params=cfg.concurrency))
    if "impossible_travel" in wanted:
        parts.append(
            travel_flags(
                run,
                since=since,
                params=cfg.travel,
                use_logins=have_logins,
                bursts=cfg.stuffing,
            )
        )
    if "credential_stuffing" in wanted and have_logins:
        parts.append(stuffing_flags(run, since=since, params=cfg.stuffing))
    if "household_sharing" in wanted:
        parts.append(household_flags(run, since=since, params=cfg.households))
    if "anomaly" in wanted:
        parts.append(anomaly_flags(run, since=since, params=cfg.anomaly, use_titles=have_titles))
    out = pa.concat_tables([p.cast(FLAG_SCHEMA) for p in parts]) if parts else empty_flags()
    if out.num_rows:
        out = out.take(pc.sort_indices(out, [("score", "descending"), ("user_id", "ascending")]))
    return out
