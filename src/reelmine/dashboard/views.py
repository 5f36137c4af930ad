"""Dashboard routes: login/logout, one HTML page per registry entry, and its static files.

HTML is rendered with :class:`string.Template` and every inserted value is HTML-escaped; the
pages carry no inline script (a strict Content-Security-Policy allows only ``/static``).
Static files need a session too: nothing but ``/health`` and the login page is public.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import mimetypes
from functools import lru_cache
from pathlib import Path
from string import Template
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from reelmine.api.auth import (
    DASHBOARD_ROLES,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Principal,
    authenticate,
    make_session,
)
from reelmine.dashboard.registry import Chart, Page, get_page

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)
_TEMPLATES: dict[str, Template] = {}


def _template(name: str) -> Template:
    if name not in _TEMPLATES:
        _TEMPLATES[name] = Template((HERE / "templates" / name).read_text(encoding="utf-8"))
    return _TEMPLATES[name]


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def _login_page(error: str = "", status_code: int = 200) -> HTMLResponse:
    err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return _html(_template("login.html").substitute(error=err), status_code)


async def _viewer(request: Request) -> Principal | None:
    """The logged-in analyst/admin, or ``None`` (not logged in or session invalid)."""
    try:
        principal = await authenticate(request)
    except HTTPException:
        return None
    return principal


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The login page (public)."""
    viewer = await _viewer(request)
    if viewer is not None and viewer.role in DASHBOARD_ROLES:
        return RedirectResponse("/dashboard/overview", status_code=303)
    return _login_page()


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange an analyst/admin API key for a signed session cookie."""
    # Parsed by hand: a urlencoded form needs no python-multipart dependency.
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("api_key") or [""])[0].strip()
    if not key:
        return _login_page("Enter an API key.", 401)
    rec = await run_in_threadpool(request.app.state.keys.verify, key)
    if rec is None:
        return _login_page("That key is not valid (or was revoked).", 401)
    if rec.role not in DASHBOARD_ROLES:
        return _login_page(
            f"A key of role '{rec.role}' cannot open the dashboard; use analyst or admin.", 403
        )
    resp = RedirectResponse("/dashboard/overview", status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        make_session(request.app.state.session_secret, rec),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


@router.post("/logout")
def logout() -> Response:
    """Forget the session cookie."""
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.get("/")
def root() -> Response:
    return RedirectResponse("/dashboard/overview", status_code=303)


@router.get("/dashboard")
@router.get("/dashboard/")
def dashboard_root() -> Response:
    return RedirectResponse("/dashboard/overview", status_code=303)


def _nav(pages: list[Page], current: str, routes: frozenset[str]) -> str:
    links = []
    for p in pages:
        cls = ["current"] if p.slug == current else []
        if p.charts and not p.ready_charts(routes):
            cls.append("unwired")
        links.append(
            f'<a href="/dashboard/{p.slug}" class="{" ".join(cls)}">{html.escape(p.title)}</a>'
        )
    return "".join(links)


def _filters(request: Request) -> str:
    q = request.query_params
    start = html.escape(q.get("start", ""), quote=True)
    end = html.escape(q.get("end", ""), quote=True)
    country = html.escape(q.get("country", ""), quote=True)
    return (
        '<form class="filters" method="get">'
        f'<label>From <input type="date" name="start" value="{start}"></label>'
        f'<label>To <input type="date" name="end" value="{end}"></label>'
        f'<label>Country <input name="country" value="{country}" placeholder="e.g. DE" '
        'maxlength="2" size="4" pattern="[A-Z]{2}"></label>'
        '<button type="submit">Apply</button></form>'
    )


def _charts(charts: list[Chart]) -> str:
    figs = []
    for c in charts:
        figs.append(
            f'<figure class="chart" id="chart-{html.escape(c.id, quote=True)}" '
            f'data-endpoint="{html.escape(c.endpoint, quote=True)}" data-kind="{c.kind}">'
            f"<figcaption>{html.escape(c.title)}</figcaption>"
            '<div class="plot"></div><p class="chart-note"></p></figure>'
        )
    return '<section class="charts">' + "".join(figs) + "</section>"


def _planned(charts: list[Chart]) -> str:
    return "".join(
        f"<li>{html.escape(c.title)} "
        f"<small>({c.kind}, <code>{html.escape(c.endpoint)}</code>)</small></li>"
        for c in charts
    )


def _missing(page: Page, parts: list[str]) -> str:
    items = "".join(f"<li>{html.escape(p)}</li>" for p in parts)
    return (
        '<section class="missing" data-missing="true"><h2>Not available yet</h2>'
        f"<p>{html.escape(page.missing or 'This page is not wired yet.')}</p>"
        f"<p>Missing:</p><ul>{items}</ul>"
        f'<h3>Charts this page will show</h3><ul class="planned">{_planned(list(page.charts))}'
        "</ul></section>"
    )


def _coming(page: Page, waiting: list[Chart], parts: list[str]) -> str:
    items = "".join(f"<li>{html.escape(p)}</li>" for p in parts)
    return (
        '<section class="missing" data-partial="true"><h2>More charts coming</h2>'
        f'<ul class="planned">{_planned(waiting)}</ul><p>Waiting for:</p><ul>{items}</ul></section>'
    )


# -- the Recommendations page: trained-model check and the member explorer -----------------
NO_MODEL = "a trained recommendation model (run `reelmine recommend train`)"


def _model_missing(request: Request) -> str | None:
    """What the Recommendations page lacks before it can draw (``None``: a model is trained)."""
    from reelmine.errors import NotFoundError
    from reelmine.service.recommend import current_bundle

    try:
        current_bundle(request.app.state.settings)
    except NotFoundError:
        return NO_MODEL
    return None


def _explorer(viewer: Principal) -> str:
    """The member explorer (admin), or the note telling an analyst it needs an admin key:
    rows and history are one member's personal data, which ``analyst`` never receives."""
    if viewer.role != "admin":
        return (
            '<section class="explorer-note" data-explorer="admin-only"><h2>Member explorer</h2>'
            "<p>Looking up one member's home-page rows and viewing history shows row-level "
            "personal data, so the member explorer needs an <strong>admin</strong> key. "
            "Log in with an admin key to use it; the charts above are aggregates.</p></section>"
        )
    return (
        '<section class="explorer" id="explorer" data-explorer="admin">'
        "<h2>Member explorer</h2>"
        '<p class="explorer-help">One member\'s home-page rows with the reason for each title, '
        "and their recent viewing history (row-level personal data: admin only). Enter a raw "
        "member ID as your apps know it, or pick a sample member (warehouse pseudonyms).</p>"
        '<form id="explorer-form" class="filters">'
        '<label>Member ID <input id="member" name="member" maxlength="200" size="28" '
        'autocomplete="off" required></label>'
        '<label class="check"><input type="checkbox" id="member-pseudonymised"> '
        "ID is a pseudonym</label>"
        '<button type="submit">Show rows</button></form>'
        '<div class="samples" id="member-samples" data-state="loading">Sample members: </div>'
        '<div id="member-result" data-state="idle">'
        '<p class="member-status"></p>'
        '<div class="member-grid"><div class="member-rows"></div>'
        '<div class="member-history"></div></div></div>'
        "</section>"
    )


