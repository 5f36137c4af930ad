"""API key store: keys with roles, kept only as salted scrypt hashes in a small JSON file.

A key looks like ``rm_<key_id>_<secret>``. ``key_id`` (8 hex characters) is public: it names
the key in listings and logs and lets :meth:`KeyStore.verify` find the one record to check, so a
request costs one key-derivation, not one per stored key. The secret part never touches disk:
the file holds ``scrypt(secret, salt)`` with a fresh 16-byte salt per key, compared in constant
time. Because scrypt is deliberately slow (~tens of ms), a verified key is remembered in memory
by its SHA-256 so a serving process pays the derivation once per key, not once per request; the
memo is dropped whenever the file changes (a revocation by another process takes effect on the
next request).

The file also holds nothing else; the dashboard's session-signing secret lives next to it in
``session.key`` (mode 0600), see :func:`session_secret`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from reelmine.errors import ConfigError, DataError, NotFoundError

ROLES = ("service", "analyst", "admin")
KEYS_FILE = "api_keys.json"
SESSION_KEY_FILE = "session.key"
KEY_PREFIX = "rm"

# scrypt cost: n=2**14, r=8 uses 16 MiB and ~30-60 ms per derivation on one core.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: everything but the secret."""

    key_id: str
    role: str
    salt: str  # hex
    hash: str  # hex scrypt digest of the secret part
    created_at: str  # ISO 8601 UTC
    label: str = ""
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _derive(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, maxmem=64 * 2**20, **_SCRYPT)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def split_key(key: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, ``None`` otherwise."""
    parts = key.strip().split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8 or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    """API keys of one installation, stored in ``folder / api_keys.json``.

    Parameters
    ----------
    folder : directory holding the store (``Settings.artifacts``); created on first write.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / KEYS_FILE
        self._lock = threading.Lock()
        self._records: dict[str, KeyRecord] = {}
        self._stamp: tuple[int, int] | None = None
        self._verified: dict[bytes, KeyRecord] = {}

    # -- file I/O -------------------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        """Reload the file when it changed since the last read (cheap stat per call)."""
        stamp = self._file_stamp()
        if stamp == self._stamp and (stamp is not None or not self._records):
            return
        records: dict[str, KeyRecord] = {}
        if stamp is not None:
            try:
                raw = json.loads(self.path.read_text())
                for item in raw.get("keys", []):
                    rec = KeyRecord(**item)
                    records[rec.key_id] = rec
            except (OSError, ValueError, TypeError) as exc:
                raise DataError(f"unreadable API key store ({exc})", source=str(self.path)) from exc
        self._records = records
        self._stamp = stamp
        self._verified.clear()

    def _write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = {"version": 1, "keys": [asdict(r) for r in self._records.values()]}
        tmp = self.path.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, self.path)  # atomic: a reader never sees half a file
        self._stamp = self._file_stamp()
        self._verified.clear()

    # -- public API -----------------------------------------------------------------------
    def create(self, role: str, *, label: str = "") -> tuple[str, KeyRecord]:
        """Create a key of ``role``; returns ``(key, record)``. The key is shown only here."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        with self._lock:
            self._refresh()
            key_id = secrets.token_hex(4)
            while key_id in self._records:
                key_id = secrets.token_hex(4)
            secret = secrets.token_urlsafe(24).replace("_", "-")
            salt = secrets.token_bytes(16)
            rec = KeyRecord(
                key_id=key_id,
                role=role,
                salt=salt.hex(),
                hash=_derive(secret, salt).hex(),
                created_at=_now(),
                label=label,
            )
            self._records[key_id] = rec
            self._write()
        return f"{KEY_PREFIX}_{key_id}_{secret}", rec

    def list(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        """Stored keys, oldest first."""
        with self._lock:
            self._refresh()
            recs = sorted(self._records.values(), key=lambda r: (r.created_at, r.key_id))
        return [r for r in recs if include_revoked or r.active]

    def get(self, key_id: str) -> KeyRecord:
        """The record of ``key_id``; :class:`NotFoundError` when there is none."""
        with self._lock:
            self._refresh()
            rec = self._records.get(key_id)
        if rec is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return rec

    def revoke(self, key_id: str) -> KeyRecord:
        """Mark ``key_id`` revoked (kept for the audit trail); returns the updated record."""
        with self._lock:
            self._refresh()
            rec = self._records.get(key_id)
            if rec is None:
                raise NotFoundError(f"no API key with id {key_id!r}")
            if rec.active:
                rec = KeyRecord(**{**asdict(rec), "revoked_at": _now()})
                self._records[key_id] = rec
                self._write()
        return rec

    def cached(self, key: str) -> KeyRecord | None:
        """The record of ``key`` if it was verified before and the store has not changed since.

        Costs a dictionary lookup and a ``stat``: servers call this first and fall back to the
        slow :meth:`verify` (off the event loop) only on a miss.
        """
        memo = hashlib.sha256(key.encode()).digest()
        with self._lock:
            self._refresh()
            return self._verified.get(memo)

    def verify(self, key: str) -> KeyRecord | None:
        """The active record ``key`` belongs to, or ``None`` (unknown, malformed or revoked)."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        memo = hashlib.sha256(key.encode()).digest()
        with self._lock:
            self._refresh()
            hit = self._verified.get(memo)
            if hit is not None:
                return hit
            rec = self._records.get(key_id)
        if rec is None or not rec.active:
            return None
        digest = _derive(secret, bytes.fromhex(rec.salt))
        if not hmac.compare_digest(digest, bytes.fromhex(rec.hash)):
            return None
        with self._lock:
            # Only memoise if the file did not change during the derivation.
            if self._records.get(key_id) == rec:
                self._verified[memo] = rec
        return rec

    def is_active(self, key_id: str) -> KeyRecord | None:
        """The record of ``key_id`` if it exists and is not revoked (sessions re-check this)."""
        with self._lock:
            self._refresh()
            rec = self._records.get(key_id)
        return rec if rec is not None and rec.active else None


def session_secret(folder: str | Path) -> bytes:
    """The installation's secret for signing dashboard session cookies (created once, 0600)."""
    path = Path(folder) / SESSION_KEY_FILE
    try:
        data = path.read_bytes().strip()
        if len(data) >= 64:
            return bytes.fromhex(data.decode())
    except FileNotFoundError:
        pass
    except ValueError as exc:
        raise DataError(
            f"corrupt session key ({exc}); delete it to make a new one", source=str(path)
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret.hex())
    return secret
