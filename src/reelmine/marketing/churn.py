"""Churn: labels, a calibrated LightGBM model, evaluation, per-member reasons, a recency baseline.

Label: a member active at ``as_of`` *churns* when ``cancelled_at`` falls in
``[as_of, as_of + horizon_days)`` (30 days by default). Training is time-based: the model learns
on feature tables of earlier as-of dates (whose labels are fully observed before the next date
is scored), is calibrated (isotonic or Platt) on a later date, and is evaluated on a later date
still. Rows are never split at random.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator

from reelmine.errors import ConfigError, DataError, NotFittedError
from reelmine.marketing.design import FeatureEncoder
from reelmine.marketing.features import DAY_US, parse_as_of

LABEL_SQL = "SELECT user_id, cancelled_at FROM users"
"""Query whose result :func:`churn_labels` reads."""


def churn_labels(
    cancellations: pa.Table,
    user_ids: pa.Array | pa.ChunkedArray,
    as_of: str | date | datetime,
    horizon_days: int = 30,
) -> np.ndarray:
    """Whether each member cancelled within ``horizon_days`` days from ``as_of``.

    Parameters
    ----------
    cancellations : ``user_id`` and ``cancelled_at`` (null = still a member).
    user_ids : the members to label (e.g. the feature table's ``user_id``).
    as_of : start of the label window (UTC).
    horizon_days : length of the label window in days.

    Returns
    -------
    Boolean array aligned with ``user_ids``; members absent from ``cancellations`` are False.
    """
    if horizon_days < 1:
        raise ConfigError(f"horizon_days must be at least 1, not {horizon_days}")
    for name in ("user_id", "cancelled_at"):
        if name not in cancellations.column_names:
            raise DataError("users table lacks a column", source="users", column=name)
    t0 = int(parse_as_of(as_of).timestamp() * 1_000_000)
    t1 = t0 + horizon_days * DAY_US
    idx = pc.index_in(user_ids, value_set=cancellations["user_id"].combine_chunks())
    pos = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    cancel = pc.cast(cancellations["cancelled_at"], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    c_us = np.asarray(pc.fill_null(cancel, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    # Position -1 (a member missing from users) reads the appended "no cancellation".
    c = np.append(c_us, -1)[pos]
    return np.asarray((c >= t0) & (c < t1), dtype=bool)


@dataclass
class ChurnMetrics:
    """Quality of churn scores on one labelled date."""

    auc: float
    log_loss: float
    brier: float
    base_rate: float
    members: int
    churners: int
    calibration: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON friendly)."""
        return {
            "auc": self.auc,
            "log_loss": self.log_loss,
            "brier": self.brier,
            "base_rate": self.base_rate,
            "members": self.members,
            "churners": self.churners,
            "calibration": self.calibration,
        }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted vs observed churn rate in ``bins`` quantile bins of the prediction."""
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, max(len(p), 1)))
    rows = []
    for g in groups:  # per bin (10)
        if len(g) == 0:
            continue
        rows.append(
            {
                "mean_predicted": float(p[g].mean()),
                "observed_rate": float(y[g].mean()),
                "members": int(len(g)),
            }
        )
    return rows


def evaluate_scores(y: np.ndarray, p: np.ndarray, bins: int = 10) -> ChurnMetrics:
    """AUC, log loss, Brier score and calibration table of probabilities ``p`` for labels ``y``."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y, dtype=bool)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    if y.all() or not y.any():
        raise DataError("cannot evaluate churn: the labels hold only one class on this date")
    return ChurnMetrics(
        auc=float(roc_auc_score(y, p)),
        log_loss=float(log_loss(y, p, labels=[False, True])),
        brier=float(brier_score_loss(y, p)),
        base_rate=float(y.mean()),
        members=int(len(y)),
        churners=int(y.sum()),
        calibration=calibration_table(y, p, bins),
    )


class ChurnModel(BaseEstimator):
    """LightGBM churn classifier with probabilities calibrated on a later date.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM settings.
    calibration : ``isotonic`` (default), ``platt`` or ``none``.
    columns : feature columns to use; ``None`` = all but ``user_id``.
    random_state : seed.

    Attributes
    ----------
    encoder_ : the fitted :class:`FeatureEncoder`.
    booster_ : the LightGBM booster.
    calibrator_ : maps raw scores to calibrated probabilities.
    medians_ : per-feature training medians (to phrase reasons as "high"/"low").
    """

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        min_child_samples: int = 80,
        calibration: str = "isotonic",
        columns: Sequence[str] | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.columns = columns
        self.random_state = random_state

    def fit(
        self,
        train: pa.Table,
        y_train: np.ndarray,
        calib: pa.Table | None = None,
        y_calib: np.ndarray | None = None,
    ) -> ChurnModel:
        """Fit on ``train`` (stacked as-of dates) and calibrate on ``calib`` (a later date)."""
        import lightgbm as lgb

        if self.calibration not in ("isotonic", "platt", "none"):
            raise ConfigError(f"calibration must be isotonic, platt or none: {self.calibration!r}")
        y = np.asarray(y_train, dtype=np.float64)
        if len(y) != train.num_rows:
            raise DataError(f"{len(y)} labels for {train.num_rows} training rows")
        if y.min() == y.max():
            raise DataError("cannot train churn: the training labels hold only one class")
        self.encoder_ = FeatureEncoder(columns=self.columns).fit(train)
        X = self.encoder_.transform(train)
        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "deterministic": True,
            "num_threads": 1,
            "verbose": -1,
        }
        ds = lgb.Dataset(
            X,
            label=y,
            feature_name=[_safe(n) for n in self.encoder_.feature_names_],
            categorical_feature=self.encoder_.categorical_indices_ or "auto",
            free_raw_data=False,
        )
        self.booster_ = lgb.train(params, ds, num_boost_round=self.n_estimators)
        self.medians_ = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
        self.calibrator_: object | None = None
        if self.calibration != "none" and calib is not None and y_calib is not None:
            raw = self._raw(calib)
            yc = np.asarray(y_calib, dtype=np.float64)
            if yc.min() == yc.max():
                raise DataError("cannot calibrate churn: the calibration date has one class only")
            if self.calibration == "isotonic":
                from sklearn.isotonic import IsotonicRegression

                self.calibrator_ = IsotonicRegression(
                    y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip"
                ).fit(raw, yc)
            else:
                from sklearn.linear_model import LogisticRegression

                self.calibrator_ = LogisticRegression(C=1e6).fit(_logit(raw)[:, None], yc)
        return self

    def _check(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("ChurnModel used before fit")

    def _raw(self, table: pa.Table) -> np.ndarray:
        self._check()
        return np.asarray(self.booster_.predict(self.encoder_.transform(table)), dtype=np.float64)

    def predict_proba(self, table: pa.Table) -> np.ndarray:
        """Calibrated probability of churning within the horizon, one per row."""
        raw = self._raw(table)
        cal = self.calibrator_
        if cal is None:
            return raw
        if self.calibration == "isotonic":
            return np.asarray(cal.predict(raw), dtype=np.float64)  # type: ignore[attr-defined]
        return np.asarray(cal.predict_proba(_logit(raw)[:, None])[:, 1])  # type: ignore[attr-defined]

    def contributions(self, table: pa.Table) -> np.ndarray:
        """Per-feature contributions to the raw log-odds, (n, n_features + 1) (last = bias)."""
        self._check()
        X = self.encoder_.transform(table)
        return np.asarray(self.booster_.predict(X, pred_contrib=True), dtype=np.float64)

    def top_reasons(self, table: pa.Table, k: int = 3) -> list[list[str]]:
        """The ``k`` features that push each member's risk up most, phrased for people.

        A reason reads ``"low hours_7d (0.5)"`` or ``"plan = basic"``: the feature, whether
        the member's value is above or below the training median, and the value.
        """
        contrib = self.contributions(table)[:, :-1]
        X = self.encoder_.transform(table)
        names = self.encoder_.feature_names_
        top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
        vals = np.take_along_axis(X, top, axis=1)
        pos = np.take_along_axis(contrib, top, axis=1) > 0
        med = self.medians_[top]
        texts = np.empty(top.shape, dtype=object)
        # Phrase each (feature, value) once per distinct pair: a handful of features dominate.
        for j in range(top.shape[1]):  # per reason rank (k)
            for f in np.unique(top[:, j]):  # per feature (tens)
                rows = top[:, j] == f
                name = names[f]
                if name in self.encoder_.categories_:
                    vocab = self.encoder_.categories_[name]
                    codes = vals[rows, j]
                    texts[rows, j] = [
                        f"{name} = {vocab[int(c)]}" if c == c else f"{name} unknown" for c in codes
                    ]
                else:
                    v = vals[rows, j]
                    hi = v > med[rows, j]
                    texts[rows, j] = [
                        f"{'high' if h else 'low'} {name} ({x:.3g})" if x == x else f"no {name}"
                        for h, x in zip(hi, v, strict=True)
                    ]
        return [
            [str(t) for t, p in zip(row, ok, strict=True) if p]
            for row, ok in zip(texts, pos, strict=True)
        ]

    def feature_importance(self) -> list[tuple[str, float]]:
        """Features by total gain, largest first."""
        self._check()
        gain = self.booster_.feature_importance(importance_type="gain")
        names = self.encoder_.feature_names_
        order = np.argsort(-gain, kind="stable")
        return [(names[i], float(gain[i])) for i in order]


def _safe(name: str) -> str:
    # LightGBM refuses some JSON-special characters in feature names.
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def recency_scores(table: pa.Table) -> np.ndarray:
    """The recency-only baseline: days since the last play (more days = more risk)."""
    if "days_since_last_play" not in table.column_names:
        raise DataError("feature table lacks a column", column="days_since_last_play")
    return np.asarray(
        pc.fill_null(table["days_since_last_play"], 0.0).to_numpy(zero_copy_only=False), float
    )


class RecencyBaseline:
    """Churn probability from days since the last play alone, isotonic on a calibration date."""

    def fit(self, table: pa.Table, y: np.ndarray) -> RecencyBaseline:
        """Learn the monotone map from recency to churn rate; returns ``self``."""
        from sklearn.isotonic import IsotonicRegression

        self.iso_ = IsotonicRegression(
            y_min=1e-4, y_max=1 - 1e-4, increasing=True, out_of_bounds="clip"
        ).fit(recency_scores(table), np.asarray(y, dtype=np.float64))
        return self

    def predict_proba(self, table: pa.Table) -> np.ndarray:
        """Churn probability per row."""
        if not hasattr(self, "iso_"):
            raise NotFittedError("RecencyBaseline used before fit")
        return np.asarray(self.iso_.predict(recency_scores(table)), dtype=np.float64)
