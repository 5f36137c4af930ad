"""MovieLens releases as published, read into contract-shaped Arrow tables.

Supported layouts (auto-detected from the files present):

* ``ml-100k``: ``u.data`` (tab-separated), ``u.item`` (Latin-1, ``|``-separated, 19 genre
  flags named by ``u.genre``), ``u.user`` (age, gender, occupation, zip code), folds
  ``u1..u5``/``ua``/``ub``.
* ``ml-1m`` / ``ml-10m``: ``ratings.dat``, ``movies.dat``, ``users.dat`` (ml-1m only),
  ``tags.dat`` (ml-10m only); ``::``-separated, Latin-1.
* ``ml-latest``, ``ml-latest-small``, ``ml-20m``, ``ml-25m``, ``ml-32m``: ``ratings.csv``,
  ``movies.csv`` (quoted names, ``|`` genres), ``tags.csv`` (folded into ``titles.tags``); UTF-8,
  CRLF line ends accepted.

Tables are *raw*: external IDs are strings, user IDs are not yet pseudonymised (ingestion does
that). Each table's schema metadata names the source file (``reelmine.source``) and the line of
its first data row (``reelmine.first_line``) so ingestion can report line numbers; the ratings
table also carries the rating scale (``reelmine.rating_min``/``reelmine.rating_max``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from reelmine.data.schema import TABLES, arrow_type
from reelmine.errors import DataError

# Genres that mean "no genre" in the releases: mapped to an empty list.
_NO_GENRE = {"unknown", "(no genres listed)"}
# A year in parentheses at the end of a name, e.g. "Toy Story (1995)" or "Show (2006-2007)".
_YEAR_RE = r"\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$"
# Rating scales of the releases: (min, max).
SCALES = {
    "ml-100k": (1.0, 5.0),
    "ml-1m": (1.0, 5.0),
    "ml-10m": (0.5, 5.0),
    "ml-latest": (0.5, 5.0),
}
FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


def detect_movielens(path: Path) -> str:
    """Which MovieLens layout ``path`` holds: ``ml-100k``, ``ml-1m``, ``ml-10m`` or ``ml-latest``.

    Raises
    ------
    DataError
        When the folder holds none of the known layouts.
    """
    path = Path(path)
    if (path / "u.data").is_file():
        return "ml-100k"
    if (path / "ratings.dat").is_file():
        return "ml-1m" if (path / "users.dat").is_file() else "ml-10m"
    if (path / "ratings.csv").is_file():
        return "ml-latest"
    raise DataError(
        "not a MovieLens folder: expected u.data (ml-100k), ratings.dat (ml-1m/ml-10m) "
        "or ratings.csv (ml-latest, ml-25m, ml-32m)",
        source=str(path),
    )


# -- low-level parsing ---------------------------------------------------------------------


def _read_delimited(
    file: Path,
    names: list[str],
    types: dict[str, pa.DataType],
    *,
    delimiter: str,
    latin1: bool = False,
    header: bool = False,
    quoted: bool = False,
) -> pa.Table:
    """Parse a delimited file with pyarrow (multi-threaded); ``::`` is mapped to a single byte."""
    if not file.is_file():
        raise DataError("file not found", source=str(file))
    data = file.read_bytes()
    if latin1:
        data = data.decode("latin-1").encode("utf-8")
    if len(delimiter) > 1:
        # 0x1f (unit separator) never occurs in the releases; pyarrow needs a 1-byte delimiter.
        data = data.replace(delimiter.encode(), b"\x1f")
        delimiter = "\x1f"
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1 if header else 0, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char='"' if quoted else False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=[n for n in names if not n.startswith("_")]
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse: {exc}", source=str(file)) from exc


def _epoch_to_ts(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Epoch seconds (int) -> UTC timestamp in microseconds."""
    secs = np.asarray(pc.fill_null(arr, 0).to_numpy(), dtype=np.int64)
    return pa.array(secs * 1_000_000, type=pa.int64()).cast(arrow_type("timestamp"))


