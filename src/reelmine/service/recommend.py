"""Recommendation use cases shared by the CLI, the API and the dashboard.

Training reads the warehouse once, maps pseudonymised member IDs and title IDs to dense
integers (:class:`~reelmine.data.vocab.Vocabulary`), fits

* the top-N model (default: the hybrid ranker),
* a per-country popularity model (cold start and "Trending in your country"),
* a content model (title vectors: new titles, "similar", diversification, reasons),
* the default rating model when the warehouse holds ratings,

and saves them as one *bundle* folder under ``<artifacts>/recommend/``. ``CURRENT`` names
the bundle in service; training writes a new bundle and then switches ``CURRENT`` in one
rename, so a running server hot-swaps without dropping requests
(:meth:`RecommendationService.refresh`).

Interactions: plays when the warehouse has any (strength ``1 + log1p(minutes watched)``),
otherwise ratings (strength 1: every rating counts as an interaction, as in the top-N
protocol of ``docs/recommend-evaluation.md``).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from reelmine.data.pseudonym import Pseudonymiser
from reelmine.data.vocab import Vocabulary
from reelmine.data.warehouse import Warehouse
from reelmine.errors import ConfigError, DataError, NotFoundError
from reelmine.recommend.base import RatingPredictor, Recommender, _Persistable, top_k
from reelmine.recommend.coldstart import cold_start_scores
from reelmine.recommend.content import ContentModel
from reelmine.recommend.popularity import Popularity
from reelmine.recommend.rating import DEFAULT_RATING_MODEL, RATING_MODELS
from reelmine.recommend.registry import DEFAULT_MODEL, make_recommender
from reelmine.recommend.rows import BusinessRules, HomePage, Row
from reelmine.settings import Settings

CURRENT = "CURRENT"
# The bundle's own manifest; with ``user_vocab.parquet`` beside it, erasure and key rotation
# (reelmine.privacy) find the member list and fold members out of every nested model.
BUNDLE_META = "manifest.json"
USER_VOCAB = "user_vocab.parquet"
TITLE_COLUMNS = (
    "title_id",
    "name",
    "kind",
    "genres",
    "release_year",
    "description",
    "language",
    "maturity",
    "added_at",
    "tags",
    "countries",
)


# Serving memo: answers kept per bundle (bundles never change, so they never go stale). Bounded
# so a long-running server over millions of members does not grow without limit.
MEMO_ENTRIES = 200_000
# Members whose default list (k=10, own country) is computed in the background when a bundle
# is loaded, most active first: the hybrid ranker costs milliseconds per member, which the
# request path must not pay for the members who come back most.
WARM_MEMBERS = 50_000
WARM_K = 10
# How often the API's request path looks for a newly trained bundle (hot swap delay at worst).
POINTER_CHECK_SECONDS = 0.5


def recommend_dir(settings: Settings) -> Path:
    """Folder holding every trained bundle and the ``CURRENT`` pointer."""
    return Path(settings.artifacts) / "recommend"


# --------------------------------------------------------------------------- training data
@dataclass
class TrainingData:
    """Everything the models learn from, integer-indexed."""

    users: Vocabulary  # pseudonymised member IDs
    items: Vocabulary  # title IDs
    interactions: sp.csr_matrix  # (n_users, n_items) strengths
    times: sp.csr_matrix  # same sparsity: latest interaction time, epoch seconds
    titles: pa.Table  # row i describes item i (contract columns present in the warehouse)
    user_country: np.ndarray  # int32 code per user, -1 unknown
    countries: list[str]
    source: str  # "plays" or "ratings"
    ratings: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # user, item, rating


def _interaction_query(wh: Warehouse) -> tuple[str, str]:
    if wh.has_table("plays") and wh.count("plays") > 0:
        cols = set(wh.columns("plays"))
        if "watched_seconds" in cols and "ended_at" in cols:
            seconds = "coalesce(watched_seconds, epoch(ended_at) - epoch(started_at), 0)"  # noqa: S608
        elif "watched_seconds" in cols:
            seconds = "coalesce(watched_seconds, 0)"
        else:
            seconds = "coalesce(epoch(ended_at) - epoch(started_at), 0)"
        sql = f"""
            SELECT user_id, title_id,
                   1 + ln(1 + greatest(sum({seconds}), 0) / 60) AS strength,
                   max(epoch(started_at)) AS t
            FROM plays GROUP BY user_id, title_id
        """
        return sql, "plays"
    if wh.has_table("ratings") and wh.count("ratings") > 0:
        sql = """
            SELECT user_id, title_id, 1.0 AS strength, max(epoch(rated_at)) AS t
            FROM ratings GROUP BY user_id, title_id
        """
        return sql, "ratings"
    raise DataError("the warehouse has no plays and no ratings to learn from; ingest some first")


def load_training_data(wh: Warehouse) -> TrainingData:
    """Read interactions, titles, member countries and ratings from the warehouse."""
    sql, source = _interaction_query(wh)
    inter = wh.query(sql)
    have_titles = wh.has_table("titles") and wh.count("titles") > 0
    titles = (
        wh.table("titles", [c for c in TITLE_COLUMNS if c in set(wh.columns("titles"))])
        if have_titles
        else pa.table({"title_id": pa.array([], pa.string()), "name": pa.array([], pa.string())})
    )
    users = Vocabulary.from_values(inter.column("user_id"))
    items = Vocabulary.from_values(
        pa.chunked_array([inter.column("title_id"), titles.column("title_id")], pa.string())
    )
    u = users.index(inter.column("user_id"))
    i = items.index(inter.column("title_id"))
    shape = (len(users), len(items))
    strength = np.asarray(inter.column("strength").to_numpy(), np.float32)
    when = np.asarray(pc.fill_null(inter.column("t"), 0).to_numpy(), np.float64)
    X = sp.csr_matrix((strength, (u, i)), shape=shape)
    T = sp.csr_matrix((when, (u, i)), shape=shape)
    X.sort_indices()
    T.sort_indices()

    # Align the titles table to the item vocabulary (titles seen only in events get a name).
    pos = items.index(titles.column("title_id"))
    order = np.full(len(items), -1, np.int64)
    order[pos] = np.arange(titles.num_rows)
    missing = np.flatnonzero(order < 0)
    aligned = titles.take(pa.array(np.where(order < 0, 0, order))) if titles.num_rows else None
    if aligned is None:
        aligned = pa.table({"title_id": items.ids, "name": items.ids})
    elif len(missing):
        ids = items.ids
        cols = {}
        for name in aligned.column_names:
            col = aligned.column(name).combine_chunks()
            mask = pa.array(order < 0)
            if name in ("title_id", "name"):
                cols[name] = pc.if_else(mask, ids, col)
            else:
                cols[name] = pc.if_else(mask, pa.nulls(len(ids), col.type), col)
        aligned = pa.table(cols)

    countries: list[str] = []
    user_country = np.full(len(users), -1, np.int32)
    if wh.has_table("users") and "country" in set(wh.columns("users")):
        ut = wh.table("users", ["user_id", "country"])
        idx = users.index(ut.column("user_id"))
        ok = idx >= 0
        raw = ut.column("country").to_pylist()
        countries = sorted({c for c in raw if c})
        code = {c: n for n, c in enumerate(countries)}
        codes = np.array([code.get(c, -1) if c else -1 for c in raw], np.int32)
        user_country[idx[ok]] = codes[ok]

    ratings = None
    if wh.has_table("ratings") and wh.count("ratings") > 0:
        r = wh.query(
            "SELECT user_id, title_id, avg(rating) AS rating "
            "FROM ratings GROUP BY user_id, title_id"
        )
        ru, ri = users.index(r.column("user_id")), items.index(r.column("title_id"))
        keep = (ru >= 0) & (ri >= 0)
        rv = np.asarray(r.column("rating").to_numpy(), np.float64)
        ratings = (ru[keep], ri[keep], rv[keep])
    return TrainingData(users, items, X, T, aligned, user_country, countries, source, ratings)


def _item_genres(titles: pa.Table) -> tuple[sp.csr_matrix | None, list[str]]:
    if "genres" not in titles.column_names:
        return None, []
    lists = titles.column("genres").to_pylist()
    names = sorted({g for gl in lists if gl for g in gl})
    if not names:
        return None, []
    code = {g: n for n, g in enumerate(names)}
    rows = [r for r, gl in enumerate(lists) if gl for _ in gl]
    cols = [code[g] for gl in lists if gl for g in gl]
    G = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(lists), len(names))
    )
    return G, names


def _newness(titles: pa.Table) -> np.ndarray | None:
    if "added_at" in titles.column_names and titles.column("added_at").null_count < titles.num_rows:
        t = pc.cast(titles.column("added_at"), pa.int64()).to_numpy(zero_copy_only=False)
        return np.nan_to_num(np.asarray(t, np.float64), nan=-np.inf)
    if "release_year" in titles.column_names:
        y = titles.column("release_year").to_numpy(zero_copy_only=False)
        return np.nan_to_num(np.asarray(y, np.float64), nan=-np.inf)
    return None


# --------------------------------------------------------------------------- bundles
class MemberHistory(_Persistable):
    """When each member last played each title (for "Because you watched" rows).

    Kept as a saved model so erasure folds members out of it like any other model:
    ``user_times_`` is user-indexed and ``n_users_`` says how many rows it has.
    """

    def __init__(self) -> None:
        pass

    def fit(self, times: sp.csr_matrix) -> MemberHistory:
        self.user_times_ = sp.csr_matrix(times)
        self.n_users_ = int(self.user_times_.shape[0])
        return self


@dataclass
class TrainResult:
    """What ``train`` produced."""

    bundle: Path
    model: str
    rating_model: str | None
    users: int
    titles: int
    interactions: int
    source: str
    seconds: float
    fit_seconds: dict[str, float] = field(default_factory=dict)


def train(
    settings: Settings,
    *,
    model: str | None = None,
    out: Path | None = None,
    params: dict[str, Any] | None = None,
    random_state: int = 0,
) -> TrainResult:
    """Train a bundle from the warehouse and make it current.

    Parameters
    ----------
    model : top-N model name (see ``reelmine.recommend.registry``); default the hybrid ranker.
        With no ``model``, the default rating-prediction model is trained too (when the
        warehouse has ratings).
    out : bundle folder; default a new timestamped folder under ``<artifacts>/recommend``.
    params : constructor parameters of the top-N model.
    """
    started = time.perf_counter()
    with Warehouse.open(settings, read_only=True) as wh:
        data = load_training_data(wh)
    name = model or DEFAULT_MODEL
    timings: dict[str, float] = {}
    genres, genre_names = _item_genres(data.titles)

    def timed(label: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        result = fn()
        timings[label] = round(time.perf_counter() - t0, 3)
        return result

    fit_kw: dict[str, Any] = {"times": data.times, "item_genres": genres, "titles": data.titles}
    if name == "popularity":
        fit_kw["user_groups"] = data.user_country
    topn = make_recommender(name, random_state=random_state, **(params or {}))
    topn = timed(name, lambda: topn.fit(data.interactions, **_accepted(topn, fit_kw)))
    trending = Popularity(half_life_days=7.0, random_state=random_state)
    trending = timed(
        "trending",
        lambda: trending.fit(data.interactions, times=data.times, user_groups=data.user_country),
    )
    content: ContentModel | None = None
    if len(data.titles.column_names) > 2:
        try:
            content = timed(
                "content",
                lambda: ContentModel(random_state=random_state).fit(
                    data.interactions, titles=data.titles
                ),
            )
        except DataError:
            content = None  # titles carry no usable metadata: rows go without diversification
    rating: RatingPredictor | None = None
    rating_name: str | None = None
    if model is None and data.ratings is not None and len(data.ratings[0]):
        ru, ri, rv = data.ratings
        rating = timed(
            "rating", lambda: DEFAULT_RATING_MODEL(random_state=random_state).fit(ru, ri, rv)
        )
        rating_name = next(k for k, v in RATING_MODELS.items() if v is DEFAULT_RATING_MODEL)

    root = recommend_dir(settings)
    bundle = out or root / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir(parents=True)
    topn.save(bundle / "topn")
    trending.save(bundle / "trending")
    if content is not None:
        content.save(bundle / "content")
    if rating is not None:
        rating.save(bundle / "rating")
    pq.write_table(
        pa.table({"user_id": data.users.ids, "country": _country_col(data)}), bundle / USER_VOCAB
    )
    pa_write(bundle / "titles.arrow", data.titles)
    MemberHistory().fit(data.times).save(bundle / "history")
    meta = {
        "model": name,
        "rating_model": rating_name,
        "source": data.source,
        "trained_at": datetime.now(UTC).isoformat(),
        "countries": data.countries,
        "genres": genre_names,
        "users": len(data.users),
        "titles": len(data.items),
        "interactions": int(data.interactions.nnz),
        "fit_seconds": timings,
    }
    (bundle / BUNDLE_META).write_text(json.dumps(meta, indent=2))
    if out is None or out.parent == root:
        set_current(settings, bundle)
    return TrainResult(
        bundle=bundle,
        model=name,
        rating_model=rating_name,
        users=len(data.users),
        titles=len(data.items),
        interactions=int(data.interactions.nnz),
        source=data.source,
        seconds=round(time.perf_counter() - started, 2),
        fit_seconds=timings,
    )


def _accepted(model: Recommender, kw: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``model.fit`` declares (models ignore what they do not use)."""
    import inspect

    sig = inspect.signature(type(model).fit)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        names = {p for p in sig.parameters if p not in ("self", "interactions")}
        return {k: v for k, v in kw.items() if k in names}
    return {k: v for k, v in kw.items() if k in sig.parameters}


