"""Request start/finish lines from the async path too (the sync path is exercised in test_logging)."""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from apps.core.middleware import RequestContextMiddleware
from apps.observability.middleware import RequestLoggingMiddleware
from tests.observability.conftest import LogLines


async def _teapot(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=418)


def _request_lines(log_lines: LogLines) -> list[dict[str, object]]:
    return [line for line in log_lines() if line["logger"] == "apps.observability.requests"]


def test_async_requests_are_logged_inside_the_request_scope(log_lines: LogLines) -> None:
    stack = RequestContextMiddleware(RequestLoggingMiddleware(_teapot))
    response: HttpResponse = asyncio.run(stack(RequestFactory().get("/async", headers={"X-Request-ID": "async-1"})))  # type: ignore[arg-type]
    assert response.status_code == 418
    events = [(line["event"], line["request_id"], line.get("status")) for line in _request_lines(log_lines)]
    assert events == [("request_started", "async-1", None), ("request_finished", "async-1", 418)]


def test_async_probe_requests_are_not_logged(log_lines: LogLines) -> None:
    stack = RequestLoggingMiddleware(_teapot)
    assert asyncio.run(stack(RequestFactory().get("/health/live"))).status_code == 418  # type: ignore[arg-type]
    assert _request_lines(log_lines) == []