def _year_from_name(names: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Release year parsed from "Name (1995)"; null when the name has no year."""
    extracted = pc.extract_regex(names, _YEAR_RE)
    years = pc.struct_field(extracted, "year")
    return pc.cast(years, pa.int64())


def _split_genres(genres: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``a|b|c`` -> ``[a, b, c]``; "(no genres listed)" -> ``[]``."""
    lists = pc.split_pattern(pc.fill_null(genres, ""), "|")
    flat = pc.list_flatten(lists)
    keep = pc.and_(pc.invert(pc.is_in(flat, pa.array(sorted(_NO_GENRE)))), pc.not_equal(flat, ""))
    return _filter_lists(lists, keep)


def _filter_lists(lists: pa.ChunkedArray | pa.Array, keep: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Drop the flattened elements where ``keep`` is false, keeping list boundaries."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    if isinstance(keep, pa.ChunkedArray):
        keep = keep.combine_chunks()
    lengths = np.asarray(pc.list_value_length(lists).fill_null(0).to_numpy(), dtype=np.int64)
    row = np.repeat(np.arange(len(lists)), lengths)
    mask = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
    counts = np.bincount(row[mask], minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = pc.filter(pc.list_flatten(lists), pa.array(mask))
    return pa.ListArray.from_arrays(pa.array(offsets), values.cast(pa.string()))


def _with_meta(
    table: pa.Table, name: str, source: Path, first_line: int | None, **extra: str
) -> pa.Table:
    """Cast to contract types in contract column order and attach provenance metadata."""
    contract = TABLES[name]
    fields = [
        pa.field(c.name, arrow_type(c.type))
        for c in contract.columns
        if c.name in table.column_names
    ]
    table = table.select([f.name for f in fields]).cast(pa.schema(fields))
    meta = {"reelmine.table": name, "reelmine.source": str(source)}
    if first_line is not None:
        meta["reelmine.first_line"] = str(first_line)
    meta.update(extra)
    return table.replace_schema_metadata(meta)


def _ratings(raw: pa.Table, variant: str, source: Path, first_line: int) -> pa.Table:
    lo, hi = SCALES[variant]
    out = pa.table(
        {
            "user_id": raw["user_id"],
            "title_id": raw["title_id"],
            "rating": raw["rating"].cast(pa.float64()),
            "rated_at": _epoch_to_ts(raw["ts"]),
        }
    )
    return _with_meta(
        out,
        "ratings",
        source,
        first_line,
        **{"reelmine.rating_min": str(lo), "reelmine.rating_max": str(hi)},
    )


_RATING_TYPES = {
    "user_id": pa.string(),
    "title_id": pa.string(),
    "rating": pa.float64(),
    "ts": pa.int64(),
}


def _fold_tags(tags: pa.Table) -> pa.Table:
    """``(title_id, tag)`` rows -> one row per title with its distinct tags, sorted."""
    tags = tags.filter(pc.is_valid(tags["tag"]))
    tags = tags.set_column(1, "tag", pc.utf8_trim_whitespace(tags["tag"]))
    # Sorted input and a single-threaded group-by make the tag order reproducible (sorted).
    tags = tags.sort_by([("title_id", "ascending"), ("tag", "ascending")])
    grouped = tags.group_by("title_id", use_threads=False).aggregate([("tag", "distinct")])
    return pa.table({"title_id": grouped["title_id"], "tags": grouped["tag_distinct"]})


def _join_tags(titles: pa.Table, tags: pa.Table | None) -> pa.Table:
    if tags is None:
        return titles
    folded = _fold_tags(tags)
    idx = pc.index_in(titles["title_id"], value_set=folded["title_id"].combine_chunks())
    taken = pc.take(folded["tags"], idx)
    # Titles without tags get an empty list (the release has a tag file: "no tags" is known).
    empty = pa.array([[]] * len(titles), type=pa.list_(pa.string()))
    tags_col = pc.if_else(pc.is_valid(taken), taken, empty)
    return titles.append_column("tags", tags_col)


def _users_from(*id_columns: pa.ChunkedArray) -> pa.Array:
    ids = pa.chunked_array([c for col in id_columns for c in col.chunks], type=pa.string())
    uniq = pc.unique(ids)
    return pc.take(uniq, pc.sort_indices(uniq))


# -- layouts -------------------------------------------------------------------------------


def _read_100k(path: Path) -> dict[str, pa.Table]:
    ratings_raw = _read_delimited(
        path / "u.data", ["user_id", "title_id", "rating", "ts"], _RATING_TYPES, delimiter="\t"
    )
    genre_tab = _read_delimited(
        path / "u.genre",
        ["genre", "idx"],
        {"genre": pa.string(), "idx": pa.int64()},
        delimiter="|",
        latin1=True,
    )
    genre_names = np.empty(len(genre_tab), dtype=object)
    genre_names[genre_tab["idx"].to_numpy()] = genre_tab["genre"].to_pylist()
    flag_names = [f"g{i}" for i in range(len(genre_names))]
    item_cols = ["title_id", "name", "release_date", "_video", "_url", *flag_names]
    items = _read_delimited(
        path / "u.item",
        item_cols,
        {"title_id": pa.string(), "name": pa.string(), "release_date": pa.string()}
        | dict.fromkeys(flag_names, pa.int8()),
        delimiter="|",
        latin1=True,
    )
    flags = np.column_stack([items[f].to_numpy(zero_copy_only=False) for f in flag_names]).astype(
        bool
    )
    keep = np.array([g not in _NO_GENRE for g in genre_names])
    flags &= keep[None, :]
    rows, cols = np.nonzero(flags)  # row-major: genres of a title stay in u.genre order
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(items)))]).astype(
        np.int32
    )
    genres = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(genre_names[cols].tolist(), type=pa.string())
    )
    year = _year_from_name(items["name"])
    # "unknown" (title 267) has no year in its name; fall back to the release date's year.
    date_year = pc.cast(
        pc.struct_field(
            pc.extract_regex(pc.fill_null(items["release_date"], ""), r"(?P<y>\d{4})$"), "y"
        ),
        pa.int64(),
    )
    titles = pa.table(
        {
            "title_id": items["title_id"],
            "name": items["name"],
            "kind": pa.array(["movie"] * len(items)),
            "genres": genres,
            "release_year": pc.coalesce(year, date_year),
        }
    )
    users_raw = _read_delimited(
        path / "u.user",
        ["user_id", "age", "gender", "occupation", "zip_code"],
        {
            "user_id": pa.string(),
            "age": pa.int64(),
            "gender": pa.string(),
            "occupation": pa.string(),
            "zip_code": pa.string(),
        },
        delimiter="|",
        latin1=True,
    )
    return {
        "users": _with_meta(users_raw, "users", path / "u.user", 1),
        "titles": _with_meta(titles, "titles", path / "u.item", 1),
        "ratings": _ratings(ratings_raw, "ml-100k", path / "u.data", 1),
    }


