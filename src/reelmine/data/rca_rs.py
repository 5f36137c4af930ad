"""Reader for the RCA-RS root-cause benchmark (RobustSpot's real video-streaming cases).

The folder holds one CSV per case (``min``, ``value``, ``cnt`` and the case's attributes, one
row per attribute combination and minute) and ``anomaly.yaml`` with, per case, the anomalous
minute and the labelled root cause. The YAML file uses a small, fixed subset of YAML (a list of
mappings whose ``cause`` is an inline flow mapping or a list of them), parsed here without
PyYAML so the package needs no extra dependency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from reelmine.errors import DataError

MEASURE_COLUMNS = ("min", "value", "cnt")

_FLOW_MAP = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class RcaCase:
    """One labelled case: file stem, anomalous minute (epoch seconds) and root-cause elements.

    Each element of ``cause`` maps attribute names to values (both strings), e.g.
    ``{"cdn": "5", "p2p": "0"}``.
    """

    name: str
    timestamp: int
    cause: tuple[dict[str, str], ...]

    @property
    def label(self) -> str:
        """The cause in benchmark notation: ``a=1&b=2;c=3`` with pairs sorted in each element."""
        return ";".join(element_to_string(e) for e in self.cause)


def element_to_string(element: dict[str, str]) -> str:
    """Format one root-cause element as sorted ``attr=value`` pairs joined by ``&``."""
    return "&".join(sorted(f"{k}={v}" for k, v in element.items()))


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_cause(text: str, source: str, line: int) -> tuple[dict[str, str], ...]:
    elements: list[dict[str, str]] = []
    for body in _FLOW_MAP.findall(text):
        element: dict[str, str] = {}
        for pair in body.split(","):
            if not pair.strip():
                continue
            key, sep, value = pair.partition(":")
            if not sep:
                raise DataError(f"cannot parse cause pair {pair!r}", source=source, line=line)
            element[_scalar(key)] = _scalar(value)
        elements.append(element)
    if not elements:
        raise DataError(
            f"cause {text!r} holds no {{attr: value}} mapping", source=source, line=line
        )
    return tuple(elements)


def read_rca_rs_labels(directory: str | Path) -> list[RcaCase]:
    """Parse ``anomaly.yaml`` of an RCA-RS folder.

    Parameters
    ----------
    directory : the folder holding ``anomaly.yaml`` and the case CSVs.

    Returns
    -------
    list of :class:`RcaCase`, in file order.
    """
    path = Path(directory) / "anomaly.yaml"
    if not path.is_file():
        raise DataError("anomaly.yaml not found", source=str(path))
    cases: list[RcaCase] = []
    current: dict[str, tuple[int, str]] = {}

    def flush() -> None:
        if not current:
            return
        for key in ("data", "timestamp", "cause"):
            if key not in current:
                first = min(line for line, _ in current.values())
                raise DataError(f"case without {key!r}", source=str(path), line=first)
        ts_line, ts = current["timestamp"]
        try:
            timestamp = int(ts)
        except ValueError:
            raise DataError(
                f"timestamp {ts!r} is not an integer", source=str(path), line=ts_line
            ) from None
        cause_line, cause = current["cause"]
        cases.append(
            RcaCase(
                name=current["data"][1],
                timestamp=timestamp,
                cause=_parse_cause(cause, str(path), cause_line),
            )
        )
        current.clear()

    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        stripped = line.strip()
        if stripped.startswith("- "):
            flush()
            stripped = stripped[2:]
        key, sep, value = stripped.partition(":")
        if not sep:
            raise DataError(f"expected 'key: value', got {line!r}", source=str(path), line=lineno)
        current[key.strip()] = (lineno, value.strip())
    flush()
    return cases


def read_rca_rs_case(directory: str | Path, name: str) -> pa.Table:
    """Read one case CSV.

    Parameters
    ----------
    directory : the RCA-RS folder.
    name : the case name (file stem, as in ``anomaly.yaml``).

    Returns
    -------
    pa.Table with ``min`` (int64, epoch seconds), ``value`` and ``cnt`` (float64) and every
    attribute column as strings (integers written without a decimal point).
    """
    path = Path(directory) / f"{name}.csv"
    if not path.is_file():
        raise DataError("case file not found", source=str(path))
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    missing = [c for c in MEASURE_COLUMNS if c not in header]
    if missing:
        raise DataError(f"missing columns {missing}", source=str(path), line=1)
    types = {c: pa.string() for c in header}
    types.update({"min": pa.int64(), "value": pa.float64(), "cnt": pa.float64()})
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as exc:
        raise DataError(f"cannot parse CSV: {exc}", source=str(path)) from exc
    return table


def rca_rs_attributes(table: pa.Table) -> list[str]:
    """Attribute columns of a case table (everything but ``min``, ``value``, ``cnt``)."""
    return [c for c in table.column_names if c not in MEASURE_COLUMNS]
