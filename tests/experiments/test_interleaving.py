"""Team-draft interleaving: list invariants, credit, sign test, power against A/B."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from reelmine.errors import DataError
from reelmine.experiments.interleaving import (
    interleaving_test,
    power_comparison,
    sign_test_p,
    team_draft_interleave,
)


def test_disjoint_rankings_alternate_in_rounds() -> None:
    a = np.tile(np.array([1, 2, 3, 4]), (500, 1))
    b = np.tile(np.array([5, 6, 7, 8]), (500, 1))
    items, teams = team_draft_interleave(a, b, k=4, random_state=0)
    # Each round of two slots holds one pick per team, in each ranker's order.
    assert (np.sort(items[:, :2], axis=1) == [1, 5]).all()
    assert (np.sort(items[:, 2:], axis=1) == [2, 6]).all()
    assert ((items < 5) == (teams == 0)).all()
    # The coin decides who opens: about half the members see A's item first.
    assert (teams[:, 0] == 0).mean() == pytest.approx(0.5, abs=0.07)


def test_invariants_on_overlapping_rankings(rng: np.random.Generator) -> None:
    n, L, k = 300, 12, 8
    a = np.argsort(rng.random((n, 20)), axis=1)[:, :L]
    b = np.argsort(rng.random((n, 20)), axis=1)[:, :L]
    items, teams = team_draft_interleave(a, b, k=k, random_state=1)
    s = np.sort(items, axis=1)
    assert (s[:, 1:] != s[:, :-1]).all()  # no duplicates
    balance = np.cumsum(np.where(teams == 0, 1, -1), axis=1)
    assert (np.abs(balance) <= 1).all()  # teams never more than one pick apart
    for i in range(20):  # each team's picks appear in its own ranking's order
        for team, rank in ((0, a[i]), (1, b[i])):
            pos = [int(np.flatnonzero(rank == it)[0]) for it in items[i][teams[i] == team]]
            assert pos == sorted(pos)


def test_identical_rankings_give_the_ranking() -> None:
    a = np.tile(np.arange(10), (50, 1))
    items, _ = team_draft_interleave(a, a.copy(), k=6, random_state=2)
    assert (items == np.arange(6)).all()


def test_credit_and_sign_test() -> None:
    teams = np.array([[0, 1, 0, 1]] * 5)
    clicks = np.array(
        [[1, 0, 0, 0], [1, 0, 1, 1], [0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=bool
    )
    res = interleaving_test(teams, clicks)
    assert (res.wins_a, res.wins_b, res.ties) == (2, 1, 2)
    assert res.delta == pytest.approx(0.2)
    assert res.p_value == pytest.approx(sps.binomtest(2, 3).pvalue)
    for wa, wb in ((30, 12), (0, 5), (7, 7), (100, 130)):
        assert sign_test_p(wa, wb) == pytest.approx(sps.binomtest(wa, wa + wb).pvalue)


def _pool(seed: int) -> tuple[np.ndarray, ...]:
    r = np.random.default_rng(seed)
    n_pool, n_items = 400, 60
    activity = r.gamma(1.0, 1.0, (n_pool, 1))  # heavy and light clickers
    rel = np.clip(activity * r.beta(1, 8, (n_pool, n_items)), 0, 1)
    good = np.argsort(-rel, axis=1)[:, :20]
    noisy = np.argsort(-(rel + r.normal(0, 0.2, rel.shape)), axis=1)[:, :20]
    return rel, good, noisy


def test_interleaving_needs_fewer_members_than_ab() -> None:
    rel, good, noisy = _pool(5)
    res = power_comparison(rel, good, noisy, k=10, n_members=300, n_sims=300, random_state=6)
    assert res.power_interleaving > 0.85
    assert res.power_interleaving > res.power_ab + 0.25, res


def test_identical_rankers_false_positive_rate() -> None:
    rel, good, _ = _pool(7)
    shuffled = good.copy()
    res = power_comparison(rel, good, shuffled, k=10, n_members=200, n_sims=1000, random_state=8)
    assert res.power_interleaving <= 0.06  # the sign test is exact (slightly conservative)
    assert 0.035 <= res.power_ab <= 0.065


def test_bad_input() -> None:
    with pytest.raises(DataError, match="distinct"):
        team_draft_interleave(np.array([[1, 1, 2]]), np.array([[1, 2, 3]]), k=2)
    with pytest.raises(DataError, match="k must"):
        team_draft_interleave(np.array([[1, 2]]), np.array([[1, 2]]), k=3)
