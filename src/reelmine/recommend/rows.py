"""Home-page rows: "Top picks for you", "Because you watched X", trending, new, genre rows.

A page is built for one member from the main model's scores and a few catalogue-wide
vectors. Every row excludes what the member watched and whatever business rules forbid
(country availability, maturity), applies boost/bury lists, never repeats a title shown in a
row above it, and is diversified by maximal marginal relevance (MMR). Every title carries a
human-readable reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from reelmine.errors import ConfigError
from reelmine.recommend._util import l2_normalize_rows
from reelmine.recommend.base import Recommender, check_is_fitted

MATURITY_ORDER = ("G", "TV-Y", "TV-G", "PG", "TV-PG", "PG-13", "TV-14", "R", "TV-MA", "NC-17")


@dataclass(frozen=True)
class RowItem:
    """One title in a row: item index, score, and why it is there."""

    item: int
    score: float
    reason: str


@dataclass(frozen=True)
class Row:
    """A titled row of the home page; ``kind`` is a stable machine name."""

    name: str
    kind: str
    items: tuple[RowItem, ...]


@dataclass
class BusinessRules:
    """Per-request rules: which titles may be shown, and which to boost or bury.

    ``allowed``: bool mask (n_items,) or None for all; ``boost``/``bury``: item indices;
    ``boost_weight``: added to a title's [0, 1]-scaled score (``bury`` subtracts
    ``bury_weight``, by default enough to sink it below every other title).
    """

    allowed: np.ndarray | None = None
    boost: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    bury: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    boost_weight: float = 0.3
    bury_weight: float = 2.0

    @classmethod
    def from_titles(
        cls,
        titles: pa.Table,
        *,
        country: str | None = None,
        max_maturity: str | None = None,
        boost: Sequence[int] = (),
        bury: Sequence[int] = (),
        maturity_order: Sequence[str] = MATURITY_ORDER,
    ) -> BusinessRules:
        """Rules from the titles table (row ``i`` = item ``i``).

        A title is available in ``country`` when its ``countries`` list is empty/null or holds
        the country; with ``max_maturity`` set, titles rated above it (in ``maturity_order``)
        and titles with an unknown rating are hidden.
        """
        n = titles.num_rows
        allowed = np.ones(n, bool)
        if country is not None and "countries" in titles.column_names:
            lists = titles.column("countries").to_pylist()
            allowed &= np.array([not c or country in c for c in lists], bool)
        if max_maturity is not None:
            order = {m: i for i, m in enumerate(maturity_order)}
            if max_maturity not in order:
                raise ConfigError(
                    f"unknown maturity {max_maturity!r}; known: {', '.join(maturity_order)}"
                )
            if "maturity" in titles.column_names:
                levels = np.array(
                    [order.get(m, len(order)) for m in titles.column("maturity").to_pylist()]
                )
                allowed &= levels <= order[max_maturity]
        return cls(
            allowed=allowed, boost=np.asarray(boost, np.int64), bury=np.asarray(bury, np.int64)
        )

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Scores (n_items,) scaled to [0, 1], boosted/buried, ``-inf`` where not allowed."""
        s = np.asarray(scores, np.float64).copy()
        finite = np.isfinite(s)
        if finite.any():
            lo, hi = s[finite].min(), s[finite].max()
            s[finite] = (s[finite] - lo) / max(hi - lo, 1e-12)
        s[self.boost] += self.boost_weight
        s[self.bury] -= self.bury_weight
        if self.allowed is not None:
            s[~np.asarray(self.allowed, bool)] = -np.inf
        return s


@dataclass
class RowsConfig:
    """Shape of the page: row length, how many "because you watched" and genre rows, MMR."""

    row_size: int = 10
    n_because: int = 2
    n_genre_rows: int = 2
    mmr_lambda: float = 0.7  # 1 = pure relevance, 0 = pure diversity
    pool: int = 100  # candidates MMR chooses from
    new_fraction: float = 0.1  # the newest share of the catalogue counts as "new"


