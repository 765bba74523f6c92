"""The API's errors in its OpenAPI schema (drf-spectacular): the `Problem` component on every operation.

`ApiAutoSchema` (the project's `DEFAULT_SCHEMA_CLASS`) adds to each operation under
`/api/` a problem+json response for every status the shared machinery can answer there,
derived from what the view is, so a new view is documented truthfully without a list
to keep up to date:

| statuses | when the operation |
|---|---|
| 400, 406, 413, 429, 503 | always (query, Host and body size are checked for every request; rate limits; outages) |
| 401, 403 | needs a caller (any permission class but `AllowAny`) |
| 415 | takes a request body |
| 404 | has a path parameter |

What only the service knows (409 on a taken title, 412/428 on `If-Match`) a view
declares itself with `problem_responses(409, ...)` in its `extend_schema(responses=...)`.

Two more rules keep the schema the one truth about the shapes:

- a view's `filterset_class` (django-filter) is its GET's query parameters, read through
  drf-spectacular's django-filter extension (with each filter's `max_length`, choices in their
  declared order), so the filters
  that validate a request are the ones documented;
- every response component says `additionalProperties: false`: an output serializer lists
  every member a response has (a test validates real responses against the schema).
"""

from __future__ import annotations

from typing import Any

import uritemplate
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from apps.core.api.problems import PROBLEM_CONTENT_TYPE, is_api_path

__all__ = ["ApiAutoSchema", "ProblemSerializer", "problem_responses"]

# The `code`s each status carries (docs/api.md#errors has the same table, with the cases).
STATUS_CODES: dict[int, str] = {
    400: "`invalid` (a field, filter, parameter or cursor), `malformed_request` (body not JSON, too deep, "
    "bad chunks), `disallowed_host`",
    401: "`not_authenticated`: no token, or an unknown or expired one",
    403: "`permission_denied`: a missing ACL (`errors.required_acl`), a foreign tenant",
    404: "`not_found`: no such resource in the caller's tenant",
    406: "`not_acceptable`: `Accept` names no JSON type",
    409: "`conflict`: the data conflicts with existing data (a unique title)",
    412: "`precondition_failed`: `If-Match` does not match the current `ETag`",
    413: "`request_too_large`: the body is over the limit",
    415: "`unsupported_media_type`: the body is not `application/json`",
    428: "`precondition_required`: `If-Match` is required and missing",
    429: "`rate_limited`: see `Retry-After`",
    503: "`dependency_unavailable`: the database or Accent-Auth is unreachable; see `Retry-After`",
}


class ProblemSerializer(serializers.Serializer[Any]):
    """An RFC 9457 problem; `code`, `errors` and `request_id` are this API's extensions."""

    type = serializers.CharField(help_text="A URI reference; `about:blank`: the status says it all.")
    title = serializers.CharField(help_text="A short summary of the status.")
    status = serializers.IntegerField(min_value=400, max_value=599)
    detail = serializers.CharField(help_text="What went wrong in this request, for a human.")
    instance = serializers.CharField(required=False, help_text="The path, for unknown URLs.")
    code = serializers.CharField(help_text="Stable and machine-readable: see docs/api.md#errors.")
    # The metaclass moves declared fields off the class, so this shadows no `Serializer.errors` at runtime.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(), required=False, help_text="Per field (or parameter): the messages."
    )
    request_id = serializers.CharField(required=False, help_text="The `X-Request-ID` of the request.")


def problem_responses(*statuses: int) -> dict[tuple[int, str], OpenApiResponse]:
    """`extend_schema(responses=...)` entries: a problem+json response per status."""
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description=STATUS_CODES.get(status, ""))
        for status in statuses
    }


class _FilterSetParameters(DjangoFilterExtension):  # type: ignore[no-untyped-call]  # untyped library
    """drf-spectacular's django-filter reading, called for a view's `filterset_class`.

    Matched by no backend (`target_class = None`: the registry never picks it), and without its
    GeoDjango check, whose import probes the system for GDAL with subprocesses; no GIS here.
    """

    target_class = None  # type: ignore[assignment]
    _has_gis = False


class ApiAutoSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        if operation is None or not is_api_path(self.path):
            return operation
        filters = self._filter_parameters()
        if filters:
            parameters = [*operation.get("parameters", []), *filters]
            operation["parameters"] = sorted(parameters, key=lambda parameter: (parameter["in"], parameter["name"]))
        problem = self.resolve_serializer(ProblemSerializer, "response").ref
        responses: dict[str, Any] = operation["responses"]
        for status in self._problem_statuses():
            responses.setdefault(
                str(status),
                {"description": STATUS_CODES[status], "content": {PROBLEM_CONTENT_TYPE: {"schema": problem}}},
            )
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def resolve_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> ResolvedComponent:
        component = super().resolve_serializer(serializer, direction, bypass_extensions)
        schema = component.schema
        if direction == "response" and isinstance(schema, dict) and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        return component

    def _filter_parameters(self) -> list[dict[str, Any]]:
        """The query parameters of the view's `filterset_class`, for a GET."""
        filterset_class = getattr(self.view, "filterset_class", None)
        if filterset_class is None or self.method != "GET":
            return []
        extension = _FilterSetParameters(DjangoFilterBackend())  # type: ignore[no-untyped-call]
        model = filterset_class._meta.model
        parameters: list[dict[str, Any]] = []
        for name, filter_field in filterset_class.base_filters.items():
            for parameter in extension.resolve_filter_field(  # type: ignore[no-untyped-call]
                self, model, filterset_class, name, filter_field
            ):
                max_length, choices = filter_field.extra.get("max_length"), filter_field.extra.get("choices")
                if max_length is not None:
                    parameter["schema"]["maxLength"] = max_length
                if choices and "enum" in parameter["schema"]:
                    parameter["schema"]["enum"] = [value for value, _ in choices]  # declared order, not sorted
                parameters.append(parameter)
        return parameters

    def _problem_statuses(self) -> set[int]:
        statuses = {400, 406, 413, 429, 503}
        if any(not isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            statuses |= {401, 403}
        if self.method in {"POST", "PUT", "PATCH"} and self.get_request_serializer() is not None:
            statuses.add(415)
        if uritemplate.variables(self.path):
            statuses.add(404)
        return statuses
