"""Storage side of :mod:`reelmine.privacy`: logs, key ring, erasure and re-keying I/O.

Everything here touches files or the warehouse; the privacy package decides, this module
does. Files live under ``Settings.artifacts / "privacy"``:

* ``budget.jsonl``: privacy-budget ledger, one JSON line per release or limit change;
* ``audit.jsonl``: who queried which aggregate, who exported what, who erased or rotated;
* ``erasure.jsonl``: one line per erased member: pseudonym, time, actor, nothing else.

Logs are append-only JSON Lines written under an exclusive ``fcntl`` lock and ``fsync``-ed,
so a check-then-append (the budget) is atomic across processes and survives restarts.

The key ring (rotated HMAC keys, versions 2..n) lives next to the pseudonymisation key file
(``<key_file>.ring.json``, mode 0600); it never enters the warehouse, logs or exports.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from reelmine.data.pseudonym import Pseudonymiser, _digest, load_key
from reelmine.data.warehouse import QUARANTINE, Warehouse, quote_ident, run_sql
from reelmine.errors import ConfigError, DataError
from reelmine.settings import Settings

PRIVACY_DIR = "privacy"
BUDGET_FILE = "budget.jsonl"
AUDIT_FILE = "audit.jsonl"
ERASURE_FILE = "erasure.jsonl"
EXPORTS_DIR = "exports"
USER_VOCAB = "user_vocab.parquet"  # saved model folders: one column user_id, row = user index
RETRAIN_MARK = "NEEDS_RETRAIN"
# Stored columns holding keyed pseudonyms, with the HMAC domain used to compute them.
PSEUDONYM_DOMAINS: dict[str, str] = {
    "user_id": "user_id",
    "profile_id": "profile_id",
    "device_id": "device_id",
    "ip_hash": "ip",
    "ip_net_hash": "ip_net",
}
KEY_META = "pseudonym_key_version"
# Files under artifacts that erasure and re-keying leave alone (no member data).
_SKIP_NAMES = {"api_keys.json", "session.key"}


def privacy_dir(settings: Settings) -> Path:
    """Folder of the privacy logs (created on first write)."""
    return Path(settings.artifacts) / PRIVACY_DIR


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- append-only JSON Lines logs ---------------------------------------------------------------
class JsonlLog:
    """An append-only JSON Lines file with an exclusive lock for read-check-append.

    Parameters
    ----------
    path : the log file; its folder is created with mode 0700 on first write.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first (an empty list when the file does not exist)."""
        if not self.path.is_file():
            return []
        with open(self.path, encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            return self._parse(fh.read())

    def _parse(self, text: str) -> list[dict[str, Any]]:
        out = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                raise DataError(f"corrupt log line: {exc}", source=str(self.path), line=i) from exc
        return out

    @contextlib.contextmanager
    def locked(self) -> Iterator[tuple[list[dict[str, Any]], Callable[[dict[str, Any]], None]]]:
        """Hold the exclusive lock: yields ``(records, append)`` so a check and its append are
        atomic across processes."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            records = self._parse(fh.read())

            def append(record: dict[str, Any]) -> None:
                fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

            yield records, append

    def append(self, record: dict[str, Any]) -> None:
        """Append one record (durably)."""
        with self.locked() as (_, add):
            add(record)


def log(settings: Settings, name: str) -> JsonlLog:
    """One of the privacy logs (``BUDGET_FILE``, ``AUDIT_FILE``, ``ERASURE_FILE``)."""
    return JsonlLog(privacy_dir(settings) / name)


# -- key ring ---------------------------------------------------------------------------------
def ring_path(settings: Settings) -> Path:
    """Where rotated keys live: next to the key file, never in the warehouse."""
    key_file = Path(settings.key_file)
    return key_file.with_name(key_file.name + ".ring.json")


def read_ring(settings: Settings) -> list[dict[str, Any]]:
    """Rotated key versions (2..n) with ``version``, ``key`` (hex), ``created_at``, ``status``."""
    path = ring_path(settings)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        versions = list(data["versions"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"key ring {path} is unreadable: {exc}") from exc
    return versions


def write_ring(settings: Settings, versions: list[dict[str, Any]]) -> Path:
    """Write the key ring atomically with mode 0600."""
    path = ring_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ring-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"versions": versions}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def key_chain(settings: Settings, *, include_pending: bool = False) -> list[bytes]:
    """Keys applied in sequence: the base key (version 1), then each active rotated key."""
    keys = [load_key(settings)]
    for v in sorted(read_ring(settings), key=lambda r: int(r["version"])):
        if v.get("status") == "active" or include_pending:
            keys.append(bytes.fromhex(v["key"]))
    return keys


