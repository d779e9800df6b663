"""Errors the services raise; the API maps each to one HTTP status.

Exception hierarchy::

    ServiceError              base of everything the services raise on purpose
    ├── InvalidInput          fields are missing or malformed (422); ``fields`` names each
    ├── NotAuthenticated      no, an unknown, an expired or a revoked credential (401)
    ├── Forbidden             authenticated, but not allowed (403)
    ├── NotFound              no such thing, or not visible to the caller (404)
    ├── TooManyAttempts       too many failed logins; ``retry_after`` seconds to wait (429)
    └── Conflict              the request contradicts the stored state (409)
        ├── IdempotencyConflict   the same key came with a different payload
        └── InvalidTransition     a lead status change the workflow does not allow
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "Conflict",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidInput",
    "InvalidTransition",
    "NotAuthenticated",
    "NotFound",
    "ServiceError",
    "TooManyAttempts",
]


class ServiceError(Exception):
    """Base class; ``str(error)`` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    """Input failed validation; nothing was written.

    Attributes:
        fields: field name → what is wrong with it.
    """

    def __init__(self, fields: Mapping[str, str], message: str = "invalid input") -> None:
        names = ", ".join(sorted(fields))
        super().__init__(f"{message}: {names}" if names else message)
        self.fields = dict(fields)


class NotAuthenticated(ServiceError):
    pass


class Forbidden(ServiceError):
    pass


class NotFound(ServiceError):
    pass


class TooManyAttempts(ServiceError):
    """Refused without checking anything: too many recent failed attempts.

    Attributes:
        retry_after: whole seconds until an attempt is allowed again.
    """

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Conflict(ServiceError):
    pass


class IdempotencyConflict(Conflict):
    pass


class InvalidTransition(Conflict):
    pass
