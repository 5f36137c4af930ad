"""Interface events: home-page browse sessions and searches with a position-biased click model
and randomly logged artworks (propensity known), planted best artwork per age segment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.schema import UI_EVENTS, arrow_type
from reelmine.data.simulator import world
from reelmine.data.simulator._util import DAY_US, HOUR_US, int_str, join_strings, make_ids, take
from reelmine.data.simulator.viewing import (
    HOURLY,
    BlockContext,
    max_multiplier,
    member_logits,
    personal_score,
    sample_rows,
)

ROW_EXAM = np.array([1.0, 0.7, 0.5, 0.35])  # examination probability by row (0 = top)
COL_EXAM = np.array([1.0, 0.75, 0.55, 0.4, 0.3])  # ... and by column (0 = left)
ROWS = ["Top picks for you", "Trending now", "New releases"]  # row 3: "More <genre>"
ART_LIFT = 1.6  # click multiplier of the best artwork for the member's age segment
AGE_BANDS = ["age<30", "30<=age<50", "age>=50"]
GAP_QUERIES = [
    "the midnight heist",
    "ocean of stars",
    "kings of winter",
    "the glass detective",
    "summer in lisbon",
    "robot uprising",
    "the last samurai chef",
    "haunted lighthouse",
    "galaxy racers",
    "dragon academy",
    "the paper crown",
    "neon city nights",
]


@dataclass
class UiPlan:
    """Fixed UI parameters: artworks per show, the best one per segment, search gap demand."""

    n_art: np.ndarray  # (S,) 3 or 4
    best_art: np.ndarray  # (S, 3) best artwork index per age segment
    typo_names: list[str]
    names: list[str]
    gap_weights: np.ndarray


def plan_ui(rng: np.random.Generator, names: list[str]) -> UiPlan:
    """Artworks, best artworks and typo variants of show names (catalogue sized)."""
    s = len(names)
    n_art = rng.choice([3, 4], size=s)
    best = (rng.random((s, 3)) * n_art[:, None]).astype(np.int64)
    lower = [n.lower() for n in names]
    typos = []
    for nm in lower:  # per show: one misspelling (a dropped or doubled letter)
        i = int(rng.integers(1, max(2, len(nm) - 1)))
        typos.append(nm[:i] + nm[i + 1 :] if rng.random() < 0.5 else nm[:i] + nm[i] + nm[i:])
    w = rng.pareto(1.2, len(GAP_QUERIES)) + 0.2
    return UiPlan(n_art, best, typos, lower, w / w.sum())


def age_band(age: np.ndarray) -> np.ndarray:
    return np.where(age < 30, 0, np.where(age < 50, 1, 2))


def simulate_ui(
    rng: np.random.Generator,
    ctx: BlockContext,
    plan: UiPlan,
    lo: int,
    hi: int,
    ui_fraction: float,
    event_offset: int,
    session_offset: int,
) -> tuple[pa.Table, int, int]:
    """UI events of members ``lo..hi-1``; returns the table and the events and sessions used."""
    m, cat = ctx.members, ctx.cat
    start_us, days = ctx.start_us, ctx.days
    end_us = start_us + days * DAY_US
    users = np.arange(lo, hi)
    stop = np.where(m.cancel_us[users] >= 0, m.cancel_us[users], end_us)
    span = np.maximum(stop - m.active_from_us[users], 0)
    lam = m.rate[users] * span / DAY_US * ui_fraction * 1.5
    n_s = rng.poisson(lam)
    su = np.repeat(users, n_s)
    ns = len(su)
    t_day = m.active_from_us[su] + (rng.random(ns) * span[su - lo]).astype(np.int64)
    t_day -= (t_day - start_us) % DAY_US
    hour = rng.choice(24, size=ns, p=HOURLY[False]) - world.COUNTRY_TZ[m.country[su]]
    t0 = np.clip(
        t_day + hour * HOUR_US + rng.integers(0, 3600, ns) * 1_000_000,
        m.active_from_us[su],
        stop[su - lo] - 1,
    )
    search = rng.random(ns) < 0.25

    mmax = max_multiplier(cat, ctx.bursts, start_us)
    logits = member_logits(m, cat, users, mmax)
    glob = (cat.show_logpop + np.log(mmax))[None, :]
    top_genre = np.argmax(m.genre_aff[users] + np.log(cat.show_genres.sum(0) + 1e-9), axis=1)
    g_logits = np.where(cat.show_genres.T > 0, cat.show_logpop[None, :], -np.inf)
    late = cat.show_added_us >= start_us
    new_logits = np.where(late, 0.0, -np.inf)[None, :] if late.any() else glob

    # Home sessions: 4 rows x 5 columns of impressions.
    hs = np.flatnonzero(~search)
    n_r, n_c = len(ROW_EXAM), len(COL_EXAM)
    i_sess = np.repeat(hs, n_r * n_c)
    i_row = np.tile(np.repeat(np.arange(n_r), n_c), len(hs))
    i_col = np.tile(np.arange(n_c), n_r * len(hs))
    i_show = np.empty(len(i_sess), dtype=np.int64)
    for r in range(n_r):  # per row kind
        sel = np.flatnonzero(i_row == r)
        u_loc = su[i_sess[sel]] - lo
        if r == 0:
            i_show[sel] = sample_rows(rng, logits, u_loc)
        elif r == 1:
            i_show[sel] = sample_rows(rng, glob, np.zeros(len(sel), np.int64))
        elif r == 2:
            i_show[sel] = sample_rows(rng, new_logits, np.zeros(len(sel), np.int64))
        else:
            i_show[sel] = sample_rows(rng, g_logits, top_genre[u_loc])
    exam = ROW_EXAM[i_row] * COL_EXAM[i_col]
    row_names = take(
        ROWS + [f"More {g}" for g in cat.genre_names],
        np.where(i_row < 3, i_row, 3 + top_genre[su[i_sess] - lo]),
    )
    page = np.zeros(len(i_sess), np.int64)  # 0 home, 1 search, 2 title

    # Searches: the query, then 5 results in one row.
    ss = np.flatnonzero(search)
    q_kind = rng.choice(4, size=len(ss), p=[0.65, 0.15, 0.1, 0.1])
    target = sample_rows(rng, logits, su[ss] - lo)
    gap = rng.choice(len(GAP_QUERIES), size=len(ss), p=plan.gap_weights)
    q_text = pa.array(plan.names).take(pa.array(target))
    q_text = pc.if_else(
        pa.array(q_kind == 1), pa.array(plan.typo_names).take(pa.array(target)), q_text
    )
    q_text = pc.if_else(pa.array(q_kind == 2), take(GAP_QUERIES, gap), q_text)
    q_text = pc.if_else(
        pa.array(q_kind == 3),
        take([g.lower() for g in cat.genre_names], top_genre[su[ss] - lo]),
        q_text,
    )
    r_sess = np.repeat(ss, n_c)
    r_col = np.tile(np.arange(n_c), len(ss))
    r_show = sample_rows(rng, glob, np.zeros(len(r_sess), np.int64))
    qk = np.repeat(q_kind, n_c)
    hit_col = np.where(np.repeat(q_kind == 1, n_c), np.repeat(rng.integers(0, 3, len(ss)), n_c), 0)
    is_target = (qk <= 1) & (r_col == hit_col)
    r_show = np.where(is_target, np.repeat(target, n_c), r_show)
    genre_res = qk == 3
    if genre_res.any():
        r_show[genre_res] = sample_rows(rng, g_logits, top_genre[su[r_sess[genre_res]] - lo])

    # All impressions: home grid + search results.
    imp_sess = np.concatenate([i_sess, r_sess])
    imp_row = np.concatenate([i_row, np.zeros(len(r_sess), np.int64)])
    imp_col = np.concatenate([i_col, r_col])
    imp_show = np.concatenate([i_show, r_show])
    imp_exam = np.concatenate([exam, COL_EXAM[r_col]])
    imp_page = np.concatenate([page, np.ones(len(r_sess), np.int64)])
    imp_rowname = pa.concat_arrays(
        [row_names.cast(pa.string()), pa.array(["Search results"] * len(r_sess), pa.string())]
    )
    n_imp = len(imp_sess)
    iu = su[imp_sess]
    art = (rng.random(n_imp) * plan.n_art[imp_show]).astype(np.int64)
    prop = 1.0 / plan.n_art[imp_show]
    seg = age_band(m.age[iu])
    best = art == plan.best_art[imp_show, seg]
    fit = personal_score(m, cat, iu, imp_show)
    pop_z = (cat.show_logpop[imp_show] - cat.show_logpop.mean()) / cat.show_logpop.std()
    attract = 0.3 / (1 + np.exp(-(1.2 * (fit - 0.5) / 1.3 + 0.5 * pop_z)))
    attract = np.where(np.concatenate([np.zeros(len(i_sess), bool), is_target]), 0.7, attract)
    p_click = np.minimum(imp_exam * attract * np.where(best, ART_LIFT, 1.0), 0.95)
    click = rng.random(n_imp) < p_click
    t_imp = t0[imp_sess] + np.where(imp_page == 1, 2_000_000, 0) + (imp_row * n_c + imp_col) * 1000
    c_idx = np.flatnonzero(click)
    t_click = t_imp[c_idx] + rng.integers(3, 40, len(c_idx)) * 1_000_000
    p_play = 0.55 / (1 + np.exp(-(fit[c_idx] - 0.5) / 1.3 - 0.5))
    pl = c_idx[rng.random(len(c_idx)) < p_play]
    t_play = t_imp[pl] + rng.integers(45, 120, len(pl)) * 1_000_000

    # Assemble events: search, impressions, clicks, plays.
    n_q = len(ss)
    ev_sess = np.concatenate([ss, imp_sess, imp_sess[c_idx], imp_sess[pl]])
    ev_type = np.concatenate(
        [
            np.full(n_q, 3),
            np.zeros(n_imp, np.int64),
            np.ones(len(c_idx), np.int64),
            np.full(len(pl), 2),
        ]
    )
    ev_t = np.concatenate([t0[ss], t_imp, t_click, t_play])
    ev_page = np.concatenate(
        [np.ones(n_q, np.int64), imp_page, imp_page[c_idx], np.full(len(pl), 2)]
    )
    src = np.concatenate([np.full(n_q, -1), np.arange(n_imp), c_idx, pl])  # impression row
    has = src >= 0
    srcc = np.maximum(src, 0)
    ev_q = pa.concat_arrays([q_text, pa.nulls(len(src) - n_q, pa.string())])
    order = np.lexsort((ev_type, ev_t, ev_sess))
    n_ev = len(order)
    show_title = (
        cat.titles.column("title_id")
        .combine_chunks()
        .take(pa.array(cat.show_title_idx[imp_show[srcc]]))
    )
    art_id = join_strings(show_title, int_str(art[srcc] + 1), sep="-a")
    is_imp_or_click = ev_type <= 1

    def opt(arr: pa.Array, mask: np.ndarray) -> pa.Array:
        return pc.if_else(pa.array(mask), arr, pa.scalar(None, arr.type))

    cols = {
        "event_id": make_ids("e", event_offset + np.arange(n_ev), 10),
        "user_id": m.user_ids.take(pa.array(su[ev_sess[order]])),
        "at": pa.array(ev_t[order], type=pa.int64()).cast(arrow_type("timestamp")),
        "browse_session_id": make_ids("s", session_offset + ev_sess[order], 9),
        "event_type": take(["impression", "click", "play", "search"], ev_type[order]),
        "page": take(["home", "search", "title"], ev_page[order]),
        "row_name": opt(pc.take(imp_rowname, pa.array(srcc)), is_imp_or_click).take(order),
        "row_position": opt(pa.array(imp_row[srcc]), is_imp_or_click).take(order),
        "column_position": opt(pa.array(imp_col[srcc]), is_imp_or_click).take(order),
        "title_id": opt(show_title, has).take(order),
        "query": ev_q.take(order),
        "artwork_id": opt(art_id, is_imp_or_click).take(order),
        "propensity": opt(pa.array(prop[srcc]), is_imp_or_click).take(order),
    }
    schema = pa.schema([pa.field(k, arrow_type(UI_EVENTS.column(k).type)) for k in cols])
    table = pa.Table.from_arrays(
        [v.cast(schema.field(k).type) for k, v in cols.items()], schema=schema
    )
    return table, n_ev, ns
