"""Typed request and response bodies of the REST API (pydantic models).

Chart endpoints all answer :class:`ChartData`, the one JSON shape the dashboard's renderer
draws, so every dashboard chart has a machine-readable twin with the same numbers.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["service", "analyst", "admin"]
ChartKind = Literal["line", "bar", "hbar", "stacked", "heatmap", "funnel", "country"]


class ErrorItem(BaseModel):
    """One problem with a request: where (``loc``), what (``msg``) and its ``type``."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Body of every 4xx/5xx answer: ``detail`` is a sentence or a list of field errors."""

    detail: str | list[ErrorItem]


class Health(BaseModel):
    """Liveness and version; served without a key."""

    status: Literal["ok"] = "ok"
    version: str
    capabilities: dict[str, bool] = Field(
        description="Which optional capabilities are installed and wired (True) or still missing."
    )


class Me(BaseModel):
    """The caller's own key: its id and role (never the secret)."""

    key_id: str
    role: Role
    via: Literal["header", "cookie"]


class KeyCreate(BaseModel):
    """Request to create an API key."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    label: str = Field(
        default="", max_length=200, description="Free text to recognise the key later."
    )


class KeyInfo(BaseModel):
    """A stored key without its secret."""

    key_id: str
    role: Role
    label: str
    created_at: str
    revoked_at: str | None = None


class KeyCreated(KeyInfo):
    """A new key: ``key`` is shown this once and never stored in clear."""

    key: str


class Recommendation(BaseModel):
    """One recommended title."""

    title_id: str
    score: float
    reason: str = ""


class Recommendations(BaseModel):
    """Top-k titles for a member (cold-start ranking for unknown members)."""

    user_id: str
    k: int
    cold_start: bool
    items: list[Recommendation]


class SimilarTitles(BaseModel):
    """Titles most similar to one title."""

    title_id: str
    k: int
    items: list[Recommendation]


class Row(BaseModel):
    """One home-page row with the reason it is shown."""

    name: str
    reason: str
    items: list[Recommendation]


class Rows(BaseModel):
    """Home-page rows for a member."""

    user_id: str
    rows: list[Row]


class EventBatch(BaseModel):
    """A batch of event rows for one table; columns follow ``reelmine.data.schema``."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)


class IngestResult(BaseModel):
    """Outcome of an ingestion batch."""

    table: str
    accepted: int
    quarantined: int
    reasons: dict[str, int] = Field(
        default_factory=dict, description="Quarantine reasons, counted."
    )


class Erased(BaseModel):
    """Outcome of an erasure request."""

    user_id: str
    rows_deleted: dict[str, int]


class Series(BaseModel):
    """One named series of a chart; ``None`` marks a gap (e.g. a suppressed small group)."""

    name: str
    data: list[float | None]


class ChartData(BaseModel):
    """The JSON twin of a dashboard chart.

    ``x`` holds categories (dates as ``YYYY-MM-DD``, titles, countries as ISO alpha-2...).
    For ``heatmap`` charts ``y`` holds the row categories and ``cells`` the
    ``[x_index, y_index, value]`` triples; other kinds use ``series``.
    """

    kind: ChartKind
    title: str
    x: list[str] = Field(default_factory=list)
    series: list[Series] = Field(default_factory=list)
    y: list[str] = Field(default_factory=list)
    cells: list[tuple[int, int, float]] = Field(default_factory=list)
    unit: str = ""
    note: str = ""
    suppressed: int = Field(
        default=0, description="Groups hidden because they are smaller than min_group_size."
    )


class Filters(BaseModel):
    """Filters every analytics endpoint accepts as query parameters."""

    start: date | None = Field(default=None, description="First day included (YYYY-MM-DD, UTC).")
    end: date | None = Field(default=None, description="Last day included (YYYY-MM-DD, UTC).")
    country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 country code, upper case.",
    )
