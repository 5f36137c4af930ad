"""A streaming-platform simulator with ground truth.

``simulate(config, out)`` writes a dataset in the contract of :mod:`reelmine.data.schema`
(one file per table) and ``out/truth/`` with everything that was planted: member tastes,
churners, quality incidents, fraud, experiment effects, campaign uplift, trending bursts,
search gaps and new-title demand. See ``docs/simulator.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reelmine.data.schema import TABLES
from reelmine.data.simulator import world
from reelmine.data.simulator._util import DAY_US
from reelmine.data.simulator.block import simulate_block
from reelmine.data.simulator.catalog import Catalog, catalog_from_movielens, generate_catalog
from reelmine.data.simulator.config import FORMATS, SimulationConfig
from reelmine.data.simulator.experiments import (
    RateMultiplier,
    experiments_table,
    plan_experiments,
    simulate_campaigns,
)
from reelmine.data.simulator.fraud import plan_fraud
from reelmine.data.simulator.interface import plan_ui, simulate_ui
from reelmine.data.simulator.members import device_isp, generate_members, users_table
from reelmine.data.simulator.quality import VALUES, make_quality_model, plan_incidents
from reelmine.data.simulator.truth import write_all_truth
from reelmine.data.simulator.viewing import BlockContext, plan_bursts
from reelmine.data.simulator.writer import TableWriter, contract_schema, write_json, write_table
from reelmine.errors import ConfigError

__all__ = ["SimulationConfig", "SimulationSummary", "simulate"]

_STREAM = {
    "catalog": 1,
    "quality": 2,
    "members": 3,
    "fraud": 4,
    "incidents": 5,
    "bursts": 6,
    "experiments": 7,
    "campaigns": 8,
    "ui_plan": 9,
    "block": 100,
    "ui": 200,
}


@dataclass
class SimulationSummary:
    """What a run wrote: row counts per table and per truth file, and how long it took."""

    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    truth: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _rng(seed: int, stream: str, block: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM[stream], block])


def _profiles(rng: np.random.Generator, ctx: BlockContext, n: int = 4000) -> dict[str, np.ndarray]:
    """Attribute tuples of typical plays (devices drawn by how much they are used)."""
    m = ctx.members
    w = np.repeat(m.v_rate / m.v_dev_count, m.v_dev_count)
    dev = rng.choice(len(w), size=n, p=w / w.sum())
    viewer = np.repeat(np.arange(len(m.v_user)), m.v_dev_count)[dev]
    hh = m.v_hh[viewer]
    country = m.country[m.v_user[viewer]]
    cdn_cum = np.cumsum(world.CDN_WEIGHTS, axis=1)[country]
    cdn = np.minimum((rng.random(n)[:, None] > cdn_cum).sum(1), len(world.CDNS) - 1)
    return {
        "device_type": m.dev_type[dev],
        "os": m.dev_os[dev],
        "app_version": m.dev_app[dev],
        "isp": device_isp(m, dev, hh),
        "cdn": cdn,
        "country": country,
    }


def simulate(config: SimulationConfig, out: Path) -> SimulationSummary:
    """Simulate a platform and write its dataset and ground truth to ``out``.

    Parameters
    ----------
    config : what to simulate (members, days, seed, catalogue, format, ...).
    out : folder to write; created if missing; existing table files are replaced.

    Returns
    -------
    SimulationSummary with row counts (tables and truth files) and the run time in seconds.
    """
    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    # A rerun replaces a previous one, in either format, so no stale table is left behind.
    for name in TABLES:
        for ext in FORMATS:
            (out / f"{name}.{ext}").unlink(missing_ok=True)
    seed, days, start_us = config.seed, config.days, config.start_us
    fmt = config.format

    cat: Catalog
    if config.catalog is not None:
        cat = catalog_from_movielens(_rng(seed, "catalog"), Path(config.catalog), start_us, days)
    else:
        cat = generate_catalog(_rng(seed, "catalog"), config.n_shows, start_us, days)
    quality = make_quality_model(_rng(seed, "quality"))
    members, country_pref = generate_members(
        _rng(seed, "members"),
        config.users,
        len(cat.genre_names),
        quality,
        start_us,
        days,
        config.sessions_per_day,
    )
    fraud = plan_fraud(_rng(seed, "fraud"), members, cat, start_us, days, config.fraud_rate)
    bursts = plan_bursts(_rng(seed, "bursts"), cat, start_us, days)
    exps = plan_experiments(_rng(seed, "experiments"), members, start_us, days)
    ctx = BlockContext(cat, members, bursts, start_us, days, RateMultiplier(exps, members.n))
    quality.incidents = plan_incidents(
        _rng(seed, "incidents"), _profiles(_rng(seed, "incidents", 1), ctx), start_us, days
    )
    titles_names = cat.titles.column("name").to_pylist()
    ui_plan = plan_ui(_rng(seed, "ui_plan"), [titles_names[i] for i in cat.show_title_idx])

    summary = SimulationSummary(out=out)
    summary.rows["users"] = write_table(out, "users", users_table(members), fmt)
    summary.rows["titles"] = write_table(out, "titles", cat.titles, fmt)
    summary.rows["experiments"] = write_table(
        out, "experiments", experiments_table(members, exps), fmt
    )
    campaigns, campaign_truth = simulate_campaigns(_rng(seed, "campaigns"), members, start_us, days)
    summary.rows["campaigns"] = write_table(out, "campaigns", campaigns, fmt)

    writers: dict[str, TableWriter | None] = dict.fromkeys(
        ("plays", "ratings", "logins", "ui_events")
    )
    p_off = l_off = e_off = s_off = 0
    for b, lo in enumerate(range(0, members.n, config.chunk_users)):  # per block of members
        hi = min(members.n, lo + config.chunk_users)
        tables, n_p, n_l = simulate_block(
            _rng(seed, "block", b), ctx, quality, fraud, lo, hi, p_off, l_off
        )
        ui, n_e, n_s = simulate_ui(
            _rng(seed, "ui", b), ctx, ui_plan, lo, hi, config.ui_fraction, e_off, s_off
        )
        tables["ui_events"] = ui
        p_off, l_off, e_off, s_off = p_off + n_p, l_off + n_l, e_off + n_e, s_off + n_s
        for name, table in tables.items():
            writer = writers[name]
            if writer is None:
                writer = writers[name] = TableWriter(
                    out, name, contract_schema(name, table.column_names), fmt
                )
            writer.write(table)
    for name, w in writers.items():
        assert w is not None
        w.close()
        summary.rows[name] = w.rows

    summary.truth = write_all_truth(
        out / "truth",
        config=config,
        cat=cat,
        members=members,
        quality=quality,
        fraud=fraud,
        bursts=bursts,
        exps=exps,
        campaign_truth=campaign_truth,
        ui_plan=ui_plan,
        country_pref=country_pref,
    )
    summary.seconds = round(time.perf_counter() - t_start, 3)
    write_json(
        out / "manifest.json",
        {
            "generator": "reelmine.data.simulator",
            "seed": seed,
            "config": config.to_dict(),
            "window": {
                "start": str(np.datetime64(start_us, "us")) + "Z",
                "end": str(np.datetime64(start_us + days * DAY_US, "us")) + "Z",
            },
            "format": fmt,
            "rows": summary.rows,
            "truth": summary.truth,
            "genres": cat.genre_names,
            "attribute_values": VALUES,
            "distinct_ids": {"plays": p_off, "logins": l_off, "ui_events": e_off},
        },
    )
    return summary
