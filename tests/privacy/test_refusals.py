"""An analyst's abuse attempts each get a clear refusal; the budget ledger survives restarts."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from reelmine.errors import PrivacyError
from reelmine.privacy import budget
from reelmine.service import privacy as svc
from tests.privacy._data import ingested, settings_for

ANALYST = svc.Actor("a1b2c3d4", "analyst")
ADMIN = svc.Actor("ad000001", "admin")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    s, _ = ingested(tmp_path_factory.mktemp("refusals"))
    return s


def test_analyst_cannot_list_members(settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PrivacyError, match="only role 'admin'"):
        svc.release(settings, "count plays by user_id", epsilon=0.1, actor=ANALYST)
    for col in ("device_id", "ip_hash", "profile_id"):
        with pytest.raises(PrivacyError, match=col):
            svc.gate(
                settings, pa.table({col: ["x"], "members": [50]}), group_by=[col], actor=ANALYST
            )
    # An admin may, on purpose (the gate still suppresses cells of one member).
    out = svc.gate(
        settings, pa.table({"user_id": ["x"], "members": [1]}), group_by=["user_id"], actor=ADMIN
    )
    assert out["suppressed"].to_pylist() == [True]


def test_analyst_cannot_release_a_group_of_one(settings) -> None:  # type: ignore[no-untyped-def]
    agg = pa.table({"country": ["DE", "FR", "LI"], "plays": [400, 300, 2], "members": [40, 30, 1]})
    out = svc.gate(settings, agg, group_by=["country"], actor=ANALYST, what="plays by country")
    rows = {r["country"]: r for r in out.to_pylist()}
    assert rows["LI"]["suppressed"] and rows["LI"]["plays"] is None
    assert rows["FR"]["suppressed"]  # complementary: the total minus DE would reveal LI


def test_analyst_cannot_exceed_the_budget(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    budget.set_limit(settings, ANALYST.key_id, 1.0, actor=ADMIN.key_id)
    budget.spend(settings, ANALYST.key_id, 0.6, "count plays")
    with pytest.raises(PrivacyError, match="privacy budget exceeded.*only 0.4 of 1 is left"):
        budget.spend(settings, ANALYST.key_id, 0.5, "count plays by country")
    # Nothing was charged for the refusal, and the ledger is read back from disk ("restart").
    st = budget.state(settings_for(tmp_path), ANALYST.key_id)
    assert (st.spent, st.limit, st.releases) == (0.6, 1.0, 1)
    budget.spend(settings, ANALYST.key_id, 0.4, "count plays by plan")
    assert budget.state(settings, ANALYST.key_id).left == pytest.approx(0.0)


def test_release_through_service_charges_budget(settings) -> None:  # type: ignore[no-untyped-def]
    svc.set_budget(settings, "k-small", 0.5, actor=ADMIN)
    analyst = svc.Actor("k-small", "analyst")
    res = svc.release(
        settings, "count plays by country", epsilon=0.3, actor=analyst, public_keys=True
    )
    assert sorted(res.table["country"].to_pylist()) == ["DE", "FR"]
    assert res.budget.spent == pytest.approx(0.3)
    with pytest.raises(PrivacyError, match="budget exceeded"):
        svc.release(settings, "count plays by country", epsilon=0.3, actor=analyst)
    with pytest.raises(PrivacyError, match="needs role 'admin'"):
        svc.set_budget(settings, "k-small", 100.0, actor=analyst)
    assert [s.key_id for s in svc.budget_status(settings, actor=analyst)] == ["k-small"]


def test_analyst_cannot_read_the_audit_log(settings) -> None:  # type: ignore[no-untyped-def]
    svc.gate(
        settings, pa.table({"plan": ["basic"], "members": [31]}), group_by=["plan"], actor=ANALYST
    )
    with pytest.raises(PrivacyError, match="reading the audit log needs role 'admin'"):
        svc.audit_log(settings, actor=ANALYST)
    entries = svc.audit_log(settings, actor=ADMIN)
    assert any(e["actor"] == ANALYST.key_id and e["action"] == "query" for e in entries)
    # Nothing in the log is a result or a raw ID.
    assert all("m00" not in str(e) for e in entries)


def test_analyst_cannot_erase_or_rotate(settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PrivacyError, match="erasing a member needs role 'admin'"):
        svc.erase_user(settings, "m001", actor=ANALYST)
    with pytest.raises(PrivacyError, match="rotating"):
        svc.rotate_key(settings, actor=ANALYST)
    with pytest.raises(PrivacyError, match="a DP release needs role 'analyst'"):
        svc.release(settings, "count plays", epsilon=0.1, actor=svc.Actor("svc1", "service"))
