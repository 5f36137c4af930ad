"""Member segments: k-means on scaled behaviour features, k by silhouette, readable profiles.

Each segment gets a name built from the features that set it apart (largest standardised
difference of the segment mean from the overall mean), e.g. "heavy weekend binge-watchers of
drama on tv". Stability is the mean adjusted Rand index between the reference clustering and
clusterings fitted on bootstrap resamples (all members re-labelled by each). Every aggregate
carries a ``members`` count so the privacy gate (minimum group size) can check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import ConfigError, NotFittedError, NotFoundError, PrivacyError
from reelmine.marketing.features import DEVICE_TYPES

BEHAVIOUR = (
    "hours_28d",
    "days_active_28d",
    "titles_28d",
    "days_since_last_play",
    "weekend_share",
    "binge_share",
    "tenure_days",
    "searches_28d",
    "ratings_90d",
)
"""Default clustering columns; device and genre shares present in the table are added."""

_LOG = ("hours_28d", "titles_28d", "days_since_last_play", "tenure_days", "searches_28d")


def clustering_columns(table: pa.Table) -> list[str]:
    """Default clustering columns present in ``table`` (behaviour, device mix, genre mix)."""
    cols = [c for c in BEHAVIOUR if c in table.column_names]
    cols += [f"device_{d}_share" for d in DEVICE_TYPES if f"device_{d}_share" in table.column_names]
    cols += [c for c in table.column_names if c.startswith("genre_") and c.endswith("_share")]
    return cols


@dataclass
class SegmentProfile:
    """One segment: name, size and the features that distinguish it (z = standardised gap)."""

    segment: int
    name: str
    members: int
    share: float
    distinguishing: list[dict[str, float | str]] = field(default_factory=list)
    means: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON friendly)."""
        return {
            "segment": self.segment,
            "name": self.name,
            "members": self.members,
            "share": self.share,
            "distinguishing": self.distinguishing,
            "means": self.means,
        }


