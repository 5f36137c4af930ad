"""Cold start: members with no or few interactions, fold-in of new plays, new titles.

The policy, per member, by the number ``n`` of interactions we know of:

* ``n == 0``: popularity in the member's segment (country, age band, ...): a
  :class:`~reelmine.recommend.popularity.Popularity` fitted with ``user_groups``;
* ``0 < n < min_history``: a blend moving from segment popularity to the content-based
  model's scores on the first plays (weight ``n / min_history``);
* ``n >= min_history``: the main model's fold-in scores (``score_history``), which read the
  fresh interactions without retraining (EASE, kNN, content, hybrid exactly; ALS/BPR by a
  least-squares / centroid user step against fixed item factors).

New titles get content vectors from metadata (:meth:`ContentModel.add_titles`) and so appear
in the content-based part of the blend on day one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelmine.errors import ConfigError
from reelmine.recommend._util import fold_in_rows
from reelmine.recommend.base import Recommender, check_is_fitted, top_k
from reelmine.recommend.popularity import Popularity

SOURCES = ("popular", "content", "personal")


def segment_codes(values: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """Integer codes of segment labels (country, age band): ``(codes, labels)``; None -> -1."""
    labels = sorted({v for v in values if v is not None})
    index = {v: i for i, v in enumerate(labels)}
    return np.asarray([index.get(v, -1) if v is not None else -1 for v in values], np.int32), labels


def age_band(ages: np.ndarray, edges: Sequence[int] = (18, 25, 35, 45, 55, 65)) -> np.ndarray:
    """Age-band code of each age (``-1`` for missing/negative): 0 = under ``edges[0]``, ..."""
    a = np.asarray(ages, dtype=np.float64)
    out = np.searchsorted(np.asarray(edges), a, side="right").astype(np.int32)
    out[~np.isfinite(a) | (a < 0)] = -1
    return out


def _minmax(s: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(s), s, np.nan)
    lo = np.nanmin(finite, axis=1, keepdims=True)
    hi = np.nanmax(finite, axis=1, keepdims=True)
    out = (s - lo) / np.maximum(hi - lo, 1e-12)
    return np.where(np.isfinite(s), out, s)


def cold_start_scores(
    history: sp.spmatrix | np.ndarray,
    *,
    popularity: Popularity,
    segments: np.ndarray | None = None,
    content: Recommender | None = None,
    model: Recommender | None = None,
    min_history: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every title for members known only by their fresh interaction rows.

    Parameters
    ----------
    history : (n, n_items) interactions of each member (may be empty rows).
    popularity : fitted popularity model (with ``user_groups`` for per-segment rankings).
    segments : (n,) segment code of each member (``-1`` = unknown -> global popularity).
    content : fitted content model (or any model with ``score_history``) for the first plays.
    model : the main model, used through fold-in once ``min_history`` interactions exist.
    min_history : interactions from which the main model takes over.

    Returns
    -------
    scores : float32 (n, n_items), each row min-max scaled to [0, 1].
    source : int8 (n,), index into :data:`SOURCES` of what produced each row.
    """
    check_is_fitted(popularity)
    if min_history < 1:
        raise ConfigError("min_history must be at least 1")
    m = fold_in_rows(history, popularity.n_items_)
    n = m.shape[0]
    seg = np.full(n, -1, np.int64) if segments is None else np.asarray(segments, np.int64)
    n_hist = m.getnnz(axis=1)
    if hasattr(popularity, "group_scores_"):
        g = np.where((seg >= 0) & (seg < popularity.group_scores_.shape[0]), seg, -1)
        pop = np.where(
            g[:, None] >= 0, popularity.group_scores_[np.maximum(g, 0)], popularity.item_scores_
        )
    else:
        pop = np.broadcast_to(popularity.item_scores_, (n, popularity.n_items_))
    scores = _minmax(np.asarray(pop, np.float32))
    source = np.zeros(n, np.int8)
    few = (n_hist > 0) & ((n_hist < min_history) | (model is None))
    if content is not None and few.any():
        idx = np.flatnonzero(few)
        w = np.minimum(n_hist[idx] / min_history, 1.0)[:, None]
        c = _minmax(content.score_history(m[idx]))  # type: ignore[attr-defined]
        scores[idx] = (1.0 - w) * scores[idx] + w * c
        source[idx] = 1
    many = n_hist >= min_history
    if model is not None and many.any():
        idx = np.flatnonzero(many)
        scores[idx] = _minmax(model.score_history(m[idx]))  # type: ignore[attr-defined]
        source[idx] = 2
    return scores.astype(np.float32), source


def recommend_history(
    model: Recommender,
    history: sp.spmatrix | np.ndarray,
    k: int = 10,
    *,
    exclude_seen: bool = True,
    allowed_items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` for members given fresh interaction rows, through the model's fold-in.

    Returns ``(items, scores)`` of shape ``(n, k)`` like :meth:`Recommender.recommend`.
    """
    check_is_fitted(model)
    if not hasattr(model, "score_history"):
        raise ConfigError(f"{type(model).__name__} cannot fold in new interactions")
    fitted: Any = model
    m = fold_in_rows(history, fitted.n_items_)
    scores = np.asarray(model.score_history(m), dtype=np.float32)
    if allowed_items is not None:
        scores[:, ~np.asarray(allowed_items, bool)] = -np.inf
    if exclude_seen:
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        scores[rows, m.indices] = -np.inf
    return top_k(scores, k)