def _country_col(data: TrainingData) -> pa.Array:
    names = np.array(data.countries + [None], dtype=object)
    return pa.array(names[np.where(data.user_country >= 0, data.user_country, len(data.countries))])


def pa_write(path: Path, table: pa.Table) -> None:
    """Write an Arrow IPC file (fast to memory-map at serving start)."""
    import pyarrow.ipc as ipc

    with ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table)


def _pa_read(path: Path) -> pa.Table:
    import pyarrow.ipc as ipc

    with ipc.open_file(str(path)) as reader:
        return reader.read_all()


def set_current(settings: Settings, bundle: Path) -> None:
    """Point ``CURRENT`` at ``bundle`` atomically (write a temp file, then rename)."""
    root = recommend_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{CURRENT}.{os.getpid()}"
    tmp.write_text(str(Path(bundle).resolve()))
    os.replace(tmp, root / CURRENT)


def current_bundle(settings: Settings) -> Path:
    """The bundle in service; :class:`NotFoundError` when nothing was trained yet."""
    pointer = recommend_dir(settings) / CURRENT
    if not pointer.is_file():
        raise NotFoundError("no recommendation model trained yet; run `reelmine recommend train`")
    path = Path(pointer.read_text().strip())
    if not (path / BUNDLE_META).is_file():
        raise NotFoundError(f"the current model bundle {path} is missing; retrain it")
    return path


