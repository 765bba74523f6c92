"""Per-request context: request id in and out, lazily resolved actor, tenant slot."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from apps.core.context import RequestScope, actor_for_user, request_scope

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware"]

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed only if it is short and plain, so logs cannot be injected into.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id(request: HttpRequest) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _ACCEPTABLE_REQUEST_ID.match(given) else uuid.uuid4().hex


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _authenticated_user(request: HttpRequest) -> Any:
    """The request's user if it is known without blocking the event loop."""
    state = vars(request)
    user = state.get("user")
    if user is not None and not isinstance(user, SimpleLazyObject):
        # Assigned by authentication that ran in the view (DRF's token user). It wins over the
        # session user cached earlier, e.g. by a log line emitted while the token was checked.
        return user
    for cached in ("_acached_user", "_cached_user"):  # set by request.auser() / evaluating request.user
        if cached in state:
            return state[cached]
    if isinstance(user, SimpleLazyObject) and _in_event_loop():
        return None  # an async view that never awaited request.auser() has no user yet
    return user


def _scope_for(request: HttpRequest) -> RequestScope:
    # Resolved on demand: DRF authenticates inside the view and sets request.user then.
    return RequestScope(
        request_id=_request_id(request), resolve_actor=lambda: actor_for_user(_authenticated_user(request))
    )


class RequestContextMiddleware:
    """Opens a `request_scope` around the whole request (sync or async) and echoes `X-Request-ID`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        with request_scope(_scope_for(request)) as scope:
            response: HttpResponseBase = self.get_response(request)
        response[REQUEST_ID_HEADER] = scope.request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        with request_scope(_scope_for(request)) as scope:
            response: HttpResponseBase = await self.get_response(request)
        response[REQUEST_ID_HEADER] = scope.request_id
        return response
