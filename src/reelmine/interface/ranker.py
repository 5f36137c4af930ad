"""Search over the catalogue: plain BM25, and a blended ranker with typo tolerance,
popularity and the member's taste; offline evaluation on logged search -> play pairs.

:class:`BM25Search` is the baseline: Okapi BM25 (Robertson & Zaragoza 2009) over one document
per title whose term frequencies are a weighted sum over fields (name, description, genres,
tags; BM25F-style, Robertson et al. 2004). Queries and documents are normalised with
:func:`reelmine.content.search.normalise` and split into words.

:class:`SearchRanker` adds three signals to it:

* typo tolerance: a second BM25 over character 3-grams of the names (within word boundaries),
  so ``the holow horizon`` still shares most 3-grams with ``The Hollow Horizon``;
* popularity: ``log(1 + plays)`` of the title, scaled to [0, 1];
* taste: the share of the member's plays in the title's genres (members without plays get 0).

The two text scores are each divided by the query's best score (so 1 = the best text match
for that query) and the final score is ``word + char_weight * char + popularity_weight *
popularity + taste_weight * taste``: text decides when it is clear; popularity and taste
break the ties it leaves (genre queries, vague queries).

Scores are dense ``(queries, titles)`` blocks computed with sparse products, ``SCORE_BATCH``
queries at a time. Both classes follow the scikit-learn conventions (keyword-only parameters,
``fit`` returns ``self``, learned attributes end in ``_``) and save/load like the recommenders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from reelmine.content.search import normalise
from reelmine.errors import DataError
from reelmine.recommend.base import SCORE_BATCH, _Persistable, check_is_fitted, fingerprint

DEFAULT_FIELDS = {"name": 3.0, "description": 1.0, "genres": 1.0, "tags": 1.0}
_WORD = re.compile(r"[a-z0-9]+")


def field_texts(col: pa.ChunkedArray) -> list[str]:
    """One string per row of a title field: list columns joined with spaces, nulls empty."""
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        joined = pc.binary_join(pc.fill_null(col, pa.scalar([], col.type)), " ")
        return [v or "" for v in joined.to_pylist()]
    return [v or "" for v in pc.cast(col, pa.string()).to_pylist()]


def _analyzer(kind: str) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    if kind == "word":
        return CountVectorizer(
            analyzer="word", token_pattern=r"[a-z0-9]+", lowercase=False, dtype=np.float64
        )
    return CountVectorizer(
        analyzer="char_wb", ngram_range=(3, 3), lowercase=False, dtype=np.float64
    )


def _bm25(
    tf: sp.csr_matrix, lengths: np.ndarray, k1: float, b: float
) -> tuple[sp.csr_matrix, np.ndarray]:
    """BM25 term weights of documents (rows) and the idf of each term."""
    n_docs = tf.shape[0]
    df = np.bincount(tf.indices, minlength=tf.shape[1])
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    avg = max(float(lengths.mean()), 1e-9) if len(lengths) else 1.0
    w = tf.tocsr(copy=True)
    row = np.repeat(np.arange(n_docs), np.diff(w.indptr))
    norm = k1 * (1.0 - b + b * lengths[row] / avg)
    w.data = idf[w.indices] * w.data * (k1 + 1.0) / (w.data + norm)
    w.eliminate_zeros()
    return w.tocsr(), idf


class BM25Search(_Persistable):
    """Plain BM25 over title fields (the baseline).

    Parameters
    ----------
    k1, b : BM25 term-saturation and length-normalisation parameters.
    fields : field -> weight of its term counts (fields the titles lack are skipped).

    Attributes
    ----------
    title_ids_ : (n_items,) external title ids, in score column order.
    terms_ : (n_terms,) the word vocabulary.
    weights_ : (n_items, n_terms) CSR BM25 weights.
    """

    def __init__(
        self, *, k1: float = 1.2, b: float = 0.75, fields: dict[str, float] | None = None
    ) -> None:
        self.k1 = k1
        self.b = b
        self.fields = fields

    def _field_weights(self) -> dict[str, float]:
        return dict(DEFAULT_FIELDS if self.fields is None else self.fields)

    def _doc_tf(self, titles: pa.Table, kind: str, fields: dict[str, float]) -> tuple[Any, Any]:
        vec = _analyzer(kind)
        per_field = {
            f: normalise(field_texts(titles[f])) for f in fields if f in titles.column_names
        }
        if "name" not in per_field:
            raise DataError("titles need a 'name' column to be searched")
        vec.fit([t for texts in per_field.values() for t in texts])
        tf = None
        for f, texts in per_field.items():  # weighted sum of term counts over fields
            m = vec.transform(texts) * fields[f]
            tf = m if tf is None else tf + m
        return sp.csr_matrix(tf), np.asarray(vec.get_feature_names_out(), dtype=str)

    def fit(self, titles: pa.Table) -> Self:
        """Index ``titles`` (``title_id``, ``name`` and any of the weighted fields)."""
        if "title_id" not in titles.column_names:
            raise DataError("titles need a 'title_id' column")
        if titles.num_rows == 0:
            raise DataError("no titles to index")
        for cache in ("_vectorisers", "_genre_hit"):  # built lazily from the learned state
            self.__dict__.pop(cache, None)
        tf, terms = self._doc_tf(titles, "word", self._field_weights())
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        self.weights_, self.idf_ = _bm25(tf, lengths, self.k1, self.b)
        self.terms_ = terms
        self.title_ids_ = np.asarray(titles["title_id"].to_pylist(), dtype=str)
        self.n_items_ = len(self.title_ids_)
        self.fingerprint_ = fingerprint(self.weights_)
        return self

    def _query_matrix(self, queries: Sequence[str], terms: np.ndarray, kind: str) -> sp.csr_matrix:
        # The vectoriser over a fixed vocabulary is built once per model and kind (building
        # the vocabulary dict dominates the latency of a single query otherwise).
        cache: dict[str, Any] = self.__dict__.setdefault("_vectorisers", {})
        if kind not in cache:
            vec = _analyzer(kind)
            vec.set_params(vocabulary={t: i for i, t in enumerate(terms.tolist())})
            cache[kind] = vec
        q = cache[kind].transform(normalise(list(queries)))
        q.data[:] = 1.0  # a repeated query word counts once
        return sp.csr_matrix(q)

    def text_scores(self, queries: Sequence[str]) -> np.ndarray:
        """``(len(queries), n_items)`` BM25 scores (0 = no shared word)."""
        check_is_fitted(self)
        q = self._query_matrix(queries, self.terms_, "word")
        return np.asarray((q @ self.weights_.T).todense(), dtype=np.float64)

    def score(
        self, queries: Sequence[str], users: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """``(len(queries), n_items)`` scores; ``users`` is ignored by plain BM25."""
        return self.text_scores(queries)

    def search(
        self, queries: Sequence[str], *, users: Sequence[str | None] | None = None, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` titles per query: ``(title_ids, scores)`` arrays of shape
        ``(len(queries), k)``, best first (ties by catalogue order)."""
        check_is_fitted(self)
        k = min(k, self.n_items_)
        ids, vals = [], []
        for lo in range(0, len(queries), SCORE_BATCH):
            s = self.score(
                queries[lo : lo + SCORE_BATCH],
                None if users is None else users[lo : lo + SCORE_BATCH],
            )
            top = np.argsort(-s, axis=1, kind="stable")[:, :k]
            ids.append(self.title_ids_[top])
            vals.append(np.take_along_axis(s, top, axis=1))
        if not ids:
            return np.empty((0, k), dtype=str), np.empty((0, k))
        return np.concatenate(ids), np.concatenate(vals)


