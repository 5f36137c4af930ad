"""Artwork bandits: known ridge solution, learned policy beats the logger, OPE round trip."""

from __future__ import annotations

import numpy as np
import pytest

from reelmine.errors import DataError, NotFittedError
from reelmine.experiments.bandits import EpsilonGreedy, LinUCB
from reelmine.experiments.ope import evaluate_policy

W = np.array([[1.0, -1.0], [-1.0, 1.0], [0.2, 0.2]])  # arm x feature click-score weights


def _log(n: int, seed: int, skewed: bool = False) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 2))
    p_click = 1 / (1 + np.exp(-(x @ W.T)))  # (n, 3)
    pi0 = np.tile([0.6, 0.2, 0.2] if skewed else [1 / 3] * 3, (n, 1))
    a = (r.random(n)[:, None] > np.cumsum(pi0, axis=1)).sum(axis=1)
    a = np.minimum(a, 2)
    reward = (r.random(n) < p_click[np.arange(n), a]).astype(float)
    return {"x": x, "a": a, "r": reward, "p": pi0[np.arange(n), a], "q": p_click}


def test_ridge_solution_on_one_hot_contexts() -> None:
    # No features: each arm's prediction is sum(r) / (count + l2) for the intercept-only ridge.
    x = np.zeros((6, 1))
    a = np.array([0, 0, 0, 1, 1, 1])
    r = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    model = LinUCB(alpha=0.0, l2=1.0).fit(x, a, r)
    np.testing.assert_allclose(model.expected_reward(x[:1])[0], [2 / 4, 1 / 4])
    # UCB width for x = 0 is sqrt(1 / (count + l2)) = 0.5.
    np.testing.assert_allclose(LinUCB(alpha=1.0).fit(x, a, r).scores(x[:1])[0], [1.0, 0.75])


def test_learned_policy_beats_uniform_logger() -> None:
    d = _log(20000, seed=1)
    best = d["q"].argmax(axis=1)
    for model in (LinUCB(alpha=0.1), EpsilonGreedy(epsilon=0.0)):
        model.fit(d["x"], d["a"], d["r"])
        chosen = model.action_probabilities(d["x"]).argmax(axis=1)
        assert (chosen == best).mean() > 0.9
    # Off-policy value of the greedy policy: far above the logger's average reward.
    pi_e = EpsilonGreedy(epsilon=0.1).fit(d["x"], d["a"], d["r"]).action_probabilities(d["x"])
    value = evaluate_policy(d["r"], d["a"], pi_e, d["p"])["snipw"]
    truth = float((pi_e * d["q"]).sum(axis=1).mean())
    assert value.ci_low <= truth <= value.ci_high
    assert value.ci_low > d["r"].mean() + 0.1


def test_epsilon_greedy_probabilities() -> None:
    d = _log(2000, seed=2)
    model = EpsilonGreedy(epsilon=0.3, random_state=0).fit(d["x"], d["a"], d["r"])
    probs = model.action_probabilities(d["x"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert set(np.round(np.unique(probs), 6)) == {0.1, 0.8}
    # Only two artworks exist for the first 10 titles: the third arm gets no mass.
    available = np.ones((2000, 3), dtype=bool)
    available[:10, 2] = False
    masked = model.action_probabilities(d["x"], available)
    assert (masked[:10, 2] == 0).all()
    np.testing.assert_allclose(masked[:10].sum(axis=1), 1.0)
    drawn = model.choose(d["x"], available)
    assert (drawn[:10] != 2).all()
    # Draws follow the probabilities: the greedy arm is chosen ~80% of the time.
    assert (drawn == probs.argmax(axis=1)).mean() == pytest.approx(0.8, abs=0.03)


def test_importance_weighting_and_partial_fit() -> None:
    d = _log(6000, seed=3, skewed=True)
    weighted = LinUCB(alpha=0.0, importance_weighting=True).fit(d["x"], d["a"], d["r"], d["p"])
    assert (weighted.action_probabilities(d["x"]).argmax(1) == d["q"].argmax(1)).mean() > 0.9
    # Fitting in two halves equals fitting at once.
    half = LinUCB().fit(d["x"][:3000], d["a"][:3000], d["r"][:3000])
    half.partial_fit(d["x"][3000:], d["a"][3000:], d["r"][3000:])
    whole = LinUCB().fit(d["x"], d["a"], d["r"])
    np.testing.assert_allclose(half.theta_, whole.theta_)
    with pytest.raises(DataError, match="propensities"):
        LinUCB(importance_weighting=True).fit(d["x"], d["a"], d["r"])


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        LinUCB().scores(np.zeros((1, 2)))
    model = LinUCB().fit(np.zeros((3, 2)), np.array([0, 1, 1]), np.ones(3))
    with pytest.raises(DataError, match="features"):
        model.scores(np.zeros((1, 3)))
    with pytest.raises(DataError, match="actions"):
        LinUCB(n_arms=2).fit(np.zeros((3, 2)), np.array([0, 1, 2]), np.ones(3))


def test_cell_bandit_hand_computed() -> None:
    from reelmine.experiments.bandits import CellBandit

    cells = np.array([0, 0, 0, 0, 1, 1])
    actions = np.array([0, 0, 1, 1, 2, 0])
    rewards = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    model = CellBandit(epsilon=0.2, prior_strength=2.0, importance_weighting=False)
    model.fit(cells, actions, rewards)
    # global rate 4/6; cell 0 arm 0: (2 + 2 * 2/3) / (2 + 2) = 5/6; arm 1: (1 + 4/3) / 4 = 7/12.
    assert model.global_rate_ == pytest.approx(4 / 6)
    np.testing.assert_allclose(model.pair_rate_[:2], [5 / 6, 7 / 12])
    np.testing.assert_array_equal(model.best_action([0, 1, 7]), [0, 0, -1])
    # pi(a | cell) with 3 artworks: 0.2/3 + 0.8 for the best arm, 0.2/3 otherwise, 1/3 unseen.
    probs = model.action_probability([0, 0, 7], [0, 1, 1], [3, 3, 3])
    np.testing.assert_allclose(probs, [0.2 / 3 + 0.8, 0.2 / 3, 1 / 3])
    with pytest.raises(NotFittedError):
        CellBandit().best_action([0])
