"""RFC 9457 problem details for every API error, from one place.

`exception_handler` is DRF's `EXCEPTION_HANDLER`: it maps DRF's exceptions, Django's
`Http404`/`PermissionDenied`, database integrity errors (409) and outages (503), `apps.core.errors`
to `application/problem+json`. For paths under `/api/` outside DRF views, `bad_request`,
`permission_denied`, `not_found` and `server_error` do the same (the project's
`handler400`/`403`/`404`/`500`), and `unknown_api_url` answers the URLs no route matches,
in DEBUG too (where Django would show its HTML debug page instead of `handler404`).
`problem_of` is the one mapping of an exception to its problem (DRF's handler reads it, and
so can any other API surface). `problem_response` is the one way
code outside DRF builds such an answer (middleware).
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from django.core.exceptions import DisallowedHost
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from apps.core.context import current_request_id
from apps.core.errors import ServiceError

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "bad_request",
    "exception_handler",
    "is_api_path",
    "not_found",
    "permission_denied",
    "problem",
    "problem_of",
    "problem_response",
    "server_error",
    "unknown_api_url",
]

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
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    428: "Precondition required",
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


def problem_response(
    status: int,
    detail: str,
    *,
    code: str,
    errors: dict[str, Any] | None = None,
    instance: str | None = None,
) -> JsonResponse:
    """A complete problem+json answer, for middleware and Django's error handlers (outside DRF)."""
    body = problem(status, detail, code=code, errors=errors, instance=instance)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


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
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        return problem(status, "The request has invalid fields; see errors.", code=code, errors=fields), headers
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf.Throttled) and wait is not None:
        headers["Retry-After"] = str(math.ceil(wait))
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = str(auth_header)
    detail = _flatten(exc.detail)
    # A permission may say which ACL was missing (apps.accent_auth.permissions.AclDenied).
    errors: dict[str, Any] | None = getattr(exc, "errors", None)
    return problem(status, detail if isinstance(detail, str) else str(detail), code=code, errors=errors), headers


def problem_of(exc: Exception) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The problem body and headers an exception answers with; `None` for a bug (a 500).

    The one mapping of exceptions to problems: DRF's exception handler reads it, and any
    other API surface must too, so that it answers exactly as REST does.
    """
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
        return None
    return body, headers


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    mapped = problem_of(exc)
    if mapped is None:
        return None  # a bug: let Django log it and answer 500 (handler500 renders a problem)
    body, headers = mapped
    # Under ATOMIC_REQUESTS the request's transaction must not commit what led to an error answer.
    set_rollback()
    return Response(body, status=body["status"], headers=headers, content_type=_problem_content_type(context))


def _problem_content_type(context: dict[str, Any]) -> str | None:
    """problem+json for JSON; `None` (the renderer's own type) for the browsable API's HTML page."""
    renderer = getattr(context.get("request"), "accepted_renderer", None)
    if renderer is not None and renderer.media_type != "application/json":
        return None
    return PROBLEM_CONTENT_TYPE


def is_api_path(path: str) -> bool:
    """Whether `path` belongs to the API, whose every answer is JSON (errors: problem+json)."""
    return path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler400`: Django's refusals outside views (a Host not in ALLOWED_HOSTS, a malformed body)."""
    if not is_api_path(request.path):
        return defaults.bad_request(request, exception)  # type: ignore[arg-type]  # Django passes one
    if isinstance(exception, DisallowedHost):
        return problem_response(400, "The Host header names no host this service answers to.", code="disallowed_host")
    return problem_response(400, "The request is malformed.", code="malformed_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path):
        return defaults.permission_denied(request, exception)  # type: ignore[arg-type]  # Django passes one
    return problem_response(403, "You do not have permission to perform this action.", code="permission_denied")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path):
        return defaults.page_not_found(request, exception)
    return unknown_api_url(request)


@csrf_exempt  # no resource, nothing to protect: a POST here is a 404 too, not a CSRF 403
def unknown_api_url(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """The last route under `/api/`: no resource here, whatever the method (and whatever DEBUG says)."""
    detail = f"No API resource at {request.path}."
    if not request.path.endswith("/"):
        detail += f" Did you mean {request.path}/? (No redirect: it would lose a POST's body.)"
    return problem_response(404, detail, code="not_found", instance=request.path)


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api_path(request.path):
        return defaults.server_error(request)
    return problem_response(500, "An unexpected error occurred; it has been logged.", code="internal_error")
