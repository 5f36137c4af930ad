"""Right to erasure: remove one member from the warehouse, model artifacts and exports.

What is removed
---------------
* every warehouse table with a ``user_id`` column (contract tables, derived tables) and the
  quarantine (rows whose raw JSON holds the member's pseudonym), in one transaction;
* saved models under ``Settings.artifacts``: a model folder with ``user_vocab.parquet`` is
  **folded out**: the member's row leaves the vocabulary and every user-indexed array (user
  factors, biases, the training matrix's row), ``n_users_`` shrinks, and the model is marked
  ``needs_retrain`` (manifest flag and a ``NEEDS_RETRAIN`` file) because item-side parameters
  still carry the member's aggregate influence until the next training;
* Parquet files under ``Settings.artifacts`` (managed exports, caches, segments) and every
  export recorded in the audit log: rewritten without the member's rows; JSON, JSON Lines,
  CSV and text files: the pseudonym is removed; any other file still holding it is deleted.

The erasure log (``privacy/erasure.jsonl``) keeps only the pseudonym, the time and the actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reelmine.data.privacy_store import (
    AUDIT_FILE,
    ERASURE_FILE,
    ChainedPseudonymiser,
    FileChange,
    compact_warehouse,
    erase_from_warehouse,
    log,
    now_iso,
    scrub_files,
)
from reelmine.data.warehouse import Warehouse
from reelmine.errors import DataError
from reelmine.settings import Settings


@dataclass
class ErasureReport:
    """What one erasure removed."""

    pseudonym: str
    at: str
    actor: str
    rows_deleted: dict[str, int] = field(default_factory=dict)
    files: list[FileChange] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows_deleted.values())


def member_pseudonym(settings: Settings, user_id: str, *, is_pseudonym: bool = False) -> str:
    """The pseudonym of a raw member ID under the current key chain (or ``user_id`` itself)."""
    uid = str(user_id).strip()
    if not uid:
        raise DataError("a member ID is empty")
    if is_pseudonym:
        return uid
    return ChainedPseudonymiser.from_settings(settings, create=False).pseudonymise_ids([uid])[0]


def recorded_exports(settings: Settings) -> list[Path]:
    """Parquet files of every export recorded in the audit log (files or folders)."""
    out: list[Path] = []
    for entry in log(settings, AUDIT_FILE).read():
        if entry.get("action") != "export" or not entry.get("path"):
            continue
        p = Path(str(entry["path"]))
        if p.is_dir():
            out.extend(sorted(p.rglob("*.parquet")))
        elif p.is_file():
            out.append(p)
    return out


def erase_member(
    settings: Settings,
    user_id: str,
    *,
    actor: str,
    is_pseudonym: bool = False,
    compact: bool = True,
) -> ErasureReport:
    """Erase a member everywhere reelmine keeps data; append to the erasure log.

    Parameters
    ----------
    settings : warehouse, key and artifacts locations.
    user_id : the raw member ID (as apps know it), or the pseudonym with ``is_pseudonym``.
    actor : who asked (API key id or ``local:<user>``), kept in the erasure log.
    compact : rewrite the warehouse file afterwards so the deleted values do not linger in
        free blocks (needs exclusive access; a batch of erasures may compact once at the end).
    """
    pseudonym = member_pseudonym(settings, user_id, is_pseudonym=is_pseudonym)
    with Warehouse.open(settings) as wh:
        deleted = erase_from_warehouse(wh, pseudonym)
    if compact and deleted:
        compact_warehouse(settings.db)
    exports = [p for p in recorded_exports(settings) if Path(settings.artifacts) not in p.parents]
    scan = scrub_files(Path(settings.artifacts), pseudonym, extra=exports)
    at = now_iso()
    log(settings, ERASURE_FILE).append({"pseudonym": pseudonym, "at": at, "actor": actor})
    return ErasureReport(pseudonym, at, actor, deleted, scan.changes)