# --------------------------------------------------------------------------- serving
@dataclass(frozen=True)
class Recommendation:
    """One recommended title for a member."""

    title_id: str
    name: str
    rank: int
    score: float
    reason: str


class LoadedBundle:
    """A bundle loaded in memory, answering requests; immutable once built."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta = json.loads((path / BUNDLE_META).read_text())
        self.model: Recommender = _Persistable.load(path / "topn")  # type: ignore[assignment]
        self.trending: Popularity = Popularity.load(path / "trending")
        self.content: ContentModel | None = (
            ContentModel.load(path / "content") if (path / "content").is_dir() else None
        )
        self.rating: RatingPredictor | None = (
            _Persistable.load(path / "rating") if (path / "rating").is_dir() else None  # type: ignore[assignment]
        )
        users = pq.read_table(path / USER_VOCAB)
        self.users = Vocabulary(users.column("user_id").combine_chunks())
        self.user_country = users.column("country").to_pylist()
        self.titles = _pa_read(path / "titles.arrow")
        self.items = Vocabulary(self.titles.column("title_id").combine_chunks())
        self.names = [
            n or t
            for n, t in zip(
                self.titles.column("name").to_pylist(), self.items.to_list(), strict=True
            )
        ]
        self.times = MemberHistory.load(path / "history").user_times_.tocsr()
        self.countries: list[str] = self.meta.get("countries", [])
        genres, genre_names = _item_genres(self.titles)
        self.homepage = HomePage(
            self.model,
            item_names=self.names,
            item_vectors=None if self.content is None else self.content.item_vectors_,
            similar=self.content if self.content is not None else None,
            item_genres=genres,
            genre_names=genre_names,
            trending=getattr(self.trending, "group_scores_", self.trending.item_scores_),
            segment_names=self.countries,
            newness=_newness(self.titles),
        )
        self._lock = threading.Lock()
        self._rules: dict[str, BusinessRules] = {}
        self._aggregates: dict[str, pa.Table] = {}
        # Member lookup by binary search over the sorted pseudonyms (a few microseconds; an
        # Arrow ``index_in`` per request costs ~0.2 ms, a dict ~100 bytes per member).
        raw = np.array(self.users.to_list(), dtype=np.bytes_)
        self._user_order = np.argsort(raw, kind="stable")
        self._user_sorted = raw[self._user_order]
        self._item_ids = self.items.to_list()
        # (member index or -1 for cold start, k, country override) -> answer
        self._memo: dict[tuple[int, int, str | None], list[Recommendation]] = {}
        self._stop = threading.Event()
        self.warmed = threading.Event()

    # -- helpers
    def rules(self, country: str) -> BusinessRules:
        """Availability rules for a country, built once per country: building them walks the
        whole catalogue, which must stay off the per-request path."""
        cached = self._rules.get(country)
        if cached is None:
            cached = self._rules[country] = BusinessRules.from_titles(self.titles, country=country)
        return cached

    def country_code(self, country: str | None) -> int:
        return self.countries.index(country) if country in self.countries else -1

    def user_index(self, pseudonym: str) -> int:
        """Dense index of a pseudonymised member, ``-1`` when unknown."""
        b = pseudonym.encode()
        i = int(np.searchsorted(self._user_sorted, b))
        if i < len(self._user_sorted) and self._user_sorted[i] == b:
            return int(self._user_order[i])
        return -1

    def recent_items(self, user: int, n: int = 5) -> list[int]:
        if user < 0:
            return []
        row = self.times[user]
        order = np.argsort(-row.data, kind="stable")[:n]
        return [int(i) for i in row.indices[order]]

    def reasons(self, user: int, items: np.ndarray, country: str | None) -> list[str]:
        """A reason for each recommended item: the most similar title the member watched."""
        if user < 0 or self.content is None:
            where = f" in {country}" if country else ""
            return [f"Popular{where} right now" for _ in items]
        seen = self.model.user_items_[user].indices
        if len(seen) == 0:
            return ["Popular right now" for _ in items]
        V = self.content.item_vectors_
        sims = V[np.asarray(items)] @ V[seen].T  # (k, n_seen)
        best = seen[np.argmax(sims, axis=1)]
        return [f"Because you watched {self.names[b]}" for b in best]

    def top(self, pseudonym: str, k: int, *, country: str | None = None) -> list[Recommendation]:
        """Top ``k`` for one member, answered from the bundle's memo when computed before
        (unknown members share one cold-start answer per country)."""
        user = self.user_index(pseudonym)
        key = (user, k, country)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._top_indexed(np.array([user], np.int64), k, country=country)[0]
            self._remember(key, hit)
        return hit

    def memoised(
        self, user: int, k: int, country: str | None = None
    ) -> list[Recommendation] | None:
        """The answer :meth:`top` gave before for member index ``user`` (-1: cold start)."""
        return self._memo.get((user, k, country))

    def _remember(self, key: tuple[int, int, str | None], value: list[Recommendation]) -> None:
        if len(self._memo) < MEMO_ENTRIES:
            self._memo[key] = value

    def warm(self, k: int = WARM_K, *, limit: int = WARM_MEMBERS, batch: int = 128) -> int:
        """Compute and memoise the default top ``k`` of the ``limit`` most active members (and
        the cold-start answer), in batches; stops early when the bundle is retired.
        Returns the number of members computed; ``warmed`` is set when it ends."""
        try:
            counts = np.diff(self.times.indptr)
            order = np.argsort(-counts, kind="stable")[:limit].astype(np.int64)
            done = 0
            if (-1, k, None) not in self._memo:
                self._remember((-1, k, None), self._top_indexed(np.array([-1], np.int64), k)[0])
            for start in range(0, len(order), batch):
                if self._stop.is_set():
                    break
                chunk = order[start : start + batch]
                users = np.array(
                    [u for u in chunk if (int(u), k, None) not in self._memo], np.int64
                )
                if len(users):
                    for u, recs in zip(users, self._top_indexed(users, k), strict=True):
                        self._remember((int(u), k, None), recs)
                    done += len(users)
            return done
        finally:
            self.warmed.set()

    def retire(self) -> None:
        """Stop background warming (a newer bundle took over)."""
        self._stop.set()

    def _cold_scores(self, countries: Sequence[str | None]) -> np.ndarray:
        n = len(countries)
        cold, _ = cold_start_scores(
            sp.csr_matrix((n, self.model.n_items_), dtype=np.float32),
            popularity=self.trending,
            segments=np.array([self.country_code(c) for c in countries], np.int64),
        )
        return cold

    def top_many(
        self, pseudonyms: Sequence[str], k: int, *, country: str | None = None
    ) -> list[list[Recommendation]]:
        """Top ``k`` for many members at once: known members in one batched model call,
        unknown ones from popularity in their country (cold start); country availability
        rules apply when the member's (or the given) country is known."""
        users = self.users.index(list(pseudonyms)).astype(np.int64)
        return self._top_indexed(users, k, country=country)

    def _top_indexed(
        self, users: np.ndarray, k: int, *, country: str | None = None
    ) -> list[list[Recommendation]]:
        n = len(users)
        ids = np.full((n, k), -1, np.int32)
        scores = np.zeros((n, k), np.float32)
        countries = [country or (self.user_country[u] if u >= 0 else None) for u in users]
        # Members sharing a country share availability rules: one batched call per country.
        for c in sorted(set(countries), key=lambda x: x or ""):
            rows = np.flatnonzero(np.array([x == c for x in countries]))
            allowed = self.rules(c).allowed if c else None
            known = rows[users[rows] >= 0]
            if len(known):
                ids[known], scores[known] = self.model.recommend(
                    users[known], k, allowed_items=allowed
                )
            cold = rows[users[rows] < 0]
            if len(cold):
                s = self._cold_scores([c] * len(cold))
                if allowed is not None:
                    s[:, ~allowed] = -np.inf
                ids[cold], scores[cold] = top_k(s, k)
        out = []
        for r in range(n):
            keep = ids[r] >= 0
            items, vals = ids[r][keep], scores[r][keep]
            reasons = self.reasons(int(users[r]), items, countries[r])
            out.append(
                [
                    Recommendation(self.item_id(i), self.names[int(i)], j + 1, float(v), why)
                    for j, (i, v, why) in enumerate(zip(items, vals, reasons, strict=True))
                ]
            )
        return out

    def item_id(self, item: int) -> str:
        return self._item_ids[int(item)]

    def rows(self, pseudonym: str, *, country: str | None = None) -> list[Row]:
        user = self.user_index(pseudonym)
        if country is None and user >= 0:
            country = self.user_country[user]
        rules = self.rules(country) if country else None
        scores = self._cold_scores([country])[0] if user < 0 else None
        with self._lock:  # HomePage keeps no state, but MMR buffers are cheap to serialise
            return self.homepage.rows(
                user,
                recent=self.recent_items(user),
                segment=self.country_code(country),
                rules=rules,
                scores=scores,
            )

    def similar(self, title_id: str, k: int) -> list[Recommendation]:
        item = int(self.items.index([title_id])[0])
        if item < 0:
            raise NotFoundError(f"unknown title {title_id!r}")
        source = self.content if self.content is not None else self.model
        ids, scores = source.similar_items(item, k)
        keep = ids >= 0
        why = f"Similar to {self.names[item]}"
        return [
            Recommendation(self.item_id(i), self.names[int(i)], r + 1, float(s), why)
            for r, (i, s) in enumerate(zip(ids[keep], scores[keep], strict=True))
        ]

    # -- member explorer (admin) and aggregate views of the bundle
    def history(self, user: int, n: int = 20) -> pa.Table:
        """The member's titles as the model saw them, latest first.

        Columns: ``title_id``, ``name``, ``last_played`` (UTC timestamp), ``strength`` (the
        interaction strength the model learned from; 1 + log1p(minutes) for plays).
        Empty for an unknown member (``user < 0``).
        """
        if user < 0:
            idx, when = np.zeros(0, np.int64), np.zeros(0)
        else:
            row = self.times[user]
            order = np.argsort(-row.data, kind="stable")[:n]
            idx, when = row.indices[order].astype(np.int64), row.data[order]
        X = self.model.user_items_
        strength = (
            np.asarray(X[user, idx].todense()).ravel() if len(idx) else np.zeros(0, np.float32)
        )
        return pa.table(
            {
                "title_id": pa.array([self.item_id(int(i)) for i in idx], pa.string()),
                "name": pa.array([self.names[int(i)] for i in idx], pa.string()),
                "last_played": pa.array((when * 1e6).astype(np.int64), pa.timestamp("us", "UTC")),
                "strength": pa.array(np.asarray(strength, np.float64)),
            }
        )

    def sample_members(self, n: int = 8) -> pa.Table:
        """``n`` known members spread over activity levels (most to least active, evenly
        spaced ranks): columns ``user_id`` (pseudonym), ``country``, ``titles``."""
        counts = np.diff(self.times.indptr)
        order = np.argsort(-counts, kind="stable")
        pick = order[np.unique(np.linspace(0, len(order) - 1, min(n, len(order))).astype(int))]
        return pa.table(
            {
                "user_id": self.users.ids.take(pa.array(pick)),
                "country": pa.array([self.user_country[int(u)] for u in pick], pa.string()),
                "titles": pa.array(counts[pick].astype(np.int64)),
            }
        )

    def coverage(self, k: int = 10, *, batch: int = 4096) -> pa.Table:
        """Catalogue coverage of every known member's top ``k``, per member country.

        Columns: ``country`` (``"(unknown)"`` when not known), ``members``,
        ``titles_recommended`` (distinct titles in any member's top ``k``), ``coverage``
        (that count over the catalogue size). Computed once per bundle and ``k``.
        """
        key = f"coverage@{k}"
        with self._lock:
            done = self._aggregates.get(key)
        if done is not None:
            return done
        n_users, n_items = len(self.users), self.model.n_items_
        codes = np.array([self.country_code(c) for c in self.user_country], np.int64)
        rows: dict[str, list[Any]] = {
            "country": [],
            "members": [],
            "titles_recommended": [],
            "coverage": [],
        }
        for code in np.unique(codes) if n_users else []:
            country = self.countries[code] if code >= 0 else None
            allowed = self.rules(country).allowed if country else None
            members = np.flatnonzero(codes == code)
            hit = np.zeros(n_items, bool)
            for start in range(0, len(members), batch):  # bounded memory per batch
                ids, _ = self.model.recommend(
                    members[start : start + batch], k, allowed_items=allowed
                )
                hit[ids[ids >= 0]] = True
            rows["country"].append(country or "(unknown)")
            rows["members"].append(len(members))
            rows["titles_recommended"].append(int(hit.sum()))
            rows["coverage"].append(float(hit.sum()) / max(n_items, 1))
        out = pa.table(
            rows,
            schema=pa.schema(
                [
                    ("country", pa.string()),
                    ("members", pa.int64()),
                    ("titles_recommended", pa.int64()),
                    ("coverage", pa.float64()),
                ]
            ),
        )
        with self._lock:
            self._aggregates[key] = out
        return out

    def predict(self, pseudonyms: Sequence[str], title_ids: Sequence[str]) -> np.ndarray:
        if self.rating is None:
            raise NotFoundError(
                "no rating model in the current bundle (the warehouse had no ratings, or "
                "`recommend train --model` trained a top-N model only)"
            )
        u = self.users.index(list(pseudonyms)).astype(np.int64)
        i = self.items.index(list(title_ids)).astype(np.int64)
        return np.asarray(self.rating.predict(u, i), np.float64)


