"""Structured logging: one JSON object per line on stderr.

Call sites log an event name plus fields: ``log.info("dial.requested", extra={"fields": {...}})``
or the shorter ``event(log, "dial.requested", call_id=...)``. Secrets never go into fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from aiohttp.http_exceptions import HttpProcessingError


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class MalformedHttpFilter(logging.Filter):
    """aiohttp logs a client's malformed HTTP (a bad header byte, a broken request line) as an
    ERROR with its parser's traceback. It is the client's fault and the client got its 400: one
    WARNING line naming the problem, no traceback, so scanners can't fill an operator's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            client = record.args[0] if isinstance(record.args, tuple) and record.args else None
            problem = (str(getattr(exc, "message", "") or exc).strip().splitlines() or ["?"])[0]
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "http.malformed_request", ()
            record.fields = {"client": client, "problem": problem[:200]}
            record.exc_info = record.exc_text = None
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log is one unstructured line per request; our middleware logs instead.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedHttpFilter) for f in server.filters):
        server.addFilter(MalformedHttpFilter())


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})
