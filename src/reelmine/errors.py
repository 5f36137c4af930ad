"""One exception hierarchy for the whole package.

Every error a user can cause derives from :class:`ReelmineError`; the CLI maps them to exit
codes without tracebacks and the API maps them to HTTP status codes.
"""

from __future__ import annotations


class ReelmineError(Exception):
    """Base class of every error reelmine raises on purpose."""

    exit_code = 1


class ConfigError(ReelmineError):
    """A setting, option or environment variable is wrong."""

    exit_code = 2


class DataError(ReelmineError):
    """Input data is malformed: the message names the file, row and field where known."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        where = []
        if source is not None:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        full = f"{', '.join(where)}: {message}" if where else message
        super().__init__(full)
        self.source = source
        self.line = line
        self.column = column


class MissingColumnError(DataError):
    """An analysis needs a column the dataset does not have."""


class NotFittedError(ReelmineError, ValueError):
    """A model was used before ``fit``."""


class NotFoundError(ReelmineError):
    """A requested user, title, experiment or artifact does not exist."""


class PrivacyError(ReelmineError):
    """A request would break a privacy rule (group too small, budget exceeded, role)."""

    exit_code = 1