_WARMING: weakref.WeakSet[LoadedBundle] = weakref.WeakSet()


@atexit.register
def _stop_warming() -> None:
    """Let background warm-ups stop between batches before the interpreter goes away (a
    daemon thread killed inside native model code can crash the exit)."""
    bundles = list(_WARMING)
    for b in bundles:
        b.retire()
    for b in bundles:
        b.warmed.wait(timeout=5)


class RecommendationService:
    """Loads the current bundle once and swaps in a newer one when ``CURRENT`` changes.

    Parameters
    ----------
    settings : where the bundles live and the pseudonymisation key.
    warm : precompute, in a background thread, the default list of the most active members
        whenever a bundle is loaded (servers: see :meth:`LoadedBundle.warm`).
    """

    def __init__(self, settings: Settings, *, warm: bool = False) -> None:
        self.settings = settings
        self.warm = warm
        self._pseudonymiser: Pseudonymiser | None = None
        self._pseudonyms: dict[str, str] = {}
        self._bundle: LoadedBundle | None = None
        self._pointer_mtime = 0.0
        self._pointer = str(recommend_dir(settings) / CURRENT)
        self._checked_at = -1e9
        self._lock = threading.Lock()

    @property
    def pseudonymiser(self) -> Pseudonymiser:
        if self._pseudonymiser is None:
            self._pseudonymiser = Pseudonymiser.from_settings(self.settings)
        return self._pseudonymiser

    def pseudonym(self, raw_user_id: str) -> str:
        """The pseudonym ingestion gave ``raw_user_id`` (same key, same HMAC); remembered, as
        members come back (the process holds the key anyway, so this reveals nothing more)."""
        hit = self._pseudonyms.get(raw_user_id)
        if hit is None:
            hit = self.pseudonymiser.pseudonymise_ids([raw_user_id])[0]
            if len(self._pseudonyms) < MEMO_ENTRIES:
                self._pseudonyms[raw_user_id] = hit
        return hit

    def loaded(self) -> LoadedBundle | None:
        """The bundle in service when it is loaded and ``CURRENT`` has not moved, else ``None``
        (then :meth:`refresh` has loading to do).

        The request path's check: ``CURRENT`` is looked at (one ``stat``) at most every
        :data:`POINTER_CHECK_SECONDS`, so a new bundle is picked up that much later at worst.
        """
        bundle = self._bundle
        if bundle is None:
            return None
        now = time.monotonic()
        if now - self._checked_at < POINTER_CHECK_SECONDS:
            return bundle
        try:
            mtime = os.stat(self._pointer).st_mtime
        except FileNotFoundError:
            return None
        if mtime != self._pointer_mtime:
            return None
        self._checked_at = now
        return bundle

    def close(self) -> None:
        """Stop the loaded bundle's background warming (the service is being replaced)."""
        if self._bundle is not None:
            self._bundle.retire()

    def refresh(self) -> LoadedBundle:
        """The bundle in service, reloaded if ``CURRENT`` moved (hot swap)."""
        pointer = recommend_dir(self.settings) / CURRENT
        mtime = pointer.stat().st_mtime if pointer.exists() else 0.0
        bundle = self._bundle
        if bundle is not None and mtime == self._pointer_mtime:
            return bundle
        with self._lock:
            if self._bundle is None or mtime != self._pointer_mtime:
                loaded = LoadedBundle(current_bundle(self.settings))
                old = self._bundle
                # Requests in flight keep the old object; new ones see the new bundle.
                self._bundle, self._pointer_mtime = loaded, mtime
                # A retrain may follow a key rotation: read the key again, forget pseudonyms.
                self._pseudonymiser, self._pseudonyms = None, {}
                if old is not None:
                    old.retire()
                if self.warm:
                    _WARMING.add(loaded)
                    threading.Thread(target=loaded.warm, name="reelmine-warm", daemon=True).start()
            return self._bundle

    def top(
        self, raw_user_id: str, k: int = 10, *, country: str | None = None
    ) -> list[Recommendation]:
        return self.refresh().top(self.pseudonym(raw_user_id), k, country=country)

    def rows(self, raw_user_id: str, *, country: str | None = None) -> list[Row]:
        return self.refresh().rows(self.pseudonym(raw_user_id), country=country)

    def similar(self, title_id: str, k: int = 10) -> list[Recommendation]:
        return self.refresh().similar(title_id, k)

    def predict(self, raw_user_ids: Sequence[str], title_ids: Sequence[str]) -> np.ndarray:
        pseudonyms = self.pseudonymiser.pseudonymise_ids(raw_user_ids)
        return self.refresh().predict(pseudonyms, title_ids)

    def row_names(self) -> dict[str, Any]:
        return asdict(TrainInfo.from_meta(self.refresh().meta))


