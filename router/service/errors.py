"""What a service call can refuse with, besides :class:`models.BadInput`.

``api.py`` maps each to an HTTP status in one place; the CLI and tests catch them by type.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the service's refusals; ``code`` is a stable machine-readable name."""

    code = "error"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    """The request is well-formed but clashes with the current state (409)."""

    code = "conflict"