def mmr(relevance: np.ndarray, vectors: np.ndarray | None, k: int, lam: float) -> np.ndarray:
    """Maximal marginal relevance: greedily pick ``k`` of the finite-relevance items.

    ``relevance`` (n,), ``vectors`` (n, d) unit rows (None = no diversification). Each step
    picks ``argmax lam * rel - (1 - lam) * max cosine to the already picked``.
    """
    ok = np.flatnonzero(np.isfinite(relevance))
    if len(ok) == 0 or k <= 0:
        return np.empty(0, np.int64)
    if vectors is None or lam >= 1.0:
        order = ok[np.lexsort((ok, -relevance[ok]))]
        return order[:k]
    rel = relevance[ok]
    rel = (rel - rel.min()) / max(rel.max() - rel.min(), 1e-12)
    V = vectors[ok]
    max_sim = np.full(len(ok), -np.inf)
    picked: list[int] = []
    chosen = np.zeros(len(ok), bool)
    for _ in range(min(k, len(ok))):  # k is a row length (about 10)
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        gain = np.where(chosen, -np.inf, lam * rel - (1.0 - lam) * penalty)
        j = int(np.argmax(gain))
        picked.append(j)
        chosen[j] = True
        max_sim = np.maximum(max_sim, V @ V[j])
    return ok[np.asarray(picked)]


