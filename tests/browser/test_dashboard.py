"""The dashboard in a real browser: Playwright driving Debian's Chromium, headless.

Logs in, visits every page, checks there are no console errors, that each chart drew (a canvas
with non-blank pixels and ``data-state="drawn"``) and that pages whose capability is missing
say so. Screenshots go to ``test-artifacts/screenshots/``. Skipped, with the reason, when
``/usr/bin/chromium`` or the ``playwright`` package is missing (CI installs both:
``apt-get install -y chromium`` and ``pip install playwright``; no ``playwright install``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelmine.api.routes import ROUTERS
from reelmine.dashboard.registry import PAGES
from reelmine.data.keystore import KeyStore
from reelmine.settings import Settings
from tests.api import demo
from tests.api.conftest import build_sim_warehouse

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
if not CHROMIUM.exists():
    pytest.skip(
        f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True
    )
uvicorn = pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow

# The API route templates the app mounts (what makes a chart "ready").
ROUTES = frozenset(getattr(r, "path", "") for router in ROUTERS for r in router.routes)
# Charts whose data depends on what the small simulation happens to contain.
# Data-dependent charts: no incident or burst at this scale, or (churn reasons) every group
# below the release gate's k on a 150-member warehouse. Each says why instead of drawing.
MAY_BE_EMPTY = {
    "quality/chart-incidents",
    "quality/chart-root-cause",
    "content/chart-trending",
    "marketing/chart-reasons",
}

# Fraction of canvas pixels that differ from the corner pixel: > 0 means something was drawn.
INK = """(fig) => {
  const c = fig.querySelector('canvas');
  if (!c || !c.width || !c.height) return 0;
  const ctx = c.getContext('2d');
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < d.length; i += 16) {
    if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2] || d[i + 3] !== d[3]) ink++;
  }
  return ink / (d.length / 16);
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A real uvicorn server on a free loopback port; yields (base URL, analyst key, admin
    key). A recommendation bundle (EASE: quick) is trained so the Recommendations page draws."""
    from reelmine.api.app import create_app
    from reelmine.service.recommend import train

    artifacts = tmp_path_factory.mktemp("browser")
    key, _ = KeyStore(artifacts).create("analyst")
    admin, _ = KeyStore(artifacts).create("admin")
    # Every wired page reads this small simulated warehouse (built in a few seconds).
    sim = build_sim_warehouse(tmp_path_factory.mktemp("browser-sim"))
    settings = Settings(artifacts=artifacts, db=sim.db, secret=sim.secret)
    train(settings, model="ease")
    app = create_app(
        settings,
        pages=[*PAGES, demo.PAGE, demo.EMPTY_PAGE],
        routers=[demo.router],
    )
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 15 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", key, admin
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def test_every_page_renders(server: tuple[str, str, str], browser: object) -> None:
    base, key, _ = server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

    page.goto(f"{base}/login")
    page.screenshot(path=str(SCREENSHOTS / "login.png"))
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/overview")
    # Let the landing page finish its fetches: leaving earlier aborts them ("request failed").
    page.wait_for_selector("body[data-charts=done]", timeout=45_000)
    cookie = next(c for c in context.cookies() if c["name"] == "reelmine_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    drawn: dict[str, int] = {}
    for pg in [*PAGES, demo.PAGE]:
        page.goto(f"{base}/dashboard/{pg.slug}")
        assert page.locator("h1").inner_text() == pg.title
        figs = page.locator("figure.chart")
        if figs.count() == 0:
            missing = page.locator("[data-missing=true]")
            assert missing.count() == 1, f"{pg.slug}: neither charts nor a 'missing' notice"
            assert page.locator("ul.planned li").count() == len(pg.charts)
        else:
            page.wait_for_selector("body[data-charts=done]", timeout=45_000)
            for i in range(figs.count()):
                fig = figs.nth(i)
                name = f"{pg.slug}/{fig.get_attribute('id')}"
                state = fig.get_attribute("data-state")
                note = fig.locator(".chart-note").inner_text()
                if name in MAY_BE_EMPTY and state == "empty":
                    continue  # data-dependent (no incident / burst at this scale): says so
                assert state == "drawn", f"{name}: state {state} ({note})"
                assert int(fig.get_attribute("data-points") or 0) > 0, name
                if fig.get_attribute("data-kind") == "table":
                    rows = fig.locator("table.data tbody tr").count()
                    assert rows == int(fig.get_attribute("data-points") or 0), name
                else:
                    ink = fig.evaluate(INK)
                    assert ink > 0.005, f"{name}: canvas looks blank ({ink:.4f} inked)"
                drawn[name] = int(fig.get_attribute("data-points") or 0)
        page.screenshot(path=str(SCREENSHOTS / f"{pg.slug}.png"), full_page=True)

    assert not problems, problems
    # Every chart kind drew, with the number of points its endpoint returned.
    assert drawn["demo/chart-line"] == 12 and drawn["demo/chart-heatmap"] == 4
    assert drawn["demo/chart-funnel"] == 6 and drawn["demo/chart-stacked"] == 3
    assert {"service/chart-traffic", "service/chart-latency", "service/chart-status"} <= set(drawn)
    # Every chart of every wired capability page drew (or, for the few listed, said it is empty).
    for pg in PAGES:
        for chart in pg.charts:
            name = f"{pg.slug}/chart-{chart.id}"
            if pg.chart_missing(chart, ROUTES) or name in MAY_BE_EMPTY:
                continue
            assert name in drawn, f"{name} did not draw"
    assert drawn["quality/chart-rebuffer-series"] > 24 * 60  # hourly over 75 days
    assert drawn["experiments/chart-effects"] >= 4  # one interval per treatment arm
    assert drawn["recommendations/chart-quality"] == 4  # 2 models x (nDCG@10, recall@10)
    context.close()


def test_filters_reach_the_endpoints_and_empty_charts_say_so(
    server: tuple[str, str, str], browser: object
) -> None:
    base, key, _ = server
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/overview")
    # Let the landing page finish its fetches: leaving earlier aborts them ("request failed").
    page.wait_for_selector("body[data-charts=done]", timeout=45_000)

    page.goto(f"{base}/dashboard/demo")
    page.fill("input[name=country]", "FR")
    page.fill("input[name=start]", "2025-01-02")
    page.click("form.filters button")
    page.wait_for_selector("body[data-charts=done]")
    assert "country=FR" in page.url
    # FR only, from 2025-01-02: 3 days x 1 country.
    assert page.locator("#chart-line").get_attribute("data-points") == "3"

    page.goto(f"{base}/dashboard/demo-empty")
    page.wait_for_selector("body[data-charts=done]")
    fig = page.locator("#chart-empty")
    assert fig.get_attribute("data-state") == "empty"
    assert fig.locator(".chart-note").inner_text() == "No data for these filters."
    assert fig.locator("canvas").count() == 0

    page.goto(f"{base}/dashboard/demo?country=fr")  # a bad filter is reported on the chart
    page.wait_for_selector("body[data-charts=done]")
    line = page.locator("#chart-line")
    assert line.get_attribute("data-state") == "error"
    assert "query.country" in line.locator(".chart-note").inner_text()
    context.close()


def _login(context: object, base: str, key: str) -> tuple[object, list[str]]:
    page = context.new_page()  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(f"{base}/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/overview")
    page.wait_for_selector("body[data-charts=done]", timeout=45_000)
    return page, problems


def test_member_explorer_for_admin_and_note_for_analyst(
    server: tuple[str, str, str], browser: object
) -> None:
    base, analyst, admin = server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    page, problems = _login(context, base, admin)
    page.goto(f"{base}/dashboard/recommendations")
    page.wait_for_selector("#member-samples[data-state=drawn]", timeout=30_000)
    samples = page.locator("button.sample-member")
    assert samples.count() == 8
    # Pick the most active sample member: their rows and history draw.
    samples.first.click()
    page.wait_for_selector("#member-result[data-state=drawn]", timeout=30_000)
    result = page.locator("#member-result")
    n_rows = int(result.get_attribute("data-rows") or 0)
    assert n_rows >= 2 and page.locator(".member-row").count() == n_rows
    assert page.locator(".member-row").first.locator("li").count() >= 1
    assert page.locator(".member-row h4").first.inner_text() == "Top picks for you"
    assert int(result.get_attribute("data-history") or 0) >= 1
    assert page.locator("table.history tbody tr").count() == int(
        result.get_attribute("data-history") or 0
    )
    page.wait_for_selector("body[data-charts=done]", timeout=45_000)
    page.screenshot(path=str(SCREENSHOTS / "recommendations-explorer.png"), full_page=True)
    # A raw ID the model never saw: cold-start rows, no history, and the page says so.
    page.fill("#member", "someone-new")
    page.click("#explorer-form button")
    # (A selector, not wait_for_function: the page's CSP forbids evaluating strings.)
    page.wait_for_selector("#member-result[data-state=drawn][data-history='0']", timeout=30_000)
    assert "cold start" in page.locator(".member-status").inner_text()
    assert page.locator(".member-row").count() >= 1
    assert not problems, problems
    context.close()

    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page, problems = _login(context, base, analyst)
    page.goto(f"{base}/dashboard/recommendations")
    page.wait_for_selector("body[data-charts=done]", timeout=45_000)
    note = page.locator("[data-explorer=admin-only]")
    assert note.count() == 1 and "admin" in note.inner_text()
    assert page.locator("#explorer").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "recommendations-analyst.png"), full_page=True)
    assert not problems, problems
    context.close()
