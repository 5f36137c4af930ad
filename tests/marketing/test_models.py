"""Models on synthetic data with planted answers: churn, segments, uplift, survival."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import NotFittedError, PrivacyError
from reelmine.marketing.churn import (
    ChurnModel,
    RecencyBaseline,
    churn_labels,
    evaluate_scores,
)
from reelmine.marketing.ltv import (
    CoxModel,
    concordance_index,
    kaplan_meier,
    km_at,
    member_value,
    remaining_tenure,
)
from reelmine.marketing.segments import MemberSegmenter, export_segment, segment_mix
from reelmine.marketing.uplift import (
    UpliftModel,
    cross_fit_uplift,
    qini_bootstrap,
    qini_coefficient,
    qini_curve,
    target_budget,
    uplift_at,
)
from tests.marketing._data import ts


def _members(rng: np.random.Generator, n: int) -> pa.Table:
    return pa.table(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "plan": rng.choice(["basic", "standard", "premium"], n),
            "age": rng.integers(18, 80, n).astype(float),
            "hours_28d": rng.gamma(2.0, 10.0, n),
            "days_since_last_play": rng.exponential(3.0, n),
            "noise": rng.normal(size=n),
        }
    )


def test_churn_labels_window() -> None:
    cancel = pa.table(
        {
            "user_id": ["a", "b", "c", "d"],
            "cancelled_at": pa.array(
                [ts("2026-03-01 00:00"), ts("2026-03-30 23:59"), ts("2026-03-31 00:00"), None],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    got = churn_labels(cancel, pa.array(["a", "b", "c", "d", "zz"]), "2026-03-01", 30)
    assert got.tolist() == [True, True, False, False, False]


def test_churn_model_recovers_planted_driver(rng: np.random.Generator) -> None:
    def draw(n: int) -> tuple[pa.Table, np.ndarray]:
        t = _members(rng, n)
        h = np.asarray(t["hours_28d"])
        p = 1 / (1 + np.exp(-(-2.0 - 0.15 * (h - 20) + 0.8 * (np.asarray(t["plan"]) == "basic"))))
        return t, rng.random(n) < p

    train, y = draw(4000)
    cal, yc = draw(2000)
    test, yt = draw(2000)
    model = ChurnModel(n_estimators=120, random_state=0).fit(train, y, cal, yc)
    p = model.predict_proba(test)
    m = evaluate_scores(yt, p)
    assert m.auc > 0.8
    # Calibrated: the predicted mean matches the observed rate.
    assert abs(p.mean() - yt.mean()) < 0.03
    assert model.feature_importance()[0][0] == "hours_28d"
    reasons = model.top_reasons(test, 2)
    low = int(np.argmin(np.asarray(test["hours_28d"])))
    assert reasons[low][0].startswith("low hours_28d")
    # Recency carries no signal here: the baseline is near chance and below the model.
    base = evaluate_scores(yt, RecencyBaseline().fit(cal, yc).predict_proba(test))
    assert base.auc < 0.6 < m.auc
    with pytest.raises(NotFittedError):
        ChurnModel().predict_proba(test)


def test_segments_find_planted_groups(rng: np.random.Generator) -> None:
    n = 600
    g = np.repeat([0, 1, 2], n // 3)
    t = pa.table(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "country": np.where(g == 0, "DE", "US"),
            "hours_28d": np.where(g == 0, 80.0, np.where(g == 1, 20.0, 3.0))
            * rng.uniform(0.9, 1.1, n),
            "weekend_share": np.where(g == 1, 0.9, 0.2) + rng.normal(0, 0.02, n),
            "binge_share": np.where(g == 1, 0.8, 0.1) + rng.normal(0, 0.02, n),
            "device_tv_share": np.where(g == 1, 1.0, 0.1),
            "device_mobile_share": np.where(g == 1, 0.0, 0.9),
            "genre_drama_share": np.where(g == 1, 0.9, 0.1) + rng.normal(0, 0.02, n),
        }
    )
    seg = MemberSegmenter(k_range=(2, 3, 4, 5), n_init=2, random_state=0).fit(t)
    assert seg.k_ == 3
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(g, seg.labels_) == pytest.approx(1.0)
    assert seg.stability(t, n_boot=3) > 0.95
    names = {p.name for p in seg.profiles_}
    assert "weekend binge-watchers of drama on TV" in names
    assert all(p.members == 200 for p in seg.profiles_)
    mix = segment_mix(seg.labels_, t["country"]).to_pylist()
    de = [r for r in mix if r["group"] == "DE"]
    assert len(de) == 1 and de[0]["members"] == 200 and de[0]["share_of_group"] == 1.0
    ids = export_segment(t["user_id"], seg.labels_, 0, min_group_size=10)
    assert len(ids) == 200
    with pytest.raises(PrivacyError):
        export_segment(t["user_id"], seg.labels_, 0, min_group_size=500)


def test_qini_known_values() -> None:
    # Perfect ranking: the two treated converters first, then the rest.
    s = np.array([4.0, 3.0, 2.0, 1.0])
    t = np.array([True, True, False, False])
    y = np.array([True, True, False, False])
    k, q = qini_curve(s, t, y)
    assert q.tolist() == [0.0, 1.0, 2.0, 2.0, 2.0]
    assert qini_coefficient(s, t, y) > 0
    assert qini_coefficient(-s, t, y) < 0
    assert uplift_at(s, t, y, 1.0) == pytest.approx(1.0)
    ids, gain = target_budget(["a", "b", "c"], np.array([0.1, 0.3, -0.2]), budget=5)
    assert ids.tolist() == ["b", "a"] and gain == pytest.approx(0.4)
    ids, _ = target_budget(["a", "b", "c"], np.array([0.1, 0.3, -0.2]), cost_per_contact=0.2)
    assert ids.tolist() == ["b"]


def test_uplift_ranks_planted_segment(rng: np.random.Generator) -> None:
    n = 6000
    t = _members(rng, n)
    age = np.asarray(t["age"])
    treated = rng.random(n) < 0.5
    seg = age < 30
    y = rng.random(n) < 0.05 + 0.15 * (treated & seg)
    for method in ("two_model", "class_transformation"):
        model = UpliftModel(method=method, columns=["age", "plan", "hours_28d", "noise"])
        scores = cross_fit_uplift(model, t, treated, y, folds=3)
        assert scores[seg].mean() > scores[~seg].mean() + 0.05, method
        lo, hi = qini_bootstrap(scores, treated, y, n_boot=100)
        assert 0 < lo < hi, method


def test_kaplan_meier_and_concordance_known_answers() -> None:
    d = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    e = np.array([True, True, False, True, False])
    times, surv = kaplan_meier(d, e)
    assert times.tolist() == [1.0, 2.0, 3.0]
    assert surv == pytest.approx([4 / 5, 4 / 5 * 3 / 4, 4 / 5 * 3 / 4 * 1 / 2])
    assert km_at(times, surv, 0.5) == 1.0 and km_at(times, surv, 2.5) == pytest.approx(0.6)
    # Risk exactly ordered with failure time: C = 1; reversed: C = 0.
    assert concordance_index(d, e, -d) == pytest.approx(1.0)
    assert concordance_index(d, e, d) == pytest.approx(0.0)


def test_cox_recovers_hazard_ratio(rng: np.random.Generator) -> None:
    n = 3000
    t = _members(rng, n)
    x = (np.asarray(t["hours_28d"]) - 20) / 14
    hazard = 0.01 * np.exp(-0.8 * x)
    life = rng.exponential(1 / hazard)
    dur = np.minimum(life, 90.0)
    ev = life < 90.0
    cox = CoxModel(penalty=1e-4, columns=["hours_28d", "noise"]).fit(t, dur, ev)
    coef = dict((r["feature"], r["coef"]) for r in cox.summary())
    sd = np.asarray(t["hours_28d"]).std() / 14
    assert coef["hours_28d"] == pytest.approx(-0.8 * sd, abs=0.1)
    assert abs(coef["noise"]) < 0.1
    assert concordance_index(dur, ev, cox.risk(t)) > 0.65
    days = cox.expected_remaining_days(t, cap_days=365)
    assert days[np.argmax(x)] > days[np.argmin(x)]
    assert np.all((days > 0) & (days <= 365))
    value = member_value(pa.array(["basic", "premium", "mystery"]), np.full(3, 30.4375))
    assert value.tolist() == pytest.approx([7.99, 19.99, 13.99])


def test_remaining_tenure() -> None:
    cancel = pa.table(
        {
            "user_id": ["a", "b", "c"],
            "cancelled_at": pa.array(
                [ts("2026-03-11 00:00"), None, ts("2026-05-01 00:00")],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    d, e = remaining_tenure(cancel, pa.array(["a", "b", "c"]), "2026-03-01", "2026-04-01")
    assert d.tolist() == pytest.approx([10.0, 31.0, 31.0])
    assert e.tolist() == [True, False, False]
