"""Privacy use cases shared by the CLI, the API and the dashboard.

Wiring for every aggregate path is one call: :func:`release_table` (policy check on the
group-by, minimum group size with complementary suppression, an audit entry), used alike by
the CLI, the API and the dashboard; :func:`gate` is its core without the label handling.
Member-level output (fraud flags, churn scores, segment ID lists) passes :func:`release_rows`:
an explicit opt-in, admin only, audited. :func:`export_tables` is ``reelmine export``: what the
policy allows by default (catalogue tables, gated daily aggregates) or, on an admin's explicit
``raw`` opt-in, the pseudonymised tables, recorded for erasure. Other use cases:
:func:`release` (a DP release charged to the caller's budget), :func:`erase_user`
(``DELETE /v1/users/{user_id}``), :func:`rotate_key`, :func:`budget`, :func:`set_budget`,
:func:`audit_log` and :func:`record_export`.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.keystore import KeyStore
from reelmine.data.schema import TABLES
from reelmine.data.warehouse import Warehouse, quote_ident
from reelmine.errors import PrivacyError
from reelmine.privacy import audit, budget, erasure, keys
from reelmine.privacy import gate as gate_mod
from reelmine.privacy.policy import check_group_by, check_role, is_identifying, require_role
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


HIDDEN = "(suppressed)"  # what a suppressed free-text group value (e.g. a search) becomes


def release_table(
    settings: Settings,
    table: pa.Table,
    *,
    group_by: Sequence[str],
    actor: Actor | None = None,
    what: str = "aggregate",
    members: str | Sequence[str] = gate_mod.MEMBERS,
    totals: bool = True,
    labels: Sequence[str] = (),
    hide: Sequence[str] = (),
    k: int | None = None,
) -> pa.Table:
    """Release an aggregate table from any face (CLI, API, dashboard, export) through the gate.

    Parameters
    ----------
    table : one row per cell, with a distinct-members count.
    group_by : the columns that identify a cell (kept in suppressed rows; refused when
        identifying, unless the actor is admin).
    actor : who asks; ``None`` = the local operator (admin).
    what : short description for the audit log (route path or CLI command).
    members : the distinct-members column, or several columns whose element-wise minimum is
        the count (a row describing members and a subset of them, e.g. active members).
    totals : complementary suppression (see :func:`reelmine.privacy.gate.release`).
    labels : descriptive columns of the cell (e.g. a title's name next to its id): restored in
        suppressed rows, but not used to form lines for complementary suppression.
    hide : group-by columns whose values are free text that may itself identify a member
        (e.g. a search query): replaced by ``"(suppressed)"`` in suppressed rows.
    k : minimum group size; default ``settings.min_group_size``.

    Returns
    -------
    The same rows in the same order with ``suppressed`` (bool) and ``suppression`` (reason);
    every other non-group, non-label column is null in suppressed rows (never zero).
    """
    count = members
    if not isinstance(members, str):
        cols = list(members)
        count = "__gate_members"
        m = table[cols[0]]
        for c in cols[1:]:
            m = pc.min_element_wise(m, table[c])
        table = table.append_column(count, m)
    out = gate(
        settings,
        table,
        group_by=list(group_by),
        actor=actor,
        what=what,
        members=str(count),
        k=k,
        totals=totals,
    )
    if count != members:
        out = out.drop_columns([str(count)])
    mask = out[gate_mod.SUPPRESSED]
    for name in labels:
        if name in table.column_names and name not in group_by:
            out = out.set_column(out.column_names.index(name), name, table[name])
    for name in hide:
        if name in out.column_names:
            col = pc.cast(out[name], pa.string())
            out = out.set_column(
                out.column_names.index(name), name, pc.if_else(mask, pa.scalar(HIDDEN), col)
            )
    return out


def release_rows(
    settings: Settings,
    table: pa.Table,
    *,
    what: str,
    opt_in: bool,
    actor: Actor | None = None,
    flag: str = "--row-level",
) -> pa.Table:
    """Release member-level rows (one row per member or account): explicit, admin, audited.

    Parameters
    ----------
    table : the rows (keyed by pseudonym, or by the raw IDs the caller gave).
    what : the command or route, for the refusal message and the audit log.
    opt_in : the caller asked for member-level output on purpose (the CLI's ``--row-level``).
    actor : who asks; ``None`` = the local operator (admin).
    flag : how the caller opts in, named in the refusal message.

    Raises
    ------
    PrivacyError
        Without ``opt_in``, or for a role other than ``admin``.
    """
    _member_level(settings, actor, what=what, opt_in=opt_in, flag=flag, rows=table.num_rows)
    return table


def _member_level(
    settings: Settings, actor: Actor | None, *, what: str, opt_in: bool, flag: str, rows: int
) -> Actor:
    """Refuse member-level output without the opt-in or for a non-admin; audit it."""
    actor = actor or local_actor()
    if not opt_in:
        raise PrivacyError(
            f"refused: {what} lists individual members; add {flag} to confirm that you mean to "
            "(admin only, written to the audit log), or use the gated aggregate commands"
        )
    require_role(actor.role, "admin", f"member-level output ({what})")
    audit.record(
        settings, actor=actor.key_id, role=actor.role, action="row-level", what=what, rows=rows
    )
    return actor


def serve_members(
    settings: Settings, n_members: int, *, what: str, actor: Actor | None = None
) -> None:
    """Allow per-member serving output (recommendations, home rows, predictions for members
    the caller names by raw ID): role ``service`` or ``admin``, as in the API; audited.

    Raises
    ------
    PrivacyError
        For role ``analyst``.
    """
    actor = actor or local_actor()
    require_role(actor.role, "service", f"per-member recommendations ({what})")
    audit.record(
        settings, actor=actor.key_id, role=actor.role, action="serve", what=what, members=n_members
    )


@dataclass
class ExportPlan:
    """What ``reelmine export`` writes: file stem -> table, and what it left out and why."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    raw: bool = False


def _member_table(columns: Sequence[str]) -> bool:
    return any(is_identifying(c) for c in columns)


def _time_column(name: str, columns: Sequence[str]) -> str | None:
    spec = TABLES.get(name)
    if spec is None:
        return None
    return next((c.name for c in spec.columns if c.type == "timestamp" and c.name in columns), None)


def export_tables(
    settings: Settings,
    tables: Sequence[str] | None = None,
    *,
    actor: Actor | None = None,
) -> ExportPlan:
    """The tables ``reelmine export`` may write by default, as Arrow tables.

    * a contract table with no identifying column (the catalogue, ``titles``): as stored;
    * a contract table about members: its gated daily aggregate ``<table>_daily`` (``day``,
      ``rows``, ``members``; days under ``k`` members suppressed, with complementary
      suppression, since the table's total may be published);
    * anything else (quarantine, logs, derived tables): left out, named in ``skipped``.

    Member-level tables leave only through :func:`export_raw`.
    """
    actor = actor or local_actor()
    plan = ExportPlan()
    with Warehouse.open(settings, read_only=True) as wh:
        present = wh.tables()
        names = list(tables) if tables else [t for t in TABLES if t in present]
        for name in names:
            if name not in present:
                plan.skipped[name] = "not in the warehouse"
                continue
            cols = wh.columns(name)
            if name not in TABLES:
                plan.skipped[name] = "not a contract table; only with --raw (admin)"
                continue
            if not _member_table(cols):
                plan.tables[name] = wh.table(name)
                continue
            time_col = _time_column(name, cols)
            if time_col is None or "user_id" not in cols:
                plan.skipped[name] = "member-level with no time column; only with --raw (admin)"
                continue
            t, u = quote_ident(time_col), quote_ident("user_id")
            daily = wh.query(
                f"SELECT CAST({t} AS DATE) AS day, COUNT(*) AS rows, "
                f"COUNT(DISTINCT {u}) AS members FROM {quote_ident(name)} "
                f"WHERE {t} IS NOT NULL GROUP BY 1 ORDER BY 1"
            )
            plan.tables[f"{name}_daily"] = release_table(
                settings, daily, group_by=["day"], actor=actor, what=f"export {name}_daily"
            )
    return plan


def export_raw(
    settings: Settings,
    out_dir: str | Path,
    tables: Sequence[str] | None = None,
    *,
    opt_in: bool,
    actor: Actor | None = None,
) -> dict[str, Path]:
    """Export the stored (pseudonymised) tables as Parquet: explicit, admin only, audited.

    Raw IDs are never stored, so none can leave; the files are recorded so that erasure and
    key rotation rewrite them.

    Raises
    ------
    PrivacyError
        Without ``opt_in`` or for a non-admin role.
    """
    from reelmine.service.ingest import export

    actor = _member_level(
        settings, actor, what="reelmine export --raw", opt_in=opt_in, flag="--raw", rows=0
    )
    written = export(settings, Path(out_dir), list(tables) if tables else None)
    for name, path in written.items():
        record_export(settings, path, actor=actor, what=f"raw export {name}")
    return written


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
