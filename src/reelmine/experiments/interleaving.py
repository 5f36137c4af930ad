"""Team-draft interleaving: compare two rankers on the same members, with a sign test.

Team draft (Radlinski, Kurup & Joachims, 2008): two "teams" pick in turns to fill a list of
``k`` slots; the team with fewer picks goes next, a coin decides ties; each team adds its
highest-ranked item not yet in the list. Every click is credited to the team that placed the
item. A member prefers ranker A when A's items got more clicks; over members, the share of
A-preferences among non-tied members is tested against 1/2 (sign test).

Because each member compares both rankers at once, between-member variance (heavy viewers
click more on everything) cancels, which is why interleaving needs far fewer members than an
A/B test of the same two rankers; :func:`power_comparison` measures that on simulated members.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from reelmine.errors import DataError
from reelmine.experiments.stats import welch_from_moments

TEAM_A, TEAM_B = 0, 1


def _check_rankings(ranking_a: object, ranking_b: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(ranking_a)
    b = np.asarray(ranking_b)
    if a.ndim != 2 or a.shape != b.shape:
        raise DataError(f"rankings must be two (n_members, L) arrays, got {a.shape} and {b.shape}")
    if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)):
        raise DataError("rankings must hold integer item codes")
    if not 1 <= k <= a.shape[1]:
        raise DataError(f"k must be in [1, {a.shape[1]}], got {k}")
    for name, r in (("ranking_a", a), ("ranking_b", b)):
        s = np.sort(r, axis=1)
        if (s[:, 1:] == s[:, :-1]).any():
            raise DataError("each member's ranking must list distinct items", column=name)
    return a, b


def team_draft_interleave(
    ranking_a: object,
    ranking_b: object,
    *,
    k: int,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleave two rankings per member by team draft.

    Parameters
    ----------
    ranking_a, ranking_b : ``(n_members, L)`` item codes, best first, distinct per row.
    k : length of the interleaved list (``<= L``).
    random_state : seed or generator for the coin flips.

    Returns
    -------
    items : ``(n_members, k)`` interleaved item codes.
    teams : ``(n_members, k)`` ``0`` where ranker A placed the item, ``1`` for ranker B.
    """
    a, b = _check_rankings(ranking_a, ranking_b, k)
    rng = np.random.default_rng(random_state)
    n = a.shape[0]
    rows = np.arange(n)
    items = np.full((n, k), -1, dtype=a.dtype)
    teams = np.zeros((n, k), dtype=np.int8)
    ptr = np.zeros((2, n), dtype=np.int64)
    count = np.zeros((2, n), dtype=np.int64)
    rankings = (a, b)
    # Loops run over list slots (k) and skip steps, never over members.
    for slot in range(k):
        coin = rng.random(n) < 0.5
        turn_b = (count[1] < count[0]) | ((count[0] == count[1]) & coin)
        team = turn_b.astype(np.int8)
        picked = np.empty(n, dtype=a.dtype)
        for t in (TEAM_A, TEAM_B):
            who = rows[team == t]
            r = rankings[t]
            while who.size:
                cand = r[who, ptr[t, who]]
                taken = (items[who, :slot] == cand[:, None]).any(axis=1)
                picked[who[~taken]] = cand[~taken]
                ptr[t, who] += 1
                who = who[taken]
        items[:, slot] = picked
        teams[:, slot] = team
        count[team, rows] += 1
    return items, teams


@dataclass(frozen=True)
class InterleavingResult:
    """Member-level preferences and the sign test.

    ``delta`` is ``(wins_a - wins_b) / n_members`` (Chapelle et al., 2012): positive when A is
    preferred. ``p_value`` is the two-sided sign test over the non-tied members.
    """

    wins_a: int
    wins_b: int
    ties: int
    delta: float
    p_value: float


def sign_test_p(wins_a: object, wins_b: object) -> np.ndarray | float:
    """Two-sided sign test ``P`` for ``wins_a`` successes in ``wins_a + wins_b`` fair trials.

    Vectorised; equals ``scipy.stats.binomtest(wins_a, wins_a + wins_b).pvalue``.
    """
    wa = np.asarray(wins_a, dtype=np.int64)
    n = wa + np.asarray(wins_b, dtype=np.int64)
    lo = np.minimum(wa, n - wa)
    p = np.minimum(1.0, 2.0 * sps.binom.cdf(lo, n, 0.5))
    p = np.where(n == 0, 1.0, p)
    return float(p) if p.ndim == 0 else p


