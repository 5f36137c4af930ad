"""One experiment's readout from per-member metric arrays.

Order of work, as a trustworthy experimentation platform does it:

1. **Sample-ratio mismatch** on the member counts per variant. If flagged (p < 0.001) the
   readout is *blocked*: no metric is reported, because a broken assignment biases every
   comparison in ways no statistic can repair.
2. **Pre-period balance** of any covariates supplied (reported, not blocking).
3. Each metric against control for every treatment variant, with the metric's method
   (``welch``, ``cuped``, ``sequential`` or ``quantile``).
4. Decision metrics (``primary``/``secondary``) are corrected together (Holm by default);
   ``guardrail`` metrics are non-inferiority tests kept out of the correction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from reelmine.errors import DataError
from reelmine.experiments.cuped import cuped_test
from reelmine.experiments.multiple import CORRECTIONS, adjust_p_values, non_inferiority_test
from reelmine.experiments.quantiles import quantile_effects
from reelmine.experiments.sequential import sequential_test
from reelmine.experiments.stats import (
    BalanceRow,
    SRMResult,
    balance_check,
    srm_test,
    welch_test,
)

METHODS = ("welch", "cuped", "sequential", "quantile")
ROLES = ("primary", "secondary", "guardrail")


@dataclass(frozen=True)
class MetricSpec:
    """How to analyse one metric.

    Attributes
    ----------
    name : key of the metric in the ``metrics`` mapping.
    method : ``welch`` (default), ``cuped`` (needs ``covariate``), ``sequential`` (mSPRT,
        safe under peeking) or ``quantile`` (needs ``quantile``; bootstrap interval).
    role : ``primary``/``secondary`` (corrected together) or ``guardrail`` (non-inferiority).
    covariate : key in ``covariates`` of this metric's pre-period value (CUPED).
    quantile : level for the ``quantile`` method, e.g. 0.9.
    margin : guardrail non-inferiority margin (fraction of control when ``relative_margin``).
    higher_is_better : direction of a guardrail ("worse" is lower when True).
    label : name in the readout; defaults to ``name`` (``name_p90`` for quantiles).
    """

    name: str
    method: str = "welch"
    role: str = "primary"
    covariate: str | None = None
    quantile: float | None = None
    margin: float = 0.01
    relative_margin: bool = True
    higher_is_better: bool = True
    label: str | None = None

    @property
    def display(self) -> str:
        """Name of the metric in the readout."""
        if self.label:
            return self.label
        if self.method == "quantile" and self.quantile is not None:
            return f"{self.name}_p{self.quantile * 100:g}"
        return self.name


@dataclass(frozen=True)
class VariantCount:
    """Members assigned to one variant."""

    variant: str
    members: int


@dataclass(frozen=True)
class MetricRow:
    """One metric compared between one treatment variant and control."""

    metric: str
    variant: str
    control: float
    effect: float
    relative_lift: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    role: str = "primary"
    p_value_adjusted: float | None = None
    decision: str = ""
    variance_reduction: float | None = None
    n_control: int = 0
    n_treatment: int = 0


@dataclass(frozen=True)
class Readout:
    """Readout of one experiment; :meth:`to_dict` gives the documented JSON shape."""

    experiment_id: str
    srm: SRMResult
    variants: list[VariantCount]
    metrics: list[MetricRow]
    blocked: bool
    control: str
    correction: str
    alpha: float
    balance: list[BalanceRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``experiment_id``, ``srm``, ``variants``, ``metrics`` (+ extras).

        Non-finite floats become ``None`` so the output is strict JSON.
        """
        return {
            "experiment_id": self.experiment_id,
            "srm": {"p_value": _clean(self.srm.p_value), "flagged": bool(self.srm.flagged)},
            "variants": [asdict(v) for v in self.variants],
            "metrics": [{k: _clean(v) for k, v in asdict(m).items()} for m in self.metrics],
            "blocked": self.blocked,
            "control": self.control,
            "correction": self.correction,
            "alpha": self.alpha,
            "balance": [{k: _clean(v) for k, v in asdict(b).items()} for b in self.balance],
        }


def _clean(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.bool_):
        return bool(v)
    return v


@dataclass(frozen=True)
class _RowBase:
    metric: str
    variant: str
    role: str


