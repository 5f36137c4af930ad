"""Detector quality against planted ground truth (the simulator's ``truth/fraud``).

Matching rule (per type, at account level): an account is *predicted* for a type when it has
at least one flag of that type; it is a *true positive* when the truth lists the account with
that type and one of its flag windows overlaps one of its truth windows widened by
``slack_seconds`` on both sides. Precision = TP / predicted accounts, recall = TP / planted
accounts. The simulator gives each planted account exactly one type, so flags of the wrong type
on a planted account count against precision. The unsupervised ``anomaly`` score is judged by
ROC AUC of the score against the planted ``automated_playback`` accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.metrics import roc_auc_score

#: flag type -> the truth type it is judged against
TRUTH_TYPE = {
    "concurrent_streams": "concurrent_streams",
    "impossible_travel": "impossible_travel",
    "credential_stuffing": "credential_stuffing",
    "household_sharing": "household_sharing",
}


@dataclass(frozen=True)
class TypeQuality:
    """Precision and recall of one flag type."""

    type: str
    predicted: int
    planted: int
    true_positives: int

    @property
    def precision(self) -> float:
        """TP / predicted (1.0 when nothing was predicted)."""
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """TP / planted (1.0 when nothing was planted)."""
        return self.true_positives / self.planted if self.planted else 1.0


def _us(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(
        pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )


def quality_by_type(
    flags: pa.Table, truth: pa.Table, *, slack_seconds: float = 86400.0
) -> dict[str, TypeQuality]:
    """Precision/recall per rule-based flag type (see the module docstring for the rule).

    Parameters
    ----------
    flags : flag table (:data:`reelmine.fraud.flags.FLAG_SCHEMA`).
    truth : ``user_id, type, window_start, window_end`` (the simulator's ``truth/fraud``).
    slack_seconds : truth windows are widened by this much on each side.
    """
    slack = int(slack_seconds * 1e6)
    out: dict[str, TypeQuality] = {}
    for ftype, ttype in TRUTH_TYPE.items():
        f = flags.filter(pc.equal(flags["type"], ftype))
        t = truth.filter(pc.equal(truth["type"], ttype))
        predicted = set(f["user_id"].to_pylist())
        planted = set(t["user_id"].to_pylist())
        tp = 0
        if f.num_rows and t.num_rows:
            # Join flag windows to truth windows of the same account; check overlap vectorised.
            fj = pa.table(
                {"user_id": f["user_id"], "f0": _us(f["window_start"]), "f1": _us(f["window_end"])}
            )
            tj = pa.table(
                {"user_id": t["user_id"], "t0": _us(t["window_start"]), "t1": _us(t["window_end"])}
            )
            j = fj.join(tj, "user_id", join_type="inner")
            if j.num_rows:
                ok = (j["f0"].to_numpy() <= j["t1"].to_numpy() + slack) & (
                    j["f1"].to_numpy() >= j["t0"].to_numpy() - slack
                )
                tp = len(set(np.asarray(j["user_id"].to_pylist(), dtype=object)[ok]))
        out[ftype] = TypeQuality(ftype, len(predicted), len(planted), tp)
    return out


def anomaly_auc(scores: pa.Table, truth: pa.Table, truth_type: str = "automated_playback") -> float:
    """ROC AUC of ``scores['score']`` for accounts planted with ``truth_type``.

    Raises
    ------
    ValueError
        When the scored accounts hold no positive or no negative.
    """
    planted = truth.filter(pc.equal(truth["type"], truth_type))["user_id"]
    y = pc.is_in(scores["user_id"], value_set=planted.combine_chunks()).to_numpy(
        zero_copy_only=False
    )
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        raise ValueError("anomaly_auc needs scored accounts of both classes")
    return float(roc_auc_score(y, scores["score"].to_numpy()))


def benign_flagged(flags: pa.Table, benign: pa.Table) -> dict[str, int]:
    """Number of benign look-alike accounts (``truth/benign``) flagged by any rule, per kind."""
    rules = flags.filter(pc.is_in(flags["type"], value_set=pa.array(list(TRUTH_TYPE))))
    flagged = rules["user_id"].combine_chunks()
    out: dict[str, int] = {}
    for kind in sorted(set(benign["type"].to_pylist())):
        users = benign.filter(pc.equal(benign["type"], kind))["user_id"]
        out[kind] = int(pc.sum(pc.is_in(users, value_set=flagged)).as_py() or 0)
    return out
