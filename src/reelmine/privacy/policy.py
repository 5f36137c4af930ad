"""Who may see what: role checks and the list of identifying columns.

Roles come from the API key store (``service``, ``analyst``, ``admin``). Only ``admin`` may
group or filter by a column that identifies a member, a device or a session, read the audit
log, erase members or rotate keys; everyone else gets a :class:`PrivacyError` naming the rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from reelmine.errors import PrivacyError

ROLES = ("service", "analyst", "admin")
# Columns whose values name one member, device, profile, network or session: a group-by on
# them lists members (one cell per person), so it is refused for non-admin roles.
IDENTIFYING_COLUMNS = frozenset(
    {
        "user_id",
        "profile_id",
        "device_id",
        "email",
        "zip_code",
        "ip",
        "ip_hash",
        "ip_net_hash",
        "play_id",
        "login_id",
        "event_id",
        "browse_session_id",
        "user_agent",
    }
)


def is_identifying(column: str) -> bool:
    """True for a column that identifies a member, device, profile, session or address."""
    name = column.lower()
    return name in IDENTIFYING_COLUMNS or name.endswith("_hash") or name.startswith("ip_")


def check_role(role: str) -> str:
    """Validate a role name; returns it."""
    if role not in ROLES:
        raise PrivacyError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role


def require_role(role: str, needed: str, action: str) -> None:
    """Refuse ``action`` unless ``role`` is ``needed`` or ``admin``.

    Raises
    ------
    PrivacyError
        Naming the action and the role it needs.
    """
    check_role(role)
    if role != needed and role != "admin":
        raise PrivacyError(f"refused: {action} needs role {needed!r}; this key has role {role!r}")


def check_group_by(columns: Iterable[str], role: str) -> list[str]:
    """Refuse a group-by on identifying columns unless ``role`` is ``admin``.

    Returns the columns as a list so callers can use the checked value.
    """
    cols = list(columns)
    check_role(role)
    bad = [c for c in cols if is_identifying(c)]
    if bad and role != "admin":
        raise PrivacyError(
            f"refused: grouping by {', '.join(bad)} would list individual members, devices or "
            f"sessions; only role 'admin' may do that (this key has role {role!r}). Group by a "
            "coarser attribute such as country, device_type or plan instead."
        )
    return cols
