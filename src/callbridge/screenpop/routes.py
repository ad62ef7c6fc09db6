"""GET /screenpop and its two assets. Public: the page holds no data; the user types an API key
into it, which stays in the tab (sessionStorage) and goes only to this origin's API. A strict
Content-Security-Policy: no inline script, nothing from another origin."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from callbridge.web.routing import RouteTable

routes = RouteTable("screenpop")
_STATIC = resources.files("callbridge.screenpop") / "static"
_TYPES = {"screenpop.html": "text/html", "screenpop.js": "text/javascript",
          "screenpop.css": "text/css"}
_CSP = ("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self';"
        " script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _asset(name: str) -> web.Response:
    body = (_STATIC / name).read_bytes()
    return web.Response(body=body, content_type=_TYPES[name], charset="utf-8", headers={
        "Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"})


@routes.route("GET", "/screenpop", summary="The receptionist page", public=True, hidden=True)
async def page(request):
    return _asset("screenpop.html")


@routes.route("GET", "/screenpop/screenpop.js", summary="The page's script", public=True,
              hidden=True)
async def script(request):
    return _asset("screenpop.js")


@routes.route("GET", "/screenpop/screenpop.css", summary="The page's style", public=True,
              hidden=True)
async def style(request):
    return _asset("screenpop.css")
