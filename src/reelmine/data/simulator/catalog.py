"""The catalogue: shows (movies and series with episodes) with metadata and latent appeal.

A *show* is what a member chooses (a movie or a series); a *playable* is what a play points
at (the movie itself or one episode). Appeal is built from metadata so that demand for a new
title is predictable from what it is (genres, language, year, runtime, kind) plus noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from reelmine.data.schema import TITLES, arrow_type
from reelmine.data.simulator import world
from reelmine.errors import DataError

DAY_US = 86_400_000_000
N_FACTORS = 8


@dataclass
class Catalog:
    """Arrays describing the catalogue (index = show or playable position)."""

    genre_names: list[str]
    show_title_idx: np.ndarray  # (S,) row of the show (movie or series) in ``titles``
    show_genres: np.ndarray  # (S, G) float, rows sum to 1
    show_kind: np.ndarray  # (S,) 0 movie, 1 series
    show_lang: np.ndarray  # (S,) index into world.LANGUAGES
    show_logpop: np.ndarray  # (S,) metadata-driven log appeal
    show_drivers: dict[str, np.ndarray]  # additive parts of show_logpop
    show_factors: np.ndarray  # (S, K) latent factors
    show_added_us: np.ndarray  # (S,) when the show joined the catalogue
    show_avail: np.ndarray  # (C, S) bool availability per country
    show_first: np.ndarray  # (S,) first playable index of the show
    show_count: np.ndarray  # (S,) number of playables (1 for movies)
    play_title_idx: np.ndarray  # (P,) row in ``titles`` of each playable
    play_runtime_s: np.ndarray  # (P,) running time in seconds
    titles: pa.Table  # the contract table

    @property
    def n_shows(self) -> int:
        return len(self.show_kind)

    @property
    def title_ids(self) -> np.ndarray:
        return np.asarray(self.titles.column("title_id").to_pylist(), dtype=object)


def _logpop(
    rng: np.random.Generator,
    genres: np.ndarray,
    genre_pop: np.ndarray,
    year: np.ndarray,
    lang: np.ndarray,
    kind: np.ndarray,
    runtime_min: np.ndarray,
) -> dict[str, np.ndarray]:
    """Additive drivers of a show's appeal (log scale)."""
    n = len(year)
    return {
        "genre_effect": 1.2 * np.log(genres @ genre_pop),
        "year_effect": 0.05 * np.clip(year - 2012, -15, 12),
        "language_effect": np.where(lang == 0, 0.4, 0.0),
        "kind_effect": np.where(kind == 1, 0.3, 0.0),
        "runtime_effect": np.where(kind == 0, -0.006 * (runtime_min - 105.0), 0.0),
        "quality": rng.normal(0.0, 0.55, n),
    }


def _genre_matrix(rng: np.random.Generator, n: int, genre_pop: np.ndarray) -> np.ndarray:
    g = len(genre_pop)
    k = rng.choice([1, 2, 3], size=n, p=[0.45, 0.4, 0.15])
    # Gumbel top-k picks k distinct genres per show, weighted by genre popularity.
    keys = np.log(genre_pop)[None, :] + rng.gumbel(size=(n, g))
    order = np.argsort(-keys, axis=1)
    m = np.zeros((n, g))
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(g)[None, :].repeat(n, 0), axis=1)
    m[rank < k[:, None]] = 1.0
    return m


def _titles_table(columns: dict[str, list | np.ndarray]) -> pa.Table:
    arrays = {}
    for name, values in columns.items():
        typ = arrow_type(TITLES.column(name).type)
        if pa.types.is_timestamp(typ):
            arrays[name] = pa.array(values, type=pa.int64()).cast(typ)
        else:
            arrays[name] = pa.array(values, type=typ)
    return pa.table(arrays)


def _finish(
    rng: np.random.Generator,
    n_countries: int,
    genre_names: list[str],
    genres: np.ndarray,
    kind: np.ndarray,
    lang: np.ndarray,
    drivers: dict[str, np.ndarray],
    added_us: np.ndarray,
    n_eps: np.ndarray,
    ep_runtime_s: np.ndarray,
    show_title_idx: np.ndarray,
    play_title_idx: np.ndarray,
    titles: pa.Table,
    avail: np.ndarray,
) -> Catalog:
    s, g = genres.shape
    emb = rng.normal(0, 1, (g, N_FACTORS))
    norm = genres / genres.sum(1, keepdims=True)
    factors = norm @ emb * 0.6 + rng.normal(0, 0.8, (s, N_FACTORS))
    factors /= np.sqrt(N_FACTORS)
    first = np.concatenate([[0], np.cumsum(n_eps)[:-1]])
    return Catalog(
        genre_names=genre_names,
        show_title_idx=show_title_idx,
        show_genres=norm,
        show_kind=kind,
        show_lang=lang,
        show_logpop=sum(drivers.values()),  # type: ignore[arg-type]
        show_drivers=drivers,
        show_factors=factors,
        show_added_us=added_us,
        show_avail=avail,
        show_first=first,
        show_count=n_eps,
        play_title_idx=play_title_idx,
        play_runtime_s=ep_runtime_s,
        titles=titles,
    )