def _check_specs(
    specs: Sequence[MetricSpec], metrics: Mapping[str, Any], covariates: Mapping[str, Any]
) -> None:
    labels = [s.display for s in specs]
    if len(set(labels)) != len(labels):
        raise DataError(f"metric labels must be unique, got {labels}")
    for s in specs:
        if s.name not in metrics:
            raise DataError(f"no per-member values for metric {s.name!r}", column=s.name)
        if s.method not in METHODS:
            raise DataError(f"metric {s.name!r}: unknown method {s.method!r}; use {METHODS}")
        if s.role not in ROLES:
            raise DataError(f"metric {s.name!r}: unknown role {s.role!r}; use {ROLES}")
        if s.method == "cuped" and (s.covariate is None or s.covariate not in covariates):
            raise DataError(f"metric {s.name!r}: CUPED needs a covariate present in covariates")
        if s.method == "quantile" and s.quantile is None:
            raise DataError(f"metric {s.name!r}: the quantile method needs quantile=")


def _compare(
    spec: MetricSpec,
    c: np.ndarray,
    t: np.ndarray,
    xc: np.ndarray | None,
    xt: np.ndarray | None,
    *,
    alpha: float,
    n_boot: int,
    rng: np.random.Generator,
) -> MetricRow:
    base = _RowBase(metric=spec.display, variant="", role=spec.role)
    if spec.role == "guardrail":
        ni = non_inferiority_test(
            c,
            t,
            margin=spec.margin,
            relative=spec.relative_margin,
            higher_is_better=spec.higher_is_better,
            alpha=alpha,
        )
        cm = float(c.mean())
        return MetricRow(
            **base.__dict__,
            control=cm,
            effect=ni.effect,
            relative_lift=ni.effect / cm if cm != 0 else math.nan,
            ci_low=ni.ci_low,
            ci_high=ni.ci_high,
            p_value=ni.p_value,
            method="non_inferiority",
            decision="passed" if ni.passed else "failed",
        )
    if spec.method == "quantile":
        assert spec.quantile is not None
        (q,) = quantile_effects(
            c, t, quantiles=(spec.quantile,), n_boot=n_boot, alpha=alpha, random_state=rng
        )
        return MetricRow(
            **base.__dict__,
            control=q.control,
            effect=q.effect,
            relative_lift=q.relative_lift,
            ci_low=q.ci_low,
            ci_high=q.ci_high,
            p_value=q.p_value,
            method="bootstrap_quantile",
        )
    if spec.method == "sequential":
        s = sequential_test(c, t, alpha=alpha)
        cm = float(c.mean())
        eff = float(s.effect[-1])
        return MetricRow(
            **base.__dict__,
            control=cm,
            effect=eff,
            relative_lift=eff / cm if cm != 0 else math.nan,
            ci_low=float(s.ci_low[-1]),
            ci_high=float(s.ci_high[-1]),
            p_value=float(s.p_value[-1]),
            method="msprt",
        )
    if spec.method == "cuped":
        assert xc is not None and xt is not None
        cu = cuped_test(c, xc, t, xt, alpha=alpha)
        w = cu.adjusted
        cm = float(cu.raw.control_mean)
        eff = float(w.effect)
        return MetricRow(
            **base.__dict__,
            control=cm,
            effect=eff,
            # Lift relative to the unadjusted control mean (CUPED keeps the mean unchanged in
            # expectation; the adjusted control mean is shifted by the arm's covariate noise).
            relative_lift=eff / cm if cm != 0 else math.nan,
            ci_low=float(w.ci_low),
            ci_high=float(w.ci_high),
            p_value=float(w.p_value),
            method="cuped",
            variance_reduction=float(cu.variance_reduction),
        )
    w = welch_test(c, t, alpha=alpha)
    return MetricRow(
        **base.__dict__,
        control=float(w.control_mean),
        effect=float(w.effect),
        relative_lift=float(w.relative_lift),
        ci_low=float(w.ci_low),
        ci_high=float(w.ci_high),
        p_value=float(w.p_value),
        method="welch",
    )


