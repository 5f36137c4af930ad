"""Parsimony of the localiser and identifiability of the simulator's planted truth.

Known answers: a cause found as a child plus the rest of its parent is the parent; nested
values (a mobile network used by one country's phones only) are stated in their shortest
equivalent form, both by the localiser and by the simulator's truth; a small incident is found
even when the rest of the cube drifts the other way.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa

from reelmine.data.simulator.quality import ATTRS, VALUES, _minimal, _nested
from reelmine.quality.rootcause import RootCauseLocalizer

CUBE = {"cdn": 4, "country": 3, "os": 3, "app_version": 3}


def _table(grid: np.ndarray, names: list[str], now: np.ndarray, hist: np.ndarray) -> pa.Table:
    cols = {n: pa.array([f"{n[0]}{v}" for v in grid[:, j]]) for j, n in enumerate(names)}
    return pa.table({**cols, "real": now.astype(float), "pred": hist.astype(float)})


def test_parent_with_a_stronger_child_is_reported_as_the_parent() -> None:
    grid = np.array(list(itertools.product(*[range(k) for k in CUBE.values()])))
    parent = (grid[:, 3] == 0) & (grid[:, 0] == 2)  # app_version=a0 & cdn=c2
    lift = np.where(parent, 1.8, 1.0)
    lift[parent & (grid[:, 1] == 0)] = 5.0  # much worse in one country
    for seed in range(4):
        rng = np.random.default_rng(seed)
        hist, now = rng.poisson(40.0, len(grid)), rng.poisson(40.0 * lift)
        table = _table(grid, list(CUBE), now, hist)
        plain = RootCauseLocalizer(search="evidence", parsimony=False)
        res = plain.explain(table, list(CUBE), real="real", predict="pred")
        # Without parsimony the child and the rest of its parent come out as two causes.
        assert len(res.causes) == 2, res.label
        loc = RootCauseLocalizer(search="evidence")
        res = loc.explain(table, list(CUBE), real="real", predict="pred")
        assert res.label == "app_version=a0&cdn=c2", seed
        assert res.causes[0].explained > 0.9


def test_nested_values_are_stated_in_their_shortest_form() -> None:
    # Phones use their country's mobile network (M1 in US, M2 in GB); other devices a home ISP.
    rows = []
    for country, device, os_, home in itertools.product(
        ["US", "GB"], ["mobile", "tv"], ["android", "ios"], [0, 1]
    ):
        isp = ("M1" if country == "US" else "M2") if device == "mobile" else f"{country}{home}"
        rows.append((country, device, os_, isp))
    rows = rows * 3  # three cdns
    cdn = np.repeat(["C1", "C2", "C3"], len(rows) // 3)
    names = ["country", "device", "os", "isp", "cdn"]
    cols = {n: pa.array([r[j] for r in rows]) for j, n in enumerate(names[:4])}
    cols["cdn"] = pa.array(cdn)
    hit = np.array([r[0] == "US" and r[1] == "mobile" and r[2] == "android" for r in rows])
    rng = np.random.default_rng(7)
    hist = rng.poisson(60.0, len(rows))
    now = rng.poisson(np.where(hit, 180.0, 60.0))
    table = pa.table({**cols, "real": now.astype(float), "pred": hist.astype(float)})
    res = RootCauseLocalizer(search="evidence").explain(table, names, real="real", predict="pred")
    assert res.label == "isp=M1&os=android"


def test_small_incident_found_when_the_rest_of_the_cube_drifts_down() -> None:
    grid = np.array(list(itertools.product(*[range(k) for k in CUBE.values()])))
    rng = np.random.default_rng(3)
    slice_ = (grid[:, 0] == 1) & (grid[:, 2] == 2)  # cdn=c1 & os=o2: 1/12 of the cube
    hist = rng.poisson(20.0, len(grid))
    now = rng.poisson(np.where(slice_, 60.0, 15.0))  # the rest drops by a quarter
    table = _table(grid, list(CUBE), now, hist)
    res = RootCauseLocalizer(search="evidence").explain(
        table, list(CUBE), real="real", predict="pred"
    )
    assert res.deviation < 0  # the cube as a whole went down ...
    assert res.label == "cdn=c1&os=o2"  # ... but the incident is the slice that went up


def _profiles() -> dict[str, np.ndarray]:
    """Hand-made traffic profiles: US phones on M1, tablets on home ISPs."""
    idx = {a: {v: i for i, v in enumerate(VALUES[a])} for a in ATTRS}
    rows = [
        ("mobile", "android", "7.1", "M1", "C1", "US"),
        ("mobile", "ios", "7.1", "M1", "C2", "US"),
        ("tablet", "android", "7.1", "I1", "C1", "US"),
        ("tv", "roku", "7.0", "I4", "C2", "GB"),
        ("tv", "tizen", "7.1", "I1", "C1", "US"),
        ("mobile", "android", "7.0", "M2", "C1", "GB"),
        ("tablet", "ios", "7.1", "I4", "C1", "GB"),
        ("mobile", "ios", "7.0", "M2", "C2", "GB"),
        ("tablet", "ios", "7.1", "I1", "C2", "US"),
    ] * 10
    return {a: np.array([idx[a][r[j]] for r in rows]) for j, a in enumerate(ATTRS)}


def _combo(**kv: str) -> dict[str, int]:
    return {a: VALUES[a].index(v) for a, v in kv.items()}


def test_simulator_truth_is_the_shortest_equivalent_description() -> None:
    prof = _profiles()
    # US phones are exactly the plays on M1.
    assert _minimal(_combo(country="US", device_type="mobile", os="ios"), prof) == _combo(
        isp="M1", os="ios"
    )
    # US android holds tablets too: no shorter description of the same plays.
    us_android = _combo(country="US", os="android")
    assert _minimal(us_android, prof) == us_android
    # Implied attributes are dropped as before (roku is a tv).
    assert _minimal(_combo(device_type="tv", os="roku"), prof) == _combo(os="roku")


def test_simulator_rejects_causes_nested_by_plays() -> None:
    prof = _profiles()
    # isp=M1&os=android lies inside country=US although they share no attribute.
    assert _nested(_combo(country="US"), _combo(isp="M1", os="android"), prof)
    assert not _nested(_combo(country="GB"), _combo(isp="M1", os="android"), prof)
    assert not _nested(_combo(os="android"), _combo(country="US"), prof)