def _index(values: pa.ChunkedArray | pa.Array, value_set: pa.Array) -> np.ndarray:
    """Position of each value in ``value_set`` (-1 when absent or null)."""
    idx = pc.fill_null(pc.index_in(values, value_set=value_set), -1)
    return np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)


def _row_max_scale(s: np.ndarray) -> np.ndarray:
    m = s.max(axis=1, keepdims=True)
    return np.where(m > 0, s / np.where(m > 0, m, 1.0), 0.0)


class SearchRanker(BM25Search):
    """BM25 blended with typo-tolerant name matching, popularity and the member's taste.

    Parameters
    ----------
    k1, b, fields : as :class:`BM25Search`.
    char_weight : weight of the character 3-gram name score (typo tolerance).
    popularity_weight : weight of the title's scaled ``log(1 + plays)``.
    taste_weight : weight of the member's play share in the title's genres.

    Attributes
    ----------
    char_terms_, char_weights_ : 3-gram vocabulary and BM25 weights of the names.
    popularity_ : (n_items,) in [0, 1].
    genres_ : (n_genres,) genre names; ``item_genres_`` (n_items, n_genres) CSR, rows summing
        to 1 (a title's genres share it equally).
    user_ids_ : (n_users,) sorted member ids; ``user_genres_`` (n_users, n_genres) CSR play
        shares per genre.
    """

    def __init__(
        self,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        fields: dict[str, float] | None = None,
        char_weight: float = 0.5,
        popularity_weight: float = 0.1,
        taste_weight: float = 0.3,
    ) -> None:
        super().__init__(k1=k1, b=b, fields=fields)
        self.char_weight = char_weight
        self.popularity_weight = popularity_weight
        self.taste_weight = taste_weight

    def fit(self, titles: pa.Table, plays: pa.Table | None = None) -> Self:
        """Index ``titles`` and learn popularity and taste from ``plays`` (``user_id``,
        ``title_id``; a play of an episode counts for its series when titles have
        ``series_id``). Without plays, popularity and taste are 0."""
        super().fit(titles)
        ctf, cterms = self._doc_tf(titles, "char", {"name": 1.0})
        self.char_weights_, _ = _bm25(ctf, np.asarray(ctf.sum(axis=1)).ravel(), self.k1, self.b)
        self.char_terms_ = cterms
        n = self.n_items_
        # Genres of each title, equal shares.
        if "genres" in titles.column_names:
            g = titles["genres"].combine_chunks()
            g = pc.fill_null(g, pa.scalar([], g.type))
            flat = pc.list_flatten(g)
            parent = pc.list_parent_indices(g).to_numpy()
            genres = pc.unique(flat).sort()
            gi = pc.index_in(flat, value_set=genres).to_numpy()
            share = 1.0 / np.maximum(np.bincount(parent, minlength=n), 1)
            self.genres_ = np.asarray(genres.to_pylist(), dtype=str)
            self.item_genres_ = sp.csr_matrix(
                (share[parent], (parent, gi)), shape=(n, len(self.genres_))
            )
        else:
            self.genres_ = np.asarray([], dtype=str)
            self.item_genres_ = sp.csr_matrix((n, 0))
        self.popularity_ = np.zeros(n)
        self.user_ids_ = np.asarray([], dtype=str)
        self.user_genres_ = sp.csr_matrix((0, len(self.genres_)))
        if plays is not None and plays.num_rows:
            for c in ("user_id", "title_id"):
                if c not in plays.column_names:
                    raise DataError(f"plays need a {c!r} column")
            tid = plays["title_id"]
            if "series_id" in titles.column_names:  # episodes count for their series
                idx = pc.index_in(tid, value_set=titles["title_id"].combine_chunks())
                ser = titles["series_id"].combine_chunks().take(idx)
                tid = pc.coalesce(ser, tid)
            col = _index(tid, pa.array(self.title_ids_))
            ok = col >= 0
            counts = np.bincount(col[ok], minlength=n).astype(float)
            pop = np.log1p(counts)
            self.popularity_ = pop / pop.max() if pop.max() > 0 else pop
            users = pc.unique(plays["user_id"].drop_null()).sort()
            ui = _index(plays["user_id"], users)
            keep = ok & (ui >= 0)
            ui_k = ui[keep]
            ut = sp.csr_matrix((np.ones(len(ui_k)), (ui_k, col[keep])), shape=(len(users), n))
            ug = sp.csr_matrix(ut @ self.item_genres_)
            tot = np.asarray(ug.sum(axis=1)).ravel()
            self.user_genres_ = sp.csr_matrix(sp.diags(1.0 / np.maximum(tot, 1e-12)) @ ug)
            self.user_ids_ = np.asarray(users.to_pylist(), dtype=str)
        return self

    def taste(self, users: Sequence[str | None]) -> np.ndarray:
        """``(len(users), n_items)`` share of each member's plays in each title's genres
        (unknown members: 0)."""
        check_is_fitted(self, "user_genres_")
        u = np.asarray([x if x is not None else "" for x in users], dtype=str)
        pos = np.searchsorted(self.user_ids_, u)
        pos_c = np.minimum(pos, max(len(self.user_ids_) - 1, 0))
        known = (
            (len(self.user_ids_) > 0) & (self.user_ids_[pos_c] == u)
            if len(u)
            else np.array([], bool)
        )
        out = np.zeros((len(u), self.n_items_))
        if known.any():
            ug = self.user_genres_[pos_c[known]]
            # share of the member's plays in the title's genres: sum over its genres
            hit = self.__dict__.get("_genre_hit")
            if hit is None:
                hit = self.__dict__["_genre_hit"] = (self.item_genres_ > 0).astype(np.float64).T
            out[known] = np.asarray((ug @ hit).todense())
        return out

    def score(
        self, queries: Sequence[str], users: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """``(len(queries), n_items)`` blended scores (see the module docstring)."""
        check_is_fitted(self, "char_weights_")
        word = _row_max_scale(self.text_scores(queries))
        q = self._query_matrix(queries, self.char_terms_, "char")
        char = _row_max_scale(np.asarray((q @ self.char_weights_.T).todense()))
        s = word + self.char_weight * char + self.popularity_weight * self.popularity_[None, :]
        if users is not None and self.taste_weight:
            s = s + self.taste_weight * self.taste(users)
        return s


def evaluate_search(model: BM25Search, pairs: pa.Table, *, k: int = 10) -> dict[str, float]:
    """Offline quality on logged ``(user_id, query, title_id)`` search -> play pairs.

    The rank of the played title counts ties against it (a title scored like others is ranked
    after all of them), and a played title outside the index is a miss.

    Returns
    -------
    ``{"pairs", "mrr", "recall_at_k", "k"}``: mean reciprocal rank over all pairs and the share
    of pairs whose played title is in the top ``k``.
    """
    for c in ("query", "title_id"):
        if c not in pairs.column_names:
            raise DataError(f"search pairs need a {c!r} column")
    check_is_fitted(model)
    n = pairs.num_rows
    if n == 0:
        return {"pairs": 0.0, "mrr": float("nan"), "recall_at_k": float("nan"), "k": float(k)}
    queries = [q or "" for q in pairs["query"].to_pylist()]
    users = pairs["user_id"].to_pylist() if "user_id" in pairs.column_names else None
    tgt = _index(pairs["title_id"], pa.array(model.title_ids_))
    ranks = np.full(n, np.inf)
    for lo in range(0, n, SCORE_BATCH):
        hi = min(lo + SCORE_BATCH, n)
        s = model.score(queries[lo:hi], None if users is None else users[lo:hi])
        t = tgt[lo:hi]
        ok = t >= 0
        ts = s[np.arange(hi - lo), np.maximum(t, 0)]
        # pessimistic: every other title scored >= the played one ranks before it
        r = (s >= ts[:, None]).sum(axis=1)
        ranks[lo:hi] = np.where(ok, r, np.inf)
    return {
        "pairs": float(n),
        "mrr": float(np.mean(1.0 / ranks)),
        "recall_at_k": float(np.mean(ranks <= k)),
        "k": float(k),
    }
