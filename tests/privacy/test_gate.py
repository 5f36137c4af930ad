"""The release gate: small cells suppressed, and no suppressed cell recoverable from totals."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from reelmine.errors import MissingColumnError, PrivacyError
from reelmine.privacy.gate import release, suppression_mask


def _cube() -> pa.Table:
    """Plays by country x device with ROLLUP/CUBE totals (null = total); FR/web has 3 members."""
    cells = {
        ("DE", "tv"): (120, 40),
        ("DE", "web"): (60, 20),
        ("DE", "mobile"): (45, 15),
        ("FR", "tv"): (90, 30),
        ("FR", "web"): (9, 3),
        ("FR", "mobile"): (75, 25),
    }
    rows = [(c, d, p, m) for (c, d), (p, m) in cells.items()]
    for c in ("DE", "FR"):
        rows.append((c, None, sum(v[0] for k, v in cells.items() if k[0] == c), 0))
    for d in ("tv", "web", "mobile"):
        rows.append((None, d, sum(v[0] for k, v in cells.items() if k[1] == d), 0))
    rows.append((None, None, sum(v[0] for v in cells.values()), 0))
    # Members of a total = sum of its cells here (each member in one cell).
    members = []
    for c, d, _, m in rows:
        if c is not None and d is not None:
            members.append(m)
        else:
            members.append(
                sum(
                    v[1]
                    for k, v in cells.items()
                    if (c is None or k[0] == c) and (d is None or k[1] == d)
                )
            )
    return pa.table(
        {
            "country": [r[0] for r in rows],
            "device": [r[1] for r in rows],
            "plays": [r[2] for r in rows],
            "members": members,
        }
    )


def _recover(out: pa.Table, dims: list[str]) -> dict[tuple, float]:
    """The attack: for every line with one unknown entry, total minus the rest gives it."""
    rows = out.to_pylist()
    found: dict[tuple, float] = {}
    for j, d in enumerate(dims):
        others = [x for x in dims if x != d]
        lines: dict[tuple, list[dict]] = {}
        for r in rows:
            lines.setdefault(tuple(r[o] for o in others), []).append(r)
        for line in lines.values():
            total = [r for r in line if r[d] is None]
            cells = [r for r in line if r[d] is not None]
            if len(total) != 1 or total[0]["plays"] is None:
                continue
            unknown = [r for r in cells if r["plays"] is None]
            if len(unknown) == 1:
                known = sum(r["plays"] for r in cells if r["plays"] is not None)
                found[tuple(unknown[0][x] for x in dims)] = total[0]["plays"] - known
        del j
    return found


def test_small_cell_is_suppressed_not_zero() -> None:
    out = release(_cube(), group_by=["country", "device"], k=10)
    fr_web = [r for r in out.to_pylist() if r["country"] == "FR" and r["device"] == "web"][0]
    assert fr_web["suppressed"] is True
    assert fr_web["suppression"] == "small"
    assert fr_web["plays"] is None and fr_web["members"] is None  # shown as suppressed, not 0


def test_differencing_published_totals_cannot_recover_a_suppressed_cell() -> None:
    table = _cube()
    # Without complementary suppression the attack works: proof that the attack is real.
    naive = release(table, group_by=["country", "device"], k=10, totals=False)
    assert _recover(naive, ["country", "device"]) == {("FR", "web"): 9}
    out = release(table, group_by=["country", "device"], k=10)
    assert _recover(out, ["country", "device"]) == {}
    assert sum(out["suppressed"].to_pylist()) >= 4  # a 2x2 rectangle at least
    # Every published total survives: suppression picked the smallest cells, not totals.
    totals = [r for r in out.to_pylist() if r["country"] is None or r["device"] is None]
    assert all(not r["suppressed"] for r in totals)


def test_breakdown_released_alongside_is_covered_without_total_rows() -> None:
    # Only cells here; "plays by country" may be published elsewhere, so the lines still hold.
    cells = _cube().filter(pa.compute.is_valid(_cube()["country"]))
    cells = cells.filter(pa.compute.is_valid(cells["device"]))
    out = release(cells, group_by=["country", "device"], k=10)
    by = {(r["country"], r["device"]): r["suppressed"] for r in out.to_pylist()}
    for c in ("DE", "FR"):
        assert sum(by[(c, d)] for d in ("tv", "web", "mobile")) != 1
    for d in ("tv", "web", "mobile"):
        assert sum(by[(c, d)] for c in ("DE", "FR")) != 1


def test_hierarchical_single_child_total_suppressed() -> None:
    # Region -> country rollup: region EU has one small child, so its total is the child.
    t = pa.table(
        {
            "region": ["EU", "EU", "EU", "NA", "NA", None],
            "country": ["DE", "FR", None, "US", None, None],
            "members": [50, 4, 54, 80, 80, 134],
            "plays": [500, 40, 540, 800, 800, 1340],
        }
    )
    out = release(t, group_by=["region", "country"], k=10)
    keys = zip(t["region"].to_pylist(), t["country"].to_pylist(), strict=True)
    supp = dict(zip(keys, out["suppressed"].to_pylist(), strict=True))
    assert supp[("EU", "FR")] and supp[("EU", "DE")]  # the sibling goes with it
    assert not supp[("EU", None)]


@pytest.mark.parametrize("seed", range(5))
def test_line_rule_holds_on_random_tables(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b, c = 4, 5, 3
    codes = np.array([(i, j, h) for i in range(a) for j in range(b) for h in range(c)])
    members = rng.integers(1, 40, len(codes))
    primary, comp = suppression_mask(members, codes, 10)
    supp = primary | comp
    assert not (members[~supp] < 10).any()
    for d in range(3):
        others = np.delete(codes, d, axis=1)
        _, line = np.unique(others, axis=0, return_inverse=True)
        counts = np.bincount(line.ravel(), weights=supp)
        assert not (counts == 1).any()


def test_errors_are_clear() -> None:
    with pytest.raises(MissingColumnError, match="members"):
        release(pa.table({"country": ["DE"], "n": [3]}), group_by=["country"])
    with pytest.raises(PrivacyError, match="at least 1"):
        release(pa.table({"country": ["DE"], "members": [3]}), group_by=["country"], k=0)


def test_default_k_comes_from_settings() -> None:
    from reelmine.settings import Settings

    t = pa.table({"country": ["DE", "FR", "US"], "members": [9, 12, 50]})
    assert release(t, group_by=["country"])["suppressed"].to_pylist() == [True, True, False]
    out = release(t, group_by=["country"], settings=Settings(min_group_size=5))
    assert out["suppressed"].to_pylist() == [False, False, False]