def generate_catalog(rng: np.random.Generator, n_shows: int, start_us: int, days: int) -> Catalog:
    """Generate ``n_shows`` movies and series with episodes, metadata and appeal."""
    g_pop = world.GENRE_POP
    genres = _genre_matrix(rng, n_shows, g_pop)
    kind = (rng.random(n_shows) < 0.22).astype(np.int64)
    year = np.where(
        rng.random(n_shows) < 0.6,
        rng.integers(2015, 2026, n_shows),
        rng.integers(1960, 2015, n_shows),
    )
    lang = rng.choice(len(world.LANGUAGES), size=n_shows, p=world.LANGUAGE_WEIGHTS)
    movie_rt = np.clip(rng.normal(108, 18, n_shows), 75, 190).round()
    ep_rt = rng.choice([22.0, 30.0, 45.0, 55.0], size=n_shows, p=[0.25, 0.2, 0.35, 0.2])
    runtime_min = np.where(kind == 0, movie_rt, ep_rt)
    drivers = _logpop(rng, genres, g_pop, year, lang, kind, runtime_min)
    # Most shows predate the window; ~12% arrive during it (the "new titles").
    late = rng.random(n_shows) < 0.12
    added_day = np.where(late, rng.integers(1, days, n_shows), -rng.integers(1, 3 * 365, n_shows))
    added_us = start_us + added_day * DAY_US + rng.integers(0, 6, n_shows) * 3_600_000_000
    seasons = np.where(kind == 1, rng.choice([1, 2, 3, 4], n_shows, p=[0.4, 0.3, 0.2, 0.1]), 0)
    eps_per_season = rng.integers(6, 11, n_shows)
    n_eps = np.where(kind == 1, seasons * eps_per_season, 1)
    # Rows of titles: each show, then its episodes (series only).
    rows_per_show = np.where(kind == 1, 1 + n_eps, 1)
    show_row = np.concatenate([[0], np.cumsum(rows_per_show)[:-1]])
    n_rows = int(rows_per_show.sum())
    title_ids = np.array([f"t{i:05d}" for i in range(n_rows)], dtype=object)
    # Playables: movie rows, or episode rows (series row + 1 + k).
    p_show = np.repeat(np.arange(n_shows), n_eps)
    p_k = np.arange(len(p_show)) - np.repeat(np.concatenate([[0], np.cumsum(n_eps)[:-1]]), n_eps)
    play_title_idx = show_row[p_show] + np.where(kind[p_show] == 1, 1 + p_k, 0)
    ep_runtime_s = (
        runtime_min[p_show]
        * 60.0
        * np.where(kind[p_show] == 1, rng.uniform(0.9, 1.1, len(p_show)), 1.0)
    )
    ep_runtime_s = ep_runtime_s.round()

    adj = rng.integers(0, len(world.ADJECTIVES), n_shows)
    noun = rng.integers(0, len(world.NOUNS), n_shows)
    names = [f"The {world.ADJECTIVES[a]} {world.NOUNS[b]}" for a, b in zip(adj, noun, strict=True)]
    seen: dict[str, int] = {}
    for i, nm in enumerate(names):  # per show (catalogue size), not per event
        seen[nm] = seen.get(nm, 0) + 1
        if seen[nm] > 1:
            names[i] = f"{nm} {seen[nm]}"
    gidx = [np.flatnonzero(row) for row in genres]
    genre_lists = [[world.GENRE_NAMES[j] for j in gi] for gi in gidx]
    kw = [
        sorted({w for j in gi for w in rng.choice(world.GENRES[j][2], 2, replace=False)})
        for gi in gidx
    ]
    desc = [
        f"A {world.GENRE_NAMES[gi[0]].lower()} story of " + ", ".join(k) + "."
        for gi, k in zip(gidx, kw, strict=True)
    ]
    maturity = rng.choice(world.MATURITY, n_shows, p=[0.1, 0.2, 0.3, 0.25, 0.15])
    cost = np.round(
        np.exp(drivers["genre_effect"] + drivers["year_effect"] + rng.normal(13, 0.6, n_shows)), -3
    )
    # ~10% of shows are licensed for 1-3 countries only.
    n_c = len(world.COUNTRIES)
    restricted = rng.random(n_shows) < 0.10
    avail = np.ones((n_c, n_shows), dtype=bool)
    only = rng.random((n_c, n_shows)) < 0.2
    only[rng.integers(0, n_c, n_shows), np.arange(n_shows)] = True
    avail[:, restricted] = only[:, restricted]
    countries = [
        [world.COUNTRY_CODES[c] for c in np.flatnonzero(avail[:, s])] if restricted[s] else []
        for s in range(n_shows)
    ]

    # Assemble row-wise columns (catalogue sized, so list building is fine).
    cols: dict[str, list] = {
        k: [None] * n_rows
        for k in (
            "name",
            "kind",
            "genres",
            "release_year",
            "runtime_minutes",
            "description",
            "language",
            "maturity",
            "added_at",
            "series_id",
            "cost",
            "countries",
        )
    }
    for s in range(n_shows):
        r = int(show_row[s])
        base = {
            "genres": genre_lists[s],
            "release_year": int(year[s]),
            "description": desc[s],
            "language": world.LANGUAGES[lang[s]],
            "maturity": str(maturity[s]),
            "added_at": int(added_us[s]),
            "countries": countries[s],
        }
        for k, v in base.items():
            cols[k][r] = v
        cols["name"][r] = names[s]
        cols["kind"][r] = "movie" if kind[s] == 0 else "series"
        cols["runtime_minutes"][r] = float(runtime_min[s]) if kind[s] == 0 else None
        cols["cost"][r] = float(cost[s])
        if kind[s] == 1:
            per = int(eps_per_season[s])
            for j in range(int(n_eps[s])):
                e = r + 1 + j
                for key, v in base.items():
                    cols[key][e] = v
                cols["name"][e] = f"{names[s]} S{j // per + 1}E{j % per + 1}"
                cols["kind"][e] = "episode"
                cols["series_id"][e] = title_ids[r]
    cols["runtime_minutes"] = list(cols["runtime_minutes"])
    ep_rows = play_title_idx[kind[p_show] == 1]
    rt = np.array([np.nan if v is None else v for v in cols["runtime_minutes"]])
    rt[ep_rows] = ep_runtime_s[kind[p_show] == 1] / 60.0
    titles = _titles_table({"title_id": list(title_ids), **cols})
    titles = titles.set_column(
        titles.schema.get_field_index("runtime_minutes"),
        "runtime_minutes",
        pa.array(rt, type=pa.float64(), from_pandas=True),
    )
    return _finish(
        rng,
        n_c,
        world.GENRE_NAMES,
        genres,
        kind,
        lang,
        drivers,
        added_us,
        n_eps,
        ep_runtime_s,
        show_row,
        play_title_idx,
        titles,
        avail,
    )


