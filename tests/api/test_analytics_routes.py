"""Every analytics endpoint: auth (401/403), and every dashboard chart's JSON twin answers
the chart kind its page declares, with data, on the simulated warehouse."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.api.models import ChartData
from reelmine.dashboard.registry import PAGES
from reelmine.settings import Settings
from tests.api.conftest import bearer

# One worker builds the simulated warehouse once for every test that uses it.
pytestmark = pytest.mark.xdist_group("sim_warehouse")

PREFIXES = ("/v1/analytics/", "/v1/experiments", "/v1/fraud/")
ADMIN_ONLY = ("/v1/fraud/",)
# Charts whose data may legitimately be empty on a small warehouse (they answer a note).
MAY_BE_EMPTY = {"quality/incidents", "quality/root-cause", "content/trending"}


def _analytics_paths(settings: Settings) -> list[str]:
    paths = create_app(settings).openapi()["paths"]
    return sorted(
        p.replace("{experiment_id}", "exp-aa").replace("{user_id}", "someone")
        for p, ops in paths.items()
        if p.startswith(PREFIXES) and "get" in ops
    )


def test_every_analytics_route_needs_a_key_and_the_right_role(
    sim_client: TestClient, sim_settings: Settings, keys: dict[str, str]
) -> None:
    paths = _analytics_paths(sim_settings)
    assert len(paths) >= 30
    for path in paths:
        r = sim_client.get(path)
        assert r.status_code == 401, path
        r = sim_client.get(path, headers=bearer(keys["service"]))
        assert r.status_code == 403, path
        if path.startswith(ADMIN_ONLY):
            r = sim_client.get(path, headers=bearer(keys["analyst"]))
            assert r.status_code == 403, path


@pytest.mark.slow  # fits every marketing model once (seconds)
@pytest.mark.parametrize("page", [p for p in PAGES if p.slug != "service"], ids=lambda p: p.slug)
def test_every_ready_chart_answers_its_kind_with_data(
    sim_client: TestClient, keys: dict[str, str], page: object, sim_settings: Settings
) -> None:
    pg = page  # a registry Page
    if pg.slug == "recommendations":  # type: ignore[attr-defined]
        from reelmine.service.recommend import train

        train(sim_settings, model="ease")  # its charts describe a trained model
    routes = sim_client.app.state.route_paths  # type: ignore[attr-defined]
    for chart in pg.ready_charts(routes):  # type: ignore[attr-defined]
        r = sim_client.get(chart.endpoint, headers=bearer(keys["analyst"]))
        assert r.status_code == 200, (chart.endpoint, r.text[:300])
        data = ChartData.model_validate(r.json())
        assert data.kind == chart.kind, chart.endpoint
        n = len(data.rows) + len(data.cells) + sum(len(s.data) for s in data.series)
        if f"{pg.slug}/{chart.id}" not in MAY_BE_EMPTY:  # type: ignore[attr-defined]
            assert n > 0, chart.endpoint
        else:
            assert n > 0 or data.note, chart.endpoint