def _rehash(key: bytes, domain: str, values: pa.Array) -> pa.Array:
    """Keyed re-hash of the non-null values of a string array (nulls stay null)."""
    values = values.cast(pa.string())
    valid = pc.is_valid(values)
    if values.null_count == 0:
        return _digest(key, domain, values)
    idx = np.flatnonzero(np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool))
    hashed = _digest(key, domain, pc.take(values, pa.array(idx)))
    where = np.full(len(values), -1, np.int64)
    where[idx] = np.arange(len(idx))
    return pc.take(hashed, pa.array(where, mask=where < 0))


class ChainedPseudonymiser(Pseudonymiser):
    """Pseudonyms under a rotated key chain: ``HMAC(k_n, ... HMAC(k_2, HMAC(k_1, raw)))``.

    With a single key it equals :class:`Pseudonymiser`. Ingestion must use this class once a
    key has been rotated, so new rows join the re-keyed warehouse.
    """

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError("the key chain is empty")
        super().__init__(keys[0])
        self._later = list(keys[1:])

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> ChainedPseudonymiser:
        """Chain of the base key and every active rotated key."""
        load_key(settings, create=create)
        return cls(key_chain(settings))

    def mapping(self, values: pa.Array | pa.ChunkedArray, domain: str) -> pa.Table:
        """``(raw, pseudonym)`` for the distinct non-null values, through the whole chain."""
        m = super().mapping(values, domain)
        p = m["pseudonym"].combine_chunks()
        for key in self._later:
            p = _digest(key, domain, p)
        return pa.table({"raw": m["raw"], "pseudonym": p})

    def ip_mapping(self, values: pa.Array | pa.ChunkedArray, column: str = "ip") -> pa.Table:
        """IP hashes through the whole chain (address and network domains)."""
        m = super().ip_mapping(values, column)
        h, n = m["hash"].combine_chunks(), m["net_hash"].combine_chunks()
        for key in self._later:
            h = _rehash(key, column, h)
            n = _rehash(key, column + "_net", n)
        return m.set_column(1, "hash", h).set_column(2, "net_hash", n)


# -- warehouse: erasure and re-keying ----------------------------------------------------------
def pseudonym_columns(wh: Warehouse) -> dict[str, list[str]]:
    """Every warehouse table (contract or derived) with its pseudonym columns."""
    rows = wh.query(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).to_pylist()
    out: dict[str, list[str]] = {}
    for r in rows:
        if r["column_name"] in PSEUDONYM_DOMAINS and r["table_name"] != QUARANTINE:
            out.setdefault(r["table_name"], []).append(r["column_name"])
    return out


def erase_from_warehouse(wh: Warehouse, pseudonym: str) -> dict[str, int]:
    """Delete every row whose ``user_id`` is ``pseudonym``, quarantine included.

    Returns rows deleted per table (tables with none are left out). One transaction.
    """
    deleted: dict[str, int] = {}
    con = wh.connection
    tables = {t: cols for t, cols in pseudonym_columns(wh).items() if "user_id" in cols}
    with wh._lock:
        run_sql(con, "BEGIN TRANSACTION")
        try:
            for name in sorted(tables):
                n = run_sql(con, f"DELETE FROM {quote_ident(name)} WHERE user_id = ?", [pseudonym])[
                    0
                ][0]
                if n:
                    deleted[name] = int(n)
            if wh.has_table(QUARANTINE):
                n = run_sql(
                    con,
                    f"DELETE FROM {QUARANTINE} WHERE json_extract_string(raw_row, '$.user_id') = ?",
                    [pseudonym],
                )[0][0]
                if n:
                    deleted[QUARANTINE] = int(n)
            run_sql(con, "COMMIT")
        except Exception:
            run_sql(con, "ROLLBACK")
            raise
    return deleted


def count_rows(wh: Warehouse) -> dict[str, int]:
    """Rows of every table but ``dataset_meta`` (which notes the key version)."""
    return {t: wh.count(t) for t in wh.tables() if t != "dataset_meta"}


@dataclass
class RekeyResult:
    """Rows per table before and after re-keying, and values changed per ``table.column``."""

    rows_before: dict[str, int]
    rows_after: dict[str, int]
    changed: dict[str, int]


