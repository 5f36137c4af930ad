"""Keyed pseudonyms at the door: HMAC-SHA256 of identifiers and IP addresses.

A pseudonym is ``base64url(HMAC-SHA256(key, domain || 0x00 || raw))[:16]`` (96 bits): stable
under one key, unlinkable without it, and short enough to keep joins fast. The *domain* is the
column name (``user_id``, ``device_id``, ...), so the same raw string in two different kinds
of identifier does not produce the same pseudonym. ``user_id`` is the same domain in every
table, so pseudonymised tables still join.

The key comes from ``Settings.secret`` (``REELMINE_SECRET``) or, when unset, from a key file
(``Settings.key_file``) created on first use with 32 random bytes and mode 0600. The key never
goes into the warehouse.

Speed: HMACs are computed over the *distinct* values of a batch only (Python's C-implemented
``hmac.digest``), then mapped back onto every row with a vectorised Arrow lookup.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import ConfigError
from reelmine.settings import Settings

PSEUDONYM_CHARS = 16  # base64url characters kept: 96 bits
_DIGEST_BYTES = 12  # 12 bytes encode to exactly 16 base64 characters
_BLOCK = 64  # SHA-256 block size
USER_DOMAIN = "user_id"
IP_DOMAIN = "ip"
IP_NET_DOMAIN = "ip_net"
_IPV4_RE = r"^(?P<a>\d{1,3})\.(?P<b>\d{1,3})\.(?P<c>\d{1,3})\.(?P<d>\d{1,3})$"


def load_key(settings: Settings, *, create: bool = True) -> bytes:
    """The pseudonymisation key: ``settings.secret`` or the key file (created with mode 0600).

    Raises
    ------
    ConfigError
        When the key file is unreadable, malformed, or missing and ``create`` is false.
    """
    if settings.secret:
        return settings.secret.encode("utf-8")
    path = Path(settings.key_file)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            raise ConfigError(
                f"no pseudonymisation key at {path}; set REELMINE_SECRET or run `reelmine init`"
            ) from None
        return _create_key_file(path)
    except OSError as exc:
        raise ConfigError(f"cannot read the pseudonymisation key file {path}: {exc}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ConfigError(
            f"pseudonymisation key file {path} is malformed (expected >= 32 hex characters)"
        )
    return key


def _create_key_file(path: Path) -> bytes:
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: two processes racing to create the key must not end up with different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        raise ConfigError(f"cannot create the pseudonymisation key file {path}: {exc}") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    os.chmod(path, 0o600)  # umask may have narrowed it further; make it exactly 0600
    return key


def _digest(key: bytes, domain: str, values: pa.Array | list[str]) -> pa.Array:
    """HMAC-SHA256 pseudonyms of ``values`` (no nulls) as a string array.

    The keyed inner and outer SHA-256 states are computed once and copied per value, which is
    RFC 2104 HMAC exactly but about 3x faster than re-keying with ``hmac.digest`` every time;
    the base64 step runs once over all digests (12 bytes -> 16 characters, no padding).
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded) + domain.encode("utf-8") + b"\x00")
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    raw = pa.array(values, pa.string()) if isinstance(values, list) else values
    items = raw.cast(pa.binary()).to_pylist()

    def one(v: bytes) -> bytes:
        i = inner.copy()
        i.update(v)
        o = outer.copy()
        o.update(i.digest())
        return o.digest()[:_DIGEST_BYTES]

    if not items:
        return pa.array([], pa.string())
    encoded = base64.urlsafe_b64encode(b"".join([one(v) for v in items]))
    return pa.array(np.frombuffer(encoded, dtype=f"S{PSEUDONYM_CHARS}").astype(str), pa.string())


def _as_array(values: pa.Array | pa.ChunkedArray | Iterable[str]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), type=pa.string())
    return values.cast(pa.string())


