"""Marketing use cases over the warehouse: segments, churn, campaign uplift, lifetime value.

Every function has a runner form (``*_from_runner``: takes ``runner(sql) -> pa.Table``, so tests
run it on in-memory tables with :func:`reelmine.data.engine.runner_on_tables`) and a settings
form that takes the runner of the settings' engine
(:func:`reelmine.service.engine.open_runner`: the DuckDB warehouse read-only, or Spark).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import ConfigError, DataError, NotFoundError
from reelmine.marketing.churn import (
    LABEL_SQL,
    ChurnMetrics,
    ChurnModel,
    RecencyBaseline,
    churn_labels,
    evaluate_scores,
)
from reelmine.marketing.features import (
    GENRES_SQL,
    member_features,
    parse_as_of,
    top_genres,
)
from reelmine.marketing.ltv import (
    CoxModel,
    SurvivalCurve,
    concordance_index,
    km_by_group,
    member_value,
    remaining_tenure,
)
from reelmine.marketing.segments import MemberSegmenter, SegmentProfile, segment_mix
from reelmine.marketing.uplift import (
    UpliftModel,
    UpliftReport,
    cross_fit_uplift,
    curve_points,
    qini_bootstrap,
    qini_coefficient,
    target_budget,
    uplift_at,
)
from reelmine.settings import Settings

Runner = Callable[[str], pa.Table]
WINDOW_SQL = "SELECT MIN(started_at) AS lo, MAX(started_at) AS hi FROM plays"
CAMPAIGN_SQL = "SELECT campaign_id, user_id, sent_at, treated, converted_at FROM campaigns"


@contextmanager
def _warehouse(settings: Settings) -> Iterator[Runner]:
    # The settings' engine: the DuckDB warehouse (read-only), or Spark with --engine spark.
    from reelmine.service.engine import open_runner

    with open_runner(settings) as run:
        yield run


def _day(ts: datetime) -> datetime:
    return datetime(ts.year, ts.month, ts.day, tzinfo=UTC)


def data_window(runner: Runner) -> tuple[datetime, datetime]:
    """First and last play start in the data (UTC)."""
    row = runner(WINDOW_SQL).to_pylist()[0]
    if row["lo"] is None:
        raise DataError("the plays table is empty: nothing to model", source="plays")
    return parse_as_of(row["lo"]), parse_as_of(row["hi"])


def _genres(runner: Runner, n: int = 8) -> list[str]:
    return top_genres(runner(GENRES_SQL), n)


# -- segments -------------------------------------------------------------------------------


@dataclass
class SegmentsResult:
    """Segments of the members active at ``as_of``."""

    as_of: datetime
    k: int
    silhouettes: dict[int, float]
    stability_ari: float
    profiles: list[SegmentProfile]
    by_country: pa.Table
    user_ids: pa.Array
    labels: np.ndarray

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON friendly), without the per-member labels."""
        return {
            "as_of": self.as_of.isoformat(),
            "k": self.k,
            "criterion": "silhouette",
            "silhouettes": {str(k): v for k, v in self.silhouettes.items()},
            "stability_ari": self.stability_ari,
            "segments": [p.to_dict() for p in self.profiles],
            "by_country": self.by_country.to_pylist(),
        }


def segments_from_runner(
    runner: Runner,
    as_of: str | datetime | None = None,
    *,
    k: int | None = None,
    n_boot: int = 5,
    random_state: int | None = 0,
) -> SegmentsResult:
    """Cluster the members active at ``as_of`` (default: the day after the last play)."""
    t = _default_as_of(runner, as_of)
    feats = member_features(runner, t, genres=_genres(runner))
    if feats.num_rows < 20:
        raise DataError(f"only {feats.num_rows} members active at {t:%Y-%m-%d}; need 20")
    seg = MemberSegmenter(k=k, random_state=random_state).fit(feats)
    stab = seg.stability(feats, n_boot=n_boot) if n_boot > 0 else float("nan")
    return SegmentsResult(
        as_of=t,
        k=seg.k_,
        silhouettes=seg.silhouettes_,
        stability_ari=stab,
        profiles=seg.profiles_,
        by_country=segment_mix(seg.labels_, feats["country"]),
        user_ids=feats["user_id"].combine_chunks(),
        labels=seg.labels_,
    )


def _default_as_of(runner: Runner, as_of: str | datetime | None) -> datetime:
    if as_of is not None:
        return parse_as_of(as_of)
    _, hi = data_window(runner)
    return _day(hi) + timedelta(days=1)


