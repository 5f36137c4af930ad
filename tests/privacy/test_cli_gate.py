"""Every aggregate the CLI prints passes the release gate (the one the API uses).

Over a small simulated warehouse, each aggregate command is run once with the gate open
(``min_group_size = 1``: the raw answer) and once with ``k`` just above the command's smallest
group (a planted small group): the gated answer shows no cell under ``k`` members, shows the
small cells as suppressed (never as zero), and at ``k = 1`` nothing is suppressed. A
differencing test checks that a country's total minus its released plan cells never gives back
one hidden cell. Member-level commands need ``--row-level`` and role admin, and are audited.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from reelmine.cli import content, context, experiments, fraud, market, marketing, quality
from reelmine.data.keystore import KeyStore
from reelmine.errors import PrivacyError
from reelmine.privacy import audit
from reelmine.settings import Settings
from tests.api.conftest import SIM_SECRET, build_sim_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cli_gate_sim")]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_sim_warehouse(tmp_path_factory.mktemp("cligate"))


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Root."""

    for module in (content, market, quality, fraud, experiments, marketing):
        module.register(root)
    return root


def _env(sim: Settings, k: int, api_key: str | None = None) -> dict[str, str]:
    env = {
        "REELMINE_DB": str(sim.db),
        "REELMINE_ARTIFACTS": str(sim.artifacts),
        "REELMINE_SECRET": SIM_SECRET,
        "REELMINE_MIN_GROUP_SIZE": str(k),
    }
    if api_key:
        env["REELMINE_API_KEY"] = api_key
    return env


def run(app: typer.Typer, sim: Settings, args: list[str], k: int, api_key: str | None = None):
    context.configure(db=None, config=None, engine=None, debug=False)  # fresh settings per run
    env = _env(sim, k, api_key)
    return CliRunner().invoke(app, args, env={**env, "REELMINE_API_KEY": api_key or ""})


def _json(app: typer.Typer, sim: Settings, args: list[str], k: int) -> list[dict[str, Any]]:
    res = run(app, sim, [*args, "--format", "json"], k)
    assert res.exit_code == 0, res.output
    rows: list[dict[str, Any]] = json.loads(res.output)
    return rows


def _min_members(*cols: str) -> Callable[[dict[str, Any]], int]:
    return lambda r: min(int(r[c]) for c in cols)


# Columns a suppressed row keeps: descriptive labels of the cell and the gate's own flags.
LABELS = {"name", "genre", "release_year", "kind", "query", "suppressed", "suppression"}
# (command, how many members a row describes, group-by columns of a cell)
AGGREGATES: list[tuple[list[str], Callable[[dict[str, Any]], int], list[str]]] = [
    (
        ["content", "performance", "--by", "country"],
        _min_members("members"),
        ["title_id", "period", "country"],
    ),
    (["content", "scorecard", "-n", "0"], _min_members("members"), ["title_id"]),
    (["content", "series", "-n", "0"], _min_members("members"), ["title_id"]),
    (
        ["content", "series", "--seasons", "-n", "0"],
        _min_members("members"),
        ["title_id", "season"],
    ),
    (["content", "performers", "-n", "0"], _min_members("members"), ["title_id"]),
    (["content", "renewals", "-n", "0"], _min_members("members"), ["title_id"]),
    (["content", "trends", "--shares", "-n", "0"], _min_members("members"), ["period", "genre"]),
    (
        ["content", "search-gaps", "--min-members", "1", "-n", "0"],
        _min_members("members"),
        ["query"],
    ),
    (
        ["market", "members", "-n", "0"],
        _min_members("members", "active_members"),
        ["period", "country"],
    ),
    (["market", "retention", "-n", "0"], _min_members("members"), ["cohort", "offset"]),
    (["market", "plans", "-n", "0"], _min_members("members"), ["country", "plan"]),
    (["market", "supply", "-n", "0"], _min_members("members"), ["country", "genre"]),
    (["market", "opportunities", "--top", "500"], _min_members("members"), ["country", "genre"]),
    (
        ["market", "taste", "--min-members", "1", "-n", "0"],
        _min_members("members"),
        ["country", "key"],
    ),
    (
        ["market", "similarity"],
        _min_members("members_a", "members_b"),
        ["country_a", "country_b"],
    ),
]


@pytest.mark.parametrize("args,count,keys", AGGREGATES, ids=[" ".join(a[0]) for a in AGGREGATES])
def test_small_group_is_suppressed(
    app: typer.Typer,
    sim: Settings,
    args: list[str],
    count: Callable[[dict[str, Any]], int],
    keys: list[str],
) -> None:
    raw = _json(app, sim, args, k=1)
    assert raw, "the command gave no rows on the simulated warehouse"
    assert not any(r["suppressed"] for r in raw)  # k = 1: nothing hidden
    small = min(count(r) for r in raw)
    k = small + 1  # the planted small group: the command's smallest cell
    gated = _json(app, sim, args, k=k)
    assert len(gated) == len(raw)
    if "query" not in keys:  # rows may tie in order: pair them by their cell (a hidden query
        # text is replaced, so search gaps are paired by position: their order is stable)
        by_key = {tuple(g[c] for c in keys): g for g in gated}
        gated = [by_key[tuple(r[c] for c in keys)] for r in raw]
    hidden = 0
    for r, g in zip(raw, gated, strict=True):
        if count(r) < k:
            assert g["suppressed"] and g["suppression"] == "small"
        if g["suppressed"]:
            hidden += 1
            # Every value of a hidden cell is gone (null, never zero).
            kept = {*keys, *LABELS}
            assert all(v is None for c, v in g.items() if c not in kept), g
        else:
            assert count(g) >= k
    assert hidden >= 1


