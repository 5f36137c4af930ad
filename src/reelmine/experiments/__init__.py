"""Experimentation statistics: A/B readouts, CUPED, sequential tests, interleaving, bandits, OPE.

Pure functions and estimators on NumPy arrays; see ``docs/experiments.md`` for which test is
used when. The warehouse-facing use cases live in :mod:`reelmine.service.experiments`.
"""

from reelmine.experiments.cuped import cuped_test
from reelmine.experiments.multiple import (
    adjust_p_values,
    benjamini_hochberg,
    holm,
    non_inferiority_test,
)
from reelmine.experiments.quantiles import quantile_effects
from reelmine.experiments.readout import MetricSpec, Readout, readout
from reelmine.experiments.sequential import sequential_test
from reelmine.experiments.stats import balance_check, srm_test, welch_test

__all__ = [
    "MetricSpec",
    "Readout",
    "adjust_p_values",
    "balance_check",
    "benjamini_hochberg",
    "cuped_test",
    "holm",
    "non_inferiority_test",
    "quantile_effects",
    "readout",
    "sequential_test",
    "srm_test",
    "welch_test",
]