class Pseudonymiser:
    """Keyed HMAC pseudonyms over Arrow arrays.

    Parameters
    ----------
    key : the secret key (at least 16 bytes recommended).
    """

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ConfigError("the pseudonymisation key is empty")
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> Pseudonymiser:
        """Pseudonymiser keyed by :func:`load_key`; after a key rotation
        (``reelmine privacy rotate-key``), the chain of every key version, so new rows join
        the re-keyed warehouse."""
        from reelmine.data.privacy_store import ChainedPseudonymiser, ring_path

        if ring_path(settings).is_file():
            return ChainedPseudonymiser.from_settings(settings, create=create)
        return cls(load_key(settings, create=create))

    def mapping(self, values: pa.Array | pa.ChunkedArray, domain: str) -> pa.Table:
        """``(raw, pseudonym)`` for the distinct non-null ``values``: the join table."""
        uniq = pc.unique(pc.drop_null(_as_array(values)))
        return pa.table({"raw": uniq, "pseudonym": _digest(self._key, domain, uniq)})

    def pseudonymise(
        self, values: pa.Array | pa.ChunkedArray | Iterable[str], domain: str = USER_DOMAIN
    ) -> pa.Array:
        """Pseudonym of every value (nulls stay null), hashing each distinct value once."""
        arr = _as_array(values)
        m = self.mapping(arr, domain)
        return pc.take(
            m["pseudonym"], pc.index_in(arr, value_set=m["raw"].combine_chunks())
        ).combine_chunks()

    def pseudonymise_ids(self, raw_ids: Iterable[str], domain: str = USER_DOMAIN) -> list[str]:
        """Pseudonyms of raw IDs as a list: what the CLI and API use to look a member up."""
        return [
            str(p) for p in self.pseudonymise([str(r).strip() for r in raw_ids], domain).to_pylist()
        ]

    def ip_mapping(self, values: pa.Array | pa.ChunkedArray, column: str = "ip") -> pa.Table:
        """Keyed hashes of distinct IP addresses and of their /24 (IPv4) or /48 (IPv6) network.

        Returns a table ``raw, hash, net_hash, valid``; invalid addresses get ``valid = False``
        and null hashes. IPv4 is parsed vectorised; only IPv6 addresses go through ``ipaddress``.
        """
        uniq = pc.unique(pc.drop_null(_as_array(values)))
        trimmed = pc.utf8_trim_whitespace(uniq)
        parts = pc.extract_regex(trimmed, _IPV4_RE)
        octets = [pc.cast(pc.struct_field(parts, f), pa.int64()) for f in "abcd"]
        v4_ok = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
        for o in octets:
            v4_ok &= np.asarray(
                pc.fill_null(pc.less_equal(o, 255), False).to_numpy(zero_copy_only=False)
            )
        n = len(uniq)
        # Canonical dotted form ("010.1.2.3" and "10.1.2.3" are the same address), vectorised.
        txt = [pc.cast(o, pa.string()) for o in octets]
        v4 = pa.array(v4_ok)
        canon = pc.if_else(v4, pc.binary_join_element_wise(*txt, "."), pa.scalar(None, pa.string()))
        net = pc.if_else(v4, pc.binary_join_element_wise(*txt[:3], pa.scalar("0/24"), "."), canon)
        other = np.flatnonzero(~v4_ok)
        if len(other):  # IPv6 (and garbage): rare, so a loop over these few is fine
            canon_np = np.asarray(canon.to_numpy(zero_copy_only=False), dtype=object)
            net_np = np.asarray(net.to_numpy(zero_copy_only=False), dtype=object)
            for i, text in zip(other, pc.take(trimmed, pa.array(other)).to_pylist(), strict=True):
                try:
                    addr = ipaddress.ip_address(text)
                except ValueError:
                    continue
                prefix = 24 if addr.version == 4 else 48
                canon_np[i] = str(addr)
                net_np[i] = str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
            canon = pa.array(canon_np.tolist(), pa.string())
            net = pa.array(net_np.tolist(), pa.string())
        valid = pc.is_valid(canon)
        ok = np.flatnonzero(np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool))
        where = np.full(n, -1, dtype=np.int64)
        where[ok] = np.arange(len(ok))
        back = pa.array(where, mask=where < 0)
        hashes = _digest(self._key, column, pc.take(canon, pa.array(ok)))
        # Networks repeat a lot: hash each distinct network once.
        net_ok = pc.take(net, pa.array(ok))
        net_uniq = pc.unique(net_ok)
        net_hash = pc.take(
            _digest(self._key, column + "_net", net_uniq), pc.index_in(net_ok, value_set=net_uniq)
        )
        return pa.table(
            {
                "raw": uniq,
                "hash": pc.take(hashes, back),
                "net_hash": pc.take(net_hash, back),
                "valid": valid,
            }
        )


def pseudonymise_ids(
    raw_ids: Iterable[str], settings: Settings, domain: str = USER_DOMAIN
) -> list[str]:
    """Pseudonyms of raw member IDs under the key of ``settings``.

    Parameters
    ----------
    raw_ids : raw identifiers as they appear in source files.
    settings : gives the key (``secret`` or ``key_file``).
    domain : identifier kind (column name); ``user_id`` by default.
    """
    return Pseudonymiser.from_settings(settings).pseudonymise_ids(raw_ids, domain)