def segments(settings: Settings, as_of: str | None = None, **kw: object) -> SegmentsResult:
    """:func:`segments_from_runner` on the warehouse of ``settings``."""
    with _warehouse(settings) as run:
        return segments_from_runner(run, as_of, **kw)  # type: ignore[arg-type]


# -- churn ----------------------------------------------------------------------------------


def churn_dates(
    target: datetime, *, horizon_days: int = 30, n_train: int = 3, step_days: int = 7
) -> tuple[list[datetime], datetime]:
    """Training dates and calibration date for scoring (or evaluating) at ``target``.

    The calibration date is ``target - horizon`` (its labels are complete at ``target``), the
    training dates are ``step_days`` apart before it: nothing after ``target`` is needed.
    """
    cal = target - timedelta(days=horizon_days)
    train = [cal - timedelta(days=step_days * j) for j in range(n_train, 0, -1)]
    return train, cal


def _labelled(
    runner: Runner, dates: Sequence[datetime], genres: Sequence[str], horizon: int
) -> tuple[pa.Table, np.ndarray]:
    cancel = runner(LABEL_SQL)
    feats, ys = [], []
    for d in dates:  # per as-of date (a handful)
        f = member_features(runner, d, genres=genres)
        feats.append(f)
        ys.append(churn_labels(cancel, f["user_id"], d, horizon))
    return pa.concat_tables(feats), np.concatenate(ys)


def _check_dates(start: datetime, dates: Sequence[datetime]) -> None:
    if min(dates) < start + timedelta(days=7):
        raise ConfigError(
            f"the first training date {min(dates):%Y-%m-%d} leaves less than a week of history "
            f"(data starts {start:%Y-%m-%d}); use a later date, fewer training dates or a "
            "shorter horizon"
        )


