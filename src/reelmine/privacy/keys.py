"""HMAC key versioning and rotation.

Raw member IDs are never stored, so a rotation cannot recompute pseudonyms from them.
Instead it **re-hashes the stored pseudonyms** with a new key: after rotation ``n`` a stored
pseudonym is ``HMAC(k_n, ... HMAC(k_2, HMAC(k_1, raw)))`` (same domain at each step), and
looking up a raw ID applies the keys in sequence
(:class:`reelmine.data.privacy_store.ChainedPseudonymiser`). A leaked old key alone no longer
links raw IDs to the stored pseudonyms.

Key 1 is ``REELMINE_SECRET`` or the key file; keys 2..n live in ``<key_file>.ring.json``
(mode 0600) beside it, never in the warehouse, logs or exports. The warehouse records only
the version number it is at (``dataset_meta.pseudonym_key_version``).

Rotation: a new key is written to the ring as *pending*; every pseudonym column of every
table (quarantine JSON included) is re-hashed in one transaction, streamed in batches of
``Settings.batch_rows`` distinct values; rows are counted before and after and must match;
the key then becomes *active*, and Parquet files under ``Settings.artifacts`` (model user
vocabularies, managed exports) are re-keyed. A crash before the commit leaves a pending key
that the next rotation discards.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from reelmine.data.privacy_store import (
    KEY_META,
    FileChange,
    now_iso,
    read_ring,
    rekey_parquet_files,
    rekey_warehouse,
    write_ring,
)
from reelmine.data.pseudonym import load_key
from reelmine.data.warehouse import Warehouse
from reelmine.privacy.erasure import recorded_exports
from reelmine.settings import Settings


@dataclass
class RotationReport:
    """Outcome of one key rotation."""

    version: int
    rows_before: dict[str, int]
    rows_after: dict[str, int]
    values_changed: dict[str, int] = field(default_factory=dict)
    files: list[FileChange] = field(default_factory=list)


def key_versions(settings: Settings) -> list[dict[str, object]]:
    """Versions with creation time and status; never the key material."""
    out: list[dict[str, object]] = [
        {
            "version": 1,
            "status": "active",
            "source": "REELMINE_SECRET" if settings.secret else "key file",
        }
    ]
    for v in sorted(read_ring(settings), key=lambda r: int(r["version"])):
        out.append(
            {"version": int(v["version"]), "status": v["status"], "created_at": v["created_at"]}
        )
    return out


def rotate_key(settings: Settings) -> RotationReport:
    """Generate key version n+1 and re-pseudonymise the warehouse and artifacts with it.

    Raises
    ------
    DataError
        When row counts differ after re-keying (the transaction is rolled back and the new
        key stays pending, to be discarded by the next rotation).
    """
    load_key(settings, create=False)
    with Warehouse.open(settings) as wh:
        db_version = int(wh.get_meta(KEY_META) or 1)
        ring = [
            v
            for v in read_ring(settings)
            if v["status"] == "active" or int(v["version"]) <= db_version
        ]
        for v in ring:  # a pending key the warehouse already uses finished its rotation
            if int(v["version"]) <= db_version:
                v["status"] = "active"
        version = 1 + max([1, *[int(v["version"]) for v in ring]])
        key = secrets.token_bytes(32)
        ring.append(
            {"version": version, "key": key.hex(), "created_at": now_iso(), "status": "pending"}
        )
        write_ring(settings, ring)
        res = rekey_warehouse(wh, key, batch_rows=settings.batch_rows, new_version=version)
    ring[-1]["status"] = "active"
    write_ring(settings, ring)
    scan = rekey_parquet_files(settings.artifacts, key, extra=recorded_exports(settings))
    return RotationReport(version, res.rows_before, res.rows_after, res.changed, scan.changes)
