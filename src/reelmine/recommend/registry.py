"""Model registry: a short name for every top-N recommender, and a factory."""

from __future__ import annotations

import importlib
from typing import Any

from reelmine.errors import ConfigError
from reelmine.recommend.base import Recommender

DEFAULT_MODEL = "hybrid"

# name -> "module:Class"; imported lazily so `import reelmine.recommend` stays cheap.
MODELS: dict[str, str] = {
    "popularity": "reelmine.recommend.popularity:Popularity",
    "itemknn": "reelmine.recommend.neighbors:ItemKNN",
    "userknn": "reelmine.recommend.neighbors:UserKNN",
    "ease": "reelmine.recommend.ease:EASE",
    "als": "reelmine.recommend.mf_implicit:ALS",
    "bpr": "reelmine.recommend.mf_implicit:BPR",
    "content": "reelmine.recommend.content:ContentModel",
    "hybrid": "reelmine.recommend.hybrid:HybridRanker",
    "spark-als": "reelmine.recommend.spark_als:SparkALS",
}


def recommender_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; :class:`ConfigError` lists the known names."""
    try:
        module, _, cls = MODELS[name.lower()].partition(":")
    except KeyError:
        raise ConfigError(f"unknown recommender {name!r}; known: {', '.join(MODELS)}") from None
    klass: type[Recommender] = getattr(importlib.import_module(module), cls)
    return klass


def make_recommender(name: str = DEFAULT_MODEL, **params: Any) -> Recommender:
    """A new, unfitted recommender ``name`` with keyword ``params``."""
    klass = recommender_class(name)
    try:
        return klass(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for recommender {name!r}: {exc}") from exc
