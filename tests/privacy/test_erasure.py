"""Canary erasure: ingest, train, export, erase; then the member is nowhere to be found."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from reelmine.data.privacy_store import (
    ERASURE_FILE,
    find_in_files,
    privacy_dir,
    read_user_vocab,
    write_user_vocab,
)
from reelmine.data.pseudonym import pseudonymise_ids
from reelmine.data.vocab import Vocabulary
from reelmine.data.warehouse import Warehouse
from reelmine.recommend.base import Recommender
from reelmine.recommend.registry import make_recommender
from reelmine.service import ingest as ingest_svc
from reelmine.service import privacy as svc
from tests.privacy._data import CANARY, ingested

MODELS = ("popularity", "itemknn", "ease")


def _train(settings, folder: Path) -> None:  # type: ignore[no-untyped-def]
    with Warehouse.open(settings, read_only=True) as wh:
        r = wh.table("ratings", ["user_id", "title_id", "rating"])
    users = Vocabulary.from_values(r["user_id"])
    items = Vocabulary.from_values(r["title_id"])
    X = sp.csr_matrix(
        (np.asarray(r["rating"]), (users.index(r["user_id"]), items.index(r["title_id"]))),
        shape=(len(users), len(items)),
    )
    for name in MODELS:
        make_recommender(name).fit(X).save(folder / name)
        write_user_vocab(folder / name, users.ids)


def _recs(folder: Path, ids: list[str]) -> dict[str, list[int]]:
    model = Recommender.load(folder)
    vocab = Vocabulary(read_user_vocab(folder))
    got, _ = model.recommend(vocab.index(ids), k=3)
    return dict(zip(ids, got.tolist(), strict=True))


def _all_text(settings) -> str:  # type: ignore[no-untyped-def]
    with Warehouse.open(settings, read_only=True) as wh:
        return "\n".join(str(wh.table(t).to_pylist()) for t in wh.tables())


def test_canary_is_erased_everywhere(tmp_path: Path) -> None:
    settings, members = ingested(tmp_path)
    canary = pseudonymise_ids([CANARY], settings)[0]
    others = [m for m in members if m != CANARY]
    other_ps = pseudonymise_ids(others, settings)
    models = Path(settings.artifacts) / "models"
    _train(settings, models)
    # Managed exports (under artifacts) and an export outside, recorded in the audit log.
    ingest_svc.export(settings, Path(settings.artifacts) / "exports")
    outside = tmp_path / "outside-export"
    ingest_svc.export(settings, outside, ["plays", "users"])
    svc.record_export(settings, outside)
    cache = Path(settings.artifacts) / "cache"
    cache.mkdir()
    (cache / "segment.json").write_text(json.dumps({"winback": [canary, other_ps[0]]}))
    (cache / "scores.csv").write_text(f"user_id,score\n{canary},0.9\n{other_ps[1]},0.2\n")
    assert canary in _all_text(settings)
    # The search works: before erasure it finds the canary in exports, models and caches.
    planted = [
        outside / "plays.parquet",
        models / "ease" / "user_vocab.parquet",
        cache / "scores.csv",
    ]
    assert len(find_in_files(planted, [canary])) == 3
    before = {name: _recs(models / name, other_ps) for name in MODELS}

    report = svc.erase_user(settings, CANARY)

    assert report.pseudonym == canary
    assert report.rows_deleted == {"plays": 3, "quarantine": 1, "ratings": 3, "users": 1}
    text = _all_text(settings)
    assert canary not in text and CANARY not in text
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != tmp_path / "src"]
    erasure_log = privacy_dir(settings) / ERASURE_FILE
    hits = find_in_files([p for p in files if p != erasure_log], [canary, CANARY])
    assert hits == []
    # The erasure log keeps only pseudonym, time and actor.
    (entry,) = [json.loads(x) for x in erasure_log.read_text().splitlines()]
    assert set(entry) == {"pseudonym", "at", "actor"} and entry["pseudonym"] == canary
    # Models are folded out and flagged for retraining; other members' recommendations hold.
    for name in MODELS:
        manifest = json.loads((models / name / "manifest.json").read_text())
        assert manifest["needs_retrain"] is True
        assert manifest["learned"]["n_users_"] == len(others)
        assert (models / name / "NEEDS_RETRAIN").is_file()
        assert _recs(models / name, other_ps) == before[name]
    # Exports were rewritten, not deleted: everyone else is still there.
    plays = pq.read_table(outside / "plays.parquet")
    assert plays.num_rows == 3 * len(others)
    assert json.loads((cache / "segment.json").read_text()) == {"winback": [other_ps[0]]}
    # Erasing by pseudonym is idempotent.
    again = svc.erase_user(settings, canary, is_pseudonym=True)
    assert again.rows_deleted == {} and again.files == []


def test_erase_by_pseudonym_keeps_others(tmp_path: Path) -> None:
    settings, members = ingested(tmp_path)
    target = pseudonymise_ids([members[0]], settings)[0]
    with Warehouse.open(settings, read_only=True) as wh:
        n_before = wh.count("plays")
    rep = svc.erase_user(settings, target, is_pseudonym=True)
    with Warehouse.open(settings, read_only=True) as wh:
        assert wh.count("plays") == n_before - 3
        assert wh.table("users", where="user_id = ?", params=[target]).num_rows == 0
    assert rep.total_rows == 3 + 3 + 1
    # The API's DELETE /v1/users/{user_id} answers with exactly this model.
    from reelmine.api.models import Erased

    body = Erased(user_id=members[0], rows_deleted=rep.rows_deleted)
    assert body.rows_deleted == {"plays": 3, "ratings": 3, "users": 1}