def _read_dat(path: Path, variant: str) -> dict[str, pa.Table]:
    ratings_raw = _read_delimited(
        path / "ratings.dat",
        ["user_id", "title_id", "rating", "ts"],
        _RATING_TYPES,
        delimiter="::",
        latin1=True,
    )
    movies = _read_delimited(
        path / "movies.dat",
        ["title_id", "name", "genres"],
        {"title_id": pa.string(), "name": pa.string(), "genres": pa.string()},
        delimiter="::",
        latin1=True,
    )
    tags = None
    if (path / "tags.dat").is_file():
        tags = _read_delimited(
            path / "tags.dat",
            ["_user", "title_id", "tag", "_ts"],
            {"title_id": pa.string(), "tag": pa.string()},
            delimiter="::",
            latin1=True,
        )
    titles = pa.table(
        {
            "title_id": movies["title_id"],
            "name": movies["name"],
            "kind": pa.array(["movie"] * len(movies)),
            "genres": _split_genres(movies["genres"]),
            "release_year": _year_from_name(movies["name"]),
        }
    )
    titles = _join_tags(titles, tags)
    if (path / "users.dat").is_file():
        users_raw = _read_delimited(
            path / "users.dat",
            ["user_id", "gender", "age", "occupation", "zip_code"],
            {
                "user_id": pa.string(),
                "gender": pa.string(),
                "age": pa.int64(),
                "occupation": pa.string(),
                "zip_code": pa.string(),
            },
            delimiter="::",
            latin1=True,
        )
        # ml-1m codes occupations 0..20; keep the code as text (the README maps it to names).
        users = _with_meta(users_raw, "users", path / "users.dat", 1)
    else:
        users = _with_meta(
            pa.table({"user_id": _users_from(ratings_raw["user_id"])}), "users", path, None
        )
    return {
        "users": users,
        "titles": _with_meta(titles, "titles", path / "movies.dat", 1),
        "ratings": _ratings(ratings_raw, variant, path / "ratings.dat", 1),
    }


