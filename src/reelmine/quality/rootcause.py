"""Multi-dimensional root-cause localisation for additive and derived (ratio) measures.

The problem (Adtributor, iDice, HotSpot, Squeeze, AutoRoot, RiskLoc, RobustSpot): a measure
summed over a cube of attribute combinations (leaves, e.g. ``cdn x isp x device``) deviates from
its forecast in one time window; find the smallest set of attribute combinations (elements such
as ``{cdn=C2, isp=I5}``) whose leaves hold the deviation.

Method (``RootCauseLocalizer``), all vectorised over leaves with NumPy:

1. **Leaf deviation.** Each leaf's expected value comes from the forecast. For a derived measure
   ``num / den`` (an error rate, a bad-session ratio) the forecast *rate* is shrunk towards the
   main-effects model below (a pseudo-count ``prior_strength``, so leaves with little or no
   history borrow strength), and the expected numerator is ``den_now * rate``. The excess is
   ``actual - expected``; its robust z-score uses binomial (derived) or Poisson (additive)
   variance plus an over-dispersion term ``(dispersion * expected)^2``.
2. **Leaf labels.** A leaf is anomalous when its excess has the sign of the total deviation, its
   z-score exceeds ``z_threshold`` and its relative change exceeds ``min_relative``.
3. **Weights (a generalised ripple effect).** An anomalous leaf weighs its excess. A normal leaf
   weighs what it *would* have added had it shared the anomalous leaves' typical change
   (``den * excess_per_session`` for ratios, ``expected * relative_lift`` for additive
   measures): including it in a root cause is a false positive of that size.
4. **Search.** Every element of every cuboid up to ``max_depth`` attributes is a candidate.
   Elements are added greedily, each time the one that maximises the weighted F1 between the
   union of chosen elements and the anomalous leaves, minus ``depth_penalty`` per attribute (so
   a general element wins over its children when it explains as much); the search stops when
   the gain falls below ``min_gain`` (unless the element is clean: ``min_precision`` of its
   weight anomalous and ``min_share`` of the deviation) or ``max_causes`` are chosen.
5. **Refinement on aggregates.** Leaf labels are noisy when leaves are small, so each chosen
   element is then moved on the lattice with aggregated evidence: to a parent when the rest of
   the parent (outside the other chosen elements) is itself significantly anomalous with at
   least ``refine_ratio`` of the element's relative change; to a child when the child holds
   ``refine_share`` of the deviation and the rest of the element is not significant.

**Aggregated evidence** (``search="evidence"``, chosen by ``auto`` when leaves are sparse, as
in a cube of raw sessions over six attributes where most leaves hold one or two plays): leaf
labels are then mostly noise, so elements are scored on their sums instead, by the signed
deviance residual of actual vs expected (see :meth:`RootCauseLocalizer._evidence`); greedy
picks with removal, then each pick is challenged by the search without it (splits a general
element that merely holds two separate causes). The direction searched is the cube's total
unless the other direction has the more significant element (a small incident in a cube that
drifted the other way), and each pick is finally stated in its most general supported form
(:meth:`RootCauseLocalizer._generalise`: nested values folded, ``isp=M1`` -> ``country=US``
where both hold the same plays; a parent whose rest is anomalous too replaces its child).

In both searches a leaf's expected value borrows strength from a multiplicative main-effects
model of the history (iterative proportional fitting), so chronic differences between values
(a slow app version) are expected rather than blamed.

Label-search defaults were tuned on the even half of the RCA-RS cases (sorted by name);
evidence-search defaults (``min_z``, ``split_gain``) on simulated platforms; see
``docs/quality.md`` for the figures.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reelmine.errors import DataError, MissingColumnError
from reelmine.quality.detect import MAD_SCALE


@dataclass(frozen=True)
class RootCause:
    """One root-cause element with what it explains.

    Attributes
    ----------
    elements : attribute -> value, e.g. ``{"cdn": "C2", "isp": "I5"}``.
    explained : share of the total deviation that falls in the element's leaves (0..1+).
    expected, actual : the measure in the element: a sum (additive) or a rate (derived).
    count : sessions in the element now (denominator for derived measures, else the actual sum).
    leaves : number of leaf combinations under the element.
    score : weighted F1 of the chosen set after this element was added.
    """

    elements: dict[str, str]
    explained: float
    expected: float
    actual: float
    count: float
    leaves: int
    score: float

    @property
    def depth(self) -> int:
        """Number of attributes fixed by the element."""
        return len(self.elements)

    @property
    def label(self) -> str:
        """``attr=value`` pairs sorted and joined by ``&`` (the RCA benchmark notation)."""
        return "&".join(sorted(f"{k}={v}" for k, v in self.elements.items()))


@dataclass(frozen=True)
class Localization:
    """Result of one localisation: ranked root causes and the cube-level totals."""

    causes: list[RootCause]
    expected: float
    actual: float
    deviation: float
    anomalous_leaves: int = 0
    attributes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        """All causes in benchmark notation, separated by ``;``."""
        return ";".join(c.label for c in self.causes)


def _encode(table: pa.Table, attributes: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Dictionary-encode attribute columns: (n, d) int64 codes and each column's values."""
    codes = np.empty((table.num_rows, len(attributes)), dtype=np.int64)
    values: list[np.ndarray] = []
    for j, name in enumerate(attributes):
        col = table.column(name)
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = pc.cast(col, pa.string())
        enc = pc.dictionary_encode(pc.fill_null(col, "")).combine_chunks()
        codes[:, j] = enc.indices.to_numpy(zero_copy_only=False)
        values.append(np.asarray(enc.dictionary.to_pylist(), dtype=object))
    return codes, values


