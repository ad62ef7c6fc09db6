"""GET /docs: the interactive API page (Swagger UI 5, which reads OpenAPI 3.1), served from the
swagger-ui-py package's bundled files: no CDN, nothing fetched from elsewhere. The page reads
/openapi.json; "Authorize" takes an API key for trying requests."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from callbridge.web.routing import RouteTable

routes = RouteTable("system")
_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
           "favicon-32x32.png": "image/png"}
# Swagger UI sets inline styles; every script is a file from this origin.
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
        " script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>callbridge API</title>
<link rel="icon" href="/docs/static/favicon-32x32.png">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, persistAuthorization: false, tryItOutEnabled: false});
"""


def _headers(content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type, "Content-Security-Policy": _CSP,
            "X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=3600"}


@routes.route("GET", "/docs", summary="The interactive API page", public=True, hidden=True)
async def docs_page(request):
    return web.Response(text=_PAGE, headers=_headers("text/html; charset=utf-8"))


@routes.route("GET", "/docs/init.js", summary="The API page's start-up script", public=True,
              hidden=True)
async def docs_init(request):
    return web.Response(text=_INIT, headers=_headers("text/javascript; charset=utf-8"))


@routes.route("GET", "/docs/static/{name}", summary="Swagger UI's files", public=True, hidden=True)
async def docs_asset(request):
    name = request.match_info["name"]
    if name not in _ASSETS:  # a fixed list: no path from the request reaches the filesystem
        raise web.HTTPNotFound()
    body = (resources.files("swagger_ui") / "static" / name).read_bytes()
    return web.Response(body=body, headers=_headers(_ASSETS[name]))
