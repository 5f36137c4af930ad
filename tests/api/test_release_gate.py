"""Every analytics aggregate the API answers passes the privacy release gate.

The test enumerates the app's analytics GET routes (a new route fails until it is listed
here), asks each one twice over the simulated warehouse: once through an app whose gate is
open (``min_group_size = 1``: the raw answer) and once through an app with a minimum group
size ``k`` above the route's smallest group, so each route has a planted small group. The gated
answer must expose no cell describing fewer than ``k`` members (every cell has ``members >= k``
or is marked suppressed, with its values null), and the small group's value must be gone.
A differencing test checks that a published total minus the released cells never gives back a
suppressed cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.settings import Settings
from tests.api.conftest import SIM_SECRET, bearer

pytestmark = pytest.mark.xdist_group("sim_warehouse")

ANALYTICS = ("/v1/analytics/", "/v1/experiments")
EXPERIMENT = "exp-artwork"  # the simulated experiment used for path parameters
# Query parameters that give a route rows on the small simulated warehouse.
PARAMS: dict[str, dict[str, Any]] = {
    "/v1/analytics/quality/incidents": {"min_count": 1, "z": 2.0},
    "/v1/analytics/quality/root-cause": {"min_count": 1, "z": 2.0},
    "/v1/analytics/quality/metrics": {"bucket_hours": 24},
    "/v1/analytics/content/search-gaps": {"min_members": 1},
    "/v1/analytics/content/genre-trend": {"top": 50},  # no 'other' series: every cell shown
    "/v1/analytics/market/growth": {"top": 50},
    "/v1/analytics/market/taste": {"min_members": 1},
    "/v1/analytics/market/retention": {"max_offset": 3},
    "/v1/analytics/overview/top-titles": {"limit": 100},
    "/v1/analytics/content/scorecard": {"limit": 500},
    "/v1/analytics/content/completion": {"limit": 500},
    "/v1/analytics/content/value": {"limit": 500},
    "/v1/analytics/content/performers": {"limit": 500, "z": 0.1},
    "/v1/analytics/market/opportunities": {"top": 500},
    "/v1/analytics/marketing/churn-reasons": {"min_risk": 0.0, "limit": 100},
    "/v1/analytics/interface/rows": {"limit": 500},
    "/v1/analytics/interface/search-conversion": {"limit": 500},
    "/v1/analytics/interface/search-gaps": {"limit": 500},
    "/v1/analytics/interface/missed-titles": {"limit": 500},
}
# Whole-warehouse answers: gated by the warehouse's member count (150 > k), no small group.
WHOLE = {"/v1/analytics/overview/summary", "/v1/analytics/overview/warehouse"}
# Gated at the source: the detector never scores a slice-bucket under max(min_count, k)
# sessions, so every incident row reports that floor (>= k) and none is ever small.
FLOOR = {"/v1/analytics/quality/incidents"}
# Routes whose simulated answer may hold no cell at all (then there is nothing to plant).
MAY_BE_EMPTY = {
    "/v1/analytics/quality/incidents",
    "/v1/analytics/quality/root-cause",
    "/v1/analytics/content/trending",
}
# Every analytics route this test covers: a new route fails the enumeration test until listed.
COVERED = {
    "/v1/analytics/overview/summary",
    "/v1/analytics/overview/warehouse",
    "/v1/analytics/overview/active-members",
    "/v1/analytics/overview/hours",
    "/v1/analytics/overview/top-titles",
    "/v1/analytics/overview/top-genres",
    "/v1/analytics/quality/metrics",
    "/v1/analytics/quality/incidents",
    "/v1/analytics/quality/heatmap",
    "/v1/analytics/quality/root-cause",
    "/v1/analytics/quality/compare",
    "/v1/experiments",
    "/v1/experiments/{experiment_id}/readout",
    "/v1/analytics/experiments/intervals",
    "/v1/analytics/experiments/srm",
    "/v1/analytics/experiments/variants",
    "/v1/analytics/content/genre-trend",
    "/v1/analytics/content/scorecard",
    "/v1/analytics/content/completion",
    "/v1/analytics/content/value",
    "/v1/analytics/content/performers",
    "/v1/analytics/content/trending",
    "/v1/analytics/content/search-gaps",
    "/v1/analytics/market/by-country",
    "/v1/analytics/market/growth",
    "/v1/analytics/market/plans",
    "/v1/analytics/market/retention",
    "/v1/analytics/market/taste",
    "/v1/analytics/market/opportunities",
    "/v1/analytics/fraud/signals",
    "/v1/analytics/fraud/types",
    "/v1/analytics/fraud/scores",
    "/v1/analytics/marketing/segments",
    "/v1/analytics/marketing/segment-profiles",
    "/v1/analytics/marketing/churn",
    "/v1/analytics/marketing/churn-reasons",
    "/v1/analytics/marketing/qini",
    "/v1/analytics/marketing/uplift",
    "/v1/analytics/marketing/ltv",
    "/v1/analytics/interface/funnel",
    "/v1/analytics/interface/positions",
    "/v1/analytics/interface/rows",
    "/v1/analytics/interface/search-conversion",
    "/v1/analytics/interface/search-gaps",
    "/v1/analytics/interface/missed-titles",
    "/v1/analytics/recommend/quality",
    "/v1/analytics/recommend/coverage",
}
# Count columns of table charts, most specific first (quality counts sessions).
COUNTS = ("members", "accounts")


def _api_routes(routes: Any) -> Iterator[APIRoute]:
    """Every API route, through included routers (FastAPI nests them in ``original_router``)."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from _api_routes(r.original_router.routes)


