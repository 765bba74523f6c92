"""One line when a request starts and one when it finishes (status, duration), with its context.

Install right after `apps.core.middleware.RequestContextMiddleware`, so both lines carry
the request id. Probe and metrics paths are not logged: a kubelet polling every few
seconds would drown the lines that matter.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

__all__ = ["DEFAULT_QUIET_PATH_PREFIXES", "RequestLoggingMiddleware"]

DEFAULT_QUIET_PATH_PREFIXES = ("/health/", "/metrics")
logger = structlog.get_logger("apps.observability.requests")


class RequestLoggingMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.quiet = tuple(getattr(settings, "OBSERVABILITY_QUIET_PATH_PREFIXES", DEFAULT_QUIET_PATH_PREFIXES))
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        if request.path.startswith(self.quiet):
            response: HttpResponseBase = self.get_response(request)
            return response
        # Django turns a view's exception into a 500 response before it reaches us
        # (and `django.request` logs the traceback, inside the same request scope).
        started = self._started(request)
        response = self.get_response(request)
        self._finished(request, response, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        if request.path.startswith(self.quiet):
            response: HttpResponseBase = await self.get_response(request)
            return response
        started = self._started(request)
        response = await self.get_response(request)
        self._finished(request, response, started)
        return response

    @staticmethod
    def _started(request: HttpRequest) -> float:
        # The path only: query strings may carry tokens.
        logger.info("request_started", method=request.method, path=request.path)
        return time.perf_counter()

    @staticmethod
    def _finished(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        log = logger.warning if response.status_code >= 500 else logger.info
        log(
            "request_finished",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=duration_ms,
        )