def member_preferences(teams: object, clicks: object) -> np.ndarray:
    """Per member ``+1`` (A preferred), ``-1`` (B) or ``0`` (tie) from clicks ``(n, k)``."""
    t = np.asarray(teams)
    c = np.asarray(clicks, dtype=bool)
    if t.shape != c.shape:
        raise DataError(f"clicks {c.shape} must match the interleaved lists {t.shape}")
    return np.sign((c & (t == TEAM_A)).sum(axis=-1) - (c & (t == TEAM_B)).sum(axis=-1))


def interleaving_test(teams: object, clicks: object) -> InterleavingResult:
    """Credit clicks to teams and run the sign test.

    Parameters
    ----------
    teams : ``(n_members, k)`` team of each slot, from :func:`team_draft_interleave`.
    clicks : ``(n_members, k)`` booleans, True where the member clicked (or played) the slot.
    """
    pref = member_preferences(teams, clicks)
    wa, wb = int((pref > 0).sum()), int((pref < 0).sum())
    n = pref.size
    return InterleavingResult(
        wins_a=wa,
        wins_b=wb,
        ties=n - wa - wb,
        delta=(wa - wb) / n if n else 0.0,
        p_value=float(sign_test_p(wa, wb)),
    )


@dataclass(frozen=True)
class PowerComparison:
    """Share of simulated experiments that detect the difference, by design."""

    power_interleaving: float
    power_ab: float
    n_members: int
    n_sims: int


def _clicks(
    relevance: np.ndarray,
    members: np.ndarray,
    items: np.ndarray,
    examination: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    # Position-based click model: P(click) = P(examine slot) x P(attractive | examined).
    p = relevance[members[..., None], items] * examination
    return rng.random(p.shape) < p


def power_comparison(
    relevance: object,
    ranking_a: object,
    ranking_b: object,
    *,
    k: int = 10,
    n_members: int = 500,
    n_sims: int = 200,
    examination: object | None = None,
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> PowerComparison:
    """Power of team-draft interleaving vs an A/B test on the same simulated members.

    Each simulated experiment draws ``n_members`` members from the pool. Interleaving shows
    everyone the interleaved list and runs the sign test; the A/B test splits the same
    members in half, shows each half one ranker's top ``k`` and compares clicks per member
    with Welch's test.

    Parameters
    ----------
    relevance : ``(n_pool, n_items)`` probability a member clicks an item once examined.
    ranking_a, ranking_b : ``(n_pool, L)`` each ranker's list for every pool member.
    k : list length shown.
    n_members : members per simulated experiment.
    n_sims : simulated experiments.
    examination : ``(k,)`` probability of examining each slot; ``1 / (1 + j)`` by default.
    alpha : significance level of both tests.
    random_state : seed or generator.
    """
    rel = np.asarray(relevance, dtype=np.float64)
    a, b = _check_rankings(ranking_a, ranking_b, k)
    if rel.ndim != 2 or rel.shape[0] != a.shape[0]:
        raise DataError(f"relevance must be (n_pool={a.shape[0]}, n_items), got {rel.shape}")
    if n_members < 4 or n_sims < 1:
        raise DataError("need at least 4 members and 1 simulation")
    exam = 1.0 / (1.0 + np.arange(k)) if examination is None else np.asarray(examination, float)
    if exam.shape != (k,):
        raise DataError(f"examination must have k={k} entries, got {exam.shape}")
    rng = np.random.default_rng(random_state)
    members = rng.integers(0, rel.shape[0], (n_sims, n_members))
    flat = members.reshape(-1)
    items, teams = team_draft_interleave(a[flat], b[flat], k=k, random_state=rng)
    clicks = _clicks(rel, flat, items, exam, rng).reshape(n_sims, n_members, k)
    pref = member_preferences(teams.reshape(n_sims, n_members, k), clicks)
    p_il = sign_test_p((pref > 0).sum(axis=1), (pref < 0).sum(axis=1))
    # A/B on the same members: a random half sees A, the other half B.
    half = n_members // 2
    order = rng.permutation(n_members)
    in_a, in_b = members[:, order[:half]], members[:, order[half:]]
    clicks_a = _clicks(rel, in_a, a[in_a][..., :k], exam, rng).sum(axis=-1).astype(float)
    clicks_b = _clicks(rel, in_b, b[in_b][..., :k], exam, rng).sum(axis=-1).astype(float)
    ab = welch_from_moments(
        clicks_a.mean(axis=1),
        clicks_a.var(axis=1, ddof=1),
        half,
        clicks_b.mean(axis=1),
        clicks_b.var(axis=1, ddof=1),
        n_members - half,
        alpha=alpha,
    )
    p_ab = np.nan_to_num(np.asarray(ab.p_value), nan=1.0)
    return PowerComparison(
        power_interleaving=float((np.asarray(p_il) < alpha).mean()),
        power_ab=float((p_ab < alpha).mean()),
        n_members=n_members,
        n_sims=n_sims,
    )
