"""The date-range and country filters every analytics endpoint takes as query parameters."""

from __future__ import annotations

from datetime import date

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from reelmine.api.models import Filters


def analytics_filters(
    start: date | None = Query(None, description="First day included, YYYY-MM-DD (UTC)."),
    end: date | None = Query(None, description="Last day included, YYYY-MM-DD (UTC)."),
    country: str | None = Query(
        None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code, e.g. DE."
    ),
) -> Filters:
    """Dependency: validated filters; ``start`` after ``end`` is a 422 naming both fields."""
    if start is not None and end is not None and start > end:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "start"),
                    "msg": f"start {start} is after end {end}",
                    "type": "value_error.date_range",
                    "input": str(start),
                }
            ]
        )
    return Filters(start=start, end=end, country=country)