@dataclass
class TrainInfo:
    model: str
    trained_at: str
    users: int
    titles: int

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> TrainInfo:
        return cls(meta["model"], meta["trained_at"], meta["users"], meta["titles"])


def batch_top(settings: Settings, raw_user_ids: Sequence[str], k: int = 10) -> pa.Table:
    """Top-``k`` for many members: columns ``user_id`` (raw, as given), rank, title_id, score,
    reason."""
    if k < 1:
        raise ConfigError("k must be at least 1")
    service = RecommendationService(settings)
    bundle = service.refresh()
    raw = [str(r) for r in raw_user_ids]
    pseudonyms = service.pseudonymiser.pseudonymise_ids(raw)
    out: dict[str, list[Any]] = {c: [] for c in ("user_id", "rank", "title_id", "score", "reason")}
    for start in range(0, len(raw), 4096):  # bounded memory for long member lists
        chunk = bundle.top_many(pseudonyms[start : start + 4096], k)
        for member, recs in zip(raw[start : start + 4096], chunk, strict=True):
            for rec in recs:
                out["user_id"].append(member)
                out["rank"].append(rec.rank)
                out["title_id"].append(rec.title_id)
                out["score"].append(rec.score)
                out["reason"].append(rec.reason)
    return pa.table(out)