@router.get("/dashboard/{slug}")
async def page(slug: str, request: Request) -> Response:
    """One dashboard page: its charts, or what is missing before it can draw them."""
    viewer = await _viewer(request)
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    if viewer.role not in DASHBOARD_ROLES:
        return _html("<h1>403</h1><p>The dashboard needs an analyst or admin key.</p>", 403)
    pages: list[Page] = request.app.state.pages
    pg = get_page(slug, pages)
    if pg is None:
        return _html(f"<h1>404</h1><p>No dashboard page {html.escape(slug)!s}.</p>", 404)
    routes: frozenset[str] = request.app.state.route_paths
    parts = pg.missing_parts(routes)
    ready = pg.ready_charts(routes)
    waiting = [c for c in pg.charts if c not in ready]
    extra = ""
    if slug == "recommendations" and ready:
        no_model = _model_missing(request)
        if no_model is not None:  # charts would only answer 503: say what is missing instead
            ready, parts = [], [no_model]
        else:
            extra = _explorer(viewer)
    if not ready:
        content = _missing(pg, parts)
    else:
        content = _charts(ready) + (_coming(pg, waiting, parts) if waiting else "") + extra
    body = _template("base.html").substitute(
        title=html.escape(pg.title),
        summary=html.escape(pg.summary),
        nav=_nav(pages, slug, routes),
        who=(
            f'<span class="role">{html.escape(viewer.role)} · '
            f"key {html.escape(viewer.key_id)}</span>"
        ),
        filters=_filters(request) if pg.filters and ready else "",
        content=content,
    )
    return _html(body)


@router.get("/static/{path:path}")
async def static(path: str, request: Request) -> Response:
    """Dashboard assets (needs a session, like every page)."""
    await authenticate(request)
    target = (STATIC / path).resolve()
    if not target.is_file() or not target.is_relative_to(STATIC):
        raise HTTPException(status_code=404, detail=f"no static file {path!r}")
    raw, packed, etag = _static_bytes(target)
    headers = {
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=media, headers=headers)
    return Response(raw, media_type=media, headers=headers)


@lru_cache(maxsize=64)
def _static_bytes(target: Path) -> tuple[bytes, bytes, str]:
    """File bytes, gzipped bytes and ETag, computed once (the charting library is 1.1 MB)."""
    raw = target.read_bytes()
    return (
        raw,
        gzip.compress(raw, compresslevel=6, mtime=0),
        '"' + hashlib.sha256(raw).hexdigest()[:32] + '"',
    )
