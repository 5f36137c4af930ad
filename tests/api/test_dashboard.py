"""Dashboard: login, cookie flags, every page for an analyst, missing capabilities, filters."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from reelmine.api.app import create_app
from reelmine.api.auth import SESSION_COOKIE
from reelmine.dashboard.registry import PAGES, Chart, Page
from reelmine.settings import Settings
from tests.api import demo
from tests.api.conftest import bearer


def login(client: TestClient, key: str) -> None:
    r = client.post("/login", data={"api_key": key})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/overview"


def test_login_page_is_public_and_the_rest_is_not(client: TestClient) -> None:
    r = client.get("/login")
    assert r.status_code == 200 and 'name="api_key"' in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert client.get("/dashboard/overview").headers["location"] == "/login"
    assert client.get("/static/dashboard.js").status_code == 401
    assert client.get("/static/vendor/echarts-6.1.0.min.js").status_code == 401


def test_login_sets_a_strict_httponly_signed_cookie(
    client: TestClient, keys: dict[str, str]
) -> None:
    r = client.post("/login", data={"api_key": keys["analyst"]})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=v1.")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age=28800" in cookie
    assert keys["analyst"] not in cookie  # the key itself never goes into the cookie
    assert re.search(r"\.[0-9a-f]{64};", cookie)  # HMAC-SHA256 signature


def test_login_refusals(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/login", data={"api_key": keys["service"]})
    assert r.status_code == 403 and "role &#x27;service&#x27; cannot open the dashboard" in r.text
    assert "set-cookie" not in r.headers
    r = client.post("/login", data={"api_key": "rm_00000000_wrong"})
    assert r.status_code == 401 and "not valid" in r.text
    assert client.post("/login", data={}).status_code == 401


@pytest.mark.parametrize("page", [p.slug for p in PAGES])
def test_every_page_renders_for_analyst(
    client: TestClient, keys: dict[str, str], page: str
) -> None:
    login(client, keys["analyst"])
    r = client.get(f"/dashboard/{page}")
    assert r.status_code == 200
    pg = next(p for p in PAGES if p.slug == page)
    assert f"<h1>{pg.title.replace('&', '&amp;')}</h1>" in r.text
    for chart in pg.charts:  # each page lists its charts, drawn or planned
        assert chart.endpoint in r.text
    assert 'src="/static/vendor/echarts-6.1.0.min.js"' in r.text
    assert "<script>" not in r.text  # no inline script: the CSP forbids it


def test_pages_without_their_capability_say_what_is_missing(
    app_settings: Settings, keys: dict[str, str]
) -> None:
    # A page whose capability is not installed (every real capability may have landed).
    future = Page(
        "future",
        "Future",
        "A capability that has not landed.",
        (Chart(id="c", title="C", endpoint="/v1/analytics/future/c", kind="bar"),),
        requires=("reelmine.service.future_capability",),
        missing="Needs reelmine.service.future_capability.",
    )
    client = TestClient(create_app(app_settings, pages=[*PAGES, future]), follow_redirects=False)
    login(client, keys["admin"])
    r = client.get("/dashboard/future")
    assert 'data-missing="true"' in r.text and "reelmine.service.future_capability" in r.text
    assert 'class="chart"' not in r.text  # no empty charts
    r = client.get("/dashboard/service")
    assert "data-missing" not in r.text
    assert r.text.count('<figure class="chart"') == 3


def test_unknown_page_and_logout(client: TestClient, keys: dict[str, str]) -> None:
    login(client, keys["analyst"])
    assert client.get("/dashboard/nope").status_code == 404
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/../api/auth.py").status_code == 404
    r = client.post("/logout")
    assert r.status_code == 303 and f'{SESSION_COOKIE}=""' in r.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/dashboard/overview").status_code == 303


@pytest.fixture
def demo_client(app_settings: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    app = create_app(app_settings, pages=[*PAGES, demo.PAGE], routers=[demo.router])
    with TestClient(app, follow_redirects=False) as c:
        yield c


def test_capability_page_draws_once_its_endpoints_exist(
    demo_client: TestClient, keys: dict[str, str]
) -> None:
    login(demo_client, keys["analyst"])
    r = demo_client.get("/dashboard/demo?country=DE")
    assert r.text.count('<figure class="chart"') == len(demo.KINDS)
    assert 'name="country" value="DE"' in r.text  # the filter form keeps its values
    assert "/dashboard/demo" in demo_client.get("/dashboard/overview").text  # in the nav


def test_chart_endpoint_twin_applies_filters(demo_client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["analyst"])
    body = demo_client.get(
        "/v1/analytics/demo/line?country=FR&start=2025-01-02&end=2025-01-03", headers=h
    ).json()
    assert body["x"] == ["2025-01-02", "2025-01-03"]
    assert body["series"] == [{"name": "FR", "data": [6.0, 7.0]}]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("country=de", ["query", "country"]),
        ("start=2025-02-30", ["query", "start"]),
        ("start=2025-01-05&end=2025-01-01", ["query", "start"]),
    ],
)
def test_filters_give_field_errors(
    demo_client: TestClient, keys: dict[str, str], query: str, loc: list[str]
) -> None:
    r = demo_client.get(f"/v1/analytics/demo/line?{query}", headers=bearer(keys["analyst"]))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == loc


def test_static_files_are_gzipped_and_cacheable(client: TestClient, keys: dict[str, str]) -> None:
    login(client, keys["analyst"])
    path = "/static/vendor/echarts-6.1.0.min.js"
    r = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) > 1_000_000  # httpx decoded the 0.37 MB gzip body back to 1.1 MB
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == r.content
    again = client.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_a_page_grows_chart_by_chart(app_settings: Settings, keys: dict[str, str]) -> None:
    from reelmine.dashboard.registry import Chart, Page

    half = Page(
        "half",
        "Half",
        "One chart wired, one not.",
        (
            Chart(id="bar", title="Wired", endpoint="/v1/analytics/demo/bar", kind="bar"),
            Chart(id="later", title="Later", endpoint="/v1/analytics/demo/nope", kind="line"),
            Chart(
                id="cap",
                title="Needs cap",
                endpoint="/v1/analytics/demo/line",
                kind="line",
                requires=("no_such_capability_xyz",),
            ),
        ),
    )
    app = create_app(app_settings, pages=[half], routers=[demo.router])
    with TestClient(app, follow_redirects=False) as c:
        login(c, keys["analyst"])
        text = c.get("/dashboard/half").text
    assert text.count('<figure class="chart"') == 1 and 'id="chart-bar"' in text
    assert 'data-partial="true"' in text and "Later" in text and "Needs cap" in text
    assert "endpoint /v1/analytics/demo/nope" in text
    assert "capability &#x27;no_such_capability_xyz&#x27;" in text
    assert half.missing_parts(app.state.route_paths) == [
        "endpoint /v1/analytics/demo/nope",
        "capability 'no_such_capability_xyz' (no_such_capability_xyz)",
    ]
