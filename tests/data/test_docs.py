"""docs/data-model.md documents every table and column of the contract."""

from __future__ import annotations

import re
from pathlib import Path

from reelmine.data.schema import TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### `([a-z_]+)`\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_contract_column_is_documented() -> None:
    sections = _sections(DOC.read_text())
    missing = []
    for table in TABLES.values():
        body = sections.get(table.name)
        if body is None:
            missing.append(table.name)
            continue
        pattern = r"^\|\s*`([a-z_]+)`\s*\|\s*([^|]+?)\s*\|\s*(?:\*\*yes\*\*|no)"
        rows = dict(re.findall(pattern, body, flags=re.M))
        for col in table.columns:
            if col.name not in rows:
                missing.append(f"{table.name}.{col.name}")
            elif rows[col.name] != col.type:
                missing.append(
                    f"{table.name}.{col.name} (documented {rows[col.name]!r}, schema {col.type!r})"
                )
        keys = re.search(r"Natural key: \(([^)]*)\)", body)
        assert keys and keys.group(1) == ", ".join(f"`{k}`" for k in table.key), table.name
    assert not missing, f"undocumented in {DOC.name}: {', '.join(missing)}"


def test_required_flags_match() -> None:
    sections = _sections(DOC.read_text())
    for table in TABLES.values():
        pattern = r"^\|\s*`([a-z_]+)`\s*\|[^|]+\|\s*(\*\*yes\*\*|no)"
        for name, flag in re.findall(pattern, sections[table.name], flags=re.M):
            assert (flag == "**yes**") == table.column(name).required, f"{table.name}.{name}"
