"""Domain errors raised by services; web.errors maps each to an HTTP status and JSON body.

Services never build HTTP responses: they raise these, and one middleware renders them, so every
4xx has the same ``{"error": ..., "message": ...}`` shape.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    error = "Bad request"

    def __init__(self, message: str = "", *, error: str | None = None, **extra):
        super().__init__(message or self.error)
        self.message = message
        if error is not None:
            self.error = error
        self.extra = extra

    def body(self) -> dict:
        out = {"error": self.error}
        if self.message:
            out["message"] = self.message
        out.update(self.extra)
        return out


class InvalidInput(DomainError):
    status = 400
    error = "Invalid request"

    def __init__(self, message: str, *, field: str | None = None, error: str | None = None, **extra):
        if field is not None:
            extra["field"] = field
        super().__init__(message, error=error, **extra)


class NotFound(DomainError):
    status = 404
    error = "Not found"


class Conflict(DomainError):
    status = 409
    error = "Conflict"
    sqlstate: str | None = None  # the database's, when a constraint said so (23505: unique)


class Unavailable(DomainError):
    status = 503
    error = "Service unavailable"


class StorageFull(DomainError):
    """The database's disk is full: nothing was written (the transaction rolled back); reads go
    on, and writes succeed again once space is freed."""

    status = 507
    error = "Storage full"
