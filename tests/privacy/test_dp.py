"""DP releases through OpenDP: accuracy, contribution bounding, thresholds, the query grammar."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import ConfigError, PrivacyError
from reelmine.privacy.dp import Bounds, bound_contributions, dp_release
from reelmine.privacy.query import parse_query


def test_count_error_matches_ln20_over_epsilon(rng: np.random.Generator) -> None:
    # One row per member, 400 public groups of known size, 10 releases: 4000 noise draws.
    sizes = rng.integers(20, 60, 400)
    groups = np.repeat(np.arange(400), sizes).astype(str)
    table = pa.table({"user_id": np.arange(len(groups)).astype(str), "g": groups})
    truth = dict(zip(np.arange(400).astype(str).tolist(), sizes.tolist(), strict=True))
    errors = []
    for _ in range(10):
        out = dp_release(table, statistic="count", epsilon=1.0, group_by=["g"], public_keys=True)
        errors += [
            v - truth[g]
            for g, v in zip(out["g"].to_pylist(), out["value"].to_pylist(), strict=True)
        ]
        published = out["error95"].to_pylist()
    measured = float(np.quantile(np.abs(errors), 0.95))
    assert published[0] == pytest.approx(math.log(20), rel=1e-9)
    assert measured == pytest.approx(math.log(20) / 1.0, rel=0.10)


def test_contribution_bounding_keeps_l_rows_in_g_groups(rng: np.random.Generator) -> None:
    members = np.array([0] * 10 + [1] * 2 + [2])
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3] + [0, 1] + [4])
    keep = bound_contributions(members, groups, Bounds(rows_per_member=2, groups_per_member=2), rng)
    m0 = keep[:10]
    assert m0.sum() == 4 and len(set(groups[:10][m0])) == 2
    assert keep[10:].all()


def test_group_of_one_member_is_never_released() -> None:
    n = 500
    table = pa.table({"user_id": [f"u{i}" for i in range(n + 1)], "country": ["DE"] * n + ["LI"]})
    for _ in range(10):
        out = dp_release(table, statistic="count", epsilon=1.0, group_by=["country"])
        assert out["country"].to_pylist() == ["DE"]  # the threshold hides the lone member


def test_mean_and_sum_are_close_to_truth(rng: np.random.Generator) -> None:
    n = 4000
    v = rng.uniform(0, 100, n)
    g = np.where(np.arange(n) % 2 == 0, "a", "b")
    table = pa.table({"user_id": np.arange(n).astype(str), "g": g, "v": v})
    out = dp_release(
        table, statistic="mean", epsilon=2.0, group_by=["g"], value="v", clamp=(0, 100)
    )
    for r in out.to_pylist():
        true = v[g == r["g"]].mean()
        assert abs(r["value"] - true) < 3 * r["error95"]
        assert r["error95"] < 2.0
    s = dp_release(table, statistic="sum", epsilon=2.0, value="v", clamp=(0, 100))
    assert abs(s["value"][0].as_py() - v.sum()) < 3 * s["error95"][0].as_py()


def test_quantile_and_histogram(rng: np.random.Generator) -> None:
    n = 3000
    v = rng.uniform(0, 1000, n)
    table = pa.table({"user_id": np.arange(n).astype(str), "g": ["x"] * n, "v": v})
    q = dp_release(
        table,
        statistic="quantile",
        epsilon=2.0,
        group_by=["g"],
        value="v",
        clamp=(0, 1000),
        quantile=0.5,
    )
    assert abs(q["value"][0].as_py() - 500) < 60
    h = dp_release(table, statistic="histogram", epsilon=1.0, value="v", bins=[0, 250, 500, 1000])
    got = dict(zip(h["bin"].to_pylist(), h["value"].to_pylist(), strict=True))
    assert abs(got["[500, 1000)"] - (v >= 500).sum()) < 4 * 3.0


def test_service_delta_matches_dp_default() -> None:
    from reelmine.privacy.dp import DEFAULT_DELTA
    from reelmine.service.privacy import DEFAULT_DELTA as SERVICE_DELTA

    assert SERVICE_DELTA == DEFAULT_DELTA


def test_bad_input_is_refused() -> None:
    t = pa.table({"user_id": ["a"], "v": [1.0]})
    with pytest.raises(PrivacyError):
        dp_release(t, statistic="count", epsilon=0.0)
    with pytest.raises(ConfigError, match="clamp"):
        dp_release(t, statistic="sum", epsilon=1.0, value="v")


def test_query_grammar() -> None:
    q = parse_query("count plays by country")
    assert (q.statistic, q.table, q.group_by, q.value) == ("count", "plays", ("country",), None)
    q = parse_query("mean watched_seconds of plays by device_type, country")
    assert q.value == "watched_seconds" and q.clamp == (0.0, 14_400.0)
    assert q.group_by == ("device_type", "country")
    q = parse_query("quantile 0.9 startup_ms of plays by cdn clamp 0..20000 rows 3 groups 2")
    assert (q.quantile, q.clamp, q.rows_per_member, q.groups_per_member) == (0.9, (0, 20000), 3, 2)
    q = parse_query("histogram watched_seconds of plays bins 0,600,1800 by device_type")
    assert q.bins == (0, 600, 1800) and q.group_by == ("device_type",)
    assert parse_query("median rating of ratings").statistic == "quantile"
    for bad in (
        "",
        "count nothing",
        "sum plays",
        "count plays by shoe_size",
        "mean title_id of plays",
        "__import__('os')",
    ):
        with pytest.raises(ConfigError, match="cannot parse query"):
            parse_query(bad)
