"""The Netflix Prize data set as published, read vectorised.

Files:

* ``combined_data_1.txt`` .. ``combined_data_4.txt`` (or the older ``training_set/mv_*.txt``):
  a line ``MOVIEID:`` starts a movie, followed by ``CustomerID,Rating,YYYY-MM-DD`` lines;
* ``movie_titles.csv`` (Latin-1): ``MovieID,YearOfRelease,Title`` where the title may itself
  contain commas (so only the first two commas separate fields) and the year may be ``NULL``.

The rating files are streamed in blocks with pyarrow: each block is one string column, header
lines are found with a vectorised ``ends_with(':')`` and their movie ID is forward-filled onto
the rating lines below them (carried across blocks). Ratings are on a 1..5 integer scale.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from reelmine.data.readers import Source, arrow_source
from reelmine.data.schema import arrow_type
from reelmine.errors import DataError

RATING_SCALE = (1.0, 5.0)
_BLOCK = 1 << 24


def rating_files(folder: Path) -> list[Path]:
    """The rating files of a Netflix Prize folder, in order.

    Raises
    ------
    DataError
        When there are none.
    """
    folder = Path(folder)
    files = sorted(folder.glob("combined_data_*.txt"))
    if not files:
        files = sorted((folder / "training_set").glob("mv_*.txt"))
    if not files:
        raise DataError(
            "not a Netflix Prize folder: no combined_data_*.txt or training_set/mv_*.txt",
            source=str(folder),
        )
    return files


def _lines(file: Path, block_size: int = _BLOCK) -> Iterator[pa.Array]:
    """Lines of a text file as string arrays, one per block (empty lines kept as "")."""
    try:
        reader = pacsv.open_csv(
            file,
            read_options=pacsv.ReadOptions(column_names=["line"], block_size=block_size),
            parse_options=pacsv.ParseOptions(
                delimiter="\x1f", quote_char=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}),
        )
        for batch in reader:
            yield batch.column(0)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot parse: {exc}", source=str(file)) from exc


def iter_ratings(file: Path, batch_rows: int = 1_000_000) -> Iterator[pa.RecordBatch]:
    """Raw rating batches of one file: ``user_id, title_id, rating, rated_at`` as text, plus
    ``_line`` (1-based line number in the file) so validation can point at the line.

    Rating lines before any ``MOVIEID:`` line get a null ``title_id`` (and are quarantined).
    """
    current: str | None = None
    line_no = 0
    # Blocks are sized in bytes; ~25 bytes per rating line keeps batches near batch_rows.
    block = max(1 << 16, min(_BLOCK * 4, batch_rows * 25))
    for lines in _lines(file, block):
        n = len(lines)
        numbers = np.arange(line_no + 1, line_no + n + 1, dtype=np.int64)
        line_no += n
        text = pc.utf8_trim_whitespace(lines.fill_null(""))
        is_header = np.asarray(pc.ends_with(text, ":").to_numpy(zero_copy_only=False), dtype=bool)
        # Forward-fill the movie ID: index of the last header at or before each line.
        pos = np.where(is_header, np.arange(n), -1)
        last = np.maximum.accumulate(pos) if n else pos
        headers = pc.utf8_slice_codeunits(text, 0, -1).to_numpy(zero_copy_only=False)
        movie = np.asarray(np.where(last >= 0, headers[np.maximum(last, 0)], current), dtype=object)
        if is_header.any():
            current = str(headers[np.flatnonzero(is_header)[-1]])
        keep = ~is_header & np.asarray(
            pc.not_equal(text, "").to_numpy(zero_copy_only=False), dtype=bool
        )
        if not keep.any():
            continue
        rows = pc.filter(text, pa.array(keep))
        parts = pc.split_pattern(rows, ",", max_splits=2)
        # Lines without exactly three fields become rows of nulls; validation quarantines them.
        full = pc.equal(pc.list_value_length(parts), 3)
        fixed = pc.if_else(full, parts, pa.scalar(None, parts.type))
        user, rating, date = (pc.list_element(fixed, i) for i in range(3))
        out = pa.record_batch(
            {
                "user_id": user,
                "title_id": pa.array(movie[keep].tolist(), pa.string()),
                "rating": rating,
                "rated_at": date,
                "_line": pa.array(numbers[keep]),
            }
        )
        for start in range(0, out.num_rows, batch_rows):
            yield out.slice(start, batch_rows)


def read_titles(file: Path) -> pa.Table:
    """``movie_titles.csv`` as a raw ``titles`` table (Latin-1; commas inside titles kept)."""
    if not file.is_file():
        raise DataError("file not found", source=str(file))
    data = file.read_bytes().decode("latin-1").encode("utf-8")
    lines = next(iter(_lines_from_bytes(data)))
    text = pc.utf8_rtrim(lines, "\r")
    text = pc.filter(text, pc.not_equal(text, ""))
    parts = pc.split_pattern(text, ",", max_splits=2)
    bad = np.flatnonzero(
        ~np.asarray(
            pc.equal(pc.list_value_length(parts), 3).to_numpy(zero_copy_only=False), dtype=bool
        )
    )
    if len(bad):
        raise DataError(
            "expected MovieID,YearOfRelease,Title", source=str(file), line=int(bad[0]) + 1
        )
    year_txt = pc.list_element(parts, 1)
    year = pc.cast(pc.if_else(pc.equal(year_txt, "NULL"), None, year_txt), pa.int64())
    table = pa.table(
        {
            "title_id": pc.list_element(parts, 0),
            "name": pc.list_element(parts, 2),
            "kind": pa.array(["movie"] * len(text), pa.string()),
            "release_year": year,
        }
    )
    return table.replace_schema_metadata({"reelmine.source": str(file), "reelmine.first_line": "1"})


def _lines_from_bytes(data: bytes) -> Iterator[pa.Array]:
    reader = pacsv.open_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(
            column_names=["line"], block_size=max(1 << 16, len(data) + 1)
        ),
        parse_options=pacsv.ParseOptions(delimiter="\x1f", quote_char=False),
        convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}),
    )
    for batch in reader:
        yield batch.column(0)


def _typed_ratings(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    ts = pc.cast(
        pc.strptime(batch.column("rated_at"), format="%Y-%m-%d", unit="us"), pa.timestamp("us")
    )
    return pa.table(
        {
            "user_id": batch.column("user_id"),
            "title_id": batch.column("title_id"),
            "rating": pc.cast(batch.column("rating"), pa.float64()),
            "rated_at": pc.assume_timezone(ts, "UTC").cast(arrow_type("timestamp")),
        }
    )


def read_netflix(folder: Path) -> dict[str, pa.Table]:
    """Read a (small) Netflix Prize folder into raw ``titles``, ``ratings`` and ``users`` tables.

    For the full 100-million-rating set use ``reelmine ingest --format netflix-prize``, which
    streams; this function holds everything in memory.

    Raises
    ------
    DataError
        When a file is missing or a rating line is malformed.
    """
    folder = Path(folder)
    parts = []
    for file in rating_files(folder):
        for batch in iter_ratings(file):
            if batch.column("user_id").null_count or batch.column("title_id").null_count:
                raise DataError("malformed rating line", source=str(file))
            parts.append(_typed_ratings(batch))
    ratings = (
        pa.concat_tables(parts)
        if parts
        else _typed_ratings(
            pa.table(
                {
                    c: pa.array([], pa.string())
                    for c in ("user_id", "title_id", "rating", "rated_at")
                }
            )
        )
    )
    uniq = pc.unique(ratings["user_id"])
    users = pa.table({"user_id": pc.take(uniq, pc.sort_indices(uniq))})
    out = {"ratings": ratings, "users": users}
    titles_file = folder / "movie_titles.csv"
    if titles_file.is_file():
        out["titles"] = read_titles(titles_file)
    return out


def netflix_sources(folder: Path, batch_rows: int = 1_000_000) -> list[Source]:
    """Streaming :class:`Source` objects for ingestion: titles, then every rating file."""
    folder = Path(folder)
    files = rating_files(folder)
    sources: list[Source] = []
    titles_file = folder / "movie_titles.csv"
    if titles_file.is_file():
        sources.append(arrow_source("titles", read_titles(titles_file), batch_rows=batch_rows))
    for file in files:
        sources.append(
            Source(
                "ratings",
                str(file),
                ["user_id", "title_id", "rating", "rated_at"],
                lambda f=file: iter_ratings(f, batch_rows),  # type: ignore[misc]
                first_line=None,
                rating_scale=RATING_SCALE,
            )
        )
    return sources
