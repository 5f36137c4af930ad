"""Genre shares, growth and the Holm-adjusted two-proportion test."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from reelmine.content import trends
from reelmine.data.engine import sql_on_tables
from tests.content import _data


def test_genre_shares_split_hours_over_genres():
    t = sql_on_tables(trends.genre_share_sql(period="month"), **_data.all_tables())
    feb = {r["genre"]: r for r in t.to_pylist() if str(r["period"]) == "2026-02-01"}
    # February: Drama 6000+3000+5400+5400+900 s + half of m2 (3000) ; Comedy: half of m2.
    drama, comedy = 20700 + 1500, 1500
    assert feb["Drama"]["hours"] == pytest.approx(drama / 3600)
    assert feb["Comedy"]["share"] == pytest.approx(comedy / (drama + comedy))
    assert sum(r["share"] for r in feb.values()) == pytest.approx(1.0)
    by = sql_on_tables(trends.genre_share_sql(period="month", by=["country"]), **_data.all_tables())
    us = [r for r in by.to_pylist() if r["country"] == "US" and str(r["period"]) == "2026-02-01"]
    assert sum(r["share"] for r in us) == pytest.approx(1.0)


def test_holm_matches_hand_computation():
    assert trends.holm(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert trends.holm(np.array([0.5, 0.9])).tolist() == pytest.approx([1.0, 1.0])


def test_two_proportion_p_matches_chi_square():
    p = trends.two_proportion_p(
        np.array([30.0]), np.array([100.0]), np.array([45.0]), np.array([100.0])
    )
    chi2 = stats.chi2_contingency([[30, 70], [45, 55]], correction=False)
    assert p[0] == pytest.approx(chi2.pvalue)


def _shares(starts_prev: float, starts_cur: float, total: float = 10000.0) -> pa.Table:
    rows = []
    for period, a in (("2026-01-01", starts_prev), ("2026-02-01", starts_cur)):
        for genre, s in (("Drama", a), ("Comedy", total - a)):
            rows.append(
                {
                    "period": period,
                    "genre": genre,
                    "hours": s,
                    "starts": s,
                    "members": 100,
                    "share": s / total,
                    "total_hours": total,
                    "total_starts": total,
                }
            )
    return pa.Table.from_pylist(rows)


def test_real_change_is_significant_and_noise_is_not():
    big = {r["genre"]: r for r in trends.genre_trends(_shares(3000, 3600)).to_pylist()}
    assert big["Drama"]["significant"] and big["Drama"]["growth"] == pytest.approx(0.2)
    assert big["Drama"]["share_change"] == pytest.approx(0.06)
    small = trends.genre_trends(_shares(3000, 3030)).to_pylist()
    assert not any(r["significant"] for r in small)
    assert all(r["p_holm"] >= r["p_value"] for r in small)
