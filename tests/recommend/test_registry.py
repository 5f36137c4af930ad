from __future__ import annotations

import pytest

from reelmine.errors import ConfigError
from reelmine.recommend.base import Recommender
from reelmine.recommend.registry import DEFAULT_MODEL, MODELS, make_recommender, recommender_class


def test_every_name_builds_a_recommender() -> None:
    for name in MODELS:
        model = make_recommender(name, random_state=1)
        assert isinstance(model, Recommender)
        assert model.get_params()["random_state"] == 1
    assert DEFAULT_MODEL == "hybrid"
    assert recommender_class("EASE").__name__ == "EASE"


def test_unknown_name_and_bad_params() -> None:
    with pytest.raises(ConfigError, match="known: popularity"):
        make_recommender("nope")
    with pytest.raises(ConfigError, match="ease"):
        make_recommender("ease", bogus=1)