class MemberSegmenter:
    """k-means on robustly scaled member features with ``k`` chosen by silhouette.

    Parameters
    ----------
    columns : numeric feature columns; ``None`` = :func:`clustering_columns`.
    k : number of segments; ``None`` picks the best silhouette over ``k_range``.
    k_range : candidate numbers of segments.
    sample_size : members used to score silhouettes (subsampled for speed).
    n_init : k-means restarts.
    random_state : seed.

    Attributes
    ----------
    k_ : chosen number of segments; ``silhouettes_`` : score per candidate ``k``.
    labels_ : segment per training member; ``profiles_`` : list of :class:`SegmentProfile`.
    """

    def __init__(
        self,
        *,
        columns: Sequence[str] | None = None,
        k: int | None = None,
        k_range: Sequence[int] = (3, 4, 5, 6, 7, 8),
        sample_size: int = 4000,
        n_init: int = 4,
        random_state: int | None = 0,
    ) -> None:
        self.columns = columns
        self.k = k
        self.k_range = k_range
        self.sample_size = sample_size
        self.n_init = n_init
        self.random_state = random_state

    def _matrix(self, table: pa.Table) -> np.ndarray:
        parts = []
        for c in self.columns_:
            x = np.asarray(pc.cast(table[c], pa.float64()).to_numpy(zero_copy_only=False), float)
            x = np.nan_to_num(x, nan=0.0)
            parts.append(np.log1p(np.maximum(x, 0.0)) if c in _LOG else x)
        return np.column_stack(parts)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return (X - self.center_) / self.scale_

    def fit(self, table: pa.Table) -> MemberSegmenter:
        """Choose ``k``, cluster, name the segments; returns ``self``."""
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        cols = list(self.columns) if self.columns is not None else clustering_columns(table)
        missing = [c for c in cols if c not in table.column_names]
        if missing:
            raise ConfigError(f"feature table lacks clustering column(s) {', '.join(missing)}")
        if not cols:
            raise ConfigError("no clustering columns")
        self.columns_ = cols
        rng = np.random.default_rng(self.random_state)
        X = self._matrix(table)
        n = len(X)
        ks = [self.k] if self.k is not None else [k for k in self.k_range if k < n]
        if not ks or min(ks) < 2:
            raise ConfigError(f"need at least 2 segments and more members than segments (n={n})")
        self.center_ = X.mean(0)
        sd = X.std(0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        Z = self._scale(X)
        sample = rng.choice(n, size=min(n, self.sample_size), replace=False)
        self.silhouettes_: dict[int, float] = {}
        models = {}
        for k in ks:  # per candidate k (a handful)
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(Z)
            models[k] = km
            lab = km.labels_[sample]
            ok = len(np.unique(lab)) > 1
            self.silhouettes_[k] = float(silhouette_score(Z[sample], lab)) if ok else -1.0
        self.k_ = max(self.silhouettes_, key=lambda k: (self.silhouettes_[k], -k))
        km = models[self.k_]
        # Order segments by size (largest first) so ids are stable across runs.
        sizes = np.bincount(km.labels_, minlength=self.k_)
        order = np.argsort(-sizes, kind="stable")
        remap = np.empty(self.k_, dtype=np.int64)
        remap[order] = np.arange(self.k_)
        self.centers_ = km.cluster_centers_[order]
        self.labels_ = remap[km.labels_]
        self.profiles_ = self._profiles(X, self.labels_)
        return self

    def predict(self, table: pa.Table) -> np.ndarray:
        """Segment of each member (nearest centre)."""
        if not hasattr(self, "centers_"):
            raise NotFittedError("MemberSegmenter used before fit")
        Z = self._scale(self._matrix(table))
        d = ((Z[:, None, :] - self.centers_[None, :, :]) ** 2).sum(-1)
        return np.asarray(d.argmin(1), dtype=np.int64)

    def _profiles(self, X: np.ndarray, labels: np.ndarray) -> list[SegmentProfile]:
        n = len(X)
        counts = np.bincount(labels, minlength=self.k_)
        sums = np.zeros((self.k_, X.shape[1]))
        np.add.at(sums, labels, X)
        means = sums / np.maximum(counts, 1)[:, None]
        z = (means - self.center_) / self.scale_
        raw_means = _raw_means(X, labels, self.k_, self.columns_)
        names = [_name(z[s], self.columns_, means[s], self.center_) for s in range(self.k_)]
        names = _unique(names, z, self.columns_)
        out = []
        for s in range(self.k_):  # per segment (k)
            top = np.argsort(-np.abs(z[s]), kind="stable")[:4]
            out.append(
                SegmentProfile(
                    segment=s,
                    name=names[s],
                    members=int(counts[s]),
                    share=float(counts[s] / n),
                    distinguishing=[
                        {
                            "feature": self.columns_[j],
                            "z": round(float(z[s, j]), 3),
                            "segment_mean": round(float(raw_means[s, j]), 4),
                        }
                        for j in top
                    ],
                    means={
                        c: round(float(raw_means[s, j]), 4) for j, c in enumerate(self.columns_)
                    },
                )
            )
        return out

    def stability(self, table: pa.Table, n_boot: int = 10) -> float:
        """Mean adjusted Rand index between the fitted segments and bootstrap refits."""
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score

        if not hasattr(self, "centers_"):
            raise NotFittedError("MemberSegmenter used before fit")
        rng = np.random.default_rng(self.random_state)
        Z = self._scale(self._matrix(table))
        ref = self.predict(table)
        scores = []
        for b in range(n_boot):  # per bootstrap resample
            idx = rng.integers(0, len(Z), len(Z))
            km = KMeans(n_clusters=self.k_, n_init=1, random_state=b).fit(Z[idx])
            scores.append(adjusted_rand_score(ref, km.predict(Z)))
        return float(np.mean(scores))


def _raw_means(X: np.ndarray, labels: np.ndarray, k: int, cols: Sequence[str]) -> np.ndarray:
    # Report means on the original scale (undo the log1p used for clustering).
    Xr = X.copy()
    for j, c in enumerate(cols):
        if c in _LOG:
            Xr[:, j] = np.expm1(X[:, j])
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels, Xr)
    return sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]


