"""Small vectorised helpers shared by the simulator modules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
MINUTE_US = 60_000_000


def make_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers, e.g. ``u000123``, built without a Python loop."""
    s = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), s, "")


def join_strings(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise concatenation of string arrays and scalars."""
    arrays = [pa.scalar(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*arrays, sep)


def int_str(values: np.ndarray) -> pa.Array:
    """Integers as strings."""
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def take(values: list[str] | np.ndarray, idx: np.ndarray) -> pa.Array:
    """String array of ``values[idx]`` (vocabulary lookup)."""
    vocab = pa.array(list(values), type=pa.string())
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


def ipv4(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> pa.Array:
    """Dotted IPv4 strings from four octet arrays."""
    return join_strings(int_str(a), int_str(b), int_str(c), int_str(d), sep=".")


def group_starts(keys: np.ndarray) -> np.ndarray:
    """Boolean mask marking the first row of each run of equal ``keys`` (already sorted)."""
    out = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        out[1:] = keys[1:] != keys[:-1]
    return out


def sequential_starts(group: np.ndarray, wanted: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Push start times later so that items of one group never overlap.

    Rows must be sorted by (group, wanted). Item i starts at
    ``max(wanted_i, end_{i-1})`` within its group: with ``c_i`` the cumulative duration before i
    in the group, ``start_i = c_i + max.accumulate(wanted - c)``; adding a group offset larger
    than any time makes the running maximum restart at each group.
    """
    n = len(group)
    if n == 0:
        return wanted.copy()
    first = group_starts(group)
    gid = np.cumsum(first) - 1
    csum = np.cumsum(durations) - durations  # exclusive cumsum over all rows
    c = csum - csum[first][gid]
    x = wanted.astype(np.int64) - c.astype(np.int64)
    lo = int(x.min())
    big = int(x.max()) - lo + 1
    if big * (int(gid[-1]) + 1) >= 2**62:  # pragma: no cover - guarded by block sizes
        raise OverflowError("too many groups in one block for sequential_starts")
    off = gid.astype(np.int64) * big
    acc = np.maximum.accumulate(x - lo + off)
    return acc - off + lo + c


def haversine_km(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in kilometres."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
