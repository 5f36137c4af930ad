"""Typed request and response bodies of the REST API (pydantic models).

Chart endpoints all answer :class:`ChartData`, the one JSON shape the dashboard's renderer
draws, so every dashboard chart has a machine-readable twin with the same numbers.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["service", "analyst", "admin"]
ChartKind = Literal[
    "line", "bar", "hbar", "stacked", "heatmap", "funnel", "country", "table", "interval"
]


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
    name: str = ""
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
    kind: str = ""
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


class LiveFlag(BaseModel):
    """A fraud flag raised by the live check of an arriving event."""

    user_id: str = Field(description="The member's raw ID, as sent.")
    type: str
    score: float
    window_start: str
    window_end: str
    evidence: str


class IngestResult(BaseModel):
    """Outcome of an ingestion batch."""

    table: str
    accepted: int
    quarantined: int
    reasons: dict[str, int] = Field(
        default_factory=dict, description="Quarantine reasons, counted."
    )
    flags: list[LiveFlag] = Field(
        default_factory=list,
        description="Live fraud checks (plays and logins): concurrency, travel, stuffing.",
    )


class Erased(BaseModel):
    """Outcome of an erasure request."""

    user_id: str
    rows_deleted: dict[str, int]


class Series(BaseModel):
    """One named series of a chart; ``None`` marks a gap (e.g. a suppressed small group)."""

    name: str
    data: list[float | None]


class Band(BaseModel):
    """A shaded window on a line chart (e.g. a detected incident), from ``start`` to ``end``.

    Both ends are values of the chart's ``x`` categories.
    """

    start: str
    end: str
    label: str = ""


Cell = str | float | int | bool | None


class ChartData(BaseModel):
    """The JSON twin of a dashboard chart.

    ``x`` holds categories (dates as ``YYYY-MM-DD``, titles, countries as ISO alpha-2...).
    For ``heatmap`` charts ``y`` holds the row categories and ``cells`` the
    ``[x_index, y_index, value]`` triples; ``table`` charts use ``columns`` and ``rows``;
    ``interval`` charts have one category per ``x`` and the series ``estimate``, ``low`` and
    ``high`` (an estimate with its confidence interval); other kinds use ``series``.
    ``members`` (when given) counts the distinct members behind each ``x`` category, so a
    minimum-group-size gate can hide small groups.
    """

    kind: ChartKind
    title: str
    x: list[str] = Field(default_factory=list)
    series: list[Series] = Field(default_factory=list)
    y: list[str] = Field(default_factory=list)
    cells: list[tuple[int, int, float]] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list, description="Column names of a table.")
    rows: list[list[Cell]] = Field(default_factory=list, description="Rows of a table.")
    bands: list[Band] = Field(
        default_factory=list, description="Shaded windows on a line chart (incidents)."
    )
    members: list[int | None] = Field(
        default_factory=list, description="Distinct members behind each x category."
    )
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


class VariantMembers(BaseModel):
    """Members assigned to one variant."""

    variant: str
    members: int


class ExperimentInfo(BaseModel):
    """One experiment in the warehouse: its variants and member counts."""

    experiment_id: str
    members: int
    variants: list[VariantMembers]


class SRM(BaseModel):
    """Sample-ratio mismatch check (chi-square); ``flagged`` blocks the readout."""

    p_value: float | None
    flagged: bool


class ReadoutMetric(BaseModel):
    """One metric compared between one treatment variant and control."""

    metric: str
    variant: str
    control: float | None = Field(description="Control mean (or quantile) of the metric.")
    effect: float | None = Field(description="Treatment minus control, in the metric's unit.")
    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str
    role: str = "primary"
    p_value_adjusted: float | None = None
    decision: str = ""
    variance_reduction: float | None = None
    n_control: int = 0
    n_treatment: int = 0


class BalanceItem(BaseModel):
    """Pre-period balance of one covariate between control and a treatment variant."""

    covariate: str
    control_mean: float | None
    treatment_mean: float | None
    std_diff: float | None
    p_value: float | None
    flagged: bool


class ExperimentReadout(BaseModel):
    """A/B test readout: the shape of ``reelmine experiments readout ID --format json``."""

    experiment_id: str
    srm: SRM
    variants: list[VariantMembers]
    metrics: list[ReadoutMetric]
    blocked: bool = Field(description="True when the SRM check failed: do not trust the effects.")
    control: str
    correction: str
    alpha: float
    balance: list[BalanceItem] = Field(default_factory=list)
