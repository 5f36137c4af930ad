"""Fraud use cases: scan the warehouse, list flags, check raw account IDs, live checks.

The CLI, the API and the dashboard call these; the detectors run their SQL on the settings'
engine (:func:`reelmine.service.engine.open_reader`: the DuckDB warehouse, or Spark with
``--engine spark``) and flags are stored in the derived table ``fraud_flags``: in the DuckDB
warehouse, or as ``fraud_flags.parquet`` next to the Spark data (:func:`write_derived`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.engine import TableSource
from reelmine.data.pseudonym import Pseudonymiser
from reelmine.errors import ConfigError, NotFoundError
from reelmine.fraud.config import FraudConfig
from reelmine.fraud.flags import FLAG_SCHEMA, FLAG_TYPES, empty_flags, scan
from reelmine.fraud.households import households
from reelmine.fraud.live import LiveChecker
from reelmine.service.engine import open_reader, open_runner, write_derived
from reelmine.settings import Settings

FLAGS_TABLE = "fraud_flags"


@dataclass(frozen=True)
class ScanResult:
    """What a scan wrote: the flags, per-type summary and timing."""

    flags: pa.Table
    summary: pa.Table
    seconds: float


def summarize(flags: pa.Table) -> pa.Table:
    """Per flag type: ``type, flags, accounts, mean_score, max_score`` (every type listed)."""
    types, n, accounts, mean, top = [], [], [], [], []
    for t in FLAG_TYPES:
        f = flags.filter(pc.equal(flags["type"], t))
        types.append(t)
        n.append(f.num_rows)
        accounts.append(len(pc.unique(f["user_id"])) if f.num_rows else 0)
        s = f["score"].to_numpy() if f.num_rows else np.zeros(0)
        mean.append(float(s.mean()) if len(s) else 0.0)
        top.append(float(s.max()) if len(s) else 0.0)
    return pa.table(
        {"type": types, "flags": n, "accounts": accounts, "mean_score": mean, "max_score": top}
    )


def _nonempty(wh: TableSource, name: str) -> bool:
    return wh.has_table(name) and wh.count(name) > 0


def scan_warehouse(
    settings: Settings,
    *,
    since: datetime | None = None,
    config: FraudConfig | None = None,
    detectors: Sequence[str] | None = None,
) -> ScanResult:
    """Run every detector on the warehouse and store the flags in ``fraud_flags``.

    The detectors run on ``settings.engine``; the flags go to the DuckDB warehouse, or with
    the Spark engine to ``fraud_flags.parquet`` next to the Spark data. Without ``since`` the
    table is replaced; with it, stored flags whose window ends before ``since`` are kept and
    the new ones added.

    Raises
    ------
    NotFoundError
        When the warehouse holds no plays.
    """
    import time

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    t0 = time.perf_counter()
    with open_reader(settings) as wh:
        if not _nonempty(wh, "plays"):
            raise NotFoundError(f"warehouse {wh.path} holds no plays; run `reelmine ingest`")
        flags = scan(
            wh.query,
            since=since,
            have_logins=_nonempty(wh, "logins"),
            have_titles=_nonempty(wh, "titles"),
            config=config,
            detectors=detectors,
        )
        if since is not None and wh.has_table(FLAGS_TABLE):
            old = wh.table(FLAGS_TABLE).cast(FLAG_SCHEMA)
            keep = pc.less(
                old["window_end"], pa.scalar(since, FLAG_SCHEMA.field("window_end").type)
            )
            flags = pa.concat_tables([old.filter(keep), flags])
    write_derived(settings, FLAGS_TABLE, flags)
    return ScanResult(flags, summarize(flags), time.perf_counter() - t0)


def list_flags(
    settings: Settings,
    *,
    type: str | None = None,
    user_ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Stored flags (most severe first), optionally of one type or for some pseudonyms.

    Raises
    ------
    ConfigError
        For an unknown ``type``.
    NotFoundError
        When no scan has been run yet.
    """
    if type is not None and type not in FLAG_TYPES:
        raise ConfigError(f"unknown flag type {type!r}; known: {', '.join(FLAG_TYPES)}")
    with open_reader(settings) as wh:
        if not wh.has_table(FLAGS_TABLE):
            raise NotFoundError(f"no flags in {wh.path}; run `reelmine fraud scan` first")
        flags = wh.table(FLAGS_TABLE).cast(FLAG_SCHEMA)
    if type is not None:
        flags = flags.filter(pc.equal(flags["type"], type))
    if user_ids is not None:
        flags = flags.filter(pc.is_in(flags["user_id"], value_set=pa.array(list(user_ids))))
    if flags.num_rows:
        flags = flags.take(
            pc.sort_indices(flags, [("score", "descending"), ("window_start", "ascending")])
        )
    return flags.slice(0, limit) if limit is not None else flags


def check_users(settings: Settings, raw_ids: Sequence[str]) -> pa.Table:
    """Flags of the raw account IDs given (as support staff know them).

    Returns one row per flag with ``user_id`` holding the raw ID as given (an ID listed twice
    appears once); accounts without flags have no rows.
    """
    ids = list(dict.fromkeys(str(r).strip() for r in raw_ids if str(r).strip()))
    if not ids:
        return empty_flags()
    pseudo = Pseudonymiser.from_settings(settings, create=False).pseudonymise_ids(ids)
    back = dict(zip(pseudo, ids, strict=True))
    flags = list_flags(settings, user_ids=pseudo)
    raw = pa.array([back[u] for u in flags["user_id"].to_pylist()], pa.string())
    return flags.set_column(0, "user_id", raw)


def account_households(settings: Settings, user_id: str) -> pa.Table:
    """Households of one pseudonymised account (for the dashboard's map)."""
    with open_runner(settings) as run:
        hh = households(run)
    return hh.filter(pc.equal(hh["user_id"], user_id))


def live_checker(settings: Settings, config: FraudConfig | None = None) -> LiveChecker:
    """A :class:`LiveChecker` primed with every account's plan limit and country."""
    cfg = config or FraudConfig()
    checker = LiveChecker(concurrency=cfg.concurrency, travel=cfg.travel, stuffing=cfg.stuffing)
    with open_reader(settings) as wh:
        users = wh.table("users", columns=["user_id", "max_streams", "country"])
    for u, m, c in zip(
        users["user_id"].to_pylist(),
        users["max_streams"].to_pylist(),
        users["country"].to_pylist(),
        strict=True,
    ):  # once at start-up, one dict entry per account
        checker.set_account(u, max_streams=m, country=c)
    return checker
