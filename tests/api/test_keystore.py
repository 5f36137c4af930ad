"""Key store: only salted hashes on disk, constant-time verification, revocation."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from reelmine.data.keystore import KEYS_FILE, KeyStore, session_secret, split_key
from reelmine.errors import ConfigError, NotFoundError


def test_create_stores_only_salted_hash(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key1, rec1 = store.create("analyst", label="bob")
    key2, rec2 = store.create("analyst")
    text = (tmp_path / KEYS_FILE).read_text()
    for key in (key1, key2):
        assert key.split("_")[2] not in text  # the secret never reaches the disk
    assert rec1.salt != rec2.salt and rec1.hash != rec2.hash
    assert len(bytes.fromhex(rec1.salt)) == 16
    assert stat.S_IMODE((tmp_path / KEYS_FILE).stat().st_mode) == 0o600
    stored = json.loads(text)["keys"]
    assert {k["key_id"] for k in stored} == {rec1.key_id, rec2.key_id}
    assert [r.label for r in store.list()].count("bob") == 1


def test_verify_accepts_only_the_exact_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, rec = store.create("service")
    assert store.verify(key) == rec
    assert store.verify(key) == rec  # memoised path gives the same answer
    prefix, key_id, secret = key.split("_")
    assert store.verify(f"{prefix}_{key_id}_{secret[:-1]}x") is None
    assert store.verify(f"{prefix}_deadbeef_{secret}") is None
    assert store.verify("not-a-key") is None
    assert store.verify("") is None


def test_revocation_seen_by_another_process_view(tmp_path: Path) -> None:
    server = KeyStore(tmp_path)
    key, rec = server.create("admin")
    assert server.verify(key) is not None
    KeyStore(tmp_path).revoke(rec.key_id)  # e.g. `reelmine keys revoke` in another process
    assert server.verify(key) is None
    assert server.get(rec.key_id).revoked_at is not None
    assert server.list(include_revoked=False) == []


def test_unknown_role_and_unknown_id(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(ConfigError, match="unknown role 'root'"):
        store.create("root")
    with pytest.raises(NotFoundError, match="no API key with id 'nope'"):
        store.revoke("nope")


def test_split_key_shapes() -> None:
    assert split_key("rm_0123abcd_s3cret") == ("0123abcd", "s3cret")
    assert split_key("rm_0123abcd_") is None
    assert split_key("xx_0123abcd_s") is None
    assert split_key("rm_short_s") is None


def test_session_secret_is_created_once(tmp_path: Path) -> None:
    first = session_secret(tmp_path)
    assert len(first) == 32
    assert session_secret(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "session.key").stat().st_mode) == 0o600
