"""The HTTP server around the application: listening (plain or TLS), and what happens to a
request that never reaches a route.

aiohttp answers a request it cannot parse (an oversized header, a control byte in a header, a
broken request line) itself, before any middleware: a text/plain 400 that quotes the offending
bytes back, and an ERROR line that quotes them to the log. Those bytes are often an API key.
``ApiRunner`` swaps in a request handler that answers such requests with our JSON error shape,
quoting nothing, and logs one WARNING naming only the kind of problem.
"""

from __future__ import annotations

import logging
import ssl
from http import HTTPStatus
from pathlib import Path

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from callbridge.logs import event

log = logging.getLogger("callbridge.http")


class _JsonErrorRequestHandler(RequestHandler):
    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            # only reachable for a failure outside the middleware (which renders its own 500s)
            event(log, "http.server_error", logging.ERROR, status=status,
                  problem=type(exc).__name__ if exc else None)
        else:
            event(log, "http.malformed_request", logging.WARNING, client=request.remote,
                  status=status, problem=type(exc).__name__ if exc else HTTPStatus(status).phrase)
        if request.writer.output_size > 0:  # a response already started: nothing more to send
            raise ConnectionError("response already started; cannot send an error response")
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        text = ("The request could not be parsed as HTTP (malformed request line or headers,"
                " or headers over the size limit)" if status < 500 else
                "An unexpected error occurred")
        response = web.json_response({"error": phrase, "message": text}, status=status)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    """An AppRunner whose connections answer unparseable requests with JSON (see above)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state; only the handler factory differs
        return server


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for CALLBRIDGE_TLS_CERT / _KEY: TLS 1.2+, the defaults' ciphers."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
