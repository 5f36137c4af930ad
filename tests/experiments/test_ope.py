"""Off-policy estimators: hand-checked values, unbiasedness, and agreement with obp."""

from __future__ import annotations

import numpy as np
import pytest

from reelmine.errors import DataError
from reelmine.experiments.ope import (
    dm_rounds,
    dr_rounds,
    evaluate_policy,
    ipw_rounds,
    replay_rounds,
    ridge_reward_model,
    snipw_rounds,
)

# Four logged rounds, two artworks. The evaluation policy always shows artwork 1.
REWARD = np.array([1.0, 0.0, 1.0, 1.0])
ACTION = np.array([1, 0, 1, 0])
PSCORE = np.array([0.5, 0.5, 0.25, 0.75])
PI_E = np.array([[0.0, 1.0]] * 4)
Q_HAT = np.array([[0.2, 0.6], [0.3, 0.5], [0.1, 0.9], [0.4, 0.4]])


def test_hand_computed_values() -> None:
    # weights w = [2, 0, 4, 0]
    assert replay_rounds(REWARD, ACTION, PI_E).mean() == pytest.approx(1.0)  # 2 matches, both 1
    assert ipw_rounds(REWARD, ACTION, PI_E, PSCORE).mean() == pytest.approx(6 / 4)
    assert snipw_rounds(REWARD, ACTION, PI_E, PSCORE).mean() == pytest.approx(6 / 6)
    assert dm_rounds(PI_E, Q_HAT).mean() == pytest.approx((0.6 + 0.5 + 0.9 + 0.4) / 4)
    # DR: dm term + w (r - q(x, a)): 0.6 + 2 (1 - 0.6), 0.5 + 0, 0.9 + 4 (1 - 0.9), 0.4 + 0.
    assert dr_rounds(REWARD, ACTION, PI_E, PSCORE, Q_HAT).mean() == pytest.approx(
        (1.4 + 0.5 + 1.3 + 0.4) / 4
    )
    # Clipping the weights at 3 turns w = 4 into 3.
    assert ipw_rounds(REWARD, ACTION, PI_E, PSCORE, clip=3.0).mean() == pytest.approx(5 / 4)


def _logged(n: int, seed: int) -> dict[str, np.ndarray]:
    """A uniform-random logging policy over 3 artworks; click rate depends on context."""
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 2))
    true_q = 1 / (
        1 + np.exp(-(np.array([[0.5, -0.5, 0.0]]) + x @ np.array([[1.0, -1.0, 0.2]] * 2)))
    )
    logit_pi0 = np.zeros((n, 3))
    pi0 = np.exp(logit_pi0) / np.exp(logit_pi0).sum(1, keepdims=True)
    a = (r.random(n)[:, None] > np.cumsum(pi0, axis=1)).sum(axis=1)
    reward = (r.random(n) < true_q[np.arange(n), a]).astype(float)
    # Evaluation policy: softmax of 3 x the true click rate (stochastic, not the logger).
    pi_e = np.exp(3 * true_q) / np.exp(3 * true_q).sum(1, keepdims=True)
    return {"x": x, "a": a, "r": reward, "p": pi0[np.arange(n), a], "pi_e": pi_e, "q": true_q}


def test_estimators_recover_true_policy_value() -> None:
    d = _logged(20000, seed=1)
    truth = float((d["pi_e"] * d["q"]).sum(1).mean())
    q_hat = ridge_reward_model(d["x"], d["a"], d["r"], 3)
    res = evaluate_policy(d["r"], d["a"], d["pi_e"], d["p"], q_hat=q_hat)
    assert "replay" not in res  # pi_e is stochastic
    for name in ("ipw", "snipw", "dr"):
        assert res[name].ci_low <= truth <= res[name].ci_high, (name, res[name], truth)
    # The linear reward model is misspecified for a logistic truth: DM is close but biased,
    # DR corrects it; DR's interval is narrower than IPW's.
    assert abs(res["dm"].value - truth) < 0.03
    assert res["dr"].se < res["ipw"].se


def test_replay_with_deterministic_policy() -> None:
    d = _logged(30000, seed=2)
    best = d["q"].argmax(axis=1)
    pi_e = np.eye(3)[best]
    truth = float(d["q"][np.arange(best.size), best].mean())
    res = evaluate_policy(d["r"], d["a"], pi_e, d["p"])
    assert res["replay"].value == pytest.approx(truth, abs=0.015)


def test_bad_inputs() -> None:
    with pytest.raises(DataError, match="propensities"):
        ipw_rounds(REWARD, ACTION, PI_E, np.array([0.5, 0.0, 0.5, 0.5]))
    with pytest.raises(DataError, match="sum to 1"):
        ipw_rounds(REWARD, ACTION, PI_E * 2, PSCORE)
    with pytest.raises(DataError, match="actions"):
        ipw_rounds(REWARD, np.array([1, 0, 2, 0]), PI_E, PSCORE)


def test_agrees_with_open_bandit_pipeline() -> None:
    est = pytest.importorskip("obp.ope.estimators")
    d = _logged(5000, seed=3)
    q_hat = ridge_reward_model(d["x"], d["a"], d["r"], 3)
    kw = {"reward": d["r"], "action": d["a"], "pscore": d["p"], "action_dist": d["pi_e"][..., None]}
    q3 = q_hat[..., None]
    ours = evaluate_policy(d["r"], d["a"], d["pi_e"], d["p"], q_hat=q_hat)
    theirs = {
        "ipw": est.InverseProbabilityWeighting().estimate_policy_value(**kw),
        "snipw": est.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**kw),
        "dm": est.DirectMethod().estimate_policy_value(
            action_dist=kw["action_dist"], estimated_rewards_by_reg_model=q3
        ),
        "dr": est.DoublyRobust().estimate_policy_value(**kw, estimated_rewards_by_reg_model=q3),
    }
    for name, value in theirs.items():
        assert ours[name].value == pytest.approx(value, abs=1e-6), name
    det = np.eye(3)[d["q"].argmax(1)]
    rm = est.ReplayMethod().estimate_policy_value(
        reward=d["r"], action=d["a"], action_dist=det[..., None]
    )
    assert evaluate_policy(d["r"], d["a"], det, d["p"])["replay"].value == pytest.approx(
        rm, abs=1e-6
    )


def test_evaluate_logged_equals_dense() -> None:
    from reelmine.experiments.ope import evaluate_logged

    d = _logged(3000, seed=4)
    target = d["pi_e"][np.arange(3000), d["a"]]
    sparse = evaluate_logged(d["r"], d["p"], target)
    dense = evaluate_policy(d["r"], d["a"], d["pi_e"], d["p"])
    for name in ("ipw", "snipw"):
        assert sparse[name].value == pytest.approx(dense[name].value)
        assert sparse[name].se == pytest.approx(dense[name].se)
    det = np.eye(3)[d["q"].argmax(1)]
    replay = evaluate_logged(d["r"], d["p"], det[np.arange(3000), d["a"]])["replay"]
    assert replay.value == pytest.approx(
        evaluate_policy(d["r"], d["a"], det, d["p"])["replay"].value
    )
    with pytest.raises(DataError):
        evaluate_logged(d["r"], d["p"], target[:-1])
