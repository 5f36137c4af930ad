"""Privacy: the release gate, differential privacy, budgets, erasure, key rotation, audit.

Every aggregate that leaves reelmine passes :func:`reelmine.privacy.gate.release`; see
``docs/privacy.md`` for what is stored, what is never stored and what each role can see.
"""

from __future__ import annotations

from reelmine.privacy.gate import release
from reelmine.privacy.policy import check_group_by, require_role

__all__ = ["check_group_by", "release", "require_role"]