def readout(
    experiment_id: str,
    variants: Sequence[str] | np.ndarray,
    metrics: Mapping[str, Any],
    *,
    specs: Sequence[MetricSpec] | None = None,
    covariates: Mapping[str, Any] | None = None,
    control: str = "control",
    expected_ratios: Mapping[str, float] | None = None,
    correction: str = "holm",
    alpha: float = 0.05,
    srm_threshold: float = 0.001,
    n_boot: int = 2000,
    random_state: int | np.random.Generator | None = 0,
) -> Readout:
    """Read out one experiment.

    Parameters
    ----------
    experiment_id : identifier echoed in the output.
    variants : the variant each member was assigned to, shape ``(n_members,)``.
    metrics : metric name -> per-member values aligned with ``variants``; NaN marks a member
        without a value (left out of that metric only).
    specs : how to analyse each metric; default: Welch, primary, for every metric.
    covariates : pre-period covariate name -> per-member values (CUPED and balance check);
        NaN allowed as for metrics.
    control : name of the control variant.
    expected_ratios : designed allocation per variant; equal split when ``None``.
    correction : ``holm``, ``bh`` or ``none`` across decision metrics x variants.
    alpha : significance level (two-sided; one-sided for guardrails).
    srm_threshold : SRM p-value below which the readout is blocked.
    n_boot : bootstrap replicates for quantile metrics.
    random_state : seed for the bootstrap (fixed by default so readouts are reproducible).
    """
    arm = np.asarray(variants).astype(str)
    if arm.ndim != 1 or arm.size == 0:
        raise DataError(f"experiment {experiment_id}: variants must be a non-empty 1-d array")
    names = np.unique(arm)
    if control not in names:
        raise DataError(
            f"experiment {experiment_id}: control variant {control!r} not among {list(names)}"
        )
    if correction not in CORRECTIONS:
        raise DataError(f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}")
    # A designed arm with no members at all is the worst sample-ratio mismatch: keep it.
    designed = set(expected_ratios or ()) | {str(v) for v in names}
    order = [control] + sorted(v for v in designed if v != control)
    masks = {v: arm == v for v in order}
    counts = [int(masks[v].sum()) for v in order]
    ratios = None
    if expected_ratios is not None:
        missing = [v for v in order if v not in expected_ratios]
        if missing:
            raise DataError(f"experiment {experiment_id}: no expected ratio for {missing}")
        ratios = [float(expected_ratios[v]) for v in order]
    srm = srm_test(counts, ratios, threshold=srm_threshold)
    covs = {k: np.asarray(v, dtype=np.float64) for k, v in (covariates or {}).items()}
    mets = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
    for name, values in {**mets, **covs}.items():
        if values.shape != arm.shape:
            raise DataError(
                f"experiment {experiment_id}: {values.shape[0] if values.ndim else 0} values "
                f"for {arm.size} members",
                column=name,
            )
    variant_counts = [VariantCount(v, n) for v, n in zip(order, counts, strict=True)]
    specs = list(specs) if specs is not None else [MetricSpec(name) for name in mets]
    _check_specs(specs, mets, covs)
    ctrl = masks[control]
    balance: list[BalanceRow] = []
    for v in order[1:]:
        for k, cov in covs.items():
            ok = np.isfinite(cov)  # members without a pre-period value are left out
            balance += [
                replace(b, covariate=f"{b.covariate} ({v})")
                for b in balance_check({k: cov[ctrl & ok]}, {k: cov[masks[v] & ok]})
            ]
    out = Readout(
        experiment_id=experiment_id,
        srm=srm,
        variants=variant_counts,
        metrics=[],
        blocked=srm.flagged,
        control=control,
        correction=correction,
        alpha=alpha,
        balance=balance,
    )
    if srm.flagged:
        return out
    rng = np.random.default_rng(random_state)
    rows: list[MetricRow] = []
    for spec in specs:
        y = mets[spec.name]
        x: np.ndarray | None = covs[spec.covariate] if spec.covariate else None
        # NaN means "no value for this member" (e.g. startup time of a member with no plays):
        # such members are left out of this metric only.
        ok = np.isfinite(y) if x is None else np.isfinite(y) & np.isfinite(x)
        c_m = ctrl & ok
        for v in order[1:]:
            m = masks[v] & ok
            row = _compare(
                spec,
                y[c_m],
                y[m],
                None if x is None else x[c_m],
                None if x is None else x[m],
                alpha=alpha,
                n_boot=n_boot,
                rng=rng,
            )
            rows.append(replace(row, variant=v, n_control=int(c_m.sum()), n_treatment=int(m.sum())))
    decision = [i for i, r in enumerate(rows) if r.role != "guardrail"]
    if decision:
        adj = adjust_p_values([rows[i].p_value for i in decision], correction)
        for i, a in zip(decision, adj, strict=True):
            label = "significant" if a <= alpha else "not significant"
            rows[i] = replace(rows[i], p_value_adjusted=float(a), decision=label)
    return replace(out, metrics=rows)
