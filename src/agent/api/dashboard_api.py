"""The web dashboard's static files, served by the local API's aiohttp app.

The dashboard (`agent/api/dashboard/`: one HTML page, one script, one style sheet,
an icon) is plain JavaScript with no build step and no third-party code; it works
offline. Its files hold no data, so they are public (`is_public`): every figure the
page shows comes from `/api/v1/…` and `/metrics` calls that send the bearer token
the operator typed in (kept in the tab's sessionStorage, never in a URL).

Routes: `GET /` and `GET /dashboard` redirect to `/dashboard/` (the page); the other
files are `GET /dashboard/<name>`. The files are read once, when the app is built,
into a fixed name → bytes table, so a request can only ever name one of them (no
path is joined from user input). Every response carries a strict
Content-Security-Policy (`default-src 'self'`, no inline script or style, no
framing), `nosniff` and `no-referrer`; the page calls no other host.

The dashboard reads the documented API (graphs are binned in the browser from the
newest evidence and alerts; flows/s is the rate of `starling_flows_total` between
two scrapes of `/metrics`); `GET /api/v1/session` says whether the token typed in
is admin or read-only, so the page offers or withholds the admin buttons.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

__all__ = ["CSP", "add_dashboard_routes", "is_public"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_PREFIX = "/dashboard/"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def is_public(path: str) -> bool:
    """True for the dashboard's static files (no token needed: they hold no data)."""
    return path in ("/", "/dashboard") or path.startswith(_PREFIX)


def _load() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("agent.api").joinpath("dashboard").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            files[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    if "index.html" not in files:
        raise RuntimeError("the dashboard's index.html is missing from the package")
    return files


def add_dashboard_routes(app: web.Application) -> None:
    """Add the dashboard's routes (its static files)."""
    files = _load()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(_PREFIX)

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        found = files.get(name)
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(body=body, headers={"Content-Type": content_type, **_HEADERS})

    app.router.add_get("/", redirect)
    app.router.add_get("/dashboard", redirect)
    app.router.add_get(_PREFIX, asset)
    app.router.add_get(_PREFIX + "{name}", asset)
