"""Rows and positions: click-through by row and grid cell, and position bias.

A member clicks a tile only when they look at it (*examination*, which falls with the row and
the column) and like what they see (*attractiveness*, a property of the title). Raw
click-through mixes the two, so a row shown at the top always looks better than one shown
below it. The position-based click model (PBM; Richardson et al. 2007, Chuklin et al. 2015)
factorises ``P(click | title i at cell k) = theta_k * alpha_i`` and is fitted by EM on counts of
impressions and clicks per (title, cell) (Wang et al., WSDM 2018). Because the same title is
shown in many cells, the cell factors ``theta_k`` are identified; dividing a row's clicks by its
*expected examinations* ``sum(theta_k)`` over its impressions gives a debiased attractiveness
that compares rows independently of where they were shown.

SQL builders return portable SQL strings (DuckDB runs them as they are; sqlglot transpiles to
Spark); the rest is NumPy on their Arrow results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.content._sql import time_filter
from reelmine.errors import ConfigError, DataError

PAGES = ("home", "search", "title")


def _page_filter(page: str | None, alias: str = "e") -> str:
    if page is None:
        return ""
    if page not in PAGES:
        raise ConfigError(f"page must be one of {', '.join(PAGES)}, not {page!r}")
    return f" AND {alias}.page = '{page}'"


def _impressions_cte(page: str | None, since: str | None, until: str | None) -> str:
    """CTEs ``imp`` (impressions with a grid cell), ``clk`` (clicked cells), ``ply`` (titles
    played in the session): a click belongs to the impression of the same session, title and
    cell; a play counts for a clicked impression of the same session and title."""
    tf = time_filter("e.at", since, until)
    return f"""imp AS (
  SELECT e.browse_session_id, e.user_id, e.title_id, coalesce(e.page, 'unknown') AS page,
    coalesce(e.row_name, 'unknown') AS row_name, e.row_position, e.column_position
  FROM ui_events e
  WHERE e.event_type = 'impression' AND e.row_position IS NOT NULL
    AND e.column_position IS NOT NULL AND e.title_id IS NOT NULL{_page_filter(page)}{tf}
),
clk AS (
  SELECT DISTINCT e.browse_session_id, e.title_id, e.row_position, e.column_position
  FROM ui_events e WHERE e.event_type = 'click'{tf}
),
ply AS (
  SELECT DISTINCT e.browse_session_id, e.title_id
  FROM ui_events e WHERE e.event_type = 'play'{tf}
),
ic AS (
  SELECT imp.*, CASE WHEN clk.title_id IS NULL THEN 0 ELSE 1 END AS clicked,
    CASE WHEN clk.title_id IS NOT NULL AND ply.title_id IS NOT NULL THEN 1 ELSE 0 END AS played
  FROM imp
  LEFT JOIN clk ON imp.browse_session_id = clk.browse_session_id
    AND imp.title_id = clk.title_id AND imp.row_position = clk.row_position
    AND imp.column_position = clk.column_position
  LEFT JOIN ply ON imp.browse_session_id = ply.browse_session_id
    AND imp.title_id = ply.title_id
)"""


def cell_stats_sql(
    *, page: str | None = "home", since: str | None = None, until: str | None = None
) -> str:
    """SQL of ``page, row_name, row_position, column_position, impressions, clicks, plays,
    members``: one row per row name and grid cell (``members``: distinct members shown it)."""
    return f"""WITH {_impressions_cte(page, since, until)}
SELECT page, row_name, row_position, column_position, count(*) AS impressions,
  sum(clicked) AS clicks, sum(played) AS plays, count(DISTINCT user_id) AS members
