"""The service's own exception hierarchy. Services raise these; one handler maps them to HTTP.

Each error carries the HTTP status it means, a stable machine-readable `code`, a
short `title` and a human `detail`, which `apps.core.api.problems` renders as an
RFC 9457 problem. Nothing in a service needs to know about HTTP beyond this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

__all__ = [
    "Conflict",
    "DependencyUnavailable",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "PreconditionRequired",
    "ServiceError",
]


class ServiceError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, *, errors: Mapping[str, Sequence[str]] | None = None) -> None:
        self.detail = detail or self.title
        self.errors = dict(errors) if errors else None
        super().__init__(self.detail)


class InvalidInput(ServiceError):
    status = 400
    code = "invalid"
    title = "Invalid input"

    @classmethod
    def from_form_errors(cls, detail: str, errors: Mapping[str, Sequence[object]]) -> InvalidInput:
        """From a Django form's (or django-filter's) `errors`: plain message strings per field."""
        return cls(detail, errors={field: [str(message) for message in messages] for field, messages in errors.items()})


class NotAuthenticated(ServiceError):
    status = 401
    code = "not_authenticated"
    title = "Authentication required"


class PermissionDenied(ServiceError):
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PreconditionFailed(ServiceError):
    """The row is no longer at the version the caller expected (an If-Match that does not match)."""

    status = 412
    code = "precondition_failed"
    title = "Precondition failed"


class PreconditionRequired(ServiceError):
    """A write that must name the version it expects (If-Match) did not."""

    status = 428
    code = "precondition_required"
    title = "Precondition required"


class DependencyUnavailable(ServiceError):
    status = 503
    code = "dependency_unavailable"
    title = "A dependency is unavailable"