def _pretty(col: str) -> str:
    return (
        col.removeprefix("genre_").removeprefix("device_").removesuffix("_share").replace("_", "-")
    )


def _name(z: np.ndarray, cols: Sequence[str], mean: np.ndarray, center: np.ndarray) -> str:
    """A readable name from the segment's standardised differences ``z``."""
    zi = dict(zip(cols, z, strict=True))
    parts: list[str] = []
    act = zi.get("hours_28d", 0.0)
    lapse = zi.get("days_since_last_play", 0.0)
    if lapse > 0.8:
        parts.append("lapsing")
    elif act > 0.5:
        parts.append("heavy")
    elif act < -0.5:
        parts.append("light")
    if zi.get("tenure_days", 0.0) < -0.8:
        parts.append("new")
    if zi.get("weekend_share", 0.0) > 0.5:
        parts.append("weekend")
    noun = "binge-watchers" if zi.get("binge_share", 0.0) > 0.5 else "viewers"
    if zi.get("searches_28d", 0.0) > 0.8:
        noun = "searching " + noun
    parts.append(noun)
    genres = [(zi[c], c) for c in cols if c.startswith("genre_")]
    if genres:
        gz, gc = max(genres)
        if gz > 0.4:
            parts.append(f"of {_pretty(gc)}")
    devices = [(zi[c], c) for c in cols if c.startswith("device_")]
    if devices:
        dz, dc = max(devices)
        if dz > 0.4:
            dev = _pretty(dc)
            parts.append(f"on {'TV' if dev == 'tv' else dev}")
    return " ".join(parts)


def _unique(names: list[str], z: np.ndarray, cols: Sequence[str]) -> list[str]:
    """Make names unique by appending each duplicate's strongest remaining trait."""
    out = list(names)
    for s, name in enumerate(names):  # per segment (k)
        if names.count(name) > 1:
            j = int(np.argmax(np.abs(z[s])))
            out[s] = f"{name} ({'high' if z[s, j] > 0 else 'low'} {_pretty(cols[j])})"
    seen: dict[str, int] = {}
    for s, name in enumerate(out):  # per segment (k)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            out[s] = f"{name} #{seen[name]}"
    return out


def segment_mix(labels: np.ndarray, groups: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Members per (group, segment), e.g. segment mix by country.

    Returns columns ``group``, ``segment``, ``members``, ``share_of_group``.
    """
    g = pc.fill_null(pa.chunked_array([groups]) if isinstance(groups, pa.Array) else groups, "")
    t = pa.table({"group": g, "segment": pa.array(np.asarray(labels, dtype=np.int64))})
    counts = t.group_by(["group", "segment"]).aggregate([("segment", "count")])
    counts = counts.rename_columns(["group", "segment", "members"])
    tot = t.group_by("group").aggregate([("segment", "count")]).rename_columns(["group", "total"])
    j = counts.join(tot, "group").sort_by([("group", "ascending"), ("segment", "ascending")])
    share = pc.divide(pc.cast(j["members"], pa.float64()), pc.cast(j["total"], pa.float64()))
    return pa.table(
        {
            "group": j["group"],
            "segment": j["segment"],
            "members": j["members"],
            "share_of_group": share,
        }
    )


def export_segment(
    user_ids: pa.Array | pa.ChunkedArray,
    labels: np.ndarray,
    segment: int,
    *,
    min_group_size: int = 10,
) -> list[str]:
    """Pseudonymised IDs of one segment, for a campaign tool.

    Raises
    ------
    NotFoundError
        When no member is in ``segment``.
    PrivacyError
        When the segment has fewer than ``min_group_size`` members.
    """
    mask = np.asarray(labels) == segment
    size = int(mask.sum())
    if size == 0:
        raise NotFoundError(f"segment {segment} has no members")
    if size < min_group_size:
        raise PrivacyError(
            f"segment {segment} has {size} members, fewer than the minimum group size "
            f"{min_group_size}; it cannot be exported"
        )
    return [str(u) for u in pc.filter(user_ids, pa.array(mask)).to_pylist()]
