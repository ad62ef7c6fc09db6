"""Structured logging: one JSON object per line on stderr.

Call sites log an event name plus fields: ``log.info("dial.requested", extra={"fields": {...}})``
or the shorter ``event(log, "dial.requested", call_id=...)``. Secrets never go into fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

# The last line of defence for secrets: whatever a log line carries (a field, a message, a
# traceback quoting a header), an API key keeps only its public id and a bearer token is hidden.
_API_KEY = re.compile(r"\bcb_([0-9a-f]{12})_[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")


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
        return redact(json.dumps(out, default=str))


def redact(line: str) -> str:
    return _BEARER.sub(r"\1[redacted]", _API_KEY.sub(r"cb_\1_[redacted]", line))


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log is one unstructured line per request; our middleware logs instead.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})


REPEAT_QUIET = 30.0
_last_said: dict[str, float] = {}


def background_failure(logger: logging.Logger, name: str, exc: BaseException, **fields) -> None:
    """A background writer's pass failed and will be tried again. Expected failures are one
    WARNING line naming the cause: a dependency away (the database unreachable or busy, the disk
    full: a DomainError with a 5xx status) or a write another instance made first (a unique
    violation: the next pass sees it done). Anything else is a bug: ERROR with its traceback."""
    status = getattr(exc, "status", None)
    if (isinstance(status, int) and status >= 500) or getattr(exc, "sqlstate", None) == "23505":
        # an outage fails every pass: said once per REPEAT_QUIET seconds, at DEBUG in between
        now = time.monotonic()
        quiet = now - _last_said.get(name, -REPEAT_QUIET) < REPEAT_QUIET
        if not quiet:
            _last_said[name] = now
        event(logger, name, logging.DEBUG if quiet else logging.WARNING,
              error=f"{type(exc).__name__}: {exc}"[:300], retry=True, **fields)
    else:
        logger.error(name, exc_info=exc, extra={"fields": {"retry": True, **fields}})