@dataclass
class ChurnEvaluation:
    """Time-based evaluation: train on early dates, calibrate later, evaluate later still."""

    train_dates: list[datetime]
    calibration_date: datetime
    evaluation_date: datetime
    horizon_days: int
    model: ChurnMetrics
    recency_baseline: ChurnMetrics
    train_rows: int
    fit_seconds: float
    feature_seconds: float
    importance: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON friendly)."""
        return {
            "train_dates": [d.date().isoformat() for d in self.train_dates],
            "calibration_date": self.calibration_date.date().isoformat(),
            "evaluation_date": self.evaluation_date.date().isoformat(),
            "horizon_days": self.horizon_days,
            "model": self.model.to_dict(),
            "recency_baseline": self.recency_baseline.to_dict(),
            "train_rows": self.train_rows,
            "fit_seconds": self.fit_seconds,
            "feature_seconds": self.feature_seconds,
            "importance": [{"feature": n, "gain": g} for n, g in self.importance[:15]],
        }


def churn_evaluation_from_runner(
    runner: Runner,
    evaluation_date: str | datetime | None = None,
    *,
    horizon_days: int = 30,
    n_train: int = 3,
    step_days: int = 7,
    model: ChurnModel | None = None,
) -> ChurnEvaluation:
    """Evaluate the churn model and the recency baseline on a labelled date.

    ``evaluation_date`` defaults to the last date whose labels are complete
    (last play day minus the horizon).
    """
    start, end = data_window(runner)
    te = (
        parse_as_of(evaluation_date)
        if evaluation_date is not None
        else _day(end) - timedelta(days=horizon_days)
    )
    if te + timedelta(days=horizon_days) > end + timedelta(days=1):
        raise ConfigError(
            f"labels of {te:%Y-%m-%d} need data until {te + timedelta(days=horizon_days):%Y-%m-%d}"
            f" but the data ends {end:%Y-%m-%d}"
        )
    train_dates, cal = churn_dates(
        te, horizon_days=horizon_days, n_train=n_train, step_days=step_days
    )
    _check_dates(start, train_dates)
    genres = _genres(runner)
    t0 = time.perf_counter()
    Xtr, ytr = _labelled(runner, train_dates, genres, horizon_days)
    Xc, yc = _labelled(runner, [cal], genres, horizon_days)
    Xe, ye = _labelled(runner, [te], genres, horizon_days)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = (model or ChurnModel()).fit(Xtr, ytr, Xc, yc)
    t_fit = time.perf_counter() - t0
    base = RecencyBaseline().fit(Xc, yc)
    return ChurnEvaluation(
        train_dates=train_dates,
        calibration_date=cal,
        evaluation_date=te,
        horizon_days=horizon_days,
        model=evaluate_scores(ye, m.predict_proba(Xe)),
        recency_baseline=evaluate_scores(ye, base.predict_proba(Xe)),
        train_rows=Xtr.num_rows,
        fit_seconds=round(t_fit, 3),
        feature_seconds=round(t_feat, 3),
        importance=m.feature_importance(),
    )


def churn_scores_from_runner(
    runner: Runner,
    as_of: str | datetime,
    *,
    horizon_days: int = 30,
    n_train: int = 3,
    step_days: int = 7,
    reasons: int = 3,
) -> pa.Table:
    """Score every member active at ``as_of``: ``user_id``, ``churn_probability``, ``top_reasons``.

    The model is trained on earlier dates only (see :func:`churn_dates`), so scoring never uses
    information from after ``as_of``. Rows are sorted by descending probability.
    """
    t = parse_as_of(as_of)
    start, _ = data_window(runner)
    train_dates, cal = churn_dates(
        t, horizon_days=horizon_days, n_train=n_train, step_days=step_days
    )
    _check_dates(start, train_dates)
    genres = _genres(runner)
    Xtr, ytr = _labelled(runner, train_dates, genres, horizon_days)
    Xc, yc = _labelled(runner, [cal], genres, horizon_days)
    model = ChurnModel().fit(Xtr, ytr, Xc, yc)
    X = member_features(runner, t, genres=genres)
    if X.num_rows == 0:
        raise NotFoundError(f"no member is active at {t:%Y-%m-%d}")
    p = model.predict_proba(X)
    why = ["; ".join(r) for r in model.top_reasons(X, reasons)]
    out = pa.table(
        {
            "user_id": X["user_id"],
            "churn_probability": pa.array(np.round(p, 6)),
            "top_reasons": pa.array(why, type=pa.string()),
        }
    )
    order = np.argsort(-p, kind="stable")
    return out.take(pa.array(order))


def churn_evaluation(
    settings: Settings, evaluation_date: str | None = None, **kw: object
) -> ChurnEvaluation:
    """:func:`churn_evaluation_from_runner` on the warehouse of ``settings``."""
    with _warehouse(settings) as run:
        return churn_evaluation_from_runner(run, evaluation_date, **kw)  # type: ignore[arg-type]


def churn_scores(settings: Settings, as_of: str, **kw: object) -> pa.Table:
    """:func:`churn_scores_from_runner` on the warehouse of ``settings``."""
    with _warehouse(settings) as run:
        return churn_scores_from_runner(run, as_of, **kw)  # type: ignore[arg-type]


# -- uplift ---------------------------------------------------------------------------------


@dataclass
class CampaignData:
    """One campaign's members joined to their features as of the send date."""

    campaign_id: str
    as_of: datetime
    features: pa.Table
    treated: np.ndarray
    converted: np.ndarray