def rekey_warehouse(
    wh: Warehouse, key: bytes, *, batch_rows: int = 1_000_000, new_version: int
) -> RekeyResult:
    """Re-hash every pseudonym column in place with ``key``, in one transaction.

    Distinct old values of a domain are gathered in SQL, hashed ``batch_rows`` at a time into a
    temporary map, and every column of that domain (every table, quarantine's JSON included) is
    updated by a join on the map. Rows are counted before and after inside the transaction,
    which rolls back (raising :class:`DataError`) if any count differs.
    """
    con = wh.connection
    cols = pseudonym_columns(wh)
    has_q = wh.has_table(QUARANTINE)
    changed: dict[str, int] = {}
    with wh._lock:
        run_sql(con, "BEGIN TRANSACTION")
        try:
            before = count_rows(wh)
            for column, domain in PSEUDONYM_DOMAINS.items():
                parts = [
                    f"SELECT {quote_ident(column)} AS v FROM {quote_ident(t)}"
                    for t, cs in sorted(cols.items())
                    if column in cs
                ]
                qpath = f"'$.{column}'"
                if has_q:
                    parts.append(
                        f"SELECT json_extract_string(raw_row, {qpath}) AS v FROM {QUARANTINE}"
                    )
                if not parts:
                    continue
                run_sql(
                    con,
                    "CREATE OR REPLACE TEMP TABLE _rk_old AS SELECT v, row_number() OVER () AS i "
                    f"FROM (SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) "
                    "WHERE v IS NOT NULL)",
                )
                run_sql(con, "CREATE OR REPLACE TEMP TABLE _rk_map (old VARCHAR, new VARCHAR)")
                total = int(run_sql(con, "SELECT count(*) FROM _rk_old")[0][0])
                for lo in range(0, total, batch_rows):
                    old = wh.query(
                        "SELECT v FROM _rk_old WHERE i > ? AND i <= ? ORDER BY i",
                        [lo, lo + batch_rows],
                    )["v"].combine_chunks()
                    batch = pa.table({"old": old, "new": _digest(key, domain, old)})
                    con.register("_rk_batch", batch)
                    try:
                        run_sql(con, "INSERT INTO _rk_map SELECT old, new FROM _rk_batch")
                    finally:
                        con.unregister("_rk_batch")
                for t, cs in sorted(cols.items()):
                    if column not in cs:
                        continue
                    q = quote_ident(column)
                    n = run_sql(
                        con,
                        f"UPDATE {quote_ident(t)} SET {q} = m.new FROM _rk_map m "
                        f"WHERE {quote_ident(t)}.{q} = m.old",
                    )[0][0]
                    changed[f"{t}.{column}"] = int(n)
                if has_q:
                    n = run_sql(
                        con,
                        f"UPDATE {QUARANTINE} SET raw_row = CAST(json_merge_patch(raw_row, "
                        f"json_object('{column}', m.new)) AS VARCHAR) FROM _rk_map m "
                        f"WHERE json_extract_string({QUARANTINE}.raw_row, {qpath}) = m.old",
                    )[0][0]
                    if n:
                        changed[f"{QUARANTINE}.{column}"] = int(n)
            run_sql(con, "DROP TABLE IF EXISTS _rk_old")
            run_sql(con, "DROP TABLE IF EXISTS _rk_map")
            after = count_rows(wh)
            if after != before:
                raise DataError(f"re-keying changed row counts: {before} -> {after}; rolled back")
            run_sql(con, "DELETE FROM dataset_meta WHERE key = ?", [KEY_META])
            run_sql(con, "INSERT INTO dataset_meta VALUES (?, ?)", [KEY_META, str(new_version)])
            run_sql(con, "COMMIT")
        except Exception:
            run_sql(con, "ROLLBACK")
            raise
    return RekeyResult(before, after, changed)


# -- files: Parquet exports and model artifacts -----------------------------------------------
@dataclass
class FileChange:
    """What erasure or re-keying did to one file or model folder."""

    path: Path
    action: str  # rewritten, folded-out, deleted, rekeyed
    rows: int = 0
    detail: str = ""


@dataclass
class FileScan:
    """Result of a scan over artifacts and exports."""

    changes: list[FileChange] = field(default_factory=list)


def _string_columns(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_string(f.type)]


def _write_parquet_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def rewrite_parquet_without(path: Path, needle: str) -> int:
    """Rewrite a Parquet file without the rows where any string column equals ``needle``."""
    table = pq.read_table(path)
    hit = np.zeros(table.num_rows, bool)
    for c in _string_columns(table):
        hit |= np.asarray(pc.fill_null(pc.equal(table[c], needle), False).to_numpy(), dtype=bool)
    if hit.any():
        _write_parquet_atomic(table.filter(pa.array(~hit)), path)
    return int(hit.sum())


