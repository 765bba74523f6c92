"""GraphQL's side of the API rules: errors as REST's problems, limits from settings, datetimes as REST renders them.

A feature's GraphQL schema is built with `ProblemSchema` (project/graphql.py does it once):

- `ProblemErrors`: every error of a response carries `extensions.code` and `extensions.status`,
  the same code and status REST answers for the same exception (`problems.problem_of`, the one
  mapping), and `extensions.errors` when REST's problem has `errors`. A query the parser or the
  validation refuses (syntax, unknown field, depth, aliases, tokens, introspection) is
  `malformed_request` / `invalid` (400). An exception no problem maps (a bug) is masked:
  `internal_error`, its message hidden, its traceback logged once (`ProblemSchema.process_errors`).
- `SettingsLimits`: the depth, alias and token limits and introspection, read from settings on
  every operation (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_ALIASES, GRAPHQL_MAX_TOKENS,
  GRAPHQL_INTROSPECTION), with strawberry's own limiters doing the counting.
- `UtcDateTime`: datetimes rendered by the API's renderer (`render_json`: UTC, `Z`), so a field reads
  the same string in GraphQL as in the REST body.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import orjson
import strawberry
import structlog
from django.conf import settings
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from apps.core.api.problems import problem_of
from apps.core.api.renderers import render_json

__all__ = ["INTERNAL_ERROR", "ProblemErrors", "ProblemSchema", "SettingsLimits", "UtcDateTime", "problem_extensions"]

logger = structlog.get_logger(__name__)
INTERNAL_ERROR = "An unexpected error occurred; it has been logged."


def _serialize_datetime(value: datetime.datetime) -> str:
    rendered: str = orjson.loads(render_json(value))
    return rendered


UtcDateTime = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 instant, rendered in UTC with `Z` (as the REST API renders it).",
    serialize=_serialize_datetime,
    parse_value=datetime.datetime.fromisoformat,
)


def problem_extensions(error: GraphQLError) -> tuple[str, dict[str, Any]]:
    """The message and `extensions` of `error` as REST's problem for the same cause."""
    original = error.original_error
    if original is None or error.path is None:  # refused before execution: the parser, validation, variables
        code = "malformed_request" if isinstance(error, GraphQLSyntaxError) else "invalid"
        return error.message, {"code": code, "status": 400}
    mapped = problem_of(original)
    if mapped is None:
        return INTERNAL_ERROR, {"code": "internal_error", "status": 500}
    body, _headers = mapped
    extensions: dict[str, Any] = {"code": body["code"], "status": body["status"]}
    if body.get("errors"):
        extensions["errors"] = body["errors"]
    if body.get("request_id"):
        extensions["request_id"] = body["request_id"]
    return str(body["detail"]), extensions


class ProblemErrors(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        rewritten = []
        for error in errors:
            message, extensions = problem_extensions(error)
            rewritten.append(
                GraphQLError(
                    message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    extensions={**(error.extensions or {}), **extensions},
                )
            )
        result.errors = rewritten


class SettingsLimits(SchemaExtension):
    """Strawberry's limiters with this operation's settings (a setting changed at run time, as tests do, applies)."""

    def on_operation(self) -> Iterator[None]:
        limiters = [
            QueryDepthLimiter(max_depth=settings.GRAPHQL_MAX_DEPTH),
            MaxAliasesLimiter(max_alias_count=settings.GRAPHQL_MAX_ALIASES),
        ]
        if not settings.GRAPHQL_INTROSPECTION:
            limiters.append(DisableIntrospection())
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *(r for x in limiters for r in x.validation_rules))
        context.parse_options["max_tokens"] = settings.GRAPHQL_MAX_TOKENS  # what MaxTokensLimiter sets
        yield


class ProblemSchema(strawberry.Schema):
    """A schema whose errors are REST's problems; only the unexpected ones are logged (with their traceback)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            original = error.original_error
            if original is not None and error.path is not None and problem_of(original) is None:
                logger.error("graphql_unexpected_error", path=error.path, exc_info=original)