# --------------------------------------------------------------------------- evaluation
EVALUATION = "evaluation.json"


def bundle_evaluation(settings: Settings, *, random_state: int = 0) -> pa.Table:
    """Offline quality of the current bundle's model next to the popularity baseline.

    Runs :func:`evaluate` (top-N at 10) on the warehouse the first time it is asked for a
    bundle and keeps the result in the bundle folder (``evaluation.json``), so later calls
    (the dashboard's chart) read it back. One row per model: ``model``, ``ndcg@10``,
    ``recall@10``, ... and ``n_users`` (members evaluated).

    Raises
    ------
    NotFoundError
        When no model has been trained yet.
    """
    bundle = current_bundle(settings)
    path = bundle / EVALUATION
    if path.is_file():
        return pa.Table.from_pylist(json.loads(path.read_text())["rows"])
    meta = json.loads((bundle / BUNDLE_META).read_text())
    names = [meta["model"], *(["popularity"] if meta["model"] != "popularity" else [])]
    table = evaluate(settings, models=names, k=(10,), random_state=random_state)
    tmp = path.with_name(f".{EVALUATION}.{os.getpid()}.{threading.get_ident()}")
    record = {"bundle": bundle.name, "evaluated_at": datetime.now(UTC).isoformat()}
    tmp.write_text(json.dumps({**record, "rows": table.to_pylist()}, indent=2))
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old state or the whole file
    return table