def _parquet_text(path: Path) -> str:
    """Decoded text of every string value of a Parquet file (its bytes may be compressed)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return ""
    parts = [
        "\n".join(str(v) for v in table[c].to_pylist() if v is not None)
        for c in table.column_names
        if pa.types.is_string(table.schema.field(c).type)
        or pa.types.is_list(table.schema.field(c).type)
    ]
    return "\n".join(parts)


def _contains(path: Path, needle: str) -> bool:
    """Whether a file holds ``needle``: raw bytes (UTF-8 or UTF-32), or decoded Parquet."""
    data = path.read_bytes()
    if needle.encode() in data or needle.encode("utf-32-le") in data:
        return True
    return path.suffix.lower() == ".parquet" and needle in _parquet_text(path)


def _managed_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name in _SKIP_NAMES:
            continue
        if PRIVACY_DIR in path.relative_to(root).parts[:1]:
            continue  # the privacy logs: the erasure log keeps pseudonyms by design
        yield path


def _fold_out_model(folder: Path, drop: np.ndarray) -> None:
    """Remove user rows ``drop`` from a saved model (and its nested models)."""
    for manifest_path in sorted(folder.rglob("manifest.json")):
        mdir = manifest_path.parent
        manifest = json.loads(manifest_path.read_text())
        learned = manifest.get("learned", {})
        n_users = learned.get("n_users_")
        arrays_path = mdir / "arrays.npz"
        if arrays_path.is_file() and n_users is not None:
            with np.load(arrays_path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            keep = np.setdiff1d(np.arange(int(n_users)), drop)
            csr_bases = {k.partition("__csr_")[0] for k in arrays if "__csr_" in k}
            for base in csr_bases:
                if not base.startswith("user"):
                    continue
                shape = tuple(int(s) for s in arrays[f"{base}__csr_shape"])
                m = sp.csr_matrix(
                    (
                        arrays[f"{base}__csr_data"],
                        arrays[f"{base}__csr_indices"],
                        arrays[f"{base}__csr_indptr"],
                    ),
                    shape=shape,
                )
                if shape[0] == n_users:
                    m = m[keep]
                arrays[f"{base}__csr_data"] = m.data
                arrays[f"{base}__csr_indices"] = m.indices
                arrays[f"{base}__csr_indptr"] = m.indptr
                arrays[f"{base}__csr_shape"] = np.asarray(m.shape, dtype=np.int64)
            for name, arr in list(arrays.items()):
                if "__csr_" in name or not name.startswith("user"):
                    continue
                if arr.ndim >= 1 and arr.shape[0] == n_users:
                    arrays[name] = arr[keep]
            tmp = mdir / ".arrays.tmp.npz"
            np.savez(tmp, **arrays)
            os.replace(tmp, arrays_path)
            learned["n_users_"] = int(len(keep))
        manifest["needs_retrain"] = True
        manifest["erased_members"] = int(manifest.get("erased_members", 0)) + len(drop)
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    (folder / RETRAIN_MARK).write_text(
        "A member was folded out of this model (right to erasure); retrain it so item-side\n"
        "parameters no longer carry their aggregate influence.\n"
    )


def _scrub_json(value: Any, needle: str) -> Any:
    if isinstance(value, dict):
        return {k: _scrub_json(v, needle) for k, v in value.items() if k != needle and v != needle}
    if isinstance(value, list):
        return [_scrub_json(v, needle) for v in value if v != needle]
    return value


def scrub_files(root: Path, needle: str, extra: list[Path] | None = None) -> FileScan:
    """Remove ``needle`` (a pseudonym) from every file under ``root`` and from ``extra`` files.

    * model folders (``manifest.json`` + ``user_vocab.parquet``): the member's row is folded
      out of the vocabulary and of every user-indexed array; the model is marked for retraining;
    * Parquet files: rewritten without the rows that hold the pseudonym;
    * JSON: the value is removed from lists and objects; JSON Lines, CSV, text: lines dropped;
    * any other file still holding the pseudonym is deleted (it cannot be rewritten safely).
    """
    scan = FileScan()
    for vocab_path in sorted(Path(root).rglob(USER_VOCAB)) if Path(root).is_dir() else []:
        folder = vocab_path.parent
        if not (folder / "manifest.json").is_file():
            continue
        vocab = pq.read_table(vocab_path)
        ids = vocab.column(0)
        hit = np.asarray(pc.fill_null(pc.equal(ids, needle), False).to_numpy(), dtype=bool)
        if not hit.any():
            continue
        _fold_out_model(folder, np.flatnonzero(hit))
        _write_parquet_atomic(vocab.filter(pa.array(~hit)), vocab_path)
        scan.changes.append(FileChange(folder, "folded-out", int(hit.sum()), "marked for retrain"))
    paths = list(_managed_files(Path(root))) + [p for p in extra or [] if Path(p).is_file()]
    for path in paths:
        if not _contains(path, needle):
            continue
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            n = rewrite_parquet_without(path, needle)
            scan.changes.append(FileChange(path, "rewritten", n))
        elif suffix == ".json":
            try:
                data = json.loads(path.read_text())
            except ValueError:
                path.unlink()
                scan.changes.append(FileChange(path, "deleted", 0, "unparseable JSON"))
                continue
            path.write_text(json.dumps(_scrub_json(data, needle), indent=2, default=str))
            scan.changes.append(FileChange(path, "rewritten", 1))
        elif suffix in {".jsonl", ".csv", ".tsv", ".txt"}:
            lines = path.read_text().splitlines(keepends=True)
            kept = [ln for ln in lines if needle not in ln]
            path.write_text("".join(kept))
            scan.changes.append(FileChange(path, "rewritten", len(lines) - len(kept)))
        else:
            path.unlink()
            scan.changes.append(FileChange(path, "deleted", 0, "binary file held the pseudonym"))
        if path.exists() and _contains(path, needle):
            path.unlink()
            scan.changes.append(FileChange(path, "deleted", 0, "still held the pseudonym"))
    return scan


def rekey_parquet_files(root: Path, key: bytes, extra: list[Path] | None = None) -> FileScan:
    """Re-hash the pseudonym columns of Parquet files under ``root`` (and ``extra``)."""
    scan = FileScan()
    paths = [p for p in _managed_files(Path(root)) if p.suffix.lower() == ".parquet"]
    paths += [p for p in extra or [] if Path(p).is_file() and Path(p).suffix == ".parquet"]
    for path in paths:
        table = pq.read_table(path)
        cols = [c for c in table.column_names if c in PSEUDONYM_DOMAINS]
        if path.name == USER_VOCAB and table.num_columns == 1:
            cols = [table.column_names[0]]
        if not cols:
            continue
        for c in cols:
            i = table.column_names.index(c)
            domain = PSEUDONYM_DOMAINS.get(c, "user_id")
            table = table.set_column(
                i, c, _rehash(key, domain, table[c].combine_chunks().cast(pa.string()))
            )
        _write_parquet_atomic(table, path)
        scan.changes.append(FileChange(path, "rekeyed", table.num_rows, ", ".join(cols)))
    return scan


def write_user_vocab(folder: str | Path, user_ids: list[str] | pa.Array) -> Path:
    """Save a model's user vocabulary (row = user index) where erasure and rotation find it."""
    path = Path(folder) / USER_VOCAB
    arr = user_ids if isinstance(user_ids, pa.Array) else pa.array(list(user_ids), pa.string())
    _write_parquet_atomic(pa.table({"user_id": arr}), path)
    return path


