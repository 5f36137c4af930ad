"""Key rotation: row counts kept, every pseudonym changed, raw-ID lookups still work."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pyarrow.parquet as pq

from reelmine.data.privacy_store import (
    PSEUDONYM_DOMAINS,
    ChainedPseudonymiser,
    find_in_files,
    read_ring,
    ring_path,
    write_user_vocab,
)
from reelmine.data.pseudonym import Pseudonymiser, load_key, pseudonymise_ids
from reelmine.data.warehouse import Warehouse
from reelmine.privacy.keys import key_versions
from reelmine.service import ingest as ingest_svc
from reelmine.service import privacy as svc
from tests.privacy._data import ingested


def _pseudonyms(settings) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    out: dict[str, set[str]] = {}
    with Warehouse.open(settings, read_only=True) as wh:
        for t in wh.tables():
            for c in wh.columns(t):
                if c in PSEUDONYM_DOMAINS:
                    vals = wh.table(t, [c])[c].drop_null().to_pylist()
                    if vals:
                        out.setdefault(c, set()).update(vals)
        for r in wh.table("quarantine", ["raw_row"]).to_pylist():
            row = json.loads(r["raw_row"])
            for c in PSEUDONYM_DOMAINS:
                if row.get(c):
                    out.setdefault(c, set()).add(row[c])
    return out


def _counts(settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with Warehouse.open(settings, read_only=True) as wh:
        return {t: wh.count(t) for t in wh.tables() if t != "dataset_meta"}


def test_rotation_keeps_rows_and_changes_every_pseudonym(tmp_path: Path) -> None:
    settings, members = ingested(tmp_path)
    vocab_dir = Path(settings.artifacts) / "models" / "m"
    vocab_dir.mkdir(parents=True)
    write_user_vocab(vocab_dir, pseudonymise_ids(members, settings))
    ingest_svc.export(settings, Path(settings.artifacts) / "exports", ["users"])
    counts, old = _counts(settings), _pseudonyms(settings)
    assert set(old) == {"user_id", "device_id", "ip_hash", "ip_net_hash"}

    rep = svc.rotate_key(settings)

    assert rep.version == 2
    assert rep.rows_before == rep.rows_after == _counts(settings) == counts
    new = _pseudonyms(settings)
    for col, values in old.items():
        assert len(new[col]) == len(values)  # a one-to-one re-keying: nothing merged or lost
        assert not (new[col] & values), f"{col}: some pseudonyms did not change"
    # Raw-ID lookups apply both keys in sequence and land on the rotated pseudonyms.
    chained = ChainedPseudonymiser.from_settings(settings).pseudonymise_ids(members)
    assert set(chained) == new["user_id"]
    assert pq.read_table(vocab_dir / "user_vocab.parquet")["user_id"].to_pylist() == chained
    exported = set(
        pq.read_table(Path(settings.artifacts) / "exports" / "users.parquet")["user_id"].to_pylist()
    )
    assert exported == set(chained)
    # Erasure by raw ID still finds the member after rotation.
    assert svc.erase_user(settings, members[0]).rows_deleted["users"] == 1
    # The keys live only in the ring file (0600), never in the warehouse, logs or exports.
    ring = read_ring(settings)
    assert [v["status"] for v in ring] == ["active"]
    assert stat.S_IMODE(ring_path(settings).stat().st_mode) == 0o600
    secrets_ = [ring[0]["key"], settings.secret or ""]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != ring_path(settings)]
    assert find_in_files(files, secrets_) == []
    assert [v["version"] for v in key_versions(settings)] == [1, 2]
    assert all("key" not in v for v in key_versions(settings))


def test_second_rotation_chains_the_keys(tmp_path: Path) -> None:
    settings, members = ingested(tmp_path)
    svc.rotate_key(settings)
    rep = svc.rotate_key(settings)
    assert rep.version == 3
    chained = ChainedPseudonymiser.from_settings(settings).pseudonymise_ids(members[:2])
    assert set(chained) <= _pseudonyms(settings)["user_id"]
    # A plain single-key pseudonym no longer matches anything (old key alone is useless).
    old_key_only = Pseudonymiser(load_key(settings)).pseudonymise_ids(members)
    assert not set(old_key_only) & _pseudonyms(settings)["user_id"]
    # Everything that looks members up (CLI, API, ingestion) uses the whole chain.
    assert set(pseudonymise_ids(members[:2], settings)) <= _pseudonyms(settings)["user_id"]


def test_ingest_after_rotation_joins_the_rekeyed_rows(tmp_path: Path) -> None:
    """New rows for a member ingested after a rotation carry the member's rotated pseudonym."""
    settings, members = ingested(tmp_path)
    svc.rotate_key(settings)
    before = _pseudonyms(settings)["user_id"]
    ingest_svc.ingest_rows(
        settings,
        "ratings",
        [{"user_id": members[0], "title_id": "t-new", "rating": 4, "rated_at": "2026-05-01"}],
    )
    with Warehouse.open(settings, read_only=True) as wh:
        who = wh.query("SELECT user_id FROM ratings WHERE title_id = 't-new'").to_pylist()
    assert len(who) == 1 and who[0]["user_id"] in before


def test_pending_key_from_a_crashed_rotation_is_discarded(tmp_path: Path) -> None:
    from reelmine.data.privacy_store import write_ring

    settings, members = ingested(tmp_path)
    write_ring(settings, [{"version": 2, "key": "00" * 32, "created_at": "x", "status": "pending"}])
    assert ChainedPseudonymiser.from_settings(settings).pseudonymise_ids(members[:1]) == (
        pseudonymise_ids(members[:1], settings)
    )
    rep = svc.rotate_key(settings)
    assert rep.version == 2 and read_ring(settings)[0]["key"] != "00" * 32
