"""The data contract: every table a dataset may hold, its columns, types and keys.

This module is the single source of truth for column names. Ingestion validates against it,
the simulator writes it, the warehouse creates tables from it and ``docs/data-model.md``
documents it (a test keeps the document in step with this file).

Types are logical: ``string``, ``int``, ``float``, ``bool``, ``timestamp`` (UTC, microseconds)
and ``list<string>``. The warehouse maps them to DuckDB/Arrow types with :func:`arrow_type`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

LOGICAL_TYPES = ("string", "int", "float", "bool", "timestamp", "list<string>")


@dataclass(frozen=True)
class Column:
    """One column of the contract.

    ``required`` columns must be present in a file and non-null in every row. ``pii`` columns
    are dropped at ingestion; ``pseudonymise`` columns are replaced by a keyed HMAC pseudonym;
    ``ip`` columns are never stored raw (a keyed hash of the address and of its network is kept).
    """

    name: str
    type: str
    required: bool = False
    description: str = ""
    pii: bool = False
    pseudonymise: bool = False
    ip: bool = False
    example: str = ""

    def __post_init__(self) -> None:
        if self.type not in LOGICAL_TYPES:
            raise ValueError(f"column {self.name}: unknown logical type {self.type!r}")


@dataclass(frozen=True)
class Table:
    """A table of the contract with its natural key (used for de-duplication)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str = ""
    # Groups of columns of which at least one must be present (e.g. ended_at or watched_seconds).
    one_of: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")


def _c(name: str, type_: str, desc: str, example: str = "", **flags: bool) -> Column:
    return Column(name=name, type=type_, description=desc, example=example, **flags)


def _r(name: str, type_: str, desc: str, example: str = "", **flags: bool) -> Column:
    return Column(name=name, type=type_, required=True, description=desc, example=example, **flags)


USERS = Table(
    "users",
    (
        _r("user_id", "string", "member (account) identifier", "u123", pseudonymise=True),
        _c("signup_at", "timestamp", "when the membership started", "2025-01-03T10:00:00Z"),
        _c("country", "string", "ISO 3166-1 alpha-2 country of the account", "DE"),
        _c("age", "int", "age in years", "34"),
        _c("gender", "string", "self-declared gender, free text", "F"),
        _c("plan", "string", "plan name (basic/standard/premium or any)", "standard"),
        _c("max_streams", "int", "simultaneous streams the plan allows", "2"),
        _c("cancelled_at", "timestamp", "when the membership ended, if it did", ""),
        _c("email", "string", "e-mail address: PII, dropped at ingestion", "a@b.c", pii=True),
        _c("occupation", "string", "occupation (MovieLens ml-100k/ml-1m)", "engineer"),
        _c("zip_code", "string", "postal code: PII, dropped at ingestion", "55455", pii=True),
    ),
    key=("user_id",),
    description="One row per member account.",
)

TITLES = Table(
    "titles",
    (
        _r("title_id", "string", "title identifier", "t42"),
        _r("name", "string", "display name", "Toy Story (1995)"),
        _c("kind", "string", "movie, series or episode", "movie"),
        _c("genres", "list<string>", "genres; '|'-separated in CSV", "Animation|Comedy"),
        _c("release_year", "int", "year of first release", "1995"),
        _c("runtime_minutes", "float", "running time in minutes", "81"),
        _c("description", "string", "synopsis or keywords", ""),
        _c("language", "string", "original language (ISO 639-1)", "en"),
        _c("maturity", "string", "maturity rating", "PG"),
        _c("added_at", "timestamp", "when the title joined the catalogue", ""),
        _c("series_id", "string", "series the episode belongs to", ""),
        _c("cost", "float", "acquisition or production cost", ""),
        _c("tags", "list<string>", "free-form tags (MovieLens tags.csv)", "pixar|toys"),
        _c("countries", "list<string>", "countries where the title is available; empty = all", ""),
    ),
    key=("title_id",),
    description="One row per title (movie, series or episode).",
)

RATINGS = Table(
    "ratings",
    (
        _r("user_id", "string", "member", "u123", pseudonymise=True),
        _r("title_id", "string", "title", "t42"),
        _r("rating", "float", "rating on the dataset's own scale", "4.5"),
        _r("rated_at", "timestamp", "when the rating was given", "2025-01-03T10:00:00Z"),
    ),
    key=("user_id", "title_id", "rated_at"),
    description="Explicit ratings.",
)

PLAYS = Table(
    "plays",
    (
        _r("play_id", "string", "playback session identifier", "p1"),
        _r("user_id", "string", "member", "u123", pseudonymise=True),
        _r("title_id", "string", "title played", "t42"),
        _r("started_at", "timestamp", "playback start", "2025-01-03T20:00:00Z"),
        _c("ended_at", "timestamp", "playback end", "2025-01-03T21:30:00Z"),
        _c("watched_seconds", "float", "seconds of content watched", "5400"),
        _c("profile_id", "string", "profile within the account", "", pseudonymise=True),
        _c("device_id", "string", "device identifier", "d9", pseudonymise=True),
        _c("device_type", "string", "tv, mobile, tablet, web or console", "tv"),
        _c("os", "string", "operating system", "android"),
        _c("app_version", "string", "client application version", "7.1"),
        _c("ip", "string", "client IP: never stored raw", "203.0.113.7", ip=True),
        _c("country", "string", "ISO alpha-2 country of the session", "DE"),
        _c("city", "string", "city of the session", "Berlin"),
        _c("latitude", "float", "latitude in degrees", "52.52"),
        _c("longitude", "float", "longitude in degrees", "13.40"),
        _c("isp", "string", "internet service provider", "I5"),
        _c("cdn", "string", "content delivery network", "C2"),
        _c("startup_ms", "float", "play delay in milliseconds", "850"),
        _c("rebuffer_count", "int", "number of rebuffering events", "1"),
        _c("rebuffer_ms", "float", "total rebuffering time in milliseconds", "2300"),
        _c("avg_bitrate_kbps", "float", "average video bitrate in kbit/s", "4300"),
        _c("error_code", "string", "playback error code, empty if none", ""),
        _c("exit_before_start", "bool", "the member left before video started", "false"),
    ),
    key=("play_id",),
    description="One row per playback session.",
    one_of=(("ended_at", "watched_seconds"),),
)