def read_user_vocab(folder: str | Path) -> list[str]:
    """A model's user vocabulary saved by :func:`write_user_vocab`."""
    return [str(v) for v in pq.read_table(Path(folder) / USER_VOCAB).column(0).to_pylist()]


def find_in_files(paths: list[Path], needles: list[str]) -> list[tuple[Path, str]]:
    """``(file, needle)`` for each needle a file holds: in its bytes (UTF-8 or UTF-32) or, for
    Parquet, in its decoded values. Used to verify erasure and rotation."""
    return [(p, n) for p in paths if p.is_file() for n in needles if _contains(p, n)]


def compact_warehouse(path: str | Path) -> int:
    """Rewrite the warehouse file so deleted rows do not linger in free blocks.

    DuckDB marks deleted rows and reuses their blocks later, so erased values can stay in the
    file's bytes. Copying the database into a fresh file (``COPY FROM DATABASE``) and swapping
    it in removes them. Needs exclusive access to the file; returns the new size in bytes.
    """
    import duckdb

    src = Path(path)
    tmp = src.with_name(f".{src.name}.compact")
    for p in (tmp, tmp.with_name(tmp.name + ".wal")):
        p.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(src))
        try:
            name = run_sql(con, "SELECT current_database()")[0][0]
            run_sql(con, "ATTACH ? AS _reelmine_compact", [str(tmp)])
            run_sql(con, f"COPY FROM DATABASE {quote_ident(name)} TO _reelmine_compact")
            run_sql(con, "DETACH _reelmine_compact")
        finally:
            con.close()
    except duckdb.Error as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot compact the warehouse: {exc}", source=str(src)) from exc
    os.replace(tmp, src)
    src.with_name(src.name + ".wal").unlink(missing_ok=True)
    return src.stat().st_size
