"""Keyed pseudonyms: known HMAC values, key handling, IP hashing."""

from __future__ import annotations

import base64
import hmac
import stat
from pathlib import Path

import pyarrow as pa
import pytest

from reelmine.data.pseudonym import Pseudonymiser, load_key, pseudonymise_ids
from reelmine.errors import ConfigError
from reelmine.settings import Settings

KEY = b"0123456789abcdef0123456789abcdef"


def _reference(key: bytes, domain: str, raw: str) -> str:
    mac = hmac.digest(key, domain.encode() + b"\x00" + raw.encode(), "sha256")
    return base64.urlsafe_b64encode(mac[:12]).decode()


def test_matches_reference_hmac() -> None:
    ps = Pseudonymiser(KEY)
    raw = ["u1", "u2", "u1", "ü-ñ", "x" * 200]
    assert ps.pseudonymise_ids(raw) == [_reference(KEY, "user_id", r) for r in raw]
    # Keys longer than the SHA-256 block are hashed first, as RFC 2104 says.
    long_key = b"k" * 100
    assert Pseudonymiser(long_key).pseudonymise_ids(["a"]) == [_reference(long_key, "user_id", "a")]


def test_nulls_domains_and_whitespace() -> None:
    ps = Pseudonymiser(KEY)
    out = ps.pseudonymise(pa.array(["a", None, "a"])).to_pylist()
    assert out[0] == out[2] and out[1] is None and len(out[0]) == 16
    assert ps.pseudonymise_ids(["a"], "user_id") != ps.pseudonymise_ids(["a"], "device_id")
    assert ps.pseudonymise_ids([" a "]) == ps.pseudonymise_ids(["a"])  # lookups are trimmed
    assert Pseudonymiser(b"another key 1234").pseudonymise_ids(["a"]) != ps.pseudonymise_ids(["a"])


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    settings = Settings(key_file=tmp_path / "cfg" / "pseudonym.key")
    key = load_key(settings)
    mode = stat.S_IMODE((tmp_path / "cfg" / "pseudonym.key").stat().st_mode)
    assert mode == 0o600
    assert len(key) == 32
    assert load_key(settings) == key  # stable across calls
    assert pseudonymise_ids(["42"], settings) == [_reference(key, "user_id", "42")]


def test_secret_wins_and_bad_key_files(tmp_path: Path) -> None:
    s = Settings(secret="my-secret", key_file=tmp_path / "none.key")
    assert load_key(s) == b"my-secret"
    assert not (tmp_path / "none.key").exists()
    with pytest.raises(ConfigError, match="no pseudonymisation key"):
        load_key(Settings(key_file=tmp_path / "missing.key"), create=False)
    bad = tmp_path / "bad.key"
    bad.write_text("not hex")
    with pytest.raises(ConfigError, match="malformed"):
        load_key(Settings(key_file=bad))


def test_ip_mapping() -> None:
    ps = Pseudonymiser(KEY)
    raw = [
        "10.1.2.3",
        "010.001.002.003",
        "10.1.2.200",
        "10.1.3.1",
        "2001:db8::1",
        "2001:db8:0:ffff::9",
        "2001:db9::1",
        "300.1.1.1",
        "nope",
    ]
    m = {r["raw"]: r for r in ps.ip_mapping(pa.array(raw + [None])).to_pylist()}
    assert (
        m["10.1.2.3"]["hash"] == m["010.001.002.003"]["hash"] == _reference(KEY, "ip", "10.1.2.3")
    )
    assert (
        m["10.1.2.3"]["net_hash"]
        == m["10.1.2.200"]["net_hash"]
        == _reference(KEY, "ip_net", "10.1.2.0/24")
    )
    assert m["10.1.3.1"]["net_hash"] != m["10.1.2.3"]["net_hash"]
    assert m["2001:db8::1"]["net_hash"] == m["2001:db8:0:ffff::9"]["net_hash"]  # same /48
    assert m["2001:db9::1"]["net_hash"] != m["2001:db8::1"]["net_hash"]
    for bad in ("300.1.1.1", "nope"):
        assert m[bad]["valid"] is False and m[bad]["hash"] is None
    assert len(m) == len(raw)  # nulls are not mapped