LOGINS = Table(
    "logins",
    (
        _r("login_id", "string", "login attempt identifier", "l1"),
        _r("user_id", "string", "account the attempt was for", "u123", pseudonymise=True),
        _r("at", "timestamp", "time of the attempt", "2025-01-03T19:58:00Z"),
        _r("success", "bool", "whether the attempt succeeded", "true"),
        _c("ip", "string", "client IP: never stored raw", "203.0.113.7", ip=True),
        _c("country", "string", "ISO alpha-2 country", "DE"),
        _c("city", "string", "city", "Berlin"),
        _c("latitude", "float", "latitude in degrees", "52.52"),
        _c("longitude", "float", "longitude in degrees", "13.40"),
        _c("device_id", "string", "device identifier", "d9", pseudonymise=True),
        _c("user_agent", "string", "client user agent", "Mozilla/5.0"),
    ),
    key=("login_id",),
    description="One row per login attempt.",
)

UI_EVENTS = Table(
    "ui_events",
    (
        _r("event_id", "string", "event identifier", "e1"),
        _r("user_id", "string", "member", "u123", pseudonymise=True),
        _r("at", "timestamp", "event time", "2025-01-03T19:59:00Z"),
        _c("browse_session_id", "string", "browse session", "s1"),
        _r("event_type", "string", "impression, click, play, search or scroll", "click"),
        _c("page", "string", "home, search, title, ...", "home"),
        _c("row_name", "string", "row shown on the page", "Top picks for you"),
        _c("row_position", "int", "row index on the page, 0 = top", "0"),
        _c("column_position", "int", "position within the row, 0 = left", "3"),
        _c("title_id", "string", "title concerned", "t42"),
        _c("query", "string", "search query text", "toy story"),
        _c("artwork_id", "string", "artwork shown", "a7"),
        _c("propensity", "float", "probability the logging policy showed this artwork", "0.25"),
    ),
    key=("event_id",),
    description="Interface events: impressions, clicks, plays, searches, scrolls.",
)

EXPERIMENTS = Table(
    "experiments",
    (
        _r("experiment_id", "string", "experiment", "exp-row-order"),
        _r("user_id", "string", "member", "u123", pseudonymise=True),
        _r("variant", "string", "arm the member was assigned to", "control"),
        _r("assigned_at", "timestamp", "assignment time", "2025-01-03T00:00:00Z"),
    ),
    key=("experiment_id", "user_id"),
    description="A/B test assignments.",
)

CAMPAIGNS = Table(
    "campaigns",
    (
        _r("campaign_id", "string", "campaign", "winback-03"),
        _r("user_id", "string", "member", "u123", pseudonymise=True),
        _r("sent_at", "timestamp", "when the member was (or would have been) contacted", ""),
        _c("channel", "string", "email, push, in-app, ...", "email"),
        _r("treated", "bool", "true if contacted, false for the control group", "true"),
        _c("converted_at", "timestamp", "when the member converted, if they did", ""),
    ),
    key=("campaign_id", "user_id"),
    description="Marketing campaign membership and outcome.",
)

TABLES: dict[str, Table] = {
    t.name: t for t in (USERS, TITLES, RATINGS, PLAYS, LOGINS, UI_EVENTS, EXPERIMENTS, CAMPAIGNS)
}

# Columns the warehouse adds in place of raw IP addresses.
IP_HASH_SUFFIX = "_hash"  # keyed hash of the full address, e.g. ip_hash
IP_NET_SUFFIX = "_net_hash"  # keyed hash of its /24 (IPv4) or /48 (IPv6) network

_ARROW = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<string>": pa.list_(pa.string()),
}


def arrow_type(logical: str) -> pa.DataType:
    """Arrow type used to store a logical contract type."""
    return _ARROW[logical]


def stored_columns(table: Table) -> list[tuple[str, str]]:
    """Columns as stored in the warehouse: PII dropped, IPs replaced by keyed hashes."""
    out: list[tuple[str, str]] = []
    for c in table.columns:
        if c.pii:
            continue
        if c.ip:
            out.append((c.name + IP_HASH_SUFFIX, "string"))
            out.append((c.name + IP_NET_SUFFIX, "string"))
            continue
        out.append((c.name, c.type))
    return out


def stored_schema(table: Table) -> pa.Schema:
    """Arrow schema of a warehouse table."""
    return pa.schema([pa.field(n, arrow_type(t)) for n, t in stored_columns(table)])
