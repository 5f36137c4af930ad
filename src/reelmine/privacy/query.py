"""A tiny declarative grammar for DP releases (parsed by hand: no ``eval``).

::

    query   := STAT [VALUE "of"] TABLE ["by" COL ("," COL)*] OPTION*
    STAT    := "count" | "sum" | "mean" | "median" | "quantile" P | "histogram"
    OPTION  := "clamp" LO".."HI | "bins" E1,E2,... | "rows" L | "groups" G

Examples: ``count plays by country``; ``mean watched_seconds of plays by device_type``;
``quantile 0.9 startup_ms of plays by cdn clamp 0..20000``;
``histogram watched_seconds of plays bins 0,600,1800,3600 by device_type``.
Table and column names must be contract tables and stored columns; values need bounds
(``clamp``) unless the column has a documented default (:data:`DEFAULT_CLAMP`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reelmine.data.schema import TABLES, stored_columns
from reelmine.errors import ConfigError

DEFAULT_CLAMP: dict[str, tuple[float, float]] = {
    "watched_seconds": (0.0, 14_400.0),
    "startup_ms": (0.0, 30_000.0),
    "rebuffer_ms": (0.0, 600_000.0),
    "rebuffer_count": (0.0, 50.0),
    "avg_bitrate_kbps": (0.0, 25_000.0),
    "rating": (0.0, 10.0),
    "age": (0.0, 120.0),
    "runtime_minutes": (0.0, 300.0),
}
_NUM = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


@dataclass(frozen=True)
class Query:
    """A parsed release query."""

    statistic: str
    table: str
    value: str | None = None
    group_by: tuple[str, ...] = ()
    quantile: float = 0.5
    clamp: tuple[float, float] | None = None
    bins: tuple[float, ...] = field(default_factory=tuple)
    rows_per_member: int | None = None
    groups_per_member: int | None = None
    text: str = ""


def _fail(text: str, why: str) -> ConfigError:
    return ConfigError(
        f"cannot parse query {text!r}: {why}. Grammar: STAT [VALUE of] TABLE [by COL,...] "
        "[clamp LO..HI] [bins E1,E2,...] [rows L] [groups G], STAT one of count, sum, mean, "
        "median, quantile P, histogram; e.g. 'mean watched_seconds of plays by device_type'"
    )


def parse_query(text: str) -> Query:
    """Parse a release query; :class:`ConfigError` says what is wrong and shows the grammar."""
    tokens = [t for t in re.split(r"[\s,]+", text.strip().lower()) if t]
    if not tokens:
        raise _fail(text, "it is empty")
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise _fail(text, "it ends too early")
        pos += 1
        return tokens[pos - 1]

    stat = take()
    q = 0.5
    if stat == "median":
        stat = "quantile"
    elif stat == "quantile":
        p = take()
        if not re.fullmatch(_NUM, p) or not 0 < float(p) < 1:
            raise _fail(text, f"quantile needs a number between 0 and 1, got {p!r}")
        q = float(p)
    if stat not in ("count", "sum", "mean", "quantile", "histogram"):
        raise _fail(text, f"unknown statistic {stat!r}")
    value = None
    if stat != "count" or (len(tokens) > pos + 1 and tokens[pos + 1] == "of"):
        value = take()
        if take() != "of":
            raise _fail(text, f"expected 'of' after {value!r}")
    table = take()
    if table not in TABLES:
        raise _fail(text, f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    cols = {n for n, _ in stored_columns(TABLES[table])}
    group_by: list[str] = []
    clamp = None
    bins: list[float] = []
    rows = groups = None
    keywords = {"by", "clamp", "bins", "rows", "groups"}
    while pos < len(tokens):
        word = take()
        if word == "by":
            while pos < len(tokens) and tokens[pos] not in keywords:
                group_by.append(take())
        elif word == "clamp":
            m = re.fullmatch(f"({_NUM})\\.\\.({_NUM})", take())
            if not m:
                raise _fail(text, "clamp needs LO..HI, e.g. clamp 0..7200")
            clamp = (float(m.group(1)), float(m.group(2)))
        elif word == "bins":
            while pos < len(tokens) and re.fullmatch(_NUM, tokens[pos]):
                bins.append(float(take()))
        elif word in ("rows", "groups"):
            n = take()
            if not n.isdigit() or int(n) < 1:
                raise _fail(text, f"{word} needs a positive integer")
            rows, groups = (int(n), groups) if word == "rows" else (rows, int(n))
        else:
            raise _fail(text, f"unexpected word {word!r}")
    for c in [*group_by, *([value] if value else [])]:
        if c not in cols:
            raise _fail(text, f"table {table} has no column {c!r}")
    if stat == "histogram" and len(bins) < 2:
        raise _fail(text, "histogram needs 'bins' with at least two edges")
    if stat in ("sum", "mean", "quantile") and clamp is None and value is not None:
        clamp = DEFAULT_CLAMP.get(value)
        if clamp is None:
            raise _fail(text, f"{value} has no default bounds; add clamp LO..HI")
    return Query(stat, table, value, tuple(group_by), q, clamp, tuple(bins), rows, groups, text)