def test_table_and_csv_print_suppressed_not_zero(app: typer.Typer, sim: Settings) -> None:
    raw = _json(app, sim, ["market", "plans"], k=1)
    k = min(r["members"] for r in raw) + 1
    res = run(app, sim, ["market", "plans", "--format", "csv"], k)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split(",")[:4] == ["country", "plan", "members", "share"]
    small = [r for r in raw if r["members"] < k]
    for r in small:
        row = next(ln for ln in lines if ln.startswith(f"{r['country']},{r['plan']},"))
        assert row.split(",")[2:4] == ["suppressed", "suppressed"]
    table = run(app, sim, ["market", "plans", "--limit", "0"], k)
    assert "suppressed" in table.output and "row(s) suppressed" in table.output
    assert "suppressed" not in run(app, sim, ["market", "plans", "--limit", "0"], 1).output


def test_differencing_a_country_total_recovers_no_plan_cell(
    app: typer.Typer, sim: Settings
) -> None:
    raw = _json(app, sim, ["market", "plans"], k=1)
    k = min(r["members"] for r in raw) + 1
    gated = _json(app, sim, ["market", "plans"], k=k)
    # The attacker knows each country's and each plan's total (published elsewhere, or by k=1
    # runs of coarser commands) and subtracts the released cells of that line.
    for dim in ("country", "plan"):
        total: dict[str, int] = defaultdict(int)
        released: dict[str, int] = defaultdict(int)
        hidden: dict[str, list[int]] = defaultdict(list)
        for r, g in zip(raw, gated, strict=True):
            total[r[dim]] += r["members"]
            if g["suppressed"]:
                hidden[r[dim]].append(r["members"])
            else:
                released[r[dim]] += g["members"]
        for line, cells in hidden.items():
            assert len(cells) >= 2, f"{dim}={line}: one hidden cell = total minus the rest"
            recovered = total[line] - released[line]
            assert recovered == sum(cells)  # only the sum of two or more hidden cells


# Text reports: (command, also run with the gate open). The model-fitting marketing reports
# run only shut (each fit costs seconds); their open numbers are checked in tests/marketing.
TEXT_REPORTS = [
    (["quality", "report", "--by", "cdn"], True),
    (["quality", "compare", "--by", "device_type", "--a", "tv", "--b", "mobile"], True),
    (["fraud", "scan"], True),
    (["experiments", "list"], True),
    (["experiments", "readout", "exp-artwork"], True),
    (["marketing", "segments"], True),
    (["marketing", "ltv"], False),
]


@pytest.mark.parametrize("args,open_too", TEXT_REPORTS, ids=[" ".join(a) for a, _ in TEXT_REPORTS])
def test_text_report_suppresses_at_high_k(
    app: typer.Typer, sim: Settings, args: list[str], open_too: bool
) -> None:
    if open_too:
        res = run(app, sim, args, 1)
        assert res.exit_code == 0, res.output
        assert "suppressed" not in res.output
    res = run(app, sim, args, 10**6)
    assert res.exit_code == 0, res.output
    assert "suppressed" in res.output


def test_uplift_of_a_population_under_k_is_refused(app: typer.Typer, sim: Settings) -> None:
    res = run(app, sim, ["marketing", "uplift"], 10**6)
    assert isinstance(res.exception, PrivacyError) and "fewer than" in str(res.exception)


def test_experiment_readout_json_hides_a_small_variant(app: typer.Typer, sim: Settings) -> None:
    raw = json.loads(
        run(app, sim, ["experiments", "readout", "exp-artwork", "--format", "json"], 1).output
    )
    sizes = {v["variant"]: v["members"] for v in raw["variants"]}
    small = min((n, v) for v, n in sizes.items() if v != raw["control"])
    res = run(app, sim, ["experiments", "readout", "exp-artwork", "--format", "json"], small[0] + 1)
    d = json.loads(res.output)
    for v in d["variants"]:
        assert v["suppressed"] == (v["members"] is None)
    assert any(v["variant"] == small[1] and v["suppressed"] for v in d["variants"])
    for m in d["metrics"]:
        if m["variant"] == small[1]:
            assert m["suppressed"] and m["effect"] is None and m["p_value"] is None
            assert m["decision"] == "suppressed"
    assert raw["srm"]["p_value"] is not None and d["srm"]["p_value"] is None


def test_member_level_needs_row_level_admin_and_is_audited(app: typer.Typer, sim: Settings) -> None:
    res = run(app, sim, ["fraud", "flags", "--format", "csv"], 10)
    assert isinstance(res.exception, PrivacyError) and "--row-level" in str(res.exception)
    res = run(app, sim, ["fraud", "flags", "--format", "csv", "--row-level"], 10)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("user_id,type,score")
    entries = audit.read(sim, role="admin")
    assert any(e["action"] == "row-level" and e["what"] == "reelmine fraud flags" for e in entries)
    assert any(e["action"] == "query" and "reelmine" in e["what"] for e in entries)
    key, _ = KeyStore(sim.artifacts).create("analyst", label="ana")
    res = run(app, sim, ["fraud", "flags", "--row-level"], 10, api_key=key)
    assert isinstance(res.exception, PrivacyError) and "needs role 'admin'" in str(res.exception)
    res = run(app, sim, ["marketing", "segments", "--export", "0"], 10)
    assert isinstance(res.exception, PrivacyError)
    res = run(app, sim, ["marketing", "target", "--format", "csv"], 10)
    assert isinstance(res.exception, PrivacyError)
    # The analyst may still read the gated aggregates.
    res = run(app, sim, ["market", "plans"], 10, api_key=key)
    assert res.exit_code == 0, res.output