def analytics_routes(app: Any) -> list[str]:
    """The app's GET routes that answer aggregates (analytics, experiments, overview)."""
    return sorted(
        {
            r.path
            for r in _api_routes(app.routes)
            if "GET" in r.methods and r.path.startswith(ANALYTICS)
        }
    )


def _url(path: str) -> str:
    return path.replace("{experiment_id}", EXPERIMENT)


class Apps:
    """Apps over the simulated warehouse, one per minimum group size, made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: Apps = {}

    def __getitem__(self, k: int) -> TestClient:
        if k not in self.clients:
            s = Settings(
                artifacts=self.settings.artifacts,
                db=self.settings.db,
                secret=SIM_SECRET,
                min_group_size=k,
            )
            self.clients[k] = TestClient(create_app(s), follow_redirects=False).__enter__()
        return self.clients[k]

    def close(self) -> None:
        for c in self.clients.values():
            c.__exit__(None, None, None)


@pytest.fixture(scope="module")
def clients(sim_settings: Settings, keys: dict[str, str]) -> Iterator[Apps]:
    from reelmine.service.recommend import train

    train(sim_settings, model="ease")  # the recommend routes answer over a trained bundle
    apps = Apps(sim_settings)
    try:
        yield apps
    finally:
        apps.close()


def _get(client: TestClient, key: str, path: str) -> Any:
    r = client.get(_url(path), params=PARAMS.get(path, {}), headers=bearer(key))
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def cells(body: Any) -> list[tuple[Any, int | None, bool, list[Any]]]:
    """``(cell key, members, suppressed, values)`` of every released cell of an answer."""
    out: list[tuple[Any, int | None, bool, list[Any]]] = []
    if isinstance(body, list):  # /v1/experiments
        for e in body:
            for v in e["variants"]:
                out.append(((e["experiment_id"], v["variant"]), v["members"], v["suppressed"], []))
            out.append(((e["experiment_id"], None), e["members"], e["suppressed"], []))
        return out
    if "size_bytes" in body:  # the warehouse summary: one whole-warehouse cell
        return [("summary", None, not body["rows"], list(body["rows"].values()))]
    if "metrics" in body and "srm" in body:  # a readout
        for v in body["variants"]:
            out.append((v["variant"], v["members"], v["suppressed"], []))
        return out
    if body.get("kind") == "table":
        cols = body["columns"]
        count = next((c for c in COUNTS if c in cols), None)
        assert count is not None and "suppressed" in cols, (body["title"], cols)
        ci, si = cols.index(count), cols.index("suppressed")
        for i, row in enumerate(body["rows"]):
            # labels (group-by values, a title's name) stay; every number is a value
            vals = [v for v in row if not isinstance(v, str | bool)]
            out.append((i, row[ci], bool(row[si]), vals))
        return out
    if body.get("kind") == "heatmap":
        return [((x, y), None, False, [v]) for x, y, v in body["cells"]]
    if not body["members"] and body["kind"] in ("stacked", "line"):  # a pivot: no counts
        return [
            ((i, s["name"]), None, False, [v])
            for s in body["series"]
            for i, v in enumerate(s["data"])
            if v is not None
        ]
    assert len(body["members"]) == len(body["x"]), body["title"]
    seen: dict[str, int] = {}
    for i, x in enumerate(body["x"]):  # keyed by label (and repeat), as order may change
        seen[x] = seen.get(x, -1) + 1
        vals = [s["data"][i] for s in body["series"]]
        out.append(((x, seen[x]), body["members"][i], body["members"][i] is None, vals))
    return out


def test_every_analytics_route_is_covered(sim_settings: Settings) -> None:
    paths = set(analytics_routes(create_app(sim_settings)))
    assert len(paths) >= 35
    assert paths - COVERED == set(), "new analytics route(s): gate them and list them here"
    assert COVERED - paths == set(), "listed routes that no longer exist"


def _check_gated(path: str, body: Any, k: int) -> None:
    """No released cell describes fewer than ``k`` members; hidden cells are null, not 0."""
    for key, m, supp, vals in cells(body):
        if supp:
            assert m is None, (path, key)
            assert all(v is None for v in vals), (path, key, vals)
        elif m is not None:
            assert m >= k, (path, key, m)


def _smallest(body: Any) -> tuple[Any, int] | None:
    counted = [(key, m) for key, m, supp, _ in cells(body) if m is not None and not supp]
    return min(counted, key=lambda c: c[1]) if counted else None


@pytest.mark.slow  # every analytics route four times over (marketing models fitted once)
def test_every_route_suppresses_a_planted_small_group(clients: Apps, keys: dict[str, str]) -> None:
    key = keys["analyst"]
    routes = analytics_routes(clients[1].app)
    planted = 0
    for path in routes:
        raw = _get(clients[1], key, path)
        small = _smallest(raw)
        if path in WHOLE:  # 150 members: released at k <= 150, hidden whole at k = 200
            assert not any(c[2] for c in cells(_get(clients[100], key, path))), path
            for _, m, supp, vals in cells(_get(clients[200], key, path)):
                assert supp and m is None and all(v is None for v in vals), path
            planted += 1
            continue
        if small is None:  # heatmaps and pivots carry no counts per cell; or an empty answer
            n_raw = len(cells(raw))
            assert n_raw or path in MAY_BE_EMPTY, path
            for k in (10, 20, 40):
                body = _get(clients[k], key, path)
                _check_gated(path, body, k)
                # every hidden group is a gap: fewer cells with values than the raw answer
                assert len(cells(body)) <= n_raw - (1 if body["suppressed"] else 0), path
            if n_raw:
                assert _get(clients[40], key, path)["suppressed"] > 0, (path, "none under 40")
                planted += 1
            continue
        # At the default k no released cell is small.
        _check_gated(path, _get(clients[10], key, path), 10)
        if path in FLOOR:
            for k in (20, 40):
                _check_gated(path, _get(clients[k], key, path), k)
            continue
        # The planted group: the route's smallest cell, with k just above it.
        k = small[1] + 1
        gated = _get(clients[k], key, path)
        _check_gated(path, gated, k)
        by_key = {c[0]: c for c in cells(gated)}
        assert small[0] in by_key, (path, small)
        _, m, supp, vals = by_key[small[0]]
        assert supp and m is None and all(v is None for v in vals), (path, small, by_key[small[0]])
        if not isinstance(gated, list) and "suppressed" in gated:
            assert gated["suppressed"] >= 1, path
        planted += 1
    assert planted >= 30


def test_a_total_minus_released_cells_never_gives_back_a_hidden_cell(
    clients: Apps, keys: dict[str, str]
) -> None:
    """Differencing: /v1/experiments publishes each experiment's total next to its variants."""
    key = keys["analyst"]
    raw = {e["experiment_id"]: e for e in _get(clients[1], key, "/v1/experiments")}
    # k just above the smallest variant of the planted experiment: that variant is hidden.
    small = min(v["members"] for v in raw[EXPERIMENT]["variants"])
    hidden_any = 0
    for k in (10, 20, 40):
        for e in _get(clients[k], key, "/v1/experiments"):
            hidden = [v for v in e["variants"] if v["suppressed"]]
            shown = [v["members"] for v in e["variants"] if not v["suppressed"]]
            hidden_any += len(hidden)
            if e["members"] is not None and len(hidden) == 1:
                # total - released = the hidden cell: the gate must never allow it
                pytest.fail(f"{e['experiment_id']}: total {e['members']} - {shown} reveals one")
            for v in hidden:
                truth = next(
                    r["members"]
                    for r in raw[e["experiment_id"]]["variants"]
                    if r["variant"] == v["variant"]
                )
                if e["members"] is not None:  # what an analyst would try
                    assert e["members"] - sum(shown) != truth, (e["experiment_id"], k)
    assert hidden_any > 0 and small < 40