FROM ic
GROUP BY page, row_name, row_position, column_position"""


UNITS = ("member_title", "title")


def item_cell_counts_sql(
    *,
    unit: str = "member_title",
    page: str | None = "home",
    since: str | None = None,
    until: str | None = None,
) -> str:
    """SQL of the counts the click model is fitted on: ``[user_id,] title_id, row_position,
    column_position, impressions, clicks``, one row per item and grid cell.

    ``unit="member_title"`` (default) makes an item a (member, title) pair: personalised rows
    show members the titles they like, so a title's appeal differs by member and title-level
    items would credit the top row with its better targeting. Only items shown in at least two
    cells and clicked at least once are returned: the others carry no information on position.
    """
    if unit not in UNITS:
        raise ConfigError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    keys = "user_id, title_id" if unit == "member_title" else "title_id"
    on = " AND ".join(f"cnt.{k} = inf.{k}" for k in keys.split(", "))
    return f"""WITH {_impressions_cte(page, since, until)},
cnt AS (
  SELECT {keys}, row_position, column_position, count(*) AS impressions,
    sum(clicked) AS clicks
  FROM ic
  GROUP BY {keys}, row_position, column_position
),
inf AS (
  SELECT {keys} FROM cnt GROUP BY {keys} HAVING count(*) >= 2 AND sum(clicks) >= 1
)
SELECT cnt.* FROM cnt JOIN inf ON {on}"""


def _need(t: pa.Table, cols: tuple[str, ...], what: str) -> None:
    for c in cols:
        if c not in t.column_names:
            raise DataError(f"{what} need a {c!r} column")


def _f(t: pa.Table, c: str) -> np.ndarray:
    return np.asarray(pc.fill_null(t[c], 0).to_numpy(zero_copy_only=False), dtype=float)


def row_stats(cells: pa.Table) -> pa.Table:
    """Click-through and play-through per row.

    Parameters
    ----------
    cells : :func:`cell_stats_sql` result.

    Returns
    -------
    ``page, row_name, impressions, clicks, plays, members, ctr, play_rate, play_through``
    (``ctr`` = clicks / impressions, ``play_rate`` = plays / impressions, ``play_through`` =
    plays / clicks), most impressions first. ``members`` is the largest cell's member count
    (a lower bound on the row's distinct members, safe for the privacy gate).
    """
    _need(cells, ("page", "row_name", "impressions", "clicks", "plays", "members"), "cell stats")
    g = cells.group_by(["page", "row_name"]).aggregate(
        [("impressions", "sum"), ("clicks", "sum"), ("plays", "sum"), ("members", "max")]
    )
    imp, clk, ply = _f(g, "impressions_sum"), _f(g, "clicks_sum"), _f(g, "plays_sum")
    out = pa.table(
        {
            "page": g["page"],
            "row_name": g["row_name"],
            "impressions": imp.astype(np.int64),
            "clicks": clk.astype(np.int64),
            "plays": ply.astype(np.int64),
            "members": pc.cast(g["members_max"], pa.int64()),
            "ctr": clk / np.maximum(imp, 1),
            "play_rate": ply / np.maximum(imp, 1),
            "play_through": np.where(clk > 0, ply / np.maximum(clk, 1), np.nan),
        }
    )
    return out.sort_by([("impressions", "descending"), ("row_name", "ascending")])


def add_rates(cells: pa.Table) -> pa.Table:
    """``cells`` with ``ctr``, ``play_rate`` and ``play_through`` columns appended."""
    _need(cells, ("impressions", "clicks", "plays"), "cell stats")
    imp, clk, ply = _f(cells, "impressions"), _f(cells, "clicks"), _f(cells, "plays")
    return (
        cells.append_column("ctr", pa.array(clk / np.maximum(imp, 1)))
        .append_column("play_rate", pa.array(ply / np.maximum(imp, 1)))
        .append_column(
            "play_through", pa.array(np.where(clk > 0, ply / np.maximum(clk, 1), np.nan))
        )
    )


@dataclass
class PositionBias:
    """A fitted position-based click model.

    Attributes
    ----------
    examination : ``row_position, column_position, examination, impressions, clicks``: the
        probability a tile in that cell is looked at, relative to the top-left cell (= 1).
    row_factor, column_factor : the examination split into a row part and a column part
        (``examination ~ row_factor[r] * column_factor[c]``, least squares on the logs, each
        relative to position 0).
    attractiveness : ``title_id, attractiveness, impressions, clicks`` (click probability when
        examined, on the scale of the top-left cell).
    iterations : EM iterations run; ``log_likelihood`` the final Bernoulli log-likelihood.
    """

    examination: pa.Table
    row_factor: np.ndarray
    column_factor: np.ndarray
    attractiveness: pa.Table
    iterations: int
    log_likelihood: float

    def exam_grid(self) -> np.ndarray:
        """Examination as a dense ``(rows, columns)`` array (NaN where a cell was never shown)."""
        r = self.examination["row_position"].to_numpy()
        c = self.examination["column_position"].to_numpy()
        grid = np.full((int(r.max()) + 1, int(c.max()) + 1), np.nan)
        grid[r, c] = self.examination["examination"].to_numpy()
        return grid


METHODS = ("poisson", "em")


def _items(counts: pa.Table) -> tuple[np.ndarray, pa.Array]:
    """Dense item index per row (items: ``(user_id, title_id)`` when given, else titles)
    and the title of each item."""
    title = pc.dictionary_encode(counts["title_id"].combine_chunks())
    ti = title.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    if "user_id" not in counts.column_names:
        return ti, title.dictionary
    user = pc.dictionary_encode(counts["user_id"].combine_chunks())
    ui = user.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key = ui * len(title.dictionary) + ti
    uniq, item = np.unique(key, return_inverse=True)
    return item, title.dictionary.take(pa.array(uniq % len(title.dictionary)))


def fit_position_bias(
    counts: pa.Table,
    *,
    method: str = "poisson",
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> PositionBias:
    """Fit the position-based click model ``E[clicks] = impressions * theta_cell * alpha_item``.

    Parameters
    ----------
    counts : :func:`item_cell_counts_sql` result (``[user_id,] title_id, row_position,
        column_position, impressions, clicks``); with ``user_id`` an item is a (member, title)
        pair, otherwise a title.
    method : ``"poisson"`` (default): maximum likelihood with the item effects profiled out
        (alternating updates of the Poisson fixed-effects model, consistent however few
        impressions an item has, because only the mean is modelled); ``"em"``: the Bernoulli
        click model fitted by EM (Wang et al. 2018), which suits items with many impressions
        each (titles) but is biased with many small items.
    max_iter, tol : stop after ``max_iter`` iterations or when no examination changes by more
        than ``tol``.

    Returns
    -------
    :class:`PositionBias`, scaled so that the first cell in row-major order (the top-left
    cell when shown) has examination 1.

    Raises
    ------
    DataError
        When no impression carries a grid cell, or there are no clicks.
    """
    _need(
        counts,
        ("title_id", "row_position", "column_position", "impressions", "clicks"),
        "item/cell counts",
    )
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    n = _f(counts, "impressions")
    keep = n > 0
    counts = counts.filter(pa.array(keep))
    n = n[keep]
    c = np.minimum(_f(counts, "clicks"), n)
    if len(n) == 0:
        raise DataError("no impressions with a row and column position to fit position bias on")
    if c.sum() <= 0:
        raise DataError("no clicks: position bias cannot be estimated")
    ti, item_title = _items(counts)
    r = counts["row_position"].to_numpy(zero_copy_only=False).astype(np.int64)
    col = counts["column_position"].to_numpy(zero_copy_only=False).astype(np.int64)
    if (r < 0).any() or (col < 0).any():
        raise DataError("row_position and column_position must be >= 0", column="row_position")
    n_cols = int(col.max()) + 1
    cells, ki = np.unique(r * n_cols + col, return_inverse=True)
    n_t, n_k = len(item_title), len(cells)
    n_k_tot = np.bincount(ki, weights=n, minlength=n_k)
    c_i = np.bincount(ti, weights=c, minlength=n_t)
    c_k = np.bincount(ki, weights=c, minlength=n_k)
    theta = np.ones(n_k)
    n_iter = 0
    if method == "poisson":
        for it in range(1, max_iter + 1):  # alternating MLE, all pairs at once
            n_iter = it
            alpha = c_i / np.maximum(np.bincount(ti, weights=n * theta[ki], minlength=n_t), 1e-12)
            new = c_k / np.maximum(np.bincount(ki, weights=n * alpha[ti], minlength=n_k), 1e-12)
            new = new / new[0] if new[0] > 0 else new
            delta = float(np.abs(new - theta).max())
            theta = new
            if delta < tol:
                break
        alpha = c_i / np.maximum(np.bincount(ti, weights=n * theta[ki], minlength=n_t), 1e-12)
    else:
        n_i = np.bincount(ti, weights=n, minlength=n_t)
        theta = np.full(n_k, 0.5)
        alpha = np.clip(c_i / np.maximum(n_i, 1), 0.01, 0.99)
        nc = n - c
        for it in range(1, max_iter + 1):  # EM, all (item, cell) pairs at once
            n_iter = it
            th, al = theta[ki], alpha[ti]
            denom = np.maximum(1.0 - th * al, 1e-12)
            e_hidden = nc * th * (1.0 - al) / denom  # examined, not attracted
            r_hidden = nc * (1.0 - th) * al / denom  # attracted, not examined
            new_t = (c_k + np.bincount(ki, weights=e_hidden, minlength=n_k)) / n_k_tot
            new_a = (c_i + np.bincount(ti, weights=r_hidden, minlength=n_t)) / np.maximum(n_i, 1)
            new_t, new_a = np.clip(new_t, 1e-9, 1.0), np.clip(new_a, 1e-9, 1.0)
            delta = float(np.abs(new_t / new_t[0] - theta / theta[0]).max())
            theta, alpha = new_t, new_a
            if delta < tol:
                break
    p = np.clip(theta[ki] * alpha[ti], 1e-12, 1 - 1e-12)
    ll = float(np.sum(c * np.log(p) + (n - c) * np.log1p(-p)))
    # Only products are identified: fix the scale at the first cell.
    ref = theta[0]
    exam, attract = theta / ref, alpha * ref
    cr, cc = cells // n_cols, cells % n_cols
    row_f, col_f = _factorise(cr, cc, exam, n_k_tot)
    examination = pa.table(
        {
            "row_position": cr.astype(np.int64),
            "column_position": cc.astype(np.int64),
            "examination": exam,
            "impressions": n_k_tot.astype(np.int64),
            "clicks": c_k.astype(np.int64),
        }
    )
    # Per title: impression-weighted mean appeal over its items (members).
    tt = pc.dictionary_encode(item_title)
    tix = tt.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_item = np.bincount(ti, weights=n, minlength=n_t)
    w = np.bincount(tix, weights=n_item, minlength=len(tt.dictionary))
    a_t = np.bincount(tix, weights=n_item * attract, minlength=len(tt.dictionary))
    attractiveness = pa.table(
        {
            "title_id": tt.dictionary,
            "attractiveness": a_t / np.maximum(w, 1e-12),
            "impressions": w.astype(np.int64),
            "clicks": np.bincount(tix, weights=c_i, minlength=len(tt.dictionary)).astype(np.int64),
        }
    ).sort_by([("attractiveness", "descending"), ("title_id", "ascending")])
    return PositionBias(examination, row_f, col_f, attractiveness, n_iter, ll)


def _factorise(
    r: np.ndarray, c: np.ndarray, exam: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column factors with ``log exam ~ a[r] + b[c]`` (weighted by impressions),
    each normalised so that position 0 is 1."""
    n_r, n_c = int(r.max()) + 1, int(c.max()) + 1
    x = np.zeros((len(r), n_r + n_c))
    x[np.arange(len(r)), r] = 1.0
    x[np.arange(len(r)), n_r + c] = 1.0
    sw = np.sqrt(w / max(w.max(), 1.0))
    coef, *_ = np.linalg.lstsq(x * sw[:, None], np.log(np.maximum(exam, 1e-9)) * sw, rcond=None)
    a, b = coef[:n_r], coef[n_r:]
    # Unseen positions have a zero column: lstsq leaves them at 0, report NaN instead.
    seen_r = np.bincount(r, minlength=n_r) > 0
    seen_c = np.bincount(c, minlength=n_c) > 0
    row_f = np.where(seen_r, np.exp(a - a[0]), np.nan)
    col_f = np.where(seen_c, np.exp(b - b[0]), np.nan)
    return row_f, col_f


def debiased_rows(row_cells: pa.Table, bias: PositionBias) -> pa.Table:
    """Per-row attractiveness with position bias removed.

    Parameters
    ----------
    row_cells : :func:`cell_stats_sql` result (one row per row name and cell).
    bias : a fitted :class:`PositionBias`.

    Returns
    -------
    ``page, row_name, impressions, clicks, members, ctr, expected_examinations,
    attractiveness`` where ``attractiveness = clicks / expected_examinations`` and
    ``expected_examinations = sum(impressions * examination[cell])``: the click rate the row
    would have had at the top-left cell. Cells the model never saw are left out.
    """
    _need(
        row_cells,
        ("page", "row_name", "row_position", "column_position", "impressions", "clicks", "members"),
        "cell stats",
    )
    grid = bias.exam_grid()
    r = row_cells["row_position"].to_numpy(zero_copy_only=False).astype(np.int64)
    c = row_cells["column_position"].to_numpy(zero_copy_only=False).astype(np.int64)
    inside = (r < grid.shape[0]) & (c < grid.shape[1])
    ex = np.full(len(r), np.nan)
    ex[inside] = grid[r[inside], c[inside]]
    ok = np.isfinite(ex)
    t = row_cells.filter(pa.array(ok)).append_column(
        "_exp", pa.array(ex[ok] * _f(row_cells, "impressions")[ok])
    )
    g = t.group_by(["page", "row_name"]).aggregate(
        [("impressions", "sum"), ("clicks", "sum"), ("_exp", "sum"), ("members", "max")]
    )
    imp, clk, exp_ = _f(g, "impressions_sum"), _f(g, "clicks_sum"), _f(g, "_exp_sum")
    out = pa.table(
        {
            "page": g["page"],
            "row_name": g["row_name"],
            "impressions": imp.astype(np.int64),
            "clicks": clk.astype(np.int64),
            "members": pc.cast(g["members_max"], pa.int64()),
            "ctr": clk / np.maximum(imp, 1),
            "expected_examinations": exp_,
            "attractiveness": clk / np.maximum(exp_, 1e-12),
        }
    )
    return out.sort_by([("attractiveness", "descending"), ("row_name", "ascending")])


def column_exam_randomised(cells: pa.Table) -> pa.Table:
    """Column examination from randomised placement within rows.

    When the titles of a row are placed in its columns at random (as the simulator and many
    shuffling experiments do), attractiveness is the same in expectation in every column, so
    the click-through of column ``c`` over column 0 *within a row* estimates ``column_factor[c]``
    without a click model. Returned per column, pooled over rows with the Mantel-Haenszel
    ratio: ``column_position, examination, impressions, clicks``.
    """
    _need(cells, ("row_name", "column_position", "impressions", "clicks"), "cell stats")
    rn = pc.dictionary_encode(cells["row_name"].combine_chunks())
    ri = rn.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    col = cells["column_position"].to_numpy(zero_copy_only=False).astype(np.int64)
    n, c = _f(cells, "impressions"), _f(cells, "clicks")
    n_r, n_c = len(rn.dictionary), int(col.max()) + 1
    nn = np.zeros((n_r, n_c))
    cc = np.zeros((n_r, n_c))
    np.add.at(nn, (ri, col), n)
    np.add.at(cc, (ri, col), c)
    # Mantel-Haenszel rate ratio of column c against column 0, strata = rows.
    tot = nn[:, :1] + nn
    num = (cc * nn[:, :1] / np.maximum(tot, 1)).sum(0)
    den = (cc[:, :1] * nn / np.maximum(tot, 1)).sum(0)
    exam = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)
    return pa.table(
        {
            "column_position": np.arange(n_c, dtype=np.int64),
            "examination": exam,
            "impressions": nn.sum(0).astype(np.int64),
            "clicks": cc.sum(0).astype(np.int64),
        }
    )
