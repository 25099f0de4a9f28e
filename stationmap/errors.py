"""One error hierarchy for the library; the CLI and the API turn these into messages.

Each class carries the HTTP status it maps to, so the web layer needs no table of its own.
"""
from __future__ import annotations


class StationmapError(Exception):
    """Base of every error a user can cause; the message says what to do about it."""

    status = 400
    title = "Bad request"
    type_uri = "about:blank"


class InvalidInput(StationmapError):
    """A value given by a user (argument, parameter, cell) is not acceptable."""

    title = "Invalid input"


class NotFound(StationmapError):
    status = 404
    title = "Not found"


class Conflict(StationmapError):
    status = 409
    title = "Conflict"


class ImportRejected(StationmapError):
    """An import file had bad rows; nothing was written. `problems` lists (row, reason)."""

    status = 422
    title = "Import rejected"

    def __init__(self, problems: list[tuple[int | None, str]]):
        self.problems = problems
        lines = [f"row {row}: {why}" if row is not None else why for row, why in problems]
        super().__init__(f"{len(problems)} problem(s), nothing was written:\n" + "\n".join(lines))


class RegistryUnavailable(StationmapError):
    """The registry cannot be read (damaged, not a GeoPackage) or written (no permission); not the caller's fault."""

    status = 500
    title = "Registry unavailable"


class ServerUnavailable(RegistryUnavailable):
    """A server the service shares (PostgreSQL, Redis) is unreachable for now; asked again once it is back."""

    status = 503
    title = "Service unavailable"

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Unauthorized(StationmapError):
    """No credentials, or credentials that are wrong, expired or revoked (token, device signature)."""

    status = 401
    title = "Unauthorized"


class Forbidden(StationmapError):
    """Known caller, but not allowed to do this (e.g. an editor outside their district)."""

    status = 403
    title = "Forbidden"


class PayloadTooLarge(StationmapError):
    status = 413
    title = "Payload too large"


class PreconditionRequired(StationmapError):
    """A write to an existing station must say which version it edits (If-Match: its ETag)."""

    status = 428
    title = "Precondition required"


class TooManyRequests(StationmapError):
    """A client over its limit or budget; `retry_after` is how many seconds until it may ask again."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class TooManyAttempts(TooManyRequests):
    """Too many failed sign-ins for one account name."""

    title = "Too many attempts"


class Busy(TooManyRequests):
    """The service's shared capacity (the queue of costly questions) is full for now."""

    status = 503
    title = "Busy"


class Replayed(StationmapError):
    """A signed report was already received (nonce reused) or its timestamp is outside the window."""

    status = 409
    title = "Replayed report"
