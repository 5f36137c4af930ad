"""Audit log: who queried which aggregate, who exported, erased or rotated what, and who
asked for member-level output (``row-level``) or served one member's recommendations
(``serve``).

Append-only JSON Lines (``audit.jsonl``, mode 0600); entries hold the actor (API key id or
``local:<user>``), role, action, a short description of *what* (query text, export path) and
row counts, never results, raw IDs or keys. Reading it needs role ``admin``.
"""

from __future__ import annotations

from typing import Any

from reelmine.data.privacy_store import AUDIT_FILE, log, now_iso
from reelmine.privacy.policy import require_role
from reelmine.settings import Settings

ACTIONS = ("query", "release", "export", "erase", "rotate-key", "budget", "row-level", "serve")


def record(
    settings: Settings, *, actor: str, role: str, action: str, what: str, **facts: Any
) -> dict[str, Any]:
    """Append one entry and return it."""
    entry = {"at": now_iso(), "actor": actor, "role": role, "action": action, "what": what}
    entry.update(facts)
    log(settings, AUDIT_FILE).append(entry)
    return entry


def read(settings: Settings, *, role: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Entries, oldest first (the last ``limit`` when given); only ``admin`` may read.

    Raises
    ------
    PrivacyError
        For any role other than ``admin``.
    """
    require_role(role, "admin", "reading the audit log")
    entries = log(settings, AUDIT_FILE).read()
    return entries[-limit:] if limit else entries
