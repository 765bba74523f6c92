"""RFC 9457 problem details for every API error, from one place.

`exception_handler` is DRF's `EXCEPTION_HANDLER`: it maps DRF's exceptions, Django's
`Http404`/`PermissionDenied`, database integrity errors (409) and outages (503), `apps.core.errors`
to `application/problem+json`. `not_found` / `server_error` do the same for URLs
outside DRF views under `/api/` (the project's `handler404` / `handler500`).
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from apps.core.context import current_request_id
from apps.core.errors import ServiceError

__all__ = ["PROBLEM_CONTENT_TYPE", "exception_handler", "not_found", "problem", "server_error"]

PROBLEM_CONTENT_TYPE = "application/problem+json"
logger = structlog.get_logger(__name__)

_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ParseError: "malformed_request",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.NotAcceptable: "not_acceptable",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.Throttled: "rate_limited",
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.ValidationError: "invalid",
}
_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    code: str,
    title: str | None = None,
    errors: dict[str, Any] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    """The problem body: RFC 9457 members plus `code`, `errors` and `request_id` extensions."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    return body


def _flatten(detail: Any) -> Any:
    """DRF's nested ErrorDetail structures as plain lists of strings."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _from_drf(exc: drf.APIException) -> tuple[dict[str, Any], dict[str, str]]:
    status = exc.status_code
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), str(exc.default_code))
    headers: dict[str, str] = {}
    if isinstance(exc, drf.ValidationError):
        errors = _flatten(exc.detail)
        if not isinstance(errors, dict):
            errors = {"non_field_errors": errors}
        return problem(status, "The request has invalid fields; see errors.", code=code, errors=errors), headers
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf.Throttled) and wait is not None:
        headers["Retry-After"] = str(math.ceil(wait))
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = str(auth_header)
    detail = _flatten(exc.detail)
    return problem(status, detail if isinstance(detail, str) else str(detail), code=code), headers


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceError):
        body = problem(exc.status, exc.detail, code=exc.code, title=exc.title, errors=exc.errors)
    elif isinstance(exc, drf.APIException):
        body, headers = _from_drf(exc)
    elif isinstance(exc, Http404):
        body = problem(404, "No such resource.", code="not_found")
    elif isinstance(exc, DjangoPermissionDenied):
        body = problem(403, "You do not have permission to perform this action.", code="permission_denied")
    elif isinstance(exc, IntegrityError):
        # A unique constraint raced past validation: the caller's data conflicts with existing data.
        logger.info("integrity_conflict", error=str(exc).splitlines()[0])
        body = problem(409, "The request conflicts with existing data.", code="conflict")
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (or dropped the connection): a dependency outage, not a bug.
        logger.warning(
            "database_unavailable", error=type(exc).__name__, message=(str(exc).splitlines() or [""])[0][:200]
        )
        body = problem(503, "The database is unavailable; retry later.", code="dependency_unavailable")
        headers["Retry-After"] = "5"
    else:
        return None  # a bug: let Django log it and answer 500 (handler500 renders a problem)
    # Under ATOMIC_REQUESTS the request's transaction must not commit what led to an error answer.
    set_rollback()
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    body = problem(404, f"No API resource at {request.path}.", code="not_found", instance=request.path)
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    body = problem(500, "An unexpected error occurred; it has been logged.", code="internal_error")
    return JsonResponse(body, status=500, content_type=PROBLEM_CONTENT_TYPE)
