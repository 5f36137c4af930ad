"""Off-policy evaluation: what would a new artwork policy have earned on logged traffic?

Logged data are rounds ``(x_i, a_i, r_i, p_i)``: context, action the logging policy took,
reward, and the probability ``p_i = pi_0(a_i | x_i)`` it had of taking it. The evaluation
policy is given as ``action_dist[i, a] = pi_e(a | x_i)``. Definitions follow the Open Bandit
Pipeline (``obp.ope``), with ``w_i = pi_e(a_i | x_i) / p_i``:

* replay: ``sum_i 1{pi_e(x_i) = a_i} r_i / sum_i 1{pi_e(x_i) = a_i}`` (deterministic pi_e;
  0 when no round matches),
* IPW: ``mean(w_i r_i)``; self-normalised IPW: ``mean(w_i r_i) / mean(w_i)``,
* direct method (DM): ``mean_i sum_a pi_e(a | x_i) q(x_i, a)`` with a reward model ``q``,
* doubly robust (DR): ``mean_i [sum_a pi_e(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i))]``.

IPW and DR optionally clip ``w`` at ``clip`` (obp's ``lambda_``), trading bias for variance.
Intervals are normal approximations over the per-round terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from reelmine.errors import DataError

ESTIMATORS = ("replay", "ipw", "snipw", "dm", "dr")


@dataclass(frozen=True)
class OPEEstimate:
    """Estimated policy value with a normal-approximation interval."""

    estimator: str
    value: float
    se: float
    ci_low: float
    ci_high: float


def _check(
    reward: object, action: object, action_dist: object, pscore: object | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    r = np.asarray(reward, dtype=np.float64)
    a = np.asarray(action)
    pi = np.asarray(action_dist, dtype=np.float64)
    if pi.ndim == 3:  # obp layout (n, n_actions, len_list) with one slot
        if pi.shape[2] != 1:
            raise DataError("action_dist with several positions is not supported")
        pi = pi[:, :, 0]
    if pi.ndim != 2:
        raise DataError(f"action_dist must be (n_rounds, n_actions), got shape {pi.shape}")
    n = pi.shape[0]
    if r.shape != (n,) or a.shape != (n,):
        raise DataError(
            f"reward {r.shape} and action {a.shape} must both have n_rounds = {n} entries"
        )
    if not np.issubdtype(a.dtype, np.integer) or (a < 0).any() or (a >= pi.shape[1]).any():
        raise DataError(f"actions must be integers in [0, {pi.shape[1]})", column="action")
    if not np.allclose(pi.sum(axis=1), 1.0):
        raise DataError("each row of action_dist must sum to 1", column="action_dist")
    p = None
    if pscore is not None:
        p = np.asarray(pscore, dtype=np.float64)
        if p.shape != (n,) or (p <= 0).any() or (p > 1).any():
            bad = np.flatnonzero((p <= 0) | (p > 1)) if p.shape == (n,) else np.zeros(0, int)
            where = f" (first bad round {int(bad[0])})" if bad.size else ""
            raise DataError(f"propensities must be in (0, 1]{where}", column="propensity")
    return r, a.astype(np.int64), pi, p


def _weights(pi: np.ndarray, a: np.ndarray, p: np.ndarray, clip: float | None) -> np.ndarray:
    w = pi[np.arange(a.size), a] / p
    return w if clip is None else np.minimum(w, clip)


def replay_rounds(reward: object, action: object, action_dist: object) -> np.ndarray:
    """Per-round terms of the replay estimator (their mean is the estimate)."""
    r, a, pi, _ = _check(reward, action, action_dist)
    match = (pi[np.arange(a.size), a] == 1).astype(np.float64)
    if match.sum() == 0:
        return np.zeros_like(r)
    return match * r / match.mean()


def ipw_rounds(
    reward: object,
    action: object,
    action_dist: object,
    pscore: object,
    *,
    clip: float | None = None,
) -> np.ndarray:
    """Per-round terms ``w_i r_i`` of inverse propensity weighting."""
    r, a, pi, p = _check(reward, action, action_dist, pscore)
    assert p is not None
    return _weights(pi, a, p, clip) * r


def snipw_rounds(reward: object, action: object, action_dist: object, pscore: object) -> np.ndarray:
    """Per-round terms ``w_i r_i / mean(w)`` of self-normalised IPW."""
    r, a, pi, p = _check(reward, action, action_dist, pscore)
    assert p is not None
    w = _weights(pi, a, p, None)
    if w.sum() == 0:
        return np.zeros_like(r)
    return w * r / w.mean()


def _q(q_hat: object, pi: np.ndarray) -> np.ndarray:
    q = np.asarray(q_hat, dtype=np.float64)
    if q.ndim == 3 and q.shape[2] == 1:
        q = q[:, :, 0]
    if q.shape != pi.shape:
        raise DataError(f"reward model output {q.shape} must match action_dist {pi.shape}")
    return q


def dm_rounds(action_dist: object, q_hat: object) -> np.ndarray:
    """Per-round terms ``sum_a pi_e(a|x_i) q(x_i, a)`` of the direct method."""
    pi = np.asarray(action_dist, dtype=np.float64)
    if pi.ndim == 3:
        pi = pi[:, :, 0]
    return (pi * _q(q_hat, pi)).sum(axis=1)


def dr_rounds(
    reward: object,
    action: object,
    action_dist: object,
    pscore: object,
    q_hat: object,
    *,
    clip: float | None = None,
) -> np.ndarray:
    """Per-round terms of the doubly robust estimator."""
    r, a, pi, p = _check(reward, action, action_dist, pscore)
    assert p is not None
    q = _q(q_hat, pi)
    w = _weights(pi, a, p, clip)
    return (pi * q).sum(axis=1) + w * (r - q[np.arange(a.size), a])


def _summarise(name: str, rounds: np.ndarray, alpha: float) -> OPEEstimate:
    value = float(rounds.mean())
    se = float(rounds.std(ddof=1) / np.sqrt(rounds.size)) if rounds.size > 1 else float("nan")
    z = float(sps.norm.ppf(1 - alpha / 2))
    return OPEEstimate(name, value, se, value - z * se, value + z * se)


def evaluate_policy(
    reward: object,
    action: object,
    action_dist: object,
    pscore: object,
    *,
    q_hat: object | None = None,
    clip: float | None = None,
    alpha: float = 0.05,
) -> dict[str, OPEEstimate]:
    """Every applicable estimator on the same logged data.

    Parameters
    ----------
    reward, action, pscore : logged rewards, actions (int codes) and logging propensities,
        shape ``(n_rounds,)``.
    action_dist : evaluation policy ``pi_e(a | x_i)``, shape ``(n_rounds, n_actions)``.
    q_hat : reward model predictions ``(n_rounds, n_actions)``; enables DM and DR.
    clip : optional cap on importance weights for IPW and DR.
    alpha : level of the normal-approximation intervals.

    Returns
    -------
    Estimator name (``replay`` only when ``pi_e`` is deterministic) -> :class:`OPEEstimate`.
    """
    r, a, pi, p = _check(reward, action, action_dist, pscore)
    out = {}
    if np.isin(pi, (0.0, 1.0)).all():
        out["replay"] = _summarise("replay", replay_rounds(r, a, pi), alpha)
    out["ipw"] = _summarise("ipw", ipw_rounds(r, a, pi, p, clip=clip), alpha)
    out["snipw"] = _summarise("snipw", snipw_rounds(r, a, pi, p), alpha)
    if q_hat is not None:
        out["dm"] = _summarise("dm", dm_rounds(pi, q_hat), alpha)
        out["dr"] = _summarise("dr", dr_rounds(r, a, pi, p, q_hat, clip=clip), alpha)
    return out


def evaluate_logged(
    reward: object,
    pscore: object,
    target_probability: object,
    *,
    alpha: float = 0.05,
) -> dict[str, OPEEstimate]:
    """IPW, SNIPW (and replay when the target is deterministic) from per-round probabilities.

    Equivalent to :func:`evaluate_policy` when only ``pi_e(a_i | x_i)`` of the *logged* action
    is known, which is all these estimators use; handy when every round has its own small
    action set (the artworks of one title) and a dense ``action_dist`` would be mostly zeros.

    Parameters
    ----------
    reward, pscore : logged rewards and logging propensities ``(n_rounds,)``.
    target_probability : ``pi_e(a_i | x_i)`` of the logged action, ``(n_rounds,)``.
    """
    r = np.asarray(reward, dtype=np.float64)
    p = np.asarray(pscore, dtype=np.float64)
    t = np.asarray(target_probability, dtype=np.float64)
    if not (r.shape == p.shape == t.shape) or r.ndim != 1 or r.size == 0:
        raise DataError("reward, pscore and target_probability must be equal-length 1-d arrays")
    if (p <= 0).any() or (p > 1).any():
        raise DataError("propensities must be in (0, 1]", column="propensity")
    if (t < 0).any() or (t > 1).any():
        raise DataError("target probabilities must be in [0, 1]", column="target_probability")
    w = t / p
    out = {}
    if np.isin(t, (0.0, 1.0)).all():
        match = (t == 1).astype(np.float64)
        rounds = match * r / match.mean() if match.sum() else np.zeros_like(r)
        out["replay"] = _summarise("replay", rounds, alpha)
    out["ipw"] = _summarise("ipw", w * r, alpha)
    sn = w * r / w.mean() if w.sum() else np.zeros_like(r)
    out["snipw"] = _summarise("snipw", sn, alpha)
    return out


def ridge_reward_model(
    contexts: object,
    action: object,
    reward: object,
    n_actions: int,
    *,
    l2: float = 1.0,
) -> np.ndarray:
    """Per-action ridge regression of reward on context, predicted for every action.

    A simple reward model for DM and DR. Fitted on all rounds (no cross-fitting): fine for
    model comparison, slightly optimistic for DM on small logs.

    Parameters
    ----------
    contexts : ``(n_rounds, n_features)``; an intercept is added.
    action, reward : logged actions and rewards ``(n_rounds,)``.
    n_actions : number of actions.
    l2 : ridge penalty (not applied to the intercept).

    Returns
    -------
    q_hat : ``(n_rounds, n_actions)``.
    """
    x = np.asarray(contexts, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"contexts must be (n_rounds, n_features), got shape {x.shape}")
    a = np.asarray(action, dtype=np.int64)
    r = np.asarray(reward, dtype=np.float64)
    X = np.hstack([np.ones((x.shape[0], 1)), x])
    d = X.shape[1]
    if a.shape != (X.shape[0],) or r.shape != (X.shape[0],):
        raise DataError(f"action and reward must have {X.shape[0]} rounds")
    gram = np.zeros((n_actions, d, d))
    b = np.zeros((n_actions, d))
    order = np.argsort(a, kind="stable")
    bounds = np.searchsorted(a[order], np.arange(n_actions + 1))
    for k in range(n_actions):  # one BLAS product per action
        rows = order[bounds[k] : bounds[k + 1]]
        gram[k] = X[rows].T @ X[rows]
        b[k] = X[rows].T @ r[rows]
    penalty = l2 * np.eye(d)
    penalty[0, 0] = 1e-9
    theta = np.linalg.solve(gram + penalty, b[..., None])[..., 0]  # (n_actions, d)
    return X @ theta.T
