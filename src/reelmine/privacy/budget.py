"""Privacy-budget ledger: epsilon spent per analyst key, persisted, checked before spending.

Each release appends ``{at, key_id, epsilon, query}`` to ``budget.jsonl`` under an exclusive
lock, after checking that ``spent + epsilon <= limit``; a limit change appends
``{at, key_id, limit, actor}``. The ledger is the file, so it survives restarts and is shared
by every process (CLI, API workers).
"""

from __future__ import annotations

from dataclasses import dataclass

from reelmine.data.privacy_store import BUDGET_FILE, log, now_iso
from reelmine.errors import PrivacyError
from reelmine.settings import Settings

DEFAULT_LIMIT = 10.0  # total epsilon per key unless an admin sets another limit


@dataclass(frozen=True)
class BudgetState:
    """Epsilon limit, spent and left for one key."""

    key_id: str
    limit: float
    spent: float
    releases: int

    @property
    def left(self) -> float:
        return max(self.limit - self.spent, 0.0)


def _state(records: list[dict[str, object]], key_id: str) -> BudgetState:
    limit, spent, n = DEFAULT_LIMIT, 0.0, 0
    for r in records:
        if r.get("key_id") != key_id:
            continue
        if "limit" in r:
            limit = float(r["limit"])  # type: ignore[arg-type]
        if "epsilon" in r:
            spent += float(r["epsilon"])  # type: ignore[arg-type]
            n += 1
    return BudgetState(key_id, limit, spent, n)


def state(settings: Settings, key_id: str) -> BudgetState:
    """Budget of one key."""
    return _state(log(settings, BUDGET_FILE).read(), key_id)


def all_states(settings: Settings) -> list[BudgetState]:
    """Budget of every key that has a ledger entry."""
    records = log(settings, BUDGET_FILE).read()
    keys = sorted({str(r["key_id"]) for r in records if "key_id" in r})
    return [_state(records, k) for k in keys]


def spend(settings: Settings, key_id: str, epsilon: float, query: str) -> BudgetState:
    """Charge ``epsilon`` to ``key_id`` or refuse when it would exceed the key's limit.

    Raises
    ------
    PrivacyError
        When ``spent + epsilon > limit``; nothing is charged then.
    """
    if not epsilon > 0:
        raise PrivacyError(f"epsilon must be positive, got {epsilon}")
    with log(settings, BUDGET_FILE).locked() as (records, append):
        st = _state(records, key_id)
        if st.spent + epsilon > st.limit + 1e-12:
            raise PrivacyError(
                f"refused: privacy budget exceeded for key {key_id}: this release needs "
                f"epsilon {epsilon:g} but only {st.left:g} of {st.limit:g} is left "
                f"({st.spent:g} spent over {st.releases} releases). Ask an admin to raise the "
                "limit, or use a smaller epsilon."
            )
        append({"at": now_iso(), "key_id": key_id, "epsilon": float(epsilon), "query": query})
        return BudgetState(key_id, st.limit, st.spent + epsilon, st.releases + 1)


def set_limit(settings: Settings, key_id: str, limit: float, *, actor: str) -> BudgetState:
    """Set the total epsilon a key may spend (admin)."""
    if not limit >= 0:
        raise PrivacyError(f"a budget limit must be >= 0, got {limit}")
    with log(settings, BUDGET_FILE).locked() as (records, append):
        append({"at": now_iso(), "key_id": key_id, "limit": float(limit), "actor": actor})
        st = _state(records, key_id)
        return BudgetState(key_id, float(limit), st.spent, st.releases)