def _read_latest(path: Path) -> dict[str, pa.Table]:
    ratings_raw = _read_delimited(
        path / "ratings.csv",
        ["user_id", "title_id", "rating", "ts"],
        _RATING_TYPES,
        delimiter=",",
        header=True,
    )
    movies = _read_delimited(
        path / "movies.csv",
        ["title_id", "name", "genres"],
        {"title_id": pa.string(), "name": pa.string(), "genres": pa.string()},
        delimiter=",",
        header=True,
        quoted=True,
    )
    tags = None
    user_cols = [ratings_raw["user_id"]]
    if (path / "tags.csv").is_file():
        tags = _read_delimited(
            path / "tags.csv",
            ["user_id", "title_id", "tag", "_ts"],
            {"user_id": pa.string(), "title_id": pa.string(), "tag": pa.string()},
            delimiter=",",
            header=True,
            quoted=True,
        )
        user_cols.append(tags["user_id"])
        tags = tags.select(["title_id", "tag"])
    titles = pa.table(
        {
            "title_id": movies["title_id"],
            "name": pc.utf8_trim_whitespace(movies["name"]),
            "kind": pa.array(["movie"] * len(movies)),
            "genres": _split_genres(movies["genres"]),
            "release_year": _year_from_name(movies["name"]),
        }
    )
    titles = _join_tags(titles, tags)
    # ml-latest has no user file: the users are everyone who rated or tagged.
    users = pa.table({"user_id": _users_from(*user_cols)})
    return {
        "users": _with_meta(users, "users", path / "ratings.csv", None),
        "titles": _with_meta(titles, "titles", path / "movies.csv", 2),
        "ratings": _ratings(ratings_raw, "ml-latest", path / "ratings.csv", 2),
    }


def read_movielens(path: Path) -> dict[str, pa.Table]:
    """Read a MovieLens release into raw contract tables ``users``, ``titles`` and ``ratings``.

    Parameters
    ----------
    path : folder of an unzipped release (ml-100k, ml-1m, ml-10m, ml-latest[-small], ml-25m, ...).

    Returns
    -------
    dict of Arrow tables with contract column names and types; IDs are raw strings.

    Raises
    ------
    DataError
        When the folder is not a MovieLens release or a file cannot be parsed.
    """
    path = Path(path)
    variant = detect_movielens(path)
    if variant == "ml-100k":
        return _read_100k(path)
    if variant in ("ml-1m", "ml-10m"):
        return _read_dat(path, variant)
    return _read_latest(path)


def read_movielens_fold(path: Path, fold: str | int) -> tuple[pa.Table, pa.Table]:
    """One official ml-100k split: ``(train, test)`` from ``<fold>.base`` and ``<fold>.test``.

    Parameters
    ----------
    path : the ml-100k folder.
    fold : 1..5 (or ``"u1"``..``"u5"``) for the 5-fold splits, ``"a"``/``"ua"`` or ``"b"``/``"ub"``
        for the 10-ratings-per-user splits.

    Returns
    -------
    ``(train, test)`` Arrow tables with ``user_id``, ``title_id`` (strings), ``rating`` (float)
    and ``rated_at`` (UTC timestamp).
    """
    name = str(fold)
    if not name.startswith("u"):
        name = "u" + name
    if name not in FOLDS:
        raise DataError(f"unknown ml-100k fold {fold!r}; choose one of {', '.join(FOLDS)}")
    cols = ["user_id", "title_id", "rating", "ts"]
    out = []
    for part in ("base", "test"):
        file = Path(path) / f"{name}.{part}"
        raw = _read_delimited(file, cols, _RATING_TYPES, delimiter="\t")
        out.append(_ratings(raw, "ml-100k", file, 1))
    return out[0], out[1]