def catalog_from_movielens(
    rng: np.random.Generator, path: Path, start_us: int, days: int
) -> Catalog:
    """Use the titles of a MovieLens folder (movies only) as the catalogue."""
    from reelmine.data.movielens import read_movielens  # lazy: optional, heavier reader

    tables = read_movielens(path)
    if "titles" not in tables:
        raise DataError("MovieLens folder has no titles", source=str(path))
    src = tables["titles"]
    ids = [str(x) for x in src.column("title_id").to_pylist()]
    names = [str(x) for x in src.column("name").to_pylist()]
    glists = src.column("genres").to_pylist() if "genres" in src.column_names else [[]] * len(ids)
    years_raw = src.column("release_year").to_pylist() if "release_year" in src.column_names else []
    n = len(ids)
    if n < 30:
        raise DataError(f"MovieLens catalogue has only {n} titles (need 30)", source=str(path))
    glists = [
        [g for g in (gl or []) if g and g != "(no genres listed)"] or ["Unknown"] for gl in glists
    ]
    genre_names = sorted({g for gl in glists for g in gl})
    gpos = {g: i for i, g in enumerate(genre_names)}
    genres = np.zeros((n, len(genre_names)))
    for i, gl in enumerate(glists):  # catalogue sized
        genres[i, [gpos[g] for g in gl]] = 1.0
    gpop = np.maximum(genres.sum(0), 1.0)
    gpop = gpop / gpop.max()
    year = np.array([y if y is not None else 1995 for y in years_raw] or [1995] * n, dtype=np.int64)
    kind = np.zeros(n, dtype=np.int64)
    lang = np.zeros(n, dtype=np.int64)
    runtime_min = np.clip(rng.normal(108, 18, n), 75, 190).round()
    drivers = _logpop(rng, genres, gpop, year, lang, kind, runtime_min)
    # The newest ~10% of movies (by release year) arrive during the window.
    late = year >= np.quantile(year, 0.9)
    added_day = np.where(late, rng.integers(1, days, n), -rng.integers(1, 3 * 365, n))
    added_us = start_us + added_day * DAY_US
    avail = np.ones((len(world.COUNTRIES), n), dtype=bool)
    titles = _titles_table(
        {
            "title_id": ids,
            "name": names,
            "kind": ["movie"] * n,
            "genres": glists,
            "release_year": list(year),
            "runtime_minutes": list(runtime_min),
            "language": ["en"] * n,
            "added_at": [int(x) for x in added_us],
        }
    )
    idx = np.arange(n)
    return _finish(
        rng,
        len(world.COUNTRIES),
        genre_names,
        genres,
        kind,
        lang,
        drivers,
        added_us,
        np.ones(n, dtype=np.int64),
        runtime_min * 60.0,
        idx,
        idx,
        titles,
        avail,
    )
