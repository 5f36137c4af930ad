"""Rating predictors: known-answer synthetic data, scale clipping, fallbacks, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelmine.errors import ConfigError, DataError, NotFittedError
from reelmine.recommend.base import RatingPredictor
from reelmine.recommend.evaluate import evaluate_ratings, rmse
from reelmine.recommend.rating import (
    DEFAULT_RATING_MODEL,
    RATING_MODELS,
    BayesianMF,
    BiasBaseline,
    BiasedMF,
)

NOISE = 0.3


def _low_rank(rng: np.random.Generator, n_users: int = 200, n_items: int = 150, rank: int = 3):
    """Observed 40% of a rank-3 matrix (plus biases) with Gaussian noise of std NOISE."""
    U = rng.normal(0, 0.7, (n_users, rank))
    V = rng.normal(0, 0.7, (n_items, rank))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.3, n_items)
    mask = rng.random((n_users, n_items)) < 0.4
    u, i = np.nonzero(mask)
    truth = 3.0 + bu[u] + bi[i] + np.einsum("nf,nf->n", U[u], V[i])
    r = truth + rng.normal(0, NOISE, len(u))
    test = rng.random(len(u)) < 0.2
    return (u[~test], i[~test], r[~test]), (u[test], i[test], r[test], truth[test])


FAST = {
    "bayesian": lambda: BayesianMF(n_factors=5, n_iter=60, burn_in=10, thin=2, random_state=1),
    "bayesian-plain": lambda: BayesianMF(
        n_factors=5, n_iter=60, burn_in=10, thin=2, implicit=False, random_state=1
    ),
    "biased": lambda: BiasedMF(n_factors=5, n_epochs=30, reg_factor=0.02, lr_factor=0.01),
    "baseline": lambda: BiasBaseline(),
}


def test_bayesian_recovers_low_rank_to_noise_level(rng: np.random.Generator) -> None:
    (u, i, r), (tu, ti, tr, truth) = _low_rank(rng)
    model = FAST["bayesian"]().fit(u, i, r)
    pred = model.predict(tu, ti)
    # error against the noiseless truth is small, so error against noisy ratings ~ NOISE
    assert rmse(truth, pred) < 0.6 * NOISE
    assert rmse(tr, pred) < 1.2 * NOISE
    baseline = BiasBaseline().fit(u, i, r).predict(tu, ti)
    assert rmse(tr, baseline) > 2 * NOISE  # the factors matter on this data
    assert 0.7 * NOISE < model.noise_std_ < 1.3 * NOISE  # posterior of the noise level
    assert model.n_samples_ == 25


@pytest.mark.parametrize("name", list(FAST))
def test_predictions_within_scale_and_fallback(rng: np.random.Generator, name: str) -> None:
    (u, i, r), (tu, ti, tr, _) = _low_rank(rng, 60, 40)
    model = FAST[name]().fit(u, i, r)
    pred = model.predict(tu, ti)
    assert pred.min() >= r.min() and pred.max() <= r.max()
    assert rmse(tr, pred) < 1.0
    # unknown user (-1, out of range) -> global mean + item bias; unknown item likewise
    p = model.predict(np.array([-1, 999, 3, 3, -1]), np.array([2, 2, -1, 500, -1]))
    mu = model.global_mean_
    np.testing.assert_allclose(p[0], np.clip(mu + model.item_bias_[2], r.min(), r.max()))
    np.testing.assert_allclose(p[1], p[0])
    np.testing.assert_allclose(p[2], np.clip(mu + model.user_bias_[3], r.min(), r.max()))
    np.testing.assert_allclose(p[3], p[2])
    np.testing.assert_allclose(p[4], np.clip(mu, r.min(), r.max()))


@pytest.mark.parametrize("name", list(FAST))
def test_save_load_round_trip(rng: np.random.Generator, tmp_path: Path, name: str) -> None:
    (u, i, r), (tu, ti, _, _) = _low_rank(rng, 50, 30)
    model = FAST[name]().fit(u, i, r)
    loaded = RatingPredictor.load(model.save(tmp_path / name))
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(tu, ti), model.predict(tu, ti))


def test_seeded_fit_is_reproducible(rng: np.random.Generator) -> None:
    (u, i, r), (tu, ti, _, _) = _low_rank(rng, 50, 30)
    a = FAST["bayesian"]().fit(u, i, r).predict(tu, ti)
    b = FAST["bayesian"]().fit(u, i, r).predict(tu, ti)
    np.testing.assert_array_equal(a, b)


def test_bias_baseline_by_hand() -> None:
    # two users, one item, no shrinkage: mu = 3, b_i after pass 1 = mean(r - mu - b_u)
    # Pass 1: b_u = (r - mu - 0) -> (+1, -1); b_i = mean(r - mu - b_u) = 0. Fixed point.
    m = BiasBaseline(n_iter=3, reg_user=0.0, reg_item=0.0).fit(
        np.array([0, 1]), np.array([0, 0]), np.array([4.0, 2.0])
    )
    assert m.global_mean_ == 3.0
    np.testing.assert_allclose(m.user_bias_, [1.0, -1.0])
    np.testing.assert_allclose(m.item_bias_, [0.0], atol=1e-12)
    np.testing.assert_allclose(m.predict(np.array([0, 1]), np.array([0, 0])), [4.0, 2.0])


def test_evaluate_ratings_by_hand() -> None:
    # one user and item with ratings 4 and 2: the baseline predicts their mean 3 for both,
    # so errors are +1 and -1: RMSE 1, MAE 1.
    m = BiasBaseline(reg_user=0.0, reg_item=0.0).fit(
        np.array([0, 0]), np.array([0, 0]), np.array([4.0, 2.0])
    )
    out = evaluate_ratings(m, np.array([0, 0]), np.array([0, 0]), np.array([4.0, 2.0]))
    assert out == {"rmse": 1.0, "mae": 1.0, "n": 2.0}


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        BayesianMF().predict(np.array([0]), np.array([0]))
    with pytest.raises(DataError):
        BiasBaseline().fit(np.array([0, 1]), np.array([0]), np.array([1.0, 2.0]))
    with pytest.raises(DataError):
        BiasBaseline().fit(np.array([0.5]), np.array([0]), np.array([1.0]))
    with pytest.raises(DataError):
        BiasBaseline().fit(np.array([-1]), np.array([0]), np.array([1.0]))
    with pytest.raises(ConfigError):
        BayesianMF(burn_in=10, n_iter=5).fit(np.array([0]), np.array([0]), np.array([1.0]))
    assert DEFAULT_RATING_MODEL is BayesianMF
    assert set(RATING_MODELS) == {"bayesian-mf", "biased-mf", "bias-baseline"}


@pytest.mark.realdata
@pytest.mark.slow
def test_default_model_on_ml100k_u1(ml100k_dir: Path) -> None:
    from reelmine.data.movielens import read_movielens_fold
    from reelmine.data.vocab import Vocabulary

    train, test = read_movielens_fold(ml100k_dir, 1)
    uv, iv = Vocabulary.from_values(train["user_id"]), Vocabulary.from_values(train["title_id"])
    model = DEFAULT_RATING_MODEL().fit(
        uv.index(train["user_id"]), iv.index(train["title_id"]), train["rating"].to_numpy()
    )
    out = evaluate_ratings(
        model, uv.index(test["user_id"]), iv.index(test["title_id"]), test["rating"].to_numpy()
    )
    assert out["n"] == 20000
    assert out["rmse"] < 0.91  # measured 0.9007
