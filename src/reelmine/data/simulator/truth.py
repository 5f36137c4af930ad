"""Ground truth: what the simulator planted, written to ``out/truth/`` (documented in
``docs/simulator.md``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from reelmine.data.simulator._util import DAY_US
from reelmine.data.simulator.catalog import Catalog
from reelmine.data.simulator.config import SimulationConfig
from reelmine.data.simulator.experiments import Experiment, experiments_truth
from reelmine.data.simulator.fraud import FraudPlan
from reelmine.data.simulator.interface import (
    AGE_BANDS,
    ART_LIFT,
    COL_EXAM,
    GAP_QUERIES,
    ROW_EXAM,
    UiPlan,
)
from reelmine.data.simulator.members import Members
from reelmine.data.simulator.quality import INCIDENT_METRICS, QualityModel
from reelmine.data.simulator.viewing import NOVELTY, NOVELTY_DAYS, Bursts
from reelmine.data.simulator.writer import write_json, write_truth

TS = pa.timestamp("us", tz="UTC")


def _ts(values: np.ndarray | list[int], mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask).cast(TS)


def _fraud_table(rows: list[dict], m: Members) -> pa.Table:
    users = np.array([r["user"] for r in rows], dtype=np.int64)
    return pa.table(
        {
            "user_id": m.user_ids.take(pa.array(users, type=pa.int64())),
            "type": pa.array([r["type"] for r in rows], type=pa.string()),
            "window_start": _ts([r["window_start"] for r in rows]),
            "window_end": _ts([r["window_end"] for r in rows]),
            "details": pa.array([r["details"] for r in rows], type=pa.string()),
        }
    )


def write_all_truth(
    truth: Path,
    *,
    config: SimulationConfig,
    cat: Catalog,
    members: Members,
    quality: QualityModel,
    fraud: FraudPlan,
    bursts: Bursts,
    exps: list[Experiment],
    campaign_truth: list[dict],
    ui_plan: UiPlan,
    country_pref: np.ndarray,
) -> dict[str, int]:
    """Write every truth file; returns rows per file."""
    m = members
    start_us = config.start_us
    title_ids = cat.titles.column("title_id").combine_chunks()
    show_ids = title_ids.take(pa.array(cat.show_title_idx))
    rows: dict[str, int] = {}
    from reelmine.data.simulator.world import COUNTRY_CODES

    rows["user_tastes"] = write_truth(
        truth,
        "user_tastes",
        pa.table(
            {
                "user_id": m.user_ids,
                "genre_affinity": pa.array(list(m.genre_aff.round(4)), type=pa.list_(pa.float64())),
                "factors": pa.array(list(m.factors.round(4)), type=pa.list_(pa.float64())),
                "sessions_per_day": m.rate.round(4),
                "churn_hazard": m.hazard.round(6),
                "disengaged_at": _ts(m.disengage_us, m.disengage_us < 0),
                "quality_badness": m.badness.round(4),
            }
        ),
    )
    rows["title_appeal"] = write_truth(
        truth,
        "title_appeal",
        pa.table(
            {
                "title_id": show_ids,
                "log_popularity": cat.show_logpop.round(4),
                "factors": pa.array(list(cat.show_factors.round(4)), type=pa.list_(pa.float64())),
                **{k: v.round(4) for k, v in cat.show_drivers.items()},
            }
        ),
    )
    rows["country_tastes"] = write_truth(
        truth,
        "country_tastes",
        pa.table(
            {
                "country": COUNTRY_CODES,
                "genre_preference": pa.array(
                    list(country_pref.round(4)), type=pa.list_(pa.float64())
                ),
            }
        ),
    )
    ch = np.flatnonzero(m.cancel_us >= 0)
    rows["churners"] = write_truth(
        truth,
        "churners",
        pa.table(
            {
                "user_id": m.user_ids.take(pa.array(ch)),
                "churn_day": (m.cancel_us[ch] - start_us) // DAY_US,
                "cancelled_at": _ts(m.cancel_us[ch]),
                "hazard": m.hazard[ch].round(6),
                "disengaged_at": _ts(m.disengage_us[ch], m.disengage_us[ch] < 0),
            }
        ),
    )
    inc = quality.incidents
    rows["incidents"] = write_truth(
        truth,
        "incidents",
        pa.table(
            {
                "incident_id": [i.incident_id for i in inc],
                "start": _ts([i.start_us for i in inc]),
                "end": _ts([i.end_us for i in inc]),
                "metric": [i.metric for i in inc],
                "measure": [INCIDENT_METRICS[i.metric] for i in inc],
                "root_cause": pa.array([i.root_cause() for i in inc], type=pa.list_(pa.string())),
                "magnitude": [i.magnitude for i in inc],
            }
        ),
    )
    rows["fraud"] = write_truth(truth, "fraud", _fraud_table(fraud.rows, m))
    rows["benign"] = write_truth(truth, "benign", _fraud_table(fraud.benign, m))
    rows["experiments"] = write_truth(truth, "experiments", experiments_truth(exps))
    rows["campaign_uplift"] = write_truth(truth, "campaign_uplift", campaign_truth)
    rows["trending"] = write_truth(
        truth,
        "trending",
        pa.table(
            {
                "title_id": show_ids.take(pa.array(bursts.show)),
                "start": _ts(bursts.start_us),
                "end": _ts(bursts.end_us),
                "strength": bursts.strength,
            }
        ),
    )
    rows["search_gaps"] = write_truth(
        truth,
        "search_gaps",
        pa.table(
            {
                "query": GAP_QUERIES,
                "share_of_gap_searches": ui_plan.gap_weights.round(4),
            }
        ),
    )
    late = np.flatnonzero(cat.show_added_us >= start_us)
    rows["new_titles"] = write_truth(
        truth,
        "new_titles",
        pa.table(
            {
                "title_id": show_ids.take(pa.array(late, type=pa.int64())),
                "added_at": _ts(cat.show_added_us[late]),
                "log_popularity": cat.show_logpop[late].round(4),
                **{k: v[late].round(4) for k, v in cat.show_drivers.items()},
                "novelty_boost": np.full(len(late), NOVELTY),
                "novelty_decay_days": np.full(len(late), NOVELTY_DAYS),
            }
        ),
    )
    s_idx = np.repeat(np.arange(cat.n_shows), 3)
    seg = np.tile(np.arange(3), cat.n_shows)
    best = ui_plan.best_art[s_idx, seg]
    rows["artwork"] = write_truth(
        truth,
        "artwork",
        pa.table(
            {
                "title_id": show_ids.take(pa.array(s_idx)),
                "segment": pa.array(AGE_BANDS).take(pa.array(seg)),
                "best_artwork_id": pa.compute.binary_join_element_wise(
                    show_ids.take(pa.array(s_idx)), pa.array((best + 1).astype(str)), "-a"
                ),
                "artworks": ui_plan.n_art[s_idx],
                "click_lift": np.full(len(s_idx), ART_LIFT),
            }
        ),
    )
    write_json(
        truth / "position_bias.json",
        {
            "model": "P(click) = row_exam[row] * col_exam[col] * attractiveness * artwork_lift",
            "row_exam": ROW_EXAM.tolist(),
            "col_exam": COL_EXAM.tolist(),
        },
    )
    return rows
