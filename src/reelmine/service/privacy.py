"""Privacy use cases shared by the CLI, the API and the dashboard.

Wiring for every aggregate path is one call: :func:`gate` (policy check on the group-by,
minimum group size with complementary suppression, an audit entry). Other use cases:
:func:`release` (a DP release charged to the caller's budget), :func:`erase_user`
(``DELETE /v1/users/{user_id}``), :func:`rotate_key`, :func:`budget`, :func:`set_budget`,
:func:`audit_log` and :func:`record_export`.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from reelmine.data.keystore import KeyStore
from reelmine.data.warehouse import Warehouse
from reelmine.errors import PrivacyError
from reelmine.privacy import audit, budget, erasure, keys
from reelmine.privacy import gate as gate_mod
from reelmine.privacy.policy import check_group_by, check_role, require_role
from reelmine.privacy.query import Query, parse_query
from reelmine.settings import Settings

if TYPE_CHECKING:  # OpenDP is imported only when a DP release runs
    from reelmine.privacy.dp import Bounds

DEFAULT_DELTA = 1e-6  # same as reelmine.privacy.dp.DEFAULT_DELTA


@dataclass(frozen=True)
class Actor:
    """Who is asking: an API key id (or ``local:<user>``) and its role."""

    key_id: str
    role: str

    def __post_init__(self) -> None:
        check_role(self.role)


def local_actor() -> Actor:
    """The operator at the command line: they own the files, so they act as ``admin``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"local:{user}", "admin")


def actor_from_key(settings: Settings, api_key: str) -> Actor:
    """The actor of an API key (verified against the key store)."""
    rec = KeyStore(settings.artifacts).verify(api_key)
    if rec is None:
        raise PrivacyError("refused: the API key is unknown, malformed or revoked")
    return Actor(rec.key_id, rec.role)


def gate(
    settings: Settings,
    table: pa.Table,
    *,
    group_by: list[str],
    actor: Actor | None = None,
    what: str = "aggregate",
    members: str = "members",
    k: int | None = None,
    totals: bool = True,
) -> pa.Table:
    """Release an aggregate table through the gate: role policy, suppression, audit entry.

    Parameters
    ----------
    table : one row per cell with a distinct-members column (``members``).
    group_by : its group-by columns (refused if identifying, unless the actor is admin).
    actor : who asks; ``None`` = the local operator.
    what : short description for the audit log (e.g. the route path or CLI command).
    """
    actor = actor or local_actor()
    check_group_by(group_by, actor.role)
    out = gate_mod.release(
        table, group_by=group_by, k=k, totals=totals, members=members, settings=settings
    )
    n_supp = int(sum(out[gate_mod.SUPPRESSED].to_pylist()))
    audit.record(
        settings,
        actor=actor.key_id,
        role=actor.role,
        action="query",
        what=what,
        group_by=list(group_by),
        cells=out.num_rows,
        suppressed=n_supp,
    )
    return out


@dataclass
class ReleaseResult:
    """A DP release with its query, budget state and result table."""

    query: Query
    epsilon: float
    delta: float
    table: pa.Table
    budget: budget.BudgetState
    bounds: Bounds


def release(
    settings: Settings,
    query: str,
    *,
    epsilon: float,
    actor: Actor | None = None,
    rows_per_member: int = 1,
    groups_per_member: int = 1,
    delta: float = DEFAULT_DELTA,
    public_keys: bool = False,
) -> ReleaseResult:
    """Run a DP release query (see :mod:`reelmine.privacy.query`), charged to the actor's budget.

    Raises
    ------
    PrivacyError
        Group-by on identifying columns for non-admins, or the budget would be exceeded.
    """
    from reelmine.privacy.dp import Bounds, dp_release

    actor = actor or local_actor()
    require_role(actor.role, "analyst", "a DP release")
    q = parse_query(query)
    check_group_by(q.group_by, actor.role)
    bounds = Bounds(
        rows_per_member=q.rows_per_member or rows_per_member,
        groups_per_member=q.groups_per_member or groups_per_member,
    )
    cols = ["user_id", *q.group_by, *([q.value] if q.value else [])]
    with Warehouse.open(settings, read_only=True) as wh:
        data = wh.table(q.table, columns=list(dict.fromkeys(cols)))
    state = budget.spend(settings, actor.key_id, epsilon, query)
    result = dp_release(
        data,
        statistic=q.statistic,
        epsilon=epsilon,
        group_by=q.group_by,
        value=q.value,
        bounds=bounds,
        clamp=q.clamp,
        quantile=q.quantile,
        bins=q.bins,
        delta=delta,
        public_keys=public_keys,
    )
    audit.record(
        settings,
        actor=actor.key_id,
        role=actor.role,
        action="release",
        what=query,
        epsilon=epsilon,
        groups=result.num_rows,
    )
    return ReleaseResult(q, epsilon, delta, result, state, bounds)


def erase_user(
    settings: Settings, user_id: str, *, actor: Actor | None = None, is_pseudonym: bool = False
) -> erasure.ErasureReport:
    """Erase a member (raw ID, or pseudonym with ``is_pseudonym``) everywhere; admin only.

    The API's ``DELETE /v1/users/{user_id}`` calls this and answers
    ``Erased(user_id=user_id, rows_deleted=report.rows_deleted)``.
    """
    actor = actor or local_actor()
    require_role(actor.role, "admin", "erasing a member")
    report = erasure.erase_member(settings, user_id, actor=actor.key_id, is_pseudonym=is_pseudonym)
    audit.record(
        settings,
        actor=actor.key_id,
        role=actor.role,
        action="erase",
        what="one member (pseudonym kept only in the erasure log)",
        rows=report.total_rows,
        files=len(report.files),
    )
    return report


def rotate_key(settings: Settings, *, actor: Actor | None = None) -> keys.RotationReport:
    """Rotate the pseudonymisation key and re-pseudonymise everything; admin only."""
    actor = actor or local_actor()
    require_role(actor.role, "admin", "rotating the pseudonymisation key")
    report = keys.rotate_key(settings)
    audit.record(
        settings,
        actor=actor.key_id,
        role=actor.role,
        action="rotate-key",
        what=f"version {report.version}",
        rows=sum(report.rows_after.values()),
    )
    return report


def budget_status(settings: Settings, *, actor: Actor | None = None) -> list[budget.BudgetState]:
    """Budgets: an admin sees every key, anyone else only their own."""
    actor = actor or local_actor()
    if actor.role == "admin":
        return budget.all_states(settings)
    return [budget.state(settings, actor.key_id)]


def set_budget(
    settings: Settings, key_id: str, limit: float, *, actor: Actor | None = None
) -> budget.BudgetState:
    """Set a key's total epsilon; admin only."""
    actor = actor or local_actor()
    require_role(actor.role, "admin", "changing a privacy budget")
    st = budget.set_limit(settings, key_id, limit, actor=actor.key_id)
    audit.record(
        settings, actor=actor.key_id, role=actor.role, action="budget", what=key_id, limit=limit
    )
    return st


def audit_log(
    settings: Settings, *, actor: Actor | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Audit entries, oldest first; admin only."""
    actor = actor or local_actor()
    return audit.read(settings, role=actor.role, limit=limit)


def record_export(
    settings: Settings, path: str | Path, *, actor: Actor | None = None, what: str = "export"
) -> None:
    """Log an export (erasure and key rotation then rewrite the files it wrote)."""
    actor = actor or local_actor()
    audit.record(
        settings,
        actor=actor.key_id,
        role=actor.role,
        action="export",
        what=what,
        path=str(Path(path).resolve()),
    )
