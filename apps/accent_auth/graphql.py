"""The GraphQL endpoint's caller: authenticated and authorised by exactly the code the REST views run.

`GraphQLView` serves a schema through Django (WSGI and ASGI alike: a sync view, which Django's
ASGI handler runs in a thread with the request's context). Its context is a `GraphQLCaller`,
whose `demand(acl.READ, pk=...)` every resolver calls before it reads or writes:

- authentication is DRF's own: a DRF `Request` over the Django request, with
  `DEFAULT_AUTHENTICATION_CLASSES` (the Accent-Auth token class, then the admin's session with
  its CSRF check), run once per HTTP request. The token class sets the request's tenant, so the
  repositories scope every read and write to it; no tenant, no rows (they fail closed).
- no valid caller: DRF's `NotAuthenticated` / `AuthenticationFailed`, so the error's code is
  REST's `not_authenticated`; a missing ACL: `AclDenied` (`permission_denied`, naming the ACL),
  through `apps.accent_auth.permissions.demand_acl`, the check `HasRequiredAcl` makes.
- rate limits are REST's too: after authenticating, the view runs `DEFAULT_THROTTLE_CLASSES` (the
  per-actor limit, and the `graphql` scope of `RATE_LIMIT_SCOPES`) through DRF's own `check_throttles`,
  on the same windows as the REST views, before any operation runs. A refusal is the whole request's:
  HTTP 429 with `Retry-After` (the `RateLimit-*` headers: `RateLimitMiddleware`), a GraphQL request
  error whose `extensions` are REST's `rate_limited` problem, and no resolver, so no write.

The errors reach the client as GraphQL errors with REST's problem code in `extensions`
(`apps.core.api.graphql.ProblemErrors`). GraphiQL is served only when DEBUG is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cross_web import DjangoHTTPRequestAdapter, HTTPException
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.sync_base_view import SyncBaseHTTPView
from strawberry.schema import BaseSchema

from apps.accent_auth.acl import fill_required_acl
from apps.accent_auth.permissions import demand_acl
from apps.core.api.graphql import request_refusal
from apps.core.api.renderers import render_json

__all__ = ["GraphQLCaller", "GraphQLView"]


class _ApiPolicy(APIView):
    """What every REST view runs before its handler, from DRF's settings: the authenticators and throttles."""

    throttle_scope = "graphql"  # RATE_LIMIT_SCOPES=graphql=...: a budget of GraphQL requests per actor


@dataclass
class GraphQLCaller:
    """One HTTP request's caller; `info.context` in a resolver."""

    request: HttpRequest
    response: HttpResponse

    @cached_property
    def api_request(self) -> Request:
        """The request as a DRF view sees it, with the authenticators every API view gets."""
        return Request(self.request, authenticators=_ApiPolicy().get_authenticators())

    @cached_property
    def _authentication(self) -> Exception | None:
        """Run the authenticators once; their refusal, kept for the resolvers to raise (DRF forgets it)."""
        try:
            self.api_request.user  # noqa: B018  # the property authenticates
        except Exception as refused:  # a bad token, Accent-Auth down (503), or a bug (masked later)
            return refused
        return None

    def check_throttles(self) -> None:
        """REST's throttles for this caller; raises `Throttled`. A caller refused at authentication is not
        throttled (REST refuses it before its throttles too): its first resolver answers the refusal."""
        if self._authentication is None:
            _ApiPolicy().check_throttles(self.api_request)

    def demand(self, required_acl: str | None, **values: object) -> None:
        """Refuse unless the caller is authenticated and holds `required_acl` (`{name}` filled from `values`)."""
        if self._authentication is not None:
            raise self._authentication
        request = self.api_request
        user = request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated()
        demand_acl(request, None if required_acl is None else fill_required_acl(required_acl, values))


# Session callers are checked for CSRF by DRF's SessionAuthentication itself, as on the REST views;
# token callers need no CSRF token (a header a foreign page cannot set).
@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(
    SyncBaseHTTPView[HttpRequest, HttpResponseBase, HttpResponse, GraphQLCaller, None],
    View,
):
    """Strawberry's framework-neutral HTTP view on Django (not `strawberry.django`'s view).

    `strawberry.django` imports strawberry-graphql-django, whose filters probe for GDAL at import
    (`ldconfig`, `gcc` subprocesses, over a second per process start) for a GIS this service has not.
    """

    schema: BaseSchema = None  # type: ignore[assignment]  # given to as_view()
    allow_queries_via_get = True
    request_adapter_class = DjangoHTTPRequestAdapter

    def __init__(self, *, schema: BaseSchema, **kwargs: Any) -> None:
        self.schema = schema
        self.graphql_ide = "graphiql" if settings.DEBUG else None  # per request: DEBUG as it is now
        super().__init__(**kwargs)

    def get_root_value(self, request: HttpRequest) -> None:
        return None

    def get_context(self, request: HttpRequest, response: HttpResponse) -> GraphQLCaller:
        return self.caller

    def get_sub_response(self, request: HttpRequest) -> HttpResponse:
        return self.caller.response

    def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(self.graphql_ide_html)

    def encode_json(self, data: object) -> bytes:
        return render_json(data)

    def create_response(
        self, response_data: GraphQLHTTPResponse | Sequence[GraphQLHTTPResponse], sub_response: HttpResponse
    ) -> HttpResponseBase:
        response = HttpResponse(self.encode_json(response_data), content_type="application/json")
        for name, value in sub_response.items():  # headers a resolver set on `info.context.response`
            if name.lower() != "content-type":
                response[name] = value
        return response

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Django makes a view instance per request: the caller is this request's (one authentication).
        self.caller = GraphQLCaller(request=request, response=HttpResponse())
        try:
            self.caller.check_throttles()
        except exceptions.Throttled as refused:
            body, status, headers = request_refusal(refused)
            return JsonResponse(body, status=status, headers=headers)
        try:
            return self.run(request=request)
        except HTTPException as refused:  # not GraphQL at all (no query, a bad body, PUT): a plain answer
            return JsonResponse({"errors": [{"message": refused.reason}]}, status=refused.status_code)
