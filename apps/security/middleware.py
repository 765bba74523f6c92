"""Security middleware: request body size (413), per-IP rate limit (429) with `RateLimit-*` headers,
and the response headers Django's `SecurityMiddleware` does not set (`Permissions-Policy`,
`Cross-Origin-Resource-Policy`). Each refusal is an RFC 9457 problem."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import BinaryIO, cast

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from apps.core.api.problems import problem_response
from apps.security import policies
from apps.security.client_ip import client_ip
from apps.security.metrics import REQUESTS_TOO_LARGE
from apps.security.rate_limit import Decision

try:  # what reading a broken chunked body raises under gunicorn (other servers: OSError, ValueError)
    from gunicorn.http.errors import ParseException as _ServerParseError
except ImportError:  # pragma: no cover - another WSGI server
    _ServerParseError = ValueError
_BODY_ERRORS = (OSError, ValueError, _ServerParseError)

__all__ = ["RateLimitMiddleware", "RequestBodyLimitMiddleware", "SecurityHeadersMiddleware", "rate_limit_headers"]

GetResponse = Callable[[HttpRequest], HttpResponseBase]

PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), payment=(), usb=()"
)


class SecurityHeadersMiddleware:
    """Adds `Permissions-Policy` (no powerful browser features) and `Cross-Origin-Resource-Policy`."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response


def _closing(response: JsonResponse) -> JsonResponse:
    # The unread rest of the body would be taken for the next request on a kept-alive connection.
    response["Connection"] = "close"
    return response


def _too_large(limit: int, framing: str) -> JsonResponse:
    REQUESTS_TOO_LARGE.labels(framing).inc()
    detail = f"The request body exceeds the limit of {limit} bytes."
    return _closing(problem_response(413, detail, code="request_too_large"))


def _malformed_chunks() -> JsonResponse:
    detail = "The chunked request body is malformed (bad chunk size or framing)."
    return _closing(problem_response(400, detail, code="malformed_request"))


class RequestBodyLimitMiddleware:
    """Answers 413 to bodies over `DATA_UPLOAD_MAX_MEMORY_SIZE`, before anything reads them.

    A declared `Content-Length` is checked without reading. A chunked body (no length)
    is read up to the limit plus one byte: over it, 413; within it, the body is handed on
    with its length, because Django's WSGI request reads a body without `Content-Length`
    as empty. Chunks the server cannot decode (a bad size, a missing CRLF) are a 400.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None:
            return self.get_response(request)
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = 0  # Django treats a malformed length as no body
            if length > limit:
                return _too_large(limit, "content-length")
        elif "chunked" in str(request.META.get("HTTP_TRANSFER_ENCODING", "")).lower():
            stream = request.META.get("wsgi.input")
            if stream is not None:
                try:
                    data = stream.read(limit + 1)
                except _BODY_ERRORS:
                    return _malformed_chunks()
                if len(data) > limit:
                    return _too_large(limit, "chunked")
                request.META["CONTENT_LENGTH"] = str(len(data))
                request._stream = cast(BinaryIO, LimitedStream(io.BytesIO(data), len(data)))
        return self.get_response(request)


@lru_cache(maxsize=8)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def _exempt(path: str) -> bool:
    patterns = _compiled(tuple(getattr(settings, "RATE_LIMIT_EXEMPT_PATHS", ())))
    return any(pattern.search(path) for pattern in patterns)


def rate_limit_headers(decisions: list[Decision]) -> dict[str, str]:
    """`RateLimit-*` headers (IETF httpapi-ratelimit-headers) for the tightest of `decisions`."""
    tightest = min(decisions, key=lambda d: (d.remaining / d.rate.limit, -d.reset))
    return {
        "RateLimit-Limit": str(tightest.rate.limit),
        "RateLimit-Remaining": str(tightest.remaining),
        "RateLimit-Reset": str(math.ceil(tightest.reset)),
        "RateLimit-Policy": ", ".join(dict.fromkeys(d.rate.policy for d in decisions)),
    }


class RateLimitMiddleware:
    """The per-IP limit for every request outside `RATE_LIMIT_EXEMPT_PATHS`, and the headers of all limits."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        rate = policies.rate_for_ip()
        if policies.enabled() and rate is not None and not _exempt(request.path):
            decision = policies.check(request, limit="ip", key=client_ip(request), rate=rate)
            if not decision.allowed:
                detail = "Too many requests from this address; retry later."
                response: HttpResponseBase = problem_response(429, detail, code="rate_limited")
                response["Retry-After"] = str(decision.retry_after)
                return self._with_headers(request, response)
        return self._with_headers(request, self.get_response(request))

    @staticmethod
    def _with_headers(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        decisions: list[Decision] = request.__dict__.get(policies.DECISIONS_ATTRIBUTE, [])
        counted = [decision for decision in decisions if not decision.degraded]
        if counted:
            for name, value in rate_limit_headers(counted).items():
                response[name] = value
        return response