def campaign_data(runner: Runner, campaign_id: str | None = None) -> CampaignData:
    """Members, treatment and conversion of a campaign, with features from before it started.

    ``campaign_id`` defaults to the campaign with the most members.
    """
    camp = runner(CAMPAIGN_SQL)
    if camp.num_rows == 0:
        raise NotFoundError("the campaigns table is empty")
    if campaign_id is None:
        vc = camp.group_by("campaign_id").aggregate([("user_id", "count")])
        vc = vc.sort_by([("user_id_count", "descending"), ("campaign_id", "ascending")])
        campaign_id = str(vc["campaign_id"][0].as_py())
    c = camp.filter(pc.equal(camp["campaign_id"], campaign_id))
    if c.num_rows == 0:
        known = sorted(set(camp["campaign_id"].to_pylist()))
        raise NotFoundError(f"no campaign {campaign_id!r}; known: {', '.join(map(str, known))}")
    first = parse_as_of(pc.min(c["sent_at"]).as_py())
    t = _day(first)  # features strictly before the day the campaign started
    feats = member_features(runner, t, genres=_genres(runner))
    idx = pc.index_in(feats["user_id"], value_set=c["user_id"].combine_chunks())
    keep = np.asarray(pc.is_valid(idx).to_numpy(zero_copy_only=False), dtype=bool)
    feats = feats.filter(pa.array(keep))
    pos = np.asarray(pc.fill_null(idx, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[keep]
    treated = np.asarray(pc.fill_null(c["treated"], False).to_numpy(zero_copy_only=False))[pos]
    conv_at = c["converted_at"]
    converted = np.asarray(
        pc.and_(
            pc.is_valid(conv_at), pc.fill_null(pc.greater_equal(conv_at, c["sent_at"]), False)
        ).to_numpy(zero_copy_only=False)
    )[pos]
    if feats.num_rows < 50:
        raise DataError(f"campaign {campaign_id!r}: only {feats.num_rows} members with features")
    return CampaignData(campaign_id, t, feats, treated.astype(bool), converted.astype(bool))


def uplift_from_runner(
    runner: Runner,
    campaign_id: str | None = None,
    *,
    method: str = "two_model",
    folds: int = 5,
    n_boot: int = 200,
    group_by: Sequence[str] = ("age_band", "plan"),
    random_state: int | None = 0,
) -> tuple[UpliftReport, np.ndarray, CampaignData]:
    """Cross-fitted uplift of one campaign: Qini, bootstrap interval, uplift@k, by group.

    Returns the report, the out-of-fold uplift per member and the campaign data.
    """
    data = campaign_data(runner, campaign_id)
    t, y = data.treated, data.converted
    model = UpliftModel(method=method, random_state=random_state)
    scores = cross_fit_uplift(model, data.features, t, y, folds=folds, random_state=random_state)
    by_group: list[dict[str, object]] = []
    for col in group_by:  # per grouping column (2)
        if col not in data.features.column_names:
            continue
        g = np.asarray(pc.fill_null(data.features[col], "unknown").to_pylist(), dtype=object)
        for val in sorted(set(g)):  # per value (a handful)
            m = g == val
            obs = (
                float(y[m & t].mean() - y[m & ~t].mean())
                if (m & t).any() and (m & ~t).any()
                else float("nan")
            )
            by_group.append(
                {
                    "column": col,
                    "value": str(val),
                    "members": int(m.sum()),
                    "predicted_uplift": float(scores[m].mean()),
                    "observed_uplift": obs,
                }
            )
    by_group.sort(key=lambda r: -float(r["predicted_uplift"]))  # type: ignore[arg-type]
    report = UpliftReport(
        campaign_id=data.campaign_id,
        method=method,
        members=int(len(t)),
        treated=int(t.sum()),
        conversion_treated=float(y[t].mean()),
        conversion_control=float(y[~t].mean()),
        qini=qini_coefficient(scores, t, y),
        qini_ci=qini_bootstrap(scores, t, y, n_boot=n_boot, random_state=random_state),
        uplift_at={f"{int(f * 100)}%": uplift_at(scores, t, y, f) for f in (0.1, 0.2, 0.3, 0.5)},
        curve=curve_points(scores, t, y),
        by_group=by_group,
    )
    return report, scores, data


def uplift_targets_from_runner(
    runner: Runner,
    campaign_id: str | None = None,
    *,
    as_of: str | datetime | None = None,
    budget: int | None = None,
    cost_per_contact: float = 0.0,
    value_per_conversion: float = 1.0,
    method: str = "two_model",
) -> pa.Table:
    """Whom to contact in a repeat of the campaign: members active at ``as_of`` ranked by uplift.

    The model is fitted on all of the campaign's members; members are scored on features as of
    ``as_of`` (default: the day after the last play). Returns ``user_id`` and ``uplift``.
    """
    data = campaign_data(runner, campaign_id)
    model = UpliftModel(method=method).fit(data.features, data.treated, data.converted)
    t = _default_as_of(runner, as_of)
    feats = member_features(runner, t, genres=_genres(runner))
    u = model.predict(feats)
    ids, _ = target_budget(
        np.asarray(feats["user_id"].to_pylist(), dtype=object),
        u,
        budget=budget,
        cost_per_contact=cost_per_contact,
        value_per_conversion=value_per_conversion,
    )
    pos = pc.index_in(
        pa.array(list(ids), type=pa.string()), value_set=feats["user_id"].combine_chunks()
    )
    sel = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)
    return pa.table({"user_id": pa.array(list(ids), type=pa.string()), "uplift": pa.array(u[sel])})


def uplift(settings: Settings, campaign_id: str | None = None, **kw: object) -> UpliftReport:
    """:func:`uplift_from_runner` on the warehouse of ``settings`` (report only)."""
    with _warehouse(settings) as run:
        return uplift_from_runner(run, campaign_id, **kw)[0]  # type: ignore[arg-type]


def uplift_targets(settings: Settings, campaign_id: str | None = None, **kw: object) -> pa.Table:
    """:func:`uplift_targets_from_runner` on the warehouse of ``settings``."""
    with _warehouse(settings) as run:
        return uplift_targets_from_runner(run, campaign_id, **kw)  # type: ignore[arg-type]


# -- lifetime value ---------------------------------------------------------------------------


@dataclass
class LtvResult:
    """Survival fit on a past cohort and expected remaining tenure/value of today's members."""

    fit_as_of: datetime
    follow_up_days: float
    concordance: float
    curves: list[SurvivalCurve]
    coefficients: list[dict[str, float | str]]
    members: pa.Table  # user_id, plan, expected_remaining_days, expected_value

    def to_dict(self, top: int = 0) -> dict[str, object]:
        """Plain dict (JSON friendly); ``top`` members by value (0 = none)."""
        days = np.asarray(self.members["expected_remaining_days"])
        value = np.asarray(self.members["expected_value"])
        return {
            "fit_as_of": self.fit_as_of.date().isoformat(),
            "follow_up_days": self.follow_up_days,
            "concordance": self.concordance,
            "curves": [
                {k: v for k, v in c.to_dict().items() if k not in ("times", "survival")}
                for c in self.curves
            ],
            "coefficients": self.coefficients[:15],
            "members": int(self.members.num_rows),
            "mean_remaining_days": float(days.mean()) if len(days) else float("nan"),
            "mean_value": float(value.mean()) if len(value) else float("nan"),
            "top_members": self.members.slice(0, top).to_pylist() if top else [],
        }


def ltv_from_runner(
    runner: Runner,
    as_of: str | datetime | None = None,
    *,
    fit_as_of: str | datetime | None = None,
    cap_days: float = 730.0,
    prices: dict[str, float] | None = None,
    holdout: float = 0.3,
    km_by: str = "segment",
    random_state: int | None = 0,
) -> LtvResult:
    """Fit Cox and Kaplan-Meier on a past cohort; value the members active at ``as_of``.

    ``fit_as_of`` defaults to 60 days before the last play (the cohort's follow-up runs to the
    end of the data); the concordance index is measured on a held-out share of that cohort.
    ``km_by`` is ``segment`` (k-means segments of the cohort, named) or a categorical feature
    column such as ``plan``.
    """
    start, end = data_window(runner)
    t_fit = (
        parse_as_of(fit_as_of)
        if fit_as_of is not None
        else max(_day(end) - timedelta(days=60), _day(start) + timedelta(days=28))
    )
    if t_fit >= end:
        raise ConfigError(f"fit_as_of {t_fit:%Y-%m-%d} leaves no follow-up before {end:%Y-%m-%d}")
    genres = _genres(runner)
    cohort = member_features(runner, t_fit, genres=genres)
    dur, ev = remaining_tenure(runner(LABEL_SQL), cohort["user_id"], t_fit, end)
    rng = np.random.default_rng(random_state)
    test = rng.random(cohort.num_rows) < holdout
    cox = CoxModel().fit(cohort.filter(pa.array(~test)), dur[~test], ev[~test])
    c_index = concordance_index(dur[test], ev[test], cox.risk(cohort.filter(pa.array(test))))
    if km_by == "segment":
        seg = MemberSegmenter(k_range=(3, 4, 5, 6), random_state=random_state).fit(cohort)
        names = np.asarray([p.name for p in seg.profiles_], dtype=object)
        groups = names[seg.labels_]
    elif km_by in cohort.column_names:
        groups = np.asarray(pc.fill_null(cohort[km_by], "unknown").to_pylist(), dtype=object)
    else:
        raise ConfigError(f"km_by must be 'segment' or a feature column, not {km_by!r}")
    curves = km_by_group(dur, ev, groups)
    t = _default_as_of(runner, as_of)
    now = member_features(runner, t, genres=genres)
    days = cox.expected_remaining_days(now, cap_days=cap_days)
    value = member_value(now["plan"], days, prices)
    order = np.argsort(-value, kind="stable")
    members = pa.table(
        {
            "user_id": now["user_id"],
            "plan": now["plan"],
            "expected_remaining_days": pa.array(np.round(days, 2)),
            "expected_value": pa.array(np.round(value, 2)),
        }
    ).take(pa.array(order))
    return LtvResult(
        fit_as_of=t_fit,
        follow_up_days=float((end - t_fit).total_seconds() / 86400.0),
        concordance=c_index,
        curves=curves,
        coefficients=cox.summary(),
        members=members,
    )


def ltv(settings: Settings, as_of: str | None = None, **kw: object) -> LtvResult:
    """:func:`ltv_from_runner` on the warehouse of ``settings``."""
    with _warehouse(settings) as run:
        return ltv_from_runner(run, as_of, **kw)  # type: ignore[arg-type]
