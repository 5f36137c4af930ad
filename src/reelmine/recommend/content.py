"""Content-based recommender: title vectors from metadata, member profiles from history.

Each title becomes a bag of tokens (``genre:``, ``tag:``, description words, ``lang:``,
``decade:``), weighted by TF-IDF and compressed with truncated SVD into a dense unit vector.
A member's profile is the strength-weighted mean of the vectors of what they watched; scores
are cosine similarities. Titles added after training get vectors from their metadata alone
(:meth:`ContentModel.add_titles`), so they are recommendable on day one.
"""

from __future__ import annotations

import re
from typing import Any, Self

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer

from reelmine.errors import DataError
from reelmine.recommend._util import fold_in_rows, l2_normalize_rows
from reelmine.recommend.base import (
    HistoryScorer,
    as_interactions,
    check_is_fitted,
    fingerprint,
)

_WORD = re.compile(r"[a-z0-9]{3,}")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "his",
        "her",
        "its",
        "into",
        "their",
        "they",
        "them",
        "are",
        "was",
    ]
)


def title_tokens(titles: pa.Table) -> list[list[str]]:
    """Metadata tokens of every title row (genres, tags, description words, language, decade)."""
    n = titles.num_rows
    cols = set(titles.column_names)
    docs: list[list[str]] = [[] for _ in range(n)]

    def add_list(name: str, prefix: str) -> None:
        if name in cols:
            for doc, vals in zip(docs, titles.column(name).to_pylist(), strict=True):
                if vals:
                    doc.extend(f"{prefix}:{str(v).strip().lower()}" for v in vals if v)

    add_list("genres", "genre")
    add_list("tags", "tag")
    if "description" in cols:
        for doc, text in zip(docs, titles.column("description").to_pylist(), strict=True):
            if text:
                doc.extend(w for w in _WORD.findall(text.lower()) if w not in _STOP)
    if "language" in cols:
        for doc, lang in zip(docs, titles.column("language").to_pylist(), strict=True):
            if lang:
                doc.append(f"lang:{lang.lower()}")
    if "release_year" in cols:
        for doc, year in zip(docs, titles.column("release_year").to_pylist(), strict=True):
            if year is not None:
                doc.append(f"decade:{int(year) // 10 * 10}")
    return docs


def _identity(doc: list[str]) -> list[str]:
    return doc


class ContentModel(HistoryScorer):
    """Metadata-based recommender (TF-IDF + truncated SVD title vectors).

    Parameters
    ----------
    n_components : dimensions of the title vectors (capped by the vocabulary size).
    min_df : tokens used by fewer titles are dropped.
    popularity_weight : small weight of item popularity added to the cosine score; breaks ties
        between titles with identical metadata and favours titles people actually finish.
    random_state : seed of the SVD.
    """

    def __init__(
        self,
        *,
        n_components: int = 64,
        min_df: int = 1,
        popularity_weight: float = 0.05,
        random_state: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.min_df = min_df
        self.popularity_weight = popularity_weight
        self.random_state = random_state

    def fit(
        self,
        interactions: sp.spmatrix | np.ndarray,
        *,
        titles: pa.Table | None = None,
        **fit_params: Any,
    ) -> Self:
        """Build title vectors from ``titles`` (row ``i`` describes item ``i``) and keep history."""
        X = as_interactions(interactions)
        if titles is None:
            raise DataError("ContentModel.fit needs the titles table (fit(X, titles=...))")
        if titles.num_rows != X.shape[1]:
            raise DataError(
                f"titles has {titles.num_rows} rows, the interaction matrix {X.shape[1]} items"
            )
        docs = title_tokens(titles)
        vec = CountVectorizer(analyzer=_identity, min_df=self.min_df, binary=True)
        counts = vec.fit_transform(docs) if any(docs) else sp.csr_matrix((len(docs), 0))
        if counts.shape[1] == 0:
            raise DataError("titles carry no usable metadata (genres, tags, description, ...)")
        df = np.asarray((counts > 0).sum(axis=0)).ravel()
        idf = np.log((1 + counts.shape[0]) / (1 + df)) + 1.0
        vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        self.vocabulary_ = np.asarray(vocab, dtype=str)
        self.idf_ = idf.astype(np.float32)
        tfidf = self._tfidf(counts)
        n_comp = min(self.n_components, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
        if n_comp >= 2:
            svd = TruncatedSVD(n_components=n_comp, random_state=self.random_state)
            svd.fit(tfidf)
            self.components_ = svd.components_.astype(np.float32)
        else:  # tiny vocabularies: the TF-IDF space itself is small enough
            self.components_ = np.eye(tfidf.shape[1], dtype=np.float32)
        self.item_vectors_ = np.ascontiguousarray(self._project(tfidf))
        pop = np.asarray(X.getnnz(axis=0), dtype=np.float64)
        self.popularity_ = (np.log1p(pop) / max(np.log1p(pop).max(initial=0.0), 1e-12)).astype(
            np.float32
        )
        self.user_items_ = X
        self.n_users_, self.n_items_ = X.shape
        self.fingerprint_ = fingerprint(X)
        return self

    def _tfidf(self, counts: sp.spmatrix) -> sp.csr_matrix:
        m = sp.csr_matrix(counts, dtype=np.float32) @ sp.diags(self.idf_)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m)

    def _project(self, tfidf: sp.csr_matrix) -> np.ndarray:
        return l2_normalize_rows(np.asarray(tfidf @ self.components_.T, dtype=np.float32))

    def transform_titles(self, titles: pa.Table) -> np.ndarray:
        """Unit vectors of (possibly new) titles from their metadata, shape (n, n_components)."""
        check_is_fitted(self)
        vocab = {t: i for i, t in enumerate(self.vocabulary_.tolist())}
        vec = CountVectorizer(analyzer=_identity, vocabulary=vocab, binary=True)
        return self._project(self._tfidf(vec.transform(title_tokens(titles))))

    def add_titles(self, titles: pa.Table) -> Self:
        """Append new titles (item indices ``n_items_ ..``) known only by their metadata."""
        check_is_fitted(self)
        vecs = self.transform_titles(titles)
        n_new = vecs.shape[0]
        self.item_vectors_ = np.vstack([self.item_vectors_, vecs])
        self.popularity_ = np.concatenate([self.popularity_, np.zeros(n_new, np.float32)])
        X = self.user_items_
        self.user_items_ = sp.csr_matrix(
            (X.data, X.indices, X.indptr), shape=(X.shape[0], X.shape[1] + n_new)
        )
        self.n_items_ += n_new
        return self

    def profiles(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Unit taste profiles of interaction rows (n, n_items), shape (n, n_components)."""
        m = sp.csr_matrix(rows, dtype=np.float32)
        return l2_normalize_rows(np.asarray(m @ self.item_vectors_, dtype=np.float32))

    def score_history(self, rows: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Cosine of each title to the profile of fresh interaction rows, shape (n, n_items)."""
        check_is_fitted(self)
        m = fold_in_rows(rows, self.n_items_)
        sims = self.profiles(m) @ self.item_vectors_.T
        return (sims + self.popularity_weight * self.popularity_[None, :]).astype(np.float32)

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Titles whose metadata vectors are closest to ``item``'s."""
        check_is_fitted(self)
        if not 0 <= item < self.n_items_:
            raise IndexError(f"item index {item} outside 0..{self.n_items_ - 1}")
        from reelmine.recommend.base import top_k

        sims = (self.item_vectors_ @ self.item_vectors_[item]).astype(np.float32)
        sims[item] = -np.inf
        ids, vals = top_k(sims[None, :], k)
        return ids[0], vals[0]