def _column(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        raise MissingColumnError(f"measure column {name!r} not in {table.column_names}")
    arr = pc.fill_null(pc.cast(table.column(name), pa.float64()), 0.0)
    return np.asarray(arr.to_numpy(), dtype=np.float64)


class RootCauseLocalizer:
    """Localise the attribute combinations that explain a deviation (see module docstring).

    Parameters
    ----------
    max_depth : largest number of attributes in one element.
    max_causes : most elements returned.
    z_threshold : leaf z-score above which a leaf counts as anomalous.
    min_relative : smallest relative change of a leaf (its excess over its expected value).
    dispersion : over-dispersion added to the leaf variance, as a fraction of the expected value.
    prior_strength : pseudo-count (in denominator units) shrinking leaf rates to the cube rate.
    depth_penalty : F1 subtracted per attribute of an element (prefers general elements).
    min_gain : smallest F1 gain for adding another element.
    min_precision : an element gaining less than ``min_gain`` is still added when this share of
        its weight is anomalous and it explains at least ``min_share`` of the anomalous weight
        (small but clean incidents).
    min_share : see ``min_precision``.
    refine : test each chosen element against its parents and children on aggregated counts
        (see :meth:`_refine`).
    refine_ratio : a parent replaces the element when the rest of the parent is significantly
        anomalous with at least this fraction of the element's relative change.
    refine_share : a child replaces the element when it holds this share of the element's
        deviation and the rest of the element is not significantly anomalous.
    fp_weight : multiplier of the normal leaves' weight (above 1 favours specific elements).
    main_effects : shrink leaves towards a multiplicative main-effects model of the history
        (see :func:`_main_effects`) instead of the flat cube rate.
    prior_iterations : sweeps of iterative proportional fitting for that model.
    count_prior : weight of the fitted model against a leaf's own history (additive measures).
    search : ``labels`` (leaf labels + weighted-F1 set search, steps 2-5 of the module
        docstring), ``evidence`` (aggregated deviance z-scores, :meth:`_evidence`) or ``auto``
        (labels for shares of counted units with at least ``dense_leaf`` units per leaf in the
        median, evidence otherwise: sparse leaves, counts, continuous means).
    dense_leaf : see ``search``.
    min_z : smallest z-score of an element chosen by the evidence search.
    depth_discount : relative discount of an element's z per extra attribute (evidence search).
    split_gain : relative gain in summed z^2 for which a set without a chosen element replaces
        the set with it (evidence search).
    parsimony : after the evidence search, state each element in its most general form (see
        :meth:`_generalise`).
    parent_z : z-score the rest of a more general element must exceed for it to replace the
        chosen one (evidence search).
    parent_ratio : smallest relative change of that rest, as a fraction of the chosen
        element's (as ``refine_ratio`` for the label search; significance alone, 0, generalises
        too often on the synthetic cubes of the tests).
    equivalence : share of an element's volume by which two nested elements may differ and
        still count as the same plays (``isp=M1`` and ``country=US&device_type=mobile``).
    """

    def __init__(
        self,
        *,
        max_depth: int = 3,
        max_causes: int = 3,
        z_threshold: float = 2.0,
        min_relative: float = 0.5,
        dispersion: float = 0.1,
        prior_strength: float = 20.0,
        depth_penalty: float = 0.15,
        min_gain: float = 0.1,
        fp_weight: float = 1.0,
        min_precision: float = 0.9,
        min_share: float = 0.02,
        refine: bool = True,
        refine_ratio: float = 0.3,
        refine_share: float = 0.8,
        main_effects: bool = True,
        prior_iterations: int = 10,
        count_prior: float = 1.0,
        search: str = "auto",
        dense_leaf: float = 4.0,
        min_z: float = 7.0,
        depth_discount: float = 0.05,
        split_gain: float = 0.2,
        parsimony: bool = True,
        parent_z: float = 3.0,
        parent_ratio: float = 0.3,
        equivalence: float = 0.02,
    ) -> None:
        self.max_depth = max_depth
        self.max_causes = max_causes
        self.z_threshold = z_threshold
        self.min_relative = min_relative
        self.dispersion = dispersion
        self.prior_strength = prior_strength
        self.depth_penalty = depth_penalty
        self.min_gain = min_gain
        self.fp_weight = fp_weight
        self.min_precision = min_precision
        self.min_share = min_share
        self.refine = refine
        self.refine_ratio = refine_ratio
        self.refine_share = refine_share
        self.main_effects = main_effects
        self.prior_iterations = prior_iterations
        self.count_prior = count_prior
        self.search = search
        self.dense_leaf = dense_leaf
        self.min_z = min_z
        self.depth_discount = depth_discount
        self.split_gain = split_gain
        self.parsimony = parsimony
        self.parent_z = parent_z
        self.parent_ratio = parent_ratio
        self.equivalence = equivalence

    def _refine(
        self,
        elem: dict[int, int],
        codes: np.ndarray,
        sx: np.ndarray,
        var: np.ndarray,
        expected: np.ndarray,
        exclude: np.ndarray,
    ) -> dict[int, int]:
        """Move an element up or down the lattice using aggregated (not leaf) evidence.

        Leaf labels are noisy when leaves are small; aggregates are not. A parent (one
        attribute fewer) is taken when the part of it outside the element is itself
        significantly anomalous with a comparable relative change; a child (one attribute
        more) is taken when it holds ``refine_share`` of the deviation and the rest of the
        element is not significantly anomalous. Leaves in ``exclude`` (the other chosen
        elements) are left out of those tests, so another incident does not pull an element up.
        """

        def stats(m: np.ndarray) -> tuple[float, float, float]:
            x = float(sx[m].sum())
            z = x / float(np.sqrt(max(var[m].sum(), 1e-12)))
            return x, z, x / max(float(np.abs(expected[m]).sum()), 1e-12)

        seen = {tuple(sorted(elem.items()))}
        for _ in range(2 * self.max_depth):  # bounded walk on the lattice
            m = _mask(codes, elem)
            xe, _, rel_e = stats(m)
            moved = False
            if len(elem) > 1:
                best: tuple[float, dict[int, int]] | None = None
                for b in elem:
                    parent = {a: v for a, v in elem.items() if a != b}
                    rest = _mask(codes, parent) & ~m & ~exclude
                    if not rest.any():
                        continue
                    _, z, rel = stats(rest)
                    key = tuple(sorted(parent.items()))
                    good = z > self.z_threshold and rel >= self.refine_ratio * rel_e
                    if good and key not in seen and (best is None or z > best[0]):
                        best = (z, parent)
                if best is not None:
                    elem = best[1]
                    seen.add(tuple(sorted(elem.items())))
                    continue
            if len(elem) < self.max_depth and xe > 0:
                best_child: tuple[float, dict[int, int]] | None = None
                exp_e = float(np.abs(expected[m]).sum())
                for a in range(codes.shape[1]):
                    if a in elem:
                        continue
                    for v in np.unique(codes[m, a]):
                        child = m & (codes[:, a] == v)
                        rest = m & ~child
                        share = float(sx[child].sum()) / xe
                        if share < self.refine_share or not rest.any():
                            continue
                        if float(np.abs(expected[rest]).sum()) < 0.1 * exp_e:
                            continue  # too little left outside the child to tell them apart
                        _, z_rest, _ = stats(rest)
                        cand = {**elem, a: int(v)}
                        fresh = tuple(sorted(cand.items())) not in seen
                        better = best_child is None or share > best_child[0]
                        if z_rest < self.z_threshold and fresh and better:
                            best_child = (share, cand)
                if best_child is not None:
                    elem = best_child[1]
                    seen.add(tuple(sorted(elem.items())))
                    moved = True
            if not moved:
                break
        return elem

    def _generalise(
        self,
        picked: list[tuple[dict[int, int], float]],
        codes: np.ndarray,
        cuboids: list[tuple[int, ...]],
        inverses: list[np.ndarray],
        firsts: list[np.ndarray],
        sign: float,
        actual: np.ndarray,
        expected: np.ndarray,
        var: np.ndarray,
        vol: np.ndarray,
    ) -> list[tuple[dict[int, int], float]]:
        """State each chosen element in its most general form the evidence supports.

        A more general element ``G`` (any element, of at most the same depth, holding all but
        ``equivalence`` of the chosen element's volume ``vol``: a parent, or one where a value
        is replaced by a value nesting it, ``isp=M1`` -> ``country=US``) replaces the chosen
        element ``E`` when (a) it holds about the same plays (nested values: the data cannot
        tell them apart, so the shorter description is stated), or (b) the rest of ``G``
        outside ``E`` and the other chosen elements is itself anomalous: deviance z above
        ``parent_z`` with at least ``parent_ratio`` of ``E``'s relative change. Repeated until
        no element moves, so a cause found as its children is reported as the parent.
        """

        def stats(m: np.ndarray) -> tuple[float, float]:
            a, f, vv = float(actual[m].sum()), float(expected[m].sum()), float(var[m].sum())
            zz = float(_deviance_z(np.array([a]), np.array([f]), np.array([vv]), sign)[0])
            return zz, sign * (a - f) / max(abs(f), 1e-12)

        def within(m_in: np.ndarray, m_out: np.ndarray) -> bool:
            w_in = float(vol[m_in].sum())
            return float(vol[m_in & m_out].sum()) >= (1.0 - self.equivalence) * w_in

        out: list[tuple[dict[int, int], float]] = []
        all_masks = [_mask(codes, e) for e, _ in picked]
        for i, (elem, score) in enumerate(picked):
            # Another chosen element nested with this one (a child found first, then the rest
            # of its parent) is the same cause, not evidence against generalising.
            others = np.zeros(codes.shape[0], dtype=bool)
            for j, m_other in enumerate(all_masks):
                mi = all_masks[i]
                if j != i and not within(mi, m_other) and not within(m_other, mi):
                    others |= m_other
            seen = {tuple(sorted(elem.items()))}
            for _ in range(2 * self.max_depth):  # bounded walk up the lattice
                m = _mask(codes, elem)
                w_e = float(vol[m].sum())
                if w_e <= 0:
                    break
                _, rel_e = stats(m & ~others)
                fold: tuple[int, dict[int, int]] | None = None
                best: tuple[float, dict[int, int]] | None = None
                for ci, inv in enumerate(inverses):  # one bincount per cuboid
                    if len(cuboids[ci]) > len(elem):
                        continue
                    mm = len(firsts[ci])
                    inside = np.bincount(inv, weights=np.where(m, vol, 0.0), minlength=mm)
                    whole = np.bincount(inv, weights=vol, minlength=mm)
                    for k in np.flatnonzero(inside >= (1.0 - self.equivalence) * w_e):
                        g = {j: int(codes[firsts[ci][k], j]) for j in cuboids[ci]}
                        key = tuple(sorted(g.items()))
                        if key in seen:
                            continue
                        if whole[k] <= (1.0 + self.equivalence) * w_e:
                            if len(g) < len(elem) and (fold is None or len(g) < fold[0]):
                                fold = (len(g), g)
                            continue
                        rest = (inv == k) & ~m & ~others
                        if not rest.any():
                            continue
                        z_rest, rel_rest = stats(rest)
                        if z_rest > self.parent_z and rel_rest >= self.parent_ratio * rel_e:
                            z_g, _ = stats((inv == k) & ~others)
                            if best is None or z_g > best[0]:
                                best = (z_g, g)
                new = fold[1] if fold is not None else (best[1] if best is not None else None)
                if new is None:
                    break
                elem = new
                seen.add(tuple(sorted(elem.items())))
            out.append((elem, score))
        # A cause inside another chosen cause is stated by the more general one alone.
        masks = [_mask(codes, e) for e, _ in out]
        keep = [
            not any(
                j != i and within(masks[i], masks[j]) and (not within(masks[j], masks[i]) or j < i)
                for j in range(len(out))
            )
            for i in range(len(out))
        ]
        return [o for o, k in zip(out, keep, strict=True) if k]

    def _evidence(
        self,
        cuboids: list[tuple[int, ...]],
        inverses: list[np.ndarray],
        firsts: list[np.ndarray],
        sign: float,
        actual: np.ndarray,
        expected: np.ndarray,
        var: np.ndarray,
    ) -> list[tuple[int, int, float]]:
        """Greedy search on aggregated evidence: (cuboid, element, z) of the chosen elements.

        Each element's score is the signed deviance residual of its summed actual ``A`` against
        its summed expectation ``F`` with variance ``V``:
        ``sign(A - F) sqrt(2 (A log(A / F) - (A - F)) F / V)`` (Poisson in units where the
        variance equals the mean; about ``(A - F) / sqrt(V)`` for large counts, and exact in
        the tail when a dozen events come where almost none were expected). ``z^2 / 2`` is the
        log-likelihood gain of giving the element its own rate. A parent dilutes the excess
        with normal leaves, a child leaves part of it out, so the element that holds the
        deviation and little else scores highest; ``depth_discount`` per extra attribute breaks
        near-ties towards the general element. Chosen leaves are removed before the next pick;
        picks stop below ``min_z`` or when an element holds less than ``min_share`` of the
        deviation. Each chosen element is then challenged: the same search with it banned
        replaces the set when its summed ``z^2`` is clearly larger (``split_gain``), which
        splits a general element that only held two separate causes.
        """
        total = float(np.clip(sign * (actual - expected), 0, None).sum()) or 1.0

        def greedy(banned: set[tuple[int, int]]) -> list[tuple[int, int, float]]:
            left = np.ones(len(actual), dtype=bool)
            out: list[tuple[int, int, float]] = []
            for _ in range(self.max_causes):
                pick = self._best(
                    cuboids, inverses, firsts, sign, actual, expected, var, left, total, banned
                )
                if pick is None:
                    break
                left &= inverses[pick[0]] != pick[1]
                out.append(pick)
            return out

        def score(sol: list[tuple[int, int, float]]) -> float:
            return sum(z * z for _, _, z in sol)

        # A general element can top the ranking only because it holds two separate causes
        # (their z-scores tie with its own); the set search without it then explains clearly
        # more (sum of z^2, the likelihood gain) and replaces it.
        best = greedy(set())
        for ci, k, _ in list(best):
            alt = greedy({(ci, k)})
            extra = max(len(alt) - len(best), 0) * self.min_z**2
            if score(alt) - score(best) > max(self.split_gain * score(best), extra):
                best = alt
        return best

    def _best(
        self,
        cuboids: list[tuple[int, ...]],
        inverses: list[np.ndarray],
        firsts: list[np.ndarray],
        sign: float,
        actual: np.ndarray,
        expected: np.ndarray,
        var: np.ndarray,
        left: np.ndarray,
        total: float,
        banned: set[tuple[int, int]],
    ) -> tuple[int, int, float] | None:
        """Best element over the leaves in ``left``: (cuboid, element, z), or None."""
        keep = np.where(left, 1.0, 0.0)
        best: tuple[float, float, int, int] | None = None
        for ci, inv in enumerate(inverses):  # one bincount per cuboid, all elements at once
            m = len(firsts[ci])
            a = np.bincount(inv, weights=keep * actual, minlength=m)
            f = np.bincount(inv, weights=keep * expected, minlength=m)
            vv = np.bincount(inv, weights=keep * var, minlength=m)
            x = sign * (a - f)
            zz = _deviance_z(a, f, vv, sign)
            obj = zz * (1.0 - self.depth_discount * (len(cuboids[ci]) - 1))
            obj = np.where(x >= self.min_share * total, obj, -np.inf)
            for bci, bk in banned:
                if bci == ci:
                    obj[bk] = -np.inf
            k = int(np.argmax(obj))
            if best is None or obj[k] > best[0]:
                best = (float(obj[k]), float(zz[k]), ci, k)
        if best is None or not np.isfinite(best[0]) or best[1] < self.min_z:
            return None
        return best[2], best[3], best[1]

    def explain(
        self,
        table: pa.Table,
        attributes: Sequence[str],
        *,
        real: str,
        predict: str,
        real_den: str | None = None,
        predict_den: str | None = None,
    ) -> Localization:
        """Find the root causes of the deviation in one window.

        Parameters
        ----------
        table : one row per leaf (attribute combination) with the attribute columns and the
            measure columns named below.
        attributes : attribute columns spanning the cube.
        real, predict : actual and forecast value (additive) or numerator (derived) per leaf.
        real_den, predict_den : actual and forecast denominator for a derived measure
            ``num / den``; leave both out for an additive measure.

        Returns
        -------
        Localization with causes ranked by the order they were chosen (largest first).
        """
        if (real_den is None) != (predict_den is None):
            raise DataError("give both real_den and predict_den for a derived measure, or neither")
        if not attributes:
            raise DataError("at least one attribute is needed")
        codes, values = _encode(table, attributes)
        v = _column(table, real)
        p = _column(table, predict)
        derived = real_den is not None
        c = _column(table, real_den) if real_den is not None else None
        pd_ = _column(table, predict_den) if predict_den is not None else None
        n = table.num_rows

        proportion = counted = False
        if c is not None and pd_ is not None:
            base = p.sum() / pd_.sum() if pd_.sum() > 0 else (v.sum() / max(c.sum(), 1.0))
            # Leaves with little history borrow strength from a main-effects model fitted to
            # the history (each attribute value's own rate), not from the flat cube rate: a
            # chronically slow app version must not look anomalous in every thin leaf.
            prior = base * _main_effects(codes, p, pd_, self.prior_iterations)
            if not self.main_effects:
                prior = np.full(n, base)
            rate = (p + self.prior_strength * prior) / (pd_ + self.prior_strength)
            counted = bool(np.all(c == np.round(c)))
            proportion = base <= 1.0 and float(np.max(v / np.maximum(c, 1e-12))) <= 1.0
            rate = np.clip(rate, 0.0, 1.0) if proportion else rate
            expected = c * rate
            # Per-unit variance read from the leaves' own residuals (robustly, so anomalies do
            # not inflate it): the whole variance of a continuous mean (play delay), and a floor
            # under the binomial one for shares of non-independent units (seconds of stalls).
            ok = c > 0
            unit = (v[ok] - expected[ok]) / np.sqrt(c[ok])
            sd = MAD_SCALE * float(np.median(np.abs(unit - np.median(unit)))) if ok.any() else 0
            var = c * max(sd, 1e-12) ** 2 + 1.0
            if proportion:
                binom = c * rate * np.clip(1.0 - rate, 0.0, 1.0) + 1.0
                # Counted units (integer denominators: sessions) are binomial; other units
                # (seconds) are not independent trials and keep the empirical floor.
                var = binom if counted else np.maximum(var, binom)
        else:
            if self.main_effects:
                fit = _main_effects(codes, p, np.ones(n), self.prior_iterations)
                fit *= p.mean() if n else 0.0
                # A leaf's count history is one noisy draw; average it with the fitted model.
                expected = (p + self.count_prior * fit) / (1.0 + self.count_prior)
            else:
                expected = p
            var = np.maximum(np.abs(expected), 1.0)
        # Aggregated evidence needs no floor per leaf: sparse counts add up.
        var_ev = var if derived else np.abs(expected) + (self.dispersion * expected) ** 2
        excess = v - expected
        total_dev = float(excess.sum())
        total_exp = float(expected.sum())
        total_act = float(v.sum())
        sign = 1.0 if total_dev >= 0 else -1.0
        sx = sign * excess
        z = sx / np.sqrt(var)
        rel = sx / np.maximum(np.abs(expected), 1.0)
        anom = (z > self.z_threshold) & (rel > self.min_relative)

        empty = Localization([], total_exp, total_act, total_dev, 0, tuple(attributes))
        if n == 0 or total_dev == 0:
            return empty
        cuboids, inverses, firsts = _cuboids(codes, self.max_depth)
        search = self.search
        if search == "auto":
            # Leaf labels need leaves big enough to tell from noise: a share of counted units
            # (integer denominators: sessions) with several units per leaf. Otherwise (sparse
            # leaves, counts, continuous means) only aggregated evidence can be trusted.
            dense = proportion and counted and float(np.median(np.asarray(c))) >= self.dense_leaf
            search = "labels" if dense else "evidence"
        refine = self.refine
        chosen: list[tuple[int, int, float]]
        if search == "evidence":
            # The cube's total deviation is a poor guide to the incident's direction when the
            # incident is small and the rest of the cube drifts the other way (a few dozen extra
            # exits in one slice, a hundred fewer elsewhere): take the direction whose best
            # element is the more significant.
            everywhere = np.ones(n, dtype=bool)
            z_dir = []
            for s_ in (sign, -sign):
                tot = float(np.clip(s_ * excess, 0, None).sum()) or 1.0
                pick = self._best(
                    cuboids, inverses, firsts, s_, v, expected, var_ev, everywhere, tot, set()
                )
                z_dir.append(pick[2] if pick is not None else -np.inf)
            if z_dir[1] > z_dir[0]:
                sign = -sign
                sx = sign * excess
                anom = (sx / np.sqrt(var) > self.z_threshold) & (
                    sx / np.maximum(np.abs(expected), 1.0) > self.min_relative
                )
            chosen = self._evidence(cuboids, inverses, firsts, sign, v, expected, var_ev)
            refine = False
        else:
            if not anom.any():
                return empty
            # Weights: anomalous leaves weigh their excess; normal ones what they would have added.
            w_pos = np.where(anom, sx, 0.0)
            if derived and c is not None:
                per_unit = w_pos.sum() / max(c[anom].sum(), 1e-12)
                w_neg = np.where(anom, 0.0, c * per_unit)
            else:
                lift = w_pos.sum() / max(np.abs(expected[anom]).sum(), 1e-12)
                w_neg = np.where(anom, 0.0, np.maximum(np.abs(expected), 1.0) * lift)
            w_neg = self.fp_weight * w_neg
            pos_total = w_pos.sum()

            covered = np.zeros(n, dtype=bool)
            tp = fp = 0.0
            best_f1 = 0.0
            chosen = []
            for _ in range(self.max_causes):
                best: tuple[float, float, int, int, float, float] | None = None
                up = np.where(covered, 0.0, w_pos)
                un = np.where(covered, 0.0, w_neg)
                # The preference for general elements scales with the deviation still unexplained.
                remaining = up.sum() / pos_total
                for ci, inv in enumerate(inverses):
                    m = len(firsts[ci])
                    add_tp = np.bincount(inv, weights=up, minlength=m)
                    add_fp = np.bincount(inv, weights=un, minlength=m)
                    new_tp = tp + add_tp
                    new_fp = fp + add_fp
                    f1 = 2 * new_tp / (2 * new_tp + new_fp + (pos_total - new_tp))
                    obj = f1 - self.depth_penalty * len(cuboids[ci]) * remaining
                    obj = np.where(add_tp > 0, obj, -np.inf)
                    k = int(np.argmax(obj))
                    if best is None or obj[k] > best[0]:
                        best = (
                            float(obj[k]),
                            float(f1[k]),
                            ci,
                            k,
                            float(new_tp[k]),
                            float(new_fp[k]),
                        )
                if best is None or not np.isfinite(best[0]):
                    break
                obj, f1v, ci, k, ntp, nfp = best
                gain = f1v - best_f1
                purity = (ntp - tp) / max(ntp - tp + nfp - fp, 1e-12)
                share = (ntp - tp) / pos_total
                clean = gain > 0 and purity >= self.min_precision and share >= self.min_share
                if chosen and gain < self.min_gain and not clean:
                    break
                covered |= inverses[ci] == k
                tp, fp, best_f1 = ntp, nfp, f1v
                chosen.append((ci, k, f1v))

        causes: list[RootCause] = []
        picked = [
            ({j: int(codes[firsts[ci][k], j]) for j in cuboids[ci]}, f1v) for ci, k, f1v in chosen
        ]
        if search == "evidence" and self.parsimony:
            vol = np.abs(expected) + np.abs(v)
            picked = self._generalise(
                picked, codes, cuboids, inverses, firsts, sign, v, expected, var_ev, vol
            )
        masks = [_mask(codes, e) for e, _ in picked]
        labels_seen: set[tuple[tuple[int, int], ...]] = set()
        for i, (elem, f1v) in enumerate(picked):
            if refine:
                others = np.zeros(n, dtype=bool)
                for j, m_other in enumerate(masks):
                    if j != i:
                        others |= m_other
                elem = self._refine(elem, codes, sx, var, expected, others)
            elem_key = tuple(sorted(elem.items()))
            if elem_key in labels_seen:
                continue  # two picks refined to the same element
            labels_seen.add(elem_key)
            mask = _mask(codes, elem)
            elements = {attributes[j]: str(values[j][code]) for j, code in sorted(elem.items())}
            if derived and c is not None:
                den = float(c[mask].sum())
                exp_v = float(expected[mask].sum() / den) if den > 0 else 0.0
                act_v = float(v[mask].sum() / den) if den > 0 else 0.0
                count = den
            else:
                exp_v = float(expected[mask].sum())
                act_v = float(v[mask].sum())
                count = act_v
            explained = float(excess[mask].sum() / total_dev) if total_dev != 0 else 0.0
            causes.append(RootCause(elements, explained, exp_v, act_v, count, int(mask.sum()), f1v))
        return Localization(
            causes, total_exp, total_act, total_dev, int(anom.sum()), tuple(attributes)
        )


def _cuboids(
    codes: np.ndarray, max_depth: int
) -> tuple[list[tuple[int, ...]], list[np.ndarray], list[np.ndarray]]:
    """Every cuboid up to ``max_depth`` attributes: its attributes, each leaf's element id in
    it, and one leaf of each element (one ``np.unique`` per cuboid)."""
    n, d = codes.shape
    radix = codes.max(axis=0) + 1
    cuboids: list[tuple[int, ...]] = []
    inverses: list[np.ndarray] = []
    firsts: list[np.ndarray] = []
    for depth in range(1, min(max_depth, d) + 1):
        for cub in itertools.combinations(range(d), depth):
            key = np.zeros(n, dtype=np.int64)
            for j in cub:
                key = key * radix[j] + codes[:, j]
            _, first, inv = np.unique(key, return_index=True, return_inverse=True)
            cuboids.append(cub)
            inverses.append(inv.ravel())
            firsts.append(first)
    return cuboids, inverses, firsts


def _main_effects(codes: np.ndarray, num: np.ndarray, den: np.ndarray, iters: int) -> np.ndarray:
    """Per-leaf relative rate of a multiplicative main-effects model fitted to the history.

    ``num / den ~ base * prod_j a_j[value_j]``, fitted by iterative proportional fitting (each
    attribute value's fitted total matched to its observed total in turn), so correlated
    attributes (``os`` and ``device_type``) do not count the same effect twice. Returns
    ``prod_j a_j`` per leaf (1 for the cube's average leaf).
    """
    n, d = codes.shape
    base = num.sum() / den.sum() if den.sum() > 0 else 0.0
    rel = np.ones(n)
    if base <= 0 or n == 0:
        return rel
    for _ in range(iters):  # a few sweeps, each vectorised over leaves and values
        for j in range(d):
            m = int(codes[:, j].max()) + 1
            obs = np.bincount(codes[:, j], weights=num, minlength=m)
            fit = np.bincount(codes[:, j], weights=base * den * rel, minlength=m)
            # Values without history (fit 0) keep factor 1; shrink factors of tiny values.
            factor = (obs + base) / (fit + base)
            rel = rel * factor[codes[:, j]]
    return rel


def _deviance_z(a: np.ndarray, f: np.ndarray, vv: np.ndarray, sign: float) -> np.ndarray:
    """Signed deviance residual of summed actual ``a`` vs expected ``f`` with variance ``vv``
    (see :meth:`RootCauseLocalizer._evidence`)."""
    x = sign * (a - f)
    f = np.maximum(np.abs(f), 1e-12)
    a = np.maximum(a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * (np.where(a > 0, a * np.log(a / f), 0.0) - (a - f))
    return np.sign(x) * np.sqrt(np.maximum(dev, 0.0) * f / np.maximum(vv, 1e-12))


def _mask(codes: np.ndarray, elem: dict[int, int]) -> np.ndarray:
    """Leaves under an element (attribute index -> value code)."""
    mask = np.ones(codes.shape[0], dtype=bool)
    for j, v in elem.items():
        mask &= codes[:, j] == v
    return mask


def window_forecast(
    table: pa.Table,
    attributes: Sequence[str],
    measures: Sequence[str],
    *,
    time_column: str,
    at: int,
    periods: int = 4,
    step: int = 60,
    how: str = "mean",
) -> pa.Table:
    """Per-leaf actual and forecast values for one window, from the previous windows.

    Parameters
    ----------
    table : rows of (time, attributes..., measures...), one per leaf and time bucket.
    attributes : attribute columns spanning the cube.
    measures : additive measure columns to forecast.
    time_column : integer time bucket column (e.g. epoch seconds of the minute).
    at : the window to explain.
    periods, step : forecast from buckets ``at - step * 1 .. at - step * periods``.
    how : ``mean`` (the RiskLoc convention: mean over the buckets where the leaf appears) or
        ``median`` (robust to the anomaly starting a bucket early).

    Returns
    -------
    pa.Table with the attributes and ``<m>_real``, ``<m>_predict`` for each measure, one row per
    leaf seen now or in the history (absent values are 0).
    """
    if how not in ("mean", "median"):
        raise DataError(f"how must be 'mean' or 'median', not {how!r}")
    for name in (time_column, *attributes, *measures):
        if name not in table.column_names:
            raise MissingColumnError(f"column {name!r} not in {table.column_names}")
    t = np.asarray(pc.cast(table.column(time_column), pa.int64()).to_numpy(zero_copy_only=False))
    offset = at - t
    period = np.where(offset % step == 0, offset // step, -1)
    keep = (period >= 0) & (period <= periods)
    sub = table.filter(pa.array(keep))
    period = period[keep]
    codes, values = _encode(sub, attributes)
    uniq, first, inv = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    m = len(uniq)
    cell = inv * (periods + 1) + period
    present = np.bincount(cell, minlength=m * (periods + 1)).reshape(m, periods + 1) > 0
    out: dict[str, pa.Array] = {
        name: sub.column(name).take(pa.array(first)).combine_chunks() for name in attributes
    }
    for name in measures:
        x = _column(sub, name)
        dense = np.bincount(cell, weights=x, minlength=m * (periods + 1)).reshape(m, periods + 1)
        hist = np.where(present[:, 1:], dense[:, 1:], np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pred = np.nanmean(hist, axis=1) if how == "mean" else np.nanmedian(hist, axis=1)
        out[f"{name}_real"] = pa.array(dense[:, 0])
        out[f"{name}_predict"] = pa.array(np.nan_to_num(pred, nan=0.0))
    del values
    return pa.table(out)