class HomePage:
    """Builds the rows of a member's home page from a fitted model and catalogue data.

    Parameters
    ----------
    model : the main recommender (default: the hybrid); supplies personal scores.
    item_names : display name of every item (for "Because you watched X").
    item_vectors : (n_items, d) title vectors for MMR and "similar to" reasons (e.g. a
        content model's ``item_vectors_``); None disables diversification.
    similar : model whose ``similar_items`` fills "Because you watched" (default ``model``).
    item_genres : (n_items, n_genres) 0/1 matrix and ``genre_names`` for genre rows.
    trending : (n_segments, n_items) or (n_items,) trending scores (e.g. a recency-weighted
        :class:`Popularity`'s ``group_scores_``) and ``segment_names`` for the row title.
    newness : (n_items,) larger = newer (e.g. ``added_at`` seconds or release year).
    config : :class:`RowsConfig`.
    """

    def __init__(
        self,
        model: Recommender,
        *,
        item_names: Sequence[str],
        item_vectors: np.ndarray | None = None,
        similar: Recommender | None = None,
        item_genres: sp.spmatrix | np.ndarray | None = None,
        genre_names: Sequence[str] = (),
        trending: np.ndarray | None = None,
        segment_names: Sequence[str] = (),
        newness: np.ndarray | None = None,
        config: RowsConfig | None = None,
    ) -> None:
        check_is_fitted(model)
        fitted: Any = model  # a fitted Recommender: has n_items_, user_items_, ...
        self.model = fitted
        self.item_names = list(item_names)
        if len(self.item_names) != fitted.n_items_:
            raise ConfigError(
                f"item_names has {len(self.item_names)} entries, the model {fitted.n_items_} items"
            )
        self.item_vectors = (
            None
            if item_vectors is None
            else l2_normalize_rows(np.asarray(item_vectors, np.float32))
        )
        self.similar = similar or model
        self.item_genres = (
            None
            if item_genres is None
            else np.asarray(
                sp.csr_matrix(item_genres).toarray() if sp.issparse(item_genres) else item_genres,
                np.float32,
            )
        )
        self.genre_names = list(genre_names)
        self.trending = (
            None if trending is None else np.atleast_2d(np.asarray(trending, np.float64))
        )
        self.segment_names = list(segment_names)
        self.newness = None if newness is None else np.asarray(newness, np.float64)
        self.config = config or RowsConfig()

    def rows(
        self,
        user: int,
        *,
        history: sp.spmatrix | None = None,
        recent: Sequence[int] = (),
        segment: int = -1,
        rules: BusinessRules | None = None,
        scores: np.ndarray | None = None,
    ) -> list[Row]:
        """Rows for one member.

        Parameters
        ----------
        user : member index (``-1`` for a member the model does not know).
        history : (1, n_items) interactions; default the model's training row for ``user``.
        recent : the member's latest titles, most recent first ("Because you watched").
        segment : the member's segment code (country) for the trending row.
        rules : business rules of this request.
        scores : personal scores (n_items,) to use instead of the model's (e.g. cold start).
        """
        cfg = self.config
        n_items = self.model.n_items_
        known = 0 <= user < self.model.n_users_
        if history is None:
            history = (
                self.model.user_items_[user]
                if known
                else sp.csr_matrix((1, n_items), dtype=np.float32)
            )
        hist = sp.csr_matrix(history)
        seen = hist.indices
        if scores is None:
            if known and hist.nnz == self.model.user_items_[user].nnz:
                scores = self.model.score_users(np.array([user]))[0]
            elif hist.nnz and hasattr(self.model, "score_history"):
                scores = self.model.score_history(hist)[0]
            else:
                scores = self.model.fallback_scores()
        rules = rules or BusinessRules()
        personal = rules.apply(scores)
        blocked = np.zeros(n_items, bool)
        blocked[seen] = True
        page: list[Row] = []

        def add(name: str, kind: str, rel: np.ndarray, reason_of: object) -> None:
            rel = np.where(blocked | ~np.isfinite(rel), -np.inf, rel)
            finite = np.flatnonzero(np.isfinite(rel))
            if len(finite) == 0:
                return
            pool = finite[np.argsort(-rel[finite], kind="stable")[: cfg.pool]]
            sub = np.full(n_items, -np.inf)
            sub[pool] = rel[pool]
            vecs = self.item_vectors
            picked = mmr(
                sub[pool], None if vecs is None else vecs[pool], cfg.row_size, cfg.mmr_lambda
            )
            items = pool[picked]
            if len(items) == 0:
                return
            blocked[items] = True
            reasons = [reason_of(int(i)) if callable(reason_of) else str(reason_of) for i in items]
            page.append(
                Row(
                    name,
                    kind,
                    tuple(
                        RowItem(int(i), float(rel[i]), r)
                        for i, r in zip(items, reasons, strict=True)
                    ),
                )
            )

        watched = [int(i) for i in seen]
        page_reason = self._top_pick_reason(watched, known or hist.nnz > 0)
        add("Top picks for you", "top_picks", personal, page_reason)

        recent_list = [int(i) for i in recent if 0 <= int(i) < n_items][: cfg.n_because]
        for x in recent_list:
            ids, sims = self.similar.similar_items(x, cfg.pool)
            rel = np.full(n_items, -np.inf)
            ok = ids >= 0
            rel[ids[ok]] = sims[ok]
            rel = np.where(np.isfinite(personal), rel, -np.inf)  # business rules still apply
            name = self.item_names[x]
            add(
                f"Because you watched {name}",
                "because_you_watched",
                rel,
                f"Because you watched {name}",
            )

        if self.trending is not None:
            row = (
                self.trending[segment]
                if 0 <= segment < self.trending.shape[0]
                else self.trending.max(axis=0)
            )
            where = (
                self.segment_names[segment]
                if 0 <= segment < len(self.segment_names)
                else "your country"
            )
            rel = np.where(np.isfinite(personal), row, -np.inf)
            add(f"Trending in {where}", "trending", rel, f"Trending now in {where}")

        if self.newness is not None:
            finite_new = np.isfinite(self.newness)
            newest = np.zeros(n_items, bool)
            if finite_new.any():
                cut = np.quantile(self.newness[finite_new], 1.0 - cfg.new_fraction)
                newest = finite_new & (self.newness >= cut)
            rel = np.where(newest, personal, -np.inf)
            add("New releases", "new_releases", rel, "New on the service, picked for your taste")

        if self.item_genres is not None and self.genre_names:
            for g in self._top_genres(seen, personal)[: cfg.n_genre_rows]:
                gname = self.genre_names[g]
                rel = np.where(self.item_genres[:, g] > 0, personal, -np.inf)
                add(gname, f"genre:{gname}", rel, f"{gname} picked for your taste")
        return page

    def _top_pick_reason(self, watched: list[int], personalised: bool) -> object:
        if not personalised:
            return "Popular with members like you"
        if self.item_vectors is None or not watched:
            return "Picked for your taste"
        W = self.item_vectors[watched]
        names = self.item_names

        def reason(item: int) -> str:
            j = watched[int(np.argmax(W @ self.item_vectors[item]))]  # type: ignore[index]
            return f"Similar to {names[j]}, which you watched"

        return reason

    def _top_genres(self, seen: np.ndarray, personal: np.ndarray) -> list[int]:
        assert self.item_genres is not None
        if len(seen):
            weight = self.item_genres[seen].sum(axis=0)
        else:  # no history: the genres of the best-scored titles
            top = np.argsort(-np.where(np.isfinite(personal), personal, -1e9))[:50]
            weight = self.item_genres[top].sum(axis=0)
        order = np.lexsort((np.arange(len(weight)), -weight))
        return [int(g) for g in order if weight[g] > 0]