def evaluate(
    settings: Settings,
    *,
    models: Sequence[str] = (DEFAULT_MODEL, "ease", "als", "popularity"),
    test_fraction: float = 0.2,
    k: Sequence[int] = (10, 20),
    random_state: int = 0,
) -> pa.Table:
    """Offline evaluation on the warehouse: per-member temporal holdout of the latest
    ``test_fraction`` (rounded up) of each member's interactions, full ranking over the titles
    seen in training, training titles excluded. One row per model with NDCG/Recall/... @k,
    catalogue coverage and fit time."""
    from reelmine.recommend.evaluate import evaluate_topn, split_matrices, user_holdout_split

    with Warehouse.open(settings, read_only=True) as wh:
        data = load_training_data(wh)
    X, T = data.interactions.tocoo(), data.times.tocsr()
    users, items = X.row.astype(np.int64), X.col.astype(np.int64)
    when = np.asarray(T[users, items]).ravel()
    split = user_holdout_split(users, when, test_fraction=test_fraction)
    train_m, test_m = split_matrices(users, items, split, values=X.data)
    train_t, _ = split_matrices(users, items, split, values=when)
    genres, _ = _item_genres(data.titles)
    fit_kw: dict[str, Any] = {"times": train_t, "item_genres": genres, "titles": data.titles}
    rows: list[dict[str, Any]] = []
    for name in models:
        model = make_recommender(name, random_state=random_state)
        kw = _accepted(model, fit_kw)
        if name == "popularity":
            kw["user_groups"] = data.user_country
        t0 = time.perf_counter()
        model.fit(train_m, **kw)
        fit_s = time.perf_counter() - t0
        metrics = evaluate_topn(model, train_m, test_m, tuple(k))
        rows.append({"model": name, **metrics, "fit_seconds": round(fit_s, 3)})
    return pa.Table.from_pylist(rows)
